/* sprofd.h: the exit codes and limits that the command line, the man page
 * and the tests agree on. */
#ifndef SPROFD_H
#define SPROFD_H

enum sprofd_exit {
	EXIT_OK = 0,
	EXIT_INTERNAL = 1,     /* a bug or an unexpected system failure */
	EXIT_USAGE = 2,        /* bad command line */
	EXIT_NO_TARGET = 3,    /* no such process, zombie, kernel thread, ourselves */
	EXIT_PERM = 4,         /* not allowed to trace the target */
	EXIT_TRACED = 5,       /* another tracer is attached */
	EXIT_OUTPUT = 6,       /* the profile could not be written */
	EXIT_NO_SAMPLES = 7,   /* nothing was sampled, so nothing was written */
};

#define SPROFD_HZ_DEFAULT    100
#define SPROFD_HZ_MIN        1
#define SPROFD_HZ_MAX        10000
#define SPROFD_DEPTH_DEFAULT 256
#define SPROFD_DEPTH_MAX     4096
#define SPROFD_STACK_CAP_DEFAULT (64 * 1024)

#endif
