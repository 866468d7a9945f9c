/* perfmap.c: JIT symbols from /tmp/perf-PID.map (see perfmap.h). */
#include "perfmap.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "procfs.h"
#include "util.h"

/* Largest piece of the file read at once; a longer line is skipped. */
#define PERFMAP_CHUNK (1 << 20)

struct perfmap_ent {
	uint64_t lo, hi;
	uint64_t maxhi;     /* largest hi of this and all earlier entries */
	size_t seq;         /* order in the file: a later entry wins */
	const char *name;   /* interned in names */
};

struct perfmap {
	char *open_path;    /* where we read it: through /proc/PID/root */
	char *path;         /* as the target names it */
	bool check_owner;
	uid_t uids[4];      /* the target's real, effective, saved, fs uids */
	struct strtab *names;
	struct perfmap_ent *v;
	size_t n, cap;
	bool sorted;
	dev_t dev;
	ino_t ino;
	off_t off;          /* bytes consumed: up to the last complete line */
	bool warned;
};

/* An empty map reading open_path, shown as path. */
static struct perfmap *perfmap_alloc(char *open_path, char *path)
{
	struct perfmap *pm = xcalloc(1, sizeof(*pm));

	pm->open_path = open_path;
	pm->path = path;
	pm->names = strtab_new();
	pm->sorted = true;
	return pm;
}

/* The target writes /tmp/perf-N.map with N its pid as it sees it: the last
 * NSpid entry when it lives in a pid namespace. */
struct perfmap *perfmap_new(pid_t pid)
{
	/* One entry per pid namespace level, of which there are at most 32. */
	long ns[33], uids[4];
	int n = procfs_status_read(pid, "NSpid", ns, 33);
	long inner = n > 0 ? ns[n - 1] : (long)pid;
	struct perfmap *pm;

	pm = perfmap_alloc(xasprintf("/proc/%ld/root/tmp/perf-%ld.map", (long)pid, inner),
	    xasprintf("/tmp/perf-%ld.map", inner));
	pm->check_owner = true;
	n = procfs_status_read(pid, "Uid", uids, 4);
	for (int i = 0; i < 4; i++)
		pm->uids[i] = i < n ? (uid_t)uids[i] : 0;
	return pm;
}

/* A map of a file named directly, trusted whoever owns it. */
struct perfmap *perfmap_open(const char *path)
{
	return perfmap_alloc(xstrdup(path), xstrdup(path));
}

/* Parses one hex number with an optional 0x; advances *p. */
static bool perfmap_hex(const char **p, const char *end, uint64_t *out)
{
	const char *s = *p;

	if (end - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	if (!parse_hex(&s, end, out))
		return false;
	*p = s;
	return true;
}

/* Adds the entry of one line "START SIZE NAME"; false if malformed. */
static bool perfmap_line(struct perfmap *pm, const char *p, const char *end)
{
	uint64_t lo, size;
	struct perfmap_ent *e;

	while (end > p && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (!perfmap_hex(&p, end, &lo) || p == end || *p != ' ')
		return false;
	while (p < end && *p == ' ')
		p++;
	if (!perfmap_hex(&p, end, &size) || p == end || *p != ' ' || size == 0 ||
	    lo + size < lo)
		return false;
	while (p < end && *p == ' ')
		p++;
	if (p == end)
		return false;
	xgrow((void **)&pm->v, &pm->cap, pm->n + 1, sizeof(*pm->v));
	e = &pm->v[pm->n];
	e->lo = lo;
	e->hi = lo + size;
	e->seq = pm->n++;
	e->name = strtab_intern_n(pm->names, p, (size_t)(end - p));
	pm->sorted = false;
	return true;
}

/* Adds the entries of every line of text; a line without its newline at
 * the end counts too. */
size_t perfmap_add_text(struct perfmap *pm, const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	size_t added = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;

		added += perfmap_line(pm, p, eol);
		p = nl ? nl + 1 : end;
	}
	return added;
}

/* Forgets every entry, for a file that was replaced or truncated. */
static void perfmap_reset(struct perfmap *pm)
{
	strtab_free(pm->names);
	pm->names = strtab_new();
	pm->n = 0;
	pm->off = 0;
	pm->sorted = true;
}

/* Whether a file owned by uid may speak for the target: written by the
 * target itself, by root, or by whoever runs sprofd (as perf requires). */
static bool perfmap_owner_ok(const struct perfmap *pm, uid_t uid)
{
	if (!pm->check_owner || uid == 0 || uid == geteuid())
		return true;
	for (size_t i = 0; i < 4; i++)
		if (pm->uids[i] == uid)
			return true;
	return false;
}

/* Reads the complete lines appended since the last call, starting over
 * when the file is another one or shorter than what was read. */
int perfmap_refresh(struct perfmap *pm)
{
	size_t before = pm->n;
	struct stat st;
	char *buf;
	int fd;

	if ((fd = open(pm->open_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -1;
	}
	if (!perfmap_owner_ok(pm, st.st_uid)) {
		if (!pm->warned)
			log_warn("symbols: ignoring %s: owned by uid %ld, not by the target or root",
			    pm->path, (long)st.st_uid);
		pm->warned = true;
		close(fd);
		return -1;
	}
	if (st.st_dev != pm->dev || st.st_ino != pm->ino || st.st_size < pm->off) {
		perfmap_reset(pm);
		before = 0;
		pm->dev = st.st_dev;
		pm->ino = st.st_ino;
	}
	buf = xmalloc(PERFMAP_CHUNK);
	while (pm->off < st.st_size) {
		ssize_t got = pread(fd, buf, PERFMAP_CHUNK, pm->off);
		char *nl;

		if (got <= 0)
			break;
		/* Only complete lines: the writer may be mid-line. */
		if (!(nl = memrchr(buf, '\n', (size_t)got))) {
			if (got < PERFMAP_CHUNK)
				break;
			pm->off += got;   /* a line longer than a chunk: skip it */
			continue;
		}
		perfmap_add_text(pm, buf, (size_t)(nl - buf));
		pm->off += nl - buf + 1;
	}
	free(buf);
	close(fd);
	if (pm->n > before)
		log_debug("symbols: %zu JIT symbols from %s", pm->n, pm->path);
	return pm->n > before ? 1 : 0;
}

/* qsort order: by start, then file order. */
static int perfmap_cmp(const void *a, const void *b)
{
	const struct perfmap_ent *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sorts the entries when new ones came, then finds the latest entry that
 * contains addr. */
const char *perfmap_lookup(struct perfmap *pm, uint64_t addr, uint64_t *start)
{
	const struct perfmap_ent *best = NULL;
	size_t lo = 0, hi = pm->n;

	if (!pm->sorted) {
		qsort(pm->v, pm->n, sizeof(*pm->v), perfmap_cmp);
		for (size_t i = 0; i < pm->n; i++)
			pm->v[i].maxhi = i > 0 && pm->v[i - 1].maxhi > pm->v[i].hi ?
			    pm->v[i - 1].maxhi : pm->v[i].hi;
		pm->sorted = true;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pm->v[mid].lo <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Of all entries containing addr, the one written last. */
	for (size_t i = lo; i-- > 0 && pm->v[i].maxhi > addr;)
		if (addr < pm->v[i].hi && (!best || pm->v[i].seq > best->seq))
			best = &pm->v[i];
	if (!best)
		return NULL;
	if (start)
		*start = best->lo;
	return best->name;
}

/* The path the target wrote, for frames to show. */
const char *perfmap_path(const struct perfmap *pm)
{
	return pm->path;
}

/* Entries read so far. */
size_t perfmap_count(const struct perfmap *pm)
{
	return pm->n;
}

/* Frees the map and its names; accepts NULL. */
void perfmap_free(struct perfmap *pm)
{
	if (!pm)
		return;
	strtab_free(pm->names);
	free(pm->v);
	free(pm->open_path);
	free(pm->path);
	free(pm);
}
