/* cmd_dump.c: sprofd dump -p PID: the current stack of every thread of a
 * process (with -C, of it and of each descendant, one process after the
 * other), once, like eu-stack -p or py-spy dump. Each thread is stopped
 * only as long as it takes to copy its registers and stack; unwinding and
 * naming happen after it runs again. A process stopped by job control
 * (kill -STOP) is read as it stands and left stopped. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "attach.h"
#include "capture.h"
#include "commands.h"
#include "log.h"
#include "procfs.h"
#include "pystage.h"
#include "sprofd.h"
#include "symbols.h"
#include "unwind.h"
#include "util.h"

/* How long threads may take to stop before they are reported without a
 * stack: a thread stops within microseconds unless the machine is
 * starved, or the thread is in an uninterruptible sleep. */
#define DUMP_STOP_NS 2000000000ULL
/* A job-control stopped thread that has not reported after this long is
 * prodded with PTRACE_INTERRUPT. */
#define DUMP_NUDGE_NS 100000000ULL

struct dump_opts {
	pid_t pid;
	bool children;
	int max_depth;
	size_t stack_cap;
	struct sym_opts sym;
	bool no_python;
	struct pystage_opts py;
};

/* One thread of the snapshot. */
struct dump_thread {
	pid_t tid;
	char comm[64];
	struct capture cap;
	bool taken;              /* cap holds its registers and stack */
	bool done;               /* nothing more will come: taken, or given up */
	const char *why;         /* why there is no stack, when not taken */
};

struct dump {
	struct dump_opts o;
	struct target t;
	struct dump_thread *th;
	size_t n;
	int sigfd;               /* SIGCHLD: a tracee has something to report */
	bool stopped;            /* the process was stopped by job control */
	struct pystage *py;      /* Python frames (NULL with --no-python) */
};

/* The help text of sprofd dump. */
static void usage(FILE *f)
{
	fprintf(f,
		"usage: sprofd dump -p PID [-C] [--no-inline] [--raw-names] [--debuginfod]\n"
		"                   [--no-python] [--interp-frames]\n"
		"                   [--max-depth N] [--stack-size BYTES] [-v]\n"
		"\n"
		"Prints the current stack of every thread of a process, once: thread id\n"
		"and name, then one frame per line, innermost first, with its address,\n"
		"function and source line; frames of inlined functions say (inlined).\n"
		"\n"
		"  -p, --pid PID          process to look at\n"
		"  -C, --children         and each of its descendants, one after the other\n"
		"      --no-inline        do not show inlined functions as frames\n"
		"      --raw-names        do not demangle C++ and Rust names\n"
		"      --debuginfod       fetch missing debug info from debuginfod servers\n"
		"      --no-python        native frames only, also in a Python process\n"
		"      --interp-frames    keep the Python interpreter's C frames between\n"
		"                         Python frames\n"
		"      --max-depth N      frames per stack (1-%d, default %d)\n"
		"      --stack-size BYTES most stack copied per thread (4K-8M, default 512K)\n"
		"  -v, --verbose          print more detail\n"
		"  -h, --help             this text\n",
		SPROFD_DEPTH_MAX, SPROFD_DEPTH_DEFAULT);
}

/* Parses a whole number in [lo, hi], with an optional K or M suffix when
 * unit is set. */
static int dump_number(const char *s, long lo, long hi, bool unit, long *out)
{
	long v, mult = 1;
	char *end;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s)
		return -1;
	if (unit && (*end == 'K' || *end == 'k') && !end[1])
		mult = 1024;
	else if (unit && (*end == 'M' || *end == 'm') && !end[1])
		mult = 1024 * 1024;
	else if (*end)
		return -1;
	if (v < 0 || v > hi / mult || v * mult < lo)
		return -1;
	*out = v * mult;
	return 0;
}

enum { OPT_MAX_DEPTH = 256, OPT_STACK_SIZE, OPT_NO_INLINE, OPT_RAW_NAMES, OPT_DEBUGINFOD,
       OPT_NO_PYTHON, OPT_INTERP_FRAMES };

/* Fills o from argv. Returns -1 to go on, or an exit code. */
static int dump_parse(int argc, char **argv, struct dump_opts *o)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "children", no_argument, NULL, 'C' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "max-depth", required_argument, NULL, OPT_MAX_DEPTH },
		{ "stack-size", required_argument, NULL, OPT_STACK_SIZE },
		{ "no-inline", no_argument, NULL, OPT_NO_INLINE },
		{ "raw-names", no_argument, NULL, OPT_RAW_NAMES },
		{ "debuginfod", no_argument, NULL, OPT_DEBUGINFOD },
		{ "no-python", no_argument, NULL, OPT_NO_PYTHON },
		{ "interp-frames", no_argument, NULL, OPT_INTERP_FRAMES },
		{ NULL, 0, NULL, 0 },
	};
	bool have_pid = false;
	int ch;
	long v;

	memset(o, 0, sizeof(*o));
	o->max_depth = SPROFD_DEPTH_DEFAULT;
	/* A snapshot is taken once: copy enough for deep stacks. */
	o->stack_cap = 512 * 1024;
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, ":p:Cvh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'C':
			o->children = true;
			break;
		case 'p':
			if (dump_number(optarg, 1, INT_MAX, false, &v)) {
				log_err("-p %s: not a process ID (a positive integer)", optarg);
				return EXIT_USAGE;
			}
			o->pid = (pid_t)v;
			have_pid = true;
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case OPT_MAX_DEPTH:
			if (dump_number(optarg, 1, SPROFD_DEPTH_MAX, false, &v)) {
				log_err("--max-depth %s: the depth must be a whole number from 1 to %d",
					optarg, SPROFD_DEPTH_MAX);
				return EXIT_USAGE;
			}
			o->max_depth = (int)v;
			break;
		case OPT_STACK_SIZE:
			if (dump_number(optarg, 4096, 8 << 20, true, &v)) {
				log_err("--stack-size %s: the size must be from 4K to 8M bytes "
					"(suffixes K and M allowed)", optarg);
				return EXIT_USAGE;
			}
			o->stack_cap = (size_t)v;
			break;
		case OPT_NO_INLINE:
			o->sym.no_inline = true;
			break;
		case OPT_RAW_NAMES:
			o->sym.raw_names = true;
			break;
		case OPT_DEBUGINFOD:
			o->sym.debuginfod = true;
			break;
		case OPT_NO_PYTHON:
			o->no_python = true;
			break;
		case OPT_INTERP_FRAMES:
			o->py.interp_frames = true;
			break;
		case ':':
			log_err("option %s needs a value (see sprofd dump --help)", argv[optind - 1]);
			return EXIT_USAGE;
		default:
			if (optopt)
				log_err("unknown option -%c (see sprofd dump --help)", optopt);
			else
				log_err("unknown option %s (see sprofd dump --help)", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		log_err("unexpected argument '%s' (see sprofd dump --help)", argv[optind]);
		return EXIT_USAGE;
	}
	if (!have_pid) {
		log_err("no target: give the process with -p PID (see sprofd dump --help)");
		return EXIT_USAGE;
	}
	return -1;
}

/* The scheduler state letter of a thread (R, S, T...), or 0. */
static char dump_state(pid_t pid, pid_t tid)
{
	struct procfs_stat ps;

	return procfs_read_stat(pid, tid, &ps) == 0 ? ps.state : 0;
}

/* qsort order of threads: by tid, so the main thread comes first. */
static int dump_thread_cmp(const void *a, const void *b)
{
	const struct dump_thread *x = a, *y = b;

	return (x->tid > y->tid) - (x->tid < y->tid);
}

/* The snapshot's thread with this tid, or NULL. */
static struct dump_thread *dump_find(struct dump *d, pid_t tid)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->th[i].tid == tid)
			return &d->th[i];
	return NULL;
}

/* Threads not done yet. */
static size_t dump_pending(const struct dump *d)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n; i++)
		n += !d->th[i].done;
	return n;
}

/* Waits up to ms for SIGCHLD, and drains it. */
static void dump_wait(struct dump *d, int ms)
{
	struct pollfd pfd = { .fd = d->sigfd, .events = POLLIN };
	struct signalfd_siginfo si;

	if (poll(&pfd, 1, ms) > 0)
		while (read(d->sigfd, &si, sizeof(si)) == sizeof(si))
			;
}

/* Copies the registers and stack of a thread in a ptrace stop. */
static void dump_take(struct dump *d, struct dump_thread *dt, struct unwinder *uw)
{
	if (capture_take(&dt->cap, d->o.pid, dt->tid, unwinder_maps(uw)) == 0) {
		dt->taken = true;
		if (d->py)   /* --- python stage: read while stopped --- */
			(void)pystage_read(d->py, (unsigned)(dt - d->th), &dt->cap,
					   d->o.max_depth);
	} else
		dt->why = errno == ESRCH ? "exited" : "its registers could not be read";
	dt->done = true;
}

/* A running process: interrupt every thread once, copy each as it stops
 * and let it go at once; attach.c re-delivers the target's signals and
 * follows job control meanwhile. */
static void dump_running(struct dump *d, struct unwinder *uw)
{
	uint64_t deadline = mono_ns() + DUMP_STOP_NS;
	struct thread *th;

	for (size_t i = 0; i < d->n; i++) {
		struct thread *t = target_find(&d->t, d->th[i].tid);

		if (!t || target_interrupt(&d->t, t) != 0) {
			d->th[i].why = "exited";
			d->th[i].done = true;
		}
	}
	while (dump_pending(d) > 0 && mono_ns() < deadline) {
		while ((th = target_next_stop(&d->t))) {
			struct dump_thread *dt = dump_find(d, th->tid);

			if (dt && !dt->done)
				dump_take(d, dt, uw);
			target_resume(&d->t, th);
		}
		for (size_t i = 0; i < d->n; i++) {
			struct dump_thread *dt = &d->th[i];
			struct thread *t = target_find(&d->t, dt->tid);

			if (dt->done)
				continue;
			if (!t) {
				dt->why = "exited";
				dt->done = true;
			} else if (t->state == TS_GROUP_STOPPED) {
				/* Stopped by job control before our interrupt. */
				dt->why = "stopped by job control meanwhile";
				dt->done = true;
			}
		}
		if (dump_pending(d) > 0)
			dump_wait(d, 10);
	}
	target_release(&d->t, 100000000ULL);
}

/* A process stopped by job control. Its threads cannot be interrupted the
 * usual way (see target_take_group_stops): each reports its group-stop once
 * after seizing, is copied then, and detached, which leaves it stopped as it
 * was. Kernels that do not report the stop on seizing get an interrupt. */
static void dump_stopped(struct dump *d, struct unwinder *uw)
{
	uint64_t start = mono_ns(), deadline = start + DUMP_STOP_NS;
	bool nudged = false;
	struct thread *th;

	target_take_group_stops(&d->t, true);
	while (dump_pending(d) > 0 && mono_ns() < deadline) {
		while ((th = target_next_stop(&d->t))) {
			struct dump_thread *dt = dump_find(d, th->tid);

			if (dt && !dt->done)
				dump_take(d, dt, uw);
			target_detach(&d->t, th);
		}
		for (size_t i = 0; i < d->n; i++) {
			struct dump_thread *dt = &d->th[i];

			if (!dt->done && !target_find(&d->t, dt->tid)) {
				dt->why = "exited";
				dt->done = true;
			}
		}
		if (!nudged && mono_ns() - start >= DUMP_NUDGE_NS) {
			for (size_t i = 0; i < d->n; i++) {
				struct thread *t = target_find(&d->t, d->th[i].tid);

				if (!d->th[i].done && t && t->state == TS_RUNNING)
					target_interrupt(&d->t, t);
			}
			nudged = true;
		}
		if (dump_pending(d) > 0)
			dump_wait(d, 10);
	}
}

/* Prints one thread's frames, innermost first, one line each: names and
 * paths escaped (str_escape), as the target's names may hold newlines. */
static void dump_print_thread(struct dump *d, struct dump_thread *dt, struct unwinder *uw,
			      struct symbolizer *sym, uint64_t *pcs)
{
	bool trunc = false;
	int n, k = 0;

	printf("Thread %d (", (int)dt->tid);
	str_escape(stdout, dt->comm);
	fputs("):\n", stdout);
	if (!dt->taken) {
		printf("  no stack: %s\n", dt->why ? dt->why : "it did not stop in time");
		return;
	}
	n = unwinder_unwind(uw, &dt->cap, pcs, d->o.max_depth, &trunc);
	if (n <= 0) {
		printf("  no stack: unwinding failed\n");
		return;
	}
	if (d->py)   /* --- python stage --- */
		n = pystage_merge(d->py, (unsigned)(dt - d->th), pcs, n, d->o.max_depth, &trunc);
	for (int i = 0; i < n; i++) {
		const struct sym_frame *f;
		bool py = PYSTAGE_IS_PY(pcs[i]);
		int nf = py ? pystage_lookup(d->py, pcs[i], &f) : symbolizer_lookup(sym, pcs[i], &f);

		for (int j = 0; j < nf; j++, k++) {
			if (py)
				printf("  #%-3d %-18s ", k, "(python)");
			else
				printf("  #%-3d 0x%016llx ", k, (unsigned long long)pcs[i]);
			str_escape(stdout, f[j].func);
			if (f[j].inlined)
				fputs(" (inlined)", stdout);
			if (f[j].src_line > 0 && f[j].src_file) {
				fputs(" at ", stdout);
				str_escape(stdout, f[j].src_file);
				printf(":%d", f[j].src_line);
			} else if (f[j].module[0]) {
				fputs(" in ", stdout);
				str_escape(stdout, f[j].module);
			}
			putchar('\n');
		}
	}
	if (trunc)
		printf("  ... deeper frames not shown (--max-depth %d)\n", d->o.max_depth);
}

/* Attaches to one process, takes every thread's registers and stack, lets
 * the process go, then unwinds, names and prints each stack. A child (-C)
 * that cannot be attached to is skipped with one line. Adds the stacks
 * taken to *taken; returns an exit code. */
static int dump_one(const struct dump_opts *o, pid_t pid, bool child, int sigfd, size_t *taken)
{
	struct unwinder *uw = NULL;
	struct symbolizer *sym = NULL;
	struct strtab *strs = NULL;
	uint64_t *pcs = NULL;
	struct dump d;
	int code;

	memset(&d, 0, sizeof(d));
	d.o = *o;
	d.o.pid = pid;
	d.sigfd = sigfd;
	/* Decided before seizing, which is what makes a stopped thread
	 * report its stop. */
	d.stopped = dump_state(pid, pid) == 'T';
	code = target_attach(&d.t, pid);
	if (code != EXIT_OK) {
		/* attach said why, in one line: a child is skipped. */
		if (child)
			code = EXIT_OK;
		goto out;
	}
	code = EXIT_INTERNAL;
	if (!(uw = unwinder_new(pid)))
		goto out;
	strs = strtab_new();
	/* The modules are read while the threads are where they were. */
	if (!(sym = symbolizer_new(pid, strs)))
		goto out;
	symbolizer_set_opts(sym, &d.o.sym);
	if (!d.o.no_python)
		d.py = pystage_new(pid, &d.o.py);

	d.n = d.t.nthreads;
	d.th = xcalloc(d.n, sizeof(*d.th));
	for (size_t i = 0; i < d.n; i++) {
		d.th[i].tid = target_thread(&d.t, i)->tid;
		capture_init(&d.th[i].cap, d.o.stack_cap);
		procfs_read_comm(pid, d.th[i].tid, d.th[i].comm, sizeof(d.th[i].comm));
		if (!d.th[i].comm[0])
			snprintf(d.th[i].comm, sizeof(d.th[i].comm), "?");
	}
	qsort(d.th, d.n, sizeof(*d.th), dump_thread_cmp);
	if (d.stopped)
		dump_stopped(&d, uw);
	else
		dump_running(&d, uw);

	/* Every thread runs again (or stays stopped as it was): now the slow
	 * part. */
	pcs = xmalloc(sizeof(*pcs) * (size_t)d.o.max_depth);
	if (child)
		putchar('\n');
	printf("PID %d (", (int)pid);
	str_escape(stdout, d.t.comm);
	printf("): %zu thread%s%s\n", d.n, d.n == 1 ? "" : "s", d.stopped ? ", stopped" : "");
	for (size_t i = 0; i < d.n; i++) {
		putchar('\n');
		dump_print_thread(&d, &d.th[i], uw, sym, pcs);
		*taken += d.th[i].taken;
	}
	fflush(stdout);
	code = EXIT_OK;
out:
	for (size_t i = 0; i < d.n; i++)
		capture_fini(&d.th[i].cap);
	free(d.th);
	free(pcs);
	symbolizer_free(sym);
	pystage_free(d.py);
	strtab_free(strs);
	unwinder_free(uw);
	target_fini(&d.t);
	return code;
}

int cmd_dump(int argc, char **argv)
{
	struct dump_opts o;
	pid_t *kids = NULL;
	size_t nkids = 0, taken = 0;
	sigset_t chld;
	int code, sigfd;

	if ((code = dump_parse(argc, argv, &o)) >= 0)
		return code;
	/* As for profiling: never ask debuginfod servers unasked. */
	if (!o.sym.debuginfod)
		unsetenv("DEBUGINFOD_URLS");
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &chld, NULL);
	if ((sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		log_err("cannot create a signalfd: %s", strerror(errno));
		return EXIT_INTERNAL;
	}
	/* The descendants as they are now; each is dumped on its own, so a
	 * process is stopped only as long as its own threads are copied. */
	if (o.children)
		nkids = procfs_descendants(o.pid, &kids);
	code = dump_one(&o, o.pid, false, sigfd, &taken);
	for (size_t i = 0; code == EXIT_OK && i < nkids; i++)
		code = dump_one(&o, kids[i], true, sigfd, &taken);
	if (code == EXIT_OK && taken == 0) {
		log_err("no stack of PID %d could be taken", (int)o.pid);
		code = EXIT_NO_SAMPLES;
	}
	free(kids);
	close(sigfd);
	return code;
}
