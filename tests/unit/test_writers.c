/* test_writers.c: the stack view of a profile (threads, lines, inline
 * frames), each output format written from a small profile worked out by
 * hand and read back (pprof through a protobuf decoder of its own), file
 * names, and the speed of writing every format for a big profile. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "output.h"
#include "profile.h"
#include "stacks.h"
#include "suites.h"
#include "symbols.h"
#include "util.h"
#include "writer.h"

/* ---- a fake symbolizer ---- */

#define FR(fn, fl, ln, src) \
	{ .func = (fn), .file = (fl), .line = (ln), .module = "app", .src_line = (src) }

static const struct wfake {
	uint64_t addr;
	int n;
	struct sym_frame frames[2];
} wfakes[] = {
	{ 0x100, 1, { FR("main", "/src/m.c", 1, 5) } },
	{ 0x200, 1, { FR("a", "/src/m.c", 10, 12) } },
	{ 0x300, 1, { FR("b", "/src/m.c", 20, 22) } },
	{ 0x310, 1, { FR("b", "/src/m.c", 20, 23) } },   /* another line of b */
	/* inl (a header's function) inlined into c at line 33 */
	{ 0x500, 2, { { .func = "inl", .file = "/src/h.h", .line = 40, .module = "app",
			.inlined = true, .src_line = 41 },
		      FR("c", "/src/c.c", 30, 33) } },
	{ 0x600, 1, { { .func = "x<y>&\"z\" bad\xff;name", .file = "/src/w.c", .line = 50,
			.module = "libw.so", .src_line = 0 } } },
};

static int wfake_lookup(void *ctx, uint64_t addr, const struct sym_frame **frames)
{
	for (size_t i = 0; i < sizeof(wfakes) / sizeof(wfakes[0]); i++) {
		if (wfakes[i].addr == addr) {
			*frames = wfakes[i].frames;
			return wfakes[i].n;
		}
	}
	return 0;
}

static void wstack(struct stacktab *st, uint64_t count, pid_t tid, ...)
{
	uint64_t pcs[64];
	uint32_t n = 0;
	va_list ap;

	va_start(ap, tid);
	while ((pcs[n] = va_arg(ap, uint64_t)) != 0)
		n++;
	va_end(ap);
	stacktab_add(st, pcs, n, tid, false, count);
}

#define WSTACK(st, count, tid, ...) wstack((st), (count), (tid), __VA_ARGS__, (uint64_t)0)

/* The small profile, 10 samples at 100 Hz:
 *   3 x main -> a -> b(22)         tid 1 "main"
 *   2 x main -> a -> b(23)         tid 2 "worker"
 *   1 x main -> c -> inl           tid 1
 *   4 x main -> a -> b -> b(22)    tid 1 */
static void small_stacks(struct stacktab *st)
{
	WSTACK(st, 3, 1, 0x300, 0x200, 0x100);
	WSTACK(st, 2, 2, 0x310, 0x200, 0x100);
	WSTACK(st, 1, 1, 0x500, 0x100);
	WSTACK(st, 4, 1, 0x300, 0x300, 0x200, 0x100);
}

static struct profile *small_profile(struct stacktab *st, bool threads, bool lines)
{
	struct profile_meta meta = {
		.pid = 4242, .comm = "myserver", .nthreads = 2, .duration = 0.1, .hz = 100,
		.start_time = 1700000000,
	};
	struct profile_opts opts = { .threads = threads, .lines = lines };
	struct u64map *names = u64map_new();
	struct profile *p;

	u64map_put(names, 1, (uint64_t)(uintptr_t)"main");
	u64map_put(names, 2, (uint64_t)(uintptr_t)"worker");
	meta.thread_names = names;
	small_stacks(st);
	p = profile_build(st, wfake_lookup, NULL, &meta, &opts);
	u64map_free(names);
	return p;
}

/* Writes p through w into a string the caller frees; *len gets its size. */
static char *write_mem(const struct writer *w, const struct profile *p, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(w->write(p, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	if (len)
		*len = n;
	return buf;
}

static int find_fn(const struct profile *p, const char *name)
{
	for (size_t i = 0; i < p->nfns; i++)
		if (strcmp(p->fns[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int find_pfunc(const struct profile *p, const char *file, int line, const char *name)
{
	for (size_t i = 0; i < p->nfuncs; i++)
		if (strcmp(p->funcs[i].file, file) == 0 && p->funcs[i].line == line &&
		    strcmp(p->funcs[i].name, name) == 0)
			return (int)i;
	return -1;
}

static const struct pedge *find_pedge(const struct profile *p, int caller, int callee)
{
	for (size_t i = 0; i < p->nedges; i++)
		if ((int)p->edges[i].caller == caller && (int)p->edges[i].callee == callee)
			return &p->edges[i];
	return NULL;
}

/* ---- the stack view ---- */

START_TEST(test_view_stacks)
{
	struct stacktab *st = stacktab_new();
	struct profile *p = small_profile(st, false, false);
	const struct pframe *fr[16];
	uint64_t sum = 0;

	ck_assert_uint_eq(p->total, 10);
	ck_assert_uint_eq(p->nstacks, 4);
	/* 0x300 0x200 0x100 0x310 0x500: five locations, six frames. */
	ck_assert_uint_eq(p->nlocs, 5);
	ck_assert_uint_eq(p->nframes, 6);
	/* b, a, main, c, inl. */
	ck_assert_uint_eq(p->nfns, 5);
	for (size_t i = 0; i < p->nstacks; i++)
		sum += p->stacks[i].count;
	ck_assert_uint_eq(sum, 10);

	/* The third stack, outermost first: main, c, inl, at their lines. */
	ck_assert_uint_eq(writer_stack_frames(p, &p->stacks[2], fr), 3);
	ck_assert_str_eq(p->fns[fr[0]->fn].name, "main");
	ck_assert_int_eq(fr[0]->line, 5);
	ck_assert_str_eq(p->fns[fr[1]->fn].name, "c");
	ck_assert_int_eq(fr[1]->line, 33);
	ck_assert_str_eq(p->fns[fr[2]->fn].name, "inl");
	ck_assert_int_eq(fr[2]->line, 41);
	ck_assert_str_eq(p->fns[fr[2]->fn].file, "/src/h.h");
	ck_assert_int_eq(p->fns[fr[2]->fn].line, 40);
	ck_assert_str_eq(p->fns[fr[2]->fn].module, "app");
	ck_assert_uint_eq(writer_max_frames(p), 4);

	/* One location per address, with its frames innermost first. */
	for (size_t i = 0; i < p->nlocs; i++) {
		if (p->locs[i].addr != 0x500)
			continue;
		ck_assert_uint_eq(p->locs[i].nframes, 2);
		ck_assert_str_eq(p->fns[p->frames[p->locs[i].frame].fn].name, "inl");
		ck_assert_str_eq(p->fns[p->frames[p->locs[i].frame + 1].fn].name, "c");
		ck_assert_uint_eq(p->locs[i].map, PROFILE_NONE);
	}
	/* Threads, by first sample, with their names. */
	ck_assert_uint_eq(p->ntasks, 2);
	ck_assert_int_eq(p->tasks[0].tid, 1);
	ck_assert_str_eq(p->tasks[0].name, "main");
	ck_assert_uint_eq(p->tasks[0].samples, 8);
	ck_assert_int_eq(p->tasks[1].tid, 2);
	ck_assert_str_eq(p->tasks[1].name, "worker");
	ck_assert_uint_eq(p->tasks[1].samples, 2);
	ck_assert_uint_eq(p->tasks[1].loc, PROFILE_NONE);
	/* The caller's names are not kept past the build. */
	ck_assert_ptr_null(p->meta.thread_names);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* With threads, each thread is a function between the root and the
 * outermost frame, in both views. */
START_TEST(test_view_threads)
{
	struct stacktab *st = stacktab_new();
	struct profile *p = small_profile(st, true, false);
	int t1 = find_pfunc(p, "~", 0, "thread 1 (main)");
	int t2 = find_pfunc(p, "~", 0, "thread 2 (worker)");
	int m = find_pfunc(p, "/src/m.c", 1, "main");
	const struct pframe *fr[16];
	const struct pedge *e;

	ck_assert_int_gt(t1, 0);
	ck_assert_int_gt(t2, 0);
	ck_assert_uint_eq(p->funcs[t1].cc, 8);
	ck_assert_uint_eq(p->funcs[t2].cc, 2);
	ck_assert_uint_eq(p->funcs[m].cc, 10);
	ck_assert_ptr_nonnull(e = find_pedge(p, 0, t1));
	ck_assert_uint_eq(e->cc, 8);
	ck_assert_ptr_nonnull(e = find_pedge(p, t2, m));
	ck_assert_uint_eq(e->nc, 2);
	ck_assert_ptr_null(find_pedge(p, 0, m));
	/* Stack view: the thread's location is the last. */
	ck_assert_uint_eq(writer_stack_frames(p, &p->stacks[1], fr), 4);
	ck_assert_str_eq(p->fns[fr[0]->fn].name, "thread 2 (worker)");
	ck_assert_str_eq(p->fns[fr[1]->fn].name, "main");
	ck_assert_uint_eq(p->locs[p->stack_locs[p->stacks[1].loc + 3]].addr, 0);
	ck_assert_uint_ne(p->tasks[1].loc, PROFILE_NONE);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* With lines, pstats entries are (file, sampled line, function); the stack
 * view keeps functions by declaration. A frame without a line keeps its
 * declaration line. */
START_TEST(test_view_lines)
{
	struct stacktab *st = stacktab_new();
	struct profile *p = small_profile(st, false, true);
	int b22 = find_pfunc(p, "/src/m.c", 22, "b"), b23 = find_pfunc(p, "/src/m.c", 23, "b");
	int a12 = find_pfunc(p, "/src/m.c", 12, "a");
	const struct pedge *e;

	ck_assert_int_gt(b22, 0);
	ck_assert_int_gt(b23, 0);
	ck_assert_int_gt(a12, 0);
	ck_assert_int_lt(find_pfunc(p, "/src/m.c", 20, "b"), 0);
	ck_assert_uint_eq(p->funcs[b22].cc, 7);
	ck_assert_uint_eq(p->funcs[b22].nc, 11);
	ck_assert_uint_eq(p->funcs[b22].tt, 7);
	ck_assert_uint_eq(p->funcs[b23].tt, 2);
	ck_assert_ptr_nonnull(e = find_pedge(p, b22, b22));
	ck_assert_uint_eq(e->cc, 4);
	ck_assert_ptr_nonnull(e = find_pedge(p, a12, b23));
	ck_assert_uint_eq(e->cc, 2);
	ck_assert_int_gt(find_pfunc(p, "/src/h.h", 41, "inl"), 0);
	/* Still one function b in the stack view. */
	ck_assert_uint_eq(p->nfns, 5);
	ck_assert_int_eq(p->fns[find_fn(p, "b")].line, 20);
	profile_free(p);
	stacktab_free(st);

	/* Without src_line (0), entries stay at the declaration line. */
	st = stacktab_new();
	WSTACK(st, 2, 1, 0x600, 0x100);
	{
		struct profile_opts o = { .lines = true };
		p = profile_build(st, wfake_lookup, NULL, NULL, &o);
	}
	ck_assert_int_gt(find_pfunc(p, "/src/w.c", 50, "x<y>&\"z\" bad\xff;name"), 0);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* An empty stack counts, as one frame at address 0. */
START_TEST(test_view_empty_stack)
{
	struct stacktab *st = stacktab_new();
	struct profile *p;

	stacktab_add(st, NULL, 0, 7, false, 3);
	p = profile_build(st, wfake_lookup, NULL, NULL, NULL);
	ck_assert_uint_eq(p->total, 3);
	ck_assert_uint_eq(p->nstacks, 1);
	ck_assert_uint_eq(p->stacks[0].n, 1);
	ck_assert_uint_eq(p->locs[0].addr, 0);
	ck_assert_int_gt(find_pfunc(p, "", 0, "[unknown]"), 0);
	ck_assert_uint_eq(find_pedge(p, 0, find_pfunc(p, "", 0, "[unknown]"))->cc, 3);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* ---- collapsed ---- */

START_TEST(test_collapsed)
{
	struct stacktab *st = stacktab_new();
	struct profile *p = small_profile(st, false, false);
	char *out = write_mem(&writer_collapsed, p, NULL);

	/* Stacks that read alike merge (the first two). */
	ck_assert_str_eq(out, "main;a;b 5\nmain;c;inl 1\nmain;a;b;b 4\n");
	free(out);
	profile_free(p);
	stacktab_free(st);

	st = stacktab_new();
	p = small_profile(st, true, false);
	out = write_mem(&writer_collapsed, p, NULL);
	ck_assert_str_eq(out, "thread 1 (main);main;a;b 3\nthread 2 (worker);main;a;b 2\n"
			      "thread 1 (main);main;c;inl 1\nthread 1 (main);main;a;b;b 4\n");
	free(out);
	profile_free(p);
	stacktab_free(st);

	st = stacktab_new();
	p = small_profile(st, false, true);
	out = write_mem(&writer_collapsed, p, NULL);
	ck_assert_str_eq(out, "main (m.c:5);a (m.c:12);b (m.c:22) 3\n"
			      "main (m.c:5);a (m.c:12);b (m.c:23) 2\n"
			      "main (m.c:5);c (c.c:33);inl (h.h:41) 1\n"
			      "main (m.c:5);a (m.c:12);b (m.c:22);b (m.c:22) 4\n");
	free(out);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* A ';' or line break in a name must not split or end a stack. */
START_TEST(test_collapsed_odd_names)
{
	struct stacktab *st = stacktab_new();
	struct profile *p;
	char *out;

	WSTACK(st, 2, 1, 0x600, 0x100);
	p = profile_build(st, wfake_lookup, NULL, NULL, NULL);
	out = write_mem(&writer_collapsed, p, NULL);
	ck_assert_str_eq(out, "main;x<y>&\"z\" bad\xff:name 2\n");
	free(out);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* ---- callgrind ---- */

START_TEST(test_callgrind)
{
	struct stacktab *st = stacktab_new();
	struct profile *p = small_profile(st, false, false);
	char *out = write_mem(&writer_callgrind, p, NULL);

	ck_assert_msg(strncmp(out, "# callgrind format\nversion: 1\n", 30) == 0, "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "\npid: 4242\ncmd: myserver\n"));
	ck_assert_ptr_nonnull(strstr(out, "\npositions: line\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nevents: Samples\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nsummary: 10\n"));
	ck_assert_ptr_nonnull(strstr(out, "\ntotals: 10\n"));
	/* b: self cost on two lines, then its recursive call from line 22
	 * (4 samples, declared at line 20). Names are defined once. */
	ck_assert_msg(strstr(out, "ob=(1) app\nfl=(1) /src/m.c\nfn=(1) b\n22 7\n23 2\n"
				  "cob=(1)\ncfl=(1)\ncfn=(1)\ncalls=4 20\n22 4\n") != NULL, "%s", out);
	/* main calls a 9 times at line 5 and c once. */
	ck_assert_msg(strstr(out, "fn=(3) main\ncob=(1)\ncfl=(1)\ncfn=(2)\ncalls=9 10\n5 9\n") != NULL,
		      "%s", out);
	ck_assert_msg(strstr(out, "cfl=(2) /src/c.c\ncfn=(4) c\ncalls=1 30\n5 1\n") != NULL, "%s",
		      out);
	/* inl, in its own file, with its self cost at line 41; called by c
	 * at line 33. */
	ck_assert_msg(strstr(out, "fl=(3) /src/h.h\nfn=(5) inl\n41 1\n") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "fn=(4)\ncob=(1)\ncfl=(3)\ncfn=(5)\ncalls=1 40\n33 1\n") != NULL,
		      "%s", out);
	free(out);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* ---- pprof, decoded here ---- */

/* Inflates gzip data; returns malloc'd bytes, *n their count. */
static unsigned char *gunzip(const char *in, size_t inlen, size_t *n)
{
	z_stream z;
	size_t cap = 1 << 16;
	unsigned char *out = xmalloc(cap);
	int zr;

	memset(&z, 0, sizeof(z));
	ck_assert_int_eq(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)inlen;
	do {
		if (z.total_out == cap) {
			cap *= 2;
			out = xrealloc(out, cap);
		}
		z.next_out = out + z.total_out;
		z.avail_out = (uInt)(cap - z.total_out);
		zr = inflate(&z, Z_NO_FLUSH);
		ck_assert_msg(zr == Z_OK || zr == Z_STREAM_END, "inflate: %d", zr);
	} while (zr != Z_STREAM_END);
	ck_assert_uint_eq(z.avail_in, 0);
	*n = z.total_out;
	inflateEnd(&z);
	return out;
}

/* A protobuf field as read. */
struct pbf {
	uint32_t field;
	unsigned wire;
	uint64_t v;                 /* varint value */
	const unsigned char *p;     /* length-delimited data */
	size_t len;
};

static uint64_t pb_get_varint(const unsigned char **p, const unsigned char *end)
{
	uint64_t v = 0;
	int shift = 0;

	for (;;) {
		ck_assert_msg(*p < end, "varint past the end");
		ck_assert_int_lt(shift, 64);
		v |= (uint64_t)(**p & 0x7f) << shift;
		if (!(*(*p)++ & 0x80))
			return v;
		shift += 7;
	}
}

/* Reads the next field of [*p, end); false at the end. */
static bool pb_next(const unsigned char **p, const unsigned char *end, struct pbf *f)
{
	uint64_t key;

	if (*p >= end)
		return false;
	key = pb_get_varint(p, end);
	f->field = (uint32_t)(key >> 3);
	f->wire = key & 7;
	if (f->wire == 0) {
		f->v = pb_get_varint(p, end);
	} else {
		ck_assert_uint_eq(f->wire, 2);
		f->len = pb_get_varint(p, end);
		ck_assert_uint_le(f->len, (size_t)(end - *p));
		f->p = *p;
		*p += f->len;
	}
	return true;
}

/* The decoded parts of a profile that the test looks at. */
struct pprof_doc {
	char **strings;
	size_t nstrings;
	size_t nsamples, nlocs, nfuncs, nmaps;
	uint64_t total, total_ns, period, duration, time;
	uint64_t sample_types[4];   /* type, unit, type, unit (string indexes) */
	uint64_t funcnames[16];     /* function id -> name index */
	uint64_t loclines[16][3];   /* location id -> function ids of its lines */
	size_t nloclines[16];
	uint64_t tid_labels, name_labels, pid_labels;
	uint64_t num_keys[64];      /* the key of each label with a number */
	size_t nnum;
	uint64_t maxlocid;
};

static void pprof_decode(const unsigned char *data, size_t n, struct pprof_doc *d)
{
	const unsigned char *p = data, *end = data + n;
	struct pbf f;
	size_t nst = 0;

	memset(d, 0, sizeof(*d));
	while (pb_next(&p, end, &f)) {
		const unsigned char *q = f.p, *qe = f.p + f.len;
		struct pbf g;

		switch (f.field) {
		case 1:   /* sample_type */
			while (pb_next(&q, qe, &g))
				d->sample_types[nst * 2 + g.field - 1] = g.v;
			nst++;
			break;
		case 2:   /* sample */
			d->nsamples++;
			while (pb_next(&q, qe, &g)) {
				const unsigned char *r = g.p, *re = g.p + g.len;
				if (g.field == 1) {
					while (r < re) {
						uint64_t id = pb_get_varint(&r, re);
						if (id > d->maxlocid)
							d->maxlocid = id;
					}
				} else if (g.field == 2) {
					d->total += pb_get_varint(&r, re);
					d->total_ns += pb_get_varint(&r, re);
					ck_assert(r == re);
				} else if (g.field == 3) {
					struct pbf h;
					uint64_t key = 0;
					while (pb_next(&r, re, &h)) {
						if (h.field == 1)
							key = h.v;
						else if (h.field == 3 && d->nnum < 64)
							d->num_keys[d->nnum++] = key;
						else if (h.field == 2)
							d->name_labels++;
					}
				}
			}
			break;
		case 3:
			d->nmaps++;
			break;
		case 4: { /* location */
			uint64_t id = 0;
			size_t k = 0;
			d->nlocs++;
			while (pb_next(&q, qe, &g)) {
				if (g.field == 1)
					id = g.v;
				if (g.field == 4) {
					const unsigned char *r = g.p;
					struct pbf h;
					ck_assert_uint_lt(id, 16);
					while (pb_next(&r, g.p + g.len, &h))
						if (h.field == 1 && k < 3)
							d->loclines[id][k++] = h.v;
				}
			}
			d->nloclines[id] = k;
			break;
		}
		case 5: { /* function */
			uint64_t id = 0, name = 0;
			d->nfuncs++;
			while (pb_next(&q, qe, &g)) {
				if (g.field == 1)
					id = g.v;
				if (g.field == 2)
					name = g.v;
			}
			ck_assert_uint_lt(id, 16);
			d->funcnames[id] = name;
			break;
		}
		case 6:
			d->strings = xrealloc(d->strings, (d->nstrings + 1) * sizeof(*d->strings));
			d->strings[d->nstrings++] = xasprintf("%.*s", (int)f.len, (const char *)f.p);
			break;
		case 9:
			d->time = f.v;
			break;
		case 10:
			d->duration = f.v;
			break;
		case 12:
			d->period = f.v;
			break;
		}
	}
}

static void pprof_doc_free(struct pprof_doc *d)
{
	for (size_t i = 0; i < d->nstrings; i++)
		free(d->strings[i]);
	free(d->strings);
}

START_TEST(test_pprof)
{
	struct stacktab *st = stacktab_new();
	struct profile *p = small_profile(st, false, false);
	size_t zlen, n;
	char *z = write_mem(&writer_pprof, p, &zlen);
	unsigned char *raw;
	struct pprof_doc d;

	/* gzip magic */
	ck_assert_uint_gt(zlen, 10);
	ck_assert_int_eq((unsigned char)z[0], 0x1f);
	ck_assert_int_eq((unsigned char)z[1], 0x8b);
	raw = gunzip(z, zlen, &n);
	pprof_decode(raw, n, &d);

	ck_assert_uint_gt(d.nstrings, 5);
	ck_assert_str_eq(d.strings[0], "");
	ck_assert_str_eq(d.strings[d.sample_types[0]], "samples");
	ck_assert_str_eq(d.strings[d.sample_types[1]], "count");
	ck_assert_str_eq(d.strings[d.sample_types[2]], "cpu");
	ck_assert_str_eq(d.strings[d.sample_types[3]], "nanoseconds");
	ck_assert_uint_eq(d.nsamples, 4);
	ck_assert_uint_eq(d.total, 10);
	ck_assert_uint_eq(d.total_ns, 10 * 10000000ULL);
	ck_assert_uint_eq(d.period, 10000000);
	ck_assert_uint_eq(d.duration, 100000000);
	ck_assert_uint_eq(d.time, 1700000000ULL * 1000000000ULL);
	ck_assert_uint_eq(d.nlocs, 5);
	ck_assert_uint_eq(d.maxlocid, 5);
	ck_assert_uint_eq(d.nfuncs, 5);
	ck_assert_uint_eq(d.nmaps, 0);
	/* Each sample has a thread id and a process id, and these threads
	 * have names. */
	for (size_t i = 0; i < d.nnum; i++) {
		ck_assert_uint_lt(d.num_keys[i], d.nstrings);
		if (strcmp(d.strings[d.num_keys[i]], "thread_id") == 0)
			d.tid_labels++;
		else if (strcmp(d.strings[d.num_keys[i]], "pid") == 0)
			d.pid_labels++;
	}
	ck_assert_uint_eq(d.nnum, 8);
	ck_assert_uint_eq(d.tid_labels, 4);
	ck_assert_uint_eq(d.pid_labels, 4);
	ck_assert_uint_eq(d.name_labels, 4);
	/* The inline location: inl's line first, then c's. */
	for (uint64_t id = 1; id <= 5; id++) {
		if (d.nloclines[id] != 2)
			continue;
		ck_assert_str_eq(d.strings[d.funcnames[d.loclines[id][0]]], "inl");
		ck_assert_str_eq(d.strings[d.funcnames[d.loclines[id][1]]], "c");
	}
	pprof_doc_free(&d);
	free(raw);
	free(z);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* ---- svg ---- */

/* How many times needle occurs in hay. */
static int count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *s = hay; (s = strstr(s, needle)) != NULL; s += strlen(needle))
		n++;
	return n;
}

START_TEST(test_svg)
{
	struct stacktab *st = stacktab_new();
	struct profile *p = small_profile(st, false, false);
	char *out = write_mem(&writer_svg, p, NULL), *icicle;

	ck_assert_msg(strncmp(out, "<?xml", 5) == 0, "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "</svg>\n"));
	/* all, main, a, b, b, c, inl */
	ck_assert_int_eq(count_of(out, "<g><title>"), 7);
	ck_assert_ptr_nonnull(strstr(out, "<title>all (10 samples, 100.00%)</title>"
				     "<rect x=\"10.0\" y=\""));
	ck_assert_ptr_nonnull(strstr(out, "<title>main (10 samples, 100.00%)</title>"));
	/* a: 9 of 10 samples of 1180 px; its child b likewise; the inner b
	 * 4 of 10. Children start at their parent's left edge, in name
	 * order: a before c. */
	ck_assert_ptr_nonnull(strstr(out, "<title>a (9 samples, 90.00%)</title><rect x=\"10.0\""));
	ck_assert_ptr_nonnull(strstr(out, "width=\"1062.0\""));
	ck_assert_ptr_nonnull(strstr(out, "<title>b (4 samples, 40.00%)</title><rect x=\"10.0\""));
	ck_assert_ptr_nonnull(strstr(out, "width=\"472.0\""));
	ck_assert_ptr_nonnull(strstr(out, "<title>c (1 sample, 10.00%)</title><rect x=\"1072.0\""));
	/* Flame: the root at the bottom, deeper frames above it. */
	ck_assert_ptr_nonnull(strstr(out, "height=\"174\""));
	ck_assert_ptr_nonnull(strstr(out, "<title>all (10 samples, 100.00%)</title>"
				     "<rect x=\"10.0\" y=\"124\""));
	ck_assert_ptr_nonnull(strstr(out, "<title>main (10 samples, 100.00%)</title>"
				     "<rect x=\"10.0\" y=\"108\""));
	ck_assert_ptr_nonnull(strstr(out, "Flame graph of myserver (PID 4242)"));
	ck_assert_ptr_nonnull(strstr(out, "<script"));
	/* Nothing to fetch: no address but the SVG namespace's. */
	ck_assert_int_eq(count_of(out, "http"), count_of(out, "http://www.w3.org/2000/svg"));
	ck_assert_int_eq(count_of(out, "href"), 0);

	icicle = write_mem(&writer_icicle, p, NULL);
	ck_assert_ptr_nonnull(strstr(icicle, "<title>all (10 samples, 100.00%)</title>"
					"<rect x=\"10.0\" y=\"60\""));
	ck_assert_ptr_nonnull(strstr(icicle, "data-icicle=\"1\""));
	free(icicle);
	free(out);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* Markup in names is escaped, bytes that are not UTF-8 replaced. */
START_TEST(test_svg_escape)
{
	struct stacktab *st = stacktab_new();
	struct profile *p;
	char *out;

	WSTACK(st, 2, 1, 0x600, 0x100);
	p = profile_build(st, wfake_lookup, NULL, NULL, NULL);
	out = write_mem(&writer_svg, p, NULL);
	ck_assert_msg(strstr(out, "<title>x&lt;y&gt;&amp;&quot;z&quot; bad\xef\xbf\xbd;name "
				  "(2 samples, 100.00%)</title>") != NULL, "%s", out);
	ck_assert_ptr_null(strstr(out, "\xff"));
	free(out);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* Frames too narrow to see are left out, with all below them. */
START_TEST(test_svg_prune)
{
	struct stacktab *st = stacktab_new();
	struct profile *p;
	char *out;

	/* 100000 x main -> a, 1 x main -> c -> inl: c is 0.012 px wide. */
	WSTACK(st, 100000, 1, 0x200, 0x100);
	WSTACK(st, 1, 1, 0x500, 0x100);
	p = profile_build(st, wfake_lookup, NULL, NULL, NULL);
	out = write_mem(&writer_svg, p, NULL);
	ck_assert_int_eq(count_of(out, "<g><title>"), 3);
	ck_assert_ptr_null(strstr(out, "<title>c "));
	ck_assert_ptr_null(strstr(out, "<title>inl "));
	ck_assert_ptr_nonnull(strstr(out, "3 of 5 frames drawn"));
	free(out);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* ---- names and the format list ---- */

static void expect_path(const struct output_opts *o, const char *id, const char *want)
{
	char *got = output_path(o, id);

	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, want);
	free(got);
}

START_TEST(test_output_names)
{
	struct output_opts o = { .comm = "my srv", .pid = 42, .start_time = 1700 };
	char err[200];

	expect_path(&o, "prof", "my_srv.42.1700.prof");
	expect_path(&o, "pprof", "my_srv.42.1700.pb.gz");
	expect_path(&o, "collapsed", "my_srv.42.1700.folded");
	expect_path(&o, "svg", "my_srv.42.1700.svg");
	expect_path(&o, "icicle", "my_srv.42.1700.icicle.svg");
	expect_path(&o, "callgrind", "callgrind.out.my_srv.42.1700");
	ck_assert_ptr_null(output_path(&o, "nope"));

	o.formats = "prof,pprof,svg,callgrind,collapsed";
	o.path = "dir/out.prof";
	expect_path(&o, "prof", "dir/out.prof");
	expect_path(&o, "pprof", "dir/out.pb.gz");
	expect_path(&o, "svg", "dir/out.svg");
	expect_path(&o, "collapsed", "dir/out.folded");
	expect_path(&o, "callgrind", "dir/callgrind.out.my_srv.42.1700");

	o.formats = "svg,prof";
	o.path = "/tmp/x/out.svg";
	expect_path(&o, "svg", "/tmp/x/out.svg");
	expect_path(&o, "prof", "/tmp/x/out.prof");

	o.formats = "callgrind,svg";
	o.path = "callgrind.out.run1";
	expect_path(&o, "callgrind", "callgrind.out.run1");
	expect_path(&o, "svg", "run1.svg");

	o.formats = NULL;   /* prof first */
	o.path = "noext";
	expect_path(&o, "prof", "noext");
	expect_path(&o, "pprof", "noext.pb.gz");

	ck_assert_int_eq(output_check_formats("prof,pprof,collapsed,callgrind,svg,icicle", err,
					      sizeof(err)), 0);
	ck_assert_int_eq(output_check_formats(NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(output_check_formats("prof,nope", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "unknown format 'nope'; the formats are prof, pprof, collapsed, "
			      "callgrind, svg or icicle");
	ck_assert_int_eq(output_check_formats(",", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "no format"));
}
END_TEST

/* Every format written to disk in one go, repeated ids once. */
START_TEST(test_output_write_all)
{
	struct stacktab *st = stacktab_new();
	struct profile *p = small_profile(st, false, false);
	char dir[] = "/tmp/sprofd-test-XXXXXX";
	struct output_opts o = { .comm = "myserver", .pid = 4242, .start_time = 1700000000,
				 .formats = "prof,pprof,collapsed,callgrind,svg,icicle,prof" };
	const char *names[] = { "out.prof", "out.pb.gz", "out.folded",
				"callgrind.out.myserver.4242.1700000000", "out.svg",
				"out.icicle.svg" };
	struct stat sb;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	o.path = xasprintf("%s/out.prof", dir);
	ck_assert_int_eq(output_write_all(p, &o), 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *path = xasprintf("%s/%s", dir, names[i]);
		ck_assert_msg(stat(path, &sb) == 0 && sb.st_size > 0, "%s missing", path);
		unlink(path);
		free(path);
	}
	ck_assert_int_eq(rmdir(dir), 0);   /* nothing else was left */
	free((char *)o.path);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* ---- speed: 1,000,000 samples over 50,000 distinct stacks ---- */

enum { BIG_STACKS = 50000, BIG_DEPTH = 30, BIG_PCS = 5000 };

struct big_ctx {
	struct sym_frame *frames;   /* two per pc */
	int *nframes;
};

static int big_lookup(void *vctx, uint64_t addr, const struct sym_frame **frames)
{
	struct big_ctx *c = vctx;
	size_t i = addr - 0x400000;

	*frames = &c->frames[i * 2];
	return c->nframes[i];
}

START_TEST(test_writers_speed)
{
	struct strtab *strs = strtab_new();
	struct stacktab *st = stacktab_new();
	struct big_ctx c;
	const struct writer *ws[] = { &writer_prof, &writer_pprof, &writer_collapsed,
				      &writer_callgrind, &writer_svg };
	char dir[] = "/tmp/sprofd-test-XXXXXX", name[32];
	struct profile_meta meta = { .pid = 1, .comm = "big", .hz = 100, .duration = 10 };
	uint64_t pcs[BIG_DEPTH], t0, t1, all = 0;
	struct profile *p;

	c.frames = xcalloc(BIG_PCS * 2, sizeof(*c.frames));
	c.nframes = xcalloc(BIG_PCS, sizeof(*c.nframes));
	for (size_t i = 0; i < BIG_PCS; i++) {
		struct sym_frame *fr = &c.frames[i * 2];

		snprintf(name, sizeof(name), "function_%zu", i / 4);
		fr[0] = (struct sym_frame){ .func = strtab_intern(strs, name),
					    .file = i % 8 < 4 ? "/src/a.c" : "/src/b.c",
					    .line = (int)(i / 4) * 10, .module = "app",
					    .src_line = (int)i };
		c.nframes[i] = 1;
		if (i % 5 == 0) {
			fr[1] = fr[0];
			snprintf(name, sizeof(name), "inline_%zu", i);
			fr[0].func = strtab_intern(strs, name);
			fr[0].inlined = true;
			c.nframes[i] = 2;
		}
	}
	/* Stacks that share their outer frames like a real call tree: the
	 * first levels follow the stack number's base-4 digits. */
	for (uint64_t i = 0; i < BIG_STACKS; i++) {
		uint64_t f = 0, digits = i;

		for (int k = 0; k < BIG_DEPTH; k++) {
			uint64_t j = k < 8 ? digits % 4 : hash_u64(i * 64 + (uint64_t)k) % 4;
			digits /= k < 8 ? 4 : 1;
			pcs[BIG_DEPTH - 1 - k] = 0x400000 + f * 4 + j;
			f = hash_u64(f * 8 + j) % (BIG_PCS / 4);
		}
		ck_assert_int_eq(stacktab_add(st, pcs, BIG_DEPTH, (pid_t)(1 + i % 8), false, 20), 1);
	}
	ck_assert_uint_eq(stacktab_total(st), 1000000);
	ck_assert_ptr_nonnull(mkdtemp(dir));

	t0 = mono_ns();
	p = profile_build(st, big_lookup, &c, &meta, NULL);
	t1 = mono_ns();
	fprintf(stderr, "writers: 1,000,000 samples, 50,000 stacks x 30: build %.1f ms\n",
		(double)(t1 - t0) / 1e6);
	for (size_t i = 0; i < sizeof(ws) / sizeof(ws[0]); i++) {
		char *path = xasprintf("%s/big.%s", dir, ws[i]->id);
		struct stat sb;

		t0 = mono_ns();
		ck_assert_int_eq(writer_write_file(ws[i], p, path), 0);
		t1 = mono_ns();
		all += t1 - t0;
		ck_assert_int_eq(stat(path, &sb), 0);
		fprintf(stderr, "writers: %-9s %7.1f ms  %9lld bytes\n", ws[i]->id,
			(double)(t1 - t0) / 1e6, (long long)sb.st_size);
		unlink(path);
		free(path);
	}
	fprintf(stderr, "writers: all formats %.1f ms\n", (double)all / 1e6);
	rmdir(dir);
	profile_free(p);
	stacktab_free(st);
	free(c.frames);
	free(c.nframes);
	strtab_free(strs);
}
END_TEST

Suite *suite_writers(void)
{
	Suite *s = suite_create("writers");
	TCase *view = tcase_create("view");
	TCase *fmt = tcase_create("formats");
	TCase *speed = tcase_create("speed");

	/* Large profiles: tagged so that a run under valgrind can leave
	 * them out (CK_EXCLUDE_TAGS=large). */
	tcase_set_tags(speed, "large");

	tcase_add_test(view, test_view_stacks);
	tcase_add_test(view, test_view_threads);
	tcase_add_test(view, test_view_lines);
	tcase_add_test(view, test_view_empty_stack);
	suite_add_tcase(s, view);

	tcase_add_test(fmt, test_collapsed);
	tcase_add_test(fmt, test_collapsed_odd_names);
	tcase_add_test(fmt, test_callgrind);
	tcase_add_test(fmt, test_pprof);
	tcase_add_test(fmt, test_svg);
	tcase_add_test(fmt, test_svg_escape);
	tcase_add_test(fmt, test_svg_prune);
	tcase_add_test(fmt, test_output_names);
	tcase_add_test(fmt, test_output_write_all);
	suite_add_tcase(s, fmt);

	tcase_add_test(speed, test_writers_speed);
	tcase_set_timeout(speed, 300);
	suite_add_tcase(s, speed);
	return s;
}
