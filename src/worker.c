/* worker.c: one profile of the daemon in a process of its own (see
 * worker.h). The worker runs its session with run_session, watching the
 * supervisor's socket, its signals and, on demand, the client's
 * connection; then writes, or sends the files to the client. */
#include "worker.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "log.h"
#include "output.h"
#include "profile.h"
#include "report.h"
#include "run.h"
#include "schedule.h"
#include "session.h"
#include "sprofd.h"
#include "split.h"
#include "util.h"
#include "workermsg.h"

/* The last error logged in this worker, for the client. */
static char worker_error[512];

/* What the watch callbacks share. */
struct wstate {
	struct work *w;
	bool client_gone;
	bool refused;      /* the started hook ended the run, and said why */
};

/* Keeps the last error message (log hook, any thread). */
static void worker_log_hook(enum log_level lvl, const char *msg)
{
	if (lvl == LOG_LVL_ERR)
		snprintf(worker_error, sizeof(worker_error), "%s", msg);
}

/* Tells the supervisor something; it may be gone, which is not an error. */
static void worker_tell(const struct work *w, enum wmsg_kind kind, const char *comm)
{
	struct wmsg m = { .kind = kind };

	if (comm)
		snprintf(m.comm, sizeof(m.comm), "%s", comm);
	wmsg_send(w->sock, &m);
}

/* Creates dir and its missing parents (mode 0750 under our umask). */
static void mkdirs(const char *dir)
{
	char *p = xstrdup(dir);

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		(void)mkdir(p, 0750);
		*s = '/';
	}
	(void)mkdir(p, 0750);
	free(p);
}

/* Opens an output directory, creating it if needed. Refuses one that
 * others could write into: they could plant files for retention to act
 * on. Returns the descriptor, or -1 (logged). */
static int outdir_open(const char *dir)
{
	struct stat st;
	int fd;

	mkdirs(dir);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		log_err("cannot open the output directory %s: %s", dir, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		log_err("output directory %s must belong to uid %u and not be writable by group or "
			"others", dir, (unsigned)geteuid());
		close(fd);
		return -1;
	}
	return fd;
}

/* Writes p in every format into the current directory, under the default
 * names. The output module's own "wrote NAME" lines name files relative to
 * a directory the reader cannot know, so they are kept for -v. */
static int worker_write(const struct work *w, const struct profile *p, const char *formats,
			const char *comm)
{
	struct output_opts oo = { .formats = formats, .path = NULL, .comm = comm, .pid = w->pid,
				  .start_time = p->meta.start_time };
	enum log_level lv = log_get_level();
	int rc;

	if (lv < LOG_LVL_DEBUG)
		log_set_level(LOG_LVL_WARN);
	rc = output_write_all(p, &oo);
	log_set_level(lv);
	return rc;
}

/* SIGUSR1 or "snap": writes the profile so far where the final one will
 * go (same names, so the final one replaces it). */
static void worker_snapshot(struct work *w, struct session *s)
{
	struct profile *p;

	if (w->ondemand)
		return;    /* its result goes to the client at the end */
	p = session_snapshot(s);
	if (!p)
		return;
	if (worker_write(w, p, w->formats, session_comm(s)) == 0) {
		log_info("%s: PID %d (%s): wrote the profile so far, %llu samples in %.1f s, to %s",
			 w->label, (int)w->pid, session_comm(s), (unsigned long long)p->total,
			 p->meta.duration, w->dir);
		worker_tell(w, WMSG_WROTE, NULL);
	}
	profile_free(p);
}

/* After attaching on behalf of a user: the process must still be the one
 * that was checked (same start time: PIDs are reused) and still theirs. */
static int worker_check(const struct work *w, char *why, size_t len)
{
	struct proc_info pi;

	if (proc_read(w->pid, &pi) < 0 || pi.start != w->start) {
		snprintf(why, len, "PID %d exited while sprofd attached to it", (int)w->pid);
		return EXIT_NO_TARGET;
	}
	for (int i = 0; i < 4; i++) {
		if (pi.uid[i] != w->uid || pi.owner != w->uid) {
			snprintf(why, len, "PID %d (%s) changed its user ID while sprofd attached to "
				 "it; not profiled", (int)w->pid, pi.comm);
			return EXIT_PERM;
		}
	}
	return EXIT_OK;
}

/* File names, shortest first, then A..Z. */
static int by_length(const void *x, const void *y)
{
	const char *a = *(char *const *)x, *b = *(char *const *)y;
	size_t la = strlen(a), lb = strlen(b);

	return la != lb ? (la < lb ? -1 : 1) : strcmp(a, b);
}

/* The samples of the endpoint whose file is name: the one whose slug
 * stands in it between dots or at its end (the longest, if several). */
static uint64_t endpoint_samples(const struct profile *p, const char *name)
{
	size_t best = 0;
	uint64_t n = p->total;

	for (size_t k = 1; p->split && k < p->split->n; k++) {
		const char *slug = p->split->eps[k].slug, *at = name;
		size_t len = strlen(slug);

		while (len > best && (at = strstr(at, slug))) {
			if (at > name && at[-1] == '.' && (at[len] == '.' || !at[len])) {
				best = len;
				n = p->split->eps[k].samples;
				break;
			}
			at++;
		}
	}
	return n;
}

/* Sends the client every format, one file each (and one per endpoint of a
 * split profile), then the table. */
static int worker_send(struct work *w, const struct profile *p, const char *comm, int dfd)
{
	char *list = xstrdup(w->formats), *save = NULL, *tok, **names = NULL;
	size_t n, cap = 0;
	int code = EXIT_OK;

	for (tok = strtok_r(list, ",", &save); tok && code == EXIT_OK;
	     tok = strtok_r(NULL, ",", &save)) {
		struct dirent *de;
		DIR *d;
		int fd;

		if (worker_write(w, p, tok, comm) < 0) {
			ctl_reply(w->client, "err", "%d %s", EXIT_OUTPUT,
				  worker_error[0] ? worker_error : "cannot write the profile");
			code = EXIT_OUTPUT;
			break;
		}
		/* The directory is private and was empty: what is there now is
		 * this format's file, and with --split its endpoints' files,
		 * whose names are the main one's with ".ENDPOINT" inside: the
		 * shortest goes first, so that the client saves it under -o. */
		fd = dup(dfd);
		d = fd >= 0 ? fdopendir(fd) : NULL;
		if (!d) {
			if (fd >= 0)
				close(fd);
			code = EXIT_INTERNAL;
			break;
		}
		rewinddir(d);
		n = 0;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			xgrow((void **)&names, &cap, n + 1, sizeof(*names));
			names[n++] = xstrdup(de->d_name);
		}
		closedir(d);
		if (n > 1)
			qsort(names, n, sizeof(*names), by_length);
		for (size_t i = 0; i < n; i++) {
			if (code == EXIT_OK &&
			    ctl_send_file(w->client, dfd, names[i],
					  (unsigned long long)(i ? endpoint_samples(p, names[i]) : p->total)) < 0)
				code = EXIT_OUTPUT;
			unlinkat(dfd, names[i], 0);
			free(names[i]);
		}
	}
	free(list);
	free(names);
	if (code != EXIT_OK)
		return code;
	if (w->rows > 0) {
		char *text = NULL, *line, *lsave = NULL;
		size_t tlen = 0;
		FILE *f = open_memstream(&text, &tlen);

		if (f) {
			report_print(f, p, w->rows, SORT_TOTTIME);
			fclose(f);
			for (line = strtok_r(text, "\n", &lsave); line; line = strtok_r(NULL, "\n", &lsave))
				ctl_reply(w->client, "out", "%s", line);
			free(text);
		}
	}
	ctl_reply(w->client, "ok", "%s", "");
	return EXIT_OK;
}

/* Empties and removes the private directory of an on-demand profile. */
static void remove_private_dir(int dfd, const char *path)
{
	struct dirent *de;
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (d) {
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlinkat(dfd, de->d_name, 0);
		closedir(d);
	} else if (fd >= 0) {
		close(fd);
	}
	rmdir(path);
}

/* Attached: re-checks the target for a user, tells the supervisor and the
 * client. */
static int worker_started(struct session *s, void *arg)
{
	struct wstate *st = arg;
	struct work *w = st->w;
	char why[512], dur[32];
	int code;

	if (w->check && (code = worker_check(w, why, sizeof(why))) != EXIT_OK) {
		log_err("%s: %s", w->label, why);
		ctl_reply(w->client, "err", "%d %s", code, why);
		st->refused = true;
		return code;
	}
	worker_tell(w, WMSG_ATTACHED, session_comm(s));
	if (w->ondemand) {
		config_format_time(w->duration, dur, sizeof(dur));
		ctl_reply(w->client, "msg", "sampling PID %d (%s) at %u Hz for %s%s", (int)w->pid,
			  session_comm(s), w->hz, w->open_ended ? "up to " : "", dur);
	}
	return EXIT_OK;
}

/* A message from the supervisor; if it is gone, finish what we have. */
static bool on_supervisor(struct session *s, int fd, void *arg)
{
	struct wstate *st = arg;
	struct wmsg m;
	int rc = wmsg_recv(fd, &m);

	if (rc < 0) {
		session_stop(s);
		return false;
	}
	if (rc == 0)
		return true;
	switch (m.kind) {
	case WMSG_RATE:
		session_set_stride(s, m.stride);
		break;
	case WMSG_SNAP:
		worker_snapshot(st->w, s);
		break;
	case WMSG_STOP:
		session_stop(s);
		break;
	default:
		break;    /* the worker's own words, not for it */
	}
	return true;
}

/* SIGUSR1: the profile so far; SIGTERM, SIGINT: stop. */
static bool on_signal(struct session *s, int fd, void *arg)
{
	struct wstate *st = arg;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGUSR1)
			worker_snapshot(st->w, s);
		else
			session_stop(s);
	}
	return true;
}

/* The client may say "stop" (see ctl.h); hanging up abandons the profile. */
static bool on_client(struct session *s, int fd, void *arg)
{
	struct wstate *st = arg;
	char buf[128];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n <= 0) {
		st->client_gone = true;
		session_stop(s);
		return false;
	}
	if (ctl_wants_stop(buf, (size_t)n))
		session_stop(s);
	return true;
}

/* The worker process: one profile, from attach to files. Returns its exit
 * code, which the supervisor reads. */
static int worker_main(struct work *w)
{
	struct wstate st = { .w = w };
	struct session_opts so;
	struct session *s = NULL;
	struct profile *p = NULL;
	struct split_rule *rule = NULL;
	char tmpdir[PATH_MAX] = "", why[512];
	sigset_t sigs;
	int sigfd, dfd = -1, code = EXIT_OK;

	if (w->ondemand) {
		const char *tmp = getenv("TMPDIR");
		int fl = fcntl(w->client, F_GETFL);

		log_set_hook(worker_log_hook);
		if (fl >= 0)
			fcntl(w->client, F_SETFL, fl & ~O_NONBLOCK);
		snprintf(tmpdir, sizeof(tmpdir), "%s/sprofd.XXXXXX", tmp && tmp[0] == '/' ? tmp : "/tmp");
		if (!mkdtemp(tmpdir)) {
			log_err("cannot create a private directory in %s: %s",
				tmp && tmp[0] == '/' ? tmp : "/tmp", strerror(errno));
			tmpdir[0] = '\0';
		} else {
			dfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
	} else {
		dfd = outdir_open(w->dir);
	}
	if (dfd < 0 || fchdir(dfd) < 0) {
		code = EXIT_OUTPUT;
		if (w->ondemand)
			ctl_reply(w->client, "err", "%d %s", code,
				  worker_error[0] ? worker_error : "no directory to write in");
		goto out;
	}

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);

	memset(&so, 0, sizeof(so));
	so.pid = w->pid;
	so.hz = w->hz;
	so.duration = w->duration;
	so.max_depth = w->max_depth;
	so.stack_cap = SPROFD_STACK_CAP_DEFAULT;
	so.mode = w->mode;
	so.children = w->children;
	so.no_python = w->no_python;
	so.stride = w->stride;
	if (w->split) {   /* checked when the config or the request was read */
		char why_split[160];

		rule = split_rule_new(w->split, why_split, sizeof(why_split));
		so.split = rule;
	}
	{
		struct run_watch watch[] = {
			{ .fd = w->sock, .ready = on_supervisor, .arg = &st },
			{ .fd = sigfd, .ready = on_signal, .arg = &st },
			{ .fd = w->ondemand ? w->client : -1, .ready = on_client, .arg = &st },
		};
		code = run_session(&so, worker_started, &st, watch, 3, &s, &p);
	}
	if (!s) {
		if (w->ondemand)
			ctl_reply(w->client, "err", "%d %s", code,
				  worker_error[0] ? worker_error : "cannot attach");
		goto out;
	}
	if (st.refused)
		goto out;
	if (code == EXIT_NO_SAMPLES) {
		snprintf(why, sizeof(why), "no samples were taken from PID %d (%s); no profile written",
			 (int)w->pid, session_comm(s));
		log_info("%s: %s", w->label, why);
		if (w->ondemand && !st.client_gone)
			ctl_reply(w->client, "err", "%d %s", code, why);
		goto out;
	}
	if (code != EXIT_OK) {
		if (w->ondemand)
			ctl_reply(w->client, "err", "%d %s", code, "sampling failed");
		goto out;
	}
	if (!w->ondemand) {
		if (worker_write(w, p, w->formats, session_comm(s)) < 0) {
			code = EXIT_OUTPUT;
		} else {
			log_info("%s: PID %d (%s): %llu samples in %.1f s written to %s", w->label,
				 (int)w->pid, session_comm(s), (unsigned long long)p->total,
				 p->meta.duration, w->dir);
			worker_tell(w, WMSG_WROTE, NULL);
		}
	} else if (st.client_gone) {
		log_info("%s: the client hung up; profile of PID %d discarded", w->label, (int)w->pid);
	} else {
		code = worker_send(w, p, session_comm(s), dfd);
	}
out:
	profile_free(p);
	session_free(s);
	split_rule_free(rule);
	if (dfd >= 0 && tmpdir[0])
		remove_private_dir(dfd, tmpdir);
	if (dfd >= 0)
		close(dfd);
	return code;
}

/* Keeps only fds (moved to 3, 4, ...) and closes every other descriptor
 * above stderr, so a worker holds no other worker's socket, no client
 * connection but its own, and no listener. */
static void keep_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		fds[i] = fcntl(fds[i], F_DUPFD, 100);
	for (int i = 0; i < n; i++) {
		dup2(fds[i], 3 + i);
		fds[i] = 3 + i;
	}
	close_range((unsigned)(3 + n), ~0U, 0);
}

pid_t worker_spawn(struct work *w, bool syslog, int *sock)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		log_err("%s: cannot create a socket pair: %s", w->label, strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		log_err("%s: cannot fork a worker: %s", w->label, strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		int fds[2] = { sv[1], w->client };
		int n = w->client >= 0 ? 2 : 1;

		/* Drop the inherited syslog connection before its descriptor
		 * number can be reused. */
		if (syslog)
			log_use_syslog();
		keep_fds(fds, n);
		w->sock = fds[0];
		w->client = n == 2 ? fds[1] : -1;
		_exit(worker_main(w));
	}
	close(sv[1]);
	*sock = sv[0];
	return pid;
}
