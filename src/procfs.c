/* procfs.c: parsers and thin readers of /proc files (see procfs.h). */
#include "procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* Big enough for any stat line: 52 fields of at most 20 digits. */
#define STAT_MAX 2048

ssize_t procfs_read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;
	ssize_t n, total = 0;

	if (fd < 0)
		return -1;
	while ((size_t)total < size - 1) {
		n = read(fd, buf + total, size - 1 - (size_t)total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			close(fd);
			errno = err;
			return -1;
		}
		if (n == 0)
			break;
		total += n;
	}
	close(fd);
	buf[total] = '\0';
	return total;
}

/* The last ')' of stat text, which ends the name, or NULL. */
static const char *stat_name_end(const char *text, size_t len)
{
	return memrchr(text, ')', len);
}

char procfs_stat_state(const char *text, size_t len)
{
	const char *rp = stat_name_end(text, len), *end = text + len;

	if (!rp || end - rp < 3 || rp[1] != ' ')
		return 0;
	return rp[2];
}

/* Reads the word at *pp (up to a blank or end) as an unsigned decimal
 * number when v is not NULL, else just skips it; then the blank after it.
 * Returns false for an empty word, or when v is set and the word is not a
 * number that fits. */
static bool stat_word(const char **pp, const char *end, unsigned long long *v)
{
	const char *p = *pp, *start = p;
	unsigned long long x = 0;

	for (; p < end && *p != ' ' && *p != '\n'; p++) {
		if (!v)
			continue;
		if (*p < '0' || *p > '9' || x > (ULLONG_MAX - (unsigned)(*p - '0')) / 10)
			return false;
		x = x * 10 + (unsigned)(*p - '0');
	}
	if (p == start)
		return false;
	if (v)
		*v = x;
	if (p < end && *p == ' ')
		p++;
	*pp = p;
	return true;
}

int procfs_parse_stat(const char *text, size_t len, struct procfs_stat *out)
{
	const char *lp = memchr(text, '(', len), *rp = stat_name_end(text, len);
	const char *end = text + len, *p;
	unsigned long long flags = 0, start = 0, ppid = 0;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (!lp || !rp || rp < lp || end - rp < 3 || rp[1] != ' ')
		return -1;
	n = (size_t)(rp - lp - 1);
	if (n > sizeof(out->comm) - 1)
		n = sizeof(out->comm) - 1;
	memcpy(out->comm, lp + 1, n);
	out->comm[n] = '\0';
	out->state = rp[2];
	p = rp + 3;
	if (p >= end || *p != ' ')
		return -1;
	p++;
	/* Fields 4 (ppid) to 22 (start time); 9 is the flags. */
	for (int f = 4; f <= 22; f++) {
		unsigned long long *v = f == 4 ? &ppid : f == 9 ? &flags : f == 22 ? &start : NULL;

		if (!stat_word(&p, end, v))
			return -1;
	}
	if (flags > ULONG_MAX || ppid > INT_MAX)
		return -1;
	out->flags = (unsigned long)flags;
	out->ppid = (pid_t)ppid;
	out->start = start;
	return 0;
}

int procfs_read_stat(pid_t pid, pid_t tid, struct procfs_stat *out)
{
	char path[96], buf[STAT_MAX];
	ssize_t n;

	if (tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((n = procfs_read_small(path, buf, sizeof(buf))) < 0)
		return -1;
	if (procfs_parse_stat(buf, (size_t)n, out) < 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int procfs_parse_schedstat(const char *text, size_t len, uint64_t *ns)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
		if (v > (UINT64_MAX - (unsigned)(text[i] - '0')) / 10)
			return -1;
		v = v * 10 + (unsigned)(text[i] - '0');
	}
	if (i == 0)
		return -1;
	*ns = v;
	return 0;
}

int procfs_read_comm(pid_t pid, pid_t tid, char *out, size_t size)
{
	char path[96];
	ssize_t n;

	if (tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, (int)tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	n = procfs_read_small(path, out, size);
	if (n <= 0) {
		snprintf(out, size, "?");
		return -1;
	}
	/* Only the newline that ends the file: the name may hold others. */
	if (out[n - 1] == '\n')
		out[n - 1] = '\0';
	return 0;
}

/* status */

/* Reads the numbers of one line's value part, p to end, into vals; a word
 * that is not a whole number that fits a long ends the list. */
static int status_values(const char *p, const char *end, long *vals, size_t max)
{
	size_t n = 0;

	while (n < max && n < INT_MAX) {
		const char *start;
		long v = 0;

		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		for (start = p; p < end && *p >= '0' && *p <= '9'; p++) {
			int d = *p - '0';

			if (v > (LONG_MAX - d) / 10)
				return (int)n;
			v = v * 10 + d;
		}
		if (p == start || (p < end && *p != ' ' && *p != '\t'))
			break;
		vals[n++] = v;
	}
	return (int)n;
}

/* Only a line that starts with the name and its colon is the field, so
 * "Pid" is never read from "TracerPid:" nor "Uid" from "Uidx:". */
int procfs_status_field(const char *text, size_t len, const char *key, long *vals, size_t max)
{
	size_t klen = strlen(key);
	const char *p = text, *end = text + len;

	if (klen > 0 && key[klen - 1] == ':')
		klen--;
	if (klen == 0)
		return -1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;

		if ((size_t)(eol - p) > klen && memcmp(p, key, klen) == 0 && p[klen] == ':')
			return status_values(p + klen + 1, eol, vals, max);
		p = nl ? nl + 1 : end;
	}
	return -1;
}

/* Reads the whole file: a long Groups line must not push the fields after
 * it out of a fixed buffer. */
int procfs_status_read(pid_t pid, const char *key, long *vals, size_t max)
{
	char path[64], *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t r;
	int fd, n = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	for (;;) {
		xgrow((void **)&buf, &cap, len + 4096, 1);
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	if (r == 0)
		n = procfs_status_field(buf, len, key, vals, max);
	close(fd);
	free(buf);
	return n;
}

size_t procfs_descendants(pid_t pid, pid_t **out)
{
	struct { pid_t pid, ppid; } *all = NULL;
	size_t n = 0, cap = 0, nout = 0, outcap = 0, next = 0;
	struct dirent *de;
	DIR *d = opendir("/proc");

	*out = NULL;
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		struct procfs_stat ps;
		pid_t p = (pid_t)atoi(de->d_name);

		if (p <= 0 || procfs_read_stat(p, 0, &ps) < 0)
			continue;
		xgrow((void **)&all, &cap, n + 1, sizeof(*all));
		all[n].pid = p;
		all[n].ppid = ps.ppid;
		n++;
	}
	closedir(d);
	/* Breadth first from pid: each parent before its children. */
	for (pid_t parent = pid;; parent = (*out)[next++]) {
		for (size_t i = 0; i < n; i++) {
			if (all[i].ppid != parent)
				continue;
			xgrow((void **)out, &outcap, nout + 1, sizeof(**out));
			(*out)[nout++] = all[i].pid;
		}
		if (next >= nout)
			break;
	}
	free(all);
	return nout;
}
