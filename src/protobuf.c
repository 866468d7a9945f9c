/* protobuf.c: protocol buffer wire format (see protobuf.h). A field starts
 * with its key, field number << 3 | wire type, as a varint; wire type 0 is
 * a varint value, 2 a varint length and that many bytes. */
#include "protobuf.h"

#include <string.h>

#include "util.h"

enum { WIRE_VARINT = 0, WIRE_LEN = 2 };

size_t pb_varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Writes v at p, which has room for ten bytes; returns the end. */
static unsigned char *put_varint(unsigned char *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (unsigned char)v;
	return p;
}

void pb_varint(struct mbuf *b, uint64_t v)
{
	xgrow((void **)&b->data, &b->cap, b->len + 10, 1);
	b->len = (size_t)(put_varint(b->data + b->len, v) - b->data);
}

static void pb_key(struct mbuf *b, uint32_t field, unsigned wire)
{
	pb_varint(b, (uint64_t)field << 3 | wire);
}

void pb_uint(struct mbuf *b, uint32_t field, uint64_t v)
{
	if (v == 0)
		return;
	pb_key(b, field, WIRE_VARINT);
	pb_varint(b, v);
}

void pb_int(struct mbuf *b, uint32_t field, int64_t v)
{
	pb_uint(b, field, (uint64_t)v);
}

void pb_bool(struct mbuf *b, uint32_t field, bool v)
{
	pb_uint(b, field, v ? 1 : 0);
}

void pb_bytes(struct mbuf *b, uint32_t field, const void *p, size_t n)
{
	pb_key(b, field, WIRE_LEN);
	pb_varint(b, n);
	mbuf_append(b, p, n);
}

void pb_string(struct mbuf *b, uint32_t field, const char *s)
{
	pb_bytes(b, field, s, strlen(s));
}

void pb_packed(struct mbuf *b, uint32_t field, const uint64_t *v, size_t n)
{
	unsigned char *p;
	size_t len = 0;

	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++)
		len += pb_varint_len(v[i]);
	pb_key(b, field, WIRE_LEN);
	pb_varint(b, len);
	xgrow((void **)&b->data, &b->cap, b->len + len, 1);
	p = b->data + b->len;
	for (size_t i = 0; i < n; i++)
		p = put_varint(p, v[i]);
	b->len += len;
}
