/* execee.c: the program that other targets exec into, so a profile can tell
 * the two programs apart. Its threads do a fixed amount of work in
 * execee_work() and it prints a checksum of that work, then exits with the
 * status it was given: whether it ran under a profiler or not, its output
 * and status must be the same.
 *
 * Usage: execee [STEPS [STATUS [NTHREADS [UNTRACED]]]]
 *   (defaults 100000000, 0, 2, 0)
 * With UNTRACED 1 the main thread first spins in execee_wait() until no
 * tracer is attached (at most 20 s), so that a test can end a profiler
 * while this program surely runs. Prints "execee: threads=N sum=HEX" and
 * exits STATUS. */
#include <pthread.h>

#include "target.h"

static long steps;

/* The work of one thread: STEPS steps of the LCG from a seed of its own. */
__attribute__((noinline)) uint64_t execee_work(uint64_t seed)
{
	uint64_t acc = seed;

	for (long done = 0; done < steps; done += 100000L)
		BURN(acc, 100000L);
	BARRIER();
	return acc;
}

/* Whether a tracer is attached, from /proc/self/status. */
static int traced(void)
{
	char buf[4096], *p;
	int fd = open("/proc/self/status", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strstr(buf, "\nTracerPid:");
	return p && strtol(p + 11, NULL, 10) != 0;
}

/* Spins while traced, at most until the given time. */
__attribute__((noinline)) void execee_wait(double until)
{
	uint64_t acc = 7;

	while (traced() && target_now() < until)
		BURN(acc, 100000L);
	target_sink = acc;
}

/* Body of a helper thread: its result comes back through the join. */
static void *helper(void *arg)
{
	uint64_t *out = arg;

	*out = execee_work(*out);
	return NULL;
}

int main(int argc, char **argv)
{
	int status = (int)target_arg_long(argc, argv, 2, 0);
	long n = target_arg_long(argc, argv, 3, 2);
	uint64_t seeds[64], sum = 0;
	pthread_t t[64];

	steps = target_arg_long(argc, argv, 1, 100000000L);
	if (n < 1 || n > 64) {
		fprintf(stderr, "execee: 1 to 64 threads\n");
		return 2;
	}
	for (long i = 1; i < n; i++) {
		seeds[i] = (uint64_t)i;
		if (pthread_create(&t[i], NULL, helper, &seeds[i]) != 0) {
			perror("pthread_create");
			return 1;
		}
	}
	if (target_arg_long(argc, argv, 4, 0))
		execee_wait(target_now() + 20);
	seeds[0] = execee_work(0);
	for (long i = 1; i < n; i++)
		pthread_join(t[i], NULL);
	for (long i = 0; i < n; i++)
		sum ^= seeds[i] + (uint64_t)i;
	printf("execee: threads=%ld sum=%016llx\n", n, (unsigned long long)sum);
	fflush(stdout);
	return status;
}
