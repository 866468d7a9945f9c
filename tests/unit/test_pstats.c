/* test_pstats.c: reading pstats files back (sprofd's own, round trip; a
 * marshal version 4 file with short forms and back-references as cProfile
 * writes them; broken files), and the report of a file: header, table,
 * callers and callees. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "marshal.h"
#include "profile.h"
#include "pstats_read.h"
#include "report.h"
#include "stacks.h"
#include "suites.h"
#include "symbols.h"
#include "util.h"
#include "writer.h"

#define FR(fn, fl, ln) { .func = (fn), .file = (fl), .line = (ln), .module = "m" }

static const struct {
	uint64_t addr;
	struct sym_frame fr;
} pfakes[] = {
	{ 0x100, FR("main", "m.c", 1) },
	{ 0x200, FR("a", "m.c", 10) },
	{ 0x300, FR("b", "m.c", 20) },
	{ 0x400, FR("<built-in>", "~", 0) },
};

static int pfake_lookup(void *ctx, uint64_t addr, const struct sym_frame **frames)
{
	for (size_t i = 0; i < sizeof(pfakes) / sizeof(pfakes[0]); i++) {
		if (pfakes[i].addr == addr) {
			*frames = &pfakes[i].fr;
			return 1;
		}
	}
	return 0;
}

/* 10 samples at 100 Hz:
 *   4 x main -> a -> b -> b
 *   3 x main -> a
 *   2 x main -> b
 *   1 x main -> <built-in> */
static struct profile *sample_profile(struct stacktab *st)
{
	static const uint64_t s1[] = { 0x300, 0x300, 0x200, 0x100 }, s2[] = { 0x200, 0x100 },
			      s3[] = { 0x300, 0x100 }, s4[] = { 0x400, 0x100 };
	struct profile_meta meta = { .pid = 1, .comm = "t", .hz = 100, .duration = 0.1 };

	stacktab_add(st, s1, 4, 1, false, 4);
	stacktab_add(st, s2, 2, 1, false, 3);
	stacktab_add(st, s3, 2, 1, false, 2);
	stacktab_add(st, s4, 2, 1, false, 1);
	return profile_build(st, pfake_lookup, NULL, &meta, NULL);
}

/* Writes p as a pstats file into memory. */
static char *prof_bytes(const struct profile *p, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(writer_prof.write(p, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	return buf;
}

static const struct pedge *edge_by_name(const struct profile *p, const char *caller,
					const char *callee)
{
	for (size_t i = 0; i < p->nedges; i++)
		if (strcmp(p->funcs[p->edges[i].caller].name, caller) == 0 &&
		    strcmp(p->funcs[p->edges[i].callee].name, callee) == 0)
			return &p->edges[i];
	return NULL;
}

/* A file sprofd wrote comes back as the same samples. */
START_TEST(test_pstats_roundtrip)
{
	struct stacktab *st = stacktab_new();
	struct profile *p = sample_profile(st), *q;
	size_t len;
	char *data = prof_bytes(p, &len);

	q = pstats_parse(data, len, "mem");
	ck_assert_ptr_nonnull(q);
	ck_assert_ptr_null(q->ftimes);
	ck_assert_uint_eq(q->total, 10);
	ck_assert_double_eq_tol(q->interval, 0.01, 1e-12);
	ck_assert_double_eq_tol(q->meta.hz, 100, 1e-9);
	ck_assert_uint_eq(q->nfuncs, p->nfuncs);
	ck_assert_uint_eq(q->nedges, p->nedges);
	/* Same functions in the same order, root first. */
	for (size_t i = 0; i < p->nfuncs; i++) {
		ck_assert_str_eq(q->funcs[i].file, p->funcs[i].file);
		ck_assert_int_eq(q->funcs[i].line, p->funcs[i].line);
		ck_assert_str_eq(q->funcs[i].name, p->funcs[i].name);
		ck_assert_uint_eq(q->funcs[i].cc, p->funcs[i].cc);
		ck_assert_uint_eq(q->funcs[i].nc, p->funcs[i].nc);
		ck_assert_uint_eq(q->funcs[i].tt, p->funcs[i].tt);
	}
	for (size_t i = 0; i < p->nedges; i++) {
		const struct pedge *e = &p->edges[i], *f;

		f = edge_by_name(q, p->funcs[e->caller].name, p->funcs[e->callee].name);
		ck_assert_ptr_nonnull(f);
		ck_assert_uint_eq(f->cc, e->cc);
		ck_assert_uint_eq(f->nc, e->nc);
		ck_assert_uint_eq(f->tt, e->tt);
	}
	/* Recursion survives: b -> b 4 times, in 4 samples. */
	ck_assert_uint_eq(edge_by_name(q, "b", "b")->nc, 4);
	ck_assert_uint_eq(q->nstacks, 0);
	profile_free(q);
	free(data);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* ---- a version 4 file, as cProfile writes them ---- */

static void put_u8(struct mbuf *b, unsigned v)
{
	unsigned char c = (unsigned char)v;

	mbuf_append(b, &c, 1);
}

static void put_i32(struct mbuf *b, int32_t v)
{
	unsigned char c[4] = { (unsigned char)v, (unsigned char)(v >> 8),
			       (unsigned char)(v >> 16), (unsigned char)(v >> 24) };

	mbuf_append(b, c, 4);
}

/* 'z' short ASCII string, with the reference flag. */
static void put_short(struct mbuf *b, const char *s)
{
	put_u8(b, 'z' | 0x80);
	put_u8(b, (unsigned)strlen(s));
	mbuf_append(b, s, strlen(s));
}

static void put_float(struct mbuf *b, double d)
{
	uint64_t bits;

	memcpy(&bits, &d, 8);
	put_u8(b, 'g');
	for (int i = 0; i < 8; i++)
		put_u8(b, (unsigned)(bits >> (8 * i)) & 0xff);
}

static void put_int(struct mbuf *b, int32_t v)
{
	put_u8(b, 'i');
	put_i32(b, v);
}

/*
 * { ('t.py', 1, 'f'): (3, 5, 0.25, 1.5, { ('t.py', 9, '<module>'): (2, 1, 0.1, 1.0),
 *                                          <ref to f's key>: (3, 2, 0.15, 0.5) }),
 *   ('t.py', 9, '<module>'): (1, 1, 0.5, 2.0, {}) }
 * with small tuples, short strings, references to the key tuple and to
 * the string 't.py', and an int beyond 32 bits ('l') in one count.
 */
static void v4_file(struct mbuf *b, bool big)
{
	mbuf_init(b);
	put_u8(b, '{');
	/* key 1: ref 0 (tuple), ref 1 ('t.py'), ref 2 ('f') */
	put_u8(b, ')' | 0x80);
	put_u8(b, 3);
	put_short(b, "t.py");
	put_int(b, 1);
	put_short(b, "f");
	put_u8(b, ')');
	put_u8(b, 5);
	if (big) {    /* 2^40 + 3: digits of 15 bits, 3 of them */
		put_u8(b, 'l');
		put_i32(b, 3);
		put_u8(b, 3); put_u8(b, 0);
		put_u8(b, 0); put_u8(b, 0);
		put_u8(b, 0); put_u8(b, 0x04);
	} else {
		put_int(b, 3);
	}
	put_int(b, 5);
	put_float(b, 0.25);
	put_float(b, 1.5);
	put_u8(b, '{');
	/* caller key: ref 3 (tuple); 't.py' is ref 1 */
	put_u8(b, ')' | 0x80);
	put_u8(b, 3);
	put_u8(b, 'r');
	put_i32(b, 1);
	put_int(b, 9);
	put_short(b, "<module>");
	put_u8(b, ')');
	put_u8(b, 4);
	put_int(b, 2);
	put_int(b, 1);
	put_float(b, 0.1);
	put_float(b, 1.0);
	/* f calls itself: key by reference */
	put_u8(b, 'r');
	put_i32(b, 0);
	put_u8(b, ')');
	put_u8(b, 4);
	put_int(b, 3);
	put_int(b, 2);
	put_float(b, 0.15);
	put_float(b, 0.5);
	put_u8(b, '0');
	/* key 2 is the tuple seen as a caller */
	put_u8(b, 'r');
	put_i32(b, 3);
	put_u8(b, ')');
	put_u8(b, 5);
	put_int(b, 1);
	put_int(b, 1);
	put_float(b, 0.5);
	put_float(b, 2.0);
	put_u8(b, '{');
	put_u8(b, '0');
	put_u8(b, '0');
}

START_TEST(test_pstats_v4)
{
	struct mbuf b;
	struct profile *p;
	const struct pedge *e;

	v4_file(&b, false);
	p = pstats_parse(b.data, b.len, "v4");
	ck_assert_ptr_nonnull(p);
	/* No sprofd root: one is added, and times are kept as seconds. */
	ck_assert_ptr_nonnull(p->ftimes);
	ck_assert_uint_eq(p->nfuncs, 3);
	ck_assert_str_eq(p->funcs[0].name, "<all samples>");
	ck_assert_str_eq(p->funcs[1].file, "t.py");
	ck_assert_int_eq(p->funcs[1].line, 1);
	ck_assert_str_eq(p->funcs[1].name, "f");
	ck_assert_uint_eq(p->funcs[1].cc, 3);
	ck_assert_uint_eq(p->funcs[1].nc, 5);
	ck_assert_double_eq(profile_func_tt(p, 1), 0.25);
	ck_assert_double_eq(profile_func_ct(p, 1), 1.5);
	ck_assert_str_eq(p->funcs[2].name, "<module>");
	ck_assert_double_eq(profile_total_time(p), 0.75);
	ck_assert_uint_eq(p->nedges, 2);
	ck_assert_ptr_nonnull(e = edge_by_name(p, "f", "f"));
	ck_assert_uint_eq(e->nc, 3);
	ck_assert_uint_eq(e->cc, 2);
	ck_assert_double_eq(profile_edge_tt(p, (size_t)(e - p->edges)), 0.15);
	ck_assert_ptr_nonnull(e = edge_by_name(p, "<module>", "f"));
	ck_assert_double_eq(profile_edge_ct(p, (size_t)(e - p->edges)), 1.0);
	profile_free(p);
	mbuf_free(&b);

	v4_file(&b, true);
	p = pstats_parse(b.data, b.len, "v4");
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(p->funcs[1].cc, (1ULL << 40) + 3);
	profile_free(p);
	mbuf_free(&b);
}
END_TEST

/* Runs pstats_parse with stderr sent to a file; returns what it logged. */
static char *parse_fails(const void *data, size_t len)
{
	char path[] = "/tmp/sprofd-test-log-XXXXXX", *log = xcalloc(1, 512);
	int fd = mkstemp(path), saved = dup(2);
	struct profile *p;
	FILE *f;

	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	dup2(fd, 2);
	p = pstats_parse(data, len, "bad.prof");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	ck_assert_ptr_null(p);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(fgets(log, 512, f));
	fclose(f);
	unlink(path);
	return log;
}

START_TEST(test_pstats_broken)
{
	struct stacktab *st = stacktab_new();
	struct profile *p = sample_profile(st);
	size_t len;
	char *data = prof_bytes(p, &len), *log;
	struct mbuf b;

	/* Cut anywhere: refused, never a crash. */
	for (size_t cut = 0; cut < len; cut += 7) {
		log = parse_fails(data, cut);
		ck_assert_msg(strstr(log, "bad.prof is not a pstats file") != NULL, "%s", log);
		free(log);
	}
	/* Trailing bytes. */
	data = xrealloc(data, len + 1);
	data[len] = 'N';
	log = parse_fails(data, len + 1);
	ck_assert_ptr_nonnull(strstr(log, "1 bytes after the data"));
	free(log);
	/* Not a dict; a dict of the wrong shape; a code object. */
	log = parse_fails("N", 1);
	ck_assert_ptr_nonnull(strstr(log, "not a dict"));
	free(log);
	log = parse_fails("{i\1\0\0\0i\2\0\0\0" "0", 12);
	ck_assert_ptr_nonnull(strstr(log, "entry 1 is not"));
	free(log);
	log = parse_fails("c\0\0\0\0", 5);
	ck_assert_ptr_nonnull(strstr(log, "unsupported marshal type 'c'"));
	free(log);
	log = parse_fails("r\0\0\0\0", 5);
	ck_assert_ptr_nonnull(strstr(log, "bad back-reference"));
	free(log);
	/* A caller that is no entry. */
	mbuf_init(&b);
	marshal_dict_begin(&b);
	marshal_tuple_begin(&b, 3);
	marshal_str(&b, "a.c");
	marshal_int(&b, 1);
	marshal_str(&b, "f");
	marshal_tuple_begin(&b, 5);
	marshal_int(&b, 1);
	marshal_int(&b, 1);
	marshal_float(&b, 0.1);
	marshal_float(&b, 0.1);
	marshal_dict_begin(&b);
	marshal_tuple_begin(&b, 3);
	marshal_str(&b, "a.c");
	marshal_int(&b, 2);
	marshal_str(&b, "g");
	marshal_int(&b, 1);
	marshal_dict_end(&b);
	marshal_dict_end(&b);
	log = parse_fails(b.data, b.len);
	ck_assert_ptr_nonnull(strstr(log, "a caller of entry 1 is no entry"));
	free(log);
	mbuf_free(&b);
	free(data);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* ---- the report of a file ---- */

static char *capture(void (*fn)(FILE *, const struct profile *, const void *),
		     const struct profile *p, const void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	fn(f, p, arg);
	fclose(f);
	return buf;
}

static void do_header(FILE *f, const struct profile *p, const void *arg)
{
	report_file_header(f, p, arg);
}

struct calls_arg {
	const char *name;
	bool callees;
	int want;
};

static void do_calls(FILE *f, const struct profile *p, const void *arg)
{
	const struct calls_arg *a = arg;

	ck_assert_int_eq(report_calls_of(f, p, a->name, a->callees, SORT_CUMTIME), a->want);
}

START_TEST(test_report_file)
{
	struct stacktab *st = stacktab_new();
	struct profile *p = sample_profile(st), *q;
	size_t len;
	char *data = prof_bytes(p, &len), *out;
	struct calls_arg ca;
	struct mbuf b;

	q = pstats_parse(data, len, "mem");
	out = capture(do_header, q, "t.prof");
	ck_assert_str_eq(out, "t.prof: 10 samples at 100 Hz (0.100 s), 4 functions\n");
	free(out);

	/* b is called by itself (4 samples), by a (4) and by main (2):
	 * ordered by cumulative time, then by function (b was seen first). */
	ca = (struct calls_arg){ "b", false, 1 };
	out = capture(do_calls, q, &ca);
	ck_assert_str_eq(out,
			 "\nCallers of m.c:20(b): cumtime 0.060 s, 60.0%\n"
			 "   ncalls  tottime  cumtime   cum%  caller\n"
			 "        4    0.040    0.040   40.0  m.c:20(b)\n"
			 "        4    0.000    0.040   40.0  m.c:10(a)\n"
			 "        2    0.020    0.020   20.0  m.c:1(main)\n");
	free(out);
	ca = (struct calls_arg){ "main", true, 1 };
	out = capture(do_calls, q, &ca);
	ck_assert_str_eq(out,
			 "\nCallees of m.c:1(main): cumtime 0.100 s, 100.0%\n"
			 "   ncalls  tottime  cumtime   cum%  callee\n"
			 "        7    0.030    0.070   70.0  m.c:10(a)\n"
			 "        2    0.020    0.020   20.0  m.c:20(b)\n"
			 "        1    0.010    0.010   10.0  {built-in}\n");
	free(out);
	/* Not a name: a pattern over file:line(function). */
	ca = (struct calls_arg){ "m\\.c:(10|20)\\(", false, 2 };
	out = capture(do_calls, q, &ca);
	ck_assert_ptr_nonnull(strstr(out, "Callers of m.c:20(b)"));
	ck_assert_ptr_nonnull(strstr(out, "Callers of m.c:10(a)"));
	ck_assert_ptr_null(strstr(out, "Callers of m.c:1(main)"));
	free(out);
	ca = (struct calls_arg){ "nothing", false, 0 };
	out = capture(do_calls, q, &ca);
	ck_assert_str_eq(out, "");
	free(out);
	profile_free(q);

	/* cProfile's: calls and seconds. */
	v4_file(&b, false);
	q = pstats_parse(b.data, b.len, "v4");
	out = capture(do_header, q, "c.prof");
	ck_assert_str_eq(out, "c.prof: 6 function calls (4 primitive calls) in 0.750 seconds\n");
	free(out);
	out = NULL;
	{
		size_t n = 0;
		FILE *f = open_memstream(&out, &n);
		report_table(f, q, -1, SORT_TOTTIME);
		fclose(f);
	}
	ck_assert_str_eq(out,
			 "\n   ncalls  tottime  percall  cumtime  percall  self%   cum%  "
			 "filename:lineno(function)\n"
			 "        1    0.500    0.500    2.000    2.000   66.7  266.7  t.py:9(<module>)\n"
			 "      5/3    0.250    0.050    1.500    0.500   33.3  200.0  t.py:1(f)\n");
	free(out);
	profile_free(q);
	mbuf_free(&b);

	free(data);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

Suite *suite_pstats(void)
{
	Suite *s = suite_create("pstats");
	TCase *tc = tcase_create("read");

	tcase_add_test(tc, test_pstats_roundtrip);
	tcase_add_test(tc, test_pstats_v4);
	tcase_add_test(tc, test_pstats_broken);
	tcase_add_test(tc, test_report_file);
	suite_add_tcase(s, tc);
	return s;
}
