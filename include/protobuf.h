/* protobuf.h: an encoder for the protocol buffer wire format, enough for
 * profile.proto: varint fields, packed repeated varints and
 * length-delimited fields (strings, bytes, nested messages encoded first
 * into a buffer of their own). Appends to an mbuf (marshal.h). Zero-valued
 * scalar fields are left out, as proto3 does. */
#ifndef SPROFD_PROTOBUF_H
#define SPROFD_PROTOBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "marshal.h"

/* Bytes that pb_varint would write for v. */
size_t pb_varint_len(uint64_t v);
void pb_varint(struct mbuf *b, uint64_t v);
/* A uint64 or int64 field (negative int64 values take ten bytes, as the
 * format says); nothing if v is 0. */
void pb_uint(struct mbuf *b, uint32_t field, uint64_t v);
void pb_int(struct mbuf *b, uint32_t field, int64_t v);
void pb_bool(struct mbuf *b, uint32_t field, bool v);
/* A length-delimited field, written even if empty. */
void pb_bytes(struct mbuf *b, uint32_t field, const void *p, size_t n);
void pb_string(struct mbuf *b, uint32_t field, const char *s);
/* A packed repeated uint64/int64 field; nothing if n is 0. */
void pb_packed(struct mbuf *b, uint32_t field, const uint64_t *v, size_t n);

#endif
