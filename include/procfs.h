/* procfs.h: what sprofd reads of /proc/PID (and /proc/PID/task/TID): the
 * stat line, the numeric fields of status, schedstat's CPU time and the
 * thread name in comm. Parsers take the file's text and its length (need
 * not be NUL-terminated) and touch nothing else, so what a process may put
 * there (its name, say, with spaces, parentheses or newlines) cannot make
 * them read past the text or take one field for another; the readers are
 * thin: open, read, parse. Owns nothing that outlives a call. */
#ifndef SPROFD_PROCFS_H
#define SPROFD_PROCFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* PF_KTHREAD in the flags field of stat: a kernel thread. */
#define PROCFS_PF_KTHREAD 0x00200000ul

/* The fields of a stat line ("PID (COMM) S PPID ...") sprofd uses. */
struct procfs_stat {
	char comm[64];            /* between the first '(' and the last ')' */
	char state;               /* R, S, D, T, t, Z, X... */
	pid_t ppid;               /* field 4: the parent */
	unsigned long flags;      /* field 9, the kernel's PF_* bits */
	unsigned long long start; /* field 22: start time, clock ticks after boot */
};

/* Parses stat text. The name may hold ')' and spaces: the fields after it
 * follow the last ')'. Returns 0, or -1 if the text is not a stat line. */
int procfs_parse_stat(const char *text, size_t len, struct procfs_stat *out);
/* Only the state letter of stat text (cheap: for every thread at every
 * tick); 0 if the text is not a stat line. */
char procfs_stat_state(const char *text, size_t len);
/* Reads /proc/PID/stat (tid 0) or /proc/PID/task/TID/stat. Returns 0, or
 * -1 with errno set (EINVAL: unparsable). */
int procfs_read_stat(pid_t pid, pid_t tid, struct procfs_stat *out);

/* The values of field key (its name, with or without the colon) of status
 * text, such as "TracerPid:\t0", "Uid:\t1000\t1000\t1000\t1000" or
 * "NSpid:\t4242\t7": only a line that starts with the name and its colon.
 * Values (whole decimal numbers up to LONG_MAX; the first word that is not
 * one ends the list) go to vals, at most max of them. Returns how many
 * were read (0 for a field without numbers), or -1 if no line holds it. */
int procfs_status_field(const char *text, size_t len, const char *key, long *vals, size_t max);
/* The same for /proc/PID/status, read whole; -1 also if it cannot be read. */
int procfs_status_read(pid_t pid, const char *key, long *vals, size_t max);

/* The CPU time in ns of schedstat text (its first number: exact, unlike
 * stat's clock ticks). Returns 0, or -1 if the text does not start with a
 * number. */
int procfs_parse_schedstat(const char *text, size_t len, uint64_t *ns);

/* Reads /proc/PID/comm (tid 0) or /proc/PID/task/TID/comm into out (size
 * bytes), without the newline the kernel ends it with (the name itself
 * may hold others; it may also be empty). Returns 0, or -1 leaving "?" in
 * out if it cannot be read (the thread is gone). */
int procfs_read_comm(pid_t pid, pid_t tid, char *out, size_t size);

/* Every descendant of pid alive now, found by the parent PIDs in
 * /proc/N/stat, parents before their children, in *out (malloc'ed, NULL
 * when none; the caller frees it). Returns how many. */
size_t procfs_descendants(pid_t pid, pid_t **out);

/* Reads a small file (under /proc or /proc/sys) into buf, NUL-terminated,
 * at most size - 1 bytes. Returns the bytes read, or -1 with errno set. */
ssize_t procfs_read_small(const char *path, char *buf, size_t size);

#endif
