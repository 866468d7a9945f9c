/* symbols.c: code addresses of one process to function, source file and
 * declaration line, through one long-lived libdwfl session and a cache of
 * every address already resolved (see symbols.h). The sorted indexes of a
 * module's ELF symbols and DWARF functions are symindex.c's. At some 1,100
 * lines this file is longer than most, for a reason: what remains (finding
 * the files mapped, across deletions and mount namespaces; walking a
 * function's inline instances into frames and lines; JIT and anonymous
 * code; the cache) works on one shared state, the session and the lookup
 * in progress, and split further each part would reach into the others'. */
#include "symbols.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libiberty/demangle.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "maps.h"
#include "perfmap.h"
#include "symindex.h"
#include "util.h"

/* Addresses in no module re-read the maps at most this often by default. */
#define SYM_REFRESH_NS   1000000000ULL
/* Frames are stored in blocks that never move, so results stay valid. */
#define SYM_BLOCK_FRAMES 1024
/* Entries of every address that fell in no module, and of those in
 * anonymous executable memory that no perf map entry names. In the cache
 * such an address also keeps the generation (see sym_generation) it was
 * resolved in, with SYM_NOMOD set, so that it is retried once the maps or
 * the perf map were read again. */
#define SYM_UNKNOWN      0
#define SYM_ANON         1
#define SYM_NOMOD        (1ULL << 63)
/* What /proc/PID/maps appends to a file deleted since it was mapped, and
 * libdwfl expects to read such a module from memory. */
#define SYM_DELETED      " (deleted)"
/* The library libdw loads to ask debuginfod servers. */
#define SYM_DEBUGINFOD_SO "libdebuginfod.so.1"
/* DWARF 6 language code of C17, newer than this dwarf.h. */
#define SYM_LANG_C17     0x002c

/* A slab of frames; frames handed out live in these until the end. */
struct sym_block {
	struct sym_block *next;
	size_t used, cap;
	struct sym_frame f[];
};

/* The result of one resolved address: frames innermost first. */
struct sym_entry {
	const struct sym_frame *frames;
	int n;
};

/* What the symbolizer keeps per libdwfl module (the module's userdata);
 * freed when libdwfl drops the module. */
struct sym_mod {
	const char *module, *path;    /* interned; NULL until first needed */
	char *map_files;              /* its /proc/PID/map_files link */
	char *root_path;              /* its path in the target's mount namespace */
	uint64_t ino;                 /* the inode mapped */
	bool deleted;                 /* maps says the file was deleted */
	struct symbolizer *owner;
	struct symindex *index;       /* its ELF symbols and DWARF functions */
	struct u64map *paths;         /* libdw's file name -> interned full path */
};

/* An address range of anonymous executable memory. */
struct sym_range {
	uint64_t lo, hi;
};

struct symbolizer {
	pid_t pid;
	struct strtab *strs;
	Dwfl *dwfl;
	bool same_mntns;              /* the target sees our files at our paths */
	struct perfmap *jit;          /* its /tmp/perf-PID.map */
	struct sym_range *anon;       /* anonymous executable mappings, by address */
	size_t nanon, anon_cap;
	struct u64map *demangled;     /* interned mangled name -> interned readable one */

	struct u64map *cache;         /* lookup address -> index into entries */
	struct sym_entry *entries;    /* entries[SYM_UNKNOWN] is &unknown */
	size_t nentries, entries_cap;
	struct sym_block *blocks;     /* newest first */
	struct sym_frame unknown, anon_frame;

	struct sym_frame *scratch;    /* frames of the lookup in progress */
	size_t nscratch, scratch_cap;
	Dwarf_Die *dies;              /* its inline instances, outermost first */
	size_t ndies, dies_cap;

	struct sym_opts opts;
	bool stale;                   /* maps changed: re-report before a miss */
	bool jit_stale;               /* maps re-read: read the perf map too */
	bool report_failed;           /* warned once already */
	uint64_t refresh_ns, last_report_ns, last_jit_ns;
	uint64_t resolved, hits, reports;
	uint64_t jit_reads;           /* perf map reads that found new entries */
};

/* Tidies a path lexically: drops empty and "." components and folds
 * "dir/.." so paths like "./io/../sysdeps/x.c" read as they would in a
 * source tree. Works in place; the result is never longer. */
static void sym_path_tidy(char *path)
{
	size_t starts[256], depth = 0, out = 0, i = 0;
	bool abs = path[0] == '/';

	if (abs)
		out = i = 1;
	while (path[i] != '\0') {
		size_t b = i, len;

		while (path[i] != '\0' && path[i] != '/')
			i++;
		len = i - b;
		if (path[i] == '/')
			i++;
		if (len == 0 || (len == 1 && path[b] == '.'))
			continue;
		if (len == 2 && path[b] == '.' && path[b + 1] == '.') {
			if (depth > 0) {
				out = starts[--depth];
				continue;
			}
			if (abs)
				continue;
		} else if (depth < sizeof(starts) / sizeof(starts[0])) {
			starts[depth++] = out;
		} else {
			/* Too deep to fold further; keep the rest verbatim. */
			depth = 0;
		}
		if (out > (abs ? 1u : 0u))
			path[out++] = '/';
		memmove(path + out, path + b, len);
		out += len;
	}
	if (out == 0)
		path[out++] = '.';
	path[out] = '\0';
}

/* Interns a source path, joined to the compilation directory when DWARF
 * gives it relative to it. libdw prefixes the file table's directory, which
 * already is the compilation directory for files of directory 0 but not for
 * other relative directories; a compdir that is itself relative (builds with
 * remapped prefixes) can only give a path relative to the source tree. */
static const char *sym_intern_path(struct symbolizer *s, const char *file, const char *compdir)
{
	size_t clen = compdir ? strlen(compdir) : 0;
	const char *r;
	char *buf;

	if (file[0] != '/' && clen > 0 &&
	    !(strncmp(file, compdir, clen) == 0 && file[clen] == '/'))
		buf = xasprintf("%s/%s", compdir, file);
	else
		buf = xstrdup(file);
	sym_path_tidy(buf);
	r = strtab_intern(s->strs, buf);
	free(buf);
	return r;
}

/* Demangles with libiberty's cplus_demangle, which also reads Rust. */
char *symbols_demangle(const char *name)
{
	/* Only names in the Itanium C++ ABI or Rust manglings: libiberty
	 * would otherwise read a C name such as "f" as a type ("float"). */
	if (name[0] != '_' || (name[1] != 'Z' && name[1] != 'R'))
		return NULL;
	/* The automatic style tries Rust (legacy and v0) first, as legacy
	 * Rust names are valid C++ names too, then C++. */
	return cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI);
}

/* The interned name to show for a symbol: demangled unless raw names were
 * asked for. Each mangled name is demangled once. */
static const char *sym_name(struct symbolizer *s, const char *name)
{
	const char *raw = strtab_intern(s->strs, name), *nice;
	uint64_t v;
	char *d;

	if (s->opts.raw_names || raw[0] != '_')
		return raw;
	if (u64map_get(s->demangled, (uint64_t)(uintptr_t)raw, &v))
		return (const char *)(uintptr_t)v;
	if ((d = symbols_demangle(raw))) {
		nice = strtab_intern(s->strs, d);
		free(d);
	} else {
		nice = raw;
	}
	u64map_put(s->demangled, (uint64_t)(uintptr_t)raw, (uint64_t)(uintptr_t)nice);
	return nice;
}

/* Appends one frame to the lookup in progress; its source line is filled
 * in afterwards. */
static void sym_push(struct symbolizer *s, const char *func, const char *file, int line,
    const char *module, bool inlined)
{
	struct sym_frame *f;

	xgrow((void **)&s->scratch, &s->scratch_cap, s->nscratch + 1, sizeof(*s->scratch));
	f = &s->scratch[s->nscratch++];
	f->func = sym_name(s, func);
	f->file = file;
	f->line = line;
	f->module = module;
	f->inlined = inlined;
	f->src_line = 0;
	f->src_file = NULL;
}

/* Copies the scratch frames into stable storage and returns their entry. */
static uint64_t sym_store(struct symbolizer *s)
{
	struct sym_block *b = s->blocks;
	struct sym_entry *e;

	if (!b || b->cap - b->used < s->nscratch) {
		size_t cap = s->nscratch > SYM_BLOCK_FRAMES ? s->nscratch : SYM_BLOCK_FRAMES;

		b = xmalloc(sizeof(*b) + cap * sizeof(b->f[0]));
		b->next = s->blocks;
		b->used = 0;
		b->cap = cap;
		s->blocks = b;
	}
	memcpy(b->f + b->used, s->scratch, s->nscratch * sizeof(*s->scratch));
	xgrow((void **)&s->entries, &s->entries_cap, s->nentries + 1, sizeof(*s->entries));
	e = &s->entries[s->nentries];
	e->frames = b->f + b->used;
	e->n = (int)s->nscratch;
	b->used += s->nscratch;
	return s->nentries++;
}

/* Frees what the symbolizer kept for one module. */
static void sym_mod_free(struct sym_mod *m)
{
	if (!m)
		return;
	symindex_free(m->index);
	free(m->map_files);
	free(m->root_path);
	u64map_free(m->paths);
	free(m);
}

/* dwfl_getmodules callback: frees the data of every module at the end. */
static int sym_mod_drop(Dwfl_Module *mod, void **userdata, const char *name,
    Dwarf_Addr start, void *arg)
{
	sym_mod_free(*userdata);
	*userdata = NULL;
	return DWARF_CB_OK;
}

/* dwfl_report_end callback: a module is going away. Its userdata is taken
 * through dwfl_module_info, which says unambiguously what it is. */
static int sym_mod_removed(Dwfl_Module *mod, void *userdata, const char *name,
    Dwarf_Addr start, void *arg)
{
	void **ud;

	dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
	sym_mod_free(*ud);
	*ud = NULL;
	return DWARF_CB_OK;
}

/* The symbolizer's data for a module, created on first use. */
static struct sym_mod *sym_mod_get(Dwfl_Module *mod)
{
	void **userdata;

	dwfl_module_info(mod, &userdata, NULL, NULL, NULL, NULL, NULL, NULL);
	if (!*userdata) {
		struct sym_mod *m = xcalloc(1, sizeof(*m));

		m->index = symindex_new();
		m->paths = u64map_new();
		*userdata = m;
	}
	return *userdata;
}

/* Opens a regular file for reading; -1 if it is not one. */
static int sym_open_regular(const char *path, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd != -1 && (fstat(fd, st) != 0 || !S_ISREG(st->st_mode))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Opens the very file a module was mapped from, or returns -1:
 * - a file deleted since it was mapped (a binary upgraded under a running
 *   daemon) only through /proc/PID/map_files, which still reaches it, if we
 *   may open it (CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE);
 * - else by its path as the target sees it, under /proc/PID/root (its mount
 *   namespace: a container's /usr/lib is not ours), or as we see it if that
 *   is the same, provided it is still the inode mapped;
 * - else, when the path names another file now or cannot be opened at all
 *   (too long with the prefix, a directory since gone), map_files again.
 * Never a file of the same name that was not mapped: wrong symbols are
 * worse than none. *name_out gets the name libdwfl searches debug files
 * by (.gnu_debuglink next to it). */
static int sym_open_module(struct symbolizer *s, struct sym_mod *m, const char *name,
    char **name_out)
{
	struct stat st;
	int fd = -1;

	if (m->deleted) {
		if ((fd = sym_open_regular(m->map_files, &st)) != -1)
			*name_out = xasprintf("%.*s", (int)(strlen(name) - strlen(SYM_DELETED)), name);
		return fd;
	}
	fd = sym_open_regular(m->root_path, &st);
	if (fd == -1 && s->same_mntns)
		fd = sym_open_regular(name, &st);
	if (fd != -1 && st.st_ino != m->ino) {
		close(fd);
		log_debug("symbols: %s is no longer the file mapped", m->root_path);
		fd = -1;
	}
	if (fd == -1)
		fd = sym_open_regular(m->map_files, &st);
	if (fd != -1)
		*name_out = xstrdup(s->same_mntns ? name : m->root_path);
	return fd;
}

/* libdwfl's find_elf: the mapped file (see sym_open_module); the vDSO, and
 * a deleted file we may not open, are read from memory by libdwfl. */
static int sym_find_elf(Dwfl_Module *mod, void **userdata, const char *name,
    Dwarf_Addr base, char **file_name, Elf **elfp)
{
	struct sym_mod *m = *userdata;

	if (m && m->root_path) {
		int fd = sym_open_module(m->owner, m, name, file_name);

		if (fd != -1 || !m->deleted)
			return fd;
	}
	return dwfl_linux_proc_find_elf(mod, userdata, name, base, file_name, elfp);
}

/* libdwfl keeps a pointer to these: they must outlive every session. */
static const Dwfl_Callbacks sym_callbacks = {
	.find_elf = sym_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.debuginfo_path = NULL,
};

/* One file's image in the address space, while it is being gathered. */
struct sym_span {
	const struct map_entry *first;
	uint64_t low, high, last_pgoff;
	bool exec;
};

/* Hands one gathered image to libdwfl if it holds code. */
static int sym_report_span(struct symbolizer *s, struct sym_span *sp)
{
	const struct map_entry *e = sp->first;
	struct sym_mod *m;
	Dwfl_Module *mod;
	char *name;

	if (!e || !sp->exec)
		return 0;
	sp->first = NULL;
	name = e->deleted ? xasprintf("%s" SYM_DELETED, e->path) : xstrdup(e->path);
	mod = dwfl_report_module(s->dwfl, name, sp->low, sp->high);
	free(name);
	if (!mod)
		return -1;
	m = sym_mod_get(mod);
	if (!m->root_path) {
		m->owner = s;
		m->deleted = e->deleted;
		m->ino = e->ino;
		m->root_path = xasprintf("/proc/%ld/root%s", (long)s->pid, e->path);
		m->map_files = xasprintf("/proc/%ld/map_files/%" PRIx64 "-%" PRIx64,
		    (long)s->pid, e->start, e->end);
	}
	return 0;
}

/* Reports every mapped file that holds code, and the vDSO. Mappings of one
 * file are one module while their file offsets grow; a mapping that starts
 * over (offset 0 again) is another image of the file, e.g. one libelf mapped
 * to read it: dwfl_linux_proc_report would merge the two into one module
 * spanning everything in between. Files without executable mappings hold no
 * code and are left out. */
static int sym_report_maps(struct symbolizer *s, const struct maps *m)
{
	struct sym_span sp = { 0 };

	s->nanon = 0;
	for (size_t i = 0; i < m->n; i++) {
		const struct map_entry *e = &m->v[i];

		if (strcmp(e->path, "[vdso]") == 0) {
			char name[48];

			if (sym_report_span(s, &sp) != 0)
				return -1;
			/* The name dwfl_linux_proc_find_elf reads from memory. */
			snprintf(name, sizeof(name), "[vdso: %ld]", (long)s->pid);
			if (!dwfl_report_module(s->dwfl, name, e->start, e->end))
				return -1;
			continue;
		}
		if (e->x && (e->path[0] == '\0' || strncmp(e->path, "[anon", 5) == 0)) {
			/* Code made at run time (JIT), perhaps named by a perf map. */
			xgrow((void **)&s->anon, &s->anon_cap, s->nanon + 1, sizeof(*s->anon));
			s->anon[s->nanon].lo = e->start;
			s->anon[s->nanon++].hi = e->end;
		}
		if (e->path[0] != '/')
			continue;   /* anonymous (a .bss tail) or special: not a file */
		if (sp.first && e->ino == sp.first->ino && e->dev_major == sp.first->dev_major &&
		    e->dev_minor == sp.first->dev_minor && e->pgoff > sp.last_pgoff &&
		    strcmp(e->path, sp.first->path) == 0) {
			sp.high = e->end;
			sp.last_pgoff = e->pgoff;
			sp.exec |= e->x;
			continue;
		}
		if (sym_report_span(s, &sp) != 0)
			return -1;
		sp.first = e;
		sp.low = e->start;
		sp.high = e->end;
		sp.last_pgoff = e->pgoff;
		sp.exec = e->x;
	}
	return sym_report_span(s, &sp);
}

/* (Re)reads the target's mappings into the session. Modules that did not
 * change are kept by libdwfl with their loaded ELF and DWARF. */
static int sym_report(struct symbolizer *s)
{
	struct maps *m;
	int rc;

	s->stale = false;
	s->jit_stale = true;
	s->last_report_ns = mono_ns();
	s->reports++;

	/* A gone or unreadable process keeps the modules it had. */
	if (!(m = maps_read(s->pid))) {
		if (!s->report_failed)
			log_warn("symbols: cannot read /proc/%ld/maps: %s", (long)s->pid,
			    strerror(errno));
		s->report_failed = true;
		return -1;
	}
	dwfl_report_begin(s->dwfl);
	rc = sym_report_maps(s, m);
	if (dwfl_report_end(s->dwfl, sym_mod_removed, NULL) != 0)
		rc = -1;
	maps_free(m);
	if (rc != 0) {
		if (!s->report_failed)
			log_warn("symbols: reporting the modules of pid %ld: %s", (long)s->pid,
			    dwfl_errmsg(-1));
		s->report_failed = true;
		return -1;
	}
	s->report_failed = false;
	return 0;
}

/* True when a re-report for an address in no module is allowed now. */
static bool sym_refresh_due(const struct symbolizer *s)
{
	return s->stale || mono_ns() - s->last_report_ns >= s->refresh_ns;
}

/* Basename of a path (the whole string if it has no slash). */
static const char *sym_basename(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* The DIE that carries the declaration of a function: the DIE itself or
 * the one its DW_AT_abstract_origin / DW_AT_specification chain leads to. */
static Dwarf_Die *sym_decl_die(Dwarf_Die *die, Dwarf_Die *mem)
{
	Dwarf_Attribute attr;

	*mem = *die;
	for (int hops = 0; hops < 8; hops++) {
		if (dwarf_hasattr(mem, DW_AT_decl_file))
			return mem;
		if (!dwarf_attr(mem, DW_AT_abstract_origin, &attr) &&
		    !dwarf_attr(mem, DW_AT_specification, &attr))
			return NULL;
		if (!dwarf_formref_die(&attr, mem))
			return NULL;
	}
	return NULL;
}

/* Whether a compilation unit's language names functions as written, so
 * DW_AT_name is the name (a C linkage name is only an asm label). */
static bool sym_lang_plain(Dwarf_Die *die)
{
	Dwarf_Die cumem;

	if (!dwarf_diecu(die, &cumem, NULL, NULL))
		return true;
	switch (dwarf_srclang(&cumem)) {
	case DW_LANG_C:
	case DW_LANG_C89:
	case DW_LANG_C99:
	case DW_LANG_C11:
	case SYM_LANG_C17:
	case DW_LANG_Mips_Assembler:
		return true;
	default:
		return false;
	}
}

/* Name of a function DIE: for C the plain DWARF name; elsewhere the linkage
 * name where one exists (C++, Rust; demangled later), else the plain one. */
static const char *sym_die_name(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *name;

	if (sym_lang_plain(die))
		return dwarf_diename(die);
	if ((name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr))))
		return name;
	if ((name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr))))
		return name;
	return dwarf_diename(die);
}

/* A source path of a module's DWARF, interned and made whole once per
 * distinct string libdw hands out (they live as long as the module). */
static const char *sym_mod_path(struct symbolizer *s, struct sym_mod *m, const char *src,
    const char *compdir)
{
	uint64_t v;
	const char *r;

	if (u64map_get(m->paths, (uint64_t)(uintptr_t)src, &v))
		return (const char *)(uintptr_t)v;
	r = sym_intern_path(s, src, compdir);
	u64map_put(m->paths, (uint64_t)(uintptr_t)src, (uint64_t)(uintptr_t)r);
	return r;
}

/* Sets the executing line of a frame to the line-table row of addr, if
 * that row starts at or after min: below a function known only by its ELF
 * symbol, the nearest row can belong to the code before it (a _start
 * without line information after main), and would name a wrong line. */
static void sym_addr_line(struct symbolizer *s, Dwfl_Module *mod, struct sym_mod *m,
    uint64_t addr, uint64_t min, struct sym_frame *f)
{
	Dwfl_Line *ln = dwfl_module_getsrc(mod, addr);
	Dwarf_Addr row = 0;
	const char *src;
	int line = 0;

	if (!ln || !(src = dwfl_lineinfo(ln, &row, &line, NULL, NULL, NULL)) || line <= 0 ||
	    row < min)
		return;
	f->src_line = line;
	f->src_file = sym_mod_path(s, m, src, dwfl_line_comp_dir(ln));
}

/* Sets the executing line of a frame to the place where inl, an inline
 * instance inside it, was called. */
static void sym_call_line(struct symbolizer *s, struct sym_mod *m, Dwarf_Die *inl,
    struct sym_frame *f)
{
	Dwarf_Attribute attr;
	Dwarf_Word line, idx;
	Dwarf_Files *files;
	const char *src;
	size_t nfiles;
	Dwarf_Die cu;

	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_line, &attr), &line) != 0 || line == 0 ||
	    line > INT32_MAX)
		return;
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_file, &attr), &idx) != 0 ||
	    !dwarf_diecu(inl, &cu, NULL, NULL) || dwarf_getsrcfiles(&cu, &files, &nfiles) != 0 ||
	    idx >= nfiles || !(src = dwarf_filesrc(files, idx, NULL, NULL)))
		return;
	f->src_line = (int)line;
	f->src_file = sym_mod_path(s, m, src,
	    dwarf_formstring(dwarf_attr(&cu, DW_AT_comp_dir, &attr)));
}

/* Appends the frame of one function DIE (subprogram or inline instance).
 * An unnamed function takes the ELF symbol at addr, an unnamed inline
 * instance a placeholder. Returns false if nothing names it. */
static bool sym_push_die(struct symbolizer *s, Dwarf_Die *die, bool inlined,
    Dwfl_Module *mod, struct sym_mod *m, uint64_t addr)
{
	Dwarf_Die declmem, cumem, *decl;
	const char *name = sym_die_name(die), *file = "", *src;
	int line = 0;

	if (!name || name[0] == '\0')
		name = inlined ? "[inlined]" : symindex_elf_name(m->index, mod, addr, &(uint64_t){ 0 });
	if (!name)
		return false;
	if ((decl = sym_decl_die(die, &declmem)) && (src = dwarf_decl_file(decl))) {
		const char *compdir = NULL;
		Dwarf_Attribute attr;

		if (src[0] != '/' && dwarf_diecu(decl, &cumem, NULL, NULL))
			compdir = dwarf_formstring(dwarf_attr(&cumem, DW_AT_comp_dir, &attr));
		file = sym_mod_path(s, m, src, compdir);
		if (dwarf_decl_line(decl, &line) != 0)
			line = 0;
	}
	/* No declaration (code written in assembly): name the module, as for
	 * functions known only from the symbol table. */
	if (!file[0])
		file = m->path;
	sym_push(s, name, file, line, m->module, inlined);
	return true;
}

/* Follows the blocks and inline instances under parent that contain pc,
 * appending each inline instance to s->dies (outermost first). Returns
 * true if it found a child containing pc. */
static bool sym_descend(struct symbolizer *s, Dwarf_Die *parent, Dwarf_Addr pc, int depth)
{
	Dwarf_Die child;

	if (depth > 256 || dwarf_child(parent, &child) != 0)
		return false;
	do {
		int tag = dwarf_tag(&child);

		if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_lexical_block &&
		    tag != DW_TAG_try_block && tag != DW_TAG_catch_block)
			continue;
		if (dwarf_haspc(&child, pc) == 1) {
			if (tag == DW_TAG_inlined_subroutine) {
				xgrow((void **)&s->dies, &s->dies_cap, s->ndies + 1, sizeof(*s->dies));
				s->dies[s->ndies++] = child;
			}
			sym_descend(s, &child, pc, depth + 1);
			return true;
		}
		/* A block without addresses of its own may still hold some. */
		if (tag != DW_TAG_inlined_subroutine && !dwarf_hasattr(&child, DW_AT_low_pc) &&
		    !dwarf_hasattr(&child, DW_AT_ranges) && sym_descend(s, &child, pc, depth + 1))
			return true;
	} while (dwarf_siblingof(&child, &child) == 0);
	return false;
}

/* Frames through dwarf_getscopes, for what the function index misses. */
static bool sym_from_scopes(struct symbolizer *s, Dwfl_Module *mod, struct sym_mod *m,
    uint64_t addr, Dwarf_Die *cudie, Dwarf_Addr bias)
{
	Dwarf_Die *scopes = NULL, *chain = NULL, *walk, *callee = NULL;
	int nscopes, nchain, first = -1;
	bool done = false;

	nscopes = dwarf_getscopes(cudie, addr - bias, &scopes);
	for (int i = 0; i < nscopes && first < 0; i++) {
		int tag = dwarf_tag(&scopes[i]);

		if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine ||
		    tag == DW_TAG_entry_point)
			first = i;
	}
	if (first < 0)
		goto out;

	/* Past an inline instance, dwarf_getscopes goes on with the scopes of
	 * its abstract origin, which are not its callers; the concrete nesting
	 * comes from the instance's own place in the tree. */
	if (dwarf_tag(&scopes[first]) == DW_TAG_inlined_subroutine) {
		nchain = dwarf_getscopes_die(&scopes[first], &chain);
		walk = chain;
	} else {
		nchain = nscopes - first;
		walk = scopes + first;
	}
	for (int i = 0; i < nchain && !done; i++) {
		int tag = dwarf_tag(&walk[i]);
		size_t at = s->nscratch;

		if (tag == DW_TAG_inlined_subroutine) {
			if (!s->opts.no_inline)
				sym_push_die(s, &walk[i], true, mod, m, addr);
		} else if (tag == DW_TAG_subprogram || tag == DW_TAG_entry_point) {
			done = sym_push_die(s, &walk[i], false, mod, m, addr);
		} else {
			continue;
		}
		/* The line of each frame: the sampled one for the innermost,
		 * else where the frame below it was inlined. */
		if (s->nscratch > at && !callee)
			sym_addr_line(s, mod, m, addr, 0, &s->scratch[at]);
		else if (s->nscratch > at)
			sym_call_line(s, m, callee, &s->scratch[at]);
		if (tag == DW_TAG_inlined_subroutine)
			callee = &walk[i];
	}
out:
	free(scopes);
	free(chain);
	return done;
}

/* Frames from DWARF: every inline instance containing addr, innermost
 * first, then the function they were inlined into. False without DWARF
 * for addr. */
static bool sym_from_dwarf(struct symbolizer *s, Dwfl_Module *mod, struct sym_mod *m,
    uint64_t addr)
{
	Dwarf_Addr bias;
	Dwarf_Die *cudie, fndie;
	bool done;
	int found;

	if (!(cudie = dwfl_module_addrdie(mod, addr, &bias)))
		return false;
	found = symindex_function(m->index, cudie, addr - bias, &fndie);
	if (found > 0) {
		s->ndies = 0;
		sym_descend(s, &fndie, addr - bias, 0);
		if (!s->opts.no_inline)
			for (size_t i = s->ndies; i-- > 0;)
				sym_push_die(s, &s->dies[i], true, mod, m, addr);
		done = sym_push_die(s, &fndie, false, mod, m, addr);
		/* The innermost frame runs the sampled line; each one above
		 * runs the call of the instance inlined into it. */
		if (done && s->opts.no_inline && s->ndies > 0) {
			sym_call_line(s, m, &s->dies[0], &s->scratch[0]);
		} else if (done) {
			sym_addr_line(s, mod, m, addr, 0, &s->scratch[0]);
			for (size_t k = 1; k < s->nscratch; k++)
				sym_call_line(s, m, &s->dies[s->ndies - k], &s->scratch[k]);
		}
	} else if (found < 0) {
		/* A unit laid out unlike any seen: let libdw search it. */
		done = sym_from_scopes(s, mod, m, addr, cudie, bias);
	} else {
		/* Between functions (padding), or code DWARF does not cover. */
		done = false;
	}
	if (!done)
		s->nscratch = 0;
	return done;
}

/* sym_find_module's question and answer. */
struct sym_find {
	uint64_t addr;
	Dwfl_Module *mod;
};

/* dwfl_getmodules callback: stops at the module containing the address. */
static int sym_find_module(Dwfl_Module *mod, void **userdata, const char *name,
    Dwarf_Addr start, void *arg)
{
	struct sym_find *f = arg;
	Dwarf_Addr low, high;

	dwfl_module_info(mod, NULL, &low, &high, NULL, NULL, NULL, NULL);
	if (f->addr >= low && f->addr < high) {
		f->mod = mod;
		return DWARF_CB_ABORT;
	}
	return DWARF_CB_OK;
}

/* The module whose reported range holds addr, or NULL. libdwfl's segment
 * table can hand out the module below a gap for an address in the gap (a
 * library loaded there later, say), so its answer is checked, and searched
 * for among all modules when wrong. */
static Dwfl_Module *sym_module(struct symbolizer *s, uint64_t addr)
{
	struct sym_find f = { addr, NULL };
	Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, addr);

	if (mod) {
		Dwarf_Addr low, high;

		dwfl_module_info(mod, NULL, &low, &high, NULL, NULL, NULL, NULL);
		if (addr >= low && addr < high)
			return mod;
	}
	dwfl_getmodules(s->dwfl, sym_find_module, &f, 0);
	return f.mod;
}

/* Interns the basename and path that frames of a module carry. */
static void sym_mod_names(struct symbolizer *s, Dwfl_Module *mod, struct sym_mod *m)
{
	const char *name, *path;
	size_t len;

	/* The path the target mapped, not the one we read it through. */
	name = dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
	path = name ? name : "";
	len = strlen(path);
	if (len > strlen(SYM_DELETED) && strcmp(path + len - strlen(SYM_DELETED), SYM_DELETED) == 0)
		len -= strlen(SYM_DELETED);
	if (path[0] == '[') {
		/* libdwfl names the vDSO "[vdso: PID]": without the pid, profiles
		 * of different runs name it alike. */
		char pseudo[64];

		snprintf(pseudo, sizeof(pseudo), "%.*s]", (int)strcspn(path, ":]"), path);
		m->module = m->path = strtab_intern(s->strs, pseudo);
	} else {
		m->path = strtab_intern_n(s->strs, path, len);
		m->module = strtab_intern(s->strs, sym_basename(m->path));
	}
}

/* Whether addr lies in anonymous executable memory. */
static bool sym_in_anon(const struct symbolizer *s, uint64_t addr)
{
	size_t lo = 0, hi = s->nanon;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->anon[mid].hi <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->nanon && s->anon[lo].lo <= addr;
}

/* Pushes the frame of a JIT function that the perf map names, reading
 * what was appended to the map first when the address is not in it yet
 * (at most once per refresh interval, or after the maps were read). */
static bool sym_from_perfmap(struct symbolizer *s, uint64_t addr)
{
	const char *name = perfmap_lookup(s->jit, addr, NULL), *path;

	if (!name && (s->jit_stale || mono_ns() - s->last_jit_ns >= s->refresh_ns)) {
		s->jit_stale = false;
		s->last_jit_ns = mono_ns();
		if (perfmap_refresh(s->jit) > 0) {
			s->jit_reads++;
			name = perfmap_lookup(s->jit, addr, NULL);
		}
	}
	if (!name)
		return false;
	path = strtab_intern(s->strs, perfmap_path(s->jit));
	sym_push(s, name, path, 0, strtab_intern(s->strs, sym_basename(path)), false);
	return true;
}

/* An address in no module: JIT code the perf map names, other anonymous
 * code, or nothing known. */
static uint64_t sym_resolve_nomod(struct symbolizer *s, uint64_t addr)
{
	s->nscratch = 0;
	if (sym_from_perfmap(s, addr))
		return sym_store(s);
	return sym_in_anon(s, addr) ? SYM_ANON : SYM_UNKNOWN;
}

/* Resolves one address that missed the cache; returns its entry index. */
static uint64_t sym_resolve(struct symbolizer *s, uint64_t addr)
{
	Dwfl_Module *mod;
	struct sym_mod *m;
	Dwarf_Addr elfbias = 0;
	uint64_t symstart = 0;
	const char *sym;
	bool have_elf;

	s->resolved++;
	if (s->stale)
		sym_report(s);
	mod = sym_module(s, addr);
	if (!mod && sym_refresh_due(s)) {
		/* Maybe a library was loaded since the last report. */
		sym_report(s);
		mod = sym_module(s, addr);
	}
	if (!mod)
		return sym_resolve_nomod(s, addr);

	m = sym_mod_get(mod);
	have_elf = dwfl_module_getelf(mod, &elfbias) != NULL;
	if (!m->module)
		sym_mod_names(s, mod, m);

	s->nscratch = 0;
	if (sym_from_dwarf(s, mod, m, addr))
		return sym_store(s);
	if ((sym = symindex_elf_name(m->index, mod, addr, &symstart))) {
		sym_push(s, sym, m->path, 0, m->module, false);
		sym_addr_line(s, mod, m, addr, symstart, &s->scratch[0]);
	} else if (!have_elf && sym_from_perfmap(s, addr)) {
		/* Code in a mapped file that is no ELF (a JIT's memfd). */
	} else {
		/* The ELF virtual address: what addr2line takes for this module. */
		Dwarf_Addr start;
		uint64_t off;
		int len = (int)strlen(m->module);
		const char *base = m->module;
		char buf[4096];

		dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL, NULL, NULL);
		off = addr - (have_elf ? elfbias : start);
		if (base[0] == '[' && len >= 2) {
			base++;
			len -= 2;
		}
		snprintf(buf, sizeof(buf), "[%.*s+0x%" PRIx64 "]", len, base, off);
		sym_push(s, buf, m->path, 0, m->module, false);
	}
	return sym_store(s);
}

/* Takes the options. libdw asks debuginfod servers itself, through
 * libdebuginfod loaded at run time, when DEBUGINFOD_URLS names some: here
 * we only say why that cannot happen when it was asked for. */
void symbolizer_set_opts(struct symbolizer *s, const struct sym_opts *o)
{
	const char *urls = getenv("DEBUGINFOD_URLS");
	void *lib;

	s->opts = *o;
	if (!o->debuginfod)
		return;
	if (!(lib = dlopen(SYM_DEBUGINFOD_SO, RTLD_LAZY | RTLD_LOCAL)))
		log_warn("symbols: debuginfod: %s is not installed (apt-get install libdebuginfod1)",
		    SYM_DEBUGINFOD_SO);
	else if (!urls || urls[0] == '\0')
		log_warn("symbols: debuginfod: DEBUGINFOD_URLS is empty: no server to ask");
	else
		log_debug("symbols: debuginfod servers: %s", urls);
	if (lib)
		dlclose(lib);
}

/* Whether pid shares our mount namespace, so its paths are ours. */
static bool sym_same_mntns(pid_t pid)
{
	struct stat a, b;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%ld/ns/mnt", (long)pid);
	return stat(path, &a) == 0 && stat("/proc/self/ns/mnt", &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Starts the libdwfl session on the target's current mappings. */
struct symbolizer *symbolizer_new(pid_t pid, struct strtab *strs)
{
	struct symbolizer *s;
	const char *empty;

	s = xcalloc(1, sizeof(*s));
	s->pid = pid;
	s->strs = strs;
	s->refresh_ns = SYM_REFRESH_NS;
	s->same_mntns = sym_same_mntns(pid);
	s->jit = perfmap_new(pid);
	s->demangled = u64map_new();
	if (!(s->dwfl = dwfl_begin(&sym_callbacks))) {
		log_err("symbols: dwfl_begin: %s", dwfl_errmsg(-1));
		goto fail;
	}
	if (sym_report(s) != 0) {
		log_err("symbols: cannot read the modules of pid %ld", (long)pid);
		goto fail;
	}
	s->cache = u64map_new();
	empty = strtab_intern(strs, "");
	s->unknown.func = strtab_intern(strs, SYM_NAME_UNKNOWN);
	s->unknown.file = empty;
	s->unknown.line = 0;
	s->unknown.module = empty;
	s->unknown.inlined = false;
	s->anon_frame = s->unknown;
	s->anon_frame.func = strtab_intern(strs, SYM_NAME_ANON);
	xgrow((void **)&s->entries, &s->entries_cap, 2, sizeof(*s->entries));
	s->entries[SYM_UNKNOWN].frames = &s->unknown;
	s->entries[SYM_UNKNOWN].n = 1;
	s->entries[SYM_ANON].frames = &s->anon_frame;
	s->entries[SYM_ANON].n = 1;
	s->nentries = 2;
	return s;
fail:
	symbolizer_free(s);
	return NULL;
}

/* How many times what decides an address in no module was read: the
 * target's maps and its perf map. */
static uint64_t sym_generation(const struct symbolizer *s)
{
	return s->reports + s->jit_reads;
}

/* The cached frames of addr, resolving them on the first lookup. */
int symbolizer_lookup(struct symbolizer *s, uint64_t addr, const struct sym_frame **frames)
{
	uint64_t v, idx;

	/* The two keys the map reserves are far outside user space. */
	if (addr >= UINT64_MAX - 1) {
		*frames = &s->unknown;
		return 1;
	}
	/* An address in no module is retried when the maps, or the perf map,
	 * were read since (for another address), or may be read again. */
	if (!u64map_get(s->cache, addr, &v) ||
	    ((v & SYM_NOMOD) && ((v & ~SYM_NOMOD) >> 1 != sym_generation(s) ||
				  sym_refresh_due(s)))) {
		idx = sym_resolve(s, addr);
		v = idx;
		if (idx == SYM_UNKNOWN || idx == SYM_ANON)
			v = SYM_NOMOD | sym_generation(s) << 1 | idx;
		u64map_put(s->cache, addr, v);
	} else {
		s->hits++;
		idx = v & SYM_NOMOD ? v & 1 : v;
	}
	*frames = s->entries[idx].frames;
	return s->entries[idx].n;
}

/* Marks the maps stale; the next miss re-reads them. */
void symbolizer_invalidate(struct symbolizer *s)
{
	s->stale = true;
}

/* Sets how often an address in no module may re-read the maps. */
void symbolizer_set_refresh(struct symbolizer *s, uint64_t interval_ns)
{
	s->refresh_ns = interval_ns;
}

/* Lookups resolved through libdwfl and lookups answered from the cache. */
void symbolizer_stats(const struct symbolizer *s, uint64_t *resolved, uint64_t *hits)
{
	if (resolved)
		*resolved = s->resolved;
	if (hits)
		*hits = s->hits;
}

/* Times the maps were read. */
uint64_t symbolizer_reports(const struct symbolizer *s)
{
	return s->reports;
}

/* Ends the session and frees every frame handed out; accepts NULL. */
void symbolizer_free(struct symbolizer *s)
{
	struct sym_block *b, *next;

	if (!s)
		return;
	if (s->dwfl) {
		dwfl_getmodules(s->dwfl, sym_mod_drop, NULL, 0);
		dwfl_end(s->dwfl);
	}
	u64map_free(s->cache);
	for (b = s->blocks; b; b = next) {
		next = b->next;
		free(b);
	}
	free(s->entries);
	free(s->scratch);
	free(s->dies);
	free(s->anon);
	perfmap_free(s->jit);
	u64map_free(s->demangled);
	free(s);
}
