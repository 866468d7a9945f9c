/* rustnames.c: code under Rust symbol names, without a Rust compiler: two
 * hand-written assembly functions named in Rust's v0 mangling and in its
 * legacy mangling (an Itanium C++ name ending in a hash), each spun in by
 * its own thread, while the main thread sleeps. The names are those rustc
 * gives mycrate::hot_spin and mycrate::inner::Thing::work.
 *
 * Usage: rustnames
 * Prints "ready" once both threads run, then spins until killed. */
#include <pthread.h>
#include <stdatomic.h>

#include "target.h"

#define RUST_V0     "_RNvCsjrVPa4l567z_7mycrate8hot_spin"
#define RUST_LEGACY "_ZN7mycrate5inner5Thing4work17hb76e956ac5ddd22cE"

/* A leaf that spins forever, with call-frame information so that
 * unwinding continues into its caller. */
#define SPIN_FUNCTION(sym)                                         \
	".text\n"                                                  \
	".globl " sym "\n"                                         \
	".type " sym ", @function\n"                               \
	sym ":\n"                                                  \
	".cfi_startproc\n"                                         \
	"1:\tpause\n"                                              \
	"\tjmp 1b\n"                                               \
	".cfi_endproc\n"                                           \
	".size " sym ", .-" sym "\n"

__asm__(SPIN_FUNCTION(RUST_V0) SPIN_FUNCTION(RUST_LEGACY));

void rust_v0_spin(void) __asm__(RUST_V0);
void rust_legacy_spin(void) __asm__(RUST_LEGACY);

static atomic_int running;

/* Thread bodies: report in, then spin in one of the functions. */
__attribute__((noinline)) static void *v0_thread(void *arg)
{
	atomic_fetch_add(&running, 1);
	rust_v0_spin();
	BARRIER();
	return arg;
}

__attribute__((noinline)) static void *legacy_thread(void *arg)
{
	atomic_fetch_add(&running, 1);
	rust_legacy_spin();
	BARRIER();
	return arg;
}

int main(void)
{
	pthread_t a, b;

	if (pthread_create(&a, NULL, v0_thread, NULL) != 0 ||
	    pthread_create(&b, NULL, legacy_thread, NULL) != 0) {
		perror("pthread_create");
		return 1;
	}
	while (atomic_load(&running) < 2)
		target_sleep_ms(1);
	target_ready();
	for (;;)
		target_sleep_ms(1000);
}
