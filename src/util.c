/* util.c: allocation, interning, hashing and the clock (see util.h). */
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "log.h"

static void oom(size_t n)
{
	fprintf(stderr, "sprofd: out of memory (allocating %zu bytes)\n", n);
	exit(1);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (!p)
		oom(nmemb * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

void xgrow(void **p, size_t *cap, size_t need, size_t sz)
{
	size_t c = *cap;

	if (need <= c)
		return;
	if (c < 8)
		c = 8;
	while (c < need)
		c *= 2;
	*p = xrealloc(*p, c * sz);
	*cap = c;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = xmalloc(n);
	memcpy(d, s, n);
	return d;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		oom(strlen(fmt));
	va_end(ap);
	return s;
}

bool parse_hex(const char **pp, const char *end, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;
	int nd = 0;

	for (; p < end; p++, nd++) {
		int d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			break;
		if (nd >= 16)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	if (nd == 0)
		return false;
	*out = v;
	*pp = p;
	return true;
}

int parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 if the bytes
 * there are not one; *bad is then set to the length of the maximal subpart
 * (the longest prefix that could still have become valid), which Python's
 * 'replace' error handler turns into a single U+FFFD. */
size_t utf8_seq(const unsigned char *s, size_t *bad)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t need, k;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 1;
	else if (c >= 0xe0 && c <= 0xef)
		need = 2;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 3;
	else {
		if (bad)
			*bad = 1;   /* stray continuation, C0/C1 overlong lead, F5..FF */
		return 0;
	}
	/* The second byte's range rules out overlongs, surrogates and values
	 * above U+10FFFF; later bytes are plain continuations. */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	for (k = 1; k <= need; k++) {
		if (s[k] < lo || s[k] > hi) {   /* the NUL terminator fails too */
			if (bad)
				*bad = k;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return need + 1;
}

size_t utf8_repair(const char *str, size_t n, char *out)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, o = 0, len, bad;

	while (i < n) {
		if ((len = utf8_seq(s + i, &bad)) > 0) {
			memcpy(out + o, s + i, len);
			o += len;
			i += len;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i += bad;
		}
	}
	return o;
}

/* The letter of C's escape for control character c, or 0 if it has none. */
static char str_escape_letter(unsigned char c)
{
	switch (c) {
	case '\a': return 'a';
	case '\b': return 'b';
	case '\n': return 'n';
	case '\v': return 'v';
	case '\f': return 'f';
	case '\r': return 'r';
	default: return 0;
	}
}

/* Writes s to f with the bytes that would end a line or reach a terminal
 * as commands escaped: text for people (sprofd dump, the console table),
 * where each name must stay on its line and nothing else is changed. */
void str_escape(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *run = p;

	for (; *p; p++) {
		char letter;

		if ((*p >= 0x20 && *p != 0x7f) || *p == '\t')
			continue;
		fwrite(run, 1, (size_t)(p - run), f);
		run = p + 1;
		if ((letter = str_escape_letter(*p)))
			fprintf(f, "\\%c", letter);
		else
			fprintf(f, "\\x%02x", *p);
	}
	fwrite(run, 1, (size_t)(p - run), f);
}

const char *fmt_thousands(char *buf, uint64_t v)
{
	char digits[21];
	int n = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v), o = 0;

	for (int i = 0; i < n; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t hash_u64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

uint64_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *b = p;
	uint64_t h = seed ^ 0x9e3779b97f4a7c15ULL;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, b + i, 8);
		h = hash_u64(h ^ w);
	}
	if (i < n) {
		uint64_t w = 0;
		memcpy(&w, b + i, n - i);
		h = hash_u64(h ^ w ^ ((uint64_t)(n - i) << 56));
	}
	return hash_u64(h ^ n);
}

/* ---- u64map: linear probing, power-of-two capacity, tombstones ---- */

/* Slot states live apart from the keys so that every key value is usable. */
enum { SLOT_EMPTY = 0, SLOT_FULL, SLOT_TOMB };

struct u64map {
	uint64_t *keys;
	uint64_t *vals;
	unsigned char *state;
	size_t cap, count, used;   /* used = live + tombstones */
};

static void u64map_alloc(struct u64map *m, size_t cap)
{
	m->cap = cap;
	m->keys = xmalloc(cap * sizeof(uint64_t));
	m->vals = xmalloc(cap * sizeof(uint64_t));
	m->state = xcalloc(cap, 1);
	m->count = m->used = 0;
}

struct u64map *u64map_new(void)
{
	struct u64map *m = xcalloc(1, sizeof(*m));
	u64map_alloc(m, 16);
	return m;
}

static void u64map_rehash(struct u64map *m, size_t ncap)
{
	uint64_t *ok = m->keys, *ov = m->vals;
	unsigned char *os = m->state;
	size_t ocap = m->cap;

	u64map_alloc(m, ncap);
	for (size_t i = 0; i < ocap; i++)
		if (os[i] == SLOT_FULL)
			u64map_put(m, ok[i], ov[i]);
	free(ok);
	free(ov);
	free(os);
}

/* Slot of key, or SIZE_MAX. */
static size_t u64map_slot(const struct u64map *m, uint64_t key)
{
	size_t mask = m->cap - 1;
	for (size_t i = hash_u64(key) & mask;; i = (i + 1) & mask) {
		if (m->state[i] == SLOT_EMPTY)
			return SIZE_MAX;
		if (m->state[i] == SLOT_FULL && m->keys[i] == key)
			return i;
	}
}

bool u64map_get(const struct u64map *m, uint64_t key, uint64_t *val)
{
	size_t i = u64map_slot(m, key);

	if (i == SIZE_MAX)
		return false;
	if (val)
		*val = m->vals[i];
	return true;
}

void u64map_put(struct u64map *m, uint64_t key, uint64_t val)
{
	size_t mask, i, tomb = SIZE_MAX;

	if ((m->used + 1) * 4 >= m->cap * 3)
		u64map_rehash(m, m->count * 2 >= m->cap / 2 ? m->cap * 2 : m->cap);
	mask = m->cap - 1;
	for (i = hash_u64(key) & mask; m->state[i] != SLOT_EMPTY; i = (i + 1) & mask) {
		if (m->state[i] == SLOT_FULL && m->keys[i] == key) {
			m->vals[i] = val;
			return;
		}
		if (m->state[i] == SLOT_TOMB && tomb == SIZE_MAX)
			tomb = i;
	}
	if (tomb != SIZE_MAX)
		i = tomb;
	else
		m->used++;
	m->state[i] = SLOT_FULL;
	m->keys[i] = key;
	m->vals[i] = val;
	m->count++;
}

bool u64map_del(struct u64map *m, uint64_t key)
{
	size_t i = u64map_slot(m, key);

	if (i == SIZE_MAX)
		return false;
	m->state[i] = SLOT_TOMB;
	m->count--;
	return true;
}

size_t u64map_count(const struct u64map *m)
{
	return m->count;
}

bool u64map_next(const struct u64map *m, size_t *pos, uint64_t *key, uint64_t *val)
{
	for (size_t i = *pos; i < m->cap; i++) {
		if (m->state[i] == SLOT_FULL) {
			*key = m->keys[i];
			if (val)
				*val = m->vals[i];
			*pos = i + 1;
			return true;
		}
	}
	*pos = m->cap;
	return false;
}

void u64map_free(struct u64map *m)
{
	if (!m)
		return;
	free(m->keys);
	free(m->vals);
	free(m->state);
	free(m);
}

/* ---- strtab: strings in chunks, a hash of their addresses by content ---- */

struct strtab {
	char **strs;        /* owned, insertion order */
	size_t n, cap;
	size_t *slots;      /* index + 1 into strs; 0 = empty */
	size_t nslots;
};

struct strtab *strtab_new(void)
{
	struct strtab *t = xcalloc(1, sizeof(*t));
	t->nslots = 64;
	t->slots = xcalloc(t->nslots, sizeof(size_t));
	return t;
}

static void strtab_rehash(struct strtab *t)
{
	size_t ns = t->nslots * 2;
	size_t *slots = xcalloc(ns, sizeof(size_t));

	for (size_t k = 0; k < t->n; k++) {
		const char *s = t->strs[k];
		size_t i = hash_bytes(s, strlen(s), 0) & (ns - 1);
		while (slots[i])
			i = (i + 1) & (ns - 1);
		slots[i] = k + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = ns;
}

const char *strtab_intern_n(struct strtab *t, const char *s, size_t n)
{
	size_t mask = t->nslots - 1, i;
	char *copy;

	/* A NUL ends the string early (a perf map or pstats file may hold
	 * one): strings are compared as C strings, which must then be no
	 * shorter than n. */
	n = strnlen(s, n);
	i = hash_bytes(s, n, 0) & mask;

	for (; t->slots[i]; i = (i + 1) & mask) {
		const char *c = t->strs[t->slots[i] - 1];
		if (strncmp(c, s, n) == 0 && c[n] == '\0')
			return c;
	}
	copy = xmalloc(n + 1);
	memcpy(copy, s, n);
	copy[n] = '\0';
	xgrow((void **)&t->strs, &t->cap, t->n + 1, sizeof(char *));
	t->strs[t->n++] = copy;
	t->slots[i] = t->n;
	if (t->n * 2 > t->nslots)
		strtab_rehash(t);
	return copy;
}

const char *strtab_intern(struct strtab *t, const char *s)
{
	return strtab_intern_n(t, s, strlen(s));
}

size_t strtab_count(const struct strtab *t)
{
	return t->n;
}

void strtab_free(struct strtab *t)
{
	if (!t)
		return;
	for (size_t k = 0; k < t->n; k++)
		free(t->strs[k]);
	free(t->strs);
	free(t->slots);
	free(t);
}

/* The sampler keeps /proc files of each thread open when it can, and libdw
 * needs one per module it reads; the usual soft limit of 1,024 (login
 * shells, systemd services) is soon reached with a target of a few hundred
 * threads. sprofd uses poll, never select, so descriptors past 1,024 are
 * fine. */
void raise_nofile_limit(void)
{
	struct rlimit rl;
	rlim_t old;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	old = rl.rlim_cur;
	if (old == rl.rlim_max) {
		log_debug("open-file limit %llu (the hard limit)", (unsigned long long)old);
		return;
	}
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		log_debug("open-file limit %llu; cannot raise it to the hard limit, %llu: %s",
			  (unsigned long long)old, (unsigned long long)rl.rlim_max, strerror(errno));
		return;
	}
	log_debug("open-file limit raised from %llu to %llu (the hard limit)",
		  (unsigned long long)old, (unsigned long long)rl.rlim_max);
}
