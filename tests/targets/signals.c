/* signals.c: counts SIGRTMIN deliveries while busy, to show that sampling
 * loses and invents no signals. A second thread, with every signal
 * blocked, sleeps in a loop and counts the sleeps that end in EINTR: with
 * no signal of its own to handle, any EINTR it sees was caused from outside
 * (for example by a tracer), and should never happen.
 *
 * Usage: signals [STATEFILE]
 * Prints "ready", then keeps "signals=N eintr=M" in STATEFILE (when given)
 * up to date. SIGUSR1 prints that line on stdout; SIGTERM prints it and
 * exits 0. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "target.h"

static atomic_ulong rt_count, eintr_count;
static volatile sig_atomic_t want_print, want_exit;

/* Counts one real-time signal. */
static void on_rt(int sig)
{
	(void)sig;
	atomic_fetch_add(&rt_count, 1);
}

/* Asks the main loop to print (SIGUSR1) or to print and exit (SIGTERM). */
static void on_report(int sig)
{
	want_print = 1;
	if (sig == SIGTERM)
		want_exit = 1;
}

/* Sleeps 1 ms at a time, forever, counting interrupted sleeps. */
static void *sleeper(void *arg)
{
	(void)arg;
	for (;;) {
		struct timespec ts = { 0, 1000000L };

		if (nanosleep(&ts, NULL) == -1 && errno == EINTR)
			atomic_fetch_add(&eintr_count, 1);
	}
	return NULL;
}

/* The busy part of the main loop. */
__attribute__((noinline)) void busy(void)
{
	uint64_t acc = target_sink;

	BURN(acc, 200000L);
	target_sink = acc;
}

int main(int argc, char **argv)
{
	const char *state = argc > 1 ? argv[1] : NULL;
	struct sigaction sa;
	sigset_t all;
	pthread_t t;
	char line[96];
	double next = 0;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_rt;
	sigaction(SIGRTMIN, &sa, NULL);
	sa.sa_handler = on_report;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	/* The sleeper inherits a full mask, so every signal goes to main. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	if (pthread_create(&t, NULL, sleeper, NULL) != 0) {
		perror("pthread_create");
		return 1;
	}
	pthread_sigmask(SIG_UNBLOCK, &all, NULL);

	target_ready();
	for (;;) {
		busy();
		if (want_print || (state && target_now() >= next)) {
			snprintf(line, sizeof(line), "signals=%lu eintr=%lu\n",
				 atomic_load(&rt_count), atomic_load(&eintr_count));
			if (state) {
				target_write_state(state, line);
				next = target_now() + 0.01;
			}
			if (want_print) {
				want_print = 0;
				fputs(line, stdout);
				fflush(stdout);
				if (want_exit)
					return 0;
			}
		}
	}
}
