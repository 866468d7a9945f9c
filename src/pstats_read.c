/* pstats_read.c: pstats files back into profiles (see pstats_read.h).
 * First a decoder for the marshal format, any version up to 5, as far as
 * data goes (None, bools, ints, floats, strings, bytes, tuples, lists,
 * dicts, sets and back-references; code objects are refused), into a tree
 * of objects; then the tree checked and turned into functions and edges. */
#include "pstats_read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "profile.h"
#include "util.h"

#define MAX_DEPTH 64        /* pstats nests four deep; more is not pstats */
#define FLAG_REF 0x80

enum mkind { MK_NONE, MK_BOOL, MK_INT, MK_FLOAT, MK_STR, MK_BYTES, MK_TUPLE, MK_LIST, MK_DICT,
	     MK_SET };

/* A decoded object. Dicts hold 2 * n items: key, value, key, value... */
struct mobj {
	enum mkind kind;
	bool big;               /* an int beyond 64 bits (only its sign is kept) */
	int64_t i;
	double f;
	const char *s;          /* str/bytes, NUL-terminated copy (len bytes) */
	size_t len;
	struct mobj **items;
	size_t n;
};

struct mreader {
	const unsigned char *start, *p, *end;
	const char *name;
	struct mobj **objs;     /* everything allocated, to free */
	size_t nobjs, objcap;
	struct mobj **refs;     /* back-reference table */
	size_t nrefs, refcap;
	struct strtab *strs;
	char err[128];
};

static struct mobj *mr_new(struct mreader *r, enum mkind kind)
{
	struct mobj *o = xcalloc(1, sizeof(*o));

	o->kind = kind;
	xgrow((void **)&r->objs, &r->objcap, r->nobjs + 1, sizeof(*r->objs));
	r->objs[r->nobjs++] = o;
	return o;
}

static int mr_fail(struct mreader *r, const char *what)
{
	if (!r->err[0])
		snprintf(r->err, sizeof(r->err), "%s at byte %zu", what, (size_t)(r->p - r->start));
	return -1;
}

static bool mr_have(const struct mreader *r, size_t n)
{
	return (size_t)(r->end - r->p) >= n;
}

static int mr_u8(struct mreader *r, unsigned *v)
{
	if (!mr_have(r, 1))
		return -1;
	*v = *r->p++;
	return 0;
}

static int mr_i32(struct mreader *r, int32_t *v)
{
	uint32_t u;

	if (!mr_have(r, 4))
		return -1;
	u = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
	    (uint32_t)r->p[3] << 24;
	r->p += 4;
	*v = (int32_t)u;
	return 0;
}

/* Reserves a back-reference slot for an object being read. */
static size_t mr_ref_reserve(struct mreader *r)
{
	xgrow((void **)&r->refs, &r->refcap, r->nrefs + 1, sizeof(*r->refs));
	r->refs[r->nrefs] = NULL;
	return r->nrefs++;
}

static struct mobj *mr_read(struct mreader *r, int depth);

/* Reads n items into o. */
static int mr_items(struct mreader *r, struct mobj *o, size_t n, int depth)
{
	if (n > (size_t)(r->end - r->p))   /* every item takes a byte at least */
		return mr_fail(r, "bad item count");
	o->items = xcalloc(n ? n : 1, sizeof(*o->items));
	o->n = n;
	for (size_t i = 0; i < n; i++)
		if ((o->items[i] = mr_read(r, depth + 1)) == NULL)
			return -1;
	return 0;
}

/* Reads a string of len bytes into o. */
static int mr_string(struct mreader *r, struct mobj *o, size_t len)
{
	if (!mr_have(r, len))
		return mr_fail(r, "string past the end");
	o->s = strtab_intern_n(r->strs, (const char *)r->p, len);
	o->len = len;
	r->p += len;
	return 0;
}

/* Reads a 'l' int: a signed digit count, then 15-bit digits, least
 * significant first. */
static int mr_long(struct mreader *r, struct mobj *o)
{
	int32_t nd;
	uint64_t mag = 0;
	size_t n;

	if (mr_i32(r, &nd))
		return mr_fail(r, "truncated int");
	n = nd < 0 ? (size_t)-(int64_t)nd : (size_t)nd;
	if (!mr_have(r, 2 * n))
		return mr_fail(r, "truncated int");
	for (size_t k = 0; k < n; k++) {
		uint64_t d = (uint64_t)r->p[2 * k] | (uint64_t)r->p[2 * k + 1] << 8;
		if (d > 0x7fff)
			return mr_fail(r, "bad int digit");
		if (k >= 5 || (k == 4 && d > 0xf))
			o->big = d != 0 || o->big;
		else
			mag |= d << (15 * k);
	}
	r->p += 2 * n;
	if (mag > INT64_MAX)
		o->big = true;
	o->i = o->big ? (nd < 0 ? INT64_MIN : INT64_MAX) : (nd < 0 ? -(int64_t)mag : (int64_t)mag);
	return 0;
}

static struct mobj *mr_read(struct mreader *r, int depth)
{
	unsigned code, type, n8;
	int32_t n32, idx;
	size_t ref = SIZE_MAX;
	struct mobj *o = NULL;
	int rc = 0;

	if (depth > MAX_DEPTH) {
		mr_fail(r, "nested too deep");
		return NULL;
	}
	if (mr_u8(r, &code)) {
		mr_fail(r, "unexpected end of data");
		return NULL;
	}
	type = code & ~FLAG_REF;
	if (code & FLAG_REF)
		ref = mr_ref_reserve(r);
	switch (type) {
	case 'N':
		o = mr_new(r, MK_NONE);
		break;
	case 'T':
	case 'F':
		o = mr_new(r, MK_BOOL);
		o->i = type == 'T';
		break;
	case 'i':
		o = mr_new(r, MK_INT);
		if ((rc = mr_i32(r, &n32)) == 0)
			o->i = n32;
		break;
	case 'l':
		o = mr_new(r, MK_INT);
		rc = mr_long(r, o);
		break;
	case 'g':
		o = mr_new(r, MK_FLOAT);
		if (mr_have(r, 8)) {
			uint64_t bits = 0;
			for (int k = 7; k >= 0; k--)
				bits = bits << 8 | r->p[k];
			memcpy(&o->f, &bits, sizeof(o->f));
			r->p += 8;
		} else {
			rc = -1;
		}
		break;
	case 'f': {
		char buf[257];
		o = mr_new(r, MK_FLOAT);
		if ((rc = mr_u8(r, &n8)) == 0 && mr_have(r, n8)) {
			memcpy(buf, r->p, n8);
			buf[n8] = '\0';
			r->p += n8;
			o->f = strtod(buf, NULL);
		} else {
			rc = -1;
		}
		break;
	}
	case 'u': case 't': case 'a': case 'A': case 's':
		o = mr_new(r, type == 's' ? MK_BYTES : MK_STR);
		rc = mr_i32(r, &n32) || n32 < 0 ? -1 : mr_string(r, o, (size_t)n32);
		break;
	case 'z': case 'Z':
		o = mr_new(r, MK_STR);
		rc = mr_u8(r, &n8) ? -1 : mr_string(r, o, n8);
		break;
	case '(': case '[': case '<': case '>':
		o = mr_new(r, type == '(' ? MK_TUPLE : type == '[' ? MK_LIST : MK_SET);
		if (ref != SIZE_MAX)
			r->refs[ref] = o;
		rc = mr_i32(r, &n32) || n32 < 0 ? -1 : mr_items(r, o, (size_t)n32, depth);
		break;
	case ')':
		o = mr_new(r, MK_TUPLE);
		if (ref != SIZE_MAX)
			r->refs[ref] = o;
		rc = mr_u8(r, &n8) ? -1 : mr_items(r, o, n8, depth);
		break;
	case '{': {
		size_t cap = 0;
		o = mr_new(r, MK_DICT);
		if (ref != SIZE_MAX)
			r->refs[ref] = o;
		for (;;) {
			struct mobj *k, *v;
			if (!mr_have(r, 1)) {
				rc = -1;
				break;
			}
			if (*r->p == '0') {
				r->p++;
				break;
			}
			if ((k = mr_read(r, depth + 1)) == NULL || (v = mr_read(r, depth + 1)) == NULL)
				return NULL;
			xgrow((void **)&o->items, &cap, 2 * o->n + 2, sizeof(*o->items));
			o->items[2 * o->n] = k;
			o->items[2 * o->n + 1] = v;
			o->n++;
		}
		break;
	}
	case 'r':
		if (mr_i32(r, &idx) || idx < 0 || (size_t)idx >= r->nrefs || !r->refs[idx]) {
			mr_fail(r, "bad back-reference");
			return NULL;
		}
		return r->refs[idx];
	default:
		snprintf(r->err, sizeof(r->err), "unsupported marshal type '%c' (0x%02x)",
			 type >= 0x20 && type < 0x7f ? (char)type : '?', type);
		return NULL;
	}
	if (rc) {
		mr_fail(r, "truncated data");
		return NULL;
	}
	if (ref != SIZE_MAX)
		r->refs[ref] = o;
	return o;
}

/* ---- from objects to a profile ---- */

/* Rounding without libm (sprofd does not link it): x >= 0, below 2^63. */
static uint64_t to_count(double x)
{
	return x <= 0 ? 0 : (uint64_t)(x + 0.5);
}

/* Whether a and b agree to a millionth (of the larger, if above 1). */
static bool near(double a, double b)
{
	double d = a > b ? a - b : b - a, m = a > b ? a : b;

	return d <= 1e-6 * (m > 1 ? m : 1);
}

static bool is_num(const struct mobj *o)
{
	return o->kind == MK_INT || o->kind == MK_FLOAT || o->kind == MK_BOOL;
}

static double num(const struct mobj *o)
{
	return o->kind == MK_FLOAT ? o->f : (double)o->i;
}

/* A count: a non-negative whole number. */
static bool count_of(const struct mobj *o, uint64_t *out)
{
	double d;

	if (o->kind == MK_INT || o->kind == MK_BOOL) {
		if (o->i < 0)
			return false;
		*out = (uint64_t)o->i;
		return true;
	}
	if (o->kind != MK_FLOAT)
		return false;
	d = o->f;
	if (!(d >= 0) || d >= 9.2e18 || d != (double)(uint64_t)d)
		return false;
	*out = (uint64_t)d;
	return true;
}

static bool is_key(const struct mobj *k)
{
	return k->kind == MK_TUPLE && k->n == 3 && k->items[0]->kind == MK_STR &&
	       k->items[1]->kind == MK_INT && k->items[2]->kind == MK_STR;
}

/* Index of function key k among the top-level keys, or -1. Keys are
 * compared by content: strings are interned, so by pointer. */
struct keymap {
	struct u64map *m;       /* hash -> index + 1 of first; chains below */
	uint32_t *next;         /* next index with the same hash, or UINT32_MAX */
	const struct mobj **keys;
};

static uint64_t key_hash(const struct mobj *k)
{
	uint64_t h = hash_u64((uint64_t)(uintptr_t)k->items[0]->s);

	h = hash_u64(h ^ (uint64_t)k->items[1]->i);
	return hash_u64(h ^ (uint64_t)(uintptr_t)k->items[2]->s);
}

static bool key_same(const struct mobj *a, const struct mobj *b)
{
	return a->items[0]->s == b->items[0]->s && a->items[1]->i == b->items[1]->i &&
	       a->items[2]->s == b->items[2]->s;
}

static long keymap_find(const struct keymap *km, const struct mobj *k)
{
	uint64_t v;

	if (!u64map_get(km->m, key_hash(k), &v))
		return -1;
	for (uint32_t i = (uint32_t)v - 1; i != UINT32_MAX; i = km->next[i])
		if (key_same(km->keys[i], k))
			return (long)i;
	return -1;
}

/* Fails with a message about the file. */
static struct profile *pstats_bad(struct profile *p, const char *name, const char *why)
{
	log_err("%s is not a pstats file: %s", name, why);
	profile_free(p);
	return NULL;
}

/* Turns the decoded top-level dict into the function view. */
static struct profile *pstats_convert(struct mreader *r, const struct mobj *top)
{
	struct profile *p = xcalloc(1, sizeof(*p));
	struct keymap km;
	size_t nf = top->n, root = SIZE_MAX, base, edgecap = 0, *slot = NULL;
	bool sampled = false;
	double interval = 0;
	char why[160];

	p->strs = r->strs;
	r->strs = NULL;
	if (top->kind != MK_DICT)
		return pstats_bad(p, r->name, "the top object is not a dict");

	/* Check every entry and index the keys. */
	km.m = u64map_new();
	km.next = xmalloc((nf + 1) * sizeof(*km.next));
	km.keys = xmalloc((nf + 1) * sizeof(*km.keys));
	for (size_t i = 0; i < nf; i++) {
		const struct mobj *k = top->items[2 * i], *v = top->items[2 * i + 1];
		uint64_t h, first, dummy;

		if (!is_key(k) || v->kind != MK_TUPLE || v->n != 5 || !count_of(v->items[0], &dummy) ||
		    !count_of(v->items[1], &dummy) || !is_num(v->items[2]) || !is_num(v->items[3]) ||
		    v->items[4]->kind != MK_DICT) {
			snprintf(why, sizeof(why), "entry %zu is not (file, line, name): "
				 "(cc, nc, tt, ct, callers)", i + 1);
			goto bad;
		}
		km.keys[i] = k;
		h = key_hash(k);
		km.next[i] = UINT32_MAX;
		if (u64map_get(km.m, h, &first))
			km.next[i] = (uint32_t)first - 1;
		u64map_put(km.m, h, i + 1);
		if (strcmp(k->items[0]->s, "~") == 0 && k->items[1]->i == 0 &&
		    strcmp(k->items[2]->s, "<all samples>") == 0)
			root = i;
	}

	/* sprofd's own: a root with samples, and every time a whole number
	 * of its interval. */
	if (root != SIZE_MAX) {
		const struct mobj *rv = top->items[2 * root + 1];
		uint64_t cc;
		if (count_of(rv->items[0], &cc) && cc > 0 && num(rv->items[3]) > 0) {
			interval = num(rv->items[3]) / (double)cc;
			sampled = true;
		}
	}
	for (size_t i = 0; i < nf && sampled; i++) {
		const struct mobj *v = top->items[2 * i + 1], *callers = v->items[4];
		double tt = num(v->items[2]) / interval, ct = num(v->items[3]) / interval;
		uint64_t cc;
		count_of(v->items[0], &cc);
		sampled = tt < 9.2e18 && near(tt, (double)to_count(tt)) && near(ct, (double)cc);
		/* The edges' self times too: they become counts the same way. */
		for (size_t c = 0; c < callers->n && sampled; c++) {
			const struct mobj *cv = callers->items[2 * c + 1];
			if (cv->kind == MK_TUPLE && cv->n == 4 && is_num(cv->items[2])) {
				tt = num(cv->items[2]) / interval;
				sampled = tt < 9.2e18 && near(tt, (double)to_count(tt));
			}
		}
	}

	/* funcs[0] is the root, given or made. */
	base = root == SIZE_MAX ? 1 : 0;
	p->nfuncs = nf + base;
	p->funcs = xcalloc(p->nfuncs, sizeof(*p->funcs));
	if (!sampled)
		p->ftimes = xcalloc(p->nfuncs, sizeof(*p->ftimes));
	p->funcs[0].file = "~";
	p->funcs[0].name = "<all samples>";
	/* Functions follow the file's order, the root first; entry i goes to
	 * slot[i]. */
	slot = xmalloc((nf + 1) * sizeof(*slot));
	for (size_t i = 0, at = 1; i < nf; i++)
		slot[i] = i == root ? 0 : root == SIZE_MAX ? i + 1 : at++;
	for (size_t i = 0; i < nf; i++) {
		const struct mobj *k = top->items[2 * i], *v = top->items[2 * i + 1];
		struct pfunc *f = &p->funcs[slot[i]];

		f->file = k->items[0]->s;
		f->line = (int)k->items[1]->i;
		f->name = k->items[2]->s;
		count_of(v->items[0], &f->cc);
		count_of(v->items[1], &f->nc);
		if (sampled) {
			f->tt = to_count(num(v->items[2]) / interval);
		} else {
			p->ftimes[slot[i]].tt = num(v->items[2]);
			p->ftimes[slot[i]].ct = num(v->items[3]);
		}
	}
	for (size_t i = 0; i < nf; i++) {
		const struct mobj *callers = top->items[2 * i + 1]->items[4];

		for (size_t c = 0; c < callers->n; c++) {
			const struct mobj *ck = callers->items[2 * c], *cv = callers->items[2 * c + 1];
			size_t cap = edgecap;
			struct pedge *e;
			long from;

			if (!is_key(ck) || (from = keymap_find(&km, ck)) < 0) {
				snprintf(why, sizeof(why), "a caller of entry %zu is no entry", i + 1);
				goto bad;
			}
			xgrow((void **)&p->edges, &edgecap, p->nedges + 1, sizeof(*p->edges));
			if (!sampled && edgecap != cap)
				p->etimes = xrealloc(p->etimes, edgecap * sizeof(*p->etimes));
			e = &p->edges[p->nedges];
			memset(e, 0, sizeof(*e));
			e->caller = (uint32_t)slot[from];
			e->callee = (uint32_t)slot[i];
			/* cProfile's (nc, cc, tt, ct), or the profile module's count. */
			if (cv->kind == MK_TUPLE && cv->n == 4 && count_of(cv->items[0], &e->nc) &&
			    count_of(cv->items[1], &e->cc) && is_num(cv->items[2]) &&
			    is_num(cv->items[3])) {
				if (sampled) {
					e->tt = to_count(num(cv->items[2]) / interval);
				} else {
					p->etimes[p->nedges].tt = num(cv->items[2]);
					p->etimes[p->nedges].ct = num(cv->items[3]);
				}
			} else if (count_of(cv, &e->nc)) {
				e->cc = e->nc;
				if (!sampled)
					p->etimes[p->nedges].tt = p->etimes[p->nedges].ct = 0;
			} else {
				snprintf(why, sizeof(why), "a caller of entry %zu has no counts", i + 1);
				goto bad;
			}
			p->nedges++;
		}
	}
	if (sampled) {
		p->interval = interval;
		p->total = p->funcs[0].cc;
		p->meta.hz = 1.0 / interval;
	}
	u64map_free(km.m);
	free(km.next);
	free(km.keys);
	free(slot);
	return p;

bad:
	u64map_free(km.m);
	free(km.next);
	free(km.keys);
	free(slot);
	return pstats_bad(p, r->name, why);
}

struct profile *pstats_parse(const void *data, size_t len, const char *name)
{
	struct mreader r;
	struct mobj *top;
	struct profile *p = NULL;

	memset(&r, 0, sizeof(r));
	r.start = r.p = data;
	r.end = r.p + len;
	r.name = name;
	r.strs = strtab_new();
	top = mr_read(&r, 0);
	if (!top)
		log_err("%s is not a pstats file: %s", name, r.err[0] ? r.err : "cannot decode it");
	else if (r.p != r.end)
		log_err("%s is not a pstats file: %zu bytes after the data", name,
			(size_t)(r.end - r.p));
	else
		p = pstats_convert(&r, top);
	for (size_t i = 0; i < r.nobjs; i++) {
		free(r.objs[i]->items);
		free(r.objs[i]);
	}
	free(r.objs);
	free(r.refs);
	strtab_free(r.strs);
	return p;
}

struct profile *pstats_read(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct profile *p = NULL;
	unsigned char *data;
	struct stat sb;
	size_t got = 0;

	if (fd < 0) {
		log_err("cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		log_err("cannot read %s: %s", path, errno ? strerror(errno) : "not a regular file");
		close(fd);
		return NULL;
	}
	data = xmalloc((size_t)sb.st_size + 1);
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, data + got, (size_t)sb.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_err("cannot read %s: %s", path, n < 0 ? strerror(errno) : "file shrank");
			goto out;
		}
		got += (size_t)n;
	}
	p = pstats_parse(data, got, path);
out:
	free(data);
	close(fd);
	return p;
}
