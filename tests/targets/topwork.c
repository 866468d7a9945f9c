/* topwork.c: a target whose hot function changes while it runs, for sprofd
 * top. The main thread does rounds of 6 units in first_hot() and 1 in
 * steady_part(); after SIGUSR1 the 6 units go to second_hot() instead. A
 * second thread, named "sidework", spends part of its time in
 * side_spin() (a unit, then 2 ms asleep).
 *
 * Usage: topwork   Prints "ready", then works until killed. */
#include <pthread.h>
#include <signal.h>

#include "target.h"

/* One unit: a fraction of a millisecond, so that a second holds hundreds
 * of rounds and each second's shares are steady. */
#define UNIT_STEPS 300000L

static volatile sig_atomic_t second_phase;
static volatile uint64_t sink_a, sink_b, sink_c, sink_d;

static void on_usr1(int sig)
{
	(void)sig;
	second_phase = 1;
}

__attribute__((noinline)) void first_hot(long units)
{
	uint64_t acc = sink_a;

	BURN(acc, units * UNIT_STEPS);
	sink_a = acc;
}

__attribute__((noinline)) void second_hot(long units)
{
	uint64_t acc = sink_b;

	BURN(acc, units * UNIT_STEPS);
	sink_b = acc;
}

__attribute__((noinline)) void steady_part(long units)
{
	uint64_t acc = sink_c;

	BURN(acc, units * UNIT_STEPS);
	sink_c = acc;
}

__attribute__((noinline)) void work_round(void)
{
	if (second_phase)
		second_hot(6);
	else
		first_hot(6);
	BARRIER();
	steady_part(1);
	BARRIER();
}

__attribute__((noinline)) void side_spin(long units)
{
	uint64_t acc = sink_d;

	BURN(acc, units * UNIT_STEPS);
	sink_d = acc;
}

static void *side_main(void *arg)
{
	(void)arg;
	for (;;) {
		side_spin(1);
		BARRIER();
		target_sleep_ms(2);
	}
	return NULL;
}

int main(void)
{
	struct sigaction sa;
	pthread_t th;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	if (pthread_create(&th, NULL, side_main, NULL) != 0)
		return 1;
	pthread_setname_np(th, "sidework");
	target_ready();
	for (;;) {
		work_round();
		BARRIER();
	}
}
