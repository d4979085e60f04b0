/* mmu.c - Sv39 page-table walk (privileged spec, "Virtual Address Translation Process").
 *
 * The walk follows the spec's algorithm step by step; the comments name its
 * steps. Superpages are translated here, but the TLB (cpu.c) caches only the
 * 4 KiB page that was touched, so it never needs to know page sizes.
 */
#include "vmm/core/mmu.h"

#include "vmm/core/ram.h"

uint64_t mmu_page_fault(enum cpu_access acc)
{
	return acc == ACC_X ? EXC_INSN_PAGE : acc == ACC_W ? EXC_STORE_PAGE : EXC_LOAD_PAGE;
}

uint64_t mmu_access_fault(enum cpu_access acc)
{
	return acc == ACC_X ? EXC_INSN_ACCESS : acc == ACC_W ? EXC_STORE_ACCESS : EXC_LOAD_ACCESS;
}

bool mmu_translate(struct cpu *c, uint64_t va, enum cpu_access acc, uint64_t *pa, uint64_t *cause)
{
	const int levels = 3, vpn_bits = 9;
	uint64_t a, pte = 0, pte_addr = 0;
	int i;

	if ((c->satp >> 60) == SATP_MODE_BARE) {
		*pa = va;
		return true;
	}
	/* Sv39: bits 63..39 must all equal bit 38, so bits 63..38 are all zeros or all ones.
	 * (Tested unsigned: shifting a negative int64_t left is undefined behaviour.) */
	if ((va >> 38) != 0 && (va >> 38) != (UINT64_MAX >> 38))
		goto page_fault;

	/* Step 1-2: a = satp.ppn * PAGESIZE, i = LEVELS - 1. */
	a = (c->satp & SATP_PPN_MASK) << 12;
	for (i = levels - 1; i >= 0; i--) {
		uint64_t vpn = (va >> (12 + i * vpn_bits)) & 0x1ff;

		pte_addr = a + vpn * 8;
		if (!ram_contains(c->ram, pte_addr, 8)) {
			*cause = mmu_access_fault(acc);
			return false;
		}
		pte = ram_load(c->ram, pte_addr, 8);
		/* Step 3: invalid, reserved W-without-R, or reserved bits set. */
		if (!(pte & PTE_V) || ((pte & (PTE_R | PTE_W)) == PTE_W) ||
		    (pte & PTE_RESERVED_MASK))
			goto page_fault;
		/* Step 4: a leaf has R or X; otherwise descend. */
		if (pte & (PTE_R | PTE_X))
			break;
		/* In a pointer, D, A and U are reserved for future standard use, so step 3
		 * faults on them too. */
		if (pte & (PTE_D | PTE_A | PTE_U))
			goto page_fault;
		a = ((pte >> PTE_PPN_SHIFT) & SATP_PPN_MASK) << 12;
	}
	if (i < 0)
		goto page_fault;

	/* Step 5: permissions for the effective privilege, with SUM and MXR. */
	if (c->priv == PRIV_U) {
		if (!(pte & PTE_U))
			goto page_fault;
	} else if (pte & PTE_U) {
		if (acc == ACC_X || !(c->sstatus & SSTATUS_SUM))
			goto page_fault;
	}
	switch (acc) {
	case ACC_X:
		if (!(pte & PTE_X))
			goto page_fault;
		break;
	case ACC_R:
		if (!(pte & PTE_R) && !((c->sstatus & SSTATUS_MXR) && (pte & PTE_X)))
			goto page_fault;
		break;
	case ACC_W:
		if (!(pte & PTE_W))
			goto page_fault;
		break;
	}

	/* Step 6: a misaligned superpage. */
	uint64_t ppn = (pte >> PTE_PPN_SHIFT) & SATP_PPN_MASK;
	uint64_t low_mask = (1ull << (i * vpn_bits)) - 1;

	if (i > 0 && (ppn & low_mask))
		goto page_fault;

	/* Step 7: set A, and D for a store, as an atomic update of the PTE (one hart, so a plain
	 * store through the RAM accessor suffices; it marks the page-table page dirty, and drops
	 * instructions the hart decoded from that page, if any). */
	uint64_t want = PTE_A | (acc == ACC_W ? PTE_D : 0);

	if ((pte & want) != want) {
		pte |= want;
		ram_store(c->ram, pte_addr, pte, 8);
	}

	/* Step 8: the physical address; a superpage takes its low VPNs from the address. */
	uint64_t vpn_low = (va >> 12) & low_mask;

	*pa = (((ppn & ~low_mask) | vpn_low) << 12) | (va & 0xfff);
	return true;

page_fault:
	*cause = mmu_page_fault(acc);
	return false;
}
