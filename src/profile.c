/* profile.c: from interned raw stacks to per-function and per-edge counts
 * (see profile.h for what each count means). Each distinct pc is symbolized
 * once per build; each distinct stack is walked once and weighted by its
 * sample count, so stacks that symbolize alike simply add up. "Once per
 * sample" counts use a generation stamp per function and per edge instead of
 * searching the stack for earlier occurrences. */
#include "profile.h"

#include <stdlib.h>
#include <string.h>

#include "stacks.h"
#include "symbols.h"
#include "util.h"

#define ROOT_FILE "~"
#define ROOT_NAME "<all samples>"

#define NONE UINT32_MAX

/* What the build keeps per function besides its counts. */
struct finfo {
	uint64_t hash;          /* of (file, line, name) */
	uint32_t stamp;         /* last stack that counted cc */
};

/* One symbolized pc: its functions, innermost first, are pcfuncs[off ..
 * off + cnt - 1]; pcedges[off + k] is the inline edge from function k + 1
 * to function k. The innermost function calls whatever the next frame
 * inward is; a return address almost always leads into one callee, so the
 * last such edge is kept here to skip the edge map. */
struct pcent {
	uint32_t off, cnt;
	uint32_t callee, edge;  /* callee NONE: nothing cached yet */
};

struct builder {
	struct profile *p;
	size_t funccap, edgecap;

	/* Functions by (file, line, name) content: index + 1, 0 = empty. */
	uint32_t *fslots;
	size_t nfslots;
	struct finfo *finfo;    /* per function, parallel to funcs */

	struct u64map *edgemap; /* caller << 32 | callee -> edge index */
	uint32_t *estamp;       /* per edge, last stack that counted cc */

	struct u64map *pcmap;   /* pc -> index into pcents */
	struct pcent *pcents;
	size_t npcents, pcentcap;
	uint32_t *pcfuncs, *pcedges;
	size_t npcfuncs, pcfcap;

	/* The current stack, leaf first: each frame's function and the edge
	 * from its caller to it. */
	uint32_t *fstack, *estack;
	size_t fstackcap;
};

static const struct sym_frame unknown_frame = {
	.func = "[unknown]", .file = "", .line = 0, .module = "", .inlined = false,
};

static uint64_t func_hash(const char *file, int line, const char *name)
{
	uint64_t h = hash_bytes(file, strlen(file), (uint64_t)(uint32_t)line);

	return hash_bytes(name, strlen(name), h);
}

static bool str_same(const char *a, const char *b)
{
	return a == b || strcmp(a, b) == 0;
}

/* Appends a function with zero counts and returns its index. */
static uint32_t builder_new_func(struct builder *b, const char *file, int line, const char *name,
				 uint64_t h)
{
	struct profile *p = b->p;
	size_t cap = b->funccap;
	struct pfunc *f;

	xgrow((void **)&p->funcs, &b->funccap, p->nfuncs + 1, sizeof(*p->funcs));
	if (b->funccap != cap)
		b->finfo = xrealloc(b->finfo, b->funccap * sizeof(*b->finfo));
	f = &p->funcs[p->nfuncs];
	memset(f, 0, sizeof(*f));
	f->file = file;
	f->line = line;
	f->name = name;
	b->finfo[p->nfuncs].hash = h;
	b->finfo[p->nfuncs].stamp = 0;
	return (uint32_t)p->nfuncs++;
}

/* Doubles the function index, reusing the stored hashes. */
static void builder_grow_fslots(struct builder *b)
{
	size_t ns = b->nfslots * 2, mask = ns - 1;
	uint32_t *slots = xcalloc(ns, sizeof(*slots));

	for (size_t k = 1; k < b->p->nfuncs; k++) {
		size_t i = b->finfo[k].hash & mask;
		while (slots[i])
			i = (i + 1) & mask;
		slots[i] = (uint32_t)(k + 1);
	}
	free(b->fslots);
	b->fslots = slots;
	b->nfslots = ns;
}

/* Finds or adds the function a frame belongs to. */
static uint32_t builder_func(struct builder *b, const struct sym_frame *fr)
{
	const char *file = fr->file ? fr->file : "";
	const char *name = fr->func ? fr->func : unknown_frame.func;
	uint64_t h = func_hash(file, fr->line, name);
	size_t mask = b->nfslots - 1, i;
	uint32_t idx;

	for (i = h & mask; b->fslots[i]; i = (i + 1) & mask) {
		const struct pfunc *f = &b->p->funcs[b->fslots[i] - 1];
		if (b->finfo[b->fslots[i] - 1].hash == h && f->line == fr->line &&
		    str_same(f->name, name) && str_same(f->file, file))
			return b->fslots[i] - 1;
	}
	idx = builder_new_func(b, file, fr->line, name, h);
	b->fslots[i] = idx + 1;
	if (b->p->nfuncs * 2 > b->nfslots)
		builder_grow_fslots(b);
	return idx;
}

/* Finds or adds the edge caller -> callee. */
static uint32_t builder_edge(struct builder *b, uint32_t caller, uint32_t callee)
{
	struct profile *p = b->p;
	uint64_t key = (uint64_t)caller << 32 | callee, idx;
	size_t cap = b->edgecap;
	struct pedge *e;

	if (u64map_get(b->edgemap, key, &idx))
		return (uint32_t)idx;
	xgrow((void **)&p->edges, &b->edgecap, p->nedges + 1, sizeof(*p->edges));
	if (b->edgecap != cap)
		b->estamp = xrealloc(b->estamp, b->edgecap * sizeof(*b->estamp));
	e = &p->edges[p->nedges];
	memset(e, 0, sizeof(*e));
	e->caller = caller;
	e->callee = callee;
	b->estamp[p->nedges] = 0;
	u64map_put(b->edgemap, key, p->nedges);
	return (uint32_t)p->nedges++;
}

/* Returns the pcents index for pc, symbolizing it on first use. */
static uint32_t builder_pc(struct builder *b, uint64_t pc, profile_lookup_fn lookup, void *ctx)
{
	const struct sym_frame *frames = NULL;
	struct pcent *pe;
	uint64_t idx;
	size_t cap;
	uint32_t off;
	int n;

	if (u64map_get(b->pcmap, pc, &idx))
		return (uint32_t)idx;

	n = lookup(ctx, pc, &frames);
	if (n < 1 || !frames) {
		frames = &unknown_frame;
		n = 1;
	}
	off = (uint32_t)b->npcfuncs;
	cap = b->pcfcap;
	xgrow((void **)&b->pcfuncs, &b->pcfcap, b->npcfuncs + (size_t)n, sizeof(*b->pcfuncs));
	if (b->pcfcap != cap)
		b->pcedges = xrealloc(b->pcedges, b->pcfcap * sizeof(*b->pcedges));
	for (int k = 0; k < n; k++)
		b->pcfuncs[b->npcfuncs++] = builder_func(b, &frames[k]);
	for (int k = 0; k + 1 < n; k++)
		b->pcedges[off + k] = builder_edge(b, b->pcfuncs[off + k + 1], b->pcfuncs[off + k]);

	xgrow((void **)&b->pcents, &b->pcentcap, b->npcents + 1, sizeof(*b->pcents));
	pe = &b->pcents[b->npcents];
	pe->off = off;
	pe->cnt = (uint32_t)n;
	pe->callee = pe->edge = NONE;
	u64map_put(b->pcmap, pc, b->npcents);
	return (uint32_t)b->npcents++;
}

/* Expands a stack into b->fstack and b->estack; returns the frame count. */
static size_t builder_expand(struct builder *b, const struct stack_view *sv,
			     profile_lookup_fn lookup, void *ctx)
{
	uint32_t cur = builder_pc(b, sv->pcs[0], lookup, ctx), next;
	size_t nf = 0;

	for (uint32_t j = 0; j < sv->n; j++, cur = next) {
		const struct pcent *pe;
		struct pcent *ne;
		uint32_t outer, edge;

		next = j + 1 < sv->n ? builder_pc(b, sv->pcs[j + 1], lookup, ctx) : NONE;
		pe = &b->pcents[cur];
		if (nf + pe->cnt > b->fstackcap) {
			xgrow((void **)&b->fstack, &b->fstackcap, nf + pe->cnt, sizeof(*b->fstack));
			b->estack = xrealloc(b->estack, b->fstackcap * sizeof(*b->estack));
		}
		for (uint32_t k = 0; k + 1 < pe->cnt; k++, nf++) {
			b->fstack[nf] = b->pcfuncs[pe->off + k];
			b->estack[nf] = b->pcedges[pe->off + k];
		}

		/* The outermost function of this pc is called by the next
		 * pc's innermost one, or by the root. */
		outer = b->pcfuncs[pe->off + pe->cnt - 1];
		if (next == NONE)
			edge = builder_edge(b, 0, outer);
		else if ((ne = &b->pcents[next])->callee == outer)
			edge = ne->edge;
		else {
			edge = builder_edge(b, b->pcfuncs[ne->off], outer);
			ne->callee = outer;
			ne->edge = edge;
		}
		b->fstack[nf] = outer;
		b->estack[nf] = edge;
		nf++;
	}
	return nf;
}

/* Adds one distinct stack, weighted by its count; gen is unique per stack. */
static void builder_stack(struct builder *b, const struct stack_view *sv, uint32_t gen,
			  profile_lookup_fn lookup, void *ctx)
{
	struct pfunc *funcs;
	struct pedge *edges;
	uint64_t c = sv->count;
	size_t nf;

	if (sv->n == 0)
		return;
	nf = builder_expand(b, sv, lookup, ctx);
	/* Nothing is added below, so funcs and edges stay put. */
	funcs = b->p->funcs;
	edges = b->p->edges;
	for (size_t j = 0; j < nf; j++) {
		uint32_t f = b->fstack[j], e = b->estack[j];

		funcs[f].nc += c;
		if (b->finfo[f].stamp != gen) {
			b->finfo[f].stamp = gen;
			funcs[f].cc += c;
		}
		edges[e].nc += c;
		if (b->estamp[e] != gen) {
			b->estamp[e] = gen;
			edges[e].cc += c;
		}
	}
	funcs[b->fstack[0]].tt += c;
	edges[b->estack[0]].tt += c;
}

struct profile *profile_build(const struct stacktab *st, profile_lookup_fn lookup, void *ctx,
			      const struct profile_meta *meta, const struct profile_opts *opts)
{
	struct builder b;
	struct profile *p = xcalloc(1, sizeof(*p));
	size_t nstacks = stacktab_size(st);
	struct stack_view sv;

	if (meta)
		p->meta = *meta;
	p->total = stacktab_total(st);
	p->interval = p->meta.hz > 0 ? 1.0 / p->meta.hz : 0.0;

	memset(&b, 0, sizeof(b));
	b.p = p;
	b.nfslots = 1024;
	b.fslots = xcalloc(b.nfslots, sizeof(*b.fslots));
	b.edgemap = u64map_new();
	b.pcmap = u64map_new();

	/* The root is never looked up by key: it only calls, never is called.
	 * Stack indexes fit in 32 bits (stacks.c indexes them so), hence gen. */
	builder_new_func(&b, ROOT_FILE, 0, ROOT_NAME, 0);
	p->funcs[0].cc = p->funcs[0].nc = p->total;

	for (size_t i = 0; i < nstacks; i++) {
		stacktab_get(st, i, &sv);
		builder_stack(&b, &sv, (uint32_t)(i + 1), lookup, ctx);
	}

	free(b.fslots);
	free(b.finfo);
	free(b.estamp);
	free(b.pcents);
	free(b.pcfuncs);
	free(b.pcedges);
	free(b.fstack);
	free(b.estack);
	u64map_free(b.edgemap);
	u64map_free(b.pcmap);
	return p;
}

void profile_free(struct profile *p)
{
	if (!p)
		return;
	free(p->funcs);
	free(p->edges);
	free(p);
}
