/* attach.h: the ptrace side of one target process: seizing every thread,
 * following new ones, decoding waitpid results, re-delivering the target's
 * signals, honouring job control, and telling the caller when a thread it
 * interrupted is stopped and ready to be captured. All calls must come from
 * the one thread that attached (ptrace ties tracees to a thread); when that
 * thread exits, the kernel detaches every tracee it still has without
 * stopping it, which is how a session ends without disturbing idle threads.
 * Owns the thread table. */
#ifndef SPROFD_ATTACH_H
#define SPROFD_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum thread_state {
	TS_RUNNING,       /* not stopped by us */
	TS_INTERRUPTING,  /* PTRACE_INTERRUPT sent, stop not reported yet */
	TS_STOPPED,       /* in our interrupt stop: capture, then resume */
	TS_GROUP_STOPPED, /* stopped by job control; listening for SIGCONT */
};

struct thread {
	pid_t tid;
	enum thread_state state;
	uint64_t interrupt_ns;  /* when the pending interrupt was sent */
	uint64_t samples;
	/* Kept for the sampler; attach only opens nothing and frees these. */
	int stat_fd, schedstat_fd, syscall_fd; /* /proc/PID/task/TID/..., or -1 */
	uint32_t pending_ticks;      /* ticks that passed while interrupting */
	uint64_t stack_top;          /* how far up the last unwind read, or 0 */
	uint64_t cpu_ns;             /* CPU time when last_pcs was taken */
	uint64_t *last_pcs;          /* the last stack, leaf first (wall mode) */
	uint32_t last_n;
	bool last_truncated;
	bool have_last;
	bool just_sampled;           /* no tick has looked at it since capture */
};

struct target {
	pid_t pid;
	char comm[64];
	struct thread *threads;   /* live threads; order changes on removal */
	size_t nthreads, cap;
	struct u64map *index;     /* tid -> slot in threads */
	unsigned threads_seen;    /* distinct threads over the session */
	bool gone;                /* the whole process has exited */
	bool execed;              /* it called execve: old addresses are void */
	int exit_status;          /* wait status of the leader, when gone */
};

/* Seizes every thread of pid. On failure logs one line saying what is wrong
 * and what to do, and returns an exit code from sprofd.h (never EXIT_OK);
 * on success returns EXIT_OK. */
int target_attach(struct target *t, pid_t pid);
/* Sends PTRACE_INTERRUPT to a running thread. Returns 0 or -1 (gone). */
int target_interrupt(struct target *t, struct thread *th);
/* Handles pending ptrace events without blocking. Returns a thread that is
 * now stopped by our interrupt (state TS_STOPPED) for the caller to capture
 * and resume, or NULL when nothing more is pending. */
struct thread *target_next_stop(struct target *t);
/* The live thread with this tid, or NULL. */
struct thread *target_find(struct target *t, pid_t tid);
/* Resumes a thread in TS_STOPPED. */
void target_resume(struct target *t, struct thread *th);
/* Releases every thread we hold stopped, for a session that is ending:
 * waits up to timeout_ns for outstanding interrupts, resumes them, and
 * detaches stopped threads. Running threads are left to the kernel's
 * detach at thread exit. */
void target_release(struct target *t, uint64_t timeout_ns);
void target_fini(struct target *t);

#endif
