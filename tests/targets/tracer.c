/* tracer.c: a stand-in for another debugger. It attaches to a process
 * with PTRACE_SEIZE and stays attached until it is killed, passing on
 * every signal so the tracee keeps running normally.
 *
 * Usage: tracer PID
 * Prints "ready" once attached. Exits 0 when the tracee is gone. */
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "target.h"

int main(int argc, char **argv)
{
	pid_t pid = (pid_t)target_arg_long(argc, argv, 1, 0);

	if (pid <= 0) {
		fprintf(stderr, "usage: tracer PID\n");
		return 2;
	}
	if (ptrace(PTRACE_SEIZE, pid, NULL, NULL) == -1) {
		perror("tracer: PTRACE_SEIZE");
		return 1;
	}
	target_ready();
	for (;;) {
		int st, sig;
		pid_t w = waitpid(pid, &st, __WALL);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			return 0;
		}
		if (WIFEXITED(st) || WIFSIGNALED(st))
			return 0;
		if (!WIFSTOPPED(st))
			continue;
		sig = WSTOPSIG(st);
		if ((st >> 16) == PTRACE_EVENT_STOP) {
			/* A group stop stays stopped until SIGCONT, as without a
			 * tracer; any other event stop (SIGCONT's) just resumes. */
			if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
				ptrace(PTRACE_LISTEN, pid, NULL, NULL);
			else
				ptrace(PTRACE_CONT, pid, NULL, NULL);
		} else {
			ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig);
		}
	}
}
