/* pymerge.h: merges a thread's native stack with its Python frames, a pure
 * function over arrays. Each native frame in the eval loop is replaced by
 * the Python frames of one C-level call (one group); the interpreter's
 * other C frames that sit between Python frames are dropped unless asked
 * to keep them; frames outside the interpreter stay where they are. When
 * the two do not line up the sample is kept: eval frames left over stay
 * native, Python frames left over go outermost; the result says so. */
#ifndef SPROFD_PYMERGE_H
#define SPROFD_PYMERGE_H

#include <stdbool.h>
#include <stdint.h>

#include "pyelf.h"

struct pymerge_in {
	const uint64_t *native;     /* leaf first, process addresses */
	int nnative;
	const uint64_t *py;         /* the Python frames' pcs, newest first */
	const bool *end;            /* end[i]: py[i] is the oldest of its group */
	int npy;
	const struct pyrange *eval; /* the eval loop */
	int neval;
	const struct pyrange *interp;   /* all of the interpreter's code */
	int ninterp;
	bool keep_interp;           /* keep the interpreter's frames between Python ones */
};

struct pymerge_out {
	int n;                      /* frames written */
	bool cut;                   /* more than max: the outermost were dropped */
	int eval_left;              /* eval frames with no group for them */
	int py_left;                /* Python frames with no eval frame for them */
};

/* Writes the merged stack, leaf first, to out (at most max frames). */
void pymerge(const struct pymerge_in *in, uint64_t *out, int max, struct pymerge_out *res);

#endif
