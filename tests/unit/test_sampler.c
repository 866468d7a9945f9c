/* test_sampler.c: the sampler's per-thread state, kept apart from attach's
 * thread table (tidstate) and dropped on attach's word (target_watch):
 * first with events made up here, then on a real tracee whose thread
 * exits and whose tid the kernel hands to a new thread, which must start
 * with nothing of the old one's state. The tracee mode ("reuse") lives
 * with the others in test_unwind.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attach.h"
#include "sprofd.h"
#include "suites.h"
#include "tidstate.h"
#include "tracee_helper.h"
#include "util.h"

/* A stage's state of one thread, with what the table did to it. */
struct probe {
	pid_t tid;
	int mark;
};

static int inits, finis, last_fini_mark;
static pid_t last_fini_tid;

static void probe_init(void *p, pid_t tid)
{
	struct probe *pr = p;

	ck_assert_int_eq(pr->mark, 0);   /* zeroed before init */
	pr->tid = tid;
	inits++;
}

static void probe_fini(void *p)
{
	struct probe *pr = p;

	finis++;
	last_fini_mark = pr->mark;
	last_fini_tid = pr->tid;
}

static void counters_reset(void)
{
	inits = finis = last_fini_mark = 0;
	last_fini_tid = 0;
}

/* What attach tells, as attach tells it. */
static void tell(struct target *t, pid_t tid, enum thread_event ev)
{
	for (size_t i = 0; i < t->nwatch; i++)
		t->watch[i].fn(t->watch[i].ctx, tid, ev);
}

START_TEST(test_table)
{
	struct target t;
	struct tidstate *ts;
	struct probe *a, *b;
	size_t pos = 0, seen = 0;
	pid_t tid;
	void *st;

	memset(&t, 0, sizeof(t));
	counters_reset();
	ts = tidstate_new(&t, sizeof(struct probe), probe_init, probe_fini);
	ck_assert_uint_eq(t.nwatch, 1);
	ck_assert_ptr_null(tidstate_find(ts, 5));
	a = tidstate_get(ts, 5);
	a->mark = 42;
	ck_assert_ptr_eq(tidstate_get(ts, 5), a);
	ck_assert_ptr_eq(tidstate_find(ts, 5), a);
	ck_assert_int_eq(inits, 1);
	ck_assert_int_eq(a->tid, 5);
	b = tidstate_get(ts, 6);
	b->mark = 7;
	ck_assert_uint_eq(tidstate_count(ts), 2);
	while (tidstate_next(ts, &pos, &tid, &st)) {
		ck_assert_ptr_eq(st, tid == 5 ? (void *)a : (void *)b);
		seen++;
	}
	ck_assert_uint_eq(seen, 2);

	/* Gone: freed, the others untouched; the tid then starts afresh. */
	tell(&t, 5, THREAD_GONE);
	ck_assert_int_eq(finis, 1);
	ck_assert_int_eq(last_fini_mark, 42);
	ck_assert_ptr_null(tidstate_find(ts, 5));
	ck_assert_ptr_eq(tidstate_find(ts, 6), b);
	a = tidstate_get(ts, 5);
	ck_assert_int_eq(a->mark, 0);
	ck_assert_int_eq(inits, 3);
	/* A birth under a tid with state: its exit went unseen; dropped. */
	a->mark = 9;
	tell(&t, 5, THREAD_BORN);
	ck_assert_int_eq(finis, 2);
	ck_assert_int_eq(last_fini_mark, 9);
	ck_assert_ptr_null(tidstate_find(ts, 5));
	/* Events about threads without state change nothing. */
	tell(&t, 99, THREAD_GONE);
	tell(&t, 99, THREAD_BORN);
	ck_assert_int_eq(finis, 2);

	tidstate_free(ts);
	ck_assert_int_eq(finis, 3);
	ck_assert_int_eq(last_fini_mark, 7);
	ck_assert_uint_eq(t.nwatch, 0);
	tidstate_free(NULL);
}
END_TEST

/* Several stages keep their own tables on one target; one too many still
 * works, only without hearing of exits. */
START_TEST(test_several_stages)
{
	struct tidstate *ts[TARGET_MAX_WATCHERS + 1];
	struct target t;

	memset(&t, 0, sizeof(t));
	counters_reset();
	for (int i = 0; i <= TARGET_MAX_WATCHERS; i++) {
		ts[i] = tidstate_new(&t, sizeof(struct probe), probe_init, probe_fini);
		((struct probe *)tidstate_get(ts[i], 3))->mark = i + 1;
	}
	ck_assert_uint_eq(t.nwatch, TARGET_MAX_WATCHERS);
	ck_assert_ptr_ne(tidstate_get(ts[0], 3), tidstate_get(ts[1], 3));
	tell(&t, 3, THREAD_GONE);
	ck_assert_int_eq(finis, TARGET_MAX_WATCHERS);
	for (int i = 0; i < TARGET_MAX_WATCHERS; i++)
		ck_assert_ptr_null(tidstate_find(ts[i], 3));
	ck_assert_ptr_nonnull(tidstate_find(ts[TARGET_MAX_WATCHERS], 3));
	/* Freed out of order: each takes only its own watch away. */
	tidstate_free(ts[1]);
	ck_assert_uint_eq(t.nwatch, TARGET_MAX_WATCHERS - 1);
	tell(&t, 4, THREAD_GONE);
	tidstate_free(ts[TARGET_MAX_WATCHERS]);
	ck_assert_int_eq(finis, TARGET_MAX_WATCHERS + 1);
	ck_assert_int_eq(last_fini_mark, TARGET_MAX_WATCHERS + 1);
	tidstate_free(ts[0]);
	tidstate_free(ts[2]);
	tidstate_free(ts[3]);
	ck_assert_uint_eq(t.nwatch, 0);
}
END_TEST

/* ---- On a real tracee ---- */

struct event {
	pid_t tid;
	enum thread_event ev;
};

static struct target tgt;
static struct event events[64];
static size_t nevents;

static void record(void *ctx, pid_t tid, enum thread_event ev)
{
	if (nevents < sizeof(events) / sizeof(events[0]))
		events[nevents++] = (struct event){ tid, ev };
}

static void setup(void)
{
	memset(&tgt, 0, sizeof(tgt));
	nevents = 0;
	counters_reset();
}

static void teardown(void)
{
	tracee_reap_all();
	target_fini(&tgt);
}

/* Handles the target's events until the tracee says want (a line that
 * starts so), copied to line. */
static void pump_until(struct tracee *tr, const char *want, char *line, size_t size)
{
	uint64_t deadline = mono_ns() + 5000000000ull;
	struct thread *th;

	for (;;) {
		while ((th = target_next_stop(&tgt)))
			target_resume(&tgt, th);
		if (tracee_readable(tr, 1)) {
			ck_assert_int_eq(tracee_read(tr, line, size, 1000), 0);
			ck_assert_msg(strncmp(line, want, strlen(want)) == 0, "\"%s\", not \"%s\"",
				      line, want);
			return;
		}
		ck_assert_msg(mono_ns() < deadline, "no \"%s\" from the tracee", want);
	}
}

/* Handles the target's events until attach holds tid (held) or not. */
static void pump_until_held(pid_t tid, bool held)
{
	uint64_t deadline = mono_ns() + 5000000000ull;
	struct thread *th;

	while ((target_find(&tgt, tid) != NULL) != held) {
		while ((th = target_next_stop(&tgt)))
			target_resume(&tgt, th);
		usleep(1000);
		ck_assert_msg(mono_ns() < deadline, "thread %d still %s", (int)tid,
			      held ? "not held" : "held");
	}
}

/* Starts a thread in the tracee ('n' or 'r'); returns its tid once attach
 * holds it. */
static pid_t start_thread(struct tracee *tr, char cmd)
{
	unsigned long long tid;
	char line[64];

	ck_assert_int_eq(tracee_send(tr, cmd), 0);
	pump_until(tr, "thread ", line, sizeof(line));
	ck_assert_int_eq(sscanf(line, "thread %llx", &tid), 1);
	pump_until_held((pid_t)tid, true);
	return (pid_t)tid;
}

/* Ends the tracee's thread and waits until attach saw it go. */
static void end_thread(struct tracee *tr, pid_t tid)
{
	char line[64];

	ck_assert_int_eq(tracee_send(tr, 'x'), 0);
	pump_until(tr, "joined", line, sizeof(line));
	pump_until_held(tid, false);
}

/* A thread exits and a new one gets its tid: attach says so (gone, born),
 * and the stage's state of the old thread is gone with it. */
START_TEST(test_tid_reused)
{
	struct tidstate *ts;
	struct tracee tr;
	struct probe *pr;
	char line[64];
	pid_t tid, again = 0;
	size_t mark;

	ck_assert_int_eq(tracee_start(&tr, "reuse"), 0);
	ck_assert_int_eq(tracee_read(&tr, line, sizeof(line), 5000), 0);
	ck_assert_str_eq(line, "ready");
	ck_assert_int_eq(target_attach(&tgt, tr.pid), EXIT_OK);
	ck_assert_int_eq(target_watch(&tgt, record, NULL), 0);
	ts = tidstate_new(&tgt, sizeof(struct probe), probe_init, probe_fini);

	tid = start_thread(&tr, 'n');
	ck_assert_uint_ge(nevents, 1);
	ck_assert_int_eq(events[nevents - 1].tid, tid);
	ck_assert_int_eq(events[nevents - 1].ev, THREAD_BORN);
	pr = tidstate_get(ts, tid);
	pr->mark = 42;
	end_thread(&tr, tid);
	ck_assert_int_eq(events[nevents - 1].tid, tid);
	ck_assert_int_eq(events[nevents - 1].ev, THREAD_GONE);
	ck_assert_ptr_null(tidstate_find(ts, tid));
	ck_assert_int_eq(finis, 1);
	ck_assert_int_eq(last_fini_mark, 42);
	ck_assert_int_eq(last_fini_tid, tid);

	/* Another process may take the tid first: try again, a few times. */
	for (int tries = 0; tries < 20 && again != tid; tries++) {
		mark = nevents;
		again = start_thread(&tr, 'r');
		ck_assert_uint_gt(nevents, mark);
		ck_assert_int_eq(events[nevents - 1].tid, again);
		ck_assert_int_eq(events[nevents - 1].ev, THREAD_BORN);
		if (again != tid)
			end_thread(&tr, again);
	}
	ck_assert_msg(again == tid, "the tid %d never came back", (int)tid);
	pr = tidstate_get(ts, tid);
	ck_assert_int_eq(pr->mark, 0);
	ck_assert_int_eq(pr->tid, tid);
	pr->mark = 43;
	tidstate_free(ts);
	ck_assert_int_eq(last_fini_mark, 43);
	target_unwatch(&tgt, record, NULL);
	ck_assert_uint_eq(tgt.nwatch, 0);
}
END_TEST

Suite *suite_sampler(void)
{
	Suite *s = suite_create("sampler");
	TCase *tc = tcase_create("tidstate");

	tcase_add_test(tc, test_table);
	tcase_add_test(tc, test_several_stages);
	suite_add_tcase(s, tc);

	tc = tcase_create("reuse");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_tid_reused);
	suite_add_tcase(s, tc);
	return s;
}
