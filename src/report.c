/* report.c: the console table (see report.h): a summary line, then rows in
 * the columns of pstats' print_stats, plus self and cumulative percentages
 * of all samples. */
#include "report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "util.h"

static const struct {
	const char *name;
	enum report_sort sort;
} sort_names[] = {
	{ "tottime", SORT_TOTTIME },
	{ "cumtime", SORT_CUMTIME },
	{ "ncalls", SORT_NCALLS },
	{ "name", SORT_NAME },
};

int report_parse_sort(const char *s, enum report_sort *out)
{
	for (size_t i = 0; i < sizeof(sort_names) / sizeof(sort_names[0]); i++) {
		if (strcmp(s, sort_names[i].name) == 0) {
			*out = sort_names[i].sort;
			return 0;
		}
	}
	return -1;
}

/* Formats v with thousands separators ("3,012") into buf (at least 27
 * bytes: 20 digits and 6 commas). */
static const char *report_thousands(char *buf, uint64_t v)
{
	char digits[21];
	int n = snprintf(digits, sizeof(digits), "%" PRIu64, v), o = 0;

	for (int i = 0; i < n; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

/* Descending on a, then on b. */
static int cmp_desc(uint64_t a1, uint64_t a2, uint64_t b1, uint64_t b2)
{
	if (a1 != a2)
		return a1 > a2 ? -1 : 1;
	if (b1 != b2)
		return b1 > b2 ? -1 : 1;
	return 0;
}

struct sort_ctx {
	const struct pfunc *funcs;
	enum report_sort sort;
};

/* Orders two function indexes by the chosen key; the index breaks ties, so
 * the table is the same from run to run. */
static int report_cmp(const void *x, const void *y, void *arg)
{
	const struct sort_ctx *c = arg;
	size_t i = *(const size_t *)x, j = *(const size_t *)y;
	const struct pfunc *a = &c->funcs[i], *b = &c->funcs[j];
	int r;

	switch (c->sort) {
	case SORT_CUMTIME:
		r = cmp_desc(a->cc, b->cc, a->tt, b->tt);
		break;
	case SORT_NCALLS:
		r = cmp_desc(a->nc, b->nc, a->cc, b->cc);
		break;
	case SORT_NAME:
		if ((r = strcmp(a->name, b->name)) == 0 && (r = strcmp(a->file, b->file)) == 0)
			r = (a->line > b->line) - (a->line < b->line);
		break;
	case SORT_TOTTIME:
	default:
		r = cmp_desc(a->tt, b->tt, a->cc, b->cc);
		break;
	}
	return r ? r : (i > j) - (i < j);
}

/* Prints "file:line(name)", or for file "~" the bare name with <...>
 * shown as {...}, as pstats does for built-ins. */
static void report_location(FILE *f, const struct pfunc *fn)
{
	size_t n = strlen(fn->name);

	if (strcmp(fn->file, "~") != 0)
		fprintf(f, "%s:%d(%s)\n", fn->file, fn->line, fn->name);
	else if (n >= 2 && fn->name[0] == '<' && fn->name[n - 1] == '>')
		fprintf(f, "{%.*s}\n", (int)(n - 2), fn->name + 1);
	else
		fprintf(f, "%s\n", fn->name);
}

/* One row: ncalls tottime percall cumtime percall self% cum% location. */
static void report_row(FILE *f, const struct profile *p, const struct pfunc *fn)
{
	double tt = (double)fn->tt * p->interval, ct = (double)fn->cc * p->interval;
	double total = p->total ? (double)p->total : 1.0;
	char calls[48];

	if (fn->nc != fn->cc)
		snprintf(calls, sizeof(calls), "%" PRIu64 "/%" PRIu64, fn->nc, fn->cc);
	else
		snprintf(calls, sizeof(calls), "%" PRIu64, fn->nc);
	fprintf(f, "%9s %8.3f ", calls, tt);
	if (fn->nc)
		fprintf(f, "%8.3f ", tt / (double)fn->nc);
	else
		fprintf(f, "%8s ", "");
	fprintf(f, "%8.3f ", ct);
	if (fn->cc)
		fprintf(f, "%8.3f ", ct / (double)fn->cc);
	else
		fprintf(f, "%8s ", "");
	fprintf(f, "%6.1f %6.1f  ", (double)fn->tt / total * 100.0, (double)fn->cc / total * 100.0);
	report_location(f, fn);
}

/* The summary line: who, how many threads and samples, over how long. */
static void report_header(FILE *f, const struct profile *p)
{
	const struct profile_meta *m = &p->meta;
	char samples[32], trunc[32];

	fprintf(f, "PID %ld", (long)m->pid);
	if (m->comm[0])
		fprintf(f, " (%.*s)", (int)sizeof(m->comm), m->comm);
	fprintf(f, ": %u thread%s, %s sample%s in %.1f s at %g Hz", m->nthreads,
		m->nthreads == 1 ? "" : "s", report_thousands(samples, p->total),
		p->total == 1 ? "" : "s", m->duration, m->hz);
	if (m->truncated > 0)
		fprintf(f, "; %s stack%s truncated at the depth limit",
			report_thousands(trunc, m->truncated), m->truncated == 1 ? "" : "s");
	fputc('\n', f);
}

void report_print(FILE *f, const struct profile *p, int rows, enum report_sort sort)
{
	struct sort_ctx ctx = { p->funcs, sort };
	size_t n = p->nfuncs > 0 ? p->nfuncs - 1 : 0, shown;
	size_t *order;

	report_header(f, p);
	if (rows == 0 || n == 0)
		return;
	/* A negative row count means no limit. */
	shown = rows < 0 || (size_t)rows > n ? n : (size_t)rows;

	/* funcs[0] is the root: every sample, no function of its own. */
	order = xmalloc(n * sizeof(*order));
	for (size_t i = 0; i < n; i++)
		order[i] = i + 1;
	qsort_r(order, n, sizeof(*order), report_cmp, &ctx);

	fputc('\n', f);
	if (shown < n)
		fprintf(f, "   List reduced from %zu to %zu due to restriction <%zu>\n\n", n, shown,
			shown);
	fputs("   ncalls  tottime  percall  cumtime  percall  self%   cum%  filename:lineno(function)\n",
	      f);
	for (size_t k = 0; k < shown; k++)
		report_row(f, p, &p->funcs[order[k]]);
	free(order);
}
