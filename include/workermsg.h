/* workermsg.h: what the daemon's supervisor and its workers say to each
 * other, one message per datagram on the socket pair that links them
 * (SOCK_SEQPACKET). Owns the encoding and the parsing of those messages
 * and nothing else; what each one makes happen is the daemon's and the
 * worker's business.
 *
 * On the wire, short text without a newline:
 *   supervisor -> worker: "rate STRIDE"  sample every STRIDE-th tick
 *                         "snap"         write the profile so far
 *                         "stop"         stop sampling and write
 *   worker -> supervisor: "attached COMM" attached to a process named COMM
 *                         "wrote"         wrote (a part of) the profile */
#ifndef SPROFD_WORKERMSG_H
#define SPROFD_WORKERMSG_H

#include <stddef.h>

/* The longest message, in bytes. */
#define WMSG_MAX 96
/* The largest stride a "rate" message may carry. */
#define WMSG_STRIDE_MAX 1000000u

enum wmsg_kind { WMSG_RATE, WMSG_SNAP, WMSG_STOP, WMSG_ATTACHED, WMSG_WROTE };

struct wmsg {
	enum wmsg_kind kind;
	unsigned stride;    /* WMSG_RATE: 1..WMSG_STRIDE_MAX */
	char comm[64];      /* WMSG_ATTACHED: the process name, maybe cut short */
};

/* Writes m into buf (WMSG_MAX bytes). Returns its length. */
size_t wmsg_encode(const struct wmsg *m, char *buf);
/* Parses one datagram of n bytes. Returns 0, or -1 if it is no message
 * (unknown, malformed, holding a NUL byte, a stride out of range). */
int wmsg_decode(const void *buf, size_t n, struct wmsg *m);

/* Sends m on fd without blocking; the other side may be gone, which is
 * not an error. */
void wmsg_send(int fd, const struct wmsg *m);
/* Receives one datagram from fd without blocking. Returns 1 with a message
 * in m, 0 if there was none or it was not a message, -1 if the other side
 * has gone (end of file or a socket error). */
int wmsg_recv(int fd, struct wmsg *m);

#endif
