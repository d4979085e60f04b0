/* test_amo.c - the A extension: LR/SC reservations and the AMOs (unprivileged spec, "A").
 *
 * LR.W sign-extends; SC writes 0 to rd on success and nonzero on failure and,
 * either way, invalidates the reservation; an SC to an address outside the
 * reservation set fails. Each AMO returns the old value (sign-extended for .W)
 * and stores op(old, rs2); MIN/MAX compare signed, MINU/MAXU unsigned, on 32
 * bits for .W. Misaligned LR raises load-address-misaligned, misaligned
 * SC/AMO store/AMO-address-misaligned; an AMO faults as a store.
 */
#include "harness.h"

#define DATA TH_DATA

/* Run code at TH_CODE; n steps, all retiring. */
static void run_ok(struct machine *m, const uint32_t *code, size_t n)
{
	th_code(m, TH_CODE, code, n);
	assert_int_equal(th_run(m, n), n);
	th_expect_no_trap(m);
}

static void test_lr_sc_success(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = {
		LR_W(A2, A0),
		SC_W(A3, A0, A1),
		LR_D(A4, T0),
		SC_D(A5, T0, T1),
	};

	(void)state;
	ram_store(&m->ram, DATA, 0xcafebabe80000001ull, 8);
	ram_store(&m->ram, DATA + 8, 0x8877665544332211ull, 8);
	m->harts[0].x[A0] = DATA;
	m->harts[0].x[A1] = 0xffffffff12345678ull;
	m->harts[0].x[T0] = DATA + 8;
	m->harts[0].x[T1] = 0x0123456789abcdefull;
	m->harts[0].x[A3] = m->harts[0].x[A5] = 99;
	run_ok(m, code, 4);
	assert_int_equal(m->harts[0].x[A2], 0xffffffff80000001ull); /* LR.W sign-extends */
	assert_int_equal(m->harts[0].x[A3], 0);
	assert_int_equal(ram_load(&m->ram, DATA, 8), 0xcafebabe12345678ull);
	assert_int_equal(m->harts[0].x[A4], 0x8877665544332211ull);
	assert_int_equal(m->harts[0].x[A5], 0);
	assert_int_equal(ram_load(&m->ram, DATA + 8, 8), 0x0123456789abcdefull);
	th_free(m);
}

static void test_sc_fails_without_reservation(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = { SC_W(A3, A0, A1), SC_D(A4, A0, A1) };

	(void)state;
	ram_store(&m->ram, DATA, 0x1111111111111111ull, 8);
	m->harts[0].x[A0] = DATA;
	m->harts[0].x[A1] = 0x2222222222222222ull;
	run_ok(m, code, 2);
	assert_int_not_equal(m->harts[0].x[A3], 0);
	assert_int_not_equal(m->harts[0].x[A4], 0);
	assert_int_equal(ram_load(&m->ram, DATA, 8), 0x1111111111111111ull);
	th_free(m);
}

static void test_sc_consumes_reservation(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = {
		LR_D(A2, A0), SC_D(A3, A0, A1),
		SC_D(A4, A0, T0), /* the first SC used the reservation up */
	};

	(void)state;
	ram_store(&m->ram, DATA, 5, 8);
	m->harts[0].x[A0] = DATA;
	m->harts[0].x[A1] = 6;
	m->harts[0].x[T0] = 7;
	run_ok(m, code, 3);
	assert_int_equal(m->harts[0].x[A2], 5);
	assert_int_equal(m->harts[0].x[A3], 0);
	assert_int_not_equal(m->harts[0].x[A4], 0);
	assert_int_equal(ram_load(&m->ram, DATA, 8), 6);
	th_free(m);
}

static void test_sc_other_address_fails(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = {
		LR_D(A2, A0),
		SC_D(A3, T1, A1), /* another address, well outside any reservation set */
		SC_D(A4, A0, A1), /* and the failed SC invalidated the reservation */
	};

	(void)state;
	ram_store(&m->ram, DATA, 5, 8);
	ram_store(&m->ram, DATA + 0x800, 9, 8);
	m->harts[0].x[A0] = DATA;
	m->harts[0].x[T1] = DATA + 0x800;
	m->harts[0].x[A1] = 6;
	run_ok(m, code, 3);
	assert_int_not_equal(m->harts[0].x[A3], 0);
	assert_int_not_equal(m->harts[0].x[A4], 0);
	assert_int_equal(ram_load(&m->ram, DATA, 8), 5);
	assert_int_equal(ram_load(&m->ram, DATA + 0x800, 8), 9);
	th_free(m);
}

static void test_reservation_lost_on_trap(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = { LR_W(A2, A0), EBREAK() };
	const uint32_t handler = SC_W(A3, A0, A1);

	(void)state;
	ram_store(&m->ram, DATA, 5, 4);
	ram_write(&m->ram, TH_TRAP, &handler, 4);
	m->harts[0].x[A0] = DATA;
	m->harts[0].x[A1] = 6;
	th_code(m, TH_CODE, code, 2);
	assert_int_equal(th_run(m, 3), 2); /* LR, the trap, the SC */
	assert_int_equal(m->harts[0].scause, EXC_BREAKPOINT);
	assert_int_equal(m->harts[0].pc, TH_TRAP + 4);
	assert_int_not_equal(m->harts[0].x[A3], 0);
	assert_int_equal(ram_load(&m->ram, DATA, 4), 5);
	th_free(m);
}

struct amo_case {
	uint32_t insn; /* rd = a2, rs1 = a0, rs2 = a1 */
	uint64_t mem, src;
	uint64_t old; /* expected in rd */
	uint64_t res; /* expected in memory */
};

static void run_amo_cases(const struct amo_case *cases, size_t n, unsigned size)
{
	for (size_t i = 0; i < n; i++) {
		struct machine *m = th_setup();
		const struct amo_case *t = &cases[i];

		/* for .W, the word after must not be touched */
		ram_store(&m->ram, DATA, 0xcafebabecafebabeull, 8);
		ram_store(&m->ram, DATA + 8, 0xcafebabecafebabeull, 8);
		ram_store(&m->ram, DATA, t->mem, size);
		m->harts[0].x[A0] = DATA;
		m->harts[0].x[A1] = t->src;
		run_ok(m, &t->insn, 1);
		if (m->harts[0].x[A2] != t->old || ram_load(&m->ram, DATA, size) != t->res)
			fail_msg("case %zu (insn %08x): rd %016llx (want %016llx), "
				 "mem %016llx (want %016llx)",
				 i, t->insn, (unsigned long long)m->harts[0].x[A2],
				 (unsigned long long)t->old,
				 (unsigned long long)ram_load(&m->ram, DATA, size),
				 (unsigned long long)t->res);
		assert_int_equal(m->harts[0].x[A1], t->src);
		assert_int_equal(ram_load(&m->ram, DATA + size, 8), 0xcafebabecafebabeull);
		th_free(m);
	}
}

static void test_amo_w(void **state)
{
	const struct amo_case cases[] = {
		{ AMOADD_W(A2, A0, A1), 0x7fffffff, 1, 0x7fffffff, 0x80000000 },
		{ AMOADD_W(A2, A0, A1), 0xffffffff, 0x100000001ull, UINT64_MAX, 0 },
		{ AMOSWAP_W(A2, A0, A1), 0x80000000, 0xdead000012345678ull, 0xffffffff80000000ull,
		  0x12345678 },
		{ AMOXOR_W(A2, A0, A1), 0xff00ff00, 0x0ff00ff0, 0xffffffffff00ff00ull, 0xf0f0f0f0 },
		{ AMOOR_W(A2, A0, A1), 0x80000000, 0x1, 0xffffffff80000000ull, 0x80000001 },
		{ AMOAND_W(A2, A0, A1), 0xf0f0f0f0, 0xffffffff0000ffffull, 0xfffffffff0f0f0f0ull,
		  0x0000f0f0 },
		/* signed vs unsigned: -1 against 1 */
		{ AMOMIN_W(A2, A0, A1), 0xffffffff, 1, UINT64_MAX, 0xffffffff },
		{ AMOMAX_W(A2, A0, A1), 0xffffffff, 1, UINT64_MAX, 1 },
		{ AMOMINU_W(A2, A0, A1), 0xffffffff, 1, UINT64_MAX, 1 },
		{ AMOMAXU_W(A2, A0, A1), 0xffffffff, 1, UINT64_MAX, 0xffffffff },
		/* only rs2[31:0] takes part: here it is INT32_MIN, below the old 5 */
		{ AMOMIN_W(A2, A0, A1), 5, 0x0000000080000000ull, 5, 0x80000000 },
		{ AMOMAX_W(A2, A0, A1), 5, 0x0000000080000000ull, 5, 5 },
		{ AMOMAXU_W(A2, A0, A1), 0x80000000, 0xffffffff00000001ull, 0xffffffff80000000ull,
		  0x80000000 },
		{ AMOMINU_W(A2, A0, A1), 0x80000000, 0xffffffff00000001ull, 0xffffffff80000000ull,
		  1 },
		{ AMOMINU_W(A2, A0, A1), 7, 0x100000000ull, 7, 0 },
	};

	(void)state;
	run_amo_cases(cases, sizeof(cases) / sizeof(cases[0]), 4);
}

static void test_amo_d(void **state)
{
	const uint64_t min = 0x8000000000000000ull;
	const struct amo_case cases[] = {
		{ AMOADD_D(A2, A0, A1), UINT64_MAX, 2, UINT64_MAX, 1 },
		{ AMOADD_D(A2, A0, A1), 0x7fffffffffffffffull, 1, 0x7fffffffffffffffull, min },
		{ AMOSWAP_D(A2, A0, A1), 0x1122334455667788ull, 0x99, 0x1122334455667788ull, 0x99 },
		{ AMOXOR_D(A2, A0, A1), 0xff00ff00ff00ff00ull, 0x0ff00ff00ff00ff0ull,
		  0xff00ff00ff00ff00ull, 0xf0f0f0f0f0f0f0f0ull },
		{ AMOOR_D(A2, A0, A1), min, 1, min, min | 1 },
		{ AMOAND_D(A2, A0, A1), 0xf0f0f0f0f0f0f0f0ull, 0xffff0000ffff0000ull,
		  0xf0f0f0f0f0f0f0f0ull, 0xf0f00000f0f00000ull },
		{ AMOMIN_D(A2, A0, A1), UINT64_MAX, 1, UINT64_MAX, UINT64_MAX },
		{ AMOMAX_D(A2, A0, A1), UINT64_MAX, 1, UINT64_MAX, 1 },
		{ AMOMINU_D(A2, A0, A1), UINT64_MAX, 1, UINT64_MAX, 1 },
		{ AMOMAXU_D(A2, A0, A1), UINT64_MAX, 1, UINT64_MAX, UINT64_MAX },
		{ AMOMIN_D(A2, A0, A1), 0x7fffffffffffffffull, min, 0x7fffffffffffffffull, min },
		{ AMOMAX_D(A2, A0, A1), min, 0x7fffffffffffffffull, min, 0x7fffffffffffffffull },
		{ AMOMINU_D(A2, A0, A1), min, 0x7fffffffffffffffull, min, 0x7fffffffffffffffull },
		{ AMOMAXU_D(A2, A0, A1), 0x80000000, 0xffffffff, 0x80000000, 0xffffffff },
	};

	(void)state;
	run_amo_cases(cases, sizeof(cases) / sizeof(cases[0]), 8);
}

static void test_amo_register_corners(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = {
		AMOSWAP_D(A1, A0, A1),	/* rd == rs2: old value out, old rs2 in */
		AMOADD_W(ZERO, T0, T1), /* rd = x0: memory still updated */
		AMOOR_D(A0, A0, T2),	/* rd == rs1 */
	};

	(void)state;
	ram_store(&m->ram, DATA, 0x1111, 8);
	ram_store(&m->ram, DATA + 8, 10, 8);
	m->harts[0].x[A0] = DATA;
	m->harts[0].x[A1] = 0x2222;
	m->harts[0].x[T0] = DATA + 8;
	m->harts[0].x[T1] = 5;
	m->harts[0].x[T2] = 0x4000;
	run_ok(m, code, 3);
	assert_int_equal(m->harts[0].x[A1], 0x1111);
	assert_int_equal(m->harts[0].x[ZERO], 0);
	assert_int_equal(ram_load(&m->ram, DATA + 8, 8), 15);
	assert_int_equal(m->harts[0].x[A0], 0x2222);
	assert_int_equal(ram_load(&m->ram, DATA, 8), 0x6222);
	th_free(m);
}

/* One atomic at TH_CODE with a0 = addr, a1 = 0x55; expects a trap of cause with
 * stval = addr, and nothing changed. */
static void expect_atomic_fault(struct machine *m, uint32_t insn, uint64_t addr, uint64_t cause)
{
	m->harts[0].scause = TH_NO_TRAP;
	m->harts[0].x[A0] = addr;
	m->harts[0].x[A1] = 0x55;
	m->harts[0].x[A2] = 0x1234;
	th_code(m, TH_CODE, &insn, 1);
	assert_int_equal(th_run(m, 1), 0);
	th_expect_trap(m, cause, addr, TH_CODE);
	assert_int_equal(m->harts[0].x[A2], 0x1234);
}

static void test_atomics_misaligned(void **state)
{
	struct machine *m = th_setup();

	(void)state;
	ram_fill(&m->ram, DATA, 0x77, 16);
	expect_atomic_fault(m, LR_W(A2, A0), DATA + 2, EXC_LOAD_MISALIGNED);
	expect_atomic_fault(m, LR_D(A2, A0), DATA + 4, EXC_LOAD_MISALIGNED);
	expect_atomic_fault(m, LR_W(A2, A0), DATA + 1, EXC_LOAD_MISALIGNED);
	expect_atomic_fault(m, SC_W(A2, A0, A1), DATA + 2, EXC_STORE_MISALIGNED);
	expect_atomic_fault(m, SC_D(A2, A0, A1), DATA + 4, EXC_STORE_MISALIGNED);
	expect_atomic_fault(m, AMOADD_W(A2, A0, A1), DATA + 1, EXC_STORE_MISALIGNED);
	expect_atomic_fault(m, AMOSWAP_W(A2, A0, A1), DATA + 2, EXC_STORE_MISALIGNED);
	expect_atomic_fault(m, AMOADD_D(A2, A0, A1), DATA + 4, EXC_STORE_MISALIGNED);
	expect_atomic_fault(m, AMOMAXU_D(A2, A0, A1), DATA + 7, EXC_STORE_MISALIGNED);
	/* a misaligned SC with a reservation held at an aligned address */
	{
		const uint32_t code[] = { LR_D(A2, T0), SC_D(A3, A0, A1) };

		m->harts[0].scause = TH_NO_TRAP;
		m->harts[0].x[T0] = DATA;
		m->harts[0].x[A0] = DATA + 4;
		th_code(m, TH_CODE, code, 2);
		assert_int_equal(th_run(m, 2), 1);
		th_expect_trap(m, EXC_STORE_MISALIGNED, DATA + 4, TH_CODE + 4);
	}
	for (int i = 0; i < 16; i++)
		assert_int_equal(ram_load(&m->ram, DATA + (uint64_t)i, 1), 0x77);
	th_free(m);
}

static void test_amo_illegal_widths(void **state)
{
	const uint32_t bad[] = {
		AMO(0x00, 0, A2, A0, A1), /* AMOADD.B: no Zabha */
		AMO(0x01, 1, A2, A0, A1), /* AMOSWAP.H */
		AMO(0x02, 4, A2, A0, 0),  /* LR.Q: RV128 */
		AMO(0x05, 2, A2, A0, A1), /* AMOCAS.W: no Zacas */
		AMO(0x1f, 3, A2, A0, A1), /* unassigned funct5 */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct machine *m = th_setup();

		m->harts[0].x[A0] = DATA;
		th_code(m, TH_CODE, &bad[i], 1);
		th_step(m);
		th_expect_trap(m, EXC_ILLEGAL, bad[i], TH_CODE);
		th_free(m);
	}
}

static void test_atomics_and_paging(void **state)
{
	struct machine *m = th_setup();
	struct th_pt pt;
	const uint64_t ro = 0x10000, rw = 0x11000, none = 0x12000;
	uint64_t pte_rw;

	(void)state;
	th_paging_on(m, &pt);
	th_map(&pt, ro, DATA, PTE_V | PTE_R | PTE_A | PTE_D, 0);
	pte_rw = th_map(&pt, rw, DATA + 0x1000, PTE_V | PTE_R | PTE_W, 0); /* A = D = 0 */
	ram_store(&m->ram, DATA, 0x99, 8);
	ram_store(&m->ram, DATA + 0x1000, 0x99, 8);

	/* a read-only page: LR works, AMOs and a reserved SC fault as stores */
	expect_atomic_fault(m, AMOADD_W(A2, A0, A1), ro, EXC_STORE_PAGE);
	expect_atomic_fault(m, AMOSWAP_D(A2, A0, A1), ro + 8, EXC_STORE_PAGE);
	{
		const uint32_t code[] = { LR_D(A2, A0), SC_D(A3, A0, A1) };

		m->harts[0].scause = TH_NO_TRAP;
		m->harts[0].x[A0] = ro;
		th_code(m, TH_CODE, code, 2);
		assert_int_equal(th_run(m, 2), 1);
		assert_int_equal(m->harts[0].x[A2], 0x99);
		th_expect_trap(m, EXC_STORE_PAGE, ro, TH_CODE + 4);
	}
	assert_int_equal(ram_load(&m->ram, DATA, 8), 0x99);

	/* unmapped: LR faults as a load, AMO as a store */
	expect_atomic_fault(m, LR_W(A2, A0), none, EXC_LOAD_PAGE);
	expect_atomic_fault(m, AMOOR_D(A2, A0, A1), none, EXC_STORE_PAGE);

	/* an AMO sets A and D */
	{
		const uint32_t insn = AMOADD_D(A2, A0, A1);

		m->harts[0].scause = TH_NO_TRAP;
		m->harts[0].x[A0] = rw;
		m->harts[0].x[A1] = 1;
		th_code(m, TH_CODE, &insn, 1);
		assert_int_equal(th_run(m, 1), 1);
		th_expect_no_trap(m);
		assert_int_equal(m->harts[0].x[A2], 0x99);
		assert_int_equal(ram_load(&m->ram, DATA + 0x1000, 8), 0x9a);
		assert_int_equal(ram_load(&m->ram, pte_rw, 8) & (PTE_A | PTE_D), PTE_A | PTE_D);
	}
	th_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lr_sc_success),
		cmocka_unit_test(test_sc_fails_without_reservation),
		cmocka_unit_test(test_sc_consumes_reservation),
		cmocka_unit_test(test_sc_other_address_fails),
		cmocka_unit_test(test_reservation_lost_on_trap),
		cmocka_unit_test(test_amo_w),
		cmocka_unit_test(test_amo_d),
		cmocka_unit_test(test_amo_register_corners),
		cmocka_unit_test(test_atomics_misaligned),
		cmocka_unit_test(test_amo_illegal_widths),
		cmocka_unit_test(test_atomics_and_paging),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
