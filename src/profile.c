/* profile.c: from interned raw stacks to the function view (per-function
 * and per-edge counts) and the stack view (locations, frames, stacks); see
 * profile.h for what each count means. Each distinct pc is symbolized once
 * per build; each distinct stack is walked once and weighted by its sample
 * count, so stacks that symbolize alike simply add up. "Once per sample"
 * counts use a generation stamp per function and per edge instead of
 * searching the stack for earlier occurrences. */
#include "profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modules.h"
#include "split.h"
#include "stacks.h"
#include "symbols.h"
#include "util.h"

#define ROOT_FILE "~"
#define ROOT_NAME "<all samples>"

#define NONE PROFILE_NONE

/* What identifies a function: the pstats key. */
struct fkey {
	const char *file;
	int line;
	const char *name;
};

/* An index of fkeys by content; entry i is keys[i]. */
struct keyidx {
	uint32_t *slots;        /* entry + 1; 0 = empty */
	size_t nslots;          /* a power of two, at least twice n */
	struct fkey *keys;
	uint64_t *hashes;
	size_t n, cap;
};

/* One symbolized pc: its functions, innermost first, are pcfuncs[off ..
 * off + cnt - 1]; pcedges[off + k] is the inline edge from function k + 1
 * to function k. The innermost function calls whatever the next frame
 * inward is; a return address almost always leads into one callee, so the
 * last such edge is kept here to skip the edge map. */
struct pcent {
	uint32_t off, cnt;
	uint32_t callee, edge;  /* callee NONE: nothing cached yet */
	uint32_t loc;           /* its location in the stack view */
};

/* Per task, what the thread view needs. */
struct tinfo {
	/* Its pseudo-frames, outermost first: the process's, the thread's
	 * (opts.processes, opts.threads): their functions, the edges from
	 * the root or the frame outside into each, and their locations. */
	uint32_t func[2], edge[2], loc[2];
	uint32_t n;
};

struct builder {
	struct profile *p;
	const struct profile_meta *meta;
	size_t funccap, edgecap, fncap, framecap, loccap, stackcap, slcap, taskcap, mapcap;

	struct keyidx funcidx, fnidx;
	uint32_t *fstamp;       /* per function, last stack that counted cc */

	struct u64map *edgemap; /* caller << 32 | callee -> edge index */
	uint32_t *estamp;       /* per edge, last stack that counted cc */

	struct u64map *pcmap;   /* pc -> index into pcents */
	struct pcent *pcents;
	size_t npcents, pcentcap;
	uint32_t *pcfuncs, *pcedges;
	size_t npcfuncs, pcfcap;

	struct u64map *taskmap; /* tid -> index into tasks */
	struct tinfo *tinfo;    /* parallel to tasks */
	struct u64map *mapmap;  /* program << 32 | module index -> index into maps */

	/* The current stack, leaf first: each frame's function and the edge
	 * from its caller to it. */
	uint32_t *fstack, *estack;
	size_t fstackcap;
};

static const struct sym_frame unknown_frame = {
	.func = "[unknown]", .file = "", .line = 0, .module = "", .inlined = false,
};

static uint64_t fkey_hash(const struct fkey *k)
{
	uint64_t h = hash_bytes(k->file, strlen(k->file), (uint64_t)(uint32_t)k->line);

	return hash_bytes(k->name, strlen(k->name), h);
}

static bool str_same(const char *a, const char *b)
{
	return a == b || strcmp(a, b) == 0;
}

static void keyidx_init(struct keyidx *ki)
{
	memset(ki, 0, sizeof(*ki));
	ki->nslots = 1024;
	ki->slots = xcalloc(ki->nslots, sizeof(*ki->slots));
}

static void keyidx_free(struct keyidx *ki)
{
	free(ki->slots);
	free(ki->keys);
	free(ki->hashes);
}

/* Doubles the slots, reusing the stored hashes. */
static void keyidx_grow(struct keyidx *ki)
{
	size_t ns = ki->nslots * 2, mask = ns - 1;
	uint32_t *slots = xcalloc(ns, sizeof(*slots));

	for (size_t k = 0; k < ki->n; k++) {
		size_t i = ki->hashes[k] & mask;
		while (slots[i])
			i = (i + 1) & mask;
		slots[i] = (uint32_t)(k + 1);
	}
	free(ki->slots);
	ki->slots = slots;
	ki->nslots = ns;
}

/* Returns the entry for key k, adding it as entry n (and setting *added)
 * if it is new. */
static uint32_t keyidx_get(struct keyidx *ki, const struct fkey *k, bool *added)
{
	uint64_t h = fkey_hash(k);
	size_t mask = ki->nslots - 1, i;
	uint32_t idx;

	*added = false;
	for (i = h & mask; ki->slots[i]; i = (i + 1) & mask) {
		const struct fkey *e = &ki->keys[ki->slots[i] - 1];
		if (ki->hashes[ki->slots[i] - 1] == h && e->line == k->line &&
		    str_same(e->name, k->name) && str_same(e->file, k->file))
			return ki->slots[i] - 1;
	}
	if (ki->n == ki->cap) {
		xgrow((void **)&ki->keys, &ki->cap, ki->n + 1, sizeof(*ki->keys));
		ki->hashes = xrealloc(ki->hashes, ki->cap * sizeof(*ki->hashes));
	}
	idx = (uint32_t)ki->n++;
	ki->keys[idx] = *k;
	ki->hashes[idx] = h;
	ki->slots[i] = idx + 1;
	*added = true;
	if (ki->n * 2 > ki->nslots)
		keyidx_grow(ki);
	return idx;
}

/* Finds or adds a function of the function view. */
static uint32_t builder_func(struct builder *b, const struct fkey *k)
{
	struct profile *p = b->p;
	size_t cap = b->funccap;
	struct pfunc *f;
	bool added;
	uint32_t idx = keyidx_get(&b->funcidx, k, &added);

	if (!added)
		return idx;
	xgrow((void **)&p->funcs, &b->funccap, p->nfuncs + 1, sizeof(*p->funcs));
	if (b->funccap != cap)
		b->fstamp = xrealloc(b->fstamp, b->funccap * sizeof(*b->fstamp));
	f = &p->funcs[p->nfuncs];
	memset(f, 0, sizeof(*f));
	f->file = k->file;
	f->line = k->line;
	f->name = k->name;
	b->fstamp[p->nfuncs] = 0;
	return (uint32_t)p->nfuncs++;
}

/* Finds or adds a function of the stack view. */
static uint32_t builder_fn(struct builder *b, const struct fkey *k, const char *module)
{
	struct profile *p = b->p;
	bool added;
	uint32_t idx = keyidx_get(&b->fnidx, k, &added);

	if (!added)
		return idx;
	xgrow((void **)&p->fns, &b->fncap, p->nfns + 1, sizeof(*p->fns));
	p->fns[p->nfns].file = k->file;
	p->fns[p->nfns].line = k->line;
	p->fns[p->nfns].name = k->name;
	p->fns[p->nfns].module = module ? module : "";
	return (uint32_t)p->nfns++;
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

/* The address in the target that a sampled pc stands for (without the
 * program number), and the mapping that holds it, added to the profile on
 * first use. */
static uint32_t builder_map(struct builder *b, uint64_t pc, uint64_t *addr)
{
	const struct profile_meta *m = b->meta;
	const struct modules *mods = NULL;
	const struct module_map *mm;
	struct profile *p = b->p;
	uint64_t image = 0, key, idx;
	struct pmap *pm;

	*addr = pc;
	if (!m)
		return NONE;
	if (m->image_shift > 0 && m->image_shift < 64) {
		image = pc >> m->image_shift;
		*addr = pc & ((1ull << m->image_shift) - 1);
	}
	if (m->modules && image < m->nmodules)
		mods = m->modules[image];
	if (!(mm = modules_find(mods, *addr)))
		return NONE;
	key = image << 32 | (uint64_t)(mm - mods->v);
	if (u64map_get(b->mapmap, key, &idx))
		return (uint32_t)idx;
	xgrow((void **)&p->maps, &b->mapcap, p->nmaps + 1, sizeof(*p->maps));
	pm = &p->maps[p->nmaps];
	pm->start = mm->start;
	pm->limit = mm->limit;
	pm->offset = mm->offset;
	pm->path = strtab_intern(p->strs, mm->path);
	pm->build_id = strtab_intern(p->strs, mm->build_id);
	u64map_put(b->mapmap, key, p->nmaps);
	return (uint32_t)p->nmaps++;
}

/* Appends a location with room for n frames; returns its index. */
static uint32_t builder_loc(struct builder *b, uint64_t addr, uint32_t map, uint32_t n)
{
	struct profile *p = b->p;
	struct ploc *l;

	xgrow((void **)&p->locs, &b->loccap, p->nlocs + 1, sizeof(*p->locs));
	xgrow((void **)&p->frames, &b->framecap, p->nframes + n, sizeof(*p->frames));
	l = &p->locs[p->nlocs];
	l->addr = addr;
	l->map = map;
	l->frame = (uint32_t)p->nframes;
	l->nframes = n;
	p->nframes += n;
	return (uint32_t)p->nlocs++;
}

/* Returns the pcents index for pc, symbolizing it on first use. */
static uint32_t builder_pc(struct builder *b, uint64_t pc, profile_lookup_fn lookup, void *ctx)
{
	const struct sym_frame *frames = NULL;
	struct pcent *pe;
	uint64_t idx;
	size_t cap;
	uint32_t off, loc, map;
	uint64_t addr;
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
	map = builder_map(b, pc, &addr);
	loc = builder_loc(b, addr, map, (uint32_t)n);
	for (int k = 0; k < n; k++) {
		const struct sym_frame *fr = &frames[k];
		struct fkey key = {
			.file = fr->file ? fr->file : "",
			.line = fr->line,
			.name = fr->func ? fr->func : unknown_frame.func,
		};
		struct pframe *pf = &b->p->frames[b->p->locs[loc].frame + (uint32_t)k];

		pf->fn = builder_fn(b, &key, fr->module);
		pf->line = fr->src_line > 0 ? fr->src_line : 0;
		if (b->p->opts.lines && fr->src_line > 0)
			key.line = fr->src_line;
		b->pcfuncs[b->npcfuncs++] = builder_func(b, &key);
	}
	for (int k = 0; k + 1 < n; k++)
		b->pcedges[off + k] = builder_edge(b, b->pcfuncs[off + k + 1], b->pcfuncs[off + k]);

	xgrow((void **)&b->pcents, &b->pcentcap, b->npcents + 1, sizeof(*b->pcents));
	pe = &b->pcents[b->npcents];
	pe->off = off;
	pe->cnt = (uint32_t)n;
	pe->callee = pe->edge = NONE;
	pe->loc = loc;
	u64map_put(b->pcmap, pc, b->npcents);
	return (uint32_t)b->npcents++;
}

/* Adds a pseudo-frame (a process or thread) inside those ti has; takes
 * label. Returns its location. */
static uint32_t pseudo_frame(struct builder *b, struct tinfo *ti, char *label)
{
	struct profile *p = b->p;
	struct fkey key = { ROOT_FILE, 0, strtab_intern(p->strs, label) };
	uint32_t fn = builder_fn(b, &key, ""), loc, func;

	free(label);
	loc = builder_loc(b, 0, NONE, 1);
	p->frames[p->locs[loc].frame].fn = fn;
	p->frames[p->locs[loc].frame].line = 0;
	func = builder_func(b, &key);
	ti->edge[ti->n] = builder_edge(b, ti->n ? ti->func[ti->n - 1] : 0, func);
	ti->func[ti->n] = func;
	ti->loc[ti->n] = loc;
	ti->n++;
	return loc;
}

/* Returns the tasks index for tid, adding the thread (and with
 * opts.threads its function and location) on first use. */
static uint32_t builder_task(struct builder *b, pid_t tid)
{
	struct profile *p = b->p;
	const struct u64map *names = b->meta ? b->meta->thread_names : NULL;
	size_t cap = b->taskcap;
	struct ptask *t;
	struct tinfo *ti;
	uint64_t idx, nameval;
	char *label;

	if (u64map_get(b->taskmap, (uint64_t)(uint32_t)tid, &idx))
		return (uint32_t)idx;
	xgrow((void **)&p->tasks, &b->taskcap, p->ntasks + 1, sizeof(*p->tasks));
	if (b->taskcap != cap)
		b->tinfo = xrealloc(b->tinfo, b->taskcap * sizeof(*b->tinfo));
	t = &p->tasks[p->ntasks];
	t->tid = tid;
	t->name = "";
	t->samples = 0;
	t->loc = NONE;
	if (names && u64map_get(names, (uint64_t)(uint32_t)tid, &nameval) && nameval)
		t->name = strtab_intern(p->strs, (const char *)(uintptr_t)nameval);
	if (b->meta && b->meta->thread_pids &&
	    u64map_get(b->meta->thread_pids, (uint64_t)(uint32_t)tid, &idx))
		t->pid = (pid_t)idx;
	else
		t->pid = b->meta ? b->meta->pid : 0;
	ti = &b->tinfo[p->ntasks];
	ti->n = 0;
	if (p->opts.processes) {
		const char *pname = "";

		if (b->meta && b->meta->proc_names &&
		    u64map_get(b->meta->proc_names, (uint64_t)(uint32_t)t->pid, &nameval) && nameval)
			pname = (const char *)(uintptr_t)nameval;
		else if (b->meta && t->pid == b->meta->pid)
			pname = b->meta->comm;
		label = pname[0] ? xasprintf("process %d (%s)", (int)t->pid, pname)
				 : xasprintf("process %d", (int)t->pid);
		pseudo_frame(b, ti, label);
	}
	if (p->opts.threads) {
		label = t->name[0] ? xasprintf("thread %d (%s)", (int)tid, t->name)
				   : xasprintf("thread %d", (int)tid);
		t->loc = pseudo_frame(b, ti, label);
	}
	u64map_put(b->taskmap, (uint64_t)(uint32_t)tid, p->ntasks);
	return (uint32_t)p->ntasks++;
}

/* Expands a stack into b->fstack and b->estack, and its locations into
 * locs (leaf first); returns the frame count. */
static size_t builder_expand(struct builder *b, const struct stack_view *sv, uint32_t task,
			     uint32_t *locs, profile_lookup_fn lookup, void *ctx)
{
	uint32_t cur = builder_pc(b, sv->pcs[0], lookup, ctx), next;
	const struct tinfo *ti = &b->tinfo[task];
	uint32_t top = ti->n ? ti->func[ti->n - 1] : 0;
	size_t nf = 0;

	for (uint32_t j = 0; j < sv->n; j++, cur = next) {
		const struct pcent *pe;
		struct pcent *ne;
		uint32_t outer, edge;

		next = j + 1 < sv->n ? builder_pc(b, sv->pcs[j + 1], lookup, ctx) : NONE;
		pe = &b->pcents[cur];
		locs[j] = pe->loc;
		/* Room for the pseudo-frames too. */
		if (nf + pe->cnt + 2 > b->fstackcap) {
			xgrow((void **)&b->fstack, &b->fstackcap, nf + pe->cnt + 2, sizeof(*b->fstack));
			b->estack = xrealloc(b->estack, b->fstackcap * sizeof(*b->estack));
		}
		for (uint32_t k = 0; k + 1 < pe->cnt; k++, nf++) {
			b->fstack[nf] = b->pcfuncs[pe->off + k];
			b->estack[nf] = b->pcedges[pe->off + k];
		}

		/* The outermost function of this pc is called by the next
		 * pc's innermost one, or by the root (or the thread). */
		outer = b->pcfuncs[pe->off + pe->cnt - 1];
		if (next == NONE)
			edge = builder_edge(b, top, outer);
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
	for (uint32_t k = ti->n; k-- > 0;) {
		b->fstack[nf] = ti->func[k];
		b->estack[nf] = ti->edge[k];
		nf++;
		locs[sv->n + (ti->n - 1 - k)] = ti->loc[k];
	}
	return nf;
}

/* Adds one distinct stack, weighted by its count; gen is unique per stack. */
static void builder_stack(struct builder *b, const struct stack_view *in, uint32_t gen,
			  profile_lookup_fn lookup, void *ctx)
{
	static const uint64_t nopc[1] = { 0 };
	struct profile *p = b->p;
	struct stack_view sv = *in;
	struct pfunc *funcs;
	struct pedge *edges;
	struct pstack *ps;
	uint64_t c = sv.count;
	uint32_t task, nloc;
	size_t nf;

	if (sv.n == 0) {
		sv.pcs = nopc;
		sv.n = 1;
	}
	task = builder_task(b, sv.tid);
	p->tasks[task].samples += c;
	nloc = sv.n + b->tinfo[task].n;
	xgrow((void **)&p->stack_locs, &b->slcap, p->nstack_locs + nloc, sizeof(*p->stack_locs));
	xgrow((void **)&p->stacks, &b->stackcap, p->nstacks + 1, sizeof(*p->stacks));
	ps = &p->stacks[p->nstacks++];
	ps->loc = (uint32_t)p->nstack_locs;
	ps->n = nloc;
	ps->tid = sv.tid;
	ps->pid = p->tasks[task].pid;
	ps->truncated = sv.truncated;
	ps->count = c;

	nf = builder_expand(b, &sv, task, p->stack_locs + p->nstack_locs, lookup, ctx);
	p->nstack_locs += nloc;
	/* Nothing is added below, so funcs and edges stay put. */
	funcs = p->funcs;
	edges = p->edges;
	for (size_t j = 0; j < nf; j++) {
		uint32_t f = b->fstack[j], e = b->estack[j];

		funcs[f].nc += c;
		if (b->fstamp[f] != gen) {
			b->fstamp[f] = gen;
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
	static const struct fkey root = { ROOT_FILE, 0, ROOT_NAME };
	struct builder b;
	struct profile *p = xcalloc(1, sizeof(*p));
	size_t nstacks = stacktab_size(st);
	struct stack_view sv;

	if (meta)
		p->meta = *meta;
	/* These are the caller's and may not outlive this call. */
	p->meta.thread_names = NULL;
	p->meta.thread_pids = NULL;
	p->meta.proc_names = NULL;
	p->meta.modules = NULL;
	p->meta.nmodules = 0;
	if (opts)
		p->opts = *opts;
	p->total = stacktab_total(st);
	p->interval = p->meta.hz > 0 ? 1.0 / p->meta.hz : 0.0;
	p->strs = strtab_new();

	memset(&b, 0, sizeof(b));
	b.p = p;
	b.meta = meta;
	keyidx_init(&b.funcidx);
	keyidx_init(&b.fnidx);
	b.edgemap = u64map_new();
	b.pcmap = u64map_new();
	b.taskmap = u64map_new();
	b.mapmap = u64map_new();

	/* The root only calls, never is called. Stack indexes fit in 32 bits
	 * (stacks.c indexes them so), hence gen. */
	builder_func(&b, &root);
	p->funcs[0].cc = p->funcs[0].nc = p->total;

	for (size_t i = 0; i < nstacks; i++) {
		stacktab_get(st, i, &sv);
		builder_stack(&b, &sv, (uint32_t)(i + 1), lookup, ctx);
	}

	keyidx_free(&b.funcidx);
	keyidx_free(&b.fnidx);
	free(b.fstamp);
	free(b.estamp);
	free(b.pcents);
	free(b.pcfuncs);
	free(b.pcedges);
	free(b.fstack);
	free(b.estack);
	free(b.tinfo);
	u64map_free(b.edgemap);
	u64map_free(b.pcmap);
	u64map_free(b.taskmap);
	u64map_free(b.mapmap);
	return p;
}

double profile_func_tt(const struct profile *p, size_t i)
{
	return p->ftimes ? p->ftimes[i].tt : (double)p->funcs[i].tt * p->interval;
}

double profile_func_ct(const struct profile *p, size_t i)
{
	return p->ftimes ? p->ftimes[i].ct : (double)p->funcs[i].cc * p->interval;
}

double profile_edge_tt(const struct profile *p, size_t i)
{
	return p->etimes ? p->etimes[i].tt : (double)p->edges[i].tt * p->interval;
}

double profile_edge_ct(const struct profile *p, size_t i)
{
	return p->etimes ? p->etimes[i].ct : (double)p->edges[i].cc * p->interval;
}

double profile_total_time(const struct profile *p)
{
	double t = 0;

	if (!p->ftimes)
		return (double)p->total * p->interval;
	for (size_t i = 0; i < p->nfuncs; i++)
		t += p->ftimes[i].tt;
	return t;
}

void profile_free(struct profile *p)
{
	if (!p)
		return;
	free(p->funcs);
	free(p->edges);
	free(p->stacks);
	free(p->stack_locs);
	free(p->locs);
	free(p->frames);
	free(p->fns);
	free(p->tasks);
	free(p->maps);
	free(p->ftimes);
	free(p->etimes);
	strtab_free(p->strs);
	split_free(p->split);
	free(p);
}
