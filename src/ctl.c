/* ctl.c: the control socket's protocol, its server (listening, the
 * connections, reading and parsing request lines) and its client (see
 * ctl.h). */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "output.h"
#include "sprofd.h"
#include "util.h"

void ctl_request_init(struct ctl_request *r)
{
	memset(r, 0, sizeof(*r));
	r->cmd = CTL_PROFILE;
	r->hz = SPROFD_HZ_DEFAULT;
	r->mode = MODE_CPU;
	snprintf(r->formats, sizeof(r->formats), "prof");
	r->rows = 20;
}

/* A split point as it goes on the line: %XX for every byte but letters,
 * digits, '.', '_' and '-', so that blanks and '=' cannot cut it. */
static void encode_split(const char *spec, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *c = (const unsigned char *)spec; *c && o + 4 < len; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-') {
			out[o++] = (char)*c;
		} else {
			out[o++] = '%';
			out[o++] = hex[*c >> 4];
			out[o++] = hex[*c & 15];
		}
	}
	out[o] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Undoes encode_split into out (len bytes); -1 if val is malformed, holds
 * a NUL or does not fit. */
static int decode_split(const char *val, char *out, size_t len)
{
	size_t o = 0;

	for (; *val; val++) {
		int c = (unsigned char)*val;
		if (c == '%') {
			int hi = hexval(val[1]), lo = hi >= 0 ? hexval(val[2]) : -1;
			if (hi < 0 || lo < 0)
				return -1;
			c = hi * 16 + lo;
			val += 2;
		}
		if (!c || o + 1 >= len)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

void ctl_request_format(const struct ctl_request *r, char *buf, size_t len)
{
	char split[sizeof(r->split) * 3 + 8] = "";

	switch (r->cmd) {
	case CTL_STATUS:
		snprintf(buf, len, "status\n");
		break;
	case CTL_RUN:
		snprintf(buf, len, "run target=%s\n", r->target);
		break;
	case CTL_PROFILE:
		/* To the millisecond, but never down to 0, which means "until
		 * stopped". */
		/* children and split only when asked: a daemon that
		 * predates them refuses the keys. */
		if (r->split[0]) {
			snprintf(split, sizeof(split), " split=");
			encode_split(r->split, split + 7, sizeof(split) - 7);
		}
		snprintf(buf, len, "profile pid=%d duration=%.3f freq=%u mode=%s formats=%s rows=%d%s%s\n",
			 (int)r->pid, r->duration > 0 && r->duration < 0.001 ? 0.001 : r->duration,
			 r->hz, sample_mode_name(r->mode), r->formats, r->rows,
			 r->children ? " children=1" : "", split);
		break;
	}
}

bool ctl_wants_stop(const char *buf, size_t n)
{
	return memmem(buf, n, "stop", 4) != NULL;
}

/* Applies one key=value of a profile or run request. */
static int parse_pair(struct ctl_request *r, const char *key, const char *val, char *why,
		      size_t len)
{
	long v;

	if (r->cmd == CTL_RUN && strcmp(key, "target") == 0) {
		if (!*val || strlen(val) >= sizeof(r->target)) {
			snprintf(why, len, "bad target name");
			return -1;
		}
		snprintf(r->target, sizeof(r->target), "%s", val);
		return 0;
	}
	if (r->cmd != CTL_PROFILE) {
		snprintf(why, len, "unknown argument '%s'", key);
		return -1;
	}
	if (strcmp(key, "pid") == 0) {
		if (parse_long(val, 1, INT_MAX, &v) < 0) {
			snprintf(why, len, "not a process ID: '%s'", val);
			return -1;
		}
		r->pid = (pid_t)v;
	} else if (strcmp(key, "duration") == 0) {
		if (config_parse_time(val, &r->duration) < 0 || r->duration > 31536000) {
			snprintf(why, len, "not a duration: '%s'", val);
			return -1;
		}
	} else if (strcmp(key, "freq") == 0) {
		if (parse_long(val, SPROFD_HZ_MIN, SPROFD_HZ_MAX, &v) < 0) {
			snprintf(why, len, "the rate must be a whole number of samples per second "
				 "from %d to %d, not '%s'", SPROFD_HZ_MIN, SPROFD_HZ_MAX, val);
			return -1;
		}
		r->hz = (unsigned)v;
	} else if (strcmp(key, "mode") == 0) {
		if (sample_mode_parse(val, &r->mode) < 0) {
			snprintf(why, len, "the mode must be cpu or wall, not '%s'", val);
			return -1;
		}
	} else if (strcmp(key, "formats") == 0) {
		char reason[200];
		if (strlen(val) >= sizeof(r->formats) ||
		    output_check_formats(val, reason, sizeof(reason)) < 0) {
			snprintf(why, len, "formats %s: %s", val,
				 strlen(val) >= sizeof(r->formats) ? "too long" : reason);
			return -1;
		}
		snprintf(r->formats, sizeof(r->formats), "%s", val);
	} else if (strcmp(key, "children") == 0) {
		if (strcmp(val, "0") != 0 && strcmp(val, "1") != 0) {
			snprintf(why, len, "children must be 0 or 1, not '%s'", val);
			return -1;
		}
		r->children = val[0] == '1';
	} else if (strcmp(key, "split") == 0) {
		if (decode_split(val, r->split, sizeof(r->split)) < 0 || !r->split[0]) {
			r->split[0] = '\0';
			snprintf(why, len, "bad split point '%.40s'", val);
			return -1;
		}
		/* Any local user sends this, and the worker compiles it: a
		 * bounded repetition makes glibc's regcomp copy the pattern's
		 * tree once per count (gigabytes for "a{255}{255}"). */
		if (strchr(r->split, '{')) {
			r->split[0] = '\0';
			snprintf(why, len, "a split point asked for over the control socket may not "
				 "use {} repetition");
			return -1;
		}
	} else if (strcmp(key, "rows") == 0) {
		if (parse_long(val, 0, 1000000, &v) < 0) {
			snprintf(why, len, "bad row count '%s'", val);
			return -1;
		}
		r->rows = (int)v;
	} else {
		snprintf(why, len, "unknown argument '%s'", key);
		return -1;
	}
	return 0;
}

int ctl_request_parse(const char *line, struct ctl_request *r, char *why, size_t len)
{
	char buf[CTL_LINE_MAX], *save = NULL, *tok;
	bool have_pid = false;

	ctl_request_init(r);
	if (strlen(line) >= sizeof(buf)) {
		snprintf(why, len, "request too long");
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", line);
	tok = strtok_r(buf, " \t\r", &save);
	if (!tok) {
		snprintf(why, len, "empty request");
		return -1;
	}
	if (strcmp(tok, "status") == 0)
		r->cmd = CTL_STATUS;
	else if (strcmp(tok, "profile") == 0)
		r->cmd = CTL_PROFILE;
	else if (strcmp(tok, "run") == 0)
		r->cmd = CTL_RUN;
	else {
		snprintf(why, len, "unknown request '%.40s' (this daemon knows status, profile, run)",
			 tok);
		return -1;
	}
	while ((tok = strtok_r(NULL, " \t\r", &save))) {
		char *eq = strchr(tok, '=');
		if (!eq) {
			snprintf(why, len, "expected KEY=VALUE, not '%.40s'", tok);
			return -1;
		}
		*eq = '\0';
		if (parse_pair(r, tok, eq + 1, why, len) < 0)
			return -1;
		have_pid |= strcmp(tok, "pid") == 0;
	}
	if (r->cmd == CTL_PROFILE && !have_pid) {
		snprintf(why, len, "which process? (pid=N)");
		return -1;
	}
	if (r->cmd == CTL_RUN && !r->target[0]) {
		snprintf(why, len, "which target? (target=NAME)");
		return -1;
	}
	return 0;
}

/* Fills a sockaddr_un; -1 (logged) if the path does not fit. */
static int make_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		log_err("control socket path %s is too long (at most %zu bytes)", path,
			sizeof(sa->sun_path) - 1);
		return -1;
	}
	memcpy(sa->sun_path, path, strlen(path));
	return 0;
}

/* Makes sure of the socket's directory: creates it (one level, mode 0755)
 * if it is missing, so that every user can reach the socket in it, and
 * checks that only root and we can change what is in it (or, with the
 * sticky bit, only what is theirs): anyone else could put a socket of
 * theirs in our place, or have us remove or chmod a file of their choice.
 * Returns 0, or -1 (logged). */
static int socket_dir_check(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = !slash || slash == path ? xstrdup("/")
					   : xasprintf("%.*s", (int)(slash - path), path);
	bool made = mkdir(dir, 0755) == 0;
	struct stat st;
	int fd, rc = -1;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		log_err("cannot open %s, the directory of the control socket: %s", dir,
			strerror(errno));
	} else if (st.st_uid != 0 && st.st_uid != geteuid()) {
		log_err("%s, the directory of the control socket, belongs to uid %u; it must "
			"belong to root", dir, (unsigned)st.st_uid);
	} else if (!(st.st_mode & S_ISVTX) &&
		   ((st.st_mode & S_IWOTH) || ((st.st_mode & S_IWGRP) && st.st_gid != 0))) {
		log_err("%s, the directory of the control socket, is writable by group or others "
			"(mode %04o); run: chmod go-w %s", dir, (unsigned)(st.st_mode & 07777), dir);
	} else {
		/* Made under our umask: widen it to what users need. */
		if (made && fchmod(fd, 0755) < 0)
			log_warn("cannot chmod %s: %s", dir, strerror(errno));
		rc = 0;
	}
	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}

/* Removes a socket left at path by a daemon that died: only a socket,
 * only one of root's or ours, and only if nothing answers on it. Returns
 * 0 (nothing there now), or -1 (logged). */
static int socket_clear_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int probe, err;

	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		log_err("%s exists and is not a socket; remove it or choose another "
			"ControlSocket", path);
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		log_err("%s is a socket of uid %u, not sprofd's; remove it or choose another "
			"ControlSocket", path, (unsigned)st.st_uid);
		return -1;
	}
	/* Non-blocking: a live daemon with a full backlog must not hang us. */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (probe < 0) {
		log_err("cannot create a socket: %s", strerror(errno));
		return -1;
	}
	err = connect(probe, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ? 0 : errno;
	close(probe);
	if (err == 0 || err == EAGAIN) {
		log_err("another sprofd is listening on %s; stop it first, or give this "
			"one another ControlSocket", path);
		return -1;
	}
	if (err != ECONNREFUSED) {
		log_err("cannot tell whether a daemon listens on %s (%s); it is left alone", path,
			strerror(err));
		return -1;
	}
	/* Nobody answers: left over from a daemon that died. */
	if (unlink(path) < 0 && errno != ENOENT) {
		log_err("cannot remove the stale socket %s: %s", path, strerror(errno));
		return -1;
	}
	log_info("removed %s, left by a daemon that is gone", path);
	return 0;
}

/* Listens on path (mode 0666: the daemon checks each caller), replacing a
 * stale socket but never a live one. Returns the descriptor (non-blocking,
 * close-on-exec), or -1 after logging why. */
static int ctl_listen(const char *path)
{
	struct sockaddr_un sa;
	mode_t um;
	int fd, rc;

	if (make_addr(path, &sa) < 0 || socket_dir_check(path) < 0 ||
	    socket_clear_stale(path, &sa) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		log_err("cannot create the control socket: %s", strerror(errno));
		return -1;
	}
	/* Mode 0666 from the start (the daemon checks each caller): no
	 * chmod by name afterwards, which would follow a link. */
	um = umask(0111);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(um);
	if (rc < 0) {
		log_err("cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (listen(fd, 16) < 0) {
		log_err("cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

/* Who is on the other end of a connection. Returns 0 or -1. */
static int ctl_peer(int fd, uid_t *uid, gid_t *gid, pid_t *pid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || len != sizeof(cr))
		return -1;
	*uid = cr.uid;
	*gid = cr.gid;
	*pid = cr.pid;
	return 0;
}

/* Sends all of buf, waiting (up to a few seconds in all) when the socket
 * is full. */
static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	int waits = 0;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN || ++waits > 50 || poll(&pfd, 1, 100) < 0)
				return -1;
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int ctl_reply(int fd, const char *word, const char *fmt, ...)
{
	char buf[CTL_LINE_MAX * 2];
	size_t n;
	va_list ap;

	n = (size_t)snprintf(buf, sizeof(buf), "%s ", word);
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	/* One reply per line, whatever the text holds. */
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	n = strlen(buf);
	buf[n++] = '\n';
	return send_all(fd, buf, n);
}

int ctl_send_file(int fd, int dirfd, const char *name, unsigned long long samples)
{
	char buf[65536];
	struct stat st;
	off_t left;
	int in = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (in < 0 || fstat(in, &st) < 0) {
		log_err("cannot read %s: %s", name, strerror(errno));
		if (in >= 0)
			close(in);
		return -1;
	}
	if (ctl_reply(fd, "file", "%s %lld %llu", name, (long long)st.st_size, samples) < 0)
		goto gone;
	for (left = st.st_size; left > 0;) {
		ssize_t n = read(in, buf, sizeof(buf) < (size_t)left ? sizeof(buf) : (size_t)left);
		if (n <= 0) {
			log_err("cannot read %s: %s", name, n < 0 ? strerror(errno) : "it shrank");
			close(in);
			return -1;
		}
		if (send_all(fd, buf, (size_t)n) < 0)
			goto gone;
		left -= n;
	}
	close(in);
	return 0;
gone:
	close(in);
	log_info("the client hung up before it got %s", name);
	return -1;
}

/* ---- server: connections ---- */

/* Connections waiting for their request line at once... */
#define CTL_MAX_CONNS (CTL_SERVER_NFDS - 1)
/* ... each for this long... */
#define CONN_TIMEOUT_NS (5 * 1000000000ull)
/* ... and a user other than root this many at once. */
#define CONNS_PER_USER 4

struct ctl_conn {
	struct ctl_caller who;     /* who.fd -1: free */
	char buf[CTL_LINE_MAX];
	size_t len;
	uint64_t deadline;
};

struct ctl_server {
	int lfd;
	char *path;                /* what lfd listens on */
	ctl_handler handler;
	void *arg;
	struct ctl_conn conns[CTL_MAX_CONNS];
};

struct ctl_server *ctl_server_new(ctl_handler handler, void *arg)
{
	struct ctl_server *sv = xcalloc(1, sizeof(*sv));

	sv->lfd = -1;
	sv->handler = handler;
	sv->arg = arg;
	for (int i = 0; i < CTL_MAX_CONNS; i++)
		sv->conns[i].who.fd = -1;
	return sv;
}

int ctl_server_listen(struct ctl_server *sv, const char *want)
{
	int fd;

	if (want && sv->path && strcmp(want, sv->path) == 0)
		return 0;
	fd = want ? ctl_listen(want) : -1;
	if (want && fd < 0) {
		if (sv->lfd >= 0)
			log_warn("keeping the control socket %s", sv->path);
		return -1;
	}
	if (sv->lfd >= 0) {
		close(sv->lfd);
		unlink(sv->path);
	}
	free(sv->path);
	sv->lfd = fd;
	sv->path = want ? xstrdup(want) : NULL;
	return 0;
}

const char *ctl_server_path(const struct ctl_server *sv)
{
	return sv->path;
}

bool ctl_server_listening(const struct ctl_server *sv)
{
	return sv->lfd >= 0;
}

void ctl_server_shut(struct ctl_server *sv)
{
	if (sv->lfd < 0)
		return;
	close(sv->lfd);
	sv->lfd = -1;
	unlink(sv->path);
}

static void conn_close(struct ctl_conn *c)
{
	if (c->who.fd >= 0)
		close(c->who.fd);
	c->who.fd = -1;
	c->len = 0;
}

/* Accepts waiting clients and notes who they are. A user other than root
 * may have only a few connections waiting for their request line, so
 * that one user cannot take every slot from the others. */
static void conn_accept(struct ctl_server *sv, uint64_t now)
{
	for (;;) {
		int fd = accept4(sv->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct ctl_conn *c = NULL;
		unsigned mine = 0;
		uid_t uid;
		gid_t gid;
		pid_t pid;

		if (fd < 0)
			return;
		if (ctl_peer(fd, &uid, &gid, &pid) < 0) {
			close(fd);
			continue;
		}
		for (int i = 0; i < CTL_MAX_CONNS; i++) {
			if (sv->conns[i].who.fd < 0 && !c)
				c = &sv->conns[i];
			else if (sv->conns[i].who.fd >= 0 && sv->conns[i].who.uid == uid)
				mine++;
		}
		if (uid != 0 && mine >= CONNS_PER_USER) {
			ctl_reply(fd, "err", "%d you have %u connections waiting already; try again",
				  EXIT_INTERNAL, mine);
			close(fd);
			continue;
		}
		if (!c) {
			ctl_reply(fd, "err", "%d too many connections; try again", EXIT_INTERNAL);
			close(fd);
			continue;
		}
		c->who = (struct ctl_caller){ .fd = fd, .uid = uid, .gid = gid, .pid = pid };
		c->len = 0;
		c->deadline = now + CONN_TIMEOUT_NS;
	}
}

/* Reads from a client until its request line is complete, then has it
 * answered; the connection is closed afterwards (a worker keeps its own
 * copy). */
static void conn_read(struct ctl_server *sv, struct ctl_conn *c, uint64_t now)
{
	ssize_t n = read(c->who.fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
	struct ctl_request r;
	char why[256], *nl;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	nl = memchr(c->buf, '\n', c->len);
	/* A NUL would cut the line short of what the client meant. */
	if (memchr(c->buf, '\0', nl ? (size_t)(nl - c->buf) : c->len)) {
		ctl_reply(c->who.fd, "err", "%d the request holds a NUL byte", EXIT_USAGE);
		conn_close(c);
		return;
	}
	if (!nl) {
		if (c->len == sizeof(c->buf) - 1) {
			ctl_reply(c->who.fd, "err", "%d request too long: no end of line in %zu bytes",
				  EXIT_USAGE, sizeof(c->buf) - 1);
			conn_close(c);
		}
		return;
	}
	*nl = '\0';
	if (ctl_request_parse(c->buf, &r, why, sizeof(why)) < 0)
		ctl_reply(c->who.fd, "err", "%d %s", EXIT_USAGE, why);
	else
		sv->handler(sv->arg, &c->who, &r, now);
	conn_close(c);
}

void ctl_server_pollfds(const struct ctl_server *sv, struct pollfd *pfd)
{
	pfd[0] = (struct pollfd){ .fd = sv->lfd, .events = POLLIN };
	for (int i = 0; i < CTL_MAX_CONNS; i++)
		pfd[1 + i] = (struct pollfd){ .fd = sv->conns[i].who.fd, .events = POLLIN };
}

void ctl_server_serve(struct ctl_server *sv, const struct pollfd *pfd, uint64_t now)
{
	/* Descriptors may have changed since the poll (a reload): act only
	 * on those that are still the same. */
	if (sv->lfd >= 0 && pfd[0].fd == sv->lfd && (pfd[0].revents & POLLIN))
		conn_accept(sv, now);
	for (int i = 0; i < CTL_MAX_CONNS; i++)
		if (pfd[1 + i].fd >= 0 && pfd[1 + i].fd == sv->conns[i].who.fd && pfd[1 + i].revents)
			conn_read(sv, &sv->conns[i], now);
}

uint64_t ctl_server_deadline(const struct ctl_server *sv)
{
	uint64_t t = UINT64_MAX;

	for (int i = 0; i < CTL_MAX_CONNS; i++)
		if (sv->conns[i].who.fd >= 0 && sv->conns[i].deadline < t)
			t = sv->conns[i].deadline;
	return t;
}

void ctl_server_expire(struct ctl_server *sv, uint64_t now)
{
	for (int i = 0; i < CTL_MAX_CONNS; i++)
		if (sv->conns[i].who.fd >= 0 && now >= sv->conns[i].deadline)
			conn_close(&sv->conns[i]);
}

void ctl_server_free(struct ctl_server *sv)
{
	if (!sv)
		return;
	ctl_server_shut(sv);
	for (int i = 0; i < CTL_MAX_CONNS; i++)
		conn_close(&sv->conns[i]);
	free(sv->path);
	free(sv);
}

/* ---- client ---- */

/* Buffered reading from the daemon; SIGINT and SIGTERM on sigfd send it
 * "stop" meanwhile. */
struct reader {
	int fd, sigfd;
	char buf[65536];
	size_t start, end;
	bool stop_sent, quiet;
};

/* Reads more from the daemon. Returns bytes read, 0 at the end, -1 on
 * error. */
static ssize_t reader_fill(struct reader *r)
{
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = r->fd, .events = POLLIN },
			{ .fd = r->sigfd, .events = POLLIN },
		};
		ssize_t n;

		if (r->start == r->end)
			r->start = r->end = 0;
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(r->sigfd, &si, sizeof(si)) == sizeof(si) && !r->stop_sent) {
				r->stop_sent = true;
				log_info("%s: stopping; the daemon writes what was sampled",
					 strsignal((int)si.ssi_signo));
				if (send_all(r->fd, CTL_STOP, strlen(CTL_STOP)) < 0)
					return -1;
			}
		}
		if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (r->end == sizeof(r->buf)) {
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		n = read(r->fd, r->buf + r->end, sizeof(r->buf) - r->end);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0)
			r->end += (size_t)n;
		return n;
	}
}

/* Reads one line (without its newline) into line. Returns 0, or -1 at the
 * end of the connection. */
static int reader_line(struct reader *r, char *line, size_t len)
{
	for (;;) {
		char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
		if (nl) {
			size_t n = (size_t)(nl - (r->buf + r->start));
			snprintf(line, len, "%.*s", (int)n, r->buf + r->start);
			r->start += n + 1;
			return 0;
		}
		if (r->end - r->start >= CTL_LINE_MAX * 2 || reader_fill(r) <= 0)
			return -1;
	}
}

/* Copies size bytes of the stream into out (a descriptor, or -1 to skip
 * them). Returns 0, or -1 if the connection ends first. */
static int reader_copy(struct reader *r, long long size, int out, int *werr)
{
	while (size > 0) {
		size_t n = r->end - r->start;
		if (n == 0) {
			if (reader_fill(r) <= 0)
				return -1;
			continue;
		}
		if ((long long)n > size)
			n = (size_t)size;
		if (out >= 0 && !*werr) {
			const char *p = r->buf + r->start;
			size_t left = n;
			while (left > 0) {
				ssize_t w = write(out, p, left);
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0) {
					*werr = w < 0 ? errno : EIO;
					break;
				}
				p += w;
				left -= (size_t)w;
			}
		}
		r->start += n;
		size -= (long long)n;
	}
	return 0;
}

/* Receives one file into path, atomically: a temporary file next to it,
 * then rename. Returns an exit code. */
static int receive_file(struct reader *r, const char *path, long long size)
{
	const char *slash = strrchr(path, '/');
	char *tmp = slash ? xasprintf("%.*s/.%s.XXXXXX", (int)(slash - path), path, slash + 1)
			  : xasprintf(".%s.XXXXXX", path);
	int fd = mkstemp(tmp), werr = 0;
	mode_t um = umask(0);

	umask(um);
	if (fd < 0) {
		werr = errno;
	} else if (fchmod(fd, 0666 & ~um) < 0) {
		werr = errno;
	}
	if (reader_copy(r, size, fd >= 0 ? fd : -1, &werr) < 0) {
		log_err("the daemon hung up in the middle of %s", path);
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		free(tmp);
		return EXIT_INTERNAL;
	}
	if (!werr && fsync(fd) < 0)
		werr = errno;
	if (fd >= 0 && close(fd) < 0 && !werr)
		werr = errno;
	if (!werr && rename(tmp, path) < 0)
		werr = errno;
	if (werr) {
		if (fd >= 0)
			unlink(tmp);
		log_err("cannot write %s: %s", path, strerror(werr));
	}
	free(tmp);
	return werr ? EXIT_OUTPUT : EXIT_OK;
}

/* Whether a name from the daemon is a plain file name. */
static bool safe_name(const char *name)
{
	return name[0] && name[0] != '.' && !strchr(name, '/') && strlen(name) < 256;
}

/* With -o and --split: where an endpoint's file of the first format goes,
 * beside out_path as sprofd -p -o puts it. The daemon names the file of all
 * samples first, then each endpoint's: the same name with ".SLUG" before
 * its extension (or at its end). NULL (save it under name) for a file of
 * another format, or of none of this. */
static char *endpoint_dest(const struct ctl_request *req, const char *out_path,
			   const char *first, const char *name)
{
	size_t lf = strlen(first), ln = strlen(name);
	char id[32], *slug, *dest;

	if (!req->split[0] || !*first || ln <= lf + 1)
		return NULL;
	snprintf(id, sizeof(id), "%.*s", (int)strcspn(req->formats, ","), req->formats);
	/* Each dot of first, from the end (and its end), may be where the
	 * slug went in: before it, name and first agree; after, too. */
	for (size_t pos = lf + 1; pos-- > 0;) {
		if (pos < lf && first[pos] != '.')
			continue;
		if (strncmp(name, first, pos) != 0 || name[pos] != '.' ||
		    strcmp(name + ln - (lf - pos), first + pos) != 0)
			continue;
		slug = xasprintf("%.*s", (int)(ln - lf - 1), name + pos + 1);
		dest = safe_name(slug) ? output_endpoint_path(out_path, id, slug) : NULL;
		free(slug);
		return dest;
	}
	return NULL;
}

int ctl_client(const char *path, const struct ctl_request *req, const char *out_path, bool quiet)
{
	struct reader *r = xcalloc(1, sizeof(*r));
	struct sockaddr_un sa;
	char line[CTL_LINE_MAX * 2];
	sigset_t sigs;
	int code = EXIT_INTERNAL, saved = EXIT_OK, nfiles = 0;
	bool done = false;
	char first[256] = "", *epath = NULL;

	r->fd = r->sigfd = -1;
	r->quiet = quiet;
	if (make_addr(path, &sa) < 0)
		goto out;
	r->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r->fd < 0 || connect(r->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == ENOENT || errno == ECONNREFUSED)
			log_err("no sprofd daemon listens on %s (start one with sprofd -D, or name "
				"its socket with -S)", path);
		else
			log_err("cannot connect to %s: %s", path, strerror(errno));
		goto out;
	}
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	r->sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	ctl_request_format(req, line, sizeof(line));
	if (send_all(r->fd, line, strlen(line)) < 0) {
		log_err("cannot send the request to %s: %s", path, strerror(errno));
		goto out;
	}
	while (!done) {
		char *word = line, *rest;

		if (reader_line(r, line, sizeof(line)) < 0) {
			log_err("the daemon closed the connection without an answer");
			code = EXIT_INTERNAL;
			break;
		}
		rest = strchr(line, ' ');
		if (rest)
			*rest++ = '\0';
		else
			rest = line + strlen(line);
		if (strcmp(word, "msg") == 0) {
			log_info("%s", rest);
		} else if (strcmp(word, "out") == 0) {
			if (!quiet)
				printf("%s\n", rest);
		} else if (strcmp(word, "file") == 0) {
			char name[256];
			long long size;
			unsigned long long samples;
			const char *dest;
			int rc;

			if (sscanf(rest, "%255s %lld %llu", name, &size, &samples) != 3 || size < 0 ||
			    !safe_name(name)) {
				log_err("the daemon sent a malformed file header: %s", rest);
				break;
			}
			free(epath);
			epath = NULL;
			if (out_path && nfiles == 0)
				snprintf(first, sizeof(first), "%s", name);
			else if (out_path)
				epath = endpoint_dest(req, out_path, first, name);
			dest = out_path && nfiles == 0 ? out_path : epath ? epath : name;
			nfiles++;
			rc = receive_file(r, dest, size);
			if (rc == EXIT_INTERNAL) {
				code = rc;
				break;
			}
			if (rc != EXIT_OK)
				saved = rc;
			else
				log_info("wrote %s (%llu samples)", dest, samples);
		} else if (strcmp(word, "err") == 0) {
			char *text;
			long c = strtol(rest, &text, 10);
			while (*text == ' ')
				text++;
			log_err("%s", text);
			code = c > 0 && c < 126 ? (int)c : EXIT_INTERNAL;
			done = true;
		} else if (strcmp(word, "ok") == 0) {
			/* A file we could not save fails the command. */
			code = saved;
			done = true;
		} else {
			log_err("the daemon sent an unknown reply: %s", word);
			break;
		}
		fflush(stdout);
	}
out:
	if (r->fd >= 0)
		close(r->fd);
	if (r->sigfd >= 0)
		close(r->sigfd);
	free(epath);
	free(r);
	return code;
}
