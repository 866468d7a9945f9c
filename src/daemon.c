/* daemon.c: the supervisor and its workers (see daemon.h).
 *
 * The supervisor is single-threaded and never traces anything: one poll
 * loop over a signalfd (SIGCHLD, SIGHUP, SIGUSR1, SIGTERM, SIGINT), the
 * control socket and its connections, and one socket per worker. Timers
 * (the next run of each target, the budget check, overrun deadlines) set
 * the poll timeout. A worker is forked with only its own descriptors;
 * it talks to the supervisor in short datagrams:
 *   supervisor -> worker: "rate STRIDE", "snap", "stop"
 *   worker -> supervisor: "attached COMM", "wrote"
 * and, for an on-demand profile, answers the client's connection itself. */
#include "daemon.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "log.h"
#include "output.h"
#include "profile.h"
#include "report.h"
#include "schedule.h"
#include "session.h"
#include "sprofd.h"
#include "util.h"

#define NS 1000000000ull
#define MAX_CONNS 16
/* A client has this long to send its request line... */
#define CONN_TIMEOUT_NS (5 * NS)
/* ... and a user other than root this many such connections at once. */
#define CONNS_PER_USER 4
/* Past its duration, a worker gets this long to write before it is asked
 * to stop (symbolizing a large program can take a while)... */
#define RUN_GRACE_NS (60 * NS)
/* ... and after "stop", this long before it is killed. */
#define KILL_GRACE_NS (15 * NS)
/* The budget is checked every second, from a profile's second second on:
 * the first is mostly attaching and reading debug information. */
#define BUDGET_PERIOD_NS NS
#define BUDGET_GRACE_NS NS
/* On-demand profiles a user other than root may run at once. */
#define ONDEMAND_PER_USER 2

/* One worker process: one profile of one process. */
struct job {
	struct job *next;
	pid_t wpid;
	int sock;                  /* datagram socket to the worker */
	bool ondemand;
	char *target;              /* scheduled: the target's name */
	char *dir;                 /* scheduled: where its files go */
	struct keep keep;
	double budget;             /* the target's CPU budget (percent); 0: none */
	pid_t pid;                 /* the process profiled */
	char comm[64];
	uid_t uid;                 /* on demand: who asked */
	unsigned hz, stride;
	uint64_t started, stop_at, kill_at;  /* monotonic ns */
	bool stopping;
	bool have_clk;
	clockid_t clk;             /* the worker's CPU clock */
	uint64_t cpu_prev, cpu_at;
	double used;               /* percent of one CPU over the last window */
};

/* The timetable of one configured target. */
struct tstate {
	char *name;
	double interval, jitter;
	uint64_t base, next;       /* monotonic ns */
	bool missing;              /* said that no process matched */
	unsigned stride;           /* what the budget allowed its last profile */
	char last[200];            /* how the last run went, for status */
	uint64_t last_at;
};

struct conn {
	int fd;                    /* -1: free */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char buf[CTL_LINE_MAX];
	size_t len;
	uint64_t deadline;
};

struct daemon {
	const struct daemon_opts *o;
	char *cfg_path;
	struct config *cfg;
	struct tstate *ts;         /* parallel to cfg->targets */
	struct job *jobs;
	unsigned njobs;
	int sigfd, lfd;
	char *sock_path;           /* what lfd listens on */
	struct conn conns[MAX_CONNS];
	bool stopping;
	uint64_t started, next_budget;
};

/* ---------------------------------------------------------------- helpers */

/* A uniform random number in [0, 1), for jitter. */
static double frac(void)
{
	return (double)random() / ((double)RAND_MAX + 1.0);
}

/* Tells systemd (Type=notify) about the daemon's state, if it asked: one
 * datagram to $NOTIFY_SOCKET, which is all libsystemd's sd_notify does. */
static void notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	size_t n;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || (n = strlen(path)) >= sizeof(sa.sun_path))
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';   /* an abstract socket */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
		log_debug("cannot notify systemd: %s", strerror(errno));
	close(fd);
}

/* Whole seconds, rounded (sprofd links no libm). */
static double whole_secs(uint64_t ns)
{
	return (double)((ns + NS / 2) / NS);
}

/* "1m30s"-style text for a duration in seconds. */
static const char *fmt_secs(double secs, char *buf, size_t len)
{
	config_format_time(secs, buf, len);
	return buf;
}

/* A sampling rate, to a sensible precision. */
static const char *fmt_hz(double hz, char *buf, size_t len)
{
	snprintf(buf, len, hz >= 100 ? "%.0f" : hz >= 10 ? "%.1f" : "%.2f", hz);
	return buf;
}

/* The name of a user, or "uid N". */
static const char *user_name(uid_t uid, char *buf, size_t len)
{
	struct passwd *pw = getpwuid(uid);

	if (pw)
		snprintf(buf, len, "%s", pw->pw_name);
	else
		snprintf(buf, len, "uid %u", (unsigned)uid);
	return buf;
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

/* ----------------------------------------------------------------- worker */

/* What one worker does; filled by the supervisor before it forks. */
struct work {
	const char *label;         /* "target web", or "request of uid 1000" */
	bool ondemand;
	pid_t pid;
	unsigned hz;
	double duration;
	bool open_ended;           /* on demand: until the client stops it */
	enum sample_mode mode;
	int max_depth;
	const char *formats;
	const char *dir;           /* scheduled: the output directory */
	unsigned stride;           /* to start at (what the budget allowed last) */
	int rows;                  /* on demand: rows of the table sent back */
	bool check;                /* on demand by a user: re-check the target */
	uid_t uid;
	uint64_t start;            /* the target's start time when checked */
	int sock;                  /* to the supervisor */
	int client;                /* on demand: the client's connection */
};

/* The last error logged in this worker, for the client. */
static char worker_error[512];

/* Keeps the last error message (log hook, any thread). */
static void worker_log_hook(enum log_level lvl, const char *msg)
{
	if (lvl == LOG_LVL_ERR)
		snprintf(worker_error, sizeof(worker_error), "%s", msg);
}

/* Tells the supervisor something; it may be gone, which is not an error. */
static void worker_tell(struct work *w, const char *msg)
{
	if (w->sock >= 0)
		(void)send(w->sock, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
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
		worker_tell(w, "wrote");
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

/* Sends the client every format, one file each, then the table. */
static int worker_send(struct work *w, const struct profile *p, const char *comm, int dfd)
{
	char *list = xstrdup(w->formats), *save = NULL, *tok;
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
		 * this format's file. */
		fd = dup(dfd);
		d = fd >= 0 ? fdopendir(fd) : NULL;
		if (!d) {
			if (fd >= 0)
				close(fd);
			code = EXIT_INTERNAL;
			break;
		}
		rewinddir(d);
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			if (ctl_send_file(w->client, dfd, de->d_name, (unsigned long long)p->total) < 0)
				code = EXIT_OUTPUT;
			unlinkat(dfd, de->d_name, 0);
		}
		closedir(d);
	}
	free(list);
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

/* The worker process: one profile, from attach to files. Returns its exit
 * code, which the supervisor reads. */
static int worker_main(struct work *w)
{
	struct session_opts so;
	struct session *s = NULL;
	struct profile *p = NULL;
	char tmpdir[PATH_MAX] = "", why[512], dur[32];
	bool client_gone = false, sock_open = true;
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
	so.stride = w->stride;
	s = session_start(&so, &code);
	if (!s) {
		if (w->ondemand)
			ctl_reply(w->client, "err", "%d %s", code,
				  worker_error[0] ? worker_error : "cannot attach");
		goto out;
	}
	if (w->check && (code = worker_check(w, why, sizeof(why))) != EXIT_OK) {
		log_err("%s: %s", w->label, why);
		ctl_reply(w->client, "err", "%d %s", code, why);
		goto out;
	}
	{
		char msg[96];
		snprintf(msg, sizeof(msg), "attached %s", session_comm(s));
		worker_tell(w, msg);
	}
	if (w->ondemand)
		ctl_reply(w->client, "msg", "sampling PID %d (%s) at %u Hz for %s%s", (int)w->pid,
			  session_comm(s), w->hz, w->open_ended ? "up to " : "",
			  fmt_secs(w->duration, dur, sizeof(dur)));

	for (;;) {
		struct pollfd pfd[4] = {
			{ .fd = sock_open ? w->sock : -1, .events = POLLIN },
			{ .fd = sigfd, .events = POLLIN },
			{ .fd = session_done_fd(s), .events = POLLIN },
			{ .fd = w->ondemand && !client_gone ? w->client : -1, .events = POLLIN },
		};
		char buf[128];
		ssize_t n;

		if (poll(pfd, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			session_stop(s);
			break;
		}
		if (pfd[2].revents & POLLIN)
			break;
		if (pfd[0].revents) {
			n = recv(w->sock, buf, sizeof(buf) - 1, MSG_DONTWAIT);
			if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR))) {
				/* The supervisor is gone: finish what we have. */
				sock_open = false;
				session_stop(s);
			} else if (n > 0) {
				unsigned stride;
				buf[n] = '\0';
				if (sscanf(buf, "rate %u", &stride) == 1)
					session_set_stride(s, stride);
				else if (strcmp(buf, "snap") == 0)
					worker_snapshot(w, s);
				else if (strcmp(buf, "stop") == 0)
					session_stop(s);
			}
		}
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGUSR1)
					worker_snapshot(w, s);
				else
					session_stop(s);
			}
		}
		if (pfd[3].revents) {
			n = read(w->client, buf, sizeof(buf) - 1);
			if (n <= 0) {
				client_gone = true;
				session_stop(s);
			} else {
				buf[n] = '\0';
				if (strstr(buf, "stop"))
					session_stop(s);
			}
		}
	}
	if (session_join(s) < 0) {
		code = EXIT_INTERNAL;
		if (w->ondemand)
			ctl_reply(w->client, "err", "%d %s", code, "sampling failed");
		goto out;
	}
	p = session_profile(s);
	if (!p) {
		code = EXIT_NO_SAMPLES;
		snprintf(why, sizeof(why), "no samples were taken from PID %d (%s); no profile written",
			 (int)w->pid, session_comm(s));
		log_info("%s: %s", w->label, why);
		if (w->ondemand && !client_gone)
			ctl_reply(w->client, "err", "%d %s", code, why);
		goto out;
	}
	if (!w->ondemand) {
		if (worker_write(w, p, w->formats, session_comm(s)) < 0) {
			code = EXIT_OUTPUT;
		} else {
			log_info("%s: PID %d (%s): %llu samples in %.1f s written to %s", w->label,
				 (int)w->pid, session_comm(s), (unsigned long long)p->total,
				 p->meta.duration, w->dir);
			worker_tell(w, "wrote");
		}
	} else if (client_gone) {
		log_info("%s: the client hung up; profile of PID %d discarded", w->label, (int)w->pid);
	} else {
		code = worker_send(w, p, session_comm(s), dfd);
	}
out:
	profile_free(p);
	session_free(s);
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

/* Forks a worker for w. Returns its PID and the supervisor's end of its
 * socket in *sock, or -1 (logged). */
static pid_t spawn_worker(struct daemon *d, struct work *w, int *sock)
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
		if (d->o->syslog || d->o->detach)
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

/* ------------------------------------------------------------ supervisor */

static struct job *job_by_pid(struct daemon *d, pid_t pid)
{
	for (struct job *j = d->jobs; j; j = j->next)
		if (j->pid == pid)
			return j;
	return NULL;
}

/* The PIDs no target may name: the supervisor and its workers. */
static pid_t *own_pids(struct daemon *d, size_t *n)
{
	pid_t *v = xmalloc((d->njobs + 1) * sizeof(*v));
	size_t k = 0;

	v[k++] = getpid();
	for (struct job *j = d->jobs; j; j = j->next)
		v[k++] = j->wpid;
	*n = k;
	return v;
}

/* Adds a job for a worker just forked. */
static struct job *job_add(struct daemon *d, pid_t wpid, int sock, pid_t pid, unsigned hz,
			   uint64_t now, double duration)
{
	struct job *j = xcalloc(1, sizeof(*j));
	struct proc_info pi;

	j->wpid = wpid;
	j->sock = sock;
	j->pid = pid;
	j->hz = hz;
	j->stride = 1;
	j->started = now;
	j->stop_at = now + (uint64_t)(duration * 1e9) + RUN_GRACE_NS;
	j->kill_at = UINT64_MAX;
	if (proc_read(pid, &pi) == 0)
		memcpy(j->comm, pi.comm, sizeof(j->comm));
	if (clock_getcpuclockid(wpid, &j->clk) == 0)
		j->have_clk = true;
	j->next = d->jobs;
	d->jobs = j;
	d->njobs++;
	if (d->njobs == 1)
		d->next_budget = now + BUDGET_PERIOD_NS;
	return j;
}

/* Unlinks and frees a job whose worker is gone. */
static void job_free(struct daemon *d, struct job *j)
{
	for (struct job **pp = &d->jobs; *pp; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	}
	d->njobs--;
	if (j->sock >= 0)
		close(j->sock);
	free(j->target);
	free(j->dir);
	free(j);
}

/* Sends a worker a command; a worker that is gone is reaped soon. */
static void job_send(struct job *j, const char *msg)
{
	(void)send(j->sock, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Asks a worker to stop sampling and write; kills it if it takes too long. */
static void job_stop(struct job *j, uint64_t now)
{
	if (j->stopping)
		return;
	j->stopping = true;
	j->kill_at = now + KILL_GRACE_NS;
	job_send(j, "stop");
}

/* A label for messages about a job. */
static const char *job_label(const struct job *j, char *buf, size_t len)
{
	char user[64];

	if (j->ondemand)
		snprintf(buf, len, "request of %s", user_name(j->uid, user, sizeof(user)));
	else
		snprintf(buf, len, "target %s", j->target);
	return buf;
}

/* The timetable of the target with this name, or NULL. */
static struct tstate *tstate_by_name(struct daemon *d, const char *name)
{
	for (size_t i = 0; d->ts && i < d->cfg->ntargets; i++)
		if (strcmp(d->ts[i].name, name) == 0)
			return &d->ts[i];
	return NULL;
}

/* A worker has exited: say how it went and apply retention. */
static void job_done(struct daemon *d, struct job *j, int status)
{
	static const char *const why[] = {
		[EXIT_OK] = "profile written",
		[EXIT_INTERNAL] = "internal error",
		[EXIT_USAGE] = "bad request",
		[EXIT_NO_TARGET] = "the process is gone",
		[EXIT_PERM] = "not permitted to trace it",
		[EXIT_TRACED] = "already traced by another tracer",
		[EXIT_OUTPUT] = "the profile could not be written",
		[EXIT_NO_SAMPLES] = "no samples were taken",
	};
	char label[128], what[160];
	struct tstate *ts;
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;

	job_label(j, label, sizeof(label));
	if (code >= 0 && code <= EXIT_NO_SAMPLES)
		snprintf(what, sizeof(what), "%s", why[code]);
	else if (code >= 0)
		snprintf(what, sizeof(what), "worker exited with status %d", code);
	else
		snprintf(what, sizeof(what), "worker killed by SIG%s",
			 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
	if (code == EXIT_OK)
		log_debug("%s: worker %d for PID %d (%s) done", label, (int)j->wpid, (int)j->pid,
			  j->comm);
	else
		log_info("%s: run on PID %d (%s) ended: %s", label, (int)j->pid, j->comm, what);
	if (!j->ondemand) {
		retention_apply(j->dir, &j->keep);
		if ((ts = tstate_by_name(d, j->target))) {
			/* The next run starts where the budget left this one. */
			ts->stride = j->stride;
			snprintf(ts->last, sizeof(ts->last), "PID %d (%.63s): %.100s", (int)j->pid,
				 j->comm, what);
			ts->last_at = mono_ns();
		}
	}
	job_free(d, j);
}

/* Reaps every worker that has exited. */
static void reap(struct daemon *d)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (struct job *j = d->jobs; j; j = j->next) {
			if (j->wpid == pid) {
				job_done(d, j, status);
				break;
			}
		}
	}
}

/* Reads what a worker says. */
static void job_read(struct daemon *d, struct job *j)
{
	char buf[128], label[128];
	ssize_t n = recv(j->sock, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			/* Exiting; SIGCHLD will say how. */
			close(j->sock);
			j->sock = -1;
		}
		return;
	}
	buf[n] = '\0';
	if (strncmp(buf, "attached ", 9) == 0) {
		snprintf(j->comm, sizeof(j->comm), "%.63s", buf + 9);
		log_debug("%s: worker %d attached to PID %d (%s)", job_label(j, label, sizeof(label)),
			  (int)j->wpid, (int)j->pid, j->comm);
	} else if (strcmp(buf, "wrote") == 0 && !j->ondemand) {
		retention_apply(j->dir, &j->keep);
	}
}

/* Starts one scheduled profile of pid for target t, at the rate the budget
 * allowed its last profile. */
static void start_scheduled(struct daemon *d, const struct target_conf *t, unsigned stride,
			    pid_t pid, uint64_t now)
{
	char label[96];
	struct work w = {
		.label = label, .pid = pid, .hz = t->hz, .duration = t->duration, .mode = t->mode,
		.max_depth = t->max_depth, .formats = t->formats, .dir = t->output_dir,
		.stride = stride > 1 && stride <= t->hz ? stride : 1, .sock = -1, .client = -1,
	};
	struct job *j;
	pid_t wpid;
	int sock;

	snprintf(label, sizeof(label), "target %s", t->name);
	wpid = spawn_worker(d, &w, &sock);
	if (wpid < 0)
		return;
	j = job_add(d, wpid, sock, pid, t->hz, now, t->duration);
	j->target = xstrdup(t->name);
	j->dir = xstrdup(t->output_dir);
	j->keep = t->keep;
	j->budget = t->cpu_budget;
	j->stride = w.stride;
	log_debug("target %s: worker %d profiles PID %d (%s) for %gs at %u Hz", t->name, (int)wpid,
		  (int)pid, j->comm, t->duration, t->hz / j->stride);
}

/* A target's time has come: find its processes and profile each. */
static void run_target(struct daemon *d, size_t i, uint64_t now)
{
	const struct target_conf *t = &d->cfg->targets[i];
	struct tstate *ts = &d->ts[i];
	char why[512], iv[32];
	pid_t *pids, *skip;
	size_t n, nskip;
	int dfd;

	/* Age limits apply even while the target is not running. */
	dfd = open(t->output_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		close(dfd);
		retention_apply(t->output_dir, &t->keep);
	}
	skip = own_pids(d, &nskip);
	why[0] = '\0';
	n = schedule_resolve(t, skip, nskip, &pids, why, sizeof(why));
	free(skip);
	if (n == 0) {
		/* Said once per absence, not at every interval. */
		if (!ts->missing)
			log_info("target %s: %s; looking again every %s", t->name, why,
				 fmt_secs(t->interval, iv, sizeof(iv)));
		else
			log_debug("target %s: %s", t->name, why);
		ts->missing = true;
		snprintf(ts->last, sizeof(ts->last), "%s", why);
		ts->last_at = now;
		return;
	}
	if (ts->missing)
		log_info("target %s: found PID %d", t->name, (int)pids[0]);
	ts->missing = false;
	for (size_t k = 0; k < n; k++) {
		struct job *j = job_by_pid(d, pids[k]);
		char label[128];

		if (j) {
			log_info("target %s: PID %d is still being profiled (%s, since %.0f s); this "
				 "run is skipped", t->name, (int)pids[k], job_label(j, label, sizeof(label)),
				 (double)(now - j->started) / 1e9);
			continue;
		}
		if (d->njobs >= d->cfg->max_sessions) {
			log_warn("target %s: %u profiles are running (MaxSessions); PID %d skipped",
				 t->name, d->njobs, (int)pids[k]);
			continue;
		}
		start_scheduled(d, t, ts->stride, pids[k], now);
	}
	free(pids);
}

/* Checks the workers' CPU use over the last second against the budgets,
 * and lowers (or restores) their rates. The total budget is shared evenly
 * among the profiles running. */
static void budget_check(struct daemon *d, uint64_t now)
{
	unsigned n = 0;
	double share;

	for (struct job *j = d->jobs; j; j = j->next) {
		struct timespec ts;
		uint64_t cpu;

		if (j->stopping || !j->have_clk || clock_gettime(j->clk, &ts) < 0)
			continue;
		cpu = (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
		if (j->cpu_at && now > j->cpu_at)
			j->used = 100.0 * (double)(cpu - j->cpu_prev) / (double)(now - j->cpu_at);
		j->cpu_prev = cpu;
		j->cpu_at = now;
		n++;
	}
	share = d->cfg->total_cpu_budget > 0 && n ? d->cfg->total_cpu_budget / n : 0;
	for (struct job *j = d->jobs; j; j = j->next) {
		double budget = j->budget;
		unsigned stride;
		char label[128], msg[32], which[96], h1[16], h2[16];

		if (j->stopping || !j->have_clk || now - j->started < BUDGET_GRACE_NS + BUDGET_PERIOD_NS)
			continue;
		snprintf(which, sizeof(which), "CPUBudget %g%%", budget);
		if (share > 0 && (budget <= 0 || share < budget)) {
			budget = share;
			if (n > 1)
				snprintf(which, sizeof(which), "its share of TotalCPUBudget %g%%: %.3g%%",
					 d->cfg->total_cpu_budget, share);
			else
				snprintf(which, sizeof(which), "TotalCPUBudget %g%%", share);
		}
		stride = budget_stride(j->stride, j->used, budget, j->hz);
		if (stride == j->stride)
			continue;
		job_label(j, label, sizeof(label));
		fmt_hz((double)j->hz / stride, h1, sizeof(h1));
		fmt_hz((double)j->hz / j->stride, h2, sizeof(h2));
		if (stride > j->stride)
			log_info("%s: PID %d: sprofd used %.1f%% of a CPU in the last second, over %s; "
				 "sampling at %s Hz instead of %s Hz", label, (int)j->pid, j->used, which,
				 h1, h2);
		else
			log_info("%s: PID %d: sprofd used %.1f%% of a CPU in the last second, well "
				 "within %s; sampling at %s Hz instead of %s Hz", label, (int)j->pid,
				 j->used, which, h1, h2);
		j->stride = stride;
		snprintf(msg, sizeof(msg), "rate %u", stride);
		job_send(j, msg);
	}
}

/* Fills the timetables for a (new) configuration; targets that keep their
 * name and timing keep their place in time. */
static struct tstate *tstates_new(struct daemon *d, const struct config *c, uint64_t now)
{
	struct tstate *ts = xcalloc(c->ntargets ? c->ntargets : 1, sizeof(*ts));

	for (size_t i = 0; i < c->ntargets; i++) {
		const struct target_conf *t = &c->targets[i];
		struct tstate *old = tstate_by_name(d, t->name);

		ts[i].name = xstrdup(t->name);
		ts[i].interval = t->interval;
		ts[i].jitter = t->jitter;
		if (old && old->interval == t->interval && old->jitter == t->jitter) {
			ts[i].base = old->base;
			ts[i].next = old->next;
			ts[i].missing = old->missing;
			ts[i].stride = old->stride;
			memcpy(ts[i].last, old->last, sizeof(ts[i].last));
			ts[i].last_at = old->last_at;
			continue;
		}
		/* The first run comes after a random part of the jitter, so that
		 * machines started together do not profile in step. */
		ts[i].base = now - (uint64_t)(t->interval * 1e9);
		ts[i].next = schedule_next(&ts[i].base, (uint64_t)(t->interval * 1e9),
					   (uint64_t)(t->jitter * 1e9), now, frac());
	}
	return ts;
}

/* Frees timetables (NULL is fine). */
static void tstates_free(struct tstate *ts, size_t n)
{
	for (size_t i = 0; ts && i < n; i++)
		free(ts[i].name);
	free(ts);
}

/* Opens the control socket the configuration names, if another one. */
static void listen_as_configured(struct daemon *d)
{
	const char *want = d->cfg->control_socket;
	int fd;

	if (want && d->sock_path && strcmp(want, d->sock_path) == 0)
		return;
	fd = want ? ctl_listen(want) : -1;
	if (want && fd < 0) {
		if (d->lfd >= 0)
			log_warn("keeping the control socket %s", d->sock_path);
		return;
	}
	if (d->lfd >= 0) {
		close(d->lfd);
		unlink(d->sock_path);
		free(d->sock_path);
	}
	d->lfd = fd;
	d->sock_path = want ? xstrdup(want) : NULL;
}

/* SIGHUP: reads the configuration again; a bad one changes nothing. */
static void reload(struct daemon *d)
{
	struct config *c = config_load(d->cfg_path);
	struct tstate *ts;

	if (!c) {
		log_err("%s has errors (see above); keeping the configuration loaded before",
			d->cfg_path);
		return;
	}
	notify("RELOADING=1");
	if (strcmp(c->pidfile, d->cfg->pidfile) != 0 && d->o->detach)
		log_info("PidFile changes take effect at the next start");
	ts = tstates_new(d, c, mono_ns());
	tstates_free(d->ts, d->cfg->ntargets);
	config_free(d->cfg);
	d->cfg = c;
	d->ts = ts;
	if (!d->o->verbose)
		log_set_level(c->log_level);
	listen_as_configured(d);
	log_info("reloaded %s: %zu target%s", d->cfg_path, c->ntargets, c->ntargets == 1 ? "" : "s");
	notify("READY=1");
}

/* SIGUSR1: every scheduled profile writes what it has so far. */
static void snapshot_all(struct daemon *d)
{
	unsigned n = 0;

	for (struct job *j = d->jobs; j; j = j->next) {
		if (!j->ondemand && !j->stopping) {
			job_send(j, "snap");
			n++;
		}
	}
	log_info("SIGUSR1: %u profile%s in progress write%s what %s so far", n, n == 1 ? "" : "s",
		 n == 1 ? "s" : "", n == 1 ? "it has" : "they have");
}

/* SIGTERM, SIGINT: every worker stops and writes; no new runs. A second
 * signal kills the workers at once (their targets are only detached). */
static void begin_stop(struct daemon *d, int sig, uint64_t now)
{
	if (d->stopping) {
		log_warn("%s again: killing %u worker%s now", strsignal(sig), d->njobs,
			 d->njobs == 1 ? "" : "s");
		for (struct job *j = d->jobs; j; j = j->next)
			kill(j->wpid, SIGKILL);
		return;
	}
	d->stopping = true;
	notify("STOPPING=1");
	log_info("%s: stopping%s%u profile%s in progress, then exiting", strsignal(sig),
		 d->njobs ? "; writing " : "; ", d->njobs, d->njobs == 1 ? "" : "s");
	if (d->lfd >= 0) {
		close(d->lfd);
		d->lfd = -1;
		unlink(d->sock_path);
	}
	for (struct job *j = d->jobs; j; j = j->next)
		job_stop(j, now);
}

/* ------------------------------------------------------- control socket */

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->len = 0;
}

/* Accepts waiting clients and notes who they are. A user other than root
 * may have only a few connections waiting for their request line, so
 * that one user cannot take every slot from the others. */
static void conn_accept(struct daemon *d, uint64_t now)
{
	for (;;) {
		int fd = accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct conn *c = NULL;
		unsigned mine = 0;
		uid_t uid;
		gid_t gid;
		pid_t pid;

		if (fd < 0)
			return;
		if (ctl_peer(fd, &uid, &gid, &pid) < 0) {
			close(fd);
			continue;
		}
		for (int i = 0; i < MAX_CONNS; i++) {
			if (d->conns[i].fd < 0 && !c)
				c = &d->conns[i];
			else if (d->conns[i].fd >= 0 && d->conns[i].uid == uid)
				mine++;
		}
		if (uid != 0 && mine >= CONNS_PER_USER) {
			ctl_reply(fd, "err", "%d you have %u connections waiting already; try again",
				  EXIT_INTERNAL, mine);
			close(fd);
			continue;
		}
		if (!c) {
			ctl_reply(fd, "err", "%d too many connections; try again", EXIT_INTERNAL);
			close(fd);
			continue;
		}
		c->uid = uid;
		c->gid = gid;
		c->pid = pid;
		c->fd = fd;
		c->len = 0;
		c->deadline = now + CONN_TIMEOUT_NS;
	}
}

/* Answers "status": root sees everything, a user their own profiles. */
static void send_status(struct daemon *d, struct conn *c, uint64_t now)
{
	char a[32], b[32], label[128], user[64];
	bool root = c->uid == 0;

	fmt_secs(whole_secs(now - d->started), a, sizeof(a));
	ctl_reply(c->fd, "out", "sprofd %s: PID %d, up %s, configuration %s", SPROFD_VERSION,
		  (int)getpid(), a, d->cfg_path);
	if (root) {
		ctl_reply(c->fd, "out", "%u profile%s running (MaxSessions %u), TotalCPUBudget %s",
			  d->njobs, d->njobs == 1 ? "" : "s", d->cfg->max_sessions,
			  d->cfg->total_cpu_budget > 0 ? (snprintf(b, sizeof(b), "%g%%",
								  d->cfg->total_cpu_budget), b)
						       : "none");
		for (size_t i = 0; i < d->cfg->ntargets; i++) {
			const struct target_conf *t = &d->cfg->targets[i];
			struct tstate *ts = &d->ts[i];

			ctl_reply(c->fd, "out", "target %s: every %s for %s at %u Hz; next run in %s",
				  t->name, fmt_secs(t->interval, a, sizeof(a)),
				  fmt_secs(t->duration, b, sizeof(b)), t->hz,
				  (fmt_secs(whole_secs(ts->next > now ? ts->next - now : 0),
					    label, sizeof(label)), label));
			if (ts->last_at)
				ctl_reply(c->fd, "out", "  last: %s (%s ago)", ts->last,
					  fmt_secs(whole_secs(now - ts->last_at), a, sizeof(a)));
		}
	}
	for (struct job *j = d->jobs; j; j = j->next) {
		if (!root && (!j->ondemand || j->uid != c->uid))
			continue;
		ctl_reply(c->fd, "out", "running: %s: PID %d (%s) for %.1f s at %s Hz, %.1f%% of a CPU",
			  j->ondemand ? (snprintf(label, sizeof(label), "on demand for %s",
						  user_name(j->uid, user, sizeof(user))), label)
				      : (snprintf(label, sizeof(label), "target %s", j->target), label),
			  (int)j->pid, j->comm, (double)(now - j->started) / 1e9,
			  fmt_hz((double)j->hz / j->stride, a, sizeof(a)), j->used);
	}
	ctl_reply(c->fd, "ok", "%s", "");
}

/* Whether the caller may have pid profiled. Root may profile anything but
 * sprofd itself; a user only a process that is theirs in every user ID and
 * dumpable (so not one that gained privileges), as the kernel would let
 * them trace it themselves. Returns an exit code; why says why not. */
static int authorize(struct daemon *d, const struct conn *c, pid_t pid, struct proc_info *pi,
		     char *why, size_t len)
{
	char who[64], you[64];

	if (proc_read(pid, pi) < 0) {
		snprintf(why, len, "no process with PID %d", (int)pid);
		return EXIT_NO_TARGET;
	}
	if (pid == getpid()) {
		snprintf(why, len, "PID %d is the sprofd daemon itself", (int)pid);
		return EXIT_NO_TARGET;
	}
	for (struct job *j = d->jobs; j; j = j->next) {
		if (j->wpid == pid) {
			snprintf(why, len, "PID %d is a worker of the sprofd daemon", (int)pid);
			return EXIT_NO_TARGET;
		}
	}
	if (c->uid == 0)
		return EXIT_OK;
	for (int i = 0; i < 4; i++) {
		if (pi->uid[i] != c->uid) {
			snprintf(why, len, "PID %d (%s) belongs to %s, not to you (%s): you may profile "
				 "only your own processes", (int)pid, pi->comm,
				 user_name(pi->uid[i], who, sizeof(who)), user_name(c->uid, you, sizeof(you)));
			return EXIT_PERM;
		}
	}
	if (pi->owner != c->uid) {
		snprintf(why, len, "PID %d (%s) runs with privileges it gained or hides (it is not "
			 "dumpable); only root may profile it", (int)pid, pi->comm);
		return EXIT_PERM;
	}
	return EXIT_OK;
}

/* Answers "profile": checks the caller and starts a worker that answers
 * the client itself. */
static void start_ondemand(struct daemon *d, struct conn *c, const struct ctl_request *r,
			   uint64_t now)
{
	char why[512], label[96], user[64], dur[32];
	struct proc_info pi;
	struct job *j;
	unsigned mine = 0;
	double duration = r->duration;
	int code, sock;
	pid_t wpid;

	code = authorize(d, c, r->pid, &pi, why, sizeof(why));
	if (code != EXIT_OK) {
		log_info("request of %s (PID %d) for PID %d refused: %s",
			 user_name(c->uid, user, sizeof(user)), (int)c->pid, (int)r->pid, why);
		ctl_reply(c->fd, "err", "%d %s", code, why);
		return;
	}
	if ((j = job_by_pid(d, r->pid))) {
		ctl_reply(c->fd, "err", "%d PID %d (%s) is already being profiled by this sprofd "
			  "(%s, worker PID %d); try again when it is done", EXIT_TRACED, (int)r->pid,
			  pi.comm, job_label(j, label, sizeof(label)), (int)j->wpid);
		return;
	}
	for (j = d->jobs; j; j = j->next)
		mine += j->ondemand && j->uid == c->uid;
	if (d->njobs >= d->cfg->max_sessions || (c->uid != 0 && mine >= ONDEMAND_PER_USER)) {
		ctl_reply(c->fd, "err", "%d busy: %s; try again later", EXIT_INTERNAL,
			  d->njobs >= d->cfg->max_sessions ? "MaxSessions profiles are running"
							    : "you have profiles running already");
		return;
	}
	if (duration <= 0 || duration > d->cfg->ondemand_max_duration) {
		if (duration > 0)
			ctl_reply(c->fd, "msg", "the duration is limited to %s (OnDemandMaxDuration)",
				  fmt_secs(d->cfg->ondemand_max_duration, dur, sizeof(dur)));
		duration = d->cfg->ondemand_max_duration;
	}
	snprintf(label, sizeof(label), "request of %s", user_name(c->uid, user, sizeof(user)));
	{
		struct work w = {
			.label = label, .ondemand = true, .pid = r->pid, .hz = r->hz,
			.duration = duration, .open_ended = r->duration <= 0, .mode = r->mode,
			.max_depth = SPROFD_DEPTH_DEFAULT,
			.formats = r->formats, .rows = r->rows, .check = c->uid != 0, .uid = c->uid,
			.start = pi.start, .sock = -1, .client = c->fd,
		};
		wpid = spawn_worker(d, &w, &sock);
	}
	if (wpid < 0) {
		ctl_reply(c->fd, "err", "%d cannot start a worker", EXIT_INTERNAL);
		return;
	}
	j = job_add(d, wpid, sock, r->pid, r->hz, now, duration);
	j->ondemand = true;
	j->uid = c->uid;
	log_info("%s (PID %d): profiling PID %d (%s) for %s%s at %u Hz", label, (int)c->pid,
		 (int)r->pid, pi.comm, r->duration > 0 ? "" : "up to ",
		 fmt_secs(duration, dur, sizeof(dur)), r->hz);
}

/* Handles one request line; the connection is closed afterwards (a worker
 * keeps its own copy). */
static void conn_request(struct daemon *d, struct conn *c, const char *line, uint64_t now)
{
	struct ctl_request r;
	char why[256];

	if (ctl_request_parse(line, &r, why, sizeof(why)) < 0) {
		ctl_reply(c->fd, "err", "%d %s", EXIT_USAGE, why);
		return;
	}
	if (d->stopping) {
		ctl_reply(c->fd, "err", "%d the daemon is shutting down", EXIT_INTERNAL);
		return;
	}
	switch (r.cmd) {
	case CTL_STATUS:
		send_status(d, c, now);
		break;
	case CTL_PROFILE:
		start_ondemand(d, c, &r, now);
		break;
	case CTL_RUN: {
		struct tstate *ts = tstate_by_name(d, r.target);
		if (c->uid != 0) {
			ctl_reply(c->fd, "err", "%d only root may start a target's run", EXIT_PERM);
		} else if (!ts) {
			ctl_reply(c->fd, "err", "%d no target named '%s' in %s", EXIT_USAGE, r.target,
				  d->cfg_path);
		} else {
			/* The timer runs it at once; its timetable goes on from now. */
			ts->next = now;
			ts->base = now - (uint64_t)(ts->interval * 1e9);
			log_info("target %s: run requested on the control socket", r.target);
			ctl_reply(c->fd, "msg", "target %s runs now", r.target);
			ctl_reply(c->fd, "ok", "%s", "");
		}
		break;
	}
	}
}

/* Reads from a client until its request line is complete, then answers it. */
static void conn_read(struct daemon *d, struct conn *c, uint64_t now)
{
	ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
	char *nl;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	nl = memchr(c->buf, '\n', c->len);
	/* A NUL would cut the line short of what the client meant. */
	if (memchr(c->buf, '\0', nl ? (size_t)(nl - c->buf) : c->len)) {
		ctl_reply(c->fd, "err", "%d the request holds a NUL byte", EXIT_USAGE);
		conn_close(c);
		return;
	}
	if (!nl) {
		if (c->len == sizeof(c->buf) - 1) {
			ctl_reply(c->fd, "err", "%d request too long: no end of line in %zu bytes",
				  EXIT_USAGE, sizeof(c->buf) - 1);
			conn_close(c);
		}
		return;
	}
	*nl = '\0';
	conn_request(d, c, c->buf, now);
	conn_close(c);
}

/* ------------------------------------------------------------- main loop */

/* Milliseconds until the next timer, for poll (-1: none). */
static int next_timeout(struct daemon *d, uint64_t now)
{
	uint64_t t = UINT64_MAX;

	for (size_t i = 0; !d->stopping && i < d->cfg->ntargets; i++)
		if (d->ts[i].next < t)
			t = d->ts[i].next;
	if (d->jobs && d->next_budget < t)
		t = d->next_budget;
	for (struct job *j = d->jobs; j; j = j->next) {
		uint64_t due = j->stopping ? j->kill_at : j->stop_at;
		if (due < t)
			t = due;
	}
	for (int i = 0; i < MAX_CONNS; i++)
		if (d->conns[i].fd >= 0 && d->conns[i].deadline < t)
			t = d->conns[i].deadline;
	if (t == UINT64_MAX)
		return -1;
	if (t <= now)
		return 0;
	return (t - now) / 1000000 >= INT_MAX ? INT_MAX : (int)((t - now + 999999) / 1000000);
}

/* Does what is due: target runs, overrun workers, the budget, idle clients. */
static void run_timers(struct daemon *d, uint64_t now)
{
	char label[128];

	for (size_t i = 0; !d->stopping && i < d->cfg->ntargets; i++) {
		struct tstate *ts = &d->ts[i];
		const struct target_conf *t = &d->cfg->targets[i];

		if (ts->next > now)
			continue;
		run_target(d, i, now);
		ts->next = schedule_next(&ts->base, (uint64_t)(t->interval * 1e9),
					 (uint64_t)(t->jitter * 1e9), now, frac());
	}
	for (struct job *j = d->jobs; j; j = j->next) {
		if (!j->stopping && now >= j->stop_at) {
			log_warn("%s: the profile of PID %d (%s) overran its duration; stopping it",
				 job_label(j, label, sizeof(label)), (int)j->pid, j->comm);
			job_stop(j, now);
		} else if (j->stopping && now >= j->kill_at) {
			log_err("%s: worker %d did not finish within %llu s of being stopped; killing it "
				"(PID %d is detached and runs on)", job_label(j, label, sizeof(label)),
				(int)j->wpid, KILL_GRACE_NS / NS, (int)j->pid);
			kill(j->wpid, SIGKILL);
			j->kill_at = UINT64_MAX;
		}
	}
	if (d->jobs && now >= d->next_budget) {
		budget_check(d, now);
		d->next_budget = now + BUDGET_PERIOD_NS;
	}
	for (int i = 0; i < MAX_CONNS; i++)
		if (d->conns[i].fd >= 0 && now >= d->conns[i].deadline)
			conn_close(&d->conns[i]);
}

/* Acts on the signals read from the signalfd. */
static void handle_signals(struct daemon *d, uint64_t now)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap(d);
			break;
		case SIGHUP:
			log_info("SIGHUP: reloading %s", d->cfg_path);
			reload(d);
			break;
		case SIGUSR1:
			snapshot_all(d);
			break;
		default:
			begin_stop(d, (int)si.ssi_signo, now);
			break;
		}
	}
}

/* The supervisor's poll loop, until it is stopping and every worker is gone. */
static void loop(struct daemon *d)
{
	struct pollfd *pfd = NULL;
	struct job **pjob = NULL;
	size_t cap = 0, jcap = 0;

	while (!(d->stopping && !d->jobs)) {
		size_t n = 0, first_conn, first_job;
		uint64_t now = mono_ns();
		int timeout = next_timeout(d, now);

		xgrow((void **)&pfd, &cap, 2 + MAX_CONNS + d->njobs, sizeof(*pfd));
		xgrow((void **)&pjob, &jcap, d->njobs + 1, sizeof(*pjob));
		pfd[n++] = (struct pollfd){ .fd = d->sigfd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = d->lfd, .events = POLLIN };
		first_conn = n;
		for (int i = 0; i < MAX_CONNS; i++)
			pfd[n++] = (struct pollfd){ .fd = d->conns[i].fd, .events = POLLIN };
		first_job = n;
		for (struct job *j = d->jobs; j; j = j->next) {
			pjob[n - first_job] = j;
			pfd[n++] = (struct pollfd){ .fd = j->sock, .events = POLLIN };
		}
		if (poll(pfd, n, timeout) < 0 && errno != EINTR) {
			log_err("poll: %s", strerror(errno));
			break;
		}
		now = mono_ns();
		/* Worker messages first: a job may be freed by the signals. */
		for (size_t i = first_job; i < n; i++)
			if (pfd[i].revents)
				job_read(d, pjob[i - first_job]);
		if (pfd[0].revents & POLLIN)
			handle_signals(d, now);
		if (d->lfd >= 0 && pfd[1].fd == d->lfd && (pfd[1].revents & POLLIN))
			conn_accept(d, now);
		for (int i = 0; i < MAX_CONNS; i++)
			if (pfd[first_conn + i].fd >= 0 && pfd[first_conn + i].fd == d->conns[i].fd &&
			    pfd[first_conn + i].revents)
				conn_read(d, &d->conns[i], now);
		run_timers(d, mono_ns());
	}
	free(pfd);
	free(pjob);
}

/* Forks into the background: the parent waits until the daemon says it is
 * ready (or fails), so that its exit status means something. Returns, in
 * the daemon, the descriptor to report readiness on. */
static int detach(void)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0) {
		log_err("cannot create a pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		log_err("cannot fork: %s", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		int status;
		close(p[1]);
		waitpid(pid, &status, 0);
		/* The daemon writes one byte when ready; nothing means it failed
		 * and has said why on stderr. */
		_exit(read(p[0], &c, 1) == 1 ? EXIT_OK : EXIT_INTERNAL);
	}
	close(p[0]);
	setsid();
	pid = fork();
	if (pid != 0)
		_exit(pid < 0 ? EXIT_INTERNAL : EXIT_OK);
	return p[1];
}

/* Writes the pidfile, locked, so that a second daemon with the same one
 * refuses to start. Returns its descriptor (kept open), or -1. */
static int pidfile_write(const char *path)
{
	char buf[32];
	int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	int n;

	if (fd < 0) {
		log_err("cannot open the pidfile %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		log_err("another sprofd holds the pidfile %s", path);
		close(fd);
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || write(fd, buf, (size_t)n) != n || fchmod(fd, 0644) < 0) {
		log_err("cannot write the pidfile %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int daemon_run(const struct daemon_opts *o)
{
	struct daemon d;
	sigset_t sigs;
	char *pidfile = NULL;
	int ready_fd = -1, pid_fd = -1, rc = EXIT_OK;

	memset(&d, 0, sizeof(d));
	d.o = o;
	d.lfd = d.sigfd = -1;
	for (int i = 0; i < MAX_CONNS; i++)
		d.conns[i].fd = -1;
	/* Profiles are for root's eyes (and its group's): 0640 files. */
	umask(027);
	/* As with sprofd -p: libdw must not fetch debug info from the network. */
	unsetenv("DEBUGINFOD_URLS");
	d.cfg_path = realpath(o->config, NULL);
	if (!d.cfg_path)
		d.cfg_path = xstrdup(o->config);
	d.cfg = config_load(d.cfg_path);
	if (!d.cfg) {
		free(d.cfg_path);
		return EXIT_USAGE;
	}
	log_set_level(o->verbose ? LOG_LVL_DEBUG : d.cfg->log_level);
	if (o->detach && (ready_fd = detach()) < 0) {
		rc = EXIT_INTERNAL;
		goto out;
	}
	if (chdir("/") < 0)
		log_warn("cannot change to /: %s", strerror(errno));
	srandom((unsigned)(mono_ns() ^ ((uint64_t)getpid() << 16)));

	/* Every thread of every worker inherits this mask: sessions read
	 * SIGCHLD from a signalfd, and each process reads its own signals. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGCHLD);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	d.sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (d.sigfd < 0) {
		log_err("cannot create a signalfd: %s", strerror(errno));
		rc = EXIT_INTERNAL;
		goto out;
	}
	if (d.cfg->control_socket) {
		listen_as_configured(&d);
		if (d.lfd < 0) {
			rc = EXIT_INTERNAL;
			goto out;
		}
	}
	if (o->detach) {
		pidfile = xstrdup(d.cfg->pidfile);
		if ((pid_fd = pidfile_write(pidfile)) < 0) {
			free(pidfile);
			pidfile = NULL;
			rc = EXIT_INTERNAL;
			goto out;
		}
	}
	d.started = mono_ns();
	d.ts = tstates_new(&d, d.cfg, d.started);
	if (o->syslog && !o->detach)
		log_use_syslog();
	log_info("sprofd %s started: %zu target%s, control socket %s", SPROFD_VERSION,
		 d.cfg->ntargets, d.cfg->ntargets == 1 ? "" : "s",
		 d.sock_path ? d.sock_path : "none");
	if (ready_fd >= 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		log_use_syslog();
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			close(null);
		}
		(void)!write(ready_fd, "", 1);
		close(ready_fd);
		ready_fd = -1;
	}
	{
		char st[128];
		snprintf(st, sizeof(st), "READY=1\nSTATUS=%zu targets; control socket %s",
			 d.cfg->ntargets, d.sock_path ? d.sock_path : "none");
		notify(st);
	}
	loop(&d);
	log_info("stopped");
out:
	if (d.lfd >= 0) {
		close(d.lfd);
		unlink(d.sock_path);
	}
	for (int i = 0; i < MAX_CONNS; i++)
		conn_close(&d.conns[i]);
	while (d.jobs)
		job_free(&d, d.jobs);
	if (pidfile) {
		unlink(pidfile);
		free(pidfile);
	}
	if (pid_fd >= 0)
		close(pid_fd);
	if (d.sigfd >= 0)
		close(d.sigfd);
	if (ready_fd >= 0)
		close(ready_fd);
	tstates_free(d.ts, d.cfg ? d.cfg->ntargets : 0);
	config_free(d.cfg);
	free(d.sock_path);
	free(d.cfg_path);
	return rc;
}
