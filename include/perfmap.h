/* perfmap.h: symbols of code generated at run time (JIT), from the file
 * /tmp/perf-PID.map that runtimes write for profilers (node
 * --perf-basic-prof, Java perf-map-agent, CPython 3.12+ -X perf): one
 * "START SIZE NAME" line per function, addresses in hex, appended as code
 * is generated. The file is read in the target's own mount namespace
 * (/proc/PID/root) under the target's own PID (its pid namespace), and
 * read again, from where it was left, when it grows. Owns the entries and
 * their names. */
#ifndef SPROFD_PERFMAP_H
#define SPROFD_PERFMAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct perfmap;

/* The map of process pid (the file need not exist yet). Never NULL. */
struct perfmap *perfmap_new(pid_t pid);
/* A map read from path, for tests and tools; owner checks are skipped. */
struct perfmap *perfmap_open(const char *path);
/* Reads what was appended since the last call (everything again if the
 * file was replaced or shrank). Returns 1 if entries were added, 0 if
 * nothing changed, -1 if there is no usable file. */
int perfmap_refresh(struct perfmap *pm);
/* Parses map text (len bytes) as if appended to the file; for tests.
 * Returns the number of entries added. */
size_t perfmap_add_text(struct perfmap *pm, const char *text, size_t len);
/* The name of the function containing addr (the latest entry, when code
 * was generated twice at one place), or NULL. *start gets its address. */
const char *perfmap_lookup(struct perfmap *pm, uint64_t addr, uint64_t *start);
/* The file's path as the target names it ("/tmp/perf-PID.map"). */
const char *perfmap_path(const struct perfmap *pm);
size_t perfmap_count(const struct perfmap *pm);
void perfmap_free(struct perfmap *pm);

#endif
