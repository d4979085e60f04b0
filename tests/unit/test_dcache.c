/* test_dcache.c - the decode cache: coherence with every write to RAM, exact counting, and the
 * decoded operations against the generic executor.
 *
 * Decoded instructions must never outlive the bytes they came from: a store by the hart (to the
 * same page, through a write-TLB entry made before the page held code, or through another
 * virtual alias), an AMO, an SC, a PTE A/D update by the page walk, and a device write
 * (ram_write, ram_dma_ptr, ram_fill, ram_store) are each followed by running the changed code.
 * No test needs FENCE.I: the cache is coherent by construction, which also honours FENCE.I.
 * Slices of any length must retire exactly the same instructions as single steps, and an
 * interrupt or a stop that an instruction causes in the middle of a slice is seen before the
 * next one. Last, random programs run once through the decoded operations and once through the
 * generic executor (c->generic) must end in the same state.
 */
#include "harness.h"

#include <stdlib.h>

#include "common/buf.h"
#include "vmm/board/sbi.h"
#include "common/state.h"

#define NOP ADDI(ZERO, ZERO, 0)
#define RET JALR(ZERO, RA, 0)

static void put(struct machine *m, uint64_t gpa, uint32_t insn)
{
	ram_write(&m->ram, gpa, &insn, 4);
}

static void put16(struct machine *m, uint64_t gpa, uint16_t parcel)
{
	ram_write(&m->ram, gpa, &parcel, 2);
}

static uint32_t get32(struct machine *m, uint64_t gpa)
{
	return (uint32_t)ram_load(&m->ram, gpa, 4);
}

/* A store over an instruction of the same page, already decoded, runs the new one, within
 * one slice and without FENCE.I. */
static void test_store_then_execute_same_page(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = {
		SW(A1, A0, 0), /* overwrite the instruction at +12 */
		ADDI(A3, ZERO, 7),
		NOP,
		ADDI(A2, ZERO, 1), /* replaced by addi a2, zero, 2 */
		NOP,
	};

	(void)state;
	th_code(m, TH_CODE, code, 5);
	m->harts[0].x[A0] = TH_CODE + 12;
	m->harts[0].x[A1] = ADDI(A2, ZERO, 2);
	/* decode the old version first */
	m->harts[0].pc = TH_CODE + 12;
	th_step(m);
	assert_int_equal(m->harts[0].x[A2], 1);
	m->harts[0].pc = TH_CODE;
	assert_int_equal(th_run(m, 5), 5);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].x[A2], 2);
	assert_int_equal(m->harts[0].x[A3], 7);
	assert_int_equal(m->harts[0].pc, TH_CODE + 20);
	th_free(m);
}

/* A loop that rewrites the immediate of an instruction it then runs, every iteration: the
 * page goes back and forth between code and data. */
static void test_loop_rewriting_itself(void **state)
{
	struct machine *m = th_setup();
	const uint32_t loop[] = {
		LW(T1, A0, 20), /* +0: the instruction at +20 */
		LUI(T2, 0x100), /* t2 = 1 << 20: one more in its immediate */
		ADD(T1, T1, T2),  SW(T1, A0, 20),     NOP,
		ADDI(A2, A2, 0),		      /* +20: its immediate is k in iteration k */
		ADDI(A3, A3, -1), BNE(A3, ZERO, -28), /* to +0 */
	};
	const int n = 50;

	(void)state;
	th_code(m, TH_CODE, loop, 8);
	m->harts[0].x[A0] = TH_CODE;
	m->harts[0].x[A3] = (uint64_t)n;
	assert_int_equal(th_run(m, 8 * (uint64_t)n), 8 * (uint64_t)n);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].x[A2], (uint64_t)(n * (n + 1) / 2));
	assert_int_equal(m->harts[0].pc, TH_CODE + 32);
	assert_int_equal(get32(m, TH_CODE + 20), ADDI(A2, A2, n));
	th_free(m);
}

/* A page first written through the write-TLB, then run as code, then written again through
 * the same virtual page: the second store must not go through the old write entry unseen. */
static void test_write_entry_then_code_then_store(void **state)
{
	struct machine *m = th_setup();
	const uint64_t p = TH_CODE + 0x3000;
	const uint32_t code[] = {
		SW(A1, A0, 0),	 /* p+0 = addi a2, zero, 5 (a write entry for p) */
		JALR(RA, A0, 0), /* run p: it becomes a code page */
		SW(A3, A0, 0),	 /* p+0 = addi a2, zero, 9 */
		JALR(RA, A0, 0), NOP,
	};

	(void)state;
	th_code(m, TH_CODE, code, 5);
	put(m, p, NOP);
	put(m, p + 4, RET);
	m->harts[0].x[A0] = p;
	m->harts[0].x[A1] = ADDI(A2, ZERO, 5);
	m->harts[0].x[A3] = ADDI(A2, ZERO, 9);
	assert_int_equal(th_run(m, 4), 4);
	assert_int_equal(m->harts[0].x[A2], 5);
	assert_int_equal(th_run(m, 5), 5);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].x[A2], 9);
	assert_int_equal(m->harts[0].pc, TH_CODE + 20);
	th_free(m);
}

/* The same physical page under two virtual addresses: written through one, run through the
 * other. The write entry made through the first must be dropped when the page becomes code. */
static void test_aliased_code_page(void **state)
{
	struct machine *m = th_setup();
	struct th_pt pt;
	const uint64_t p = TH_CODE + 0x5000, va1 = 0x40000000, va2 = 0x40003000;
	const uint32_t code[] = {
		SW(A3, A0, 0),	 /* through va1: addi a2, zero, 1 */
		JALR(RA, A1, 0), /* run through va2 */
		SW(A4, A0, 0),	 /* through va1 again: addi a2, zero, 2 */
		JALR(RA, A1, 0), NOP,
	};

	(void)state;
	th_paging_on(m, &pt);
	th_map(&pt, va1, p, TH_PTE_KERNEL, 0);
	th_map(&pt, va2, p, TH_PTE_KERNEL, 0);
	th_code(m, TH_CODE, code, 5);
	put(m, p, NOP);
	put(m, p + 4, RET);
	m->harts[0].x[A0] = va1;
	m->harts[0].x[A1] = va2;
	m->harts[0].x[A3] = ADDI(A2, ZERO, 1);
	m->harts[0].x[A4] = ADDI(A2, ZERO, 2);
	assert_int_equal(th_run(m, 4), 4);
	assert_int_equal(m->harts[0].x[A2], 1);
	assert_int_equal(th_run(m, 5), 5);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].x[A2], 2);
	th_free(m);
}

/* Devices write RAM with ram_write, ram_dma_ptr (then the device's own copy), ram_fill and
 * ram_store; snapshot loads with the first two. Each is seen by the next run. */
static void test_device_writes_over_code(void **state)
{
	struct machine *m = th_setup();
	uint32_t insn;
	uint8_t *p;

	(void)state;
	put(m, TH_CODE, ADDI(A2, ZERO, 1));
	put(m, TH_CODE + 4, NOP);
	th_step(m);
	assert_int_equal(m->harts[0].x[A2], 1);

	insn = ADDI(A2, ZERO, 2);
	ram_write(&m->ram, TH_CODE, &insn, 4);
	m->harts[0].pc = TH_CODE;
	th_step(m);
	assert_int_equal(m->harts[0].x[A2], 2);

	insn = ADDI(A2, ZERO, 3);
	p = ram_dma_ptr(&m->ram, TH_CODE, 4);
	memcpy(p, &insn, 4); /* as a disk read lands with pread */
	m->harts[0].pc = TH_CODE;
	th_step(m);
	assert_int_equal(m->harts[0].x[A2], 3);

	ram_store(&m->ram, TH_CODE, ADDI(A2, ZERO, 4), 4);
	m->harts[0].pc = TH_CODE;
	th_step(m);
	assert_int_equal(m->harts[0].x[A2], 4);

	/* a write of several pages, starting with the code page */
	ram_fill(&m->ram, TH_CODE, 0, 0x3000);
	m->harts[0].pc = TH_CODE;
	th_step(m);
	th_expect_trap(m, EXC_ILLEGAL, 0, TH_CODE);
	th_free(m);
}

/* A device write in the middle of the code the hart is running, between two slices, while the
 * hart is about to run the next instruction of the same page. */
static void test_device_write_between_slices(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = { ADDI(A2, A2, 1), ADDI(A2, A2, 1), ADDI(A2, A2, 1), NOP };

	(void)state;
	th_code(m, TH_CODE, code, 4);
	assert_int_equal(th_run(m, 3), 3);
	assert_int_equal(m->harts[0].x[A2], 3);
	m->harts[0].pc = TH_CODE + 4;
	th_step(m);
	assert_int_equal(m->harts[0].x[A2], 4);
	put(m, TH_CODE + 8, ADDI(A2, A2, 100)); /* the next instruction, already decoded */
	th_step(m);
	assert_int_equal(m->harts[0].x[A2], 104);
	th_free(m);
}

/* AMOs and SC write code too. */
static void test_amo_and_sc_over_code(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = {
		AMOSWAP_W(T0, A0, A1), /* +24 = addi a2, zero, 3 */
		AMOADD_W(T1, A0, A3),  /* its immediate += 4 */
		LR_W(T2, A4),
		SC_W(T3, A4, A5), /* +28 = addi a3, zero, 11 */
		NOP,
		NOP,
		ADDI(A2, ZERO, 1), /* +24 */
		ADDI(A3, ZERO, 1), /* +28 */
		NOP,
	};

	(void)state;
	th_code(m, TH_CODE, code, 9);
	/* decode +24 and +28 first */
	m->harts[0].pc = TH_CODE + 24;
	assert_int_equal(th_run(m, 2), 2);
	m->harts[0].x[A2] = m->harts[0].x[A3] = 0;
	m->harts[0].pc = TH_CODE;
	m->harts[0].x[A0] = TH_CODE + 24;
	m->harts[0].x[A1] = ADDI(A2, ZERO, 3);
	m->harts[0].x[A3] = 4u << 20;
	m->harts[0].x[A4] = TH_CODE + 28;
	m->harts[0].x[A5] = ADDI(A3, ZERO, 11);
	assert_int_equal(th_run(m, 8), 8);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].x[T3], 0); /* the SC succeeded */
	assert_int_equal(m->harts[0].x[A2], 7);
	assert_int_equal(m->harts[0].x[A3], 11);
	th_free(m);
}

/* The page walk's A/D update is a write to RAM like any other. Here a leaf PTE is also an
 * instruction: V|R with A clear reads as LOAD (opcode 0x03); setting A turns its opcode into
 * 0x43, which does not exist here. */
static void test_pte_update_over_code(void **state)
{
	struct machine *m = th_setup();
	struct th_pt pt;
	const uint64_t va = 0x40000000;
	/* PPN chosen so that the PTE's low word decodes as ld x0, 512(a0) */
	const uint64_t ppn = (TH_RAM >> 12) + 0x14c;
	const uint64_t pte = ppn << PTE_PPN_SHIFT | PTE_V | PTE_R;
	uint64_t pte_addr, table;

	(void)state;
	assert_int_equal((uint32_t)pte, rv_i(0x03, ZERO, 3, A0, 512));
	th_paging_on(m, &pt);
	th_map(&pt, TH_DATA, TH_DATA, TH_PTE_KERNEL, 0);
	pte_addr = th_map(&pt, va, ppn << 12, PTE_V | PTE_R, 0);
	table = pte_addr & ~0xfffull;
	/* the table page is also code, run at its own address */
	th_map(&pt, table, table, TH_PTE_KERNEL, 0);
	put(m, TH_CODE, LD(T0, A1, 0)); /* a load through va: the walk sets A */
	m->harts[0].x[A0] = TH_DATA;
	m->harts[0].x[A1] = va;

	m->harts[0].pc = pte_addr;
	th_step(m);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].pc, pte_addr + 4);

	m->harts[0].pc = TH_CODE;
	th_step(m);
	th_expect_no_trap(m);
	assert_int_equal(ram_load(&m->ram, pte_addr, 8), pte | PTE_A);

	m->harts[0].pc = pte_addr;
	th_step(m);
	th_expect_trap(m, EXC_ILLEGAL, (uint32_t)(pte | PTE_A), pte_addr);
	th_free(m);
}

/* Code that crosses a page boundary: falling through from one page to the next, a 32-bit
 * instruction whose halves are on two pages, and a change of either half. */
static void test_code_crossing_pages(void **state)
{
	struct machine *m = th_setup();
	const uint64_t b = TH_CODE + 0x1000;	 /* the boundary */
	const uint64_t other = TH_CODE + 0x3000; /* code on a third page */
	const uint32_t v1 = ADDI(A2, A2, 0x123), v2 = ADDI(A2, A2, 0x456);
	const uint32_t v3 = ADDI(A2, A2, -0x100), v4 = ADDI(A2, A2, 0x77);

	(void)state;
	/* Only the second page changes below, unless said otherwise; the code that changes it
	 * is on a third page, written first. v1..v4 differ only in their upper halves. */
	put(m, other, SH(A5, A4, 0));
	put(m, other + 4, JAL(ZERO, (int32_t)(b - 2 - (other + 4))));
	put(m, b - 8, ADDI(A1, ZERO, 1));
	put16(m, b - 4, C_ADDI(A1, 1));
	put16(m, b - 2, C_ADDI(A1, 1)); /* the last parcel of the page */
	put(m, b, ADDI(A1, A1, 1));	/* the first of the next */
	m->harts[0].pc = b - 8;
	assert_int_equal(th_run(m, 4), 4);
	assert_int_equal(m->harts[0].x[A1], 4);
	assert_int_equal(m->harts[0].pc, b + 4);

	/* a 32-bit instruction across the boundary, then one after it */
	put16(m, b - 2, (uint16_t)v1);
	put16(m, b, (uint16_t)(v1 >> 16));
	put(m, b + 2, ADDI(A3, A3, 1));
	m->harts[0].pc = b - 2;
	assert_int_equal(th_run(m, 2), 2);
	assert_int_equal(m->harts[0].x[A2], 0x123);
	assert_int_equal(m->harts[0].pc, b + 6);

	/* the hart rewrites the upper half, then jumps to it */
	m->harts[0].x[A4] = b;
	m->harts[0].x[A5] = v2 >> 16;
	m->harts[0].x[A2] = 0;
	m->harts[0].pc = other;
	assert_int_equal(th_run(m, 4), 4);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].x[A2], 0x456);
	assert_int_equal(m->harts[0].x[A3], 2);

	/* a device rewrites the upper half */
	m->harts[0].x[A2] = 0;
	ram_store(&m->ram, b, v3 >> 16, 2);
	m->harts[0].pc = b - 2;
	th_step(m);
	assert_int_equal(m->harts[0].x[A2], (uint64_t)-0x100);

	/* a device rewrites it whole */
	m->harts[0].x[A2] = 0;
	put16(m, b - 2, (uint16_t)v4);
	put16(m, b, (uint16_t)(v4 >> 16));
	m->harts[0].pc = b - 2;
	th_step(m);
	assert_int_equal(m->harts[0].x[A2], 0x77);

	/* a backward branch from the second page to the first */
	put(m, b + 2, BNE(A3, ZERO, -4)); /* to the crossing instruction, while a3 != 0 */
	put(m, b + 6, NOP);
	m->harts[0].x[A3] = 3;
	/* the loop: the crossing instruction (a3 -= 1), then the branch back while a3 != 0 */
	put16(m, b - 2, (uint16_t)ADDI(A3, A3, -1));
	put16(m, b, (uint16_t)(ADDI(A3, A3, -1) >> 16));
	m->harts[0].pc = b - 2;
	assert_int_equal(th_run(m, 6), 6);
	assert_int_equal(m->harts[0].x[A3], 0);
	assert_int_equal(m->harts[0].pc, b + 6);
	th_free(m);
}

/* A different page mapped at the same virtual address after SFENCE.VMA, or after a satp write:
 * the decoded page is found again through the new translation. */
static void test_remap_code_page(void **state)
{
	struct machine *m = th_setup();
	struct th_pt pt;
	const uint64_t va = 0x40000000, p1 = TH_CODE + 0x3000, p2 = TH_CODE + 0x4000;
	uint64_t pte_addr;

	(void)state;
	th_paging_on(m, &pt);
	pte_addr = th_map(&pt, va, p1, TH_PTE_KERNEL, 0);
	put(m, p1, ADDI(A2, ZERO, 1));
	put(m, p1 + 4, RET);
	put(m, p2, ADDI(A2, ZERO, 2));
	put(m, p2 + 4, RET);
	put(m, TH_CODE, JALR(RA, A0, 0));
	put(m, TH_CODE + 4, SFENCE_VMA(ZERO, ZERO));
	put(m, TH_CODE + 8, JALR(RA, A0, 0));
	put(m, TH_CODE + 12, CSRRW(ZERO, CSR_SATP, A1)); /* the same satp: drops the TLB */
	put(m, TH_CODE + 16, JALR(RA, A0, 0));
	put(m, TH_CODE + 20, NOP);
	m->harts[0].x[A0] = va;
	m->harts[0].x[A1] = m->harts[0].satp;
	assert_int_equal(th_run(m, 3), 3);
	assert_int_equal(m->harts[0].x[A2], 1);
	ram_store(&m->ram, pte_addr, (p2 >> 12) << PTE_PPN_SHIFT | TH_PTE_KERNEL, 8);
	assert_int_equal(th_run(m, 4), 4);
	assert_int_equal(m->harts[0].x[A2], 2);
	ram_store(&m->ram, pte_addr, (p1 >> 12) << PTE_PPN_SHIFT | TH_PTE_KERNEL, 8);
	assert_int_equal(th_run(m, 4), 4);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].x[A2], 1);
	assert_int_equal(m->harts[0].pc, TH_CODE + 20);
	th_free(m);
}

/* A store to a code page is a store like any other for dirty tracking, also after the bitmap
 * was collected. */
static void test_code_page_stores_marked_dirty(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = { SW(ZERO, A0, 0), SW(ZERO, A0, 0), NOP };

	(void)state;
	th_code(m, TH_CODE, code, 3);
	m->harts[0].x[A0] = TH_CODE + 8;
	th_step(m);
	th_clear_dirty(m);
	assert_false(ram_is_dirty(&m->ram, TH_CODE));
	th_step(m);
	assert_true(ram_is_dirty(&m->ram, TH_CODE));
	th_free(m);
}

/* Loading a saved state empties the decode cache: no page is a code page any more. */
static void test_state_load_flushes(void **state)
{
	struct machine *m = th_setup();
	struct buf b;
	struct rbuf r;
	struct err e;

	(void)state;
	put(m, TH_CODE, ADDI(A2, ZERO, 1));
	th_step(m);
	assert_true(ram_is_code(&m->ram, TH_CODE));
	buf_init(&b);
	state_save(&cpu_state, &m->harts[0], &b);
	rbuf_init(&r, b.p, b.len);
	assert_int_equal(state_load(&cpu_state, &m->harts[0], &r, &e), 0);
	assert_false(ram_is_code(&m->ram, TH_CODE));
	for (int s = 0; s < TLB_SETS; s++)
		for (int i = 0; i < TLB_ENTRIES; i++)
			assert_null(m->harts[0].xpage[s][i]);
	m->harts[0].pc = TH_CODE;
	th_step(m);
	assert_int_equal(m->harts[0].x[A2], 1);
	buf_free(&b);
	th_free(m);
}

/* ---- exact counting ------------------------------------------------------------------------ */

struct snap {
	uint64_t pc, instret, a0, a1, a2, sepc;
};

static struct snap snap_of(const struct machine *m)
{
	const struct cpu *c = &m->harts[0];

	return (struct snap){ c->pc, c->instret, c->x[A0], c->x[A1], c->x[A2], c->sepc };
}

/* A loop that calls a function straddling two pages (compressed, a crossing 32-bit
 * instruction), takes a breakpoint trap and returns from it each iteration. */
static void counting_program(struct machine *m)
{
	const uint64_t fn = TH_CODE + 0x1ffa;

	put(m, TH_CODE, ADDI(A0, ZERO, 40));
	put(m, TH_CODE + 4, JAL(RA, (int32_t)(fn - (TH_CODE + 4))));
	put(m, TH_CODE + 8, EBREAK());
	put(m, TH_CODE + 12, ADDI(A0, A0, -1));
	put(m, TH_CODE + 16, BNE(A0, ZERO, -12));
	put(m, TH_CODE + 20, JAL(ZERO, 0));
	put16(m, fn, C_ADDI(A1, 1));
	put16(m, fn + 2, C_ADDI(A1, 2));
	put16(m, fn + 4, (uint16_t)ADDI(A2, A2, 3)); /* 0x1ffe: across the boundary */
	put16(m, fn + 6, (uint16_t)(ADDI(A2, A2, 3) >> 16));
	put(m, fn + 8, RET);
	/* the trap handler: sepc += 4, back */
	put(m, TH_TRAP, CSRRS(T6, CSR_SEPC, ZERO));
	put(m, TH_TRAP + 4, ADDI(T6, T6, 4));
	put(m, TH_TRAP + 8, CSRRW(ZERO, CSR_SEPC, T6));
	put(m, TH_TRAP + 12, SRET());
	m->harts[0].pc = TH_CODE;
}

static void test_slices_count_exactly(void **state)
{
	enum { N = 700 };
	struct snap *ref = calloc(N + 1, sizeof(*ref));
	static const uint64_t slices[] = { 2, 3, 5, 7, 11, 13, 64, 1000 };
	struct machine *m = th_setup();

	(void)state;
	assert_non_null(ref);
	counting_program(m);
	ref[0] = snap_of(m);
	for (int i = 1; i <= N; i++) {
		th_step(m);
		ref[i] = snap_of(m);
	}
	assert_int_equal(m->harts[0].pc, TH_CODE + 20); /* it got to the end */
	th_free(m);

	for (size_t k = 0; k < sizeof(slices) / sizeof(slices[0]); k++) {
		uint64_t steps = 0;

		m = th_setup();
		counting_program(m);
		while (steps + slices[k] <= N) {
			uint64_t before = m->harts[0].instret, done = th_run(m, slices[k]);

			steps += slices[k];
			assert_int_equal(done, m->harts[0].instret - before);
			assert_int_equal(m->harts[0].pc, ref[steps].pc);
			assert_int_equal(m->harts[0].instret, ref[steps].instret);
			assert_int_equal(m->harts[0].x[A0], ref[steps].a0);
			assert_int_equal(m->harts[0].x[A1], ref[steps].a1);
			assert_int_equal(m->harts[0].x[A2], ref[steps].a2);
			assert_int_equal(m->harts[0].sepc, ref[steps].sepc);
		}
		th_free(m);
	}
	free(ref);
}

/* ---- what an instruction changes mid-slice is seen before the next one -------------------- */

#define PLIC_ENABLE0 (MACHINE_PLIC_BASE + 0x2000)

/* An MMIO store that raises SEIP (enabling a pending PLIC source) interrupts the slice right
 * after it. */
static void test_mmio_raises_interrupt_mid_slice(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = { ADDI(A2, ZERO, 1), SW(T1, T0, 0), ADDI(A2, ZERO, 2), NOP };
	uint64_t v = 1;

	(void)state;
	th_code(m, TH_CODE, code, 4);
	put(m, TH_TRAP, JAL(ZERO, 0));
	assert_true(machine_mmio_write(m, MACHINE_PLIC_BASE + 4, 4, v)); /* source 1: priority 1 */
	plic_set_level(th_plic(m), 1, true);
	assert_false(m->harts[0].sip & SIP_SEIP);
	m->harts[0].x[T0] = PLIC_ENABLE0;
	m->harts[0].x[T1] = 2;
	m->harts[0].sie = SIP_SEIP;
	m->harts[0].sstatus |= SSTATUS_SIE;
	/* two retire, the interrupt is a step, then the handler's jump 97 times */
	assert_int_equal(th_run(m, 100), 2 + 97);
	assert_int_equal(m->harts[0].scause, CAUSE_INTERRUPT | IRQ_SEI);
	assert_int_equal(m->harts[0].sepc, TH_CODE + 8);
	assert_int_equal(m->harts[0].x[A2], 1);
	th_free(m);
}

/* A CSR write that enables a pending interrupt, in the middle of a slice. */
static void test_csr_enables_interrupt_mid_slice(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = { NOP, CSRRSI(ZERO, CSR_SSTATUS, 2), ADDI(A2, ZERO, 1), NOP };

	(void)state;
	th_code(m, TH_CODE, code, 4);
	put(m, TH_TRAP, JAL(ZERO, 0));
	m->harts[0].sie = SIP_STIP;
	cpu_set_irq(&m->harts[0], SIP_STIP, true);
	assert_int_equal(th_run(m, 10), 2 + 7); /* the interrupt, then the handler's jump 7 times */
	assert_int_equal(m->harts[0].scause, CAUSE_INTERRUPT | IRQ_STI);
	assert_int_equal(m->harts[0].sepc, TH_CODE + 8);
	assert_int_equal(m->harts[0].x[A2], 0);
	th_free(m);
}

/* An SBI call that stops the hart ends the slice right after it. */
static void test_stop_mid_slice(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = { NOP, NOP, ECALL(), NOP, NOP };

	(void)state;
	th_code(m, TH_CODE, code, 5);
	m->harts[0].x[A7] = SBI_EXT_HSM;
	m->harts[0].x[A6] = 1; /* hart_stop */
	assert_int_equal(th_run(m, 100), 3);
	assert_int_equal(m->harts[0].pc, TH_CODE + 12);
	assert_int_equal(m->harts[0].instret, 3);
	assert_int_equal(th_run(m, 100), 0);
	th_free(m);
}

/* ---- the decoded operations against the generic executor --------------------------------- */

static uint64_t rng_state;

static uint32_t rnd(void)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng_state >> 33);
}

static unsigned pick(unsigned n)
{
	return rnd() % n;
}

/* Registers a random instruction may write: not sp, s0, s1 (bases) nor t6 (the handler's). */
static unsigned rreg(void)
{
	static const uint8_t regs[] = {
		ZERO, RA, GP, TP, T0, T1, T2, A0, A1, A2,  A3,	A4, A5, A6,
		A7,   S2, S3, S4, S5, S6, S7, S8, S9, S10, S11, T3, T4, T5
	};

	return regs[pick(sizeof(regs))];
}

static unsigned sreg(void)
{
	return pick(32); /* any register as a source */
}

static unsigned creg(void)
{
	return A0 + pick(6); /* x10..x15 for rd' */
}

#define DATA_BYTES 0x2000 /* [TH_DATA, TH_DATA + 8 KiB): s0 in the first page, s1 on the boundary */

struct prog {
	uint8_t code[0x5000]; /* up to 12 bytes a unit */
	size_t len;
	size_t unit[4096]; /* offset of each unit */
	size_t nunits;
};

static void emit32(struct prog *p, uint32_t insn)
{
	memcpy(p->code + p->len, &insn, 4);
	p->len += 4;
}

static void emit16(struct prog *p, uint16_t parcel)
{
	memcpy(p->code + p->len, &parcel, 2);
	p->len += 2;
}

static int32_t simm(int bits)
{
	return (int32_t)(rnd() << (32 - bits)) >> (32 - bits);
}

/* One random unit: an instruction, or the three of an SBI call. */
static void random_unit(struct prog *p)
{
	static const uint8_t opf[][2] = { /* OP and OP-32: f3, f7 */
					  { 0, 0 }, { 0, 0x20 }, { 1, 0 },    { 2, 0 }, { 3, 0 },
					  { 4, 0 }, { 5, 0 },	 { 5, 0x20 }, { 6, 0 }, { 7, 0 },
					  { 0, 1 }, { 1, 1 },	 { 2, 1 },    { 3, 1 }, { 4, 1 },
					  { 5, 1 }, { 6, 1 },	 { 7, 1 }
	};
	unsigned k = pick(100), rd = rreg(), r1 = sreg(), r2 = sreg();

	if (k < 22) { /* OP */
		const uint8_t *f = opf[pick(18)];

		emit32(p, rv_r(0x33, rd, f[0], r1, r2, f[1]));
	} else if (k < 32) { /* OP-32 */
		static const uint8_t f32[][2] = { { 0, 0 },    { 0, 0x20 }, { 1, 0 }, { 5, 0 },
						  { 5, 0x20 }, { 0, 1 },    { 4, 1 }, { 5, 1 },
						  { 6, 1 },    { 7, 1 } };
		const uint8_t *f = f32[pick(10)];

		emit32(p, rv_r(0x3b, rd, f[0], r1, r2, f[1]));
	} else if (k < 44) { /* OP-IMM */
		unsigned f3 = pick(8);
		int32_t imm = simm(12);

		if (f3 == 1)
			imm &= 63;
		if (f3 == 5)
			imm = (imm & 63) | (pick(2) ? 0x400 : 0);
		emit32(p, rv_i(0x13, rd, f3, r1, imm));
	} else if (k < 50) { /* OP-IMM-32 */
		switch (pick(4)) {
		case 0:
			emit32(p, ADDIW(rd, r1, simm(12)));
			break;
		case 1:
			emit32(p, SLLIW(rd, r1, pick(32)));
			break;
		case 2:
			emit32(p, SRLIW(rd, r1, pick(32)));
			break;
		default:
			emit32(p, SRAIW(rd, r1, pick(32)));
			break;
		}
	} else if (k < 53) {
		emit32(p, pick(2) ? LUI(rd, rnd() & 0xfffff) : AUIPC(rd, rnd() & 0xfffff));
	} else if (k < 63) { /* loads, some misaligned, some across the s1 page boundary */
		static const unsigned f3s[] = { 0, 1, 2, 3, 4, 5, 6 };

		emit32(p, rv_i(0x03, rd, f3s[pick(7)], pick(2) ? S0 : S1, simm(11)));
	} else if (k < 71) { /* stores */
		emit32(p, rv_s(0x23, pick(4), pick(2) ? S0 : S1, sreg(), simm(11)));
	} else if (k < 85) { /* compressed */
		unsigned c = creg(), c2 = creg();

		switch (pick(16)) {
		case 0:
			emit16(p, C_ADDI(rd, simm(6)));
			break;
		case 1:
			emit16(p, C_LI(rd, simm(6)));
			break;
		case 2:
			emit16(p, C_LUI(c, simm(6) | 1));
			break;
		case 3:
			emit16(p, C_SRLI(c, 1 + pick(63)));
			break;
		case 4:
			emit16(p, C_SRAI(c, 1 + pick(63)));
			break;
		case 5:
			emit16(p, C_ANDI(c, simm(6)));
			break;
		case 6: { /* SUB, XOR, OR, AND; SUBW, ADDW (the other two are reserved) */
			unsigned w = pick(2);

			emit16(p, rvc_ca(w, w ? pick(2) : pick(4), c, c2));
			break;
		}
		case 7:
			emit16(p, C_MV(rd ? rd : A0, r2 ? r2 : A1));
			break;
		case 8:
			emit16(p, C_ADD(rd ? rd : A0, r2 ? r2 : A1));
			break;
		case 9:
			emit16(p, C_SLLI(rd ? rd : A0, 1 + pick(63)));
			break;
		case 10:
			emit16(p, C_LW(c, pick(2) ? S0 : S1, 4 * pick(32)));
			break;
		case 11:
			emit16(p, C_LD(c, pick(2) ? S0 : S1, 8 * pick(32)));
			break;
		case 12:
			emit16(p, C_SW(c, pick(2) ? S0 : S1, 4 * pick(32)));
			break;
		case 13:
			emit16(p, C_SD(c, pick(2) ? S0 : S1, 8 * pick(32)));
			break;
		case 14:
			emit16(p, pick(2) ? C_LDSP(rd ? rd : A0, 8 * pick(64))
					  : C_SDSP(r2, 8 * pick(64)));
			break;
		default:
			emit16(p, C_ADDI4SPN(c, 4 * (1 + pick(255))));
			break;
		}
	} else if (k < 95) { /* a forward branch or jump; patched once the target is known */
		emit32(p, 0xdead0000u | pick(8)); /* placeholder, kind in the low bits */
	} else if (k < 97) { /* a load that faults: access fault at address 0 + imm */
		emit32(p, LD(rd, ZERO, 8 * (int32_t)pick(64)));
	} else if (k < 99) { /* an illegal instruction */
		emit32(p, 0xffffffffu);
	} else { /* an ECALL to the SBI (probe_extension: no side effect but a0, a1) */
		emit32(p, ADDI(A7, ZERO, 0x10));
		emit32(p, ADDI(A6, ZERO, 3));
		emit32(p, ECALL());
	}
}

/* Patch the placeholders into forward branches and jumps over 1..4 units. */
static void patch_branches(struct prog *p)
{
	for (size_t u = 0; u < p->nunits; u++) {
		uint32_t w;
		size_t off = p->unit[u], to;
		int32_t d;

		memcpy(&w, p->code + off, 4);
		if ((w >> 16) != 0xdead)
			continue;
		to = u + 1 + pick(4);
		if (to >= p->nunits)
			to = p->nunits - 1;
		d = (int32_t)(p->unit[to] - off);
		switch (w & 7) {
		case 6:
		case 7:
			w = JAL(pick(2) ? RA : ZERO, d);
			break;
		default: {
			static const unsigned f3s[] = { 0, 1, 4, 5, 6, 7 };

			w = rv_b(f3s[pick(6)], sreg(), sreg(), d);
			break;
		}
		}
		memcpy(p->code + off, &w, 4);
	}
}

static void random_prog(struct prog *p, size_t n)
{
	p->len = 0;
	p->nunits = 0;
	for (size_t i = 0; i < n; i++) {
		p->unit[p->nunits++] = p->len;
		random_unit(p);
	}
	p->unit[p->nunits++] = p->len;
	emit32(p, JAL(ZERO, 0)); /* the end: spin */
	patch_branches(p);
}

static struct machine *random_machine(const struct prog *p, uint64_t seed, bool generic)
{
	struct machine *m = th_setup();
	uint8_t data[DATA_BYTES];
	const uint64_t base = TH_CODE + 0xf00; /* starts near a page end */

	m->harts[0].generic = generic;
	rng_state = seed ^ 0x5eed;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)rnd();
	ram_write(&m->ram, TH_DATA, data, sizeof(data));
	for (int r = 1; r < 32; r++)
		m->harts[0].x[r] = (uint64_t)rnd() << 32 | rnd();
	m->harts[0].x[SP] = TH_DATA + DATA_BYTES - 0x200;
	m->harts[0].x[S0] = TH_DATA + 0x800;
	m->harts[0].x[S1] = TH_DATA + 0x1000;
	/* the trap handler skips the 4-byte instruction that trapped */
	put(m, TH_TRAP, CSRRS(T6, CSR_SEPC, ZERO));
	put(m, TH_TRAP + 4, ADDI(T6, T6, 4));
	put(m, TH_TRAP + 8, CSRRW(ZERO, CSR_SEPC, T6));
	put(m, TH_TRAP + 12, SRET());
	ram_write(&m->ram, base, p->code, p->len);
	m->harts[0].pc = base;
	return m;
}

static void test_decoded_vs_generic(void **state)
{
	static struct prog p;
	const uint64_t base = TH_CODE + 0xf00;

	(void)state;
	for (uint64_t seed = 1; seed <= 40; seed++) {
		struct machine *a, *b;
		uint64_t budget;

		rng_state = seed;
		random_prog(&p, 1500);
		assert_true(p.len <= sizeof(p.code));
		a = random_machine(&p, seed, false);
		b = random_machine(&p, seed, true);
		/* enough steps to reach the end: forward control flow only, 4 per trap */
		budget = 5 * p.nunits + 100;
		/* a in uneven slices, b in one */
		rng_state = seed * 7;
		for (uint64_t done = 0; done < budget;) {
			uint64_t n = 1 + pick(300);

			if (n > budget - done)
				n = budget - done;
			th_run(a, n);
			done += n;
		}
		th_run(b, budget);
		assert_int_equal(a->harts[0].pc, base + p.unit[p.nunits - 1]);
		assert_int_equal(a->harts[0].pc, b->harts[0].pc);
		assert_int_equal(a->harts[0].instret, b->harts[0].instret);
		for (int r = 0; r < 32; r++) {
			if (a->harts[0].x[r] != b->harts[0].x[r])
				fail_msg("seed %llu: x%d = %llx decoded, %llx generic",
					 (unsigned long long)seed, r,
					 (unsigned long long)a->harts[0].x[r],
					 (unsigned long long)b->harts[0].x[r]);
		}
		assert_int_equal(a->harts[0].scause, b->harts[0].scause);
		assert_int_equal(a->harts[0].stval, b->harts[0].stval);
		assert_int_equal(a->harts[0].sepc, b->harts[0].sepc);
		assert_int_equal(a->harts[0].sstatus, b->harts[0].sstatus);
		assert_memory_equal(ram_ptr(&a->ram, TH_DATA), ram_ptr(&b->ram, TH_DATA),
				    DATA_BYTES);
		th_free(a);
		th_free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_then_execute_same_page),
		cmocka_unit_test(test_loop_rewriting_itself),
		cmocka_unit_test(test_write_entry_then_code_then_store),
		cmocka_unit_test(test_aliased_code_page),
		cmocka_unit_test(test_device_writes_over_code),
		cmocka_unit_test(test_device_write_between_slices),
		cmocka_unit_test(test_amo_and_sc_over_code),
		cmocka_unit_test(test_pte_update_over_code),
		cmocka_unit_test(test_code_crossing_pages),
		cmocka_unit_test(test_remap_code_page),
		cmocka_unit_test(test_code_page_stores_marked_dirty),
		cmocka_unit_test(test_state_load_flushes),
		cmocka_unit_test(test_slices_count_exactly),
		cmocka_unit_test(test_mmio_raises_interrupt_mid_slice),
		cmocka_unit_test(test_csr_enables_interrupt_mid_slice),
		cmocka_unit_test(test_stop_mid_slice),
		cmocka_unit_test(test_decoded_vs_generic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
