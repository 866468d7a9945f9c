/* rusage.c: runs a command and reports its peak RSS and CPU time. The
 * benchmark starts profilers through it because a process forked from the
 * (much larger) Python harness inherits the harness's RSS high-water mark,
 * while a child of this small program starts near zero.
 *
 * Usage: rusage COMMAND [ARG...]
 * Prints "rusage child=PID" on standard error once the command runs and
 * "rusage pid=PID status=N maxrss_kb=K utime_s=U stime_s=S" when it ends;
 * SIGINT and SIGTERM are passed on to the command. Exits as the command
 * did (128 + N when killed by signal N). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child;

/* Passes the signal on to the command. */
static void forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	struct rusage ru;
	int status;
	pid_t pid;

	if (argc < 2) {
		fprintf(stderr, "usage: rusage COMMAND [ARG...]\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "rusage: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		execvp(argv[1], argv + 1);
		fprintf(stderr, "rusage: %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	child = pid;
	fprintf(stderr, "rusage child=%d\n", (int)pid);
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "rusage: wait4: %s\n", strerror(errno));
			return 1;
		}
	}
	fprintf(stderr, "rusage pid=%d status=%d maxrss_kb=%ld utime_s=%.3f stime_s=%.3f\n",
		(int)pid, status, ru.ru_maxrss,
		(double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
		(double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
