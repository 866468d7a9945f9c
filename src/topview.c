/* topview.c: the rows, order, keys and lines of sprofd top (see topview.h). */
#include "topview.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "util.h"

/* Per function of p's stack view (fns), the samples of thread tid (0: all)
 * of process pid (0: all) with it as the leaf and anywhere on the stack;
 * returns the samples. */
static uint64_t count_fns(const struct profile *p, pid_t tid, pid_t pid, uint64_t *self,
			  uint64_t *total)
{
	uint64_t *seen = xcalloc(p->nfns ? p->nfns : 1, sizeof(*seen));
	uint64_t samples = 0;

	for (size_t i = 0; i < p->nstacks; i++) {
		const struct pstack *s = &p->stacks[i];
		bool leaf = true;

		if ((tid && s->tid != tid) || (pid && s->pid != pid))
			continue;
		samples += s->count;
		for (uint32_t k = 0; k < s->n; k++) {
			const struct ploc *l = &p->locs[p->stack_locs[s->loc + k]];
			for (uint32_t f = 0; f < l->nframes; f++) {
				uint32_t fn = p->frames[l->frame + f].fn;
				if (leaf)
					self[fn] += s->count;
				leaf = false;
				/* Recursion: once per sample. */
				if (seen[fn] != i + 1) {
					seen[fn] = i + 1;
					total[fn] += s->count;
				}
			}
		}
	}
	free(seen);
	return samples;
}

static uint64_t key_hash(const char *name, const char *file, int line)
{
	uint64_t h = hash_bytes(name, strlen(name), 0x70705f746f70ull);

	h = hash_bytes(file, strlen(file), h);
	return hash_u64(h ^ (uint64_t)(unsigned)line);
}

/* The row of (name, file, line), made if create; index + 1, or 0. The map
 * goes from a key's hash (probed on by one where two keys collide) to the
 * row's index + 1. */
static size_t find_row(struct top_rows *rows, size_t *cap, struct u64map *map,
		       const struct pfn *fn, bool create)
{
	uint64_t h = key_hash(fn->name, fn->file, fn->line), v;

	for (;; h++) {
		const struct top_row *r;
		if (!u64map_get(map, h, &v))
			break;
		r = &rows->v[v - 1];
		if (r->line == fn->line && strcmp(r->name, fn->name) == 0 &&
		    strcmp(r->file, fn->file) == 0)
			return (size_t)v;
	}
	if (!create)
		return 0;
	xgrow((void **)&rows->v, cap, rows->n + 1, sizeof(*rows->v));
	rows->v[rows->n] = (struct top_row){ .name = fn->name, .file = fn->file, .line = fn->line };
	u64map_put(map, h, ++rows->n);
	return rows->n;
}

void top_rows_build(struct top_rows *rows, const struct profile *prev,
		    const struct profile *cur, pid_t tid, pid_t pid)
{
	struct u64map *map = u64map_new();
	uint64_t *self = xcalloc(cur->nfns + 1, sizeof(*self));
	uint64_t *total = xcalloc(cur->nfns + 1, sizeof(*total));
	size_t cap = 0;

	memset(rows, 0, sizeof(*rows));
	rows->csamples = count_fns(cur, tid, pid, self, total);
	for (size_t i = 0; i < cur->nfns; i++) {
		size_t k;
		struct top_row *r;
		if (!total[i])
			continue;
		k = find_row(rows, &cap, map, &cur->fns[i], true);
		r = &rows->v[k - 1];   /* after find_row, which may move rows->v */
		r->cself += self[i];
		r->ctotal += total[i];
	}
	free(self);
	free(total);
	for (size_t i = 0; i < rows->n; i++) {
		rows->v[i].self = rows->v[i].cself;
		rows->v[i].total = rows->v[i].ctotal;
	}
	rows->samples = rows->csamples;
	if (prev) {
		uint64_t before;
		self = xcalloc(prev->nfns + 1, sizeof(*self));
		total = xcalloc(prev->nfns + 1, sizeof(*total));
		before = count_fns(prev, tid, pid, self, total);
		rows->samples = rows->csamples > before ? rows->csamples - before : 0;
		for (size_t i = 0; i < prev->nfns; i++) {
			size_t k;
			struct top_row *r;
			if (!total[i] || !(k = find_row(rows, &cap, map, &prev->fns[i], false)))
				continue;
			r = &rows->v[k - 1];
			/* Counts only grow between snapshots of one session;
			 * a clamp keeps a stray key from wrapping around. */
			r->self = r->self > self[i] ? r->self - self[i] : 0;
			r->total = r->total > total[i] ? r->total - total[i] : 0;
		}
		free(self);
		free(total);
	}
	u64map_free(map);
}

static int cmp_name(const struct top_row *a, const struct top_row *b)
{
	int c = strcmp(a->name, b->name);

	if (!c)
		c = strcmp(a->file, b->file);
	if (!c && a->line != b->line)
		c = a->line < b->line ? -1 : 1;
	return c;
}

static int cmp_rows(const void *x, const void *y, void *arg)
{
	const struct top_state *st = arg;
	const struct top_row *a = x, *b = y;
	uint64_t ka = 0, kb = 0, ta, tb;
	int c = 0;

	if (st->sort == TOP_SORT_NAME) {
		c = cmp_name(a, b);
		return st->reverse ? -c : c;
	}
	if (st->sort == TOP_SORT_SELF) {
		ka = st->cumulative ? a->cself : a->self;
		kb = st->cumulative ? b->cself : b->self;
		ta = st->cumulative ? a->ctotal : a->total;
		tb = st->cumulative ? b->ctotal : b->total;
	} else {
		ka = st->cumulative ? a->ctotal : a->total;
		kb = st->cumulative ? b->ctotal : b->total;
		ta = st->cumulative ? a->cself : a->self;
		tb = st->cumulative ? b->cself : b->self;
	}
	if (ka != kb)
		c = ka > kb ? -1 : 1;
	else if (ta != tb)
		c = ta > tb ? -1 : 1;
	if (st->reverse)
		c = -c;
	/* Ties by name A..Z either way, so the order never flickers. */
	return c ? c : cmp_name(a, b);
}

void top_rows_sort(struct top_rows *rows, const struct top_state *st)
{
	if (rows->n > 1)
		qsort_r(rows->v, rows->n, sizeof(*rows->v), cmp_rows, (void *)st);
}

void top_rows_free(struct top_rows *rows)
{
	if (!rows)
		return;
	free(rows->v);
	memset(rows, 0, sizeof(*rows));
}

/* The id after cur in ids[0..n) (the first after 0), or 0 (all) after
 * the last or when cur is gone. */
static pid_t next_id(pid_t cur, const pid_t *ids, size_t n)
{
	size_t i = 0;

	if (cur) {
		while (i < n && ids[i] != cur)
			i++;
		i++;
	}
	return i < n ? ids[i] : 0;
}

enum top_action top_key(struct top_state *st, int ch, const pid_t *tids, size_t ntids,
			const pid_t *pids, size_t npids)
{
	switch (ch) {
	case 'q':
	case 'Q':
		return TOP_KEY_QUIT;
	case 's':
	case 't':
	case 'n': {
		enum top_sort s = ch == 's' ? TOP_SORT_SELF : ch == 't' ? TOP_SORT_TOTAL : TOP_SORT_NAME;
		/* As in top: choosing the same key again keeps the direction. */
		if (s != st->sort)
			st->reverse = false;
		st->sort = s;
		return TOP_KEY_REDRAW;
	}
	case 'r':
		st->reverse = !st->reverse;
		return TOP_KEY_REDRAW;
	case 'c':
		st->cumulative = !st->cumulative;
		return TOP_KEY_REDRAW;
	case 'p':
	case ' ':
		st->paused = !st->paused;
		return TOP_KEY_REDRAW;
	case 'h':
	case '?':
		st->help = !st->help;
		return TOP_KEY_REDRAW;
	case 'a':
		st->tid = 0;
		st->pid = 0;
		return TOP_KEY_REDRAW;
	case 'T':
		st->tid = next_id(st->tid, tids, ntids);
		return TOP_KEY_REDRAW;
	case 'P':
		/* A process is shown whole: a thread chosen before may
		 * belong to another. */
		st->pid = next_id(st->pid, pids, npids);
		st->tid = 0;
		return TOP_KEY_REDRAW;
	default:
		return TOP_KEY_NONE;
	}
}

/* Copies src into buf for at most width columns (0: no limit but len - 1
 * bytes), control characters as '?'; a cut line ends in '>'. A UTF-8
 * sequence counts as one column and is never split. */
static char *fit(char *buf, size_t len, int width, const char *src)
{
	size_t o = 0, last = 0, cols = 0, max = width > 0 ? (size_t)width : SIZE_MAX;
	const unsigned char *s = (const unsigned char *)src;

	if (!len)
		return buf;
	while (*s) {
		size_t n = 1;
		if (*s >= 0xc0)
			while (n < 4 && (s[n] & 0xc0) == 0x80)
				n++;
		if (cols + 1 > max || o + n + 1 > len) {
			/* Cut: the last column shows that something is missing. */
			if (o > 0) {
				o = last;
				buf[o++] = '>';
			}
			break;
		}
		last = o;
		if (n == 1 && (*s < 0x20 || *s >= 0x7f)) {
			buf[o++] = '?';
		} else {
			memcpy(buf + o, s, n);
			o += n;
		}
		s += n;
		cols++;
	}
	buf[o] = '\0';
	return buf;
}

static double pct(uint64_t n, uint64_t of)
{
	return of ? 100.0 * (double)n / (double)of : 0.0;
}

char *top_format_columns(char *buf, size_t len, int width)
{
	return fit(buf, len, width, "  SELF%  TOTAL%  CSELF% CTOTAL%  FUNCTION (SOURCE:LINE)");
}

/* The base name of a path. */
static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

char *top_format_row(char *buf, size_t len, int width, const struct top_row *r,
		     uint64_t samples, uint64_t csamples)
{
	char *line;

	if (!*r->file || strcmp(r->file, "~") == 0)
		line = xasprintf("%7.1f %7.1f %7.1f %7.1f  %s", pct(r->self, samples),
				 pct(r->total, samples), pct(r->cself, csamples),
				 pct(r->ctotal, csamples), r->name);
	else if (r->line > 0)
		line = xasprintf("%7.1f %7.1f %7.1f %7.1f  %s (%s:%d)", pct(r->self, samples),
				 pct(r->total, samples), pct(r->cself, csamples),
				 pct(r->ctotal, csamples), r->name, base(r->file), r->line);
	else
		line = xasprintf("%7.1f %7.1f %7.1f %7.1f  %s (%s)", pct(r->self, samples),
				 pct(r->total, samples), pct(r->cself, csamples),
				 pct(r->ctotal, csamples), r->name, base(r->file));
	fit(buf, len, width, line);
	free(line);
	return buf;
}

char *top_format_header(char *buf, size_t len, int width, const struct top_info *in)
{
	char procs[32] = "";
	char *line;

	if (in->processes > 1)
		snprintf(procs, sizeof(procs), "%u processes, ", in->processes);
	line = xasprintf("PID %d (%s)%s%s: %s%u thread%s, %u Hz %s, %" PRIu64 " samples, "
			 "interval %.1f s, sprofd %.1f%% CPU", (int)in->pid, in->comm,
			 in->python && *in->python ? ", python " : "",
			 in->python && *in->python ? in->python : "", procs, in->threads,
			 in->threads == 1 ? "" : "s", in->hz, in->mode, in->samples,
			 in->interval, in->own_cpu);

	fit(buf, len, width, line);
	free(line);
	return buf;
}

char *top_format_status(char *buf, size_t len, int width, const struct top_state *st,
			const char *thread_name, const char *proc_name)
{
	static const char *const sorts[] = { "self", "total", "name" };
	char *line, *proc;

	if (st->help)
		return fit(buf, len, width,
			   "q quit  s/t/n sort by self/total/name  r reverse  c interval/since start"
			   "  p pause  T next thread  P next process  a all  h help");
	proc = proc_name ? xasprintf("process: %s; ", proc_name) : xstrdup("");
	if (st->sort == TOP_SORT_NAME)
		line = xasprintf("sort: name%s; %sthread: %s%s; h help", st->reverse ? ", Z-A" : "",
				 proc, thread_name ? thread_name : "all", st->paused ? "; PAUSED" : "");
	else
		line = xasprintf("sort: %s %s%s; %sthread: %s%s; h help", sorts[st->sort],
				 st->cumulative ? "since start" : "in interval",
				 st->reverse ? ", smallest first" : "", proc,
				 thread_name ? thread_name : "all", st->paused ? "; PAUSED" : "");
	fit(buf, len, width, line);
	free(line);
	free(proc);
	return buf;
}
