/* test_maps.c: /proc/PID/maps parsing on hand-written text (every field,
 * odd paths, escaped newlines, malformed lines), address lookup at the
 * edges of mappings, and maps_read on this very process, with files whose
 * names the kernel escapes or does not. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "maps.h"
#include "suites.h"
#include "tracee_helper.h"

/* A function of this file to look for in the maps. */
int maps_test_fn(int x);

__attribute__((noinline, noclone)) int maps_test_fn(int x)
{
	return x * 3 + 1;
}

/* Parses a NUL-terminated string. */
static struct maps *parse(const char *text)
{
	return maps_parse(text, strlen(text));
}

/* Asserts the fields of one entry. */
static void check_entry(const struct map_entry *e, uint64_t start, uint64_t end,
			const char *perms, uint64_t pgoff, unsigned maj, unsigned min, uint64_t ino,
			const char *path, bool deleted)
{
	ck_assert_uint_eq(e->start, start);
	ck_assert_uint_eq(e->end, end);
	ck_assert_int_eq(e->r, perms[0] == 'r');
	ck_assert_int_eq(e->w, perms[1] == 'w');
	ck_assert_int_eq(e->x, perms[2] == 'x');
	ck_assert_int_eq(e->p, perms[3] == 'p');
	ck_assert_uint_eq(e->pgoff, pgoff);
	ck_assert_uint_eq(e->dev_major, maj);
	ck_assert_uint_eq(e->dev_minor, min);
	ck_assert_uint_eq(e->ino, ino);
	ck_assert_ptr_nonnull(e->path);
	ck_assert_str_eq(e->path, path);
	ck_assert_int_eq(e->deleted, deleted);
}

START_TEST(test_parse_normal)
{
	struct maps *m = parse(
		"55d0c8a00000-55d0c8a02000 r--p 00000000 fd:01 1837421                    /usr/bin/cat\n"
		"55d0c8a02000-55d0c8a07000 r-xp 00002000 fd:01 1837421                    /usr/bin/cat\n"
		"7f1e2c000000-7f1e2c021000 rw-s 0001f000 103:02 18446744073709551615       /dev/shm/x\n"
		"7ffd1b5e1000-7ffd1b602000 rw-p 00000000 00:00 0                          [stack]\n"
		"7ffd1b7f3000-7ffd1b7f5000 r-xp 00000000 00:00 0                          [vdso]\n"
		"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n");

	ck_assert_int_eq(m->n, 6);
	check_entry(&m->v[0], 0x55d0c8a00000, 0x55d0c8a02000, "r--p", 0, 0xfd, 1, 1837421,
		    "/usr/bin/cat", false);
	check_entry(&m->v[1], 0x55d0c8a02000, 0x55d0c8a07000, "r-xp", 0x2000, 0xfd, 1, 1837421,
		    "/usr/bin/cat", false);
	/* Shared, a major above 255 (printed as three hex digits), and the
	 * largest inode. */
	check_entry(&m->v[2], 0x7f1e2c000000, 0x7f1e2c021000, "rw-s", 0x1f000, 0x103, 2,
		    UINT64_MAX, "/dev/shm/x", false);
	check_entry(&m->v[3], 0x7ffd1b5e1000, 0x7ffd1b602000, "rw-p", 0, 0, 0, 0, "[stack]", false);
	check_entry(&m->v[4], 0x7ffd1b7f3000, 0x7ffd1b7f5000, "r-xp", 0, 0, 0, 0, "[vdso]", false);
	/* Sixteen hex digits is the most an address has, and still valid. */
	check_entry(&m->v[5], 0xffffffffff600000, 0xffffffffff601000, "--xp", 0, 0, 0, 0,
		    "[vsyscall]", false);
	maps_free(m);
}
END_TEST

START_TEST(test_parse_paths)
{
	struct maps *m = parse(
		"1000-2000 r-xp 00000000 08:02 11 /opt/my app/lib two.so\n"
		"2000-3000 r-xp 00001000 08:02 12 /tmp/gone.so (deleted)\n"
		"3000-4000 rw-s 00000000 00:01 13 /memfd:jit code (deleted)\n"
		"4000-5000 rw-p 00000000 00:00 0\n"
		"5000-6000 rw-p 00000000 00:00 0              \n"
		"6000-7000 r--p 00000000 08:02 14 /x (deleted) (deleted)\n"
		"7000-8000 r--p 00000000 08:02 15 /srv/(deleted)\n"
		"8000-9000 rw-p 00000000 00:00 0 [anon:my heap]\n");

	ck_assert_int_eq(m->n, 8);
	check_entry(&m->v[0], 0x1000, 0x2000, "r-xp", 0, 8, 2, 11, "/opt/my app/lib two.so", false);
	check_entry(&m->v[1], 0x2000, 0x3000, "r-xp", 0x1000, 8, 2, 12, "/tmp/gone.so", true);
	check_entry(&m->v[2], 0x3000, 0x4000, "rw-s", 0, 0, 1, 13, "/memfd:jit code", true);
	/* Anonymous, with and without the padding older kernels print. */
	check_entry(&m->v[3], 0x4000, 0x5000, "rw-p", 0, 0, 0, 0, "", false);
	check_entry(&m->v[4], 0x5000, 0x6000, "rw-p", 0, 0, 0, 0, "", false);
	/* Only the one suffix the kernel appended is removed. */
	check_entry(&m->v[5], 0x6000, 0x7000, "r--p", 0, 8, 2, 14, "/x (deleted)", true);
	check_entry(&m->v[6], 0x7000, 0x8000, "r--p", 0, 8, 2, 15, "/srv/(deleted)", false);
	check_entry(&m->v[7], 0x8000, 0x9000, "rw-p", 0, 0, 0, 0, "[anon:my heap]", false);
	maps_free(m);
}
END_TEST

/* The kernel writes a newline in a path as \012 and escapes nothing else,
 * not even a backslash: \012 is read as a newline, all else as it is. */
START_TEST(test_parse_escaped)
{
	struct maps *m = parse(
		"1000-2000 r-xp 00000000 08:02 11 /tmp/nl\\012dir/lib A\\012x.so\n"
		"2000-3000 r-xp 00000000 08:02 12 \\012/a\\012\\012b\\012\n"
		"3000-4000 r-xp 00001000 08:02 13 /tmp/gone\\012.so (deleted)\n"
		"4000-5000 r--p 00000000 08:02 14 /srv/back\\slash \\134 \\011 \\01 \\0123 \\\n"
		"5000-6000 r--p 00000000 08:02 15 /x/tab\there sp ace;<&\"> \xff\xc3\xa9\n"
		"6000-7000 r--p 00000000 08:02 16 /y/\\\\012 \\12 \\0012 \\O12\n"
		"7000-8000 r--p 00000000 08:02 17 /z/\\012\n");

	ck_assert_int_eq(m->n, 7);
	check_entry(&m->v[0], 0x1000, 0x2000, "r-xp", 0, 8, 2, 11, "/tmp/nl\ndir/lib A\nx.so", false);
	/* At either end, and one after the other. */
	check_entry(&m->v[1], 0x2000, 0x3000, "r-xp", 0, 8, 2, 12, "\n/a\n\nb\n", false);
	check_entry(&m->v[2], 0x3000, 0x4000, "r-xp", 0x1000, 8, 2, 13, "/tmp/gone\n.so", true);
	/* Other octal escapes are not the kernel's: the name's own text. */
	check_entry(&m->v[3], 0x4000, 0x5000, "r--p", 0, 8, 2, 14,
		    "/srv/back\\slash \\134 \\011 \\01 \n3 \\", false);
	check_entry(&m->v[4], 0x5000, 0x6000, "r--p", 0, 8, 2, 15,
		    "/x/tab\there sp ace;<&\"> \xff\xc3\xa9", false);
	check_entry(&m->v[5], 0x6000, 0x7000, "r--p", 0, 8, 2, 16, "/y/\\\n \\12 \\0012 \\O12", false);
	check_entry(&m->v[6], 0x7000, 0x8000, "r--p", 0, 8, 2, 17, "/z/\n", false);
	maps_free(m);

	/* The text may end inside an escape. */
	m = maps_parse("1000-2000 r-xp 00000000 08:02 1 /a\\012", 37);
	ck_assert_int_eq(m->n, 1);
	ck_assert_str_eq(m->v[0].path, "/a\\01");
	maps_free(m);
}
END_TEST

START_TEST(test_parse_malformed)
{
	/* Every other line is broken in one way; the good ones survive. */
	struct maps *m = parse(
		"garbage\n"
		"1000-2000 r-xp 00000000 08:02 1 /good/one\n"
		"\n"
		"1000-2000\n"
		"1000-2000 r-xp\n"
		"1000-2000 r-xp 00000000\n"
		"1000-2000 r-xp 00000000 08:02\n"
		"1000-2000 r-xp 00000000 0802 1 /no/colon\n"
		"1000 2000 r-xp 00000000 08:02 1 /no/dash\n"
		"-2000 r-xp 00000000 08:02 1 /no/start\n"
		"1000- r-xp 00000000 08:02 1 /no/end\n"
		"2000-2000 r-xp 00000000 08:02 1 /empty/range\n"
		"3000-2000 r-xp 00000000 08:02 1 /backwards\n"
		"10000000000000000-10000000000001000 r-xp 00000000 08:02 1 /17/digits\n"
		"0000000000001000-00000000000020000 r-xp 00000000 08:02 1 /17/digit/end\n"
		"1000-2000 r-xp 000000000000000000 08:02 1 /18/digit/offset\n"
		"zz00-2000 r-xp 00000000 08:02 1 /not/hex\n"
		" 1000-2000 r-xp 00000000 08:02 1 /leading/space\n"
		"3000-4000 rw-p 00001000 08:02 2 /good/two\n");

	ck_assert_int_eq(m->n, 2);
	check_entry(&m->v[0], 0x1000, 0x2000, "r-xp", 0, 8, 2, 1, "/good/one", false);
	check_entry(&m->v[1], 0x3000, 0x4000, "rw-p", 0x1000, 8, 2, 2, "/good/two", false);
	maps_free(m);
}
END_TEST

START_TEST(test_parse_edges)
{
	static const char buf[] = "1000-2000 r-xp 00000000 08:02 1 /lib/abcXYZ\n";
	struct maps *m;

	/* Empty input: a snapshot with no entries, which lookups accept. */
	m = maps_parse("", 0);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(m->n, 0);
	ck_assert_ptr_null(maps_find(m, 0x1000));
	maps_free(m);

	/* No trailing newline on the last line. */
	m = parse("1000-2000 r-xp 00000000 08:02 1 /a\n3000-4000 r--p 00000000 08:02 2 /b");
	ck_assert_int_eq(m->n, 2);
	ck_assert_str_eq(m->v[1].path, "/b");
	maps_free(m);

	/* Text need not be NUL-terminated: len ends the path. */
	m = maps_parse(buf, strlen(buf) - 4);
	ck_assert_int_eq(m->n, 1);
	ck_assert_str_eq(m->v[0].path, "/lib/abc");
	maps_free(m);

	/* Only newlines. */
	m = parse("\n\n\n");
	ck_assert_int_eq(m->n, 0);
	maps_free(m);

	maps_free(NULL);
	ck_assert_ptr_null(maps_find(NULL, 0x1000));
}
END_TEST

START_TEST(test_find)
{
	struct maps *m = parse(
		"1000-3000 r--p 00000000 08:02 1 /a\n"
		"3000-4000 r-xp 00002000 08:02 1 /a\n"
		"6000-7000 rw-p 00000000 00:00 0\n"
		"7000-9000 rw-p 00000000 00:00 0 [stack]\n");
	const struct map_entry *e;

	ck_assert_int_eq(m->n, 4);
	ck_assert_ptr_null(maps_find(m, 0));
	ck_assert_ptr_null(maps_find(m, 0xfff));
	/* start is inclusive, end exclusive. */
	ck_assert_ptr_eq(maps_find(m, 0x1000), &m->v[0]);
	ck_assert_ptr_eq(maps_find(m, 0x2fff), &m->v[0]);
	ck_assert_ptr_eq(maps_find(m, 0x3000), &m->v[1]);
	ck_assert_ptr_eq(maps_find(m, 0x3fff), &m->v[1]);
	/* The gap between 0x4000 and 0x6000. */
	ck_assert_ptr_null(maps_find(m, 0x4000));
	ck_assert_ptr_null(maps_find(m, 0x5fff));
	ck_assert_ptr_eq(maps_find(m, 0x6000), &m->v[2]);
	ck_assert_ptr_eq(maps_find(m, 0x6fff), &m->v[2]);
	e = maps_find(m, 0x7000);
	ck_assert_ptr_eq(e, &m->v[3]);
	ck_assert_str_eq(e->path, "[stack]");
	ck_assert_ptr_eq(maps_find(m, 0x8fff), &m->v[3]);
	/* After the last. */
	ck_assert_ptr_null(maps_find(m, 0x9000));
	ck_assert_ptr_null(maps_find(m, UINT64_MAX));
	maps_free(m);
}
END_TEST

/* Each mapping of a long list is found, whichever way the search goes. */
START_TEST(test_find_many)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct maps *m;
	const int n = 1000;

	ck_assert_ptr_nonnull(f);
	/* Mappings of one page with one-page gaps. */
	for (int i = 0; i < n; i++)
		fprintf(f, "%x-%x rw-p 00000000 00:00 0\n", 0x10000 + i * 0x2000,
			0x10000 + i * 0x2000 + 0x1000);
	fclose(f);
	m = maps_parse(text, len);
	ck_assert_int_eq(m->n, n);
	for (int i = 0; i < n; i++) {
		uint64_t a = 0x10000 + (uint64_t)i * 0x2000;
		ck_assert_ptr_eq(maps_find(m, a), &m->v[i]);
		ck_assert_ptr_eq(maps_find(m, a + 0xfff), &m->v[i]);
		ck_assert_ptr_null(maps_find(m, a + 0x1000));
		ck_assert_ptr_null(maps_find(m, a - 1));
	}
	maps_free(m);
	free(text);
}
END_TEST

START_TEST(test_read_self)
{
	struct maps *m = maps_read(getpid());
	const struct map_entry *e;
	char exe[PATH_MAX];
	volatile int local = maps_test_fn(1);
	size_t del = strlen(" (deleted)");
	ssize_t n;

	ck_assert_ptr_nonnull(m);
	ck_assert_int_gt(m->n, 5);
	for (size_t i = 1; i < m->n; i++)
		ck_assert_uint_le(m->v[i - 1].end, m->v[i].start);

	/* Our code is in an executable mapping of this test binary. */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	if ((size_t)n > del && strcmp(exe + n - del, " (deleted)") == 0)
		exe[n - del] = '\0';
	e = maps_find(m, (uint64_t)(uintptr_t)&maps_test_fn);
	ck_assert_ptr_nonnull(e);
	ck_assert(e->r && e->x && !e->w && e->p);
	ck_assert_str_eq(e->path, exe);
	ck_assert_uint_ne(e->ino, 0);

	/* A stack variable is in a writable mapping. */
	e = maps_find(m, (uint64_t)(uintptr_t)&local);
	ck_assert_ptr_nonnull(e);
	ck_assert(e->r && e->w && !e->x);
	ck_assert_int_eq(local, 4);
	maps_free(m);
}
END_TEST

/* A maps file larger than one read: thousands of mappings, each found
 * with its own permissions. */
START_TEST(test_read_large)
{
	const size_t pages = 3000;
	long pg = sysconf(_SC_PAGESIZE);
	unsigned char *base = mmap(NULL, pages * (size_t)pg, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct maps *m;

	ck_assert_ptr_ne(base, MAP_FAILED);
	/* Alternate permissions so the kernel cannot merge neighbours. */
	for (size_t i = 0; i < pages; i += 2)
		ck_assert_int_eq(mprotect(base + i * (size_t)pg, (size_t)pg, PROT_READ), 0);
	m = maps_read(getpid());
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_ge(m->n, pages);
	for (size_t i = 0; i < pages; i++) {
		uint64_t a = (uint64_t)(uintptr_t)(base + i * (size_t)pg);
		const struct map_entry *e = maps_find(m, a + 8);
		ck_assert_ptr_nonnull(e);
		ck_assert_uint_eq(e->start, a);
		ck_assert_uint_eq(e->end, a + (uint64_t)pg);
		ck_assert_int_eq(e->w, i % 2 == 1);
		ck_assert_str_eq(e->path, "");
	}
	maps_free(m);
	munmap(base, pages * (size_t)pg);
}
END_TEST

/* A file of name (in dir) mapped from a descriptor; returns the address
 * and keeps nothing open. */
static void *map_named(const char *dir, const char *name, char *path, size_t len)
{
	void *p;
	int fd;

	snprintf(path, len, "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 4096), 0);
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	close(fd);
	return p;
}

/* Files named with the bytes that maps escapes and those it does not:
 * maps_read has each name as it is, also where the text alone cannot
 * tell a newline from the four characters "\012" of a name, which
 * maps_parse takes for a newline. */
START_TEST(test_read_escaped)
{
	static const char *const names[] = {
		"nl\nname \\ back\ttab.bin",    /* shown as nl\012name \ back<tab>tab.bin */
		"lit\\012.bin",                  /* shown the same as the next one */
		"lit\n.bin",
		"mix\\012\n\\134.bin",
		"gone\n.bin",                     /* deleted once mapped */
	};
	enum { N = sizeof(names) / sizeof(names[0]) };
	char dir[] = "/tmp/sprofd-maps-XXXXXX", path[N][PATH_MAX], *text = NULL;
	void *addr[N];
	struct maps *m, *guess;
	size_t len = 0;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	for (int i = 0; i < N; i++)
		addr[i] = map_named(dir, names[i], path[i], sizeof(path[i]));
	ck_assert_int_eq(unlink(path[N - 1]), 0);

	m = maps_read(getpid());
	ck_assert_ptr_nonnull(m);
	for (int i = 0; i < N; i++) {
		const struct map_entry *e = maps_find(m, (uint64_t)(uintptr_t)addr[i]);

		ck_assert_ptr_nonnull(e);
		ck_assert_str_eq(e->path, path[i]);
		ck_assert_int_eq(e->deleted, i == N - 1);
	}
	maps_free(m);

	/* The kernel's text: the newline escaped, the backslash not. */
	f = fopen("/proc/self/maps", "re");
	ck_assert_ptr_nonnull(f);
	{
		char buf[65536];
		size_t n;
		FILE *out = open_memstream(&text, &len);

		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			fwrite(buf, 1, n, out);
		fclose(out);
	}
	fclose(f);
	ck_assert_ptr_nonnull(strstr(text, "/nl\\012name \\ back\ttab.bin\n"));
	ck_assert_ptr_nonnull(strstr(text, "/lit\\012.bin\n"));
	guess = maps_parse(text, len);
	for (int i = 0; i < N; i++) {
		const struct map_entry *e = maps_find(guess, (uint64_t)(uintptr_t)addr[i]);

		ck_assert_ptr_nonnull(e);
		if (i == 1 || i == 3) {
			/* Without the process, "\012" is a newline. */
			ck_assert_str_ne(e->path, path[i]);
			ck_assert_ptr_nonnull(strchr(e->path, '\n'));
		} else {
			ck_assert_str_eq(e->path, path[i]);
		}
	}
	maps_free(guess);
	free(text);

	for (int i = 0; i < N; i++) {
		munmap(addr[i], 4096);
		if (i < N - 1)
			ck_assert_int_eq(unlink(path[i]), 0);
	}
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_read_missing)
{
	struct tracee tr;
	int st;

	/* A pid that existed a moment ago, and one that never can. */
	ck_assert_int_eq(tracee_start(&tr, "exit"), 0);
	ck_assert_int_eq(waitpid(tr.pid, &st, 0), tr.pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	errno = 0;
	ck_assert_ptr_null(maps_read(tr.pid));
	ck_assert_int_eq(errno, ENOENT);
	errno = 0;
	ck_assert_ptr_null(maps_read(INT_MAX));
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

Suite *suite_maps(void)
{
	Suite *s = suite_create("maps");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_parse_normal);
	tcase_add_test(tc, test_parse_paths);
	tcase_add_test(tc, test_parse_escaped);
	tcase_add_test(tc, test_parse_malformed);
	tcase_add_test(tc, test_parse_edges);
	tcase_add_test(tc, test_find);
	tcase_add_test(tc, test_find_many);
	suite_add_tcase(s, tc);

	tc = tcase_create("read");
	tcase_add_test(tc, test_read_self);
	tcase_add_test(tc, test_read_large);
	tcase_add_test(tc, test_read_escaped);
	tcase_add_checked_fixture(tc, NULL, tracee_reap_all);
	tcase_add_test(tc, test_read_missing);
	suite_add_tcase(s, tc);
	return s;
}
