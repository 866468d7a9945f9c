/* pstats_read.h: reads a Python pstats file (what sprofd, cProfile and
 * profile write: a marshal dict {(file, line, name): (cc, nc, tt, ct,
 * callers)}) back into a profile's function view, for sprofd report.
 *
 * A file written by sprofd has the root ('~', 0, '<all samples>') and
 * times that are whole samples: it comes back as samples, with the
 * interval and total it was written with. Any other file comes back with
 * its call counts and with its times in ftimes and etimes; a root with
 * zero counts is added as funcs[0] so the view has its usual shape. The
 * profile owns all its strings. The stack view stays empty: pstats files
 * keep only caller edges, not whole stacks. */
#ifndef SPROFD_PSTATS_READ_H
#define SPROFD_PSTATS_READ_H

#include <stddef.h>

struct profile;

/* Reads path. Returns the profile, or NULL after logging why (a message
 * that names the path). */
struct profile *pstats_read(const char *path);
/* The same for len bytes in memory; name is for messages. */
struct profile *pstats_parse(const void *data, size_t len, const char *name);

#endif
