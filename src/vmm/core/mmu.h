/* mmu.h - Sv39 address translation for one hart.
 *
 * Page-table walks read and update PTEs through the RAM accessors, so the
 * A and D bits the walk sets are seen by dirty tracking, and by the hart's
 * decode cache, like any store.
 */
#ifndef FERRY_MMU_H
#define FERRY_MMU_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/core/cpu.h"

/* PTE bits (privileged spec, "Sv32"/"Sv39") */
#define PTE_V (1ull << 0)
#define PTE_R (1ull << 1)
#define PTE_W (1ull << 2)
#define PTE_X (1ull << 3)
#define PTE_U (1ull << 4)
#define PTE_G (1ull << 5)
#define PTE_A (1ull << 6)
#define PTE_D (1ull << 7)
#define PTE_PPN_SHIFT 10
#define PTE_RESERVED_MASK (0x3ffull << 54) /* N, PBMT and reserved bits: Svnapot/Svpbmt absent */

/* Translate a virtual address for an access of the given kind at the hart's current privilege,
 * setting A (and D for writes) in the leaf PTE. On success stores the physical address and
 * returns true; otherwise returns false with *cause set to the page-fault or access-fault
 * exception for that access. */
bool mmu_translate(struct cpu *c, uint64_t va, enum cpu_access acc, uint64_t *pa, uint64_t *cause);

/* The page-fault and access-fault causes for an access kind. */
uint64_t mmu_page_fault(enum cpu_access acc);
uint64_t mmu_access_fault(enum cpu_access acc);

#endif
