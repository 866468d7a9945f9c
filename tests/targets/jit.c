/* jit.c: code generated at run time, as a JIT compiler makes it: spin
 * loops copied into anonymous executable memory, two of them announced in
 * /tmp/perf-PID.map the way node --perf-basic-prof and CPython -X perf do,
 * one not. Threads:
 *   main    runs jit_first (in the perf map from the start)
 *   second  waits for the file TRIGGER, then appends jit_second to the
 *           map and runs it (the map grows while a profiler reads it)
 *   hidden  runs code that the map never names
 *
 * Usage: jit TRIGGER
 * Prints "ready" once main and hidden run, "second" once jit_second runs;
 * spins until killed. Removes nothing: the caller deletes the map file. */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "target.h"

/* pause; jmp back to the pause: a leaf that spins forever. */
static const unsigned char spin_code[] = { 0xf3, 0x90, 0xeb, 0xfc };
#define SLOT 64

static unsigned char *code;
static const char *trigger;
static atomic_int running;

/* Appends one "START SIZE NAME" line to the perf map. */
static void announce(void *start, size_t size, const char *name)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
	if (!(f = fopen(path, "a"))) {
		perror(path);
		exit(1);
	}
	fprintf(f, "%lx %zx %s\n", (unsigned long)(uintptr_t)start, size, name);
	fclose(f);
}

/* Copies the spin loop into slot i and returns it as a function. */
static void (*emit(int i))(void)
{
	memcpy(code + i * SLOT, spin_code, sizeof(spin_code));
	__builtin___clear_cache((char *)code + i * SLOT, (char *)code + (i + 1) * SLOT);
	return (void (*)(void))(code + i * SLOT);
}

static void *second_main(void *arg)
{
	void (*fn)(void);

	while (access(trigger, F_OK) != 0)
		target_sleep_ms(5);
	fn = emit(1);
	announce(code + SLOT, sizeof(spin_code), "jit_second");
	fputs("second\n", stdout);
	fflush(stdout);
	fn();
	return arg;
}

static void *hidden_main(void *arg)
{
	void (*fn)(void) = emit(2);

	atomic_fetch_add(&running, 1);
	fn();
	return arg;
}

int main(int argc, char **argv)
{
	pthread_t a, b;
	void (*fn)(void);

	if (argc != 2) {
		fprintf(stderr, "usage: jit TRIGGER\n");
		return 2;
	}
	trigger = argv[1];
	code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	if (code == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	fn = emit(0);
	announce(code, sizeof(spin_code), "jit_first");
	if (pthread_create(&a, NULL, second_main, NULL) != 0 ||
	    pthread_create(&b, NULL, hidden_main, NULL) != 0) {
		perror("pthread_create");
		return 1;
	}
	while (atomic_load(&running) < 1)
		target_sleep_ms(1);
	target_ready();
	fn();
	return 0;
}
