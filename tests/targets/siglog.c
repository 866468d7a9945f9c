/* siglog.c: runs a fixed script of signal events and writes down all it
 * observes, so that a run under a profiler can be compared with a run
 * without one, line for line. Two burner threads keep the process busy (and
 * sampleable) throughout, with every signal blocked.
 *
 * The script: signals to itself (raise, kill, sigqueue); signals sent while
 * blocked, pending, then delivered on unblocking in the kernel's order;
 * per-thread masks; sigwaitinfo and signalfd, both blocking and not;
 * system calls interrupted by handlers with and without SA_RESTART;
 * hardware faults (SIGSEGV, SIGILL, SIGFPE, SIGTRAP); SIGPIPE; timers;
 * waits (epoll_wait, sigtimedwait, nanosleep) that only their timeout may
 * end, after a little work each, so that they begin while sampled; a flood of queued real-time signals from another thread, which must
 * arrive all, once each, in order; two stops by raise(SIGSTOP), the first
 * continued from outside by SIGCONT, the second by a child process;
 * children stopped, continued, exited and killed, one at a time, with
 * exactly one SIGCHLD each; and a storm of children forked at once, each
 * queueing a real-time signal to the parent before it exits.
 *
 * Everything sent is deterministic, so the log is too: process IDs are
 * written as self, parent or child#N, and only what the kernel promises
 * (the order of pending signals, every queued real-time signal, one
 * SIGCHLD at least for a storm of exits) is written down.
 *
 * Usage: siglog DIR
 * Prints "ready", waits for DIR/go, runs the script, writes DIR/log, then
 * creates DIR/done and waits (up to 120 s) for DIR/exit to exit 3. During
 * the script it stops twice: the first time it waits for SIGCONT from
 * anyone, the second time a child sends SIGCONT once DIR/cont2 exists.
 * Between the two it waits for DIR/cont1: a process that stops again at
 * once replaces its "continued" report with "stopped", so the parent must
 * have read the first before the second stop. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/time.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <poll.h>

#include "target.h"

#define MAXREC 8192
#define MAXKIDS 1024
#define NSTORM 500          /* children forked at once */
#define NSERIAL 60          /* children that exit one at a time */
#define NFLOOD 2000         /* queued signals from another thread */
#define NWAITS 20           /* waits that no signal ends, per kind */
#define WAIT_MS 60000       /* longest any step waits for another */

#define SIG_FLOOD (SIGRTMIN + 5)
#define SIG_STORM (SIGRTMIN + 6)
#define SIG_TIMER (SIGRTMIN + 7)

enum { R_TEXT, R_SIG };

/* One observation: a signal as its handler saw it, or a line of text. */
struct rec {
	int kind;
	int sig, code, status;
	pid_t pid;
	int value;
	uintptr_t addr;
	char text[120];
};

/* The observations of one thread, in order. Handlers append too; their
 * masks are full, so they never nest. */
struct tlog {
	const char *name;
	struct rec *v;
	atomic_int n;
	volatile bool armed;      /* a fault is expected: jump back to jb */
	sigjmp_buf jb;
};

static struct tlog logs[3] = { { .name = "main" }, { .name = "sigthread" },
			       { .name = "waiter" } };
static __thread struct tlog *me;

static pid_t self_pid, parent_pid, main_tid;
static pthread_t main_thread;
static pid_t kids[MAXKIDS];
static atomic_int nkids;
static const char *dir;
static char *fault_page;

/* Counts of handler runs per signal (storm signals excepted), and what the
 * script waits for. */
static atomic_int handled[_NSIG];
static atomic_int eintr_unexpected;
static atomic_int usr2_seen;

/* The storm: SIGCHLD deliveries and those with a wrong code, and the
 * queued values received (each must come exactly once); the flood: values
 * received, and those out of order. */
static atomic_int storm_on, storm_chld, storm_chld_bad;
static atomic_int flood_n, flood_bad;
static atomic_int storm_rt_n;
static atomic_uchar storm_seen[NSTORM];
static atomic_int storm_rt_bad;

/* The burners' work, so the profile has something to show. */
__attribute__((noinline)) void burn_forever(void)
{
	uint64_t acc = target_sink;

	for (;;) {
		BURN(acc, 100000L);
		target_sink = acc;
	}
}

static void *burner(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "burner");
	burn_forever();
	return NULL;
}

/* A little work between steps, so samples land in the main thread too. */
__attribute__((noinline)) void main_burn(long n)
{
	uint64_t acc = target_sink;

	BURN(acc, n);
	target_sink = acc;
}

/* Reserves the next record of this thread. */
static struct rec *rec_new(void)
{
	int i = atomic_fetch_add(&me->n, 1);

	if (i >= MAXREC)
		_exit(90);
	memset(&me->v[i], 0, sizeof(me->v[i]));
	return &me->v[i];
}

/* Writes a line of text into this thread's log (not from handlers). */
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	struct rec *r = rec_new();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
	r->kind = R_TEXT;
}

/* "-1 EINTR" or "3": the result of a call, for the log. */
static const char *result(long rc, int err, char *buf, size_t len)
{
	if (rc == -1)
		snprintf(buf, len, "-1 %s", err == EINTR ? "EINTR" : err == EAGAIN ? "EAGAIN" :
			 err == EPIPE ? "EPIPE" : err == ECHILD ? "ECHILD" : "other");
	else
		snprintf(buf, len, "%ld", rc);
	return buf;
}

/* Runs expr and writes "what=RESULT" (errno read right after the call). */
#define CALL(what, expr)                                                      \
	do {                                                                  \
		long rc_ = (long)(expr);                                      \
		int e_ = errno;                                               \
		char b_[32];                                                  \
		note("%s=%s", (what), result(rc_, e_, b_, sizeof(b_)));       \
	} while (0)

/* The storm's handlers only count: how often SIGCHLD comes is up to the
 * kernel, but every real-time signal must come once. */
static void storm_signal(int sig, const siginfo_t *si)
{
	if (sig == SIGCHLD) {
		atomic_fetch_add(&storm_chld, 1);
		if (si->si_code != CLD_EXITED)
			atomic_fetch_add(&storm_chld_bad, 1);
		return;
	}
	if (si->si_code != SI_QUEUE || si->si_value.sival_int < 0 ||
	    si->si_value.sival_int >= NSTORM ||
	    atomic_exchange(&storm_seen[si->si_value.sival_int], 1))
		atomic_fetch_add(&storm_rt_bad, 1);
	atomic_fetch_add(&storm_rt_n, 1);
}

/* Every catchable signal comes here. */
static void on_signal(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	struct rec *r;

	(void)uc;
	if (atomic_load(&storm_on) && (sig == SIGCHLD || sig == SIG_STORM)) {
		storm_signal(sig, si);
		errno = saved;
		return;
	}
	if (sig == SIG_FLOOD) {
		/* One sender, one signal number: they come in the order sent. */
		if (si->si_code != SI_QUEUE || si->si_value.sival_int != atomic_load(&flood_n))
			atomic_fetch_add(&flood_bad, 1);
		atomic_fetch_add(&flood_n, 1);
		errno = saved;
		return;
	}
	atomic_fetch_add(&handled[sig], 1);
	r = rec_new();
	r->kind = R_SIG;
	r->sig = sig;
	r->code = si->si_code;
	r->pid = si->si_pid;
	if (sig == SIGCHLD)
		r->status = si->si_status;
	if (si->si_code == SI_QUEUE || si->si_code == SI_TIMER)
		r->value = si->si_value.sival_int;
	if (sig == SIGSEGV || sig == SIGBUS)
		r->addr = (uintptr_t)si->si_addr;
	if (sig == SIGUSR2)
		atomic_store(&usr2_seen, 1);
	if ((sig == SIGSEGV || sig == SIGILL || sig == SIGFPE) && me->armed) {
		me->armed = false;
		siglongjmp(me->jb, 1);
	}
	errno = saved;
}

/* Installs on_signal for sig, with SA_RESTART or without. */
static void handle(int sig, bool restart)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | (restart ? SA_RESTART : 0);
	sigfillset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

/* A signal's name: "USR1", "RTMIN+3". */
static const char *sig_name(int sig, char *buf, size_t len)
{
	static const char *const names[] = {
		[SIGHUP] = "HUP", [SIGINT] = "INT", [SIGQUIT] = "QUIT", [SIGILL] = "ILL",
		[SIGTRAP] = "TRAP", [SIGABRT] = "ABRT", [SIGBUS] = "BUS", [SIGFPE] = "FPE",
		[SIGKILL] = "KILL", [SIGUSR1] = "USR1", [SIGSEGV] = "SEGV", [SIGUSR2] = "USR2",
		[SIGPIPE] = "PIPE", [SIGALRM] = "ALRM", [SIGTERM] = "TERM",
		[SIGSTKFLT] = "STKFLT", [SIGCHLD] = "CHLD", [SIGCONT] = "CONT",
		[SIGSTOP] = "STOP", [SIGTSTP] = "TSTP", [SIGTTIN] = "TTIN", [SIGTTOU] = "TTOU",
		[SIGURG] = "URG", [SIGXCPU] = "XCPU", [SIGXFSZ] = "XFSZ", [SIGVTALRM] = "VTALRM",
		[SIGPROF] = "PROF", [SIGWINCH] = "WINCH", [SIGIO] = "IO", [SIGPWR] = "PWR",
		[SIGSYS] = "SYS",
	};

	if (sig >= SIGRTMIN && sig <= SIGRTMAX)
		snprintf(buf, len, "RTMIN+%d", sig - SIGRTMIN);
	else if (sig > 0 && sig < (int)(sizeof(names) / sizeof(names[0])) && names[sig])
		snprintf(buf, len, "%s", names[sig]);
	else
		snprintf(buf, len, "SIG%d", sig);
	return buf;
}

/* A process ID as the log shows it. */
static const char *pid_name(pid_t pid, char *buf, size_t len)
{
	int n = atomic_load(&nkids);

	if (pid == self_pid)
		return "self";
	if (pid == parent_pid)
		return "parent";
	for (int i = 0; i < n; i++)
		if (kids[i] == pid) {
			snprintf(buf, len, "child#%d", i);
			return buf;
		}
	snprintf(buf, len, "other:%d", (int)pid);
	return buf;
}

/* A signal set: "USR1 RTMIN+2", or "none". */
static void note_set(const char *what, const sigset_t *set)
{
	char line[120], nb[16];
	size_t len = 0;

	line[0] = '\0';
	for (int s = 1; s < _NSIG; s++)
		if (sigismember(set, s) == 1)
			len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s",
						len ? " " : "", sig_name(s, nb, sizeof(nb)));
	note("%s: %s", what, len ? line : "none");
}

/* Formats one record as a line of the log. */
static void rec_format(const struct rec *r, FILE *f)
{
	char nb[16], pb[32];

	if (r->kind == R_TEXT) {
		fprintf(f, "%s\n", r->text);
		return;
	}
	fprintf(f, "sig %s code=%d", sig_name(r->sig, nb, sizeof(nb)), r->code);
	if (r->sig == SIGCHLD)
		fprintf(f, " pid=%s status=%d", pid_name(r->pid, pb, sizeof(pb)), r->status);
	else if (r->code <= 0 && r->code != SI_TIMER)
		fprintf(f, " pid=%s", pid_name(r->pid, pb, sizeof(pb)));
	if (r->code == SI_QUEUE || r->code == SI_TIMER)
		fprintf(f, " value=%d", r->value);
	if (r->sig == SIGSEGV || r->sig == SIGBUS) {
		if (fault_page && r->addr >= (uintptr_t)fault_page &&
		    r->addr < (uintptr_t)fault_page + 4096)
			fprintf(f, " addr=page+%#lx", (unsigned long)(r->addr - (uintptr_t)fault_page));
		else
			fprintf(f, " addr=%#lx", (unsigned long)r->addr);
	}
	fputc('\n', f);
}

/* ---- waiting, with no signal of ours to interrupt it ---- */

/* Reads one byte, resuming after interruptions (which should not happen:
 * every handler restarts). */
static int read1(int fd)
{
	char c;
	ssize_t n;

	while ((n = read(fd, &c, 1)) == -1 && errno == EINTR)
		atomic_fetch_add(&eintr_unexpected, 1);
	return n == 1 ? c : -1;
}

static void write1(int fd, char c)
{
	while (write(fd, &c, 1) == -1 && errno == EINTR)
		atomic_fetch_add(&eintr_unexpected, 1);
}

/* Sleeps ms milliseconds, counting interruptions. */
static void nap(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		atomic_fetch_add(&eintr_unexpected, 1);
}

/* A path under DIR. */
static const char *in_dir(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", dir, name);
	return buf;
}

/* Waits for DIR/NAME to exist; false after timeout_ms. */
static bool wait_file(const char *name, long timeout_ms)
{
	char path[4096];

	in_dir(name, path, sizeof(path));
	for (long t = 0; t < timeout_ms; t += 2) {
		if (access(path, F_OK) == 0)
			return true;
		nap(2);
	}
	return false;
}

/* Set by main once the call that sigthread waits for has returned. */
static atomic_int call_over;

/* Waits until thread tid sleeps in system call nr (or nr2), as
 * /proc/self/task/TID/syscall tells; a signal sent then finds it there.
 * A sleep that was stopped and resumed (by a tracer, say) goes on as
 * restart_syscall, which counts too. Gives up when give_up (if given) is
 * set: the call ended by itself. */
static bool wait_in_syscall(pid_t tid, long nr, long nr2, atomic_int *give_up)
{
	char path[64], buf[256], state[512];
	double end = target_now() + WAIT_MS / 1000.0;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	while (target_now() < end) {
		ssize_t n = -1;
		long cur;
		char *p;
		int fd;

		if (give_up && atomic_load(give_up)) {
			note("thread %s left system call %ld before the signal", tid == main_tid ?
			     "main" : "waiter", nr);
			return false;
		}
		if ((fd = open(path, O_RDONLY)) >= 0) {
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
		}
		if (n > 0) {
			buf[n] = '\0';
			cur = strtol(buf, &p, 10);
			if (p != buf && (cur == nr || cur == nr2 || cur == SYS_restart_syscall)) {
				/* In the call; asleep in it too? */
				snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
				fd = open(path, O_RDONLY);
				n = fd >= 0 ? read(fd, state, sizeof(state) - 1) : -1;
				if (fd >= 0)
					close(fd);
				snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
				if (n > 0) {
					state[n] = '\0';
					p = strrchr(state, ')');
					if (p && p[1] == ' ' && p[2] == 'S')
						return true;
				}
			}
		}
		nap(1);
	}
	note("TIMEOUT waiting for thread %d in system call %ld", (int)tid, nr);
	return false;
}


/* ---- the other threads that log ---- */

/* A thread that takes one-byte commands from main and answers 'k'. */
struct worker {
	int cmd[2], ack[2];
	pid_t tid;
	pthread_t th;
};

static struct worker sigthread, waiter;

/* What sigthread's 's' command waits for main to sleep in, and where it
 * writes a byte after the signal was handled (-1: nowhere). */
static long want_nr, want_nr2;
static int wake_fd = -1;

static void send_cmd(struct worker *w, char c)
{
	write1(w->cmd[1], c);
}

static void await_ack(struct worker *w)
{
	if (read1(w->ack[0]) != 'k')
		note("no answer from a thread");
}

/* Runs one command to its end. */
static void command(struct worker *w, char c)
{
	send_cmd(w, c);
	await_ack(w);
}

static void reply(struct worker *w)
{
	write1(w->ack[1], 'k');
}

/* Queues sig with a value to a thread, or to the process. */
static void queue_to(pthread_t th, int sig, int value)
{
	union sigval v = { .sival_int = value };

	while (pthread_sigqueue(th, sig, v) == EAGAIN)
		nap(1);
}

static void queue_self(int sig, int value)
{
	union sigval v = { .sival_int = value };

	while (sigqueue(self_pid, sig, v) == -1 && errno == EAGAIN)
		nap(1);
}

/* sigthread: a mask of its own, and signals sent to main while main
 * sleeps in a system call. */
static void *sigthread_main(void *arg)
{
	struct worker *w = arg;
	sigset_t set;
	int c;

	me = &logs[1];
	w->tid = (pid_t)syscall(SYS_gettid);
	pthread_setname_np(pthread_self(), "sigthread");
	reply(w);
	while ((c = read1(w->cmd[0])) != -1 && c != 'q') {
		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigaddset(&set, SIGRTMIN + 3);
		switch (c) {
		case 'b':   /* block USR1 and RTMIN+3 (all else already is) */
			pthread_sigmask(SIG_BLOCK, &set, NULL);
			note("blocked USR1 RTMIN+3");
			break;
		case 'u':   /* what is pending here, then unblock: delivered here */
			{
				sigset_t pend;

				sigpending(&pend);
				note_set("pending", &pend);
			}
			pthread_sigmask(SIG_UNBLOCK, &set, NULL);
			pthread_sigmask(SIG_BLOCK, &set, NULL);
			note("unblocked");
			break;
		case 's':   /* USR2 to main once it sleeps in want_nr */
			reply(w);
			if (!wait_in_syscall(main_tid, want_nr, want_nr2, &call_over))
				break;
			atomic_store(&usr2_seen, 0);
			syscall(SYS_tgkill, self_pid, main_tid, SIGUSR2);
			for (long t = 0; !atomic_load(&usr2_seen) && t < WAIT_MS; t++)
				nap(1);
			if (wake_fd >= 0)
				write1(wake_fd, 'x');
			break;
		case 'f':   /* the flood: main takes them as they come */
			for (int i = 0; i < NFLOOD; i++)
				queue_to(main_thread, SIG_FLOOD, i);
			break;
		}
		reply(w);
	}
	return NULL;
}

/* Writes what sigwaitinfo or signalfd returned. */
static void note_taken(const char *how, int sig, int code, pid_t pid, int value)
{
	char nb[16], pb[32];

	if (code == SI_TIMER)
		note("%s=%s code=%d value=%d", how, sig_name(sig, nb, sizeof(nb)), code, value);
	else
		note("%s=%s code=%d pid=%s value=%d", how, sig_name(sig, nb, sizeof(nb)), code,
		     pid_name(pid, pb, sizeof(pb)), code == SI_QUEUE ? value : 0);
}

/* Waits in sigwaitinfo for a signal of set; an EINTR is written down and
 * the wait resumed. */
static void waiter_take(const sigset_t *set)
{
	siginfo_t si;
	int sig;

	while ((sig = sigwaitinfo(set, &si)) == -1)
		CALL("sigwaitinfo", -1);
	note_taken("sigwaitinfo", sig, si.si_code, si.si_pid, si.si_value.sival_int);
}

/* Reads what the signalfd has; an EINTR is written down and the read
 * resumed. */
static void waiter_read(int sfd)
{
	struct signalfd_siginfo ssi[8];
	ssize_t n;

	while ((n = read(sfd, ssi, sizeof(ssi))) == -1)
		CALL("read signalfd", -1);
	note("read signalfd: %d", (int)(n / (ssize_t)sizeof(ssi[0])));
	for (ssize_t i = 0; i < n / (ssize_t)sizeof(ssi[0]); i++)
		note_taken("signalfd", (int)ssi[i].ssi_signo, ssi[i].ssi_code,
			   (pid_t)ssi[i].ssi_pid, ssi[i].ssi_int);
}

/* NWAITS times: a little work, then a 20 ms wait that no signal ends
 * (sigtimedwait on set; or epoll_wait on the empty epoll fd ep): each must
 * time out. Unlike most calls, these are not restarted after a stop, so a
 * thread stopped while it waits sees EINTR. */
static void waits_nothing_ends(const char *what, int ep, const sigset_t *set)
{
	struct timespec ts = { 0, 20000000L };
	struct epoll_event ev;
	int timeouts = 0, eintr = 0, other = 0;

	for (int i = 0; i < NWAITS; i++) {
		int rc;

		main_burn(500000L);
		rc = set ? sigtimedwait(set, NULL, &ts) : epoll_wait(ep, &ev, 1, 20);
		if (set ? rc == -1 && errno == EAGAIN : rc == 0)
			timeouts++;
		else if (rc == -1 && errno == EINTR)
			eintr++;
		else
			other++;
	}
	note("%s x%d: timed out %d, EINTR %d, other %d", what, NWAITS, timeouts, eintr, other);
}

/* waiter: every signal blocked, takes them with sigwaitinfo and signalfd. */
static void *waiter_main(void *arg)
{
	struct worker *w = arg;
	sigset_t waitset, fdset;
	struct timespec ts = { 0, 20000000L };
	int c, sfd;

	me = &logs[2];
	w->tid = (pid_t)syscall(SYS_gettid);
	pthread_setname_np(pthread_self(), "waiter");
	sigemptyset(&waitset);
	sigaddset(&waitset, SIGUSR2);
	sigaddset(&waitset, SIGRTMIN + 4);
	sigemptyset(&fdset);
	sigaddset(&fdset, SIGUSR1);
	sigaddset(&fdset, SIGRTMIN + 2);
	sfd = signalfd(-1, &fdset, SFD_CLOEXEC);
	reply(w);
	while ((c = read1(w->cmd[0])) != -1 && c != 'q') {
		switch (c) {
		case 'w':   /* blocks until main sends */
			reply(w);
			waiter_take(&waitset);
			break;
		case 'p':   /* three already pending */
			for (int i = 0; i < 3; i++)
				waiter_take(&waitset);
			break;
		case 't':   /* nothing comes */
			CALL("sigtimedwait 20 ms", sigtimedwait(&waitset, NULL, &ts));
			break;
		case 'e':   /* already pending, all in one read */
			waiter_read(sfd);
			break;
		case 'E':   /* blocks until main sends */
			reply(w);
			waiter_read(sfd);
			break;
		case 'z':   /* runs, then waits for what never comes */
			waits_nothing_ends("sigtimedwait 20 ms", 0, &waitset);
			break;
		}
		reply(w);
	}
	close(sfd);
	return NULL;
}

/* ---- the script ---- */

static void step_self(void)
{
	note("== signals to self");
	CALL("raise USR1", raise(SIGUSR1));
	CALL("kill USR2", kill(self_pid, SIGUSR2));
	CALL("sigqueue RTMIN 42", sigqueue(self_pid, SIGRTMIN, (union sigval){ .sival_int = 42 }));
	CALL("tgkill RTMIN+1", syscall(SYS_tgkill, self_pid, main_tid, SIGRTMIN + 1));
}

/* Blocked signals wait; unblocked, they come lowest first, this thread's
 * own before the process's, queued ones in the order sent. */
static void step_pending(void)
{
	sigset_t set, pend;

	note("== pending, then unblocked");
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGRTMIN);
	sigaddset(&set, SIGRTMIN + 1);
	sigaddset(&set, SIGRTMIN + 2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	queue_self(SIGRTMIN + 2, 1);
	kill(self_pid, SIGUSR2);
	queue_self(SIGRTMIN, 2);
	queue_self(SIGRTMIN + 2, 3);
	raise(SIGUSR1);
	kill(self_pid, SIGUSR1);
	kill(self_pid, SIGUSR2);          /* already pending: merged */
	queue_self(SIGRTMIN + 1, 4);
	queue_to(main_thread, SIGRTMIN, 5);
	main_burn(2000000L);
	sigpending(&pend);
	note_set("pending", &pend);
	CALL("sigprocmask unblock", sigprocmask(SIG_UNBLOCK, &set, NULL));
}

static void step_thread_mask(void)
{
	note("== a thread's own mask");
	command(&sigthread, 'b');
	pthread_kill(sigthread.th, SIGUSR1);
	queue_to(sigthread.th, SIGRTMIN + 3, 11);
	queue_to(sigthread.th, SIGRTMIN + 3, 12);
	pthread_kill(sigthread.th, SIGUSR1);
	command(&sigthread, 'u');
	note("sigthread done");
}

static void step_sigwait(void)
{
	note("== sigwaitinfo");
	send_cmd(&waiter, 'w');
	await_ack(&waiter);
	wait_in_syscall(waiter.tid, SYS_rt_sigtimedwait, -1, NULL);
	queue_to(waiter.th, SIGRTMIN + 4, 21);
	await_ack(&waiter);
	send_cmd(&waiter, 'w');
	await_ack(&waiter);
	wait_in_syscall(waiter.tid, SYS_rt_sigtimedwait, -1, NULL);
	pthread_kill(waiter.th, SIGUSR2);
	await_ack(&waiter);
	queue_to(waiter.th, SIGRTMIN + 4, 22);
	pthread_kill(waiter.th, SIGUSR2);
	queue_to(waiter.th, SIGRTMIN + 4, 23);
	command(&waiter, 'p');
	command(&waiter, 't');
	note("waiter done");
}

static void step_signalfd(void)
{
	note("== signalfd");
	pthread_kill(waiter.th, SIGUSR1);
	queue_to(waiter.th, SIGRTMIN + 2, 31);
	queue_to(waiter.th, SIGRTMIN + 2, 32);
	pthread_kill(waiter.th, SIGUSR1);
	command(&waiter, 'e');
	send_cmd(&waiter, 'E');
	await_ack(&waiter);
	wait_in_syscall(waiter.tid, SYS_read, -1, NULL);
	queue_to(waiter.th, SIGRTMIN + 2, 33);
	await_ack(&waiter);
	note("waiter done");
}

/* sigthread sends USR2 once main sleeps in system call nr (or nr2). */
static void arm_usr2(long nr, long nr2, int fd)
{
	want_nr = nr;
	want_nr2 = nr2;
	wake_fd = fd;
	atomic_store(&call_over, 0);
	send_cmd(&sigthread, 's');
	await_ack(&sigthread);
}

/* main's call returned: sigthread stops waiting for it, if it still does. */
static void call_done(void)
{
	atomic_store(&call_over, 1);
	await_ack(&sigthread);
}

static void step_interrupted(void)
{
	sigset_t usr2, mask;
	int p[2], ep;
	char c;
	struct epoll_event ev;

	note("== system calls meet handlers");
	if (pipe(p) == -1)
		note("pipe: %s", strerror(errno));
	handle(SIGUSR2, false);
	arm_usr2(SYS_read, -1, p[1]);
	CALL("read, no SA_RESTART", read(p[0], &c, 1));
	CALL("read again", read(p[0], &c, 1));
	call_done();

	handle(SIGUSR2, true);
	arm_usr2(SYS_read, -1, p[1]);
	CALL("read, SA_RESTART", read(p[0], &c, 1));
	call_done();

	arm_usr2(SYS_clock_nanosleep, SYS_nanosleep, -1);
	CALL("nanosleep 60 s", nanosleep(&(struct timespec){ 60, 0 }, NULL));
	call_done();

	ep = epoll_create1(EPOLL_CLOEXEC);
	arm_usr2(SYS_epoll_wait, SYS_epoll_pwait, -1);
	CALL("epoll_wait 60 s", epoll_wait(ep, &ev, 1, 60000));
	call_done();
	close(ep);

	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	sigprocmask(SIG_BLOCK, &usr2, &mask);
	sigdelset(&mask, SIGUSR2);
	arm_usr2(SYS_rt_sigsuspend, -1, -1);
	CALL("sigsuspend", sigsuspend(&mask));
	call_done();
	sigprocmask(SIG_UNBLOCK, &usr2, NULL);

	/* Pending before the call: ppoll takes it at once. */
	sigprocmask(SIG_BLOCK, &usr2, &mask);
	sigdelset(&mask, SIGUSR2);
	raise(SIGUSR2);
	CALL("ppoll", ppoll(NULL, 0, NULL, &mask));
	sigprocmask(SIG_UNBLOCK, &usr2, NULL);

	close(p[0]);
	CALL("write to a pipe without reader", write(p[1], "x", 1));
	close(p[1]);
}

static void step_faults(void)
{
	static volatile uintptr_t bad_addr = 16;
	static volatile int zero, seven = 7;

	note("== faults");
	if (sigsetjmp(me->jb, 1) == 0) {
		me->armed = true;
		*(volatile int *)bad_addr = 1;
		note("no fault at 16");
	}
	me->armed = false;
	if (sigsetjmp(me->jb, 1) == 0) {
		me->armed = true;
		*(volatile int *)(fault_page + 8) = 1;
		note("no fault writing a read-only page");
	}
	me->armed = false;
	if (sigsetjmp(me->jb, 1) == 0) {
		me->armed = true;
		__builtin_trap();
	}
	me->armed = false;
	if (sigsetjmp(me->jb, 1) == 0) {
		me->armed = true;
		target_sink = (uint64_t)(seven / zero);
		note("no fault dividing by zero");
	}
	me->armed = false;
	__asm__ volatile("int3");
	note("after int3");
}

static void step_timers(void)
{
	sigset_t set, mask;
	struct sigevent sev;
	struct itimerspec its = { .it_value = { 0, 20000000L } };
	struct itimerval itv = { .it_value = { 0, 20000 } };
	timer_t tm;
	siginfo_t si;
	int sig;

	note("== timers");
	sigemptyset(&set);
	sigaddset(&set, SIG_TIMER);
	sigprocmask(SIG_BLOCK, &set, NULL);
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIG_TIMER;
	sev.sigev_value.sival_int = 77;
	if (timer_create(CLOCK_MONOTONIC, &sev, &tm) == 0) {
		timer_settime(tm, 0, &its, NULL);
		while ((sig = sigwaitinfo(&set, &si)) == -1)
			CALL("sigwaitinfo", -1);
		note_taken("sigwaitinfo", sig, si.si_code, 0, si.si_value.sival_int);
		timer_delete(tm);
	}
	sigprocmask(SIG_UNBLOCK, &set, NULL);

	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	sigprocmask(SIG_BLOCK, &set, &mask);
	sigdelset(&mask, SIGALRM);
	setitimer(ITIMER_REAL, &itv, NULL);
	CALL("sigsuspend for ALRM", sigsuspend(&mask));
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

/* Waits that time out, in two threads at once, while burning between. */
static void step_waits(void)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct timespec ts;
	int ok = 0;

	note("== waits that no signal ends");
	send_cmd(&waiter, 'z');
	waits_nothing_ends("epoll_wait 20 ms", ep, NULL);
	close(ep);
	for (int i = 0; i < NWAITS; i++) {
		main_burn(500000L);
		ts = (struct timespec){ 0, 20000000L };
		ok += nanosleep(&ts, NULL) == 0;
	}
	note("nanosleep 20 ms x%d: %d returned 0", NWAITS, ok);
	await_ack(&waiter);
}

/* Queued signals from one thread: all come, once each, in order. */
static void step_flood(void)
{
	note("== flood of %d queued signals", NFLOOD);
	send_cmd(&sigthread, 'f');
	for (long t = 0; atomic_load(&flood_n) < NFLOOD && t < WAIT_MS; t++)
		main_burn(200000L);
	await_ack(&sigthread);
	for (long t = 0; atomic_load(&flood_n) < NFLOOD && t < WAIT_MS; t++)
		nap(1);
	note("flood: %d received, %d out of order", atomic_load(&flood_n), atomic_load(&flood_bad));
}

/* "exited 3", "killed by TERM", ...: a wait status for the log. */
static const char *status_text(int st, char *buf, size_t len)
{
	char nb[16];

	if (WIFEXITED(st))
		snprintf(buf, len, "exited %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by %s%s", sig_name(WTERMSIG(st), nb, sizeof(nb)),
			 WCOREDUMP(st) ? " (core)" : "");
	else if (WIFSTOPPED(st))
		snprintf(buf, len, "stopped by %s", sig_name(WSTOPSIG(st), nb, sizeof(nb)));
	else if (WIFCONTINUED(st))
		snprintf(buf, len, "continued");
	else
		snprintf(buf, len, "status %#x", st);
	return buf;
}

/* waitpid, written down with the child's name. */
static void reap(pid_t pid, int flags, const char *what)
{
	char sb[48], pb[32];
	pid_t got;
	int st = 0;

	while ((got = waitpid(pid, &st, flags)) == -1 && errno == EINTR)
		atomic_fetch_add(&eintr_unexpected, 1);
	if (got == -1)
		note("%s: waitpid -1 %s", what, strerror(errno));
	else
		note("%s: %s %s", what, pid_name(got, pb, sizeof(pb)), status_text(st, sb, sizeof(sb)));
}

static pid_t add_kid(pid_t pid)
{
	int i = atomic_load(&nkids);

	if (pid > 0 && i < MAXKIDS) {
		kids[i] = pid;
		atomic_store(&nkids, i + 1);
	}
	return pid;
}

/* Stops itself; the test sends SIGCONT. */
static void step_stop_outside(void)
{
	note("== stop, continued from outside");
	CALL("raise STOP", raise(SIGSTOP));
	wait_file("cont1", 120000);
}

/* Stops itself; a child sends SIGCONT once the test says so. */
static void step_stop_child(void)
{
	sigset_t chld;
	siginfo_t si;
	pid_t pid;
	int sig;

	note("== stop, continued by a child");
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	pid = fork();
	if (pid == 0) {
		if (wait_file("cont2", 120000))
			kill(getppid(), SIGCONT);
		_exit(5);
	}
	add_kid(pid);
	CALL("raise STOP", raise(SIGSTOP));
	reap(pid, 0, "waitpid");
	while ((sig = sigwaitinfo(&chld, &si)) == -1)
		CALL("sigwaitinfo", -1);
	note_taken("sigwaitinfo", sig, si.si_code, si.si_pid, 0);
	note("child status %d", si.si_status);
	sigprocmask(SIG_UNBLOCK, &chld, NULL);
}

/* Waits (in sigsuspend, the only place SIGCHLD is let in) for one more
 * SIGCHLD than before; a lost one leaves it waiting, and the test's
 * timeout says so. */
static void await_chld(int before, const sigset_t *mask)
{
	while (atomic_load(&handled[SIGCHLD]) == before)
		sigsuspend(mask);
}

/* Children that exit, are killed, or stop and continue, one at a time:
 * one SIGCHLD each, nothing merged. */
static void step_children(void)
{
	sigset_t chld, mask;
	char name[32];

	note("== children one at a time");
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &mask);
	sigdelset(&mask, SIGCHLD);
	for (int k = 0; k < NSERIAL; k++) {
		int before = atomic_load(&handled[SIGCHLD]), go[2];
		pid_t pid;

		if (pipe(go) == -1)
			note("pipe: %s", strerror(errno));
		pid = fork();
		if (pid == 0) {
			switch (k % 4) {
			case 1:
				signal(SIGTERM, SIG_DFL);
				raise(SIGTERM);
				_exit(99);
			case 2:
				/* Exits only when told, so the SIGCHLD for its
				 * continuing cannot merge with the one for its exit. */
				raise(SIGSTOP);
				read1(go[0]);
				_exit(k);
			case 3:
				_exit(255 - k);
			default:
				_exit(k);
			}
		}
		add_kid(pid);
		snprintf(name, sizeof(name), "child %d", k);
		await_chld(before, &mask);
		if (k % 4 == 2) {
			reap(pid, WUNTRACED, name);
			before = atomic_load(&handled[SIGCHLD]);
			kill(pid, SIGCONT);
			await_chld(before, &mask);
			reap(pid, WCONTINUED, name);
			before = atomic_load(&handled[SIGCHLD]);
			write1(go[1], 'x');
			await_chld(before, &mask);
		}
		reap(pid, 0, name);
		close(go[0]);
		close(go[1]);
	}
	sigprocmask(SIG_UNBLOCK, &chld, NULL);
}

/* Children forked all at once, each queueing one signal to the parent and
 * exiting: SIGCHLDs merge, queued signals do not. */
static void step_storm(void)
{
	static int status[NSTORM];
	static pid_t pids[NSTORM];
	sigset_t chld;
	siginfo_t si;
	int reaped = 0, forked = 0, ok = 0, st;
	pid_t pid;

	note("== storm of %d children", NSTORM);
	atomic_store(&storm_on, 1);
	for (int k = 0; k < NSTORM; k++) {
		while ((pid = fork()) == -1 && errno == EAGAIN) {
			/* Out of processes: make room. */
			pid_t got = waitpid(-1, &st, 0);

			for (int j = 0; got > 0 && j < forked; j++)
				if (pids[j] == got) {
					status[j] = st;
					reaped++;
				}
		}
		if (pid == 0) {
			union sigval v = { .sival_int = k };

			while (sigqueue(getppid(), SIG_STORM, v) == -1 && errno == EAGAIN)
				;
			_exit(k % 200);
		}
		if (pid == -1)
			break;
		pids[k] = pid;
		status[k] = -1;
		forked++;
		add_kid(pid);
	}
	while (reaped < forked) {
		pid = waitpid(-1, &st, 0);
		if (pid == -1) {
			if (errno == EINTR) {
				atomic_fetch_add(&eintr_unexpected, 1);
				continue;
			}
			break;
		}
		for (int j = 0; j < forked; j++)
			if (pids[j] == pid) {
				status[j] = st;
				reaped++;
			}
	}
	for (long t = 0; atomic_load(&storm_rt_n) < forked && t < WAIT_MS; t++)
		nap(1);
	/* Any SIGCHLD still pending belongs to the storm. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	sigpending(&chld);
	if (sigismember(&chld, SIGCHLD) == 1) {
		sigemptyset(&chld);
		sigaddset(&chld, SIGCHLD);
		if (sigwaitinfo(&chld, &si) == SIGCHLD)
			storm_signal(SIGCHLD, &si);
	}
	atomic_store(&storm_on, 0);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_UNBLOCK, &chld, NULL);

	for (int k = 0; k < forked; k++) {
		char sb[48];

		if (status[k] != -1 && WIFEXITED(status[k]) && WEXITSTATUS(status[k]) == k % 200)
			ok++;
		else
			note("storm child %d: %s", k, status[k] == -1 ? "not reaped" :
			     status_text(status[k], sb, sizeof(sb)));
	}
	note("storm: forked %d, reaped %d, %d with the status they exited with", forked, reaped,
	     ok);
	note("storm: SIGCHLD handled %s, %d not CLD_EXITED", atomic_load(&storm_chld) >= 1 &&
	     atomic_load(&storm_chld) <= forked ? "1 to N times" : "0 or more than N times",
	     atomic_load(&storm_chld_bad));
	note("storm: %d queued signals, %d wrong or repeated", atomic_load(&storm_rt_n),
	     atomic_load(&storm_rt_bad));
	CALL("waitpid with no children", waitpid(-1, &st, WNOHANG));
}

/* The summary: handler runs per signal, and interruptions nobody asked
 * for. */
static void step_end(void)
{
	char line[512], nb[16];
	size_t len = 0;

	note("== end");
	for (int s = 1; s < _NSIG; s++)
		if (atomic_load(&handled[s]))
			len += (size_t)snprintf(line + len, sizeof(line) - len, " %s=%d",
						sig_name(s, nb, sizeof(nb)), atomic_load(&handled[s]));
	note("handled:%s", line);
	note("SIGCONT handled %d times", atomic_load(&handled[SIGCONT]));
	note("unexpected EINTR: %d", atomic_load(&eintr_unexpected));
}

/* Writes the three logs, one after the other, to DIR/log. */
static int write_log(void)
{
	char tmp[4096], path[4096];
	FILE *f;

	in_dir("log.tmp", tmp, sizeof(tmp));
	in_dir("log", path, sizeof(path));
	if (!(f = fopen(tmp, "w")))
		return -1;
	for (int i = 0; i < 3; i++) {
		int n = atomic_load(&logs[i].n);

		fprintf(f, "[%s]\n", logs[i].name);
		for (int j = 0; j < n && j < MAXREC; j++)
			rec_format(&logs[i].v[j], f);
	}
	if (fclose(f) == EOF)
		return -1;
	return rename(tmp, path);
}

static void worker_start(struct worker *w, void *(*fn)(void *))
{
	if (pipe(w->cmd) == -1 || pipe(w->ack) == -1 || pthread_create(&w->th, NULL, fn, w)) {
		perror("siglog: thread");
		exit(1);
	}
	if (read1(w->ack[0]) != 'k')
		exit(1);
}

static void worker_stop(struct worker *w)
{
	send_cmd(w, 'q');
	pthread_join(w->th, NULL);
}

int main(int argc, char **argv)
{
	sigset_t all, none;
	pthread_t b;
	char path[4096];
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: siglog DIR\n");
		return 2;
	}
	dir = argv[1];
	self_pid = getpid();
	parent_pid = getppid();
	main_tid = (pid_t)syscall(SYS_gettid);
	main_thread = pthread_self();
	for (int i = 0; i < 3; i++)
		logs[i].v = calloc(MAXREC, sizeof(struct rec));
	me = &logs[0];
	fault_page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fault_page == MAP_FAILED)
		fault_page = NULL;
	for (int s = 1; s < _NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP && (s < 32 || s >= SIGRTMIN))
			handle(s, true);

	/* Every other thread starts with all signals blocked and keeps them
	 * so, except where the script says: the process's signals come to
	 * main. */
	sigfillset(&all);
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	for (int i = 0; i < 2; i++)
		if (pthread_create(&b, NULL, burner, NULL)) {
			perror("siglog: thread");
			return 1;
		}
	worker_start(&sigthread, sigthread_main);
	worker_start(&waiter, waiter_main);
	pthread_sigmask(SIG_SETMASK, &none, NULL);

	target_ready();
	if (!wait_file("go", 120000))
		return 4;
	note("start");
	step_self();
	main_burn(2000000L);
	step_pending();
	main_burn(2000000L);
	step_thread_mask();
	step_sigwait();
	step_signalfd();
	main_burn(2000000L);
	step_interrupted();
	main_burn(2000000L);
	step_faults();
	step_timers();
	step_waits();
	step_flood();
	step_stop_outside();
	main_burn(2000000L);
	step_stop_child();
	step_children();
	main_burn(2000000L);
	step_storm();
	step_end();
	worker_stop(&sigthread);
	worker_stop(&waiter);
	if (write_log() == -1) {
		perror("siglog: log");
		return 1;
	}
	fd = open(in_dir("done", path, sizeof(path)), O_WRONLY | O_CREAT, 0644);
	if (fd >= 0)
		close(fd);
	if (!wait_file("exit", 120000))
		return 4;
	return 3;
}
