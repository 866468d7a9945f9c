/* modules.c: executable mappings with build IDs (see modules.h). The build
 * ID is the descriptor of the NT_GNU_BUILD_ID note, found through the
 * program headers, which every loadable ELF file has (section headers may
 * be stripped). */
#include "modules.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "maps.h"
#include "util.h"

#define BUILD_ID_MAX 64   /* bytes; SHA-1 ones have 20 */

/* Looks for the GNU build ID note in one PT_NOTE segment. */
static int note_build_id(Elf *elf, const GElf_Phdr *ph, char *hex, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	Elf_Data *d = elf_getdata_rawchunk(elf, (int64_t)ph->p_offset, ph->p_filesz, ELF_T_NHDR);
	size_t off = 0, name_off, desc_off, next;
	GElf_Nhdr nh;

	if (!d)
		return -1;
	while ((next = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
		const unsigned char *desc = (const unsigned char *)d->d_buf + desc_off;

		off = next;
		if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
		    memcmp((const char *)d->d_buf + name_off, "GNU", 4) != 0)
			continue;
		if (nh.n_descsz == 0 || nh.n_descsz > BUILD_ID_MAX || nh.n_descsz * 2 + 1 > len)
			return -1;
		for (size_t i = 0; i < nh.n_descsz; i++) {
			hex[2 * i] = digits[desc[i] >> 4];
			hex[2 * i + 1] = digits[desc[i] & 15];
		}
		hex[2 * nh.n_descsz] = '\0';
		return 0;
	}
	return -1;
}

int modules_build_id(const char *path, char *hex, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;
	size_t nph = 0;
	Elf *elf;

	if (fd < 0)
		return -1;
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf && elf_kind(elf) == ELF_K_ELF && elf_getphdrnum(elf, &nph) == 0) {
		for (size_t i = 0; i < nph && rc != 0; i++) {
			GElf_Phdr ph;
			if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_NOTE)
				rc = note_build_id(elf, &ph, hex, len);
		}
	}
	elf_end(elf);
	close(fd);
	return rc;
}

struct modules *modules_read(pid_t pid)
{
	struct maps *mp = maps_read(pid);
	struct modules *m;

	if (!mp) {
		log_debug("modules: cannot read /proc/%d/maps: %s", (int)pid, strerror(errno));
		return NULL;
	}
	m = modules_from_maps(pid, mp);
	maps_free(mp);
	return m;
}

struct modules *modules_from_maps(pid_t pid, const struct maps *mp)
{
	struct modules *m;
	size_t cap = 0;
	const char *last_path = NULL, *last_id = "";

	m = xcalloc(1, sizeof(*m));
	m->strs = strtab_new();
	for (size_t i = 0; i < mp->n; i++) {
		const struct map_entry *e = &mp->v[i];
		struct module_map *mm;

		if (!e->x || !e->path[0])
			continue;
		xgrow((void **)&m->v, &cap, m->n + 1, sizeof(*m->v));
		mm = &m->v[m->n++];
		mm->start = e->start;
		mm->limit = e->end;
		mm->offset = e->pgoff;
		mm->path = strtab_intern(m->strs, e->path);
		/* A file mapped twice executable has one ID: read it once. */
		if (mm->path != last_path) {
			char hex[2 * BUILD_ID_MAX + 1], *root;

			last_id = "";
			if (e->path[0] == '/') {
				root = xasprintf("/proc/%d/root%s", (int)pid, e->path);
				if (modules_build_id(root, hex, sizeof(hex)) == 0 ||
				    modules_build_id(e->path, hex, sizeof(hex)) == 0)
					last_id = strtab_intern(m->strs, hex);
				free(root);
			}
			last_path = mm->path;
		}
		mm->build_id = last_id;
	}
	return m;
}

const struct module_map *modules_find(const struct modules *m, uint64_t addr)
{
	size_t lo = 0, hi;

	if (!m)
		return NULL;
	/* The last mapping that starts at or below addr. */
	hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->v[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || addr >= m->v[lo - 1].limit)
		return NULL;
	return &m->v[lo - 1];
}

void modules_free(struct modules *m)
{
	if (!m)
		return;
	free(m->v);
	strtab_free(m->strs);
	free(m);
}
