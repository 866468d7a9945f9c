/* pymerge.c: native + Python stacks (see pymerge.h). */
#include "pymerge.h"

#include <stdlib.h>

#include "util.h"

enum kind { K_NATIVE, K_INTERP, K_PY };

void pymerge(const struct pymerge_in *in, uint64_t *out, int max, struct pymerge_out *res)
{
	size_t cap = (size_t)in->nnative + (size_t)in->npy;
	uint64_t *pc = xmalloc(sizeof(*pc) * (cap ? cap : 1));
	unsigned char *kind = xmalloc(cap ? cap : 1);
	int n = 0, g = 0, first_py = -1, last_py = -1;

	res->eval_left = res->py_left = 0;
	res->cut = false;
	for (int i = 0; i < in->nnative; i++) {
		uint64_t a = in->native[i];

		if (pyelf_in(in->eval, in->neval, a) && g < in->npy) {
			do {
				pc[n] = in->py[g];
				kind[n++] = K_PY;
			} while (!in->end[g++] && g < in->npy);
			continue;
		}
		if (pyelf_in(in->eval, in->neval, a))
			res->eval_left++;
		pc[n] = a;
		kind[n++] = pyelf_in(in->interp, in->ninterp, a) ? K_INTERP : K_NATIVE;
	}
	/* The native unwind stopped short (or the frames changed under us):
	 * the outer Python frames still belong to the sample. */
	res->py_left = in->npy - g;
	while (g < in->npy) {
		pc[n] = in->py[g++];
		kind[n++] = K_PY;
	}
	for (int i = 0; i < n; i++)
		if (kind[i] == K_PY) {
			if (first_py < 0)
				first_py = i;
			last_py = i;
		}
	res->n = 0;
	for (int i = 0; i < n; i++) {
		if (kind[i] == K_INTERP && !in->keep_interp && i > first_py && i < last_py)
			continue;
		if (res->n == max) {
			res->cut = true;
			break;
		}
		out[res->n++] = pc[i];
	}
	free(pc);
	free(kind);
}
