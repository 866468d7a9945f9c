/* fuzz_perfmap.c: perf map text ("START SIZE NAME" lines) through
 * perfmap_add_text and perfmap_lookup, on a map opened on a path that does
 * not exist (nothing is read from /tmp). The same text is also given to a
 * second map in two pieces split at a line break, as perfmap_refresh
 * hands it over when a file grows: both maps must hold the same entries
 * and answer every lookup alike. Addresses looked up are the hex numbers
 * of the text, one below and one past them, and a few from the input's
 * bytes; an answer must start at or below the address. */
#include <ctype.h>
#include <string.h>

#include "fuzz.h"
#include "perfmap.h"

#define NOPATH "/nonexistent/sprofd-fuzz/perf-0.map"

static void lookup_both(struct perfmap *a, struct perfmap *b, uint64_t addr)
{
	uint64_t sa = 0, sb = 0;
	const char *na = perfmap_lookup(a, addr, &sa), *nb = perfmap_lookup(b, addr, &sb);

	FUZZ_CHECK(!na == !nb, "lookup %#llx: found in one map only", (unsigned long long)addr);
	if (!na)
		return;
	FUZZ_CHECK(strcmp(na, nb) == 0 && sa == sb, "lookup %#llx: '%.40s' at %#llx or '%.40s' "
		   "at %#llx", (unsigned long long)addr, na, (unsigned long long)sa, nb,
		   (unsigned long long)sb);
	FUZZ_CHECK(sa <= addr, "lookup %#llx: the entry starts after it at %#llx",
		   (unsigned long long)addr, (unsigned long long)sa);
	FUZZ_CHECK(perfmap_lookup(a, addr, NULL) == na, "lookup %#llx: another answer without start",
		   (unsigned long long)addr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct perfmap *a = perfmap_open(NOPATH), *b = perfmap_open(NOPATH);
	const char *cut = size ? memchr(text + size / 2, '\n', size - size / 2) : NULL;
	size_t first = cut ? (size_t)(cut - text) + 1 : size;
	size_t added = perfmap_add_text(a, text, size);
	size_t added2 = perfmap_add_text(b, text, first);
	struct fuzz_in in = { data, size };

	added2 += perfmap_add_text(b, text + first, size - first);
	FUZZ_CHECK(added == perfmap_count(a), "added %zu, count %zu", added, perfmap_count(a));
	FUZZ_CHECK(added == added2, "%zu entries at once, %zu in two pieces", added, added2);
	FUZZ_CHECK(perfmap_refresh(a) == -1, "a map of a missing file refreshed");
	FUZZ_CHECK(strcmp(perfmap_path(a), NOPATH) == 0, "the path changed");

	/* Every hex number of the text (with or without 0x). */
	for (size_t i = 0, probes = 0; i < size && probes < 64; i++) {
		uint64_t v = 0;
		size_t j = i, nd = 0;

		if (!isxdigit(data[i]) || (i > 0 && isalnum(data[i - 1])))
			continue;
		if (j + 1 < size && data[j] == '0' && (data[j + 1] == 'x' || data[j + 1] == 'X'))
			j += 2;
		for (; j < size && isxdigit(data[j]) && nd < 16; j++, nd++)
			v = v << 4 | (uint64_t)(isdigit(data[j]) ? data[j] - '0'
							: (tolower(data[j]) - 'a' + 10));
		probes++;
		lookup_both(a, b, v);
		lookup_both(a, b, v - 1);
		lookup_both(a, b, v + 1);
		i = j;
	}
	for (int k = 0; k < 4 && in.n >= 8; k++)
		lookup_both(a, b, fuzz_u64(&in));
	lookup_both(a, b, 0);
	lookup_both(a, b, UINT64_MAX);
	perfmap_free(a);
	perfmap_free(b);
	perfmap_free(NULL);
	return 0;
}
