/* isa.h - the instruction set the hart implements, spelled once for everything that names it.
 *
 * The device tree tells the guest (riscv,isa, riscv,isa-base, riscv,isa-extensions,
 * mmu-type) and the config record of a migration or a snapshot tells the loading side
 * (isa, mmu); all these spellings are made here from one list of extensions, so the guest
 * is never told one ISA and the destination checked against another. The list follows the
 * ISA manual's naming rules ("ISA Extension Naming Conventions"): single-letter extensions
 * in canonical order, then multi-letter ones, each after an underscore.
 */
#ifndef FERRY_ISA_H
#define FERRY_ISA_H

#include <stddef.h>

#include "common/err.h"

#define ISA_STR_MAX 128
#define ISA_BASE "rv64i" /* riscv,isa-base */
#define ISA_MMU "sv39" /* the translation mode of satp; the device tree's mmu-type adds "riscv," */

/* "rv64imac_zicntr_zicsr_zifencei": riscv,isa, and the config record's isa. */
void isa_string(char out[ISA_STR_MAX]);

/* The extensions one after the other, each with its NUL ("i\0m\0...zifencei\0"), as the
 * device tree's riscv,isa-extensions string list. Returns its length, NULs included. */
size_t isa_extensions(char out[ISA_STR_MAX]);

/* 0 if a guest that was given the ISA string `guest` can run on this hart (the ISA naming
 * string is case-insensitive), else -1 with a message naming both. */
int isa_check(const char *guest, struct err *e);

#endif
