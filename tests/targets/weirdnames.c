/* weirdnames.c: threads with names that every output format must escape
 * (spaces, a newline, a tab, a semicolon, markup, bytes that are not
 * UTF-8, non-ASCII UTF-8, a backslash), each spinning in a function of a
 * shared object that the test builds at a path just as awkward.
 *
 * Usage: weirdnames LIBRARY_A LIBRARY_B
 * Loads both libraries (paths of any bytes but NUL, up to PATH_MAX), names
 * one thread per entry of names[] and runs weird_hot_a() from LIBRARY_A in
 * the even ones, weird_hot_b() from LIBRARY_B in the odd ones; prints
 * "ready" once all run, then sleeps until killed. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/prctl.h>

#include "target.h"

/* Up to 15 bytes each: the kernel keeps no more of a thread's name. The
 * test has the same list. */
static const char *const names[] = {
	"with space",
	"new\nline",
	"tab\there",
	"semi;colon",
	"x<&\">y",
	"bad\xff\xe2\x82z",
	"gr\xc3\xb6\xc3\x9f" "e\xe2\x86\x92ok",
	"back\\slash",
};

#define NNAMES (sizeof(names) / sizeof(names[0]))

typedef void (*hot_fn)(volatile uint64_t *sink, long n);

static hot_fn hot[2];
static atomic_int running;

/* Each thread names itself (prctl for one, as programs do both ways) and
 * spins in the library. */
static void *spin(void *arg)
{
	long i = (long)arg;

	if (i == 0)
		prctl(PR_SET_NAME, names[i], 0, 0, 0);
	else if (pthread_setname_np(pthread_self(), names[i]) != 0)
		fprintf(stderr, "weirdnames: cannot name thread %ld\n", i);
	atomic_fetch_add(&running, 1);
	for (;;)
		hot[i % 2](&target_sink, 200000L);
	return NULL;
}

int main(int argc, char **argv)
{
	static const char *const syms[2] = { "weird_hot_a", "weird_hot_b" };
	pthread_t t;

	if (argc != 3) {
		fprintf(stderr, "usage: weirdnames LIBRARY_A LIBRARY_B\n");
		return 2;
	}
	for (int i = 0; i < 2; i++) {
		void *lib = dlopen(argv[1 + i], RTLD_NOW);

		if (!lib || !(hot[i] = (hot_fn)dlsym(lib, syms[i]))) {
			fprintf(stderr, "weirdnames: %s\n", dlerror());
			return 1;
		}
	}
	for (size_t i = 0; i < NNAMES; i++)
		if (pthread_create(&t, NULL, spin, (void *)(long)i) != 0) {
			perror("weirdnames: pthread_create");
			return 1;
		}
	while (atomic_load(&running) < (int)NNAMES)
		target_sleep_ms(1);
	target_ready();
	for (;;)
		pause();
}
