/* threads.c: N CPU-bound threads, each named "worker-I" and spinning in
 * thread_work(), while the main thread sleeps in pthread_join. Each thread
 * enters thread_work() through its own lane_I() function, so a profile
 * shows which threads were sampled.
 *
 * Usage: threads [NTHREADS]   (default 8)
 * Prints "ready" once every worker runs, then spins until killed. */
#include <pthread.h>
#include <stdatomic.h>

#include "target.h"

#define NLANES 8

static atomic_int running;

/* The shared hot loop; never returns in practice, but could, so the
 * compiler keeps the lanes' frames. */
__attribute__((noipa)) void thread_work(int lane)
{
	uint64_t acc = (uint64_t)lane;

	while (acc != 0 || lane >= 0) {
		BURN(acc, 1000000L);
		target_sink = acc;
	}
}

/* One entry per lane, each with its own name in the profile. */
#define LANE(i)                                      \
	__attribute__((noinline)) void lane_##i(void)  \
	{                                            \
		thread_work(i);                      \
		BARRIER();                           \
	}
LANE(0) LANE(1) LANE(2) LANE(3) LANE(4) LANE(5) LANE(6) LANE(7)

static void (*const lanes[NLANES])(void) = {
	lane_0, lane_1, lane_2, lane_3, lane_4, lane_5, lane_6, lane_7,
};

/* Names the thread, reports in, and runs its lane. */
static void *worker(void *arg)
{
	long i = (long)arg;
	char name[16];

	snprintf(name, sizeof(name), "worker-%ld", i);
	pthread_setname_np(pthread_self(), name);
	atomic_fetch_add(&running, 1);
	lanes[i % NLANES]();
	return NULL;
}

int main(int argc, char **argv)
{
	long n = target_arg_long(argc, argv, 1, 8);
	pthread_t *tids;

	if (n < 1)
		n = 1;
	tids = calloc((size_t)n, sizeof(*tids));
	if (!tids)
		return 1;
	for (long i = 0; i < n; i++) {
		if (pthread_create(&tids[i], NULL, worker, (void *)i) != 0) {
			perror("pthread_create");
			return 1;
		}
	}
	while (atomic_load(&running) < n)
		target_sleep_ms(1);
	target_ready();
	for (long i = 0; i < n; i++)
		pthread_join(tids[i], NULL);
	free(tids);
	return 0;
}
