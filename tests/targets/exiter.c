/* exiter.c: works for a given time, then exits with a given status while
 * its helper threads are still running, the way a crashing or finishing
 * server leaves a profiler behind.
 *
 * Usage: exiter [SECONDS [STATUS [NTHREADS]]]   (defaults 1.5, 7, 2)
 * Prints "ready" once every thread runs. */
#include <pthread.h>
#include <stdatomic.h>

#include "target.h"

static atomic_int running;

/* Work until the deadline; the helpers never stop on their own. */
__attribute__((noinline)) void exiter_work(double until)
{
	uint64_t acc = target_sink;

	while (target_now() < until)
		BURN(acc, 100000L);
	target_sink = acc;
}

/* Helper threads spin until the process exits under them. */
static void *helper(void *arg)
{
	(void)arg;
	atomic_fetch_add(&running, 1);
	exiter_work(1e300);
	return NULL;
}

int main(int argc, char **argv)
{
	double secs = target_arg_double(argc, argv, 1, 1.5);
	int status = (int)target_arg_long(argc, argv, 2, 7);
	long n = target_arg_long(argc, argv, 3, 2);
	double start = target_now();

	for (long i = 1; i < n; i++) {
		pthread_t t;

		if (pthread_create(&t, NULL, helper, NULL) != 0) {
			perror("pthread_create");
			return 1;
		}
	}
	while (atomic_load(&running) < n - 1)
		target_sleep_ms(1);
	target_ready();
	exiter_work(start + secs);
	exit(status);
}
