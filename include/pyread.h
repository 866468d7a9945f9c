/* pyread.h: reads the Python frame chain of one thread while it is stopped
 * for its sample: which code object each frame runs and where in it, and
 * where each C-level call of the eval loop begins, newest frame first.
 * Nothing is decoded here (names and lines come after the thread runs
 * again, see pystage.h): the pause stays short. Reads go first to the
 * copies the sampler already has (the thread's C stack) or makes once (the
 * 3.11+ data-stack chunk), then to process_vm_readv. Target memory is
 * untrusted: depth, sizes and cycles are bounded, and a bad pointer costs
 * the sample its Python frames, nothing else. Owns its thread-state cache
 * (tid -> PyThreadState address, checked at every use) and buffers. */
#ifndef SPROFD_PYREAD_H
#define SPROFD_PYREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct capture;
struct pylayout;
struct pyreader;

/* One Python frame as read. */
struct py_raw {
	uint64_t frame;     /* the frame's address */
	uint64_t code;      /* PyCodeObject address */
	int64_t lasti;      /* <= 3.10: f_lasti; 3.11+: the instruction pointer */
	bool end;           /* the oldest frame of its eval-loop call */
};

enum py_read_status {
	PY_READ_NONE,       /* not read (Python off, or not asked) */
	PY_READ_OK,         /* f[0..n) holds the frames (n may be 0) */
	PY_READ_NOSTATE,    /* no Python thread state for this thread */
	PY_READ_FAILED,     /* a read failed or the chain made no sense */
};

struct py_capture {
	enum py_read_status status;
	pid_t tid;          /* the thread read */
	int n, cap;
	bool truncated;     /* more frames than cap */
	struct py_raw *f;   /* newest first */
};

/* Target-memory access that tries local copies first; exposed for the
 * fuzz target, which hands the reader a synthetic image. */
typedef int (*pyread_mem_fn)(void *ctx, uint64_t addr, void *buf, size_t len);

struct pyreader *pyreader_new(pid_t pid, const struct pylayout *lay, uint64_t runtime);
/* Replaces process_vm_readv (tests, fuzzing). */
void pyreader_set_mem(struct pyreader *r, pyread_mem_fn fn, void *ctx);
/* Before the thread tid is captured: asks c to copy, with its stack, the
 * ranges this thread's last read found (its thread state, its 3.11+ data
 * stack, its <= 3.10 frames), into buffers of r's (nmore 0 if none). The
 * next pyreader_read of tid uses them where they prove current. */
void pyreader_ahead(struct pyreader *r, pid_t tid, struct capture *c);
/* Reads the frames of the thread of capture c (stopped, or asleep and
 * checked not to run) into out, at most max frames. */
void pyreader_read(struct pyreader *r, const struct capture *c, int max, struct py_capture *out);
/* The thread tid ran eval frames with no thread state found for it (a
 * thread new since the last look): look for it again at its next read
 * rather than after the usual interval. */
void pyreader_forget(struct pyreader *r, pid_t tid);
/* The thread tid is gone (attach said so): forgets what is kept of it. */
void pyreader_thread_gone(struct pyreader *r, pid_t tid);
/* Threads something is kept of (bounded by the live ones, with
 * pyreader_thread_gone). */
size_t pyreader_threads(const struct pyreader *r);
/* process_vm_readv calls made, for the measures of -v. */
uint64_t pyreader_syscalls(const struct pyreader *r);
void pyreader_free(struct pyreader *r);

void py_capture_fini(struct py_capture *pc);

#endif
