/* capture.c: registers and stack bytes of one stopped thread (see capture.h). */
#include "capture.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

#include "maps.h"
#include "util.h"

void capture_init(struct capture *c, size_t cap)
{
	memset(c, 0, sizeof(*c));
	c->cap = cap;
	c->stack = xmalloc(cap);
}

void capture_fini(struct capture *c)
{
	free(c->stack);
	c->stack = NULL;
}

int capture_take(struct capture *c, pid_t pid, pid_t tid, const struct maps *maps)
{
	return capture_take_to(c, pid, tid, maps, 0);
}

int capture_take_to(struct capture *c, pid_t pid, pid_t tid, const struct maps *maps,
		    uint64_t top)
{
	const struct map_entry *e;
	struct iovec local, remote;
	size_t want = c->cap;
	ssize_t r;

	c->tid = tid;
	c->len = 0;
	c->weight = 1;
	if (ptrace(PTRACE_GETREGS, tid, NULL, &c->regs) < 0)
		return -1;
	c->when_ns = mono_ns();
	c->sp = c->regs.rsp;
	e = maps_find(maps, c->sp);
	if (e && e->end - c->sp < want)
		want = (size_t)(e->end - c->sp);
	if (top > c->sp && top - c->sp < want)
		want = (size_t)(top - c->sp);
	local.iov_base = c->stack;
	local.iov_len = want;
	remote.iov_base = (void *)(uintptr_t)c->sp;
	remote.iov_len = want;
	/* process_vm_readv stops at the first unreadable page and returns what it
	 * got, which is what we want when the cap runs past the stack's end. */
	r = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (r > 0)
		c->len = (size_t)r;
	return 0;
}
