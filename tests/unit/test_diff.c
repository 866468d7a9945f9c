/* test_diff.c: report --diff on two hand-made profiles: pairing (exact,
 * moved, same names in line order, new, gone), shares, order, and the
 * differential flame graph's frames. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diff.h"
#include "profile.h"
#include "suites.h"

/* Before: 1,000 samples. f calls g; two lambdas; gone() only here. */
static struct pfunc before_funcs[] = {
	{ "~", 0, "<all samples>", 1000, 1000, 0 },
	{ "a.c", 10, "f", 600, 600, 400 },
	{ "a.c", 20, "g", 200, 200, 200 },
	{ "a.c", 30, "<lambda>", 100, 100, 100 },
	{ "a.c", 40, "<lambda>", 100, 100, 100 },
	{ "b.c", 5, "gone", 200, 200, 200 },
};

/* After: 500 samples. f moved two lines down, h is new, and g calls f
 * back (recursion the flame graph must cut). */
static struct pfunc after_funcs[] = {
	{ "~", 0, "<all samples>", 500, 500, 0 },
	{ "a.c", 12, "f", 400, 400, 100 },
	{ "a.c", 20, "g", 200, 200, 200 },
	{ "a.c", 32, "<lambda>", 50, 50, 50 },
	{ "a.c", 42, "<lambda>", 50, 50, 50 },
	{ "c.c", 1, "h", 100, 100, 100 },
};

static struct pedge after_edges[] = {
	{ 0, 1, 400, 400, 0 },
	{ 0, 3, 50, 50, 50 },
	{ 0, 4, 50, 50, 50 },
	{ 1, 2, 200, 200, 200 },
	{ 1, 5, 100, 100, 100 },
	{ 2, 1, 10, 10, 0 },
};

static struct profile make(struct pfunc *funcs, size_t n, uint64_t total)
{
	struct profile p = { .funcs = funcs, .nfuncs = n, .total = total, .interval = 0.01 };
	return p;
}

static char *print(const struct diff *d, int rows, enum report_sort sort)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	diff_print(f, d, "b.prof", "a.prof", rows, sort);
	ck_assert_int_eq(fclose(f), 0);
	return buf;
}

static const char head[] =
	"before: b.prof: 1,000 samples at 0 Hz (10.000 s), 5 functions\n"
	"after:  a.prof: 500 samples at 0 Hz (5.000 s), 5 functions\n"
	"\n";
static const char cols[] =
	"   self% of each total       cum% of each total\n"
	"  before   after  change   before   after  change  mark   filename:lineno(function)\n";
static const char row_f[] =
	"   40.00   20.00  -20.00    60.00   80.00  +20.00  moved  a.c:12(f)\n";
static const char row_g[] =
	"   20.00   40.00  +20.00    20.00   40.00  +20.00         a.c:20(g)\n";
static const char row_gone[] =
	"   20.00    0.00  -20.00    20.00    0.00  -20.00  -gone  b.c:5(gone)\n";
static const char row_h[] =
	"    0.00   20.00  +20.00     0.00   20.00  +20.00  +new   c.c:1(h)\n";
static const char row_l1[] =
	"   10.00   10.00   +0.00    10.00   10.00   +0.00  moved  a.c:32(<lambda>)\n";
static const char row_l2[] =
	"   10.00   10.00   +0.00    10.00   10.00   +0.00  moved  a.c:42(<lambda>)\n";

START_TEST(test_diff_table)
{
	struct profile b = make(before_funcs, 6, 1000), a = make(after_funcs, 6, 500);
	struct diff *d = diff_new(&b, &a);
	char *out = print(d, -1, SORT_TOTTIME), *want;
	size_t n;

	/* Ties on the size of the change go by the other share, then name;
	 * the lambdas pair in line order. */
	n = strlen(head) + strlen(cols) + strlen(row_f) + strlen(row_g) + strlen(row_gone) +
	    strlen(row_h) + strlen(row_l1) + strlen(row_l2) + 1;
	want = malloc(n);
	snprintf(want, n, "%s%s%s%s%s%s%s%s", head, cols, row_f, row_g, row_gone, row_h, row_l1,
		 row_l2);
	ck_assert_str_eq(out, want);
	free(out);
	free(want);

	out = print(d, 2, SORT_NAME);
	ck_assert_ptr_nonnull(strstr(out, "List reduced from 6 to 2 due to restriction <2>"));
	ck_assert_ptr_nonnull(strstr(out, row_l1));
	ck_assert_ptr_nonnull(strstr(out, row_l2));
	ck_assert_ptr_null(strstr(out, row_f));
	free(out);

	out = print(d, 0, SORT_CUMTIME);
	ck_assert_str_eq(out, "before: b.prof: 1,000 samples at 0 Hz (10.000 s), 5 functions\n"
			      "after:  a.prof: 500 samples at 0 Hz (5.000 s), 5 functions\n");
	free(out);
	diff_free(d);
	diff_free(NULL);
}
END_TEST

static int count_of(const char *s, const char *needle)
{
	int n = 0;

	for (; (s = strstr(s, needle)) != NULL; s++)
		n++;
	return n;
}

START_TEST(test_diff_svg)
{
	struct profile b = make(before_funcs, 6, 1000), a = make(after_funcs, 6, 500);
	struct diff *d;
	char path[] = "/tmp/sprofd-unit-diff-XXXXXX", *text;
	int fd = mkstemp(path);
	FILE *f;
	long len;

	a.edges = after_edges;
	a.nedges = 6;
	d = diff_new(&b, &a);
	ck_assert_int_ne(fd, -1);
	close(fd);
	ck_assert_int_eq(diff_write_svg(d, "dir/b.prof", "a.prof", path), 0);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	ck_assert_int_eq(fread(text, 1, (size_t)len, f), len);
	fclose(f);
	unlink(path);

	ck_assert_ptr_nonnull(strstr(text, "Differential flame graph: b.prof to a.prof"));
	/* all, f, g, h, two lambdas: f is not entered again under g. */
	ck_assert_int_eq(count_of(text, "<g><title>"), 6);
	ck_assert_int_eq(count_of(text, "<title>f ("), 1);
	/* g: all of f's 400 samples but f's own 100 and h's 100, red at the
	 * largest change; f blue; the lambdas grey. */
	ck_assert_ptr_nonnull(strstr(text, "<title>g (self 20.00% before, 40.00% after, +20.00 "
					   "points; cum 20.00% before, 40.00% after, +20.00 "
					   "points)</title>"));
	ck_assert_ptr_nonnull(strstr(text, "width=\"472.0\" height=\"15\" fill=\"#ff2d2d\""));
	ck_assert_ptr_nonnull(strstr(text, "width=\"944.0\" height=\"15\" fill=\"#2d2dff\""));
	ck_assert_ptr_nonnull(strstr(text, "<title>h (new; self 0.00% before"));
	ck_assert_int_eq(count_of(text, "width=\"118.0\" height=\"15\" fill=\"#ebebeb\""), 2);
	free(text);
	diff_free(d);
}
END_TEST

Suite *suite_diff(void)
{
	Suite *s = suite_create("diff");
	TCase *tc = tcase_create("diff");

	tcase_add_test(tc, test_diff_table);
	tcase_add_test(tc, test_diff_svg);
	suite_add_tcase(s, tc);
	return s;
}
