/* sampler.h: the tick loop of one session. Runs on the tracing thread:
 * a monotonic timer sets the ticks; each tick interrupts the threads to
 * sample, and each stop is captured (registers + stack copy) and resumed at
 * once; the copies are unwound and counted after the threads run again.
 * Between ticks it keeps handling the target's ptrace events so signals
 * reach it without delay, but for an event whose SIGCHLD merged with that
 * of one of our own stops: that one waits up to 20 us per target thread,
 * 1 to 100 ms (walk_due in sampler.c). Never formats output. */
#ifndef SPROFD_SAMPLER_H
#define SPROFD_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

struct target;
struct stacktab;
struct pystage;

/* Called with each stack the first time it is seen (leaf first). */
typedef void (*sampler_new_stack_fn)(void *ctx, const uint64_t *pcs, int n);

/* Each program a process of the target runs (an image: the one it ran when
 * attached, or one it exec'ed into; each process of a tree has its own) has
 * a number, 0 for the first process's program at attach, and its pcs carry
 * that number in bits 48-62, above every user-space address (bit 63 marks
 * Python frames, pystage.h), so that two programs' addresses never merge
 * and each can be symbolized with its own maps. Past SAMPLER_MAX_IMAGE
 * programs, new ones are not sampled (the session ends if that leaves
 * none). */
#define SAMPLER_IMAGE_SHIFT 48
#define SAMPLER_MAX_IMAGE   0x7fffu
#define SAMPLER_IMAGE(pc)   ((unsigned)((pc) >> SAMPLER_IMAGE_SHIFT) & SAMPLER_MAX_IMAGE)
#define SAMPLER_ADDR(pc)    ((pc) & ((1ull << SAMPLER_IMAGE_SHIFT) - 1))

enum sample_mode {
	MODE_CPU,   /* only threads on a CPU at the tick are sampled */
	MODE_WALL,  /* every thread counts at every tick */
};

/* The modes' names, as every command line, the configuration and the
 * control socket spell them: indexed by enum sample_mode, NULL after the
 * last. */
extern const char *const sample_mode_names[];
/* Parses a mode's name. Returns 0, or -1 leaving *m alone. */
int sample_mode_parse(const char *name, enum sample_mode *m);
const char *sample_mode_name(enum sample_mode m);

struct sampler_conf {
	enum sample_mode mode;
	bool unwind_ptrace;     /* naive baseline: unwind in place while stopped */
	unsigned hz;
	uint64_t duration_ns;   /* 0: until stopped or the target exits */
	int max_depth;
	size_t stack_cap;
	int stop_fd;            /* readable (eventfd) when the session must end */
	/* Readable (eventfd; or -1) when the owner has a request: the sampler
	 * reads it and calls on_request(ctx) on the tracing thread, between
	 * ticks. on_request returns the stride to sample at: every stride-th
	 * tick (or perf sample), each sample counting stride times, so that a
	 * profile keeps its time scale when its rate is lowered. */
	int req_fd;
	unsigned (*on_request)(void *ctx);
	/* Called on the tracing thread when a program starts to be sampled:
	 * image (see above) is that of process pid (proc: its index in the
	 * target's procs), the one it runs at attach or at its birth, or with
	 * exec one it exec'ed into, once every stack of its old program is
	 * counted. Returns the process's Python stage (pystage.h: read at each
	 * stop, merged before a stack is counted), or NULL. Must be set. */
	struct pystage *(*on_image)(void *ctx, unsigned image, pid_t pid, unsigned proc,
				    bool exec);
};

struct sampler_stats {
	uint64_t ticks, missed_ticks, samples, truncated, lost;
	uint64_t interrupts;      /* PTRACE_INTERRUPTs sent */
	uint64_t reused;          /* wall mode: samples of idle threads, no stop */
	uint64_t asleep;          /* wall mode: first stacks taken without a stop */
	uint64_t start_ns, end_ns;
	/* Time a thread spent stopped by us, reaped -> resumed. */
	uint64_t pause_total_ns, pause_max_ns, pause_med_ns, pause_p99_ns;
	/* Time to unwind one capture (after the thread resumed). */
	uint64_t unwind_total_ns, unwind_med_ns, unwind_p99_ns;
	uint64_t tick_total_ns;   /* choosing threads and interrupting them */
	uint64_t stack_bytes;     /* bytes of stack copied */
};

/* Samples every process of t until the duration is over, stop_fd fires,
 * or every process is gone (or none left can be sampled, past
 * SAMPLER_MAX_IMAGE). Adds every stack to st
 * and hands new ones to on_new (which may be NULL). Returns 0, or -1 on a
 * setup failure (logged). */
int sampler_run(struct target *t, const struct sampler_conf *c, struct stacktab *st,
		sampler_new_stack_fn on_new, void *ctx, struct sampler_stats *out);

#endif
