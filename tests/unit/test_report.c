/* test_report.c: the console table, printed into memory and compared line
 * by line. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "report.h"
#include "suites.h"

/* A hand-made profile: 3,012 samples at 100 Hz (interval 0.01 s).
 *             cc    nc    tt   tottime percall cumtime percall self%  cum%
 *   handle  2000  2000   500    5.000   0.003  20.000   0.010  16.6  66.4
 *   parse   1500  2500  1200   12.000   0.005  15.000   0.010  39.8  49.8
 *   <built-in> 300  300  300    3.000   0.010   3.000   0.010  10.0  10.0
 *   alpha   1000  1000  1000   10.000   0.010  10.000   0.010  33.2  33.2
 * (500/3012 = 16.60%, 2000/3012 = 66.40%, 1200/3012 = 39.84%,
 *  1500/3012 = 49.80%, 300/3012 = 9.96%, 1000/3012 = 33.20%;
 *  12/2500 = 0.0048) */
static struct pfunc funcs[] = {
	{ "~", 0, "<all samples>", 3012, 3012, 0 },
	{ "app.c", 10, "handle", 2000, 2000, 500 },
	{ "app.c", 20, "parse", 1500, 2500, 1200 },
	{ "~", 0, "<built-in>", 300, 300, 300 },
	{ "lib.c", 5, "alpha", 1000, 1000, 1000 },
};

static struct profile make_profile(void)
{
	struct profile p = {
		.funcs = funcs, .nfuncs = 5, .edges = NULL, .nedges = 0,
		.total = 3012, .interval = 0.01,
		.meta = { .pid = 4242, .comm = "myserver", .nthreads = 9, .duration = 30.0,
			  .hz = 100, .truncated = 12 },
	};
	return p;
}

static const char header[] =
	"PID 4242 (myserver): 9 threads, 3,012 samples in 30.0 s at 100 Hz; "
	"12 stacks truncated at the depth limit\n";
static const char columns[] =
	"   ncalls  tottime  percall  cumtime  percall  self%   cum%  filename:lineno(function)\n";
static const char row_handle[] =
	"     2000    5.000    0.003   20.000    0.010   16.6   66.4  app.c:10(handle)\n";
static const char row_parse[] =
	"2500/1500   12.000    0.005   15.000    0.010   39.8   49.8  app.c:20(parse)\n";
static const char row_builtin[] =
	"      300    3.000    0.010    3.000    0.010   10.0   10.0  {built-in}\n";
static const char row_alpha[] =
	"     1000   10.000    0.010   10.000    0.010   33.2   33.2  lib.c:5(alpha)\n";

/* Prints the profile into a string the caller frees. */
static char *print(const struct profile *p, int rows, enum report_sort sort)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	report_print(f, p, rows, sort);
	ck_assert_int_eq(fclose(f), 0);
	return buf;
}

/* Concatenates the given lines (ended by NULL). */
static char *join(const char *first, ...)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	va_list ap;

	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *))
		fputs(s, f);
	va_end(ap);
	fclose(f);
	return buf;
}

static void expect(const struct profile *p, int rows, enum report_sort sort, char *want)
{
	char *got = print(p, rows, sort);

	ck_assert_str_eq(got, want);
	free(got);
	free(want);
}

START_TEST(test_report_tottime)
{
	struct profile p = make_profile();

	expect(&p, 10, SORT_TOTTIME, join(header, "\n", columns, row_parse, row_alpha, row_handle,
					  row_builtin, NULL));
	/* Negative: no limit. */
	expect(&p, -1, SORT_TOTTIME, join(header, "\n", columns, row_parse, row_alpha, row_handle,
					  row_builtin, NULL));
}
END_TEST

START_TEST(test_report_sorts)
{
	struct profile p = make_profile();

	expect(&p, 4, SORT_CUMTIME, join(header, "\n", columns, row_handle, row_parse, row_alpha,
					 row_builtin, NULL));
	expect(&p, 4, SORT_NCALLS, join(header, "\n", columns, row_parse, row_handle, row_alpha,
					row_builtin, NULL));
	/* By name: '<' sorts before letters. */
	expect(&p, 4, SORT_NAME, join(header, "\n", columns, row_builtin, row_alpha, row_handle,
				      row_parse, NULL));
}
END_TEST

START_TEST(test_report_reduced)
{
	struct profile p = make_profile();

	expect(&p, 2, SORT_TOTTIME, join(header, "\n",
					 "   List reduced from 4 to 2 due to restriction <2>\n", "\n",
					 columns, row_parse, row_alpha, NULL));
	expect(&p, 1, SORT_CUMTIME, join(header, "\n",
					 "   List reduced from 4 to 1 due to restriction <1>\n", "\n",
					 columns, row_handle, NULL));
	/* Exactly as many rows as functions: nothing was cut. */
	expect(&p, 4, SORT_TOTTIME, join(header, "\n", columns, row_parse, row_alpha, row_handle,
					 row_builtin, NULL));
	/* Zero rows: the header line only. */
	expect(&p, 0, SORT_TOTTIME, join(header, NULL));
}
END_TEST

/* Ties in the sort key fall back to the second key, then to the order of
 * the functions; names that tie fall back to the file. */
START_TEST(test_report_ties)
{
	struct pfunc tie[] = {
		{ "~", 0, "<all samples>", 10, 10, 0 },
		{ "z.c", 1, "f", 2, 2, 2 },
		{ "y.c", 1, "f", 5, 5, 2 },
		{ "x.c", 1, "g", 2, 2, 2 },
	};
	struct profile p = {
		.funcs = tie, .nfuncs = 4, .total = 10, .interval = 1.0,
		.meta = { .pid = 1, .nthreads = 1, .duration = 10.0, .hz = 1 },
	};
	char *out = print(&p, 10, SORT_TOTTIME);
	char *y = strstr(out, "y.c:1(f)"), *z = strstr(out, "z.c:1(f)"), *x = strstr(out, "x.c:1(g)");

	ck_assert(y && z && x);
	ck_assert(y < z && z < x);
	free(out);
	out = print(&p, 10, SORT_NAME);
	y = strstr(out, "y.c:1(f)"), z = strstr(out, "z.c:1(f)"), x = strstr(out, "x.c:1(g)");
	ck_assert(y < z && z < x);
	free(out);
}
END_TEST

/* One of everything: no plural s; no comm; no truncation note; rates
 * that are not whole numbers. */
START_TEST(test_report_header_forms)
{
	struct pfunc one[] = {
		{ "~", 0, "<all samples>", 1, 1, 0 },
		{ "a.c", 3, "main", 1, 1, 1 },
	};
	struct profile p = {
		.funcs = one, .nfuncs = 2, .total = 1, .interval = 1 / 99.5,
		.meta = { .pid = 7, .comm = "x", .nthreads = 1, .duration = 0.04, .hz = 99.5,
			  .truncated = 1 },
	};
	char *out = print(&p, 0, SORT_TOTTIME);

	ck_assert_str_eq(out, "PID 7 (x): 1 thread, 1 sample in 0.0 s at 99.5 Hz; "
			      "1 stack truncated at the depth limit\n");
	free(out);
	p.meta.truncated = 0;
	p.meta.comm[0] = '\0';
	p.total = 1234567;
	p.meta.nthreads = 0;
	out = print(&p, 0, SORT_TOTTIME);
	ck_assert_str_eq(out, "PID 7: 0 threads, 1,234,567 samples in 0.0 s at 99.5 Hz\n");
	free(out);
	p.total = 999;
	out = print(&p, 0, SORT_TOTTIME);
	ck_assert_str_eq(out, "PID 7: 0 threads, 999 samples in 0.0 s at 99.5 Hz\n");
	free(out);
	p.total = 1000;
	out = print(&p, 0, SORT_TOTTIME);
	ck_assert_str_eq(out, "PID 7: 0 threads, 1,000 samples in 0.0 s at 99.5 Hz\n");
	free(out);
}
END_TEST

/* A profile with nothing but the root prints its header only. */
START_TEST(test_report_empty)
{
	struct pfunc root[] = { { "~", 0, "<all samples>", 0, 0, 0 } };
	struct profile p = {
		.funcs = root, .nfuncs = 1, .total = 0, .interval = 0.01,
		.meta = { .pid = 5, .comm = "idle", .nthreads = 2, .duration = 1.0, .hz = 100 },
	};
	char *out = print(&p, 20, SORT_TOTTIME);

	ck_assert_str_eq(out, "PID 5 (idle): 2 threads, 0 samples in 1.0 s at 100 Hz\n");
	free(out);
}
END_TEST

/* Names with a newline or a terminal command keep their row (and the
 * header its line): control characters are escaped, all else is kept. */
START_TEST(test_report_escaped)
{
	struct pfunc odd[] = {
		{ "~", 0, "<all samples>", 10, 10, 0 },
		{ "src B\n\xff\ttab;<&\">.c", 6, "weird\nname", 10, 10, 10 },
		{ "a.c", 1, "main\x1b[2J", 10, 10, 0 },
	};
	struct pedge edge[] = { { 2, 1, 10, 10, 10 } };
	struct profile p = {
		.funcs = odd, .nfuncs = 3, .edges = edge, .nedges = 1, .total = 10,
		.interval = 0.01,
		.meta = { .pid = 1, .comm = "new\nline\r", .nthreads = 1, .duration = 0.1,
			  .hz = 100 },
	};
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	expect(&p, 5, SORT_TOTTIME, join(
		"PID 1 (new\\nline\\r): 1 thread, 10 samples in 0.1 s at 100 Hz\n", "\n", columns,
		"       10    0.100    0.010    0.100    0.010  100.0  100.0  "
		"src B\\n\xff\ttab;<&\">.c:6(weird\\nname)\n",
		"       10    0.000    0.000    0.100    0.010    0.0  100.0  a.c:1(main\\x1b[2J)\n",
		NULL));

	/* Callers of the function, found by its name as it is. */
	f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(report_calls_of(f, &p, "weird\nname", false, SORT_TOTTIME), 1);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_str_eq(buf, "\nCallers of src B\\n\xff\ttab;<&\">.c:6(weird\\nname): "
			      "cumtime 0.100 s, 100.0%\n"
			      "   ncalls  tottime  cumtime   cum%  caller\n"
			      "       10    0.100    0.100  100.0  a.c:1(main\\x1b[2J)\n");
	free(buf);
}
END_TEST

START_TEST(test_report_parse_sort)
{
	enum report_sort s = SORT_NAME;

	ck_assert_int_eq(report_parse_sort("tottime", &s), 0);
	ck_assert_int_eq(s, SORT_TOTTIME);
	ck_assert_int_eq(report_parse_sort("cumtime", &s), 0);
	ck_assert_int_eq(s, SORT_CUMTIME);
	ck_assert_int_eq(report_parse_sort("ncalls", &s), 0);
	ck_assert_int_eq(s, SORT_NCALLS);
	ck_assert_int_eq(report_parse_sort("name", &s), 0);
	ck_assert_int_eq(s, SORT_NAME);
	ck_assert_int_eq(report_parse_sort("cumulative", &s), -1);
	ck_assert_int_eq(report_parse_sort("", &s), -1);
	ck_assert_int_eq(s, SORT_NAME);
}
END_TEST

Suite *suite_report(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_report_tottime);
	tcase_add_test(tc, test_report_sorts);
	tcase_add_test(tc, test_report_reduced);
	tcase_add_test(tc, test_report_ties);
	tcase_add_test(tc, test_report_header_forms);
	tcase_add_test(tc, test_report_empty);
	tcase_add_test(tc, test_report_escaped);
	tcase_add_test(tc, test_report_parse_sort);
	suite_add_tcase(s, tc);
	return s;
}
