/* progress.c: shows from outside that it keeps running. The main thread
 * spins and writes its progress counter to a file every 10 ms; a second
 * thread alternates short spins and sleeps, so at any moment some thread
 * may be inside a system call.
 *
 * Usage: progress FILE
 * Prints "ready", then runs until killed. */
#include <pthread.h>

#include "target.h"

/* One step of the main thread's work. */
__attribute__((noinline)) void progress_step(void)
{
	uint64_t acc = target_sink;

	BURN(acc, 100000L);
	target_sink = acc;
}

/* Spins a little, sleeps a little, forever. */
__attribute__((noinline)) void *napper(void *arg)
{
	uint64_t acc = 3;

	(void)arg;
	for (;;) {
		BURN(acc, 500000L);
		target_sink = acc;
		target_sleep_ms(2);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "progress.state";
	unsigned long count = 0;
	double next = 0;
	pthread_t t;
	char line[32];

	if (pthread_create(&t, NULL, napper, NULL) != 0) {
		perror("pthread_create");
		return 1;
	}
	target_ready();
	for (;;) {
		progress_step();
		count++;
		if (target_now() >= next) {
			snprintf(line, sizeof(line), "%lu\n", count);
			target_write_state(path, line);
			next = target_now() + 0.01;
		}
	}
}
