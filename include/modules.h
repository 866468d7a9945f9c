/* modules.h: the executable mappings of a process and the GNU build ID of
 * the file behind each, as profile formats that name binaries (pprof) want
 * them. A snapshot: taken once, never refreshed. Owns its strings. */
#ifndef SPROFD_MODULES_H
#define SPROFD_MODULES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct maps;

struct module_map {
	uint64_t start, limit;   /* [start, limit) */
	uint64_t offset;         /* file offset of start */
	const char *path;        /* as /proc/PID/maps has it; "[vdso]" and the like too */
	const char *build_id;    /* lowercase hex; "" if the file has none or is gone */
};

struct modules {
	struct module_map *v;    /* sorted by start */
	size_t n;
	struct strtab *strs;
};

/* Reads /proc/PID/maps and the build IDs of the files (through
 * /proc/PID/root, so a target in another mount namespace works). Returns
 * NULL, with the cause logged at debug level, if the maps cannot be read. */
struct modules *modules_read(pid_t pid);
/* The same from maps already read from the process pid. */
struct modules *modules_from_maps(pid_t pid, const struct maps *mp);
/* The mapping that holds addr, or NULL. */
const struct module_map *modules_find(const struct modules *m, uint64_t addr);
/* The build ID of an ELF file as lowercase hex into hex (at least 2 * 64 +
 * 1 bytes). Returns 0, or -1 if the file cannot be read or has none. */
int modules_build_id(const char *path, char *hex, size_t len);
void modules_free(struct modules *m);

#endif
