/* fuzz_python.c: the Python stage's readers of untrusted target memory.
 * The input is a memory image of a "process" (its first bytes choose the
 * CPython version, the thread and its fs_base, and how much of the image
 * stands for the thread's C stack copy) through pyreader_read, which must
 * stay within its bounds whatever the pointers say; then the same bytes
 * as line tables of every format (pycode_line), as str data of every
 * width (pycode_utf8), and as native and Python stacks to merge
 * (pymerge). Checked: no read outside the image, depth within the limit,
 * lines >= 0, UTF-8 output that is well formed and fits, merged stacks
 * made only of the frames given. */
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "fuzz.h"
#include "pycode.h"
#include "pylayout.h"
#include "pymerge.h"
#include "pyread.h"
#include "util.h"

#define BASE 0x10000ull
#define MAXDEPTH 64

struct image {
	const uint8_t *p;
	size_t n;
};

static int image_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	const struct image *im = ctx;

	if (addr < BASE || addr - BASE > im->n || len > im->n - (addr - BASE))
		return -1;
	memcpy(buf, im->p + (addr - BASE), len);
	return 0;
}

static void fuzz_reader(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	const struct pylayout *L = pylayout_for(8 + fuzz_u8(&in) % 6);
	struct image im;
	struct capture c;
	struct py_capture pc = { 0 };
	struct pyreader *r;
	size_t stack_len;

	memset(&c, 0, sizeof(c));
	c.tid = (pid_t)fuzz_u16(&in);
	c.regs.fs_base = BASE + fuzz_u16(&in);
	stack_len = fuzz_u16(&in);
	im.p = in.p;
	im.n = in.n;
	/* Part of the image is also the thread's stack copy. */
	if (stack_len > im.n)
		stack_len = im.n;
	c.sp = BASE;
	c.stack = (unsigned char *)im.p;
	c.len = stack_len;
	r = pyreader_new(1, L, BASE);
	pyreader_set_mem(r, image_read, &im);
	for (int round = 0; round < 3; round++) {
		/* The third read: after the thread was reported gone. */
		if (round == 2)
			pyreader_thread_gone(r, c.tid);
		pyreader_read(r, &c, MAXDEPTH, &pc);
		FUZZ_CHECK(pc.n >= 0 && pc.n <= MAXDEPTH, "depth %d", pc.n);
		FUZZ_CHECK(pc.status == PY_READ_OK || pc.n == 0, "frames with status %d",
			   (int)pc.status);
	}
	py_capture_fini(&pc);
	pyreader_free(r);
}

static bool utf8_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq((const unsigned char *)s + i, NULL);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

static void fuzz_tables(const uint8_t *data, size_t size)
{
	static const enum py_lines_kind kinds[] = { PY_LINES_LNOTAB, PY_LINES_PEP626,
						    PY_LINES_LOCATIONS };
	char out[256];

	for (size_t k = 0; k < 3; k++)
		for (int64_t off = -1; off < 64; off += 3) {
			int line = pycode_line(kinds[k], data, size, 1 + (int)(size % 1000), off);
			FUZZ_CHECK(line >= 0, "line %d", line);
		}
	for (unsigned kind = 1; kind <= 4; kind *= 2) {
		long n = pycode_utf8(data, size / kind, kind, out, sizeof(out));
		FUZZ_CHECK(n >= 0 && (size_t)n < sizeof(out) && out[n] == '\0', "utf8 length %ld", n);
		FUZZ_CHECK(utf8_ok(out, (size_t)n), "bad UTF-8 out of kind %u", kind);
	}
}

static void fuzz_merge(const uint8_t *data, size_t size)
{
	static const struct pyrange eval[] = { { 0x10, 0x20 } };
	static const struct pyrange interp[] = { { 0x10, 0x40 } };
	uint64_t nat[64], py[64], out[40];
	bool end[64];
	struct fuzz_in in = { data, size };
	int nn = fuzz_u8(&in) % 64, np = fuzz_u8(&in) % 64, max = 1 + fuzz_u8(&in) % 40;
	struct pymerge_in mi;
	struct pymerge_out res;

	for (int i = 0; i < nn; i++)
		nat[i] = fuzz_u8(&in) % 0x60;
	for (int i = 0; i < np; i++) {
		uint8_t b = fuzz_u8(&in);
		py[i] = (1ull << 63) | (b >> 1);
		end[i] = b & 1;
	}
	mi = (struct pymerge_in){ .native = nat, .nnative = nn, .py = py, .end = end, .npy = np,
				  .eval = eval, .neval = 1, .interp = interp, .ninterp = 1,
				  .keep_interp = size & 1 };
	pymerge(&mi, out, max, &res);
	FUZZ_CHECK(res.n >= 0 && res.n <= max, "merged %d frames, max %d", res.n, max);
	FUZZ_CHECK(res.py_left >= 0 && res.py_left <= np, "py_left %d", res.py_left);
	for (int i = 0; i < res.n; i++) {
		bool found = false;
		for (int k = 0; k < nn && !found; k++)
			found = out[i] == nat[k];
		for (int k = 0; k < np && !found; k++)
			found = out[i] == py[k];
		FUZZ_CHECK(found, "frame %#llx came from nowhere", (unsigned long long)out[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	fuzz_reader(data, size);
	fuzz_tables(data, size);
	fuzz_merge(data, size);
	return 0;
}
