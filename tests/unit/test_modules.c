/* test_modules.c: the modules table that pprof output names binaries from,
 * built from maps text written here: which mappings count (executable,
 * with a path), their bounds and offsets, the build ID read once per file
 * (this test binary's, checked against its own note) and "" where there is
 * none, and lookups at the edges of each mapping. */
#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maps.h"
#include "modules.h"
#include "suites.h"
#include "util.h"

/* This binary's own build ID as hex, from its program headers in memory;
 * "" if it has none. */
static int own_note(struct dl_phdr_info *info, size_t size, void *data)
{
	char *hex = data;

	if (info->dlpi_name && info->dlpi_name[0])
		return 0;   /* the executable comes first, with no name */
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const char *p, *end;

		if (ph->p_type != PT_NOTE)
			continue;
		p = (const char *)(info->dlpi_addr + ph->p_vaddr);
		end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const void *)p;
			const unsigned char *desc = (const unsigned char *)p + sizeof(*nh) +
						    ((nh->n_namesz + 3) & ~3u);

			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    memcmp(p + sizeof(*nh), "GNU", 4) == 0) {
				for (unsigned j = 0; j < nh->n_descsz; j++)
					sprintf(hex + 2 * j, "%02x", desc[j]);
				return 1;
			}
			p = (const char *)desc + ((nh->n_descsz + 3) & ~3u);
		}
	}
	return 1;
}

START_TEST(test_from_maps)
{
	char self[4096], want[2 * 64 + 1] = "", *text, junk[] = "/tmp/sprofd-modules-XXXXXX";
	const struct module_map *mm;
	struct modules *m;
	struct maps *mp;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int fd;

	ck_assert_int_gt(n, 0);
	self[n] = '\0';
	dl_iterate_phdr(own_note, want);
	ck_assert_msg(strlen(want) >= 16, "this test binary has no build ID note");
	/* A file that is not ELF: no build ID. */
	fd = mkstemp(junk);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "not an ELF file\n", 16), 16);
	close(fd);

	text = xasprintf(
		"00400000-00401000 r--p 00000000 08:01 100 %s\n"
		"00401000-00405000 r-xp 00001000 08:01 100 %s\n"
		"00405000-00406000 rw-p 00005000 08:01 100 %s\n"
		"00500000-00510000 rwxp 00000000 00:00 0 \n"
		"00600000-00601000 r-xp 00000000 08:01 200 %s\n"
		"00700000-00702000 r-xp 00000000 08:01 300 /no/such/lib.so (deleted)\n"
		"00800000-00804000 r-xp 00010000 08:01 100 %s\n"
		"7ffd0000-7ffd2000 r-xp 00000000 00:00 0                          [vdso]\n"
		"7ffe0000-7fff0000 rw-p 00000000 00:00 0                          [stack]\n",
		self, self, self, junk, self);
	mp = maps_parse(text, strlen(text));
	m = modules_from_maps(getpid(), mp);
	maps_free(mp);
	free(text);
	unlink(junk);

	/* Executable and named only: not the data, the anonymous rwx, the stack. */
	ck_assert_uint_eq(m->n, 5);
	ck_assert_uint_eq(m->v[0].start, 0x401000);
	ck_assert_uint_eq(m->v[0].limit, 0x405000);
	ck_assert_uint_eq(m->v[0].offset, 0x1000);
	ck_assert_str_eq(m->v[0].path, self);
	ck_assert_str_eq(m->v[0].build_id, want);
	ck_assert_str_eq(m->v[1].path, junk);
	ck_assert_str_eq(m->v[1].build_id, "");
	ck_assert_str_eq(m->v[2].path, "/no/such/lib.so");
	ck_assert_str_eq(m->v[2].build_id, "");
	/* The same file mapped again: the same ID, the same string. */
	ck_assert_uint_eq(m->v[3].offset, 0x10000);
	ck_assert_ptr_eq(m->v[3].path, m->v[0].path);
	ck_assert_str_eq(m->v[3].build_id, want);
	ck_assert_str_eq(m->v[4].path, "[vdso]");
	ck_assert_str_eq(m->v[4].build_id, "");

	/* Lookups: start in, limit out, gaps and data mappings out. */
	ck_assert_ptr_eq(modules_find(m, 0x401000), &m->v[0]);
	ck_assert_ptr_eq(modules_find(m, 0x404fff), &m->v[0]);
	ck_assert_ptr_null(modules_find(m, 0x405000));
	ck_assert_ptr_null(modules_find(m, 0x400fff));
	ck_assert_ptr_null(modules_find(m, 0x500000));
	ck_assert_ptr_null(modules_find(m, 0));
	ck_assert_ptr_eq(modules_find(m, 0x803fff), &m->v[3]);
	ck_assert_ptr_eq(modules_find(m, 0x7ffd1000), &m->v[4]);
	ck_assert_ptr_null(modules_find(m, 0x7ffe8000));
	ck_assert_ptr_null(modules_find(m, UINT64_MAX));
	ck_assert_ptr_null(modules_find(NULL, 0x401000));
	mm = modules_find(m, 0x600000);
	ck_assert_ptr_nonnull(mm);
	ck_assert_str_eq(mm->path, junk);
	modules_free(m);
	modules_free(NULL);
}
END_TEST

/* Nothing executable: an empty table, not NULL; lookups find nothing. */
START_TEST(test_none)
{
	static const char text[] = "00400000-00401000 r--p 00000000 08:01 100 /bin/true\n"
				   "garbage line\n";
	struct maps *mp = maps_parse(text, sizeof(text) - 1);
	struct modules *m = modules_from_maps(getpid(), mp);

	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->n, 0);
	ck_assert_ptr_null(modules_find(m, 0x400000));
	modules_free(m);
	maps_free(mp);
}
END_TEST

/* The real thing: this process's own table holds this binary, with the ID
 * its note has, at the address of this very function. */
START_TEST(test_read_self)
{
	char want[2 * 64 + 1] = "";
	struct modules *m = modules_read(getpid());
	const struct module_map *mm;

	ck_assert_ptr_nonnull(m);
	dl_iterate_phdr(own_note, want);
	mm = modules_find(m, (uint64_t)(uintptr_t)test_read_self_fn);
	ck_assert_ptr_nonnull(mm);
	ck_assert_str_eq(mm->build_id, want);
	modules_free(m);
	ck_assert_ptr_null(modules_read(0));
}
END_TEST

Suite *suite_modules(void)
{
	Suite *s = suite_create("modules");
	TCase *tc = tcase_create("modules");

	tcase_add_test(tc, test_from_maps);
	tcase_add_test(tc, test_none);
	tcase_add_test(tc, test_read_self);
	suite_add_tcase(s, tc);
	return s;
}
