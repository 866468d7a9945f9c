/* tidstate.h: the per-thread state of one stage of a session (the
 * sampler's last stacks and open /proc files; a Python frame reader's
 * thread states), keyed by tid, kept apart from attach's own thread table.
 * An entry is made when the stage first asks for the thread and dropped
 * when attach reports the thread gone (target_watch), so a tid the kernel
 * hands to a new thread never finds the old thread's state. Several stages
 * each keep a table of their own on the same target. The table owns its
 * entries: each is size bytes, zeroed, then init (if set) runs on it;
 * fini (if set) runs before it is freed. Tracing thread only. */
#ifndef SPROFD_TIDSTATE_H
#define SPROFD_TIDSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct target;
struct tidstate;

/* A table for the threads of t, told of their exits from now on. */
struct tidstate *tidstate_new(struct target *t, size_t size, void (*init)(void *st, pid_t tid),
			      void (*fini)(void *st));
/* The state of tid, made on first use. Valid until the thread is reported
 * gone (any target_* call may report it) or the table is freed. */
void *tidstate_get(struct tidstate *ts, pid_t tid);
/* The state of tid if there is one, else NULL. */
void *tidstate_find(struct tidstate *ts, pid_t tid);
/* Iteration over every entry: *pos starts at 0; false when done. No entry
 * may be added or dropped meanwhile. */
bool tidstate_next(struct tidstate *ts, size_t *pos, pid_t *tid, void **st);
size_t tidstate_count(const struct tidstate *ts);
/* Drops every entry and stops watching the target (which must still be
 * there). Accepts NULL. */
void tidstate_free(struct tidstate *ts);

#endif
