/* session.h: one profile of one target (one process, several, or a
 * process tree), from attach to the finished
 * profile: runs the tracing thread (which attaches, samples and, by ending,
 * detaches), and afterwards builds the function view. Owns the stack table,
 * the symbolizer and its strings until session_free. */
#ifndef SPROFD_SESSION_H
#define SPROFD_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "profile.h"
#include "pystage.h"
#include "sampler.h"
#include "symbols.h"

struct profile;
struct session;
struct split_rule;

/* Most PIDs -p takes. */
#define SESSION_MAX_PIDS 64

struct session_opts {
	pid_t pid;          /* the first process; with npids, pids[0] */
	pid_t pids[SESSION_MAX_PIDS];
	size_t npids;       /* 0: pid alone */
	bool children;      /* and every descendant, also those born later */
	unsigned max_procs; /* at most this many processes (0: the default) */
	unsigned hz;
	double duration;    /* seconds; 0: until session_stop or target exit */
	int max_depth;
	size_t stack_cap;
	enum sample_mode mode;
	bool unwind_ptrace;
	struct sym_opts sym;
	struct profile_opts prof;
	unsigned stride;    /* start at 1/stride the rate (see session_set_stride);
			     * 0 or 1: every tick */
	bool no_python;     /* native frames only, even in a Python process */
	struct pystage_opts py;
	/* --split: profiles are split by endpoint (split.h); the caller's,
	 * outliving the session. NULL: not split. */
	const struct split_rule *split;
};

/* Starts the tracing thread and waits until it has attached. Returns the
 * session, or NULL with *code set to an exit code from sprofd.h (the cause
 * is logged). */
struct session *session_start(const struct session_opts *o, int *code);
/* Asks the session to end (any thread). */
void session_stop(struct session *s);
/* A file descriptor that becomes readable when the tracing thread is done. */
int session_done_fd(const struct session *s);
/* Waits for the tracing thread; by then every thread is detached. Returns
 * 0, or -1 if sampling failed. */
int session_join(struct session *s);
/* Builds the profile of a joined session (NULL if nothing was sampled). */
struct profile *session_profile(struct session *s);
/* From now on samples every stride-th tick, each sample counting stride
 * times, so the profile's times stay right at a lower rate (any thread;
 * applied between ticks). */
void session_set_stride(struct session *s, unsigned stride);
/* The profile of what has been sampled so far, while sampling goes on
 * (any thread but the tracing one; the tracing thread copies its tables
 * between ticks). NULL if nothing was sampled yet or sampling has ended,
 * in which case session_profile has everything. Free with profile_free
 * before session_free. */
struct profile *session_snapshot(struct session *s);
const char *session_comm(const struct session *s);
/* How many processes were attached to at the start. */
unsigned session_processes(const struct session *s);
/* The Python stage (pystage.h), or NULL with no_python. */
const struct pystage *session_python(const struct session *s);
const struct sampler_stats *session_stats(const struct session *s);
/* Whether the first process exited (and its wait status), or exec'ed. */
int session_target_gone(const struct session *s, int *status);
int session_target_execed(const struct session *s);
void session_free(struct session *s);

#endif
