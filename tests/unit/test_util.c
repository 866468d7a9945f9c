/* test_util.c: the allocation helpers, the string interner, the u64 map
 * and the escaping of names for text output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "util.h"

START_TEST(test_strtab_identity)
{
	struct strtab *t = strtab_new();
	char buf[32];
	const char *a, *b, *c;

	strcpy(buf, "main");
	a = strtab_intern(t, buf);
	strcpy(buf, "main");   /* same content, same buffer: must still match */
	b = strtab_intern(t, buf);
	ck_assert_ptr_eq(a, b);
	ck_assert_ptr_ne(a, buf);
	ck_assert_str_eq(a, "main");
	c = strtab_intern_n(t, "mainloop", 4);
	ck_assert_ptr_eq(a, c);
	ck_assert_ptr_ne(strtab_intern(t, "mai"), a);
	ck_assert_ptr_ne(strtab_intern(t, "mainloop"), a);
	ck_assert_uint_eq(strtab_count(t), 3);
	ck_assert_str_eq(strtab_intern(t, ""), "");
	ck_assert_uint_eq(strtab_count(t), 4);
	strtab_free(t);
	strtab_free(NULL);
}
END_TEST

/* Many strings force rehashes; every earlier pointer must stay valid and
 * identical. */
START_TEST(test_strtab_many)
{
	struct strtab *t = strtab_new();
	const char **ptrs = xcalloc(5000, sizeof(*ptrs));
	char buf[32];

	for (int i = 0; i < 5000; i++) {
		snprintf(buf, sizeof(buf), "func_%d", i);
		ptrs[i] = strtab_intern(t, buf);
	}
	ck_assert_uint_eq(strtab_count(t), 5000);
	for (int i = 0; i < 5000; i++) {
		snprintf(buf, sizeof(buf), "func_%d", i);
		ck_assert_ptr_eq(strtab_intern(t, buf), ptrs[i]);
		ck_assert_str_eq(ptrs[i], buf);
	}
	ck_assert_uint_eq(strtab_count(t), 5000);
	free(ptrs);
	strtab_free(t);
}
END_TEST

START_TEST(test_u64map_basic)
{
	struct u64map *m = u64map_new();
	uint64_t v = 7;

	ck_assert(!u64map_get(m, 0, &v));
	ck_assert_uint_eq(v, 7);
	u64map_put(m, 0, 10);
	u64map_put(m, UINT64_MAX - 2, 20);
	ck_assert(u64map_get(m, 0, &v));
	ck_assert_uint_eq(v, 10);
	ck_assert(u64map_get(m, UINT64_MAX - 2, &v));
	ck_assert_uint_eq(v, 20);
	u64map_put(m, 0, 11);                  /* replace */
	ck_assert(u64map_get(m, 0, &v));
	ck_assert_uint_eq(v, 11);
	ck_assert_uint_eq(u64map_count(m), 2);
	ck_assert(u64map_get(m, 0, NULL));
	ck_assert(u64map_del(m, 0));
	ck_assert(!u64map_del(m, 0));
	ck_assert(!u64map_get(m, 0, &v));
	ck_assert_uint_eq(u64map_count(m), 1);
	u64map_free(m);
	u64map_free(NULL);
}
END_TEST

/* 100k keys: put, get, delete every other one, re-put some, then iterate
 * and check that each live key is seen exactly once with its value. */
START_TEST(test_u64map_100k)
{
	enum { N = 100000 };
	struct u64map *m = u64map_new();
	unsigned char *seen = xcalloc(N, 1);
	uint64_t k, v;
	size_t pos = 0, visits = 0;

	for (uint64_t i = 0; i < N; i++)
		u64map_put(m, i * 0x10001ULL + 3, i * 2);
	ck_assert_uint_eq(u64map_count(m), N);
	for (uint64_t i = 0; i < N; i++) {
		ck_assert(u64map_get(m, i * 0x10001ULL + 3, &v));
		ck_assert_uint_eq(v, i * 2);
	}
	ck_assert(!u64map_get(m, 1, &v));
	for (uint64_t i = 0; i < N; i += 2)
		ck_assert(u64map_del(m, i * 0x10001ULL + 3));
	ck_assert_uint_eq(u64map_count(m), N / 2);
	for (uint64_t i = 0; i < N; i += 4)   /* reuse tombstones */
		u64map_put(m, i * 0x10001ULL + 3, i * 3);
	ck_assert_uint_eq(u64map_count(m), N / 2 + N / 4);

	while (u64map_next(m, &pos, &k, &v)) {
		uint64_t i = (k - 3) / 0x10001ULL;

		ck_assert_uint_eq((k - 3) % 0x10001ULL, 0);
		ck_assert_uint_lt(i, N);
		ck_assert_uint_eq(seen[i], 0);
		seen[i] = 1;
		if (i % 4 == 0)
			ck_assert_uint_eq(v, i * 3);
		else
			ck_assert_uint_eq(v, i * 2);
		ck_assert(i % 2 == 1 || i % 4 == 0);
		visits++;
	}
	ck_assert_uint_eq(visits, N / 2 + N / 4);
	ck_assert(!u64map_next(m, &pos, &k, &v));
	free(seen);
	u64map_free(m);
}
END_TEST

START_TEST(test_xgrow)
{
	int *a = NULL;
	size_t cap = 0, prev;

	xgrow((void **)&a, &cap, 1, sizeof(*a));
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_ge(cap, 1);
	prev = cap;
	xgrow((void **)&a, &cap, prev, sizeof(*a));   /* already enough: no change */
	ck_assert_uint_eq(cap, prev);
	for (int i = 0; i < 1000; i++) {
		xgrow((void **)&a, &cap, (size_t)i + 1, sizeof(*a));
		ck_assert_uint_ge(cap, (size_t)i + 1);
		a[i] = i;
	}
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(a[i], i);   /* contents survive each growth */
	xgrow((void **)&a, &cap, 100000, sizeof(*a));
	ck_assert_uint_ge(cap, 100000);
	a[99999] = 5;
	ck_assert_int_eq(a[999], 999);
	free(a);
}
END_TEST

START_TEST(test_hash)
{
	ck_assert_uint_ne(hash_u64(1), hash_u64(2));
	ck_assert_uint_eq(hash_bytes("abc", 3, 0), hash_bytes("abc", 3, 0));
	ck_assert_uint_ne(hash_bytes("abc", 3, 0), hash_bytes("abc", 3, 1));
	ck_assert_uint_ne(hash_bytes("abc", 3, 0), hash_bytes("abd", 3, 0));
	/* Trailing zero bytes must change the hash: the length is mixed in. */
	ck_assert_uint_ne(hash_bytes("a\0\0", 1, 0), hash_bytes("a\0\0", 3, 0));
	ck_assert_uint_le(mono_ns(), mono_ns());
}
END_TEST

/* s as str_escape writes it; the caller frees. */
static char *escaped(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	str_escape(f, s);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_uint_eq(strlen(buf), len);
	return buf;
}

/* Asserts what str_escape makes of s. */
static void check_escape(const char *s, const char *want)
{
	char *got = escaped(s);

	ck_assert_str_eq(got, want);
	free(got);
}

START_TEST(test_escape)
{
	check_escape("", "");
	check_escape("plain_name", "plain_name");
	/* Line breaks, and the other control characters C names. */
	check_escape("new\nline", "new\\nline");
	check_escape("\n", "\\n");
	check_escape("a\r\nb\n", "a\\r\\nb\\n");
	check_escape("\a\b\v\f", "\\a\\b\\v\\f");
	/* Terminal commands and the rest, as hex; DEL too. */
	check_escape("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m");
	check_escape("\x01\x1f\x7f.", "\\x01\\x1f\\x7f.");
	/* Kept: tabs, spaces, backslashes, markup, UTF-8 and bytes that are
	 * not UTF-8. */
	check_escape("tab\there", "tab\there");
	check_escape("back\\slash \\n", "back\\slash \\n");
	check_escape("semi;colon x<&\">y", "semi;colon x<&\">y");
	check_escape("gr\xc3\xb6\xc3\x9f" "e\xe2\x86\x92ok", "gr\xc3\xb6\xc3\x9f" "e\xe2\x86\x92ok");
	check_escape("bad\xff\xe2\x82z\x80\x9b", "bad\xff\xe2\x82z\x80\x9b");
}
END_TEST

/* Every byte alone: the output is one line without control characters
 * but tabs, and only the bytes that need it change. */
START_TEST(test_escape_every_byte)
{
	for (int c = 1; c < 256; c++) {
		char in[4] = { 'x', (char)c, 'y', '\0' };
		char *out = escaped(in);
		bool esc = (c < 0x20 && c != '\t') || c == 0x7f;

		for (const unsigned char *p = (const unsigned char *)out; *p; p++)
			ck_assert_msg((*p >= 0x20 && *p != 0x7f) || *p == '\t',
				      "byte %#x gave a control character", c);
		ck_assert_int_eq(out[0], 'x');
		ck_assert_int_eq(out[strlen(out) - 1], 'y');
		if (esc) {
			ck_assert_msg(out[1] == '\\', "byte %#x not escaped", c);
			ck_assert_uint_eq(strlen(out), strchr("\a\b\n\v\f\r", c) ? 4 : 6);
		} else {
			ck_assert_str_eq(out, in);
		}
		free(out);
	}
}
END_TEST

/* Hex fields of maps lines and perf maps: digits up to the first other
 * byte or the end given, 64 bits at most, nothing consumed on failure. */
START_TEST(test_parse_hex)
{
	static const struct {
		const char *in;
		bool ok;
		uint64_t v;
		size_t used;
	} cases[] = {
		{ "0", true, 0, 1 },
		{ "7f3a-", true, 0x7f3a, 4 },
		{ "DeadBeef ", true, 0xdeadbeef, 8 },
		{ "ffffffffffffffff", true, UINT64_MAX, 16 },
		{ "0000000000000001x", true, 1, 16 },
		{ "10000000000000000", false, 0, 0 },
		{ "", false, 0, 0 },
		{ "-1", false, 0, 0 },
		{ "0x10", true, 0, 1 },
		{ "g", false, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *p = cases[i].in;
		uint64_t v = 42;
		bool ok = parse_hex(&p, cases[i].in + strlen(cases[i].in), &v);

		ck_assert_msg(ok == cases[i].ok, "'%s'", cases[i].in);
		ck_assert_uint_eq(v, ok ? cases[i].v : 42);
		ck_assert_uint_eq((size_t)(p - cases[i].in), cases[i].used);
	}
	/* The end bounds it, not a NUL. */
	const char *q = "12345";
	uint64_t v;
	ck_assert(parse_hex(&q, q + 3, &v));
	ck_assert_uint_eq(v, 0x123);
}
END_TEST

Suite *suite_util(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("core");

	/* Each ck_assert reports to the runner through a pipe: the 100k-key
	 * check makes 300,000 of them, seconds on a loaded machine. */
	tcase_set_timeout(tc, 60);

	tcase_add_test(tc, test_strtab_identity);
	tcase_add_test(tc, test_strtab_many);
	tcase_add_test(tc, test_u64map_basic);
	tcase_add_test(tc, test_u64map_100k);
	tcase_add_test(tc, test_xgrow);
	tcase_add_test(tc, test_hash);
	tcase_add_test(tc, test_escape);
	tcase_add_test(tc, test_escape_every_byte);
	tcase_add_test(tc, test_parse_hex);
	suite_add_tcase(s, tc);
	return s;
}
