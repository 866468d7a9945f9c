/* symtest_build.h: scratch programs for the symbolizer tests: a temporary
 * directory, the compiler and binutils run on it, and a child process that
 * reports one line and then waits to be killed. */
#ifndef SPROFD_SYMTEST_BUILD_H
#define SPROFD_SYMTEST_BUILD_H

#include <stddef.h>
#include <sys/types.h>

/* A new empty directory under $TMPDIR or /tmp; NULL on failure. */
char *symtest_tmpdir(void);
/* Removes dir and everything in it, then frees it. Accepts NULL. */
void symtest_rmtree(char *dir);
/* Writes text to dir/name; returns the malloc'd path or NULL. */
char *symtest_write(const char *dir, const char *name, const char *text);
/* Runs a shell command built from fmt; 0 if it exited with status 0. Its
 * output goes to stderr so a failure explains itself. */
int symtest_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The C compiler to use: $CC, else "cc". */
const char *symtest_cc(void);
/* Starts path with stdout on a pipe and reads its first line into line.
 * Returns the pid, or -1 if it could not start or said nothing. */
pid_t symtest_spawn(const char *path, char *line, size_t size);
/* Kills and reaps a child from symtest_spawn. */
void symtest_reap(pid_t pid);

#endif
