/* session.c: one profile of one target (see session.h). */
#include "session.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "log.h"
#include "profile.h"
#include "sprofd.h"
#include "stacks.h"
#include "symbols.h"
#include "util.h"

/* Addresses waiting for the symbolizer thread. Symbolizing a new module can
 * take tens of milliseconds (libdw reads its DWARF); done on the tracing
 * thread it would delay ticks and the target's signals. */
struct symq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t *v;
	size_t n, cap;
	bool done;
	struct u64map *queued;   /* tracing thread only: addresses already sent */
};

struct session {
	struct session_opts o;
	struct target t;
	struct stacktab *stacks;
	struct strtab *strs;
	struct symbolizer *sym;
	struct sampler_stats stats;
	pthread_t thread, symthread;
	bool symthread_running;
	struct symq q;
	sem_t attached;
	int attach_code;
	int stop_fd, done_fd;
	int rc;
	uint64_t start_time;
	char comm[64];
};

/* Queues the addresses of a new stack not queued before (tracing thread). */
static void queue_new_stack(void *ctx, const uint64_t *pcs, int n)
{
	struct session *s = ctx;
	struct symq *q = &s->q;
	bool any = false;

	pthread_mutex_lock(&q->mu);
	for (int i = 0; i < n; i++) {
		if (u64map_get(q->queued, pcs[i], NULL))
			continue;
		u64map_put(q->queued, pcs[i], 1);
		xgrow((void **)&q->v, &q->cap, q->n + 1, sizeof(*q->v));
		q->v[q->n++] = pcs[i];
		any = true;
	}
	if (any)
		pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* The symbolizer thread: resolves queued addresses while their modules
 * are surely mapped (a library may be unloaded, or the target may exit,
 * before the profile is written). */
static void *symbolize_main(void *arg)
{
	struct session *s = arg;
	struct symq *q = &s->q;
	uint64_t *batch = NULL;
	size_t bcap = 0;

	for (;;) {
		size_t n;

		pthread_mutex_lock(&q->mu);
		while (q->n == 0 && !q->done)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->n == 0 && q->done) {
			pthread_mutex_unlock(&q->mu);
			break;
		}
		n = q->n;
		xgrow((void **)&batch, &bcap, n, sizeof(*batch));
		memcpy(batch, q->v, n * sizeof(*batch));
		q->n = 0;
		pthread_mutex_unlock(&q->mu);
		for (size_t i = 0; i < n; i++) {
			const struct sym_frame *f;
			symbolizer_lookup(s->sym, batch[i], &f);
		}
	}
	free(batch);
	return NULL;
}

/* Lets the symbolizer thread finish what is queued, and waits for it. */
static void symthread_finish(struct session *s)
{
	if (!s->symthread_running)
		return;
	pthread_mutex_lock(&s->q.mu);
	s->q.done = true;
	pthread_cond_signal(&s->q.cv);
	pthread_mutex_unlock(&s->q.mu);
	pthread_join(s->symthread, NULL);
	s->symthread_running = false;
}

/* Gives the tracing thread the lowest real-time priority, or failing that
 * a high nice value. A target thread that stops for a sample stays stopped
 * until this thread is scheduled to resume it; on a saturated machine a
 * normal thread can wait milliseconds for a CPU, and the target with it.
 * The thread sleeps between events and each event is microseconds of work,
 * so it takes little from the machine. Threads it creates would inherit the
 * policy, so it must be called after the symbolizer thread exists. */
static void raise_priority(void)
{
	struct sched_param sp = { .sched_priority = 1 };

	if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0) {
		log_debug("tracing thread runs at real-time priority 1 (SCHED_FIFO)");
		return;
	}
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), -10) == 0)
		log_debug("tracing thread runs at nice -10");
}

/* The tracing thread: attach, sample, and end, which detaches. */
static void *session_main(void *arg)
{
	struct session *s = arg;
	struct sampler_conf c;

	s->attach_code = target_attach(&s->t, s->o.pid);
	memcpy(s->comm, s->t.comm, sizeof(s->comm));
	if (s->attach_code != EXIT_OK) {
		sem_post(&s->attached);
		return NULL;
	}
	s->start_time = (uint64_t)time(NULL);
	/* Read the maps now: if the target exits mid-profile, its modules
	 * are still known. */
	s->sym = symbolizer_new(s->o.pid, s->strs);
	if (s->sym)
		symbolizer_set_opts(s->sym, &s->o.sym);
	if (s->sym && pthread_create(&s->symthread, NULL, symbolize_main, s) == 0)
		s->symthread_running = true;
	sem_post(&s->attached);

	raise_priority();
	c.hz = s->o.hz;
	c.duration_ns = (uint64_t)(s->o.duration * 1e9);
	c.max_depth = s->o.max_depth;
	c.stack_cap = s->o.stack_cap;
	c.mode = s->o.mode;
	c.unwind_ptrace = s->o.unwind_ptrace;
	c.stop_fd = s->stop_fd;
	s->rc = sampler_run(&s->t, &c, s->stacks, s->symthread_running ? queue_new_stack : NULL,
			    s, &s->stats);
	eventfd_write(s->done_fd, 1);
	/* Returning ends this thread; the kernel detaches what is left. */
	return NULL;
}

struct session *session_start(const struct session_opts *o, int *code)
{
	struct session *s = xcalloc(1, sizeof(*s));
	int err;

	s->o = *o;
	s->stacks = stacktab_new();
	s->strs = strtab_new();
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	sem_init(&s->attached, 0, 0);
	pthread_mutex_init(&s->q.mu, NULL);
	pthread_cond_init(&s->q.cv, NULL);
	s->q.queued = u64map_new();
	if (s->stop_fd < 0 || s->done_fd < 0) {
		log_err("cannot create an eventfd: %s", strerror(errno));
		*code = EXIT_INTERNAL;
		session_free(s);
		return NULL;
	}
	err = pthread_create(&s->thread, NULL, session_main, s);
	if (err) {
		log_err("cannot start the tracing thread: %s", strerror(err));
		*code = EXIT_INTERNAL;
		session_free(s);
		return NULL;
	}
	while (sem_wait(&s->attached) < 0 && errno == EINTR)
		;
	if (s->attach_code != EXIT_OK) {
		pthread_join(s->thread, NULL);
		*code = s->attach_code;
		s->thread = 0;
		session_free(s);
		return NULL;
	}
	*code = EXIT_OK;
	return s;
}

void session_stop(struct session *s)
{
	eventfd_write(s->stop_fd, 1);
}

int session_done_fd(const struct session *s)
{
	return s->done_fd;
}

int session_join(struct session *s)
{
	if (s->thread) {
		pthread_join(s->thread, NULL);
		s->thread = 0;
	}
	symthread_finish(s);
	return s->rc;
}

/* Adapts symbolizer_lookup to the profile builder's callback. */
static int lookup_cb(void *ctx, uint64_t addr, const struct sym_frame **frames)
{
	static const struct sym_frame unknown = { .func = "[unknown]", .file = "", .module = "" };

	/* Without a symbolizer (the maps could not be read) nothing has a name. */
	if (!ctx) {
		*frames = &unknown;
		return 1;
	}
	return symbolizer_lookup(ctx, addr, frames);
}

struct profile *session_profile(struct session *s)
{
	struct profile_meta m;

	if (stacktab_total(s->stacks) == 0)
		return NULL;
	memset(&m, 0, sizeof(m));
	m.pid = s->o.pid;
	memcpy(m.comm, s->comm, sizeof(m.comm));
	m.nthreads = s->t.threads_seen;
	m.duration = (double)(s->stats.end_ns - s->stats.start_ns) / 1e9;
	m.hz = s->o.hz;
	m.ticks = s->stats.ticks;
	m.missed_ticks = s->stats.missed_ticks;
	m.truncated = s->stats.truncated;
	m.start_time = s->start_time;
	return profile_build(s->stacks, lookup_cb, s->sym, &m, &s->o.prof);
}

const char *session_comm(const struct session *s)
{
	return s->comm;
}

const struct sampler_stats *session_stats(const struct session *s)
{
	return &s->stats;
}

int session_target_gone(const struct session *s, int *status)
{
	if (status)
		*status = s->t.exit_status;
	return s->t.gone;
}

int session_target_execed(const struct session *s)
{
	return s->t.execed;
}

void session_free(struct session *s)
{
	if (!s)
		return;
	if (s->thread) {
		session_stop(s);
		pthread_join(s->thread, NULL);
	}
	symthread_finish(s);
	target_fini(&s->t);
	symbolizer_free(s->sym);
	stacktab_free(s->stacks);
	strtab_free(s->strs);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	if (s->done_fd >= 0)
		close(s->done_fd);
	sem_destroy(&s->attached);
	pthread_mutex_destroy(&s->q.mu);
	pthread_cond_destroy(&s->q.cv);
	free(s->q.v);
	u64map_free(s->q.queued);
	free(s);
}
