/* pycode.h: pure decoders of what a CPython code object holds, over bytes
 * already copied from the target: the three line-table formats (which line
 * an instruction offset is on) and str data of each width, to UTF-8. The
 * input is untrusted: every decoder stays within the bytes it is given,
 * bounds its work, and owns nothing. */
#ifndef SPROFD_PYCODE_H
#define SPROFD_PYCODE_H

#include <stddef.h>
#include <stdint.h>

#include "pylayout.h"

/* Line tables longer than this are not decoded (a line of 0 follows). */
#define PYCODE_MAX_TABLE (64 * 1024)

/* The line of the instruction at offset in a code object whose first line
 * is firstlineno and whose line table is t[0..n). offset is what the frame
 * holds, in the unit of the version: 3.8/3.9 the byte offset f_lasti (-1
 * before the first instruction), 3.10 the byte offset (2 * f_lasti), 3.11+
 * the index of the 2-byte code unit. Returns the line, or 0 if the table
 * has none for that offset or does not decode. */
int pycode_line(enum py_lines_kind kind, const uint8_t *t, size_t n, int firstlineno,
		int64_t offset);
int pycode_line_lnotab(const uint8_t *t, size_t n, int firstlineno, int64_t offset);
int pycode_line_pep626(const uint8_t *t, size_t n, int firstlineno, int64_t offset);
int pycode_line_locations(const uint8_t *t, size_t n, int firstlineno, int64_t offset);

/* Converts the data of a str (nchars characters of kind bytes each: 1
 * latin-1, 2 UCS-2, 4 UCS-4) to UTF-8 in out (size cap, cap >= 1), always
 * NUL-terminated, cut at a whole character if it does not fit. Characters
 * that are not Unicode scalar values (surrogates, > U+10FFFF) become
 * U+FFFD. Returns the bytes written (without the NUL), or -1 if kind is
 * not 1, 2 or 4. */
long pycode_utf8(const uint8_t *data, size_t nchars, unsigned kind, char *out, size_t cap);

#endif
