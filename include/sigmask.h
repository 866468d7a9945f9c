/* sigmask.h: sprofd defines sigprocmask for the whole binary, in place of
 * libc's: libunwind blocks every signal around each of its lock and
 * memory-pool operations, several times per frame, so that local unwinding
 * is safe in signal handlers, and sprofd never unwinds in a handler (its
 * signals go to signalfds). While the calling thread has skipping on, the
 * call does nothing; at all other times it is pthread_sigmask (the mask of
 * the calling thread, libc's internal signals untouched), which is what
 * sigprocmask does in a threaded process anyway. sprofd's own code calls
 * pthread_sigmask, never sigprocmask, so that it says what it means and
 * never runs into this. */
#ifndef SPROFD_SIGMASK_H
#define SPROFD_SIGMASK_H

#include <stdbool.h>

/* Turns skipping on or off for the calling thread (unwind.c, around a
 * libunwind walk). */
void sigmask_skip(bool on);

#endif
