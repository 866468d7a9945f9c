/* unwind.c: libunwind over a captured stack, with our own accessors (see
 * unwind.h). The thread is running again while this code reads its copy,
 * so nothing here may touch the live stack.
 *
 * find_proc_info builds a remote-table description of the module's
 * .eh_frame_hdr binary search table and hands it to libunwind's own
 * dwarf_search_unwind_table, which reads the table and the FDEs back
 * through our access_mem, i.e. from the module image mapped here. */
#include "unwind.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <libunwind-ptrace.h>
#include <libunwind.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "capture.h"
#include "log.h"
#include "maps.h"
#include "sigmask.h"
#include "util.h"

/* libunwind exports this but declares it only in its private headers. */
extern int UNW_OBJ(dwarf_search_unwind_table)(unw_addr_space_t as, unw_word_t ip,
					      unw_dyn_info_t *di, unw_proc_info_t *pi,
					      int need_unwind_info, void *arg);

struct seg {
	uint64_t vaddr, filesz, offset;
	bool writable;
};

/* One ELF image: a file mapped read-only, or the vDSO copied once. */
struct module {
	char *path;
	uint64_t dev, ino;
	unsigned char *image;
	size_t size;
	bool mmapped;
	struct seg *segs;
	size_t nsegs;
	uint64_t first_vaddr;      /* lowest PT_LOAD vaddr, page aligned */
	bool has_table;
	uint64_t hdr_vaddr, table_vaddr, fde_count;
	bool usable;               /* parsed as ELF */
};

/* A module as loaded in the target: address range and load bias. */
struct loaded {
	uint64_t lo, hi, bias;
	struct module *mod;
};

struct unwinder {
	pid_t pid;
	struct maps *maps;
	uint64_t maps_time;
	struct loaded *loaded;
	size_t nloaded;
	struct module **mods;      /* cache, owned; survives maps reloads */
	size_t nmods, capmods;
	unw_addr_space_t as;
	unw_addr_space_t upt_as;   /* libunwind-ptrace, for the baseline */
	uint64_t stack_hi;         /* highest stack address read + 1 */
	bool complete;             /* the last walk reached the outermost frame */
	struct unwind_stats st;
};

/* Per-unwind context handed to libunwind's accessors as arg. */
struct uctx {
	struct unwinder *u;
	const struct capture *c;
};

static void module_free(struct module *m)
{
	if (!m)
		return;
	if (m->image) {
		if (m->mmapped)
			munmap(m->image, m->size);
		else
			free(m->image);
	}
	free(m->segs);
	free(m->path);
	free(m);
}

/* Reads len bytes at module vaddr from a read-only segment of the image. */
static bool module_read(const struct module *m, uint64_t vaddr, void *buf, size_t len)
{
	for (size_t i = 0; i < m->nsegs; i++) {
		const struct seg *s = &m->segs[i];
		if (vaddr < s->vaddr || vaddr + len > s->vaddr + s->filesz)
			continue;
		/* Writable segments hold relocated data whose file bytes differ. */
		if (s->writable)
			return false;
		uint64_t off = vaddr - s->vaddr + s->offset;
		if (off + len > m->size)
			return false;
		memcpy(buf, m->image + off, len);
		return true;
	}
	return false;
}

/* Finds PT_LOAD segments and the .eh_frame_hdr search table. */
static void module_parse(struct module *m)
{
	Elf *elf = elf_memory((char *)m->image, m->size);
	size_t nph = 0;
	uint64_t hdr = 0;
	bool have_hdr = false;

	if (!elf)
		return;
	if (elf_kind(elf) != ELF_K_ELF || elf_getphdrnum(elf, &nph) != 0)
		goto out;
	m->first_vaddr = UINT64_MAX;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(elf, (int)i, &ph))
			continue;
		if (ph.p_type == PT_LOAD) {
			struct seg s = { ph.p_vaddr, ph.p_filesz, ph.p_offset, (ph.p_flags & PF_W) != 0 };
			m->segs = xrealloc(m->segs, (m->nsegs + 1) * sizeof(*m->segs));
			m->segs[m->nsegs++] = s;
			uint64_t a = ph.p_vaddr & ~(uint64_t)(ph.p_align > 1 ? ph.p_align - 1 : 0);
			if (a < m->first_vaddr)
				m->first_vaddr = a;
		} else if (ph.p_type == PT_GNU_EH_FRAME) {
			hdr = ph.p_vaddr;
			have_hdr = true;
		}
	}
	if (m->nsegs == 0)
		goto out;
	m->usable = true;
	if (have_hdr) {
		unsigned char h[12];
		uint32_t count;
		/* version 1; eh_frame_ptr pcrel|sdata4; fde_count udata4;
		 * table datarel|sdata4: the layout every toolchain emits. */
		if (module_read(m, hdr, h, sizeof(h)) && h[0] == 1 && h[2] == 0x03 &&
		    h[3] == 0x3b && (h[1] & 0x0f) == 0x0b) {
			memcpy(&count, h + 8, 4);
			m->has_table = count > 0;
			m->hdr_vaddr = hdr;
			m->table_vaddr = hdr + 12;
			m->fde_count = count;
		}
	}
out:
	elf_end(elf);
}

/* Maps the file of mapping e, preferring /proc/PID/map_files (the very
 * inode mapped, even if the path was replaced or deleted). */
static struct module *module_open(struct unwinder *u, const struct map_entry *e)
{
	char p[96];
	struct stat sb;
	struct module *m;
	void *img;
	int fd;

	snprintf(p, sizeof(p), "/proc/%d/map_files/%lx-%lx", (int)u->pid,
		 (unsigned long)e->start, (unsigned long)e->end);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		/* Without map_files (it needs CAP_SYS_ADMIN), the path as the
		 * target sees it: through its root, so a process in another
		 * mount namespace never gets our file of the same name. */
		char *rp = xasprintf("/proc/%d/root%s", (int)u->pid, e->path);
		fd = open(rp, O_RDONLY | O_CLOEXEC);
		free(rp);
	}
	if (fd < 0)
		return NULL;
	/* A file replaced since it was mapped is not the code that runs. */
	if (fstat(fd, &sb) < 0 || sb.st_size <= 0 || sb.st_ino != e->ino) {
		close(fd);
		return NULL;
	}
	img = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (img == MAP_FAILED)
		return NULL;
	m = xcalloc(1, sizeof(*m));
	m->path = xstrdup(e->path);
	m->dev = ((uint64_t)e->dev_major << 32) | e->dev_minor;
	m->ino = e->ino;
	m->image = img;
	m->size = (size_t)sb.st_size;
	m->mmapped = true;
	module_parse(m);
	return m;
}

/* Copies the vDSO out of the target once: it is an ELF image in memory. */
static struct module *module_vdso(struct unwinder *u, const struct map_entry *e)
{
	size_t len = (size_t)(e->end - e->start);
	struct iovec l, r;
	struct module *m = xcalloc(1, sizeof(*m));

	m->path = xstrdup(e->path);
	m->image = xmalloc(len);
	m->size = len;
	l.iov_base = m->image;
	l.iov_len = len;
	r.iov_base = (void *)(uintptr_t)e->start;
	r.iov_len = len;
	if (process_vm_readv(u->pid, &l, 1, &r, 1, 0) != (ssize_t)len) {
		module_free(m);
		return NULL;
	}
	module_parse(m);
	return m;
}

static struct module *module_get(struct unwinder *u, const struct map_entry *e)
{
	bool vdso = strcmp(e->path, "[vdso]") == 0;
	uint64_t dev = ((uint64_t)e->dev_major << 32) | e->dev_minor;
	struct module *m;

	if (!vdso) {
		for (size_t i = 0; i < u->nmods; i++) {
			m = u->mods[i];
			if (m->ino == e->ino && m->dev == dev && strcmp(m->path, e->path) == 0)
				return m->usable ? m : NULL;
		}
	}
	m = vdso ? module_vdso(u, e) : module_open(u, e);
	if (!m)
		return NULL;
	if (vdso) {
		/* The vDSO is per process and never changes: keep one. */
		for (size_t i = 0; i < u->nmods; i++) {
			if (strcmp(u->mods[i]->path, "[vdso]") == 0) {
				module_free(u->mods[i]);
				u->mods[i] = m;
				return m->usable ? m : NULL;
			}
		}
	}
	xgrow((void **)&u->mods, &u->capmods, u->nmods + 1, sizeof(*u->mods));
	u->mods[u->nmods++] = m;
	return m->usable ? m : NULL;
}

/* Rebuilds the table of loaded modules from the maps snapshot. */
static void build_loaded(struct unwinder *u)
{
	size_t cap = 0;

	free(u->loaded);
	u->loaded = NULL;
	u->nloaded = 0;
	for (size_t i = 0; i < u->maps->n; i++) {
		const struct map_entry *e = &u->maps->v[i];
		bool vdso = strcmp(e->path, "[vdso]") == 0;
		struct module *m;
		size_t j;

		if (!vdso && e->path[0] != '/')
			continue;
		/* The first mapping of a file gives the load bias; the following
		 * ones of the same file extend its range. */
		for (j = i + 1; j < u->maps->n; j++) {
			const struct map_entry *f = &u->maps->v[j];
			if (vdso || f->ino != e->ino || strcmp(f->path, e->path) != 0 ||
			    f->pgoff < e->pgoff)
				break;
		}
		m = module_get(u, e);
		if (m) {
			struct loaded l;
			l.lo = e->start;
			l.hi = u->maps->v[j - 1].end;
			l.bias = e->start - e->pgoff - m->first_vaddr;
			if (vdso)
				l.bias = e->start - m->first_vaddr;
			else {
				/* bias = load address - vaddr of the segment at this offset */
				for (size_t k = 0; k < m->nsegs; k++) {
					uint64_t segoff = m->segs[k].offset & ~(uint64_t)4095;
					if (segoff == e->pgoff) {
						l.bias = e->start - (m->segs[k].vaddr & ~(uint64_t)4095);
						break;
					}
				}
			}
			l.mod = m;
			xgrow((void **)&u->loaded, &cap, u->nloaded + 1, sizeof(*u->loaded));
			u->loaded[u->nloaded++] = l;
		}
		i = j - 1;
	}
}

static const struct loaded *loaded_find(const struct unwinder *u, uint64_t addr)
{
	size_t lo = 0, hi = u->nloaded;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct loaded *l = &u->loaded[mid];
		if (addr < l->lo)
			hi = mid;
		else if (addr >= l->hi)
			lo = mid + 1;
		else
			return l;
	}
	return NULL;
}

bool unwinder_refresh_maps(struct unwinder *u, uint64_t min_interval_ns)
{
	uint64_t now = mono_ns();
	struct maps *m;

	if (min_interval_ns && now - u->maps_time < min_interval_ns)
		return false;
	u->maps_time = now;
	m = maps_read(u->pid);
	if (!m)
		return false;
	maps_free(u->maps);
	u->maps = m;
	build_loaded(u);
	u->st.maps_reloads++;
	/* Cached unwind rules may describe code that is no longer there. */
	unw_flush_cache(u->as, 0, 0);
	return true;
}

/* ---- libunwind accessors ---- */

static int acc_find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi,
			      int need_unwind_info, void *arg)
{
	struct uctx *x = arg;
	struct unwinder *u = x->u;
	const struct loaded *l = loaded_find(u, ip);
	unw_dyn_info_t di;

	if (!l) {
		/* Maybe a library loaded since the last snapshot: re-read soon,
		 * but not on every sample of code that has no module. */
		if (unwinder_refresh_maps(u, 100000000ull))
			l = loaded_find(u, ip);
		if (!l)
			return -UNW_ENOINFO;
	}
	if (!l->mod->has_table)
		return -UNW_ENOINFO;
	memset(&di, 0, sizeof(di));
	di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
	di.start_ip = l->lo;
	di.end_ip = l->hi;
	di.u.rti.segbase = l->bias + l->mod->hdr_vaddr;
	di.u.rti.table_data = l->bias + l->mod->table_vaddr;
	/* In words; each table entry is two 32-bit offsets = one word. */
	di.u.rti.table_len = l->mod->fde_count * 8 / sizeof(unw_word_t);
	return UNW_OBJ(dwarf_search_unwind_table)(as, ip, &di, pi, need_unwind_info, arg);
}

static void acc_put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi, void *arg)
{
	/* Table-format info is freed by libunwind itself. */
}

static int acc_get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *dilap, void *arg)
{
	return -UNW_ENOINFO;
}

static int acc_access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *valp, int write,
			  void *arg)
{
	struct uctx *x = arg;
	const struct capture *c = x->c;
	struct unwinder *u = x->u;
	const struct loaded *l;
	struct iovec lo, re;

	if (write)
		return -UNW_EINVAL;
	if (addr >= c->sp && addr < c->sp + c->cap && addr + sizeof(*valp) > u->stack_hi)
		u->stack_hi = addr + sizeof(*valp);
	if (addr >= c->sp && addr + sizeof(*valp) <= c->sp + c->len) {
		memcpy(valp, c->stack + (addr - c->sp), sizeof(*valp));
		u->st.mem_stack++;
		return 0;
	}
	l = loaded_find(u, addr);
	if (l && module_read(l->mod, addr - l->bias, valp, sizeof(*valp))) {
		u->st.mem_module++;
		return 0;
	}
	/* Stack beyond the copy, or data we do not hold: the live process. */
	lo.iov_base = valp;
	lo.iov_len = sizeof(*valp);
	re.iov_base = (void *)(uintptr_t)addr;
	re.iov_len = sizeof(*valp);
	u->st.mem_live++;
	if (process_vm_readv(u->pid, &lo, 1, &re, 1, 0) != (ssize_t)sizeof(*valp)) {
		/* libunwind may use the value even after an error. */
		*valp = 0;
		return -UNW_EINVAL;
	}
	return 0;
}

static int acc_access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *valp, int write,
			  void *arg)
{
	const struct user_regs_struct *r = &((struct uctx *)arg)->c->regs;

	if (write)
		return -UNW_EREADONLYREG;
	switch (reg) {
	case UNW_X86_64_RAX: *valp = r->rax; break;
	case UNW_X86_64_RDX: *valp = r->rdx; break;
	case UNW_X86_64_RCX: *valp = r->rcx; break;
	case UNW_X86_64_RBX: *valp = r->rbx; break;
	case UNW_X86_64_RSI: *valp = r->rsi; break;
	case UNW_X86_64_RDI: *valp = r->rdi; break;
	case UNW_X86_64_RBP: *valp = r->rbp; break;
	case UNW_X86_64_RSP: *valp = r->rsp; break;
	case UNW_X86_64_R8:  *valp = r->r8;  break;
	case UNW_X86_64_R9:  *valp = r->r9;  break;
	case UNW_X86_64_R10: *valp = r->r10; break;
	case UNW_X86_64_R11: *valp = r->r11; break;
	case UNW_X86_64_R12: *valp = r->r12; break;
	case UNW_X86_64_R13: *valp = r->r13; break;
	case UNW_X86_64_R14: *valp = r->r14; break;
	case UNW_X86_64_R15: *valp = r->r15; break;
	case UNW_X86_64_RIP: *valp = r->rip; break;
	default: return -UNW_EBADREG;
	}
	return 0;
}

static int acc_access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write,
			    void *arg)
{
	return -UNW_EBADREG;
}

static int acc_resume(unw_addr_space_t as, unw_cursor_t *cp, void *arg)
{
	return -UNW_EINVAL;
}

static int acc_get_proc_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len,
			     unw_word_t *offp, void *arg)
{
	return -UNW_ENOINFO;
}

static unw_accessors_t accessors = {
	.find_proc_info = acc_find_proc_info,
	.put_unwind_info = acc_put_unwind_info,
	.get_dyn_info_list_addr = acc_get_dyn_info_list_addr,
	.access_mem = acc_access_mem,
	.access_reg = acc_access_reg,
	.access_fpreg = acc_access_fpreg,
	.resume = acc_resume,
	.get_proc_name = acc_get_proc_name,
};

struct unwinder *unwinder_new(pid_t pid)
{
	struct unwinder *u = xcalloc(1, sizeof(*u));

	elf_version(EV_CURRENT);
	u->pid = pid;
	u->as = unw_create_addr_space(&accessors, 0);
	if (!u->as) {
		log_err("unwind: cannot create a libunwind address space");
		free(u);
		return NULL;
	}
	/* Per-thread caching keeps libunwind from blocking all signals around
	 * every cache access, which costs two syscalls per frame. */
	unw_set_caching_policy(u->as, UNW_CACHE_PER_THREAD);
	if (!unwinder_refresh_maps(u, 0)) {
		log_err("unwind: cannot read /proc/%d/maps: %s", (int)pid, strerror(errno));
		unwinder_free(u);
		return NULL;
	}
	return u;
}

/* Walks an initialized cursor into pcs; see unwinder_unwind. */
static int walk(struct unwinder *u, unw_cursor_t *cur, uint64_t *pcs, int max, bool *truncated)
{
	unw_word_t ip, sp, prev_sp = 0;
	bool exact = true;  /* the leaf pc, and a pc after a signal frame */
	int n = 0, r;

	u->complete = false;
	for (;;) {
		if (unw_get_reg(cur, UNW_REG_IP, &ip) < 0 || ip == 0)
			break;
		unw_get_reg(cur, UNW_REG_SP, &sp);
		/* A frame that did not move the stack up means a bad unwind. */
		if (n > 0 && sp <= prev_sp && !exact)
			break;
		if (n == max) {
			*truncated = true;
			break;
		}
		pcs[n++] = exact ? ip : ip - 1;
		prev_sp = sp;
		r = unw_step(cur);
		if (r <= 0) {
			u->complete = r == 0;
			break;
		}
		/* After a step, libunwind says whether the frame just left was a
		 * signal trampoline (the registers of the new frame came from a
		 * signal context). Neither the trampoline's pc nor the interrupted
		 * pc is a return address, so neither gets the 1 subtracted. */
		exact = unw_is_signal_frame(cur) > 0;
		if (exact)
			pcs[n - 1] = ip;
	}
	u->st.frames += (uint64_t)n;
	return n;
}

int unwinder_unwind(struct unwinder *u, const struct capture *c, uint64_t *pcs, int max,
		    bool *truncated)
{
	struct uctx x = { u, c };
	unw_cursor_t cur;
	int n;

	*truncated = false;
	u->st.unwinds++;
	u->stack_hi = 0;
	if (max <= 0)
		return 0;
	/* libunwind's signal blocking is pure cost here (sigmask.h). */
	sigmask_skip(true);
	if (unw_init_remote(&cur, u->as, &x) < 0) {
		sigmask_skip(false);
		pcs[0] = c->regs.rip;
		return 1;
	}
	n = walk(u, &cur, pcs, max, truncated);
	sigmask_skip(false);
	return n;
}

bool unwinder_last_complete(const struct unwinder *u)
{
	return u->complete;
}

uint64_t unwinder_stack_top(const struct unwinder *u)
{
	return u->stack_hi;
}

int unwinder_unwind_ptrace(struct unwinder *u, pid_t tid, uint64_t *pcs, int max,
			   bool *truncated)
{
	unw_cursor_t cur;
	void *upt;
	int n = 0;

	*truncated = false;
	u->st.unwinds++;
	if (max <= 0)
		return 0;
	if (!u->upt_as) {
		u->upt_as = unw_create_addr_space(&_UPT_accessors, 0);
		if (!u->upt_as)
			return 0;
	}
	upt = _UPT_create(tid);
	if (!upt)
		return 0;
	if (unw_init_remote(&cur, u->upt_as, upt) == 0)
		n = walk(u, &cur, pcs, max, truncated);
	_UPT_destroy(upt);
	return n;
}

const struct maps *unwinder_maps(struct unwinder *u)
{
	return u->maps;
}

void unwinder_get_stats(const struct unwinder *u, struct unwind_stats *st)
{
	*st = u->st;
}

void unwinder_free(struct unwinder *u)
{
	if (!u)
		return;
	if (u->as)
		unw_destroy_addr_space(u->as);
	if (u->upt_as)
		unw_destroy_addr_space(u->upt_as);
	for (size_t i = 0; i < u->nmods; i++)
		module_free(u->mods[i]);
	free(u->mods);
	free(u->loaded);
	maps_free(u->maps);
	free(u);
}
