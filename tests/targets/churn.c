/* churn.c: threads that come and go all the time. A spawner thread starts
 * a short-lived thread every few milliseconds; each spins 5-20 ms in
 * short_lived() and exits. Meanwhile the main thread spins in main_spin().
 *
 * Usage: churn [INTERVAL_MS]   (default 3)
 * Prints "ready" once the first short-lived thread was started, then runs
 * until killed. */
#include <pthread.h>
#include <stdatomic.h>

#include "target.h"

static atomic_ulong started, finished;

/* Spins for the number of milliseconds it is given, then returns. */
__attribute__((noinline)) void short_lived_spin(long ms)
{
	double end = target_now() + (double)ms / 1000.0;
	uint64_t acc = (uint64_t)ms;

	do
		BURN(acc, 20000L);
	while (target_now() < end);
	target_sink = acc;
}

/* Body of every short-lived thread. */
static void *short_lived(void *arg)
{
	short_lived_spin((long)arg);
	BARRIER();
	atomic_fetch_add(&finished, 1);
	return NULL;
}

/* Starts detached short-lived threads forever, one per interval. */
static void *spawner(void *arg)
{
	long interval = (long)arg;
	pthread_attr_t attr;
	unsigned seed = 12345;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		pthread_t t;
		long ms = 5 + (long)(rand_r(&seed) % 16);

		if (pthread_create(&t, &attr, short_lived, (void *)ms) == 0)
			atomic_fetch_add(&started, 1);
		target_sleep_ms(interval);
	}
	return NULL;
}

/* The main thread's work, forever. */
__attribute__((noinline)) void main_spin(void)
{
	uint64_t acc = 1;

	for (;;) {
		BURN(acc, 1000000L);
		target_sink = acc;
	}
}

int main(int argc, char **argv)
{
	long interval = target_arg_long(argc, argv, 1, 3);
	pthread_t t;

	if (pthread_create(&t, NULL, spawner, (void *)interval) != 0) {
		perror("pthread_create");
		return 1;
	}
	while (atomic_load(&started) == 0)
		target_sleep_ms(1);
	target_ready();
	main_spin();
	return 0;
}
