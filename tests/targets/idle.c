/* idle.c: many threads that sleep and a few that work, to show which ones
 * a sampler stops. Each idle thread blocks in epoll_wait() on an epoll
 * instance with nothing registered, so only an interruption can wake it,
 * and counts the calls that fail with EINTR. epoll_wait() is never
 * restarted by the kernel: even a ptrace interrupt, which runs no signal
 * handler, makes it return EINTR, so the count shows every time a tracer
 * stopped a sleeping thread. Idle and busy threads block every signal;
 * only the main thread takes SIGUSR1 and SIGTERM, in sigwaitinfo().
 *
 * Usage: idle [NIDLE [NBUSY [STATEFILE]]]   (defaults 10 and 1)
 * Prints "ready" once every idle thread has entered its loop and every busy
 * thread runs. SIGUSR1 prints "eintr=N" on stdout (and writes it to
 * STATEFILE when given); SIGTERM prints it and exits 0. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/epoll.h>

#include "target.h"

/* Idle threads need little stack; thousands of them stay cheap. */
#define IDLE_STACK (64 * 1024)

static atomic_ulong eintr_count;
static atomic_long idle_started, busy_started;
static int epfd;

/* Waits on nothing forever, counting the waits that ended in EINTR. */
static void *idle_thread(void *arg)
{
	struct epoll_event ev;

	(void)arg;
	atomic_fetch_add(&idle_started, 1);
	for (;;) {
		if (epoll_wait(epfd, &ev, 1, -1) == -1 && errno == EINTR)
			atomic_fetch_add(&eintr_count, 1);
	}
	return NULL;
}

/* The busy threads' unit of work. */
__attribute__((noinline)) void busy_work(void)
{
	uint64_t acc = target_sink;

	BURN(acc, 1000000L);
	target_sink = acc;
}

/* Works forever. */
__attribute__((noinline)) void *busy_loop(void *arg)
{
	(void)arg;
	atomic_fetch_add(&busy_started, 1);
	for (;;) {
		busy_work();
		BARRIER();
	}
	return NULL;
}

/* Starts one thread with the given stack size (0: the default). */
static int start_thread(void *(*fn)(void *), size_t stack)
{
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (stack)
		pthread_attr_setstacksize(&attr, stack);
	rc = pthread_create(&t, &attr, fn, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		fprintf(stderr, "pthread_create: %s\n", strerror(rc));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	long nidle = target_arg_long(argc, argv, 1, 10);
	long nbusy = target_arg_long(argc, argv, 2, 1);
	const char *state = argc > 3 ? argv[3] : NULL;
	sigset_t all, report;
	char line[64];
	int sig;

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd == -1) {
		perror("epoll_create1");
		return 1;
	}
	/* Threads inherit the full mask: every signal is left to main. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (long i = 0; i < nidle; i++)
		if (start_thread(idle_thread, IDLE_STACK) == -1)
			return 1;
	for (long i = 0; i < nbusy; i++)
		if (start_thread(busy_loop, 0) == -1)
			return 1;
	while (atomic_load(&idle_started) < nidle || atomic_load(&busy_started) < nbusy)
		target_sleep_ms(1);
	/* The last idle threads counted themselves just before their first
	 * epoll_wait(): give them time to get there. */
	target_sleep_ms(50);

	sigemptyset(&report);
	sigaddset(&report, SIGUSR1);
	sigaddset(&report, SIGTERM);
	target_ready();
	for (;;) {
		sig = sigwaitinfo(&report, NULL);
		if (sig == -1)
			continue;
		snprintf(line, sizeof(line), "eintr=%lu\n", atomic_load(&eintr_count));
		if (state)
			target_write_state(state, line);
		fputs(line, stdout);
		fflush(stdout);
		if (sig == SIGTERM)
			return 0;
	}
}
