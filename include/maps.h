/* maps.h: a parsed snapshot of /proc/PID/maps, sorted by address. The
 * snapshot owns its path strings. Used to find a thread's stack bounds and
 * the module that holds a code address. */
#ifndef SPROFD_MAPS_H
#define SPROFD_MAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct map_entry {
	uint64_t start, end;   /* [start, end) */
	uint64_t pgoff;        /* file offset of start */
	uint64_t ino;
	unsigned dev_major, dev_minor;
	bool r, w, x, p;       /* permissions; p = private */
	bool deleted;          /* path ended in " (deleted)" (suffix removed) */
	const char *path;      /* "" for anonymous; "[stack]", "[vdso]", ...;
				* unescaped (see maps_parse) */
};

struct maps {
	struct map_entry *v;
	size_t n;
	char *text;            /* owned copies of the paths live here */
};

/* Reads and parses /proc/PID/maps. Returns NULL with errno set. Where a
 * path holds "\012", its /proc/PID/map_files link says whether that is a
 * newline or those four characters of the name. */
struct maps *maps_read(pid_t pid);
/* Parses maps text (len bytes, need not be NUL-terminated). Lines that do
 * not parse are skipped. Never NULL. The kernel writes a newline in a path
 * as "\012" and escapes nothing else, a backslash included: each "\012"
 * is taken for a newline. */
struct maps *maps_parse(const char *text, size_t len);
/* The entry containing addr, or NULL. */
const struct map_entry *maps_find(const struct maps *m, uint64_t addr);
void maps_free(struct maps *m);

#endif
