/* run.h: one profile taken from start to end, the same way for sprofd -p
 * (cmd_profile.c) and for a worker of the daemon (worker.c): the session
 * starts (attaches), the caller hears of it, then the run waits until the
 * session ends by itself (its duration is over, the target exited) or a
 * descriptor the caller watches asks it to stop (a signal, a stop
 * request); then it joins the tracing thread, by when every thread of the
 * target is detached, and builds the profile. What to do with the profile,
 * and what to tell whom, stays with the caller. */
#ifndef SPROFD_RUN_H
#define SPROFD_RUN_H

#include <stdbool.h>
#include <stddef.h>

struct profile;
struct session;
struct session_opts;

/* A descriptor the run watches while it waits. */
struct run_watch {
	int fd;     /* -1: not watched */
	/* fd is readable or hung up. May call session_stop. Returns false to
	 * stop watching fd. */
	bool (*ready)(struct session *s, int fd, void *arg);
	void *arg;
};

/* Called once attached, before the wait; returns an exit code from
 * sprofd.h, and anything but EXIT_OK ends the run with it. */
typedef int (*run_started_fn)(struct session *s, void *arg);

/* Runs the profile so describes to its end. Returns EXIT_OK with the
 * profile in *pp, or an exit code with *pp NULL: the one session_start
 * gave (*sp NULL), the one started gave, EXIT_INTERNAL if sampling failed,
 * EXIT_NO_SAMPLES if nothing was sampled. *sp, when not NULL, is the
 * session (joined unless started refused it): the caller frees it with
 * session_free, after the profile. */
int run_session(const struct session_opts *so, run_started_fn started, void *arg,
		struct run_watch *watch, size_t nwatch, struct session **sp, struct profile **pp);

#endif
