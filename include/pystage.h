/* pystage.h: the Python stage of one target, beside unwinding: finds the
 * CPython interpreter in it (again after an exec), has pyread take each
 * sampled thread's Python frames while it is stopped, and after it runs
 * again puts them in place of the eval loop's native frames (pymerge).
 * Python frames travel on as pcs with bit 63 set (PYSTAGE_IS_PY); the low
 * 32 bits are an id this stage hands out for (code object, current line),
 * and pystage_lookup names it. Owns its code-object cache, its frames and
 * their strings until pystage_free. Sampling calls come from the tracing
 * thread only; pystage_lookup may come from any thread. */
#ifndef SPROFD_PYSTAGE_H
#define SPROFD_PYSTAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct capture;
struct pystage;
struct sym_frame;
struct target;

#define PYSTAGE_PC_FLAG (1ull << 63)
#define PYSTAGE_IS_PY(pc) (((pc) & PYSTAGE_PC_FLAG) != 0)

struct pystage_opts {
	bool interp_frames;   /* keep the interpreter's C frames between Python frames */
};

struct pystage_stats {
	uint64_t samples;      /* samples of threads with Python frames */
	uint64_t mismatched;   /* of those, native and Python frames did not line up */
	uint64_t eval_left;    /* ... an eval frame had no Python frames for it */
	uint64_t py_left;      /* ... Python frames had no eval frame: put outermost */
	uint64_t read_failed;  /* a thread state was found but its frames not read */
	uint64_t codes;        /* code objects decoded */
	uint64_t stops;        /* threads read while stopped */
	uint64_t stop_reads;   /* process_vm_readv calls made for them, beyond capture's */
	uint64_t threads;      /* threads the reader keeps something of, now */
};

/* Looks for an interpreter in pid (none is fine: the stage stays idle and
 * leaves stacks alone). A version or layout it cannot read is warned about
 * once, and the stage stays idle. Never NULL. */
struct pystage *pystage_new(pid_t pid, const struct pystage_opts *o);
/* The target exec'ed: forgets the old program's interpreter and looks for
 * one in the new program (for a while, as its libraries get mapped).
 * Frames already handed out stay valid. */
void pystage_exec(struct pystage *ps);
/* Forgets what is kept of thread tid: it exited, or a thread born under
 * its tid is a new one (attach's THREAD_GONE and THREAD_BORN, see
 * target_watch). A tid this stage never read costs a lookup. */
void pystage_thread_gone(struct pystage *ps, pid_t tid);
/* Just before the stopped thread tid is captured into c: asks the capture
 * to copy what the thread's Python frames were found in last time with
 * its stack, in the same process_vm_readv (see capture.h, pyread.h). */
void pystage_ahead(struct pystage *ps, pid_t tid, struct capture *c);
/* While the thread of c is stopped (or checked asleep): reads its Python
 * frames into slot (one per capture the caller keeps, < 65536), at most
 * max of them. Returns false if the thread could not be told from the
 * capture (<= 3.10 needs fs_base, which a thread taken asleep lacks, the
 * first time): the caller had better stop it and take it again. */
bool pystage_read(struct pystage *ps, unsigned slot, const struct capture *c, int max);
/* After the thread runs again: merges the frames read into slot with the
 * native stack pcs[0..n) (leaf first, no image bits yet), in place; returns
 * the new count (<= max) and sets *trunc if frames were cut. */
int pystage_merge(struct pystage *ps, unsigned slot, uint64_t *pcs, int n, int max, bool *trunc);
/* The frame of a Python pc (image bits allowed). Returns 1. */
int pystage_lookup(struct pystage *ps, uint64_t pc, const struct sym_frame **frames);
/* "3.11.2" (or "3.10" when only the minor is known); NULL if no Python
 * interpreter was found. */
const char *pystage_version(const struct pystage *ps);
/* Whether Python frames are read (false: none found, or a version or
 * layout sprofd cannot read, which was warned about). */
bool pystage_reading(const struct pystage *ps);
void pystage_stats(const struct pystage *ps, struct pystage_stats *out);
void pystage_free(struct pystage *ps);

#endif
