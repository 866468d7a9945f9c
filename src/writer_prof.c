/* writer_prof.c: Python pstats files, the format cProfile writes and
 * pstats.Stats, snakeviz and gprof2dot read: one marshal (version 2) dict
 *   {(file, line, name): (cc, nc, tt, ct, {(caller key): (nc, cc, tt, ct)})}
 * with counts as ints and times in seconds as floats. Note that the caller
 * tuples put nc first, as cProfile's own output does. */
#include "writer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "marshal.h"
#include "profile.h"
#include "util.h"

/* Encoded bytes are handed to stdio in pieces of about this size, so a big
 * profile never sits whole in memory twice. */
#define PROF_CHUNK (64 * 1024)

/* Counts are uint64 in the profile; marshal takes int64. */
static int64_t count_i64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* Whether the key just encoded at keys->data[off[i] ..) equals an earlier
 * one; if not, remembers it in seen (key bytes' hash -> function, probing
 * on past hash collisions). */
static bool prof_key_taken(struct u64map *seen, const struct mbuf *keys, const size_t *off,
			   size_t i)
{
	size_t len = keys->len - off[i];
	uint64_t h = hash_bytes(keys->data + off[i], len, 0), j;

	for (;; h = hash_u64(h + 1)) {
		if (!u64map_get(seen, h, &j)) {
			u64map_put(seen, h, i);
			return false;
		}
		if (off[j + 1] - off[j] == len && memcmp(keys->data + off[j], keys->data + off[i],
							 len) == 0)
			return true;
	}
}

/* Encodes every function's key tuple once, back to back in keys; key i is
 * keys->data[off[i] .. off[i + 1]). Each key is written once per function
 * and once per edge into it, so this saves re-encoding the strings.
 * Names that differ only in bytes that are not UTF-8 read the same once
 * those become U+FFFD, and Python's dict would keep one of them: a later
 * one is told apart by " #2" (" #3", ...) after its name. */
static void prof_keys(const struct profile *p, struct mbuf *keys, size_t *off)
{
	struct u64map *seen = u64map_new();

	for (size_t i = 0; i < p->nfuncs; i++) {
		const struct pfunc *f = &p->funcs[i];

		for (unsigned k = 1;; k++) {
			off[i] = keys->len;
			marshal_tuple_begin(keys, 3);
			marshal_str(keys, f->file);
			marshal_int(keys, f->line);
			if (k == 1) {
				marshal_str(keys, f->name);
			} else {
				char *name = xasprintf("%s #%u", f->name, k);
				marshal_str(keys, name);
				free(name);
			}
			off[i + 1] = keys->len;
			if (!prof_key_taken(seen, keys, off, i))
				break;
			keys->len = off[i];
		}
	}
	u64map_free(seen);
}

/* Orders the edges by callee, keeping their order otherwise (a counting
 * sort); edges into function i are order[start[i] .. start[i + 1]). */
static void prof_group(const struct profile *p, size_t *start, size_t *order)
{
	for (size_t i = 0; i <= p->nfuncs; i++)
		start[i] = 0;
	for (size_t e = 0; e < p->nedges; e++)
		start[p->edges[e].callee + 1]++;
	for (size_t i = 0; i < p->nfuncs; i++)
		start[i + 1] += start[i];
	/* Filling advances start[i] to the end of group i, the start of the
	 * next; shift back afterwards. */
	for (size_t e = 0; e < p->nedges; e++)
		order[start[p->edges[e].callee]++] = e;
	for (size_t i = p->nfuncs; i > 0; i--)
		start[i] = start[i - 1];
	start[0] = 0;
}

/* Hands the buffered bytes to f once there are at least min of them. */
static int prof_flush(struct mbuf *b, FILE *f, size_t min)
{
	if (b->len < min || b->len == 0)
		return 0;
	if (fwrite(b->data, 1, b->len, f) != b->len) {
		if (errno == 0)
			errno = EIO;
		return -1;
	}
	b->len = 0;
	return 0;
}

/* Writes p as a pstats file; a profile without samples has nothing to say
 * and is refused. */
static int prof_write(const struct profile *p, FILE *f)
{
	struct mbuf b, keys;
	size_t *keyoff, *start, *order;
	int rc = 0;

	if (p->total == 0 || p->nfuncs == 0) {
		errno = ENODATA;
		return -1;
	}
	mbuf_init(&b);
	mbuf_init(&keys);
	keyoff = xmalloc((p->nfuncs + 1) * sizeof(*keyoff));
	start = xmalloc((p->nfuncs + 1) * sizeof(*start));
	order = xmalloc((p->nedges ? p->nedges : 1) * sizeof(*order));
	prof_keys(p, &keys, keyoff);
	prof_group(p, start, order);

	marshal_dict_begin(&b);
	for (size_t i = 0; i < p->nfuncs && rc == 0; i++) {
		const struct pfunc *fn = &p->funcs[i];

		mbuf_append(&b, keys.data + keyoff[i], keyoff[i + 1] - keyoff[i]);
		marshal_tuple_begin(&b, 5);
		marshal_int(&b, count_i64(fn->cc));
		marshal_int(&b, count_i64(fn->nc));
		marshal_float(&b, (double)fn->tt * p->interval);
		marshal_float(&b, (double)fn->cc * p->interval);
		marshal_dict_begin(&b);
		for (size_t k = start[i]; k < start[i + 1]; k++) {
			const struct pedge *e = &p->edges[order[k]];

			mbuf_append(&b, keys.data + keyoff[e->caller],
				    keyoff[e->caller + 1] - keyoff[e->caller]);
			marshal_tuple_begin(&b, 4);
			marshal_int(&b, count_i64(e->nc));
			marshal_int(&b, count_i64(e->cc));
			marshal_float(&b, (double)e->tt * p->interval);
			marshal_float(&b, (double)e->cc * p->interval);
		}
		marshal_dict_end(&b);
		rc = prof_flush(&b, f, PROF_CHUNK);
	}
	if (rc == 0) {
		marshal_dict_end(&b);
		rc = prof_flush(&b, f, 0);
	}

	mbuf_free(&b);
	mbuf_free(&keys);
	free(keyoff);
	free(start);
	free(order);
	return rc;
}

const struct writer writer_prof = {
	.id = "prof",
	.ext = ".prof",
	.write = prof_write,
};
