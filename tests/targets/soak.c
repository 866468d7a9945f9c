/* soak.c: a steady mix of threads for long profiling runs, built so that
 * the set of distinct stacks a profiler sees stops growing within seconds:
 * every thread only ever runs down one of four fixed call paths, eight
 * distinct functions deep, to one leaf that burns CPU or sleeps. A quarter
 * of the threads burn all the time, a quarter alternate 1 ms of work and
 * 1 ms of sleep, and the rest sleep 20 ms between short bursts of work, so
 * a sampler meets running, preempted and sleeping threads at every tick.
 *
 * Usage: soak [NTHREADS]   (default 16)
 * Prints "ready" once every thread runs, then works until killed. */
#include <pthread.h>
#include <stdatomic.h>

#include "target.h"

enum job_kind { JOB_BURN, JOB_SLEEP };

struct job {
	enum job_kind kind;
	long arg;             /* BURN steps, or milliseconds of sleep */
};

static atomic_long running;

/* The bottom of every path: the work itself. */
__attribute__((noinline)) void do_job(const struct job *j)
{
	uint64_t acc = target_sink;

	if (j->kind == JOB_SLEEP) {
		target_sleep_ms(j->arg);
		return;
	}
	BURN(acc, j->arg);
	target_sink = acc;
}

/* One level of a call path: calls the next level down. The barrier keeps
 * the call from becoming a jump, so every level keeps its frame. */
#define LEVEL(path, d, next)                                         \
	__attribute__((noinline)) void path##_##d(const struct job *j) \
	{                                                            \
		next(j);                                             \
		BARRIER();                                           \
	}

/* A path of eight levels, path_1 (the entry) down to path_8. */
#define PATH(path)                                                   \
	LEVEL(path, 8, do_job) LEVEL(path, 7, path##_8)              \
	LEVEL(path, 6, path##_7) LEVEL(path, 5, path##_6)            \
	LEVEL(path, 4, path##_5) LEVEL(path, 3, path##_4)            \
	LEVEL(path, 2, path##_3) LEVEL(path, 1, path##_2)

PATH(alpha) PATH(beta) PATH(gamma) PATH(delta)

/* Burns all the time, through alpha or beta. */
__attribute__((noinline)) void busy_role(long i)
{
	const struct job burn = { JOB_BURN, 100000 };

	for (;;) {
		if (i % 2)
			beta_1(&burn);
		else
			alpha_1(&burn);
		BARRIER();
	}
}

/* About 1 ms of work, then 1 ms of sleep, and again. */
__attribute__((noinline)) void mixed_role(long i)
{
	const struct job burn = { JOB_BURN, 700000 }, nap = { JOB_SLEEP, 1 };

	(void)i;
	for (;;) {
		gamma_1(&burn);
		delta_1(&nap);
		BARRIER();
	}
}

/* Sleeps 20 ms, then works briefly, and again. */
__attribute__((noinline)) void sleepy_role(long i)
{
	const struct job burn = { JOB_BURN, 20000 }, nap = { JOB_SLEEP, 20 };

	(void)i;
	for (;;) {
		delta_1(&nap);
		gamma_1(&burn);
		BARRIER();
	}
}

/* Reports in and runs the role of thread i: 0 busy, 1 mixed, 2-3 sleepy. */
static void *thread_main(void *arg)
{
	long i = (long)arg;

	atomic_fetch_add(&running, 1);
	switch (i % 4) {
	case 0:
		busy_role(i / 4);
		break;
	case 1:
		mixed_role(i);
		break;
	default:
		sleepy_role(i);
		break;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long n = target_arg_long(argc, argv, 1, 16);
	pthread_t t;

	for (long i = 0; i < n; i++) {
		if (pthread_create(&t, NULL, thread_main, (void *)i) != 0) {
			perror("pthread_create");
			return 1;
		}
	}
	while (atomic_load(&running) < n)
		target_sleep_ms(1);
	target_ready();
	for (;;)
		target_sleep_ms(1000);
}
