/* test_session.c: a session is one profile of one target, and touches
 * nothing of the process it runs in but its own tracing thread: the
 * open-file limit (raised once at start-up by the commands, never by a
 * session) and the signal mask of the thread that started it are as they
 * were, while the session samples every thread of a real tracee and lets
 * them all go. An end-to-end test sees sprofd from outside, where the
 * command has already raised the limit and set the mask. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "profile.h"
#include "session.h"
#include "sprofd.h"
#include "suites.h"
#include "tracee_helper.h"

static struct rlimit saved;

static void setup(void)
{
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
}

static void teardown(void)
{
	tracee_reap_all();
	setrlimit(RLIMIT_NOFILE, &saved);
}

START_TEST(test_leaves_process_alone)
{
	struct session_opts o = {
		.hz = 200, .duration = 0.3, .max_depth = SPROFD_DEPTH_DEFAULT,
		.stack_cap = SPROFD_STACK_CAP_DEFAULT, .mode = MODE_WALL,
	};
	struct rlimit lim, after;
	sigset_t before_mask, after_mask;
	struct session *s;
	struct profile *p;
	struct tracee tr;
	pid_t tids[8];
	char line[64];
	int code = -1, n;

	/* A soft limit below the hard one (left as it is: valgrind allows no
	 * other): a session must not raise it. */
	lim = saved;
	ck_assert_msg(lim.rlim_max > 512, "hard open-file limit %llu",
		      (unsigned long long)lim.rlim_max);
	lim.rlim_cur = 512;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &lim), 0);
	ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, NULL, &before_mask), 0);

	ck_assert_int_eq(tracee_start(&tr, "control"), 0);
	ck_assert_int_eq(tracee_read(&tr, line, sizeof(line), 5000), 0);
	ck_assert_str_eq(line, "ready");
	n = proc_tasks(tr.pid, tids, 8);
	ck_assert_int_eq(n, 4);
	o.pid = tr.pid;
	/* Long enough for several ticks after the attach, which under
	 * valgrind takes most of 0.3 s: stretched as the e2e tests' waits are. */
	{
		const char *scale = getenv("SPROFD_TEST_TIMESCALE");

		if (scale && atof(scale) > 1)
			o.duration *= atof(scale);
	}
	s = session_start(&o, &code);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(session_comm(s), "run-unit");
	ck_assert_int_eq(session_join(s), 0);

	/* Every thread sampled (wall mode counts idle ones at every tick) and
	 * let go. */
	ck_assert_uint_gt(session_stats(s)->samples, (uint64_t)n);
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(proc_status_long(tids[i], "TracerPid:"), 0);
	p = session_profile(s);
	ck_assert_ptr_nonnull(p);
	profile_free(p);
	session_free(s);

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &after), 0);
	ck_assert_uint_eq(after.rlim_cur, lim.rlim_cur);
	ck_assert_uint_eq(after.rlim_max, lim.rlim_max);
	ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, NULL, &after_mask), 0);
	for (int sig = 1; sig < SIGRTMIN; sig++)
		ck_assert_msg(sigismember(&after_mask, sig) == sigismember(&before_mask, sig),
			      "signal %d's mask changed", sig);
	/* And the tracee runs: it answers. */
	ck_assert_int_eq(tracee_send(&tr, 'p'), 0);
	ck_assert_int_eq(tracee_read(&tr, line, sizeof(line), 3000), 0);
	ck_assert_str_eq(line, "pong");
}
END_TEST

Suite *suite_session(void)
{
	Suite *s = suite_create("session");
	TCase *tc = tcase_create("session");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_leaves_process_alone);
	suite_add_tcase(s, tc);
	return s;
}
