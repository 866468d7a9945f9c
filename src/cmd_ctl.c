/* cmd_ctl.c: sprofd ctl, the client of the daemon's control socket. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "ctl.h"
#include "log.h"
#include "output.h"
#include "split.h"
#include "sprofd.h"
#include "util.h"

/* The help text. */
static void usage(FILE *f)
{
	fprintf(f,
		"usage: sprofd ctl [-S SOCKET] status\n"
		"       sprofd ctl [-S SOCKET] profile PID [-C] [-d SECONDS] [-F HZ] [-m cpu|wall]\n"
		"                  [-f LIST] [-o FILE] [-n ROWS] [--split POINT] [-q]\n"
		"       sprofd ctl [-S SOCKET] run TARGET\n"
		"\n"
		"Asks the sprofd daemon. profile has the daemon sample a process of yours\n"
		"(any process, for root) and saves the result here; run starts a configured\n"
		"target's profile now (root only); status shows what the daemon does.\n"
		"\n"
		"  -S, --socket PATH      the daemon's control socket (default $SPROFD_SOCKET,\n"
		"                         else %s)\n"
		"  -d, --duration SECS    how long to sample (default: until Ctrl-C, at most\n"
		"                         the daemon's OnDemandMaxDuration)\n"
		"  -F, --freq HZ          samples per second per thread (%d-%d, default %d)\n"
		"  -m, --mode MODE        cpu (default) or wall\n"
		"  -f, --format LIST      output formats, comma-separated (default prof)\n"
		"  -o, --output FILE      where to save the first format (default: its own name\n"
		"                         in the current directory)\n"
		"  -n, --rows ROWS        rows in the console table (default 20, 0 = none)\n"
		"  -C, --children         profile the process and all its descendants\n"
		"      --split POINT      also one profile per endpoint: flask, django, or a\n"
		"                         function name or pattern (as sprofd -p --split)\n"
		"  -q, --quiet            print errors only\n"
		"  -h, --help             this text\n",
		CONFIG_DEFAULT_SOCKET, SPROFD_HZ_MIN, SPROFD_HZ_MAX, SPROFD_HZ_DEFAULT);
}

enum { OPT_SPLIT = 256 };

int cmd_ctl(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "split", required_argument, NULL, OPT_SPLIT },
		{ "socket", required_argument, NULL, 'S' },
		{ "duration", required_argument, NULL, 'd' },
		{ "freq", required_argument, NULL, 'F' },
		{ "mode", required_argument, NULL, 'm' },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "rows", required_argument, NULL, 'n' },
		{ "children", no_argument, NULL, 'C' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_request r;
	const char *sock = getenv("SPROFD_SOCKET"), *out = NULL, *cmd;
	bool quiet = false;
	char why[256];
	long v;
	int ch;

	if (!sock || !*sock)
		sock = CONFIG_DEFAULT_SOCKET;
	ctl_request_init(&r);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":S:d:F:m:f:o:n:Cqh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'C':
			r.children = true;
			break;
		case OPT_SPLIT: {
			struct split_rule *rule;
			if (strlen(optarg) >= sizeof(r.split)) {
				log_err("--split: the split point is too long (at most %zu bytes)",
					sizeof(r.split) - 1);
				return EXIT_USAGE;
			}
			if (strchr(optarg, '{')) {
				log_err("--split %s: the daemon takes no {} repetition in a split "
					"point", optarg);
				return EXIT_USAGE;
			}
			if (!(rule = split_rule_new(optarg, why, sizeof(why)))) {
				log_err("--split %s: %s", optarg, why);
				return EXIT_USAGE;
			}
			split_rule_free(rule);
			snprintf(r.split, sizeof(r.split), "%s", optarg);
			break;
		}
		case 'S':
			sock = optarg;
			break;
		case 'd':
			if (config_parse_time(optarg, &r.duration) < 0 || r.duration <= 0 ||
			    r.duration > 31536000) {
				log_err("-d %s: the duration must be a time above 0, like 10, 2.5s or 1m",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'F':
			if (parse_long(optarg, SPROFD_HZ_MIN, SPROFD_HZ_MAX, &v) < 0) {
				log_err("-F %s: the rate must be a whole number of samples per second "
					"from %d to %d", optarg, SPROFD_HZ_MIN, SPROFD_HZ_MAX);
				return EXIT_USAGE;
			}
			r.hz = (unsigned)v;
			break;
		case 'm':
			if (sample_mode_parse(optarg, &r.mode) < 0) {
				log_err("-m %s: the mode must be cpu or wall", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'f':
			if (strlen(optarg) >= sizeof(r.formats) ||
			    output_check_formats(optarg, why, sizeof(why)) < 0) {
				log_err("-f %s: %s", optarg,
					strlen(optarg) >= sizeof(r.formats) ? "too long" : why);
				return EXIT_USAGE;
			}
			snprintf(r.formats, sizeof(r.formats), "%s", optarg);
			break;
		case 'o':
			if (!*optarg) {
				log_err("-o '': the output path must not be empty");
				return EXIT_USAGE;
			}
			out = optarg;
			break;
		case 'n':
			if (parse_long(optarg, 0, 1000000, &v) < 0) {
				log_err("-n %s: the row count must be a whole number from 0 to 1000000",
					optarg);
				return EXIT_USAGE;
			}
			r.rows = (int)v;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case ':':
			log_err("option %s needs a value (see sprofd ctl --help)", argv[optind - 1]);
			return EXIT_USAGE;
		default:
			if (optopt)
				log_err("unknown option -%c (see sprofd ctl --help)", optopt);
			else
				log_err("unknown option %s (see sprofd ctl --help)", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		log_err("what should the daemon do? status, profile PID or run TARGET (see sprofd "
			"ctl --help)");
		return EXIT_USAGE;
	}
	cmd = argv[optind++];
	if (strcmp(cmd, "status") == 0) {
		r.cmd = CTL_STATUS;
	} else if (strcmp(cmd, "profile") == 0) {
		if (optind >= argc || parse_long(argv[optind], 1, INT_MAX, &v) < 0) {
			log_err("profile needs the PID of the process to profile (see sprofd ctl --help)");
			return EXIT_USAGE;
		}
		r.cmd = CTL_PROFILE;
		r.pid = (pid_t)v;
		optind++;
	} else if (strcmp(cmd, "run") == 0) {
		if (optind >= argc || strlen(argv[optind]) >= sizeof(r.target) ||
		    strpbrk(argv[optind], " \t\n=")) {
			log_err("run needs the name of a configured target (see sprofd ctl --help)");
			return EXIT_USAGE;
		}
		r.cmd = CTL_RUN;
		snprintf(r.target, sizeof(r.target), "%s", argv[optind++]);
	} else {
		log_err("unknown command '%s': status, profile PID or run TARGET (see sprofd ctl "
			"--help)", cmd);
		return EXIT_USAGE;
	}
	if (optind < argc) {
		log_err("unexpected argument '%s' (see sprofd ctl --help)", argv[optind]);
		return EXIT_USAGE;
	}
	if (quiet) {
		log_set_level(LOG_LVL_ERR);
		r.rows = 0;
	}
	return ctl_client(sock, &r, out, quiet);
}
