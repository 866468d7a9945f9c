/* capture.c: registers and stack bytes of one stopped thread (see capture.h). */
#include "capture.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <stddef.h>
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

/* The kernel's "restart unless a handler runs" return code; not in any
 * userspace header. */
#define ERESTARTNOHAND 514

/* PTRACE_INTERRUPT sets a pending trap the way a signal would, so a thread
 * blocked in a call that the kernel ends with a plain EINTR on any pending
 * signal (epoll_wait, sigtimedwait, semtimedop, io_getevents, ...) returns
 * EINTR on its way to our stop, where without sprofd it would have gone on
 * waiting. The stop happens inside the kernel's signal handling, before it
 * decides about restarting, so turning the return value into ERESTARTNOHAND
 * here makes it restart the call; if a real signal with a handler arrived
 * meanwhile, the handler runs and the call returns EINTR, as it would have
 * anyway. The cost: a restarted call with a timeout waits its whole
 * timeout again. orig_rax is the call's number while in a call, -1 when
 * the thread was stopped in user code. */
void capture_restart_call(const struct capture *c)
{
#ifdef __x86_64__
	if ((long long)c->regs.orig_rax >= 0 && (long long)c->regs.rax == -EINTR)
		ptrace(PTRACE_POKEUSER, c->tid, (void *)offsetof(struct user_regs_struct, rax),
		       (void *)(long)-ERESTARTNOHAND);
#else
	(void)c;
#endif
}

void capture_fini(struct capture *c)
{
	free(c->stack);
	free(c->iov);
	c->stack = NULL;
	c->iov = NULL;
}

int capture_take(struct capture *c, pid_t pid, pid_t tid, const struct maps *maps)
{
	return capture_take_to(c, pid, tid, maps, 0);
}

/* The most iovecs one process_vm_readv takes (the kernel's UIO_MAXIOV). */
#define MAX_IOV 1024

/* Copies the stack from c->sp up to the end of its mapping (or top), and
 * the further ranges asked for (see capture.h) in the same call. */
static void copy_stack(struct capture *c, pid_t pid, const struct maps *maps, uint64_t top)
{
	const struct map_entry *e = maps_find(maps, c->sp);
	size_t want = c->cap, nmore = c->nmore, n = 1;
	ssize_t r;

	if (e && e->end - c->sp < want)
		want = (size_t)(e->end - c->sp);
	if (top > c->sp && top - c->sp < want)
		want = (size_t)(top - c->sp);
	if (nmore >= MAX_IOV)
		nmore = 0;   /* never asked for: the asker reads them itself */
	xgrow((void **)&c->iov, &c->iovcap, 2 * (1 + nmore), sizeof(*c->iov));
	c->iov[0] = (struct iovec){ c->stack, want };
	c->iov[1 + nmore] = (struct iovec){ (void *)(uintptr_t)c->sp, want };
	for (size_t i = 0; i < nmore; i++, n++) {
		c->iov[n] = c->more_local[i];
		c->iov[1 + nmore + n] = c->more_remote[i];
	}
	/* process_vm_readv stops at the first unreadable page and returns what it
	 * got, which is what we want when the cap runs past the stack's end. */
	r = process_vm_readv(pid, c->iov, n, c->iov + 1 + nmore, n, 0);
	c->len = r > 0 ? ((size_t)r < want ? (size_t)r : want) : 0;
	c->more_got = r > 0 && (size_t)r > want ? (size_t)r - want : 0;
}

int capture_asleep(struct capture *c, pid_t pid, pid_t tid, const struct maps *maps,
		   const char *line)
{
	uint64_t v[9];
	int k;

	c->tid = tid;
	c->len = 0;
	c->weight = 1;
	/* "NR a1..a6 SP PC" in a system call, "-1 SP PC" blocked elsewhere,
	 * "running" otherwise. */
	if (line[0] == '-') {
		k = sscanf(line, "-1 %" SCNx64 " %" SCNx64, &v[7], &v[8]);
		if (k != 2)
			return -1;
	} else {
		k = sscanf(line, "%" SCNu64 " %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64
			   " %" SCNx64 " %" SCNx64 " %" SCNx64, &v[0], &v[1], &v[2], &v[3], &v[4],
			   &v[5], &v[6], &v[7], &v[8]);
		if (k != 9)
			return -1;
	}
	memset(&c->regs, 0, sizeof(c->regs));
	c->regs.rsp = v[7];
	c->regs.rip = v[8];
	c->sp = v[7];
	c->when_ns = mono_ns();
	copy_stack(c, pid, maps, 0);
	return c->len > 0 ? 0 : -1;
}

int capture_take_to(struct capture *c, pid_t pid, pid_t tid, const struct maps *maps,
		    uint64_t top)
{
	c->tid = tid;
	c->len = 0;
	c->weight = 1;
	if (ptrace(PTRACE_GETREGS, tid, NULL, &c->regs) < 0)
		return -1;
	c->when_ns = mono_ns();
	c->sp = c->regs.rsp;
	copy_stack(c, pid, maps, top);
	return 0;
}
