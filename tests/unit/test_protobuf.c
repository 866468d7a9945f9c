/* test_protobuf.c: the protocol buffer encoder against bytes the wire
 * format's documentation spells out, and against a decoder of our own, at
 * the values no real profile reaches: the ends of every varint length,
 * 2^64 - 1, negative int64, the largest field number, empty and zero
 * fields. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "protobuf.h"
#include "suites.h"
#include "util.h"

/* Reads a varint at *p (before end); fails the test if it runs past end
 * or over ten bytes. */
static uint64_t get_varint(const unsigned char **p, const unsigned char *end)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 70; shift += 7) {
		ck_assert_msg(*p < end, "varint runs past the end");
		unsigned char c = *(*p)++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
	}
	ck_abort_msg("varint over ten bytes");
	return 0;
}

START_TEST(test_varint_bytes)
{
	static const unsigned char v150[] = { 0x96, 0x01 }, v300[] = { 0xac, 0x02 };
	static const unsigned char vmax[] = { 0xff, 0xff, 0xff, 0xff, 0xff,
					      0xff, 0xff, 0xff, 0xff, 0x01 };
	struct mbuf b;

	mbuf_init(&b);
	pb_varint(&b, 150);
	ck_assert_uint_eq(b.len, 2);
	ck_assert_mem_eq(b.data, v150, 2);
	b.len = 0;
	pb_varint(&b, 300);
	ck_assert_mem_eq(b.data, v300, 2);
	b.len = 0;
	pb_varint(&b, UINT64_MAX);
	ck_assert_uint_eq(b.len, 10);
	ck_assert_mem_eq(b.data, vmax, 10);
	b.len = 0;
	pb_varint(&b, 0);
	ck_assert_uint_eq(b.len, 1);
	ck_assert_uint_eq(b.data[0], 0);
	mbuf_free(&b);
}
END_TEST

/* At both ends of every length: pb_varint_len says what pb_varint writes,
 * and the bytes read back as the value. */
START_TEST(test_varint_lengths)
{
	struct mbuf b;

	mbuf_init(&b);
	for (int k = 0; k <= 64; k++) {
		uint64_t vals[3] = { k == 64 ? UINT64_MAX : (1ull << k) - 1, k < 64 ? 1ull << k : 0,
				     k < 64 ? (1ull << k) + 1 : 1 };
		for (int i = 0; i < 3; i++) {
			const unsigned char *p;
			uint64_t v = vals[i];
			size_t want = 1;

			for (uint64_t x = v; x >= 0x80; x >>= 7)
				want++;
			b.len = 0;
			pb_varint(&b, v);
			ck_assert_uint_eq(b.len, want);
			ck_assert_uint_eq(pb_varint_len(v), want);
			p = b.data;
			ck_assert_uint_eq(get_varint(&p, b.data + b.len), v);
			ck_assert_ptr_eq(p, b.data + b.len);
		}
	}
	mbuf_free(&b);
}
END_TEST

/* Fields: a key (field << 3 | wire type) then the value; proto3 leaves
 * zero scalars out; negative int64 is ten bytes of two's complement. */
START_TEST(test_fields)
{
	static const uint64_t packed[] = { 0, 1, 127, 128, UINT64_MAX, 300 };
	struct mbuf b;
	const unsigned char *p, *end;
	uint64_t key, len;

	mbuf_init(&b);
	pb_uint(&b, 1, 0);
	pb_int(&b, 2, 0);
	pb_bool(&b, 3, false);
	pb_packed(&b, 4, packed, 0);
	ck_assert_uint_eq(b.len, 0);

	pb_uint(&b, 1, 150);
	pb_int(&b, 2, -1);
	pb_bool(&b, 3, true);
	pb_string(&b, 536870911, "héllo");
	pb_bytes(&b, 5, "", 0);
	pb_packed(&b, 6, packed, sizeof(packed) / sizeof(packed[0]));
	pb_int(&b, 7, INT64_MIN);

	p = b.data;
	end = b.data + b.len;
	ck_assert_uint_eq(get_varint(&p, end), 1 << 3 | 0);
	ck_assert_uint_eq(get_varint(&p, end), 150);
	ck_assert_uint_eq(get_varint(&p, end), 2 << 3 | 0);
	{
		const unsigned char *q = p;
		ck_assert_int_eq((int64_t)get_varint(&p, end), -1);
		ck_assert_int_eq(p - q, 10);
	}
	ck_assert_uint_eq(get_varint(&p, end), 3 << 3 | 0);
	ck_assert_uint_eq(get_varint(&p, end), 1);
	key = get_varint(&p, end);
	ck_assert_uint_eq(key >> 3, 536870911);
	ck_assert_uint_eq(key & 7, 2);
	len = get_varint(&p, end);
	ck_assert_uint_eq(len, strlen("héllo"));
	ck_assert_mem_eq(p, "héllo", len);
	p += len;
	ck_assert_uint_eq(get_varint(&p, end), 5 << 3 | 2);
	ck_assert_uint_eq(get_varint(&p, end), 0);
	ck_assert_uint_eq(get_varint(&p, end), 6 << 3 | 2);
	len = get_varint(&p, end);
	{
		const unsigned char *pe = p + len;
		for (size_t i = 0; i < sizeof(packed) / sizeof(packed[0]); i++)
			ck_assert_uint_eq(get_varint(&p, pe), packed[i]);
		ck_assert_ptr_eq(p, pe);
	}
	ck_assert_uint_eq(get_varint(&p, end), 7 << 3 | 0);
	ck_assert_int_eq((int64_t)get_varint(&p, end), INT64_MIN);
	ck_assert_ptr_eq(p, end);
	mbuf_free(&b);
}
END_TEST

/* A nested message is its own buffer written as bytes, and the encoder
 * grows its buffer across many appends. */
START_TEST(test_nested_and_growth)
{
	struct mbuf inner, outer;
	const unsigned char *p, *end;

	mbuf_init(&inner);
	mbuf_init(&outer);
	for (uint64_t i = 1; i <= 5000; i++)
		pb_uint(&inner, 1, i * 1000003);
	pb_bytes(&outer, 2, inner.data, inner.len);
	p = outer.data;
	end = outer.data + outer.len;
	ck_assert_uint_eq(get_varint(&p, end), 2 << 3 | 2);
	ck_assert_uint_eq(get_varint(&p, end), inner.len);
	ck_assert_uint_eq((size_t)(end - p), inner.len);
	for (uint64_t i = 1; i <= 5000; i++) {
		ck_assert_uint_eq(get_varint(&p, end), 1 << 3);
		ck_assert_uint_eq(get_varint(&p, end), i * 1000003);
	}
	ck_assert_ptr_eq(p, end);
	mbuf_free(&inner);
	mbuf_free(&outer);
}
END_TEST

Suite *suite_protobuf(void)
{
	Suite *s = suite_create("protobuf");
	TCase *tc = tcase_create("encoder");

	tcase_add_test(tc, test_varint_bytes);
	tcase_add_test(tc, test_varint_lengths);
	tcase_add_test(tc, test_fields);
	tcase_add_test(tc, test_nested_and_growth);
	suite_add_tcase(s, tc);
	return s;
}
