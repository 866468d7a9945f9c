/* fuzz_maps.c: /proc/PID/maps text through maps_parse, then maps_find at
 * the edges of every entry and at addresses taken from the input. Every
 * entry found must hold the address; when the entries are sorted and do
 * not overlap (as the kernel writes them), the search must find exactly
 * what a linear scan finds. */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "maps.h"

/* The entry holding addr, the slow way. */
static const struct map_entry *scan(const struct maps *m, uint64_t addr)
{
	for (size_t i = 0; i < m->n; i++)
		if (addr >= m->v[i].start && addr < m->v[i].end)
			return &m->v[i];
	return NULL;
}

static void probe(const struct maps *m, uint64_t addr, bool ordered)
{
	const struct map_entry *e = maps_find(m, addr);

	if (e) {
		FUZZ_CHECK(e >= m->v && e < m->v + m->n, "maps_find returned no entry of the maps");
		FUZZ_CHECK(addr >= e->start && addr < e->end,
			   "maps_find(%#llx) gave [%#llx, %#llx)", (unsigned long long)addr,
			   (unsigned long long)e->start, (unsigned long long)e->end);
	}
	if (ordered)
		FUZZ_CHECK(e == scan(m, addr), "maps_find(%#llx) misses an entry",
			   (unsigned long long)addr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct maps *m = maps_parse((const char *)data, size);
	bool ordered = true;
	struct fuzz_in in = { data, size };

	FUZZ_CHECK(m, "maps_parse returned NULL");
	for (size_t i = 0; i < m->n; i++) {
		const struct map_entry *e = &m->v[i];

		FUZZ_CHECK(e->start < e->end, "entry %zu is empty or reversed", i);
		FUZZ_CHECK(e->path && strlen(e->path) <= size, "entry %zu has a bad path", i);
		if (i > 0 && e->start < m->v[i - 1].end)
			ordered = false;
	}
	for (size_t i = 0; i < m->n; i++) {
		probe(m, m->v[i].start, ordered);
		probe(m, m->v[i].end - 1, ordered);
		probe(m, m->v[i].end, ordered);
		if (m->v[i].start > 0)
			probe(m, m->v[i].start - 1, ordered);
	}
	for (int k = 0; k < 8 && in.n >= 8; k++)
		probe(m, fuzz_u64(&in), ordered);
	probe(m, 0, ordered);
	probe(m, UINT64_MAX, ordered);
	FUZZ_CHECK(maps_find(NULL, 0) == NULL, "maps_find on no maps found something");
	maps_free(m);
	return 0;
}
