/* test_mmu.c - Sv39 translation (privileged spec, "Sv39" and "Virtual Address Translation
 * Process"), first through mmu_translate() directly, then as instructions see it: fault
 * causes and stval, the TLB against SFENCE.VMA, satp writes and sstatus.SUM/MXR.
 *
 * The walk: a VA whose bits 63:39 differ from bit 38 faults; a PTE with V=0,
 * with W=1 and R=0, or with reserved bits (63:54 without Svnapot/Svpbmt; D,
 * A and U in a pointer) faults; a pointer at level 0 faults; a superpage
 * whose PPN is not aligned to its size faults; U pages are reachable from S
 * only with SUM and never executable there; S pages never from U; MXR makes
 * execute-only pages readable. A PTE read outside memory is an access fault.
 * A and D are set by the walk (the Svadu behaviour), and only when the
 * access is allowed.
 */
#include "harness.h"

#define KRWX (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)
#define URWX (KRWX | PTE_U)
#define DATA TH_DATA

static struct machine *setup(struct th_pt *pt)
{
	struct machine *m = th_setup();

	th_pt_init(pt, m, TH_PT);
	m->harts[0].satp = th_pt_satp(pt);
	cpu_tlb_flush(&m->harts[0]);
	return m;
}

static void ok(struct machine *m, uint64_t va, enum cpu_access acc, uint64_t want)
{
	uint64_t pa = 0, cause = 0;

	if (!mmu_translate(&m->harts[0], va, acc, &pa, &cause))
		fail_msg("va %llx acc %d: fault %llu, want pa %llx", (unsigned long long)va, acc,
			 (unsigned long long)cause, (unsigned long long)want);
	assert_int_equal(pa, want);
}

static const uint64_t page_fault[3] = { [ACC_R] = 13, [ACC_W] = 15, [ACC_X] = 12 };
static const uint64_t access_fault[3] = { [ACC_R] = 5, [ACC_W] = 7, [ACC_X] = 1 };

static void fails(struct machine *m, uint64_t va, enum cpu_access acc, uint64_t want_cause)
{
	uint64_t pa = 0, cause = 0;

	if (mmu_translate(&m->harts[0], va, acc, &pa, &cause))
		fail_msg("va %llx acc %d: translated to %llx, want cause %llu",
			 (unsigned long long)va, acc, (unsigned long long)pa,
			 (unsigned long long)want_cause);
	assert_int_equal(cause, want_cause);
}

static void pf(struct machine *m, uint64_t va, enum cpu_access acc)
{
	fails(m, va, acc, page_fault[acc]);
}

static void pf_all(struct machine *m, uint64_t va)
{
	pf(m, va, ACC_R);
	pf(m, va, ACC_W);
	pf(m, va, ACC_X);
}

static void ok_all(struct machine *m, uint64_t va, uint64_t want)
{
	ok(m, va, ACC_R, want);
	ok(m, va, ACC_W, want);
	ok(m, va, ACC_X, want);
}

/* ---- the walk ------------------------------------------------------------------------------ */

static void test_bare(void **state)
{
	struct machine *m = th_setup();

	(void)state;
	ok_all(m, 0x80001234, 0x80001234);
	ok_all(m, 0xffffffffffff0000ull, 0xffffffffffff0000ull); /* no canonical check */
	th_free(m);
}

static void test_4k_pages(void **state)
{
	struct th_pt pt;
	struct machine *m = setup(&pt);

	(void)state;
	th_map(&pt, 0x1000, DATA, KRWX, 0);
	th_map(&pt, 0x3000, DATA + 0x5000, KRWX, 0);
	ok_all(m, 0x1000, DATA);
	ok_all(m, 0x1abc, DATA + 0xabc);
	ok_all(m, 0x1fff, DATA + 0xfff);
	ok_all(m, 0x3008, DATA + 0x5008);
	/* neighbours in the same last-level table are invalid */
	pf_all(m, 0x2000);
	pf_all(m, 0x0);
	/* nothing at all under another level-2 entry or level-1 entry */
	pf_all(m, 0x40000000);
	pf_all(m, 0x200000);
	th_free(m);
}

static void test_2m_superpage(void **state)
{
	struct th_pt pt;
	struct machine *m = setup(&pt);
	uint64_t pte;

	(void)state;
	pte = th_map(&pt, 0x600000, 0x80400000, KRWX, 1);
	ok_all(m, 0x600000, 0x80400000);
	ok_all(m, 0x612345, 0x80412345); /* VPN[0] passes through */
	ok_all(m, 0x7fffff, 0x805fffff);
	pf_all(m, 0x800000);
	/* misaligned: PPN[0] != 0 */
	ram_store(&m->ram, pte, (0x80401000ull >> 12) << 10 | KRWX, 8);
	pf_all(m, 0x612345);
	th_free(m);
}

static void test_1g_superpage(void **state)
{
	struct th_pt pt;
	struct machine *m = setup(&pt);
	uint64_t pte;

	(void)state;
	pte = th_map(&pt, 0x40000000, 0x80000000, KRWX, 2);
	ok_all(m, 0x40000000, 0x80000000);
	ok_all(m, 0x40123456, 0x80123456);
	ok_all(m, 0x40fff000, 0x80fff000);
	ok_all(m, 0x7fffffff, 0xbfffffff); /* the walk does not care what is behind the PA */
	pf_all(m, 0x80000000);
	/* misaligned: PPN[1] != 0, then PPN[0] != 0 */
	ram_store(&m->ram, pte, (0x80200000ull >> 12) << 10 | KRWX, 8);
	pf_all(m, 0x40123456);
	ram_store(&m->ram, pte, (0x80001000ull >> 12) << 10 | KRWX, 8);
	pf_all(m, 0x40123456);
	th_free(m);
}

static void test_invalid_and_reserved_encodings(void **state)
{
	struct th_pt pt;
	struct machine *m = setup(&pt);
	uint64_t leaf, ptr1;
	const uint64_t ppn = (DATA >> 12) << 10;

	(void)state;
	leaf = th_map(&pt, 0x1000, DATA, KRWX, 0);
	ptr1 = th_pte_addr(&pt, 0x1000, 1);
	ok(m, 0x1000, ACC_R, DATA);
	/* V = 0 in the leaf, whatever else is set */
	ram_store(&m->ram, leaf, ppn | (KRWX & ~PTE_V), 8);
	pf_all(m, 0x1000);
	/* W without R: reserved, for every access kind, with or without X */
	ram_store(&m->ram, leaf, ppn | PTE_V | PTE_W | PTE_A | PTE_D, 8);
	pf_all(m, 0x1000);
	ram_store(&m->ram, leaf, ppn | PTE_V | PTE_W | PTE_X | PTE_A | PTE_D, 8);
	pf_all(m, 0x1000);
	/* bits 63:54 (N, PBMT, reserved) must be zero without Svnapot/Svpbmt */
	for (int bit = 54; bit < 64; bit++) {
		ram_store(&m->ram, leaf, ppn | KRWX | (1ull << bit), 8);
		pf_all(m, 0x1000);
	}
	/* RSW (9:8) and G are not reserved: ignored */
	ram_store(&m->ram, leaf, ppn | KRWX | (3ull << 8) | PTE_G, 8);
	ok_all(m, 0x1000, DATA);
	/* a pointer at level 0 is not a leaf and there is no next level */
	ram_store(&m->ram, leaf, ppn | PTE_V, 8);
	pf_all(m, 0x1000);
	/* now the pointers: V = 0, W without R, reserved high bits */
	ram_store(&m->ram, leaf, ppn | KRWX, 8);
	{
		uint64_t p = ram_load(&m->ram, ptr1, 8);

		ram_store(&m->ram, ptr1, p & ~PTE_V, 8);
		pf_all(m, 0x1000);
		ram_store(&m->ram, ptr1, p | PTE_W, 8);
		pf_all(m, 0x1000);
		ram_store(&m->ram, ptr1, p | (1ull << 63), 8);
		pf_all(m, 0x1000);
		ram_store(&m->ram, ptr1, p | (1ull << 61), 8);
		pf_all(m, 0x1000);
		ram_store(&m->ram, ptr1, p, 8);
		ok_all(m, 0x1000, DATA);
	}
	th_free(m);
}

static void test_pointer_dau_reserved(void **state)
{
	struct th_pt pt;
	struct machine *m = setup(&pt);
	uint64_t ptr2, ptr1, p2, p1;
	const uint64_t bits[] = { PTE_D, PTE_A, PTE_U };

	(void)state;
	/* "For non-leaf PTEs, the D, A, and U bits are reserved for future standard use", and
	 * step 3 of the walk raises a page fault when reserved bits are set. */
	th_map(&pt, 0x1000, DATA, KRWX, 0);
	ptr2 = th_pte_addr(&pt, 0x1000, 2);
	ptr1 = th_pte_addr(&pt, 0x1000, 1);
	p2 = ram_load(&m->ram, ptr2, 8);
	p1 = ram_load(&m->ram, ptr1, 8);
	for (int i = 0; i < 3; i++) {
		ram_store(&m->ram, ptr2, p2 | bits[i], 8);
		pf_all(m, 0x1000);
		ram_store(&m->ram, ptr2, p2, 8);
		ram_store(&m->ram, ptr1, p1 | bits[i], 8);
		pf_all(m, 0x1000);
		ram_store(&m->ram, ptr1, p1, 8);
	}
	/* G in a pointer is allowed (it makes the subtree global) */
	ram_store(&m->ram, ptr1, p1 | PTE_G, 8);
	ok_all(m, 0x1000, DATA);
	th_free(m);
}

static void test_non_canonical(void **state)
{
	struct th_pt pt;
	struct machine *m = setup(&pt);

	(void)state;
	th_map(&pt, 0x1000, DATA, KRWX, 0);
	th_map(&pt, 0xffffffc000001000ull, DATA + 0x1000, KRWX, 0);
	ok_all(m, 0x1000, DATA);
	ok_all(m, 0xffffffc000001000ull, DATA + 0x1000);
	/* the same VPNs with bits 63:39 not all equal to bit 38: each would hit the mappings
	 * above if only bits 38:0 were looked at */
	pf_all(m, 0xffffff8000001000ull); /* 63:39 ones, 38 zero */
	pf_all(m, 0x0000004000001000ull); /* 38 one, 63:39 zero */
	pf_all(m, 0x8000000000001000ull);
	pf_all(m, 0x0000008000001000ull); /* bit 39 alone */
	pf_all(m, 0x7fffffc000001000ull);
	th_free(m);
}

static void test_user_pages_from_supervisor(void **state)
{
	struct th_pt pt;
	struct machine *m = setup(&pt);

	(void)state;
	th_map(&pt, 0x1000, DATA, URWX, 0);
	/* without SUM: nothing */
	pf_all(m, 0x1000);
	/* with SUM: loads and stores, never fetches */
	m->harts[0].sstatus |= SSTATUS_SUM;
	ok(m, 0x1000, ACC_R, DATA);
	ok(m, 0x1000, ACC_W, DATA);
	pf(m, 0x1000, ACC_X);
	/* from U-mode the page is fully usable, SUM or not */
	m->harts[0].priv = PRIV_U;
	ok_all(m, 0x1000, DATA);
	m->harts[0].sstatus &= ~SSTATUS_SUM;
	ok_all(m, 0x1000, DATA);
	th_free(m);
}

static void test_supervisor_pages_from_user(void **state)
{
	struct th_pt pt;
	struct machine *m = setup(&pt);

	(void)state;
	th_map(&pt, 0x1000, DATA, KRWX, 0);
	th_map(&pt, 0x400000, 0x80400000, KRWX, 1);
	m->harts[0].priv = PRIV_U;
	pf_all(m, 0x1000);
	pf_all(m, 0x400000);
	m->harts[0].sstatus |= SSTATUS_SUM | SSTATUS_MXR; /* neither helps U-mode */
	pf_all(m, 0x1000);
	m->harts[0].priv = PRIV_S;
	ok_all(m, 0x1000, DATA);
	ok_all(m, 0x400123, 0x80400123);
	th_free(m);
}

static void test_permission_bits(void **state)
{
	struct th_pt pt;
	struct machine *m = setup(&pt);

	(void)state;
	th_map(&pt, 0x1000, DATA, PTE_V | PTE_R | PTE_A | PTE_D, 0);
	th_map(&pt, 0x2000, DATA, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D, 0);
	th_map(&pt, 0x3000, DATA, PTE_V | PTE_X | PTE_A | PTE_D, 0);
	th_map(&pt, 0x4000, DATA, PTE_V | PTE_R | PTE_X | PTE_A | PTE_D, 0);
	ok(m, 0x1000, ACC_R, DATA);
	pf(m, 0x1000, ACC_W);
	pf(m, 0x1000, ACC_X);
	ok(m, 0x2000, ACC_R, DATA);
	ok(m, 0x2000, ACC_W, DATA);
	pf(m, 0x2000, ACC_X);
	pf(m, 0x3000, ACC_R);
	pf(m, 0x3000, ACC_W);
	ok(m, 0x3000, ACC_X, DATA);
	ok(m, 0x4000, ACC_R, DATA);
	pf(m, 0x4000, ACC_W);
	ok(m, 0x4000, ACC_X, DATA);
	/* MXR: execute-only becomes readable, not writable; no effect on other pages */
	m->harts[0].sstatus |= SSTATUS_MXR;
	ok(m, 0x3000, ACC_R, DATA);
	pf(m, 0x3000, ACC_W);
	pf(m, 0x1000, ACC_W);
	pf(m, 0x2000, ACC_X);
	/* ... for U-mode too, on U pages */
	th_map(&pt, 0x5000, DATA, PTE_V | PTE_X | PTE_U | PTE_A | PTE_D, 0);
	m->harts[0].priv = PRIV_U;
	ok(m, 0x5000, ACC_R, DATA);
	m->harts[0].sstatus &= ~SSTATUS_MXR;
	pf(m, 0x5000, ACC_R);
	ok(m, 0x5000, ACC_X, DATA);
	th_free(m);
}

static void test_accessed_dirty(void **state)
{
	struct th_pt pt;
	struct machine *m = setup(&pt);
	uint64_t p1, p2, p3, p4, p5, pte_page;

	(void)state;
	p1 = th_map(&pt, 0x1000, DATA, PTE_V | PTE_R | PTE_W, 0);
	p2 = th_map(&pt, 0x2000, DATA, PTE_V | PTE_X, 0);
	p3 = th_map(&pt, 0x3000, DATA, PTE_V | PTE_R, 0);
	p4 = th_map(&pt, 0x4000, DATA, PTE_V | PTE_R | PTE_W | PTE_U, 0);
	p5 = th_map(&pt, 0x200000, 0x80400000, PTE_V | PTE_R | PTE_W, 1);
	pte_page = p1 & ~0xfffull;
	th_clear_dirty(m);
	/* a load sets A only, and the PTE's page is marked dirty like any store */
	ok(m, 0x1000, ACC_R, DATA);
	assert_int_equal(ram_load(&m->ram, p1, 8) & (PTE_A | PTE_D), PTE_A);
	assert_true(ram_is_dirty(&m->ram, pte_page));
	/* a store sets D */
	ok(m, 0x1000, ACC_W, DATA);
	assert_int_equal(ram_load(&m->ram, p1, 8) & (PTE_A | PTE_D), PTE_A | PTE_D);
	/* a fetch sets A */
	ok(m, 0x2000, ACC_X, DATA);
	assert_int_equal(ram_load(&m->ram, p2, 8) & (PTE_A | PTE_D), PTE_A);
	/* superpage leaves too */
	ok(m, 0x212345, ACC_W, 0x80412345);
	assert_int_equal(ram_load(&m->ram, p5, 8) & (PTE_A | PTE_D), PTE_A | PTE_D);
	/* accesses that fault change nothing */
	pf(m, 0x3000, ACC_W);
	pf(m, 0x3000, ACC_X);
	assert_int_equal(ram_load(&m->ram, p3, 8) & (PTE_A | PTE_D), 0);
	pf(m, 0x4000, ACC_R); /* U page, SUM clear */
	assert_int_equal(ram_load(&m->ram, p4, 8) & (PTE_A | PTE_D), 0);
	/* the rest of the PTE is left as it was */
	assert_int_equal(ram_load(&m->ram, p1, 8),
			 (DATA >> 12) << 10 | PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
	/* already set: the PTE is not written again */
	th_clear_dirty(m);
	ok(m, 0x1000, ACC_W, DATA);
	assert_false(ram_is_dirty(&m->ram, pte_page));
	th_free(m);
}

static void test_page_tables_outside_ram(void **state)
{
	struct th_pt pt;
	struct machine *m = setup(&pt);
	uint64_t ptr1;

	(void)state;
	th_map(&pt, 0x1000, DATA, KRWX, 0);
	ptr1 = th_pte_addr(&pt, 0x1000, 1);
	/* a pointer to a table outside RAM: the PTE read is an access fault of the access's kind */
	ram_store(&m->ram, ptr1, (0x40000000ull >> 12) << 10 | PTE_V, 8);
	fails(m, 0x1000, ACC_R, access_fault[ACC_R]);
	fails(m, 0x1000, ACC_W, access_fault[ACC_W]);
	fails(m, 0x1000, ACC_X, access_fault[ACC_X]);
	/* so is a root outside RAM */
	m->harts[0].satp = (8ull << 60) | (0x40000000ull >> 12);
	fails(m, 0x1000, ACC_R, access_fault[ACC_R]);
	fails(m, 0x1000, ACC_X, access_fault[ACC_X]);
	m->harts[0].satp = (8ull << 60) | ((TH_RAM + (16ull << 20)) >> 12); /* just past the end */
	fails(m, 0x1000, ACC_W, access_fault[ACC_W]);
	th_free(m);
}

/* ---- as instructions see it ------------------------------------------------------------ */

#define UCODE 0x20000ull /* U-mode code page */

static struct machine *setup_on(struct th_pt *pt)
{
	struct machine *m = th_setup();

	th_paging_on(m, pt);
	th_map(pt, UCODE, TH_CODE + 0x2000, PTE_V | PTE_R | PTE_X | PTE_U | PTE_A, 0);
	return m;
}

/* Run one instruction at TH_CODE in S-mode with a0 = va; returns true if it trapped. */
static bool s_insn(struct machine *m, uint32_t insn, uint64_t va)
{
	m->harts[0].scause = TH_NO_TRAP;
	m->harts[0].x[A0] = va;
	th_code(m, TH_CODE, &insn, 1);
	th_step(m);
	return m->harts[0].scause != TH_NO_TRAP;
}

static void test_fault_causes(void **state)
{
	struct th_pt pt;
	struct machine *m = setup_on(&pt);
	const uint64_t none = 0x10000, ro = 0x11000, xo = 0x12000;

	(void)state;
	th_map(&pt, ro, DATA, PTE_V | PTE_R | PTE_A | PTE_D, 0);
	th_map(&pt, xo, DATA, PTE_V | PTE_X | PTE_A | PTE_D, 0);
	/* loads: 13, stores: 15, fetches: 12; stval = the faulting address, sepc the pc */
	assert_true(s_insn(m, LD(A1, A0, 8), none));
	th_expect_trap(m, EXC_LOAD_PAGE, none + 8, TH_CODE);
	assert_true(s_insn(m, SW(A1, A0, -4), none + 0x10));
	th_expect_trap(m, EXC_STORE_PAGE, none + 0xc, TH_CODE);
	assert_true(s_insn(m, SB(A1, A0, 0), ro + 3));
	th_expect_trap(m, EXC_STORE_PAGE, ro + 3, TH_CODE);
	assert_true(s_insn(m, LBU(A1, A0, 0), xo + 5));
	th_expect_trap(m, EXC_LOAD_PAGE, xo + 5, TH_CODE);
	assert_false(s_insn(m, LBU(A1, A0, 0), ro + 5));
	/* a fetch: the jump retires, the fetch at its target faults */
	assert_false(s_insn(m, JALR(ZERO, A0, 0), none + 0x24));
	th_step(m);
	th_expect_trap(m, EXC_INSN_PAGE, none + 0x24, none + 0x24);
	m->harts[0].scause = TH_NO_TRAP;
	m->harts[0].pc = ro;
	th_step(m);
	th_expect_trap(m, EXC_INSN_PAGE, ro, ro);
	/* a mapping to a hole in the physical address space: access faults */
	th_map(&pt, 0x13000, 0x40000000, KRWX, 0);
	assert_true(s_insn(m, LD(A1, A0, 0), 0x13008));
	th_expect_trap(m, EXC_LOAD_ACCESS, 0x13008, TH_CODE);
	assert_true(s_insn(m, SD(A1, A0, 0), 0x13010));
	th_expect_trap(m, EXC_STORE_ACCESS, 0x13010, TH_CODE);
	m->harts[0].pc = 0x13000;
	th_step(m);
	th_expect_trap(m, EXC_INSN_ACCESS, 0x13000, 0x13000);
	/* from U-mode, an S page: 13 and the same stval */
	{
		const uint32_t insn = LD(A1, A0, 0);

		ram_write(&m->ram, TH_CODE + 0x2000, &insn, 4);
		m->harts[0].x[A0] = ro + 8;
		th_enter_user(m, UCODE);
		th_step(m);
		th_expect_trap(m, EXC_LOAD_PAGE, ro + 8, UCODE);
		assert_false(m->harts[0].sstatus & SSTATUS_SPP);
	}
	th_free(m);
}

static void test_sfence_vma(void **state)
{
	struct th_pt pt;
	struct machine *m = setup_on(&pt);
	const uint64_t va = 0x10000;
	uint64_t pte;

	(void)state;
	ram_store(&m->ram, DATA, 0x1111, 8);
	ram_store(&m->ram, DATA + 0x1000, 0x2222, 8);
	pte = th_map(&pt, va, DATA, KRWX, 0);
	assert_false(s_insn(m, LD(A1, A0, 0), va));
	assert_int_equal(m->harts[0].x[A1], 0x1111);
	/* change the PTE: until an SFENCE.VMA, either translation may be used */
	ram_store(&m->ram, pte, ((DATA + 0x1000) >> 12) << 10 | KRWX, 8);
	assert_false(s_insn(m, LD(A1, A0, 0), va));
	assert_true(m->harts[0].x[A1] == 0x1111 || m->harts[0].x[A1] == 0x2222);
	/* after it, only the new one */
	assert_false(s_insn(m, SFENCE_VMA(ZERO, ZERO), 0));
	assert_false(s_insn(m, LD(A1, A0, 0), va));
	assert_int_equal(m->harts[0].x[A1], 0x2222);
	assert_false(s_insn(m, SD(A0, A0, 8), va)); /* a write entry now in the TLB */
	/* unmap it; SFENCE.VMA with rs1 = the address */
	ram_store(&m->ram, pte, 0, 8);
	m->harts[0].x[A1] = va;
	assert_false(s_insn(m, SFENCE_VMA(A1, ZERO), 0));
	assert_true(s_insn(m, LD(A1, A0, 0), va));
	th_expect_trap(m, EXC_LOAD_PAGE, va, TH_CODE);
	assert_true(s_insn(m, SD(A1, A0, 0), va));
	th_expect_trap(m, EXC_STORE_PAGE, va, TH_CODE);
	/* map it read-only: stores keep faulting after the fence */
	ram_store(&m->ram, pte, (DATA >> 12) << 10 | PTE_V | PTE_R | PTE_A | PTE_D, 8);
	assert_false(s_insn(m, SFENCE_VMA(ZERO, ZERO), 0));
	assert_false(s_insn(m, LD(A1, A0, 0), va));
	assert_int_equal(m->harts[0].x[A1], 0x1111);
	assert_true(s_insn(m, SD(A1, A0, 0), va));
	th_expect_trap(m, EXC_STORE_PAGE, va, TH_CODE);
	th_free(m);
}

static void test_tlb_aliasing_slots(void **state)
{
	struct th_pt pt;
	struct machine *m = setup_on(&pt);
	/* three pages that fall in the same slot of a direct-mapped TLB of any size up to 1M
	 * entries, one of them in the upper half of the address space */
	const uint64_t va[3] = { 0x10000, 0x100010000ull, 0xffffffc000010000ull };

	(void)state;
	for (int i = 0; i < 3; i++) {
		th_map(&pt, va[i], DATA + 0x1000 * (uint64_t)i, KRWX, 0);
		ram_store(&m->ram, DATA + 0x1000 * (uint64_t)i, 0x100 + (uint64_t)i, 8);
	}
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 3; i++) {
			uint64_t pa = DATA + 0x1000 * (uint64_t)i;

			assert_false(s_insn(m, LD(A1, A0, 0), va[i]));
			assert_int_equal(m->harts[0].x[A1], 0x100 + (uint64_t)i);
			assert_false(s_insn(m, SD(A0, A0, 8), va[i]));
			assert_int_equal(ram_load(&m->ram, pa + 8, 8), va[i]);
		}
	th_free(m);
}

static void test_fetch_translation_change(void **state)
{
	struct th_pt pt;
	struct machine *m = setup_on(&pt);
	const uint64_t va = 0x30000;
	const uint32_t one = ADDI(A0, ZERO, 1), two = ADDI(A0, ZERO, 2);
	uint64_t pte;

	(void)state;
	ram_write(&m->ram, DATA, &one, 4);
	ram_write(&m->ram, DATA + 0x1000, &two, 4);
	pte = th_map(&pt, va, DATA, PTE_V | PTE_X | PTE_A, 0);
	m->harts[0].pc = va;
	th_step(m);
	assert_int_equal(m->harts[0].x[A0], 1);
	ram_store(&m->ram, pte, ((DATA + 0x1000) >> 12) << 10 | PTE_V | PTE_X | PTE_A, 8);
	assert_false(s_insn(m, SFENCE_VMA(ZERO, ZERO), 0));
	m->harts[0].pc = va;
	th_step(m);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].x[A0], 2);
	/* and no longer executable */
	ram_store(&m->ram, pte, ((DATA + 0x1000) >> 12) << 10 | PTE_V | PTE_R | PTE_A, 8);
	assert_false(s_insn(m, SFENCE_VMA(ZERO, ZERO), 0));
	m->harts[0].pc = va;
	th_step(m);
	th_expect_trap(m, EXC_INSN_PAGE, va, va);
	th_free(m);
}

static void test_satp_write_switches_tables(void **state)
{
	struct th_pt a, b;
	struct machine *m = th_setup();
	const uint64_t va = 0x10000;
	const uint32_t code[] = {
		LD(A1, A0, 0), CSRRW(ZERO, CSR_SATP, T0), LD(A2, A0, 0), CSRRW(ZERO, CSR_SATP, T1),
		LD(A3, A0, 0),
	};

	(void)state;
	/* two address spaces that agree on the code and differ at va. (With ASIDLEN = 0 the
	 * spec would allow stale translations without an SFENCE.VMA; this VMM documents that a
	 * satp write drops the whole TLB, and Linux relies on nothing less than a fence.) */
	th_paging_on(m, &a);
	th_map(&a, va, DATA, KRWX, 0);
	b = (struct th_pt){ m, 0, TH_PT + 0x40000 };
	b.root = th_pt_alloc(&b);
	th_map(&b, TH_CODE, TH_CODE, KRWX, 0);
	th_map(&b, va, DATA + 0x1000, KRWX, 0);
	ram_store(&m->ram, DATA, 0x1111, 8);
	ram_store(&m->ram, DATA + 0x1000, 0x2222, 8);
	m->harts[0].x[A0] = va;
	m->harts[0].x[T0] = th_pt_satp(&b);
	m->harts[0].x[T1] = th_pt_satp(&a);
	th_code(m, TH_CODE, code, 5);
	assert_int_equal(th_run(m, 5), 5);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].x[A1], 0x1111);
	assert_int_equal(m->harts[0].x[A2], 0x2222);
	assert_int_equal(m->harts[0].x[A3], 0x1111);
	th_free(m);
}

static void test_sum_takes_effect_immediately(void **state)
{
	struct th_pt pt;
	struct machine *m = setup_on(&pt);
	const uint64_t va = 0x10000;
	const uint32_t code[] = {
		LD(A1, A0, 0),		      /* SUM = 1: allowed */
		CSRRC(ZERO, CSR_SSTATUS, T0), /* SUM = 0 */
		LD(A2, A0, 0),		      /* faults at once */
	};
	const uint32_t code2[] = {
		LD(A1, A0, 0),		      /* SUM = 0: faults */
		CSRRS(ZERO, CSR_SSTATUS, T0), /* SUM = 1 */
		SD(A0, A0, 0),		      /* allowed at once */
		LD(A2, A0, 0),
	};

	(void)state;
	th_map(&pt, va, DATA, URWX, 0);
	ram_store(&m->ram, DATA, 0x1111, 8);
	m->harts[0].x[A0] = va;
	m->harts[0].x[T0] = SSTATUS_SUM;
	/* through the CSR, as an instruction would: the hart picks its TLB set there */
	assert_true(cpu_csr_write(&m->harts[0], CSR_SSTATUS, m->harts[0].sstatus | SSTATUS_SUM));
	th_code(m, TH_CODE, code, 3);
	assert_int_equal(th_run(m, 3), 2);
	assert_int_equal(m->harts[0].x[A1], 0x1111);
	th_expect_trap(m, EXC_LOAD_PAGE, va, TH_CODE + 8);

	m->harts[0].scause = TH_NO_TRAP;
	th_code(m, TH_CODE, code2, 4);
	assert_int_equal(th_run(m, 1), 0);
	th_expect_trap(m, EXC_LOAD_PAGE, va, TH_CODE);
	m->harts[0].scause = TH_NO_TRAP;
	m->harts[0].pc = TH_CODE + 4;
	assert_int_equal(th_run(m, 3), 3);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].x[A2], va);
	th_free(m);
}

static void test_mxr_takes_effect_immediately(void **state)
{
	struct th_pt pt;
	struct machine *m = setup_on(&pt);
	const uint64_t va = 0x10000;
	const uint32_t code[] = {
		LD(A1, A0, 0),		      /* MXR = 1: allowed on an X-only page */
		CSRRC(ZERO, CSR_SSTATUS, T0), /* MXR = 0 */
		LD(A2, A0, 0),		      /* faults at once */
	};

	(void)state;
	th_map(&pt, va, DATA, PTE_V | PTE_X | PTE_A | PTE_D, 0);
	ram_store(&m->ram, DATA, 0x1111, 8);
	m->harts[0].x[A0] = va;
	m->harts[0].x[T0] = SSTATUS_MXR;
	assert_true(cpu_csr_write(&m->harts[0], CSR_SSTATUS, m->harts[0].sstatus | SSTATUS_MXR));
	th_code(m, TH_CODE, code, 3);
	assert_int_equal(th_run(m, 3), 2);
	assert_int_equal(m->harts[0].x[A1], 0x1111);
	th_expect_trap(m, EXC_LOAD_PAGE, va, TH_CODE + 8);
	th_free(m);
}

static void test_privilege_change_and_tlb(void **state)
{
	struct th_pt pt;
	struct machine *m = setup_on(&pt);
	const uint64_t sva = 0x10000, uva = 0x11000;
	const uint32_t ucode[] = { LD(A1, A0, 0), LD(A2, T0, 0), ECALL() };
	const uint32_t handler = LD(A3, T0, 0);

	(void)state;
	th_map(&pt, sva, DATA, KRWX, 0);
	th_map(&pt, uva, DATA + 0x1000, URWX, 0);
	ram_store(&m->ram, DATA, 0x1111, 8);
	ram_store(&m->ram, DATA + 0x1000, 0x2222, 8);
	ram_write(&m->ram, TH_CODE + 0x2000, ucode, sizeof(ucode));
	ram_write(&m->ram, TH_TRAP, &handler, 4);
	/* S-mode has the S page in its TLB */
	assert_false(s_insn(m, LD(A1, A0, 0), sva));
	assert_int_equal(m->harts[0].x[A1], 0x1111);
	/* U-mode: the U page loads, the S page faults despite S's cached translation */
	m->harts[0].x[A0] = uva;
	m->harts[0].x[T0] = sva;
	m->harts[0].x[A2] = 0;
	th_enter_user(m, UCODE);
	th_step(m);
	assert_int_equal(m->harts[0].x[A1], 0x2222);
	th_step(m);
	th_expect_trap(m, EXC_LOAD_PAGE, sva, UCODE + 4);
	assert_int_equal(m->harts[0].x[A2], 0);
	/* back in U, then ECALL to S: S without SUM may not use U's cached translation */
	m->harts[0].scause = TH_NO_TRAP;
	m->harts[0].x[T0] = uva;
	th_enter_user(m, UCODE);
	th_step(m);
	th_step(m);
	assert_int_equal(m->harts[0].x[A2], 0x2222);
	th_step(m);
	th_expect_trap(m, EXC_ECALL_U, 0, UCODE + 8);
	m->harts[0].scause = TH_NO_TRAP;
	th_step(m); /* the handler's load of the U page */
	th_expect_trap(m, EXC_LOAD_PAGE, uva, TH_TRAP);
	th_free(m);
}

static void test_store_after_load_sets_dirty(void **state)
{
	struct th_pt pt;
	struct machine *m = setup_on(&pt);
	const uint64_t va = 0x10000;
	uint64_t pte;

	(void)state;
	pte = th_map(&pt, va, DATA, PTE_V | PTE_R | PTE_W | PTE_A, 0);
	assert_false(s_insn(m, LD(A1, A0, 0), va));
	assert_false(ram_load(&m->ram, pte, 8) & PTE_D);
	assert_false(s_insn(m, SD(A0, A0, 0), va));
	assert_true(ram_load(&m->ram, pte, 8) & PTE_D);
	assert_int_equal(ram_load(&m->ram, DATA, 8), va);
	th_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bare),
		cmocka_unit_test(test_4k_pages),
		cmocka_unit_test(test_2m_superpage),
		cmocka_unit_test(test_1g_superpage),
		cmocka_unit_test(test_invalid_and_reserved_encodings),
		cmocka_unit_test(test_pointer_dau_reserved),
		cmocka_unit_test(test_non_canonical),
		cmocka_unit_test(test_user_pages_from_supervisor),
		cmocka_unit_test(test_supervisor_pages_from_user),
		cmocka_unit_test(test_permission_bits),
		cmocka_unit_test(test_accessed_dirty),
		cmocka_unit_test(test_page_tables_outside_ram),
		cmocka_unit_test(test_fault_causes),
		cmocka_unit_test(test_sfence_vma),
		cmocka_unit_test(test_tlb_aliasing_slots),
		cmocka_unit_test(test_fetch_translation_change),
		cmocka_unit_test(test_satp_write_switches_tables),
		cmocka_unit_test(test_sum_takes_effect_immediately),
		cmocka_unit_test(test_mxr_takes_effect_immediately),
		cmocka_unit_test(test_privilege_change_and_tlb),
		cmocka_unit_test(test_store_after_load_sets_dirty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
