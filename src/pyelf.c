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
	uint64_t version_text;   /* <= 3.10: Py_GetVersion's static buffer */
	struct pyrange eval[PYELF_MAX_RANGES];
	int neval;
	uint64_t first_load;   /* first PT_LOAD p_vaddr, aligned down */
	bool have_load;
	bool have_cold;        /* a _PyEval_EvalFrameDefault.cold symbol */
};

/* An FDE this large reached by a jump out of the eval loop is its cold
 * part (no helper function of the interpreter is nearly this big). */
#define COLD_MIN 16384

#define PY_VERSION_TEXT 250

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
		/* Py_GetVersion's "static char version[250]", which it fills
		 * when the interpreter starts: a local symbol, "version.0". */
		if (name && strncmp(name, "version", 7) == 0 && (name[7] == '\0' || name[7] == '.') &&
		    sym.st_size == PY_VERSION_TEXT && GELF_ST_TYPE(sym.st_info) == STT_OBJECT) {
			o->version_text = sym.st_value;
			continue;
		}
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

			if (name[24] == '.')
				o->have_cold = true;
			for (int k = 0; k < o->neval; k++)
				dup |= o->eval[k].lo == sym.st_value;
			if (!dup && o->neval < PYELF_MAX_RANGES)
				o->eval[o->neval++] = (struct pyrange){ sym.st_value,
									sym.st_value + sym.st_size };
		}
	}
}

/* Finds the cold part of the eval loop when no symbol names it: Debian's
 * PGO+LTO executables export only a small hot _PyEval_EvalFrameDefault and
 * keep the opcode bodies in a local .cold part that stripping leaves
 * unnamed, where every eval-loop pc of a native stack then lies. The hot
 * part jumps into it (rel32 jmp and jcc); the range is that of the
 * unwind-table (.eh_frame_hdr) entry that holds the target, for the cold
 * part has its own: from its start to the next entry's. */
static void find_cold(Elf *elf, size_t shstrndx, struct elfsyms *o)
{
	struct pyrange hot = o->eval[0];
	Elf_Scn *scn = NULL;
	const uint8_t *b = NULL, *hdr = NULL;
	size_t n = 0, hdrlen = 0;
	uint64_t hdr_addr = 0;
	uint32_t count;

	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		const char *name;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    !(d = elf_getdata(scn, NULL)) || d->d_size < sh.sh_size)
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (name && strcmp(name, ".eh_frame_hdr") == 0) {
			hdr = d->d_buf;
			hdrlen = sh.sh_size;
			hdr_addr = sh.sh_addr;
		} else if ((sh.sh_flags & SHF_EXECINSTR) && hot.lo >= sh.sh_addr &&
			   hot.hi <= sh.sh_addr + sh.sh_size) {
			b = (const uint8_t *)d->d_buf + (hot.lo - sh.sh_addr);
			n = (size_t)(hot.hi - hot.lo);
		}
	}
	/* Only the usual encoding: a 4-byte count, then sorted pairs of
	 * 4-byte offsets from the header (DW_EH_PE_datarel | sdata4). */
	if (!b || !hdr || hdrlen < 12 || hdr[0] != 1 || hdr[2] != 0x03 || hdr[3] != 0x3b)
		return;
	memcpy(&count, hdr + 8, 4);
	if (count < 2 || count > (hdrlen - 12) / 8)
		return;
	for (size_t i = 0; i + 6 <= n && o->neval < PYELF_MAX_RANGES; i++) {
		int32_t rel, at;
		uint64_t t, s, e;
		uint32_t lo = 0, hi = count;
		bool dup = false;

		if (b[i] == 0xe9) {
			memcpy(&rel, b + i + 1, 4);
			t = hot.lo + i + 5 + (uint64_t)(int64_t)rel;
		} else if (b[i] == 0x0f && b[i + 1] >= 0x80 && b[i + 1] <= 0x8f) {
			memcpy(&rel, b + i + 2, 4);
			t = hot.lo + i + 6 + (uint64_t)(int64_t)rel;
		} else {
			continue;
		}
		if (t >= hot.lo && t < hot.hi)
			continue;
		for (int k = 0; k < o->neval; k++)
			dup |= t >= o->eval[k].lo && t < o->eval[k].hi;
		if (dup)
			continue;
		/* The last entry that starts at or before t. */
		while (hi - lo > 1) {
			uint32_t mid = lo + (hi - lo) / 2;
			memcpy(&at, hdr + 12 + (size_t)mid * 8, 4);
			if (hdr_addr + (uint64_t)(int64_t)at <= t)
				lo = mid;
			else
				hi = mid;
		}
		if (lo + 1 >= count)
			continue;
		memcpy(&at, hdr + 12 + (size_t)lo * 8, 4);
		s = hdr_addr + (uint64_t)(int64_t)at;
		memcpy(&at, hdr + 12 + (size_t)(lo + 1) * 8, 4);
		e = hdr_addr + (uint64_t)(int64_t)at;
		if (s <= t && e > t && e - s >= COLD_MIN && (e <= hot.lo || s >= hot.hi))
			o->eval[o->neval++] = (struct pyrange){ s, e };
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
	if (o->neval == 1 && !o->have_cold)
		find_cold(elf, shstrndx, o);
	elf_end(elf);
	close(fd);
	return 0;
}

/* <= 3.10: the micro version from the text Py_GetVersion made ("3.10.13
 * (main, ..."), if the interpreter got that far and the text is of the
 * minor the file name said. */
static void micro_from_text(pid_t pid, uint64_t addr, struct pyelf *e)
{
	char t[24];
	unsigned major, minor, micro;
	int end = 0;

	if (read_mem(pid, addr, t, sizeof(t) - 1) < 0)
		return;
	t[sizeof(t) - 1] = '\0';
	if (sscanf(t, "%u.%u.%u%n", &major, &minor, &micro, &end) == 3 && end > 0 &&
	    major == 3 && minor == e->minor && micro < 100) {
		e->micro = micro;
		e->micro_known = true;
	}
}

int pyelf_find(pid_t pid, struct pyelf *e, char *why, size_t whylen)
{
	struct maps *mp = maps_read(pid);
	struct elfsyms s = { 0 };
	char exe[PATH_MAX], file[PATH_MAX + 64];
	const char *obj = NULL;
	uint64_t base = 0, base_end = 0, bias;
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
			base_end = m->end;
			have_base = true;
		}
		if (m->x && e->ntext < PYELF_MAX_RANGES)
			e->text[e->ntext++] = (struct pyrange){ m->start, m->end };
	}
	if (!have_base)
		goto out;
	/* The mapped file itself, whatever root or mount namespace the target
	 * has: the maps show paths from our root, so a chroot's files are not
	 * at /proc/PID/root + path. */
	snprintf(file, sizeof(file), "/proc/%d/map_files/%llx-%llx", (int)pid,
		 (unsigned long long)base, (unsigned long long)base_end);
	if (read_elf(file, &s, why, whylen) < 0) {
		memset(&s, 0, sizeof(s));
		snprintf(file, sizeof(file), "/proc/%d/root%s", (int)pid, e->path);
		if (read_elf(file, &s, why, whylen) < 0)
			goto out;
	}
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
			e->micro_known = true;
		}
	}
	if (!e->micro_known && e->minor && s.version_text)
		micro_from_text(pid, s.version_text + bias, e);
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
