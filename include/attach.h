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

/* The files of /proc/PID/task/TID that the sampler reads again and again. */
enum task_file { TASK_STAT, TASK_SCHEDSTAT, TASK_SYSCALL, TASK_NFILES };

struct thread {
	pid_t tid;
	enum thread_state state;
	uint64_t interrupt_ns;  /* when the pending interrupt was sent */
	uint64_t samples;
	bool asked;             /* on the list that target_next_stop asks first */
	/* Kept for the sampler; attach only opens nothing and frees these. */
	int task_fd[TASK_NFILES];    /* open task files (enum task_file), or -1 */
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
	unsigned execs;           /* how many times; see target_next_stop */
	int exit_status;          /* wait status of the leader, when gone */
	/* Threads that target_next_stop asks by tid before (or instead of)
	 * asking about every tracee at once, which costs the kernel a walk
	 * over all of them: those with an interrupt outstanding, and those a
	 * SIGCHLD named (target_ask). */
	pid_t *ask;
	size_t nask, askcap, ask_next;
	/* Events handled that were not the stop of one of our interrupts
	 * (new threads, exits, signals, job control, exec): see
	 * target_next_stop. */
	uint64_t other_events;
};

/* Seizes every thread of pid. On failure logs one line saying what is wrong
 * and what to do, and returns an exit code from sprofd.h (never EXIT_OK);
 * on success returns EXIT_OK. */
int target_attach(struct target *t, pid_t pid);
/* Sends PTRACE_INTERRUPT to a running thread. Returns 0 or -1 (gone). */
int target_interrupt(struct target *t, struct thread *th);
/* Handles pending ptrace events without blocking. Returns a thread that is
 * now stopped by our interrupt (state TS_STOPPED) for the caller to capture
 * and resume, or NULL when nothing more is pending. Also returns NULL right
 * after an exec (execs goes up), before any stop of the new program, so
 * that the caller can move to it first; calling again goes on.
 * The threads on the ask list are asked first, one by one, at a cost that
 * does not grow with the number of threads; then every tracee at once
 * (waitpid(-1)), which the kernel pays for with a walk over all of them. */
struct thread *target_next_stop(struct target *t);
/* The same, asking only the threads on the ask list: events of the others
 * stay pending until target_next_stop (the caller knows from SIGCHLD when
 * there may be some). */
struct thread *target_next_asked(struct target *t);
/* Puts tid (a thread that SIGCHLD named, say) on the list that the next
 * target_next_stop asks first. */
void target_ask(struct target *t, pid_t tid);
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
