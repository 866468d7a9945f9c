/* ctl.h: the daemon's control socket, a Unix stream socket on which
 * "sprofd ctl" asks for a status report, for a profile of a process now,
 * or for a run of a configured target now. The daemon learns who asks from
 * the socket itself (SO_PEERCRED), never from what the client says.
 *
 * The protocol is text lines. The client sends one request line:
 *   status
 *   profile pid=N [duration=SECS] [freq=HZ] [mode=cpu|wall] [formats=LIST] [rows=N]
 *           [children=0|1] [split=POINT]
 *   run target=NAME
 * and the server answers with lines that each start with a word:
 *   msg TEXT                 progress, for the client's stderr
 *   out TEXT                 output, for the client's stdout
 *   file NAME SIZE SAMPLES   then SIZE bytes: a profile to save as NAME
 *   err CODE TEXT            failure with an exit code of sprofd.h; last line
 *   ok                       success; last line
 * POINT (a --split point: a regular expression may hold blanks and '=')
 * goes %XX-encoded: every byte but letters, digits, '.', '_' and '-'.
 * While a profile is being taken the client may send "stop" to end it
 * early; the results still come. A client that hangs up abandons it.
 *
 * This module owns the protocol on both sides, the server's listening
 * socket and waiting connections, and the client; what a request does is
 * the daemon's business (its handler, and the worker that answers an
 * on-demand profile). */
#ifndef SPROFD_CTL_H
#define SPROFD_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sampler.h"

struct pollfd;

#define CTL_LINE_MAX 1024

enum ctl_cmd { CTL_STATUS, CTL_PROFILE, CTL_RUN };

struct ctl_request {
	enum ctl_cmd cmd;
	pid_t pid;
	double duration;      /* seconds; 0: until stopped (the daemon caps it) */
	unsigned hz;
	enum sample_mode mode;
	char formats[128];
	int rows;             /* of the console table; 0: none */
	bool children;        /* and every descendant of pid (sprofd -C) */
	char split[200];      /* --split point (split.h), checked; "": none */
	char target[80];
};

/* ---- both sides ---- */

/* What a client sends to end its profile early. */
#define CTL_STOP "stop\n"
/* Whether the n bytes a client sent while its profile runs ask to stop. */
bool ctl_wants_stop(const char *buf, size_t n);

/* Fills r with the defaults of a profile request. */
void ctl_request_init(struct ctl_request *r);
/* The request as one line (with its newline). */
void ctl_request_format(const struct ctl_request *r, char *buf, size_t len);
/* Parses a request line (without its newline). Returns 0, or -1 with a
 * reason in why. */
int ctl_request_parse(const char *line, struct ctl_request *r, char *why, size_t len);

/* ---- server ---- */

/* Sends one reply line: word, a blank, then the formatted text. Returns 0,
 * or -1 if the client is gone. Never raises SIGPIPE. */
int ctl_reply(int fd, const char *word, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Sends the file name in directory dirfd as a "file" reply. Returns 0 or
 * -1 (logged). */
int ctl_send_file(int fd, int dirfd, const char *name, unsigned long long samples);

/* The server: the listening socket and the connections waiting for their
 * request line (a few per user other than root, each for a few seconds).
 * A request line that parses goes to the handler, which answers it on
 * caller->fd (with ctl_reply) or hands a dup of it on; the server closes
 * the connection afterwards. The caller's owner polls the server's
 * descriptors and calls ctl_server_serve. */
struct ctl_server;
/* Who sent a request, from the socket (SO_PEERCRED). */
struct ctl_caller {
	int fd;
	uid_t uid;
	gid_t gid;
	pid_t pid;
};
typedef void (*ctl_handler)(void *arg, const struct ctl_caller *caller,
			    const struct ctl_request *r, uint64_t now);
/* The entries ctl_server_pollfds fills. */
#define CTL_SERVER_NFDS 17

struct ctl_server *ctl_server_new(ctl_handler handler, void *arg);
/* Listens on path (NULL: on nothing), unless it already does. Returns 0,
 * or -1 (logged) if it cannot, keeping the socket it had. */
int ctl_server_listen(struct ctl_server *sv, const char *path);
/* The path listened on last, or NULL. */
const char *ctl_server_path(const struct ctl_server *sv);
bool ctl_server_listening(const struct ctl_server *sv);
/* Stops listening and removes the socket; connections already accepted
 * are still served. */
void ctl_server_shut(struct ctl_server *sv);
/* Fills pfd[0 .. CTL_SERVER_NFDS - 1] for poll (unused entries: fd -1). */
void ctl_server_pollfds(const struct ctl_server *sv, struct pollfd *pfd);
/* Accepts and reads what the poll found ready; now is CLOCK_MONOTONIC ns. */
void ctl_server_serve(struct ctl_server *sv, const struct pollfd *pfd, uint64_t now);
/* When the next connection times out (UINT64_MAX: none), and closing those
 * that have. */
uint64_t ctl_server_deadline(const struct ctl_server *sv);
void ctl_server_expire(struct ctl_server *sv, uint64_t now);
/* Stops listening, closes every connection (NULL is fine). */
void ctl_server_free(struct ctl_server *sv);

/* ---- client ---- */

/* Sends r to the daemon at socket path and carries out the replies: prints
 * messages and output, and saves files in the current directory (the
 * first under out_path instead, when given). SIGINT and SIGTERM send
 * "stop". Returns an exit code from sprofd.h. */
int ctl_client(const char *path, const struct ctl_request *r, const char *out_path, bool quiet);

#endif
