/* service.c: what a Unix service does to start (see service.h). */
#include "service.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "sprofd.h"

/* Tells systemd (Type=notify) about the daemon's state, if it asked: one
 * datagram to $NOTIFY_SOCKET, which is all libsystemd's sd_notify does. */
void service_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	size_t n;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || (n = strlen(path)) >= sizeof(sa.sun_path))
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';   /* an abstract socket */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
		log_debug("cannot notify systemd: %s", strerror(errno));
	close(fd);
}

/* Forks into the background: the parent waits until the daemon says it is
 * ready (or fails), so that its exit status means something. Returns, in
 * the daemon, the descriptor to report readiness on. */
int service_detach(void)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0) {
		log_err("cannot create a pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		log_err("cannot fork: %s", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		int status;
		close(p[1]);
		waitpid(pid, &status, 0);
		/* The daemon writes one byte when ready; nothing means it failed
		 * and has said why on stderr. */
		_exit(read(p[0], &c, 1) == 1 ? EXIT_OK : EXIT_INTERNAL);
	}
	close(p[0]);
	setsid();
	pid = fork();
	if (pid != 0)
		_exit(pid < 0 ? EXIT_INTERNAL : EXIT_OK);
	return p[1];
}

/* Writes the pidfile, locked, so that a second daemon with the same one
 * refuses to start. Returns its descriptor (kept open), or -1. */
int service_pidfile(const char *path)
{
	char buf[32];
	int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	int n;

	if (fd < 0) {
		log_err("cannot open the pidfile %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		log_err("another sprofd holds the pidfile %s", path);
		close(fd);
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || write(fd, buf, (size_t)n) != n || fchmod(fd, 0644) < 0) {
		log_err("cannot write the pidfile %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}
