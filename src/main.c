/* main.c: picks the subcommand; everything else lives in cmd_*.c. */
#include <string.h>

#include "commands.h"

/* Whether the command line is the daemon's: -D, -t, -b or -c (alone or in
 * a cluster of short options), or their long forms. The profiling command
 * has none of these letters; the values of its options are skipped, so
 * that "-o -t" still names a file. */
static int daemon_args(int argc, char **argv)
{
	static const char *const longs[] = { "--daemon", "--test", "--config", "--background" };
	static const char *const valued[] = { "--pid", "--freq", "--duration", "--output",
					      "--format", "--rows", "--sort", "--mode",
					      "--max-depth", "--stack-size", "--unwind" };

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		size_t n;

		if (strcmp(a, "--") == 0)
			break;
		if (a[0] != '-' || a[1] == '\0')
			continue;
		if (a[1] != '-') {
			/* The first letter that takes a value ends the cluster. */
			n = strcspn(a + 1, "pFdofnsm");
			if (strcspn(a + 1, "Dtbc") < n)
				return 1;
			if (a[1 + n] && !a[2 + n])
				i++;
			continue;
		}
		for (size_t k = 0; k < sizeof(longs) / sizeof(longs[0]); k++) {
			n = strlen(longs[k]);
			if (strncmp(a, longs[k], n) == 0 && (a[n] == '\0' || a[n] == '='))
				return 1;
		}
		for (size_t k = 0; k < sizeof(valued) / sizeof(valued[0]); k++)
			if (strcmp(a, valued[k]) == 0)
				i++;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "report") == 0)
		return cmd_report(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "dump") == 0)
		return cmd_dump(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "ctl") == 0)
		return cmd_ctl(argc - 1, argv + 1);
	if (daemon_args(argc, argv))
		return cmd_daemon(argc, argv);
	return cmd_profile(argc, argv);
}
