/* tidstate.c: per-thread state of one stage, keyed by tid (see
 * tidstate.h). */
#include "tidstate.h"

#include <stdint.h>
#include <stdlib.h>

#include "attach.h"
#include "log.h"
#include "util.h"

struct tidstate {
	struct target *t;
	struct u64map *map;   /* tid -> entry (a pointer) */
	size_t size;
	void (*init)(void *st, pid_t tid);
	void (*fini)(void *st);
	bool watching;
};

static void drop(struct tidstate *ts, pid_t tid)
{
	uint64_t v;

	if (!u64map_get(ts->map, (uint64_t)(uint32_t)tid, &v))
		return;
	u64map_del(ts->map, (uint64_t)(uint32_t)tid);
	if (ts->fini)
		ts->fini((void *)(uintptr_t)v);
	free((void *)(uintptr_t)v);
}

/* attach's report: a thread born or gone. Either way, whatever the table
 * holds for that tid belongs to a thread that is no more (a birth under a
 * known tid means its exit went unseen). */
static void on_thread(void *ctx, pid_t tid, enum thread_event ev)
{
	(void)ev;
	drop(ctx, tid);
}

struct tidstate *tidstate_new(struct target *t, size_t size, void (*init)(void *st, pid_t tid),
			      void (*fini)(void *st))
{
	struct tidstate *ts = xcalloc(1, sizeof(*ts));

	*ts = (struct tidstate){ .t = t, .map = u64map_new(), .size = size, .init = init,
				 .fini = fini };
	ts->watching = target_watch(t, on_thread, ts) == 0;
	if (!ts->watching)
		log_warn("tidstate: more than %d stages watch one target; the state of "
			 "threads that exit is kept until the session ends",
			 TARGET_MAX_WATCHERS);
	return ts;
}

void *tidstate_find(struct tidstate *ts, pid_t tid)
{
	uint64_t v;

	return u64map_get(ts->map, (uint64_t)(uint32_t)tid, &v) ? (void *)(uintptr_t)v : NULL;
}

void *tidstate_get(struct tidstate *ts, pid_t tid)
{
	void *st = tidstate_find(ts, tid);

	if (st)
		return st;
	st = xcalloc(1, ts->size);
	if (ts->init)
		ts->init(st, tid);
	u64map_put(ts->map, (uint64_t)(uint32_t)tid, (uint64_t)(uintptr_t)st);
	return st;
}

bool tidstate_next(struct tidstate *ts, size_t *pos, pid_t *tid, void **st)
{
	uint64_t k, v;

	if (!u64map_next(ts->map, pos, &k, &v))
		return false;
	*tid = (pid_t)(uint32_t)k;
	*st = (void *)(uintptr_t)v;
	return true;
}

size_t tidstate_count(const struct tidstate *ts)
{
	return u64map_count(ts->map);
}

void tidstate_free(struct tidstate *ts)
{
	size_t pos = 0;
	uint64_t k, v;

	if (!ts)
		return;
	if (ts->watching)
		target_unwatch(ts->t, on_thread, ts);
	while (u64map_next(ts->map, &pos, &k, &v)) {
		if (ts->fini)
			ts->fini((void *)(uintptr_t)v);
		free((void *)(uintptr_t)v);
	}
	u64map_free(ts->map);
	free(ts);
}
