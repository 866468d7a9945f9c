/* report.h: the console table, in the shape of pstats and Werkzeug's
 * ProfilerMiddleware, from a finished profile. */
#ifndef SPROFD_REPORT_H
#define SPROFD_REPORT_H

#include <stdio.h>

struct profile;

enum report_sort { SORT_TOTTIME, SORT_CUMTIME, SORT_NCALLS, SORT_NAME };

/* Parses "tottime", "cumtime", "ncalls", "name". Returns 0 or -1. */
int report_parse_sort(const char *s, enum report_sort *out);
/* Prints the header line and up to rows rows (0: header only). */
void report_print(FILE *f, const struct profile *p, int rows, enum report_sort sort);

#endif
