/* fuzz.h: what the fuzz targets share: a failed check that names itself
 * in the sanitizer's report (which libFuzzer keeps visible even when it
 * hides the target's own output), a sink for output nobody reads, and a
 * reader that turns fuzz input into numbers and strings. */
#ifndef SPROFD_FUZZ_H
#define SPROFD_FUZZ_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sanitizer/common_interface_defs.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reports a broken property and aborts, so libFuzzer saves the input. */
static void __attribute__((noreturn, format(printf, 3, 4), unused))
fuzz_fail(const char *file, int line, const char *fmt, ...)
{
	char msg[512], full[640];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "fuzz check failed at %s:%d: %s", file, line, msg);
	__sanitizer_report_error_summary(full);
	abort();
}

#define FUZZ_CHECK(cond, ...) \
	do { \
		if (!(cond)) \
			fuzz_fail(__FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

/* A stream that discards what is written, opened once. */
static FILE *__attribute__((unused)) fuzz_devnull(void)
{
	static FILE *f;

	if (!f && !(f = fopen("/dev/null", "w")))
		abort();
	return f;
}

/* Input as a source of choices; reads past the end give zeros. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static uint8_t __attribute__((unused)) fuzz_u8(struct fuzz_in *in)
{
	uint8_t v;

	if (in->n == 0)
		return 0;
	v = *in->p++;
	in->n--;
	return v;
}

static uint32_t __attribute__((unused)) fuzz_u16(struct fuzz_in *in)
{
	uint32_t v = fuzz_u8(in);

	return v | (uint32_t)fuzz_u8(in) << 8;
}

static uint32_t __attribute__((unused)) fuzz_u32(struct fuzz_in *in)
{
	uint32_t v = fuzz_u16(in);

	return v | fuzz_u16(in) << 16;
}

static uint64_t __attribute__((unused)) fuzz_u64(struct fuzz_in *in)
{
	uint64_t v = fuzz_u32(in);

	return v | (uint64_t)fuzz_u32(in) << 32;
}

/* A NUL-terminated copy of the input from here to the first NUL (which is
 * consumed) or the end; the caller frees it. */
static char *__attribute__((unused)) fuzz_cstr(struct fuzz_in *in)
{
	const uint8_t *z = memchr(in->p, 0, in->n);
	size_t len = z ? (size_t)(z - in->p) : in->n;
	char *s = malloc(len + 1);

	if (!s)
		abort();
	memcpy(s, in->p, len);
	s[len] = '\0';
	in->p += len + (z ? 1 : 0);
	in->n -= len + (z ? 1 : 0);
	return s;
}

#endif
