/* profile.h: a finished profile, in the two shapes that writers need,
 * computed from the interned stacks when a profile is written.
 *
 * The function view (funcs, edges) is what pstats holds. Functions are
 * keyed by (file, declaration line, name) after symbolizing, so stacks that
 * differ only in addresses merge; with opts.lines by (file, sampled line,
 * name) instead, one entry per source line. funcs[0] is the synthetic root
 * ('~', 0, '<all samples>'), which calls the outermost frame of every
 * stack. All counts are in samples; multiply by interval for seconds.
 *
 * For each sample stack f0 (outermost, after the root) .. fk (leaf):
 *   func.cc  samples with F anywhere on the stack (once per sample)
 *   func.nc  occurrences of F over all samples (> cc only under recursion)
 *   func.tt  samples whose leaf is F
 *   edge P->F: cc samples containing the adjacent pair, nc occurrences of the
 *   pair, tt samples whose leaf is F and whose next frame is P.
 *
 * The stack view (stacks, locs, frames, fns) keeps whole stacks for the
 * formats that show them (pprof, collapsed, callgrind, svg): each distinct
 * raw stack as a list of locations, leaf first; each location a distinct
 * address with its frames, innermost (inlined) first; each frame a
 * function of fns (always keyed by declaration, whatever opts.lines says)
 * and the line executing in it.
 *
 * With opts.threads, every stack has one more, outermost frame, the thread
 * "thread TID (NAME)" (file '~', line 0), in both views; its location has
 * address 0. With opts.processes, one more outside it (or outermost
 * without threads), the process "process PID (COMM)", the same way.
 *
 * An empty stack counts as one frame at address 0. */
#ifndef SPROFD_PROFILE_H
#define SPROFD_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct modules;
struct psplit;
struct stacktab;
struct strtab;
struct sym_frame;
struct u64map;

/* Frames for one lookup address, innermost first; returns their count
 * (>= 1). symbolizer_lookup has this shape; tests pass their own. */
typedef int (*profile_lookup_fn)(void *ctx, uint64_t addr, const struct sym_frame **frames);

#define PROFILE_NONE UINT32_MAX

/* An entry of the function view. */
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

/* A function of the stack view. */
struct pfn {
	const char *file;   /* declaration's source file, or the module path, or "" */
	int line;           /* declaration line; 0 if unknown */
	const char *name;
	const char *module; /* basename of its module; "" if none */
};

/* One frame of a location: a function and the line executing in it. */
struct pframe {
	uint32_t fn;        /* index into fns */
	int line;           /* 0 if unknown */
};

/* A distinct address, with its frames innermost first. */
struct ploc {
	uint64_t addr;      /* lookup address (a return address less one for
			     * callers); 0 for a thread's frame */
	uint32_t map;       /* index into maps, or PROFILE_NONE */
	uint32_t frame, nframes;  /* frames[frame .. frame + nframes) */
};

/* A distinct stack, as stacktab has it. */
struct pstack {
	uint32_t loc, n;    /* stack_locs[loc .. loc + n): location indexes, leaf
			     * first (with opts.threads the last is the thread) */
	pid_t tid;
	pid_t pid;          /* the thread's process; 0 if unknown */
	bool truncated;     /* cut at the depth limit */
	uint64_t count;     /* samples */
};

/* A thread that was sampled. */
struct ptask {
	pid_t tid;
	pid_t pid;          /* its process; 0 if unknown */
	const char *name;   /* its command name; "" if unknown */
	uint64_t samples;
	uint32_t loc;       /* its location with opts.threads, else PROFILE_NONE */
};

/* An executable mapping that holds sampled addresses. */
struct pmap {
	uint64_t start, limit, offset;  /* [start, limit), file offset of start */
	const char *path;
	const char *build_id;   /* lowercase hex; "" if unknown */
};

struct profile_meta {
	pid_t pid;
	char comm[64];
	unsigned nthreads;     /* threads seen over the whole session */
	unsigned nprocs;       /* processes seen (0 or 1: the one of pid) */
	double duration;       /* seconds sampled */
	double hz;             /* requested rate */
	uint64_t ticks;        /* timer ticks taken */
	uint64_t missed_ticks; /* ticks skipped because sprofd fell behind */
	uint64_t truncated;    /* samples whose stack hit the depth limit */
	uint64_t start_time;   /* unix seconds */
	bool wall;             /* wall mode: every thread at every tick */
	/* tid -> thread name (a const char * stored as uint64_t), or NULL.
	 * Read during profile_build only. */
	const struct u64map *thread_names;
	/* tid -> its process's PID, and PID -> the process's name (a const
	 * char * stored as uint64_t); either may be NULL. Read during
	 * profile_build only. */
	const struct u64map *thread_pids;
	const struct u64map *proc_names;
	/* The target's executable mappings, for pprof: modules[i] those of
	 * the i-th program it ran (see image_shift); the array or an entry
	 * may be NULL if unknown. Read during profile_build only. */
	const struct modules *const *modules;
	size_t nmodules;
	/* Above this bit a pc carries the number of the program it comes
	 * from, as the sampler tags them after an exec; 0: pcs are plain
	 * addresses, all of program 0. */
	unsigned image_shift;
	/* The target's Python version ("3.11.2"; in a process tree each
	 * version its processes run, "3.11.2, 3.12.1"), "" if it runs none;
	 * how many processes run Python; and how many samples had native and
	 * Python frames that did not line up (kept, see pymerge.h). */
	char python[32];
	unsigned python_procs;
	uint64_t python_mismatched;
};

/* How stacks become functions. */
struct profile_opts {
	bool threads;  /* keep threads apart: "thread TID (name)" as outermost frame */
	bool processes; /* keep processes apart: "process PID (name)", outside threads */
	bool lines;    /* key entries by the sampled source line, not the function */
};

/* Seconds, for profiles read from pstats files whose times are not whole
 * samples (cProfile's); see pstats_read. */
struct ptimes {
	double tt, ct;
};

struct profile {
	/* Function view. */
	struct pfunc *funcs;
	size_t nfuncs;
	struct pedge *edges;
	size_t nedges;
	uint64_t total;        /* samples */
	double interval;       /* seconds per sample = 1 / hz */
	struct profile_meta meta;
	struct profile_opts opts;

	/* Stack view (empty for profiles read from pstats files). */
	struct pstack *stacks;
	size_t nstacks;
	uint32_t *stack_locs;
	size_t nstack_locs;
	struct ploc *locs;
	size_t nlocs;
	struct pframe *frames;
	size_t nframes;
	struct pfn *fns;
	size_t nfns;
	struct ptask *tasks;   /* by first sample */
	size_t ntasks;
	struct pmap *maps;
	size_t nmaps;

	/* Set only by pstats_read for timed profiles: seconds per function
	 * and per edge, used instead of counts times interval. */
	struct ptimes *ftimes, *etimes;
	/* Strings the profile made itself (thread frames, mapping paths, and
	 * everything in a profile read from a file). */
	struct strtab *strs;
	/* The endpoints and their profiles, when split (split.h); freed with
	 * the profile. */
	struct psplit *split;
};

/* Builds both views, symbolizing each pc through lookup (which caches).
 * Inline frames returned by lookup become functions of their own. The
 * profile points into strings owned by whoever owns the frames; thread
 * names, mapping paths and build IDs it copies into strs. */
struct profile *profile_build(const struct stacktab *st, profile_lookup_fn lookup, void *ctx,
			      const struct profile_meta *meta, const struct profile_opts *opts);
/* Seconds of self and cumulative time of function i, and of edge i. */
double profile_func_tt(const struct profile *p, size_t i);
double profile_func_ct(const struct profile *p, size_t i);
double profile_edge_tt(const struct profile *p, size_t i);
double profile_edge_ct(const struct profile *p, size_t i);
/* Seconds that all percentages are relative to. */
double profile_total_time(const struct profile *p);
void profile_free(struct profile *p);

#endif
