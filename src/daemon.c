/* daemon.c: the supervisor (see daemon.h): the configuration and its
 * reloads, each target's timetable, the workers (worker.c) it forks and
 * reaps, their CPU budgets, the signals, and the answers to control
 * socket requests, which need all of these.
 *
 * The supervisor is single-threaded and never traces anything: one poll
 * loop over a signalfd (SIGCHLD, SIGHUP, SIGUSR1, SIGTERM, SIGINT), the
 * control socket's descriptors (ctl.h's server) and one socket per worker
 * (the messages of workermsg.h). Timers (the next run of each target, the
 * budget check, overrun deadlines, idle clients) set the poll timeout.
 * Starting as a service (background, pidfile, systemd) is service.c's. */
#include "daemon.h"

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
#include "service.h"
#include "sprofd.h"
#include "util.h"
#include "worker.h"
#include "workermsg.h"

#define NS 1000000000ull
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

struct daemon {
	const struct daemon_opts *o;
	char *cfg_path;
	struct config *cfg;
	struct tstate *ts;         /* parallel to cfg->targets */
	struct job *jobs;
	unsigned njobs;
	int sigfd;
	struct ctl_server *ctl;
	bool stopping;
	uint64_t started, next_budget;
};

/* ---------------------------------------------------------------- helpers */

/* A uniform random number in [0, 1), for jitter. */
static double frac(void)
{
	return (double)random() / ((double)RAND_MAX + 1.0);
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
static void job_send(struct job *j, enum wmsg_kind kind, unsigned stride)
{
	struct wmsg m = { .kind = kind, .stride = stride };

	wmsg_send(j->sock, &m);
}

/* Asks a worker to stop sampling and write; kills it if it takes too long. */
static void job_stop(struct job *j, uint64_t now)
{
	if (j->stopping)
		return;
	j->stopping = true;
	j->kill_at = now + KILL_GRACE_NS;
	job_send(j, WMSG_STOP, 0);
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
static void job_read(struct job *j)
{
	char label[128];
	struct wmsg m;
	int rc = wmsg_recv(j->sock, &m);

	if (rc < 0) {
		/* Exiting; SIGCHLD will say how. */
		close(j->sock);
		j->sock = -1;
		return;
	}
	if (rc == 0)
		return;
	if (m.kind == WMSG_ATTACHED) {
		snprintf(j->comm, sizeof(j->comm), "%s", m.comm);
		log_debug("%s: worker %d attached to PID %d (%s)", job_label(j, label, sizeof(label)),
			  (int)j->wpid, (int)j->pid, j->comm);
	} else if (m.kind == WMSG_WROTE && !j->ondemand) {
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
		.children = t->children, .max_depth = t->max_depth, .no_python = !t->python,
		.formats = t->formats, .dir = t->output_dir, .split = t->split,
		.stride = stride > 1 && stride <= t->hz ? stride : 1, .sock = -1, .client = -1,
	};
	struct job *j;
	pid_t wpid;
	int sock;

	snprintf(label, sizeof(label), "target %s", t->name);
	wpid = worker_spawn(&w, d->o->syslog || d->o->detach, &sock);
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
		char label[128], which[96], h1[16], h2[16];

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
		job_send(j, WMSG_RATE, stride);
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
	service_notify("RELOADING=1");
	if (strcmp(c->pidfile, d->cfg->pidfile) != 0 && d->o->detach)
		log_info("PidFile changes take effect at the next start");
	ts = tstates_new(d, c, mono_ns());
	tstates_free(d->ts, d->cfg->ntargets);
	config_free(d->cfg);
	d->cfg = c;
	d->ts = ts;
	if (!d->o->verbose)
		log_set_level(c->log_level);
	(void)ctl_server_listen(d->ctl, c->control_socket);
	log_info("reloaded %s: %zu target%s", d->cfg_path, c->ntargets, c->ntargets == 1 ? "" : "s");
	service_notify("READY=1");
}

/* SIGUSR1: every scheduled profile writes what it has so far. */
static void snapshot_all(struct daemon *d)
{
	unsigned n = 0;

	for (struct job *j = d->jobs; j; j = j->next) {
		if (!j->ondemand && !j->stopping) {
			job_send(j, WMSG_SNAP, 0);
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
	service_notify("STOPPING=1");
	log_info("%s: stopping%s%u profile%s in progress, then exiting", strsignal(sig),
		 d->njobs ? "; writing " : "; ", d->njobs, d->njobs == 1 ? "" : "s");
	ctl_server_shut(d->ctl);
	for (struct job *j = d->jobs; j; j = j->next)
		job_stop(j, now);
}

/* ------------------------------------------------------- control socket */

/* Answers "status": root sees everything, a user their own profiles. */
static void send_status(struct daemon *d, const struct ctl_caller *c, uint64_t now)
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
static int authorize(struct daemon *d, const struct ctl_caller *c, pid_t pid, struct proc_info *pi,
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
static void start_ondemand(struct daemon *d, const struct ctl_caller *c, const struct ctl_request *r,
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
	/* A descendant may run as another user (a setuid program): the
	 * checks above cover the one process named. */
	if (code == EXIT_OK && r->children && c->uid != 0) {
		code = EXIT_PERM;
		snprintf(why, sizeof(why), "only root may profile a process with its children");
	}
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
			.children = r->children, .max_depth = SPROFD_DEPTH_DEFAULT,
			.formats = r->formats, .rows = r->rows, .check = c->uid != 0, .uid = c->uid,
			.split = r->split[0] ? r->split : NULL,
			.start = pi.start, .sock = -1, .client = c->fd,
		};
		wpid = worker_spawn(&w, d->o->syslog || d->o->detach, &sock);
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

/* Answers one request (ctl_handler) from what the daemon knows. */
static void on_request(void *arg, const struct ctl_caller *c, const struct ctl_request *r,
		       uint64_t now)
{
	struct daemon *d = arg;

	if (d->stopping) {
		ctl_reply(c->fd, "err", "%d the daemon is shutting down", EXIT_INTERNAL);
		return;
	}
	switch (r->cmd) {
	case CTL_STATUS:
		send_status(d, c, now);
		break;
	case CTL_PROFILE:
		start_ondemand(d, c, r, now);
		break;
	case CTL_RUN: {
		struct tstate *ts = tstate_by_name(d, r->target);
		if (c->uid != 0) {
			ctl_reply(c->fd, "err", "%d only root may start a target's run", EXIT_PERM);
		} else if (!ts) {
			ctl_reply(c->fd, "err", "%d no target named '%s' in %s", EXIT_USAGE, r->target,
				  d->cfg_path);
		} else {
			/* The timer runs it at once; its timetable goes on from now. */
			ts->next = now;
			ts->base = now - (uint64_t)(ts->interval * 1e9);
			log_info("target %s: run requested on the control socket", r->target);
			ctl_reply(c->fd, "msg", "target %s runs now", r->target);
			ctl_reply(c->fd, "ok", "%s", "");
		}
		break;
	}
	}
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
	if (ctl_server_deadline(d->ctl) < t)
		t = ctl_server_deadline(d->ctl);
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
	ctl_server_expire(d->ctl, now);
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
		size_t n = 0, first_ctl, first_job;
		uint64_t now = mono_ns();
		int timeout = next_timeout(d, now);

		xgrow((void **)&pfd, &cap, 1 + CTL_SERVER_NFDS + d->njobs, sizeof(*pfd));
		xgrow((void **)&pjob, &jcap, d->njobs + 1, sizeof(*pjob));
		pfd[n++] = (struct pollfd){ .fd = d->sigfd, .events = POLLIN };
		first_ctl = n;
		ctl_server_pollfds(d->ctl, pfd + n);
		n += CTL_SERVER_NFDS;
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
				job_read(pjob[i - first_job]);
		if (pfd[0].revents & POLLIN)
			handle_signals(d, now);
		ctl_server_serve(d->ctl, pfd + first_ctl, now);
		run_timers(d, mono_ns());
	}
	free(pfd);
	free(pjob);
}

int daemon_run(const struct daemon_opts *o)
{
	struct daemon d;
	sigset_t sigs;
	char *pidfile = NULL;
	int ready_fd = -1, pid_fd = -1, rc = EXIT_OK;

	memset(&d, 0, sizeof(d));
	d.o = o;
	d.sigfd = -1;
	d.ctl = ctl_server_new(on_request, &d);
	/* Profiles are for root's eyes (and its group's): 0640 files. */
	umask(027);
	/* As with sprofd -p: libdw must not fetch debug info from the network. */
	unsetenv("DEBUGINFOD_URLS");
	d.cfg_path = realpath(o->config, NULL);
	if (!d.cfg_path)
		d.cfg_path = xstrdup(o->config);
	d.cfg = config_load(d.cfg_path);
	if (!d.cfg) {
		ctl_server_free(d.ctl);
		free(d.cfg_path);
		return EXIT_USAGE;
	}
	log_set_level(o->verbose ? LOG_LVL_DEBUG : d.cfg->log_level);
	if (o->detach && (ready_fd = service_detach()) < 0) {
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
		if (ctl_server_listen(d.ctl, d.cfg->control_socket) < 0) {
			rc = EXIT_INTERNAL;
			goto out;
		}
	}
	if (o->detach) {
		pidfile = xstrdup(d.cfg->pidfile);
		if ((pid_fd = service_pidfile(pidfile)) < 0) {
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
		 ctl_server_path(d.ctl) ? ctl_server_path(d.ctl) : "none");
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
			 d.cfg->ntargets, ctl_server_path(d.ctl) ? ctl_server_path(d.ctl) : "none");
		service_notify(st);
	}
	loop(&d);
	log_info("stopped");
out:
	ctl_server_free(d.ctl);
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
	free(d.cfg_path);
	return rc;
}
