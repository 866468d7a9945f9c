/* fuzz_pstats.c: any file given to "sprofd report" through pstats_parse,
 * and what report prints of a profile read so: the header, the table and
 * the callers and callees of a function, sorted every way. The profile
 * read must be whole: every edge between functions it has. */
#include <string.h>

#include "fuzz.h"
#include "profile.h"
#include "pstats_read.h"
#include "report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum report_sort sorts[] = { SORT_TOTTIME, SORT_CUMTIME, SORT_NCALLS,
						  SORT_NAME };
	struct profile *p = pstats_parse(data, size, "fuzz.prof");
	FILE *f = fuzz_devnull();

	if (!p)
		return 0;
	FUZZ_CHECK(p->nfuncs >= 1, "no root");
	for (size_t i = 0; i < p->nedges; i++)
		FUZZ_CHECK(p->edges[i].caller < p->nfuncs && p->edges[i].callee < p->nfuncs,
			   "edge %zu outside the functions", i);
	for (size_t i = 0; i < p->nfuncs; i++)
		FUZZ_CHECK(p->funcs[i].file && p->funcs[i].name, "function %zu unnamed", i);
	report_file_header(f, p, "fuzz.prof");
	for (size_t s = 0; s < sizeof(sorts) / sizeof(sorts[0]); s++) {
		report_table(f, p, s == 0 ? -1 : 5, sorts[s]);
		report_print(f, p, 3, sorts[s]);
	}
	/* A name of the profile, and an expression that matches them all. */
	if (p->nfuncs > 1) {
		report_calls_of(f, p, p->funcs[p->nfuncs - 1].name, false, SORT_TOTTIME);
		report_calls_of(f, p, p->funcs[1].name, true, SORT_CUMTIME);
	}
	report_calls_of(f, p, ".*", true, SORT_NAME);
	profile_free(p);
	return 0;
}
