/* oncpu.c: per-CPU cpu-clock sampling to learn which threads run (see
 * oncpu.h). */
#include "oncpu.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

/* Data pages per ring: at 16 bytes a sample, room for 1,024 samples per
 * CPU between two reads. */
#define RING_PAGES 4

struct ring {
	int fd;
	struct perf_event_mmap_page *meta;
	unsigned char *data;
	size_t size;
};

struct oncpu {
	struct ring *rings;
	int nrings;
	int epfd;
	uint64_t lost;
};

static int perf_open(struct perf_event_attr *a, int cpu)
{
	return (int)syscall(SYS_perf_event_open, a, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

struct oncpu *oncpu_open(unsigned hz)
{
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	long page = sysconf(_SC_PAGESIZE);
	struct perf_event_attr a;
	struct oncpu *o;
	int opened = 0;

	if (ncpu < 1 || hz == 0)
		return NULL;
	o = xcalloc(1, sizeof(*o));
	o->rings = xcalloc((size_t)ncpu, sizeof(*o->rings));
	o->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (o->epfd < 0)
		goto fail;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_SOFTWARE;
	a.config = PERF_COUNT_SW_CPU_CLOCK;
	a.sample_period = 1000000000ull / hz;   /* cpu-clock counts ns */
	a.sample_type = PERF_SAMPLE_TID;
	a.exclude_idle = 1;
	a.wakeup_events = 1;
	for (int cpu = 0; cpu < ncpu; cpu++) {
		struct ring *r = &o->rings[o->nrings];
		struct epoll_event ev = { .events = EPOLLIN };
		void *m;

		r->fd = perf_open(&a, cpu);
		if (r->fd < 0) {
			/* An offline CPU cannot be opened; anything else is fatal. */
			if (errno == ENODEV || errno == EINVAL)
				continue;
			goto fail;
		}
		m = mmap(NULL, (size_t)page * (1 + RING_PAGES), PROT_READ | PROT_WRITE, MAP_SHARED,
			 r->fd, 0);
		if (m == MAP_FAILED) {
			close(r->fd);
			goto fail;
		}
		r->meta = m;
		r->data = (unsigned char *)m + page;
		r->size = (size_t)page * RING_PAGES;
		ev.data.u32 = (uint32_t)o->nrings;
		epoll_ctl(o->epfd, EPOLL_CTL_ADD, r->fd, &ev);
		o->nrings++;
		opened++;
	}
	if (opened == 0) {
		errno = ENODEV;
		goto fail;
	}
	return o;
fail:
	{
		int e = errno;
		oncpu_close(o);
		errno = e;
	}
	return NULL;
}

int oncpu_fd(const struct oncpu *o)
{
	return o->epfd;
}

/* Copies len bytes at ring offset off, wrapping at the end. */
static void ring_copy(const struct ring *r, uint64_t off, void *dst, size_t len)
{
	size_t at = (size_t)(off % r->size), first = r->size - at;

	if (first >= len) {
		memcpy(dst, r->data + at, len);
	} else {
		memcpy(dst, r->data + at, first);
		memcpy((unsigned char *)dst + first, r->data, len - first);
	}
}

void oncpu_drain(struct oncpu *o, pid_t pid, void (*fn)(void *ctx, pid_t tid), void *ctx)
{
	struct epoll_event evs[16];

	/* Clears readiness; the rings are read whatever it says. */
	while (epoll_wait(o->epfd, evs, 16, 0) > 0)
		;
	for (int i = 0; i < o->nrings; i++) {
		struct ring *r = &o->rings[i];
		uint64_t head = __atomic_load_n(&r->meta->data_head, __ATOMIC_ACQUIRE);
		uint64_t tail = r->meta->data_tail;

		while (tail < head) {
			struct perf_event_header h;
			struct { uint32_t pid, tid; } s;

			ring_copy(r, tail, &h, sizeof(h));
			if (h.size < sizeof(h))
				break;
			if (h.type == PERF_RECORD_SAMPLE && h.size >= sizeof(h) + sizeof(s)) {
				ring_copy(r, tail + sizeof(h), &s, sizeof(s));
				if ((pid_t)s.pid == pid)
					fn(ctx, (pid_t)s.tid);
			} else if (h.type == PERF_RECORD_LOST && h.size >= sizeof(h) + 16) {
				uint64_t lost[2];
				ring_copy(r, tail + sizeof(h), lost, sizeof(lost));
				o->lost += lost[1];
			}
			tail += h.size;
		}
		__atomic_store_n(&r->meta->data_tail, head, __ATOMIC_RELEASE);
	}
}

uint64_t oncpu_lost(const struct oncpu *o)
{
	return o->lost;
}

void oncpu_close(struct oncpu *o)
{
	long page = sysconf(_SC_PAGESIZE);

	if (!o)
		return;
	for (int i = 0; i < o->nrings; i++) {
		munmap(o->rings[i].meta, (size_t)page * (1 + RING_PAGES));
		close(o->rings[i].fd);
	}
	if (o->epfd >= 0)
		close(o->epfd);
	free(o->rings);
	free(o);
}
