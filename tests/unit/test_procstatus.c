/* test_procstatus.c: fields of /proc/PID/status from hand-written text
 * (lists, nesting, missing and look-alike keys, the end of the text, numbers
 * too big, words that are not numbers) and from this very process. */
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procstatus.h"
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
	return proc_status_field(text, strlen(text), key, v, max);
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
	ck_assert_int_eq(proc_status_field(status_text, 0, "Name", v, 4), -1);
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
	ck_assert_int_eq(proc_status_field(raw, sizeof(raw), "Uid", v, 4), 2);
	ck_assert_int_eq(v[0], 12);
	ck_assert_int_eq(v[1], 34);
	/* Cut in the middle of a number: what is there. */
	ck_assert_int_eq(proc_status_field(raw, 9, "Uid", v, 4), 2);
	ck_assert_int_eq(v[1], 3);
	/* Cut right after the colon: the field, without numbers. */
	ck_assert_int_eq(proc_status_field(raw, 4, "Uid", v, 4), 0);
	/* Cut inside the name: no field. */
	ck_assert_int_eq(proc_status_field(raw, 3, "Uid", v, 4), -1);
	/* A NUL is just a byte: no line starts after it. */
	ck_assert_int_eq(proc_status_field(nul, sizeof(nul) - 1, "Uid", v, 4), 1);
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

	ck_assert_int_eq(proc_status_read(getpid(), "Uid", v, 4), 4);
	ck_assert_int_eq(v[0], (long)getuid());
	ck_assert_int_eq(v[1], (long)geteuid());
	ck_assert_int_eq(proc_status_read(getpid(), "Gid:", v, 4), 4);
	ck_assert_int_eq(v[0], (long)getgid());
	ck_assert_int_eq(proc_status_read(getpid(), "Tgid", v, 4), 1);
	ck_assert_int_eq(v[0], (long)getpid());
	n = proc_status_read(getpid(), "NSpid", v, 40);
	ck_assert_int_ge(n, 1);
	ck_assert_int_eq(v[n - 1], (long)getpid());
	ck_assert_int_eq(proc_status_read(getpid(), "NoSuchField", v, 4), -1);
	ck_assert_int_eq(proc_status_read(INT_MAX, "Uid", v, 4), -1);
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
	ck_assert_int_eq(proc_status_read(pid, "PPid", v, 2), 1);
	ck_assert_int_eq(v[0], (long)getpid());
	ck_assert_int_eq(proc_status_read(pid, "Pid", v, 2), 1);
	ck_assert_int_eq(v[0], (long)pid);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ck_assert_int_eq(proc_status_read(pid, "Pid", v, 2), -1);
}
END_TEST

Suite *suite_procstatus(void)
{
	Suite *s = suite_create("procstatus");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_lists);
	tcase_add_test(tc, test_nested);
	tcase_add_test(tc, test_missing);
	tcase_add_test(tc, test_lookalikes);
	tcase_add_test(tc, test_end_of_text);
	tcase_add_test(tc, test_big_numbers);
	tcase_add_test(tc, test_not_numbers);
	suite_add_tcase(s, tc);

	tc = tcase_create("read");
	tcase_add_test(tc, test_read_self);
	tcase_add_test(tc, test_read_child);
	suite_add_tcase(s, tc);
	return s;
}
