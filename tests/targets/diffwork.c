/* diffwork.c: a program before and after an optimization, for sprofd
 * report --diff. Every round runs A units of work in slow(), B in steady()
 * and C in extra(), one after the other from round(); a function given 0
 * units is never called, so it is absent from the profile.
 *
 * Usage: diffwork A B C   (default 6 6 2)
 * Prints "ready", then works until killed. */
#include "target.h"

/* One unit: about 1-2 ms of dependent integer multiplies, so that a round
 * (14 units by default) lasts a few sampling intervals, and a profile of a
 * second holds dozens of rounds even on a loaded machine: partial rounds at
 * its ends weigh little. Sampled at a rate that is no multiple of it. */
#define UNIT_STEPS 1000000L

/* Distinct sinks keep the three functions from being folded into one. */
static volatile uint64_t sink_s, sink_t, sink_x;

__attribute__((noinline)) void slow(long units)
{
	uint64_t acc = sink_s;

	BURN(acc, units * UNIT_STEPS);
	sink_s = acc;
}

__attribute__((noinline)) void steady(long units)
{
	uint64_t acc = sink_t;

	BURN(acc, units * UNIT_STEPS);
	sink_t = acc;
}

__attribute__((noinline)) void extra(long units)
{
	uint64_t acc = sink_x;

	BURN(acc, units * UNIT_STEPS);
	sink_x = acc;
}

__attribute__((noinline)) void round_of_work(long a, long b, long c)
{
	if (a > 0)
		slow(a);
	BARRIER();
	if (b > 0)
		steady(b);
	BARRIER();
	if (c > 0)
		extra(c);
	BARRIER();
}

int main(int argc, char **argv)
{
	long a = target_arg_long(argc, argv, 1, 6);
	long b = target_arg_long(argc, argv, 2, 6);
	long c = target_arg_long(argc, argv, 3, 2);

	target_ready();
	for (;;) {
		round_of_work(a, b, c);
		BARRIER();
	}
}
