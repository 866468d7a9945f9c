/* test_split.c: --split on hand-made stacks: which frame is the endpoint
 * (flask on 3.11 and older, django through decorators, a function by name
 * and by pattern, recursion, the interpreter's frames between Python
 * frames), a stack table split into endpoint profiles with safe and unique
 * names, the split from call edges, and the endpoint files' names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "profile.h"
#include "pystage.h"
#include "split.h"
#include "stacks.h"
#include "suites.h"
#include "symbols.h"

#define FLASK "/usr/lib/python3/dist-packages/flask/app.py"
#define WZ "/usr/lib/python3/dist-packages/werkzeug/local.py"
#define DJ "/usr/lib/python3/dist-packages/django/core/handlers/base.py"
#define DJDEC "/usr/lib/python3/dist-packages/django/views/decorators/csrf.py"
#define APP "/srv/app/views.py"

#define PY(file, line, name) { file, line, name, true }
#define C(name) { "", 0, name, false }

static struct split_rule *rule(const char *spec)
{
	char err[160];
	struct split_rule *r = split_rule_new(spec, err, sizeof(err));

	ck_assert_msg(r != NULL, "%s: %s", spec, err);
	return r;
}

START_TEST(test_flask)
{
	struct split_rule *r = rule("flask");
	/* 3.11+: qualified names; the view under Flask's dispatch. */
	struct split_frame f311[] = {
		C("main"), PY("/x/gunicorn/sync.py", 10, "SyncWorker.handle"),
		PY(FLASK, 800, "Flask.full_dispatch_request"), PY(FLASK, 780, "Flask.dispatch_request"),
		C("_PyEval_EvalFrameDefault"), PY(APP, 40, "checkout_view"), PY(APP, 10, "burn"),
	};
	/* <= 3.10: co_name and the file say it is Flask's. */
	struct split_frame f310[] = {
		PY(FLASK, 780, "dispatch_request"), PY(APP, 40, "checkout_view"),
	};
	/* dispatch_request of another class is not Flask's. */
	struct split_frame other[] = {
		PY(APP, 3, "dispatch_request"), PY(APP, 40, "checkout_view"),
	};
	/* In Flask's own lookups between dispatch and view: the dispatch's. */
	struct split_frame plumb[] = {
		PY(FLASK, 780, "Flask.dispatch_request"), PY(WZ, 300, "_ProxyLookup.__get__"),
	};
	struct split_frame idle[] = { C("main"), PY("/x/gunicorn/arbiter.py", 1, "Arbiter.run") };
	/* ensure_sync asks inspect: the standard library is no view. */
	struct split_frame std[] = {
		PY(FLASK, 780, "Flask.dispatch_request"), PY(FLASK, 900, "Flask.ensure_sync"),
		PY("/usr/lib/python3.11/inspect.py", 400, "iscoroutinefunction"),
	};

	ck_assert_int_eq(split_classify(r, f311, 7, false), 5);
	ck_assert_int_eq(split_classify(r, f310, 2, false), 1);
	ck_assert_int_eq(split_classify(r, other, 2, false), -1);
	ck_assert_int_eq(split_classify(r, plumb, 2, false), 0);
	ck_assert_int_eq(split_classify(r, idle, 2, false), -1);
	ck_assert_int_eq(split_classify(r, std, 3, false), 0);
	ck_assert_int_eq(split_classify(r, f311, 0, false), -1);
	split_rule_free(r);
}
END_TEST

START_TEST(test_django)
{
	struct split_rule *r = rule("django");
	/* Through csrf_exempt's wrapper and a contextlib decorator. */
	struct split_frame f[] = {
		PY(DJ, 100, "BaseHandler.get_response"), PY(DJ, 174, "BaseHandler._get_response"),
		PY(DJDEC, 50, "csrf_exempt.<locals>.wrapper_view"),
		PY("/usr/lib/python3.11/contextlib.py", 78, "ContextDecorator.__call__.<locals>.inner"),
		C("PyObject_Call"), PY(APP, 20, "order_view"), PY(APP, 5, "helper"),
	};
	/* Still in Django's own code after the handler. */
	struct split_frame inside[] = {
		PY(DJ, 174, "BaseHandler._get_response"), PY(DJDEC, 50, "wrapper_view"),
	};
	/* <= 3.10 names. */
	struct split_frame old[] = {
		PY(DJ, 174, "_get_response"), PY(APP, 20, "order_view"),
	};
	/* Middleware outside the handler: no endpoint. */
	struct split_frame mw[] = { PY(DJ, 100, "BaseHandler.get_response"), PY(APP, 1, "mw") };

	ck_assert_int_eq(split_classify(r, f, 7, false), 5);
	ck_assert_int_eq(split_classify(r, inside, 2, false), 0);
	ck_assert_int_eq(split_classify(r, old, 2, false), 1);
	ck_assert_int_eq(split_classify(r, mw, 2, false), -1);
	split_rule_free(r);
}
END_TEST

START_TEST(test_function)
{
	struct split_rule *r = rule("handle");
	struct split_rule *re = rule("jobs\\.py:[0-9]+\\(Runner\\.handle\\)");
	struct split_rule *bad = rule("<lambda>(");
	char err[80];
	/* The outermost match counts (recursion); its callee is the next
	 * Python frame, past the interpreter's. */
	struct split_frame f[] = {
		PY("/srv/jobs.py", 1, "main"), PY("/srv/jobs.py", 30, "handle"),
		C("_PyEval_EvalFrameDefault"), PY("/srv/jobs.py", 40, "resize"),
		PY("/srv/jobs.py", 30, "handle"), PY("/srv/jobs.py", 50, "leaf"),
	};
	struct split_frame q[] = {
		PY("/srv/jobs.py", 1, "main"), PY("/srv/jobs.py", 30, "Runner.handle"),
		PY("/srv/jobs.py", 60, "Runner.encode"),
	};
	/* A native split point's callee is the next frame, whatever it is. */
	struct split_frame nat[] = { C("main"), C("handle"), C("memcpy") };
	struct split_frame leaf[] = { PY("/srv/jobs.py", 30, "handle") };
	struct split_frame lam[] = { PY("/a.py", 1, "<lambda>("), PY("/a.py", 2, "x") };

	ck_assert_int_eq(split_classify(r, f, 6, false), 3);
	ck_assert_int_eq(split_classify(r, nat, 3, false), 2);
	ck_assert_int_eq(split_classify(r, leaf, 1, false), 0);
	/* A pattern on file:line(function), unless names only. */
	ck_assert_int_eq(split_classify(re, q, 3, false), 2);
	ck_assert_int_eq(split_classify(re, q, 3, true), -1);
	ck_assert_int_eq(split_classify(r, q, 3, true), -1);
	ck_assert_int_eq(split_classify(bad, lam, 2, false), 1);
	ck_assert_ptr_null(split_rule_new("", err, sizeof(err)));
	ck_assert_str_eq(split_rule_spec(re), "jobs\\.py:[0-9]+\\(Runner\\.handle\\)");
	split_rule_free(r);
	split_rule_free(re);
	split_rule_free(bad);
	split_rule_free(NULL);
}
END_TEST

/* Addresses 1..: frames of a little Flask server. Odd bit: Python. */
static const struct sym_frame frames[] = {
	{ .func = "main", .file = "", .module = "" },                                    /* 1 */
	{ .func = "Flask.dispatch_request", .file = FLASK, .line = 780, .module = "" },  /* 2 */
	{ .func = "cpu/view", .file = APP, .line = 10, .module = "" },                   /* 3 */
	{ .func = "burn", .file = APP, .line = 5, .module = "" },                        /* 4 */
	{ .func = "cpu:view", .file = "/srv/other.py", .line = 3, .module = "" },        /* 5 */
	{ .func = "deflate", .file = "", .module = "libz.so.1" },                        /* 6 */
	{ .func = "accept", .file = "", .module = "libc.so.6" },                         /* 7 */
	{ .func = ".hidden", .file = APP, .line = 90, .module = "" },                    /* 8 */
};

static int lookup(void *ctx, uint64_t addr, const struct sym_frame **out)
{
	uint64_t a = addr & ~PYSTAGE_PC_FLAG;

	(void)ctx;
	*out = &frames[a - 1];
	return 1;
}

#define P(a) ((uint64_t)(a) | PYSTAGE_PC_FLAG)

static struct stacktab *server_stacks(void)
{
	struct stacktab *st = stacktab_new();
	/* Leaf first. */
	uint64_t s1[] = { P(4), P(3), P(2), 1 };     /* burn under cpu/view: 30 */
	uint64_t s2[] = { P(3), P(2), 1 };           /* cpu/view itself: 10 */
	uint64_t s3[] = { 6, P(5), P(2), 1 };        /* deflate under cpu:view: 20 */
	uint64_t s4[] = { 7, 1 };                    /* accept loop: 35 */
	uint64_t s5[] = { P(8), P(2), 1 };           /* .hidden: 5 */

	stacktab_add(st, s1, 4, 100, false, 30);
	stacktab_add(st, s2, 3, 100, false, 10);
	stacktab_add(st, s3, 4, 100, false, 20);
	stacktab_add(st, s4, 2, 101, false, 35);
	stacktab_add(st, s5, 3, 100, false, 5);
	return st;
}

static size_t ep_named(const struct psplit *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->eps[i].name, name) == 0)
			return i;
	ck_abort_msg("no endpoint %s", name);
	return 0;
}

START_TEST(test_apply)
{
	struct split_rule *r = rule("flask");
	struct stacktab *st = server_stacks();
	struct profile_meta m = { .pid = 1, .hz = 100 };
	struct profile *p = profile_build(st, lookup, NULL, &m, NULL);
	const struct psplit *s;
	size_t a, b, c;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	split_apply(p, r, st, lookup, NULL, &m, NULL);
	s = p->split;
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->n, 4);
	ck_assert_str_eq(s->eps[0].name, SPLIT_OUTSIDE);
	ck_assert_uint_eq(s->eps[0].samples, 35);
	/* Most samples first. */
	ck_assert_str_eq(s->eps[1].name, "cpu/view");
	ck_assert_uint_eq(s->eps[1].samples, 40);
	ck_assert_str_eq(s->eps[1].top, "burn");
	ck_assert_uint_eq(s->eps[1].top_self, 30);
	a = ep_named(s, "cpu/view");
	b = ep_named(s, "cpu:view");
	c = ep_named(s, ".hidden");
	ck_assert_uint_eq(s->eps[b].samples, 20);
	ck_assert_str_eq(s->eps[b].top, "deflate");
	ck_assert_uint_eq(s->eps[c].samples, 5);
	/* Safe names, and unique: both views make "cpu_view". */
	ck_assert_str_eq(s->eps[a].slug, "cpu_view");
	ck_assert_str_eq(s->eps[b].slug, "cpu_view-2");
	ck_assert_str_eq(s->eps[c].slug, "_hidden");
	/* Each endpoint's profile holds its samples and only its functions. */
	ck_assert_uint_eq(s->eps[a].prof->total, 40);
	ck_assert_uint_eq(s->eps[b].prof->total, 20);
	for (size_t i = 0; i < s->eps[a].prof->nfuncs; i++)
		ck_assert_str_ne(s->eps[a].prof->funcs[i].name, "deflate");
	/* Every stack of the whole profile knows its endpoint. */
	ck_assert_uint_eq(s->nstacks, 5);
	ck_assert_uint_eq(s->of_stack[0], a);
	ck_assert_uint_eq(s->of_stack[1], a);
	ck_assert_uint_eq(s->of_stack[2], b);
	ck_assert_uint_eq(s->of_stack[3], 0);
	ck_assert_uint_eq(s->of_stack[4], c);

	f = open_memstream(&buf, &len);
	split_print(f, p);
	fclose(f);
	ck_assert_msg(strstr(buf, "cpu s") != NULL, "%s", buf);
	ck_assert_msg(strstr(buf, "(outside requests)         35   35.0%      0.350  accept"),
		      "%s", buf);
	ck_assert_msg(strstr(buf, "cpu/view                   40   40.0%      0.400  burn"),
		      "%s", buf);
	free(buf);
	profile_free(p);   /* and the split with it */
	stacktab_free(st);
	split_rule_free(r);
}
END_TEST

/* The same server as a .prof has it: functions and call edges. */
START_TEST(test_from_edges)
{
	struct pfunc funcs[] = {
		{ "~", 0, "<all samples>", 100, 100, 0 },
		{ "", 0, "main", 100, 100, 0 },
		{ FLASK, 780, "Flask.dispatch_request", 66, 66, 0 },
		{ APP, 10, "cpu_view", 40, 40, 10 },
		{ APP, 5, "burn", 30, 30, 30 },
		{ "/srv/other.py", 3, "zip_view", 25, 25, 5 },
		{ "", 0, "deflate", 20, 20, 20 },
		{ "", 0, "accept", 35, 35, 35 },
		/* A native function Flask's dispatch called itself: its own. */
		{ "/usr/bin/python3.11", 0, "PyObject_GetAttr", 1, 1, 1 },
	};
	struct pedge edges[] = {
		{ 0, 1, 100, 100, 0 }, { 1, 2, 66, 66, 0 }, { 2, 3, 40, 40, 10 },
		{ 3, 4, 30, 30, 30 },  { 2, 5, 25, 25, 5 }, { 5, 6, 20, 20, 20 },
		{ 1, 7, 34, 34, 34 },  { 2, 8, 1, 1, 1 },
	};
	struct profile p = { .funcs = funcs, .nfuncs = 9, .edges = edges, .nedges = 8,
			     .total = 100, .interval = 0.01 };
	struct split_rule *r = rule("flask");
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	ck_assert_uint_eq(split_from_edges(&p, r), 3);
	ck_assert(p.split->approx);
	ck_assert_str_eq(p.split->eps[1].name, "cpu_view");
	ck_assert_uint_eq(p.split->eps[1].samples, 40);
	ck_assert_str_eq(p.split->eps[1].top, "burn");
	ck_assert_str_eq(p.split->eps[2].name, "zip_view");
	ck_assert_str_eq(p.split->eps[2].top, "deflate");
	ck_assert_str_eq(p.split->eps[3].name, "Flask.dispatch_request");
	ck_assert_uint_eq(p.split->eps[3].samples, 1);
	ck_assert_uint_eq(p.split->eps[0].samples, 34);
	ck_assert_str_eq(p.split->eps[0].top, "accept");
	f = open_memstream(&buf, &len);
	split_print(f, &p);
	fclose(f);
	ck_assert_msg(strstr(buf, "from call edges") != NULL, "%s", buf);
	ck_assert_msg(strstr(buf, "cpu_view                       40   40.0%      0.400  burn"),
		      "%s", buf);
	free(buf);
	split_free(p.split);
	p.split = NULL;

	/* cProfile's files: seconds per edge, counts are calls. */
	{
		struct ptimes ft[9] = { { 0, 0 } }, et[8];

		for (size_t i = 0; i < 8; i++)
			et[i] = (struct ptimes){ 0, (double)edges[i].cc * 0.03 };
		et[4].ct = 2.0;   /* zip_view: few calls, long ones */
		for (size_t i = 0; i < 9; i++)
			ft[i] = (struct ptimes){ (double)funcs[i].tt * 0.03, (double)funcs[i].cc * 0.03 };
		ft[6].tt = 1.25;
		p.ftimes = ft;
		p.etimes = et;
		ck_assert_uint_eq(split_from_edges(&p, r), 3);
		ck_assert_str_eq(p.split->eps[1].name, "cpu_view");
		ck_assert_double_eq_tol(p.split->eps[1].secs, 1.2, 1e-9);
		ck_assert_double_eq_tol(p.split->eps[2].secs, 2.0, 1e-9);
		f = open_memstream(&buf, &len);
		split_print(f, &p);
		fclose(f);
		ck_assert_msg(strstr(buf, "calls") && strstr(buf, "seconds"), "%s", buf);
		free(buf);
		split_free(p.split);
	}
	split_rule_free(r);
}
END_TEST

START_TEST(test_names)
{
	char *s;
	uint32_t pid;
	uint64_t t;
	bool temp;

	s = output_endpoint_path("out/shop.prof", "prof", "checkout_view");
	ck_assert_str_eq(s, "out/shop.checkout_view.prof");
	free(s);
	s = output_endpoint_path("shop.pb.gz", "pprof", "a.b");
	ck_assert_str_eq(s, "shop.a.b.pb.gz");
	free(s);
	s = output_endpoint_path("callgrind.out.web.1.1700000000", "callgrind", "v");
	ck_assert_str_eq(s, "callgrind.out.web.1.1700000000.v");
	free(s);
	s = output_endpoint_path("shop", "prof", "v");
	ck_assert_str_eq(s, "shop.v.prof");
	free(s);
	/* Retention knows an endpoint's file as one of its profile's. */
	ck_assert(output_parse_name("web.123.1700000000.cpu_view-2.prof", &pid, &t, &temp));
	ck_assert_uint_eq(pid, 123);
	ck_assert_uint_eq(t, 1700000000);
	ck_assert(!temp);
	ck_assert(output_parse_name("py.3.11.9.1700000001.View.get.pb.gz", &pid, &t, &temp));
	ck_assert_uint_eq(pid, 9);
	ck_assert_uint_eq(t, 1700000001);
	ck_assert(output_parse_name("callgrind.out.web.9.1700000002.a.b", &pid, &t, &temp));
	ck_assert_uint_eq(t, 1700000002);
	ck_assert(output_parse_name(".web.5.1700000003.v.prof.ab12cd34", &pid, &t, &temp));
	ck_assert(temp);
	ck_assert(!output_parse_name("web.5.1700000003..prof", &pid, &t, &temp));
	ck_assert(!output_parse_name("web.x.1700000003.v.prof", &pid, &t, &temp));
}
END_TEST

Suite *suite_split(void)
{
	Suite *s = suite_create("split");
	TCase *tc = tcase_create("split");

	tcase_add_test(tc, test_flask);
	tcase_add_test(tc, test_django);
	tcase_add_test(tc, test_function);
	tcase_add_test(tc, test_apply);
	tcase_add_test(tc, test_from_edges);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	return s;
}
