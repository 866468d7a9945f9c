/* marshal.c: the bytes of Python's marshal.dumps(obj, 2) for dicts, tuples,
 * ints, floats and strs (see marshal.h). Version 2 has no reference flags,
 * no short forms: every tuple and str carries a 32-bit length. */
#include "marshal.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void mbuf_init(struct mbuf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void mbuf_free(struct mbuf *b)
{
	if (!b)
		return;
	free(b->data);
	mbuf_init(b);
}

/* Makes room for n more bytes and returns where they go. */
static unsigned char *mbuf_reserve(struct mbuf *b, size_t n)
{
	xgrow((void **)&b->data, &b->cap, b->len + n, 1);
	return b->data + b->len;
}

void mbuf_append(struct mbuf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	memcpy(mbuf_reserve(b, n), p, n);
	b->len += n;
}

static void mbuf_byte(struct mbuf *b, unsigned char c)
{
	*mbuf_reserve(b, 1) = c;
	b->len++;
}

/* Stores a 32-bit little-endian value at p, whatever the host order. */
static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

static void mbuf_le32(struct mbuf *b, uint32_t v)
{
	put_le32(mbuf_reserve(b, 4), v);
	b->len += 4;
}

void marshal_dict_begin(struct mbuf *b)
{
	mbuf_byte(b, '{');
}

void marshal_dict_end(struct mbuf *b)
{
	mbuf_byte(b, '0');
}

void marshal_tuple_begin(struct mbuf *b, uint32_t n)
{
	mbuf_byte(b, '(');
	mbuf_le32(b, n);
}

/* Writes v as 'i' when it fits in 32 bits, else as a 'l' long: a signed
 * digit count, then base-2^15 digits, least significant first. */
void marshal_int(struct mbuf *b, int64_t v)
{
	uint16_t digits[5];      /* 64 bits need at most 5 digits of 15 */
	uint64_t mag;
	int32_t nd = 0;

	if (v >= INT32_MIN && v <= INT32_MAX) {
		mbuf_byte(b, 'i');
		mbuf_le32(b, (uint32_t)(int32_t)v);
		return;
	}
	mag = v < 0 ? -(uint64_t)v : (uint64_t)v;
	while (mag) {
		digits[nd++] = mag & 0x7fff;
		mag >>= 15;
	}
	mbuf_byte(b, 'l');
	mbuf_le32(b, (uint32_t)(v < 0 ? -nd : nd));
	for (int32_t i = 0; i < nd; i++) {
		mbuf_byte(b, digits[i] & 0xff);
		mbuf_byte(b, digits[i] >> 8);
	}
}

void marshal_float(struct mbuf *b, double v)
{
	unsigned char *p = mbuf_reserve(b, 9);
	uint64_t bits;

	memcpy(&bits, &v, sizeof(bits));
	p[0] = 'g';
	for (int i = 0; i < 8; i++)
		p[1 + i] = (bits >> (8 * i)) & 0xff;
	b->len += 9;
}

void marshal_str(struct mbuf *b, const char *str)
{
	size_t n = strlen(str), len;

	mbuf_byte(b, 'u');
	mbuf_le32(b, 0);                 /* patched below, once the length is known */
	len = utf8_repair(str, n, (char *)mbuf_reserve(b, 3 * n));
	b->len += len;
	put_le32(b->data + b->len - len - 4, (uint32_t)len);
}
