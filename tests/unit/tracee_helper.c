/* tracee_helper.c: child processes for the tracing engine's tests, and
 * /proc facts about them (see tracee_helper.h). */
#include "tracee_helper.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

extern char **environ;

/* Children to kill at teardown: pid and the parent's ends of the pipes. */
static struct tracee registry[64];
static int nregistry;

/* Adds a child to the registry; a full registry is a test bug. */
static void registry_add(pid_t pid, int report, int cmd)
{
	if (nregistry == (int)(sizeof(registry) / sizeof(registry[0]))) {
		fprintf(stderr, "tracee: too many children\n");
		abort();
	}
	registry[nregistry++] = (struct tracee){ pid, report, cmd };
}

/* Sleeps for ms milliseconds. */
static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

const char *tracee_exe(void)
{
	static char path[PATH_MAX];
	ssize_t n;
	size_t del = strlen(" (deleted)");

	if (path[0])
		return path;
	n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n <= 0) {
		path[0] = '\0';
		return "/proc/self/exe";
	}
	path[n] = '\0';
	/* Rebuilt while running: start the binary that is there now. */
	if ((size_t)n > del && strcmp(path + n - del, " (deleted)") == 0)
		path[n - del] = '\0';
	return path;
}

int tracee_start(struct tracee *tr, const char *mode)
{
	const char *exe = tracee_exe();
	char *argv[] = { (char *)exe, NULL };
	char *modevar = xasprintf("%s=%s", TRACEE_ENV, mode);
	char **envp;
	size_t n = 0;
	int rep[2], cmd[2];
	pid_t parent = getpid(), pid;

	/* The environment is built before fork: the child only execs. */
	for (size_t i = 0; environ[i]; i++)
		n++;
	envp = xcalloc(n + 2, sizeof(*envp));
	n = 0;
	for (size_t i = 0; environ[i]; i++)
		if (strncmp(environ[i], TRACEE_ENV "=", strlen(TRACEE_ENV) + 1) != 0)
			envp[n++] = environ[i];
	envp[n] = modevar;

	memset(tr, 0, sizeof(*tr));
	tr->pid = -1;
	if (pipe2(rep, O_CLOEXEC) == -1) {
		free(envp);
		free(modevar);
		return -1;
	}
	/* A socket for commands, so writing to a dead child is EPIPE rather
	 * than a SIGPIPE that would kill the test. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cmd) == -1) {
		close(rep[0]);
		close(rep[1]);
		free(envp);
		free(modevar);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		int r, c;

		/* Never outlive the test that started us. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		r = fcntl(rep[1], F_DUPFD_CLOEXEC, 10);
		c = fcntl(cmd[1], F_DUPFD_CLOEXEC, 10);
		if (r < 0 || c < 0 || dup2(r, TRACEE_REPORT_FD) < 0 || dup2(c, TRACEE_CMD_FD) < 0)
			_exit(126);
		execve(exe, argv, envp);
		_exit(127);
	}
	free(envp);
	free(modevar);
	close(rep[1]);
	close(cmd[1]);
	if (pid < 0) {
		close(rep[0]);
		close(cmd[0]);
		return -1;
	}
	tr->pid = pid;
	tr->report = rep[0];
	tr->cmd = cmd[0];
	registry_add(pid, rep[0], cmd[0]);
	return 0;
}

bool tracee_readable(struct tracee *tr, int timeout_ms)
{
	struct pollfd p = { .fd = tr->report, .events = POLLIN };

	return poll(&p, 1, timeout_ms) == 1;
}

int tracee_read(struct tracee *tr, char *buf, size_t size, int timeout_ms)
{
	uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000;
	size_t len = 0;

	for (;;) {
		uint64_t now = mono_ns();
		int left = now >= deadline ? 0 : (int)((deadline - now) / 1000000) + 1;
		ssize_t r;
		char c;

		if (!tracee_readable(tr, left))
			break;
		r = read(tr->report, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (c == '\n') {
			buf[len] = '\0';
			return 0;
		}
		if (len + 1 < size)
			buf[len++] = c;
	}
	buf[len] = '\0';
	return -1;
}

int tracee_send(struct tracee *tr, char c)
{
	return send(tr->cmd, &c, 1, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

void tracee_reap_all(void)
{
	uint64_t deadline = mono_ns() + 5000000000ull;
	int left = 0;

	for (int i = 0; i < nregistry; i++) {
		struct tracee *tr = &registry[i];
		siginfo_t si;

		/* Reaped already (a tracer's waitpid may have taken it): the pid
		 * is no longer ours to signal. */
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)tr->pid, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) == 0) {
			kill(tr->pid, SIGKILL);
			left++;
		} else {
			tr->pid = -1;
		}
	}
	/* A leader is reapable only once its threads are: threads we traced
	 * wait, as zombies, for their tracer (this thread) to reap them by
	 * their own ids. So reap whatever is ready until every child is. */
	while (left > 0) {
		pid_t r = waitpid(-1, NULL, __WALL | WNOHANG);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		if (r == 0) {
			if (mono_ns() > deadline) {
				fprintf(stderr, "tracee: children left unreaped\n");
				break;
			}
			sleep_ms(1);
			continue;
		}
		for (int i = 0; i < nregistry; i++)
			if (registry[i].pid == r) {
				registry[i].pid = -1;
				left--;
			}
	}
	for (int i = 0; i < nregistry; i++) {
		if (registry[i].report >= 0)
			close(registry[i].report);
		if (registry[i].cmd >= 0)
			close(registry[i].cmd);
	}
	nregistry = 0;
}

/* Writes all of buf to the report pipe; async-signal-safe. */
static void report_write(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(TRACEE_REPORT_FD, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(3);
		buf += w;
		len -= (size_t)w;
	}
}

void tracee_report(const char *line)
{
	char buf[256];
	size_t n = strlen(line);

	if (n > sizeof(buf) - 1)
		n = sizeof(buf) - 1;
	memcpy(buf, line, n);
	buf[n++] = '\n';
	report_write(buf, n);
}

void tracee_report_hex(const char *word, uint64_t v)
{
	char buf[256];
	size_t n = strlen(word);
	int shift;

	if (n > sizeof(buf) - 24)
		n = sizeof(buf) - 24;
	memcpy(buf, word, n);
	buf[n++] = ' ';
	buf[n++] = '0';
	buf[n++] = 'x';
	for (shift = 60; shift > 0 && ((v >> shift) & 0xf) == 0; shift -= 4)
		;
	for (; shift >= 0; shift -= 4)
		buf[n++] = "0123456789abcdef"[(v >> shift) & 0xf];
	buf[n++] = '\n';
	report_write(buf, n);
}

char tracee_command(void)
{
	char c;
	ssize_t r;

	while ((r = read(TRACEE_CMD_FD, &c, 1)) == -1 && errno == EINTR)
		;
	if (r != 1)
		_exit(0);
	return c;
}

/* Reads a small /proc file into buf (NUL-terminated). Returns its length
 * or -1. */
static ssize_t proc_read(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, size - 1)) == -1 && errno == EINTR)
		;
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

long proc_status_long(pid_t tid, const char *key)
{
	char path[64], buf[8192];
	const char *p;
	size_t klen = strlen(key);

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	if (proc_read(path, buf, sizeof(buf)) < 0)
		return -1;
	/* Match at the start of a line only. */
	for (p = buf; p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, key, klen) == 0)
			return strtol(p + klen, NULL, 10);
	}
	return -1;
}

char proc_state(pid_t tid)
{
	char path[64], buf[1024], *rp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)tid);
	if (proc_read(path, buf, sizeof(buf)) < 0)
		return 0;
	rp = strrchr(buf, ')');
	if (!rp || rp[1] != ' ')
		return 0;
	return rp[2];
}

int proc_tasks(pid_t pid, pid_t *tids, int max)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if (!(d = opendir(path)))
		return 0;
	while ((de = readdir(d))) {
		int tid = atoi(de->d_name);
		if (tid <= 0)
			continue;
		if (n < max)
			tids[n] = (pid_t)tid;
		n++;
	}
	closedir(d);
	return n;
}

long proc_syscall(pid_t tid)
{
	char path[64], buf[512];

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)tid);
	if (proc_read(path, buf, sizeof(buf)) < 0 || buf[0] < '0' || buf[0] > '9')
		return -1;
	return strtol(buf, NULL, 10);
}

int proc_wait_blocked(pid_t pid, int nthreads, long nr, int timeout_ms)
{
	uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000;
	pid_t tids[256];

	do {
		int n = proc_tasks(pid, tids, 256), i;

		if (n == nthreads) {
			for (i = 0; i < n; i++)
				if (proc_syscall(tids[i]) != nr || proc_state(tids[i]) != 'S')
					break;
			if (i == n)
				return 0;
		}
		sleep_ms(1);
	} while (mono_ns() < deadline);
	return -1;
}
