/* target.h: what the test target programs share: a fixed unit of CPU work
 * that the optimizer cannot remove, the "ready" handshake with the tests,
 * and small argument and clock helpers. Header-only so that every target
 * stays a single .c file for the Makefile. */
#ifndef SPROFD_TARGET_H
#define SPROFD_TARGET_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * BURN(acc, n): n steps of a 64-bit LCG on acc. The empty asm makes every
 * step observable, so the compiler can neither fold nor vectorize the loop,
 * and each step costs the same. It is a macro rather than an inline
 * function on purpose: inline functions get DWARF inline entries, and the
 * profiler would then report the work under the inlined name instead of the
 * function the test expects as the leaf.
 */
#define BURN(acc, n)                                                          \
	do {                                                                  \
		for (long burn_i_ = 0; burn_i_ < (long)(n); burn_i_++) {      \
			(acc) = (acc) * 6364136223846793005ULL +              \
				1442695040888963407ULL;                       \
			__asm__ volatile("" : "+r"(acc));                     \
		}                                                             \
	} while (0)

/* A compiler barrier: keeps calls before it from becoming tail calls, so
 * the caller's frame stays on the stack where the tests look for it. */
#define BARRIER() __asm__ volatile("" ::: "memory")

/* Results go here so no work is ever dead. */
static volatile uint64_t target_sink __attribute__((unused));

/* Tells the test that every thread is running. */
static inline void target_ready(void)
{
	fputs("ready\n", stdout);
	fflush(stdout);
}

/* Parses argv[i] as a non-negative integer, or returns def when absent;
 * exits 2 on garbage so a typo in a test shows at once. */
static inline long target_arg_long(int argc, char **argv, int i, long def)
{
	char *end;
	long v;

	if (i >= argc)
		return def;
	errno = 0;
	v = strtol(argv[i], &end, 10);
	if (errno || *end || end == argv[i] || v < 0) {
		fprintf(stderr, "%s: bad number '%s'\n", argv[0], argv[i]);
		exit(2);
	}
	return v;
}

/* Parses argv[i] as a non-negative number of seconds (fractions allowed). */
static inline double target_arg_double(int argc, char **argv, int i, double def)
{
	char *end;
	double v;

	if (i >= argc)
		return def;
	v = strtod(argv[i], &end);
	if (*end || end == argv[i] || v < 0) {
		fprintf(stderr, "%s: bad number '%s'\n", argv[0], argv[i]);
		exit(2);
	}
	return v;
}

/* Seconds on CLOCK_MONOTONIC. */
static inline double target_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps ms milliseconds, resuming after interruptions. */
static inline void target_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Overwrites path with one line of text (a tiny state file that the tests
 * poll); errors are ignored because the tests notice a stale file. */
static inline void target_write_state(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	size_t n = strlen(text);
	int ok;

	if (fd == -1)
		return;
	ok = pwrite(fd, text, n, 0) == (ssize_t)n;
	if (ok && ftruncate(fd, (off_t)n) == -1)
		ok = 0;
	(void)ok;
	close(fd);
}

#endif
