/* test_workermsg.c: the supervisor-worker messages: every message reads
 * back as itself, the exact words on the wire, what the parser refuses,
 * and datagram boundaries over a real socket pair. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "suites.h"
#include "workermsg.h"

START_TEST(test_round_trip)
{
	const struct wmsg msgs[] = {
		{ .kind = WMSG_RATE, .stride = 1 },
		{ .kind = WMSG_RATE, .stride = 37 },
		{ .kind = WMSG_RATE, .stride = WMSG_STRIDE_MAX },
		{ .kind = WMSG_SNAP },
		{ .kind = WMSG_STOP },
		{ .kind = WMSG_ATTACHED, .comm = "web worker 1" },
		{ .kind = WMSG_ATTACHED, .comm = "x" },
		{ .kind = WMSG_WROTE },
	};
	static const char *const wire[] = { "rate 1", "rate 37", "rate 1000000", "snap", "stop",
					    "attached web worker 1", "attached x", "wrote" };

	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		char buf[WMSG_MAX];
		struct wmsg m;
		size_t n = wmsg_encode(&msgs[i], buf);

		ck_assert_uint_eq(n, strlen(wire[i]));
		ck_assert_mem_eq(buf, wire[i], n);
		ck_assert_int_eq(wmsg_decode(buf, n, &m), 0);
		ck_assert_int_eq(m.kind, msgs[i].kind);
		ck_assert_uint_eq(m.stride, msgs[i].stride);
		ck_assert_str_eq(m.comm, msgs[i].comm);
	}
}
END_TEST

/* A process name longer than a comm is cut, never overrun. */
START_TEST(test_long_comm)
{
	struct wmsg m = { .kind = WMSG_ATTACHED }, back;
	char buf[WMSG_MAX];
	size_t n;

	memset(m.comm, 'a', sizeof(m.comm) - 1);
	n = wmsg_encode(&m, buf);
	ck_assert_uint_eq(n, 9 + sizeof(m.comm) - 1);
	ck_assert_int_eq(wmsg_decode(buf, n, &back), 0);
	ck_assert_str_eq(back.comm, m.comm);
	/* From a peer: more bytes than a comm holds are cut to fit. */
	memset(buf + 9, 'b', 80);
	ck_assert_int_eq(wmsg_decode(buf, 89, &back), 0);
	ck_assert_uint_eq(strlen(back.comm), sizeof(back.comm) - 1);
}
END_TEST

START_TEST(test_refused)
{
	static const char *const bad[] = {
		"", "rate", "rate ", "rate 0", "rate -1", "rate 1000001", "rate 5x", "rate 99999999999999999999",
		"rate 0x10", "rate  5", "rate +5", "snapx", "snap ", " stop", "STOP", "attached", "attached ", "wrote\n",
		"hello",
	};
	char big[WMSG_MAX + 10];
	struct wmsg m;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(wmsg_decode(bad[i], strlen(bad[i]), &m) < 0, "'%s' accepted", bad[i]);
	/* A NUL byte inside, or a message too long. */
	ck_assert_int_lt(wmsg_decode("snap\0", 5, &m), 0);
	ck_assert_int_lt(wmsg_decode("attached a\0b", 12, &m), 0);
	memcpy(big, "attached ", 9);
	memset(big + 9, 'c', sizeof(big) - 9);
	ck_assert_int_lt(wmsg_decode(big, sizeof(big), &m), 0);
}
END_TEST

/* Over the socket pair the daemon uses: one message per datagram, nothing
 * waiting is 0, a datagram that is no message is 0, a closed peer is -1. */
START_TEST(test_socket)
{
	struct wmsg a = { .kind = WMSG_RATE, .stride = 4 }, b = { .kind = WMSG_STOP }, m;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(wmsg_recv(sv[1], &m), 0);
	wmsg_send(sv[0], &a);
	wmsg_send(sv[0], &b);
	ck_assert_int_eq(send(sv[0], "bogus", 5, 0), 5);
	ck_assert_int_eq(wmsg_recv(sv[1], &m), 1);
	ck_assert_int_eq(m.kind, WMSG_RATE);
	ck_assert_uint_eq(m.stride, 4);
	ck_assert_int_eq(wmsg_recv(sv[1], &m), 1);
	ck_assert_int_eq(m.kind, WMSG_STOP);
	ck_assert_int_eq(wmsg_recv(sv[1], &m), 0);
	ck_assert_int_eq(wmsg_recv(sv[1], &m), 0);
	close(sv[0]);
	ck_assert_int_eq(wmsg_recv(sv[1], &m), -1);
	/* Sending to a peer that is gone neither fails nor raises SIGPIPE. */
	wmsg_send(sv[1], &a);
	close(sv[1]);
}
END_TEST

Suite *suite_workermsg(void)
{
	Suite *s = suite_create("workermsg");
	TCase *tc = tcase_create("messages");

	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_long_comm);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_socket);
	suite_add_tcase(s, tc);
	return s;
}
