/* stacks.c: the table of distinct raw stacks (see stacks.h). Entries live in
 * an array in insertion order, their pcs in one shared pool, and an
 * open-addressing index of entry numbers finds them by hash. Adding a stack
 * that is already known hashes its pcs once and allocates nothing. */
#include "stacks.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct stack_ent {
	uint64_t hash;
	size_t off;          /* first pc in the pool */
	uint32_t n;
	pid_t tid;
	bool truncated;
	uint64_t count;
};

struct stacktab {
	struct stack_ent *ents;
	size_t nents, entcap;
	uint64_t *pool;
	size_t poollen, poolcap;
	uint32_t *slots;     /* entry index + 1; 0 = empty */
	size_t nslots;       /* power of two */
	uint64_t total;
};

/* Hashes a stack: the pcs, seeded with what else tells stacks apart. */
static uint64_t stack_hash(const uint64_t *pcs, uint32_t n, pid_t tid, bool truncated)
{
	uint64_t seed = (uint64_t)(uint32_t)tid | ((uint64_t)truncated << 32);

	return hash_bytes(pcs, (size_t)n * sizeof(*pcs), seed);
}

struct stacktab *stacktab_new(void)
{
	struct stacktab *t = xcalloc(1, sizeof(*t));

	t->nslots = 256;
	t->slots = xcalloc(t->nslots, sizeof(*t->slots));
	return t;
}

/* Doubles the index; entries keep their stored hash, so nothing is rehashed
 * from the pcs. */
static void stacktab_grow_index(struct stacktab *t)
{
	size_t ns = t->nslots * 2, mask = ns - 1;
	uint32_t *slots = xcalloc(ns, sizeof(*slots));

	for (size_t k = 0; k < t->nents; k++) {
		size_t i = t->ents[k].hash & mask;
		while (slots[i])
			i = (i + 1) & mask;
		slots[i] = (uint32_t)(k + 1);
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = ns;
}

int stacktab_add(struct stacktab *t, const uint64_t *pcs, uint32_t n, pid_t tid,
		 bool truncated, uint64_t count)
{
	uint64_t h = stack_hash(pcs, n, tid, truncated);
	size_t mask = t->nslots - 1, i;
	struct stack_ent *e;

	t->total += count;
	for (i = h & mask; t->slots[i]; i = (i + 1) & mask) {
		e = &t->ents[t->slots[i] - 1];
		if (e->hash == h && e->n == n && e->tid == tid && e->truncated == truncated &&
		    (n == 0 || memcmp(t->pool + e->off, pcs, (size_t)n * sizeof(*pcs)) == 0)) {
			e->count += count;
			return 0;
		}
	}

	xgrow((void **)&t->ents, &t->entcap, t->nents + 1, sizeof(*t->ents));
	xgrow((void **)&t->pool, &t->poolcap, t->poollen + n, sizeof(*t->pool));
	e = &t->ents[t->nents];
	e->hash = h;
	e->off = t->poollen;
	e->n = n;
	e->tid = tid;
	e->truncated = truncated;
	e->count = count;
	if (n > 0)
		memcpy(t->pool + t->poollen, pcs, (size_t)n * sizeof(*pcs));
	t->poollen += n;
	t->slots[i] = (uint32_t)++t->nents;
	/* Keep the load at or under one half so probes stay short. */
	if (t->nents * 2 > t->nslots)
		stacktab_grow_index(t);
	return 1;
}

size_t stacktab_size(const struct stacktab *t)
{
	return t->nents;
}

uint64_t stacktab_total(const struct stacktab *t)
{
	return t->total;
}

void stacktab_get(const struct stacktab *t, size_t i, struct stack_view *out)
{
	const struct stack_ent *e = &t->ents[i];

	out->pcs = e->n ? t->pool + e->off : NULL;
	out->n = e->n;
	out->tid = e->tid;
	out->truncated = e->truncated;
	out->count = e->count;
}

size_t stacktab_memory(const struct stacktab *t)
{
	return sizeof(*t) + t->entcap * sizeof(*t->ents) + t->poolcap * sizeof(*t->pool) +
	       t->nslots * sizeof(*t->slots);
}

void stacktab_free(struct stacktab *t)
{
	if (!t)
		return;
	free(t->ents);
	free(t->pool);
	free(t->slots);
	free(t);
}
