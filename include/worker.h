/* worker.h: one profile of the daemon, in a process of its own. The
 * supervisor (daemon.c) fills a struct work and calls worker_spawn; the
 * worker attaches, samples, obeys the supervisor's messages (workermsg.h)
 * and its own signals (SIGUSR1: write what it has; SIGTERM, SIGINT: stop
 * and write), writes the files (into the target's directory, or back to
 * the client of an on-demand profile over the control socket) and exits
 * with a code from sprofd.h, which the supervisor reads. The worker owns
 * nothing of the supervisor's: it keeps only its own descriptors. */
#ifndef SPROFD_WORKER_H
#define SPROFD_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sampler.h"

/* What one worker does; the strings must live until worker_spawn returns. */
struct work {
	const char *label;         /* "target web", or "request of uid 1000" */
	bool ondemand;
	pid_t pid;
	unsigned hz;
	double duration;
	bool open_ended;           /* on demand: until the client stops it */
	enum sample_mode mode;
	bool children;             /* and every descendant (sprofd -C) */
	int max_depth;
	bool no_python;            /* native frames only (Python no) */
	const char *formats;
	const char *dir;           /* scheduled: the output directory */
	const char *split;         /* Split (split.h), or NULL */
	unsigned stride;           /* to start at (what the budget allowed last) */
	int rows;                  /* on demand: rows of the table sent back */
	bool check;                /* on demand by a user: re-check the target */
	uid_t uid;
	uint64_t start;            /* the target's start time when checked */
	int sock;                  /* to the supervisor (set by worker_spawn) */
	int client;                /* on demand: the client's connection, else -1 */
};

/* Forks a worker for w. syslog: the supervisor logs to syslog, so the
 * worker opens its own connection. Returns the worker's PID and the
 * supervisor's end of its socket in *sock, or -1 (logged). */
pid_t worker_spawn(struct work *w, bool syslog, int *sock);

#endif
