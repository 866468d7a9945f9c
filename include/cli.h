/* cli.h: the profiling command line (sprofd -p PID ...) as parsed, apart
 * from carrying it out, so that it can be checked on its own. */
#ifndef SPROFD_CLI_H
#define SPROFD_CLI_H

#include <stdbool.h>

#include "report.h"
#include "session.h"

/* What the command line asks for. */
enum cli_action {
	CLI_PROFILE,    /* profile cli.so.pid */
	CLI_HELP,       /* -h: print the usage */
	CLI_VERSION,    /* --version */
};

struct cli {
	enum cli_action action;
	struct session_opts so;
	const char *output;     /* -o, or NULL; points into argv */
	const char *formats;    /* -f, or NULL; points into argv */
	const char *split;      /* --split, or NULL; points into argv */
	int rows;
	enum report_sort sort;
	bool quiet;
	int verbose;            /* -v given this many times */
};

/* Fills cli from argv (which getopt may reorder) and does nothing else:
 * prints only log messages, sets no log level, never exits. Starts getopt
 * afresh, so it may be called more than once. Returns EXIT_OK, or
 * EXIT_USAGE after logging why. */
int profile_parse_args(int argc, char **argv, struct cli *cli);
/* Adds the PIDs of a -p value ("1234" or "1,2,3") to so (pid is the
 * first). Returns 0, or -1 after logging why. */
int parse_pids(const char *arg, struct session_opts *so);

#endif
