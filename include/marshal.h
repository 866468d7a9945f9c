/* marshal.h: an encoder for the subset of Python's marshal format, version 2
 * (the bytes marshal.dumps(obj, 2) gives), that pstats files use: dict,
 * tuple, int, float, str. Never writes reference flags. Strings are written
 * as 'u' with valid UTF-8: invalid bytes become U+FFFD. */
#ifndef SPROFD_MARSHAL_H
#define SPROFD_MARSHAL_H

#include <stddef.h>
#include <stdint.h>

struct mbuf {
	unsigned char *data;
	size_t len, cap;
};

void mbuf_init(struct mbuf *b);
void mbuf_free(struct mbuf *b);
/* Appends n bytes as they are, e.g. an object encoded earlier. */
void mbuf_append(struct mbuf *b, const void *p, size_t n);

void marshal_dict_begin(struct mbuf *b);           /* '{' */
void marshal_dict_end(struct mbuf *b);             /* '0' */
void marshal_tuple_begin(struct mbuf *b, uint32_t n); /* '(' + count */
void marshal_int(struct mbuf *b, int64_t v);       /* 'i' or 'l' */
void marshal_float(struct mbuf *b, double v);      /* 'g' */
void marshal_str(struct mbuf *b, const char *s);   /* 'u' */

#endif
