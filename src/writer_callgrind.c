/* writer_callgrind.c: the callgrind format that KCachegrind, QCachegrind
 * and callgrind_annotate read, with one event, Samples. Per function (fn=,
 * in its file fl= and object ob=): a cost line "LINE SAMPLES" per source
 * line where it was the leaf (its self cost), and per call site and callee
 * a cfn=/calls= pair followed by "LINE SAMPLES", the inclusive cost of
 * that call. As in valgrind's own files, a call's cost counts every
 * occurrence of the caller-callee pair on a stack, so under recursion the
 * inner calls are inside the outer ones; KCachegrind knows this and shows
 * recursive functions correctly. calls= gives the same count, the samples
 * that saw the call, since sampling cannot count calls. Names are written
 * once and referred to by number after that ("name compression"). Code
 * without debug information has file "???" and line 0, as in valgrind's. */
#include "writer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "util.h"

#define NONE PROFILE_NONE

/* A cost: self cost of fn at line (callee NONE), or the inclusive cost of
 * calls from fn at line to callee. */
struct crec {
	uint32_t fn, callee;
	int line;
	uint64_t cost;
};

struct cg {
	const struct profile *p;
	struct crec *v;
	size_t n, cap;
	struct u64map *pairs;   /* fn << 32 | callee -> pair number */
	struct u64map *recs;    /* pair number << 32 | line -> index into v */
	uint32_t npairs;
	struct strids *obs, *fls; /* compressed names already defined */
	uint32_t *fnid;         /* per fn: its number + 1 once defined, else 0 */
	uint32_t nextfn;
};

/* Adds cost to the record (fn, line, callee). */
static void cg_add(struct cg *c, uint32_t fn, int line, uint32_t callee, uint64_t cost)
{
	uint64_t pair, idx, key = (uint64_t)fn << 32 | callee;

	if (!u64map_get(c->pairs, key, &pair)) {
		pair = c->npairs++;
		u64map_put(c->pairs, key, pair);
	}
	key = pair << 32 | (uint32_t)line;
	if (u64map_get(c->recs, key, &idx)) {
		c->v[idx].cost += cost;
		return;
	}
	xgrow((void **)&c->v, &c->cap, c->n + 1, sizeof(*c->v));
	c->v[c->n] = (struct crec){ .fn = fn, .callee = callee, .line = line, .cost = cost };
	u64map_put(c->recs, key, c->n++);
}

/* By function, then self costs before calls, then callee, then line. */
static int crec_cmp(const void *x, const void *y)
{
	const struct crec *a = x, *b = y;

	if (a->fn != b->fn)
		return a->fn < b->fn ? -1 : 1;
	if (a->callee != b->callee) {
		if (a->callee == NONE || b->callee == NONE)
			return a->callee == NONE ? -1 : 1;
		return a->callee < b->callee ? -1 : 1;
	}
	return (a->line > b->line) - (a->line < b->line);
}

/* Writes up to max bytes of s and ends the line. A line break inside a
 * name (a thread may call itself anything) would start a line of another
 * meaning, so line breaks become blanks. */
static void cg_line(FILE *f, const char *s, size_t max)
{
	for (size_t i = 0; i < max && s[i]; i++)
		putc(s[i] == '\n' || s[i] == '\r' ? ' ' : s[i], f);
	putc('\n', f);
}

/* Writes "KEY=(N) name" the first time a name is used, "KEY=(N)" after. */
static void cg_name(FILE *f, const char *key, struct strids *ids, const char *name)
{
	bool added;
	uint32_t n;

	if (!name[0])
		name = "???";
	n = strids_get(ids, name, &added);
	if (added) {
		fprintf(f, "%s=(%u) ", key, n + 1);
		cg_line(f, name, SIZE_MAX);
	} else {
		fprintf(f, "%s=(%u)\n", key, n + 1);
	}
}

/* A function's source file; "???" (as valgrind writes it) for code without
 * line information, whose "file" is its module: tools would take the
 * binary for source. */
static const char *cg_file(const struct pfn *fn)
{
	return fn->line > 0 ? fn->file : "";
}

/* The same for function names, numbered per function of the profile. */
static void cg_fn(struct cg *c, FILE *f, const char *key, uint32_t fn)
{
	if (c->fnid[fn]) {
		fprintf(f, "%s=(%u)\n", key, c->fnid[fn]);
		return;
	}
	c->fnid[fn] = ++c->nextfn;
	fprintf(f, "%s=(%u) ", key, c->fnid[fn]);
	cg_line(f, c->p->fns[fn].name, SIZE_MAX);
}

static int callgrind_write(const struct profile *p, FILE *f)
{
	const struct profile_meta *m = &p->meta;
	const struct pframe **fr = xmalloc((writer_max_frames(p) + 1) * sizeof(*fr));
	struct cg c;
	uint32_t cur = NONE;

	memset(&c, 0, sizeof(c));
	c.p = p;
	c.pairs = u64map_new();
	c.recs = u64map_new();
	c.obs = strids_new();
	c.fls = strids_new();
	c.fnid = xcalloc(p->nfns + 1, sizeof(*c.fnid));
	for (size_t i = 0; i < p->nstacks; i++) {
		const struct pstack *s = &p->stacks[i];
		size_t n = writer_stack_frames(p, s, fr);

		for (size_t j = 0; j + 1 < n; j++)
			cg_add(&c, fr[j]->fn, fr[j]->line, fr[j + 1]->fn, s->count);
		cg_add(&c, fr[n - 1]->fn, fr[n - 1]->line, NONE, s->count);
	}
	qsort(c.v, c.n, sizeof(*c.v), crec_cmp);

	errno = 0;
	fprintf(f, "# callgrind format\nversion: 1\ncreator: sprofd %s\n", SPROFD_VERSION);
	fprintf(f, "pid: %d\ncmd: ", (int)m->pid);
	cg_line(f, m->comm, sizeof(m->comm));
	fputs("part: 1\n\n", f);
	fprintf(f, "desc: Sampled in %s mode at %g Hz for %.3f s\n", m->wall ? "wall" : "cpu", m->hz,
		m->duration);
	fprintf(f, "desc: Trigger: sprofd\n");
	fprintf(f, "positions: line\nevent: Samples : %s samples at %g Hz\nevents: Samples\n",
		m->wall ? "Wall-clock" : "CPU", m->hz);
	fprintf(f, "summary: %llu\n", (unsigned long long)p->total);
	for (size_t i = 0; i < c.n && !ferror(f); i++) {
		const struct crec *r = &c.v[i];

		if (r->fn != cur) {
			const struct pfn *fn = &p->fns[r->fn];

			cur = r->fn;
			putc('\n', f);
			cg_name(f, "ob", c.obs, fn->module);
			cg_name(f, "fl", c.fls, cg_file(fn));
			cg_fn(&c, f, "fn", r->fn);
		}
		if (r->callee != NONE) {
			const struct pfn *callee = &p->fns[r->callee];

			cg_name(f, "cob", c.obs, callee->module);
			cg_name(f, "cfl", c.fls, cg_file(callee));
			cg_fn(&c, f, "cfn", r->callee);
			fprintf(f, "calls=%llu %d\n", (unsigned long long)r->cost, callee->line);
		}
		fprintf(f, "%d %llu\n", r->line, (unsigned long long)r->cost);
	}
	fprintf(f, "\ntotals: %llu\n", (unsigned long long)p->total);

	free(fr);
	free(c.v);
	free(c.fnid);
	u64map_free(c.pairs);
	u64map_free(c.recs);
	strids_free(c.obs);
	strids_free(c.fls);
	if (ferror(f)) {
		if (errno == 0)
			errno = EIO;
		return -1;
	}
	return 0;
}

const struct writer writer_callgrind = {
	.id = "callgrind",
	.ext = "",
	.write = callgrind_write,
};
