/* test_symbols.c: the symbolizer against this very process (functions,
 * inline chains and their source lines, libc, unknown addresses, the
 * cache, a library loaded after the maps were read, demangling, JIT code
 * and perf maps) and against small programs built here with full,
 * symbol-only, no and separate debug information. */
#include <dlfcn.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "perfmap.h"
#include "suites.h"
#include "symbols.h"
#include "symtest_build.h"
#include "util.h"

/* Functions with known declaration lines. Global and never inlined or
 * cloned, so their symbols exist and DWARF describes them as written. */
int sym_test_leaf(int x);
int sym_test_middle(int x);
int sym_test_outer(int x);
int sym_test_labelled(int x);
void sym_test_record(void);

volatile int sym_test_sink;
void *sym_test_pc;      /* a return address - 1 taken inside an inline chain */
uintptr_t sym_test_label; /* the address of a label inside an inlined body */

static const int leaf_line = __LINE__ + 1;
__attribute__((noinline, noclone)) int sym_test_leaf(int x)
{
	sym_test_sink = x;
	return sym_test_sink * 3 + 1;
}

static const int middle_line = __LINE__ + 1;
__attribute__((noinline, noclone)) int sym_test_middle(int x)
{
	return sym_test_leaf(x + 1) + sym_test_sink;
}

/* Records its caller's lookup address, as the unwinder would give it. */
__attribute__((noinline, noclone)) void sym_test_record(void)
{
	sym_test_pc = (char *)__builtin_return_address(0) - 1;
}

static const int inner_line = __LINE__ + 1;
static inline __attribute__((always_inline)) void sym_test_inl_inner(int x)
{
	sym_test_sink = x;
	sym_test_record();       /* inner_line + 3 */
	sym_test_sink = x + 1;
}

static const int mid_line = __LINE__ + 1;
static inline __attribute__((always_inline)) void sym_test_inl_mid(int x)
{
	sym_test_sink = 2;
	sym_test_inl_inner(x * 3); /* mid_line + 3 */
	sym_test_sink = 5;
}

static const int outer_line = __LINE__ + 1;
__attribute__((noinline, noclone)) int sym_test_outer(int x)
{
	sym_test_inl_mid(x);     /* outer_line + 2 */
	return sym_test_sink + 1;
}

static const int label_inl_line = __LINE__ + 1;
static inline __attribute__((always_inline)) void sym_test_inl_label(int x)
{
	sym_test_sink = x;
	sym_test_label = ({ __label__ here; here: (uintptr_t)&&here; });
	sym_test_sink = x + 2;
}

static const int labelled_line = __LINE__ + 1;
__attribute__((noinline, noclone)) int sym_test_labelled(int x)
{
	sym_test_inl_label(x);
	return sym_test_sink + 1;
}

/* Functions under C++ and Rust symbol names, in assembly so that only the
 * symbol table names them (as for code built without debug info). */
#define SYM_TEST_CXX  "_ZN6sprofd4test4spinIiEEvT_"
#define SYM_TEST_RUST "_RNvCsjrVPa4l567z_7mycrate8hot_spin"
__asm__(".text\n"
	".globl " SYM_TEST_CXX "\n.type " SYM_TEST_CXX ", @function\n"
	SYM_TEST_CXX ":\n\tnop\n\tnop\n\tret\n.size " SYM_TEST_CXX ", .-" SYM_TEST_CXX "\n"
	".globl " SYM_TEST_RUST "\n.type " SYM_TEST_RUST ", @function\n"
	SYM_TEST_RUST ":\n\tnop\n\tnop\n\tret\n.size " SYM_TEST_RUST ", .-" SYM_TEST_RUST "\n");
void sym_test_cxx(int) __asm__(SYM_TEST_CXX);
void sym_test_rust(void) __asm__(SYM_TEST_RUST);

static struct strtab *strs;
static struct symbolizer *sym;

/* Each test gets its own symbolizer on this process. */
static void setup(void)
{
	strs = strtab_new();
	sym = symbolizer_new(getpid(), strs);
	ck_assert_ptr_nonnull(sym);
}

/* Frees what setup made. */
static void teardown(void)
{
	symbolizer_free(sym);
	strtab_free(strs);
	sym = NULL;
	strs = NULL;
}

/* Whether s ends with suffix. */
static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Basename of this test binary, as the symbolizer should name its module. */
static const char *self_module(void)
{
	static char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	char *slash;

	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	/* Rebuilt while running: the symbolizer names it as it was. */
	if (ends_with(buf, " (deleted)"))
		buf[n - strlen(" (deleted)")] = '\0';
	slash = strrchr(buf, '/');
	return slash ? slash + 1 : buf;
}

/* Asserts one frame describes a function of this file. */
static void check_here(const struct sym_frame *f, const char *func, int line, bool inlined)
{
	ck_assert_str_eq(f->func, func);
	ck_assert_msg(f->file[0] == '/', "file not absolute: %s", f->file);
	ck_assert_msg(ends_with(f->file, "/test_symbols.c"), "file %s", f->file);
	ck_assert_int_eq(f->line, line);
	ck_assert_str_eq(f->module, self_module());
	ck_assert(f->inlined == inlined);
}

/* A function's address as the symbolizer takes it. */
static uint64_t addr_of(void (*fn)(void))
{
	return (uint64_t)(uintptr_t)fn;
}

START_TEST(test_functions)
{
	const struct sym_frame *f;
	uint64_t leaf = addr_of((void (*)(void))sym_test_leaf);
	uint64_t middle = addr_of((void (*)(void))sym_test_middle);

	ck_assert_int_eq(sym_test_middle(1), 7 + 2);
	/* The entry and a few bytes in: both inside the function. */
	for (int off = 0; off < 3; off++) {
		ck_assert_int_eq(symbolizer_lookup(sym, leaf + off, &f), 1);
		check_here(&f[0], "sym_test_leaf", leaf_line, false);
		ck_assert_int_eq(symbolizer_lookup(sym, middle + off, &f), 1);
		check_here(&f[0], "sym_test_middle", middle_line, false);
	}
}
END_TEST

START_TEST(test_inline_chain)
{
	const struct sym_frame *f;

	sym_test_outer(4);
	ck_assert_ptr_nonnull(sym_test_pc);
	ck_assert_int_eq(symbolizer_lookup(sym, (uintptr_t)sym_test_pc, &f), 3);
	check_here(&f[0], "sym_test_inl_inner", inner_line, true);
	check_here(&f[1], "sym_test_inl_mid", mid_line, true);
	check_here(&f[2], "sym_test_outer", outer_line, false);
}
END_TEST

START_TEST(test_source_lines)
{
	const struct sym_frame *f;
	uint64_t leaf = addr_of((void (*)(void))sym_test_leaf);

	sym_test_outer(4);
	/* Each frame of the chain runs one line: the innermost the line of
	 * the address, each caller the call of the function inlined in it. */
	ck_assert_int_eq(symbolizer_lookup(sym, (uintptr_t)sym_test_pc, &f), 3);
	ck_assert_int_eq(f[0].src_line, inner_line + 3);
	ck_assert_int_eq(f[1].src_line, mid_line + 3);
	ck_assert_int_eq(f[2].src_line, outer_line + 2);
	for (int i = 0; i < 3; i++) {
		ck_assert_ptr_nonnull(f[i].src_file);
		ck_assert_msg(ends_with(f[i].src_file, "/test_symbols.c"), "%s", f[i].src_file);
	}
	/* A function's first instruction is on its declaration line or the
	 * line after ("{"). */
	ck_assert_int_eq(symbolizer_lookup(sym, leaf, &f), 1);
	ck_assert_msg(f[0].src_line >= leaf_line && f[0].src_line <= leaf_line + 2, "line %d",
	    f[0].src_line);
	/* Nothing known, nothing claimed. */
	ck_assert_int_eq(symbolizer_lookup(sym, 0x10, &f), 1);
	ck_assert_int_eq(f[0].src_line, 0);
	ck_assert_ptr_null(f[0].src_file);
}
END_TEST

START_TEST(test_no_inline)
{
	const struct sym_opts o = { .no_inline = true };
	const struct sym_frame *f;

	symbolizer_set_opts(sym, &o);
	sym_test_outer(4);
	/* Only the real function, running the call of the chain's outermost. */
	ck_assert_int_eq(symbolizer_lookup(sym, (uintptr_t)sym_test_pc, &f), 1);
	check_here(&f[0], "sym_test_outer", outer_line, false);
	ck_assert_int_eq(f[0].src_line, outer_line + 2);
}
END_TEST

START_TEST(test_demangle)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "_ZN2ns3fooIiEEvT_", "void ns::foo<int>(int)" },
		{ "_ZZ4mainENKUlvE_clEv", "main::{lambda()#1}::operator()() const" },
		{ "_Z3fooi.constprop.0", "foo(int) [clone .constprop.0]" },
		/* Rust legacy (hash dropped) and v0. */
		{ "_ZN7mycrate5inner5Thing4work17hb76e956ac5ddd22cE", "mycrate::inner::Thing::work" },
		{ "_RINvMNtCsjrVPa4l567z_7mycrate5innerNtB3_5Thing4workmEB5_",
		  "<mycrate::inner::Thing>::work::<u32>" },
		/* Not mangled: C names, even those that read as types. */
		{ "main", NULL }, { "f", NULL }, { "i", NULL }, { "_start", NULL }, { "_Z", NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *d = symbols_demangle(cases[i].in);

		if (cases[i].out)
			ck_assert_msg(d && strcmp(d, cases[i].out) == 0, "%s -> %s", cases[i].in,
			    d ? d : "(null)");
		else
			ck_assert_msg(d == NULL, "%s -> %s", cases[i].in, d);
		free(d);
	}
}
END_TEST

START_TEST(test_mangled_symbols)
{
	const struct sym_opts raw = { .raw_names = true };
	uint64_t cxx = addr_of((void (*)(void))sym_test_cxx) + 1;
	uint64_t rust = addr_of(sym_test_rust) + 1;
	struct symbolizer *other;
	const struct sym_frame *f;

	ck_assert_int_eq(symbolizer_lookup(sym, cxx, &f), 1);
	ck_assert_str_eq(f->func, "void sprofd::test::spin<int>(int)");
	ck_assert_int_eq(f->line, 0);
	ck_assert_int_eq(symbolizer_lookup(sym, rust, &f), 1);
	ck_assert_str_eq(f->func, "mycrate::hot_spin");

	other = symbolizer_new(getpid(), strs);
	ck_assert_ptr_nonnull(other);
	symbolizer_set_opts(other, &raw);
	ck_assert_int_eq(symbolizer_lookup(other, cxx, &f), 1);
	ck_assert_str_eq(f->func, SYM_TEST_CXX);
	ck_assert_int_eq(symbolizer_lookup(other, rust, &f), 1);
	ck_assert_str_eq(f->func, SYM_TEST_RUST);
	symbolizer_free(other);
}
END_TEST

/* Writes text to path, replacing it; appends when append is set. */
static void put_file(const char *path, const char *text, bool append)
{
	FILE *fp = fopen(path, append ? "a" : "w");

	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	ck_assert_int_eq(fclose(fp), 0);
}

START_TEST(test_perfmap_file)
{
	char *dir = symtest_tmpdir(), *path;
	struct perfmap *pm;
	uint64_t start = 0;

	ck_assert_ptr_nonnull(dir);
	path = xasprintf("%s/perf-1.map", dir);
	pm = perfmap_open(path);
	ck_assert_int_eq(perfmap_refresh(pm), -1);          /* no file yet */
	put_file(path, "1000 100 first\n0x2000 0x10 LazyCompile:*second /app.js:3\n"
	    "garbage\n3000 0 zero-sized\n4000 10 partial", false);
	ck_assert_int_eq(perfmap_refresh(pm), 1);
	ck_assert_uint_eq(perfmap_count(pm), 2);            /* the partial line waits */
	ck_assert_str_eq(perfmap_lookup(pm, 0x1000, &start), "first");
	ck_assert_uint_eq(start, 0x1000);
	ck_assert_str_eq(perfmap_lookup(pm, 0x10ff, NULL), "first");
	ck_assert_ptr_null(perfmap_lookup(pm, 0x1100, NULL));
	ck_assert_ptr_null(perfmap_lookup(pm, 0xfff, NULL));
	ck_assert_str_eq(perfmap_lookup(pm, 0x2008, NULL), "LazyCompile:*second /app.js:3");
	ck_assert_int_eq(perfmap_refresh(pm), 0);           /* unchanged */

	/* It grows: the rest of the partial line, and code generated again
	 * where other code was (the later entry wins). */
	put_file(path, " more\n1000 10 again\n", true);
	ck_assert_int_eq(perfmap_refresh(pm), 1);
	ck_assert_uint_eq(perfmap_count(pm), 4);
	ck_assert_str_eq(perfmap_lookup(pm, 0x4005, NULL), "partial more");
	ck_assert_str_eq(perfmap_lookup(pm, 0x1008, NULL), "again");
	ck_assert_str_eq(perfmap_lookup(pm, 0x1010, NULL), "first");

	/* Replaced by a shorter file: read from scratch. */
	ck_assert_int_eq(unlink(path), 0);
	put_file(path, "5000 10 only\n", false);
	ck_assert_int_eq(perfmap_refresh(pm), 1);
	ck_assert_uint_eq(perfmap_count(pm), 1);
	ck_assert_ptr_null(perfmap_lookup(pm, 0x1000, NULL));
	ck_assert_str_eq(perfmap_lookup(pm, 0x5000, NULL), "only");
	ck_assert_str_eq(perfmap_path(pm), path);

	ck_assert_uint_eq(perfmap_add_text(pm, "6000 8 a b c\r\n", 13), 1);
	ck_assert_str_eq(perfmap_lookup(pm, 0x6001, NULL), "a b c");
	perfmap_free(pm);
	perfmap_free(NULL);
	free(path);
	symtest_rmtree(dir);
}
END_TEST

START_TEST(test_jit_code)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char *code = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE | PROT_EXEC,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *map = xasprintf("/tmp/perf-%d.map", (int)getpid()), *line;
	const struct sym_frame *f;

	ck_assert_ptr_ne(code, MAP_FAILED);
	unlink(map);
	symbolizer_set_refresh(sym, UINT64_MAX);
	/* Anonymous code the symbolizer has not seen mapped yet, then has. */
	symbolizer_invalidate(sym);
	ck_assert_int_eq(symbolizer_lookup(sym, (uintptr_t)code + 8, &f), 1);
	ck_assert_str_eq(f->func, "[anon]");
	ck_assert_str_eq(f->file, "");
	/* A perf map appears: anonymous code is looked up again once it was
	 * read (a new report reads it). */
	line = xasprintf("%lx 40 jit_fn\n%lx 8 LazyCompile:*handler /srv/app.js:12\n",
	    (unsigned long)(uintptr_t)code, (unsigned long)(uintptr_t)code + page);
	put_file(map, line, false);
	symbolizer_invalidate(sym);
	ck_assert_int_eq(symbolizer_lookup(sym, (uintptr_t)code + 8, &f), 1);
	ck_assert_str_eq(f->func, "jit_fn");
	ck_assert_msg(ends_with(f->file, map), "file %s", f->file);
	ck_assert_str_eq(f->module, map + strlen("/tmp/"));
	ck_assert_int_eq(f->line, 0);
	ck_assert_int_eq(symbolizer_lookup(sym, (uintptr_t)code + page + 1, &f), 1);
	ck_assert_str_eq(f->func, "LazyCompile:*handler /srv/app.js:12");
	/* Outside every entry: still anonymous code. */
	ck_assert_int_eq(symbolizer_lookup(sym, (uintptr_t)code + 0x40, &f), 1);
	ck_assert_str_eq(f->func, "[anon]");
	unlink(map);
	munmap(code, 2 * page);
	free(line);
	free(map);
}
END_TEST

START_TEST(test_inline_label)
{
	const struct sym_frame *f;

	sym_test_labelled(1);
	ck_assert_uint_ne(sym_test_label, 0);
	ck_assert_int_eq(symbolizer_lookup(sym, sym_test_label, &f), 2);
	check_here(&f[0], "sym_test_inl_label", label_inl_line, true);
	check_here(&f[1], "sym_test_labelled", labelled_line, false);
}
END_TEST

START_TEST(test_libc)
{
	const struct sym_frame *f;
	/* libc's own write, not a sanitizer's interceptor of the same name. */
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	void *w = libc ? dlsym(libc, "write") : NULL;
	int n;

	ck_assert_ptr_nonnull(w);
	n = symbolizer_lookup(sym, (uintptr_t)w + 1, &f);
	ck_assert_int_ge(n, 1);
	ck_assert_msg(strstr(f[n - 1].func, "write") != NULL, "func %s", f[n - 1].func);
	ck_assert_str_eq(f[n - 1].module, "libc.so.6");
	ck_assert(!f[n - 1].inlined);
	/* With libc's debug information the source file, else the library. */
	if (f[n - 1].line == 0)
		ck_assert_msg(ends_with(f[n - 1].file, "/libc.so.6"), "file %s", f[n - 1].file);
	else
		ck_assert_msg(ends_with(f[n - 1].file, "write.c"), "file %s", f[n - 1].file);
	dlclose(libc);
}
END_TEST

/* Address of a function in this process's vDSO, found through the image's
 * own section headers; 0 if there is none (valgrind hides it). */
static uint64_t vdso_function(const char *want)
{
	const char *image = (const char *)getauxval(AT_SYSINFO_EHDR);
	const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)image;
	const ElfW(Phdr) *ph;
	const ElfW(Shdr) *sh;
	uintptr_t bias = 0;

	if (!image || eh->e_shoff == 0)
		return 0;
	ph = (const ElfW(Phdr) *)(image + eh->e_phoff);
	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0)
			bias = (uintptr_t)image - ph[i].p_vaddr;
	sh = (const ElfW(Shdr) *)(image + eh->e_shoff);
	for (int i = 0; i < eh->e_shnum; i++) {
		const ElfW(Sym) *syms = (const ElfW(Sym) *)(image + sh[i].sh_offset);
		const char *names = image + sh[sh[i].sh_link].sh_offset;

		if (sh[i].sh_type != SHT_DYNSYM)
			continue;
		for (size_t k = 0; k < sh[i].sh_size / sizeof(*syms); k++)
			if (ELF64_ST_TYPE(syms[k].st_info) == STT_FUNC &&
			    strcmp(names + syms[k].st_name, want) == 0)
				return bias + syms[k].st_value;
	}
	return 0;
}

START_TEST(test_vdso)
{
	uint64_t fn = vdso_function("__vdso_clock_gettime");
	const struct sym_frame *f;

	if (fn == 0) {
		printf("symbols: no vDSO here, test_vdso skipped\n");
		return;
	}
	ck_assert_int_eq(symbolizer_lookup(sym, fn + 1, &f), 1);
	ck_assert_msg(strstr(f->func, "clock_gettime") != NULL, "func %s", f->func);
	ck_assert_str_eq(f->module, "[vdso]");
	ck_assert_str_eq(f->file, "[vdso]");
	ck_assert_int_eq(f->line, 0);
}
END_TEST

START_TEST(test_unknown)
{
	const struct sym_frame *f, *g;

	ck_assert_int_eq(symbolizer_lookup(sym, 0x10, &f), 1);
	ck_assert_str_eq(f->func, "[unknown]");
	ck_assert_str_eq(f->file, "");
	ck_assert_str_eq(f->module, "");
	ck_assert_int_eq(f->line, 0);
	ck_assert(!f->inlined);
	/* Every unknown address is the same function. */
	ck_assert_int_eq(symbolizer_lookup(sym, 0x20, &g), 1);
	ck_assert_ptr_eq(f, g);
	ck_assert_int_eq(symbolizer_lookup(sym, UINT64_MAX, &g), 1);
	ck_assert_ptr_eq(f, g);
	ck_assert_int_eq(symbolizer_lookup(sym, UINT64_MAX - 1, &g), 1);
	ck_assert_ptr_eq(f, g);
}
END_TEST

START_TEST(test_cache)
{
	const struct sym_frame *f, *g;
	uint64_t addr = addr_of((void (*)(void))sym_test_middle) + 1;
	uint64_t resolved, hits;

	symbolizer_stats(sym, &resolved, &hits);
	ck_assert_uint_eq(resolved, 0);
	ck_assert_uint_eq(hits, 0);
	ck_assert_int_eq(symbolizer_lookup(sym, addr, &f), 1);
	ck_assert_int_eq(symbolizer_lookup(sym, addr, &g), 1);
	ck_assert_ptr_eq(f, g);
	symbolizer_stats(sym, &resolved, &hits);
	ck_assert_uint_eq(resolved, 1);
	ck_assert_uint_eq(hits, 1);
	/* Strings live in the caller's table. */
	ck_assert_ptr_eq(f->func, strtab_intern(strs, "sym_test_middle"));
	ck_assert_ptr_eq(f->module, strtab_intern(strs, self_module()));
	/* A neighbour in the same function is a distinct address. */
	ck_assert_int_eq(symbolizer_lookup(sym, addr + 1, &g), 1);
	ck_assert_ptr_ne(f, g);
	ck_assert_ptr_eq(f->func, g->func);
	symbolizer_stats(sym, &resolved, &hits);
	ck_assert_uint_eq(resolved, 2);
	ck_assert_uint_eq(hits, 1);
}
END_TEST

START_TEST(test_bad_pid)
{
	/* Above any pid_max: the maps cannot be read (an error is logged). */
	ck_assert_ptr_null(symbolizer_new(INT_MAX, strs));
}
END_TEST

static const char plugin_src[] =
	"volatile int plugin_sink;\n"
	"int symtest_plugin_fn(int x);\n"
	"int symtest_plugin_fn(int x)\n"      /* line 3 */
	"{\n"
	"\tplugin_sink = x;\n"
	"\treturn plugin_sink * 7 + 3;\n"
	"}\n";

/* Builds plugin_src as dir/NAME.so, loads it and returns the function. */
static void *load_plugin(const char *dir, const char *name, void **handle)
{
	char *src = symtest_write(dir, "plugin.c", plugin_src);
	char *so = xasprintf("%s/%s.so", dir, name);
	void *fn;

	ck_assert_ptr_nonnull(src);
	ck_assert_int_eq(symtest_sh("%s -O2 -g -shared -fPIC -o '%s' '%s'", symtest_cc(), so, src), 0);
	*handle = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(*handle != NULL, "dlopen: %s", dlerror());
	fn = dlsym(*handle, "symtest_plugin_fn");
	ck_assert_ptr_nonnull(fn);
	free(src);
	free(so);
	return fn;
}

/* Asserts a frame describes the plugin's function. */
static void check_plugin(const struct sym_frame *f, const char *module)
{
	ck_assert_str_eq(f->func, "symtest_plugin_fn");
	ck_assert_msg(f->file[0] == '/' && ends_with(f->file, "/plugin.c"), "file %s", f->file);
	ck_assert_int_eq(f->line, 3);
	ck_assert_str_eq(f->module, module);
}

START_TEST(test_loaded_later)
{
	const struct sym_frame *known, *f;
	uint64_t leaf = addr_of((void (*)(void))sym_test_leaf), pa, pb;
	char *dir = symtest_tmpdir();
	void *ha, *hb;

	ck_assert_ptr_nonnull(dir);
	ck_assert_uint_eq(symbolizer_reports(sym), 1);
	symbolizer_lookup(sym, leaf, &known);
	/* Never re-read on its own: only an invalidation helps. */
	symbolizer_set_refresh(sym, UINT64_MAX);
	pa = (uintptr_t)load_plugin(dir, "libsymtest_a", &ha);
	ck_assert_int_eq(symbolizer_lookup(sym, pa, &f), 1);
	ck_assert_str_eq(f->func, "[unknown]");
	ck_assert_int_eq(symbolizer_lookup(sym, pa, &f), 1);
	ck_assert_str_eq(f->func, "[unknown]");
	ck_assert_uint_eq(symbolizer_reports(sym), 1);

	symbolizer_invalidate(sym);
	/* Hits do not re-read; cached results stay. */
	ck_assert_int_eq(symbolizer_lookup(sym, leaf, &f), 1);
	ck_assert_ptr_eq(f, known);
	ck_assert_uint_eq(symbolizer_reports(sym), 1);
	/* The address that was unknown is retried after the re-read. */
	ck_assert_int_eq(symbolizer_lookup(sym, pa, &f), 1);
	ck_assert_uint_eq(symbolizer_reports(sym), 2);
	check_plugin(f, "libsymtest_a.so");
	ck_assert_int_eq(symbolizer_lookup(sym, pa, &f), 1);
	check_plugin(f, "libsymtest_a.so");
	ck_assert_uint_eq(symbolizer_reports(sym), 2);

	/* Rate limit of 0: an address in no module re-reads at once. */
	symbolizer_set_refresh(sym, 0);
	pb = (uintptr_t)load_plugin(dir, "libsymtest_b", &hb);
	ck_assert_int_eq(symbolizer_lookup(sym, pb + 1, &f), 1);
	check_plugin(f, "libsymtest_b.so");
	ck_assert_uint_eq(symbolizer_reports(sym), 3);
	/* Known addresses never re-read, whatever the rate. */
	ck_assert_int_eq(symbolizer_lookup(sym, pa, &f), 1);
	ck_assert_int_eq(symbolizer_lookup(sym, leaf, &f), 1);
	ck_assert_uint_eq(symbolizer_reports(sym), 3);

	dlclose(ha);
	dlclose(hb);
	symtest_rmtree(dir);
}
END_TEST

static const char prog_src[] =
	"#define _GNU_SOURCE\n"
	"#include <link.h>\n"
	"#include <stdio.h>\n"
	"#include <unistd.h>\n"
	"\n"
	"volatile int st_sink;\n"
	"static unsigned long st_base;\n"
	"\n"
	"int st_work(int x);\n"
	"static int st_phdr(struct dl_phdr_info *info, size_t size, void *data)\n"
	"{\n"
	"\tst_base = info->dlpi_addr;\n"
	"\treturn 1;\n"
	"}\n"
	"\n"
	"__attribute__((noinline)) int st_work(int x)\n"     /* line 16 */
	"{\n"
	"\tst_sink = x;\n"
	"\treturn st_sink * 5 + 2;\n"
	"}\n"
	"\n"
	"int main(void)\n"
	"{\n"
	"\tdl_iterate_phdr(st_phdr, NULL);\n"
	"\tprintf(\"%lx %lx %d\\n\", (unsigned long)&st_work,\n"
	"\t    (unsigned long)&st_work - st_base, st_work(1));\n"
	"\tfflush(stdout);\n"
	"\tfor (;;)\n"
	"\t\tpause();\n"
	"}\n";
#define PROG_WORK_LINE 16

/* Whether this process may open /proc/PID/map_files links, which reach a
 * mapped file after it was deleted (CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE). */
static bool map_files_readable(void)
{
	char line[256], *path;
	unsigned long lo, hi;
	bool ok = false;
	FILE *f = fopen("/proc/self/maps", "r");
	int fd;

	ck_assert_ptr_nonnull(f);
	/* The first mapping of a file (a sanitizer's shadow memory may come
	 * first, and anonymous memory has no entry to open). */
	while (fgets(line, sizeof(line), f)) {
		if (!strchr(line, '/') || sscanf(line, "%lx-%lx", &lo, &hi) != 2)
			continue;
		path = xasprintf("/proc/self/map_files/%lx-%lx", lo, hi);
		if ((fd = open(path, O_RDONLY)) != -1) {
			close(fd);
			ok = true;
		}
		free(path);
		break;
	}
	fclose(f);
	return ok;
}

/* Runs dir/name (deleting it once started if asked), symbolizes one address
 * inside st_work from outside the running (not stopped) process, and
 * returns its frame in *out; *vaddr gets st_work's address in the ELF file. */
static void lookup_in_child(const char *dir, const char *name, bool delete,
    struct sym_frame *out, uint64_t *vaddr)
{
	char *path = xasprintf("%s/%s", dir, name), line[256];
	unsigned long addr, va;
	const struct sym_frame *f;
	struct symbolizer *other;
	int ret;
	pid_t pid;

	pid = symtest_spawn(path, line, sizeof(line));
	ck_assert_msg(pid > 0, "%s did not start", path);
	ck_assert_int_eq(sscanf(line, "%lx %lx %d", &addr, &va, &ret), 3);
	ck_assert_int_eq(ret, 7);
	if (delete)
		ck_assert_int_eq(unlink(path), 0);
	other = symbolizer_new(pid, strs);
	ck_assert_ptr_nonnull(other);
	ck_assert_int_eq(symbolizer_lookup(other, addr + 1, &f), 1);
	*out = f[0];
	*vaddr = va + 1;
	symbolizer_free(other);
	symtest_reap(pid);
	free(path);
}

START_TEST(test_programs)
{
	char *dir = symtest_tmpdir(), *src, *expect;
	struct sym_frame f;
	uint64_t va;

	ck_assert_ptr_nonnull(dir);
	ck_assert_ptr_nonnull(src = symtest_write(dir, "st_prog.c", prog_src));
	ck_assert_int_eq(symtest_sh("cd '%s' && %s -O2 -g -o st_full st_prog.c && "
	    "strip --strip-debug -o st_sym st_full && "
	    "strip --strip-all -o st_bare st_full && "
	    "objcopy --only-keep-debug st_full st_split.debug && "
	    "strip --strip-all -o st_split st_full && "
	    "objcopy --add-gnu-debuglink=st_split.debug st_split && "
	    "cp st_full st_gone", dir, symtest_cc()), 0);

	/* Full DWARF. */
	lookup_in_child(dir, "st_full", false, &f, &va);
	ck_assert_str_eq(f.func, "st_work");
	ck_assert_msg(ends_with(f.file, "/st_prog.c"), "file %s", f.file);
	ck_assert_int_eq(f.line, PROG_WORK_LINE);
	ck_assert_str_eq(f.module, "st_full");

	/* Debug information stripped: the name comes from .symtab. */
	lookup_in_child(dir, "st_sym", false, &f, &va);
	ck_assert_str_eq(f.func, "st_work");
	ck_assert_msg(f.file[0] == '/' && ends_with(f.file, "/st_sym"), "file %s", f.file);
	ck_assert_int_eq(f.line, 0);
	ck_assert_str_eq(f.module, "st_sym");

	/* No symbols at all: module and ELF address, as addr2line takes it. */
	lookup_in_child(dir, "st_bare", false, &f, &va);
	expect = xasprintf("[st_bare+0x%" PRIx64 "]", va);
	ck_assert_str_eq(f.func, expect);
	ck_assert_msg(ends_with(f.file, "/st_bare"), "file %s", f.file);
	ck_assert_int_eq(f.line, 0);
	ck_assert_str_eq(f.module, "st_bare");
	free(expect);

	/* Stripped, with the DWARF in a file named by .gnu_debuglink. */
	lookup_in_child(dir, "st_split", false, &f, &va);
	ck_assert_str_eq(f.func, "st_work");
	ck_assert_msg(ends_with(f.file, "/st_prog.c"), "file %s", f.file);
	ck_assert_int_eq(f.line, PROG_WORK_LINE);
	ck_assert_str_eq(f.module, "st_split");

	/* Deleted while running, as a binary upgraded under a daemon. */
	lookup_in_child(dir, "st_gone", true, &f, &va);
	ck_assert_str_eq(f.module, "st_gone");
	if (map_files_readable()) {
		ck_assert_str_eq(f.func, "st_work");
		ck_assert_int_eq(f.line, PROG_WORK_LINE);
	} else {
		/* Only the image in memory is left: no symbol table. */
		expect = xasprintf("[st_gone+0x%" PRIx64 "]", va);
		ck_assert_str_eq(f.func, expect);
		free(expect);
	}

	free(src);
	symtest_rmtree(dir);
}
END_TEST

struct text_range {
	const char *want;     /* substring of the object's name; "" = main program */
	uint64_t lo, hi;
};

/* dl_iterate_phdr callback: the executable segment of the wanted object. */
static int find_text(struct dl_phdr_info *info, size_t size, void *data)
{
	struct text_range *r = data;

	if (r->want[0] == '\0' ? info->dlpi_name[0] != '\0' : !strstr(info->dlpi_name, r->want))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			r->lo = info->dlpi_addr + ph->p_vaddr;
			r->hi = r->lo + ph->p_memsz;
			return 1;
		}
	}
	return 0;
}

/* Up to max addresses spread over the executable segment of an object. */
static size_t text_addrs(const char *want, uint64_t *out, size_t max)
{
	struct text_range r = { want, 0, 0 };
	uint64_t step;
	size_t n = 0;

	dl_iterate_phdr(find_text, &r);
	ck_assert_msg(r.hi > r.lo, "no text for '%s'", want);
	step = (r.hi - r.lo) / max + 1;
	for (uint64_t a = r.lo; a < r.hi && n < max; a += step)
		out[n++] = a;
	return n;
}

START_TEST(test_speed)
{
	enum { NSELF = 8000, NLIBC = 4000, ROUNDS = 20 };
	uint64_t *addrs = xmalloc((NSELF + NLIBC) * sizeof(*addrs));
	uint64_t t0, t1, t2, resolved, hits;
	const struct sym_frame *f;
	double cold_us, warm_us;
	size_t n;

	n = text_addrs("", addrs, NSELF);
	n += text_addrs("libc.so.6", addrs + n, NLIBC);
	t0 = mono_ns();
	for (size_t i = 0; i < n; i++) {
		int k = symbolizer_lookup(sym, addrs[i], &f);

		ck_assert_int_ge(k, 1);
		ck_assert_ptr_nonnull(f[k - 1].func);
		ck_assert(!f[k - 1].inlined);
	}
	t1 = mono_ns();
	for (int round = 0; round < ROUNDS; round++)
		for (size_t i = 0; i < n; i++)
			symbolizer_lookup(sym, addrs[i], &f);
	t2 = mono_ns();
	symbolizer_stats(sym, &resolved, &hits);
	ck_assert_uint_eq(resolved, n);
	ck_assert_uint_eq(hits, (uint64_t)n * ROUNDS);

	cold_us = (double)(t1 - t0) / 1e3 / (double)n;
	warm_us = (double)(t2 - t1) / 1e3 / ((double)n * ROUNDS);
	printf("symbols: %zu addresses (this binary and libc): cold %.0f lookups/s (%.2f us each), "
	    "warm %.0f lookups/s (%.3f us each)\n", n, 1e6 / cold_us, cold_us, 1e6 / warm_us, warm_us);
	/* A hit must not go anywhere near libdw. */
	ck_assert_msg(warm_us * 10 < cold_us, "warm %.3f us vs cold %.3f us", warm_us, cold_us);
	free(addrs);
}
END_TEST

Suite *suite_symbols(void)
{
	Suite *s = suite_create("symbols");
	TCase *tc = tcase_create("self");
	TCase *progs = tcase_create("programs");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_functions);
	tcase_add_test(tc, test_inline_chain);
	tcase_add_test(tc, test_inline_label);
	tcase_add_test(tc, test_source_lines);
	tcase_add_test(tc, test_no_inline);
	tcase_add_test(tc, test_demangle);
	tcase_add_test(tc, test_mangled_symbols);
	tcase_add_test(tc, test_perfmap_file);
	tcase_add_test(tc, test_jit_code);
	tcase_add_test(tc, test_libc);
	tcase_add_test(tc, test_vdso);
	tcase_add_test(tc, test_unknown);
	tcase_add_test(tc, test_cache);
	tcase_add_test(tc, test_bad_pid);
	tcase_add_test(tc, test_speed);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	/* These build programs with the compiler and binutils. */
	tcase_add_checked_fixture(progs, setup, teardown);
	tcase_add_test(progs, test_loaded_later);
	tcase_add_test(progs, test_programs);
	tcase_set_timeout(progs, 120);
	suite_add_tcase(s, progs);
	return s;
}
