/* attach.c: seizing, event decoding and signal re-delivery (see attach.h).
 *
 * ptrace notes that shape this file:
 * - PTRACE_SEIZE attaches without stopping; PTRACE_INTERRUPT then stops a
 *   thread in a PTRACE_EVENT_STOP with WSTOPSIG == SIGTRAP.
 * - The same PTRACE_EVENT_STOP with a stop signal (SIGSTOP, SIGTSTP, SIGTTIN,
 *   SIGTTOU) is a group-stop: the user's kill -STOP. PTRACE_LISTEN keeps the
 *   thread stopped while letting it see SIGCONT, so job control behaves as
 *   without a tracer; after SIGCONT it reports a SIGTRAP event stop.
 * - A plain stop (no event) is a signal-delivery-stop: the signal is
 *   delivered only if we pass it back with PTRACE_CONT, which keeps its
 *   siginfo (same signal number) and its order.
 * - With PTRACE_O_TRACECLONE new threads are traced from birth and first
 *   report a SIGTRAP event stop; that report may come before or after the
 *   parent's PTRACE_EVENT_CLONE.
 * - waitpid with __WNOTHREAD sees only this thread's tracees, so several
 *   sessions in one process never steal each other's events. */
#include "attach.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "procfs.h"
#include "sprofd.h"
#include "util.h"

/* Returns a numeric field ("TracerPid:", "Uid:") of /proc/PID/status, or -1. */
static long status_field(pid_t pid, const char *key)
{
	long v;

	/* Whole lines only: a process named "TracerPid: 1" must not fool us. */
	if (procfs_status_read(pid, key, &v, 1) < 1)
		return -1;
	return v;
}

static struct thread *thread_find(struct target *t, pid_t tid)
{
	uint64_t i;

	if (!u64map_get(t->index, (uint64_t)tid, &i))
		return NULL;
	return &t->threads[i];
}

/* Tells every watcher of a birth or an exit. */
static void tell(struct target *t, pid_t tid, enum thread_event ev)
{
	for (size_t i = 0; i < t->nwatch; i++)
		t->watch[i].fn(t->watch[i].ctx, tid, ev);
}

static struct thread *thread_add(struct target *t, pid_t tid, unsigned proc)
{
	struct thread *th;

	xgrow((void **)&t->threads, &t->cap, t->nthreads + 1, sizeof(*t->threads));
	th = &t->threads[t->nthreads];
	memset(th, 0, sizeof(*th));
	th->tid = tid;
	th->proc = proc;
	th->state = TS_RUNNING;
	u64map_put(t->index, (uint64_t)tid, t->nthreads);
	t->nthreads++;
	t->threads_seen++;
	t->procs[proc].threads_seen++;
	tell(t, tid, THREAD_BORN);
	return th;
}

/* Starts a thread's entry afresh, as if just seized. */
static void thread_reset(struct target *t, struct thread *th)
{
	pid_t tid = th->tid;
	unsigned proc = th->proc;

	memset(th, 0, sizeof(*th));
	th->tid = tid;
	th->proc = proc;
	th->state = TS_RUNNING;
	tell(t, tid, THREAD_GONE);
	tell(t, tid, THREAD_BORN);
}

/* The index of the live process with this PID, or -1. */
static long proc_find(const struct target *t, pid_t pid)
{
	for (size_t i = t->nprocs; i-- > 0;)
		if (t->procs[i].pid == pid && !t->procs[i].gone)
			return (long)i;
	return -1;
}

/* Whether pid, started at start, is a child skipped before (its line said
 * once, not at every pass). */
static bool proc_skipped(const struct target *t, pid_t pid, unsigned long long start)
{
	for (size_t i = 0; i < t->nprocs; i++)
		if (t->procs[i].skipped && t->procs[i].pid == pid && t->procs[i].start == start)
			return true;
	return false;
}

/* Adds a process (no threads yet); returns its index. */
static unsigned proc_add(struct target *t, pid_t pid)
{
	struct tproc *p;

	xgrow((void **)&t->procs, &t->proccap, t->nprocs + 1, sizeof(*t->procs));
	p = &t->procs[t->nprocs];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->seen_ns = mono_ns();
	procfs_read_comm(pid, 0, p->comm, sizeof(p->comm));
	p->comm[strcspn(p->comm, "\n")] = '\0';
	t->nlive++;
	return (unsigned)t->nprocs++;
}

/* A process left: its leader's exit was reported. */
static void proc_gone(struct target *t, unsigned i, int status)
{
	struct tproc *p = &t->procs[i];

	if (p->gone)
		return;
	p->gone = true;
	p->exit_status = status;
	if (i == 0)
		t->exit_status = status;
	if (--t->nlive == 0)
		t->gone = true;
}

static void thread_remove(struct target *t, pid_t tid)
{
	uint64_t i;

	if (!u64map_get(t->index, (uint64_t)tid, &i))
		return;
	u64map_del(t->index, (uint64_t)tid);
	t->nthreads--;
	if (i != t->nthreads) {
		t->threads[i] = t->threads[t->nthreads];
		u64map_put(t->index, (uint64_t)t->threads[i].tid, i);
	}
	tell(t, tid, THREAD_GONE);
}

static void cont(pid_t tid, int sig)
{
	/* ESRCH means the thread died meanwhile; waitpid will report it. */
	ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig);
}

/* Explains a refused PTRACE_SEIZE: another tracer, or missing privilege. */
static int explain_eperm(pid_t pid, const char *pcomm)
{
	long tracer = status_field(pid, "TracerPid:");
	char comm[64], scope[16] = "";
	long uid = status_field(pid, "Uid:");

	if (tracer > 0) {
		procfs_read_comm((pid_t)tracer, 0, comm, sizeof(comm));
		log_err("PID %d (%s) is already traced by PID %ld (%s); detach that tracer first "
			"(a process can have only one)", (int)pid, pcomm, tracer, comm);
		return EXIT_TRACED;
	}
	if (procfs_read_small("/proc/sys/kernel/yama/ptrace_scope", scope, sizeof(scope)) > 0)
		scope[strcspn(scope, "\n")] = '\0';
	log_err("not permitted to trace PID %d (%s, uid %ld): run sprofd as root, or as the same "
		"user with CAP_SYS_PTRACE%s%s%s", (int)pid, pcomm, uid,
		scope[0] ? " or with kernel.yama.ptrace_scope=0 (it is " : "",
		scope, scope[0] ? " here)" : "");
	return EXIT_PERM;
}

/* Checks the target before attaching: ourselves, gone, zombie, kthread,
 * already traced. Returns EXIT_OK or the exit code after logging. */
static int check_target(pid_t pid, char *comm, size_t commsz)
{
	struct procfs_stat ps;
	long tracer;

	if (pid == getpid()) {
		log_err("PID %d is sprofd itself; give the PID of the process to profile",
			(int)pid);
		return EXIT_NO_TARGET;
	}
	if (procfs_read_stat(pid, 0, &ps) < 0) {
		if (errno != EINVAL) {
			log_err("no process with PID %d", (int)pid);
			return EXIT_NO_TARGET;
		}
		log_err("cannot parse /proc/%d/stat", (int)pid);
		return EXIT_INTERNAL;
	}
	procfs_read_comm(pid, 0, comm, commsz);
	/* It names the process in messages: one line, up to any newline. */
	comm[strcspn(comm, "\n")] = '\0';
	if (ps.state == 'Z' || ps.state == 'X') {
		log_err("PID %d (%s) is a zombie: it has exited and has nothing left to profile",
			(int)pid, comm);
		return EXIT_NO_TARGET;
	}
	if (ps.flags & PROCFS_PF_KTHREAD) {
		log_err("PID %d (%s) is a kernel thread; sprofd profiles user-space processes "
			"(perf record -a covers the kernel)", (int)pid, comm);
		return EXIT_NO_TARGET;
	}
	tracer = status_field(pid, "TracerPid:");
	if (tracer > 0)
		return explain_eperm(pid, comm);
	return EXIT_OK;
}

/* The ptrace options of every tracee: with children, forks are followed
 * (the kernel traces the child from its birth, so none is missed). */
static long seize_opts(const struct target *t)
{
	long opts = PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC;

	if (t->opts.children)
		opts |= PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK;
	return opts;
}

/* Seizes every thread listed in /proc/PID/task of process proc that we do
 * not hold yet. Returns the number newly seized, or -1 with *code set
 * (logged); for a descendant (child) that could not be seized at all, -2
 * after one line saying it is skipped. */
static int seize_new(struct target *t, unsigned proc, bool child, int *code)
{
	pid_t pid = t->procs[proc].pid;
	char path[64];
	struct dirent *de;
	int added = 0, err;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d) {
		if (child)
			return -2;   /* exited meanwhile */
		log_err("no process with PID %d", (int)pid);
		*code = EXIT_NO_TARGET;
		return -1;
	}
	while ((de = readdir(d))) {
		pid_t tid = (pid_t)atoi(de->d_name);

		if (tid <= 0 || thread_find(t, tid))
			continue;
		if (ptrace(PTRACE_SEIZE, tid, NULL, (void *)seize_opts(t)) == 0) {
			thread_add(t, tid, proc);
			added++;
			continue;
		}
		if (errno == ESRCH)
			continue;   /* exited since the listing */
		if (errno == EPERM && t->nthreads > 0 &&
		    status_field(tid, "TracerPid:") == (long)gettid()) {
			/* A clone or fork of a thread we hold: traced from birth. */
			thread_add(t, tid, proc);
			added++;
			continue;
		}
		err = errno;
		closedir(d);
		if (child && t->procs[proc].threads_seen == 0) {
			long tracer = status_field(pid, "TracerPid:");

			if (err == EPERM && tracer > 0)
				log_warn("skipping PID %d (%s), a child: it is traced by PID %ld",
					 (int)pid, t->procs[proc].comm, tracer);
			else
				log_warn("skipping PID %d (%s), a child: cannot trace it: %s",
					 (int)pid, t->procs[proc].comm, strerror(err));
			return -2;
		}
		if (err == EPERM) {
			*code = explain_eperm(pid, t->procs[proc].comm);
		} else {
			log_err("cannot attach to thread %d of PID %d: %s", (int)tid, (int)pid,
				strerror(err));
			*code = EXIT_INTERNAL;
		}
		return -1;
	}
	closedir(d);
	return added;
}

/* Seizes every thread of process proc, repeating while new ones appear.
 * Returns as seize_new: >= 0 on success. */
static int seize_proc(struct target *t, unsigned proc, bool child, int *code)
{
	int n, rounds = 0;

	/* Threads created between listing and seizing are missed by one pass;
	 * those created by seized threads are traced already. Repeat until a
	 * pass finds nothing new. */
	do {
		n = seize_new(t, proc, child, code);
		if (n < 0)
			return n;
	} while (n > 0 && ++rounds < 100);
	return 0;
}

/* Whether one more process may be traced; says once when not. */
static bool room_for_proc(struct target *t)
{
	if (!t->opts.max_procs || t->nlive < t->opts.max_procs)
		return true;
	if (!t->warned_max) {
		log_warn("%u processes traced, the most allowed (--max-processes): further "
			 "children are not profiled", t->opts.max_procs);
		t->warned_max = true;
	}
	return false;
}

/* Seizes the descendants of the processes held that we do not hold yet,
 * found by their parent PID in /proc. Their parents are held already, so
 * a child forked since is traced by the kernel, and found by the next pass
 * or its first stop. Returns the number newly held. */
static int seize_children(struct target *t)
{
	struct dirent *de;
	int added = 0, code;
	DIR *d = opendir("/proc");

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		pid_t pid = (pid_t)atoi(de->d_name);
		struct procfs_stat ps;
		unsigned proc;

		if (pid <= 0 || pid == getpid() || proc_find(t, pid) >= 0)
			continue;
		if (procfs_read_stat(pid, 0, &ps) < 0 || proc_find(t, (pid_t)ps.ppid) < 0)
			continue;
		if (ps.state == 'Z' || ps.state == 'X' || (ps.flags & PROCFS_PF_KTHREAD) ||
		    proc_skipped(t, pid, ps.start))
			continue;
		if (!room_for_proc(t))
			break;
		proc = proc_add(t, pid);
		if (seize_proc(t, proc, true, &code) < 0) {
			/* Nothing of it held: it never was one of ours. */
			t->procs[proc].gone = true;
			t->procs[proc].skipped = true;
			t->procs[proc].start = ps.start;
			t->nlive--;
			continue;
		}
		added++;
	}
	closedir(d);
	return added;
}

int target_attach_set(struct target *t, const pid_t *pids, size_t n, const struct target_opts *o)
{
	int code = EXIT_OK, rounds = 0;

	memset(t, 0, sizeof(*t));
	t->index = u64map_new();
	if (o)
		t->opts = *o;
	for (size_t i = 0; i < n; i++) {
		char comm[64] = "";
		unsigned proc;

		if (proc_find(t, pids[i]) >= 0)
			continue;   /* given twice, or a child of one given before */
		code = check_target(pids[i], comm, sizeof(comm));
		if (i == 0) {
			t->pid = pids[0];
			memcpy(t->comm, comm, sizeof(t->comm));
		}
		if (code != EXIT_OK)
			return code;
		proc = proc_add(t, pids[i]);
		if (seize_proc(t, proc, false, &code) < 0)
			return code;
		if (t->procs[proc].threads_seen == 0) {
			log_err("no process with PID %d", (int)pids[i]);
			return EXIT_NO_TARGET;
		}
		if (t->opts.children)
			while (seize_children(t) > 0 && ++rounds < 1000)
				;
	}
	return EXIT_OK;
}

int target_attach(struct target *t, pid_t pid)
{
	return target_attach_set(t, &pid, 1, NULL);
}

void target_ask(struct target *t, pid_t tid)
{
	struct thread *th;

	if (tid <= 0)
		return;   /* waitpid would take it for a process group */
	th = thread_find(t, tid);
	if (th) {
		if (th->asked)
			return;
		th->asked = true;
	}
	xgrow((void **)&t->ask, &t->askcap, t->nask + 1, sizeof(*t->ask));
	t->ask[t->nask++] = tid;
}

/* Takes entry i off the ask list; the last entry, not yet asked in this
 * pass, takes its place. */
static void ask_drop(struct target *t, size_t i)
{
	struct thread *th = thread_find(t, t->ask[i]);

	if (th)
		th->asked = false;
	t->ask[i] = t->ask[--t->nask];
}

int target_interrupt(struct target *t, struct thread *th)
{
	if (ptrace(PTRACE_INTERRUPT, th->tid, NULL, NULL) < 0)
		return -1;
	th->state = TS_INTERRUPTING;
	th->interrupt_ns = mono_ns();
	target_ask(t, th->tid);
	return 0;
}

static bool is_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* What one wait status led to. */
enum wait_result {
	WAIT_HANDLED,   /* dealt with here; nothing for the caller */
	WAIT_STOPPED,   /* *out is stopped by our interrupt */
	WAIT_EXEC,      /* the target exec'ed */
};

/* Acts on the wait status st of tracee tid. */
static enum wait_result handle_wait(struct target *t, pid_t tid, int st, struct thread **out)
{
	struct thread *th = thread_find(t, tid);
	unsigned long msg;
	int sig, ev;

	if (WIFEXITED(st) || WIFSIGNALED(st)) {
		long proc = proc_find(t, tid);

		t->other_events++;
		thread_remove(t, tid);
		if (proc >= 0)
			proc_gone(t, (unsigned)proc, st);
		return WAIT_HANDLED;
	}
	if (!WIFSTOPPED(st))
		return WAIT_HANDLED;
	sig = WSTOPSIG(st);
	ev = (unsigned)st >> 16;
	if (th && ev == PTRACE_EVENT_STOP &&
	    ((!is_stop_signal(sig) && th->state == TS_INTERRUPTING) ||
	     (is_stop_signal(sig) && t->take_group_stops))) {
		th->state = TS_STOPPED;
		*out = th;
		return WAIT_STOPPED;
	}
	t->other_events++;
	if (!th) {
		/* A new thread, or a new process: with children, the child of
		 * a fork; PTRACE_O_TRACECLONE also traces the child of a
		 * clone() without CLONE_THREAD whose exit signal is not
		 * SIGCHLD. The process a thread belongs to is its Tgid. */
		long tgid = status_field(tid, "Tgid:");
		long proc = tgid > 0 ? proc_find(t, (pid_t)tgid) : -1;

		if (proc < 0 && tgid == tid && t->opts.children && room_for_proc(t)) {
			proc = proc_add(t, tid);
		} else if (proc < 0) {
			/* Not followed: its first stop is all we see of it. */
			ptrace(PTRACE_DETACH, tid, NULL, NULL);
			return WAIT_HANDLED;
		}
		th = thread_add(t, tid, (unsigned)proc);
	}
	switch (ev) {
	case PTRACE_EVENT_CLONE:
		/* The new thread is added at its first stop, not here: that
		 * stop, and even its exit, can be reported before this event,
		 * and an entry added now would outlive it. */
		cont(tid, 0);
		break;
	case PTRACE_EVENT_EXEC:
		/* The other threads were killed and report their exit as usual.
		 * If a thread other than the leader exec'ed, it now has the
		 * leader's tid (this event's), and its old tid (the message)
		 * never reports an exit. The old leader is gone without a
		 * report either, with any interrupt we had sent it: the entry
		 * starts afresh. */
		if (ptrace(PTRACE_GETEVENTMSG, tid, NULL, &msg) == 0 && (pid_t)msg != tid)
			thread_remove(t, (pid_t)msg);
		/* The removal may have moved the entry. */
		if ((th = thread_find(t, tid))) {
			thread_reset(t, th);
			t->procs[th->proc].execed = true;
			t->procs[th->proc].execs++;
		}
		t->execed = true;
		t->execs++;
		cont(tid, 0);
		return WAIT_EXEC;
	case PTRACE_EVENT_STOP:
		if (is_stop_signal(sig)) {
			th->state = TS_GROUP_STOPPED;
			ptrace(PTRACE_LISTEN, tid, NULL, NULL);
			break;
		}
		/* A new thread's first stop, or the wake-up after SIGCONT. */
		th->state = TS_RUNNING;
		cont(tid, 0);
		break;
	case 0:
		/* Signal-delivery-stop: hand the signal back unchanged. */
		cont(tid, sig);
		break;
	default:
		cont(tid, 0);
		break;
	}
	return WAIT_HANDLED;
}

/* target_next_stop (all) and target_next_asked (not all). */
static struct thread *next_stop(struct target *t, bool all)
{
	for (;;) {
		struct thread *th = NULL;
		bool asked = t->ask_next < t->nask;
		pid_t tid;
		int st;

		if (asked) {
			/* One tracee: the kernel looks at that one only. */
			pid_t want = t->ask[t->ask_next];

			tid = waitpid(want, &st, WNOHANG | __WALL | __WNOTHREAD);
			if (tid < 0 && errno == EINTR)
				continue;
			if (tid <= 0) {
				/* Nothing now. Ask again in the next pass only if
				 * the stop of our interrupt is still to come. */
				th = thread_find(t, want);
				if (tid == 0 && th && th->state == TS_INTERRUPTING)
					t->ask_next++;
				else
					ask_drop(t, t->ask_next);
				continue;
			}
		} else {
			tid = all ? waitpid(-1, &st, WNOHANG | __WALL | __WNOTHREAD) : 0;
			if (tid < 0 && errno == EINTR)
				continue;
			if (tid <= 0) {
				t->ask_next = 0;
				return NULL;
			}
		}
		switch (handle_wait(t, tid, st, &th)) {
		case WAIT_STOPPED:
			if (asked && t->ask[t->ask_next] == tid)
				ask_drop(t, t->ask_next);
			return th;
		case WAIT_EXEC:
			t->ask_next = 0;
			return NULL;
		case WAIT_HANDLED:
			break;
		}
	}
}

struct thread *target_next_stop(struct target *t)
{
	return next_stop(t, true);
}

struct thread *target_next_asked(struct target *t)
{
	return next_stop(t, false);
}

void target_resume(struct target *t, struct thread *th)
{
	th->state = TS_RUNNING;
	cont(th->tid, 0);
}

void target_release(struct target *t, uint64_t timeout_ns)
{
	uint64_t deadline = mono_ns() + timeout_ns;

	for (;;) {
		struct thread *th;
		bool pending = false;

		while ((th = target_next_stop(t)))
			target_resume(t, th);
		for (size_t i = 0; i < t->nthreads; i++)
			if (t->threads[i].state == TS_INTERRUPTING)
				pending = true;
		if (!pending || t->gone || mono_ns() >= deadline)
			break;
		nanosleep(&(struct timespec){ 0, 100000 }, NULL);
	}
	/* Interrupts still outstanding and listening (job-control stopped)
	 * threads are released by the kernel when the tracing thread exits:
	 * it cancels the interrupt and keeps the group stop. */
}

void target_take_group_stops(struct target *t, bool on)
{
	t->take_group_stops = on;
}

void target_detach(struct target *t, struct thread *th)
{
	/* In a ptrace stop, so this cannot fail but for a thread killed
	 * meanwhile (ESRCH): either way it is not ours any more. */
	ptrace(PTRACE_DETACH, th->tid, NULL, NULL);
	thread_remove(t, th->tid);
}

struct thread *target_find(struct target *t, pid_t tid)
{
	return thread_find(t, tid);
}

struct thread *target_thread(struct target *t, size_t i)
{
	return i < t->nthreads ? &t->threads[i] : NULL;
}

int target_watch(struct target *t, target_watch_fn fn, void *ctx)
{
	if (t->nwatch == TARGET_MAX_WATCHERS)
		return -1;
	t->watch[t->nwatch].fn = fn;
	t->watch[t->nwatch].ctx = ctx;
	t->nwatch++;
	return 0;
}

void target_unwatch(struct target *t, target_watch_fn fn, void *ctx)
{
	for (size_t i = 0; i < t->nwatch; i++) {
		if (t->watch[i].fn != fn || t->watch[i].ctx != ctx)
			continue;
		memmove(&t->watch[i], &t->watch[i + 1], (t->nwatch - i - 1) * sizeof(t->watch[0]));
		t->nwatch--;
		return;
	}
}

void target_fini(struct target *t)
{
	free(t->procs);
	t->procs = NULL;
	t->nprocs = t->proccap = t->nlive = 0;
	free(t->threads);
	t->threads = NULL;
	free(t->ask);
	t->ask = NULL;
	t->nask = t->askcap = t->ask_next = 0;
	u64map_free(t->index);
	t->index = NULL;
}
