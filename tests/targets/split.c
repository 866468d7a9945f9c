/* split.c: CPU-bound threads whose time divides 70/30 between hot_a() and
 * hot_b() by construction: both functions run the same unit of work, hot_a
 * seven units per round and hot_b three, called in turn from work().
 * Rounds last tens of milliseconds, far longer than a sampling interval,
 * so the sampler cannot alias with them.
 *
 * Usage: split [NTHREADS]   (default 1: only the main thread works)
 * Prints "ready" once every thread runs, then works until killed. */
#include <pthread.h>

#include "target.h"

/* One unit: about 5-10 ms of dependent integer multiplies. */
#define UNIT_STEPS 5000000L

/* Distinct sinks keep the compiler from folding hot_a and hot_b into one
 * function (identical code folding), which would merge their samples. */
static volatile uint64_t sink_a, sink_b;

/* Seven tenths of every round. */
__attribute__((noinline)) void hot_a(int units)
{
	uint64_t acc = sink_a;

	BURN(acc, units * UNIT_STEPS);
	sink_a = acc;
}

/* Three tenths of every round. */
__attribute__((noinline)) void hot_b(int units)
{
	uint64_t acc = sink_b;

	BURN(acc, units * UNIT_STEPS);
	sink_b = acc;
}

/* One round: 7 units in hot_a, then 3 in hot_b. */
__attribute__((noinline)) void work(void)
{
	hot_a(7);
	BARRIER();
	hot_b(3);
	BARRIER();
}

/* Extra threads do exactly what main does. */
static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		work();
		BARRIER();
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long n = target_arg_long(argc, argv, 1, 1);

	for (long i = 1; i < n; i++) {
		pthread_t t;

		if (pthread_create(&t, NULL, worker, NULL) != 0) {
			perror("pthread_create");
			return 1;
		}
	}
	target_ready();
	for (;;) {
		work();
		BARRIER();
	}
}
