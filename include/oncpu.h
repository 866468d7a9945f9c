/* oncpu.h: which threads of a process are on a CPU, told by the kernel.
 * One software cpu-clock perf event per CPU samples whatever runs there at
 * the requested mean rate, at random intervals (idle excluded); each
 * sample names a thread. The
 * sampler stops exactly the threads named, soon after the kernel saw them
 * running, and never has to scan thousands of sleeping threads. Needs
 * perf_event_open on every CPU (root or CAP_PERFMON); where that is refused,
 * oncpu_open fails and the caller scans /proc instead. Owns the events and
 * their ring buffers. */
#ifndef SPROFD_ONCPU_H
#define SPROFD_ONCPU_H

#include <stdint.h>
#include <sys/types.h>

struct oncpu;

/* Opens the events; returns NULL with errno set if perf is unavailable. */
struct oncpu *oncpu_open(unsigned hz);
/* A descriptor that polls readable when samples are waiting. */
int oncpu_fd(const struct oncpu *o);
/* Calls fn for each waiting sample taken in process pid, oldest first per
 * CPU, and consumes all waiting samples. */
void oncpu_drain(struct oncpu *o, pid_t pid, void (*fn)(void *ctx, pid_t tid), void *ctx);
/* Samples the kernel dropped because we read too late. */
uint64_t oncpu_lost(const struct oncpu *o);
void oncpu_close(struct oncpu *o);
/* The time to the next sample on a CPU, for a mean period: uniform in
 * [period/2, 3 period/2] as rnd (random bits) goes, less since_ns, the
 * time since the sample it follows, but never below period/16 (see
 * jitter in oncpu.c). */
uint64_t oncpu_next_period(uint64_t period, uint64_t rnd, uint64_t since_ns);

#endif
