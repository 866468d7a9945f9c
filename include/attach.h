/* attach.h: the ptrace side of a target: one process or several (given
 * PIDs, and with children their descendants, also those forked later),
 * seizing every thread, following new ones, decoding waitpid results, re-delivering the target's
 * signals, honouring job control, and telling the caller when a thread it
 * interrupted is stopped and ready to be captured. All calls must come from
 * the one thread that attached (ptrace ties tracees to a thread); when that
 * thread exits, the kernel detaches every tracee it still has without
 * stopping it, which is how a session ends without disturbing idle threads.
 * Owns ptrace and the thread table (struct thread: what attach needs, no
 * more). Stages that keep state per thread keep it in tables of their own,
 * keyed by tid, and hear of births and exits through target_watch. No one
 * else seizes, waits for, resumes or detaches the target's threads (capture
 * reads the registers of one that attach hands over stopped). */
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

/* One thread as attach sees it. Those who keep state of their own per
 * thread (the sampler, a Python frame reader) keep it in their own tables,
 * keyed by tid, and learn of births and exits through target_watch. */
struct thread {
	pid_t tid;
	unsigned proc;          /* its process: index into target.procs */
	enum thread_state state;
	uint64_t interrupt_ns;  /* when the pending interrupt was sent */
	bool asked;             /* on the list that target_next_stop asks first */
};

/* What a watcher is told (target_watch). */
enum thread_event {
	THREAD_BORN,   /* tid joined the table (traced from its first stop) */
	THREAD_GONE,   /* tid left it: exited, detached, or replaced by exec */
};

/* Told of each birth and exit, on the tracing thread, from inside the
 * target_* call that saw it. It must not call back into attach: it may
 * only update the watcher's own state (the table may be moving). */
typedef void (*target_watch_fn)(void *ctx, pid_t tid, enum thread_event ev);

#define TARGET_MAX_WATCHERS 4

/* One process of the target. Entries are never removed: indexes stay
 * valid for the whole session, and a process that exited keeps its
 * entry (gone). */
struct tproc {
	pid_t pid;
	char comm[64];
	unsigned threads_seen;    /* distinct threads over the session */
	uint64_t seen_ns;         /* when it was held (mono_ns): attach, or its
				   * first stop after its fork */
	bool gone;                /* exited */
	bool execed;
	unsigned execs;           /* how many times it called execve */
	int exit_status;          /* wait status of its leader, when gone */
	bool skipped;             /* a child we could not trace (said once) */
	unsigned long long start; /* skipped: its start time, so a reuse of
				   * the PID is not taken for it */
};

/* How a target is made up (target_attach_set). */
struct target_opts {
	bool children;            /* descendants too, those alive and those born */
	unsigned max_procs;       /* at most this many processes; 0: no bound */
};

#define TARGET_MAX_PROCS_DEFAULT 256

struct target {
	pid_t pid;                /* the first process (procs[0]) */
	char comm[64];
	struct tproc *procs;
	size_t nprocs, proccap;
	size_t nlive;             /* processes not gone */
	struct target_opts opts;
	bool warned_max;          /* said once that max_procs was reached */
	struct thread *threads;   /* live threads; order changes on removal */
	size_t nthreads, cap;
	struct u64map *index;     /* tid -> slot in threads */
	unsigned threads_seen;    /* distinct threads over the session */
	bool gone;                /* every process has exited */
	bool execed;              /* one called execve: old addresses are void */
	unsigned execs;           /* how many times, over all processes; see
				   * target_next_stop */
	int exit_status;          /* wait status of the first one's leader */
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
	bool take_group_stops;    /* see target_take_group_stops */
	struct {
		target_watch_fn fn;
		void *ctx;
	} watch[TARGET_MAX_WATCHERS];
	size_t nwatch;
};

/* Seizes every thread of pid. On failure logs one line saying what is wrong
 * and what to do, and returns an exit code from sprofd.h (never EXIT_OK);
 * on success returns EXIT_OK. */
int target_attach(struct target *t, pid_t pid);
/* The same for several processes (pids[0] first), and with o->children
 * every descendant of each, found in /proc once the parents are held (so
 * none forked meanwhile is missed: the kernel traces those from birth),
 * and every process forked while traced. A given PID that cannot be
 * traced fails the whole; a descendant that cannot is skipped with one
 * line. o may be NULL (one process, no children). */
int target_attach_set(struct target *t, const pid_t *pids, size_t n, const struct target_opts *o);
/* The process of a thread. */
static inline struct tproc *target_proc(struct target *t, const struct thread *th)
{
	return &t->procs[th->proc];
}
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
/* The i-th live thread, i < t->nthreads. The order changes when a thread
 * leaves: do not hold the pointer across another target_* call. */
struct thread *target_thread(struct target *t, size_t i);
/* Asks to be told of thread births and exits from now on (the threads
 * there already are seen with target_thread). An exec tells THREAD_GONE
 * for the old leader's tid, and THREAD_GONE then THREAD_BORN for the tid
 * of the thread that exec'ed: a new program, nothing of the old one holds.
 * Returns 0, or -1 if TARGET_MAX_WATCHERS watch already. */
int target_watch(struct target *t, target_watch_fn fn, void *ctx);
/* Stops telling fn (with this ctx). target_fini tells no one. */
void target_unwatch(struct target *t, target_watch_fn fn, void *ctx);
/* Resumes a thread in TS_STOPPED. */
void target_resume(struct target *t, struct thread *th);
/* For a snapshot of a process stopped by job control (sprofd dump). A
 * thread kept listening for SIGCONT (TS_GROUP_STOPPED) cannot have its
 * registers read; but seizing a stopped thread makes it report its
 * group-stop once, a ptrace stop in which it can. With on, such a report
 * (or that of an interrupt sent to a stopped thread) is handed to the
 * caller by target_next_stop as a stop of ours (TS_STOPPED), for
 * target_detach to let go. */
void target_take_group_stops(struct target *t, bool on);
/* Detaches a thread in TS_STOPPED and forgets it (watchers hear
 * THREAD_GONE): it goes on as it was, a job-control stopped one stays
 * stopped. */
void target_detach(struct target *t, struct thread *th);
/* Releases every thread we hold stopped, for a session that is ending:
 * waits up to timeout_ns for outstanding interrupts, resumes them, and
 * detaches stopped threads. Running threads are left to the kernel's
 * detach at thread exit. */
void target_release(struct target *t, uint64_t timeout_ns);
void target_fini(struct target *t);

#endif
