/* test_marshal.c: the marshal encoder against bytes written by hand from
 * the format, then against Python's own marshal.dumps(obj, 2). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "marshal.h"
#include "suites.h"
#include "util.h"

/* Asserts that the buffer holds exactly the n bytes given. */
static void expect_bytes(const struct mbuf *b, const unsigned char *want, size_t n)
{
	if (b->len != n || memcmp(b->data, want, n) != 0) {
		fprintf(stderr, "got:  ");
		for (size_t i = 0; i < b->len; i++)
			fprintf(stderr, " %02x", b->data[i]);
		fprintf(stderr, "\nwant: ");
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, " %02x", want[i]);
		fprintf(stderr, "\n");
	}
	ck_assert_uint_eq(b->len, n);
	ck_assert_mem_eq(b->data, want, n);
}

#define EXPECT(b, ...) do { \
	static const unsigned char want_[] = { __VA_ARGS__ }; \
	expect_bytes((b), want_, sizeof(want_)); \
} while (0)

static void check_int(int64_t v, const unsigned char *want, size_t n)
{
	struct mbuf b;

	mbuf_init(&b);
	marshal_int(&b, v);
	expect_bytes(&b, want, n);
	mbuf_free(&b);
}

#define CHECK_INT(v, ...) do { \
	static const unsigned char want_[] = { __VA_ARGS__ }; \
	check_int((v), want_, sizeof(want_)); \
} while (0)

START_TEST(test_marshal_ints)
{
	CHECK_INT(0, 'i', 0, 0, 0, 0);
	CHECK_INT(1, 'i', 1, 0, 0, 0);
	CHECK_INT(-1, 'i', 0xff, 0xff, 0xff, 0xff);
	CHECK_INT(300, 'i', 0x2c, 0x01, 0, 0);
	CHECK_INT(INT32_MAX, 'i', 0xff, 0xff, 0xff, 0x7f);
	/* -2^31 still fits 'i'. */
	CHECK_INT(INT32_MIN, 'i', 0, 0, 0, 0x80);
	/* 2^31 = 2 * 2^30: digits 0, 0, 2 of 15 bits. */
	CHECK_INT(INT64_C(2147483648), 'l', 3, 0, 0, 0, 0, 0, 0, 0, 2, 0);
	/* -2^31 - 1: magnitude 0x80000001, digits 1, 0, 2, count -3. */
	CHECK_INT(INT64_C(-2147483649), 'l', 0xfd, 0xff, 0xff, 0xff, 1, 0, 0, 0, 2, 0);
	/* 2^40 = 2^10 * 2^30: digits 0, 0, 0x400. */
	CHECK_INT(INT64_C(1099511627776), 'l', 3, 0, 0, 0, 0, 0, 0, 0, 0, 4);
	CHECK_INT(INT64_C(-1099511627776), 'l', 0xfd, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 4);
	/* 2^45 needs a fourth digit: 0, 0, 0, 1. */
	CHECK_INT(INT64_C(35184372088832), 'l', 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0);
	/* INT64_MAX = 2^63 - 1: four digits 0x7fff, then 2^60 -> 7. */
	CHECK_INT(INT64_MAX, 'l', 5, 0, 0, 0, 0xff, 0x7f, 0xff, 0x7f, 0xff, 0x7f, 0xff, 0x7f,
		  7, 0);
	/* INT64_MIN = -2^63: digits 0, 0, 0, 0, 8; count -5. */
	CHECK_INT(INT64_MIN, 'l', 0xfb, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0);
}
END_TEST

START_TEST(test_marshal_floats)
{
	struct mbuf b;

	mbuf_init(&b);
	marshal_float(&b, 0.5);        /* 0x3fe0000000000000 */
	EXPECT(&b, 'g', 0, 0, 0, 0, 0, 0, 0xe0, 0x3f);
	mbuf_free(&b);
	marshal_float(&b, -2.0);       /* 0xc000000000000000 */
	marshal_float(&b, 0.0);
	marshal_float(&b, 0.1);        /* 0x3fb999999999999a */
	EXPECT(&b, 'g', 0, 0, 0, 0, 0, 0, 0, 0xc0,
	       'g', 0, 0, 0, 0, 0, 0, 0, 0,
	       'g', 0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0x3f);
	mbuf_free(&b);
}
END_TEST

START_TEST(test_marshal_strs)
{
	struct mbuf b;

	mbuf_init(&b);
	marshal_str(&b, "");
	EXPECT(&b, 'u', 0, 0, 0, 0);
	mbuf_free(&b);
	marshal_str(&b, "main");
	EXPECT(&b, 'u', 4, 0, 0, 0, 'm', 'a', 'i', 'n');
	mbuf_free(&b);
	marshal_str(&b, "caf\xc3\xa9");            /* café: 5 bytes */
	EXPECT(&b, 'u', 5, 0, 0, 0, 'c', 'a', 'f', 0xc3, 0xa9);
	mbuf_free(&b);
	marshal_str(&b, "\xe5\x90\x8d\xe5\x89\x8d");  /* 名前 */
	EXPECT(&b, 'u', 6, 0, 0, 0, 0xe5, 0x90, 0x8d, 0xe5, 0x89, 0x8d);
	mbuf_free(&b);
	marshal_str(&b, "\xf0\x9f\x98\x80!");        /* U+1F600, 4 bytes */
	EXPECT(&b, 'u', 5, 0, 0, 0, 0xf0, 0x9f, 0x98, 0x80, '!');
	mbuf_free(&b);
}
END_TEST

static void check_str(const char *in, const unsigned char *want, size_t n)
{
	struct mbuf b;

	mbuf_init(&b);
	marshal_str(&b, in);
	ck_assert_uint_ge(b.len, 5);
	ck_assert_uint_eq(b.data[0], 'u');
	ck_assert_uint_eq(b.data[1] | b.data[2] << 8, n);
	ck_assert_uint_eq(b.len, 5 + n);
	ck_assert_mem_eq(b.data + 5, want, n);
	mbuf_free(&b);
}

#define CHECK_STR(in, ...) do { \
	static const unsigned char want_[] = { __VA_ARGS__ }; \
	check_str((in), want_, sizeof(want_)); \
} while (0)

#define R 0xef, 0xbf, 0xbd   /* U+FFFD */

/* Invalid input: each maximal subpart becomes one U+FFFD, as Python's
 * bytes.decode('utf-8', 'replace') does. */
START_TEST(test_marshal_bad_utf8)
{
	CHECK_STR("\xff", R);
	CHECK_STR("a\xff" "b", 'a', R, 'b');
	CHECK_STR("\x80", R);                         /* lone continuation */
	CHECK_STR("\x80\x80", R, R);
	CHECK_STR("\xc0\xaf", R, R);                  /* overlong '/': C0 never starts */
	CHECK_STR("\xc1\xbf", R, R);
	CHECK_STR("\xe0\x80\xaf", R, R, R);           /* overlong: E0 needs A0..BF */
	CHECK_STR("\xed\xa0\x80", R, R, R);           /* surrogate D800 */
	CHECK_STR("\xf0\x80\x80\x80", R, R, R, R);    /* overlong 4-byte */
	CHECK_STR("\xf4\x90\x80\x80", R, R, R, R);    /* above U+10FFFF */
	CHECK_STR("\xf5\x80", R, R);
	CHECK_STR("\xe1\x80", R);                     /* truncated at the end */
	CHECK_STR("\xe1\x80z", R, 'z');               /* truncated before ASCII */
	CHECK_STR("\xf1\x80\x80", R);
	CHECK_STR("\xf1\x80\x80\xe2\x82\xac", R, 0xe2, 0x82, 0xac);
	CHECK_STR("\xc3", R);
	CHECK_STR("x\xc3\xa9\xc3", 'x', 0xc3, 0xa9, R);
	/* Valid edges stay as they are. */
	CHECK_STR("\xed\x9f\xbf", 0xed, 0x9f, 0xbf);  /* U+D7FF */
	CHECK_STR("\xf4\x8f\xbf\xbf", 0xf4, 0x8f, 0xbf, 0xbf);  /* U+10FFFF */
	CHECK_STR("\xc2\x80", 0xc2, 0x80);
}
END_TEST

START_TEST(test_marshal_nested)
{
	struct mbuf b;

	mbuf_init(&b);
	/* {('a', 1, 'b'): (1, 2.0, {})} */
	marshal_dict_begin(&b);
	marshal_tuple_begin(&b, 3);
	marshal_str(&b, "a");
	marshal_int(&b, 1);
	marshal_str(&b, "b");
	marshal_tuple_begin(&b, 3);
	marshal_int(&b, 1);
	marshal_float(&b, 2.0);
	marshal_dict_begin(&b);
	marshal_dict_end(&b);
	marshal_dict_end(&b);
	EXPECT(&b, '{',
	       '(', 3, 0, 0, 0, 'u', 1, 0, 0, 0, 'a', 'i', 1, 0, 0, 0, 'u', 1, 0, 0, 0, 'b',
	       '(', 3, 0, 0, 0, 'i', 1, 0, 0, 0, 'g', 0, 0, 0, 0, 0, 0, 0, 0x40, '{', '0',
	       '0');
	mbuf_free(&b);
	mbuf_free(NULL);
}
END_TEST

/* Runs a python3 script (text) with one argument and returns its stdout,
 * or NULL if it did not exit 0. */
static char *run_python(const char *dir, const char *script, const char *arg)
{
	char *path = xasprintf("%s/check.py", dir), *cmd, *out = NULL;
	size_t len = 0, cap = 0;
	FILE *f = fopen(path, "w"), *p;
	int c;

	ck_assert_ptr_nonnull(f);
	fputs(script, f);
	ck_assert_int_eq(fclose(f), 0);
	cmd = xasprintf("python3 '%s' '%s'", path, arg);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	while ((c = fgetc(p)) != EOF) {
		xgrow((void **)&out, &cap, len + 2, 1);
		out[len++] = (char)c;
	}
	xgrow((void **)&out, &cap, len + 1, 1);
	out[len] = '\0';
	if (pclose(p) != 0) {
		fprintf(stderr, "python3 failed, output: %s\n", out);
		free(out);
		out = NULL;
	}
	unlink(path);
	free(path);
	free(cmd);
	return out;
}

static void hex_append(FILE *f, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
}

/* Python decodes each input line of hex bytes with 'replace' and prints
 * marshal.dumps(str, 2) in hex; the C encoder must give the same bytes
 * for every one, including random mixes of the awkward bytes. */
START_TEST(test_marshal_python_strs)
{
	static const char script[] =
		"import marshal, sys\n"
		"for line in open(sys.argv[1]):\n"
		"    s = bytes.fromhex(line.strip()).decode('utf-8', 'replace')\n"
		"    print(marshal.dumps(s, 2).hex())\n";
	static const unsigned char pool[] = {
		'a', 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf,
		0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff,
	};
	enum { NSTR = 3000 };
	char dir[] = "/tmp/sprofd-test-XXXXXX";
	char *in, *out, *line, *save = NULL;
	unsigned char **strs = xcalloc(NSTR, sizeof(*strs));
	size_t *lens = xcalloc(NSTR, sizeof(*lens));
	uint64_t rng = 12345;
	FILE *f;
	int k = 0;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	in = xasprintf("%s/in.txt", dir);
	f = fopen(in, "w");
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < NSTR; i++) {
		rng = hash_u64(rng);
		lens[i] = 1 + rng % 9;
		strs[i] = xcalloc(lens[i] + 1, 1);
		for (size_t j = 0; j < lens[i]; j++) {
			rng = hash_u64(rng);
			strs[i][j] = pool[rng % sizeof(pool)];
		}
		hex_append(f, strs[i], lens[i]);
		fputc('\n', f);
	}
	ck_assert_int_eq(fclose(f), 0);

	out = run_python(dir, script, in);
	ck_assert_ptr_nonnull(out);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), k++) {
		struct mbuf b;
		char *hex;
		size_t hl;
		FILE *hf = open_memstream(&hex, &hl);

		ck_assert_int_lt(k, NSTR);
		mbuf_init(&b);
		marshal_str(&b, (const char *)strs[k]);
		hex_append(hf, b.data, b.len);
		fclose(hf);
		if (strcmp(hex, line) != 0) {
			fprintf(stderr, "input ");
			hex_append(stderr, strs[k], lens[k]);
			fprintf(stderr, ": C %s, Python %s\n", hex, line);
		}
		ck_assert_str_eq(hex, line);
		free(hex);
		mbuf_free(&b);
	}
	ck_assert_int_eq(k, NSTR);

	for (int i = 0; i < NSTR; i++)
		free(strs[i]);
	free(strs);
	free(lens);
	free(out);
	unlink(in);
	free(in);
	rmdir(dir);
}
END_TEST

/* A pstats-shaped object with every kind of value, compared whole with
 * Python's encoding of the same object. */
START_TEST(test_marshal_python_object)
{
	static const char script[] =
		"import marshal, sys\n"
		"obj = {('caf\\u00e9.c', 12, '\\u540d\\u524d'): (3, 2**40, 0.25, -1.5e300,\n"
		"        {('~', 0, '<all samples>'): (-2**31, 2**31, 1e-9, 0.0)}),\n"
		"       ('x', -2**63, 'y\\ufffd\\ufffd\\ufffd'): (), ('', 2**63 - 1, ''): ({},)}\n"
		"print(marshal.dumps(obj, 2).hex())\n";
	char dir[] = "/tmp/sprofd-test-XXXXXX";
	struct mbuf b;
	char *out, *hex;
	size_t hl;
	FILE *hf;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	mbuf_init(&b);
	marshal_dict_begin(&b);
	marshal_tuple_begin(&b, 3);
	marshal_str(&b, "caf\xc3\xa9.c");
	marshal_int(&b, 12);
	marshal_str(&b, "\xe5\x90\x8d\xe5\x89\x8d");
	marshal_tuple_begin(&b, 5);
	marshal_int(&b, 3);
	marshal_int(&b, INT64_C(1) << 40);
	marshal_float(&b, 0.25);
	marshal_float(&b, -1.5e300);
	marshal_dict_begin(&b);
	marshal_tuple_begin(&b, 3);
	marshal_str(&b, "~");
	marshal_int(&b, 0);
	marshal_str(&b, "<all samples>");
	marshal_tuple_begin(&b, 4);
	marshal_int(&b, INT32_MIN);
	marshal_int(&b, INT64_C(2147483648));
	marshal_float(&b, 1e-9);
	marshal_float(&b, 0.0);
	marshal_dict_end(&b);
	marshal_tuple_begin(&b, 3);
	marshal_str(&b, "x");
	marshal_int(&b, INT64_MIN);
	marshal_str(&b, "y\xed\xb0\x80");   /* a lone surrogate: three U+FFFD */
	marshal_tuple_begin(&b, 0);
	marshal_tuple_begin(&b, 3);
	marshal_str(&b, "");
	marshal_int(&b, INT64_MAX);
	marshal_str(&b, "");
	marshal_tuple_begin(&b, 1);
	marshal_dict_begin(&b);
	marshal_dict_end(&b);
	marshal_dict_end(&b);

	out = run_python(dir, script, "-");
	ck_assert_ptr_nonnull(out);
	hf = open_memstream(&hex, &hl);
	hex_append(hf, b.data, b.len);
	fputc('\n', hf);
	fclose(hf);
	ck_assert_str_eq(hex, out);
	free(out);
	free(hex);
	mbuf_free(&b);
	rmdir(dir);
}
END_TEST

Suite *suite_marshal(void)
{
	Suite *s = suite_create("marshal");
	TCase *tc = tcase_create("bytes");
	TCase *py = tcase_create("python");

	tcase_add_test(tc, test_marshal_ints);
	tcase_add_test(tc, test_marshal_floats);
	tcase_add_test(tc, test_marshal_strs);
	tcase_add_test(tc, test_marshal_bad_utf8);
	tcase_add_test(tc, test_marshal_nested);
	suite_add_tcase(s, tc);
	tcase_add_test(py, test_marshal_python_strs);
	tcase_add_test(py, test_marshal_python_object);
	tcase_set_timeout(py, 60);
	suite_add_tcase(s, py);
	return s;
}
