/* pycode.c: line tables and str data (see pycode.h). The formats are
 * CPython's own: Objects/lnotab_notes.txt (3.8-3.10) and the location
 * table of InternalDocs/code_objects.md (3.11+). */
#include "pycode.h"

#include <string.h>

int pycode_line_lnotab(const uint8_t *t, size_t n, int firstlineno, int64_t offset)
{
	int64_t addr = 0;
	int line = firstlineno;

	if (n > PYCODE_MAX_TABLE)
		return 0;
	/* Pairs (address delta, signed line delta); the line of an offset is
	 * the sum of the deltas of the pairs whose address is not past it. */
	for (size_t i = 0; i + 1 < n; i += 2) {
		addr += t[i];
		if (addr > offset)
			break;
		line += (int8_t)t[i + 1];
	}
	return line > 0 ? line : 0;
}

int pycode_line_pep626(const uint8_t *t, size_t n, int firstlineno, int64_t offset)
{
	int64_t start, end = 0;
	int line = firstlineno;

	if (n > PYCODE_MAX_TABLE || offset < 0)
		return 0;
	/* Pairs (byte length, signed line delta) of consecutive ranges; a
	 * delta of -128 means the range has no line. */
	for (size_t i = 0; i + 1 < n; i += 2) {
		int8_t d = (int8_t)t[i + 1];

		start = end;
		end += t[i];
		if (d != -128)
			line += d;
		if (offset >= start && offset < end)
			return d == -128 || line <= 0 ? 0 : line;
	}
	return 0;
}

/* A varint of the location table: 6-bit groups, least significant first,
 * 0x40 meaning more follow. False if it runs past the end or is too long. */
static bool read_varint(const uint8_t *t, size_t n, size_t *i, uint32_t *out)
{
	uint32_t v = 0;
	unsigned shift = 0;
	uint8_t b;

	do {
		if (*i >= n || shift > 28)
			return false;
		b = t[(*i)++];
		if (b & 0x80)
			return false;   /* the start of the next entry */
		v |= (uint32_t)(b & 63) << shift;
		shift += 6;
	} while (b & 64);
	*out = v;
	return true;
}

static bool read_svarint(const uint8_t *t, size_t n, size_t *i, int32_t *out)
{
	uint32_t u;

	if (!read_varint(t, n, i, &u))
		return false;
	*out = (u & 1) ? -(int32_t)(u >> 1) : (int32_t)(u >> 1);
	return true;
}

int pycode_line_locations(const uint8_t *t, size_t n, int firstlineno, int64_t offset)
{
	int64_t addr = 0, line = firstlineno;
	size_t i = 0;
	uint32_t skip;
	int32_t d;

	if (n > PYCODE_MAX_TABLE || offset < 0)
		return 0;
	while (i < n) {
		uint8_t b = t[i++];
		unsigned code = (b >> 3) & 15, len = (b & 7) + 1;
		bool none = false;

		if (!(b & 0x80))
			return 0;   /* not the start of an entry */
		if (code == 15) {
			none = true;
		} else if (code == 14) {   /* long form */
			if (!read_svarint(t, n, &i, &d))
				return 0;
			line += d;
			for (int k = 0; k < 3; k++)
				if (!read_varint(t, n, &i, &skip))
					return 0;
		} else if (code == 13) {   /* no columns */
			if (!read_svarint(t, n, &i, &d))
				return 0;
			line += d;
		} else if (code >= 10) {   /* one line: 0, 1 or 2 down, two column bytes */
			line += code - 10;
			if (i + 2 > n)
				return 0;
			i += 2;
		} else {                   /* short form: same line, one column byte */
			if (i + 1 > n)
				return 0;
			i += 1;
		}
		if (offset >= addr && offset < addr + len)
			return none || line <= 0 || line > INT32_MAX ? 0 : (int)line;
		addr += len;
	}
	return 0;
}

int pycode_line(enum py_lines_kind kind, const uint8_t *t, size_t n, int firstlineno,
		int64_t offset)
{
	switch (kind) {
	case PY_LINES_LNOTAB:
		return pycode_line_lnotab(t, n, firstlineno, offset);
	case PY_LINES_PEP626:
		return pycode_line_pep626(t, n, firstlineno, offset);
	case PY_LINES_LOCATIONS:
		return pycode_line_locations(t, n, firstlineno, offset);
	}
	return 0;
}

/* Appends code point c as UTF-8 if it fits in out[*o .. cap-1). */
static bool put_utf8(char *out, size_t cap, size_t *o, uint32_t c)
{
	uint8_t b[4];
	size_t k;

	if ((c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		c = 0xfffd;
	if (c < 0x80) {
		b[0] = (uint8_t)c;
		k = 1;
	} else if (c < 0x800) {
		b[0] = (uint8_t)(0xc0 | (c >> 6));
		b[1] = (uint8_t)(0x80 | (c & 63));
		k = 2;
	} else if (c < 0x10000) {
		b[0] = (uint8_t)(0xe0 | (c >> 12));
		b[1] = (uint8_t)(0x80 | ((c >> 6) & 63));
		b[2] = (uint8_t)(0x80 | (c & 63));
		k = 3;
	} else {
		b[0] = (uint8_t)(0xf0 | (c >> 18));
		b[1] = (uint8_t)(0x80 | ((c >> 12) & 63));
		b[2] = (uint8_t)(0x80 | ((c >> 6) & 63));
		b[3] = (uint8_t)(0x80 | (c & 63));
		k = 4;
	}
	if (*o + k >= cap)
		return false;
	memcpy(out + *o, b, k);
	*o += k;
	return true;
}

long pycode_utf8(const uint8_t *data, size_t nchars, unsigned kind, char *out, size_t cap)
{
	size_t o = 0;

	if (kind != 1 && kind != 2 && kind != 4)
		return -1;
	for (size_t i = 0; i < nchars; i++) {
		uint32_t c;

		if (kind == 1) {
			c = data[i];
		} else if (kind == 2) {
			uint16_t v;
			memcpy(&v, data + 2 * i, 2);
			c = v;
		} else {
			memcpy(&c, data + 4 * i, 4);
		}
		if (!put_utf8(out, cap, &o, c))
			break;
	}
	out[o] = '\0';
	return (long)o;
}
