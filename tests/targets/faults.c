/* faults.c: processes that do what makes tracing hard, for the fault
 * tests: exit with a status while threads run, exec another program from
 * the main thread or from another thread, fork children of every kind,
 * create thousands of short-lived threads, and block in system calls.
 *
 * Usage:
 *   faults exit SECS STATUS NTHREADS main|thread
 *     NTHREADS threads spin in exit_spin(); after SECS the main thread (main)
 *     or a worker (thread; the main thread then has already left with
 *     pthread_exit at SECS/2) calls exit(STATUS).
 *   faults exec SECS main|thread NTHREADS PROG [ARG...]
 *     NTHREADS threads spin in pre_exec_spin(); after SECS the main thread
 *     or a worker calls execv(PROG, [PROG, ARG...]).
 *   faults fork ROUNDS EXECEE
 *     a helper thread spins in forker_helper() while the main thread forks,
 *     each round: a child that spins 200 ms (exit 33), fork + _exit, fork +
 *     exec of EXECEE (exit 17), posix_spawn of EXECEE (exit 18), and a
 *     clone() child with no exit signal that spins 200 ms (exit 44), while
 *     it works 100 ms in forker_work(); checks every status, then prints
 *     "fork: rounds=N children=M bad=K" and exits 0 if K is 0.
 *   faults burst TOTAL BURST
 *     creates TOTAL threads, BURST at a time, each running burst_work(),
 *     joins each burst, then prints "burst: threads=N sum=HEX secs=S" (S:
 *     the seconds it took) and exits 0.
 *   faults blocky STATEFILE NSPIN
 *     NSPIN threads spin in blocky_spin() while others block: a pipe
 *     ping-pong, nanosleep, poll, a condition variable and epoll_wait, with
 *     timeouts of 1-2 ms. Keeps "main=.. pingpong=.. sleep=.. poll=.. cond=..
 *     epoll=.. eintr=.. epoll_eintr=.." in STATEFILE up to date; eintr counts
 *     interrupted calls that the kernel restarts when nothing handles a
 *     signal, so any count there comes from outside.
 * Every mode prints "ready" once its threads run. With FAULTS_WAIT_TRACER=1
 * in the environment, it then waits (up to 10 s) until a tracer is
 * attached before its clock starts, so that a profiler sees it all. */
#include <pthread.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/wait.h>

#include "target.h"

extern char **environ;

static atomic_int running;
static double start;
static atomic_bool started;   /* start is set */

/* Says "ready"; then, when asked to, waits for a tracer, and starts the
 * clock. */
static void ready(void)
{
	const char *wait = getenv("FAULTS_WAIT_TRACER");
	double give_up = target_now() + 10;

	target_ready();
	while (wait && strcmp(wait, "1") == 0 && target_now() < give_up) {
		char buf[4096], *p;
		int fd = open("/proc/self/status", O_RDONLY);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

		if (fd >= 0)
			close(fd);
		if (n > 0) {
			buf[n] = '\0';
			p = strstr(buf, "TracerPid:");
			if (p && strtol(p + 10, NULL, 10) != 0)
				break;
		}
		target_sleep_ms(1);
	}
	start = target_now();
	atomic_store(&started, true);
}

/* For the workers that act at a time: waits until the clock started. */
static double start_time(void)
{
	while (!atomic_load(&started))
		target_sleep_ms(1);
	return start;
}

/* Spins until the given time (forever for 1e300). */
__attribute__((noinline)) void exit_spin(double until)
{
	uint64_t acc = target_sink;

	while (target_now() < until)
		BURN(acc, 100000L);
	target_sink = acc;
}

struct exit_conf {
	double secs;
	int status;
	bool from_thread;
};

/* A worker of the exit mode; the first one exits the process in thread
 * mode. */
static void *exit_worker(void *arg)
{
	const struct exit_conf *c = arg;
	static atomic_int next;
	int me = atomic_fetch_add(&next, 1);

	atomic_fetch_add(&running, 1);
	if (c->from_thread && me == 0) {
		exit_spin(start_time() + c->secs);
		exit(c->status);
	}
	exit_spin(1e300);
	return NULL;
}

/* Starts n threads running fn(arg) and waits until each has reported in. */
static void start_workers(long n, void *(*fn)(void *), void *arg)
{
	for (long i = 0; i < n; i++) {
		pthread_t t;

		if (pthread_create(&t, NULL, fn, arg) != 0) {
			perror("pthread_create");
			exit(1);
		}
	}
	while (atomic_load(&running) < n)
		target_sleep_ms(1);
}

static int mode_exit(int argc, char **argv)
{
	struct exit_conf c = {
		.secs = target_arg_double(argc, argv, 2, 1.0),
		.status = (int)target_arg_long(argc, argv, 3, 42),
		.from_thread = argc > 5 && strcmp(argv[5], "thread") == 0,
	};
	long n = target_arg_long(argc, argv, 4, 3);

	start_workers(n > 1 ? n - 1 : 1, exit_worker, &c);
	ready();
	if (c.from_thread) {
		/* The leader leaves first and stays a zombie until the others
		 * are gone: the process lives on without it. */
		exit_spin(start + c.secs / 2);
		pthread_exit(NULL);
	}
	exit_spin(start + c.secs);
	exit(c.status);
}

/* Spins until the given time. */
__attribute__((noinline)) void pre_exec_spin(double until)
{
	uint64_t acc = target_sink;

	while (target_now() < until)
		BURN(acc, 100000L);
	target_sink = acc;
}

struct exec_conf {
	double secs;
	bool from_thread;
	char **argv;
};

/* Replaces the process image; only returns to report the failure. */
static void do_exec(const struct exec_conf *c)
{
	execv(c->argv[0], c->argv);
	perror("execv");
	_exit(127);
}

/* A worker of the exec mode; the first one execs in thread mode. */
static void *exec_worker(void *arg)
{
	const struct exec_conf *c = arg;
	static atomic_int next;
	int me = atomic_fetch_add(&next, 1);

	atomic_fetch_add(&running, 1);
	if (c->from_thread && me == 0) {
		pre_exec_spin(start_time() + c->secs);
		do_exec(c);
	}
	pre_exec_spin(1e300);
	return NULL;
}

static int mode_exec(int argc, char **argv)
{
	struct exec_conf c = {
		.secs = target_arg_double(argc, argv, 2, 1.0),
		.from_thread = argc > 3 && strcmp(argv[3], "thread") == 0,
		.argv = argv + 5,
	};
	long n = target_arg_long(argc, argv, 4, 3);

	if (argc < 6) {
		fprintf(stderr, "faults exec: no program\n");
		return 2;
	}
	start_workers(n > 1 ? n - 1 : 1, exec_worker, &c);
	ready();
	pre_exec_spin(c.from_thread ? 1e300 : start + c.secs);
	do_exec(&c);
	return 127;
}

/* Work of the forking thread between children. */
__attribute__((noinline)) void forker_work(double secs)
{
	exit_spin(target_now() + secs);
	BARRIER();
}

/* The forking process's second thread, which never forks. */
__attribute__((noinline)) void *forker_helper(void *arg)
{
	(void)arg;
	atomic_fetch_add(&running, 1);
	exit_spin(1e300);
	BARRIER();
	return NULL;
}

/* What the long-lived child does. */
__attribute__((noinline)) void child_spin(double secs)
{
	exit_spin(target_now() + secs);
	BARRIER();
}

/* Body of the clone() child: a process of its own, with no exit signal. */
static int clone_child(void *arg)
{
	(void)arg;
	child_spin(0.2);
	return 44;
}

/* Waits for one child (any kind) and checks its exit status. */
static int reap(pid_t pid, int want, const char *what)
{
	int st;

	while (waitpid(pid, &st, __WALL) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "faults: waitpid %s: %s\n", what, strerror(errno));
			return 1;
		}
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != want) {
		fprintf(stderr, "faults: %s: wait status 0x%x, want exit %d\n", what, st, want);
		return 1;
	}
	return 0;
}

static int mode_fork(int argc, char **argv)
{
	long rounds = target_arg_long(argc, argv, 2, 10);
	const char *execee = argc > 3 ? argv[3] : "execee";
	char *spawn_argv[] = { (char *)execee, "2000000", "18", "1", NULL };
	size_t stack_size = 256 * 1024;
	char *stack = malloc(stack_size);
	long children = 0, bad = 0;
	pthread_t t;

	if (!stack || pthread_create(&t, NULL, forker_helper, NULL) != 0) {
		perror("faults fork");
		return 1;
	}
	while (atomic_load(&running) < 1)
		target_sleep_ms(1);
	ready();
	for (long r = 0; r < rounds; r++) {
		pid_t longc, pid;

		if ((longc = fork()) == 0) {
			child_spin(0.2);
			_exit(33);
		}
		if ((pid = fork()) == 0)
			_exit((int)(r % 50) + 1);
		bad += reap(pid, (int)(r % 50) + 1, "fork + _exit");
		if ((pid = fork()) == 0) {
			execl(execee, execee, "2000000", "17", "1", (char *)NULL);
			_exit(127);
		}
		bad += reap(pid, 17, "fork + exec");
		if ((errno = posix_spawn(&pid, execee, NULL, NULL, spawn_argv, environ)) != 0) {
			perror("posix_spawn");
			bad++;
		} else {
			bad += reap(pid, 18, "posix_spawn");
		}
		/* No CLONE_THREAD and no exit signal: a new process that only
		 * waitpid with __WALL sees. */
		pid = clone(clone_child, stack + stack_size, 0, NULL);
		if (pid < 0) {
			perror("clone");
			bad++;
		} else {
			bad += reap(pid, 44, "clone");
		}
		forker_work(0.1);
		bad += reap(longc, 33, "long-lived child");
		children += 5;
	}
	printf("fork: rounds=%ld children=%ld bad=%ld\n", rounds, children, bad);
	fflush(stdout);
	return bad ? 1 : 0;
}

struct burst_arg {
	uint64_t seed, out;
};

/* The little work of one short-lived thread. */
__attribute__((noinline)) uint64_t burst_work(uint64_t seed)
{
	uint64_t acc = seed;

	BURN(acc, 50000L);
	BARRIER();
	return acc;
}

static void *burst_thread(void *arg)
{
	struct burst_arg *a = arg;

	a->out = burst_work(a->seed);
	return NULL;
}

static int mode_burst(int argc, char **argv)
{
	long total = target_arg_long(argc, argv, 2, 10000);
	long burst = target_arg_long(argc, argv, 3, 300);
	struct burst_arg *args = calloc((size_t)burst, sizeof(*args));
	pthread_t *ts = calloc((size_t)burst, sizeof(*ts));
	uint64_t sum = 0;
	pthread_attr_t attr;
	long done = 0;

	if (!args || !ts || burst < 1)
		return 2;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	ready();
	while (done < total) {
		long n = total - done < burst ? total - done : burst;

		for (long i = 0; i < n; i++) {
			int err;

			args[i].seed = (uint64_t)(done + i);
			/* EAGAIN: the machine is short of threads for a moment. */
			while ((err = pthread_create(&ts[i], &attr, burst_thread, &args[i])) == EAGAIN)
				target_sleep_ms(1);
			if (err) {
				fprintf(stderr, "faults: pthread_create: %s\n", strerror(err));
				return 1;
			}
		}
		for (long i = 0; i < n; i++) {
			pthread_join(ts[i], NULL);
			sum += args[i].out ^ args[i].seed;
		}
		done += n;
	}
	printf("burst: threads=%ld sum=%016llx secs=%.3f\n", done, (unsigned long long)sum,
	       target_now() - start);
	fflush(stdout);
	return 0;
}

static atomic_ulong n_pingpong, n_sleep, n_poll, n_cond, n_epoll, n_eintr, n_epoll_eintr;
static int ping[2], pong[2];

/* Sends a byte back and forth with pinger, blocking in read each time. */
static void *ponger(void *arg)
{
	char c;

	(void)arg;
	for (;;) {
		ssize_t r = read(ping[0], &c, 1);

		if (r < 0 && errno == EINTR) {
			atomic_fetch_add(&n_eintr, 1);
			continue;
		}
		if (r != 1)
			break;
		while (write(pong[1], &c, 1) < 0 && errno == EINTR)
			atomic_fetch_add(&n_eintr, 1);
	}
	return NULL;
}

static void *pinger(void *arg)
{
	char c = 'x';

	(void)arg;
	for (;;) {
		ssize_t r;

		while (write(ping[1], &c, 1) < 0 && errno == EINTR)
			atomic_fetch_add(&n_eintr, 1);
		while ((r = read(pong[0], &c, 1)) < 0 && errno == EINTR)
			atomic_fetch_add(&n_eintr, 1);
		if (r != 1)
			break;
		atomic_fetch_add(&n_pingpong, 1);
	}
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;) {
		struct timespec ts = { 0, 1000000L };

		if (nanosleep(&ts, NULL) == -1 && errno == EINTR)
			atomic_fetch_add(&n_eintr, 1);
		atomic_fetch_add(&n_sleep, 1);
	}
	return NULL;
}

static void *poller(void *arg)
{
	int p[2];

	(void)arg;
	if (pipe(p) < 0)
		return NULL;
	for (;;) {
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };

		if (poll(&pfd, 1, 2) < 0 && errno == EINTR)
			atomic_fetch_add(&n_eintr, 1);
		atomic_fetch_add(&n_poll, 1);
	}
	return NULL;
}

static void *cond_waiter(void *arg)
{
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

	(void)arg;
	pthread_mutex_lock(&mu);
	for (;;) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 2000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&cv, &mu, &ts);
		atomic_fetch_add(&n_cond, 1);
	}
	return NULL;
}

/* epoll_wait is one of the calls that Linux ends with EINTR after any
 * stop, even one that delivers no signal; counted apart. */
static void *epoller(void *arg)
{
	int ep = epoll_create1(0);
	struct epoll_event ev;

	(void)arg;
	if (ep < 0)
		return NULL;
	for (;;) {
		if (epoll_wait(ep, &ev, 1, 2) < 0 && errno == EINTR)
			atomic_fetch_add(&n_epoll_eintr, 1);
		atomic_fetch_add(&n_epoll, 1);
	}
	return NULL;
}

/* What the spinning threads of the blocky mode do. */
__attribute__((noinline)) void *blocky_spin(void *arg)
{
	(void)arg;
	exit_spin(1e300);
	BARRIER();
	return NULL;
}

/* One step of the main thread's work. */
__attribute__((noinline)) void blocky_step(void)
{
	uint64_t acc = target_sink;

	BURN(acc, 100000L);
	target_sink = acc;
}

static int mode_blocky(int argc, char **argv)
{
	const char *path = argc > 2 ? argv[2] : "blocky.state";
	long nspin = target_arg_long(argc, argv, 3, 2);
	void *(*const fns[])(void *) = { ponger, pinger, sleeper, poller, cond_waiter, epoller };
	unsigned long count = 0;
	double next = 0;
	char line[256];

	if (pipe(ping) < 0 || pipe(pong) < 0) {
		perror("pipe");
		return 1;
	}
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]) + (size_t)nspin; i++) {
		pthread_t t;

		if (pthread_create(&t, NULL, i < sizeof(fns) / sizeof(fns[0]) ? fns[i] : blocky_spin,
				   NULL) != 0) {
			perror("pthread_create");
			return 1;
		}
	}
	ready();
	for (;;) {
		blocky_step();
		count++;
		if (target_now() >= next) {
			snprintf(line, sizeof(line),
				 "main=%lu pingpong=%lu sleep=%lu poll=%lu cond=%lu epoll=%lu "
				 "eintr=%lu epoll_eintr=%lu\n", count, atomic_load(&n_pingpong),
				 atomic_load(&n_sleep), atomic_load(&n_poll), atomic_load(&n_cond),
				 atomic_load(&n_epoll), atomic_load(&n_eintr),
				 atomic_load(&n_epoll_eintr));
			target_write_state(path, line);
			next = target_now() + 0.01;
		}
	}
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (strcmp(mode, "exit") == 0)
		return mode_exit(argc, argv);
	if (strcmp(mode, "exec") == 0)
		return mode_exec(argc, argv);
	if (strcmp(mode, "fork") == 0)
		return mode_fork(argc, argv);
	if (strcmp(mode, "burst") == 0)
		return mode_burst(argc, argv);
	if (strcmp(mode, "blocky") == 0)
		return mode_blocky(argc, argv);
	fprintf(stderr, "usage: faults exit|exec|fork|burst|blocky ...\n");
	return 2;
}
