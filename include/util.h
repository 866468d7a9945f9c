/* util.h: allocation that never returns NULL, string interning, a u64 hash
 * map, the monotonic clock, and the open-file limit. Everything here is
 * process-local and owns only what it says. */
#ifndef SPROFD_UTIL_H
#define SPROFD_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>

/* Allocation failure is fatal: a message on stderr and exit(1). */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Grows *p (of *cap elements of size sz) to hold at least need elements. */
void xgrow(void **p, size_t *cap, size_t need, size_t sz);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses a whole decimal integer in [lo, hi] (no sign games, no trailing
 * text). Returns 0, or -1 leaving *out alone. */
int parse_long(const char *s, long lo, long hi, long *out);

/* Parses hex digits at *pp (before end; at most 16, no prefix), advancing
 * *pp past them. Returns false, leaving both alone, if there is none or
 * the number does not fit 64 bits. */
bool parse_hex(const char **pp, const char *end, uint64_t *out);

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0; then *bad
 * (if not NULL) is the length of the maximal invalid subpart, which Python's
 * 'replace' handler turns into one U+FFFD. s must be NUL-terminated. */
size_t utf8_seq(const unsigned char *s, size_t *bad);

/* Copies the n bytes of s (NUL-terminated) to out as Python's
 * bytes.decode('utf-8', 'replace') would: each maximal invalid subpart
 * becomes one U+FFFD. out must hold 3 * n bytes; returns the bytes written. */
size_t utf8_repair(const char *s, size_t n, char *out);

/* Writes s to f so that it stays on one line and cannot drive a terminal:
 * each control character but the tab, and DEL, as a C escape (\n, \r,
 * \a, \b, \v, \f, else \xHH). All other bytes, UTF-8 or not, a
 * backslash included, are written as they are. */
void str_escape(FILE *f, const char *s);

/* Writes v with thousands separators ("3,012") into buf, which must hold
 * 27 bytes; returns buf. */
const char *fmt_thousands(char *buf, uint64_t v);

/* Nanoseconds on CLOCK_MONOTONIC. */
uint64_t mono_ns(void);

/* Raises this process's soft limit on open files to the hard limit (logs
 * what it did at debug level). Process-wide: called once, at start-up, by
 * the commands that profile (forked daemon workers inherit it). */
void raise_nofile_limit(void);

/* 64-bit mixing hash (splitmix64 finalizer) and a byte-string hash. */
uint64_t hash_u64(uint64_t x);
uint64_t hash_bytes(const void *p, size_t n, uint64_t seed);

/* String interning: equal strings give the same pointer, valid until
 * strtab_free. The table owns all its strings. */
struct strtab;
struct strtab *strtab_new(void);
const char *strtab_intern(struct strtab *t, const char *s);
const char *strtab_intern_n(struct strtab *t, const char *s, size_t n);
size_t strtab_count(const struct strtab *t);
void strtab_free(struct strtab *t);

/* Open-addressing map from uint64 keys (any value) to uint64 values. */
struct u64map;
struct u64map *u64map_new(void);
/* Returns true and sets *val if key is present. */
bool u64map_get(const struct u64map *m, uint64_t key, uint64_t *val);
void u64map_put(struct u64map *m, uint64_t key, uint64_t val);
bool u64map_del(struct u64map *m, uint64_t key);
size_t u64map_count(const struct u64map *m);
/* Iteration: *pos starts at 0; returns false when done. */
bool u64map_next(const struct u64map *m, size_t *pos, uint64_t *key, uint64_t *val);
void u64map_free(struct u64map *m);

#endif
