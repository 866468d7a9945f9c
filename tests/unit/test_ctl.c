/* test_ctl.c: the control socket's protocol and its server, without a
 * daemon: requests read back as themselves, each refusal has its reason,
 * a reply is one line whatever its text holds, and the server reads a
 * request line that arrives in pieces, knows its caller from the socket,
 * and refuses NUL bytes, overlong lines and idle clients. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "log.h"
#include "sprofd.h"
#include "suites.h"
#include "util.h"

/* The refusals logged on the way are expected: stderr would be noise. */
static int saved_stderr = -1;

static void quiet_setup(void)
{
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	saved_stderr = dup(2);
	dup2(null, 2);
	close(null);
}

static void quiet_teardown(void)
{
	dup2(saved_stderr, 2);
	close(saved_stderr);
}

/* Formats r and parses the line back (without its newline). */
static void round_trip(const struct ctl_request *r, struct ctl_request *back)
{
	char line[CTL_LINE_MAX], why[256] = "";
	size_t n;

	ctl_request_format(r, line, sizeof(line));
	n = strlen(line);
	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(line[n - 1], '\n');
	line[n - 1] = '\0';
	ck_assert_msg(ctl_request_parse(line, back, why, sizeof(why)) == 0, "'%s': %s", line, why);
}

START_TEST(test_request_round_trip)
{
	struct ctl_request r, back;

	ctl_request_init(&r);
	ck_assert_int_eq(r.cmd, CTL_PROFILE);
	ck_assert_uint_eq(r.hz, SPROFD_HZ_DEFAULT);
	ck_assert_str_eq(r.formats, "prof");
	r.pid = 4321;
	r.duration = 2.5;
	r.hz = 997;
	r.mode = MODE_WALL;
	snprintf(r.formats, sizeof(r.formats), "prof,pprof,svg");
	r.rows = 0;
	round_trip(&r, &back);
	ck_assert_int_eq(back.cmd, CTL_PROFILE);
	ck_assert_int_eq(back.pid, 4321);
	ck_assert(back.duration == 2.5);
	ck_assert_uint_eq(back.hz, 997);
	ck_assert_int_eq(back.mode, MODE_WALL);
	ck_assert_str_eq(back.formats, "prof,pprof,svg");
	ck_assert_int_eq(back.rows, 0);

	/* Under a millisecond is sent as one, never as 0 ("until stopped"). */
	r.duration = 0.0001;
	round_trip(&r, &back);
	ck_assert(back.duration > 0 && back.duration <= 0.001);
	r.duration = 0;
	round_trip(&r, &back);
	ck_assert(back.duration == 0);

	/* A split point, blanks, '=', '%' and UTF-8 included, and children. */
	ctl_request_init(&r);
	r.pid = 7;
	r.children = true;
	snprintf(r.split, sizeof(r.split), "jobs\\.py:[0-9]+ \\(run=%%20 \xc3\xa9\\)");
	round_trip(&r, &back);
	ck_assert_str_eq(back.split, r.split);
	ck_assert(back.children);
	{
		char line[CTL_LINE_MAX];
		ctl_request_format(&r, line, sizeof(line));
		ck_assert_ptr_nonnull(strstr(line, " split=jobs%5C.py%3A%5B0-9%5D%2B%20%5C%28run%3D%2520"
					   "%20%C3%A9%5C%29\n"));
	}
	snprintf(r.split, sizeof(r.split), "flask");
	round_trip(&r, &back);
	ck_assert_str_eq(back.split, "flask");
	/* None: no key, which a daemon before it would refuse. */
	r.split[0] = '\0';
	{
		char line[CTL_LINE_MAX];
		ctl_request_format(&r, line, sizeof(line));
		ck_assert_ptr_null(strstr(line, "split"));
	}

	ctl_request_init(&r);
	r.cmd = CTL_RUN;
	snprintf(r.target, sizeof(r.target), "web-1");
	round_trip(&r, &back);
	ck_assert_int_eq(back.cmd, CTL_RUN);
	ck_assert_str_eq(back.target, "web-1");

	r.cmd = CTL_STATUS;
	round_trip(&r, &back);
	ck_assert_int_eq(back.cmd, CTL_STATUS);
}
END_TEST

START_TEST(test_request_refused)
{
	static const struct {
		const char *line, *why;
	} bad[] = {
		{ "", "empty" },
		{ "   \t", "empty" },
		{ "reboot", "unknown request 'reboot'" },
		{ "profile", "pid=N" },
		{ "profile duration=1", "pid=N" },
		{ "profile pid=0", "not a process ID" },
		{ "profile pid=12x", "not a process ID" },
		{ "profile pid=1 pid", "KEY=VALUE" },
		{ "profile pid=1 colour=red", "unknown argument 'colour'" },
		{ "profile pid=1 mode=idle", "cpu or wall" },
		{ "profile pid=1 freq=0", "from 1 to 10000" },
		{ "profile pid=1 freq=10001", "from 1 to 10000" },
		{ "profile pid=1 duration=2y", "not a duration" },
		{ "profile pid=1 duration=31536001", "not a duration" },
		{ "profile pid=1 formats=prof,doc", "unknown format 'doc'" },
		{ "profile pid=1 rows=-1", "bad row count" },
		{ "profile pid=1 target=web", "unknown argument 'target'" },
		{ "profile pid=1 split=", "bad split point" },
		{ "profile pid=1 split=a%2", "bad split point" },
		{ "profile pid=1 split=a%zz", "bad split point" },
		{ "profile pid=1 split=a%00b", "bad split point" },
		{ "profile pid=1 split=a%7B255%7D%7B255%7D", "{} repetition" },
		{ "run target=web split=flask", "unknown argument 'split'" },
		{ "run", "target=NAME" },
		{ "run target=", "bad target name" },
		{ "run pid=1", "unknown argument 'pid'" },
		{ "status pid=1", "unknown argument 'pid'" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ctl_request r;
		char why[256] = "";

		ck_assert_msg(ctl_request_parse(bad[i].line, &r, why, sizeof(why)) < 0, "'%s' accepted",
			      bad[i].line);
		ck_assert_msg(strstr(why, bad[i].why), "'%s': '%s' does not say '%s'", bad[i].line, why,
			      bad[i].why);
	}
	{
		/* Longer than a request line may be. */
		char *line = xmalloc(CTL_LINE_MAX + 10), why[256];
		struct ctl_request r;

		memset(line, 'a', CTL_LINE_MAX + 9);
		line[CTL_LINE_MAX + 9] = '\0';
		ck_assert_int_lt(ctl_request_parse(line, &r, why, sizeof(why)), 0);
		ck_assert(strstr(why, "too long"));
		free(line);
	}
}
END_TEST

/* Reads what is waiting on fd (a connected socket) within a second. */
static size_t read_some(int fd, char *buf, size_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t got = 0;

	while (got < len - 1 && poll(&pfd, 1, got ? 50 : 1000) > 0) {
		ssize_t n = read(fd, buf + got, len - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return got;
}

/* Every reply is one line: line breaks in its text become blanks. */
START_TEST(test_reply_one_line)
{
	char buf[256];
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(ctl_reply(sv[0], "err", "%d %s", 3, "two\nlines\r\n"), 0);
	read_some(sv[1], buf, sizeof(buf));
	ck_assert_str_eq(buf, "err 3 two lines  \n");
	close(sv[1]);
	/* The client is gone: -1, and no SIGPIPE. */
	ck_assert_int_lt(ctl_reply(sv[0], "ok", "%s", ""), 0);
	close(sv[0]);
}
END_TEST

/* The client's stop line, as the worker reads it from the connection. */
START_TEST(test_wants_stop)
{
	ck_assert(ctl_wants_stop(CTL_STOP, strlen(CTL_STOP)));
	ck_assert(ctl_wants_stop("\0stop", 5));
	ck_assert(!ctl_wants_stop("sto", 3));
	ck_assert(!ctl_wants_stop("stop", 3));
	ck_assert(!ctl_wants_stop("", 0));
}
END_TEST

/* What the server handed to the handler. */
struct seen {
	int calls;
	struct ctl_request r;
	struct ctl_caller who;
};

static void handler(void *arg, const struct ctl_caller *c, const struct ctl_request *r,
		    uint64_t now)
{
	struct seen *s = arg;

	s->calls++;
	s->r = *r;
	s->who = *c;
	ctl_reply(c->fd, "ok", "%s", "");
}

/* Polls the server once (up to timeout_ms) and serves what is ready. */
static void serve(struct ctl_server *sv, int timeout_ms)
{
	struct pollfd pfd[CTL_SERVER_NFDS];

	ctl_server_pollfds(sv, pfd);
	if (poll(pfd, CTL_SERVER_NFDS, timeout_ms) > 0)
		ctl_server_serve(sv, pfd, mono_ns());
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

START_TEST(test_server)
{
	char dir[] = "/tmp/sprofd-ctl-XXXXXX", path[64], buf[512];
	struct seen seen = { 0 };
	struct ctl_server *sv;
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	sv = ctl_server_new(handler, &seen);
	ck_assert(!ctl_server_listening(sv));
	ck_assert_int_eq(ctl_server_listen(sv, path), 0);
	ck_assert(ctl_server_listening(sv));
	ck_assert_str_eq(ctl_server_path(sv), path);
	ck_assert_uint_eq(ctl_server_deadline(sv), UINT64_MAX);

	/* A request line in three pieces is one request. */
	fd = connect_to(path);
	serve(sv, 1000);    /* accept */
	ck_assert_uint_ne(ctl_server_deadline(sv), UINT64_MAX);
	ck_assert_int_eq(write(fd, "profile pi", 10), 10);
	serve(sv, 1000);
	ck_assert_int_eq(seen.calls, 0);
	ck_assert_int_eq(write(fd, "d=77 mode=wall", 14), 14);
	serve(sv, 1000);
	ck_assert_int_eq(write(fd, "\n", 1), 1);
	serve(sv, 1000);
	ck_assert_int_eq(seen.calls, 1);
	ck_assert_int_eq(seen.r.pid, 77);
	ck_assert_int_eq(seen.r.mode, MODE_WALL);
	ck_assert_uint_eq(seen.who.uid, getuid());
	ck_assert_int_eq(seen.who.pid, getpid());
	read_some(fd, buf, sizeof(buf));
	ck_assert_str_eq(buf, "ok \n");
	/* The server closed its end after answering. */
	ck_assert_uint_eq(read_some(fd, buf, sizeof(buf)), 0);
	close(fd);

	/* A request the parser refuses is answered by the server. */
	fd = connect_to(path);
	ck_assert_int_eq(write(fd, "profile\n", 8), 8);
	serve(sv, 1000);
	serve(sv, 1000);
	read_some(fd, buf, sizeof(buf));
	ck_assert_msg(strncmp(buf, "err 2 ", 6) == 0 && strstr(buf, "pid=N"), "%s", buf);
	close(fd);

	/* A NUL byte before the end of the line. */
	fd = connect_to(path);
	ck_assert_int_eq(write(fd, "status\0x\n", 9), 9);
	serve(sv, 1000);
	serve(sv, 1000);
	read_some(fd, buf, sizeof(buf));
	ck_assert_msg(strstr(buf, "NUL byte"), "%s", buf);
	close(fd);

	/* No end of line within CTL_LINE_MAX bytes. */
	fd = connect_to(path);
	serve(sv, 1000);
	{
		char *junk = xmalloc(CTL_LINE_MAX);
		memset(junk, 'x', CTL_LINE_MAX);
		ck_assert_int_eq(write(fd, junk, CTL_LINE_MAX), CTL_LINE_MAX);
		free(junk);
	}
	for (int i = 0; i < 5; i++)
		serve(sv, 200);
	read_some(fd, buf, sizeof(buf));
	ck_assert_msg(strstr(buf, "request too long"), "%s", buf);
	close(fd);
	ck_assert_int_eq(seen.calls, 1);

	/* An idle client is dropped at its deadline. */
	fd = connect_to(path);
	serve(sv, 1000);
	ck_assert_uint_ne(ctl_server_deadline(sv), UINT64_MAX);
	ctl_server_expire(sv, ctl_server_deadline(sv));
	ck_assert_uint_eq(ctl_server_deadline(sv), UINT64_MAX);
	ck_assert_uint_eq(read_some(fd, buf, sizeof(buf)), 0);
	close(fd);

	/* Shut: the socket is gone; free removes nothing more. */
	ctl_server_shut(sv);
	ck_assert(!ctl_server_listening(sv));
	ck_assert_int_lt(access(path, F_OK), 0);
	ctl_server_free(sv);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* Listening elsewhere replaces the socket; a path that cannot be used
 * keeps the one there is. */
START_TEST(test_server_relisten)
{
	char dir[] = "/tmp/sprofd-ctl-XXXXXX", a[64], b[64], bad[64];
	struct ctl_server *sv;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a.sock", dir);
	snprintf(b, sizeof(b), "%s/b.sock", dir);
	snprintf(bad, sizeof(bad), "%s/no/such/dir/c.sock", dir);
	sv = ctl_server_new(handler, NULL);
	ck_assert_int_eq(ctl_server_listen(sv, a), 0);
	ck_assert_int_eq(ctl_server_listen(sv, a), 0);
	ck_assert_int_eq(access(a, F_OK), 0);
	ck_assert_int_eq(ctl_server_listen(sv, b), 0);
	ck_assert_int_lt(access(a, F_OK), 0);
	ck_assert_int_eq(access(b, F_OK), 0);
	ck_assert_int_lt(ctl_server_listen(sv, bad), 0);
	ck_assert_str_eq(ctl_server_path(sv), b);
	ck_assert(ctl_server_listening(sv));
	ck_assert_int_eq(ctl_server_listen(sv, NULL), 0);
	ck_assert(!ctl_server_listening(sv));
	ck_assert_int_lt(access(b, F_OK), 0);
	ctl_server_free(sv);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

Suite *suite_ctl(void)
{
	Suite *s = suite_create("ctl");
	TCase *tc = tcase_create("protocol");

	tcase_add_checked_fixture(tc, quiet_setup, quiet_teardown);
	tcase_add_test(tc, test_request_round_trip);
	tcase_add_test(tc, test_request_refused);
	tcase_add_test(tc, test_reply_one_line);
	tcase_add_test(tc, test_wants_stop);
	tcase_add_test(tc, test_server);
	tcase_add_test(tc, test_server_relisten);
	suite_add_tcase(s, tc);
	return s;
}
