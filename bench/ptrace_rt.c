/* ptrace_rt.c: the bare ptrace round trip, the floor under any ptrace
 * sampler. It seizes every thread of a process and, HZ times a second,
 * interrupts every thread that is running, reaps each stop, reads the
 * registers and resumes the thread; nothing is unwound or kept. Signals
 * the target receives are re-injected, group stops are listened through,
 * new threads are followed and exited ones dropped, and at the end every
 * thread is detached.
 *
 * Usage: ptrace_rt -p PID [-F HZ] [-d SECONDS] [-t TID,...] [-r]
 * With -t only the listed threads are seized and sampled: the floor of a
 * sampler that already knows which threads are on a CPU. With -r it runs at
 * real-time priority 1 (else nice -10), as a sampler may, to resume stopped
 * threads without waiting for a CPU itself.
 * Prints "attached pid=... threads=..." on standard error once sampling
 * starts and one "ptrace_rt key=value ..." line on standard output at the
 * end. */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum tstate {
	T_RUNNING,	/* resumed by us, or never stopped */
	T_PENDING,	/* interrupted, its stop not reaped yet */
	T_LISTENING,	/* in a group stop (kill -STOP), left alone */
	T_GONE,
};

struct thr {
	pid_t tid;
	enum tstate state;
};

static struct thr *thrs;
static size_t nthrs, cap_thrs, npending;
static uint32_t *tid_slot;	/* tid -> index in thrs + 1; 0 when unknown */
static long tid_max;
static pid_t target;
static int target_gone;
static volatile sig_atomic_t stop_now;

/* Stats of the run. */
static uint64_t samples, ticks, missed, interrupts, pause_total_ns, pause_max_ns;
static uint64_t tick_total_ns, tick_max_ns;
static uint64_t sigs_reinjected, threads_new, threads_exited;

/* The monotonic clock in nanoseconds. */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Sizes the tid index from pid_max, so that every lookup is one load and
 * the floor measured is ptrace's, not ours. Untouched pages cost nothing. */
static void thr_init(void)
{
	FILE *f = fopen("/proc/sys/kernel/pid_max", "r");

	if (!f || fscanf(f, "%ld", &tid_max) != 1 || tid_max < 1)
		tid_max = 4194304;
	if (f)
		fclose(f);
	tid_slot = calloc((size_t)tid_max + 1, sizeof(*tid_slot));
	if (!tid_slot) {
		fprintf(stderr, "ptrace_rt: out of memory\n");
		exit(1);
	}
}

/* The entry of tid, or NULL. */
static struct thr *thr_find(pid_t tid)
{
	if (tid <= 0 || tid > tid_max || !tid_slot[tid])
		return NULL;
	return &thrs[tid_slot[tid] - 1];
}

/* Moves a thread to a new state, keeping the count of outstanding interrupts. */
static void thr_set(struct thr *t, enum tstate st)
{
	npending -= t->state == T_PENDING;
	npending += st == T_PENDING;
	t->state = st;
}

/* Adds tid in the given state, or returns its entry if known. */
static struct thr *thr_add(pid_t tid, enum tstate st)
{
	struct thr *t = thr_find(tid);

	if (t)
		return t;
	if (tid <= 0 || tid > tid_max) {
		fprintf(stderr, "ptrace_rt: thread ID %d above pid_max\n", (int)tid);
		exit(1);
	}
	if (nthrs == cap_thrs) {
		cap_thrs = cap_thrs ? cap_thrs * 2 : 64;
		thrs = realloc(thrs, cap_thrs * sizeof(*thrs));
		if (!thrs) {
			fprintf(stderr, "ptrace_rt: out of memory\n");
			exit(1);
		}
	}
	thrs[nthrs] = (struct thr){ .tid = tid, .state = T_RUNNING };
	tid_slot[tid] = (uint32_t)++nthrs;
	t = &thrs[nthrs - 1];
	thr_set(t, st);
	return t;
}

/* Drops an exited or detached thread, keeping the table dense. */
static void thr_remove(struct thr *t)
{
	thr_set(t, T_GONE);
	tid_slot[t->tid] = 0;
	*t = thrs[--nthrs];
	if (t != &thrs[nthrs])
		tid_slot[t->tid] = (uint32_t)(t - thrs) + 1;
}

/* Seizes every thread listed in /proc/PID/task, until a pass finds no new one. */
static int attach_all(void)
{
	char path[64];
	int added;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)target);
	do {
		DIR *d = opendir(path);
		struct dirent *de;

		if (!d) {
			fprintf(stderr, "ptrace_rt: %s: %s\n", path, strerror(errno));
			return -1;
		}
		added = 0;
		while ((de = readdir(d))) {
			pid_t tid = (pid_t)atoi(de->d_name);

			if (tid <= 0 || thr_find(tid))
				continue;
			if (ptrace(PTRACE_SEIZE, tid, 0, PTRACE_O_TRACECLONE) != 0) {
				if (errno == ESRCH)
					continue;	/* exited meanwhile */
				fprintf(stderr, "ptrace_rt: seize %d: %s\n", (int)tid,
					strerror(errno));
				closedir(d);
				return -1;
			}
			thr_add(tid, T_RUNNING);
			added++;
		}
		closedir(d);
	} while (added);
	return 0;
}

/* Seizes the threads of a comma-separated list of thread IDs. */
static int attach_list(const char *list)
{
	const char *p = list;

	while (*p) {
		char *end;
		long tid = strtol(p, &end, 10);

		if (end == p || tid <= 0 || (*end && *end != ',')) {
			fprintf(stderr, "ptrace_rt: bad thread list %s\n", list);
			return -1;
		}
		if (ptrace(PTRACE_SEIZE, (pid_t)tid, 0, 0) != 0) {
			fprintf(stderr, "ptrace_rt: seize %ld: %s\n", tid, strerror(errno));
			return -1;
		}
		thr_add((pid_t)tid, T_RUNNING);
		p = *end ? end + 1 : end;
	}
	return 0;
}

/* Interrupts every running thread that has no interrupt outstanding. */
static void tick(void)
{
	for (size_t i = 0; i < nthrs; i++) {
		if (thrs[i].state != T_RUNNING)
			continue;
		if (ptrace(PTRACE_INTERRUPT, thrs[i].tid, 0, 0) == 0) {
			thr_set(&thrs[i], T_PENDING);
			interrupts++;
		}
	}
}

/* Handles one waitpid status; detaching instead of resuming when asked. */
static void handle(pid_t tid, int status, int detaching)
{
	struct thr *t = thr_find(tid);
	int event = status >> 16;

	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		if (t) {
			thr_remove(t);
			threads_exited++;
		}
		if (tid == target)
			target_gone = 1;
		return;
	}
	if (!WIFSTOPPED(status))
		return;
	if (!t) {
		/* A new thread can report before its parent's clone event. */
		t = thr_add(tid, T_RUNNING);
		threads_new++;
	}
	if (event == PTRACE_EVENT_STOP) {
		int sig = WSTOPSIG(status);

		if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) {
			/* A group stop: keep it, as the kernel would without us. */
			if (detaching) {
				ptrace(PTRACE_DETACH, tid, 0, 0);
				thr_remove(t);
				return;
			}
			thr_set(t, T_LISTENING);
			ptrace(PTRACE_LISTEN, tid, 0, 0);
			return;
		}
		/* Our interrupt (or the first stop of a new thread). */
		if (t->state == T_PENDING && !detaching) {
			struct user_regs_struct regs;
			uint64_t t0 = now_ns(), dt;

			if (ptrace(PTRACE_GETREGS, tid, 0, &regs) == 0)
				samples++;
			dt = now_ns() - t0;
			pause_total_ns += dt;
			if (dt > pause_max_ns)
				pause_max_ns = dt;
		}
		thr_set(t, T_RUNNING);
		if (detaching) {
			ptrace(PTRACE_DETACH, tid, 0, 0);
			thr_remove(t);
		} else
			ptrace(PTRACE_CONT, tid, 0, 0);
		return;
	}
	if (event == PTRACE_EVENT_CLONE) {
		unsigned long newtid;

		if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &newtid) == 0 && !thr_find((pid_t)newtid)) {
			thr_add((pid_t)newtid, T_RUNNING);
			threads_new++;
			t = thr_find(tid);	/* the table may have moved */
		}
		ptrace(detaching ? PTRACE_DETACH : PTRACE_CONT, tid, 0, 0);
		if (detaching)
			thr_remove(t);
		return;
	}
	if (event == 0) {
		/* A signal on its way to the thread: deliver it unchanged. An
		 * interrupt still outstanding reports on its own later. */
		int sig = WSTOPSIG(status);

		sigs_reinjected++;
		if (t->state == T_LISTENING)
			thr_set(t, T_RUNNING);	/* SIGCONT ended the group stop */
		if (detaching && t->state != T_PENDING) {
			ptrace(PTRACE_DETACH, tid, 0, sig);
			thr_remove(t);
		} else
			ptrace(PTRACE_CONT, tid, 0, sig);
		return;
	}
	ptrace(PTRACE_CONT, tid, 0, 0);
}

/* Reaps every stop already reported; blocks while interrupts are outstanding. */
static void reap(int detaching)
{
	for (;;) {
		int status, flags = __WALL;
		pid_t tid;

		if (npending == 0 || target_gone)
			flags |= WNOHANG;
		tid = waitpid(-1, &status, flags);
		if (tid <= 0) {
			if (tid < 0 && errno == EINTR)
				continue;
			return;
		}
		handle(tid, status, detaching);
	}
}

/* Stops every thread once more and detaches it there. */
static void detach_all(void)
{
	uint64_t give_up = now_ns() + 2000000000ull;

	/* Outstanding stops first, so nothing is left interrupted. */
	reap(0);
	for (size_t i = 0; i < nthrs; i++) {
		if (ptrace(PTRACE_INTERRUPT, thrs[i].tid, 0, 0) == 0)
			thr_set(&thrs[i], T_PENDING);
	}
	while (nthrs > 0 && !target_gone && now_ns() < give_up) {
		int status;
		pid_t tid = waitpid(-1, &status, __WALL);

		if (tid < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		handle(tid, status, 1);
	}
	/* Whatever is left is detached by the kernel when we exit. */
}

/* Raises our priority; says which one we got. */
static const char *raise_priority(void)
{
	struct sched_param sp = { .sched_priority = 1 };

	if (sched_setscheduler(0, SCHED_FIFO, &sp) == 0)
		return "fifo1";
	if (setpriority(PRIO_PROCESS, 0, -10) == 0)
		return "nice-10";
	return "normal";
}

/* Ends the run at the next wake-up. */
static void on_signal(int sig)
{
	(void)sig;
	stop_now = 1;
}

/* Prints the usage text and exits 2. */
static void usage(void)
{
	fprintf(stderr, "usage: ptrace_rt -p PID [-F HZ] [-d SECONDS] [-t TID,...] [-r]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct itimerspec its;
	struct sigaction sa;
	sigset_t chld;
	double seconds = 5;
	uint64_t start, end, deadline, period;
	const char *tids = NULL, *prio = "normal";
	long hz = 100;
	int ch, tfd, sfd;
	size_t nstart;

	while ((ch = getopt(argc, argv, "p:F:d:t:r")) != -1) {
		switch (ch) {
		case 'p':
			target = (pid_t)atoi(optarg);
			break;
		case 'F':
			hz = atol(optarg);
			break;
		case 'd':
			seconds = atof(optarg);
			break;
		case 't':
			tids = optarg;
			break;
		case 'r':
			prio = NULL;
			break;
		default:
			usage();
		}
	}
	if (target <= 0 || hz < 1 || hz > 100000 || seconds <= 0 || optind != argc)
		usage();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	thr_init();
	if (!prio)
		prio = raise_priority();
	if (sfd < 0 || tfd < 0) {
		fprintf(stderr, "ptrace_rt: signalfd/timerfd: %s\n", strerror(errno));
		return 1;
	}
	if ((tids ? attach_list(tids) : attach_all()) != 0)
		return 1;
	nstart = nthrs;

	period = 1000000000ull / (uint64_t)hz;
	start = now_ns();
	deadline = start + (uint64_t)(seconds * 1e9);
	its.it_value.tv_sec = (time_t)((start + period) / 1000000000ull);
	its.it_value.tv_nsec = (long)((start + period) % 1000000000ull);
	its.it_interval.tv_sec = (time_t)(period / 1000000000ull);
	its.it_interval.tv_nsec = (long)(period % 1000000000ull);
	timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
	fprintf(stderr, "attached pid=%d threads=%zu\n", (int)target, nthrs);

	while (!stop_now && !target_gone && nthrs > 0) {
		struct pollfd pfd[2] = {
			{ .fd = tfd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		struct signalfd_siginfo si;
		uint64_t now = now_ns(), exp;

		if (now >= deadline)
			break;
		if (poll(pfd, 2, (int)((deadline - now) / 1000000) + 1) < 0 && errno != EINTR)
			break;
		while (read(sfd, &si, sizeof(si)) == sizeof(si))
			;
		reap(0);
		if (read(tfd, &exp, sizeof(exp)) == sizeof(exp)) {
			uint64_t t0 = now_ns(), dt;

			ticks++;
			missed += exp - 1;
			tick();
			/* Interrupt all, then take the stops as they come. */
			reap(0);
			dt = now_ns() - t0;
			tick_total_ns += dt;
			if (dt > tick_max_ns)
				tick_max_ns = dt;
		}
	}
	end = now_ns();
	if (!target_gone)
		detach_all();

	{
		double secs = (double)(end - start) / 1e9;

		printf("ptrace_rt pid=%d prio=%s hz=%ld seconds=%.3f threads=%zu ticks=%llu missed=%llu"
		       " interrupts=%llu samples=%llu samples_per_s=%.1f"
		       " rate_per_thread_hz=%.1f tick_mean_us=%.1f tick_max_us=%.1f"
		       " getregs_mean_us=%.2f getregs_max_us=%.1f"
		       " signals=%llu new_threads=%llu exited=%llu\n",
		       (int)target, prio, hz, secs, nstart, (unsigned long long)ticks,
		       (unsigned long long)missed, (unsigned long long)interrupts,
		       (unsigned long long)samples, secs > 0 ? samples / secs : 0.0,
		       secs > 0 && nstart ? samples / secs / (double)nstart : 0.0,
		       ticks ? tick_total_ns / 1e3 / (double)ticks : 0.0, tick_max_ns / 1e3,
		       samples ? pause_total_ns / 1e3 / (double)samples : 0.0,
		       pause_max_ns / 1e3, (unsigned long long)sigs_reinjected,
		       (unsigned long long)threads_new, (unsigned long long)threads_exited);
	}
	return 0;
}
