/* cmd_report.c: sprofd report FILE.prof: the console table of a saved
 * pstats file (sprofd's or cProfile's), or the callers and callees of
 * functions in it, without Python; with --diff, what changed between two
 * such files, as a table or a differential flame graph. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "diff.h"
#include "log.h"
#include "profile.h"
#include "pstats_read.h"
#include "report.h"
#include "split.h"
#include "sprofd.h"

#define MAX_QUERIES 32

/* One --callers or --callees request. */
struct query {
	const char *name;
	bool callees;
};

static void report_usage(FILE *f)
{
	fprintf(f,
		"usage: sprofd report [-n ROWS] [-s SORTKEY] [--callers NAME] [--callees NAME]\n"
		"                     [--split flask|django|FUNCTION] FILE.prof\n"
		"       sprofd report --diff [-n ROWS] [-s SORTKEY] [-f svg -o FILE]\n"
		"                     BEFORE.prof AFTER.prof\n"
		"\n"
		"Prints the table of a pstats file (written by sprofd or by Python's cProfile),\n"
		"or the callers and callees of functions in it; with --diff, each function's\n"
		"self and cumulative share of its profile's total before and after, and the\n"
		"change, largest first.\n"
		"\n"
		"  -n, --rows ROWS        rows in the table (default 20, 0 = none, -1 = all)\n"
		"  -s, --sort KEY         tottime, cumtime, ncalls or name (default tottime)\n"
		"      --callers NAME     who called function NAME, and how often; NAME is a\n"
		"                         function name, or else a regular expression matched\n"
		"                         against file:line(function)\n"
		"      --callees NAME     whom function NAME called\n"
		"      --split POINT      the endpoint table before the function table: flask,\n"
		"                         django, or the function (name or pattern) whose\n"
		"                         callees are the endpoints; from call edges, so\n"
		"                         approximate (see sprofd(8))\n"
		"      --diff             compare two files (sort keys: tottime orders by the\n"
		"                         change of the self share, cumtime of the\n"
		"                         cumulative one, name)\n"
		"  -f, --format svg       with --diff and -o: a differential flame graph\n"
		"  -o, --output FILE      where the flame graph goes\n"
		"  -h, --help             this text\n");
}

/* sprofd report --diff BEFORE AFTER. */
static int report_diff(int nargs, char **args, int rows, enum report_sort sort,
		       const char *format, const char *out, size_t nq)
{
	struct profile *b = NULL, *a = NULL;
	struct diff *d = NULL;
	int code = EXIT_OK;

	if (nq) {
		log_err("--callers and --callees do not go with --diff");
		return EXIT_USAGE;
	}
	if (sort == SORT_NCALLS) {
		log_err("-s ncalls: with --diff the sort key must be tottime, cumtime or name");
		return EXIT_USAGE;
	}
	if (format && strcmp(format, "svg") != 0) {
		log_err("-f %s: with --diff the only format is svg", format);
		return EXIT_USAGE;
	}
	if (format && !out) {
		log_err("-f svg needs -o FILE: where to write the flame graph");
		return EXIT_USAGE;
	}
	if (nargs != 2) {
		log_err("--diff takes two files, BEFORE.prof and AFTER.prof (see sprofd report "
			"--help)");
		return EXIT_USAGE;
	}
	if ((b = pstats_read(args[0])) == NULL || (a = pstats_read(args[1])) == NULL) {
		profile_free(b);
		return EXIT_NO_TARGET;
	}
	d = diff_new(b, a);
	if (out && diff_write_svg(d, args[0], args[1], out) == -1)
		code = EXIT_OUTPUT;
	diff_print(stdout, d, args[0], args[1], rows, sort);
	fflush(stdout);
	if (ferror(stdout))
		code = EXIT_INTERNAL;
	diff_free(d);
	profile_free(a);
	profile_free(b);
	return code;
}

int cmd_report(int argc, char **argv)
{
	enum { OPT_CALLERS = 256, OPT_CALLEES, OPT_DIFF, OPT_SPLIT };
	static const struct option longopts[] = {
		{ "rows", required_argument, NULL, 'n' },
		{ "sort", required_argument, NULL, 's' },
		{ "callers", required_argument, NULL, OPT_CALLERS },
		{ "callees", required_argument, NULL, OPT_CALLEES },
		{ "diff", no_argument, NULL, OPT_DIFF },
		{ "split", required_argument, NULL, OPT_SPLIT },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct query q[MAX_QUERIES];
	enum report_sort sort = SORT_TOTTIME;
	struct profile *p;
	const char *format = NULL, *out = NULL, *split = NULL;
	bool diff = false;
	size_t nq = 0;
	int ch, rows = 20, code = EXIT_OK;
	char *end;
	long v;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":n:s:f:o:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < -1 || v > 1000000) {
				log_err("-n %s: the row count must be a whole number from -1 to 1000000",
					optarg);
				return EXIT_USAGE;
			}
			rows = (int)v;
			break;
		case 's':
			if (report_parse_sort(optarg, &sort)) {
				log_err("-s %s: the sort key must be tottime, cumtime, ncalls or name",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_CALLERS:
		case OPT_CALLEES:
			if (nq == MAX_QUERIES) {
				log_err("at most %d --callers and --callees at once", MAX_QUERIES);
				return EXIT_USAGE;
			}
			q[nq].name = optarg;
			q[nq++].callees = ch == OPT_CALLEES;
			break;
		case OPT_DIFF:
			diff = true;
			break;
		case OPT_SPLIT:
			split = optarg;
			break;
		case 'f':
			format = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			report_usage(stdout);
			return EXIT_OK;
		case ':':
			log_err("option %s needs a value (see sprofd report --help)", argv[optind - 1]);
			return EXIT_USAGE;
		default:
			if (optopt)
				log_err("unknown option -%c (see sprofd report --help)", optopt);
			else
				log_err("unknown option %s (see sprofd report --help)", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (diff && split) {
		log_err("--split does not go with --diff");
		return EXIT_USAGE;
	}
	if (diff)
		return report_diff(argc - optind, argv + optind, rows, sort, format, out, nq);
	if (format || out) {
		log_err("-f and -o go with --diff (see sprofd report --help)");
		return EXIT_USAGE;
	}
	if (optind >= argc) {
		log_err("no file: give the .prof file to report on (see sprofd report --help)");
		return EXIT_USAGE;
	}
	if (optind + 1 < argc) {
		log_err("unexpected argument '%s': one file at a time", argv[optind + 1]);
		return EXIT_USAGE;
	}
	p = pstats_read(argv[optind]);
	if (!p)
		return EXIT_NO_TARGET;

	report_file_header(stdout, p, argv[optind]);
	if (split) {
		char why[160];
		struct split_rule *r = split_rule_new(split, why, sizeof(why));

		if (!r) {
			log_err("--split %s: %s", split, why);
			profile_free(p);
			return EXIT_USAGE;
		}
		if (split_from_edges(p, r) == 0)
			log_warn("no function in %s is the split point '%s', or it calls none",
				 argv[optind], split);
		split_print(stdout, p);
		split_rule_free(r);
	}
	if (nq == 0)
		report_table(stdout, p, rows, sort);
	for (size_t i = 0; i < nq; i++) {
		int n = report_calls_of(stdout, p, q[i].name, q[i].callees, sort);
		if (n == 0)
			log_err("no function in %s is called '%s' or matches it", argv[optind],
				q[i].name);
		if (n <= 0)
			code = EXIT_USAGE;
	}
	fflush(stdout);
	if (ferror(stdout))
		code = EXIT_INTERNAL;
	profile_free(p);
	return code;
}
