/* pyelf.c: the interpreter's object file and version (see pyelf.h). */
#include "pyelf.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "maps.h"
#include "util.h"

bool pyelf_in(const struct pyrange *r, int n, uint64_t addr)
{
	for (int i = 0; i < n; i++)
		if (addr >= r[i].lo && addr < r[i].hi)
			return true;
	return false;
}

/* 3.X from a name "libpython3.X..." or "python3.X...", or 0. */
static unsigned minor_from_name(const char *path)
{
	const char *b = strrchr(path, '/');
	unsigned minor = 0;

	b = b ? b + 1 : path;
	if (strncmp(b, "lib", 3) == 0)
		b += 3;
	if (strncmp(b, "python3.", 8) != 0)
		return 0;
	for (b += 8; *b >= '0' && *b <= '9' && minor < 100; b++)
		minor = minor * 10 + (unsigned)(*b - '0');
	return minor;
}

static bool is_libpython(const char *path)
{
	const char *b = strrchr(path, '/');

	b = b ? b + 1 : path;
	return strncmp(b, "libpython3.", 11) == 0 && strstr(b, ".so") != NULL;
}

static int read_mem(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)addr, len };

	return process_vm_readv(pid, &l, 1, &r, 1, 0) == (ssize_t)len ? 0 : -1;
}

struct elfsyms {
	uint64_t runtime, py_version, code_type, runtime_sec;
	struct pyrange eval[PYELF_MAX_RANGES];
	int neval;
	uint64_t first_load;   /* first PT_LOAD p_vaddr, aligned down */
	bool have_load;
};

/* Looks for the symbols in one symbol table. */
static void scan_symtab(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh, struct elfsyms *o)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	size_t n;

	if (!d || sh->sh_entsize == 0)
		return;
	n = sh->sh_size / sh->sh_entsize;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym sym;
		const char *name;

		if (!gelf_getsym(d, (int)i, &sym) || sym.st_value == 0 ||
		    sym.st_shndx == SHN_UNDEF)
			continue;
		name = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (!name || (name[0] != '_' && name[0] != 'P'))
			continue;
		if (strcmp(name, "_PyRuntime") == 0) {
			o->runtime = sym.st_value;
		} else if (strcmp(name, "Py_Version") == 0) {
			o->py_version = sym.st_value;
		} else if (strcmp(name, "PyCode_Type") == 0) {
			o->code_type = sym.st_value;
		} else if (strncmp(name, "_PyEval_EvalFrameDefault", 24) == 0 &&
			   (name[24] == '\0' || strncmp(name + 24, ".cold", 5) == 0) &&
			   sym.st_size > 0) {
			bool dup = false;

			for (int k = 0; k < o->neval; k++)
				dup |= o->eval[k].lo == sym.st_value;
			if (!dup && o->neval < PYELF_MAX_RANGES)
				o->eval[o->neval++] = (struct pyrange){ sym.st_value,
									sym.st_value + sym.st_size };
		}
	}
}

/* Reads what pyelf needs from the ELF file at path. */
static int read_elf(const char *path, struct elfsyms *o, char *why, size_t whylen)
{
	Elf *elf;
	Elf_Scn *scn = NULL;
	size_t shstrndx, nph;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || elf_getshdrstrndx(elf, &shstrndx) < 0 ||
	    elf_getphdrnum(elf, &nph) < 0) {
		snprintf(why, whylen, "%s: not a readable ELF file: %s", path, elf_errmsg(-1));
		if (elf)
			elf_end(elf);
		close(fd);
		return -1;
	}
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD) {
			uint64_t align = ph.p_align > 1 ? ph.p_align : 1;
			o->first_load = ph.p_vaddr & ~(align - 1);
			o->have_load = true;
			break;
		}
	}
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB || sh.sh_type == SHT_DYNSYM) {
			scan_symtab(elf, scn, &sh, o);
		} else if ((name = elf_strptr(elf, shstrndx, sh.sh_name)) &&
			   strcmp(name, ".PyRuntime") == 0) {
			o->runtime_sec = sh.sh_addr;
		}
	}
	elf_end(elf);
	close(fd);
	return 0;
}

int pyelf_find(pid_t pid, struct pyelf *e, char *why, size_t whylen)
{
	struct maps *mp = maps_read(pid);
	struct elfsyms s = { 0 };
	char exe[PATH_MAX], file[PATH_MAX + 64];
	const char *obj = NULL;
	uint64_t base = 0, bias;
	bool have_base = false;
	ssize_t n;
	int rc = 0;

	memset(e, 0, sizeof(*e));
	why[0] = '\0';
	if (!mp)
		return 0;
	for (size_t i = 0; i < mp->n && !obj; i++)
		if (is_libpython(mp->v[i].path))
			obj = mp->v[i].path;
	if (!obj) {
		snprintf(file, sizeof(file), "/proc/%d/exe", (int)pid);
		n = readlink(file, exe, sizeof(exe) - 1);
		if (n <= 0)
			goto out;
		exe[n] = '\0';
		if (n > 10 && strcmp(exe + n - 10, " (deleted)") == 0)
			exe[n - 10] = '\0';
		obj = exe;
	}
	snprintf(e->path, sizeof(e->path), "%s", obj);
	for (size_t i = 0; i < mp->n; i++) {
		const struct map_entry *m = &mp->v[i];

		if (strcmp(m->path, e->path) != 0)
			continue;
		if (m->pgoff == 0 && !have_base) {
			base = m->start;
			have_base = true;
		}
		if (m->x && e->ntext < PYELF_MAX_RANGES)
			e->text[e->ntext++] = (struct pyrange){ m->start, m->end };
	}
	snprintf(file, sizeof(file), "/proc/%d/root%s", (int)pid, e->path);
	if (!have_base || read_elf(file, &s, why, whylen) < 0)
		goto out;
	if (!s.runtime)
		s.runtime = s.runtime_sec;
	if (!s.runtime || !s.have_load)
		goto out;   /* no interpreter in this program */
	rc = -1;
	bias = base - s.first_load;
	e->runtime = s.runtime + bias;
	e->code_type = s.code_type ? s.code_type + bias : 0;
	for (int i = 0; i < s.neval; i++)
		e->eval[i] = (struct pyrange){ s.eval[i].lo + bias, s.eval[i].hi + bias };
	e->neval = s.neval;
	e->major = 3;
	e->minor = minor_from_name(e->path);
	{
		uint8_t dbg[24];
		uint64_t v = 0;

		if (read_mem(pid, e->runtime, dbg, sizeof(dbg)) == 0 &&
		    memcmp(dbg, "xdebugpy", 8) == 0) {
			memcpy(&v, dbg + 8, 8);
			e->debug_offsets = true;
		} else if (s.py_version && read_mem(pid, s.py_version + bias, &v, 8) < 0) {
			v = 0;
		}
		if (v && (v >> 24) == 3) {
			e->hexversion = v;
			e->minor = (unsigned)((v >> 16) & 0xff);
			e->micro = (unsigned)((v >> 8) & 0xff);
		}
	}
	if (!e->minor) {
		snprintf(why, whylen, "%s holds a Python interpreter of unknown version", e->path);
		goto out;
	}
	if (!e->neval) {
		snprintf(why, whylen, "%s: no _PyEval_EvalFrameDefault symbol", e->path);
		goto out;
	}
	rc = 1;
out:
	maps_free(mp);
	return rc;
}
