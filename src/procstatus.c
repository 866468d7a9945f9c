/* procstatus.c: numeric fields of /proc/PID/status (see procstatus.h). */
#include "procstatus.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

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
int proc_status_field(const char *text, size_t len, const char *key, long *vals, size_t max)
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
int proc_status_read(pid_t pid, const char *key, long *vals, size_t max)
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
		n = proc_status_field(buf, len, key, vals, max);
	close(fd);
	free(buf);
	return n;
}
