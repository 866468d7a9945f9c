/* report.h: the console table, in the shape of pstats and Werkzeug's
 * ProfilerMiddleware, from a finished profile; and the callers and callees
 * of chosen functions. */
#ifndef SPROFD_REPORT_H
#define SPROFD_REPORT_H

#include <stdbool.h>
#include <stdio.h>

struct pfunc;
struct profile;

enum report_sort { SORT_TOTTIME, SORT_CUMTIME, SORT_NCALLS, SORT_NAME };

/* Parses "tottime", "cumtime", "ncalls", "name". Returns 0 or -1. */
int report_parse_sort(const char *s, enum report_sort *out);
/* Prints the header line of a sampled profile and up to rows rows (0:
 * header only; negative: all). */
void report_print(FILE *f, const struct profile *p, int rows, enum report_sort sort);
/* Only the rows (after an empty line), as report_print has them. */
void report_table(FILE *f, const struct profile *p, int rows, enum report_sort sort);
/* The header line of a profile read from a file: samples and rate, or for
 * cProfile's files calls and seconds, as pstats puts them. */
void report_file_header(FILE *f, const struct profile *p, const char *path);
/* Prints the callers (or callees) of each function called name, in the
 * order of sort; if none is, of each whose "file:line(function)" matches
 * name as an extended regular expression, as pstats takes restrictions.
 * Returns how many functions were shown, or -1 (logged) if name is no
 * name and no valid expression. */
int report_calls_of(FILE *f, const struct profile *p, const char *name, bool callees,
		    enum report_sort sort);
/* Prints "file:line(function)" as the table has it, escaped so that a row
 * stays one line (names and paths may hold newlines), and a newline. */
void report_location(FILE *f, const struct pfunc *fn);

#endif
