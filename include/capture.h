/* capture.h: what sprofd takes from a thread while it is stopped: its
 * registers and a copy of the live part of its stack, in as few syscalls as
 * possible (one PTRACE_GETREGS, one process_vm_readv, which also copies
 * what a stage beside unwinding asked for: see more_local). Unwinding
 * happens later, on the copy, after the thread runs again. A capture owns
 * its buffer; the extra ranges' buffers are the asker's. */
#ifndef SPROFD_CAPTURE_H
#define SPROFD_CAPTURE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/user.h>

struct capture {
	pid_t tid;
	struct user_regs_struct regs;
	uint64_t sp;        /* target address of stack[0] */
	size_t len;         /* bytes copied */
	size_t cap;         /* buffer size: the most we copy */
	unsigned char *stack;
	uint64_t when_ns;   /* monotonic time of the capture */
	uint32_t weight;    /* ticks this capture stands for */
	/* Further ranges to copy in the stack's process_vm_readv, after the
	 * stack, set by the caller before capture_take_to (nmore 0: none).
	 * more_got: how many of their bytes came, in order; the first range
	 * that cannot be read ends the copy, and a short stack copy leaves
	 * them all unread. */
	const struct iovec *more_local, *more_remote;
	size_t nmore;
	size_t more_got;
	struct iovec *iov;  /* scratch: the stack's and the further ranges' */
	size_t iovcap;
};

void capture_init(struct capture *c, size_t cap);

/* Called on a capture taken at our own interrupt stop, before the thread
 * is resumed: if the interrupt ended a blocking call with EINTR, makes the
 * kernel restart the call instead (see capture.c). */
void capture_restart_call(const struct capture *c);
void capture_fini(struct capture *c);
struct maps;

/* Takes registers of the stopped thread tid of process pid, then copies the
 * stack from SP up to the end of the mapping that holds SP (from maps, which
 * may be NULL), capped at c->cap. Returns 0, or -1 with errno set (ESRCH:
 * the thread is gone). A short stack copy is not an error: len says how
 * much was read. */
int capture_take(struct capture *c, pid_t pid, pid_t tid, const struct maps *maps);
/* The same, copying no further than top (exclusive) when top > SP: the
 * highest address the thread's last unwind needed, so the copy holds what
 * unwinding reads and little else. */
int capture_take_to(struct capture *c, pid_t pid, pid_t tid, const struct maps *maps,
		    uint64_t top);

/* Takes a thread that is blocked in the kernel without stopping it, from
 * line, what its /proc/PID/task/TID/syscall reads: only the stack
 * pointer and program counter are known, the other registers read as 0, so
 * unwinding may stop early where a frame needs one of them. The stack copy
 * is stable as long as the thread stays blocked; the caller checks that it
 * did. Returns -1 if the thread is running or its stack cannot be read. */
int capture_asleep(struct capture *c, pid_t pid, pid_t tid, const struct maps *maps,
		   const char *line);

#endif
