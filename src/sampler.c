/* sampler.c: the tick loop (see sampler.h). */
#include "sampler.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "attach.h"
#include "capture.h"
#include "log.h"
#include "stacks.h"
#include "unwind.h"
#include "util.h"

/* Captures wait here until the batch of stops is handled; bounded so a
 * target with thousands of runnable threads cannot balloon our memory. */
#define CAPTURE_BATCH 64

struct loop {
	struct target *t;
	const struct sampler_conf *c;
	struct stacktab *st;
	sampler_new_stack_fn on_new;
	void *ctx;
	struct sampler_stats *stats;
	struct unwinder *uw;
	struct capture caps[CAPTURE_BATCH];
	size_t ncaps;
	uint64_t *pcs;
};

/* Unwinds the queued captures and counts their stacks. */
static void flush_captures(struct loop *l)
{
	for (size_t i = 0; i < l->ncaps; i++) {
		const struct capture *c = &l->caps[i];
		bool trunc = false;
		int n = unwinder_unwind(l->uw, c, l->pcs, l->c->max_depth, &trunc);

		if (n <= 0) {
			l->stats->lost++;
			continue;
		}
		if (trunc)
			l->stats->truncated++;
		l->stats->samples++;
		if (stacktab_add(l->st, l->pcs, (uint32_t)n, c->tid, trunc, 1) && l->on_new)
			l->on_new(l->ctx, l->pcs, n);
	}
	l->ncaps = 0;
}

/* Handles every pending ptrace event; captures threads that stopped for us. */
static void drain_events(struct loop *l)
{
	struct thread *th;

	while ((th = target_next_stop(l->t))) {
		uint64_t t0 = mono_ns(), dt;

		if (l->ncaps == CAPTURE_BATCH) {
			/* Keep this thread stopped only as long as the flush. */
			flush_captures(l);
			t0 = mono_ns();
		}
		if (capture_take(&l->caps[l->ncaps], l->t->pid, th->tid, unwinder_maps(l->uw)) == 0) {
			l->ncaps++;
			th->samples++;
		}
		target_resume(l->t, th);
		dt = mono_ns() - t0;
		l->stats->pause_total_ns += dt;
		if (dt > l->stats->pause_max_ns)
			l->stats->pause_max_ns = dt;
	}
}

/* One tick: interrupt every running thread not already being interrupted. */
static void tick(struct loop *l)
{
	for (size_t i = 0; i < l->t->nthreads; i++) {
		struct thread *th = &l->t->threads[i];
		if (th->state == TS_RUNNING)
			target_interrupt(l->t, th);
	}
}

int sampler_run(struct target *t, const struct sampler_conf *c, struct stacktab *st,
		sampler_new_stack_fn on_new, void *ctx, struct sampler_stats *out)
{
	struct loop l = { .t = t, .c = c, .st = st, .on_new = on_new, .ctx = ctx, .stats = out };
	struct itimerspec its;
	struct pollfd pfd[3];
	uint64_t period = 1000000000ull / c->hz, deadline = 0;
	sigset_t chld;
	int tfd, sfd, rc = -1;
	bool stop = false;

	memset(out, 0, sizeof(*out));
	l.uw = unwinder_new(t->pid);
	if (!l.uw)
		return -1;
	l.pcs = xmalloc(sizeof(uint64_t) * (size_t)c->max_depth);
	for (size_t i = 0; i < CAPTURE_BATCH; i++)
		capture_init(&l.caps[i], c->stack_cap);

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

	while (!stop) {
		struct signalfd_siginfo si;
		uint64_t exp;
		int timeout = -1;

		if (deadline) {
			uint64_t now = mono_ns();
			timeout = now >= deadline ? 0 : (int)((deadline - now) / 1000000) + 1;
		}
		if (poll(pfd, 3, timeout) < 0 && errno != EINTR) {
			log_err("sampler: poll: %s", strerror(errno));
			break;
		}
		while (read(sfd, &si, sizeof(si)) == sizeof(si))
			;
		drain_events(&l);
		if (pfd[2].revents & POLLIN)
			stop = true;
		if (t->gone || t->execed)
			stop = true;
		if (deadline && mono_ns() >= deadline)
			stop = true;
		if (!stop && read(tfd, &exp, sizeof(exp)) == sizeof(exp)) {
			out->ticks++;
			out->missed_ticks += exp - 1;
			tick(&l);
		}
		/* Threads stopped for this tick are usually reported by now;
		 * the rest are picked up on the next wake-up. */
		drain_events(&l);
		flush_captures(&l);
	}
	target_release(t, 100000000ull);
	/* Stops reaped while releasing were resumed without a capture. */
	flush_captures(&l);
	out->end_ns = mono_ns();
	rc = 0;
out:
	if (tfd >= 0)
		close(tfd);
	if (sfd >= 0)
		close(sfd);
	for (size_t i = 0; i < CAPTURE_BATCH; i++)
		capture_fini(&l.caps[i]);
	free(l.pcs);
	unwinder_free(l.uw);
	return rc;
}
