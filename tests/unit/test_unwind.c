/* test_unwind.c: the tracing engine against child processes whose stacks
 * are known: seizing and following threads (attach), registers and stack
 * copies (capture), libunwind over the copy (unwind), each frame named by
 * the symbolizer, and the result compared with elfutils' eu-stack.
 *
 * The children are this binary started again in a tracee mode (see
 * tracee_helper.h); their code is the uw_* functions below. Each test
 * attaches from the thread that runs it, which is also the children's
 * parent, so no Yama setting is in the way. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "attach.h"
#include "capture.h"
#include "maps.h"
#include "sprofd.h"
#include "suites.h"
#include "symbols.h"
#include "tracee_helper.h"
#include "unwind.h"
#include "util.h"

/* ---- The tracees ----
 *
 * Global functions kept out of line and out of interprocedural analysis,
 * so each exists in the binary as written and is on the stack once per
 * call. Every call that is not the last thing its caller does stays a
 * call (no tail calls), which the stores to uw_sink after them ensure. */

#ifdef __has_attribute
#if __has_attribute(noipa)
#define UW_FN __attribute__((noipa))
#endif
#endif
#ifndef UW_FN
#define UW_FN __attribute__((noinline, noclone))
#endif

/* Depth of the recursive tracee. */
#define UW_DEPTH 50

volatile unsigned uw_sink;   /* unsigned: it wraps, by design */
static int uw_idle_fds[2] = { -1, -1 };

void uw_tracee_start(void) __attribute__((constructor));
void uw_level1(int x) __attribute__((noreturn));
void uw_level2(int x);
void uw_level3(int x);
void uw_chain_main(void);
int uw_recurse(int n);
void uw_recurse_main(void);
void uw_block1(int fd);
void uw_block2(int fd);
void uw_block_main(void);
void uw_sig_handler(int sig, siginfo_t *si, void *ucv);
void uw_sig_victim(void);
void uw_sig_main(void);
void uw_idle_block(void);
void *uw_idle_thread(void *arg);
void uw_control_main(void);
void uw_exit_main(void);

/* The leaf of the spinning tracees: says it is here, then spins in this
 * frame for good. */
UW_FN void uw_level1(int x)
{
	tracee_report("spinning");
	for (;;) {
		uw_sink += x;
		__asm__ volatile("" ::: "memory");
	}
}

/* Calls a function that never returns as its very last instruction, so
 * the return address lies past this function's code: only return address
 * - 1 names it. */
UW_FN void uw_level2(int x)
{
	uw_level1(x + 1);
}

/* The middle of the chain. */
UW_FN void uw_level3(int x)
{
	uw_level2(x * 2);
	uw_sink = 3;
}

/* Mode "chain": uw_level3 -> uw_level2 -> uw_level1, spinning. */
UW_FN void uw_chain_main(void)
{
	uw_level3(7);
	uw_sink = 4;
}

/* UW_DEPTH + 1 frames of itself, then the spinning leaf (by way of
 * uw_level2, which the compiler cannot see never returns). */
UW_FN int uw_recurse(int n)
{
	int r;

	if (n == 0) {
		uw_level2(n);
		return 0;
	}
	r = uw_recurse(n - 1);
	uw_sink = r;
	return r + 1;
}

/* Mode "recurse". */
UW_FN void uw_recurse_main(void)
{
	uw_sink = uw_recurse(UW_DEPTH);
}

/* Blocks in read(2) on a pipe nobody writes to. */
UW_FN void uw_block1(int fd)
{
	char c;

	tracee_report("blocking");
	if (read(fd, &c, 1) == 1)
		uw_sink = c;
	uw_sink++;
}

/* Between the blocking leaf and the mode's entry. */
UW_FN void uw_block2(int fd)
{
	uw_block1(fd);
	uw_sink += 2;
}

/* Mode "block": waits in a system call for good. */
UW_FN void uw_block_main(void)
{
	int fds[2];

	/* Both ends stay open here, so the read never ends. */
	if (pipe(fds) == -1)
		_exit(2);
	uw_block2(fds[0]);
	uw_sink = 5;
}

/* SIGUSR2 handler: reports the interrupted pc, then spins in the handler. */
UW_FN void uw_sig_handler(int sig, siginfo_t *si, void *ucv)
{
	const ucontext_t *uc = ucv;

	tracee_report_hex("interrupted", (uint64_t)uc->uc_mcontext.gregs[REG_RIP]);
	for (;;) {
		uw_sink += sig;
		__asm__ volatile("" ::: "memory");
	}
}

/* Spins until the signal comes. */
UW_FN void uw_sig_victim(void)
{
	tracee_report("victim");
	for (;;) {
		uw_sink++;
		__asm__ volatile("" ::: "memory");
	}
}

/* Mode "signal": a handler running on top of an interrupted function. */
UW_FN void uw_sig_main(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = uw_sig_handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR2, &sa, NULL);
	uw_sig_victim();
	uw_sink = 6;
}

/* Blocks in read(2) on the idle pipe, which nobody writes to. */
UW_FN void uw_idle_block(void)
{
	char c;

	if (read(uw_idle_fds[0], &c, 1) == 1)
		uw_sink = c;
	uw_sink++;
}

/* An idle thread; one started on command reports its tid first. */
UW_FN void *uw_idle_thread(void *arg)
{
	if (arg)
		tracee_report_hex("thread", (uint64_t)gettid());
	uw_idle_block();
	uw_sink += 7;
	return NULL;
}

/* SIGUSR1 handler of the control tracee: proves delivery. */
static void uw_usr1(int sig)
{
	tracee_report("usr1");
}

/* Starts one detached idle thread. */
static void uw_spawn_idle(void *arg)
{
	pthread_t th;

	if (pthread_create(&th, NULL, uw_idle_thread, arg) != 0)
		_exit(2);
	pthread_detach(th);
}

/* Mode "control": three idle threads, a SIGUSR1 handler, and commands on
 * the main thread: 'n' starts another thread, 'p' answers "pong". */
UW_FN void uw_control_main(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = uw_usr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	if (pipe(uw_idle_fds) == -1)
		_exit(2);
	for (int i = 0; i < 3; i++)
		uw_spawn_idle(NULL);
	tracee_report("ready");
	for (;;) {
		switch (tracee_command()) {
		case 'n':
			uw_spawn_idle(uw_idle_fds);
			break;
		case 'p':
			tracee_report("pong");
			break;
		default:
			break;
		}
	}
}

/* Mode "reuse" (the sampler suite's): one thread at a time started and
 * ended on command, and a tid handed out again. 'n' starts a thread that
 * reports its tid, then waits; 'x' ends it and reports "joined"; 'r' starts
 * one under the tid of the last that ended, if no other process takes it
 * first (through ns_last_pid: root only), and it reports its tid. */
static int uw_reuse_fds[2] = { -1, -1 };
static volatile pid_t uw_reuse_tid;

static void *uw_reuse_thread(void *arg)
{
	char c;

	uw_reuse_tid = gettid();
	tracee_report_hex("thread", (uint64_t)gettid());
	(void)!read(uw_reuse_fds[0], &c, 1);
	return NULL;
}

void uw_reuse_main(void);
UW_FN void uw_reuse_main(void)
{
	pthread_t th;
	bool running = false;
	pid_t last = 0;
	char buf[32];
	int fd, n;

	if (pipe(uw_reuse_fds) == -1)
		_exit(2);
	tracee_report("ready");
	for (;;) {
		switch (tracee_command()) {
		case 'r':
			if (running || last <= 1)
				break;
			/* The next pid the kernel hands out is the one after this. */
			fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
			n = snprintf(buf, sizeof(buf), "%d", (int)last - 1);
			if (fd < 0 || write(fd, buf, (size_t)n) != n)
				_exit(3);
			close(fd);
			/* fall through */
		case 'n':
			if (running)
				break;
			if (pthread_create(&th, NULL, uw_reuse_thread, NULL) != 0)
				_exit(2);
			running = true;
			break;
		case 'x':
			if (!running)
				break;
			(void)!write(uw_reuse_fds[1], "x", 1);
			pthread_join(th, NULL);
			running = false;
			last = uw_reuse_tid;
			tracee_report("joined");
			break;
		default:
			break;
		}
	}
}

/* Mode "exit": exits at once, to leave a zombie or a free pid behind. */
UW_FN void uw_exit_main(void)
{
	_exit(0);
}

static const struct {
	const char *name;
	void (*fn)(void);
} uw_modes[] = {
	{ "chain", uw_chain_main },     { "recurse", uw_recurse_main },
	{ "block", uw_block_main },     { "signal", uw_sig_main },
	{ "control", uw_control_main }, { "exit", uw_exit_main },
	{ "reuse", uw_reuse_main },
};

/* Runs before main: in a tracee, becomes the mode and never returns. */
UW_FN void uw_tracee_start(void)
{
	const char *mode = getenv(TRACEE_ENV);

	if (!mode)
		return;
	/* Let eu-stack, which is not our parent, attach under Yama. */
	prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
	for (size_t i = 0; i < sizeof(uw_modes) / sizeof(uw_modes[0]); i++) {
		if (strcmp(uw_modes[i].name, mode) == 0) {
			uw_modes[i].fn();
			_exit(0);
		}
	}
	_exit(127);
}

/* ---- The tests' side ---- */

#define UW_MAX 256

/* One unwound and symbolized stack, leaf first. */
struct stack {
	uint64_t pcs[UW_MAX];
	int n;
	bool truncated;
	const char *fn[UW_MAX];        /* the function holding each pc */
	const char *module[UW_MAX];
	const char *names[UW_MAX * 4]; /* every frame, inlined ones too */
	uint64_t name_pc[UW_MAX * 4];
	int nnames;
};

/* What one test holds; teardown releases it even after a failed
 * assertion. */
static struct target tgt;
static struct strtab *strs;
static struct unwinder *uw;
static struct symbolizer *sym;
static struct capture cap;

/* Fresh state per test. */
static void setup(void)
{
	memset(&tgt, 0, sizeof(tgt));
	strs = strtab_new();
	capture_init(&cap, SPROFD_STACK_CAP_DEFAULT);
}

/* Kills and reaps every child, then frees what the test made. */
static void teardown(void)
{
	tracee_reap_all();
	target_fini(&tgt);
	unwinder_free(uw);
	uw = NULL;
	symbolizer_free(sym);
	sym = NULL;
	strtab_free(strs);
	strs = NULL;
	capture_fini(&cap);
}

/* Sleeps for ms milliseconds. */
static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Starts a tracee and waits for its first report, which must be want. */
static void start(struct tracee *tr, const char *mode, const char *want)
{
	char line[128];

	ck_assert_int_eq(tracee_start(tr, mode), 0);
	ck_assert_msg(tracee_read(tr, line, sizeof(line), 5000) == 0,
		      "tracee %s said nothing", mode);
	ck_assert_str_eq(line, want);
}

/* Attaches to pid from this thread; starts its unwinder and symbolizer. */
static void attach(pid_t pid)
{
	ck_assert_int_eq(target_attach(&tgt, pid), EXIT_OK);
	uw = unwinder_new(pid);
	ck_assert_ptr_nonnull(uw);
	sym = symbolizer_new(pid, strs);
	ck_assert_ptr_nonnull(sym);
}

/* The entry of thread tid in t, or NULL. */
static struct thread *thread_of(struct target *t, pid_t tid)
{
	for (size_t i = 0; i < t->nthreads; i++)
		if (t->threads[i].tid == tid)
			return &t->threads[i];
	return NULL;
}

/* Handles t's events for ms milliseconds, resuming any thread it hands
 * over. */
static void drain(struct target *t, int ms)
{
	uint64_t deadline = mono_ns() + (uint64_t)ms * 1000000;
	struct thread *th;

	do {
		while ((th = target_next_stop(t)))
			target_resume(t, th);
		sleep_ms(1);
	} while (mono_ns() < deadline);
}

/* Interrupts thread tid and waits until target_next_stop hands it over,
 * stopped. */
static struct thread *stop(struct target *t, pid_t tid)
{
	uint64_t deadline = mono_ns() + 3000000000ull;
	struct thread *th = target_find(t, tid);

	ck_assert_msg(th != NULL, "thread %d not held", (int)tid);
	ck_assert_ptr_eq(th, thread_of(t, tid));
	ck_assert_int_eq(th->state, TS_RUNNING);
	ck_assert_int_eq(target_interrupt(t, th), 0);
	ck_assert_int_eq(th->state, TS_INTERRUPTING);
	for (;;) {
		th = target_next_stop(t);
		if (th && th->tid == tid)
			break;
		ck_assert_msg(th == NULL, "thread %d stopped, not %d", (int)th->tid, (int)tid);
		ck_assert_msg(mono_ns() < deadline, "thread %d never stopped", (int)tid);
		sleep_ms(1);
	}
	ck_assert_int_eq(th->state, TS_STOPPED);
	return th;
}

/* Stops thread tid, captures it into c (copying no further than top, if
 * above SP) and lets it run again. */
static void sample_to(struct target *t, pid_t tid, struct capture *c, const struct maps *m,
		      uint64_t top)
{
	struct thread *th = stop(t, tid);

	ck_assert_int_eq(capture_take_to(c, t->pid, tid, m, top), 0);
	target_resume(t, th);
	ck_assert_int_eq(th->state, TS_RUNNING);
}

/* Stops thread tid, captures it into c and lets it run again. */
static void sample(struct target *t, pid_t tid, struct capture *c, const struct maps *m)
{
	struct thread *th = stop(t, tid);

	ck_assert_int_eq(capture_take(c, t->pid, tid, m), 0);
	ck_assert_uint_eq(c->weight, 1);
	target_resume(t, th);
	ck_assert_int_eq(th->state, TS_RUNNING);
}

/* Unwinds c with u (at most max frames) and names every pc. */
static void unwind_with(struct unwinder *u, const struct capture *c, int max, struct stack *s)
{
	int n = unwinder_unwind(u, c, s->pcs, max, &s->truncated);

	s->n = 0;
	s->nnames = 0;
	for (int i = 0; i < n; i++) {
		const struct sym_frame *f;
		int k = symbolizer_lookup(sym, s->pcs[i], &f);

		ck_assert_int_ge(k, 1);
		/* Built with sanitizers, libc calls pass through the sanitizer's
		 * interceptors: real frames, but not the program's. */
		if (strncmp(f[k - 1].module, "libasan.", 8) == 0 ||
		    strncmp(f[k - 1].module, "libubsan.", 9) == 0)
			continue;
		s->pcs[s->n] = s->pcs[i];
		s->fn[s->n] = f[k - 1].func;
		s->module[s->n] = f[k - 1].module;
		for (int j = 0; j < k && s->nnames < UW_MAX * 4; j++) {
			s->names[s->nnames] = f[j].func;
			s->name_pc[s->nnames++] = s->pcs[i];
		}
		s->n++;
	}
}

/* The stack as text, for failure messages. */
static const char *stack_str(const struct stack *s)
{
	static char buf[8192];
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < s->n && off + 1 < sizeof(buf); i++) {
		int w = snprintf(buf + off, sizeof(buf) - off, "%s%s", i ? " < " : "", s->fn[i]);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	return buf;
}

/* Index of the first pc at or after from that is in function name, or -1. */
static int find_fn(const struct stack *s, const char *name, int from)
{
	for (int i = from; i < s->n; i++)
		if (strcmp(s->fn[i], name) == 0)
			return i;
	return -1;
}

/* Samples thread tid until its leaf is in function leaf: a thread that
 * has just reported may still be on its way back from write(2). */
static void sample_at(pid_t tid, const char *leaf, struct capture *c, struct stack *s)
{
	for (int tries = 0;; tries++) {
		sample(&tgt, tid, c, unwinder_maps(uw));
		unwind_with(uw, c, UW_MAX, s);
		if (s->n > 0 && strcmp(s->fn[0], leaf) == 0)
			return;
		ck_assert_msg(tries < 500, "leaf never in %s: %s", leaf, stack_str(s));
		sleep_ms(2);
	}
}

/* Whether frame i is libc's function name, which is not exported: without
 * libc's debug symbols it can only be "[libc.so.6+0x...]". */
static bool libc_fn_is(const struct stack *s, int i, const char *name)
{
	return strcmp(s->module[i], "libc.so.6") == 0 &&
	       (strcmp(s->fn[i], name) == 0 || strncmp(s->fn[i], "[libc.so.6+", 11) == 0);
}

/* Asserts frames from..: names in order. */
static void check_seq(const struct stack *s, int from, const char *const *want, int n)
{
	ck_assert_msg(s->n >= from + n, "too few frames: %s", stack_str(s));
	for (int i = 0; i < n; i++)
		ck_assert_msg(strcmp(s->fn[from + i], want[i]) == 0, "frame %d is %s, not %s: %s",
			      from + i, s->fn[from + i], want[i], stack_str(s));
}

/* Asserts the stack ends in the process's start: the tracee constructor,
 * run from libc's start code, run from the binary's entry point. */
static void check_start(const struct stack *s, int from)
{
	int i = find_fn(s, "uw_tracee_start", from);
	int libc = -1;

	ck_assert_msg(i >= 0, "no uw_tracee_start: %s", stack_str(s));
	for (int k = i + 1; k < s->n; k++)
		if (strncmp(s->fn[k], "__libc_start_main", 17) == 0)
			libc = k;
	ck_assert_msg(libc > i, "no __libc_start_main after the constructor: %s", stack_str(s));
	ck_assert_str_eq(s->module[libc], "libc.so.6");
	ck_assert_msg(strcmp(s->fn[s->n - 1], "_start") == 0, "last frame is not _start: %s",
		      stack_str(s));
	ck_assert(!s->truncated);
}

/* Where function fn of this binary is loaded in process pid. */
static uint64_t addr_in(pid_t pid, const void *fn)
{
	struct maps *self = maps_read(getpid()), *other = maps_read(pid);
	const struct map_entry *e;
	uint64_t base_self = 0, base_other = 0, addr = (uint64_t)(uintptr_t)fn;

	ck_assert_ptr_nonnull(self);
	ck_assert_ptr_nonnull(other);
	e = maps_find(self, addr);
	ck_assert_ptr_nonnull(e);
	/* The file's first mapping (offset 0) is its load address. */
	for (size_t i = 0; i < self->n; i++)
		if (self->v[i].ino == e->ino && self->v[i].pgoff == 0) {
			base_self = self->v[i].start;
			break;
		}
	for (size_t i = 0; i < other->n; i++)
		if (other->v[i].ino == e->ino && other->v[i].pgoff == 0) {
			base_other = other->v[i].start;
			break;
		}
	ck_assert_uint_ne(base_self, 0);
	ck_assert_uint_ne(base_other, 0);
	maps_free(self);
	maps_free(other);
	return addr - base_self + base_other;
}

/* Reads n bytes of process pid at addr. */
static void peek(pid_t pid, uint64_t addr, void *buf, size_t n)
{
	struct iovec l = { buf, n }, r = { (void *)(uintptr_t)addr, n };

	ck_assert_int_eq(process_vm_readv(pid, &l, 1, &r, 1, 0), (ssize_t)n);
}

/* The main thread of a spinning tracee, sampled in its leaf. */
static void sample_chain(struct tracee *tr, struct stack *s)
{
	start(tr, "chain", "spinning");
	attach(tr->pid);
	sample_at(tr->pid, "uw_level1", &cap, s);
}

/* ---- capture ---- */

START_TEST(test_capture_copy)
{
	struct stack s;
	struct tracee tr;
	const struct map_entry *e;
	struct capture big;
	unsigned char *live;
	uint64_t t0 = mono_ns();

	sample_chain(&tr, &s);
	ck_assert_int_eq(cap.tid, tr.pid);
	ck_assert_uint_eq(cap.sp, cap.regs.rsp);
	ck_assert_uint_ge(cap.when_ns, t0);
	ck_assert_uint_le(cap.when_ns, mono_ns());
	ck_assert_uint_gt(cap.len, 0);
	ck_assert_uint_le(cap.len, cap.cap);
	/* The copy runs from SP to the end of the stack mapping, or cap. */
	e = maps_find(unwinder_maps(uw), cap.sp);
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e->path, "[stack]");
	ck_assert_uint_eq(cap.len, e->end - cap.sp < cap.cap ? e->end - cap.sp : cap.cap);
	/* The frames above a spinning leaf do not change: the copy is what
	 * the process holds. */
	live = xmalloc(cap.len);
	peek(tr.pid, cap.sp, live, cap.len);
	ck_assert(memcmp(live, cap.stack, cap.len) == 0);
	free(live);

	/* Without maps, a cap past the end of the stack is a short copy that
	 * still reaches the end of the mapping, not an error. */
	capture_init(&big, 16 << 20);
	sample(&tgt, tr.pid, &big, NULL);
	ck_assert_uint_ge(big.len, e->end - big.sp);
	ck_assert_uint_lt(big.len, big.cap);
	capture_fini(&big);

	/* A thread that is not stopped, and one that does not exist. */
	errno = 0;
	ck_assert_int_eq(capture_take(&cap, tr.pid, tr.pid, unwinder_maps(uw)), -1);
	ck_assert_int_eq(errno, ESRCH);
	errno = 0;
	ck_assert_int_eq(capture_take(&cap, tr.pid, INT_MAX, NULL), -1);
	ck_assert_int_eq(errno, ESRCH);
}
END_TEST

/* ---- unwind ---- */

START_TEST(test_unwind_chain)
{
	static const char *const want[] = { "uw_level1", "uw_level2", "uw_level3", "uw_chain_main",
					    "uw_tracee_start" };
	struct stack s, again;
	struct tracee tr;
	struct unwinder *fresh;
	struct unwind_stats st;
	const struct sym_frame *f;
	unsigned char call[5];
	int32_t rel;
	uint64_t target;

	sample_chain(&tr, &s);
	check_seq(&s, 0, want, 5);
	check_start(&s, 4);

	/* The leaf pc is the register; a caller's is its return address - 1:
	 * the byte before the return address ends a direct call to the
	 * callee, so pcs[1] + 1 - 5 starts "call uw_level1". */
	ck_assert_uint_eq(s.pcs[0], cap.regs.rip);
	peek(tr.pid, s.pcs[1] + 1 - sizeof(call), call, sizeof(call));
	ck_assert_uint_eq(call[0], 0xe8);
	memcpy(&rel, call + 1, 4);
	target = s.pcs[1] + 1 + (uint64_t)(int64_t)rel;
	ck_assert_uint_eq(target, addr_in(tr.pid, (const void *)uw_level1));
	ck_assert_int_ge(symbolizer_lookup(sym, target, &f), 1);
	ck_assert_str_eq(f[0].func, "uw_level1");
	/* Every caller's pc lies inside its call, in this binary. */
	for (int i = 1; i < 5; i++)
		ck_assert_str_eq(s.module[i], s.module[0]);

	/* A new unwinder gives the same frames, reading only the stack copy
	 * and the modules' files, never the live process. */
	fresh = unwinder_new(tr.pid);
	ck_assert_ptr_nonnull(fresh);
	unwind_with(fresh, &cap, UW_MAX, &again);
	ck_assert_int_eq(again.n, s.n);
	for (int i = 0; i < s.n; i++)
		ck_assert_uint_eq(again.pcs[i], s.pcs[i]);
	unwinder_get_stats(fresh, &st);
	ck_assert_uint_eq(st.unwinds, 1);
	ck_assert_uint_eq(st.frames, (uint64_t)s.n);
	ck_assert_uint_gt(st.mem_stack, 0);
	ck_assert_uint_gt(st.mem_module, 0);
	ck_assert_uint_eq(st.mem_live, 0);
	ck_assert_uint_eq(st.maps_reloads, 1);
	unwinder_free(fresh);
}
END_TEST

START_TEST(test_unwind_recursion)
{
	static const char *const want[] = { "uw_recurse_main", "uw_tracee_start" };
	struct stack s;
	struct tracee tr;
	int i;

	start(&tr, "recurse", "spinning");
	attach(tr.pid);
	sample_at(tr.pid, "uw_level1", &cap, &s);
	ck_assert_str_eq(s.fn[1], "uw_level2");
	for (i = 2; i < s.n && strcmp(s.fn[i], "uw_recurse") == 0; i++)
		;
	/* n = UW_DEPTH .. 0: one frame more than the depth. */
	ck_assert_msg(i - 2 == UW_DEPTH + 1, "%d uw_recurse frames: %s", i - 2, stack_str(&s));
	check_seq(&s, i, want, 2);
	check_start(&s, i);
	/* The recursive call site is the same in every frame but the last. */
	for (int k = 4; k < i; k++)
		ck_assert_uint_eq(s.pcs[k], s.pcs[3]);
}
END_TEST

START_TEST(test_unwind_blocked)
{
	static const char *const want[] = { "uw_block1", "uw_block2", "uw_block_main",
					    "uw_tracee_start" };
	struct stack s;
	struct tracee tr;

	start(&tr, "block", "blocking");
	ck_assert_int_eq(proc_wait_blocked(tr.pid, 1, SYS_read, 3000), 0);
	attach(tr.pid);
	sample(&tgt, tr.pid, &cap, unwinder_maps(uw));
	unwind_with(uw, &cap, UW_MAX, &s);
	/* The leaf is libc's read wrapper, stopped in the system call. */
	ck_assert_msg(s.n > 5, "%s", stack_str(&s));
	ck_assert_str_eq(s.module[0], "libc.so.6");
	ck_assert_msg(strstr(s.fn[0], "read") != NULL, "leaf %s", s.fn[0]);
	check_seq(&s, 1, want, 4);
	check_start(&s, 4);
	/* Interrupting the system call did not end it. */
	ck_assert_int_eq(proc_wait_blocked(tr.pid, 1, SYS_read, 3000), 0);
}
END_TEST

START_TEST(test_unwind_max_depth)
{
	struct stack s, cut;
	struct tracee tr;

	sample_chain(&tr, &s);
	ck_assert_int_gt(s.n, 6);
	ck_assert(!s.truncated);

	/* A limit below the depth: exactly max frames, the innermost ones. */
	unwind_with(uw, &cap, 5, &cut);
	ck_assert_int_eq(cut.n, 5);
	ck_assert(cut.truncated);
	for (int i = 0; i < 5; i++)
		ck_assert_uint_eq(cut.pcs[i], s.pcs[i]);
	unwind_with(uw, &cap, 1, &cut);
	ck_assert_int_eq(cut.n, 1);
	ck_assert(cut.truncated);
	ck_assert_uint_eq(cut.pcs[0], cap.regs.rip);
	/* A limit of exactly the depth is not a truncation; one less is. */
	unwind_with(uw, &cap, s.n, &cut);
	ck_assert_int_eq(cut.n, s.n);
	ck_assert(!cut.truncated);
	unwind_with(uw, &cap, s.n - 1, &cut);
	ck_assert_int_eq(cut.n, s.n - 1);
	ck_assert(cut.truncated);
	unwind_with(uw, &cap, 0, &cut);
	ck_assert_int_eq(cut.n, 0);
	ck_assert(!cut.truncated);
}
END_TEST

START_TEST(test_unwind_tiny_copy)
{
	struct stack s, small_s;
	struct tracee tr;
	struct capture small;
	struct unwind_stats before, after;

	/* 256 bytes hold a few of the recursion's frames: the rest are read
	 * from the live process, which still holds them as it spins. */
	start(&tr, "recurse", "spinning");
	attach(tr.pid);
	sample_at(tr.pid, "uw_level1", &cap, &s);
	ck_assert_uint_gt(cap.len, 1024);
	capture_init(&small, 256);
	sample(&tgt, tr.pid, &small, unwinder_maps(uw));
	ck_assert_uint_eq(small.len, 256);
	unwinder_get_stats(uw, &before);
	unwind_with(uw, &small, UW_MAX, &small_s);
	unwinder_get_stats(uw, &after);
	ck_assert_int_eq(small_s.n, s.n);
	ck_assert_str_eq(small_s.fn[0], "uw_level1");
	for (int i = 1; i < s.n; i++) {
		ck_assert_uint_eq(small_s.pcs[i], s.pcs[i]);
		ck_assert_str_eq(small_s.fn[i], s.fn[i]);
	}
	ck_assert_uint_gt(after.mem_live, before.mem_live);
	ck_assert_uint_gt(after.mem_stack, before.mem_stack);
	capture_fini(&small);
}
END_TEST

START_TEST(test_unwind_threads)
{
	static const char *const idle[] = { "uw_idle_block", "uw_idle_thread" };
	static const char *const ctl[] = { "tracee_command", "uw_control_main", "uw_tracee_start" };
	struct stack s;
	struct tracee tr;
	pid_t tids[8];
	int n;

	start(&tr, "control", "ready");
	ck_assert_int_eq(proc_wait_blocked(tr.pid, 4, SYS_read, 3000), 0);
	attach(tr.pid);
	n = proc_tasks(tr.pid, tids, 8);
	ck_assert_int_eq(n, 4);
	for (int i = 0; i < n; i++) {
		const struct map_entry *e;

		sample(&tgt, tids[i], &cap, unwinder_maps(uw));
		unwind_with(uw, &cap, UW_MAX, &s);
		ck_assert_msg(s.n >= 4, "thread %d: %s", (int)tids[i], stack_str(&s));
		ck_assert_str_eq(s.module[0], "libc.so.6");
		ck_assert(!s.truncated);
		/* Each copy ends where the thread's own stack mapping ends. */
		e = maps_find(unwinder_maps(uw), cap.sp);
		ck_assert_ptr_nonnull(e);
		ck_assert_uint_eq(cap.len, e->end - cap.sp < cap.cap ? e->end - cap.sp : cap.cap);
		if (tids[i] == tr.pid) {
			check_seq(&s, 1, ctl, 3);
			check_start(&s, 3);
		} else {
			check_seq(&s, 1, idle, 2);
			ck_assert_msg(libc_fn_is(&s, 3, "start_thread"), "thread %d: %s",
				      (int)tids[i], stack_str(&s));
			ck_assert_msg(libc_fn_is(&s, s.n - 1, "__clone3"), "thread %d: %s",
				      (int)tids[i], stack_str(&s));
		}
	}
}
END_TEST

START_TEST(test_unwind_signal_frame)
{
	static const char *const after[] = { "uw_sig_victim", "uw_sig_main", "uw_tracee_start" };
	struct stack s;
	struct tracee tr;
	const struct sym_frame *f;
	char line[128];
	unsigned long long rip = 0;
	int k;

	start(&tr, "signal", "victim");
	/* Time to get from the report into the spin loop; a signal that
	 * comes sooner interrupts the report's write(2), which serves too. */
	sleep_ms(20);
	ck_assert_int_eq(kill(tr.pid, SIGUSR2), 0);
	ck_assert_int_eq(tracee_read(&tr, line, sizeof(line), 3000), 0);
	ck_assert_int_eq(sscanf(line, "interrupted %llx", &rip), 1);
	attach(tr.pid);
	sample_at(tr.pid, "uw_sig_handler", &cap, &s);
	/* The handler, the signal return trampoline in libc, the interrupted
	 * frame, and on through the signal frame to the process's start. */
	ck_assert_msg(s.n >= 7, "%s", stack_str(&s));
	ck_assert_str_eq(s.module[1], "libc.so.6");
	ck_assert_int_ge(symbolizer_lookup(sym, s.pcs[1] + 1, &f), 1);
	ck_assert_msg(strcmp(f[0].func, "__restore_rt") == 0 ||
		      strncmp(f[0].func, "[libc.so.6+", 11) == 0, "trampoline %s", f[0].func);
	k = find_fn(&s, "uw_sig_victim", 2);
	ck_assert_msg(k >= 2, "%s", stack_str(&s));
	check_seq(&s, k, after, 3);
	check_start(&s, k + 2);
	/* The trampoline's pc (where the handler returns, not after a call)
	 * and the interrupted pc are exact; the interrupted function's caller
	 * has its return address - 1, inside the call. eu-stack -i agrees. */
	ck_assert_str_eq(s.fn[1], "__restore_rt");
	ck_assert_uint_eq(s.pcs[2], (uint64_t)rip);
	{
		unsigned char call[5];
		int32_t rel;

		peek(tr.pid, s.pcs[3] + 1 - sizeof(call), call, sizeof(call));
		ck_assert_uint_eq(call[0], 0xe8);
		memcpy(&rel, call + 1, 4);
		ck_assert_uint_eq(s.pcs[3] + 1 + (uint64_t)(int64_t)rel,
				  addr_in(tr.pid, (const void *)uw_sig_victim));
	}
}
END_TEST

START_TEST(test_unwind_stack_top)
{
	struct stack s, again;
	struct tracee tr;
	struct capture part;
	struct unwind_stats before, after;
	uint64_t top;

	/* An unwind reports how far up the stack it read; a copy that stops
	 * there unwinds the same, without reading the live process. */
	start(&tr, "recurse", "spinning");
	attach(tr.pid);
	sample_at(tr.pid, "uw_level1", &cap, &s);
	top = unwinder_stack_top(uw);
	ck_assert_uint_gt(top, cap.sp + 8 * (UW_DEPTH + 1));
	ck_assert_uint_le(top, cap.sp + cap.len);
	ck_assert_uint_lt(top - cap.sp, cap.len);

	capture_init(&part, SPROFD_STACK_CAP_DEFAULT);
	sample_to(&tgt, tr.pid, &part, unwinder_maps(uw), top);
	/* The leaf spins without moving SP. */
	ck_assert_uint_eq(part.sp, cap.sp);
	ck_assert_uint_eq(part.len, top - part.sp);
	unwinder_get_stats(uw, &before);
	unwind_with(uw, &part, UW_MAX, &again);
	unwinder_get_stats(uw, &after);
	ck_assert_int_eq(again.n, s.n);
	for (int i = 1; i < s.n; i++)
		ck_assert_uint_eq(again.pcs[i], s.pcs[i]);
	ck_assert_uint_eq(after.mem_live, before.mem_live);
	ck_assert_uint_eq(unwinder_stack_top(uw), top);

	/* A top at or below SP does not limit the copy. */
	sample_to(&tgt, tr.pid, &part, unwinder_maps(uw), part.sp);
	ck_assert_uint_eq(part.len, cap.len);
	capture_fini(&part);
}
END_TEST

START_TEST(test_unwind_ptrace_baseline)
{
	struct stack s;
	struct tracee tr;
	struct thread *th;
	uint64_t pcs[UW_MAX];
	bool trunc = true;
	int n;

	/* The in-place libunwind-ptrace unwind of a stopped thread and the
	 * unwind of its copy agree frame for frame. */
	start(&tr, "recurse", "spinning");
	attach(tr.pid);
	sample_at(tr.pid, "uw_level1", &cap, &s);
	th = stop(&tgt, tr.pid);
	ck_assert_int_eq(capture_take(&cap, tr.pid, tr.pid, unwinder_maps(uw)), 0);
	n = unwinder_unwind_ptrace(uw, tr.pid, pcs, UW_MAX, &trunc);
	target_resume(&tgt, th);
	unwind_with(uw, &cap, UW_MAX, &s);
	ck_assert_int_eq(n, s.n);
	ck_assert(!trunc);
	for (int i = 0; i < n; i++)
		ck_assert_uint_eq(pcs[i], s.pcs[i]);
	/* The same limit rules. */
	th = stop(&tgt, tr.pid);
	n = unwinder_unwind_ptrace(uw, tr.pid, pcs, 5, &trunc);
	target_resume(&tgt, th);
	ck_assert_int_eq(n, 5);
	ck_assert(trunc);
	ck_assert_uint_eq(pcs[1], s.pcs[1]);
}
END_TEST

/* One frame of eu-stack's output. */
struct eu_frame {
	uint64_t pc;
	char name[256];
};

/* Runs eu-stack -i on pid (inlined frames shown, as ours are); returns the
 * frame count. */
static int eu_stack(pid_t pid, struct eu_frame *v, int max)
{
	char cmd[64], line[1024];
	FILE *p;
	int n = 0, rc;

	snprintf(cmd, sizeof(cmd), "eu-stack -i -p %d 2>&1", (int)pid);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	while (fgets(line, sizeof(line), p)) {
		unsigned long long pc;
		int idx, used = 0;

		if (sscanf(line, " #%d 0x%llx %n", &idx, &pc, &used) < 2 || used == 0) {
			/* A header, or a frame with no name at all. */
			if (sscanf(line, " #%d 0x%llx", &idx, &pc) == 2 && n < max) {
				v[n].pc = pc;
				snprintf(v[n++].name, sizeof(v[0].name), "??");
			}
			continue;
		}
		if (n < max) {
			v[n].pc = pc;
			line[strcspn(line, "\n")] = '\0';
			snprintf(v[n++].name, sizeof(v[0].name), "%s", line + used);
		}
	}
	rc = pclose(p);
	ck_assert_msg(rc == 0, "eu-stack -p %d failed (status %d); is elfutils installed?",
		      (int)pid, rc);
	return n;
}

START_TEST(test_unwind_vs_eustack)
{
	struct eu_frame eu[UW_MAX];
	struct stack s;
	struct tracee tr;
	int neu, a = -1, b = -1;

	/* eu-stack attaches with ptrace itself, so it goes first, and we
	 * attach once it has let go; the blocked tracee is where it was. */
	start(&tr, "block", "blocking");
	ck_assert_int_eq(proc_wait_blocked(tr.pid, 1, SYS_read, 3000), 0);
	neu = eu_stack(tr.pid, eu, UW_MAX);
	ck_assert_int_gt(neu, 4);
	ck_assert_int_eq(proc_status_long(tr.pid, "TracerPid:"), 0);
	ck_assert_int_eq(proc_wait_blocked(tr.pid, 1, SYS_read, 3000), 0);

	attach(tr.pid);
	sample(&tgt, tr.pid, &cap, unwinder_maps(uw));
	unwind_with(uw, &cap, UW_MAX, &s);
	for (int i = 0; i < neu && a < 0; i++)
		if (strcmp(eu[i].name, "uw_block1") == 0)
			a = i;
	for (int i = 0; i < s.nnames && b < 0; i++)
		if (strcmp(s.names[i], "uw_block1") == 0)
			b = i;
	ck_assert_msg(a >= 0, "eu-stack has no uw_block1 (%d frames, first %s)", neu,
		      eu[0].name);
	ck_assert_msg(b >= 0, "no uw_block1: %s", stack_str(&s));
	/* From the test's function to the entry point: the same functions,
	 * inlined ones included, at the same addresses (eu-stack prints the
	 * return address itself, we the address inside the call). */
	ck_assert_int_eq(neu - a, s.nnames - b);
	for (int i = 0; i < neu - a; i++) {
		ck_assert_msg(strcmp(eu[a + i].name, s.names[b + i]) == 0,
			      "frame %d: eu-stack %s, sprofd %s", i, eu[a + i].name, s.names[b + i]);
		ck_assert_uint_eq(eu[a + i].pc, s.name_pc[b + i] + 1);
	}
	/* The leaf too: the same pc. */
	ck_assert_uint_eq(eu[0].pc, s.pcs[0]);
}
END_TEST

/* Random stacks and registers never crash or hang the unwinder, and the
 * leaf pc is always reported. */
START_TEST(test_unwind_garbage)
{
	struct tracee tr;
	struct capture junk;
	uint64_t pcs[UW_MAX], code;
	unsigned seed = 12345;
	bool trunc;

	/* Random stacks: no crash, the leaf pc always reported, and (under
	 * valgrind) no decision on a value a failed read left unset. */
	start(&tr, "chain", "spinning");
	uw = unwinder_new(tr.pid);
	ck_assert_ptr_nonnull(uw);
	code = addr_in(tr.pid, (const void *)uw_level3);
	capture_init(&junk, 4096);
	for (int round = 0; round < 300; round++) {
		int n;

		memset(&junk.regs, 0, sizeof(junk.regs));
		for (size_t i = 0; i < junk.cap; i++)
			junk.stack[i] = (unsigned char)rand_r(&seed);
		junk.tid = tr.pid;
		junk.len = (size_t)rand_r(&seed) % (junk.cap + 1);
		junk.sp = 0x7ffd00000000ull + ((uint64_t)rand_r(&seed) << 4);
		junk.regs.rsp = junk.sp;
		junk.regs.rbp = junk.sp + (uint64_t)(rand_r(&seed) % 256);
		junk.regs.rip = round % 3 == 0 ? (uint64_t)rand_r(&seed) : code + (uint64_t)(round % 40);
		n = unwinder_unwind(uw, &junk, pcs, UW_MAX, &trunc);
		ck_assert_int_le(n, UW_MAX);
		if (junk.regs.rip != 0) {
			ck_assert_int_ge(n, 1);
			ck_assert_uint_eq(pcs[0], junk.regs.rip);
		}
	}
	/* A zero pc is no frame at all. */
	junk.regs.rip = 0;
	ck_assert_int_eq(unwinder_unwind(uw, &junk, pcs, UW_MAX, &trunc), 0);
	capture_fini(&junk);
}
END_TEST

START_TEST(test_unwinder_maps)
{
	struct tracee tr;
	struct unwind_stats st;

	/* No process, no unwinder. */
	ck_assert_ptr_null(unwinder_new(INT_MAX));
	start(&tr, "chain", "spinning");
	uw = unwinder_new(tr.pid);
	ck_assert_ptr_nonnull(uw);
	ck_assert_ptr_nonnull(maps_find(unwinder_maps(uw),
					addr_in(tr.pid, (const void *)uw_level1)));
	/* Re-read on demand, and not again within the interval. */
	ck_assert(unwinder_refresh_maps(uw, 0));
	ck_assert(!unwinder_refresh_maps(uw, 3600000000000ull));
	unwinder_get_stats(uw, &st);
	ck_assert_uint_eq(st.maps_reloads, 2);
	ck_assert_uint_eq(st.unwinds, 0);
}
END_TEST

/* ---- attach ---- */

START_TEST(test_attach_refused)
{
	struct tracee tr;
	siginfo_t si;
	int st;

	/* Ourselves. */
	ck_assert_int_eq(target_attach(&tgt, getpid()), EXIT_NO_TARGET);
	ck_assert_int_eq(tgt.nthreads, 0);
	target_fini(&tgt);
	/* A pid that cannot exist. */
	ck_assert_int_eq(target_attach(&tgt, INT_MAX), EXIT_NO_TARGET);
	target_fini(&tgt);
	/* A zombie: exited, not reaped yet. */
	ck_assert_int_eq(tracee_start(&tr, "exit"), 0);
	memset(&si, 0, sizeof(si));
	ck_assert_int_eq(waitid(P_PID, (id_t)tr.pid, &si, WEXITED | WNOWAIT), 0);
	ck_assert_int_eq(proc_state(tr.pid), 'Z');
	ck_assert_int_eq(target_attach(&tgt, tr.pid), EXIT_NO_TARGET);
	ck_assert_int_eq(tgt.nthreads, 0);
	target_fini(&tgt);
	/* Gone altogether. */
	ck_assert_int_eq(waitpid(tr.pid, &st, 0), tr.pid);
	ck_assert_int_eq(target_attach(&tgt, tr.pid), EXIT_NO_TARGET);
}
END_TEST

/* What a tracer thread of the tests hands back. */
struct tracer {
	pid_t pid;
	int mode;             /* 0: sample and release; 1: leave threads held */
	int attach_rc;
	int samples;
	pthread_barrier_t *hold;  /* mode 2: seize, then wait here */
};

/* Attaches from a thread of its own, samples, then returns without
 * detaching: the kernel detaches when the thread exits. */
static void *tracer_main(void *arg)
{
	struct tracer *tc = arg;
	struct target t;
	struct capture c;
	struct thread *th;
	uint64_t deadline;

	if (tc->mode == 2) {
		tc->attach_rc = (int)ptrace(PTRACE_SEIZE, tc->pid, NULL, NULL);
		pthread_barrier_wait(tc->hold);
		pthread_barrier_wait(tc->hold);
		return NULL;
	}
	tc->attach_rc = target_attach(&t, tc->pid);
	if (tc->attach_rc != EXIT_OK) {
		target_fini(&t);
		return NULL;
	}
	capture_init(&c, 4096);
	for (int round = 0; round < 5; round++) {
		for (size_t i = 0; i < t.nthreads; i++)
			target_interrupt(&t, &t.threads[i]);
		deadline = mono_ns() + 2000000000ull;
		for (int got = 0; got < (int)t.nthreads && mono_ns() < deadline;) {
			if (!(th = target_next_stop(&t))) {
				sleep_ms(1);
				continue;
			}
			got++;
			if (capture_take(&c, t.pid, th->tid, NULL) == 0)
				tc->samples++;
			/* In the last round, mode 1 keeps one thread in our stop. */
			if (tc->mode == 1 && round == 4 && th->tid == t.pid)
				continue;
			target_resume(&t, th);
		}
	}
	if (tc->mode == 1) {
		/* And one interrupt still outstanding. */
		for (size_t i = 0; i < t.nthreads; i++)
			if (t.threads[i].state == TS_RUNNING) {
				target_interrupt(&t, &t.threads[i]);
				break;
			}
	} else {
		target_release(&t, 100000000ull);
	}
	capture_fini(&c);
	target_fini(&t);
	return NULL;
}

/* Asserts every thread of pid is untraced and not stopped, and that the
 * process still answers. */
static void check_free(struct tracee *tr)
{
	uint64_t deadline = mono_ns() + 3000000000ull;
	pid_t tids[16];
	char line[64];
	int n, i;

	/* The detach happens as the thread exits, which can finish after
	 * pthread_join returns. */
	for (;;) {
		n = proc_tasks(tr->pid, tids, 16);
		for (i = 0; i < n; i++) {
			char state = proc_state(tids[i]);
			if (proc_status_long(tids[i], "TracerPid:") != 0 || state == 't' ||
			    state == 'T')
				break;
		}
		if (i == n)
			break;
		ck_assert_msg(mono_ns() < deadline, "thread %d: TracerPid %ld, state %c",
			      (int)tids[i], proc_status_long(tids[i], "TracerPid:"),
			      proc_state(tids[i]));
		sleep_ms(5);
	}
	ck_assert_int_eq(n, 4);
	ck_assert_int_eq(tracee_send(tr, 'p'), 0);
	ck_assert_int_eq(tracee_read(tr, line, sizeof(line), 3000), 0);
	ck_assert_str_eq(line, "pong");
}

START_TEST(test_attach_traced)
{
	struct tracee tr;
	struct tracer tc = { 0 };
	pthread_barrier_t hold;
	pthread_t th;

	/* Held by another tracer (here a thread of ours): refused as such. */
	start(&tr, "control", "ready");
	pthread_barrier_init(&hold, NULL, 2);
	tc.pid = tr.pid;
	tc.mode = 2;
	tc.hold = &hold;
	ck_assert_int_eq(pthread_create(&th, NULL, tracer_main, &tc), 0);
	pthread_barrier_wait(&hold);
	ck_assert_int_eq(tc.attach_rc, 0);
	ck_assert_int_eq(target_attach(&tgt, tr.pid), EXIT_TRACED);
	pthread_barrier_wait(&hold);
	pthread_join(th, NULL);
	pthread_barrier_destroy(&hold);
}
END_TEST

START_TEST(test_attach_threads)
{
	struct tracee tr;
	pid_t tids[16];
	char line[64];
	int n;

	start(&tr, "control", "ready");
	ck_assert_int_eq(proc_wait_blocked(tr.pid, 4, SYS_read, 3000), 0);
	ck_assert_int_eq(target_attach(&tgt, tr.pid), EXIT_OK);
	ck_assert_int_eq(tgt.pid, tr.pid);
	/* The command name: the binary's name, cut to 15 characters. */
	ck_assert(strrchr(tracee_exe(), '/') != NULL);
	ck_assert_int_eq(strncmp(tgt.comm, strrchr(tracee_exe(), '/') + 1, 15), 0);
	n = proc_tasks(tr.pid, tids, 16);
	ck_assert_int_eq(n, 4);
	ck_assert_int_eq(tgt.nthreads, (size_t)n);
	ck_assert_uint_eq(tgt.threads_seen, (unsigned)n);
	for (int i = 0; i < n; i++) {
		struct thread *th = thread_of(&tgt, tids[i]);
		ck_assert_ptr_nonnull(th);
		ck_assert_int_eq(th->state, TS_RUNNING);
		ck_assert_int_eq(proc_status_long(tids[i], "TracerPid:"), (long)gettid());
	}
	/* Seizing does not stop anything: it still answers. */
	ck_assert_int_eq(tracee_send(&tr, 'p'), 0);
	ck_assert_int_eq(tracee_read(&tr, line, sizeof(line), 3000), 0);
	ck_assert_str_eq(line, "pong");
	ck_assert(!tgt.gone);
}
END_TEST

START_TEST(test_attach_new_thread)
{
	static const char *const idle[] = { "uw_idle_block", "uw_idle_thread" };
	struct tracee tr;
	struct stack s;
	unsigned long long tid = 0;
	uint64_t deadline;
	char line[64];
	bool got = false;

	start(&tr, "control", "ready");
	attach(tr.pid);
	ck_assert_int_eq(tgt.nthreads, 4);
	ck_assert_int_eq(tracee_send(&tr, 'n'), 0);
	/* The new thread starts in a ptrace stop: it reports only once the
	 * clone events have been handled and it was let go. */
	deadline = mono_ns() + 3000000000ull;
	while (!got || tgt.nthreads < 5) {
		drain(&tgt, 1);
		if (!got && tracee_readable(&tr, 0)) {
			ck_assert_int_eq(tracee_read(&tr, line, sizeof(line), 1000), 0);
			ck_assert_int_eq(sscanf(line, "thread %llx", &tid), 1);
			got = true;
		}
		ck_assert_msg(mono_ns() < deadline, "new thread: reported %d, %zu threads", got,
			      tgt.nthreads);
	}
	ck_assert_int_eq(tgt.nthreads, 5);
	ck_assert_uint_eq(tgt.threads_seen, 5);
	ck_assert_ptr_nonnull(thread_of(&tgt, (pid_t)tid));
	ck_assert_int_eq(proc_status_long((pid_t)tid, "TracerPid:"), (long)gettid());
	ck_assert_int_eq(proc_tasks(tr.pid, (pid_t[8]){ 0 }, 8), 5);
	/* And it can be sampled like the others. */
	ck_assert_int_eq(proc_wait_blocked(tr.pid, 5, SYS_read, 3000), 0);
	sample(&tgt, (pid_t)tid, &cap, unwinder_maps(uw));
	unwind_with(uw, &cap, UW_MAX, &s);
	check_seq(&s, 1, idle, 2);
}
END_TEST

/* Drains t until the tracee reports want, or fails after ms. */
static void drain_until_line(struct tracee *tr, const char *want, int ms)
{
	uint64_t deadline = mono_ns() + (uint64_t)ms * 1000000;
	char line[64];

	for (;;) {
		drain(&tgt, 1);
		if (tracee_readable(tr, 0)) {
			ck_assert_int_eq(tracee_read(tr, line, sizeof(line), 1000), 0);
			ck_assert_str_eq(line, want);
			return;
		}
		ck_assert_msg(mono_ns() < deadline, "no \"%s\" from the tracee", want);
	}
}

START_TEST(test_attach_signal)
{
	struct tracee tr;

	start(&tr, "control", "ready");
	ck_assert_int_eq(target_attach(&tgt, tr.pid), EXIT_OK);
	/* Each signal reaches the handler: the tracer hands it back. */
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(kill(tr.pid, SIGUSR1), 0);
		drain_until_line(&tr, "usr1", 3000);
	}
	ck_assert_int_eq(tracee_send(&tr, 'p'), 0);
	drain_until_line(&tr, "pong", 3000);
}
END_TEST

START_TEST(test_attach_signal_and_interrupt)
{
	struct tracee tr;

	start(&tr, "control", "ready");
	ck_assert_int_eq(proc_wait_blocked(tr.pid, 4, SYS_read, 3000), 0);
	ck_assert_int_eq(target_attach(&tgt, tr.pid), EXIT_OK);
	/* A signal racing our interrupt: neither is lost, whichever wins. */
	for (int i = 0; i < 20; i++) {
		struct thread *th = thread_of(&tgt, tr.pid);
		uint64_t deadline = mono_ns() + 3000000000ull;
		bool stopped = false, delivered = false;
		char line[64];

		ck_assert_ptr_nonnull(th);
		if (i % 2)
			ck_assert_int_eq(syscall(SYS_tgkill, tr.pid, tr.pid, SIGUSR1), 0);
		ck_assert_int_eq(target_interrupt(&tgt, th), 0);
		if (i % 2 == 0)
			ck_assert_int_eq(syscall(SYS_tgkill, tr.pid, tr.pid, SIGUSR1), 0);
		while (!stopped || !delivered) {
			struct thread *got = target_next_stop(&tgt);
			if (got) {
				ck_assert_int_eq(got->tid, tr.pid);
				ck_assert_int_eq(capture_take(&cap, tr.pid, got->tid, NULL), 0);
				target_resume(&tgt, got);
				stopped = true;
			}
			if (tracee_readable(&tr, got ? 0 : 1)) {
				ck_assert_int_eq(tracee_read(&tr, line, sizeof(line), 1000), 0);
				ck_assert_str_eq(line, "usr1");
				delivered = true;
			}
			ck_assert_msg(mono_ns() < deadline, "round %d: stopped %d, delivered %d", i,
				      stopped, delivered);
		}
	}
}
END_TEST

START_TEST(test_attach_job_control)
{
	struct tracee tr;
	uint64_t deadline;
	size_t n;

	start(&tr, "control", "ready");
	ck_assert_int_eq(target_attach(&tgt, tr.pid), EXIT_OK);
	/* kill -STOP: every thread ends up in a group stop we leave alone. */
	ck_assert_int_eq(kill(tr.pid, SIGSTOP), 0);
	deadline = mono_ns() + 3000000000ull;
	do {
		drain(&tgt, 1);
		n = 0;
		for (size_t i = 0; i < tgt.nthreads; i++)
			n += tgt.threads[i].state == TS_GROUP_STOPPED;
		ck_assert_msg(mono_ns() < deadline, "%zu of %zu threads group-stopped", n,
			      tgt.nthreads);
	} while (n < tgt.nthreads);
	/* Stopped means stopped: no answer. */
	ck_assert_int_eq(tracee_send(&tr, 'p'), 0);
	drain(&tgt, 200);
	ck_assert(!tracee_readable(&tr, 0));
	/* kill -CONT: it runs again and answers the waiting command. */
	ck_assert_int_eq(kill(tr.pid, SIGCONT), 0);
	drain_until_line(&tr, "pong", 3000);
	deadline = mono_ns() + 3000000000ull;
	for (size_t i = 0; i < tgt.nthreads; i++) {
		while (tgt.threads[i].state != TS_RUNNING) {
			drain(&tgt, 1);
			ck_assert_msg(mono_ns() < deadline, "thread %d still %d", tgt.threads[i].tid,
				      tgt.threads[i].state);
		}
	}
	/* And sampling works again. */
	sample(&tgt, tr.pid, &cap, NULL);
	ck_assert_int_gt(cap.len, 0);
}
END_TEST

/* A process stopped by job control before we attach (sprofd dump): with
 * target_take_group_stops, each thread's report of its group-stop is
 * handed over as a stop of ours, in which its registers and stack can be
 * read and unwound to where it sleeps; target_detach lets it go untraced
 * and still stopped, and it runs again only at SIGCONT. */
START_TEST(test_attach_stopped_snapshot)
{
	static const char *const idle[] = { "uw_idle_block", "uw_idle_thread" };
	uint64_t start_ns, deadline;
	struct tracee tr;
	struct thread *th;
	struct stack s;
	pid_t tids[8];
	size_t taken = 0;
	bool nudged = false;
	char line[64];
	int n;

	start(&tr, "control", "ready");
	n = proc_tasks(tr.pid, tids, 8);
	ck_assert_int_eq(n, 4);
	/* Every thread where it sleeps, not still starting, when stopped. */
	ck_assert_int_eq(proc_wait_blocked(tr.pid, n, SYS_read, 3000), 0);
	ck_assert_int_eq(kill(tr.pid, SIGSTOP), 0);
	deadline = mono_ns() + 3000000000ull;
	for (int i = 0; i < n; i++)
		while (proc_state(tids[i]) != 'T') {
			sleep_ms(1);
			ck_assert_msg(mono_ns() < deadline, "thread %d not stopped", (int)tids[i]);
		}
	attach(tr.pid);
	target_take_group_stops(&tgt, true);
	start_ns = mono_ns();
	/* Unwinding under valgrind takes a while. */
	deadline = start_ns + 10000000000ull;
	while (taken < (size_t)n) {
		while ((th = target_next_stop(&tgt))) {
			ck_assert_int_eq(th->state, TS_STOPPED);
			ck_assert_int_eq(capture_take(&cap, tr.pid, th->tid, unwinder_maps(uw)), 0);
			if (th->tid != tr.pid) {
				unwind_with(uw, &cap, UW_MAX, &s);
				check_seq(&s, 1, idle, 2);
			}
			target_detach(&tgt, th);
			taken++;
		}
		/* Kernels that do not report the stop again on seizing. */
		if (!nudged && mono_ns() - start_ns > 100000000ull) {
			for (size_t i = 0; i < tgt.nthreads; i++)
				if (tgt.threads[i].state == TS_RUNNING)
					target_interrupt(&tgt, &tgt.threads[i]);
			nudged = true;
		}
		if (taken < (size_t)n) {
			sleep_ms(1);
			ck_assert_msg(mono_ns() < deadline, "%zu of %d threads handed over", taken,
				      n);
		}
	}
	ck_assert_uint_eq(tgt.nthreads, 0);
	/* A thread detached from a ptrace stop wakes and, the process being
	 * stopped, goes back into its group stop: 'R' for a moment. */
	deadline = mono_ns() + 3000000000ull;
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(proc_status_long(tids[i], "TracerPid:"), 0);
		while (proc_state(tids[i]) != 'T') {
			sleep_ms(1);
			ck_assert_msg(mono_ns() < deadline, "thread %d is %c", (int)tids[i],
				      proc_state(tids[i]));
		}
	}
	/* Still stopped: no answer until SIGCONT. */
	ck_assert_int_eq(tracee_send(&tr, 'p'), 0);
	ck_assert(!tracee_readable(&tr, 200));
	ck_assert_int_eq(kill(tr.pid, SIGCONT), 0);
	ck_assert_int_eq(tracee_read(&tr, line, sizeof(line), 3000), 0);
	ck_assert_str_eq(line, "pong");
}
END_TEST

START_TEST(test_attach_tracer_exits)
{
	struct tracee tr;
	pthread_t th;

	/* mode 0 releases what it holds; mode 1 leaves one thread in our stop
	 * and one interrupt outstanding, for the kernel to clear. */
	start(&tr, "control", "ready");
	ck_assert_int_eq(proc_wait_blocked(tr.pid, 4, SYS_read, 3000), 0);
	for (int mode = 0; mode < 2; mode++) {
		struct tracer tc = { .pid = tr.pid, .mode = mode };

		ck_assert_int_eq(pthread_create(&th, NULL, tracer_main, &tc), 0);
		ck_assert_int_eq(pthread_join(th, NULL), 0);
		ck_assert_int_eq(tc.attach_rc, EXIT_OK);
		ck_assert_int_eq(tc.samples, 5 * 4);
		check_free(&tr);
	}
}
END_TEST

Suite *suite_unwind(void)
{
	Suite *s = suite_create("unwind");
	TCase *tc;

	tc = tcase_create("capture");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_capture_copy);
	suite_add_tcase(s, tc);

	tc = tcase_create("unwind");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_unwind_chain);
	tcase_add_test(tc, test_unwind_recursion);
	tcase_add_test(tc, test_unwind_blocked);
	tcase_add_test(tc, test_unwind_max_depth);
	tcase_add_test(tc, test_unwind_tiny_copy);
	tcase_add_test(tc, test_unwind_stack_top);
	tcase_add_test(tc, test_unwind_ptrace_baseline);
	tcase_add_test(tc, test_unwind_threads);
	tcase_add_test(tc, test_unwind_signal_frame);
	tcase_add_test(tc, test_unwind_vs_eustack);
	tcase_add_test(tc, test_unwind_garbage);
	tcase_add_test(tc, test_unwinder_maps);
	suite_add_tcase(s, tc);

	tc = tcase_create("attach");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_attach_refused);
	tcase_add_test(tc, test_attach_traced);
	tcase_add_test(tc, test_attach_threads);
	tcase_add_test(tc, test_attach_new_thread);
	tcase_add_test(tc, test_attach_signal);
	tcase_add_test(tc, test_attach_signal_and_interrupt);
	tcase_add_test(tc, test_attach_job_control);
	tcase_add_test(tc, test_attach_stopped_snapshot);
	tcase_add_test(tc, test_attach_tracer_exits);
	suite_add_tcase(s, tc);
	return s;
}
