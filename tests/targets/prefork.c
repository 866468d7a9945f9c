/* prefork.c: a prefork server in miniature, for profiling process trees.
 * The master forks NWORKERS workers, each burning CPU in a function named
 * after its slot (worker_slot0 ... worker_slot3), and keeps them going:
 * one that exits is reaped and replaced. The test steers it through files
 * in DIR, polled every 10 ms:
 *   DIR/spawn  (removed when seen) forks one more worker, in late_work;
 *              its PID goes to DIR/late.pid
 *   DIR/exec   (removed when seen) forks a worker that burns in
 *              before_exec_work for 200 ms, then execs EXEC_PATH (execee)
 *   DIR/stop   ends the master: workers get SIGTERM and are reaped
 * With SHORT_MS > 0 one more worker burns in shortlived_work for that long
 * and exits with status 7; its replacement burns in replacement_work.
 * The master writes every live worker's PID to DIR/pids (one a line, at
 * each change), and each reaped child as "PID STATUS" (exit code, or
 * "sig N") to DIR/exits. A nanosleep that fails with EINTR (nothing here
 * sends the master a signal) is counted in DIR/eintr. Workers exit when
 * the master is gone.
 *
 * Usage: prefork DIR [NWORKERS [SHORT_MS [EXEC_PATH]]]   (defaults 3, 0) */
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "target.h"

#define MAX_WORKERS 64

static const char *dir;
static pid_t master;

/* Burns until the master is gone (a worker never outlives it). */
#define WORK_FOREVER()                                                        \
	do {                                                                  \
		uint64_t acc = (uint64_t)getpid();                            \
		for (;;) {                                                    \
			BURN(acc, 200000L);                                   \
			if (getppid() != master)                              \
				_exit(0);                                     \
			target_sink = acc;                                    \
		}                                                             \
	} while (0)

__attribute__((noinline)) void worker_slot0(void) { WORK_FOREVER(); }
__attribute__((noinline)) void worker_slot1(void) { WORK_FOREVER(); }
__attribute__((noinline)) void worker_slot2(void) { WORK_FOREVER(); }
__attribute__((noinline)) void worker_slot3(void) { WORK_FOREVER(); }
__attribute__((noinline)) void late_work(void) { WORK_FOREVER(); }
__attribute__((noinline)) void replacement_work(void) { WORK_FOREVER(); }

/* Burns for ms milliseconds. */
static void burn_for(long ms)
{
	double end = target_now() + (double)ms / 1000.0;
	uint64_t acc = 3;

	while (target_now() < end)
		BURN(acc, 100000L);
	target_sink = acc;
}

__attribute__((noinline)) void shortlived_work(long ms)
{
	burn_for(ms);
	BARRIER();
	_exit(7);
}

__attribute__((noinline)) void before_exec_work(const char *path)
{
	burn_for(200);
	BARRIER();
	execl(path, path, "3000000000", "5", "1", (char *)NULL);
	_exit(127);
}

enum kind { K_SLOT, K_LATE, K_SHORT, K_REPLACEMENT, K_EXEC };

struct worker {
	pid_t pid;
	enum kind kind;
};

static struct worker workers[MAX_WORKERS];
static int nworkers;

static void path_of(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

/* Forks a worker of the given kind. */
static pid_t spawn(enum kind kind, int slot, long ms, const char *exec_path)
{
	static void (*const slots[4])(void) = { worker_slot0, worker_slot1, worker_slot2,
						worker_slot3 };
	pid_t pid = fork();

	if (pid < 0) {
		perror("prefork: fork");
		exit(1);
	}
	if (pid == 0) {
		switch (kind) {
		case K_SLOT: slots[slot % 4](); break;
		case K_LATE: late_work(); break;
		case K_SHORT: shortlived_work(ms); break;
		case K_REPLACEMENT: replacement_work(); break;
		case K_EXEC: before_exec_work(exec_path); break;
		}
		_exit(0);
	}
	if (nworkers < MAX_WORKERS)
		workers[nworkers++] = (struct worker){ pid, kind };
	return pid;
}

static void write_pids(void)
{
	char path[4096], text[MAX_WORKERS * 16] = "";
	size_t off = 0;

	for (int i = 0; i < nworkers; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%d\n", (int)workers[i].pid);
	path_of(path, sizeof(path), "pids");
	target_write_state(path, text);
}

static void append(const char *name, const char *line)
{
	char path[4096];
	FILE *f;

	path_of(path, sizeof(path), name);
	if ((f = fopen(path, "a"))) {
		fputs(line, f);
		fclose(f);
	}
}

/* Removes DIR/name if it is there; returns whether it was. */
static int take(const char *name)
{
	char path[4096];

	path_of(path, sizeof(path), name);
	return unlink(path) == 0;
}

int main(int argc, char **argv)
{
	long n, short_ms, eintr = 0;
	const char *exec_path;
	char line[128], path[4096];

	if (argc < 2) {
		fprintf(stderr, "usage: prefork DIR [NWORKERS [SHORT_MS [EXEC_PATH]]]\n");
		return 2;
	}
	dir = argv[1];
	n = target_arg_long(argc, argv, 2, 3);
	short_ms = target_arg_long(argc, argv, 3, 0);
	exec_path = argc > 4 ? argv[4] : "/bin/true";
	if (n > MAX_WORKERS / 2)
		n = MAX_WORKERS / 2;
	master = getpid();
	for (int i = 0; i < n; i++)
		spawn(K_SLOT, i, 0, NULL);
	if (short_ms > 0)
		spawn(K_SHORT, 0, short_ms, NULL);
	write_pids();
	target_ready();
	for (;;) {
		struct timespec ts = { 0, 10000000L };
		int st;
		pid_t pid;
		bool changed = false;

		while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
			snprintf(line, sizeof(line), "%ld", ++eintr);
			path_of(path, sizeof(path), "eintr");
			target_write_state(path, line);
		}
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			enum kind kind = K_SLOT;

			for (int i = 0; i < nworkers; i++) {
				if (workers[i].pid != pid)
					continue;
				kind = workers[i].kind;
				workers[i] = workers[--nworkers];
				break;
			}
			if (WIFEXITED(st))
				snprintf(line, sizeof(line), "%d %d\n", (int)pid, WEXITSTATUS(st));
			else
				snprintf(line, sizeof(line), "%d sig %d\n", (int)pid, WTERMSIG(st));
			append("exits", line);
			if (kind == K_SHORT)
				spawn(K_REPLACEMENT, 0, 0, NULL);
			changed = true;
		}
		if (take("spawn")) {
			pid = spawn(K_LATE, 0, 0, NULL);
			snprintf(line, sizeof(line), "%d", (int)pid);
			path_of(path, sizeof(path), "late.pid");
			target_write_state(path, line);
			changed = true;
		}
		if (take("exec")) {
			spawn(K_EXEC, 0, 0, exec_path);
			changed = true;
		}
		if (changed)
			write_pids();
		if (take("stop"))
			break;
	}
	for (int i = 0; i < nworkers; i++)
		kill(workers[i].pid, SIGTERM);
	while (wait(NULL) > 0)
		;
	return 0;
}
