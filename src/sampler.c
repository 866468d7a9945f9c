/* sampler.c: the tick loop (see sampler.h). */
#include "sampler.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "attach.h"
#include "capture.h"
#include "log.h"
#include "oncpu.h"
#include "stacks.h"
#include "unwind.h"
#include "util.h"

/* Captures wait here until the batch of stops is handled; bounded so a
 * target with thousands of runnable threads cannot balloon our memory. */
#define CAPTURE_BATCH 64
/* Slack above the highest stack word the last unwind read. */
#define STACK_TOP_MARGIN 512
/* Recent durations kept for medians and percentiles. */
#define RESERVOIR 8192

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
	struct unwinder *uw;
	struct capture caps[CAPTURE_BATCH];
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

/* Reads a /proc/PID/task/TID file through a descriptor kept open. */
static ssize_t read_task_file(pid_t pid, pid_t tid, const char *name, int *fd, char *buf,
			      size_t size)
{
	ssize_t n;

	if (*fd < 0) {
		char path[96];
		snprintf(path, sizeof(path), "/proc/%d/task/%d/%s", (int)pid, (int)tid, name);
		*fd = open(path, O_RDONLY | O_CLOEXEC);
		if (*fd < 0)
			return -1;
	}
	n = pread(*fd, buf, size - 1, 0);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* The scheduler state letter of a thread (R, S, D, T, t, Z...), or 0. */
static char thread_sched_state(struct loop *l, struct thread *th)
{
	char buf[256], *rp;

	if (read_task_file(l->t->pid, th->tid, "stat", &th->stat_fd, buf, sizeof(buf)) <= 0)
		return 0;
	/* The command name may hold ')': the state follows the last one. */
	rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' ? rp[2] : 0;
}

/* The thread's CPU time in ns (schedstat: exact, unlike stat's ticks). */
static bool thread_cpu_ns(struct loop *l, struct thread *th, uint64_t *ns)
{
	char buf[96];

	if (read_task_file(l->t->pid, th->tid, "schedstat", &th->schedstat_fd, buf,
			   sizeof(buf)) <= 0)
		return false;
	*ns = strtoull(buf, NULL, 10);
	return true;
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

/* Remembers a thread's stack so wall mode can count it again unchanged. */
static void keep_last(struct thread *th, const uint64_t *pcs, int n, bool trunc)
{
	th->last_pcs = xrealloc(th->last_pcs, sizeof(uint64_t) * (size_t)n);
	memcpy(th->last_pcs, pcs, sizeof(uint64_t) * (size_t)n);
	th->last_n = (uint32_t)n;
	th->last_truncated = trunc;
	th->have_last = true;
	th->just_sampled = true;
}

/* Unwinds the queued captures and counts their stacks. */
static void flush_captures(struct loop *l)
{
	for (size_t i = 0; i < l->ncaps; i++) {
		const struct capture *c = &l->caps[i];
		bool trunc = false;
		uint64_t t0 = mono_ns(), dt;
		int n = unwinder_unwind(l->uw, c, l->pcs, l->c->max_depth, &trunc);
		struct thread *th;

		dt = mono_ns() - t0;
		l->stats->unwind_total_ns += dt;
		reservoir_add(&l->unwinds, dt);
		if (n <= 0) {
			l->stats->lost += c->weight;
			continue;
		}
		count_stack(l, l->pcs, n, c->tid, trunc, c->weight);
		th = target_find(l->t, c->tid);
		if (th) {
			th->stack_top = unwinder_stack_top(l->uw) + STACK_TOP_MARGIN;
			if (l->c->mode == MODE_WALL)
				keep_last(th, l->pcs, n, trunc);
		}
	}
	l->ncaps = 0;
}

/* Baseline mode: unwind in place while the thread stays stopped. */
static void sample_in_place(struct loop *l, struct thread *th, uint32_t weight)
{
	bool trunc = false;
	uint64_t t0 = mono_ns();
	int n = unwinder_unwind_ptrace(l->uw, th->tid, l->pcs, l->c->max_depth, &trunc);

	l->stats->unwind_total_ns += mono_ns() - t0;
	reservoir_add(&l->unwinds, mono_ns() - t0);
	if (n <= 0) {
		l->stats->lost += weight;
		return;
	}
	count_stack(l, l->pcs, n, th->tid, trunc, weight);
	if (l->c->mode == MODE_WALL)
		keep_last(th, l->pcs, n, trunc);
}

/* Handles every pending ptrace event; captures threads that stopped for us. */
static void drain_events(struct loop *l)
{
	struct thread *th;

	while ((th = target_next_stop(l->t))) {
		uint64_t t0 = mono_ns(), dt;
		/* Wall mode: a thread that waited for a CPU through several ticks
		 * has had this same stack all along. */
		uint32_t weight = l->c->mode == MODE_WALL ? 1 + th->pending_ticks : 1;

		th->pending_ticks = 0;
		if (l->c->unwind_ptrace) {
			sample_in_place(l, th, weight);
		} else {
			struct capture *c;
			if (l->ncaps == CAPTURE_BATCH) {
				/* Keep this thread stopped only as long as the flush. */
				flush_captures(l);
				t0 = mono_ns();
			}
			c = &l->caps[l->ncaps];
			if (capture_take_to(c, l->t->pid, th->tid, unwinder_maps(l->uw),
					    th->stack_top) == 0) {
				c->weight = weight;
				l->ncaps++;
				th->samples++;
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
}

/* Wall mode: takes the first stack of a sleeping thread without stopping
 * it, from what the kernel shows of a blocked thread. Accepted only if the
 * thread used no CPU meanwhile and the unwind reached the thread's start
 * with just SP and PC to begin from; else the caller interrupts it. */
static bool wall_take_asleep(struct loop *l, struct thread *th)
{
	uint64_t cpu0, cpu1;
	bool trunc = false;
	int n;

	if (l->c->unwind_ptrace || !thread_cpu_ns(l, th, &cpu0))
		return false;
	if (capture_asleep(&l->asleep, l->t->pid, th->tid, unwinder_maps(l->uw),
			   &th->syscall_fd) < 0)
		return false;
	if (!thread_cpu_ns(l, th, &cpu1) || cpu1 != cpu0)
		return false;
	n = unwinder_unwind(l->uw, &l->asleep, l->pcs, l->c->max_depth, &trunc);
	if (n <= 0 || (!trunc && !unwinder_last_complete(l->uw)))
		return false;
	count_stack(l, l->pcs, n, th->tid, trunc, l->tick_weight);
	keep_last(th, l->pcs, n, trunc);
	th->stack_top = unwinder_stack_top(l->uw) + STACK_TOP_MARGIN;
	th->just_sampled = false;
	th->cpu_ns = cpu1;
	l->stats->asleep++;
	return true;
}

/* Wall mode: counts a thread without stopping it when it cannot have moved.
 * It has not if its CPU time is what it was when its last stack was taken;
 * the short run our own interrupt caused (leaving and re-entering its
 * system call) is forgiven once, at the first tick after, if it is asleep
 * again by then. Returns true if the thread was counted. */
static bool wall_count_idle(struct loop *l, struct thread *th)
{
	uint64_t cpu;
	char state;

	if (!thread_cpu_ns(l, th, &cpu))
		return false;
	if (th->have_last && !th->just_sampled && cpu == th->cpu_ns)
		goto reuse;
	state = thread_sched_state(l, th);
	if (state != 'S' && state != 'D')
		return false;   /* running, or in a stop of ours not yet reaped */
	if (th->have_last) {
		if (!th->just_sampled)
			return false;   /* it ran on its own: its stack may differ */
		th->just_sampled = false;
		th->cpu_ns = cpu;
		goto reuse;
	}
	return wall_take_asleep(l, th);
reuse:
	count_stack(l, th->last_pcs, (int)th->last_n, th->tid, th->last_truncated,
		    l->tick_weight);
	l->stats->reused++;
	return true;
}

/* cpu mode with perf: the kernel just saw this thread on a CPU. */
static void on_cpu_sample(void *ctx, pid_t tid)
{
	struct loop *l = ctx;
	struct thread *th = target_find(l->t, tid);
	uint64_t t0 = mono_ns();

	if (!th || th->state != TS_RUNNING)
		return;
	if (l->stride > 1 && ++l->stride_n % l->stride)
		return;
	/* It may have gone to sleep in the microseconds since: an interrupt
	 * now would end its system call early. */
	if (thread_sched_state(l, th) == 'R' && target_interrupt(l->t, th) == 0)
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
		struct thread *th = &l->t->threads[i];

		if (th->state == TS_INTERRUPTING) {
			/* Never interrupt twice; wall mode counts the wait. */
			th->pending_ticks++;
			continue;
		}
		if (th->state == TS_GROUP_STOPPED) {
			/* Stopped by job control: idle, but wall time passes. */
			if (l->c->mode == MODE_WALL && th->have_last) {
				count_stack(l, th->last_pcs, (int)th->last_n, th->tid,
					    th->last_truncated, l->tick_weight);
				l->stats->reused++;
			}
			continue;
		}
		if (th->state != TS_RUNNING)
			continue;
		if (l->c->mode == MODE_CPU) {
			if (thread_sched_state(l, th) != 'R')
				continue;
		} else if (wall_count_idle(l, th)) {
			continue;
		}
		/* Wall mode: ticks skipped before this one count with its stack. */
		if (l->c->mode == MODE_WALL)
			th->pending_ticks += l->tick_weight - 1;
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
	int tfd, sfd, rc = -1;
	bool stop = false;

	*l = (struct loop){ .t = t, .c = c, .st = st, .on_new = on_new, .ctx = ctx, .stats = out,
			    .stride = 1 };
	memset(out, 0, sizeof(*out));
	l->uw = unwinder_new(t->pid);
	if (!l->uw) {
		free(l);
		return -1;
	}
	l->pcs = xmalloc(sizeof(uint64_t) * (size_t)c->max_depth);
	if (c->mode == MODE_CPU) {
		l->oncpu = oncpu_open(c->hz);
		if (!l->oncpu)
			log_debug("sampler: no perf events (%s); scanning threads at each tick",
				  strerror(errno));
	}
	for (size_t i = 0; i < CAPTURE_BATCH; i++)
		capture_init(&l->caps[i], c->stack_cap);
	capture_init(&l->asleep, c->stack_cap);

	/* SIGCHLD is blocked in every sprofd thread; here it only wakes poll. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (sfd < 0 || tfd < 0) {
		log_err("sampler: cannot create timer or signal fd: %s", strerror(errno));
		goto out;
	}
	out->start_ns = mono_ns();
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
		uint64_t exp;
		int timeout = -1;

		if (deadline) {
			uint64_t now = mono_ns();
			timeout = now >= deadline ? 0 : (int)((deadline - now) / 1000000) + 1;
		}
		if (poll(pfd, 5, timeout) < 0 && errno != EINTR) {
			log_err("sampler: poll: %s", strerror(errno));
			break;
		}
		while (read(sfd, &si, sizeof(si)) == sizeof(si))
			;
		drain_events(l);
		if (pfd[2].revents & POLLIN)
			stop = true;
		if (pfd[4].revents & POLLIN)
			period = handle_request(l, tfd, 1000000000ull / c->hz);
		if (t->gone || t->execed)
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
			oncpu_drain(l->oncpu, t->pid, on_cpu_sample, l);
		/* Threads stopped for this tick are usually reported by now;
		 * the rest are picked up on the next wake-up. */
		drain_events(l);
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
	unwinder_free(l->uw);
	free(l);
	return rc;
}
