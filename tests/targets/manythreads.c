/* manythreads.c: thousands of sleeping threads and a few working ones, to
 * show what a sampler costs such a process and that it leaves the sleepers
 * alone. The idle threads take turns among four ways to block, each named
 * after it: "idle-pipe" in read() on a pipe nobody writes to, "idle-futex"
 * in FUTEX_WAIT on a word nobody changes, "idle-sleep" in an absolute
 * clock_nanosleep() a day away, and "idle-epoll" in epoll_wait() on an
 * empty epoll set. None of these calls returns unless something disturbs
 * the thread: each idle thread counts every return it did not ask for.
 * The first three are restarted by the kernel after a ptrace stop, so only
 * the thread's voluntary context switches (in /proc) show such a stop;
 * epoll_wait() is not, and returns EINTR. The "busy" threads burn CPU and
 * count their work units.
 *
 * A ping proves that every idle thread still runs: the main thread sends
 * each one PING_SIG, whose handler (installed without SA_RESTART, so that
 * every kind of wait returns) marks the thread; the thread sees the mark
 * when its call returns, acknowledges, and blocks again. Such returns are
 * not counted as disturbances.
 *
 * Usage: manythreads [NIDLE [NBUSY [STATEFILE]]]   (defaults 1998 and 2)
 * Prints "ready" once every thread is in its loop. Every signal is blocked
 * but in the main thread, which takes SIGUSR1 (print the counters), SIGUSR2
 * (ping every idle thread, then print them) and SIGTERM (print them and
 * exit 0). The counters come on one line, also written to STATEFILE:
 * "pinged=P disturbed=D pipe=A futex=B sleep=C epoll=E units=U", where P
 * is the acknowledgements of the last ping, D the sum of A, B, C and E, and
 * U the work units done so far. */
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/syscall.h>

#include "target.h"

#define IDLE_STACK (64 * 1024)   /* idle threads need little stack */
#define PING_SIG   (SIGRTMIN + 2)

enum { K_PIPE, K_FUTEX, K_SLEEP, K_EPOLL, NKINDS };
static const char *const kind_names[NKINDS] = { "pipe", "futex", "sleep", "epoll" };

static atomic_ulong disturbed[NKINDS];
static atomic_ulong units, pinged;
static atomic_long idle_started, busy_started;
static int pipefd[2], epfd;
static atomic_int futex_word;
static __thread volatile sig_atomic_t ping_seen;

/* Marks the thread pinged; its wait returns once this handler is done. */
static void on_ping(int sig)
{
	(void)sig;
	ping_seen = 1;
}

/* Blocks in read() on a pipe that nobody writes to. */
__attribute__((noinline)) void wait_pipe(void)
{
	char c;

	(void)!read(pipefd[0], &c, 1);
}

/* Blocks in FUTEX_WAIT on a word that never changes. */
__attribute__((noinline)) void wait_futex(void)
{
	syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
}

/* Blocks in clock_nanosleep() until a day from now. */
__attribute__((noinline)) void wait_sleep(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += 86400;
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/* Blocks in epoll_wait() on an empty epoll set. */
__attribute__((noinline)) void wait_epoll(void)
{
	struct epoll_event ev;

	epoll_wait(epfd, &ev, 1, -1);
}

/* Waits forever in one way; a return is a ping or a disturbance. */
static void *idle_thread(void *arg)
{
	static void (*const waits[NKINDS])(void) = {
		wait_pipe, wait_futex, wait_sleep, wait_epoll,
	};
	long kind = (long)arg;
	char name[16];
	sigset_t ping;

	snprintf(name, sizeof(name), "idle-%s", kind_names[kind]);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&ping);
	sigaddset(&ping, PING_SIG);
	pthread_sigmask(SIG_UNBLOCK, &ping, NULL);
	atomic_fetch_add(&idle_started, 1);
	for (;;) {
		waits[kind]();
		if (ping_seen) {
			ping_seen = 0;
			atomic_fetch_add(&pinged, 1);
		} else {
			atomic_fetch_add(&disturbed[kind], 1);
		}
	}
	return NULL;
}

/* The busy threads' unit of work. */
__attribute__((noinline)) void busy_work(void)
{
	uint64_t acc = target_sink;

	BURN(acc, 200000L);
	target_sink = acc;
}

/* Works forever, counting units. */
__attribute__((noinline)) void *busy_loop(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "busy");
	atomic_fetch_add(&busy_started, 1);
	for (;;) {
		busy_work();
		atomic_fetch_add_explicit(&units, 1, memory_order_relaxed);
		BARRIER();
	}
	return NULL;
}

/* Starts one thread; 0 for stack takes the default size. */
static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg, size_t stack)
{
	pthread_attr_t attr;
	int rc;

	pthread_attr_init(&attr);
	if (stack)
		pthread_attr_setstacksize(&attr, stack);
	rc = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		fprintf(stderr, "pthread_create: %s\n", strerror(rc));
		return -1;
	}
	return 0;
}

/* Pings every idle thread and waits (up to 10 s) for them all to answer. */
static void ping_all(const pthread_t *idle, long nidle)
{
	double end = target_now() + 10;

	atomic_store(&pinged, 0);
	for (long i = 0; i < nidle; i++)
		pthread_kill(idle[i], PING_SIG);
	while (atomic_load(&pinged) < (unsigned long)nidle && target_now() < end)
		target_sleep_ms(1);
}

/* Prints the counters on stdout and into the state file. */
static void report(const char *state)
{
	char line[256];
	unsigned long d[NKINDS], sum = 0;

	for (int k = 0; k < NKINDS; k++)
		sum += d[k] = atomic_load(&disturbed[k]);
	snprintf(line, sizeof(line), "pinged=%lu disturbed=%lu pipe=%lu futex=%lu sleep=%lu "
		 "epoll=%lu units=%lu\n", atomic_load(&pinged), sum, d[K_PIPE], d[K_FUTEX],
		 d[K_SLEEP], d[K_EPOLL], atomic_load(&units));
	if (state)
		target_write_state(state, line);
	fputs(line, stdout);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	long nidle = target_arg_long(argc, argv, 1, 1998);
	long nbusy = target_arg_long(argc, argv, 2, 2);
	const char *state = argc > 3 ? argv[3] : NULL;
	struct sigaction sa;
	sigset_t all, ctl;
	pthread_t *idle, t;
	int sig;

	if (pipe(pipefd) == -1 || (epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		perror("pipe/epoll_create1");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_ping;   /* no SA_RESTART: every wait returns */
	sigemptyset(&sa.sa_mask);
	sigaction(PING_SIG, &sa, NULL);
	/* Threads inherit the full mask; idle ones open it to PING_SIG only. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	idle = calloc((size_t)nidle + 1, sizeof(*idle));
	if (!idle)
		return 1;
	for (long i = 0; i < nidle; i++)
		if (start_thread(&idle[i], idle_thread, (void *)(i % NKINDS), IDLE_STACK) == -1)
			return 1;
	for (long i = 0; i < nbusy; i++)
		if (start_thread(&t, busy_loop, NULL, 0) == -1)
			return 1;
	while (atomic_load(&idle_started) < nidle || atomic_load(&busy_started) < nbusy)
		target_sleep_ms(1);
	/* The last idle threads counted themselves just before they blocked:
	 * give them time to get there. */
	target_sleep_ms(100);

	sigemptyset(&ctl);
	sigaddset(&ctl, SIGUSR1);
	sigaddset(&ctl, SIGUSR2);
	sigaddset(&ctl, SIGTERM);
	target_ready();
	for (;;) {
		sig = sigwaitinfo(&ctl, NULL);
		if (sig == -1)
			continue;
		if (sig == SIGUSR2)
			ping_all(idle, nidle);
		report(state);
		if (sig == SIGTERM)
			return 0;
	}
}
