/* pyelf.h: finds the CPython interpreter in a process: which object holds
 * it (a mapped libpython3.X.so, else the executable), where _PyRuntime,
 * PyCode_Type and the eval loop (with its .cold part) are once loaded, and
 * which version it is (_Py_DebugOffsets 3.13+, Py_Version 3.11+, else the
 * file name, and the text Py_GetVersion made at startup for the micro). Reads the ELF file with libelf, through /proc/PID/root, and
 * a few words of the process's memory. Owns nothing once it returns. */
#ifndef SPROFD_PYELF_H
#define SPROFD_PYELF_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define PYELF_MAX_RANGES 8

struct pyrange {
	uint64_t lo, hi;   /* [lo, hi), process addresses */
};

struct pyelf {
	char path[PATH_MAX];         /* the object, as the maps name it */
	unsigned major, minor, micro;
	uint64_t hexversion;         /* PY_VERSION_HEX, 0 if only the name told */
	bool micro_known;            /* micro is known (hexversion, or <= 3.10 the text) */
	uint64_t runtime;            /* &_PyRuntime */
	uint64_t code_type;          /* &PyCode_Type, 0 if not found */
	struct pyrange eval[PYELF_MAX_RANGES];  /* _PyEval_EvalFrameDefault[.cold] */
	int neval;
	struct pyrange text[PYELF_MAX_RANGES];  /* executable mappings of the object */
	int ntext;
	bool debug_offsets;          /* _Py_DebugOffsets present (3.13+) */
};

/* Fills e for process pid. Returns 1 if it runs a CPython interpreter,
 * 0 if it does not (nothing logged), -1 if it seems to but something
 * needed is missing or unreadable (why, in why: one line). */
int pyelf_find(pid_t pid, struct pyelf *e, char *why, size_t whylen);
/* Whether addr is in one of the n ranges. */
bool pyelf_in(const struct pyrange *r, int n, uint64_t addr);

#endif
