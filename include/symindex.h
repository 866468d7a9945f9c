/* symindex.h: fast address lookups in one libdwfl module, for symbols.c.
 * libdwfl answers both questions by scanning: dwfl_module_addrinfo the
 * whole ELF symbol table, dwarf_getscopes the whole compilation unit, at
 * every call. An index sorts, on first use, the module's ELF symbols by
 * address and, per compilation unit, the code ranges of its functions, so
 * a lookup is a binary search. Owns those arrays; the names and DIEs it
 * hands out point into libdw's data and live as long as the module. */
#ifndef SPROFD_SYMINDEX_H
#define SPROFD_SYMINDEX_H

#include <elfutils/libdwfl.h>
#include <stdint.h>

struct symindex;

/* An empty index of one module; it fills in as lookups need. */
struct symindex *symindex_new(void);
/* The ELF symbol of module mod covering addr (a loaded address), or NULL:
 * the innermost sized symbol containing it, else the nearest sizeless one
 * before it in the same section (hand-written assembly often has no
 * sizes), as dwfl_module_addrinfo chooses; sets *start to its address. */
const char *symindex_elf_name(struct symindex *x, Dwfl_Module *mod, uint64_t addr,
			      uint64_t *start);
/* The innermost function (subprogram DIE) of the unit cudie whose code
 * ranges contain pc, a DWARF address (the loaded one minus the bias):
 * returns 1 and sets *fn; 0 if none does (padding between functions);
 * -1 if the unit has no function ranges at all, being laid out unlike any
 * seen, so the caller should ask dwarf_getscopes. */
int symindex_function(struct symindex *x, Dwarf_Die *cudie, uint64_t pc, Dwarf_Die *fn);
/* Accepts NULL. */
void symindex_free(struct symindex *x);

#endif
