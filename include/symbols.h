/* symbols.h: turns code addresses of one target process into function
 * names, source files and declaration lines, with libdw/libelf (libdwfl).
 * Owns one long-lived libdwfl session per process and a cache, so each
 * distinct address is resolved once. All strings it hands out are interned
 * in the strtab given at creation and live as long as that strtab. */
#ifndef SPROFD_SYMBOLS_H
#define SPROFD_SYMBOLS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct strtab;
struct symbolizer;

struct sym_frame {
	const char *func;   /* never NULL: symbol, or "[module+0xOFFSET]", or "[unknown]" */
	const char *file;   /* source file of the declaration; else the module path; else "" */
	int line;           /* declaration line of the function; 0 if unknown */
	const char *module; /* basename of the module ("" if none) */
	bool inlined;       /* this frame was inlined into the next one in the array */
	int src_line;       /* the line executing in this frame: the sampled address's
			     * line, or for the caller of an inlined frame the call
			     * site; 0 if unknown */
};

/* Symbolization choices; set before the first lookup. */
struct sym_opts {
	bool no_inline;     /* report only the real function, not its inline chain */
	bool raw_names;     /* keep mangled C++/Rust names */
	bool debuginfod;    /* let libdw fetch missing debug info from debuginfod */
};

/* pid: the process whose /proc/PID/maps and memory describe the addresses. */
struct symbolizer *symbolizer_new(pid_t pid, struct strtab *strs);
/* Sets the options; call before the first lookup (results are cached). */
void symbolizer_set_opts(struct symbolizer *s, const struct sym_opts *o);
/* Frames for one lookup address, innermost first (inline chain, then the
 * real function). Returns the count (>= 1) and sets *frames to an array
 * owned by the symbolizer, valid until symbolizer_free. Never fails: an
 * address it cannot name gets a frame that says so. */
int symbolizer_lookup(struct symbolizer *s, uint64_t addr, const struct sym_frame **frames);
/* The target's mappings changed (dlopen, exec): re-read them on next miss. */
void symbolizer_invalidate(struct symbolizer *s);
/* An address in no known module re-reads the maps (a library may have been
 * loaded since) at most once per interval; the default is one second. */
void symbolizer_set_refresh(struct symbolizer *s, uint64_t interval_ns);
/* Statistics: distinct addresses resolved, cache hits. An address that was
 * in no module and is retried after a re-read counts as resolved again. */
void symbolizer_stats(const struct symbolizer *s, uint64_t *resolved, uint64_t *hits);
/* How many times the target's maps were read (the first time included). */
uint64_t symbolizer_reports(const struct symbolizer *s);
void symbolizer_free(struct symbolizer *s);

#endif
