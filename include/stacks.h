/* stacks.h: the table of distinct raw stacks seen in one profile, with a
 * sample count each. Memory grows with the number of distinct stacks, never
 * with the number of samples. A stack is an array of lookup addresses, leaf
 * first (pcs[0] is where the thread was; callers' return addresses already
 * have 1 subtracted by the unwinder), plus the thread id and a flag for
 * stacks cut at the depth limit. The table owns copies of the pcs. */
#ifndef SPROFD_STACKS_H
#define SPROFD_STACKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct stacktab;

struct stack_view {
	const uint64_t *pcs;  /* leaf first */
	uint32_t n;
	pid_t tid;
	bool truncated;
	uint64_t count;       /* samples */
};

struct stacktab *stacktab_new(void);
/* Adds count samples of a stack. Returns 1 if the stack was new, else 0. */
int stacktab_add(struct stacktab *t, const uint64_t *pcs, uint32_t n, pid_t tid,
		 bool truncated, uint64_t count);
size_t stacktab_size(const struct stacktab *t);         /* distinct stacks */
uint64_t stacktab_total(const struct stacktab *t);      /* samples */
/* Stacks in insertion order, i < stacktab_size. */
void stacktab_get(const struct stacktab *t, size_t i, struct stack_view *out);
size_t stacktab_memory(const struct stacktab *t);       /* bytes held */
void stacktab_free(struct stacktab *t);

#endif
