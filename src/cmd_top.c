/* cmd_top.c: sprofd top -p PID: one session, shown live. Every second a
 * snapshot of the session (session_snapshot) is set against the one before
 * (topview) and drawn on the terminal (topdraw), or printed as text when
 * standard output is no terminal. Takes the profiling command's options
 * (profile_parse_args), so every option of sprofd -p means the same here;
 * -o or -f also writes the whole profile when it ends. */
#include <errno.h>
#include <locale.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "log.h"
#include "output.h"
#include "profile.h"
#include "pystage.h"
#include "run.h"
#include "session.h"
#include "sprofd.h"
#include "topdraw.h"
#include "topview.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sprofd top -p PID[,PID...] [-C] [-F HZ] [-m cpu|wall] [-d SECONDS] [--threads]\n"
		"              [-o FILE] [-f FORMATS] [-s SORTKEY] [-n ROWS] [OPTIONS]\n"
		"\n"
		"Shows the functions of a running process live, refreshed every second:\n"
		"self and total share in the last second and since the start. Takes the\n"
		"options of sprofd -p (see sprofd --help); -o or -f also writes the whole\n"
		"profile on exit. When standard output is no terminal, prints the table\n"
		"as text every second instead (-n rows of it, default 20).\n"
		"\n"
		"Keys: q quit (detach; Ctrl-C too), s/t/n sort by self/total/name,\n"
		"r reverse, c last second or since the start, p pause the display,\n"
		"T next thread, P next process (with -C or several PIDs), a all,\n"
		"h help line.\n");
}

/* The state of one top run, shared by the watch callbacks. */
struct top {
	struct cli cli;
	bool tty;                 /* drawing on a terminal, not printing text */
	bool quitting;
	struct session *s;
	struct profile *prev, *cur;   /* the last two snapshots (or NULL) */
	struct top_rows rows;     /* from prev and cur */
	struct top_state st;
	struct top_info info;
	uint64_t snap_ns;         /* when cur was taken */
	uint64_t cpu_ns;          /* sprofd's CPU time then */
	pid_t *tids;              /* threads of cur (of the process shown), for T */
	size_t ntids;
	pid_t *pids;              /* processes of cur, for P */
	size_t npids;
	char thread_name[96];
	char proc_name[96];
	char comm[64];
	char python[32];
	char mode[8];
};

/* A log message while the screen is up wrote over it (any thread): the
 * next frame rewrites every cell. */
static atomic_bool screen_dirty;

static void on_log(enum log_level lvl, const char *msg)
{
	atomic_store(&screen_dirty, true);
}

/* sprofd's own CPU time, every thread, in ns. */
static uint64_t own_cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

static void top_quit(struct top *t, struct session *s);

/* The threads of cur that T steps through (those of the process shown),
 * and its processes for P, in the order of their first samples. */
static void top_ids(struct top *t)
{
	const struct profile *p = t->cur;

	free(t->tids);
	free(t->pids);
	t->tids = xcalloc(p->ntasks + 1, sizeof(*t->tids));
	t->pids = xcalloc(p->ntasks + 1, sizeof(*t->pids));
	t->ntids = t->npids = 0;
	for (size_t i = 0; i < p->ntasks; i++) {
		const struct ptask *k = &p->tasks[i];
		size_t j = 0;

		if (!t->st.pid || k->pid == t->st.pid)
			t->tids[t->ntids++] = k->tid;
		while (j < t->npids && t->pids[j] != k->pid)
			j++;
		if (j == t->npids && k->pid)
			t->pids[t->npids++] = k->pid;
	}
}

/* Rebuilds the rows from the two snapshots, for the thread and process
 * chosen. */
static void top_rebuild(struct top *t)
{
	top_rows_free(&t->rows);
	t->thread_name[0] = '\0';
	t->proc_name[0] = '\0';
	if (!t->cur)
		return;
	top_ids(t);
	top_rows_build(&t->rows, t->prev, t->cur, t->st.tid, t->st.pid);
	top_rows_sort(&t->rows, &t->st);
	for (size_t i = 0; i < t->cur->ntasks; i++) {
		const struct ptask *k = &t->cur->tasks[i];
		if (t->st.tid && k->tid == t->st.tid)
			snprintf(t->thread_name, sizeof(t->thread_name), "%d (%s)",
				 (int)t->st.tid, k->name);
		/* A process by its main thread's name: its comm. */
		if (t->st.pid && k->tid == t->st.pid)
			snprintf(t->proc_name, sizeof(t->proc_name), "%d (%s)",
				 (int)t->st.pid, k->name);
	}
	if (t->st.tid && !t->thread_name[0])
		snprintf(t->thread_name, sizeof(t->thread_name), "%d", (int)t->st.tid);
	if (t->st.pid && !t->proc_name[0])
		snprintf(t->proc_name, sizeof(t->proc_name), "%d", (int)t->st.pid);
}

/* The process named on the status line: the one shown, or "all" when the
 * session has several, or none for one process. */
static const char *top_proc_name(const struct top *t)
{
	if (t->st.pid)
		return t->proc_name;
	return t->info.processes > 1 ? "all" : NULL;
}

/* Draws the view, or prints it as text. */
static void top_show(struct top *t)
{
	if (!t->tty) {
		FILE *f = stdout;
		char *buf;
		size_t len = 8192;

		if (!t->cur)
			return;
		buf = xmalloc(len);
		fputs(top_format_header(buf, len, 0, &t->info), f);
		fputc('\n', f);
		fputs(top_format_columns(buf, len, 0), f);
		fputc('\n', f);
		for (size_t i = 0; i < t->rows.n && (t->cli.rows <= 0 || i < (size_t)t->cli.rows); i++) {
			fputs(top_format_row(buf, len, 0, &t->rows.v[i], t->rows.samples,
					     t->rows.csamples), f);
			fputc('\n', f);
		}
		fputc('\n', f);
		/* Its reader is gone (| head): nobody watches, so detach. */
		if (fflush(f) == EOF || ferror(f)) {
			log_info("top: cannot write the table (%s): detaching", strerror(errno));
			top_quit(t, t->s);
		}
		free(buf);
		return;
	}
	if (atomic_exchange(&screen_dirty, false))
		topdraw_invalidate();
	if (t->cur) {
		topdraw_frame(&t->info, &t->st, t->st.tid ? t->thread_name : NULL, top_proc_name(t),
			      &t->rows, NULL);
	} else {
		char *msg = xasprintf("PID %d (%s): waiting for the first samples ...",
				      (int)t->cli.so.pid, t->comm);
		topdraw_frame(&t->info, &t->st, NULL, NULL, NULL, msg);
		free(msg);
	}
}

/* Takes a snapshot and makes it the current one (timer, every second). */
static bool on_tick(struct session *s, int tfd, void *arg)
{
	struct top *t = arg;
	struct profile *p;
	uint64_t ticks, now, cpu;

	if (read(tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return false;
	if (t->quitting)
		return false;
	/* Paused: the display stays as it is; sampling goes on, and the
	 * next interval spans the pause. */
	if (t->st.paused)
		return true;
	p = session_snapshot(s);
	if (!p) {
		top_show(t);   /* nothing sampled yet */
		return true;
	}
	now = mono_ns();
	cpu = own_cpu_ns();
	t->info.interval = (double)(now - t->snap_ns) / 1e9;
	t->info.own_cpu = now > t->snap_ns ?
		100.0 * (double)(cpu - t->cpu_ns) / (double)(now - t->snap_ns) : 0.0;
	t->snap_ns = now;
	t->cpu_ns = cpu;
	/* The rows point into cur: free them first. */
	top_rows_free(&t->rows);
	profile_free(t->prev);
	t->prev = t->cur;
	t->cur = p;
	snprintf(t->python, sizeof(t->python), "%s", p->meta.python);
	t->info.python = t->python;
	t->info.threads = p->meta.nthreads;
	t->info.processes = p->meta.nprocs;
	t->info.samples = p->total;
	top_rebuild(t);
	top_show(t);
	return !t->quitting;
}

/* Leaves the screen and ends the session: the tracing thread detaches
 * every thread of the target at once. */
static void top_quit(struct top *t, struct session *s)
{
	t->quitting = true;
	topdraw_close();
	session_stop(s);
}

/* Keys typed (stdin readable). */
static bool on_key(struct session *s, int fd, void *arg)
{
	struct top *t = arg;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	bool redraw = false;
	int ch;

	if (t->quitting)
		return false;
	while ((ch = topdraw_key()) >= 0) {
		switch (top_key(&t->st, ch, t->tids, t->ntids, t->pids, t->npids)) {
		case TOP_KEY_QUIT:
			top_quit(t, s);
			return false;
		case TOP_KEY_REDRAW:
			redraw = true;
			break;
		case TOP_KEY_NONE:
			break;
		}
	}
	if (redraw) {
		top_rebuild(t);
		top_show(t);
	}
	/* The terminal hung up: no more keys, but signals still stop us. */
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)))
		return false;
	return true;
}

/* SIGINT, SIGTERM, SIGHUP end the run; SIGWINCH redraws at the new size. */
static bool on_signal(struct session *s, int sigfd, void *arg)
{
	struct top *t = arg;
	struct signalfd_siginfo si;

	if (read(sigfd, &si, sizeof(si)) != sizeof(si))
		return true;
	if (si.ssi_signo == SIGWINCH) {
		if (t->tty && !t->quitting) {
			topdraw_resize();
			top_show(t);
		}
		return true;
	}
	if (!t->tty)
		log_info("%s: detaching", strsignal((int)si.ssi_signo));
	top_quit(t, s);
	return false;
}

/* Attached (run_started_fn): takes over the terminal. */
static int on_started(struct session *s, void *arg)
{
	struct top *t = arg;

	/* The first interval runs from here. */
	t->snap_ns = mono_ns();
	t->cpu_ns = own_cpu_ns();
	snprintf(t->comm, sizeof(t->comm), "%s", session_comm(s));
	t->info.comm = t->comm;
	t->s = s;
	if (t->tty) {
		if (topdraw_open() < 0)
			return EXIT_USAGE;   /* session_free detaches */
		/* Messages would write over the screen: errors only, and
		 * the screen is drawn afresh after one. */
		if (log_get_level() < LOG_LVL_DEBUG)
			log_set_level(LOG_LVL_ERR);
		log_set_hook(on_log);
	} else {
		log_info("sampling PID %d (%s) at %u Hz; a table every second", (int)t->cli.so.pid,
			 t->comm, t->cli.so.hz);
	}
	top_show(t);
	return EXIT_OK;
}

int cmd_top(int argc, char **argv)
{
	struct top *t = xcalloc(1, sizeof(*t));
	struct session *s = NULL;
	struct profile *p = NULL;
	struct run_watch watch[3];
	struct itimerspec its = { { 1, 0 }, { 1, 0 } };
	enum log_level level;
	sigset_t sigs;
	int code, sigfd = -1, tfd = -1, status;

	code = profile_parse_args(argc, argv, &t->cli);
	if (code != EXIT_OK)
		goto out;
	if (t->cli.action == CLI_HELP) {
		usage(stdout);
		goto out;
	}
	if (t->cli.action == CLI_VERSION) {
		printf("sprofd %s\n", SPROFD_VERSION);
		goto out;
	}
	switch (t->cli.sort) {
	case SORT_TOTTIME:
		t->st.sort = TOP_SORT_SELF;
		break;
	case SORT_NAME:
		t->st.sort = TOP_SORT_NAME;
		break;
	default:
		t->st.sort = TOP_SORT_TOTAL;
		break;
	}
	if (t->cli.quiet)
		log_set_level(LOG_LVL_ERR);
	else if (t->cli.verbose)
		log_set_level(LOG_LVL_DEBUG);
	level = log_get_level();
	if (!t->cli.so.sym.debuginfod)
		unsetenv("DEBUGINFOD_URLS");
	raise_nofile_limit();
	setlocale(LC_CTYPE, "");   /* ncursesw: UTF-8 names as they are */
	t->tty = isatty(STDOUT_FILENO) == 1;
	snprintf(t->mode, sizeof(t->mode), "%s", sample_mode_name(t->cli.so.mode));
	t->info = (struct top_info){ .pid = t->cli.so.pid, .comm = "", .hz = t->cli.so.hz,
				     .mode = t->mode };

	/* As in cmd_profile: every thread blocks these; this one reads
	 * them from a signalfd. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGWINCH);
	sigaddset(&sigs, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigdelset(&sigs, SIGCHLD);
	sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (sigfd < 0 || tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) < 0) {
		log_err("top: cannot create a signalfd or timerfd: %s", strerror(errno));
		code = EXIT_INTERNAL;
		goto out;
	}
	watch[0] = (struct run_watch){ .fd = sigfd, .ready = on_signal, .arg = t };
	watch[1] = (struct run_watch){ .fd = tfd, .ready = on_tick, .arg = t };
	watch[2] = (struct run_watch){ .fd = t->tty && isatty(STDIN_FILENO) ? STDIN_FILENO : -1,
				       .ready = on_key, .arg = t };
	code = run_session(&t->cli.so, on_started, t, watch, 3, &s, &p);
	topdraw_close();
	log_set_hook(NULL);
	log_set_level(level);
	if (!s)
		goto out;
	if (session_target_gone(s, &status)) {
		if (WIFEXITED(status))
			log_info("PID %d exited with status %d", (int)t->cli.so.pid, WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			log_info("PID %d was killed by %s", (int)t->cli.so.pid,
				 strsignal(WTERMSIG(status)));
	}
	if (code == EXIT_NO_SAMPLES && !t->cli.output && !t->cli.formats) {
		code = EXIT_OK;   /* nothing to write, and nothing was asked */
	} else if (code == EXIT_NO_SAMPLES) {
		log_err("no samples were taken from PID %d (%s); no profile written",
			(int)t->cli.so.pid, session_comm(s));
	} else if (code == EXIT_OK && (t->cli.output || t->cli.formats)) {
		struct output_opts oo = {
			.formats = t->cli.formats, .path = t->cli.output, .comm = session_comm(s),
			.pid = t->cli.so.pid, .start_time = p->meta.start_time,
		};
		if (output_write_all(p, &oo) < 0)
			code = EXIT_OUTPUT;
	}
out:
	top_rows_free(&t->rows);
	profile_free(p);
	profile_free(t->prev);
	profile_free(t->cur);
	session_free(s);
	if (sigfd >= 0)
		close(sigfd);
	if (tfd >= 0)
		close(tfd);
	free(t->tids);
	free(t->pids);
	free(t);
	return code;
}
