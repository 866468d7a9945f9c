/* writer_collapsed.c: collapsed ("folded") stacks, the input of Brendan
 * Gregg's flamegraph.pl, inferno and speedscope: one line per distinct
 * stack of frame names, outermost first, joined by ';', then a space and
 * the sample count. Stacks whose frames read the same (they differed only
 * in addresses) are merged into one line, in the order first seen. A ';'
 * or line break inside a name would change the stack, so those become ':'
 * and ' '. Lines are put together in a buffer and written in large pieces:
 * the file is big (every stack in full), the work per byte small. */
#include "writer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "util.h"

#define COLLAPSED_CHUNK (256 * 1024)

/* A distinct stack of labels: labels[off .. off + n). */
struct cstack {
	uint64_t hash;
	size_t off;
	uint32_t n;
	uint64_t count;
};

struct collapser {
	struct cstack *v;
	size_t n, cap;
	uint32_t *labels;       /* of all distinct stacks, back to back */
	size_t nlabels, labelcap;
	uint32_t *slots;        /* index + 1; 0 = empty */
	size_t nslots;
};

/* Doubles the slots, reusing the stored hashes. */
static void collapser_grow(struct collapser *c)
{
	size_t ns = c->nslots * 2, mask = ns - 1;
	uint32_t *slots = xcalloc(ns, sizeof(*slots));

	for (size_t k = 0; k < c->n; k++) {
		size_t i = c->v[k].hash & mask;
		while (slots[i])
			i = (i + 1) & mask;
		slots[i] = (uint32_t)(k + 1);
	}
	free(c->slots);
	c->slots = slots;
	c->nslots = ns;
}

/* Counts the stack of n labels that sits at the end of c->labels (not yet
 * kept): merges it into an equal one, or keeps it. */
static void collapser_add(struct collapser *c, uint32_t n, uint64_t count)
{
	const uint32_t *l = c->labels + c->nlabels;
	size_t mask = c->nslots - 1, i;
	uint64_t h = n;
	struct cstack *cs;

	for (uint32_t j = 0; j < n; j++)
		h = hash_u64(h ^ l[j]);
	for (i = h & mask; c->slots[i]; i = (i + 1) & mask) {
		cs = &c->v[c->slots[i] - 1];
		if (cs->hash == h && cs->n == n &&
		    memcmp(c->labels + cs->off, l, n * sizeof(*l)) == 0) {
			cs->count += count;
			return;
		}
	}
	xgrow((void **)&c->v, &c->cap, c->n + 1, sizeof(*c->v));
	cs = &c->v[c->n];
	cs->hash = h;
	cs->off = c->nlabels;
	cs->n = n;
	cs->count = count;
	c->nlabels += n;
	c->slots[i] = (uint32_t)++c->n;
	if (c->n * 2 > c->nslots)
		collapser_grow(c);
}

/* A copy of a name with ';' and line breaks replaced. */
static char *collapsed_clean(const char *s)
{
	char *t = xstrdup(s);

	for (char *q = t; *q; q++) {
		if (*q == ';')
			*q = ':';
		else if (*q == '\n' || *q == '\r')
			*q = ' ';
	}
	return t;
}

/* Output collected before it goes to stdio. */
struct linebuf {
	char *p;
	size_t len, cap;
};

/* Appends n bytes. */
static void lb_put(struct linebuf *b, const char *s, size_t n)
{
	/* An empty name may come first, before there is any buffer. */
	if (n == 0)
		return;
	xgrow((void **)&b->p, &b->cap, b->len + n, 1);
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static int collapsed_write(const struct profile *p, FILE *f)
{
	struct collapser c;
	struct frame_labels fl;
	struct linebuf b = { 0 };
	size_t maxf = writer_max_frames(p) + 1, *tlen;
	char **texts, num[24];
	int rc = 0;

	frame_labels_init(&fl, p);
	memset(&c, 0, sizeof(c));
	c.nslots = 1024;
	c.slots = xcalloc(c.nslots, sizeof(*c.slots));
	for (size_t i = 0; i < p->nstacks; i++) {
		size_t n;

		xgrow((void **)&c.labels, &c.labelcap, c.nlabels + maxf, sizeof(*c.labels));
		n = writer_stack_labels(p, &fl, &p->stacks[i], c.labels + c.nlabels);
		collapser_add(&c, (uint32_t)n, p->stacks[i].count);
	}
	texts = xmalloc((fl.n + 1) * sizeof(*texts));
	tlen = xmalloc((fl.n + 1) * sizeof(*tlen));
	for (size_t i = 0; i < fl.n; i++) {
		texts[i] = collapsed_clean(fl.text[i]);
		tlen[i] = strlen(texts[i]);
	}

	errno = 0;
	for (size_t i = 0; i < c.n && rc == 0; i++) {
		const struct cstack *cs = &c.v[i];
		const uint32_t *l = c.labels + cs->off;
		int nd;

		for (uint32_t j = 0; j < cs->n; j++) {
			if (j)
				lb_put(&b, ";", 1);
			lb_put(&b, texts[l[j]], tlen[l[j]]);
		}
		nd = snprintf(num, sizeof(num), " %llu\n", (unsigned long long)cs->count);
		lb_put(&b, num, (size_t)nd);
		if (b.len >= COLLAPSED_CHUNK || i + 1 == c.n) {
			if (fwrite(b.p, 1, b.len, f) != b.len)
				rc = -1;
			b.len = 0;
		}
	}
	for (size_t i = 0; i < fl.n; i++)
		free(texts[i]);
	free(texts);
	free(tlen);
	free(b.p);
	free(c.v);
	free(c.labels);
	free(c.slots);
	frame_labels_fini(&fl);
	if (rc || ferror(f)) {
		if (errno == 0)
			errno = EIO;
		return -1;
	}
	return 0;
}

const struct writer writer_collapsed = {
	.id = "collapsed",
	.ext = ".folded",
	.write = collapsed_write,
};
