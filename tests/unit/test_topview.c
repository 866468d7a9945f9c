/* test_topview.c: sprofd top's rows from two hand-made snapshots (interval
 * and since-start counts, one thread, one process, recursion, inline
 * frames), their
 * order under every key, the keys, and lines cut to a width. */
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "suites.h"
#include "topview.h"
#include "util.h"

/* Functions of the hand-made profiles: fns[i] of each. */
static const struct pfn test_fns[] = {
	{ "/src/app.c", 10, "main", "app" },
	{ "/src/app.c", 20, "work", "app" },
	{ "/src/app.c", 30, "hot", "app" },
	{ "/src/app.c", 40, "cold", "app" },
	{ "/src/app.c", 50, "inl", "app" },
	{ "", 0, "??", "" },
};
enum { MAIN, WORK, HOT, COLD, INL, UNKNOWN };

/* A stack: fn indexes leaf first, -1 ends; a negative index below -1
 * (-2 - fn) puts fn as an inline frame into the location before it. */
struct tstack {
	pid_t tid;
	uint64_t count;
	int fn[8];
	pid_t pid;   /* the thread's process; 0: unknown */
};

/* A profile whose stack view holds stacks[0..n); fns in a different order
 * when shuffle, so that rows must be matched by key, not index. */
static struct profile *make_profile(const struct tstack *stacks, size_t n, bool shuffle)
{
	struct profile *p = xcalloc(1, sizeof(*p));
	size_t nf = sizeof(test_fns) / sizeof(test_fns[0]);
	uint32_t map[sizeof(test_fns) / sizeof(test_fns[0])];

	p->nfns = nf;
	p->fns = xcalloc(nf, sizeof(*p->fns));
	for (size_t i = 0; i < nf; i++) {
		map[i] = (uint32_t)(shuffle ? nf - 1 - i : i);
		p->fns[map[i]] = test_fns[i];
	}
	p->stacks = xcalloc(n, sizeof(*p->stacks));
	p->nstacks = n;
	p->locs = xcalloc(n * 8, sizeof(*p->locs));
	p->frames = xcalloc(n * 8, sizeof(*p->frames));
	p->stack_locs = xcalloc(n * 8, sizeof(*p->stack_locs));
	for (size_t i = 0; i < n; i++) {
		struct pstack *s = &p->stacks[i];
		s->tid = stacks[i].tid;
		s->pid = stacks[i].pid;
		s->count = stacks[i].count;
		s->loc = (uint32_t)p->nstack_locs;
		for (int k = 0; k < 8 && stacks[i].fn[k] != -1; k++) {
			int f = stacks[i].fn[k];
			if (f < -1) {   /* inline: one more frame, outer, in the last location */
				p->locs[p->nlocs - 1].nframes++;
				p->frames[p->nframes++] = (struct pframe){ map[-2 - f], 0 };
				continue;
			}
			p->stack_locs[p->nstack_locs++] = (uint32_t)p->nlocs;
			p->locs[p->nlocs] = (struct ploc){ .addr = 0x1000 + (uint64_t)p->nlocs,
							   .frame = (uint32_t)p->nframes, .nframes = 1 };
			p->nlocs++;
			p->frames[p->nframes++] = (struct pframe){ map[f], 0 };
			s->n++;
		}
		p->total += s->count;
	}
	return p;
}

static void free_profile(struct profile *p)
{
	free(p->fns);
	free(p->stacks);
	free(p->locs);
	free(p->frames);
	free(p->stack_locs);
	free(p);
}

static const struct top_row *row_of(const struct top_rows *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i].name, name) == 0)
			return &r->v[i];
	return NULL;
}

/* First snapshot: 100 samples, hot leads; second: 100 more, all in cold,
 * plus recursion in work and an inline frame. */
static const struct tstack first[] = {
	{ 1, 60, { HOT, WORK, MAIN, -1 }, 0 },
	{ 1, 30, { WORK, MAIN, -1 }, 0 },
	{ 2, 10, { COLD, MAIN, -1 }, 0 },
};
static const struct tstack second[] = {
	{ 1, 60, { HOT, WORK, MAIN, -1 }, 0 },
	{ 1, 30, { WORK, MAIN, -1 }, 0 },
	{ 2, 10, { COLD, MAIN, -1 }, 0 },
	{ 2, 70, { COLD, WORK, WORK, MAIN, -1 }, 0 },
	{ 1, 30, { INL, -2 - HOT, WORK, MAIN, -1 }, 0 },
};

START_TEST(test_interval_and_start)
{
	struct profile *a = make_profile(first, 3, false);
	struct profile *b = make_profile(second, 5, true);
	struct top_rows r;
	const struct top_row *x;

	top_rows_build(&r, a, b, 0, 0);
	ck_assert_uint_eq(r.csamples, 200);
	ck_assert_uint_eq(r.samples, 100);
	ck_assert_uint_eq(r.n, 5);     /* main work hot cold inl; ?? never sampled */
	x = row_of(&r, "hot");
	ck_assert_ptr_nonnull(x);
	ck_assert_uint_eq(x->cself, 60);
	ck_assert_uint_eq(x->ctotal, 90);   /* as the inlined-into frame too */
	ck_assert_uint_eq(x->self, 0);
	ck_assert_uint_eq(x->total, 30);
	x = row_of(&r, "cold");
	ck_assert_uint_eq(x->self, 70);
	ck_assert_uint_eq(x->total, 70);
	ck_assert_uint_eq(x->cself, 80);
	x = row_of(&r, "work");     /* recursion counted once per sample */
	ck_assert_uint_eq(x->total, 100);
	ck_assert_uint_eq(x->ctotal, 190);
	ck_assert_uint_eq(x->self, 0);
	ck_assert_uint_eq(x->cself, 30);
	x = row_of(&r, "inl");
	ck_assert_uint_eq(x->self, 30);
	ck_assert_str_eq(x->file, "/src/app.c");
	ck_assert_int_eq(x->line, 50);
	x = row_of(&r, "main");
	ck_assert_uint_eq(x->total, 100);
	ck_assert_uint_eq(x->ctotal, 200);
	top_rows_free(&r);

	/* No earlier snapshot: the interval is everything so far. */
	top_rows_build(&r, NULL, a, 0, 0);
	ck_assert_uint_eq(r.samples, 100);
	ck_assert_uint_eq(row_of(&r, "hot")->self, 60);
	ck_assert_uint_eq(row_of(&r, "hot")->cself, 60);
	top_rows_free(&r);
	top_rows_free(NULL);
	free_profile(a);
	free_profile(b);
}
END_TEST

START_TEST(test_one_thread)
{
	struct profile *a = make_profile(first, 3, true);
	struct profile *b = make_profile(second, 5, false);
	struct top_rows r;

	top_rows_build(&r, a, b, 2, 0);
	ck_assert_uint_eq(r.csamples, 80);
	ck_assert_uint_eq(r.samples, 70);
	ck_assert_uint_eq(r.n, 3);     /* cold work main */
	ck_assert_ptr_null(row_of(&r, "hot"));
	ck_assert_uint_eq(row_of(&r, "cold")->self, 70);
	ck_assert_uint_eq(row_of(&r, "work")->ctotal, 70);
	top_rows_free(&r);

	top_rows_build(&r, a, b, 99, 0);  /* a thread with no samples */
	ck_assert_uint_eq(r.n, 0);
	ck_assert_uint_eq(r.samples, 0);
	top_rows_free(&r);
	free_profile(a);
	free_profile(b);
}
END_TEST

static void names(const struct top_rows *r, char *out)
{
	out[0] = '\0';
	for (size_t i = 0; i < r->n; i++) {
		strcat(out, r->v[i].name);
		strcat(out, " ");
	}
}

START_TEST(test_sort)
{
	struct profile *a = make_profile(first, 3, false);
	struct profile *b = make_profile(second, 5, false);
	struct top_state st = { 0 };
	struct top_rows r;
	char got[128];

	top_rows_build(&r, a, b, 0, 0);
	/* Interval self: cold 70, inl 30, then 0s (hot main work) by total, then name. */
	top_rows_sort(&r, &st);
	names(&r, got);
	ck_assert_str_eq(got, "cold inl main work hot ");
	st.reverse = true;
	top_rows_sort(&r, &st);
	names(&r, got);
	ck_assert_str_eq(got, "hot main work inl cold ");
	/* Since the start, self: cold 80, hot 60, work 30 = inl 30 (by total). */
	st.reverse = false;
	st.cumulative = true;
	top_rows_sort(&r, &st);
	names(&r, got);
	ck_assert_str_eq(got, "cold hot work inl main ");
	st.sort = TOP_SORT_TOTAL;
	top_rows_sort(&r, &st);
	names(&r, got);
	ck_assert_str_eq(got, "main work hot cold inl ");
	st.cumulative = false;  /* interval total: main = work, hot = inl (by self) */
	top_rows_sort(&r, &st);
	names(&r, got);
	ck_assert_str_eq(got, "main work cold inl hot ");
	st.sort = TOP_SORT_NAME;
	top_rows_sort(&r, &st);
	names(&r, got);
	ck_assert_str_eq(got, "cold hot inl main work ");
	st.reverse = true;
	top_rows_sort(&r, &st);
	names(&r, got);
	ck_assert_str_eq(got, "work main inl hot cold ");
	top_rows_free(&r);
	free_profile(a);
	free_profile(b);
}
END_TEST

/* A tree: master 10 (one thread) waiting in cold, worker 20 (threads 20
 * and 21) in hot, worker 30 in work; the second snapshot adds samples to
 * every process. */
static const struct tstack tree1[] = {
	{ 10, 5, { COLD, MAIN, -1 }, 10 },
	{ 20, 40, { HOT, MAIN, -1 }, 20 },
	{ 21, 10, { HOT, WORK, MAIN, -1 }, 20 },
	{ 30, 45, { WORK, MAIN, -1 }, 30 },
};
static const struct tstack tree2[] = {
	{ 10, 10, { COLD, MAIN, -1 }, 10 },
	{ 20, 80, { HOT, MAIN, -1 }, 20 },
	{ 21, 20, { HOT, WORK, MAIN, -1 }, 20 },
	{ 30, 90, { WORK, MAIN, -1 }, 30 },
};

START_TEST(test_one_process)
{
	struct profile *a = make_profile(tree1, 4, false);
	struct profile *b = make_profile(tree2, 4, true);
	struct top_rows r;

	/* Both threads of worker 20, nothing of the others. */
	top_rows_build(&r, a, b, 0, 20);
	ck_assert_uint_eq(r.csamples, 100);
	ck_assert_uint_eq(r.samples, 50);
	ck_assert_uint_eq(r.n, 3);     /* hot work main */
	ck_assert_ptr_null(row_of(&r, "cold"));
	ck_assert_uint_eq(row_of(&r, "hot")->self, 50);
	ck_assert_uint_eq(row_of(&r, "hot")->cself, 100);
	ck_assert_uint_eq(row_of(&r, "work")->ctotal, 20);
	top_rows_free(&r);

	top_rows_build(&r, a, b, 0, 30);
	ck_assert_uint_eq(r.csamples, 90);
	ck_assert_uint_eq(r.n, 2);     /* work main */
	ck_assert_uint_eq(row_of(&r, "work")->self, 45);
	ck_assert_ptr_null(row_of(&r, "hot"));
	top_rows_free(&r);

	/* A thread and a process: both must match. */
	top_rows_build(&r, a, b, 21, 20);
	ck_assert_uint_eq(r.csamples, 20);
	top_rows_free(&r);
	top_rows_build(&r, a, b, 30, 20);
	ck_assert_uint_eq(r.n, 0);
	ck_assert_uint_eq(r.csamples, 0);
	top_rows_free(&r);

	/* All processes. */
	top_rows_build(&r, a, b, 0, 0);
	ck_assert_uint_eq(r.csamples, 200);
	ck_assert_uint_eq(r.samples, 100);
	top_rows_free(&r);
	free_profile(a);
	free_profile(b);
}
END_TEST

START_TEST(test_keys)
{
	struct top_state st = { 0 };
	const pid_t tids[] = { 7, 9 };

	ck_assert_int_eq(top_key(&st, 't', tids, 2, NULL, 0), TOP_KEY_REDRAW);
	ck_assert_int_eq(st.sort, TOP_SORT_TOTAL);
	ck_assert_int_eq(top_key(&st, 'r', tids, 2, NULL, 0), TOP_KEY_REDRAW);
	ck_assert(st.reverse);
	top_key(&st, 't', tids, 2, NULL, 0);     /* the same key keeps the direction */
	ck_assert(st.reverse);
	top_key(&st, 'n', tids, 2, NULL, 0);     /* another starts afresh */
	ck_assert_int_eq(st.sort, TOP_SORT_NAME);
	ck_assert(!st.reverse);
	top_key(&st, 's', tids, 2, NULL, 0);
	ck_assert_int_eq(st.sort, TOP_SORT_SELF);
	top_key(&st, 'c', tids, 2, NULL, 0);
	ck_assert(st.cumulative);
	top_key(&st, 'p', tids, 2, NULL, 0);
	ck_assert(st.paused);
	top_key(&st, 'p', tids, 2, NULL, 0);
	ck_assert(!st.paused);
	top_key(&st, '?', tids, 2, NULL, 0);
	ck_assert(st.help);
	top_key(&st, 'h', tids, 2, NULL, 0);
	ck_assert(!st.help);
	top_key(&st, 'T', tids, 2, NULL, 0);
	ck_assert_int_eq(st.tid, 7);
	top_key(&st, 'T', tids, 2, NULL, 0);
	ck_assert_int_eq(st.tid, 9);
	top_key(&st, 'T', tids, 2, NULL, 0);
	ck_assert_int_eq(st.tid, 0);
	top_key(&st, 'T', tids, 2, NULL, 0);
	top_key(&st, 'a', tids, 2, NULL, 0);
	ck_assert_int_eq(st.tid, 0);
	st.tid = 8;                     /* gone: back to all */
	top_key(&st, 'T', tids, 2, NULL, 0);
	ck_assert_int_eq(st.tid, 0);
	top_key(&st, 'T', NULL, 0, NULL, 0);
	ck_assert_int_eq(st.tid, 0);

	/* P steps through the processes, each shown whole; a shows all. */
	{
		const pid_t pids[] = { 10, 20, 30 };
		st.tid = 9;
		ck_assert_int_eq(top_key(&st, 'P', tids, 2, pids, 3), TOP_KEY_REDRAW);
		ck_assert_int_eq(st.pid, 10);
		ck_assert_int_eq(st.tid, 0);
		top_key(&st, 'P', tids, 2, pids, 3);
		ck_assert_int_eq(st.pid, 20);
		top_key(&st, 'T', tids, 2, pids, 3);   /* a thread within it */
		ck_assert_int_eq(st.tid, 7);
		ck_assert_int_eq(st.pid, 20);
		top_key(&st, 'P', tids, 2, pids, 3);
		ck_assert_int_eq(st.pid, 30);
		ck_assert_int_eq(st.tid, 0);
		top_key(&st, 'P', tids, 2, pids, 3);
		ck_assert_int_eq(st.pid, 0);
		top_key(&st, 'P', tids, 2, pids, 3);
		st.tid = 7;
		top_key(&st, 'a', tids, 2, pids, 3);
		ck_assert_int_eq(st.pid, 0);
		ck_assert_int_eq(st.tid, 0);
		st.pid = 25;                    /* gone: back to all */
		top_key(&st, 'P', tids, 2, pids, 3);
		ck_assert_int_eq(st.pid, 0);
		top_key(&st, 'P', tids, 2, NULL, 0);
		ck_assert_int_eq(st.pid, 0);
	}
	ck_assert_int_eq(top_key(&st, 'q', tids, 2, NULL, 0), TOP_KEY_QUIT);
	ck_assert_int_eq(top_key(&st, 'Q', tids, 2, NULL, 0), TOP_KEY_QUIT);
	ck_assert_int_eq(top_key(&st, 'x', tids, 2, NULL, 0), TOP_KEY_NONE);
	ck_assert_int_eq(top_key(&st, -1, tids, 2, NULL, 0), TOP_KEY_NONE);
}
END_TEST

START_TEST(test_format)
{
	struct top_row r = { .name = "hot", .file = "/src/app.c", .line = 30,
			     .self = 25, .total = 50, .cself = 10, .ctotal = 400 };
	struct top_row weird = { .name = "a\nb\tc\xc3\xa9z", .file = "~", .line = 0,
				 .self = 1, .total = 1, .cself = 1, .ctotal = 1 };
	struct top_row unknown = { .name = "??", .file = "libx.so", .line = 0 };
	struct top_info in = { .pid = 42, .comm = "app", .python = "3.11.2", .threads = 3,
			       .hz = 100, .mode = "cpu", .samples = 1234, .interval = 1.0,
			       .own_cpu = 2.5 };
	struct top_state st = { 0 };
	char buf[256], small[8];

	top_format_row(buf, sizeof(buf), 0, &r, 100, 800);
	ck_assert_str_eq(buf, "   25.0    50.0     1.2    50.0  hot (app.c:30)");
	top_format_row(buf, sizeof(buf), 40, &r, 100, 800);
	ck_assert_str_eq(buf, "   25.0    50.0     1.2    50.0  hot (a>");
	ck_assert_int_eq(strlen(buf), 40);
	top_format_row(buf, sizeof(buf), 0, &r, 0, 0);   /* no samples: no division */
	ck_assert_str_eq(buf, "    0.0     0.0     0.0     0.0  hot (app.c:30)");
	top_format_row(buf, sizeof(buf), 0, &weird, 1, 1);
	ck_assert_str_eq(buf, "  100.0   100.0   100.0   100.0  a?b?c\xc3\xa9z");
	/* A cut never splits a UTF-8 sequence: é is one column. */
	top_format_row(buf, sizeof(buf), 39, &weird, 1, 1);
	ck_assert_str_eq(buf, "  100.0   100.0   100.0   100.0  a?b?c>");
	top_format_row(buf, sizeof(buf), 40, &weird, 1, 1);
	ck_assert_str_eq(buf, "  100.0   100.0   100.0   100.0  a?b?c\xc3\xa9z");
	top_format_row(buf, sizeof(buf), 0, &unknown, 1, 1);
	ck_assert_str_eq(buf, "    0.0     0.0     0.0     0.0  ?? (libx.so)");
	/* Cut by the buffer's size. */
	top_format_row(small, sizeof(small), 0, &r, 100, 800);
	ck_assert_str_eq(small, "   25.>");
	top_format_columns(buf, sizeof(buf), 0);
	ck_assert_str_eq(buf, "  SELF%  TOTAL%  CSELF% CTOTAL%  FUNCTION (SOURCE:LINE)");
	top_format_columns(buf, sizeof(buf), 1);
	ck_assert_str_eq(buf, ">");

	top_format_header(buf, sizeof(buf), 0, &in);
	ck_assert_str_eq(buf, "PID 42 (app), python 3.11.2: 3 threads, 100 Hz cpu, 1234 samples, "
			 "interval 1.0 s, sprofd 2.5% CPU");
	in.python = "";
	in.threads = 1;
	top_format_header(buf, sizeof(buf), 30, &in);
	ck_assert_str_eq(buf, "PID 42 (app): 1 thread, 100 H>");
	/* A tree: processes before threads; one process is not said. */
	in.processes = 3;
	in.threads = 9;
	top_format_header(buf, sizeof(buf), 0, &in);
	ck_assert_str_eq(buf, "PID 42 (app): 3 processes, 9 threads, 100 Hz cpu, 1234 samples, "
			 "interval 1.0 s, sprofd 2.5% CPU");
	in.processes = 1;
	top_format_header(buf, sizeof(buf), 0, &in);
	ck_assert_ptr_null(strstr(buf, "process"));

	top_format_status(buf, sizeof(buf), 0, &st, NULL, NULL);
	ck_assert_str_eq(buf, "sort: self in interval; thread: all; h help");
	st.sort = TOP_SORT_TOTAL;
	st.cumulative = st.reverse = st.paused = true;
	top_format_status(buf, sizeof(buf), 0, &st, "12 (worker)", NULL);
	ck_assert_str_eq(buf, "sort: total since start, smallest first; thread: 12 (worker); "
			 "PAUSED; h help");
	st.sort = TOP_SORT_NAME;
	top_format_status(buf, sizeof(buf), 0, &st, NULL, NULL);
	ck_assert_str_eq(buf, "sort: name, Z-A; thread: all; PAUSED; h help");
	top_format_status(buf, sizeof(buf), 0, &st, "21 (worker)", "20 (prefork)");
	ck_assert_str_eq(buf, "sort: name, Z-A; process: 20 (prefork); thread: 21 (worker); "
			 "PAUSED; h help");
	st.help = true;
	top_format_status(buf, sizeof(buf), 0, &st, NULL, "all");
	ck_assert_ptr_nonnull(strstr(buf, "q quit"));
	ck_assert_ptr_nonnull(strstr(buf, "P next process"));
}
END_TEST

Suite *suite_topview(void)
{
	Suite *s = suite_create("topview");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_interval_and_start);
	tcase_add_test(tc, test_one_thread);
	tcase_add_test(tc, test_one_process);
	tcase_add_test(tc, test_sort);
	tcase_add_test(tc, test_keys);
	tcase_add_test(tc, test_format);
	suite_add_tcase(s, tc);
	return s;
}
