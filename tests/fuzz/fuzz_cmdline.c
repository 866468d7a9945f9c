/* fuzz_cmdline.c: the profiling command line through profile_parse_args,
 * which only parses: the input, split at NUL bytes, is the arguments after
 * "sprofd". A command line that is accepted must give values in their
 * documented ranges; parsing the same arguments again (getopt keeps state
 * between calls) must give the same answer. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fuzz.h"
#include "sprofd.h"

#define MAX_ARGS 64

/* argv from the input: "sprofd", then one argument per NUL-separated
 * piece; each piece is a malloc'd copy. */
static int make_argv(const uint8_t *data, size_t size, char **argv)
{
	struct fuzz_in in = { data, size };
	int argc = 0;

	argv[argc++] = strdup("sprofd");
	while (in.n > 0 && argc < MAX_ARGS)
		argv[argc++] = fuzz_cstr(&in);
	argv[argc] = NULL;
	return argc;
}

static void free_argv(char **argv)
{
	for (int i = 0; argv[i]; i++)
		free(argv[i]);
}

/* Whether p points into one of the strings of argv. */
static bool in_argv(char **argv, const char *p)
{
	for (int i = 0; argv[i]; i++)
		if (p >= argv[i] && p <= argv[i] + strlen(argv[i]))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 1], *argv2[MAX_ARGS + 1];
	struct cli a, b;
	int argc = make_argv(data, size, argv), rc, rc2;

	make_argv(data, size, argv2);
	rc = profile_parse_args(argc, argv, &a);
	FUZZ_CHECK(rc == EXIT_OK || rc == EXIT_USAGE, "exit code %d", rc);
	if (rc == EXIT_OK && a.action == CLI_PROFILE) {
		FUZZ_CHECK(a.so.pid >= 1, "pid %d", (int)a.so.pid);
		FUZZ_CHECK(a.so.hz >= SPROFD_HZ_MIN && a.so.hz <= SPROFD_HZ_MAX, "hz %u", a.so.hz);
		FUZZ_CHECK(a.so.duration >= 0 && a.so.duration <= 31536000, "duration %g",
			   a.so.duration);
		FUZZ_CHECK(a.so.max_depth >= 1 && a.so.max_depth <= SPROFD_DEPTH_MAX, "depth %d",
			   a.so.max_depth);
		FUZZ_CHECK(a.so.stack_cap >= 4096 && a.so.stack_cap <= (8 << 20), "stack %zu",
			   a.so.stack_cap);
		FUZZ_CHECK(a.rows >= 0 && a.rows <= 1000000, "rows %d", a.rows);
		FUZZ_CHECK(a.so.mode == MODE_CPU || a.so.mode == MODE_WALL, "mode %d", (int)a.so.mode);
		FUZZ_CHECK(!a.output || (*a.output && in_argv(argv, a.output)), "bad output path");
		FUZZ_CHECK(!a.formats || in_argv(argv, a.formats), "bad formats");
	}
	/* Again, on a fresh copy: the same answer. */
	rc2 = profile_parse_args(argc, argv2, &b);
	FUZZ_CHECK(rc2 == rc, "exit code %d, then %d", rc, rc2);
	if (rc == EXIT_OK) {
		FUZZ_CHECK(a.action == b.action && a.so.pid == b.so.pid && a.so.hz == b.so.hz &&
			   a.so.duration == b.so.duration && a.so.max_depth == b.so.max_depth &&
			   a.so.stack_cap == b.so.stack_cap && a.so.mode == b.so.mode &&
			   a.rows == b.rows && a.sort == b.sort && a.quiet == b.quiet &&
			   a.verbose == b.verbose && !a.output == !b.output &&
			   !a.formats == !b.formats,
			   "another parse of the same command line differs");
		if (a.output)
			FUZZ_CHECK(strcmp(a.output, b.output) == 0, "-o differs");
		if (a.formats)
			FUZZ_CHECK(strcmp(a.formats, b.formats) == 0, "-f differs");
	}
	free_argv(argv);
	free_argv(argv2);
	return 0;
}
