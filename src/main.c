/* main.c: picks the subcommand; everything else lives in cmd_*.c. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "util.h"

/* Whether the command line is the daemon's: whether it holds an option
 * that only the daemon has (-D, -t, -b, -c, --syslog), as getopt_long
 * reads it with the profiling command's and the daemon's own option
 * tables together. So values, clusters and abbreviations are read as the
 * commands themselves read them: "-o -t" and "--out -t" name a file. */
static bool daemon_args(int argc, char **argv)
{
	const struct command_options *po = &profile_options, *dop = &daemon_options;
	size_t np = 0, nd = 0, n;
	struct option *all;
	char *shorts, **args;
	bool daemon = false;
	int ch, li;

	while (po->longopts[np].name)
		np++;
	while (dop->longopts[nd].name)
		nd++;
	/* The profiling command's entries first; the daemon's that it lacks
	 * after them, so an index past np means a daemon-only option. */
	all = xcalloc(np + nd + 1, sizeof(*all));
	memcpy(all, po->longopts, np * sizeof(*all));
	n = np;
	for (size_t i = 0; i < nd; i++) {
		bool dup = false;
		for (size_t k = 0; k < np; k++)
			dup = dup || strcmp(po->longopts[k].name, dop->longopts[i].name) == 0;
		if (!dup)
			all[n++] = dop->longopts[i];
	}
	shorts = xasprintf("%s", po->shortopts);
	for (const char *c = dop->shortopts; *c; c++) {
		if (*c == ':' || strchr(po->shortopts, *c))
			continue;
		char *t = xasprintf("%s%c%s", shorts, *c, c[1] == ':' ? ":" : "");
		free(shorts);
		shorts = t;
	}
	/* getopt permutes what it reads: route on a copy. */
	args = xcalloc((size_t)argc + 1, sizeof(*args));
	memcpy(args, argv, (size_t)argc * sizeof(*args));
	opterr = 0;
	optind = 0;
	for (li = -1; !daemon && (ch = getopt_long(argc, args, shorts, all, &li)) != -1; li = -1) {
		if (li >= (int)np)
			daemon = true;
		else if (li < 0 && ch != '?' && ch != ':' && strchr(dop->shortopts, ch) &&
			 !strchr(po->shortopts, ch))
			daemon = true;
	}
	optind = 0;
	free(args);
	free(shorts);
	free(all);
	return daemon;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "report") == 0)
		return cmd_report(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "dump") == 0)
		return cmd_dump(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "top") == 0)
		return cmd_top(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "ctl") == 0)
		return cmd_ctl(argc - 1, argv + 1);
	if (daemon_args(argc, argv))
		return cmd_daemon(argc, argv);
	return cmd_profile(argc, argv);
}
