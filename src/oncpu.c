/* oncpu.c: per-CPU cpu-clock sampling to learn which threads run (see
 * oncpu.h). */
#include "oncpu.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
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
	uint64_t period;    /* mean ns between samples on a CPU */
	bool timed;         /* samples carry CLOCK_MONOTONIC times */
	uint64_t seed, seq; /* for the jitter */
};

/* Each sample we act on stops a thread, and the CPU goes to another
 * thread of the target at that very moment; with a fixed period, the
 * scheduler's rotation then falls into step with the samples, and a thread
 * can run a whole share of the CPU without ever being the one seen at the
 * sample (measured: 4 runs in 10 with 8 busy threads on 2 CPUs gave one
 * thread 0-3% of the samples for 12% of the CPU). So after each such
 * sample the next one on that CPU is due after a random time, uniform in
 * [period/2, 3 period/2] counted from that sample: the mean rate stays the
 * requested one. PERF_EVENT_IOC_PERIOD restarts the event's timer from
 * now, so the time since the sample is taken off. */
static void jitter(struct oncpu *o, struct ring *r, uint64_t sample_ns)
{
	uint64_t since = 0, next;

	if (o->timed && sample_ns) {
		uint64_t now = mono_ns();

		since = now > sample_ns ? now - sample_ns : 0;
	}
	next = oncpu_next_period(o->period, hash_u64(o->seed + ++o->seq), since);
	ioctl(r->fd, PERF_EVENT_IOC_PERIOD, &next);
}

uint64_t oncpu_next_period(uint64_t period, uint64_t rnd, uint64_t since_ns)
{
	uint64_t next = period / 2 + rnd % (period + 1);

	return next > since_ns + period / 16 ? next - since_ns : period / 16;
}

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
	a.sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME;
	a.use_clockid = 1;
	a.clockid = CLOCK_MONOTONIC;
	a.exclude_idle = 1;
	a.wakeup_events = 1;
	o->period = a.sample_period;
	o->timed = true;
	o->seed = mono_ns() ^ (uint64_t)getpid() << 32;
	for (int cpu = 0; cpu < ncpu; cpu++) {
		struct ring *r = &o->rings[o->nrings];
		struct epoll_event ev = { .events = EPOLLIN };
		void *m;

		r->fd = perf_open(&a, cpu);
		if (r->fd < 0 && errno == EINVAL && o->timed && opened == 0) {
			/* A kernel without use_clockid (before 4.1): untimed
			 * samples, the jitter counted from when they are read. */
			a.sample_type = PERF_SAMPLE_TID;
			a.use_clockid = 0;
			o->timed = false;
			r->fd = perf_open(&a, cpu);
		}
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
		uint64_t last_ns = 0;
		bool ours = false;

		while (tail < head) {
			struct perf_event_header h;
			/* PERF_SAMPLE_TID, then PERF_SAMPLE_TIME if asked for. */
			struct { uint32_t pid, tid; uint64_t time; } s = { 0, 0, 0 };
			size_t len = o->timed ? 16 : 8;

			ring_copy(r, tail, &h, sizeof(h));
			if (h.size < sizeof(h))
				break;
			if (h.type == PERF_RECORD_SAMPLE && h.size >= sizeof(h) + len) {
				ring_copy(r, tail + sizeof(h), &s, len);
				if (!pid || (pid_t)s.pid == pid) {
					fn(ctx, (pid_t)s.tid);
					ours = true;
					last_ns = s.time;
				}
			} else if (h.type == PERF_RECORD_LOST && h.size >= sizeof(h) + 16) {
				uint64_t lost[2];
				ring_copy(r, tail + sizeof(h), lost, sizeof(lost));
				o->lost += lost[1];
			}
			tail += h.size;
		}
		__atomic_store_n(&r->meta->data_tail, head, __ATOMIC_RELEASE);
		if (ours)
			jitter(o, r, last_ns);
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
