/* workermsg.c: the supervisor-worker messages (see workermsg.h). */
#include "workermsg.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "util.h"

size_t wmsg_encode(const struct wmsg *m, char *buf)
{
	int n = 0;

	switch (m->kind) {
	case WMSG_RATE:
		n = snprintf(buf, WMSG_MAX, "rate %u", m->stride);
		break;
	case WMSG_SNAP:
		n = snprintf(buf, WMSG_MAX, "snap");
		break;
	case WMSG_STOP:
		n = snprintf(buf, WMSG_MAX, "stop");
		break;
	case WMSG_ATTACHED:
		n = snprintf(buf, WMSG_MAX, "attached %.63s", m->comm);
		break;
	case WMSG_WROTE:
		n = snprintf(buf, WMSG_MAX, "wrote");
		break;
	}
	return n < 0 ? 0 : (size_t)n < WMSG_MAX ? (size_t)n : WMSG_MAX - 1;
}

/* Whether the n bytes at p are exactly the string s. */
static bool is(const char *p, size_t n, const char *s)
{
	return n == strlen(s) && memcmp(p, s, n) == 0;
}

int wmsg_decode(const void *buf, size_t n, struct wmsg *m)
{
	const char *p = buf;
	long v;

	memset(m, 0, sizeof(*m));
	if (n == 0 || n >= WMSG_MAX || memchr(p, '\0', n))
		return -1;
	if (is(p, n, "snap")) {
		m->kind = WMSG_SNAP;
	} else if (is(p, n, "stop")) {
		m->kind = WMSG_STOP;
	} else if (is(p, n, "wrote")) {
		m->kind = WMSG_WROTE;
	} else if (n > 5 && memcmp(p, "rate ", 5) == 0) {
		char num[16];

		if (n - 5 >= sizeof(num))
			return -1;
		memcpy(num, p + 5, n - 5);
		num[n - 5] = '\0';
		if (!isdigit((unsigned char)num[0]) || parse_long(num, 1, WMSG_STRIDE_MAX, &v) < 0)
			return -1;
		m->kind = WMSG_RATE;
		m->stride = (unsigned)v;
	} else if (n > 9 && memcmp(p, "attached ", 9) == 0) {
		size_t len = n - 9 < sizeof(m->comm) ? n - 9 : sizeof(m->comm) - 1;

		m->kind = WMSG_ATTACHED;
		memcpy(m->comm, p + 9, len);
		m->comm[len] = '\0';
	} else {
		return -1;
	}
	return 0;
}

void wmsg_send(int fd, const struct wmsg *m)
{
	char buf[WMSG_MAX];
	size_t n = wmsg_encode(m, buf);

	if (fd >= 0)
		(void)send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

int wmsg_recv(int fd, struct wmsg *m)
{
	char buf[WMSG_MAX * 2];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (n == 0)
		return -1;
	return wmsg_decode(buf, (size_t)n, m) == 0 ? 1 : 0;
}
