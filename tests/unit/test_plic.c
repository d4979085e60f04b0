/* test_plic.c - the PLIC: priorities, threshold, claim and complete, level sources, SEIP. */
#include "harness.h"

#define PLIC(off) (MACHINE_PLIC_BASE + (off))
#define PRIO(id) PLIC(4 * (id))
#define PENDING PLIC(0x1000)
#define ENABLE0 PLIC(0x2000)
#define THRESH0 PLIC(0x200000)
#define CLAIM0 PLIC(0x200004)

static uint32_t rd(struct machine *m, uint64_t pa)
{
	uint64_t v = 0;

	assert_true(machine_mmio_read(m, pa, 4, &v));
	return (uint32_t)v;
}

static void wr(struct machine *m, uint64_t pa, uint32_t v)
{
	assert_true(machine_mmio_write(m, pa, 4, v));
}

static bool seip(struct machine *m)
{
	return (m->harts[0].sip & SIP_SEIP) != 0;
}

static void test_claim_complete(void **state)
{
	struct machine *m = th_machine(0);

	(void)state;
	wr(m, PRIO(3), 1);
	wr(m, PRIO(5), 2);
	wr(m, ENABLE0, (1u << 3) | (1u << 5));
	plic_set_level(th_plic(m), 3, true);
	plic_set_level(th_plic(m), 5, true);
	assert_int_equal(rd(m, PENDING), (1u << 3) | (1u << 5));
	assert_true(seip(m));
	/* Highest priority first. */
	assert_int_equal(rd(m, CLAIM0), 5);
	assert_int_equal(rd(m, CLAIM0), 3);
	/* Both claimed: nothing left, SEIP drops. */
	assert_int_equal(rd(m, CLAIM0), 0);
	assert_false(seip(m));
	/* Source 5 still asserted: completing makes it pending again. */
	wr(m, CLAIM0, 5);
	assert_true(seip(m));
	assert_int_equal(rd(m, CLAIM0), 5);
	/* Source 3 lowered before completion: it does not come back. */
	plic_set_level(th_plic(m), 3, false);
	wr(m, CLAIM0, 3);
	plic_set_level(th_plic(m), 5, false);
	wr(m, CLAIM0, 5);
	assert_int_equal(rd(m, CLAIM0), 0);
	assert_false(seip(m));
	th_free(m);
}

static void test_threshold_and_enable(void **state)
{
	struct machine *m = th_machine(0);

	(void)state;
	wr(m, PRIO(10), 3);
	plic_set_level(th_plic(m), 10, true);
	assert_false(seip(m)); /* not enabled */
	wr(m, ENABLE0, 1u << 10);
	assert_true(seip(m));
	wr(m, THRESH0, 3); /* priority must exceed the threshold */
	assert_false(seip(m));
	assert_int_equal(rd(m, CLAIM0), 0);
	wr(m, THRESH0, 2);
	assert_true(seip(m));
	/* Priority 0 never interrupts. */
	wr(m, PRIO(10), 0);
	wr(m, THRESH0, 0);
	assert_false(seip(m));
	th_free(m);
}

static void test_tie_lowest_id_and_masks(void **state)
{
	struct machine *m = th_machine(0);

	(void)state;
	wr(m, PRIO(7), 2);
	wr(m, PRIO(4), 2);
	wr(m, ENABLE0, (1u << 7) | (1u << 4) | 1u);
	/* Source 0 does not exist: its enable bit and priority stay zero. */
	assert_int_equal(rd(m, ENABLE0), (1u << 7) | (1u << 4));
	wr(m, PRIO(0), 7);
	assert_int_equal(rd(m, PRIO(0)), 0);
	/* Priorities keep 3 bits. */
	wr(m, PRIO(7), 0xff);
	assert_int_equal(rd(m, PRIO(7)), 7);
	wr(m, PRIO(7), 2);
	plic_set_level(th_plic(m), 7, true);
	plic_set_level(th_plic(m), 4, true);
	assert_int_equal(rd(m, CLAIM0), 4);
	/* Completing a source the context has not enabled is ignored. */
	wr(m, ENABLE0, 1u << 7);
	wr(m, CLAIM0, 4);
	assert_true((th_plic(m)->claimed >> 4) & 1);
	/* Only 32-bit aligned accesses decode. */
	uint64_t v;

	assert_false(machine_mmio_read(m, CLAIM0, 1, &v));
	assert_false(machine_mmio_read(m, PLIC(2), 4, &v));
	assert_false(machine_mmio_write(m, PRIO(1), 8, 1));
	th_free(m);
}

static void test_interrupt_taken_by_hart(void **state)
{
	struct machine *m = th_machine(0);
	/* The handler at RAM+0x100 claims, then spins. */
	const uint32_t code[] = {
		CSRRS(ZERO, CSR_SSTATUS, T0), /* t0 = SIE */
		ADDI(A0, A0, 1),
		JAL(ZERO, -4),
	};

	(void)state;
	th_code(m, TH_RAM, code, 3);
	m->harts[0].x[T0] = SSTATUS_SIE;
	m->harts[0].stvec = TH_RAM + 0x100;
	m->harts[0].sie = SIP_SEIP;
	wr(m, PRIO(1), 1);
	wr(m, ENABLE0, 2);
	th_run(m, 3);
	assert_true(m->harts[0].x[A0] >= 1);
	plic_set_level(th_plic(m), 1, true);
	th_step(m); /* the interrupt is taken before the next instruction */
	assert_int_equal(m->harts[0].scause, CAUSE_INTERRUPT | IRQ_SEI);
	assert_int_equal(m->harts[0].pc, TH_RAM + 0x100);
	assert_false(m->harts[0].sstatus & SSTATUS_SIE);
	assert_true(m->harts[0].sstatus & SSTATUS_SPIE);
	th_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_claim_complete),
		cmocka_unit_test(test_threshold_and_enable),
		cmocka_unit_test(test_tie_lowest_id_and_masks),
		cmocka_unit_test(test_interrupt_taken_by_hart),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
