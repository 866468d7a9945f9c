/* cmd_profile.c: the profiling command line: parse and check it, run one
 * session, write the profile and print the table. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "cli.h"
#include "commands.h"
#include "log.h"
#include "output.h"
#include "profile.h"
#include "pystage.h"
#include "report.h"
#include "run.h"
#include "session.h"
#include "split.h"
#include "sprofd.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sprofd -p PID[,PID...] [-C] [-F HZ] [-d SECONDS] [-o FILE] [-n ROWS] [-q]\n"
		"              [-s SORTKEY] [--processes] [--max-processes N]\n"
		"              [-m cpu|wall] [--max-depth N] [--stack-size BYTES]\n"
		"              [--unwind copy|ptrace] [--no-python] [--interp-frames]\n"
		"              [--split flask|django|FUNCTION] [-v]\n"
		"       sprofd report [-n ROWS] [-s SORTKEY] [--callers NAME] [--callees NAME]\n"
		"              [--split flask|django|FUNCTION] FILE.prof\n"
		"       sprofd report --diff [-n ROWS] [-s SORTKEY] [-o DIFF.svg] BEFORE AFTER\n"
		"       sprofd top -p PID [OPTIONS]                 (live view; sprofd top -h)\n"
		"       sprofd dump -p PID [-C]\n"
		"       sprofd -D [-c FILE] [-b] [--syslog] [-v]   (the daemon; see sprofd(8))\n"
		"       sprofd -t [-c FILE]                         (check the daemon's config)\n"
		"       sprofd ctl [-S SOCKET] status | profile PID | run TARGET\n"
		"       sprofd -h | --help | --version\n"
		"\n"
		"Samples the native stacks of the threads of a running process and writes\n"
		"a pstats .prof file (python3 -m pstats, snakeviz, gprof2dot).\n"
		"\n"
		"  -p, --pid PID[,PID...] process(es) to profile (-p may be repeated)\n"
		"  -C, --children         and all their descendants, those alive now and\n"
		"                         those born while sampled\n"
		"      --max-processes N  at most N processes at once (default %d)\n"
		"  -F, --freq HZ          samples per second per thread (%d-%d, default %d)\n"
		"  -d, --duration SECS    how long to sample (default: until Ctrl-C or exit)\n"
		"  -o, --output FILE      profile path (default COMM.PID.TIME.prof)\n"
		"  -f, --format LIST      output formats, comma-separated: prof (default),\n"
		"                         pprof, collapsed, callgrind, svg, icicle\n"
		"  -n, --rows ROWS        rows in the console table (default 20, 0 = none)\n"
		"  -s, --sort KEY         tottime, cumtime, ncalls or name (default tottime)\n"
		"  -m, --mode MODE        cpu: threads on a CPU at each tick (default);\n"
		"                         wall: every thread at every tick\n"
		"  -q, --quiet            print errors only\n"
		"  -v, --verbose          print more detail\n"
		"      --max-depth N      frames kept per stack (1-%d, default %d)\n"
		"      --stack-size BYTES most stack copied per sample (4K-8M, default 64K)\n"
		"      --unwind METHOD    copy (default) or ptrace: unwind while the thread is\n"
		"                         stopped, word by word (slow; for comparison)\n"
		"      --threads          keep threads apart (thread as the outermost frame)\n"
		"      --processes        keep processes apart (process as the outermost frame,\n"
		"                         outside the thread)\n"
		"      --lines            one entry per source line instead of per function\n"
		"      --no-inline        do not report inlined functions as frames\n"
		"      --raw-names        do not demangle C++ and Rust names\n"
		"      --debuginfod       fetch missing debug info from debuginfod servers\n"
		"      --no-python        native frames only, also in a Python process\n"
		"      --interp-frames    keep the Python interpreter's C frames between\n"
		"                         Python frames\n"
		"      --split POINT      also one profile per endpoint, beside the others:\n"
		"                         the function that POINT called (flask: the view\n"
		"                         Flask.dispatch_request called; django: the view\n"
		"                         Django's handler called, past its wrappers; else a\n"
		"                         function name, or a regular expression matched\n"
		"                         against file:line(function))\n"
		"  -h, --help             this text\n"
		"      --version          print the version\n",
		TARGET_MAX_PROCS_DEFAULT, SPROFD_HZ_MIN, SPROFD_HZ_MAX, SPROFD_HZ_DEFAULT, SPROFD_DEPTH_MAX,
		SPROFD_DEPTH_DEFAULT);
}

static int bad_value(const char *opt, const char *val, const char *range)
{
	log_err("%s %s: %s", opt, val, range);
	return EXIT_USAGE;
}

enum {
	OPT_MAX_DEPTH = 256, OPT_VERSION, OPT_STACK_SIZE, OPT_UNWIND, OPT_THREADS, OPT_LINES,
	OPT_NO_INLINE, OPT_RAW_NAMES, OPT_DEBUGINFOD, OPT_NO_PYTHON, OPT_INTERP_FRAMES, OPT_SPLIT,
	OPT_PROCESSES, OPT_MAX_PROCESSES,
};

/* Parses a byte count with an optional K or M suffix, in [lo, hi]. */
static int parse_size(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v, mult = 1;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s)
		return -1;
	if ((*end == 'K' || *end == 'k') && !end[1])
		mult = 1024;
	else if ((*end == 'M' || *end == 'm') && !end[1])
		mult = 1024 * 1024;
	else if (*end)
		return -1;
	if (v > hi / mult || v * mult < lo)
		return -1;
	*out = v * mult;
	return 0;
}

/* Adds the PIDs of a -p value ("1234" or "1,2,3") to so. Returns 0, or -1
 * after logging why. */
int parse_pids(const char *arg, struct session_opts *so)
{
	char *copy = xasprintf("%s", arg), *save = NULL, *tok;
	int rc = 0;
	long v;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (parse_long(tok, 1, INT_MAX, &v)) {
			bad_value("-p", arg, "not a process ID (a positive integer), or a "
				  "comma-separated list of them");
			rc = -1;
			break;
		}
		if (so->npids == SESSION_MAX_PIDS) {
			bad_value("-p", arg, "at most 64 process IDs (use -C for a process tree)");
			rc = -1;
			break;
		}
		so->pids[so->npids++] = (pid_t)v;
	}
	if (rc == 0 && so->npids == 0) {
		bad_value("-p", arg, "not a process ID (a positive integer)");
		rc = -1;
	}
	if (rc == 0)
		so->pid = so->pids[0];
	free(copy);
	return rc;
}

/* The profiling command's options; main() routes with them too. */
static const struct option longopts[] = {
	{ "pid", required_argument, NULL, 'p' },
	{ "freq", required_argument, NULL, 'F' },
	{ "duration", required_argument, NULL, 'd' },
	{ "output", required_argument, NULL, 'o' },
	{ "rows", required_argument, NULL, 'n' },
	{ "sort", required_argument, NULL, 's' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "mode", required_argument, NULL, 'm' },
	{ "max-depth", required_argument, NULL, OPT_MAX_DEPTH },
	{ "stack-size", required_argument, NULL, OPT_STACK_SIZE },
	{ "unwind", required_argument, NULL, OPT_UNWIND },
	{ "format", required_argument, NULL, 'f' },
	{ "threads", no_argument, NULL, OPT_THREADS },
	{ "lines", no_argument, NULL, OPT_LINES },
	{ "no-inline", no_argument, NULL, OPT_NO_INLINE },
	{ "raw-names", no_argument, NULL, OPT_RAW_NAMES },
	{ "debuginfod", no_argument, NULL, OPT_DEBUGINFOD },
	{ "no-python", no_argument, NULL, OPT_NO_PYTHON },
	{ "interp-frames", no_argument, NULL, OPT_INTERP_FRAMES },
	{ "split", required_argument, NULL, OPT_SPLIT },
	{ "children", no_argument, NULL, 'C' },
	{ "processes", no_argument, NULL, OPT_PROCESSES },
	{ "max-processes", required_argument, NULL, OPT_MAX_PROCESSES },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

const struct command_options profile_options = {
	.longopts = longopts, .shortopts = ":p:CF:d:o:f:n:s:m:qvh",
};

/* Only fills cli: what it asks for is done by cmd_profile. */
int profile_parse_args(int argc, char **argv, struct cli *cli)
{
	bool have_pid = false;
	int ch;
	long v;

	memset(cli, 0, sizeof(*cli));
	cli->action = CLI_PROFILE;
	cli->so.hz = SPROFD_HZ_DEFAULT;
	cli->so.max_depth = SPROFD_DEPTH_DEFAULT;
	cli->so.stack_cap = SPROFD_STACK_CAP_DEFAULT;
	cli->rows = 20;
	cli->sort = SORT_TOTTIME;
	opterr = 0;
	optind = 0;     /* glibc: start afresh, forgetting any earlier parse */
	while ((ch = getopt_long(argc, argv, profile_options.shortopts, longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			if (parse_pids(optarg, &cli->so) < 0)
				return EXIT_USAGE;
			have_pid = true;
			break;
		case 'C':
			cli->so.children = true;
			break;
		case OPT_PROCESSES:
			cli->so.prof.processes = true;
			break;
		case OPT_MAX_PROCESSES:
			if (parse_long(optarg, 1, 1000000, &v))
				return bad_value("--max-processes", optarg, "the bound must be a whole "
						 "number from 1 to 1000000");
			cli->so.max_procs = (unsigned)v;
			break;
		case 'F':
			if (parse_long(optarg, SPROFD_HZ_MIN, SPROFD_HZ_MAX, &v))
				return bad_value("-F", optarg, "the rate must be a whole number of samples "
						 "per second from 1 to 10000");
			cli->so.hz = (unsigned)v;
			break;
		case 'd': {
			char *end;
			double d;
			errno = 0;
			d = strtod(optarg, &end);
			if (errno || end == optarg || *end || !isfinite(d) || d <= 0 || d > 31536000)
				return bad_value("-d", optarg, "the duration must be a number of seconds "
						 "greater than 0 and at most 31536000 (a year)");
			cli->so.duration = d;
			break;
		}
		case 'o':
			if (!*optarg)
				return bad_value("-o", "''", "the output path must not be empty");
			cli->output = optarg;
			break;
		case 'f': {
			char why[160];
			if (output_check_formats(optarg, why, sizeof(why)) < 0)
				return bad_value("-f", optarg, why);
			cli->formats = optarg;
			break;
		}
		case OPT_THREADS:
			cli->so.prof.threads = true;
			break;
		case OPT_LINES:
			cli->so.prof.lines = true;
			break;
		case OPT_NO_INLINE:
			cli->so.sym.no_inline = true;
			break;
		case OPT_RAW_NAMES:
			cli->so.sym.raw_names = true;
			break;
		case OPT_DEBUGINFOD:
			cli->so.sym.debuginfod = true;
			break;
		case OPT_NO_PYTHON:
			cli->so.no_python = true;
			break;
		case OPT_INTERP_FRAMES:
			cli->so.py.interp_frames = true;
			break;
		case OPT_SPLIT:
			if (!*optarg)
				return bad_value("--split", "''", "give flask, django, or a function "
						 "name or pattern");
			cli->split = optarg;
			break;
		case 'n':
			if (parse_long(optarg, 0, 1000000, &v))
				return bad_value("-n", optarg, "the row count must be a whole number from 0 "
						 "to 1000000");
			cli->rows = (int)v;
			break;
		case 's':
			if (report_parse_sort(optarg, &cli->sort))
				return bad_value("-s", optarg, "the sort key must be tottime, cumtime, "
						 "ncalls or name");
			break;
		case 'q':
			cli->quiet = true;
			break;
		case 'm':
			if (sample_mode_parse(optarg, &cli->so.mode) < 0)
				return bad_value("-m", optarg, "the mode must be cpu or wall");
			break;
		case OPT_STACK_SIZE:
			if (parse_size(optarg, 4096, 8 << 20, &v))
				return bad_value("--stack-size", optarg, "the size must be from 4K to 8M "
						 "bytes (suffixes K and M allowed)");
			cli->so.stack_cap = (size_t)v;
			break;
		case OPT_UNWIND:
			if (strcmp(optarg, "copy") == 0)
				cli->so.unwind_ptrace = false;
			else if (strcmp(optarg, "ptrace") == 0)
				cli->so.unwind_ptrace = true;
			else
				return bad_value("--unwind", optarg, "the method must be copy or ptrace");
			break;
		case 'v':
			cli->verbose++;
			break;
		case OPT_MAX_DEPTH:
			if (parse_long(optarg, 1, SPROFD_DEPTH_MAX, &v))
				return bad_value("--max-depth", optarg, "the depth must be a whole number "
						 "from 1 to 4096");
			cli->so.max_depth = (int)v;
			break;
		case 'h':
			cli->action = CLI_HELP;
			return EXIT_OK;
		case OPT_VERSION:
			cli->action = CLI_VERSION;
			return EXIT_OK;
		case ':':
			log_err("option %s needs a value (see sprofd --help)", argv[optind - 1]);
			return EXIT_USAGE;
		default:
			if (optopt)
				log_err("unknown option -%c (see sprofd --help)", optopt);
			else
				log_err("unknown option %s (see sprofd --help)", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		log_err("unexpected argument '%s' (see sprofd --help)", argv[optind]);
		return EXIT_USAGE;
	}
	if (!have_pid) {
		log_err("no target: give the process to profile with -p PID (see sprofd --help)");
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* -v: how the Python frames went (--- python stage ---). */
static void log_python_stats(const struct session *s)
{
	const struct pystage *py = session_python(s);
	struct pystage_stats ps;

	if (!py || !pystage_version(py))
		return;
	pystage_stats(py, &ps);
	log_debug("python %s: %llu samples with Python frames, %llu where native and Python "
		  "frames did not line up (%llu with eval frames left over, %llu with Python "
		  "frames put outermost), %llu whose frames could not be read; %llu code objects "
		  "decoded; %.2f reads per stop besides the stack's; %llu threads kept",
		  pystage_version(py),
		  (unsigned long long)ps.samples, (unsigned long long)ps.mismatched,
		  (unsigned long long)ps.eval_left, (unsigned long long)ps.py_left,
		  (unsigned long long)ps.read_failed, (unsigned long long)ps.codes,
		  ps.stops ? (double)ps.stop_reads / (double)ps.stops : 0.0,
		  (unsigned long long)ps.threads);
}

/* A stop signal (run_watch): says so and ends the session; one is enough. */
static bool on_signal(struct session *s, int sigfd, void *arg)
{
	struct signalfd_siginfo si;

	if (read(sigfd, &si, sizeof(si)) == sizeof(si))
		log_info("%s: stopping and writing the profile", strsignal((int)si.ssi_signo));
	session_stop(s);
	return false;
}

/* Attached (run_started_fn): says what is sampled, and for how long. */
static int on_started(struct session *s, void *arg)
{
	const struct cli *cli = arg;
	char more[96] = "";
	unsigned np = session_processes(s);

	if (np > 1 || cli->so.children)
		snprintf(more, sizeof(more), "%s%s: %u process%s", cli->so.npids > 1 ? " and others" : "",
			 cli->so.children ? " with its children" : "", np, np == 1 ? "" : "es");
	if (cli->so.duration > 0)
		log_info("sampling PID %d (%s)%s at %u Hz for %g s", (int)cli->so.pid,
			 session_comm(s), more, cli->so.hz, cli->so.duration);
	else
		log_info("sampling PID %d (%s)%s at %u Hz; Ctrl-C to stop", (int)cli->so.pid,
			 session_comm(s), more, cli->so.hz);
	return EXIT_OK;
}

/* cmd_profile's body; *rule is the --split rule it made, if any. */
static int profile_run(int argc, char **argv, struct split_rule **rule)
{
	struct cli cli;
	struct session *s;
	struct profile *p;
	struct output_opts oo;
	sigset_t sigs;
	int code, sigfd, status;

	code = profile_parse_args(argc, argv, &cli);
	if (code != EXIT_OK)
		return code;
	if (cli.action == CLI_HELP) {
		usage(stdout);
		return EXIT_OK;
	}
	if (cli.action == CLI_VERSION) {
		printf("sprofd %s\n", SPROFD_VERSION);
		return EXIT_OK;
	}
	if (cli.quiet)
		log_set_level(LOG_LVL_ERR);
	else if (cli.verbose)
		log_set_level(LOG_LVL_DEBUG);
	/* libdw would ask debuginfod servers for missing debug info, which can
	 * block on the network for a long time; never do so unasked. */
	if (!cli.so.sym.debuginfod)
		unsetenv("DEBUGINFOD_URLS");
	raise_nofile_limit();
	if (cli.split) {
		char why[160];

		if (!(*rule = split_rule_new(cli.split, why, sizeof(why)))) {
			log_err("--split %s: %s", cli.split, why);
			return EXIT_USAGE;
		}
		cli.so.split = *rule;
	}

	/* Every thread blocks these: the tracer reads SIGCHLD from a signalfd,
	 * this thread reads the stop signals from another. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigdelset(&sigs, SIGCHLD);
	sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sigfd < 0) {
		log_err("cannot create a signalfd: %s", strerror(errno));
		return EXIT_INTERNAL;
	}

	{
		struct run_watch watch = { .fd = sigfd, .ready = on_signal };

		code = run_session(&cli.so, on_started, &cli, &watch, 1, &s, &p);
	}
	if (!s)
		return code;
	if (code == EXIT_INTERNAL) {
		session_free(s);
		return code;
	}
	{
		const struct sampler_stats *st = session_stats(s);
		uint64_t stops = st->interrupts ? st->interrupts : 1;
		log_debug("%llu ticks (%llu missed), %llu samples, %llu lost, %llu truncated, "
			  "%llu interrupts, %llu reused, %llu taken asleep",
			  (unsigned long long)st->ticks, (unsigned long long)st->missed_ticks,
			  (unsigned long long)st->samples, (unsigned long long)st->lost,
			  (unsigned long long)st->truncated, (unsigned long long)st->interrupts,
			  (unsigned long long)st->reused, (unsigned long long)st->asleep);
		log_debug("capture pause median %.1f us, p99 %.1f us, max %.1f us; "
			  "unwind median %.1f us, p99 %.1f us; stack copied %.0f bytes/stop; "
			  "tick %.1f us",
			  (double)st->pause_med_ns / 1e3, (double)st->pause_p99_ns / 1e3,
			  (double)st->pause_max_ns / 1e3, (double)st->unwind_med_ns / 1e3,
			  (double)st->unwind_p99_ns / 1e3, (double)st->stack_bytes / (double)stops,
			  st->ticks ? (double)st->tick_total_ns / 1e3 / (double)st->ticks : 0.0);
	}
	log_python_stats(s);
	if (session_target_gone(s, &status)) {
		if (WIFEXITED(status))
			log_info("PID %d exited with status %d while sampled", (int)cli.so.pid,
				 WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			log_info("PID %d was killed by %s while sampled", (int)cli.so.pid,
				 strsignal(WTERMSIG(status)));
	} else if (session_target_execed(s)) {
		log_info("PID %d started another program; both are in the profile", (int)cli.so.pid);
	}

	if (!p) {
		log_err("no samples were taken from PID %d (%s); no profile written",
			(int)cli.so.pid, session_comm(s));
		session_free(s);
		return EXIT_NO_SAMPLES;
	}
	oo.formats = cli.formats;
	oo.path = cli.output;
	oo.comm = session_comm(s);
	oo.pid = cli.so.pid;
	oo.start_time = p->meta.start_time;
	if (output_write_all(p, &oo) < 0) {
		code = EXIT_OUTPUT;
	} else {
		if (!cli.quiet && cli.rows > 0)
			report_print(stdout, p, cli.rows, cli.sort);
		fflush(stdout);
		code = EXIT_OK;
	}
	profile_free(p);
	session_free(s);
	close(sigfd);
	return code;
}

int cmd_profile(int argc, char **argv)
{
	struct split_rule *rule = NULL;
	int code = profile_run(argc, argv, &rule);

	split_rule_free(rule);
	return code;
}
