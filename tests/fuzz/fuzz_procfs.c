/* fuzz_procfs.c: the parsers of procfs.c on the same input, read as each
 * kind of file. As /proc/PID/status text, through procfs_status_field, for
 * the fields sprofd reads and for a field named by the input itself, with
 * every list length up to a few values. Values go to an array of exactly
 * max entries, so a write past it is an ASan error; each result is
 * compared with a plain second reading of the same rules: the first line
 * that starts with "KEY:", its blank-separated words up to the first that
 * is not a whole number that fits a long. As a stat line, through
 * procfs_parse_stat and procfs_stat_state, compared the same way with a
 * second reading: the name from the first '(' to the last ')', the state
 * after it, then words separated by one space each, the flags (field 9)
 * and the start time (22) whole numbers. As schedstat, its first number. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "procfs.h"

/* Whether w (n bytes) is a whole number no larger than max; *v gets it. */
static bool word_u64(const char *w, size_t n, unsigned long long max, unsigned long long *v)
{
	unsigned __int128 x = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (w[i] < '0' || w[i] > '9')
			return false;
		x = x * 10 + (unsigned)(w[i] - '0');
		if (x > max)
			return false;
	}
	*v = (unsigned long long)x;
	return true;
}

/* Whether word w (n bytes) is a whole number that fits a long; *v gets it. */
static bool word_value(const char *w, size_t n, long *v)
{
	unsigned long long u;

	if (!word_u64(w, n, LONG_MAX, &u))
		return false;
	*v = (long)u;
	return true;
}

/* The expected result, written independently of procfs.c. */
static int reference(const char *text, size_t len, const char *name, size_t nlen, long *vals,
		     size_t max)
{
	size_t at = 0;

	if (nlen == 0)
		return -1;
	while (at < len) {
		size_t eol = at, n = 0;

		while (eol < len && text[eol] != '\n')
			eol++;
		if (eol - at > nlen && memcmp(text + at, name, nlen) == 0 && text[at + nlen] == ':') {
			size_t i = at + nlen + 1;

			while (n < max) {
				size_t w;

				while (i < eol && (text[i] == ' ' || text[i] == '\t'))
					i++;
				for (w = i; w < eol && text[w] != ' ' && text[w] != '\t'; w++)
					;
				if (!word_value(text + i, w - i, &vals[n]))
					break;
				n++;
				i = w;
			}
			return (int)n;
		}
		at = eol + 1;
	}
	return -1;
}

static void check(const char *text, size_t len, const char *key, size_t max)
{
	size_t nlen = strlen(key);
	long *got = malloc((max ? max : 1) * sizeof(long));
	long *want = malloc((max ? max : 1) * sizeof(long));
	int n, m;

	if (!got || !want)
		abort();
	if (nlen > 0 && key[nlen - 1] == ':')
		nlen--;
	n = procfs_status_field(text, len, key, max ? got : NULL, max);
	m = reference(text, len, key, nlen, want, max);
	FUZZ_CHECK(n == m, "key '%.40s' max %zu: %d values, expected %d", key, max, n, m);
	for (int i = 0; i < n; i++)
		FUZZ_CHECK(got[i] == want[i], "key '%.40s' value %d: %ld, expected %ld", key, i,
			   got[i], want[i]);
	free(got);
	free(want);
}

/* The stat reading expected, written independently of procfs.c. */
static int stat_reference(const char *text, size_t len, struct procfs_stat *out)
{
	size_t lp = 0, rp = len, i;
	unsigned long long v;

	memset(out, 0, sizeof(*out));
	while (lp < len && text[lp] != '(')
		lp++;
	while (rp > 0 && text[rp - 1] != ')')
		rp--;
	if (lp == len || rp == 0 || rp - 1 < lp || len - rp < 3 || text[rp] != ' ')
		return -1;
	memcpy(out->comm, text + lp + 1, rp - 1 - lp - 1 < 63 ? rp - 1 - lp - 1 : 63);
	out->state = text[rp + 1];
	if (text[rp + 2] != ' ')
		return -1;
	i = rp + 3;
	for (int f = 4; f <= 22; f++) {
		size_t w = i;

		while (w < len && text[w] != ' ' && text[w] != '\n')
			w++;
		if (w == i)
			return -1;
		if (f == 4 || f == 9 || f == 22) {
			/* The parent is a PID: a whole number up to INT_MAX. */
			if (!word_u64(text + i, w - i, f == 4 ? INT_MAX : ULLONG_MAX, &v))
				return -1;
			if (f == 4)
				out->ppid = (pid_t)v;
			else if (f == 9)
				out->flags = (unsigned long)v;
			else
				out->start = v;
		}
		i = w < len && text[w] == ' ' ? w + 1 : w;
	}
	return 0;
}

static void check_stat(const char *text, size_t len)
{
	struct procfs_stat got, want;
	int n = procfs_parse_stat(text, len, &got), m = stat_reference(text, len, &want);
	char state = procfs_stat_state(text, len);

	FUZZ_CHECK(n == m, "stat: %d, expected %d", n, m);
	FUZZ_CHECK(memchr(got.comm, '\0', sizeof(got.comm)) != NULL, "stat: name not terminated");
	if (n == 0) {
		FUZZ_CHECK(memcmp(got.comm, want.comm, sizeof(got.comm)) == 0, "stat: name '%.63s', "
			   "expected '%.63s'", got.comm, want.comm);
		FUZZ_CHECK(got.state == want.state && got.state == state, "stat: state %d/%d, "
			   "expected %d", got.state, state, want.state);
		FUZZ_CHECK(got.flags == want.flags, "stat: flags %lu, expected %lu", got.flags,
			   want.flags);
		FUZZ_CHECK(got.start == want.start, "stat: start %llu, expected %llu", got.start,
			   want.start);
		FUZZ_CHECK(got.ppid == want.ppid, "stat: parent %d, expected %d", (int)got.ppid,
			   (int)want.ppid);
	}
}

static void check_schedstat(const char *text, size_t len)
{
	unsigned long long want;
	uint64_t got = 0;
	size_t n = 0;
	int rc;

	while (n < len && text[n] >= '0' && text[n] <= '9')
		n++;
	rc = procfs_parse_schedstat(text, len, &got);
	if (word_u64(text, n, ULLONG_MAX, &want))
		FUZZ_CHECK(rc == 0 && got == want, "schedstat: %d %llu, expected %llu", rc,
			   (unsigned long long)got, want);
	else
		FUZZ_CHECK(rc == -1, "schedstat: %d, expected -1", rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = {
		"Uid", "Uid:", "Gid", "NSpid", "NSpid:", "TracerPid:", "Pid", "PPid", "Name", "U",
		"", ":",
	};
	const char *text = (const char *)data;
	const char *colon = memchr(text, ':', size), *nl = memchr(text, '\n', size);
	char own[64];

	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		for (size_t max = 0; max <= 5; max++)
			check(text, size, keys[k], max);
	/* The field the input starts with, so that matching is explored too. */
	if (colon && (!nl || colon < nl) && (size_t)(colon - text) < sizeof(own) &&
	    !memchr(text, '\0', (size_t)(colon - text))) {
		memcpy(own, text, (size_t)(colon - text));
		own[colon - text] = '\0';
		for (size_t max = 0; max <= 40; max += 8)
			check(text, size, own, max);
	}
	check_stat(text, size);
	check_schedstat(text, size);
	return 0;
}
