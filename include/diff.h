/* diff.h: two profiles side by side, for sprofd report --diff. Functions
 * pair by (file, line, name), or by (file, name) when a definition moved
 * between the two; each gets its self and cumulative share of its
 * profile's total in both, and the change in points, so that profiles of
 * different lengths and rates compare. Shown as a table, or as a
 * differential flame graph of AFTER's call edges coloured by the change.
 * A diff borrows both profiles, which must outlive it. */
#ifndef SPROFD_DIFF_H
#define SPROFD_DIFF_H

#include <stdio.h>

#include "report.h"

struct diff;
struct profile;

/* Pairs the functions of before and after. */
struct diff *diff_new(const struct profile *before, const struct profile *after);
void diff_free(struct diff *d);
/* Prints the header lines naming both files, then up to rows rows (0:
 * none; negative: all) in the order of sort: the largest change of the
 * self share first (SORT_TOTTIME), of the cumulative share (SORT_CUMTIME),
 * or by name (SORT_NAME). */
void diff_print(FILE *f, const struct diff *d, const char *bpath, const char *apath, int rows,
		enum report_sort sort);
/* Writes the differential flame graph to path atomically. Returns 0, or
 * -1 after logging why. */
int diff_write_svg(const struct diff *d, const char *bpath, const char *apath, const char *path);

#endif
