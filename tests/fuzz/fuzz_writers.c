/* fuzz_writers.c: every output format, from profiles made of the input:
 * random stacks of random frames whose names, files and modules are any
 * bytes (empty, blanks, line breaks, markup, invalid UTF-8, thousands of
 * bytes), inline frames, threads with names, mappings, and each profile
 * option. The profile is built by profile_build as a session builds it,
 * with the input as the symbolizer, and written by each writer into
 * memory. Each file is then read back:
 *   prof       by sprofd's own pstats reader: the same functions with the
 *              same counts, and the same edge totals; no two keys alike
 *              (Python's dict would keep one);
 *   pprof      gunzipped and walked as protobuf wire format: only the
 *              fields profile.proto has, with their wire types; every
 *              string UTF-8 and every string index inside the table, whose
 *              first string is empty; every id defined once and every
 *              reference to one defined; one sample per stack, adding up
 *              to the total;
 *   collapsed  one "STACK COUNT" line per merged stack, adding up;
 *   callgrind  every line of the format's grammar; self costs add up to
 *              the total, as summary and totals say;
 *   svg        valid UTF-8 without the characters XML forbids, every '&'
 *              and '<' outside CDATA markup, groups balanced.
 * With SPROFD_FUZZ_OUT set to a directory, the .prof and .pb.gz of each
 * input are also saved there with what pstats must find in them (HASH.json),
 * for tests/fuzz/check-outputs.py. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fuzz.h"
#include "modules.h"
#include "profile.h"
#include "pstats_read.h"
#include "stacks.h"
#include "symbols.h"
#include "util.h"
#include "writer.h"

#define MAX_PCS 48
#define MAX_FRAMES 4
#define MAX_LONG 3

static const char *out_dir;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	out_dir = getenv("SPROFD_FUZZ_OUT");
	return 0;
}

/* ---- a profile from the input ---- */

/* One symbolized address: what the fake symbolizer answers. */
struct fpc {
	uint64_t addr;
	int n;
	struct sym_frame frames[MAX_FRAMES];
};

struct fctx {
	struct fpc pcs[MAX_PCS];
	int npcs;
	int nlong;              /* long strings made so far */
	struct u64map *byaddr;  /* addr -> index of its first fpc */
	struct strtab *strs;    /* every string the profile points to */
};

/* Strings that writers must take special care of. */
static const char *const tricky[] = {
	"", " ", "  two  blanks ", "a b", "line\nbreak", "cr\rlf\r\n", "tab\there", ";", "a;b",
	"<&>\"'", "]]>", "<![CDATA[", "\xff\xfe", "\xc3\x28", "\xed\xa0\x80", "\xef\xbf\xbe",
	"\xef\xbf\xbf", "\xf4\x90\x80\x80", "\x01\x02\x1f\x7f", "caf\xc3\xa9", "\xe2\x82\xac",
	"\xf0\x9f\x94\xa5", "~", "<all samples>", "[unknown]", "[anon]", "thread 1 (main)",
	"fn=(1) x", "calls=1 2", "0 5", "totals: 9", "# x", "%s%n%d", "\\", "\"", "???",
	"std::vector<int, std::allocator<int> >::push_back(int&&)", "/usr/lib/libc.so.6",
};

/* A string: up to 199 bytes of input, a long one (a few per profile, or
 * every format's output grows past what a run can check quickly), or one
 * of tricky[]. */
static const char *fuzz_str(struct fuzz_in *in, struct fctx *c)
{
	struct strtab *t = c->strs;
	unsigned len = fuzz_u8(in);
	char *buf;
	const char *s;

	if (len >= 200 && len < 255 && c->nlong >= MAX_LONG)
		len -= 100;
	if (len < 200) {
		size_t n = len < in->n ? len : in->n;

		s = strtab_intern_n(t, (const char *)in->p, n);
		in->p += n;
		in->n -= n;
		return s;
	}
	if (len == 255)
		return strtab_intern(t, tricky[fuzz_u8(in) % (sizeof(tricky) / sizeof(tricky[0]))]);
	/* Long: a piece of the input repeated. */
	c->nlong++;
	len = 200 + fuzz_u16(in) % 3000;
	buf = xmalloc(len + 1);
	for (unsigned i = 0; i < len; i++) {
		size_t k = in->n ? i % (in->n < 16 ? in->n : 16) : 0;
		buf[i] = in->n ? (char)(in->p[k] ? in->p[k] : 'x') : 'L';
	}
	buf[len] = '\0';
	s = strtab_intern(t, buf);
	free(buf);
	return s;
}

static int fake_lookup(void *arg, uint64_t addr, const struct sym_frame **frames)
{
	struct fctx *c = arg;
	uint64_t i;

	if (!u64map_get(c->byaddr, addr, &i))
		return 0;
	*frames = c->pcs[i].frames;
	return c->pcs[i].n;
}

/* The addresses and their frames. */
static void make_pcs(struct fuzz_in *in, struct fctx *c)
{
	c->npcs = 1 + fuzz_u8(in) % MAX_PCS;
	for (int i = 0; i < c->npcs; i++) {
		struct fpc *pc = &c->pcs[i];
		uint8_t how = fuzz_u8(in);

		/* Mostly distinct small addresses (inside the mappings), some
		 * raw, some repeated. */
		pc->addr = how < 200 ? 0x400000 + (uint64_t)i * 0x40 + (how & 0x3f)
				     : how < 240 ? fuzz_u64(in) : c->pcs[fuzz_u8(in) % (i + 1)].addr;
		pc->n = fuzz_u8(in) % (MAX_FRAMES + 1);
		for (int k = 0; k < pc->n; k++) {
			struct sym_frame *fr = &pc->frames[k];
			uint8_t bits = fuzz_u8(in);

			fr->func = fuzz_str(in, c);
			fr->file = fuzz_str(in, c);
			fr->line = (bits & 1) ? (int)(int16_t)fuzz_u16(in) : (int)(fuzz_u8(in) % 4);
			fr->module = fuzz_str(in, c);
			fr->inlined = k + 1 < pc->n;
			fr->src_line = (bits & 2) ? (int)(int16_t)fuzz_u16(in) : (int)(fuzz_u8(in) % 8);
			fr->src_file = fr->src_line ? fuzz_str(in, c) : NULL;
			/* The root's key is the profile's own; no symbol has it. */
			if (strcmp(fr->file, "~") == 0 && fr->line == 0 &&
			    strcmp(fr->func, "<all samples>") == 0)
				fr->line = 1;
		}
		if (!u64map_get(c->byaddr, pc->addr, &(uint64_t){ 0 }))
			u64map_put(c->byaddr, pc->addr, (uint64_t)i);
	}
}

/* A few mappings, sorted, over the small addresses. */
static struct modules *make_modules(struct fuzz_in *in, struct fctx *c)
{
	struct strtab *t = c->strs;
	struct modules *m = xcalloc(1, sizeof(*m));
	uint64_t at = 0x3ff000;
	size_t n = 1 + fuzz_u8(in) % 4;

	m->v = xcalloc(n, sizeof(*m->v));
	for (size_t i = 0; i < n; i++) {
		struct module_map *mm = &m->v[m->n++];
		char hex[41];
		unsigned nb = fuzz_u8(in) % 21;

		mm->start = at + (uint64_t)(fuzz_u8(in) % 4) * 0x100;
		mm->limit = mm->start + 0x100 + (uint64_t)fuzz_u16(in) * 4;
		mm->offset = (uint64_t)fuzz_u16(in) << 12;
		mm->path = fuzz_str(in, c);
		for (unsigned k = 0; k < nb; k++)
			snprintf(hex + 2 * k, 3, "%02x", fuzz_u8(in));
		hex[2 * nb] = '\0';
		mm->build_id = strtab_intern(t, hex);
		at = mm->limit;
	}
	return m;
}

/* The whole profile; *st, ctx and names must outlive it. */
static struct profile *make_profile(struct fuzz_in *in, struct fctx *c, struct stacktab **st)
{
	struct profile_meta meta;
	struct profile_opts opts;
	struct u64map *names = u64map_new();
	struct modules *mods = NULL;
	struct profile *p;
	uint8_t flags = fuzz_u8(in);
	uint64_t pcs[320];
	size_t nstacks, nnames;
	bool deep = false;

	memset(&meta, 0, sizeof(meta));
	memset(&opts, 0, sizeof(opts));
	opts.threads = flags & 1;
	opts.lines = flags & 2;
	meta.wall = flags & 4;
	meta.pid = (pid_t)(fuzz_u32(in) % 4194304 + 1);
	snprintf(meta.comm, sizeof(meta.comm), "%s", fuzz_str(in, c));
	meta.nthreads = fuzz_u8(in);
	meta.hz = 1 + fuzz_u16(in) % 10000;
	meta.duration = fuzz_u16(in) / 10.0;
	meta.ticks = fuzz_u16(in);
	meta.missed_ticks = fuzz_u8(in);
	meta.truncated = fuzz_u8(in);
	meta.start_time = fuzz_u32(in);
	nnames = fuzz_u8(in) % 8;
	for (size_t i = 0; i < nnames; i++) {
		uint64_t tid = 1 + fuzz_u8(in) % 8;
		u64map_put(names, tid, (uint64_t)(uintptr_t)fuzz_str(in, c));
	}
	make_pcs(in, c);
	if (flags & 8)
		mods = make_modules(in, c);
	meta.thread_names = names;
	meta.modules = (const struct modules *const *)&mods;
	meta.nmodules = 1;
	/* The sampler's program numbers above bit 56: addresses past it
	 * belong to programs without mappings. */
	meta.image_shift = flags & 16 ? 56 : 0;

	*st = stacktab_new();
	nstacks = 1 + fuzz_u8(in) % 64;
	for (size_t i = 0; i < nstacks; i++) {
		uint8_t d = fuzz_u8(in), bits = fuzz_u8(in);
		/* One stack may be deep. */
		uint32_t n = d >= 250 && !deep ? 64 + fuzz_u16(in) % 256 : d % 21;
		uint64_t count = (bits & 0x80) ? 1 + (uint64_t)fuzz_u32(in) : 1 + (uint64_t)(bits & 15);

		deep |= n > 20;
		for (uint32_t j = 0; j < n; j++)
			pcs[j] = c->pcs[fuzz_u8(in) % c->npcs].addr;
		stacktab_add(*st, pcs, n, (pid_t)(1 + (bits >> 4 & 7)), bits & 0x40 ? false : true,
			     count);
	}
	p = profile_build(*st, fake_lookup, c, &meta, &opts);
	u64map_free(names);
	if (mods) {
		free(mods->v);
		free(mods);
	}
	return p;
}

/* ---- writing ---- */

/* Writes p through w into a string the caller frees. */
static char *write_mem(const struct writer *w, const struct profile *p, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	FUZZ_CHECK(f, "open_memstream failed");
	FUZZ_CHECK(w->write(p, f) == 0, "%s: write failed: %s", w->id, strerror(errno));
	FUZZ_CHECK(fclose(f) == 0, "%s: fclose failed", w->id);
	return buf;
}

/* ---- prof ---- */

static bool valid_utf8(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s) {
		size_t n = utf8_seq(s, NULL);

		if (n == 0)
			return false;
		s += n;
	}
	return true;
}

static void check_prof(const struct profile *p, const char *buf, size_t len)
{
	struct profile *q = pstats_parse(buf, len, "fuzz.prof");
	uint64_t sum[2][3] = { { 0 } };
	struct u64map *keys = u64map_new();

	FUZZ_CHECK(q, "prof: sprofd cannot read its own file");
	FUZZ_CHECK(!q->ftimes, "prof: read back as a timed profile, not samples");
	FUZZ_CHECK(q->total == p->total, "prof: total %" PRIu64 ", read %" PRIu64, p->total,
		   q->total);
	FUZZ_CHECK(fabs(q->interval - p->interval) <= 1e-9 * p->interval, "prof: interval %g, "
		   "read %g", p->interval, q->interval);
	FUZZ_CHECK(q->nfuncs == p->nfuncs && q->nedges == p->nedges, "prof: %zu functions and "
		   "%zu edges, read %zu and %zu", p->nfuncs, p->nedges, q->nfuncs, q->nedges);
	for (size_t i = 0; i < p->nfuncs; i++) {
		const struct pfunc *a = &p->funcs[i], *b = &q->funcs[i];

		FUZZ_CHECK(a->cc == b->cc && a->nc == b->nc && a->tt == b->tt && a->line == b->line,
			   "prof: function %zu reads back with other counts", i);
		if (valid_utf8(a->name) && valid_utf8(a->file))
			FUZZ_CHECK(strcmp(a->name, b->name) == 0 && strcmp(a->file, b->file) == 0,
				   "prof: function %zu reads back with another name", i);
	}
	for (size_t i = 0; i < p->nedges; i++) {
		sum[0][0] += p->edges[i].cc;
		sum[0][1] += p->edges[i].nc;
		sum[0][2] += p->edges[i].tt;
		sum[1][0] += q->edges[i].cc;
		sum[1][1] += q->edges[i].nc;
		sum[1][2] += q->edges[i].tt;
	}
	FUZZ_CHECK(memcmp(sum[0], sum[1], sizeof(sum[0])) == 0, "prof: edge totals differ");
	/* Keys as Python sees them must differ, or its dict keeps only one of
	 * each: the reader interns strings, so equal keys have equal pointers. */
	for (size_t i = 0; i < q->nfuncs; i++) {
		uint64_t h = hash_u64((uintptr_t)q->funcs[i].file ^
				      hash_u64((uintptr_t)q->funcs[i].name ^
					       (uint64_t)(uint32_t)q->funcs[i].line)), j;

		if (u64map_get(keys, h, &j))
			FUZZ_CHECK(q->funcs[j].file != q->funcs[i].file ||
				   q->funcs[j].name != q->funcs[i].name ||
				   q->funcs[j].line != q->funcs[i].line,
				   "prof: functions %" PRIu64 " and %zu have one key in the file", j, i);
		u64map_put(keys, h, i);
	}
	u64map_free(keys);
	profile_free(q);
}

/* ---- pprof ---- */

/* Gunzips buf into a malloc'd buffer. */
static unsigned char *gunzip(const char *buf, size_t len, size_t *outlen)
{
	z_stream z;
	size_t cap = len * 4 + 1024, n = 0;
	unsigned char *out = xmalloc(cap);
	int zr;

	memset(&z, 0, sizeof(z));
	FUZZ_CHECK(inflateInit2(&z, 16 + MAX_WBITS) == Z_OK, "pprof: inflateInit2");
	z.next_in = (unsigned char *)buf;
	z.avail_in = (uInt)len;
	do {
		if (n == cap)
			out = xrealloc(out, cap *= 2);
		z.next_out = out + n;
		z.avail_out = (uInt)(cap - n);
		zr = inflate(&z, Z_NO_FLUSH);
		n = cap - z.avail_out;
		FUZZ_CHECK(zr == Z_OK || zr == Z_STREAM_END || (zr == Z_BUF_ERROR && n == cap),
			   "pprof: not gzip: %s", z.msg ? z.msg : "truncated");
	} while (zr != Z_STREAM_END);
	FUZZ_CHECK(z.avail_in == 0, "pprof: bytes after the gzip stream");
	inflateEnd(&z);
	*outlen = n;
	return out;
}

/* A protobuf message being read. */
struct pbr {
	const unsigned char *p, *end;
};

static uint64_t pb_read_varint(struct pbr *r)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		FUZZ_CHECK(r->p < r->end, "pprof: truncated varint");
		v |= (uint64_t)(*r->p & 0x7f) << shift;
		if (!(*r->p++ & 0x80))
			return v;
	}
	FUZZ_CHECK(0, "pprof: varint longer than 10 bytes");
}

/* One field: its number, wire type, and value or bytes. */
struct pbf {
	uint32_t num, wire;
	uint64_t v;
	struct pbr sub;
};

static bool pb_next(struct pbr *r, struct pbf *f)
{
	uint64_t key, len;

	if (r->p == r->end)
		return false;
	key = pb_read_varint(r);
	f->num = (uint32_t)(key >> 3);
	f->wire = key & 7;
	FUZZ_CHECK(f->num > 0 && key >> 3 <= 536870911, "pprof: bad field number");
	switch (f->wire) {
	case 0:
		f->v = pb_read_varint(r);
		break;
	case 1:
		FUZZ_CHECK(r->end - r->p >= 8, "pprof: truncated fixed64");
		r->p += 8;
		break;
	case 2:
		len = pb_read_varint(r);
		FUZZ_CHECK(len <= (uint64_t)(r->end - r->p), "pprof: length past the end");
		f->sub.p = r->p;
		f->sub.end = r->p + len;
		r->p += len;
		break;
	case 5:
		FUZZ_CHECK(r->end - r->p >= 4, "pprof: truncated fixed32");
		r->p += 4;
		break;
	default:
		FUZZ_CHECK(0, "pprof: wire type %u", f->wire);
	}
	return true;
}

/* Expects wire type w for field f of message m. */
static void pb_want(const struct pbf *f, uint32_t w, const char *m)
{
	FUZZ_CHECK(f->wire == w, "pprof: %s field %u has wire type %u, not %u", m, f->num, f->wire,
		   w);
}

/* What the walk found: ids defined, references, strings. */
struct pbseen {
	uint8_t *loc_def, *fn_def, *map_def;   /* per id: defined how often */
	size_t nloc, nfn, nmap;                 /* as the profile has them */
	size_t locs, fns, maps, samples, strings, sample_types, comments;
	uint64_t max_str;                       /* largest string index used */
	uint64_t value_sum;
	bool first_str_empty;
	/* References, checked once everything is defined. */
	uint64_t *loc_refs, *fn_refs, *map_refs;
	size_t nloc_refs, nfn_refs, nmap_refs, loc_cap, fn_cap, map_cap;
};

static void ref(uint64_t **v, size_t *n, size_t *cap, uint64_t id)
{
	xgrow((void **)v, cap, *n + 1, sizeof(**v));
	(*v)[(*n)++] = id;
}

static void str_ref(struct pbseen *s, uint64_t idx)
{
	if (idx > s->max_str)
		s->max_str = idx;
}

/* Marks id (1..n) defined once more. */
static void define(uint8_t *def, size_t n, uint64_t id, const char *what)
{
	FUZZ_CHECK(id >= 1 && id <= n, "pprof: %s id %" PRIu64 " of %zu", what, id, n);
	FUZZ_CHECK(def[id - 1]++ == 0, "pprof: %s id %" PRIu64 " defined twice", what, id);
}

static void pb_value_type(struct pbr r, struct pbseen *s, const char *m)
{
	struct pbf f;

	while (pb_next(&r, &f)) {
		FUZZ_CHECK(f.num == 1 || f.num == 2, "pprof: %s has field %u", m, f.num);
		pb_want(&f, 0, m);
		str_ref(s, f.v);
	}
}

/* Reads a repeated varint field, packed or not. */
static void pb_repeated(const struct pbf *f, void (*each)(struct pbseen *, uint64_t, void *),
			struct pbseen *s, void *arg)
{
	if (f->wire == 0) {
		each(s, f->v, arg);
		return;
	}
	FUZZ_CHECK(f->wire == 2, "pprof: repeated field %u has wire type %u", f->num, f->wire);
	for (struct pbr r = f->sub; r.p < r.end;)
		each(s, pb_read_varint(&r), arg);
}

static void each_loc_ref(struct pbseen *s, uint64_t v, void *arg)
{
	ref(&s->loc_refs, &s->nloc_refs, &s->loc_cap, v);
	(*(size_t *)arg)++;
}

static void each_value(struct pbseen *s, uint64_t v, void *arg)
{
	size_t *k = arg;

	if ((*k)++ == 0)
		s->value_sum += v;
}

static void each_str(struct pbseen *s, uint64_t v, void *arg)
{
	str_ref(s, v);
	if (arg)
		(*(size_t *)arg)++;
}

static void pb_sample(struct pbr r, struct pbseen *s)
{
	struct pbf f, g;
	size_t nlocs = 0, nvals = 0;

	while (pb_next(&r, &f)) {
		switch (f.num) {
		case 1:
			pb_repeated(&f, each_loc_ref, s, &nlocs);
			break;
		case 2:
			pb_repeated(&f, each_value, s, &nvals);
			break;
		case 3:
			pb_want(&f, 2, "sample");
			while (pb_next(&f.sub, &g)) {
				FUZZ_CHECK(g.num >= 1 && g.num <= 4, "pprof: label field %u", g.num);
				pb_want(&g, 0, "label");
				if (g.num != 3)
					str_ref(s, g.v);
			}
			break;
		default:
			FUZZ_CHECK(0, "pprof: sample field %u", f.num);
		}
	}
	FUZZ_CHECK(nlocs >= 1, "pprof: a sample without locations");
	FUZZ_CHECK(nvals == 2, "pprof: a sample with %zu values, not 2", nvals);
}

static void pb_mapping(struct pbr r, struct pbseen *s)
{
	struct pbf f;
	uint64_t id = 0;

	while (pb_next(&r, &f)) {
		FUZZ_CHECK(f.num >= 1 && f.num <= 10, "pprof: mapping field %u", f.num);
		pb_want(&f, 0, "mapping");
		if (f.num == 1)
			id = f.v;
		if (f.num == 5 || f.num == 6)
			str_ref(s, f.v);
	}
	define(s->map_def, s->nmap, id, "mapping");
}

static void pb_location(struct pbr r, struct pbseen *s)
{
	struct pbf f, g;
	uint64_t id = 0;
	size_t lines = 0;

	while (pb_next(&r, &f)) {
		switch (f.num) {
		case 1:
		case 2:
		case 3:
		case 5:
			pb_want(&f, 0, "location");
			if (f.num == 1)
				id = f.v;
			if (f.num == 2 && f.v)
				ref(&s->map_refs, &s->nmap_refs, &s->map_cap, f.v);
			break;
		case 4:
			pb_want(&f, 2, "location");
			lines++;
			while (pb_next(&f.sub, &g)) {
				FUZZ_CHECK(g.num == 1 || g.num == 2, "pprof: line field %u", g.num);
				pb_want(&g, 0, "line");
				if (g.num == 1)
					ref(&s->fn_refs, &s->nfn_refs, &s->fn_cap, g.v);
			}
			break;
		default:
			FUZZ_CHECK(0, "pprof: location field %u", f.num);
		}
	}
	FUZZ_CHECK(lines >= 1, "pprof: location %" PRIu64 " without lines", id);
	define(s->loc_def, s->nloc, id, "location");
}

static void pb_function(struct pbr r, struct pbseen *s)
{
	struct pbf f;
	uint64_t id = 0;

	while (pb_next(&r, &f)) {
		FUZZ_CHECK(f.num >= 1 && f.num <= 5, "pprof: function field %u", f.num);
		pb_want(&f, 0, "function");
		if (f.num == 1)
			id = f.v;
		if (f.num >= 2 && f.num <= 4)
			str_ref(s, f.v);
	}
	define(s->fn_def, s->nfn, id, "function");
}

static void check_pprof(const struct profile *p, const char *buf, size_t len)
{
	size_t n;
	unsigned char *raw = gunzip(buf, len, &n);
	struct pbr r = { raw, raw + n };
	struct pbseen s;
	struct pbf f;

	memset(&s, 0, sizeof(s));
	s.nloc = p->nlocs;
	s.nfn = p->nfns;
	s.nmap = p->nmaps;
	s.loc_def = xcalloc(s.nloc + 1, 1);
	s.fn_def = xcalloc(s.nfn + 1, 1);
	s.map_def = xcalloc(s.nmap + 1, 1);
	while (pb_next(&r, &f)) {
		switch (f.num) {
		case 1:
		case 11:
			pb_want(&f, 2, "profile");
			pb_value_type(f.sub, &s, "value type");
			s.sample_types += f.num == 1;
			break;
		case 2:
			pb_want(&f, 2, "profile");
			pb_sample(f.sub, &s);
			s.samples++;
			break;
		case 3:
			pb_want(&f, 2, "profile");
			pb_mapping(f.sub, &s);
			break;
		case 4:
			pb_want(&f, 2, "profile");
			pb_location(f.sub, &s);
			break;
		case 5:
			pb_want(&f, 2, "profile");
			pb_function(f.sub, &s);
			break;
		case 6: {
			size_t slen = (size_t)(f.sub.end - f.sub.p);
			char *str = xmalloc(slen + 1);

			pb_want(&f, 2, "profile");
			if (s.strings++ == 0)
				s.first_str_empty = slen == 0;
			/* Strings of profile.proto (proto3) must be UTF-8. */
			memcpy(str, f.sub.p, slen);
			str[slen] = '\0';
			FUZZ_CHECK(strlen(str) == slen && valid_utf8(str), "pprof: string %zu is not UTF-8",
				   s.strings - 1);
			free(str);
			break;
		}
		case 7:
		case 8:
		case 14:
			pb_want(&f, 0, "profile");
			str_ref(&s, f.v);
			break;
		case 9:
		case 10:
		case 12:
			pb_want(&f, 0, "profile");
			break;
		case 13:
			pb_repeated(&f, each_str, &s, &s.comments);
			break;
		default:
			FUZZ_CHECK(0, "pprof: profile field %u", f.num);
		}
	}
	FUZZ_CHECK(s.strings > 0 && s.first_str_empty, "pprof: string 0 is not \"\"");
	FUZZ_CHECK(s.max_str < s.strings, "pprof: string %" PRIu64 " of %zu", s.max_str, s.strings);
	FUZZ_CHECK(s.sample_types == 2, "pprof: %zu sample types", s.sample_types);
	FUZZ_CHECK(s.samples == p->nstacks, "pprof: %zu samples for %zu stacks", s.samples,
		   p->nstacks);
	FUZZ_CHECK(s.value_sum == p->total, "pprof: samples add up to %" PRIu64 ", not %" PRIu64,
		   s.value_sum, p->total);
	FUZZ_CHECK(s.comments == 3, "pprof: %zu comments", s.comments);
	for (size_t i = 0; i < s.nloc; i++)
		FUZZ_CHECK(s.loc_def[i] == 1, "pprof: location %zu missing", i + 1);
	for (size_t i = 0; i < s.nfn; i++)
		FUZZ_CHECK(s.fn_def[i] == 1, "pprof: function %zu missing", i + 1);
	for (size_t i = 0; i < s.nmap; i++)
		FUZZ_CHECK(s.map_def[i] == 1, "pprof: mapping %zu missing", i + 1);
	for (size_t i = 0; i < s.nloc_refs; i++)
		FUZZ_CHECK(s.loc_refs[i] >= 1 && s.loc_refs[i] <= s.nloc, "pprof: no location %" PRIu64,
			   s.loc_refs[i]);
	for (size_t i = 0; i < s.nfn_refs; i++)
		FUZZ_CHECK(s.fn_refs[i] >= 1 && s.fn_refs[i] <= s.nfn, "pprof: no function %" PRIu64,
			   s.fn_refs[i]);
	for (size_t i = 0; i < s.nmap_refs; i++)
		FUZZ_CHECK(s.map_refs[i] >= 1 && s.map_refs[i] <= s.nmap, "pprof: no mapping %" PRIu64,
			   s.map_refs[i]);
	free(s.loc_def);
	free(s.fn_def);
	free(s.map_def);
	free(s.loc_refs);
	free(s.fn_refs);
	free(s.map_refs);
	free(raw);
}

/* ---- collapsed ---- */

static void check_collapsed(const struct profile *p, const char *buf, size_t len)
{
	uint64_t sum = 0;
	size_t lines = 0;

	FUZZ_CHECK(len > 0 && buf[len - 1] == '\n', "collapsed: no final line break");
	for (const char *l = buf, *end = buf + len; l < end;) {
		const char *nl = memchr(l, '\n', (size_t)(end - l)), *sp;
		uint64_t v = 0;

		FUZZ_CHECK(memchr(l, '\r', (size_t)(nl - l)) == NULL, "collapsed: a carriage return");
		for (sp = nl; sp > l && sp[-1] >= '0' && sp[-1] <= '9'; sp--)
			;
		FUZZ_CHECK(sp < nl && sp > l && sp[-1] == ' ', "collapsed: line %zu has no count",
			   lines + 1);
		for (const char *d = sp; d < nl; d++)
			v = v * 10 + (uint64_t)(*d - '0');
		FUZZ_CHECK(v > 0, "collapsed: a count of 0");
		sum += v;
		lines++;
		l = nl + 1;
	}
	FUZZ_CHECK(lines <= p->nstacks, "collapsed: %zu lines for %zu stacks", lines, p->nstacks);
	FUZZ_CHECK(sum == p->total, "collapsed: counts add up to %" PRIu64 ", not %" PRIu64, sum,
		   p->total);
}

/* ---- callgrind ---- */

/* Whether s (n bytes) is an optional '-' and digits, all of it. */
static bool is_number(const char *s, size_t n, bool sign)
{
	size_t i = sign && n > 0 && s[0] == '-' ? 1 : 0;

	if (i == n)
		return false;
	for (; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* The value of "KEY: N" if line l (n bytes) is one. */
static bool header_num(const char *l, size_t n, const char *key, uint64_t *v)
{
	size_t k = strlen(key);

	if (n <= k || memcmp(l, key, k) != 0 || !is_number(l + k, n - k, false))
		return false;
	*v = strtoull(l + k, NULL, 10);
	return true;
}

static void check_callgrind(const struct profile *p, const char *buf, size_t len)
{
	static const char *const headers[] = { "version: ", "creator: ", "pid: ", "cmd: ",
					       "part: ", "desc: ", "positions: ", "event: ",
					       "events: " };
	static const char *const names[] = { "ob=(", "fl=(", "fn=(", "cob=(", "cfl=(", "cfn=(" };
	uint64_t self = 0, summary = UINT64_MAX, totals = UINT64_MAX;
	bool after_calls = false;
	size_t lineno = 0;

	FUZZ_CHECK(len > 0 && buf[len - 1] == '\n', "callgrind: no final line break");
	for (const char *l = buf, *end = buf + len; l < end;) {
		const char *nl = memchr(l, '\n', (size_t)(end - l)), *sp;
		size_t n = (size_t)(nl - l);
		bool ok = false;

		lineno++;
		if (n == 0 || l[0] == '#') {
			ok = true;
		} else if (header_num(l, n, "summary: ", &summary) ||
			   header_num(l, n, "totals: ", &totals)) {
			ok = true;
		} else if (n > 6 && memcmp(l, "calls=", 6) == 0) {
			sp = memchr(l, ' ', n);
			ok = sp && is_number(l + 6, (size_t)(sp - l) - 6, false) &&
			     is_number(sp + 1, (size_t)(nl - sp) - 1, true);
			after_calls = true;
			l = nl + 1;
			FUZZ_CHECK(ok, "callgrind: line %zu: bad calls= line", lineno);
			continue;
		} else if ((l[0] >= '0' && l[0] <= '9') || l[0] == '-') {
			sp = memchr(l, ' ', n);
			ok = sp && is_number(l, (size_t)(sp - l), true) &&
			     is_number(sp + 1, (size_t)(nl - sp) - 1, false);
			if (ok && !after_calls)
				self += strtoull(sp + 1, NULL, 10);
		} else {
			for (size_t k = 0; k < sizeof(headers) / sizeof(headers[0]) && !ok; k++)
				ok = n >= strlen(headers[k]) &&
				     memcmp(l, headers[k], strlen(headers[k])) == 0;
			for (size_t k = 0; k < sizeof(names) / sizeof(names[0]) && !ok; k++) {
				size_t kl = strlen(names[k]);
				const char *close;

				if (n <= kl || memcmp(l, names[k], kl) != 0)
					continue;
				close = memchr(l + kl, ')', n - kl);
				ok = close && is_number(l + kl, (size_t)(close - l) - kl, false) &&
				     (close + 1 == nl || close[1] == ' ');
			}
		}
		FUZZ_CHECK(ok, "callgrind: line %zu is not callgrind: '%.60s'", lineno, l);
		after_calls = false;
		l = nl + 1;
	}
	FUZZ_CHECK(summary == p->total && totals == p->total, "callgrind: summary %" PRIu64
		   ", totals %" PRIu64 ", not %" PRIu64, summary, totals, p->total);
	FUZZ_CHECK(self == p->total, "callgrind: self costs add up to %" PRIu64 ", not %" PRIu64,
		   self, p->total);
}

/* ---- svg ---- */

static void check_svg(const char *id, const char *buf, size_t len)
{
	static const char *const entities[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&apos;" };
	const unsigned char *s = (const unsigned char *)buf;
	size_t opened = 0, closed = 0;
	bool cdata = false;

	FUZZ_CHECK(strlen(buf) == len, "%s: a NUL byte", id);
	for (size_t i = 0; i < len;) {
		size_t n = s[i] < 0x80 ? 1 : utf8_seq(s + i, NULL);

		FUZZ_CHECK(n > 0, "%s: invalid UTF-8 at byte %zu", id, i);
		FUZZ_CHECK(s[i] >= 0x20 || s[i] == '\n' || s[i] == '\t' || s[i] == '\r',
			   "%s: control character %#x at byte %zu", id, s[i], i);
		FUZZ_CHECK(!(n == 3 && s[i] == 0xef && s[i + 1] == 0xbf && s[i + 2] >= 0xbe),
			   "%s: U+FFFE or U+FFFF at byte %zu", id, i);
		if (cdata) {
			if (strncmp(buf + i, "]]>", 3) == 0)
				cdata = false;
		} else if (s[i] == '<') {
			if (strncmp(buf + i, "<![CDATA[", 9) == 0)
				cdata = true;
			else
				FUZZ_CHECK(strchr("abcdefghijklmnopqrstuvwxyz/!?", buf[i + 1]) &&
					   buf[i + 1], "%s: a '<' that is no markup at byte %zu", id, i);
			opened += strncmp(buf + i, "<g>", 3) == 0 || strncmp(buf + i, "<g ", 3) == 0;
			closed += strncmp(buf + i, "</g>", 4) == 0;
		} else if (s[i] == '&') {
			bool known = false;

			for (size_t k = 0; k < sizeof(entities) / sizeof(entities[0]); k++)
				known |= strncmp(buf + i, entities[k], strlen(entities[k])) == 0;
			FUZZ_CHECK(known, "%s: a bare '&' at byte %zu", id, i);
		}
		i += n;
	}
	FUZZ_CHECK(!cdata, "%s: unterminated CDATA", id);
	FUZZ_CHECK(opened == closed, "%s: %zu groups opened, %zu closed", id, opened, closed);
	FUZZ_CHECK(len > 7 && strcmp(buf + len - 7, "</svg>\n") == 0, "%s: no </svg> at the end",
		   id);
}

/* ---- saving, for check-outputs.py ---- */

static void save(const char *name, const char *ext, const void *buf, size_t len)
{
	char *path = xasprintf("%s/%s%s", out_dir, name, ext);
	FILE *f = fopen(path, "w");

	FUZZ_CHECK(f && fwrite(buf, 1, len, f) == len && fclose(f) == 0, "cannot write %s", path);
	free(path);
}

/* What pstats must find in the .prof. */
static void save_expected(const char *name, const struct profile *p)
{
	char *json = xasprintf("{\"total\": %" PRIu64 ", \"interval\": %.17g, \"nfuncs\": %zu, "
			       "\"nedges\": %zu}\n", p->total, p->interval, p->nfuncs, p->nedges);

	save(name, ".json", json, strlen(json));
	free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct fctx *c = xcalloc(1, sizeof(*c));
	struct stacktab *st;
	struct profile *p;
	char name[17];

	c->byaddr = u64map_new();
	c->strs = strtab_new();
	p = make_profile(&in, c, &st);
	FUZZ_CHECK(p->total == stacktab_total(st), "the profile lost samples");
	snprintf(name, sizeof(name), "%016" PRIx64, hash_bytes(data, size, 0));
	for (size_t k = 0; writer_at(k); k++) {
		const struct writer *w = writer_at(k);
		size_t len;
		char *buf = write_mem(w, p, &len);

		if (strcmp(w->id, "prof") == 0)
			check_prof(p, buf, len);
		else if (strcmp(w->id, "pprof") == 0)
			check_pprof(p, buf, len);
		else if (strcmp(w->id, "collapsed") == 0)
			check_collapsed(p, buf, len);
		else if (strcmp(w->id, "callgrind") == 0)
			check_callgrind(p, buf, len);
		else
			check_svg(w->id, buf, len);
		if (out_dir && (strcmp(w->id, "prof") == 0 || strcmp(w->id, "pprof") == 0))
			save(name, w->ext, buf, len);
		free(buf);
	}
	if (out_dir)
		save_expected(name, p);
	profile_free(p);
	stacktab_free(st);
	u64map_free(c->byaddr);
	strtab_free(c->strs);
	free(c);
	return 0;
}
