/* cmd_daemon.c: the daemon's command line: sprofd -D to run it, sprofd -t
 * to check a configuration and print the effective settings. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "commands.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "sprofd.h"
#include "util.h"

/* The help text. */
static void usage(FILE *f)
{
	fprintf(f,
		"usage: sprofd -D [-c FILE] [-b] [--syslog] [-v]\n"
		"       sprofd -t [-c FILE]\n"
		"\n"
		"Runs sprofd as a daemon that profiles the processes named in its\n"
		"configuration on a timetable and answers sprofd ctl (see sprofd.conf(5)).\n"
		"\n"
		"  -D, --daemon        run the daemon, in the foreground, logging to stderr\n"
		"  -b, --background    with -D: detach, write the PidFile, log to syslog\n"
		"  -t, --test          check the configuration, print the effective settings\n"
		"  -c, --config FILE   configuration file (default %s)\n"
		"      --syslog        log to syslog in the foreground too\n"
		"  -v, --verbose       debug messages, whatever LogLevel says\n"
		"  -h, --help          this text\n",
		CONFIG_DEFAULT_PATH);
}

enum { OPT_SYSLOG = 256 };

/* The daemon's options; main() routes with them too. */
static const struct option longopts[] = {
	{ "daemon", no_argument, NULL, 'D' },
	{ "background", no_argument, NULL, 'b' },
	{ "test", no_argument, NULL, 't' },
	{ "config", required_argument, NULL, 'c' },
	{ "syslog", no_argument, NULL, OPT_SYSLOG },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

const struct command_options daemon_options = {
	.longopts = longopts, .shortopts = ":Dbtc:vh",
};

int cmd_daemon(int argc, char **argv)
{
	struct daemon_opts o = { .config = CONFIG_DEFAULT_PATH };
	bool run = false, test = false;
	int ch;

	opterr = 0;
	optind = 0;     /* glibc: start afresh, forgetting any earlier parse */
	while ((ch = getopt_long(argc, argv, daemon_options.shortopts, longopts, NULL)) != -1) {
		switch (ch) {
		case 'D':
			run = true;
			break;
		case 'b':
			o.detach = true;
			break;
		case 't':
			test = true;
			break;
		case 'c':
			o.config = optarg;
			break;
		case OPT_SYSLOG:
			o.syslog = true;
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case ':':
			log_err("option %s needs a value (see sprofd -D --help)", argv[optind - 1]);
			return EXIT_USAGE;
		default:
			if (optopt)
				log_err("unknown option -%c for the daemon (see sprofd -D --help)", optopt);
			else
				log_err("unknown option %s for the daemon (see sprofd -D --help)",
					argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		log_err("unexpected argument '%s' (see sprofd -D --help)", argv[optind]);
		return EXIT_USAGE;
	}
	if (run == test) {
		log_err("give either -D (run the daemon) or -t (check its configuration)");
		return EXIT_USAGE;
	}
	if (o.detach && !run) {
		log_err("-b goes with -D");
		return EXIT_USAGE;
	}
	if (test) {
		struct config *c = config_load(o.config);
		if (!c)
			return EXIT_USAGE;
		config_print(c, stdout);
		config_free(c);
		return fflush(stdout) == 0 ? EXIT_OK : EXIT_INTERNAL;
	}
	/* Before any worker forks: each inherits it. */
	raise_nofile_limit();
	return daemon_run(&o);
}
