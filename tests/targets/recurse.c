/* recurse.c: deep recursion with a known depth. recurse(n) calls
 * recurse(n - 1) down to 0, which spins for a while, so nearly every sample
 * sees DEPTH + 1 frames of recurse() between main() and the leaf.
 *
 * Usage: recurse [DEPTH]   (default 50)
 * Prints "ready", then recurses again and again until killed. */
#include "target.h"

/* Steps of work at the bottom: tens of milliseconds, so the time spent
 * going down and back up is negligible. */
#define BOTTOM_STEPS 20000000L

/* Recurses n levels, spins at the bottom; the work after the call keeps it
 * from becoming a loop or a tail call. */
__attribute__((noinline)) uint64_t recurse(int n)
{
	uint64_t acc;

	if (n == 0) {
		acc = target_sink;
		BURN(acc, BOTTOM_STEPS);
	} else {
		acc = recurse(n - 1);
	}
	__asm__ volatile("" : "+r"(acc) : : "memory");
	return acc + (uint64_t)n;
}

int main(int argc, char **argv)
{
	int depth = (int)target_arg_long(argc, argv, 1, 50);

	target_ready();
	for (;;)
		target_sink = recurse(depth);
}
