/* dlhost.c: loads a plugin after it started, as servers load modules on
 * demand: waits until the file TRIGGER exists, then dlopen()s PLUGIN and
 * spins in its plugin_work() function, called from host_call_plugin().
 *
 * Usage: dlhost PLUGIN TRIGGER
 * Prints "ready" before loading anything, then "loaded" once the plugin
 * runs; spins until killed. */
#include <dlfcn.h>

#include "target.h"

/* Calls into the plugin; its frame stays below the plugin's. */
__attribute__((noinline)) static void host_call_plugin(void (*work)(void))
{
	work();
	BARRIER();
}

int main(int argc, char **argv)
{
	void (*work)(void);
	void *h;

	if (argc != 3) {
		fprintf(stderr, "usage: dlhost PLUGIN TRIGGER\n");
		return 2;
	}
	target_ready();
	while (access(argv[2], F_OK) != 0)
		target_sleep_ms(5);
	if (!(h = dlopen(argv[1], RTLD_NOW)) || !(work = (void (*)(void))dlsym(h, "plugin_work"))) {
		fprintf(stderr, "dlhost: %s\n", dlerror());
		return 1;
	}
	fputs("loaded\n", stdout);
	fflush(stdout);
	host_call_plugin(work);
	return 0;
}
