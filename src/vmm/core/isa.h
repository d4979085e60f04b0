/* isa.h - the instruction set the hart implements, spelled once for everything that names it.
 *
 * The device tree tells the guest (riscv,isa, riscv,isa-base, riscv,isa-extensions,
 * mmu-type) and the config record of a migration or a snapshot tells the loading side
 * (isa, mmu); all these spellings are made here from one list of extensions, so the guest
 * is never told one ISA and the destination checked against another. The list follows the
 * ISA manual's naming rules ("ISA Extension Naming Conventions"): single-letter extensions
 * in canonical order, then multi-letter ones, each after an underscore.
 *
 * The hart always has I, M, A, C, Zicntr, Zicsr and Zifencei; F and D are optional, chosen
 * per VM (`--isa`), so that a VM keeps the ISA it booted with wherever it moves. A set of
 * optional extensions is a mask of ISA_F and ISA_D (D needs F, as the manual says).
 */
#ifndef FERRY_ISA_H
#define FERRY_ISA_H

#include <stddef.h>

#include "common/err.h"

#define ISA_STR_MAX 128
#define ISA_BASE "rv64i" /* riscv,isa-base */
#define ISA_MMU "sv39" /* the translation mode of satp; the device tree's mmu-type adds "riscv," */

enum isa_ext {
	ISA_F = 1u << 0, /* single-precision floating point, fcsr */
	ISA_D = 1u << 1, /* double precision (needs F) */
};
#define ISA_ALL (ISA_F | ISA_D) /* every optional extension this hart can give */
#define ISA_DEFAULT ISA_ALL	/* rv64imafdc: RV64GC, what Debian's riscv64 port needs */

/* "rv64imafdc_zicntr_zicsr_zifencei": riscv,isa, and the config record's isa. */
void isa_string(unsigned ext, char out[ISA_STR_MAX]);

/* The extensions one after the other, each with its NUL ("i\0m\0...zifencei\0"), as the
 * device tree's riscv,isa-extensions string list. Returns its length, NULs included. */
size_t isa_extensions(unsigned ext, char out[ISA_STR_MAX]);

/* Parse an ISA string (case-insensitive; "g" is "imafd_zicsr_zifencei"; the multi-letter
 * extensions the hart always has may be left out) into the optional extensions it names.
 * -1 with a message naming what is wrong: an extension this hart does not have, one it
 * cannot do without (m, a, c), D without F, or a malformed string. */
int isa_parse(const char *s, unsigned *ext, struct err *e);

/* A guest that was given the ISA string `guest` (a config record's) loads on a machine that
 * offers the extensions `offered`: 0 with the guest's extensions in *ext, or -1 with a
 * message naming the extensions the guest needs and this machine does not give. */
int isa_check(const char *guest, unsigned offered, unsigned *ext, struct err *e);

#endif
