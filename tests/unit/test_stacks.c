/* test_stacks.c: the raw stack table: interning, counts, insertion order,
 * and memory that follows distinct stacks rather than samples. */
#include <stdlib.h>
#include <string.h>

#include "stacks.h"
#include "suites.h"

START_TEST(test_stacks_intern)
{
	struct stacktab *t = stacktab_new();
	uint64_t a[] = { 0x401000, 0x401100, 0x401200 };
	uint64_t b[] = { 0x401000, 0x401100, 0x401300 };
	uint64_t a2[3];
	struct stack_view v;

	ck_assert_uint_eq(stacktab_size(t), 0);
	ck_assert_uint_eq(stacktab_total(t), 0);
	ck_assert_int_eq(stacktab_add(t, a, 3, 100, false, 1), 1);
	ck_assert_int_eq(stacktab_add(t, b, 3, 100, false, 2), 1);
	/* Same content from another buffer is the same stack. */
	memcpy(a2, a, sizeof(a));
	ck_assert_int_eq(stacktab_add(t, a2, 3, 100, false, 4), 0);
	/* A prefix is a different stack. */
	ck_assert_int_eq(stacktab_add(t, a, 2, 100, false, 1), 1);
	ck_assert_uint_eq(stacktab_size(t), 3);
	ck_assert_uint_eq(stacktab_total(t), 8);

	/* Insertion order, with the counts added up. */
	stacktab_get(t, 0, &v);
	ck_assert_uint_eq(v.n, 3);
	ck_assert_uint_eq(v.count, 5);
	ck_assert_int_eq(v.tid, 100);
	ck_assert(!v.truncated);
	ck_assert_mem_eq(v.pcs, a, sizeof(a));
	ck_assert_ptr_ne(v.pcs, a);   /* the table keeps its own copy */
	stacktab_get(t, 1, &v);
	ck_assert_uint_eq(v.count, 2);
	ck_assert_mem_eq(v.pcs, b, sizeof(b));
	stacktab_get(t, 2, &v);
	ck_assert_uint_eq(v.n, 2);
	ck_assert_uint_eq(v.count, 1);
	stacktab_free(t);
	stacktab_free(NULL);
}
END_TEST

START_TEST(test_stacks_tid_truncated)
{
	struct stacktab *t = stacktab_new();
	uint64_t a[] = { 1, 2, 3, 4 };
	struct stack_view v;

	ck_assert_int_eq(stacktab_add(t, a, 4, 10, false, 1), 1);
	ck_assert_int_eq(stacktab_add(t, a, 4, 11, false, 1), 1);
	ck_assert_int_eq(stacktab_add(t, a, 4, 10, true, 1), 1);
	ck_assert_int_eq(stacktab_add(t, a, 4, 11, true, 1), 1);
	ck_assert_int_eq(stacktab_add(t, a, 4, 10, true, 3), 0);
	ck_assert_uint_eq(stacktab_size(t), 4);
	ck_assert_uint_eq(stacktab_total(t), 7);
	stacktab_get(t, 1, &v);
	ck_assert_int_eq(v.tid, 11);
	ck_assert(!v.truncated);
	stacktab_get(t, 2, &v);
	ck_assert_int_eq(v.tid, 10);
	ck_assert(v.truncated);
	ck_assert_uint_eq(v.count, 4);
	stacktab_free(t);
}
END_TEST

/* An empty stack (the unwinder found nothing) is still a stack. */
START_TEST(test_stacks_empty)
{
	struct stacktab *t = stacktab_new();
	struct stack_view v;

	ck_assert_int_eq(stacktab_add(t, NULL, 0, 5, false, 1), 1);
	ck_assert_int_eq(stacktab_add(t, NULL, 0, 5, false, 1), 0);
	ck_assert_uint_eq(stacktab_size(t), 1);
	stacktab_get(t, 0, &v);
	ck_assert_uint_eq(v.n, 0);
	ck_assert_uint_eq(v.count, 2);
	stacktab_free(t);
}
END_TEST

/* 100k samples over 5 stacks: memory must not grow after the first round. */
START_TEST(test_stacks_memory_bounded)
{
	struct stacktab *t = stacktab_new();
	uint64_t pcs[64];
	size_t mem;
	struct stack_view v;

	for (int i = 0; i < 64; i++)
		pcs[i] = 0x400000 + (uint64_t)i * 16;
	for (int s = 0; s < 5; s++) {
		pcs[0] = 0x500000 + (uint64_t)s;
		stacktab_add(t, pcs, 64, 1, false, 1);
	}
	mem = stacktab_memory(t);
	ck_assert_uint_lt(mem, 64 * 1024);
	for (int i = 0; i < 100000; i++) {
		pcs[0] = 0x500000 + (uint64_t)(i % 5);
		ck_assert_int_eq(stacktab_add(t, pcs, 64, 1, false, 1), 0);
	}
	ck_assert_uint_eq(stacktab_size(t), 5);
	ck_assert_uint_eq(stacktab_total(t), 100005);
	ck_assert_uint_eq(stacktab_memory(t), mem);
	for (int s = 0; s < 5; s++) {
		stacktab_get(t, (size_t)s, &v);
		ck_assert_uint_eq(v.count, 20001);
		ck_assert_uint_eq(v.pcs[0], 0x500000 + (uint64_t)s);
		ck_assert_uint_eq(v.pcs[63], 0x400000 + 63 * 16);
	}
	stacktab_free(t);
}
END_TEST

/* Many distinct stacks: every one is found again after the index grew, in
 * insertion order, and memory stays proportional to what is stored. */
START_TEST(test_stacks_many)
{
	enum { N = 50000, D = 8 };
	struct stacktab *t = stacktab_new();
	uint64_t pcs[D];
	struct stack_view v;

	for (uint64_t i = 0; i < N; i++) {
		for (int j = 0; j < D; j++)
			pcs[j] = i * 131 + (uint64_t)j;
		ck_assert_int_eq(stacktab_add(t, pcs, D, (pid_t)(i % 7), false, i + 1), 1);
	}
	for (uint64_t i = 0; i < N; i += 97) {
		for (int j = 0; j < D; j++)
			pcs[j] = i * 131 + (uint64_t)j;
		ck_assert_int_eq(stacktab_add(t, pcs, D, (pid_t)(i % 7), false, 1), 0);
	}
	ck_assert_uint_eq(stacktab_size(t), N);
	for (uint64_t i = 0; i < N; i += 101) {
		stacktab_get(t, i, &v);
		ck_assert_uint_eq(v.pcs[0], i * 131);
		ck_assert_uint_eq(v.count, i + 1 + (i % 97 == 0));
	}
	/* pcs, entry and index: a small constant factor over the raw pcs. */
	ck_assert_uint_lt(stacktab_memory(t), (size_t)N * D * 8 * 4);
	stacktab_free(t);
}
END_TEST

Suite *suite_stacks(void)
{
	Suite *s = suite_create("stacks");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_stacks_intern);
	tcase_add_test(tc, test_stacks_tid_truncated);
	tcase_add_test(tc, test_stacks_empty);
	tcase_add_test(tc, test_stacks_memory_bounded);
	tcase_add_test(tc, test_stacks_many);
	suite_add_tcase(s, tc);
	return s;
}
