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

/* What a frame's func says when nothing better is known: an address in no
 * mapping, and one in anonymous executable memory (JIT code) that no
 * /tmp/perf-PID.map entry names. */
#define SYM_NAME_UNKNOWN "[unknown]"
#define SYM_NAME_ANON    "[anon]"

struct sym_frame {
	const char *func;   /* never NULL: function (demangled unless raw_names),
			     * or a JIT symbol from /tmp/perf-PID.map, or
			     * "[module+0xOFFSET]", "[anon]" or "[unknown]" */
	const char *file;   /* source file of the declaration; else the module path
			     * (the perf map's path for JIT code); else "" */
	int line;           /* declaration line of the function; 0 if unknown */
	const char *module; /* basename of the module ("" if none) */
	bool inlined;       /* this frame was inlined into the next one in the array */
	int src_line;       /* the line executing in this frame: the sampled address's
			     * line, or for the caller of an inlined frame the call
			     * site; 0 if unknown */
	const char *src_file; /* the source file of src_line (which can differ from
			       * file: code inlined from a header, say); NULL when
			       * src_line is 0 */
};

/* Symbolization choices; set before the first lookup. */
struct sym_opts {
	bool no_inline;     /* report only the real function, not its inline chain */
	bool raw_names;     /* keep mangled C++/Rust names */
	bool debuginfod;    /* let libdw fetch missing debug info from debuginfod;
			     * the servers come from DEBUGINFOD_URLS, which the
			     * caller clears when this is off */
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
/* Demangles a C++ or Rust (legacy or v0) symbol with libiberty; returns a
 * malloc'd string, or NULL if name is not a mangled name. */
char *symbols_demangle(const char *name);
/* Statistics: distinct addresses resolved, cache hits. An address that was
 * in no module and is retried after a re-read counts as resolved again. */
void symbolizer_stats(const struct symbolizer *s, uint64_t *resolved, uint64_t *hits);
/* How many times the target's maps were read (the first time included). */
uint64_t symbolizer_reports(const struct symbolizer *s);
void symbolizer_free(struct symbolizer *s);

#endif
