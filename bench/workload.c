/* workload.c: the program the benchmark profiles. Busy threads run a fixed
 * unit of CPU work at the bottom of a 30-frame call chain (no frame
 * pointers, so a profiler must unwind with DWARF CFI) and count the units
 * they finish; between units each one reads the monotonic clock and keeps
 * every gap longer than a normal unit, so the pauses a profiler causes are
 * measured from inside the target. A gap is classed by the thread's own
 * context switch counters: a voluntary switch during the gap means the
 * thread was stopped (a ptrace stop: a CPU-bound thread never sleeps by
 * itself), an involuntary one alone means the scheduler preempted it, and
 * neither means an interrupt or the hypervisor. Idle threads block in
 * epoll_wait on an empty epoll set and count the EINTR returns a profiler
 * causes.
 *
 * Usage: workload [--busy N] [--idle M] [--seconds S] [--control]
 *                 [--slice-iters N] [--gap-us US]
 * Prints "ready ..." once every thread runs, then one "summary ..." line of
 * key=value pairs when the time is up, on SIGTERM or SIGINT, or (with
 * --control) when it reads "report" on standard input; "mark" there starts
 * the measured window afresh and "quit" exits. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define GAP_CAP      (1u << 18)   /* gaps kept per busy thread */
#define IDLE_STACK   (64 * 1024)  /* idle threads need little stack */

enum gap_kind { GAP_STOP, GAP_PREEMPT, GAP_OTHER, GAP_NKINDS };
static const char *const kind_names[GAP_NKINDS] = { "stop", "preempt", "other" };

struct gap {
	uint64_t start_ns;
	uint32_t len_ns;
	uint32_t kind;
};

/* One per busy thread, on its own cache lines: only its thread writes. */
struct busy {
	_Alignas(64) _Atomic uint64_t units;
	_Atomic uint32_t ngaps;
	_Atomic uint32_t dropped;
	struct gap *gaps;
	uint64_t sink;
	pthread_t thread;
	_Atomic pid_t tid;
};

static unsigned slice_iters = 500;
static uint64_t gap_ns = 10000;
static atomic_int quit;
static atomic_int idle_ready;
static _Atomic uint64_t eintr_count;
static int epfd = -1;

/* The monotonic clock in nanoseconds. */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One work unit: a fixed number of dependent xorshift steps. */
static __attribute__((noinline)) uint64_t work_unit(uint64_t x)
{
	for (unsigned i = 0; i < slice_iters; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		__asm__ volatile("" : "+r"(x));
	}
	return x;
}

/* Sorts out what kept the thread away from its loop during a gap. */
static uint32_t gap_classify(long *nvcsw, long *nivcsw)
{
	struct rusage ru;
	uint32_t kind = GAP_OTHER;

	if (getrusage(RUSAGE_THREAD, &ru) != 0)
		return GAP_OTHER;
	if (ru.ru_nvcsw != *nvcsw)
		kind = GAP_STOP;
	else if (ru.ru_nivcsw != *nivcsw)
		kind = GAP_PREEMPT;
	*nvcsw = ru.ru_nvcsw;
	*nivcsw = ru.ru_nivcsw;
	return kind;
}

/* The bottom of the chain: work units back to back, timing the gaps. */
static __attribute__((noinline)) uint64_t busy_loop(struct busy *b, uint64_t x)
{
	struct rusage ru;
	long nvcsw = 0, nivcsw = 0;
	uint64_t prev, now, units = 0;

	if (getrusage(RUSAGE_THREAD, &ru) == 0) {
		nvcsw = ru.ru_nvcsw;
		nivcsw = ru.ru_nivcsw;
	}
	prev = now_ns();
	while (!atomic_load_explicit(&quit, memory_order_relaxed)) {
		x = work_unit(x);
		atomic_store_explicit(&b->units, ++units, memory_order_relaxed);
		now = now_ns();
		if (now - prev > gap_ns) {
			uint32_t n = atomic_load_explicit(&b->ngaps, memory_order_relaxed);
			uint32_t kind = gap_classify(&nvcsw, &nivcsw);

			if (n < GAP_CAP) {
				b->gaps[n] = (struct gap){ .start_ns = prev,
					.len_ns = now - prev > UINT32_MAX ? UINT32_MAX :
						  (uint32_t)(now - prev),
					.kind = kind };
				/* Publishes the entry to the reporting thread. */
				atomic_store_explicit(&b->ngaps, n + 1, memory_order_release);
			} else
				atomic_fetch_add_explicit(&b->dropped, 1, memory_order_relaxed);
			/* The classification syscall is not part of the next gap. */
			now = now_ns();
		}
		prev = now;
	}
	return x;
}

/*
 * Thirty distinct frames above busy_loop. Each keeps a volatile local and
 * uses the callee's result after the call, so no call becomes a tail call
 * and every frame stays on the stack.
 */
#define CHAIN(n, next)                                                        \
	static __attribute__((noinline)) uint64_t chain##n(struct busy *b,    \
							   uint64_t x)        \
	{                                                                     \
		volatile uint64_t pad[(n) % 3 + 1];                           \
		pad[0] = x + (n);                                             \
		x = next(b, x * 31 + (n));                                    \
		return x ^ pad[0];                                            \
	}

CHAIN(1, busy_loop)
CHAIN(2, chain1)   CHAIN(3, chain2)   CHAIN(4, chain3)   CHAIN(5, chain4)
CHAIN(6, chain5)   CHAIN(7, chain6)   CHAIN(8, chain7)   CHAIN(9, chain8)
CHAIN(10, chain9)  CHAIN(11, chain10) CHAIN(12, chain11) CHAIN(13, chain12)
CHAIN(14, chain13) CHAIN(15, chain14) CHAIN(16, chain15) CHAIN(17, chain16)
CHAIN(18, chain17) CHAIN(19, chain18) CHAIN(20, chain19) CHAIN(21, chain20)
CHAIN(22, chain21) CHAIN(23, chain22) CHAIN(24, chain23) CHAIN(25, chain24)
CHAIN(26, chain25) CHAIN(27, chain26) CHAIN(28, chain27) CHAIN(29, chain28)
CHAIN(30, chain29)

/* A busy thread: down the chain, where it stays until quit. */
static void *busy_main(void *arg)
{
	struct busy *b = arg;

	atomic_store(&b->tid, gettid());
	b->sink = chain30(b, (uint64_t)(uintptr_t)b | 1);
	return NULL;
}

/* An idle thread: waits on nothing for ever, counting interrupted waits. */
static void *idle_main(void *arg)
{
	struct epoll_event ev;

	(void)arg;
	atomic_fetch_add(&idle_ready, 1);
	for (;;) {
		if (epoll_wait(epfd, &ev, 1, -1) < 0 && errno == EINTR)
			atomic_fetch_add_explicit(&eintr_count, 1, memory_order_relaxed);
	}
	return NULL;
}

/* qsort order for gap lengths. */
static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile of n sorted values, in microseconds (0 when empty). */
static double quantile_us(const uint32_t *v, size_t n, double q)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(q * (double)(n - 1) + 0.5);
	return v[i] / 1000.0;
}

/* Prints count, median, p90, p99 and max of the gaps in v, sorting v. */
static void print_dist(const char *prefix, uint32_t *v, size_t n, double secs, int nbusy)
{
	qsort(v, n, sizeof(*v), cmp_u32);
	printf(" %sgaps=%zu %sgaps_per_thread_s=%.1f %sp50_us=%.1f %sp90_us=%.1f"
	       " %sp99_us=%.1f %smax_us=%.1f",
	       prefix, n, prefix, nbusy && secs > 0 ? (double)n / nbusy / secs : 0.0,
	       prefix, quantile_us(v, n, 0.5), prefix, quantile_us(v, n, 0.9),
	       prefix, quantile_us(v, n, 0.99), prefix, n ? v[n - 1] / 1000.0 : 0.0);
}

/* The summary line for the window [t0, t1) that began with units u0. */
static void report(struct busy *bs, int nbusy, int nidle, uint64_t t0, uint64_t t1,
		   const uint64_t *u0, uint64_t eintr0)
{
	uint32_t *all = NULL, *bykind[GAP_NKINDS];
	size_t nall = 0, nk[GAP_NKINDS] = { 0 }, cap = 0;
	uint64_t units = 0, dropped = 0, gap_time = 0, stop_time = 0;
	double secs = (double)(t1 - t0) / 1e9;

	for (int i = 0; i < nbusy; i++)
		cap += atomic_load_explicit(&bs[i].ngaps, memory_order_acquire);
	all = malloc((cap + 1) * sizeof(*all));
	for (int k = 0; k < GAP_NKINDS; k++)
		bykind[k] = malloc((cap + 1) * sizeof(*all));
	if (!all || !bykind[0] || !bykind[1] || !bykind[2]) {
		fprintf(stderr, "workload: out of memory\n");
		exit(1);
	}
	for (int i = 0; i < nbusy; i++) {
		/* Read no further than the count seen above. */
		uint32_t n = atomic_load_explicit(&bs[i].ngaps, memory_order_acquire);

		units += atomic_load_explicit(&bs[i].units, memory_order_relaxed) - u0[i];
		dropped += atomic_load_explicit(&bs[i].dropped, memory_order_relaxed);
		for (uint32_t j = 0; j < n && nall < cap; j++) {
			const struct gap *g = &bs[i].gaps[j];
			uint64_t s = g->start_ns, e = s + g->len_ns;

			/* A gap counts if it overlaps the window; a long stop
			 * may have begun before it. */
			if (e <= t0 || s >= t1)
				continue;
			all[nall++] = g->len_ns;
			bykind[g->kind][nk[g->kind]++] = g->len_ns;
			gap_time += (e < t1 ? e : t1) - (s > t0 ? s : t0);
			if (g->kind == GAP_STOP)
				stop_time += (e < t1 ? e : t1) - (s > t0 ? s : t0);
		}
	}
	printf("summary busy=%d idle=%d seconds=%.3f units=%llu units_per_s=%.0f"
	       " unit_ns=%.0f gap_threshold_us=%.1f",
	       nbusy, nidle, secs, (unsigned long long)units, secs > 0 ? units / secs : 0.0,
	       units ? secs * 1e9 * nbusy / (double)units : 0.0, gap_ns / 1000.0);
	print_dist("", all, nall, secs, nbusy);
	for (int k = 0; k < GAP_NKINDS; k++) {
		char prefix[16];

		snprintf(prefix, sizeof(prefix), "%s_", kind_names[k]);
		print_dist(prefix, bykind[k], nk[k], secs, nbusy);
	}
	/* The share of the busy threads' time spent away from their loop. */
	printf(" gap_time_pct=%.2f stop_time_pct=%.2f",
	       secs > 0 && nbusy ? 100.0 * (double)gap_time / 1e9 / secs / nbusy : 0.0,
	       secs > 0 && nbusy ? 100.0 * (double)stop_time / 1e9 / secs / nbusy : 0.0);
	printf(" gaps_dropped=%llu eintr=%llu\n", (unsigned long long)dropped,
	       (unsigned long long)(atomic_load(&eintr_count) - eintr0));
	fflush(stdout);
	free(all);
	for (int k = 0; k < GAP_NKINDS; k++)
		free(bykind[k]);
}

/* Prints the usage text and exits 2. */
static void usage(void)
{
	fprintf(stderr, "usage: workload [--busy N] [--idle M] [--seconds S] [--control]\n"
			"                [--slice-iters N] [--gap-us US]\n");
	exit(2);
}

/* Parses a whole number in [lo, hi] or exits with the usage text. */
static long arg_long(const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "busy", required_argument, NULL, 'b' },
		{ "idle", required_argument, NULL, 'i' },
		{ "seconds", required_argument, NULL, 's' },
		{ "control", no_argument, NULL, 'c' },
		{ "slice-iters", required_argument, NULL, 'n' },
		{ "gap-us", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	int nbusy = 1, nidle = 0, control = 0, ch, sfd;
	double seconds = 0;
	struct busy *bs;
	uint64_t *u0, t0, deadline = 0, eintr0 = 0;
	pthread_attr_t idle_attr;
	pthread_t *idles = NULL;
	sigset_t sigs;
	char line[64];
	size_t linelen = 0;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			nbusy = (int)arg_long(optarg, 0, 1024);
			break;
		case 'i':
			nidle = (int)arg_long(optarg, 0, 100000);
			break;
		case 's': {
			char *end;
			seconds = strtod(optarg, &end);
			if (end == optarg || *end || seconds < 0)
				usage();
			break;
		}
		case 'c':
			control = 1;
			break;
		case 'n':
			slice_iters = (unsigned)arg_long(optarg, 1, 100000000);
			break;
		case 'g':
			gap_ns = (uint64_t)arg_long(optarg, 1, 1000000) * 1000;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* Every thread inherits this mask, so only the signalfd sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);

	bs = calloc((size_t)nbusy + 1, sizeof(*bs));
	u0 = calloc((size_t)nbusy + 1, sizeof(*u0));
	if (!bs || !u0 || sfd < 0) {
		fprintf(stderr, "workload: cannot set up: %s\n", strerror(errno));
		return 1;
	}
	for (int i = 0; i < nbusy; i++) {
		/* Untouched pages cost nothing, so a generous cap is cheap. */
		bs[i].gaps = mmap(NULL, GAP_CAP * sizeof(struct gap), PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (bs[i].gaps == MAP_FAILED ||
		    pthread_create(&bs[i].thread, NULL, busy_main, &bs[i]) != 0) {
			fprintf(stderr, "workload: cannot start busy thread %d\n", i);
			return 1;
		}
	}
	if (nidle > 0) {
		epfd = epoll_create1(EPOLL_CLOEXEC);
		if (epfd < 0) {
			fprintf(stderr, "workload: epoll_create1: %s\n", strerror(errno));
			return 1;
		}
		idles = calloc((size_t)nidle, sizeof(*idles));
		if (!idles) {
			fprintf(stderr, "workload: out of memory\n");
			return 1;
		}
		pthread_attr_init(&idle_attr);
		pthread_attr_setstacksize(&idle_attr, IDLE_STACK);
		for (int i = 0; i < nidle; i++) {
			int err = pthread_create(&idles[i], &idle_attr, idle_main, NULL);

			if (err) {
				fprintf(stderr, "workload: cannot start idle thread %d: %s\n", i,
					strerror(err));
				return 1;
			}
		}
		pthread_attr_destroy(&idle_attr);
		while (atomic_load(&idle_ready) < nidle)
			usleep(1000);
	}
	/* Let every busy thread finish a unit so its counters are live. */
	for (int i = 0; i < nbusy; i++)
		while (atomic_load(&bs[i].units) == 0)
			usleep(100);

	t0 = now_ns();
	if (seconds > 0)
		deadline = t0 + (uint64_t)(seconds * 1e9);
	/* The busy thread IDs let a sampler be pointed at them alone. */
	printf("ready pid=%d busy=%d idle=%d threads=%d busy_tids=", (int)getpid(), nbusy, nidle,
	       nbusy + nidle + 1);
	for (int i = 0; i < nbusy; i++)
		printf("%s%d", i ? "," : "", (int)atomic_load(&bs[i].tid));
	printf("\n");

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = control ? 0 : -1, .events = POLLIN },
		};
		int timeout = -1;
		char *nl;
		ssize_t r;

		if (deadline) {
			uint64_t now = now_ns();
			timeout = now >= deadline ? 0 : (int)((deadline - now) / 1000000) + 1;
		}
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents & POLLIN)
			break;
		if (deadline && now_ns() >= deadline)
			break;
		if (!(pfd[1].revents & (POLLIN | POLLHUP)))
			continue;
		r = read(0, line + linelen, sizeof(line) - 1 - linelen);
		if (r <= 0)
			goto out;
		linelen += (size_t)r;
		line[linelen] = '\0';
		while ((nl = strchr(line, '\n'))) {
			*nl = '\0';
			if (strcmp(line, "mark") == 0) {
				for (int i = 0; i < nbusy; i++)
					u0[i] = atomic_load(&bs[i].units);
				eintr0 = atomic_load(&eintr_count);
				t0 = now_ns();
				printf("marked\n");
			} else if (strcmp(line, "report") == 0) {
				report(bs, nbusy, nidle, t0, now_ns(), u0, eintr0);
			} else if (strcmp(line, "quit") == 0) {
				goto out;
			}
			linelen -= (size_t)(nl + 1 - line);
			memmove(line, nl + 1, linelen + 1);
		}
		if (linelen == sizeof(line) - 1)
			linelen = 0;	/* a line too long to be a command */
	}
	report(bs, nbusy, nidle, t0, now_ns(), u0, eintr0);
out:
	atomic_store(&quit, 1);
	for (int i = 0; i < nbusy; i++) {
		pthread_join(bs[i].thread, NULL);
		munmap(bs[i].gaps, GAP_CAP * sizeof(struct gap));
	}
	/* Idle threads wait for ever; epoll_wait is a cancellation point. */
	for (int i = 0; i < nidle; i++)
		pthread_cancel(idles[i]);
	for (int i = 0; i < nidle; i++)
		pthread_join(idles[i], NULL);
	if (epfd >= 0)
		close(epfd);
	close(sfd);
	free(idles);
	free(bs);
	free(u0);
	return 0;
}
