/* test_profile.c: the function view built from raw stacks, checked against
 * tables worked out by hand, against a brute-force count on random stacks,
 * and through the pstats writer, read back by Python's own pstats. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "profile.h"
#include "stacks.h"
#include "suites.h"
#include "symbols.h"
#include "util.h"
#include "writer.h"

/* ---- a fake symbolizer: a fixed table of addresses ---- */

/* Separate arrays, so this "a" has other pointers than the literal one:
 * functions must be keyed by content, not by address. */
static char a_file2[] = "m.c", a_name2[] = "a";

#define FR(fn, fl, ln) { .func = (fn), .file = (fl), .line = (ln), .module = "m" }
#define FR_INL(fn, fl, ln) \
	{ .func = (fn), .file = (fl), .line = (ln), .module = "m", .inlined = true }

static const struct fake_pc {
	uint64_t addr;
	int n;
	struct sym_frame frames[2];
} fake_pcs[] = {
	{ 0x100, 1, { FR("main", "m.c", 1) } },
	{ 0x200, 1, { FR("a", "m.c", 10) } },
	{ 0x201, 1, { FR(a_name2, a_file2, 10) } },    /* another pc in a */
	{ 0x300, 1, { FR("b", "m.c", 20) } },
	{ 0x400, 1, { FR("c", "src/caf\xc3\xa9.c", 30) } },
	/* inl was inlined into c: one pc, two functions, innermost first. */
	{ 0x500, 2, { FR_INL("\xe5\x90\x8d\xe5\x89\x8d", "src/caf\xc3\xa9.c", 40),
		      FR("c", "src/caf\xc3\xa9.c", 30) } },
	{ 0x600, 1, { FR("a", "other.c", 10) } },      /* same name, other file */
	{ 0x700, 1, { FR("a", "m.c", 11) } },          /* same name, other line */
};

#define INL "\xe5\x90\x8d\xe5\x89\x8d"
#define CFILE "src/caf\xc3\xa9.c"

struct fake_ctx {
	unsigned lookups;
};

static int fake_lookup(void *ctx, uint64_t addr, const struct sym_frame **frames)
{
	struct fake_ctx *c = ctx;

	c->lookups++;
	for (size_t i = 0; i < sizeof(fake_pcs) / sizeof(fake_pcs[0]); i++) {
		if (fake_pcs[i].addr == addr) {
			*frames = fake_pcs[i].frames;
			return fake_pcs[i].n;
		}
	}
	return 0;   /* unknown: profile_build must cope */
}

static const struct profile_meta test_meta = {
	.pid = 4242, .comm = "myserver", .nthreads = 2, .duration = 1.0, .hz = 100,
};

/* Adds one stack given leaf first, ended by 0. */
static void add_stack(struct stacktab *st, uint64_t count, pid_t tid, ...)
{
	uint64_t pcs[64];
	uint32_t n = 0;
	va_list ap;

	va_start(ap, tid);
	while ((pcs[n] = va_arg(ap, uint64_t)) != 0)
		n++;
	va_end(ap);
	stacktab_add(st, pcs, n, tid, false, count);
}

#define STACK(st, count, ...) add_stack((st), (count), 1, __VA_ARGS__, (uint64_t)0)

static int find_func(const struct profile *p, const char *file, int line, const char *name)
{
	for (size_t i = 0; i < p->nfuncs; i++)
		if (strcmp(p->funcs[i].file, file) == 0 && p->funcs[i].line == line &&
		    strcmp(p->funcs[i].name, name) == 0)
			return (int)i;
	return -1;
}

static const struct pedge *find_edge(const struct profile *p, int caller, int callee)
{
	for (size_t i = 0; i < p->nedges; i++)
		if ((int)p->edges[i].caller == caller && (int)p->edges[i].callee == callee)
			return &p->edges[i];
	return NULL;
}

/* Asserts the counts of one function; returns its index. */
static int check_func(const struct profile *p, const char *file, int line, const char *name,
		      uint64_t cc, uint64_t nc, uint64_t tt)
{
	int i = find_func(p, file, line, name);

	ck_assert_msg(i >= 0, "no function %s:%d(%s)", file, line, name);
	ck_assert_msg(p->funcs[i].cc == cc && p->funcs[i].nc == nc && p->funcs[i].tt == tt,
		      "%s: cc/nc/tt %llu/%llu/%llu, want %llu/%llu/%llu", name,
		      (unsigned long long)p->funcs[i].cc, (unsigned long long)p->funcs[i].nc,
		      (unsigned long long)p->funcs[i].tt, (unsigned long long)cc,
		      (unsigned long long)nc, (unsigned long long)tt);
	return i;
}

static void check_edge(const struct profile *p, int caller, int callee, uint64_t cc, uint64_t nc,
		       uint64_t tt)
{
	const struct pedge *e = find_edge(p, caller, callee);

	ck_assert_msg(e != NULL, "no edge %d->%d", caller, callee);
	ck_assert_msg(e->cc == cc && e->nc == nc && e->tt == tt,
		      "edge %s->%s: cc/nc/tt %llu/%llu/%llu, want %llu/%llu/%llu",
		      p->funcs[caller].name, p->funcs[callee].name, (unsigned long long)e->cc,
		      (unsigned long long)e->nc, (unsigned long long)e->tt, (unsigned long long)cc,
		      (unsigned long long)nc, (unsigned long long)tt);
}

static void check_root(const struct profile *p, uint64_t total)
{
	ck_assert_uint_ge(p->nfuncs, 1);
	ck_assert_str_eq(p->funcs[0].file, "~");
	ck_assert_int_eq(p->funcs[0].line, 0);
	ck_assert_str_eq(p->funcs[0].name, "<all samples>");
	ck_assert_uint_eq(p->total, total);
	ck_assert_uint_eq(p->funcs[0].cc, total);
	ck_assert_uint_eq(p->funcs[0].nc, total);
	ck_assert_uint_eq(p->funcs[0].tt, 0);
}

static struct profile *build(struct stacktab *st, struct fake_ctx *ctx)
{
	return profile_build(st, fake_lookup, ctx, &test_meta, NULL);
}

/* Plain calls:
 *   3 x main -> a -> b      [0x300 0x200 0x100]
 *   2 x main -> a           [0x200 0x100]
 *   1 x main -> c           [0x400 0x100]
 *            cc nc tt
 *   root      6  6  0
 *   main      6  6  0
 *   a         5  5  2
 *   b         3  3  3
 *   c         1  1  1
 *   root->main 6 6 0, main->a 5 5 2, a->b 3 3 3, main->c 1 1 1 */
START_TEST(test_profile_plain)
{
	struct stacktab *st = stacktab_new();
	struct fake_ctx ctx = { 0 };
	struct profile *p;
	int m, a, b, c;

	STACK(st, 3, 0x300, 0x200, 0x100);
	STACK(st, 2, 0x200, 0x100);
	STACK(st, 1, 0x400, 0x100);
	p = build(st, &ctx);
	check_root(p, 6);
	ck_assert_uint_eq(p->nfuncs, 5);
	ck_assert_uint_eq(p->nedges, 4);
	m = check_func(p, "m.c", 1, "main", 6, 6, 0);
	a = check_func(p, "m.c", 10, "a", 5, 5, 2);
	b = check_func(p, "m.c", 20, "b", 3, 3, 3);
	c = check_func(p, CFILE, 30, "c", 1, 1, 1);
	check_edge(p, 0, m, 6, 6, 0);
	check_edge(p, m, a, 5, 5, 2);
	check_edge(p, a, b, 3, 3, 3);
	check_edge(p, m, c, 1, 1, 1);
	/* Functions appear in the order their pcs were first seen. */
	ck_assert_int_eq(b, 1);
	ck_assert_int_eq(a, 2);
	ck_assert_int_eq(m, 3);
	ck_assert_int_eq(c, 4);
	/* Each distinct pc is symbolized once. */
	ck_assert_uint_eq(ctx.lookups, 4);
	ck_assert_double_eq(p->interval, 0.01);
	ck_assert_int_eq(p->meta.pid, 4242);
	ck_assert_str_eq(p->meta.comm, "myserver");
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* Direct recursion:
 *   2 x a -> b -> b -> b   [0x300 0x300 0x300 0x200]
 *   1 x a -> b             [0x300 0x200]
 *            cc nc            tt
 *   a         3  3            0
 *   b         3  2*3+1 = 7    3
 *   root->a   3  3  0
 *   a->b      3  3  1   (only the second stack ends in b called by a)
 *   b->b      2  2*2 = 4  2 */
START_TEST(test_profile_direct_recursion)
{
	struct stacktab *st = stacktab_new();
	struct fake_ctx ctx = { 0 };
	struct profile *p;
	int a, b;

	STACK(st, 2, 0x300, 0x300, 0x300, 0x200);
	STACK(st, 1, 0x300, 0x200);
	p = build(st, &ctx);
	check_root(p, 3);
	ck_assert_uint_eq(p->nfuncs, 3);
	ck_assert_uint_eq(p->nedges, 3);
	a = check_func(p, "m.c", 10, "a", 3, 3, 0);
	b = check_func(p, "m.c", 20, "b", 3, 7, 3);
	check_edge(p, 0, a, 3, 3, 0);
	check_edge(p, a, b, 3, 3, 1);
	check_edge(p, b, b, 2, 4, 2);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* Mutual recursion:
 *   1 x a -> b -> a -> b   [0x300 0x200 0x300 0x200]
 *   2 x a -> b -> a        [0x200 0x300 0x200]
 *            cc nc            tt
 *   a         3  1*2+2*2 = 6  2
 *   b         3  1*2+2*1 = 4  1
 *   root->a   3  3  0
 *   a->b      cc 1+2 = 3, nc 1*2+2*1 = 4, tt 1
 *   b->a      cc 1+2 = 3, nc 1*1+2*1 = 3, tt 2 */
START_TEST(test_profile_mutual_recursion)
{
	struct stacktab *st = stacktab_new();
	struct fake_ctx ctx = { 0 };
	struct profile *p;
	int a, b;

	STACK(st, 1, 0x300, 0x200, 0x300, 0x200);
	STACK(st, 2, 0x200, 0x300, 0x200);
	p = build(st, &ctx);
	check_root(p, 3);
	ck_assert_uint_eq(p->nfuncs, 3);
	ck_assert_uint_eq(p->nedges, 3);
	a = check_func(p, "m.c", 10, "a", 3, 6, 2);
	b = check_func(p, "m.c", 20, "b", 3, 4, 1);
	check_edge(p, 0, a, 3, 3, 0);
	check_edge(p, a, b, 3, 4, 1);
	check_edge(p, b, a, 3, 3, 2);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* Inline frames: 0x500 is inl inlined into c.
 *   4 x main -> c -> inl   [0x500 0x100]
 *   1 x main -> c          [0x400 0x100]
 *            cc nc tt
 *   main      5  5  0
 *   c         5  5  1
 *   inl       4  4  4
 *   root->main 5 5 0, main->c 5 5 1, c->inl 4 4 4 */
START_TEST(test_profile_inline)
{
	struct stacktab *st = stacktab_new();
	struct fake_ctx ctx = { 0 };
	struct profile *p;
	int m, c, inl;

	STACK(st, 4, 0x500, 0x100);
	STACK(st, 1, 0x400, 0x100);
	p = build(st, &ctx);
	check_root(p, 5);
	ck_assert_uint_eq(p->nfuncs, 4);
	ck_assert_uint_eq(p->nedges, 3);
	m = check_func(p, "m.c", 1, "main", 5, 5, 0);
	c = check_func(p, CFILE, 30, "c", 5, 5, 1);
	inl = check_func(p, CFILE, 40, INL, 4, 4, 4);
	check_edge(p, 0, m, 5, 5, 0);
	check_edge(p, m, c, 5, 5, 1);
	check_edge(p, c, inl, 4, 4, 4);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* Stacks that differ in pcs or thread but symbolize alike add up:
 *   1 x main -> a(0x200) -> b   tid 1
 *   2 x main -> a(0x201) -> b   tid 1, 0x201 has its own string copies
 *   4 x main -> a(0x200) -> b   tid 2
 * and functions differing in file or line stay apart:
 *   1 x main -> a(other.c:10)
 *   1 x main -> a(m.c:11)
 *            cc nc tt
 *   main      9  9  0
 *   a m.c:10  7  7  0
 *   b         7  7  7
 *   a other   1  1  1
 *   a :11     1  1  1 */
START_TEST(test_profile_merge)
{
	struct stacktab *st = stacktab_new();
	struct fake_ctx ctx = { 0 };
	struct profile *p;
	int m, a, b, ao, a11;

	add_stack(st, 1, 1, 0x300, 0x200, 0x100, (uint64_t)0);
	add_stack(st, 2, 1, 0x300, 0x201, 0x100, (uint64_t)0);
	add_stack(st, 4, 2, 0x300, 0x200, 0x100, (uint64_t)0);
	STACK(st, 1, 0x600, 0x100);
	STACK(st, 1, 0x700, 0x100);
	ck_assert_uint_eq(stacktab_size(st), 5);
	p = build(st, &ctx);
	check_root(p, 9);
	ck_assert_uint_eq(p->nfuncs, 6);
	ck_assert_uint_eq(p->nedges, 5);
	m = check_func(p, "m.c", 1, "main", 9, 9, 0);
	a = check_func(p, "m.c", 10, "a", 7, 7, 0);
	b = check_func(p, "m.c", 20, "b", 7, 7, 7);
	ao = check_func(p, "other.c", 10, "a", 1, 1, 1);
	a11 = check_func(p, "m.c", 11, "a", 1, 1, 1);
	check_edge(p, 0, m, 9, 9, 0);
	check_edge(p, m, a, 7, 7, 0);
	check_edge(p, a, b, 7, 7, 7);
	check_edge(p, m, ao, 1, 1, 1);
	check_edge(p, m, a11, 1, 1, 1);
	ck_assert_uint_eq(ctx.lookups, 6);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* An address the lookup cannot name still counts, as "[unknown]"; a
 * leaf-only stack is called by the root directly, with the edge's tt. */
START_TEST(test_profile_unknown_and_root_edges)
{
	struct stacktab *st = stacktab_new();
	struct fake_ctx ctx = { 0 };
	struct profile *p;
	int u, m, b;
	uint64_t unnamed[] = { 0xdead, UINT64_MAX, UINT64_MAX - 1 };

	STACK(st, 2, 0xdead, 0x100);
	STACK(st, 3, 0x100);
	STACK(st, 1, 0x300);
	stacktab_add(st, unnamed, 3, 1, true, 1);
	p = build(st, &ctx);
	check_root(p, 7);
	/* [unknown] (three pcs, one function) -> [unknown] -> [unknown]:
	 * cc 2+1, nc 2+3, tt 2+1. */
	u = check_func(p, "", 0, "[unknown]", 3, 5, 3);
	m = check_func(p, "m.c", 1, "main", 5, 5, 3);
	b = check_func(p, "m.c", 20, "b", 1, 1, 1);
	check_edge(p, 0, m, 5, 5, 3);
	check_edge(p, 0, b, 1, 1, 1);
	check_edge(p, 0, u, 1, 1, 0);
	check_edge(p, m, u, 2, 2, 2);
	check_edge(p, u, u, 1, 2, 1);
	ck_assert_uint_eq(p->nedges, 5);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

START_TEST(test_profile_empty)
{
	struct stacktab *st = stacktab_new();
	struct fake_ctx ctx = { 0 };
	struct profile *p = profile_build(st, fake_lookup, &ctx, NULL, NULL);

	check_root(p, 0);
	ck_assert_uint_eq(p->nfuncs, 1);
	ck_assert_uint_eq(p->nedges, 0);
	ck_assert_double_eq(p->interval, 0.0);
	profile_free(p);
	profile_free(NULL);
	stacktab_free(st);
}
END_TEST

/* ---- random stacks against a brute-force count ---- */

/* Random stacks over all the fake pcs, recursion included, counted the
 * slow, obvious way: expand, then scan for every function and pair. */
START_TEST(test_profile_brute_force)
{
	static const uint64_t addrs[] = { 0x100, 0x200, 0x201, 0x300, 0x400, 0x500, 0x600, 0x700 };
	enum { NSTACKS = 400, MAXD = 10 };
	struct stacktab *st = stacktab_new();
	struct fake_ctx ctx = { 0 };
	struct profile *p;
	uint64_t rng = 7, total = 0;
	uint64_t *fcc, *fnc, *ftt, *ecc, *enc, *ett;
	size_t nf, nedges = 0;

	for (int s = 0; s < NSTACKS; s++) {
		uint64_t pcs[MAXD];
		uint32_t n;

		rng = hash_u64(rng);
		n = 1 + rng % MAXD;
		for (uint32_t j = 0; j < n; j++) {
			rng = hash_u64(rng);
			pcs[j] = addrs[rng % 8];
		}
		stacktab_add(st, pcs, n, (pid_t)(rng % 3), false, 1 + rng % 5);
	}
	p = build(st, &ctx);
	nf = p->nfuncs;
	fcc = xcalloc(nf, 8), fnc = xcalloc(nf, 8), ftt = xcalloc(nf, 8);
	ecc = xcalloc(nf * nf, 8), enc = xcalloc(nf * nf, 8), ett = xcalloc(nf * nf, 8);

	for (size_t s = 0; s < stacktab_size(st); s++) {
		struct stack_view v;
		int fs[MAXD * 2 + 1], nfs = 0;

		stacktab_get(st, s, &v);
		total += v.count;
		for (uint32_t j = 0; j < v.n; j++) {
			const struct sym_frame *fr;
			int k = fake_lookup(&ctx, v.pcs[j], &fr);
			for (int q = 0; q < k; q++) {
				fs[nfs] = find_func(p, fr[q].file, fr[q].line, fr[q].func);
				ck_assert_int_gt(fs[nfs], 0);
				nfs++;
			}
		}
		fs[nfs++] = 0;   /* the root, outermost */
		for (size_t f = 0; f < nf; f++) {
			bool seen = false;
			for (int j = 0; j < nfs - 1; j++) {
				if (fs[j] == (int)f) {
					fnc[f] += v.count;
					seen = true;
				}
			}
			if (seen)
				fcc[f] += v.count;
		}
		ftt[fs[0]] += v.count;
		ett[fs[1] * nf + fs[0]] += v.count;
		for (size_t c = 0; c < nf; c++) {
			for (size_t f = 0; f < nf; f++) {
				bool seen = false;
				for (int j = 0; j + 1 < nfs; j++) {
					if (fs[j + 1] == (int)c && fs[j] == (int)f) {
						enc[c * nf + f] += v.count;
						seen = true;
					}
				}
				if (seen)
					ecc[c * nf + f] += v.count;
			}
		}
	}
	check_root(p, total);
	for (size_t f = 1; f < nf; f++)
		check_func(p, p->funcs[f].file, p->funcs[f].line, p->funcs[f].name, fcc[f], fnc[f],
			   ftt[f]);
	for (size_t c = 0; c < nf; c++) {
		for (size_t f = 0; f < nf; f++) {
			if (enc[c * nf + f] == 0) {
				ck_assert_ptr_null(find_edge(p, (int)c, (int)f));
				continue;
			}
			nedges++;
			check_edge(p, (int)c, (int)f, ecc[c * nf + f], enc[c * nf + f],
				   ett[c * nf + f]);
		}
	}
	ck_assert_uint_eq(p->nedges, nedges);
	free(fcc), free(fnc), free(ftt), free(ecc), free(enc), free(ett);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* ---- the pstats writer ---- */

/* The profile the writer tests use:
 *   1 x main -> a -> b -> a -> b   [0x300 0x200 0x300 0x200 0x100]
 *   2 x main -> c -> inl           [0x500 0x100]
 *   1 x main                       [0x100]
 *            cc nc tt
 *   root      4  4  0
 *   b         1  2  1
 *   a         1  2  0
 *   main      4  4  1
 *   inl       2  2  2
 *   c         2  2  0
 *   root->main 4 4 1, main->a 1 1 0, a->b 1 2 1, b->a 1 1 0,
 *   main->c 2 2 0, c->inl 2 2 2 */
static struct profile *writer_profile(struct stacktab *st)
{
	struct fake_ctx ctx = { 0 };

	STACK(st, 1, 0x300, 0x200, 0x300, 0x200, 0x100);
	STACK(st, 2, 0x500, 0x100);
	STACK(st, 1, 0x100);
	return build(st, &ctx);
}

/* Runs python3 on a script with one argument; returns its exit status and
 * leaves what it printed on our stderr, where Check shows it. */
static int run_python(const char *dir, const char *script, const char *arg)
{
	char *path = xasprintf("%s/check.py", dir), *cmd;
	FILE *f = fopen(path, "w");
	int rc;

	ck_assert_ptr_nonnull(f);
	fputs(script, f);
	ck_assert_int_eq(fclose(f), 0);
	cmd = xasprintf("python3 '%s' '%s' 1>&2", path, arg);
	fflush(stderr);
	rc = system(cmd);
	unlink(path);
	free(path);
	free(cmd);
	return rc == -1 || !WIFEXITED(rc) ? -1 : WEXITSTATUS(rc);
}

/* Files in dir other than . and .., to catch leftover temporary files. */
static int count_entries(const char *dir)
{
	char *cmd = xasprintf("ls -A '%s' | wc -l", dir);
	FILE *p = popen(cmd, "r");
	int n = -1;

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(fscanf(p, "%d", &n), 1);
	pclose(p);
	free(cmd);
	return n;
}

START_TEST(test_writer_find)
{
	ck_assert_ptr_eq(writer_find("prof"), &writer_prof);
	ck_assert_str_eq(writer_prof.ext, ".prof");
	ck_assert_ptr_null(writer_find("nope"));
	ck_assert_ptr_null(writer_find(""));
}
END_TEST

/* Python loads the file with marshal and pstats, finds exactly the table
 * above (times exactly count * (1/100)), re-encodes it to the same bytes,
 * and pstats can print it. */
START_TEST(test_writer_pstats_roundtrip)
{
	static const char script[] =
		"import io, marshal, pstats, sys\n"
		"path = sys.argv[1]\n"
		"raw = open(path, 'rb').read()\n"
		"d = marshal.loads(raw)\n"
		"if marshal.dumps(d, 2) != raw:\n"
		"    sys.exit('not the canonical version-2 encoding')\n"
		"iv = 1.0 / 100\n"
		"R = ('~', 0, '<all samples>')\n"
		"M = ('m.c', 1, 'main'); A = ('m.c', 10, 'a'); B = ('m.c', 20, 'b')\n"
		"C = ('src/caf\\u00e9.c', 30, 'c'); I = ('src/caf\\u00e9.c', 40, '\\u540d\\u524d')\n"
		"def e(cc, nc, tt): return (nc, cc, tt * iv, cc * iv)\n"
		"want = {\n"
		"    R: (4, 4, 0.0, 4 * iv, {}),\n"
		"    B: (1, 2, 1 * iv, 1 * iv, {A: e(1, 2, 1)}),\n"
		"    A: (1, 2, 0.0, 1 * iv, {M: e(1, 1, 0), B: e(1, 1, 0)}),\n"
		"    M: (4, 4, 1 * iv, 4 * iv, {R: e(4, 4, 1)}),\n"
		"    I: (2, 2, 2 * iv, 2 * iv, {C: e(2, 2, 2)}),\n"
		"    C: (2, 2, 0.0, 2 * iv, {M: e(2, 2, 0)}),\n"
		"}\n"
		"if d != want: sys.exit('file: %r\\nwant: %r' % (d, want))\n"
		"if list(d) != [R, B, A, M, I, C]: sys.exit('order %r' % list(d))\n"
		"for v in d.values():\n"
		"    if not all(type(x) is int for x in v[:2]): sys.exit('counts not ints')\n"
		"    if not all(type(x) is float for x in v[2:4]): sys.exit('times not floats')\n"
		"st = pstats.Stats(path, stream=io.StringIO())\n"
		"if st.stats != want: sys.exit('pstats differs: %r' % st.stats)\n"
		"if (st.total_calls, st.prim_calls) != (16, 14):\n"
		"    sys.exit('calls %r/%r' % (st.total_calls, st.prim_calls))\n"
		"st.sort_stats('cumulative').print_stats()\n"
		"st.print_callers(); st.print_callees()\n"
		"out = st.stream.getvalue()\n"
		"if '16 function calls (14 primitive calls)' not in out: sys.exit(out)\n"
		"if 'm.c:20(b)' not in out or '{all samples}' not in out: sys.exit(out)\n";
	char dir[] = "/tmp/sprofd-test-XXXXXX";
	struct stacktab *st = stacktab_new();
	struct profile *p = writer_profile(st);
	struct stat sb;
	char *path;
	mode_t um = umask(022);

	umask(um);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	path = xasprintf("%s/out.prof", dir);
	ck_assert_uint_eq(p->nfuncs, 6);
	ck_assert_int_eq(writer_write_file(&writer_prof, p, path), 0);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0644 & ~um);
	ck_assert_int_eq(count_entries(dir), 1);
	ck_assert_int_eq(run_python(dir, script, path), 0);

	/* Writing again replaces the file whole. */
	ck_assert_int_eq(writer_write_file(&writer_prof, p, path), 0);
	ck_assert_int_eq(count_entries(dir), 1);
	ck_assert_int_eq(run_python(dir, script, path), 0);

	unlink(path);
	rmdir(dir);
	free(path);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* Runs writer_write_file with stderr sent to a file; returns the result
 * and sets *log to what was logged. */
static int write_logged(const struct writer *w, const struct profile *p, const char *path,
			char **log, int *err)
{
	char logpath[] = "/tmp/sprofd-log-XXXXXX";
	int fd = mkstemp(logpath), saved, rc;
	FILE *f;
	size_t cap = 0, len = 0;
	int c;

	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	rc = writer_write_file(w, p, path);
	*err = errno;
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	f = fopen(logpath, "r");
	ck_assert_ptr_nonnull(f);
	*log = NULL;
	while ((c = fgetc(f)) != EOF) {
		xgrow((void **)log, &cap, len + 2, 1);
		(*log)[len++] = (char)c;
	}
	xgrow((void **)log, &cap, len + 1, 1);
	(*log)[len] = '\0';
	fclose(f);
	unlink(logpath);
	return rc;
}

static int lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

START_TEST(test_writer_no_dir)
{
	char dir[] = "/tmp/sprofd-test-XXXXXX";
	struct stacktab *st = stacktab_new();
	struct profile *p = writer_profile(st);
	char *path, *log;
	int err;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	path = xasprintf("%s/missing/out.prof", dir);
	ck_assert_int_eq(write_logged(&writer_prof, p, path, &log, &err), -1);
	ck_assert_int_eq(err, ENOENT);
	ck_assert_ptr_nonnull(strstr(log, path));
	ck_assert_ptr_nonnull(strstr(log, strerror(ENOENT)));
	ck_assert_int_eq(lines(log), 1);
	ck_assert_int_eq(count_entries(dir), 0);
	free(log);
	free(path);
	rmdir(dir);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* A read-only directory: as root the permission check would pass, so the
 * write runs in a child that has dropped to nobody. */
START_TEST(test_writer_readonly_dir)
{
	char dir[] = "/tmp/sprofd-test-XXXXXX";
	struct stacktab *st = stacktab_new();
	struct profile *p = writer_profile(st);
	char *path;
	pid_t pid;
	int status;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0555), 0);
	path = xasprintf("%s/out.prof", dir);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int rc = 10, devnull = open("/dev/null", O_WRONLY);

		dup2(devnull, 2);   /* the expected complaint */
		if (geteuid() != 0 || (setgid(65534) == 0 && setuid(65534) == 0)) {
			rc = writer_write_file(&writer_prof, p, path);
			rc = rc == -1 && errno == EACCES ? 0 : 11;
		}
		/* Free all, so a leak checker following the fork stays quiet. */
		free(path);
		profile_free(p);
		stacktab_free(st);
		_exit(rc);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	ck_assert_int_eq(count_entries(dir), 0);
	chmod(dir, 0700);
	rmdir(dir);
	free(path);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

static int failing_write(const struct profile *p, FILE *f)
{
	fputs("partial", f);
	errno = ENOSPC;
	return -1;
}

static const struct writer failing_writer = { "fail", ".fail", failing_write };

/* Failures after the temporary file exists: the rename target is a
 * directory, or the format fails half way. The temporary file goes, the
 * old file at path stays untouched. */
START_TEST(test_writer_cleanup)
{
	char dir[] = "/tmp/sprofd-test-XXXXXX";
	struct stacktab *st = stacktab_new();
	struct profile *p = writer_profile(st);
	char *path, *sub, *log, buf[16] = "";
	int err, fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	sub = xasprintf("%s/sub", dir);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	path = xasprintf("%s/keep", sub);   /* sub is not empty */
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
	free(path);
	ck_assert_int_eq(write_logged(&writer_prof, p, sub, &log, &err), -1);
	ck_assert_ptr_nonnull(strstr(log, sub));
	ck_assert_int_eq(lines(log), 1);
	ck_assert_int_eq(count_entries(dir), 1);      /* only sub */
	free(log);

	path = xasprintf("%s/out.prof", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	ck_assert_int_eq(write(fd, "old", 3), 3);
	close(fd);
	ck_assert_int_eq(write_logged(&failing_writer, p, path, &log, &err), -1);
	ck_assert_int_eq(err, ENOSPC);
	ck_assert_ptr_nonnull(strstr(log, path));
	ck_assert_ptr_nonnull(strstr(log, strerror(ENOSPC)));
	ck_assert_int_eq(lines(log), 1);
	ck_assert_int_eq(count_entries(dir), 2);      /* sub and out.prof */
	fd = open(path, O_RDONLY);
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), 3);
	close(fd);
	ck_assert_str_eq(buf, "old");
	free(log);

	unlink(path);
	free(path);
	path = xasprintf("%s/keep", sub);
	unlink(path);
	free(path);
	rmdir(sub);
	free(sub);
	rmdir(dir);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* A name near NAME_MAX still works: the temporary name must not be longer
 * than the final one allows. */
START_TEST(test_writer_long_name)
{
	char dir[] = "/tmp/sprofd-test-XXXXXX", base[251];
	struct stacktab *st = stacktab_new();
	struct profile *p = writer_profile(st);
	char *path;
	struct stat sb;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	memset(base, 'x', sizeof(base) - 1);
	base[sizeof(base) - 1] = '\0';
	path = xasprintf("%s/%s", dir, base);
	ck_assert_int_eq(writer_write_file(&writer_prof, p, path), 0);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_gt(sb.st_size, 0);
	ck_assert_int_eq(count_entries(dir), 1);
	unlink(path);
	rmdir(dir);
	free(path);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* No samples, no file: an empty top-level dict is never written. */
START_TEST(test_writer_no_samples)
{
	char dir[] = "/tmp/sprofd-test-XXXXXX";
	struct stacktab *st = stacktab_new();
	struct fake_ctx ctx = { 0 };
	struct profile *p = build(st, &ctx);
	char *path, *log;
	int err;
	FILE *f = tmpfile();

	ck_assert_ptr_nonnull(mkdtemp(dir));
	path = xasprintf("%s/out.prof", dir);
	ck_assert_int_eq(write_logged(&writer_prof, p, path, &log, &err), -1);
	ck_assert_ptr_nonnull(strstr(log, path));
	ck_assert_ptr_nonnull(strstr(log, "no samples"));
	ck_assert_int_eq(lines(log), 1);
	ck_assert_int_eq(count_entries(dir), 0);
	ck_assert_int_eq(writer_prof.write(p, f), -1);
	ck_assert_int_eq(ftell(f), 0);
	fclose(f);
	free(log);
	free(path);
	rmdir(dir);
	profile_free(p);
	stacktab_free(st);
}
END_TEST

/* ---- speed: 50,000 distinct stacks of depth 30 ---- */

struct perf_ctx {
	struct sym_frame *frames;   /* two per pc: [inline, real] or [real, -] */
	int *nframes;
	uint64_t base;
};

static int perf_lookup(void *vctx, uint64_t addr, const struct sym_frame **frames)
{
	struct perf_ctx *c = vctx;
	size_t i = addr - c->base;

	*frames = &c->frames[i * 2];
	return c->nframes[i];
}

enum { SPEED_STACKS = 50000, SPEED_DEPTH = 30, SPEED_PCS = 5000, SPEED_FANOUT = 4 };

/* 5,000 pcs in 1,250 functions (four pcs each; one pc in five also has an
 * inline frame). */
static void perf_init(struct perf_ctx *c, struct strtab *strs)
{
	char name[32];

	c->base = 0x400000;
	c->frames = xcalloc(SPEED_PCS * 2, sizeof(*c->frames));
	c->nframes = xcalloc(SPEED_PCS, sizeof(*c->nframes));
	for (size_t i = 0; i < SPEED_PCS; i++) {
		struct sym_frame *fr = &c->frames[i * 2];

		snprintf(name, sizeof(name), "fn_%zu", i / 4);
		fr[0].func = strtab_intern(strs, name);
		fr[0].file = strtab_intern(strs, i % 8 < 4 ? "src/a.c" : "src/b.c");
		fr[0].line = (int)(i / 4) * 10;
		fr[0].module = "app";
		c->nframes[i] = 1;
		if (i % 5 == 0) {
			fr[1] = fr[0];
			snprintf(name, sizeof(name), "inline_%zu", i);
			fr[0].func = strtab_intern(strs, name);
			fr[0].inlined = true;
			c->nframes[i] = 2;
		}
	}
}

/* Stack i as a walk down a call graph where each function has 4 call
 * sites, each with its own return address: the first 8 levels follow i's
 * base-4 digits (4^8 > 50,000, so all stacks differ), deeper ones a hash;
 * the leaf's pc depends on i. Like a real program: few edges, many
 * stacks. */
static void perf_stack_graph(uint64_t i, uint64_t *pcs)
{
	uint64_t f = 0, digits = i;

	for (int k = 0; k < SPEED_DEPTH; k++) {   /* k = 0 is outermost */
		uint64_t j = k < 8 ? digits % SPEED_FANOUT : hash_u64(i * 64 + (uint64_t)k) % SPEED_FANOUT;
		uint64_t at = k == SPEED_DEPTH - 1 ? hash_u64(i) % 4 : j;

		digits /= k < 8 ? SPEED_FANOUT : 1;
		pcs[SPEED_DEPTH - 1 - k] = 0x400000 + f * 4 + at;
		f = hash_u64(f * 8 + j) % (SPEED_PCS / 4);
	}
}

/* A worst case: stacks share outer frames as in a binary call tree and
 * part at depth 16, but every frame is a random pc, so nearly every
 * adjacent pair of functions is an edge of its own. */
static void perf_stack_random(uint64_t i, uint64_t *pcs)
{
	for (int k = 0; k < SPEED_DEPTH; k++) {
		uint64_t node = k < 16 ? i >> (16 - k) : i;
		pcs[SPEED_DEPTH - 1 - k] = 0x400000 + hash_u64(node * 64 + (uint64_t)k) % SPEED_PCS;
	}
}

/* Builds and writes 50,000 distinct stacks of depth 30 in the given shape;
 * checks the result and prints the times (bench/ reports them; a shared
 * machine is too noisy for a time limit here). */
static void perf_run(const char *shape, void (*gen)(uint64_t, uint64_t *))
{
	struct strtab *strs = strtab_new();
	struct perf_ctx c;
	struct stacktab *st = stacktab_new();
	char dir[] = "/tmp/sprofd-test-XXXXXX";
	uint64_t pcs[SPEED_DEPTH], t0, t1, t2;
	struct profile *p;
	char *path;
	struct stat sb;

	perf_init(&c, strs);
	for (uint64_t i = 0; i < SPEED_STACKS; i++) {
		gen(i, pcs);
		ck_assert_int_eq(stacktab_add(st, pcs, SPEED_DEPTH, 1, false, 1 + i % 3), 1);
	}

	ck_assert_ptr_nonnull(mkdtemp(dir));
	path = xasprintf("%s/big.prof", dir);
	t0 = mono_ns();
	p = profile_build(st, perf_lookup, &c, &test_meta, NULL);
	t1 = mono_ns();
	ck_assert_int_eq(writer_write_file(&writer_prof, p, path), 0);
	t2 = mono_ns();
	ck_assert_int_eq(stat(path, &sb), 0);
	fprintf(stderr, "profile (%s): 50,000 stacks x 30: build %.1f ms (%zu functions, "
		"%zu edges), write %.1f ms (%lld bytes)\n", shape, (double)(t1 - t0) / 1e6,
		p->nfuncs, p->nedges, (double)(t2 - t1) / 1e6, (long long)sb.st_size);
	check_root(p, stacktab_total(st));

	unlink(path);
	rmdir(dir);
	free(path);
	profile_free(p);
	stacktab_free(st);
	free(c.frames);
	free(c.nframes);
	strtab_free(strs);
}

/* The aim is well under 100 ms; the bound leaves room for a loaded host. */
START_TEST(test_profile_speed_graph)
{
	perf_run("call graph", perf_stack_graph);
}
END_TEST

START_TEST(test_profile_speed_random)
{
	perf_run("random edges", perf_stack_random);
}
END_TEST

Suite *suite_profile(void)
{
	Suite *s = suite_create("profile");
	TCase *tc = tcase_create("build");
	TCase *wr = tcase_create("writer");
	TCase *sp = tcase_create("speed");

	/* Large profiles: tagged so that a run under valgrind can leave
	 * them out (CK_EXCLUDE_TAGS=large). */
	tcase_set_tags(sp, "large");

	tcase_add_test(tc, test_profile_plain);
	tcase_add_test(tc, test_profile_direct_recursion);
	tcase_add_test(tc, test_profile_mutual_recursion);
	tcase_add_test(tc, test_profile_inline);
	tcase_add_test(tc, test_profile_merge);
	tcase_add_test(tc, test_profile_unknown_and_root_edges);
	tcase_add_test(tc, test_profile_empty);
	tcase_add_test(tc, test_profile_brute_force);
	suite_add_tcase(s, tc);

	tcase_add_test(wr, test_writer_find);
	tcase_add_test(wr, test_writer_pstats_roundtrip);
	tcase_add_test(wr, test_writer_no_dir);
	tcase_add_test(wr, test_writer_readonly_dir);
	tcase_add_test(wr, test_writer_cleanup);
	tcase_add_test(wr, test_writer_long_name);
	tcase_add_test(wr, test_writer_no_samples);
	tcase_set_timeout(wr, 60);
	suite_add_tcase(s, wr);

	tcase_add_test(sp, test_profile_speed_graph);
	tcase_add_test(sp, test_profile_speed_random);
	tcase_set_timeout(sp, 300);
	suite_add_tcase(s, sp);
	return s;
}
