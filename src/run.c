/* run.c: a session from start to profile (see run.h). */
#include "run.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "session.h"
#include "sprofd.h"
#include "util.h"

/* Waits until the tracing thread is done, serving the watched
 * descriptors meanwhile. */
static void run_wait(struct session *s, struct run_watch *watch, size_t nwatch)
{
	struct pollfd *pfd = xcalloc(nwatch + 1, sizeof(*pfd));
	bool *off = xcalloc(nwatch + 1, sizeof(*off));

	for (;;) {
		pfd[0] = (struct pollfd){ .fd = session_done_fd(s), .events = POLLIN };
		for (size_t i = 0; i < nwatch; i++)
			pfd[i + 1] = (struct pollfd){ .fd = off[i] ? -1 : watch[i].fd, .events = POLLIN };
		if (poll(pfd, nwatch + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			session_stop(s);
			break;
		}
		if (pfd[0].revents & POLLIN)
			break;
		for (size_t i = 0; i < nwatch; i++)
			if (pfd[i + 1].fd >= 0 && pfd[i + 1].revents &&
			    !watch[i].ready(s, watch[i].fd, watch[i].arg))
				off[i] = true;
	}
	free(off);
	free(pfd);
}

int run_session(const struct session_opts *so, run_started_fn started, void *arg,
		struct run_watch *watch, size_t nwatch, struct session **sp, struct profile **pp)
{
	struct session *s;
	int code = EXIT_OK;

	*pp = NULL;
	*sp = s = session_start(so, &code);
	if (!s)
		return code;
	if (started && (code = started(s, arg)) != EXIT_OK)
		return code;
	run_wait(s, watch, nwatch);
	if (session_join(s) < 0)
		return EXIT_INTERNAL;
	*pp = session_profile(s);
	return *pp ? EXIT_OK : EXIT_NO_SAMPLES;
}
