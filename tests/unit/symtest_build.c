/* symtest_build.c: scratch programs for the symbolizer tests (see
 * symtest_build.h). */
#include "symtest_build.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

char *symtest_tmpdir(void)
{
	const char *tmp = getenv("TMPDIR");
	char *dir = xasprintf("%s/sprofd-symtest-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		free(dir);
		return NULL;
	}
	return dir;
}

/* nftw callback: removes one entry, children before their directory. */
static int symtest_rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(path);
}

void symtest_rmtree(char *dir)
{
	if (!dir)
		return;
	nftw(dir, symtest_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

char *symtest_write(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) == EOF || fclose(f) != 0) {
		perror(path);
		free(path);
		return NULL;
	}
	return path;
}

int symtest_sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd, *full;
	int rc;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		cmd = NULL;
	va_end(ap);
	if (!cmd)
		return -1;
	full = xasprintf("(%s) 1>&2", cmd);
	rc = system(full);
	if (rc != 0)
		fprintf(stderr, "symtest: failed (%d): %s\n", rc, cmd);
	free(full);
	free(cmd);
	return rc == 0 ? 0 : -1;
}

const char *symtest_cc(void)
{
	const char *cc = getenv("CC");

	return cc && cc[0] ? cc : "cc";
}

pid_t symtest_spawn(const char *path, char *line, size_t size)
{
	int fds[2];
	pid_t pid;
	FILE *f;

	if (pipe(fds) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		/* Never outlive a test runner that died mid-test. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	f = fdopen(fds[0], "r");
	if (!f || !fgets(line, (int)size, f)) {
		if (f)
			fclose(f);
		else
			close(fds[0]);
		symtest_reap(pid);
		return -1;
	}
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	return pid;
}

void symtest_reap(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
}
