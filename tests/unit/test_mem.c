/* test_mem.c - misaligned and page-crossing loads and stores, access faults, dirty pages.
 *
 * Misaligned accesses to RAM are performed (the VMM does what M-mode
 * firmware would otherwise emulate). An access that crosses a page behaves as
 * if split into its two pages: when the second faults, stval holds the
 * address of that portion (privileged spec: "the virtual address of the
 * portion of the access that caused the fault"), and, the exception being
 * precise, a faulting store writes nothing. Every store marks the pages it
 * writes in the dirty bitmap.
 */
#include "harness.h"

#define DATA TH_DATA

static void run_ok(struct machine *m, const uint32_t *code, size_t n)
{
	th_code(m, TH_CODE, code, n);
	assert_int_equal(th_run(m, n), n);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 4 * n);
}

/* One load or store at TH_CODE (rd = a2, rs1 = a0, rs2 = a1); returns a2. */
static uint64_t access1(struct machine *m, uint32_t insn, uint64_t addr, uint64_t val)
{
	m->harts[0].x[A0] = addr;
	m->harts[0].x[A1] = val;
	m->harts[0].x[A2] = 0x1234;
	run_ok(m, &insn, 1);
	return m->harts[0].x[A2];
}

/* The access must trap with cause and stval, leaving a2 alone. */
static void access_fault(struct machine *m, uint32_t insn, uint64_t addr, uint64_t cause,
			 uint64_t tval)
{
	m->harts[0].scause = TH_NO_TRAP;
	m->harts[0].x[A0] = addr;
	m->harts[0].x[A1] = 0x0102030405060708ull;
	m->harts[0].x[A2] = 0x1234;
	th_code(m, TH_CODE, &insn, 1);
	assert_int_equal(th_run(m, 1), 0);
	th_expect_trap(m, cause, tval, TH_CODE);
	assert_int_equal(m->harts[0].x[A2], 0x1234);
	m->harts[0].scause = TH_NO_TRAP;
}

/* byte i of the pattern at gpa is 0x10 + i */
static void pattern(struct machine *m, uint64_t gpa, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		ram_store(&m->ram, gpa + i, 0x10 + i, 1);
}

static void test_misaligned_loads(void **state)
{
	struct machine *m = th_setup();

	(void)state;
	pattern(m, DATA, 16);
	ram_store(&m->ram, DATA + 16, 0xfedcba9876543210ull, 8);
	/* twice each: the first fills the TLB, the second takes the fast path */
	for (int pass = 0; pass < 2; pass++) {
		assert_int_equal(access1(m, LH(A2, A0, 0), DATA + 1, 0), 0x1211);
		assert_int_equal(access1(m, LHU(A2, A0, 0), DATA + 7, 0), 0x1817);
		assert_int_equal(access1(m, LW(A2, A0, 0), DATA + 3, 0), 0x16151413);
		assert_int_equal(access1(m, LWU(A2, A0, 0), DATA + 2, 0), 0x15141312);
		assert_int_equal(access1(m, LD(A2, A0, 0), DATA + 5, 0), 0x1c1b1a1918171615ull);
		assert_int_equal(access1(m, LD(A2, A0, 0), DATA + 1, 0), 0x1817161514131211ull);
		/* sign extension of misaligned values */
		assert_int_equal(access1(m, LH(A2, A0, 0), DATA + 21, 0), 0xffffffffffffdcbaull);
		assert_int_equal(access1(m, LHU(A2, A0, 0), DATA + 21, 0), 0xdcba);
		assert_int_equal(access1(m, LW(A2, A0, 0), DATA + 19, 0), 0xffffffffdcba9876ull);
		assert_int_equal(access1(m, LWU(A2, A0, 0), DATA + 19, 0), 0xdcba9876ull);
		assert_int_equal(access1(m, LH(A2, A0, 0), DATA + 17, 0), 0x5432);
		assert_int_equal(access1(m, LD(A2, A0, 0), DATA + 15, 0), 0xdcba98765432101full);
	}
	th_free(m);
}

static void test_misaligned_stores(void **state)
{
	struct machine *m = th_setup();
	const uint64_t v = 0x1122334455667788ull;

	(void)state;
	for (int pass = 0; pass < 2; pass++) {
		ram_fill(&m->ram, DATA, 0xaa, 64);
		access1(m, SH(A1, A0, 0), DATA + 1, v);
		access1(m, SW(A1, A0, 0), DATA + 9, v);
		access1(m, SD(A1, A0, 0), DATA + 19, v);
		access1(m, SW(A1, A0, 0), DATA + 34, v);
		assert_int_equal(ram_load(&m->ram, DATA, 8), 0xaaaaaaaaaa7788aaull);
		assert_int_equal(ram_load(&m->ram, DATA + 8, 8), 0xaaaaaa55667788aaull);
		assert_int_equal(ram_load(&m->ram, DATA + 16, 8), 0x4455667788aaaaaaull);
		assert_int_equal(ram_load(&m->ram, DATA + 24, 8), 0xaaaaaaaaaa112233ull);
		assert_int_equal(ram_load(&m->ram, DATA + 32, 8), 0xaaaa55667788aaaaull);
		assert_int_equal(ram_load(&m->ram, DATA + 40, 8), 0xaaaaaaaaaaaaaaaaull);
	}
	th_free(m);
}

static void test_page_crossing_bare(void **state)
{
	struct machine *m = th_setup();
	const uint64_t edge = DATA + 0x1000;

	(void)state;
	pattern(m, edge - 8, 16);
	for (int pass = 0; pass < 2; pass++) {
		assert_int_equal(access1(m, LD(A2, A0, 0), edge - 3, 0), 0x1c1b1a1918171615ull);
		assert_int_equal(access1(m, LD(A2, A0, 0), edge - 7, 0), 0x1817161514131211ull);
		assert_int_equal(access1(m, LW(A2, A0, 0), edge - 2, 0), 0x19181716);
		assert_int_equal(access1(m, LWU(A2, A0, 0), edge - 1, 0), 0x1a191817);
		assert_int_equal(access1(m, LH(A2, A0, 0), edge - 1, 0), 0x1817);
	}
	ram_fill(&m->ram, edge - 8, 0xaa, 16);
	access1(m, SD(A1, A0, 0), edge - 5, 0x1122334455667788ull);
	assert_int_equal(ram_load(&m->ram, edge - 8, 8), 0x4455667788aaaaaaull);
	assert_int_equal(ram_load(&m->ram, edge, 8), 0xaaaaaaaaaa112233ull);
	access1(m, SH(A1, A0, 0), edge - 1, 0xbeef);
	assert_int_equal(ram_load(&m->ram, edge - 1, 2), 0xbeef);
	th_free(m);
}

/* Virtual layout for the paged tests: pairs of adjacent pages. */
#define VA_A 0x10000ull /* -> DATA + 0x5000, rw, A set, D clear */
#define VA_B 0x11000ull /* -> DATA + 0x2000, rw, A set, D clear (not contiguous with A) */
#define VA_C 0x13000ull /* -> DATA + 0x6000, rw; VA_C + 0x1000 unmapped */
#define VA_D 0x15000ull /* -> DATA + 0x7000, rw */
#define VA_E 0x16000ull /* -> DATA + 0x8000, read-only */
#define VA_G 0x18000ull /* -> DATA + 0x9000, rw; VA_G - 0x1000 unmapped */

struct paged {
	struct th_pt pt;
	uint64_t pte_a, pte_b;
};

static struct machine *paged_setup(struct paged *p)
{
	struct machine *m = th_setup();
	const uint64_t rw = PTE_V | PTE_R | PTE_W | PTE_A | PTE_D;

	th_paging_on(m, &p->pt);
	p->pte_a = th_map(&p->pt, VA_A, DATA + 0x5000, PTE_V | PTE_R | PTE_W | PTE_A, 0);
	p->pte_b = th_map(&p->pt, VA_B, DATA + 0x2000, PTE_V | PTE_R | PTE_W | PTE_A, 0);
	th_map(&p->pt, VA_C, DATA + 0x6000, rw, 0);
	th_map(&p->pt, VA_D, DATA + 0x7000, rw, 0);
	th_map(&p->pt, VA_E, DATA + 0x8000, PTE_V | PTE_R | PTE_A | PTE_D, 0);
	th_map(&p->pt, VA_G, DATA + 0x9000, rw, 0);
	return m;
}

static void test_page_crossing_mapped(void **state)
{
	struct paged p;
	struct machine *m = paged_setup(&p);

	(void)state;
	ram_store(&m->ram, DATA + 0x5ffc, 0xa3a2a1a0, 4);
	ram_store(&m->ram, DATA + 0x2000, 0xb3b2b1b0, 4);
	/* each half comes from its own page's translation */
	assert_int_equal(access1(m, LD(A2, A0, 0), VA_A + 0xffc, 0), 0xb3b2b1b0a3a2a1a0ull);
	assert_int_equal(access1(m, LW(A2, A0, 0), VA_A + 0xffe, 0), 0xffffffffb1b0a3a2ull);
	assert_int_equal(access1(m, LHU(A2, A0, 0), VA_A + 0xfff, 0), 0xb0a3);
	access1(m, SD(A1, A0, 0), VA_A + 0xffa, 0x1122334455667788ull);
	assert_int_equal(ram_load(&m->ram, DATA + 0x5ff8, 8), 0x3344556677880000ull);
	assert_int_equal(ram_load(&m->ram, DATA + 0x2000, 4), 0xb3b21122);
	/* the store set D in both pages' PTEs */
	assert_true(ram_load(&m->ram, p.pte_a, 8) & PTE_D);
	assert_true(ram_load(&m->ram, p.pte_b, 8) & PTE_D);
	th_free(m);
}

static void test_page_crossing_second_page_faults(void **state)
{
	struct paged p;
	struct machine *m = paged_setup(&p);

	(void)state;
	ram_fill(&m->ram, DATA + 0x6ff8, 0xaa, 8);
	ram_fill(&m->ram, DATA + 0x7ff8, 0xaa, 8);
	ram_fill(&m->ram, DATA + 0x8000, 0xbb, 8);
	/* second page unmapped: stval is the start of the second page */
	access_fault(m, LD(A2, A0, 0), VA_C + 0xffc, EXC_LOAD_PAGE, VA_C + 0x1000);
	access_fault(m, LW(A2, A0, 0), VA_C + 0xffe, EXC_LOAD_PAGE, VA_C + 0x1000);
	access_fault(m, LH(A2, A0, 0), VA_C + 0xfff, EXC_LOAD_PAGE, VA_C + 0x1000);
	access_fault(m, SD(A1, A0, 0), VA_C + 0xffc, EXC_STORE_PAGE, VA_C + 0x1000);
	access_fault(m, SH(A1, A0, 0), VA_C + 0xfff, EXC_STORE_PAGE, VA_C + 0x1000);
	assert_int_equal(ram_load(&m->ram, DATA + 0x6ff8, 8), 0xaaaaaaaaaaaaaaaaull);
	/* second page read-only: loads work, stores fault without writing the first page */
	assert_int_equal(access1(m, LD(A2, A0, 0), VA_D + 0xffc, 0), 0xbbbbbbbbaaaaaaaaull);
	access_fault(m, SD(A1, A0, 0), VA_D + 0xffc, EXC_STORE_PAGE, VA_E);
	access_fault(m, SW(A1, A0, 0), VA_D + 0xffd, EXC_STORE_PAGE, VA_E);
	assert_int_equal(ram_load(&m->ram, DATA + 0x7ff8, 8), 0xaaaaaaaaaaaaaaaaull);
	assert_int_equal(ram_load(&m->ram, DATA + 0x8000, 8), 0xbbbbbbbbbbbbbbbbull);
	/* also after the first page's write entry is in the TLB */
	access1(m, SD(A1, A0, 0), VA_D + 0xff0, 0x5555555555555555ull);
	access_fault(m, SD(A1, A0, 0), VA_D + 0xffc, EXC_STORE_PAGE, VA_E);
	assert_int_equal(ram_load(&m->ram, DATA + 0x7ff8, 8), 0xaaaaaaaaaaaaaaaaull);
	/* a load into x0 still faults (and a crossing one reports the second page) */
	access_fault(m, LD(ZERO, A0, 0), VA_C + 0x1000, EXC_LOAD_PAGE, VA_C + 0x1000);
	access_fault(m, LW(ZERO, A0, 0), VA_C + 0xffe, EXC_LOAD_PAGE, VA_C + 0x1000);
	/* first page unmapped: stval is the access's own address */
	access_fault(m, LD(A2, A0, 0), VA_G - 4, EXC_LOAD_PAGE, VA_G - 4);
	access_fault(m, SD(A1, A0, 0), VA_G - 2, EXC_STORE_PAGE, VA_G - 2);
	assert_int_equal(ram_load(&m->ram, DATA + 0x9000, 8), 0);
	th_free(m);
}

/* Put one instruction at TH_CODE, then collect the dirty bitmap, then run it: the bitmap
 * shows what the instruction alone wrote. */
static void run_clean(struct machine *m, uint32_t insn, uint64_t addr, uint64_t val)
{
	th_code(m, TH_CODE, &insn, 1);
	th_clear_dirty(m);
	m->harts[0].x[A0] = addr;
	m->harts[0].x[A1] = val;
	assert_int_equal(th_run(m, 1), 1);
	th_expect_no_trap(m);
}

static void test_stores_mark_dirty(void **state)
{
	struct paged p;
	struct machine *m = paged_setup(&p);

	(void)state;
	/* a crossing store marks both physical pages (and the PTE pages, whose D bits it sets) */
	run_clean(m, SD(A1, A0, 0), VA_A + 0xffd, 0x1122334455667788ull);
	assert_true(ram_is_dirty(&m->ram, DATA + 0x5000));
	assert_true(ram_is_dirty(&m->ram, DATA + 0x2000));
	assert_false(ram_is_dirty(&m->ram, DATA + 0x1000));
	assert_false(ram_is_dirty(&m->ram, DATA + 0x6000));
	assert_false(ram_is_dirty(&m->ram, TH_CODE));
	/* again after a collection, when both write entries had been in the TLB */
	run_clean(m, SD(A1, A0, 0), VA_A + 0xffd, 0x1122334455667788ull);
	assert_true(ram_is_dirty(&m->ram, DATA + 0x5000));
	assert_true(ram_is_dirty(&m->ram, DATA + 0x2000));
	assert_int_equal(ram_dirty_count(&m->ram), 2);
	/* a plain aligned store, before and after a collection (the TLB's fast path) */
	run_clean(m, SD(A1, A0, 0), VA_D, 1);
	assert_true(ram_is_dirty(&m->ram, DATA + 0x7000));
	assert_int_equal(ram_dirty_count(&m->ram), 1);
	run_clean(m, SB(A1, A0, 0), VA_D + 0x800, 1);
	assert_true(ram_is_dirty(&m->ram, DATA + 0x7000));
	assert_int_equal(ram_dirty_count(&m->ram), 1);
	/* loads mark nothing */
	run_clean(m, LD(A2, A0, 0), VA_D, 0);
	assert_int_equal(ram_dirty_count(&m->ram), 0);
	run_clean(m, LD(A2, A0, 0), VA_A + 0xffd, 0);
	assert_int_equal(ram_dirty_count(&m->ram), 0);
	/* atomics mark their page too */
	run_clean(m, AMOADD_D(A2, A0, A1), VA_D + 0x100, 1);
	assert_true(ram_is_dirty(&m->ram, DATA + 0x7000));
	assert_int_equal(ram_dirty_count(&m->ram), 1);
	{
		const uint32_t code[] = { LR_D(A2, A0), SC_D(A3, A0, A1) };

		m->harts[0].x[A0] = VA_D + 0x200;
		th_code(m, TH_CODE, code, 2);
		th_clear_dirty(m);
		assert_int_equal(th_run(m, 2), 2);
		assert_int_equal(m->harts[0].x[A3], 0);
		assert_true(ram_is_dirty(&m->ram, DATA + 0x7000));
		assert_int_equal(ram_dirty_count(&m->ram), 1);
	}
	th_free(m);

	/* bare mode too */
	m = th_setup();
	run_clean(m, SW(A1, A0, 0), DATA + 0x3ffe, 7);
	assert_true(ram_is_dirty(&m->ram, DATA + 0x3000));
	assert_true(ram_is_dirty(&m->ram, DATA + 0x4000));
	assert_int_equal(ram_dirty_count(&m->ram), 2);
	run_clean(m, SW(A1, A0, 0), DATA + 0x3ffe, 7);
	assert_int_equal(ram_dirty_count(&m->ram), 2);
	th_free(m);
}

static void test_access_faults_outside_ram(void **state)
{
	struct machine *m = th_setup();
	const uint64_t hole = 0x40000000, end = TH_RAM + (16ull << 20);

	(void)state;
	access_fault(m, LD(A2, A0, 0), hole, EXC_LOAD_ACCESS, hole);
	access_fault(m, LBU(A2, A0, 0), hole + 3, EXC_LOAD_ACCESS, hole + 3);
	access_fault(m, SD(A1, A0, 0), hole, EXC_STORE_ACCESS, hole);
	access_fault(m, SB(A1, A0, 0), hole + 1, EXC_STORE_ACCESS, hole + 1);
	/* crossing the end of RAM: the second part faults, nothing is written */
	ram_fill(&m->ram, end - 8, 0xaa, 8);
	assert_int_equal(access1(m, LD(A2, A0, 0), end - 8, 0), 0xaaaaaaaaaaaaaaaaull);
	access_fault(m, LD(A2, A0, 0), end - 4, EXC_LOAD_ACCESS, end);
	access_fault(m, SD(A1, A0, 0), end - 4, EXC_STORE_ACCESS, end);
	access_fault(m, SH(A1, A0, 0), end - 1, EXC_STORE_ACCESS, end);
	assert_int_equal(ram_load(&m->ram, end - 8, 8), 0xaaaaaaaaaaaaaaaaull);
	/* fetching from nothing */
	{
		const uint32_t jump = JALR(ZERO, A0, 0);

		m->harts[0].x[A0] = hole;
		th_code(m, TH_CODE, &jump, 1);
		th_step(m);
		assert_int_equal(m->harts[0].pc, hole);
		th_step(m);
		th_expect_trap(m, EXC_INSN_ACCESS, hole, hole);
	}
	th_free(m);
}

static void test_mmio_access(void **state)
{
	struct machine *m = th_setup();
	const uint64_t uart = MACHINE_UART_BASE;

	(void)state;
	/* an aligned byte read of a device register works (16550 LSR) */
	access1(m, LBU(A2, A0, 0), uart + 5, 0);
	/* a misaligned device access is not emulated: misaligned or access fault, stval = va */
	{
		const uint32_t insn = LW(A2, A0, 0);

		m->harts[0].scause = TH_NO_TRAP;
		m->harts[0].x[A0] = uart + 1;
		th_code(m, TH_CODE, &insn, 1);
		th_step(m);
		assert_true(m->harts[0].scause == EXC_LOAD_MISALIGNED ||
			    m->harts[0].scause == EXC_LOAD_ACCESS);
		assert_int_equal(m->harts[0].stval, uart + 1);
		assert_int_equal(m->harts[0].sepc, TH_CODE);
	}
	th_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_misaligned_loads),
		cmocka_unit_test(test_misaligned_stores),
		cmocka_unit_test(test_page_crossing_bare),
		cmocka_unit_test(test_page_crossing_mapped),
		cmocka_unit_test(test_page_crossing_second_page_faults),
		cmocka_unit_test(test_stores_mark_dirty),
		cmocka_unit_test(test_access_faults_outside_ram),
		cmocka_unit_test(test_mmio_access),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
