/* test_procfs.c: fields of /proc/PID/status from hand-written text
 * (lists, nesting, missing and look-alike keys, the end of the text, numbers
 * too big, words that are not numbers); stat lines whose command names hold
 * spaces, parentheses and newlines, cut short or malformed; schedstat; and
 * the readers on this very process, its threads and a child. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procfs.h"
#include "suites.h"

/* The top of a real status file, of a process in a nested pid namespace. */
static const char status_text[] =
	"Name:\tpython3\n"
	"Umask:\t0022\n"
	"State:\tS (sleeping)\n"
	"Tgid:\t4242\n"
	"Ngid:\t0\n"
	"Pid:\t4242\n"
	"PPid:\t4100\n"
	"TracerPid:\t0\n"
	"Uid:\t1000\t1001\t1002\t1003\n"
	"Gid:\t100\t100\t100\t100\n"
	"FDSize:\t64\n"
	"Groups:\t\n"
	"NStgid:\t4242\t17\t1\n"
	"NSpid:\t4242\t17\t1\n"
	"VmPeak:\t   23456 kB\n"
	"SigQ:\t0/127431\n";

/* Parses a NUL-terminated string. */
static int field(const char *text, const char *key, long *v, size_t max)
{
	return procfs_status_field(text, strlen(text), key, v, max);
}

START_TEST(test_lists)
{
	long v[8];

	memset(v, 0xff, sizeof(v));
	ck_assert_int_eq(field(status_text, "Uid", v, 8), 4);
	ck_assert_int_eq(v[0], 1000);
	ck_assert_int_eq(v[1], 1001);
	ck_assert_int_eq(v[2], 1002);
	ck_assert_int_eq(v[3], 1003);
	ck_assert_int_eq(v[4], -1);    /* nothing past the count is written */
	/* The key may carry its colon, as the file has it. */
	ck_assert_int_eq(field(status_text, "Gid:", v, 8), 4);
	ck_assert_int_eq(v[0], 100);
	ck_assert_int_eq(field(status_text, "TracerPid", v, 8), 1);
	ck_assert_int_eq(v[0], 0);
	ck_assert_int_eq(field(status_text, "PPid", v, 1), 1);
	ck_assert_int_eq(v[0], 4100);
	/* Numbers followed by a unit: the unit ends the list. */
	ck_assert_int_eq(field(status_text, "VmPeak", v, 8), 1);
	ck_assert_int_eq(v[0], 23456);
	/* Leading zeros are decimal, not octal. */
	ck_assert_int_eq(field(status_text, "Umask", v, 8), 1);
	ck_assert_int_eq(v[0], 22);
}
END_TEST

/* NSpid lists the pid in each namespace, outermost first: the last is the
 * process's own view. max cuts the list. */
START_TEST(test_nested)
{
	long v[4] = { 0 };

	ck_assert_int_eq(field(status_text, "NSpid", v, 4), 3);
	ck_assert_int_eq(v[0], 4242);
	ck_assert_int_eq(v[1], 17);
	ck_assert_int_eq(v[2], 1);
	memset(v, 0, sizeof(v));
	ck_assert_int_eq(field(status_text, "NSpid", v, 2), 2);
	ck_assert_int_eq(v[0], 4242);
	ck_assert_int_eq(v[1], 17);
	ck_assert_int_eq(v[2], 0);
	/* max 0 asks only whether the field is there. */
	ck_assert_int_eq(field(status_text, "NSpid", v, 0), 0);
	ck_assert_int_eq(field(status_text, "NSpidx", v, 0), -1);
}
END_TEST

START_TEST(test_missing)
{
	long v[4] = { 7, 7, 7, 7 };

	ck_assert_int_eq(field(status_text, "CapEff", v, 4), -1);
	ck_assert_int_eq(v[0], 7);
	ck_assert_int_eq(field("", "Uid", v, 4), -1);
	ck_assert_int_eq(procfs_status_field(status_text, 0, "Name", v, 4), -1);
	/* No name at all matches nothing, not a line that starts with ':'. */
	ck_assert_int_eq(field(":\t5\n", "", v, 4), -1);
	ck_assert_int_eq(field(":\t5\n", ":", v, 4), -1);
	/* Present but without numbers: 0, not -1. */
	ck_assert_int_eq(field(status_text, "Groups", v, 4), 0);
	ck_assert_int_eq(field(status_text, "State", v, 4), 0);
	ck_assert_int_eq(v[0], 7);
}
END_TEST

/* A key matches only a whole field name at the start of a line. */
START_TEST(test_lookalikes)
{
	long v[4] = { 0 };

	ck_assert_int_eq(field("Uidx:\t5\t6\nUid:\t7\t8\n", "Uid", v, 4), 2);
	ck_assert_int_eq(v[0], 7);
	ck_assert_int_eq(v[1], 8);
	ck_assert_int_eq(field("Uidx:\t5\n", "Uid:", v, 4), -1);
	ck_assert_int_eq(field("Uid:\t5\n", "Ui", v, 4), -1);
	ck_assert_int_eq(field("Uid:\t5\n", "Uidx", v, 4), -1);
	/* "Pid" is neither in "TracerPid" nor in "PPid". */
	ck_assert_int_eq(field("TracerPid:\t9\nPPid:\t3\n", "Pid", v, 4), -1);
	ck_assert_int_eq(field("TracerPid:\t9\nPPid:\t3\nPid:\t11\n", "Pid", v, 4), 1);
	ck_assert_int_eq(v[0], 11);
	/* A process named after a field does not give its value. */
	ck_assert_int_eq(field("Name:\tTracerPid: 1\nTracerPid:\t0\n", "TracerPid", v, 4), 1);
	ck_assert_int_eq(v[0], 0);
	ck_assert_int_eq(field("Name:\tx Uid:\t1\nUid:\t2\n", "Uid", v, 4), 1);
	ck_assert_int_eq(v[0], 2);
	/* The first line with the field wins. */
	ck_assert_int_eq(field("Uid:\t1\nUid:\t2\n", "Uid", v, 4), 1);
	ck_assert_int_eq(v[0], 1);
}
END_TEST

/* The text need not end in a newline nor a NUL: len is the end. */
START_TEST(test_end_of_text)
{
	static const char raw[] = { 'U', 'i', 'd', ':', '\t', '1', '2', '\t', '3', '4' };
	static const char nul[] = "Gid:\t1\0Uid:\t5\nUid:\t6";
	long v[4] = { 0 };

	ck_assert_int_eq(field("TracerPid:\t42", "TracerPid", v, 4), 1);
	ck_assert_int_eq(v[0], 42);
	ck_assert_int_eq(procfs_status_field(raw, sizeof(raw), "Uid", v, 4), 2);
	ck_assert_int_eq(v[0], 12);
	ck_assert_int_eq(v[1], 34);
	/* Cut in the middle of a number: what is there. */
	ck_assert_int_eq(procfs_status_field(raw, 9, "Uid", v, 4), 2);
	ck_assert_int_eq(v[1], 3);
	/* Cut right after the colon: the field, without numbers. */
	ck_assert_int_eq(procfs_status_field(raw, 4, "Uid", v, 4), 0);
	/* Cut inside the name: no field. */
	ck_assert_int_eq(procfs_status_field(raw, 3, "Uid", v, 4), -1);
	/* A NUL is just a byte: no line starts after it. */
	ck_assert_int_eq(procfs_status_field(nul, sizeof(nul) - 1, "Uid", v, 4), 1);
	ck_assert_int_eq(v[0], 6);
}
END_TEST

START_TEST(test_big_numbers)
{
	long v[4] = { 0 };

	ck_assert_int_eq(field("Uid:\t9223372036854775807\t1\n", "Uid", v, 4), 2);
	ck_assert_int_eq(v[0], LONG_MAX);
	ck_assert_int_eq(v[1], 1);
	/* One more does not fit: the list ends before it. */
	ck_assert_int_eq(field("Uid:\t5\t9223372036854775808\t1\n", "Uid", v, 4), 1);
	ck_assert_int_eq(v[0], 5);
	ck_assert_int_eq(field("NSpid:\t99999999999999999999999999999\n", "NSpid", v, 4), 0);
	ck_assert_int_eq(field("Uid:\t4294967295\n", "Uid", v, 4), 1);
	ck_assert_int_eq(v[0], 4294967295L);
}
END_TEST

/* A word that is not a whole number ends the list. */
START_TEST(test_not_numbers)
{
	long v[4] = { 0 };

	ck_assert_int_eq(field(status_text, "SigQ", v, 4), 0);
	ck_assert_int_eq(field("Uid:\t12ab\t5\n", "Uid", v, 4), 0);
	ck_assert_int_eq(field("Uid:\t-1\t5\n", "Uid", v, 4), 0);
	ck_assert_int_eq(field("Uid:\t+1\n", "Uid", v, 4), 0);
	ck_assert_int_eq(field("Uid:\t1\tx\t2\n", "Uid", v, 4), 1);
	ck_assert_int_eq(v[0], 1);
	/* Blanks of either kind, any number of them. */
	ck_assert_int_eq(field("Uid:  1 \t 2\t\t3   \n", "Uid", v, 4), 3);
	ck_assert_int_eq(v[2], 3);
}
END_TEST

START_TEST(test_read_self)
{
	long v[40];
	int n;

	ck_assert_int_eq(procfs_status_read(getpid(), "Uid", v, 4), 4);
	ck_assert_int_eq(v[0], (long)getuid());
	ck_assert_int_eq(v[1], (long)geteuid());
	ck_assert_int_eq(procfs_status_read(getpid(), "Gid:", v, 4), 4);
	ck_assert_int_eq(v[0], (long)getgid());
	ck_assert_int_eq(procfs_status_read(getpid(), "Tgid", v, 4), 1);
	ck_assert_int_eq(v[0], (long)getpid());
	n = procfs_status_read(getpid(), "NSpid", v, 40);
	ck_assert_int_ge(n, 1);
	ck_assert_int_eq(v[n - 1], (long)getpid());
	ck_assert_int_eq(procfs_status_read(getpid(), "NoSuchField", v, 4), -1);
	ck_assert_int_eq(procfs_status_read(INT_MAX, "Uid", v, 4), -1);
}
END_TEST

/* Another process: a child's parent is us. */
START_TEST(test_read_child)
{
	pid_t pid = fork();
	long v[2];

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	ck_assert_int_eq(procfs_status_read(pid, "PPid", v, 2), 1);
	ck_assert_int_eq(v[0], (long)getpid());
	ck_assert_int_eq(procfs_status_read(pid, "Pid", v, 2), 1);
	ck_assert_int_eq(v[0], (long)pid);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ck_assert_int_eq(procfs_status_read(pid, "Pid", v, 2), -1);
}
END_TEST

/* A real stat line of a thread of a process named "a) b (c" with flags
 * of a kernel thread, for the parser only. */
static const char stat_text[] =
	"4242 (a) b (c) S 1 4242 4242 0 -1 2129984 150 0 0 0 12 3 0 0 20 0 3 0 "
	"987654321 12345678 456 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 "
	"0 0 0 0 0 0 0 0 0\n";

static int stat_of(const char *text, struct procfs_stat *ps)
{
	return procfs_parse_stat(text, strlen(text), ps);
}

START_TEST(test_stat_fields)
{
	struct procfs_stat ps;

	ck_assert_int_eq(stat_of(stat_text, &ps), 0);
	/* The name runs from the first '(' to the last ')'. */
	ck_assert_str_eq(ps.comm, "a) b (c");
	ck_assert_int_eq(ps.state, 'S');
	ck_assert_int_eq(ps.ppid, 1);
	ck_assert_uint_eq(ps.flags, 2129984);
	ck_assert(ps.flags & PROCFS_PF_KTHREAD);
	ck_assert_uint_eq(ps.start, 987654321ull);
	ck_assert_int_eq(procfs_stat_state(stat_text, strlen(stat_text)), 'S');
	/* A name that looks like the fields after it changes nothing. */
	ck_assert_int_eq(stat_of("7 (x) R 1 2 3 4 5 6 7 8 9) Z 1 1 1 1 1 64 0 0 0 0 0 0 0 0 "
				 "0 0 0 0 55 1\n", &ps), 0);
	ck_assert_str_eq(ps.comm, "x) R 1 2 3 4 5 6 7 8 9");
	ck_assert_int_eq(ps.state, 'Z');
	ck_assert_int_eq(ps.ppid, 1);
	ck_assert_uint_eq(ps.flags, 64);
	ck_assert_uint_eq(ps.start, 55);
	/* A newline in the name is just a byte of it. */
	ck_assert_int_eq(stat_of("8 (new\nline) D 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9 0\n",
				 &ps), 0);
	ck_assert_str_eq(ps.comm, "new\nline");
	ck_assert_int_eq(ps.state, 'D');
	ck_assert_uint_eq(ps.start, 9);
}
END_TEST

/* Cut short, or not a stat line: refused, never read past the end. */
START_TEST(test_stat_malformed)
{
	struct procfs_stat ps;
	size_t full = strlen(stat_text);
	const char *start = strstr(stat_text, " 987654321 ");

	ck_assert_int_eq(stat_of("", &ps), -1);
	ck_assert_int_eq(stat_of("4242 no name S 1 2", &ps), -1);
	ck_assert_int_eq(stat_of("4242 (x)", &ps), -1);
	ck_assert_int_eq(stat_of("4242 (x) ", &ps), -1);
	ck_assert_int_eq(stat_of("4242 (x) S", &ps), -1);
	ck_assert_int_eq(stat_of("4242 )x( S 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9\n", &ps), -1);
	/* Flags and start time must be numbers. */
	ck_assert_int_eq(stat_of("1 (x) S 1 1 1 0 -1 0x40 0 0 0 0 0 0 0 0 20 0 1 0 9 0\n", &ps),
			 -1);
	/* So must the parent, and one no PID can be. */
	ck_assert_int_eq(stat_of("1 (x) S -1 1 1 0 -1 64 0 0 0 0 0 0 0 0 20 0 1 0 9 0\n", &ps),
			 -1);
	ck_assert_int_eq(stat_of("1 (x) S 4294967296 1 1 0 -1 64 0 0 0 0 0 0 0 0 20 0 1 0 9 0\n",
				 &ps), -1);
	ck_assert_int_eq(stat_of("1 (x) S 1 1 1 0 -1 64 0 0 0 0 0 0 0 0 20 0 1 0 -9 0\n", &ps),
			 -1);
	/* Every cut before the start time fails; from its end on, the fields
	 * needed are all in. */
	for (size_t n = 0; n < full; n++) {
		int rc = procfs_parse_stat(stat_text, n, &ps);

		if (n <= (size_t)(start - stat_text) + 1)
			ck_assert_msg(rc == -1, "cut at %zu parsed", n);
		else if (n >= (size_t)(start - stat_text) + 10)
			ck_assert_msg(rc == 0 && ps.start == 987654321ull, "cut at %zu: %d", n, rc);
	}
	/* The state alone needs only the name's end and one letter. */
	ck_assert_int_eq(procfs_stat_state("1 (a) b) T", 10), 'T');
	ck_assert_int_eq(procfs_stat_state("1 (a) b) T", 9), 0);
	ck_assert_int_eq(procfs_stat_state("1 (a b)T", 8), 0);
	ck_assert_int_eq(procfs_stat_state("no paren", 8), 0);
}
END_TEST

START_TEST(test_schedstat)
{
	uint64_t ns = 7;

	ck_assert_int_eq(procfs_parse_schedstat("123456789 4567 89\n", 18, &ns), 0);
	ck_assert_uint_eq(ns, 123456789ull);
	ck_assert_int_eq(procfs_parse_schedstat("18446744073709551615 0 0", 24, &ns), 0);
	ck_assert_uint_eq(ns, UINT64_MAX);
	ns = 7;
	ck_assert_int_eq(procfs_parse_schedstat("18446744073709551616 0 0", 24, &ns), -1);
	ck_assert_int_eq(procfs_parse_schedstat("", 0, &ns), -1);
	ck_assert_int_eq(procfs_parse_schedstat(" 1 2 3", 6, &ns), -1);
	ck_assert_uint_eq(ns, 7);
	/* len is the end: the digits after it are not read. */
	ck_assert_int_eq(procfs_parse_schedstat("12345", 2, &ns), 0);
	ck_assert_uint_eq(ns, 12);
}
END_TEST

static void *named_thread(void *arg)
{
	int *fd = arg;
	pid_t tid = gettid();
	char c;

	prctl(PR_SET_NAME, "wo) rker\n");
	(void)!write(fd[1], &tid, sizeof(tid));
	(void)!read(fd[2], &c, 1);
	return NULL;
}

/* The readers on this process and one of its threads, named with a ')',
 * a space and a newline. */
START_TEST(test_read_stat_comm)
{
	struct procfs_stat ps;
	pthread_t th;
	int go[2], done[2], fds[3];
	char name[64];
	pid_t tid = 0;

	ck_assert_int_eq(procfs_read_stat(getpid(), 0, &ps), 0);
	ck_assert_int_eq(ps.state, 'R');
	ck_assert(!(ps.flags & PROCFS_PF_KTHREAD));
	ck_assert_uint_gt(ps.start, 0);
	ck_assert_int_eq(procfs_read_comm(getpid(), 0, name, sizeof(name)), 0);
	ck_assert_str_eq(name, ps.comm);

	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(done), 0);
	fds[0] = go[0];
	fds[1] = go[1];
	fds[2] = done[0];
	ck_assert_int_eq(pthread_create(&th, NULL, named_thread, fds), 0);
	ck_assert_int_eq(read(go[0], &tid, sizeof(tid)), (ssize_t)sizeof(tid));
	ck_assert_int_eq(procfs_read_comm(getpid(), tid, name, sizeof(name)), 0);
	/* Only the kernel's own newline is taken off. */
	ck_assert_str_eq(name, "wo) rker\n");
	ck_assert_int_ne(tid, 0);
	ck_assert_int_eq(procfs_read_stat(getpid(), tid, &ps), 0);
	ck_assert_str_eq(ps.comm, "wo) rker\n");
	ck_assert_msg(ps.state == 'R' || ps.state == 'S', "state %c", ps.state);
	ck_assert_int_eq(write(done[1], "x", 1), 1);
	pthread_join(th, NULL);
	/* Gone: an error, and "?" for the name. */
	ck_assert_int_eq(procfs_read_stat(getpid(), tid, &ps), -1);
	ck_assert_int_eq(procfs_read_comm(getpid(), tid, name, sizeof(name)), -1);
	ck_assert_str_eq(name, "?");
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
}
END_TEST

/* Two generations forked here: found, parents before children; none once
 * they are gone. */
START_TEST(test_descendants)
{
	int up[2], down[2];
	pid_t kid, grandkid = 0, *out;
	size_t n;
	char c;

	ck_assert_int_eq(pipe(up), 0);
	ck_assert_int_eq(pipe(down), 0);
	kid = fork();
	ck_assert_int_ge(kid, 0);
	if (kid == 0) {
		pid_t g;

		/* Only the test holds the write end: closing it ends both. */
		close(down[1]);
		g = fork();

		if (g == 0) {
			(void)!read(down[0], &c, 1);
			_exit(0);
		}
		(void)!write(up[1], &g, sizeof(g));
		(void)!read(down[0], &c, 1);
		waitpid(g, NULL, 0);
		_exit(0);
	}
	ck_assert_int_eq(read(up[0], &grandkid, sizeof(grandkid)), (ssize_t)sizeof(grandkid));
	n = procfs_descendants(getpid(), &out);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(out[0], kid);
	ck_assert_int_eq(out[1], grandkid);
	free(out);
	n = procfs_descendants(kid, &out);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(out[0], grandkid);
	free(out);
	close(down[1]);
	waitpid(kid, NULL, 0);
	ck_assert_uint_eq(procfs_descendants(getpid(), &out), 0);
	ck_assert_ptr_null(out);
	close(down[0]);
	close(up[0]);
	close(up[1]);
}
END_TEST

Suite *suite_procfs(void)
{
	Suite *s = suite_create("procfs");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_lists);
	tcase_add_test(tc, test_nested);
	tcase_add_test(tc, test_missing);
	tcase_add_test(tc, test_lookalikes);
	tcase_add_test(tc, test_end_of_text);
	tcase_add_test(tc, test_big_numbers);
	tcase_add_test(tc, test_not_numbers);
	tcase_add_test(tc, test_stat_fields);
	tcase_add_test(tc, test_stat_malformed);
	tcase_add_test(tc, test_schedstat);
	suite_add_tcase(s, tc);

	tc = tcase_create("read");
	tcase_add_test(tc, test_read_self);
	tcase_add_test(tc, test_read_child);
	tcase_add_test(tc, test_read_stat_comm);
	tcase_add_test(tc, test_descendants);
	suite_add_tcase(s, tc);
	return s;
}
