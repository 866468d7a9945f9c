/* daemon.h: sprofd as a service. One supervising process reads the
 * configuration, keeps each target's timetable, answers the control socket
 * (whose connections ctl.h's server keeps) and forks one worker process per
 * profile (worker.h); the worker attaches, samples, writes the files and
 * exits. ptrace ties tracees to the thread that
 * attached, and each session waits for SIGCHLD on its own, so profiles
 * never share a process: a worker that crashes or hangs takes no other
 * profile with it, and killing it only detaches its target. The supervisor
 * collects exit statuses, applies retention, keeps the workers within the
 * CPU budgets by lowering their rates, and kills a worker that overruns. */
#ifndef SPROFD_DAEMON_H
#define SPROFD_DAEMON_H

#include <stdbool.h>

struct daemon_opts {
	const char *config;  /* path of the configuration file */
	bool detach;         /* fork into the background, write the pidfile */
	bool syslog;         /* log to syslog (always when detached) */
	bool verbose;        /* debug messages, whatever LogLevel says */
};

/* Runs the daemon until SIGTERM or SIGINT. Returns an exit code from
 * sprofd.h: EXIT_USAGE for a bad configuration (nothing is started),
 * EXIT_INTERNAL if it cannot start, EXIT_OK after a clean stop. */
int daemon_run(const struct daemon_opts *o);

#endif
