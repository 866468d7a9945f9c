/* fuzz_topview.c: sprofd top's lines from names and paths as a target
 * hands them out (its symbols, its Python code objects: any bytes), cut to
 * any width and buffer. A line is terminated inside its buffer, holds no
 * control character, never splits a UTF-8 sequence it keeps, and takes at
 * most width columns (one per character, as topview counts them). */
#include <string.h>

#include "fuzz.h"
#include "topview.h"

/* Checks one formatted line. */
static void check_line(const char *buf, size_t len, int width)
{
	size_t n = strnlen(buf, len), cols = 0;

	FUZZ_CHECK(n < len, "unterminated in %zu bytes", len);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];
		FUZZ_CHECK(c >= 0x20 && c != 0x7f, "control byte 0x%02x at %zu", c, i);
		if ((c & 0xc0) != 0x80)
			cols++;
		else
			FUZZ_CHECK(i > 0 && (unsigned char)buf[i - 1] >= 0x80,
				   "continuation byte after ASCII at %zu", i);
	}
	if (n > 0)
		FUZZ_CHECK(((unsigned char)buf[n - 1] & 0xc0) != 0xc0, "ends in a lead byte");
	if (width > 0)
		FUZZ_CHECK(cols <= (size_t)width, "%zu columns in %d", cols, width);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	int width = fuzz_u8(&in) % 200;
	size_t len = 1 + fuzz_u16(&in) % 1024;
	struct top_row r = { .line = (int)(fuzz_u32(&in) % 100000) };
	struct top_info info = { .pid = 1, .threads = 2, .processes = fuzz_u8(&in) % 4, .hz = 100,
				 .mode = "cpu" };
	struct top_state st = { .sort = fuzz_u8(&in) % 3 };
	char *name = fuzz_cstr(&in), *file = fuzz_cstr(&in), *buf = malloc(len);

	if (!buf)
		abort();
	r.name = name;
	r.file = file;
	r.self = fuzz_u8(&in);
	r.total = r.self + fuzz_u8(&in);
	r.cself = fuzz_u16(&in);
	r.ctotal = r.cself + fuzz_u16(&in);
	check_line(top_format_row(buf, len, width, &r, r.total + fuzz_u8(&in),
				  r.ctotal + fuzz_u8(&in)), len, width);
	info.comm = name;
	info.python = file;
	check_line(top_format_header(buf, len, width, &info), len, width);
	check_line(top_format_status(buf, len, width, &st, name, NULL), len, width);
	check_line(top_format_status(buf, len, width, &st, name, file), len, width);
	check_line(top_format_columns(buf, len, width), len, width);
	free(buf);
	free(name);
	free(file);
	return 0;
}
