/* maps.c: /proc/PID/maps parsing and address lookup (see maps.h). */
#include "maps.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static int expect(const char **pp, const char *end, char c)
{
	if (*pp >= end || **pp != c)
		return -1;
	(*pp)++;
	return 0;
}

/* Parses one line "start-end perms offset maj:min inode   path". */
static int parse_line(const char *p, const char *end, struct map_entry *e,
		      const char **path, size_t *pathlen)
{
	uint64_t maj, min, ino = 0;

	memset(e, 0, sizeof(*e));
	if (!parse_hex(&p, end, &e->start) || expect(&p, end, '-') ||
	    !parse_hex(&p, end, &e->end) || expect(&p, end, ' '))
		return -1;
	if (end - p < 5 || e->end <= e->start)
		return -1;
	e->r = p[0] == 'r';
	e->w = p[1] == 'w';
	e->x = p[2] == 'x';
	e->p = p[3] == 'p';
	p += 4;
	if (expect(&p, end, ' ') || !parse_hex(&p, end, &e->pgoff) || expect(&p, end, ' ') ||
	    !parse_hex(&p, end, &maj) || expect(&p, end, ':') || !parse_hex(&p, end, &min) ||
	    expect(&p, end, ' '))
		return -1;
	for (; p < end && *p >= '0' && *p <= '9'; p++)
		ino = ino * 10 + (uint64_t)(*p - '0');
	e->dev_major = (unsigned)maj;
	e->dev_minor = (unsigned)min;
	e->ino = ino;
	while (p < end && *p == ' ')
		p++;
	*path = p;
	*pathlen = (size_t)(end - p);
	if (*pathlen >= 10 && memcmp(end - 10, " (deleted)", 10) == 0) {
		e->deleted = true;
		*pathlen -= 10;
	}
	return 0;
}

/* How /proc/PID/maps writes a newline in a path: the only byte it escapes
 * (seq_file_path with "\n"); a backslash is written as it is. */
#define MAPS_NL "\\012"
#define MAPS_NL_LEN 4
#define MAPS_DELETED " (deleted)"
#define MAPS_DELETED_LEN 10

/* Copies a path of n bytes as maps shows it to out, each "\012" back to
 * the newline it stands for; returns the length copied (at most n). */
static size_t maps_unescape(char *out, const char *in, size_t n)
{
	size_t o = 0, i = 0;

	while (i < n) {
		if (n - i >= MAPS_NL_LEN && memcmp(in + i, MAPS_NL, MAPS_NL_LEN) == 0) {
			out[o++] = '\n';
			i += MAPS_NL_LEN;
		} else
			out[o++] = in[i++];
	}
	return o;
}

/* Whether maps shows the path of n bytes as the rn bytes of raw. */
static bool maps_shows_as(const char *path, size_t n, const char *raw, size_t rn)
{
	size_t j = 0;

	for (size_t i = 0; i < n; i++) {
		if (path[i] == '\n') {
			if (rn - j < MAPS_NL_LEN || memcmp(raw + j, MAPS_NL, MAPS_NL_LEN) != 0)
				return false;
			j += MAPS_NL_LEN;
		} else if (j == rn || raw[j++] != path[i])
			return false;
	}
	return j == rn;
}

/* Since a backslash is not escaped, "\012" in maps is a newline or those
 * four characters of the name. The mapping's /proc/PID/map_files link
 * (which needs only the right to read the process's maps) has the name as
 * it is; it is taken if maps shows it as raw (the mapping may have been
 * replaced meanwhile). out has room for rn bytes and holds the unescaped
 * guess of n bytes; returns the length of what it holds then. */
static size_t maps_resolve(pid_t pid, const struct map_entry *e, const char *raw, size_t rn,
			   char *out, size_t n)
{
	size_t cap = rn + MAPS_DELETED_LEN + 1, len;
	char link[96], *buf = xmalloc(cap);
	ssize_t r;

	snprintf(link, sizeof(link), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)pid, e->start,
		 e->end);
	r = readlink(link, buf, cap);
	if (r > 0 && (size_t)r < cap) {
		len = (size_t)r;
		/* The link names a deleted file as maps does. */
		if (e->deleted && len >= MAPS_DELETED_LEN &&
		    memcmp(buf + len - MAPS_DELETED_LEN, MAPS_DELETED, MAPS_DELETED_LEN) == 0)
			len -= MAPS_DELETED_LEN;
		if (maps_shows_as(buf, len, raw, rn)) {
			memcpy(out, buf, len);
			n = len;
		}
	}
	free(buf);
	return n;
}

/* Parses maps text; pid, if not 0, is the process it was read from, whose
 * map_files settle what an escaped path is. */
static struct maps *maps_parse_pid(const char *text, size_t len, pid_t pid)
{
	struct maps *m = xcalloc(1, sizeof(*m));
	size_t cap = 0, off = 0;
	size_t *pathoff = NULL, pcap = 0;
	const char *p = text, *end = text + len;

	/* Paths are copied into one buffer; offsets fixed up at the end. A
	 * path is never longer than its text in the line. */
	m->text = xmalloc(len + 1);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		struct map_entry e;
		const char *path;
		size_t plen, n;

		if (parse_line(p, le, &e, &path, &plen) == 0) {
			xgrow((void **)&m->v, &cap, m->n + 1, sizeof(*m->v));
			xgrow((void **)&pathoff, &pcap, m->n + 1, sizeof(size_t));
			n = maps_unescape(m->text + off, path, plen);
			if (n != plen && pid > 0)
				n = maps_resolve(pid, &e, path, plen, m->text + off, n);
			m->text[off + n] = '\0';
			pathoff[m->n] = off;
			off += n + 1;
			m->v[m->n++] = e;
		}
		p = nl ? nl + 1 : end;
	}
	for (size_t i = 0; i < m->n; i++)
		m->v[i].path = m->text + pathoff[i];
	free(pathoff);
	return m;
}

struct maps *maps_parse(const char *text, size_t len)
{
	return maps_parse_pid(text, len, 0);
}

struct maps *maps_read(pid_t pid)
{
	char path[64], *buf = NULL;
	size_t len = 0, cap = 0;
	struct maps *m;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	for (;;) {
		ssize_t r;
		xgrow((void **)&buf, &cap, len + 65536, 1);
		r = read(fd, buf + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			free(buf);
			errno = e;
			return NULL;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	m = maps_parse_pid(buf ? buf : "", len, pid);
	free(buf);
	return m;
}

const struct map_entry *maps_find(const struct maps *m, uint64_t addr)
{
	size_t lo = 0, hi = m ? m->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct map_entry *e = &m->v[mid];
		if (addr < e->start)
			hi = mid;
		else if (addr >= e->end)
			lo = mid + 1;
		else
			return e;
	}
	return NULL;
}

void maps_free(struct maps *m)
{
	if (!m)
		return;
	free(m->v);
	free(m->text);
	free(m);
}
