/* sigmask.c: sprofd's sigprocmask (see sigmask.h). Defined here, it takes
 * the place of libc's for every caller in the process, libunwind's included:
 * the dynamic linker binds the shared libraries' calls to the executable's
 * definition first. This object is linked in because unwind.c calls
 * sigmask_skip. */
#include "sigmask.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>

static __thread bool skipping;

void sigmask_skip(bool on)
{
	skipping = on;
}

int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	int err;

	if (skipping)
		return 0;
	err = pthread_sigmask(how, set, old);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}
