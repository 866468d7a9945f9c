/* schedule.h: the daemon's policies, kept out of its event loop so that
 * each can be tested alone: when a target runs next, which processes it
 * names right now, which of its profiles are kept, and how far to lower a
 * profile's sampling rate to stay within a CPU budget. Also the facts about
 * a process that those decisions and the control socket's permission
 * check read from /proc. */
#ifndef SPROFD_SCHEDULE_H
#define SPROFD_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct keep;
struct target_conf;

/* ---- processes ---- */

struct proc_info {
	pid_t pid;
	pid_t ppid;
	uid_t uid[4];       /* real, effective, saved, file system */
	uid_t owner;        /* of /proc/PID: root when the process is not dumpable */
	uint64_t start;     /* start time in clock ticks after boot: with the PID,
			     * names one process for good */
	char state;         /* R, S, D, Z, ... */
	bool kthread;
	char comm[64];
};

/* Reads what /proc says about pid. Returns 0, or -1 if there is no such
 * process. */
int proc_read(pid_t pid, struct proc_info *pi);

/* The processes target t names now, leaving out those in skip (sprofd's
 * own): their PIDs in *pids (malloc'd; the newest only, unless the target
 * selects all), and their count. With Children yes, a match descended from
 * another match is left out: it is in that one's tree, profiled (and its
 * cost counted against the budget) with it. With none, returns 0 and says
 * why in why. */
size_t schedule_resolve(const struct target_conf *t, const pid_t *skip, size_t nskip,
			pid_t **pids, char *why, size_t len);

/* ---- time ---- */

/* The next start of a target. *base is the jitter-free time of its last
 * start (for the first run, now - interval); the next one is base +
 * interval, or now if that has passed (runs missed while the machine slept
 * are not made up), plus jitter times frac (0 <= frac < 1). Updates *base.
 * All times in ns. */
uint64_t schedule_next(uint64_t *base, uint64_t interval, uint64_t jitter, uint64_t now,
		       double frac);

/* ---- retention ---- */

/* A file of an output directory, as retention sees it. */
struct rfile {
	const char *name;
	uint64_t size;
	double mtime;       /* seconds */
	bool drop;          /* set by retention_plan */
};

/* Marks the files to delete: the profiles (groups of files of one profile)
 * are ranked newest first; the newest is always kept, and from the first
 * one that is older than keep->max_age or would bring the kept files or
 * bytes above max_files or max_bytes, it and every older one go.
 * Temporary files left by a writer that died go when older than an hour.
 * Files that are not sprofd's are never marked. Returns the count marked. */
size_t retention_plan(struct rfile *files, size_t n, const struct keep *keep, double now);
/* Applies retention to the directory dir: only regular files owned by us
 * whose names output_parse_name accepts are considered. Returns the
 * number of files removed, or -1 (logged) if dir is unusable. */
int retention_apply(const char *dir, const struct keep *keep);

/* ---- overhead ---- */

/* The stride (sample every stride-th tick) a profile should use next,
 * given the stride it has, the share of one CPU (percent) its worker used
 * over the last window, and its budget (percent; 0: none). Over budget:
 * large enough to bring the use to 80% of the budget, at most max. Under
 * 40% of it: half, at least 1. Else unchanged. */
unsigned budget_stride(unsigned cur, double used, double budget, unsigned max);

#endif
