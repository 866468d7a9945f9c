/* fuzz_procstatus.c: /proc/PID/status text through proc_status_field, for
 * the fields sprofd reads and for a field named by the input itself, with
 * every list length up to a few values. Values go to an array of exactly
 * max entries, so a write past it is an ASan error; each result is
 * compared with a plain second reading of the same rules: the first line
 * that starts with "KEY:", its blank-separated words up to the first that
 * is not a whole number that fits a long. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "procstatus.h"

/* Whether word w (n bytes) is a whole number that fits a long; *v gets it. */
static bool word_value(const char *w, size_t n, long *v)
{
	unsigned __int128 x = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (w[i] < '0' || w[i] > '9')
			return false;
		x = x * 10 + (unsigned)(w[i] - '0');
		if (x > LONG_MAX)
			return false;
	}
	*v = (long)x;
	return true;
}

/* The expected result, written independently of procstatus.c. */
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
	n = proc_status_field(text, len, key, max ? got : NULL, max);
	m = reference(text, len, key, nlen, want, max);
	FUZZ_CHECK(n == m, "key '%.40s' max %zu: %d values, expected %d", key, max, n, m);
	for (int i = 0; i < n; i++)
		FUZZ_CHECK(got[i] == want[i], "key '%.40s' value %d: %ld, expected %ld", key, i,
			   got[i], want[i]);
	free(got);
	free(want);
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
	return 0;
}
