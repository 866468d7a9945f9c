/* profile.h: the per-function view of one profile, computed from the
 * interned stacks when a profile is written. Functions are keyed by
 * (file, declaration line, name) after symbolizing, so stacks that differ
 * only in addresses merge. funcs[0] is the synthetic root
 * ('~', 0, '<all samples>'), which calls the outermost frame of every stack.
 * All counts are in samples; multiply by interval for seconds.
 *
 * For each sample stack f0 (outermost, after the root) .. fk (leaf):
 *   func.cc  samples with F anywhere on the stack (once per sample)
 *   func.nc  occurrences of F over all samples (> cc only under recursion)
 *   func.tt  samples whose leaf is F
 *   edge P->F: cc samples containing the adjacent pair, nc occurrences of the
 *   pair, tt samples whose leaf is F and whose next frame is P. */
#ifndef SPROFD_PROFILE_H
#define SPROFD_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct stacktab;
struct sym_frame;

/* Frames for one lookup address, innermost first; returns their count
 * (>= 1). symbolizer_lookup has this shape; tests pass their own. */
typedef int (*profile_lookup_fn)(void *ctx, uint64_t addr, const struct sym_frame **frames);

struct pfunc {
	const char *file;   /* interned (symbolizer's strtab), or static for the root */
	int line;
	const char *name;
	uint64_t cc, nc, tt;
};

struct pedge {
	uint32_t caller, callee;  /* indexes into funcs */
	uint64_t cc, nc, tt;
};

struct profile_meta {
	pid_t pid;
	char comm[64];
	unsigned nthreads;     /* threads seen over the whole session */
	double duration;       /* seconds sampled */
	double hz;             /* requested rate */
	uint64_t ticks;        /* timer ticks taken */
	uint64_t missed_ticks; /* ticks skipped because sprofd fell behind */
	uint64_t truncated;    /* samples whose stack hit the depth limit */
	uint64_t start_time;   /* unix seconds */
};

/* How stacks become functions. */
struct profile_opts {
	bool threads;  /* keep threads apart: "thread TID (name)" as outermost frame */
	bool lines;    /* key entries by the sampled source line, not the function */
};

struct profile {
	struct pfunc *funcs;
	size_t nfuncs;
	struct pedge *edges;
	size_t nedges;
	uint64_t total;        /* samples */
	double interval;       /* seconds per sample = 1 / hz */
	struct profile_meta meta;
};

/* Builds the function view, symbolizing each pc through lookup (which
 * caches). Inline frames returned by lookup become functions of their own.
 * The profile points into strings owned by whoever owns the frames; it
 * copies nothing but the counts. */
struct profile *profile_build(const struct stacktab *st, profile_lookup_fn lookup, void *ctx,
			      const struct profile_meta *meta, const struct profile_opts *opts);
void profile_free(struct profile *p);

#endif
