// cxxserver.cc: a C++ program for the symbol tests, built -O2 like the
// other targets: templates, a lambda run by std::thread, member functions
// in namespaces, and hot loops inlined two levels deep, so stacks carry
// mangled names and inline frames.
//
// Threads (each named, so tests can tell them apart):
//   main      spins in shapes::Grid<unsigned long>::sweep(), which inlines
//             shapes::Grid<...>::cell() and shapes::mix()
//   lambda    runs a lambda that inlines hot_outer() -> hot_inner()
//   tmpl      spins in shapes::spin_template<unsigned long>()
//   sleeper   sleeps in nanosleep() under sleeper_loop()
//
// Usage: cxxserver
// Prints "ready" once every thread runs, then spins until killed.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <pthread.h>
#include <thread>

#include "target.h"

static std::atomic<int> running{0};

namespace shapes {

// The innermost work: always inlined, so samples land in inline frames.
static inline __attribute__((always_inline)) uint64_t mix(uint64_t acc, long n)
{
	BURN(acc, n);
	return acc;
}

template <typename T>
class Grid {
public:
	explicit Grid(T seed) : acc_(seed) {}

	// Inlined into sweep().
	inline __attribute__((always_inline)) void cell(long n)
	{
		acc_ = mix(acc_, n);
		target_sink = acc_;
	}

	// A real function: the outermost frame of the inline chain.
	__attribute__((noipa)) void sweep()
	{
		for (;;)
			cell(200000);
	}

private:
	T acc_;
};

// A function template, out of line.
template <typename T>
__attribute__((noipa)) T spin_template(T seed)
{
	T acc = seed;

	for (;;) {
		BURN(acc, 300000);
		target_sink = acc;
	}
	return acc;
}

} // namespace shapes

static inline __attribute__((always_inline)) void hot_inner(uint64_t &acc)
{
	BURN(acc, 100000);
}

static inline __attribute__((always_inline)) void hot_outer(uint64_t &acc)
{
	hot_inner(acc);
	target_sink = acc;
}

// Sleeps forever in a system call.
__attribute__((noipa)) void sleeper_loop()
{
	for (;;)
		target_sleep_ms(1000);
}

// Names the calling thread and counts it as running.
static void enter(const char *name)
{
	pthread_setname_np(pthread_self(), name);
	running.fetch_add(1);
}

int main()
{
	std::thread lambda([] {
		uint64_t acc = 1;

		enter("lambda");
		for (;;)
			hot_outer(acc);
	});
	std::thread tmpl([] {
		enter("tmpl");
		shapes::spin_template<unsigned long>(7);
	});
	std::thread sleeper([] {
		enter("sleeper");
		sleeper_loop();
	});
	while (running.load() < 3)
		target_sleep_ms(1);
	target_ready();
	shapes::Grid<unsigned long> grid(3);
	grid.sweep();
	lambda.join();
	tmpl.join();
	sleeper.join();
	return 0;
}
