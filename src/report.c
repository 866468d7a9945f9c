/* report.c: the console table (see report.h): a summary line, then rows in
 * the columns of pstats' print_stats, plus self and cumulative percentages
 * of all samples; and the callers and callees of chosen functions, as
 * pstats' print_callers and print_callees show them. Profiles read from
 * cProfile's files carry seconds instead of samples (ftimes, etimes): the
 * same columns, from those. */
#include "report.h"

#include <inttypes.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "profile.h"
#include "split.h"
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

/* Descending on a, then on b. */
static int cmp_desc(uint64_t a1, uint64_t a2, uint64_t b1, uint64_t b2)
{
	if (a1 != a2)
		return a1 > a2 ? -1 : 1;
	if (b1 != b2)
		return b1 > b2 ? -1 : 1;
	return 0;
}

/* Descending on doubles a, then b. */
static int cmp_desc_d(double a1, double a2, double b1, double b2)
{
	if (a1 != a2)
		return a1 > a2 ? -1 : 1;
	if (b1 != b2)
		return b1 > b2 ? -1 : 1;
	return 0;
}

struct sort_ctx {
	const struct profile *p;
	enum report_sort sort;
};

/* Orders two function indexes by the chosen key; the index breaks ties, so
 * the table is the same from run to run. */
static int report_cmp(const void *x, const void *y, void *arg)
{
	const struct sort_ctx *c = arg;
	const struct profile *p = c->p;
	size_t i = *(const size_t *)x, j = *(const size_t *)y;
	const struct pfunc *a = &p->funcs[i], *b = &p->funcs[j];
	int r;

	switch (c->sort) {
	case SORT_CUMTIME:
		if (p->ftimes)
			r = cmp_desc_d(p->ftimes[i].ct, p->ftimes[j].ct, p->ftimes[i].tt,
				       p->ftimes[j].tt);
		else
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
		if (p->ftimes)
			r = cmp_desc_d(p->ftimes[i].tt, p->ftimes[j].tt, p->ftimes[i].ct,
				       p->ftimes[j].ct);
		else
			r = cmp_desc(a->tt, b->tt, a->cc, b->cc);
		break;
	}
	return r ? r : (i > j) - (i < j);
}

/* Formats "file:line(name)", or for file "~" the bare name with <...>
 * shown as {...}, as pstats does for built-ins; malloc'd. */
static char *report_where(const struct pfunc *fn)
{
	size_t n = strlen(fn->name);

	if (strcmp(fn->file, "~") != 0)
		return xasprintf("%s:%d(%s)", fn->file, fn->line, fn->name);
	if (n >= 2 && fn->name[0] == '<' && fn->name[n - 1] == '>')
		return xasprintf("{%.*s}", (int)(n - 2), fn->name + 1);
	return xstrdup(fn->name);
}

void report_location(FILE *f, const struct pfunc *fn)
{
	char *w = report_where(fn);

	str_escape(f, w);
	fputc('\n', f);
	free(w);
}

/* Percent of all time: of samples, or of seconds for timed profiles. */
static double report_pct(const struct profile *p, uint64_t count, double secs)
{
	double total;

	if (p->ftimes) {
		total = profile_total_time(p);
		return total > 0 ? secs / total * 100.0 : 0.0;
	}
	return (double)count / (p->total ? (double)p->total : 1.0) * 100.0;
}

/* "nc" or "nc/cc" (under recursion), as pstats shows call counts. */
static const char *report_calls(char *buf, size_t len, uint64_t nc, uint64_t cc)
{
	if (nc != cc)
		snprintf(buf, len, "%" PRIu64 "/%" PRIu64, nc, cc);
	else
		snprintf(buf, len, "%" PRIu64, nc);
	return buf;
}

/* One row: ncalls tottime percall cumtime percall self% cum% location. */
static void report_row(FILE *f, const struct profile *p, size_t i)
{
	const struct pfunc *fn = &p->funcs[i];
	double tt = profile_func_tt(p, i), ct = profile_func_ct(p, i);
	char calls[48];

	fprintf(f, "%9s %8.3f ", report_calls(calls, sizeof(calls), fn->nc, fn->cc), tt);
	if (fn->nc)
		fprintf(f, "%8.3f ", tt / (double)fn->nc);
	else
		fprintf(f, "%8s ", "");
	fprintf(f, "%8.3f ", ct);
	if (fn->cc)
		fprintf(f, "%8.3f ", ct / (double)fn->cc);
	else
		fprintf(f, "%8s ", "");
	fprintf(f, "%6.1f %6.1f  ", report_pct(p, fn->tt, tt), report_pct(p, fn->cc, ct));
	report_location(f, fn);
}

/* The summary line: who, how many threads and samples, over how long. */
static void report_header(FILE *f, const struct profile *p)
{
	const struct profile_meta *m = &p->meta;
	char samples[32], trunc[32], comm[sizeof(m->comm) + 1];

	fprintf(f, "PID %ld", (long)m->pid);
	if (m->comm[0]) {
		snprintf(comm, sizeof(comm), "%.*s", (int)sizeof(m->comm), m->comm);
		fputs(" (", f);
		str_escape(f, comm);
		fputc(')', f);
	}
	fputc(':', f);
	if (m->nprocs > 1)
		fprintf(f, " %u processes,", m->nprocs);
	fprintf(f, " %u thread%s, %s sample%s in %.1f s at %g Hz", m->nthreads,
		m->nthreads == 1 ? "" : "s", fmt_thousands(samples, p->total),
		p->total == 1 ? "" : "s", m->duration, m->hz);
	if (m->truncated > 0)
		fprintf(f, "; %s stack%s truncated at the depth limit",
			fmt_thousands(trunc, m->truncated), m->truncated == 1 ? "" : "s");
	if (m->python[0]) {
		fprintf(f, "; python%s %.*s", strchr(m->python, ',') ? "s" : "",
			(int)sizeof(m->python), m->python);
		/* In a tree, a shell or a native master beside Python workers. */
		if (m->nprocs > 1 && m->python_procs < m->nprocs)
			fprintf(f, " (%u of %u processes)", m->python_procs, m->nprocs);
	}
	if (m->python_mismatched > 0)
		fprintf(f, " (%s sample%s with Python and native frames not lined up)",
			fmt_thousands(trunc, m->python_mismatched),
			m->python_mismatched == 1 ? "" : "s");
	fputc('\n', f);
}

/* Function indexes, root excluded, in the order of sort; n gets the count. */
static size_t *report_order(const struct profile *p, enum report_sort sort, size_t *n)
{
	struct sort_ctx ctx = { p, sort };
	size_t *order;

	*n = p->nfuncs > 0 ? p->nfuncs - 1 : 0;
	/* funcs[0] is the root: every sample, no function of its own. */
	order = xmalloc((*n + 1) * sizeof(*order));
	for (size_t i = 0; i < *n; i++)
		order[i] = i + 1;
	qsort_r(order, *n, sizeof(*order), report_cmp, &ctx);
	return order;
}

void report_table(FILE *f, const struct profile *p, int rows, enum report_sort sort)
{
	size_t n, shown, *order;

	if (rows == 0 || p->nfuncs <= 1)
		return;
	order = report_order(p, sort, &n);
	/* A negative row count means no limit. */
	shown = rows < 0 || (size_t)rows > n ? n : (size_t)rows;
	fputc('\n', f);
	if (shown < n)
		fprintf(f, "   List reduced from %zu to %zu due to restriction <%zu>\n\n", n, shown,
			shown);
	fputs("   ncalls  tottime  percall  cumtime  percall  self%   cum%  filename:lineno(function)\n",
	      f);
	for (size_t k = 0; k < shown; k++)
		report_row(f, p, order[k]);
	free(order);
}

void report_print(FILE *f, const struct profile *p, int rows, enum report_sort sort)
{
	report_header(f, p);
	split_print(f, p);
	report_table(f, p, rows, sort);
}

void report_file_header(FILE *f, const struct profile *p, const char *path)
{
	char a[32], b[32];
	uint64_t calls = 0, prim = 0;

	if (!p->ftimes) {
		fprintf(f, "%s: %s sample%s at %g Hz (%.3f s), %zu function%s\n", path,
			fmt_thousands(a, p->total), p->total == 1 ? "" : "s", p->meta.hz,
			(double)p->total * p->interval, p->nfuncs - 1, p->nfuncs == 2 ? "" : "s");
		return;
	}
	/* As pstats says it: all calls, and those that were not recursive. */
	for (size_t i = 1; i < p->nfuncs; i++) {
		calls += p->funcs[i].nc;
		prim += p->funcs[i].cc;
	}
	fprintf(f, "%s: %s function call%s", path, fmt_thousands(a, calls), calls == 1 ? "" : "s");
	if (prim != calls)
		fprintf(f, " (%s primitive call%s)", fmt_thousands(b, prim), prim == 1 ? "" : "s");
	fprintf(f, " in %.3f seconds\n", profile_total_time(p));
}

/* Orders edge indexes by cumulative time, then by the other end's index. */
struct edge_ctx {
	const struct profile *p;
	bool callees;
};

static int report_edge_cmp(const void *x, const void *y, void *arg)
{
	const struct edge_ctx *c = arg;
	size_t i = *(const size_t *)x, j = *(const size_t *)y;
	double a = profile_edge_ct(c->p, i), b = profile_edge_ct(c->p, j);
	uint32_t ea = c->callees ? c->p->edges[i].callee : c->p->edges[i].caller;
	uint32_t eb = c->callees ? c->p->edges[j].callee : c->p->edges[j].caller;

	if (a != b)
		return a > b ? -1 : 1;
	return (ea > eb) - (ea < eb);
}

/* The callers (or callees) of function fi, one line each. */
static void report_edges_of(FILE *f, const struct profile *p, size_t fi, bool callees)
{
	struct edge_ctx ctx = { p, callees };
	size_t *list = xmalloc((p->nedges + 1) * sizeof(*list)), n = 0;
	char *where = report_where(&p->funcs[fi]), calls[48];

	for (size_t e = 0; e < p->nedges; e++)
		if ((callees ? p->edges[e].caller : p->edges[e].callee) == fi)
			list[n++] = e;
	qsort_r(list, n, sizeof(*list), report_edge_cmp, &ctx);
	fprintf(f, "\n%s of ", callees ? "Callees" : "Callers");
	str_escape(f, where);
	fprintf(f, ": cumtime %.3f s, %.1f%%\n", profile_func_ct(p, fi),
		report_pct(p, p->funcs[fi].cc, profile_func_ct(p, fi)));
	if (n == 0) {
		fprintf(f, "   (none)\n");
	} else {
		fprintf(f, "   ncalls  tottime  cumtime   cum%%  %s\n", callees ? "callee" : "caller");
		for (size_t k = 0; k < n; k++) {
			const struct pedge *e = &p->edges[list[k]];
			double ct = profile_edge_ct(p, list[k]);

			fprintf(f, "%9s %8.3f %8.3f %6.1f  ", report_calls(calls, sizeof(calls), e->nc,
									  e->cc),
				profile_edge_tt(p, list[k]), ct, report_pct(p, e->cc, ct));
			report_location(f, &p->funcs[callees ? e->callee : e->caller]);
		}
	}
	free(where);
	free(list);
}

int report_calls_of(FILE *f, const struct profile *p, const char *name, bool callees,
		    enum report_sort sort)
{
	size_t n, *order = report_order(p, sort, &n);
	int found = 0;
	regex_t re;
	int err;

	for (size_t k = 0; k < n; k++) {
		if (strcmp(p->funcs[order[k]].name, name) == 0) {
			report_edges_of(f, p, order[k], callees);
			found++;
		}
	}
	if (found) {
		free(order);
		return found;
	}
	/* No function has that name: a pattern, as pstats takes them. */
	if ((err = regcomp(&re, name, REG_EXTENDED | REG_NOSUB)) != 0) {
		char msg[128];
		regerror(err, &re, msg, sizeof(msg));
		log_err("'%s' is no function name and no regular expression: %s", name, msg);
		free(order);
		return -1;
	}
	for (size_t k = 0; k < n; k++) {
		char *where = report_where(&p->funcs[order[k]]);
		if (regexec(&re, where, 0, NULL, 0) == 0) {
			report_edges_of(f, p, order[k], callees);
			found++;
		}
		free(where);
	}
	regfree(&re);
	free(order);
	return found;
}
