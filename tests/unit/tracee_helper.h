/* tracee_helper.h: child processes for the tracing engine's tests, and the
 * /proc facts the tests check about them.
 *
 * A tracee is this test binary started again with SPROFD_TRACEE=MODE in
 * its environment; a constructor in the test file sees the variable and
 * runs the mode's code before main. So the child has only known frames on
 * its stack, has no test framework state, and runs natively even when the
 * tests themselves run under valgrind. It writes one-line reports to
 * TRACEE_REPORT_FD and reads one-byte commands from TRACEE_CMD_FD; the
 * parent holds the other ends. Every tracee started here is killed and
 * reaped by tracee_reap_all, and dies with the thread that started it. */
#ifndef SPROFD_TRACEE_HELPER_H
#define SPROFD_TRACEE_HELPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TRACEE_ENV       "SPROFD_TRACEE"
#define TRACEE_REPORT_FD 3
#define TRACEE_CMD_FD    4

struct tracee {
	pid_t pid;
	int report;   /* read end of the child's reports */
	int cmd;      /* write end of the child's commands */
};

/* Parent side. */

/* The path of this test binary (what /proc/self/exe names). */
const char *tracee_exe(void);
/* Starts this binary in mode; returns 0, or -1 if it could not start. */
int tracee_start(struct tracee *tr, const char *mode);
/* Reads the child's next report line (without newline) into buf, waiting
 * up to timeout_ms. Returns 0, or -1 on timeout or end of file. */
int tracee_read(struct tracee *tr, char *buf, size_t size, int timeout_ms);
/* Whether a report is waiting to be read (waits up to timeout_ms). */
bool tracee_readable(struct tracee *tr, int timeout_ms);
/* Sends one command byte. Returns 0 or -1. */
int tracee_send(struct tracee *tr, char c);
/* Kills and reaps every tracee started since the last call, and closes
 * their pipes. Reaps any other exited child of this process on the way:
 * threads this thread traced must be reaped before their leader can be.
 * Safe to call when there are none. */
void tracee_reap_all(void);

/* Child side: one report line, written with a single write(2) so lines of
 * several threads never mix; async-signal-safe. */
void tracee_report(const char *line);
/* As tracee_report, with " 0x<hex of v>" appended; async-signal-safe. */
void tracee_report_hex(const char *word, uint64_t v);
/* Blocks for the next command byte; exits the child at end of file. */
char tracee_command(void);

/* /proc facts; tid may name any thread. */

/* A numeric field of /proc/TID/status such as "TracerPid:", or -1. */
long proc_status_long(pid_t tid, const char *key);
/* The state letter of /proc/TID/stat, or 0 if unreadable. */
char proc_state(pid_t tid);
/* The thread ids in /proc/PID/task (at most max); returns the count. */
int proc_tasks(pid_t pid, pid_t *tids, int max);
/* The number of the system call tid is blocked in, from
 * /proc/TID/syscall; -1 if it is running or unreadable. */
long proc_syscall(pid_t tid);
/* Waits until every thread of pid is blocked in system call nr and there
 * are nthreads of them. Returns 0, or -1 after timeout_ms. */
int proc_wait_blocked(pid_t pid, int nthreads, long nr, int timeout_ms);

#endif
