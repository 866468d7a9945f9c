/* symindex.c: sorted ELF symbols and per-unit function ranges of one
 * module, so an address is found by binary search (see symindex.h). */
#include "symindex.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <stdbool.h>
#include <stdlib.h>

#include "util.h"

/* One address range of a function with code, in the module's DWARF
 * addresses, and the DIE describing it. */
struct sym_fn {
	uint64_t lo, hi;
	uint64_t maxhi;               /* largest hi of this and all earlier entries */
	size_t seq;                   /* position in the unit */
	Dwarf_Die die;
};

/* The functions of one compilation unit, sorted by lo: found once, so a
 * lookup costs a binary search and a walk of one function's inline tree
 * instead of dwarf_getscopes' walk of the whole unit. */
struct sym_cu {
	struct sym_fn *fns;
	size_t n;
};

/* One sized symbol of a module's ELF symbol table, at its loaded address. */
struct sym_elfsym {
	uint64_t lo, hi;
	uint64_t maxhi;               /* largest hi of this and all earlier entries */
	const char *name;             /* in the module's ELF data */
	int64_t rank;                 /* of two symbols alike, the higher names it */
};

struct symindex {
	struct sym_elfsym *syms;      /* sorted by lo; built on first use */
	size_t nsyms;
	struct sym_elfsym *labels;    /* sizeless symbols (assembly), by lo */
	size_t nlabels;
	bool syms_built;
	struct u64map *cus;           /* CU DIE data address -> index into cuv */
	struct sym_cu *cuv;
	size_t ncu, cucap;
};

/* qsort order of symbols: see the comment inside. */
static int sym_elfsym_cmp(const void *a, const void *b)
{
	const struct sym_elfsym *x = a, *y = b;

	/* By start; then wider first and, among equals, the better name last:
	 * the backward search in sym_elf_name meets the innermost, best one
	 * first. */
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi > y->hi ? -1 : 1;
	return (x->rank > y->rank) - (x->rank < y->rank);
}

/* Sorts a symbol array as sym_elfsym_cmp says and fills in maxhi. */
static void sym_elf_sort(struct sym_elfsym *v, size_t n)
{
	if (n == 0)
		return;   /* v may be NULL, which qsort must not be given */
	qsort(v, n, sizeof(*v), sym_elfsym_cmp);
	for (size_t i = 0; i < n; i++)
		v[i].maxhi = i > 0 && v[i - 1].maxhi > v[i].hi ? v[i - 1].maxhi : v[i].hi;
}

/* Sorts the symbols of a module by address, so looking one up is a binary
 * search; dwfl_module_addrinfo scans the whole table every time. */
static void sym_elf_index(Dwfl_Module *mod, struct symindex *x)
{
	int n = dwfl_module_getsymtab(mod);
	size_t cap = 0, lcap = 0;

	x->syms_built = true;
	for (int i = 1; i < n; i++) {
		struct sym_elfsym *e;
		const char *name;
		GElf_Addr addr;
		GElf_Word shndx;
		GElf_Sym sym;
		int type, bind;

		name = dwfl_module_getsym_info(mod, i, &sym, &addr, &shndx, NULL, NULL);
		if (!name || name[0] == '\0' || shndx == SHN_UNDEF)
			continue;
		type = GELF_ST_TYPE(sym.st_info);
		if (type == STT_SECTION || type == STT_FILE || type == STT_TLS)
			continue;
		if (sym.st_size > 0) {
			xgrow((void **)&x->syms, &cap, x->nsyms + 1, sizeof(*x->syms));
			e = &x->syms[x->nsyms++];
		} else {
			xgrow((void **)&x->labels, &lcap, x->nlabels + 1, sizeof(*x->labels));
			e = &x->labels[x->nlabels++];
		}
		bind = GELF_ST_BIND(sym.st_info);
		e->lo = addr;
		e->hi = addr + (sym.st_size > 0 ? sym.st_size : 1);
		e->name = name;
		/* Functions over data; then global, weak, local; then the
		 * earlier in the table. */
		e->rank = (type == STT_FUNC || type == STT_GNU_IFUNC) * 4 +
		    (bind == STB_GLOBAL ? 2 : bind == STB_WEAK ? 1 : 0);
		e->rank = e->rank * ((int64_t)n + 1) + (n - i);
	}
	sym_elf_sort(x->syms, x->nsyms);
	sym_elf_sort(x->labels, x->nlabels);
}

/* Index of the first entry of v starting above addr. */
static size_t sym_elf_upper(const struct sym_elfsym *v, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid].lo <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* See symindex.h; dwfl_module_addrinfo chooses the same symbol. */
const char *symindex_elf_name(struct symindex *x, Dwfl_Module *mod, uint64_t addr,
			      uint64_t *start)
{
	Dwarf_Addr rel = addr, bias;
	size_t i, j;

	if (!x->syms_built)
		sym_elf_index(mod, x);
	j = sym_elf_upper(x->syms, x->nsyms, addr);
	for (i = j; i-- > 0 && x->syms[i].maxhi > addr;)
		if (addr < x->syms[i].hi) {
			*start = x->syms[i].lo;
			return x->syms[i].name;
		}
	/* A label reaches up to the next sized symbol or section end. */
	if ((i = sym_elf_upper(x->labels, x->nlabels, addr)) == 0)
		return NULL;
	if (j > 0 && x->syms[j - 1].lo >= x->labels[i - 1].lo)
		return NULL;
	if (!dwfl_module_address_section(mod, &rel, &bias) || x->labels[i - 1].lo < addr - rel)
		return NULL;
	*start = x->labels[i - 1].lo;
	return x->labels[i - 1].name;
}

/* Adds the code ranges of every function under parent to cu: functions
 * sit at the top of a unit, in namespaces and types (C++), or nested in
 * other functions (GNU C, Fortran). */
static void sym_cu_collect(struct sym_cu *cu, size_t *cap, Dwarf_Die *parent, int depth)
{
	Dwarf_Die child;

	if (depth > 64 || dwarf_child(parent, &child) != 0)
		return;
	do {
		switch (dwarf_tag(&child)) {
		case DW_TAG_subprogram: {
			Dwarf_Addr base, lo, hi;
			ptrdiff_t off = 0;

			while ((off = dwarf_ranges(&child, off, &base, &lo, &hi)) > 0) {
				if (hi <= lo)
					continue;
				xgrow((void **)&cu->fns, cap, cu->n + 1, sizeof(*cu->fns));
				cu->fns[cu->n].lo = lo;
				cu->fns[cu->n].hi = hi;
				cu->fns[cu->n].seq = cu->n;
				cu->fns[cu->n].die = child;
				cu->n++;
			}
			sym_cu_collect(cu, cap, &child, depth + 1);
			break;
		}
		case DW_TAG_namespace:
		case DW_TAG_module:
		case DW_TAG_class_type:
		case DW_TAG_structure_type:
		case DW_TAG_union_type:
		case DW_TAG_interface_type:
		case DW_TAG_lexical_block:
			sym_cu_collect(cu, cap, &child, depth + 1);
			break;
		}
	} while (dwarf_siblingof(&child, &child) == 0);
}

/* qsort order of function ranges: by start, the innermost last. */
static int sym_fn_cmp(const void *a, const void *b)
{
	const struct sym_fn *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	/* Of two starting together, the wider first: the inner one wins; of
	 * two alike (aliases), the first in the unit, as dwarf_getscopes. */
	if (x->hi != y->hi)
		return x->hi > y->hi ? -1 : 1;
	return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

/* The function index of the unit cudie heads, built on first use. */
static const struct sym_cu *sym_cu_get(struct symindex *x, Dwarf_Die *cudie)
{
	uint64_t key = (uint64_t)(uintptr_t)cudie->addr, idx;
	struct sym_cu *cu;
	size_t cap = 0;

	if (u64map_get(x->cus, key, &idx))
		return &x->cuv[idx];
	xgrow((void **)&x->cuv, &x->cucap, x->ncu + 1, sizeof(*x->cuv));
	cu = &x->cuv[x->ncu];
	cu->fns = NULL;
	cu->n = 0;
	sym_cu_collect(cu, &cap, cudie, 0);
	qsort(cu->fns, cu->n, sizeof(*cu->fns), sym_fn_cmp);
	for (size_t i = 0; i < cu->n; i++)
		cu->fns[i].maxhi = i > 0 && cu->fns[i - 1].maxhi > cu->fns[i].hi ?
		    cu->fns[i - 1].maxhi : cu->fns[i].hi;
	u64map_put(x->cus, key, x->ncu);
	return &x->cuv[x->ncu++];
}

/* The innermost function range of cu containing pc, or NULL. */
static const struct sym_fn *sym_cu_find(const struct sym_cu *cu, uint64_t pc)
{
	size_t lo = 0, hi = cu->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cu->fns[mid].lo <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Back from the last range starting at or below pc, while any earlier
	 * range still reaches past it. */
	for (size_t i = lo; i-- > 0 && cu->fns[i].maxhi > pc;)
		if (pc < cu->fns[i].hi)
			return &cu->fns[i];
	return NULL;
}

int symindex_function(struct symindex *x, Dwarf_Die *cudie, uint64_t pc, Dwarf_Die *fn)
{
	const struct sym_cu *cu = sym_cu_get(x, cudie);
	const struct sym_fn *f = sym_cu_find(cu, pc);

	if (f) {
		*fn = f->die;
		return 1;
	}
	return cu->n == 0 ? -1 : 0;
}

struct symindex *symindex_new(void)
{
	struct symindex *x = xcalloc(1, sizeof(*x));

	x->cus = u64map_new();
	return x;
}

void symindex_free(struct symindex *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->ncu; i++)
		free(x->cuv[i].fns);
	free(x->syms);
	free(x->labels);
	free(x->cuv);
	u64map_free(x->cus);
	free(x);
}
