/* unwind.h: turns a capture (registers + stack copy) into a list of code
 * addresses with libunwind, after the thread has resumed. Memory reads are
 * served from the stack copy, from the target's executable files (mapped
 * here read-only, once per module) and, for the vDSO, from a copy taken
 * once; only stray reads go to the live process. Owns the target's maps
 * snapshot, the module cache and the libunwind address space. */
#ifndef SPROFD_UNWIND_H
#define SPROFD_UNWIND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct capture;
struct maps;
struct unwinder;

struct unwind_stats {
	uint64_t unwinds, frames;
	uint64_t mem_stack, mem_module, mem_live; /* access_mem sources */
	uint64_t maps_reloads;
};

/* Returns NULL (logged) if the target's maps cannot be read. */
struct unwinder *unwinder_new(pid_t pid);
/* Unwinds c into pcs (leaf first; at most max). Callers' return addresses
 * get 1 subtracted, so every entry lies inside the call it names and can be
 * symbolized as is. Sets *truncated if the stack went deeper than max.
 * Returns the frame count (>= 1 when the leaf pc is known). */
int unwinder_unwind(struct unwinder *u, const struct capture *c, uint64_t *pcs, int max,
		    bool *truncated);
/* Whether the last unwind ended where the call-frame information says the
 * stack ends (the thread's start), rather than at an error or the limit. */
bool unwinder_last_complete(const struct unwinder *u);
/* The highest stack address (exclusive) the last unwinder_unwind read,
 * copy or not: the next capture of that thread need copy no further. */
uint64_t unwinder_stack_top(const struct unwinder *u);
/* The naive baseline: unwinds the stopped thread tid in place through
 * libunwind-ptrace (one PTRACE_PEEKDATA per word). Same output contract as
 * unwinder_unwind. */
int unwinder_unwind_ptrace(struct unwinder *u, pid_t tid, uint64_t *pcs, int max,
			   bool *truncated);
/* The current maps snapshot (for stack bounds). */
const struct maps *unwinder_maps(struct unwinder *u);
/* Re-reads the target's maps, at most once per min_interval_ns (0: now).
 * Returns true if they were re-read. */
bool unwinder_refresh_maps(struct unwinder *u, uint64_t min_interval_ns);
void unwinder_get_stats(const struct unwinder *u, struct unwind_stats *st);
void unwinder_free(struct unwinder *u);

#endif
