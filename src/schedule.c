/* schedule.c: timing, process selection, retention and the overhead
 * controller of the daemon (see schedule.h). */
#include "schedule.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "output.h"
#include "procfs.h"
#include "util.h"

/* A writer's temporary file this old is left over from a crash. */
#define STALE_TEMP_SECS 3600

/* Reads a small file relative to dirfd into buf (NUL-terminated). */
static ssize_t read_at(int dirfd, const char *name, char *buf, size_t size)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t n, total = 0;

	if (fd < 0)
		return -1;
	while ((size_t)total < size - 1 &&
	       (n = read(fd, buf + total, size - 1 - (size_t)total)) > 0)
		total += n;
	close(fd);
	buf[total] = '\0';
	return total;
}

int proc_read(pid_t pid, struct proc_info *pi)
{
	char path[64], buf[4096];
	struct procfs_stat ps;
	long uid[4];
	struct stat st;
	ssize_t n;
	int dfd, rc = -1;

	memset(pi, 0, sizeof(*pi));
	pi->pid = pid;
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	/* The files in /proc/PID belong to root while the process is not
	 * dumpable; the directory itself keeps its user's ID whatever. */
	if (fstatat(dfd, "stat", &st, 0) < 0 || (n = read_at(dfd, "stat", buf, sizeof(buf))) <= 0)
		goto out;
	pi->owner = st.st_uid;
	if (procfs_parse_stat(buf, (size_t)n, &ps) < 0)
		goto out;
	snprintf(pi->comm, sizeof(pi->comm), "%s", ps.comm);
	pi->state = ps.state;
	pi->ppid = ps.ppid;
	pi->start = ps.start;
	pi->kthread = (ps.flags & PROCFS_PF_KTHREAD) != 0;
	if ((n = read_at(dfd, "status", buf, sizeof(buf))) <= 0 ||
	    procfs_status_field(buf, (size_t)n, "Uid", uid, 4) != 4)
		goto out;
	for (int i = 0; i < 4; i++)
		pi->uid[i] = (uid_t)uid[i];
	rc = 0;
out:
	close(dfd);
	return rc;
}

/* Whether pid is one of skip. */
static bool skipped(pid_t pid, const pid_t *skip, size_t nskip)
{
	for (size_t i = 0; i < nskip; i++)
		if (skip[i] == pid)
			return true;
	return false;
}

/* Reads the PID from a pidfile, refusing files that someone other than
 * root and the process's own user could have written. */
static pid_t read_pidfile(const char *path, uid_t *owner, char *why, size_t len)
{
	char buf[64], *end;
	struct stat st;
	ssize_t n;
	long v;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		snprintf(why, len, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, len, "%s is not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, len, "%s is writable by group or others (mode %04o), so it could name "
			 "any process; not used", path, (unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
		end++;
	if (n <= 0 || errno || end == buf || *end || v <= 0 || v > 4194304) {
		snprintf(why, len, "%s does not hold a process ID", path);
		return -1;
	}
	*owner = st.st_uid;
	return (pid_t)v;
}

/* Whether a process matches an exe or cmdline target. */
static bool proc_matches(const struct target_conf *t, int dfd)
{
	char buf[4096];
	ssize_t n;

	if (t->kind == PROC_EXE) {
		size_t alen = strlen(t->arg);
		n = readlinkat(dfd, "exe", buf, sizeof(buf) - 1);
		if (n <= 0)
			return false;
		buf[n] = '\0';
		/* A binary replaced by an upgrade shows as "PATH (deleted)". */
		return strcmp(buf, t->arg) == 0 ||
		       (strncmp(buf, t->arg, alen) == 0 && strcmp(buf + alen, " (deleted)") == 0);
	}
	n = read_at(dfd, "cmdline", buf, sizeof(buf));
	if (n <= 0)
		return false;
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	return t->has_re && regexec(&t->re, buf, 0, NULL, 0) == 0;
}

/* Whether a candidate can be profiled at all and passes the User filter. */
static bool proc_usable(const struct target_conf *t, const struct proc_info *pi)
{
	if (pi->kthread || pi->state == 'Z' || pi->state == 'X')
		return false;
	return !t->has_user || pi->uid[1] == t->uid;
}

/* Whether pid is one of the n processes of m. */
static bool matched(pid_t pid, const struct proc_info *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (m[i].pid == pid)
			return true;
	return false;
}

/* Keeps those of the n matches m that descend from no other (the roots of
 * their trees: an nginx master, not its workers), in place; returns how
 * many. Ancestors that do not match are looked through. */
static size_t tree_roots(struct proc_info *m, size_t n)
{
	bool *inner_of = xcalloc(n ? n : 1, sizeof(bool));
	size_t kept = 0;

	for (size_t i = 0; i < n; i++) {
		pid_t p = m[i].ppid;
		bool inner = false;

		/* A bound on the walk: a parent that exits meanwhile ends it. */
		for (int depth = 0; p > 1 && depth < 256 && !inner; depth++) {
			struct procfs_stat ps;

			inner = matched(p, m, n);
			if (inner || procfs_read_stat(p, 0, &ps) < 0)
				break;
			p = ps.ppid;
		}
		inner_of[i] = inner;
	}
	for (size_t i = 0; i < n; i++)
		if (!inner_of[i])
			m[kept++] = m[i];
	free(inner_of);
	return kept;
}

size_t schedule_resolve(const struct target_conf *t, const pid_t *skip, size_t nskip,
			pid_t **pids, char *why, size_t len)
{
	struct proc_info pi, best, *all = NULL;
	size_t n = 0, cap = 0, pcap = 0;
	struct dirent *de;
	DIR *d;

	*pids = NULL;
	if (t->kind == PROC_PID || t->kind == PROC_PIDFILE) {
		uid_t owner = 0;
		pid_t pid = t->kind == PROC_PID ? t->pid : read_pidfile(t->arg, &owner, why, len);

		if (pid <= 0)
			return 0;
		if (proc_read(pid, &pi) < 0) {
			snprintf(why, len, "no process with PID %d%s%s", (int)pid,
				 t->kind == PROC_PIDFILE ? " (from " : "",
				 t->kind == PROC_PIDFILE ? t->arg : "");
			if (t->kind == PROC_PIDFILE)
				strncat(why, ")", len - strlen(why) - 1);
			return 0;
		}
		if (skipped(pid, skip, nskip)) {
			snprintf(why, len, "PID %d is sprofd's own", (int)pid);
			return 0;
		}
		/* A user's pidfile may name that user's processes only. */
		if (owner != 0 && pi.uid[1] != owner) {
			snprintf(why, len, "%s belongs to uid %u but names PID %d of uid %u; not used",
				 t->arg, (unsigned)owner, (int)pid, (unsigned)pi.uid[1]);
			return 0;
		}
		if (!proc_usable(t, &pi)) {
			snprintf(why, len, "PID %d (%s) is %s", (int)pid, pi.comm,
				 pi.kthread ? "a kernel thread" :
				 (pi.state == 'Z' || pi.state == 'X') ? "a zombie" :
				 "not run by the configured User");
			return 0;
		}
		*pids = xmalloc(sizeof(pid_t));
		(*pids)[0] = pid;
		return 1;
	}

	d = opendir("/proc");
	if (!d) {
		snprintf(why, len, "cannot read /proc: %s", strerror(errno));
		return 0;
	}
	memset(&best, 0, sizeof(best));
	while ((de = readdir(d))) {
		char *end;
		long v = strtol(de->d_name, &end, 10);
		int dfd;
		bool match;

		if (*end || v <= 0 || skipped((pid_t)v, skip, nskip))
			continue;
		dfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			continue;
		match = proc_matches(t, dfd);
		close(dfd);
		if (!match || proc_read((pid_t)v, &pi) < 0 || !proc_usable(t, &pi))
			continue;
		xgrow((void **)&all, &cap, n + 1, sizeof(*all));
		all[n++] = pi;
	}
	closedir(d);
	if (t->children)
		n = tree_roots(all, n);
	for (size_t i = 0; i < n; i++) {
		if (t->select == SELECT_NEWEST) {
			if (i == 0 || all[i].start > best.start ||
			    (all[i].start == best.start && all[i].pid > best.pid))
				best = all[i];
			continue;
		}
		xgrow((void **)pids, &pcap, i + 1, sizeof(pid_t));
		(*pids)[i] = all[i].pid;
	}
	free(all);
	if (n == 0) {
		snprintf(why, len, "no process %s %s%s%s", t->kind == PROC_EXE ? "runs" : "matches",
			 t->arg, t->has_user ? " as user " : "", t->has_user ? t->user : "");
		return 0;
	}
	if (t->select == SELECT_NEWEST) {
		*pids = xmalloc(sizeof(pid_t));
		(*pids)[0] = best.pid;
		return 1;
	}
	return n;
}

uint64_t schedule_next(uint64_t *base, uint64_t interval, uint64_t jitter, uint64_t now,
		       double frac)
{
	uint64_t b = *base + interval;

	if (b < now)
		b = now;
	*base = b;
	if (frac < 0)
		frac = 0;
	return b + (uint64_t)((double)jitter * (frac < 1 ? frac : 0));
}

/* A profile: the files that share a PID and start time. */
struct rprof {
	uint32_t pid;
	uint64_t time;
	double mtime;      /* newest file */
	uint64_t bytes, files;
	size_t first;      /* index into the sorted order */
};

struct rent {
	size_t idx;        /* into files */
	uint32_t pid;
	uint64_t time;
};

/* Groups the files of one profile together (by start time, then PID). */
static int cmp_rent(const void *a, const void *b)
{
	const struct rent *x = a, *y = b;

	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* Newest first; ties by start time, then PID, so the order is total. */
static int cmp_rprof(const void *a, const void *b)
{
	const struct rprof *x = a, *y = b;

	if (x->mtime != y->mtime)
		return x->mtime > y->mtime ? -1 : 1;
	if (x->time != y->time)
		return x->time > y->time ? -1 : 1;
	return x->pid > y->pid ? -1 : x->pid < y->pid;
}

size_t retention_plan(struct rfile *files, size_t n, const struct keep *keep, double now)
{
	struct rent *ents = xmalloc((n ? n : 1) * sizeof(*ents));
	struct rprof *profs = xmalloc((n ? n : 1) * sizeof(*profs));
	size_t ne = 0, np = 0, marked = 0;
	uint64_t kept_files = 0, kept_bytes = 0;
	bool cut = false;

	for (size_t i = 0; i < n; i++) {
		uint32_t pid;
		uint64_t time;
		bool temp;

		files[i].drop = false;
		if (!output_parse_name(files[i].name, &pid, &time, &temp))
			continue;
		if (temp) {
			if (now - files[i].mtime > STALE_TEMP_SECS) {
				files[i].drop = true;
				marked++;
			}
			continue;
		}
		ents[ne++] = (struct rent){ i, pid, time };
	}
	qsort(ents, ne, sizeof(*ents), cmp_rent);
	for (size_t i = 0; i < ne; i++) {
		struct rfile *f = &files[ents[i].idx];

		if (np == 0 || profs[np - 1].pid != ents[i].pid || profs[np - 1].time != ents[i].time)
			profs[np++] = (struct rprof){ ents[i].pid, ents[i].time, f->mtime, 0, 0, i };
		profs[np - 1].bytes += f->size;
		profs[np - 1].files++;
		if (f->mtime > profs[np - 1].mtime)
			profs[np - 1].mtime = f->mtime;
	}
	qsort(profs, np, sizeof(*profs), cmp_rprof);
	for (size_t i = 0; i < np; i++) {
		struct rprof *p = &profs[i];

		kept_files += p->files;
		kept_bytes += p->bytes;
		if (i > 0 && !cut &&
		    ((keep->max_files && kept_files > keep->max_files) ||
		     (keep->max_bytes && kept_bytes > keep->max_bytes) ||
		     (keep->max_age > 0 && now - p->mtime > keep->max_age)))
			cut = true;
		if (!cut)
			continue;
		for (size_t j = p->first; j < p->first + p->files; j++) {
			files[ents[j].idx].drop = true;
			marked++;
		}
	}
	free(ents);
	free(profs);
	return marked;
}

int retention_apply(const char *dir, const struct keep *keep)
{
	struct rfile *files = NULL;
	size_t n = 0, cap = 0, marked;
	struct dirent *de;
	struct stat st;
	struct timespec now;
	uint64_t freed = 0;
	int dfd, removed = 0;
	DIR *d;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		log_err("retention: cannot open %s: %s", dir, strerror(errno));
		return -1;
	}
	/* Only a directory that no one else can write into is ours to prune. */
	if (fstat(dfd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		log_err("retention: %s must belong to uid %u and not be writable by group or "
			"others; nothing removed", dir, (unsigned)geteuid());
		close(dfd);
		return -1;
	}
	d = fdopendir(dfd);
	if (!d) {
		log_err("retention: cannot read %s: %s", dir, strerror(errno));
		close(dfd);
		return -1;
	}
	while ((de = readdir(d))) {
		uint32_t pid;
		uint64_t t;
		bool temp;

		if (!output_parse_name(de->d_name, &pid, &t, &temp))
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
		    st.st_uid != geteuid())
			continue;
		xgrow((void **)&files, &cap, n + 1, sizeof(*files));
		files[n++] = (struct rfile){ xstrdup(de->d_name), (uint64_t)st.st_size,
					     (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9,
					     false };
	}
	clock_gettime(CLOCK_REALTIME, &now);
	marked = retention_plan(files, n, keep, (double)now.tv_sec + now.tv_nsec / 1e9);
	for (size_t i = 0; i < n && marked; i++) {
		if (!files[i].drop)
			continue;
		if (unlinkat(dfd, files[i].name, 0) == 0) {
			removed++;
			freed += files[i].size;
		} else if (errno != ENOENT) {
			log_warn("retention: cannot remove %s/%s: %s", dir, files[i].name,
				 strerror(errno));
		}
	}
	if (removed)
		log_info("retention: removed %d file%s (%llu bytes) from %s", removed,
			 removed == 1 ? "" : "s", (unsigned long long)freed, dir);
	for (size_t i = 0; i < n; i++)
		free((char *)files[i].name);
	free(files);
	closedir(d);
	return removed;
}

unsigned budget_stride(unsigned cur, double used, double budget, unsigned max)
{
	double want;
	uint64_t w;

	if (cur < 1)
		cur = 1;
	if (max < 1)
		max = 1;
	if (budget <= 0)
		return 1;
	if (used > budget) {
		want = (double)cur * used / (budget * 0.8);
		w = (uint64_t)want;
		want = (double)w < want ? (double)(w + 1) : (double)w;   /* ceil, without libm */
		if (want < cur + 1)
			want = cur + 1;
		return want > max ? max : (unsigned)want;
	}
	if (used < budget * 0.4 && cur > 1)
		return cur / 2;
	return cur;
}
