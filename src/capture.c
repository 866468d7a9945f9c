/* capture.c: registers and stack bytes of one stopped thread (see capture.h). */
#include "capture.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>
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

/* Copies the stack from c->sp up to the end of its mapping (or top). */
static void copy_stack(struct capture *c, pid_t pid, const struct maps *maps, uint64_t top)
{
	const struct map_entry *e = maps_find(maps, c->sp);
	struct iovec local, remote;
	size_t want = c->cap;
	ssize_t r;

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
	c->len = r > 0 ? (size_t)r : 0;
}

int capture_asleep(struct capture *c, pid_t pid, pid_t tid, const struct maps *maps, int *fd)
{
	char buf[256];
	uint64_t v[9];
	ssize_t n;
	int k;

	c->tid = tid;
	c->len = 0;
	c->weight = 1;
	if (*fd < 0) {
		snprintf(buf, sizeof(buf), "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
		*fd = open(buf, O_RDONLY | O_CLOEXEC);
		if (*fd < 0)
			return -1;
	}
	n = pread(*fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* "NR a1..a6 SP PC" in a system call, "-1 SP PC" blocked elsewhere,
	 * "running" otherwise. */
	if (buf[0] == '-') {
		k = sscanf(buf, "-1 %" SCNx64 " %" SCNx64, &v[7], &v[8]);
		if (k != 2)
			return -1;
	} else {
		k = sscanf(buf, "%" SCNu64 " %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64
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
