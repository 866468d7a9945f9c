/* sampler.c: the tick loop (see sampler.h). */
#include "sampler.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "attach.h"
#include "capture.h"
#include "log.h"
#include "oncpu.h"
#include "procfs.h"
#include "pystage.h"
#include "stacks.h"
#include "tidstate.h"
#include "unwind.h"
#include "util.h"

/* Captures wait here until the batch of stops is handled; bounded so a
 * target with thousands of runnable threads cannot balloon our memory. */
#define CAPTURE_BATCH 64
/* Slack above the highest stack word the last unwind read. */
#define STACK_TOP_MARGIN 512
/* Recent durations kept for medians and percentiles. */
#define RESERVOIR 8192
/* Descriptors never used for /proc files kept open: at least this many, or
 * an eighth of the open-file limit, are left for libdw, the modules'
 * images and the output files. */
#define FD_RESERVE 256
/* A SIGCHLD that only our own interrupts explain may still hide another
 * event behind it (standard signals do not queue): the full wait that
 * finds such events comes this long after it per thread of the target,
 * within bounds. It costs the kernel about half a microsecond per thread
 * (the cache is cold by then), so this keeps it near 2% of a CPU. */
#define WALK_DEFER_PER_THREAD_NS 20000ull
#define WALK_DEFER_MIN_NS 1000000ull
#define WALK_DEFER_MAX_NS 100000000ull
/* And in any case this often, should a SIGCHLD ever go missing. */
#define WALK_IDLE_NS 1000000000ull

/* The files of /proc/PID/task/TID that the sampler reads again and again. */
enum task_file { TASK_STAT, TASK_SCHEDSTAT, TASK_SYSCALL, TASK_NFILES };

/* What the sampler keeps of one thread (attach keeps its ptrace state):
 * from the first tick that looks at it until attach reports it gone. */
struct tstate {
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

/* What the sampler keeps of one process of the target (index as in
 * target.procs): the unwinder on its maps, its Python stage, and the
 * number its program's pcs carry (sampler.h). */
struct pstate {
	struct unwinder *uw;
	struct pystage *py;          /* owned by the session (on_image) */
	unsigned image;
	unsigned execs;              /* its tproc.execs that uw is set up for */
	unsigned proc;               /* its index */
	bool off;                    /* not sampled: no unwinder, or no image left */
	bool sampled;                /* a stack of it was counted */
};

struct reservoir {
	uint64_t v[RESERVOIR];
	size_t n;     /* total recorded */
};

struct loop {
	struct target *t;
	const struct sampler_conf *c;
	struct stacktab *st;
	sampler_new_stack_fn on_new;
	void *ctx;
	struct sampler_stats *stats;
	struct pstate *procs;      /* per process of the target, as far as known */
	size_t nprocs, proccap;
	unsigned next_image;       /* the number the next program gets */
	bool warned_images;
	struct tidstate *threads;  /* tid -> struct tstate */
	struct capture caps[CAPTURE_BATCH];
	unsigned capproc[CAPTURE_BATCH];  /* the process of each capture */
	struct capture asleep;  /* for threads taken without stopping them */
	size_t ncaps;
	uint64_t *pcs;
	struct reservoir pauses, unwinds;
	struct oncpu *oncpu;   /* cpu mode: the kernel names running threads */
	pid_t *chosen;         /* threads to interrupt at this tick */
	size_t chosen_cap;
	uint64_t last_tick_ns; /* what choosing cost at the last tick */
	uint64_t avg_tick_ns;  /* its moving average */
	uint64_t owed;         /* timer ticks since the last tick() */
	uint32_t tick_weight;  /* ticks the current tick() stands for */
	uint64_t skip;         /* ticks to let pass: choosing costs too much */
	bool warned_slow;
	unsigned stride;       /* sample at 1/stride the rate, each sample counting
				* stride times (set through conf->on_request) */
	uint64_t stride_n;     /* perf samples seen, to take every stride-th */
	bool exec_stop;        /* no process left that can be sampled */
	uint64_t nofile;       /* the open-file limit */
	int keep_below;        /* /proc descriptors kept open only below this */
	bool warned_fds;
	/* The full waits for ptrace events (see drain_events). */
	uint64_t last_walk_ns;  /* when the last one ended */
	uint64_t walk_events;   /* t->other_events then */
	bool walk_owed;         /* a SIGCHLD came since */
};

static void reservoir_add(struct reservoir *r, uint64_t v)
{
	r->v[r->n++ % RESERVOIR] = v;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void tstate_init(void *p, pid_t tid)
{
	struct tstate *ts = p;

	for (int f = 0; f < TASK_NFILES; f++)
		ts->task_fd[f] = -1;
}

static void tstate_fini(void *p)
{
	struct tstate *ts = p;

	for (int f = 0; f < TASK_NFILES; f++)
		if (ts->task_fd[f] >= 0)
			close(ts->task_fd[f]);
	free(ts->last_pcs);
}

/* Median and 99th percentile of what the reservoir holds. */
static void reservoir_summary(struct reservoir *r, uint64_t *med, uint64_t *p99)
{
	size_t n = r->n < RESERVOIR ? r->n : RESERVOIR;

	*med = *p99 = 0;
	if (!n)
		return;
	qsort(r->v, n, sizeof(uint64_t), cmp_u64);
	*med = r->v[n / 2];
	*p99 = r->v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
}

/* Whether an error is the process (EMFILE) or the system (ENFILE) out of
 * file descriptors. */
static bool out_of_fds(int err)
{
	return err == EMFILE || err == ENFILE;
}

/* Says once per session that descriptors ran out, and what to do. */
static void warn_fds(struct loop *l, int err)
{
	if (l->warned_fds)
		return;
	l->warned_fds = true;
	if (err == EMFILE)
		log_warn("sampler: out of file descriptors (open-file limit %llu): /proc reads "
			 "fail, and symbol lookups may too; sleeping threads keep their last "
			 "stack meanwhile; raise the limit (ulimit -n, or LimitNOFILE= in the "
			 "service unit)", (unsigned long long)l->nofile);
	else
		log_warn("sampler: the system is out of file descriptors (ENFILE): /proc reads "
			 "fail, and symbol lookups may too; raise fs.file-max or close files");
}

/* Whether a descriptor just opened for file f of a thread may stay open.
 * Never one at or past keep_below: the descriptors above it are for libdw,
 * the modules' images and the output. The file read at every tick for every
 * thread (stat in cpu mode, schedstat in wall mode) has that whole budget;
 * the others are read seldom, and are kept only while every file of every
 * thread fits twice over. */
static bool may_keep(const struct loop *l, enum task_file f, int fd)
{
	enum task_file hot = l->c->mode == MODE_WALL ? TASK_SCHEDSTAT : TASK_STAT;

	if (fd >= l->keep_below)
		return false;
	return f == hot || 2 * TASK_NFILES * l->t->nthreads <= (size_t)l->keep_below;
}

/* Reads /proc/PID/task/TID/<f> of a thread, through a descriptor kept open
 * when the budget allows (may_keep), else opened for this read only.
 * Returns the bytes read, or -1 with errno set (ENODATA: empty). */
static ssize_t read_task_file(struct loop *l, pid_t tid, struct tstate *ts, enum task_file f,
			      char *buf, size_t size)
{
	static const char *const names[TASK_NFILES] = { "stat", "schedstat", "syscall" };
	int fd = ts->task_fd[f], err;
	char path[96];
	ssize_t n;

	if (fd >= 0) {
		n = pread(fd, buf, size - 1, 0);
	} else {
		struct thread *th = target_find(l->t, tid);

		snprintf(path, sizeof(path), "/proc/%d/task/%d/%s",
			 th ? (int)target_proc(l->t, th)->pid : (int)tid, (int)tid, names[f]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			err = errno;
			if (out_of_fds(err))
				warn_fds(l, err);
			errno = err;
			return -1;
		}
		n = read(fd, buf, size - 1);
		err = errno;
		if (n >= 0 && may_keep(l, f, fd))
			ts->task_fd[f] = fd;
		else
			close(fd);
		errno = err;
	}
	if (n <= 0) {
		if (n == 0)
			errno = ENODATA;
		return -1;
	}
	buf[n] = '\0';
	return n;
}

/* The scheduler state letter of a thread (R, S, D, T, t, Z...), or 0 with
 * errno set. */
static char thread_sched_state(struct loop *l, pid_t tid, struct tstate *ts)
{
	char buf[256], state;
	ssize_t n;

	if ((n = read_task_file(l, tid, ts, TASK_STAT, buf, sizeof(buf))) < 0)
		return 0;
	if (!(state = procfs_stat_state(buf, (size_t)n)))
		errno = EINVAL;
	return state;
}

/* The thread's CPU time in ns (schedstat: exact, unlike stat's ticks).
 * False with errno set if it cannot be read. */
static bool thread_cpu_ns(struct loop *l, pid_t tid, struct tstate *ts, uint64_t *ns)
{
	char buf[96];
	ssize_t n;

	if ((n = read_task_file(l, tid, ts, TASK_SCHEDSTAT, buf, sizeof(buf))) < 0)
		return false;
	if (procfs_parse_schedstat(buf, (size_t)n, ns) < 0) {
		errno = EINVAL;
		return false;
	}
	return true;
}

/* Sets how many descriptors the /proc files of threads may hold (may_keep)
 * from the open-file limit. */
static void fd_budget(struct loop *l)
{
	struct rlimit rl;
	uint64_t lim = 1024, reserve;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		lim = rl.rlim_cur;
	if (lim > INT_MAX)
		lim = INT_MAX;
	reserve = lim / 8 > FD_RESERVE ? lim / 8 : FD_RESERVE;
	l->nofile = lim;
	l->keep_below = lim > reserve ? (int)(lim - reserve) : 0;
	if (l->keep_below)
		log_debug("sampler: /proc files of threads kept open below descriptor %d "
			  "(open-file limit %llu, %llu left for symbols and output)", l->keep_below,
			  (unsigned long long)lim, (unsigned long long)reserve);
	else
		log_debug("sampler: /proc files of threads opened at each read (open-file "
			  "limit %llu, too low to keep them open)", (unsigned long long)lim);
}

/* Counts a stack, and hands it on the first time it is seen. */
static void count_stack(struct loop *l, const uint64_t *pcs, int n, pid_t tid, bool trunc,
			uint32_t weight)
{
	weight *= l->stride;
	if (trunc)
		l->stats->truncated += weight;
	l->stats->samples += weight;
	if (stacktab_add(l->st, pcs, (uint32_t)n, tid, trunc, weight) && l->on_new)
		l->on_new(l->ctx, pcs, n);
}

/* Says (-v) how soon the first stack of a process was counted after it
 * was held: for one forked while sampled, how soon after its birth. */
static void note_first(struct loop *l, struct pstate *p)
{
	const struct tproc *tp = &l->t->procs[p->proc];

	if (p->sampled)
		return;
	p->sampled = true;
	log_debug("sampler: PID %d (%s): first sample %.1f ms after it was %s", (int)tp->pid,
		  tp->comm, (double)(mono_ns() - tp->seen_ns) / 1e6,
		  l->stats->start_ns && tp->seen_ns > l->stats->start_ns ? "forked" : "attached");
}

/* Remembers a thread's stack so wall mode can count it again unchanged. */
static void keep_last(struct tstate *ts, const uint64_t *pcs, int n, bool trunc)
{
	ts->last_pcs = xrealloc(ts->last_pcs, sizeof(uint64_t) * (size_t)n);
	memcpy(ts->last_pcs, pcs, sizeof(uint64_t) * (size_t)n);
	ts->last_n = (uint32_t)n;
	ts->last_truncated = trunc;
	ts->have_last = true;
	ts->just_sampled = true;
}

/* Marks the pcs of a stack with the program they come from (sampler.h). */
static void tag_image(const struct pstate *p, uint64_t *pcs, int n)
{
	uint64_t tag = (uint64_t)p->image << SAMPLER_IMAGE_SHIFT;

	for (int i = 0; tag && i < n; i++)
		pcs[i] |= tag;
}

/* Unwinds the queued captures and counts their stacks. */
static void flush_captures(struct loop *l)
{
	for (size_t i = 0; i < l->ncaps; i++) {
		const struct capture *c = &l->caps[i];
		struct pstate *p = &l->procs[l->capproc[i]];
		bool trunc = false;
		uint64_t t0 = mono_ns(), dt;
		int n = unwinder_unwind(p->uw, c, l->pcs, l->c->max_depth, &trunc);
		struct tstate *ts;

		dt = mono_ns() - t0;
		l->stats->unwind_total_ns += dt;
		reservoir_add(&l->unwinds, dt);
		if (n <= 0) {
			l->stats->lost += c->weight;
			continue;
		}
		/* --- python stage: Python frames for the eval loop's --- */
		if (p->py)
			n = pystage_merge(p->py, (unsigned)i, l->pcs, n, l->c->max_depth, &trunc);
		tag_image(p, l->pcs, n);
		count_stack(l, l->pcs, n, c->tid, trunc, c->weight);
		note_first(l, p);
		/* None if the thread is gone since. */
		ts = tidstate_find(l->threads, c->tid);
		if (ts) {
			ts->stack_top = unwinder_stack_top(p->uw) + STACK_TOP_MARGIN;
			if (l->c->mode == MODE_WALL)
				keep_last(ts, l->pcs, n, trunc);
		}
	}
	l->ncaps = 0;
}

/* Baseline mode: unwind in place while the thread stays stopped. */
static void sample_in_place(struct loop *l, struct pstate *p, struct thread *th, struct tstate *ts,
			    uint32_t weight)
{
	bool trunc = false;
	uint64_t t0 = mono_ns();
	int n = unwinder_unwind_ptrace(p->uw, th->tid, l->pcs, l->c->max_depth, &trunc);

	l->stats->unwind_total_ns += mono_ns() - t0;
	reservoir_add(&l->unwinds, mono_ns() - t0);
	if (n <= 0) {
		l->stats->lost += weight;
		return;
	}
	tag_image(p, l->pcs, n);
	count_stack(l, l->pcs, n, th->tid, trunc, weight);
	note_first(l, p);
	if (l->c->mode == MODE_WALL)
		keep_last(ts, l->pcs, n, trunc);
}

/* Whether every process still there is one we cannot sample. */
static bool none_left(const struct loop *l)
{
	for (size_t i = 0; i < l->t->nprocs; i++)
		if (!l->t->procs[i].gone && (i >= l->nprocs || !l->procs[i].off))
			return false;
	return true;
}

/* Starts sampling the program process i runs now: an unwinder on its maps
 * and the next image number. False (the process is off) when there is no
 * number left or its maps cannot be read (it is gone). */
static bool start_image(struct loop *l, unsigned i, bool exec)
{
	struct pstate *p = &l->procs[i];
	pid_t pid = l->t->procs[i].pid;
	struct unwinder *uw = NULL;

	if (l->next_image > SAMPLER_MAX_IMAGE) {
		if (!l->warned_images)
			log_warn("sampler: %u programs sampled, the most one session can tell "
				 "apart; PID %d and any newer ones are not sampled",
				 SAMPLER_MAX_IMAGE + 1, (int)pid);
		l->warned_images = true;
	} else {
		uw = unwinder_new(pid);
	}
	unwinder_free(p->uw);
	p->uw = uw;
	if (!uw) {
		p->off = true;
		return false;
	}
	p->image = l->next_image++;
	p->py = l->c->on_image(l->ctx, p->image, pid, i, exec);
	return true;
}

/* The state of process i, made (and its program started, see start_image)
 * for it and every process before it not seen yet. */
static struct pstate *pstate_get(struct loop *l, unsigned i)
{
	while (l->nprocs <= i) {
		unsigned k = (unsigned)l->nprocs;

		xgrow((void **)&l->procs, &l->proccap, k + 1, sizeof(*l->procs));
		memset(&l->procs[k], 0, sizeof(l->procs[k]));
		l->procs[k].execs = l->t->procs[k].execs;
		l->procs[k].proc = k;
		l->nprocs++;
		if (l->t->procs[k].gone)
			l->procs[k].off = true;
		else
			start_image(l, k, false);
	}
	return &l->procs[i];
}

/* Process i exec'ed: counts what was captured of the old program, then
 * moves to the new one, with an unwinder on its maps and no memory of the
 * old stacks. The new program's libraries are not mapped yet; the unwinder
 * reads the maps again when it meets an address in none of them. */
static void follow_exec(struct loop *l, unsigned i)
{
	struct pstate *p = &l->procs[i];
	struct thread *th;
	struct tstate *ts;
	size_t pos = 0;
	pid_t tid;
	void *v;

	flush_captures(l);
	p->execs = l->t->procs[i].execs;
	if (p->off || !start_image(l, i, true)) {
		if (none_left(l))
			l->exec_stop = true;
		return;
	}
	if (p->py)   /* --- python stage --- */
		pystage_exec(p->py);
	while (tidstate_next(l->threads, &pos, &tid, &v)) {
		th = target_find(l->t, tid);
		if (th && th->proc != i)
			continue;
		ts = v;
		ts->stack_top = 0;
		ts->have_last = false;
		ts->just_sampled = false;
	}
}

/* Handles pending ptrace events; captures threads that stopped for us and
 * follows the target into a new program. Without all, only the threads on
 * the target's ask list are asked (those interrupted, those SIGCHLD named):
 * with thousands of threads, a wait on all of them costs the kernel a walk
 * over every one, far more than the rest of a tick (see walk_due). */
static void drain_events(struct loop *l, bool all)
{
	struct thread *th;
	bool execed = false;

	if (l->exec_stop)
		return;   /* the stops left are the new program's: release them */
again:
	while ((th = all ? target_next_stop(l->t) : target_next_asked(l->t))) {
		uint64_t t0 = mono_ns(), dt;
		struct tstate *ts = tidstate_get(l->threads, th->tid);
		struct pstate *p = pstate_get(l, th->proc);
		/* Wall mode: a thread that waited for a CPU through several ticks
		 * has had this same stack all along. */
		uint32_t weight = l->c->mode == MODE_WALL ? 1 + ts->pending_ticks : 1;

		ts->pending_ticks = 0;
		if (p->off) {
			/* An interrupt sent before its process could not be
			 * followed into a new program: let it go. */
		} else if (l->c->unwind_ptrace) {
			sample_in_place(l, p, th, ts, weight);
		} else {
			struct capture *c;
			if (l->ncaps == CAPTURE_BATCH) {
				/* Keep this thread stopped only as long as the flush. */
				flush_captures(l);
				t0 = mono_ns();
			}
			c = &l->caps[l->ncaps];
			/* --- python stage: copied with the stack --- */
			if (p->py)
				pystage_ahead(p->py, th->tid, c);
			if (capture_take_to(c, target_proc(l->t, th)->pid, th->tid,
					    unwinder_maps(p->uw), ts->stack_top) == 0) {
				c->weight = weight;
				/* --- python stage: read while stopped --- */
				if (p->py)
					(void)pystage_read(p->py, (unsigned)l->ncaps, c,
							   l->c->max_depth);
				capture_restart_call(c);
				l->capproc[l->ncaps] = th->proc;
				l->ncaps++;
				l->stats->stack_bytes += c->len;
			} else {
				l->stats->lost += weight;
			}
		}
		target_resume(l->t, th);
		dt = mono_ns() - t0;
		l->stats->pause_total_ns += dt;
		reservoir_add(&l->pauses, dt);
		if (dt > l->stats->pause_max_ns)
			l->stats->pause_max_ns = dt;
	}
	/* New processes get their image at once, before their first tick;
	 * processes that exec'ed move to their new program. */
	if (l->t->nprocs)
		pstate_get(l, (unsigned)l->t->nprocs - 1);
	for (size_t i = 0; i < l->nprocs; i++) {
		if (l->t->procs[i].execs == l->procs[i].execs)
			continue;
		follow_exec(l, (unsigned)i);
		if (l->exec_stop)
			break;
		execed = true;
	}
	if (execed) {
		execed = false;
		goto again;
	}
	if (all) {
		l->last_walk_ns = mono_ns();
		l->walk_events = l->t->other_events;
		l->walk_owed = false;
	}
}

/* When the next wait on every tracee is due. Every ptrace event raises
 * SIGCHLD, but one raised while another is pending is lost, so each SIGCHLD
 * read stands for one event or more. The thread it names, and those we
 * interrupted, are asked directly; the events it may hide need the full
 * wait. That is due at once when anything but our own stops was seen since
 * the last one (a new thread, an exit, a signal: others may have come with
 * it); when only our stops were, after a delay that grows with the thread
 * count as the cost of the wait does (see WALK_DEFER_PER_THREAD_NS): an
 * event of another thread that came in the microseconds between one of
 * our stops and our reading its SIGCHLD waits that long at most. And once
 * per WALK_IDLE_NS whatever happens. */
static uint64_t walk_due(const struct loop *l)
{
	uint64_t defer = l->t->nthreads * WALK_DEFER_PER_THREAD_NS;

	if (l->t->other_events != l->walk_events)
		return 0;
	if (!l->walk_owed)
		return l->last_walk_ns + WALK_IDLE_NS;
	defer = defer < WALK_DEFER_MIN_NS ? WALK_DEFER_MIN_NS :
		defer > WALK_DEFER_MAX_NS ? WALK_DEFER_MAX_NS : defer;
	return l->last_walk_ns + defer;
}

/* Wall mode: takes the first stack of a sleeping thread without stopping
 * it, from what the kernel shows of a blocked thread. Accepted only if the
 * thread used no CPU meanwhile and the unwind reached the thread's start
 * with just SP and PC to begin from; else the caller interrupts it. */
static bool wall_take_asleep(struct loop *l, struct pstate *p, pid_t pid, pid_t tid,
			     struct tstate *ts)
{
	uint64_t cpu0, cpu1;
	bool trunc = false;
	char text[256];
	int n;

	if (l->c->unwind_ptrace || !thread_cpu_ns(l, tid, ts, &cpu0))
		return false;
	if (read_task_file(l, tid, ts, TASK_SYSCALL, text, sizeof(text)) < 0 ||
	    capture_asleep(&l->asleep, pid, tid, unwinder_maps(p->uw), text) < 0)
		return false;
	/* --- python stage: the slot after the batch's --- */
	if (p->py && !pystage_read(p->py, CAPTURE_BATCH, &l->asleep, l->c->max_depth))
		return false;
	if (!thread_cpu_ns(l, tid, ts, &cpu1) || cpu1 != cpu0)
		return false;
	n = unwinder_unwind(p->uw, &l->asleep, l->pcs, l->c->max_depth, &trunc);
	if (n <= 0 || (!trunc && !unwinder_last_complete(p->uw)))
		return false;
	if (p->py)
		n = pystage_merge(p->py, CAPTURE_BATCH, l->pcs, n, l->c->max_depth, &trunc);
	tag_image(p, l->pcs, n);
	count_stack(l, l->pcs, n, tid, trunc, l->tick_weight);
	note_first(l, p);
	keep_last(ts, l->pcs, n, trunc);
	ts->stack_top = unwinder_stack_top(p->uw) + STACK_TOP_MARGIN;
	ts->just_sampled = false;
	ts->cpu_ns = cpu1;
	l->stats->asleep++;
	return true;
}

/* Wall mode: counts a thread without stopping it when it cannot have moved.
 * It has not if its CPU time is what it was when its last stack was taken;
 * the short run our own interrupt caused (leaving and re-entering its
 * system call) is forgiven once, at the first tick after, if it is asleep
 * again by then. A thread asleep that ran since has its stack taken where
 * it sleeps, without a stop. Returns true if the thread was counted. */
static bool wall_count_idle(struct loop *l, struct thread *th, struct tstate *ts)
{
	struct pstate *p = pstate_get(l, th->proc);
	pid_t pid = target_proc(l->t, th)->pid, tid = th->tid;
	uint64_t cpu;
	char state;

	if (!thread_cpu_ns(l, tid, ts, &cpu))
		goto unreadable;
	if (ts->have_last && !ts->just_sampled && cpu == ts->cpu_ns)
		goto reuse;
	state = thread_sched_state(l, tid, ts);
	if (!state && out_of_fds(errno))
		goto unreadable;
	if (state != 'S' && state != 'D')
		return false;   /* running, or in a stop of ours not yet reaped */
	if (ts->have_last && ts->just_sampled) {
		ts->just_sampled = false;
		/* It may also have run on to another wait since (a server
		 * answers, then sleeps in the next request): its stack where
		 * it sleeps now, if that can be had without a stop. */
		if (wall_take_asleep(l, p, pid, tid, ts))
			return true;
		ts->cpu_ns = cpu;
		goto reuse;
	}
	if (wall_take_asleep(l, p, pid, tid, ts))
		return true;
	/* PTRACE_INTERRUPT wakes a thread from an interruptible sleep, and
	 * some calls (epoll_wait, semtimedop, sigtimedwait...) then fail with
	 * EINTR instead of restarting. A thread that wakes between ticks (a
	 * timer loop) would see that again and again: once it has a stack,
	 * it is counted with that one instead. A thread in 'D' is not woken:
	 * its stop waits for the call to end. */
	if (ts->have_last && state == 'S')
		goto reuse;
	return false;
unreadable:
	/* Out of descriptors, a thread that has a stack is counted with it:
	 * stopping it instead, at every tick, would wake every sleeper (see
	 * above). Any other failure is a thread that is gone. */
	if (!ts->have_last || !out_of_fds(errno))
		return false;
reuse:
	count_stack(l, ts->last_pcs, (int)ts->last_n, tid, ts->last_truncated, l->tick_weight);
	l->stats->reused++;
	return true;
}

/* cpu mode with perf: the kernel just saw this thread on a CPU. */
static void on_cpu_sample(void *ctx, pid_t tid)
{
	struct loop *l = ctx;
	struct thread *th = target_find(l->t, tid);
	uint64_t t0 = mono_ns();

	if (!th || th->state != TS_RUNNING || pstate_get(l, th->proc)->off)
		return;
	if (l->stride > 1 && ++l->stride_n % l->stride)
		return;
	/* It may have gone to sleep in the microseconds since: an interrupt
	 * now would end its system call early. */
	if (thread_sched_state(l, tid, tidstate_get(l->threads, tid)) == 'R' &&
	    target_interrupt(l->t, th) == 0)
		l->stats->interrupts++;
	l->stats->tick_total_ns += mono_ns() - t0;
}

/* One tick: choose the threads to sample, then interrupt them together, so
 * none waits stopped while the others are being chosen; their stops are
 * reaped as they come. */
static void tick(struct loop *l)
{
	uint64_t t0 = mono_ns();
	size_t nchosen = 0;

	xgrow((void **)&l->chosen, &l->chosen_cap, l->t->nthreads, sizeof(*l->chosen));
	for (size_t i = 0; i < l->t->nthreads; i++) {
		struct thread *th = target_thread(l->t, i);
		struct tstate *ts = tidstate_get(l->threads, th->tid);

		if (th->state == TS_INTERRUPTING) {
			/* Never interrupt twice; wall mode counts the wait. */
			ts->pending_ticks++;
			continue;
		}
		if (th->state == TS_GROUP_STOPPED) {
			/* Stopped by job control: idle, but wall time passes. */
			if (l->c->mode == MODE_WALL && ts->have_last) {
				count_stack(l, ts->last_pcs, (int)ts->last_n, th->tid,
					    ts->last_truncated, l->tick_weight);
				l->stats->reused++;
			}
			continue;
		}
		if (th->state != TS_RUNNING || pstate_get(l, th->proc)->off)
			continue;
		if (l->c->mode == MODE_CPU) {
			if (thread_sched_state(l, th->tid, ts) != 'R')
				continue;
		} else if (wall_count_idle(l, th, ts)) {
			continue;
		}
		/* Wall mode: ticks skipped before this one count with its stack. */
		if (l->c->mode == MODE_WALL)
			ts->pending_ticks += l->tick_weight - 1;
		l->chosen[nchosen++] = th->tid;
	}
	for (size_t i = 0; i < nchosen; i++) {
		struct thread *th = target_find(l->t, l->chosen[i]);
		if (th && target_interrupt(l->t, th) == 0)
			l->stats->interrupts++;
	}
	l->stats->tick_total_ns += mono_ns() - t0;
	l->last_tick_ns = mono_ns() - t0;
}

/* Serves the owner's requests (tracing thread, between ticks): asks it
 * for the stride and, when that changed, re-arms the timer at the new
 * period. Returns the period now in force. */
static uint64_t handle_request(struct loop *l, int tfd, uint64_t base_period)
{
	unsigned stride;
	uint64_t v, period;
	struct itimerspec its;

	(void)!read(l->c->req_fd, &v, sizeof(v));
	stride = l->c->on_request ? l->c->on_request(l->ctx) : 1;
	if (stride < 1)
		stride = 1;
	period = base_period * stride;
	if (stride != l->stride) {
		l->stride = stride;
		its.it_value.tv_sec = its.it_interval.tv_sec = (time_t)(period / 1000000000ull);
		its.it_value.tv_nsec = its.it_interval.tv_nsec = (long)(period % 1000000000ull);
		if (timerfd_settime(tfd, 0, &its, NULL) < 0)
			log_warn("sampler: cannot re-arm the timer: %s", strerror(errno));
	}
	return period;
}

int sampler_run(struct target *t, const struct sampler_conf *c, struct stacktab *st,
		sampler_new_stack_fn on_new, void *ctx, struct sampler_stats *out)
{
	struct loop *l = xcalloc(1, sizeof(*l));
	struct itimerspec its;
	struct pollfd pfd[5];
	uint64_t period = 1000000000ull / c->hz, deadline = 0;
	sigset_t chld;
	int tfd = -1, sfd = -1, rc = -1;
	bool stop = false;

	*l = (struct loop){ .t = t, .c = c, .st = st, .on_new = on_new, .ctx = ctx, .stats = out,
			    .stride = 1, .walk_events = t->other_events };
	memset(out, 0, sizeof(*out));
	fd_budget(l);
	l->threads = tidstate_new(t, sizeof(struct tstate), tstate_init, tstate_fini);
	l->pcs = xmalloc(sizeof(uint64_t) * (size_t)c->max_depth);
	/* Every process held now gets its program's number and unwinder. */
	if (t->nprocs)
		pstate_get(l, (unsigned)t->nprocs - 1);
	if (none_left(l))
		goto out;
	if (c->mode == MODE_CPU) {
		l->oncpu = oncpu_open(c->hz);
		if (!l->oncpu)
			log_debug("sampler: no perf events (%s); scanning threads at each tick",
				  strerror(errno));
	}
	for (size_t i = 0; i < CAPTURE_BATCH; i++)
		capture_init(&l->caps[i], c->stack_cap);
	capture_init(&l->asleep, c->stack_cap);

	/* SIGCHLD is blocked in every sprofd thread (here too, to be sure:
	 * one handled or ignored would never reach the signalfd, and events
	 * would wait for WALK_IDLE_NS); here it only wakes poll. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &chld, NULL);
	sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (sfd < 0 || tfd < 0) {
		log_err("sampler: cannot create timer or signal fd: %s", strerror(errno));
		goto out;
	}
	out->start_ns = l->last_walk_ns = mono_ns();
	if (c->duration_ns)
		deadline = out->start_ns + c->duration_ns;
	/* An absolute first expiry plus a fixed interval: ticks stay on the
	 * grid start + k * period however late we wake. */
	its.it_value.tv_sec = (time_t)((out->start_ns + period) / 1000000000ull);
	its.it_value.tv_nsec = (long)((out->start_ns + period) % 1000000000ull);
	its.it_interval.tv_sec = (time_t)(period / 1000000000ull);
	its.it_interval.tv_nsec = (long)(period % 1000000000ull);
	if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
		log_err("sampler: cannot arm the timer: %s", strerror(errno));
		goto out;
	}
	pfd[0] = (struct pollfd){ .fd = tfd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	pfd[2] = (struct pollfd){ .fd = c->stop_fd, .events = POLLIN };
	pfd[3] = (struct pollfd){ .fd = l->oncpu ? oncpu_fd(l->oncpu) : -1, .events = POLLIN };
	pfd[4] = (struct pollfd){ .fd = c->req_fd, .events = POLLIN };

	while (!stop) {
		struct signalfd_siginfo si;
		uint64_t exp, now = mono_ns(), due = walk_due(l);
		int timeout = due <= now ? 0 : (int)((due - now) / 1000000) + 1;

		if (deadline) {
			int left = now >= deadline ? 0 : (int)((deadline - now) / 1000000) + 1;
			timeout = left < timeout ? left : timeout;
		}
		if (poll(pfd, 5, timeout) < 0 && errno != EINTR) {
			log_err("sampler: poll: %s", strerror(errno));
			break;
		}
		/* The thread that a SIGCHLD names is asked directly, whatever
		 * its event; those it may hide wait for the full wait. */
		while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			target_ask(t, (pid_t)si.ssi_pid);
			l->walk_owed = true;
		}
		drain_events(l, false);
		if (mono_ns() >= walk_due(l))
			drain_events(l, true);
		if (pfd[2].revents & POLLIN)
			stop = true;
		if (pfd[4].revents & POLLIN)
			period = handle_request(l, tfd, 1000000000ull / c->hz);
		if (t->gone || l->exec_stop)
			stop = true;
		if (deadline && mono_ns() >= deadline)
			stop = true;
		if (!stop && read(tfd, &exp, sizeof(exp)) == sizeof(exp)) {
			out->ticks++;
			out->missed_ticks += exp - 1;
			l->owed += exp;
			if (l->skip > exp) {
				l->skip -= exp;
				out->missed_ticks++;
			} else if (!l->oncpu) {
				l->tick_weight = (uint32_t)(l->owed < 1000 ? l->owed : 1000);
				l->owed = 0;
				tick(l);
				/* Never spend more than a quarter of the period
				 * choosing threads: this thread may run at real-time
				 * priority, and the target needs the CPU. A moving
				 * average, so one slow tick (the first, which takes
				 * every sleeping thread's stack) changes nothing. */
				l->avg_tick_ns = out->ticks == 1 ? 0 :
					(3 * l->avg_tick_ns + l->last_tick_ns) / 4;
				l->skip = l->avg_tick_ns * 4 / period;
				if (l->skip && !l->warned_slow) {
					log_warn("sampler: choosing threads takes %.1f ms per tick; "
						 "sampling every %llu ticks", (double)l->avg_tick_ns / 1e6,
						 (unsigned long long)l->skip + 1);
					l->warned_slow = true;
				}
			}
		}
		if (!stop && l->oncpu)
			oncpu_drain(l->oncpu, t->opts.children || t->nprocs > 1 ? 0 : t->pid,
				    on_cpu_sample, l);
		/* Threads stopped for this tick are often reported by now;
		 * the rest raise SIGCHLD. */
		drain_events(l, false);
		flush_captures(l);
	}
	target_release(t, 100000000ull);
	out->end_ns = mono_ns();
	reservoir_summary(&l->pauses, &out->pause_med_ns, &out->pause_p99_ns);
	reservoir_summary(&l->unwinds, &out->unwind_med_ns, &out->unwind_p99_ns);
	rc = 0;
out:
	if (tfd >= 0)
		close(tfd);
	if (sfd >= 0)
		close(sfd);
	for (size_t i = 0; i < CAPTURE_BATCH; i++)
		capture_fini(&l->caps[i]);
	capture_fini(&l->asleep);
	free(l->pcs);
	free(l->chosen);
	oncpu_close(l->oncpu);
	for (size_t i = 0; i < l->nprocs; i++)
		unwinder_free(l->procs[i].uw);
	free(l->procs);
	tidstate_free(l->threads);
	free(l);
	return rc;
}

const char *const sample_mode_names[] = { [MODE_CPU] = "cpu", [MODE_WALL] = "wall", NULL };

int sample_mode_parse(const char *name, enum sample_mode *m)
{
	for (int i = 0; sample_mode_names[i]; i++) {
		if (strcmp(name, sample_mode_names[i]) == 0) {
			*m = (enum sample_mode)i;
			return 0;
		}
	}
	return -1;
}

const char *sample_mode_name(enum sample_mode m)
{
	return m == MODE_WALL ? sample_mode_names[MODE_WALL] : sample_mode_names[MODE_CPU];
}
