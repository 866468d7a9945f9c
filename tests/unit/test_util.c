/* test_util.c: the allocation helpers, the string interner and the u64 map. */
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

Suite *suite_util(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_strtab_identity);
	tcase_add_test(tc, test_strtab_many);
	tcase_add_test(tc, test_u64map_basic);
	tcase_add_test(tc, test_u64map_100k);
	tcase_add_test(tc, test_xgrow);
	tcase_add_test(tc, test_hash);
	suite_add_tcase(s, tc);
	return s;
}
