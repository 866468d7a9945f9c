/* test_python.c: the Python stage's pure parts: the three line-table
 * decoders on tables real interpreters made (pylines_fixtures.h, from
 * gen_pylines.py), str data to UTF-8, the merge of native and Python
 * frames on synthetic stacks, and the frame-chain reader on a synthetic
 * memory image. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "capture.h"
#include "pycode.h"
#include "pylayout.h"
#include "pymerge.h"
#include "pyread.h"
#include "suites.h"

struct pyline_probe {
	int offset, line;
};

struct pylines_fixture {
	const char *what;
	enum py_lines_kind kind;
	int firstlineno;
	const uint8_t *table;
	size_t ntable;
	const struct pyline_probe *probes;
	size_t nprobes;
};

#include "pylines_fixtures.h"

static const struct pylines_fixture fixtures[] = { PYLINES_FIXTURES };

START_TEST(test_lines_real_tables)
{
	const struct pylines_fixture *f = &fixtures[_i];

	ck_assert_uint_gt(f->nprobes, 1);
	for (size_t i = 0; i < f->nprobes; i++) {
		int got = pycode_line(f->kind, f->table, f->ntable, f->firstlineno,
				      f->probes[i].offset);
		ck_assert_msg(got == f->probes[i].line, "%s: offset %d: line %d, want %d", f->what,
			      f->probes[i].offset, got, f->probes[i].line);
	}
}
END_TEST

/* Cut tables never read past their end and give 0 or a line. */
START_TEST(test_lines_truncated)
{
	const struct pylines_fixture *f = &fixtures[_i];

	for (size_t n = 0; n < f->ntable; n++)
		for (size_t i = 0; i < f->nprobes; i += 7)
			ck_assert_int_ge(pycode_line(f->kind, f->table, n, f->firstlineno,
						     f->probes[i].offset), 0);
}
END_TEST

START_TEST(test_lines_locations_forms)
{
	/* Hand-made 3.11 table from firstlineno 10: a one-line entry (+1)
	 * of 2 units, a no-location entry of 1, a long entry (+300 as an
	 * svarint: 600 -> 0x18 | 0x40, 0x09) of 3, a no-columns entry
	 * (-5: 11) of 1, a short form of 2. */
	static const uint8_t t[] = {
		0x80 | (11 << 3) | 1, 4, 9,
		0x80 | (15 << 3) | 0,
		0x80 | (14 << 3) | 2, 0x40 | 0x18, 0x09, 0, 1, 2,
		0x80 | (13 << 3) | 0, 11,
		0x80 | (3 << 3) | 1, 7,
	};
	int want[] = { 11, 11, 0, 311, 311, 311, 306, 306, 306 };

	for (int i = 0; i < 9; i++)
		ck_assert_int_eq(pycode_line_locations(t, sizeof(t), 10, i), want[i]);
	ck_assert_int_eq(pycode_line_locations(t, sizeof(t), 10, 9), 0);
	ck_assert_int_eq(pycode_line_locations(t, sizeof(t), 10, -1), 0);
}
END_TEST

START_TEST(test_utf8)
{
	static const uint8_t latin1[] = { 'c', 'a', 'f', 0xe9 };
	static const uint16_t ucs2[] = { 0x0444, 0x0443, 0xd800 };
	static const uint32_t ucs4[] = { 0x51fd, 0x20000, 0x110000 };
	char out[64];

	ck_assert_int_eq(pycode_utf8(latin1, 4, 1, out, sizeof(out)), 5);
	ck_assert_str_eq(out, "caf\xc3\xa9");
	pycode_utf8((const uint8_t *)ucs2, 3, 2, out, sizeof(out));
	ck_assert_str_eq(out, "\xd1\x84\xd1\x83\xef\xbf\xbd");
	pycode_utf8((const uint8_t *)ucs4, 3, 4, out, sizeof(out));
	ck_assert_str_eq(out, "\xe5\x87\xbd\xf0\xa0\x80\x80\xef\xbf\xbd");
	/* Cut at a whole character. */
	ck_assert_int_eq(pycode_utf8(latin1, 4, 1, out, 5), 3);
	ck_assert_str_eq(out, "caf");
	ck_assert_int_eq(pycode_utf8(latin1, 4, 3, out, sizeof(out)), -1);
}
END_TEST

/* Native stacks: E = eval loop, I = other interpreter code, N = not. */
#define E(k) (0x1000 + (k))
#define I(k) (0x2000 + (k))
#define N(k) (0x9000 + (k))
#define P(k) ((1ull << 63) | (k))

static const struct pyrange eval_r[] = { { 0x1000, 0x1100 } };
static const struct pyrange interp_r[] = { { 0x1000, 0x3000 } };

static int merge(const uint64_t *nat, int nn, const uint64_t *py, const bool *end, int np,
		 bool keep, uint64_t *out, int max, struct pymerge_out *res)
{
	struct pymerge_in in = { .native = nat, .nnative = nn, .py = py, .end = end, .npy = np,
				 .eval = eval_r, .neval = 1, .interp = interp_r, .ninterp = 1,
				 .keep_interp = keep };
	pymerge(&in, out, max, res);
	return res->n;
}

START_TEST(test_merge_groups)
{
	/* leaf: libz under zlib (interp) under eval(group: pack, loop) under
	 * call glue (interp) under eval(group: run) under start (native). */
	uint64_t nat[] = { N(1), I(1), E(1), I(2), I(3), E(2), N(2) };
	uint64_t py[] = { P(1), P(2), P(3) };
	bool end[] = { false, true, true };
	uint64_t want[] = { N(1), I(1), P(1), P(2), P(3), N(2) };
	uint64_t want_keep[] = { N(1), I(1), P(1), P(2), I(2), I(3), P(3), N(2) };
	uint64_t out[16];
	struct pymerge_out res;

	ck_assert_int_eq(merge(nat, 7, py, end, 3, false, out, 16, &res), 6);
	ck_assert_mem_eq(out, want, sizeof(want));
	ck_assert_int_eq(res.eval_left + res.py_left, 0);
	ck_assert_int_eq(merge(nat, 7, py, end, 3, true, out, 16, &res), 8);
	ck_assert_mem_eq(out, want_keep, sizeof(want_keep));
	/* Cut at max: the outermost frames go. */
	ck_assert_int_eq(merge(nat, 7, py, end, 3, false, out, 4, &res), 4);
	ck_assert(res.cut);
}
END_TEST

START_TEST(test_merge_mismatch)
{
	uint64_t nat[] = { E(1), I(1), E(2), N(2) };
	uint64_t nat_short[] = { E(1), I(1) };
	uint64_t py[] = { P(1), P(2), P(3) };
	bool end[] = { true, true, true };
	uint64_t want_left[] = { P(1), P(2), P(3) };
	uint64_t out[16];
	struct pymerge_out res;

	/* Two eval frames, three groups: the third goes outermost. */
	ck_assert_int_eq(merge(nat, 4, py, end, 3, false, out, 16, &res), 4);
	ck_assert_int_eq(res.py_left, 1);
	ck_assert_uint_eq(out[3], P(3));
	/* The unwind stopped short. */
	ck_assert_int_eq(merge(nat_short, 2, py, end, 3, false, out, 16, &res), 3);
	ck_assert_mem_eq(out, want_left, sizeof(want_left));
	/* More eval frames than groups: the extra one stays native. */
	ck_assert_int_eq(merge(nat, 4, py, end, 1, false, out, 16, &res), 4);
	ck_assert_int_eq(res.eval_left, 1);
	ck_assert_uint_eq(out[2], E(2));
	/* No Python frames at all: nothing changes. */
	ck_assert_int_eq(merge(nat, 4, py, end, 0, false, out, 16, &res), 4);
	ck_assert_mem_eq(out, nat, sizeof(nat));
}
END_TEST

/* A synthetic 3.12 process: runtime -> interp -> one thread state ->
 * three frames, the middle one the C-call boundary. */
#define IMG_BASE 0x10000
#define IMG_SIZE 0x2000
static uint8_t img[IMG_SIZE];

static int img_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	(void)ctx;
	if (addr < IMG_BASE || addr - IMG_BASE > IMG_SIZE || len > IMG_SIZE - (addr - IMG_BASE))
		return -1;
	memcpy(buf, img + (addr - IMG_BASE), len);
	return 0;
}

static void put64(uint64_t addr, uint64_t v)
{
	memcpy(img + (addr - IMG_BASE), &v, 8);
}

START_TEST(test_read_chain)
{
	const struct pylayout *L = pylayout_for(12);
	uint64_t rt = IMG_BASE, interp = IMG_BASE + 0x100, ts = IMG_BASE + 0x400;
	uint64_t cframe = IMG_BASE + 0x600, f1 = IMG_BASE + 0x800, f2 = IMG_BASE + 0x900,
		 f3 = IMG_BASE + 0xa00;
	struct pyreader *r;
	struct capture c;
	struct py_capture pc = { 0 };

	memset(img, 0, sizeof(img));
	put64(rt + L->rt_interp_head, interp);
	put64(interp + L->is_threads_head, ts);
	put64(ts + L->ts_interp, interp);
	put64(ts + L->ts_native_id, 77);
	put64(ts + L->ts_frame, cframe);
	put64(cframe + (uint64_t)L->ts_cframe_current, f1);
	put64(f1 + L->fr_code, 0xc1);
	put64(f1 + L->fr_lasti, 0xc1 + 200);
	put64(f1 + L->fr_back, f2);
	img[f2 - IMG_BASE + (uint64_t)L->fr_owner] = 3;
	put64(f2 + L->fr_back, f3);
	put64(f3 + L->fr_code, 0xc3);

	memset(&c, 0, sizeof(c));
	c.tid = 77;
	r = pyreader_new(1, L, rt);
	pyreader_set_mem(r, img_read, NULL);
	pyreader_read(r, &c, 16, &pc);
	ck_assert_int_eq(pc.status, PY_READ_OK);
	ck_assert_int_eq(pc.n, 2);
	ck_assert_uint_eq(pc.f[0].code, 0xc1);
	ck_assert(pc.f[0].end);   /* the boundary ends its group */
	ck_assert_uint_eq(pc.f[1].code, 0xc3);
	ck_assert(pc.f[1].end);

	/* A cycle is refused, not followed for ever. */
	put64(f3 + L->fr_back, f1);
	pyreader_read(r, &c, 4096, &pc);
	ck_assert_int_eq(pc.status, PY_READ_FAILED);
	/* Another thread has no state. */
	c.tid = 78;
	pyreader_read(r, &c, 16, &pc);
	ck_assert_int_eq(pc.status, PY_READ_NOSTATE);
	/* Threads that came and went leave nothing behind once attach
	 * says they are gone. */
	for (pid_t tid = 1000; tid < 1200; tid++) {
		c.tid = tid;
		pyreader_read(r, &c, 16, &pc);
	}
	ck_assert_uint_ge(pyreader_threads(r), 200);
	for (pid_t tid = 1000; tid < 1200; tid++)
		pyreader_thread_gone(r, tid);
	pyreader_thread_gone(r, 78);
	ck_assert_uint_eq(pyreader_threads(r), 1);
	c.tid = 77;
	put64(f3 + L->fr_back, 0);
	pyreader_read(r, &c, 16, &pc);
	ck_assert_int_eq(pc.status, PY_READ_OK);
	ck_assert_int_eq(pc.n, 2);
	pyreader_thread_gone(r, 77);
	ck_assert_uint_eq(pyreader_threads(r), 0);
	py_capture_fini(&pc);
	pyreader_free(r);
}
END_TEST

Suite *suite_python(void)
{
	Suite *s = suite_create("python");
	TCase *tc = tcase_create("python");
	int n = (int)(sizeof(fixtures) / sizeof(fixtures[0]));

	tcase_add_loop_test(tc, test_lines_real_tables, 0, n);
	tcase_add_loop_test(tc, test_lines_truncated, 0, n);
	tcase_add_test(tc, test_lines_locations_forms);
	tcase_add_test(tc, test_utf8);
	tcase_add_test(tc, test_merge_groups);
	tcase_add_test(tc, test_merge_mismatch);
	tcase_add_test(tc, test_read_chain);
	suite_add_tcase(s, tc);
	return s;
}
