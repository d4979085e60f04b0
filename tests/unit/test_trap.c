/* test_trap.c - exceptions, SRET, interrupts and WFI (privileged spec, supervisor chapter).
 *
 * A trap into S-mode saves the pc in sepc, the cause in scause (bit 63 for
 * interrupts), the extra information in stval; SPP gets the previous mode,
 * SPIE the old SIE, SIE is cleared. stvec in Vectored mode sends interrupts
 * to BASE + 4 * cause and exceptions to BASE. Supervisor interrupts are taken
 * in S-mode only when sstatus.SIE is set, and always in U-mode; the order is
 * SEI > SSI > STI. WFI waits for an interrupt pending in sip and enabled in
 * sie, whatever sstatus.SIE says.
 */
#include "harness.h"

#define UPC (TH_CODE + 0x100) /* where user code runs */
#define NOP ADDI(ZERO, ZERO, 0)

static void put(struct machine *m, uint64_t gpa, uint32_t insn)
{
	ram_write(&m->ram, gpa, &insn, 4);
}

static void test_ecall_from_user(void **state)
{
	struct machine *m = th_setup();
	uint64_t instret;

	(void)state;
	put(m, UPC, ECALL());
	m->harts[0].sstatus |= SSTATUS_SPIE; /* U runs with SIE = 1 after the SRET */
	th_enter_user(m, UPC);
	assert_true(m->harts[0].sstatus & SSTATUS_SIE);
	m->harts[0].x[A7] = 0x10; /* would be an SBI call from S: must not be served */
	m->harts[0].x[A0] = 0x77;
	instret = m->harts[0].instret;
	th_step(m);
	th_expect_trap(m, EXC_ECALL_U, 0, UPC);
	assert_int_equal(m->harts[0].x[A0], 0x77);
	assert_int_equal(m->harts[0].instret, instret); /* a trapping instruction does not retire */
	assert_false(m->harts[0].sstatus & SSTATUS_SPP);
	assert_true(m->harts[0].sstatus & SSTATUS_SPIE);
	assert_false(m->harts[0].sstatus & SSTATUS_SIE);
	th_free(m);
}

static void test_ebreak(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = { NOP, NOP, EBREAK() };

	(void)state;
	/* S-mode with SIE set */
	m->harts[0].sstatus |= SSTATUS_SIE;
	th_code(m, TH_CODE, code, 3);
	assert_int_equal(th_run(m, 3), 2);
	th_expect_trap(m, EXC_BREAKPOINT, TH_CODE + 8, TH_CODE + 8);
	assert_true(m->harts[0].sstatus & SSTATUS_SPP);
	assert_true(m->harts[0].sstatus & SSTATUS_SPIE);
	assert_false(m->harts[0].sstatus & SSTATUS_SIE);

	/* from U-mode */
	m->harts[0].scause = TH_NO_TRAP;
	m->harts[0].sstatus &= ~SSTATUS_SPIE;
	put(m, UPC, EBREAK());
	th_enter_user(m, UPC);
	th_step(m);
	th_expect_trap(m, EXC_BREAKPOINT, UPC, UPC);
	assert_false(m->harts[0].sstatus & SSTATUS_SPP);
	assert_false(m->harts[0].sstatus & SSTATUS_SPIE);
	th_free(m);
}

static void test_illegal_stval_from_user(void **state)
{
	struct machine *m = th_setup();
	const uint32_t bad = rv_r(0x33, A2, 0, A0, A1, 0x7f);

	(void)state;
	put(m, UPC, bad);
	th_enter_user(m, UPC);
	th_step(m);
	th_expect_trap(m, EXC_ILLEGAL, bad, UPC);
	assert_false(m->harts[0].sstatus & SSTATUS_SPP);
	th_free(m);
}

static void test_sret(void **state)
{
	struct machine *m = th_setup();

	(void)state;
	/* to S: SIE <- SPIE, SPIE <- 1, SPP <- U */
	put(m, TH_CODE, SRET());
	m->harts[0].pc = TH_CODE;
	m->harts[0].sepc = TH_CODE + 0x200;
	m->harts[0].sstatus = SSTATUS_SPP | SSTATUS_SPIE;
	th_step(m);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 0x200);
	assert_int_equal(m->harts[0].priv, PRIV_S);
	assert_int_equal(m->harts[0].sstatus & (SSTATUS_SIE | SSTATUS_SPIE | SSTATUS_SPP),
			 SSTATUS_SIE | SSTATUS_SPIE);
	assert_int_equal(m->harts[0].sepc, TH_CODE + 0x200);

	/* to U with SPIE clear: SIE becomes 0 */
	m->harts[0].pc = TH_CODE;
	m->harts[0].sepc = UPC;
	m->harts[0].sstatus = SSTATUS_SIE | SSTATUS_SUM;
	th_step(m);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].pc, UPC);
	assert_int_equal(m->harts[0].priv, PRIV_U);
	assert_int_equal(m->harts[0].sstatus &
			     (SSTATUS_SIE | SSTATUS_SPIE | SSTATUS_SPP | SSTATUS_SUM),
			 SSTATUS_SPIE | SSTATUS_SUM);
	th_free(m);
}

static void test_privileged_instructions_from_user(void **state)
{
	const uint32_t insns[] = { SRET(), WFI(), SFENCE_VMA(ZERO, ZERO), SFENCE_VMA(A0, A1) };

	(void)state;
	for (int i = 0; i < 4; i++) {
		struct machine *m = th_setup();

		put(m, UPC, insns[i]);
		th_enter_user(m, UPC);
		th_step(m);
		th_expect_trap(m, EXC_ILLEGAL, insns[i], UPC);
		assert_false(m->harts[0].wfi);
		th_free(m);
	}
}

static void test_nested_trap_in_handler(void **state)
{
	struct machine *m = th_setup();

	(void)state;
	/* a trap from U, then a second one in the handler (S-mode, SIE = 0) */
	put(m, UPC, ECALL());
	put(m, TH_TRAP, EBREAK());
	m->harts[0].sstatus |= SSTATUS_SPIE;
	th_enter_user(m, UPC);
	th_step(m);
	th_expect_trap(m, EXC_ECALL_U, 0, UPC);
	th_step(m);
	th_expect_trap(m, EXC_BREAKPOINT, TH_TRAP, TH_TRAP);
	assert_true(m->harts[0].sstatus & SSTATUS_SPP);
	assert_false(m->harts[0].sstatus & SSTATUS_SPIE);
	th_free(m);
}

/* ---- interrupts ---------------------------------------------------------------------------- */

static void nops(struct machine *m, uint64_t gpa, int n)
{
	for (int i = 0; i < n; i++)
		put(m, gpa + 4 * (uint64_t)i, NOP);
}

static void test_vectored_and_direct(void **state)
{
	const int irqs[] = { IRQ_SSI, IRQ_STI, IRQ_SEI };

	(void)state;
	for (int i = 0; i < 3; i++) {
		struct machine *m = th_setup();

		nops(m, TH_CODE, 4);
		m->harts[0].pc = TH_CODE;
		m->harts[0].stvec = TH_TRAP | 1;
		m->harts[0].sie = SIE_MASK;
		m->harts[0].sstatus |= SSTATUS_SIE;
		th_step(m);
		cpu_set_irq(&m->harts[0], 1ull << irqs[i], true);
		th_step(m); /* taken before the second instruction */
		assert_int_equal(m->harts[0].scause, CAUSE_INTERRUPT | (uint64_t)irqs[i]);
		assert_int_equal(m->harts[0].sepc, TH_CODE + 4);
		assert_int_equal(m->harts[0].stval, 0);
		assert_int_equal(m->harts[0].pc, TH_TRAP + 4 * (uint64_t)irqs[i]);
		assert_true(m->harts[0].sstatus & SSTATUS_SPP);
		assert_true(m->harts[0].sstatus & SSTATUS_SPIE);
		assert_false(m->harts[0].sstatus & SSTATUS_SIE);
		th_free(m);
	}

	/* Direct mode: interrupts go to BASE too */
	struct machine *m = th_setup();

	nops(m, TH_CODE, 4);
	m->harts[0].pc = TH_CODE;
	m->harts[0].sie = SIE_MASK;
	m->harts[0].sstatus |= SSTATUS_SIE;
	cpu_set_irq(&m->harts[0], SIP_SEIP, true);
	th_step(m);
	assert_int_equal(m->harts[0].scause, CAUSE_INTERRUPT | IRQ_SEI);
	assert_int_equal(m->harts[0].pc, TH_TRAP);
	assert_int_equal(m->harts[0].sepc, TH_CODE);

	/* Vectored mode: exceptions go to BASE */
	m->harts[0].stvec = TH_TRAP | 1;
	m->harts[0].sie = 0;
	put(m, TH_CODE, EBREAK());
	m->harts[0].pc = TH_CODE;
	th_step(m);
	th_expect_trap(m, EXC_BREAKPOINT, TH_CODE, TH_CODE);
	th_free(m);
}

static uint64_t first_irq(uint64_t pending, uint64_t enabled)
{
	struct machine *m = th_setup();
	uint64_t cause;

	nops(m, TH_CODE, 2);
	m->harts[0].pc = TH_CODE;
	m->harts[0].sie = enabled;
	m->harts[0].sip = pending;
	m->harts[0].sstatus |= SSTATUS_SIE;
	th_step(m);
	cause = m->harts[0].scause;
	th_free(m);
	return cause;
}

static void test_interrupt_priority(void **state)
{
	const uint64_t all = SIP_SEIP | SIP_SSIP | SIP_STIP;

	(void)state;
	assert_int_equal(first_irq(all, SIE_MASK), CAUSE_INTERRUPT | IRQ_SEI);
	assert_int_equal(first_irq(SIP_SSIP | SIP_STIP, SIE_MASK), CAUSE_INTERRUPT | IRQ_SSI);
	assert_int_equal(first_irq(SIP_SEIP | SIP_STIP, SIE_MASK), CAUSE_INTERRUPT | IRQ_SEI);
	assert_int_equal(first_irq(SIP_STIP, SIE_MASK), CAUSE_INTERRUPT | IRQ_STI);
	assert_int_equal(first_irq(SIP_SEIP | SIP_SSIP, SIP_SSIP), CAUSE_INTERRUPT | IRQ_SSI);
	assert_int_equal(first_irq(all, SIP_STIP), CAUSE_INTERRUPT | IRQ_STI);
	assert_int_equal(first_irq(all, 0), TH_NO_TRAP);
}

static void test_interrupt_masking_in_s_mode(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = {
		NOP,
		NOP,
		CSRRSI(ZERO, CSR_SSTATUS, 2), /* set SIE */
		NOP,
	};

	(void)state;
	th_code(m, TH_CODE, code, 4);
	m->harts[0].sie = SIP_STIP;
	cpu_set_irq(&m->harts[0], SIP_STIP, true);
	/* SIE = 0 in S-mode: masked */
	assert_int_equal(th_run(m, 3), 3);
	th_expect_no_trap(m);
	/* enabled by the CSR write: taken before the next instruction */
	th_step(m);
	assert_int_equal(m->harts[0].scause, CAUSE_INTERRUPT | IRQ_STI);
	assert_int_equal(m->harts[0].sepc, TH_CODE + 12);
	assert_int_equal(m->harts[0].pc, TH_TRAP);
	th_free(m);
}

static void test_software_interrupt_from_sip_write(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = { CSRRSI(ZERO, CSR_SIP, 2), NOP, NOP };

	(void)state;
	th_code(m, TH_CODE, code, 3);
	m->harts[0].sie = SIP_SSIP;
	m->harts[0].sstatus |= SSTATUS_SIE;
	assert_int_equal(th_run(m, 2), 1);
	assert_int_equal(m->harts[0].scause, CAUSE_INTERRUPT | IRQ_SSI);
	assert_int_equal(m->harts[0].sepc, TH_CODE + 4);
	assert_true(m->harts[0].sip & SIP_SSIP); /* still pending: the handler clears it */
	th_free(m);
}

static void test_interrupt_always_taken_in_user(void **state)
{
	(void)state;
	for (int sie = 0; sie < 2; sie++) {
		struct machine *m = th_setup();

		nops(m, UPC, 4);
		m->harts[0].sstatus = sie ? SSTATUS_SPIE : 0; /* SIE in U-mode after the SRET */
		th_enter_user(m, UPC);
		assert_int_equal(!!(m->harts[0].sstatus & SSTATUS_SIE), sie);
		th_step(m);
		th_expect_no_trap(m);
		m->harts[0].sie = SIP_SSIP;
		cpu_set_irq(&m->harts[0], SIP_SSIP, true);
		th_step(m);
		assert_int_equal(m->harts[0].scause, CAUSE_INTERRUPT | IRQ_SSI);
		assert_int_equal(m->harts[0].sepc, UPC + 4);
		assert_int_equal(m->harts[0].priv, PRIV_S);
		assert_false(m->harts[0].sstatus & SSTATUS_SPP);
		assert_int_equal(!!(m->harts[0].sstatus & SSTATUS_SPIE), sie);
		th_free(m);
	}

	/* but not when sie does not enable it */
	struct machine *m = th_setup();

	nops(m, UPC, 4);
	th_enter_user(m, UPC);
	m->harts[0].sie = SIP_SEIP;
	cpu_set_irq(&m->harts[0], SIP_SSIP | SIP_STIP, true);
	assert_int_equal(th_run(m, 3), 3);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].priv, PRIV_U);
	th_free(m);
}

static void test_interrupt_after_sret_and_jump(void **state)
{
	struct machine *m = th_setup();

	(void)state;
	/* pending while S-mode has SIE = 0; the SRET to U unmasks it: taken at the user pc */
	nops(m, UPC, 2);
	m->harts[0].sie = SIP_STIP;
	cpu_set_irq(&m->harts[0], SIP_STIP, true);
	put(m, TH_CODE, SRET());
	m->harts[0].pc = TH_CODE;
	m->harts[0].sepc = UPC;
	th_step(m);
	assert_int_equal(m->harts[0].priv, PRIV_U);
	th_step(m);
	assert_int_equal(m->harts[0].scause, CAUSE_INTERRUPT | IRQ_STI);
	assert_int_equal(m->harts[0].sepc, UPC);
	th_free(m);

	/* after a taken jump, sepc is its target */
	m = th_setup();
	put(m, TH_CODE, JAL(ZERO, 0x40));
	nops(m, TH_CODE + 0x40, 1);
	m->harts[0].pc = TH_CODE;
	m->harts[0].sie = SIP_SEIP;
	m->harts[0].sstatus |= SSTATUS_SIE;
	th_step(m);
	cpu_set_irq(&m->harts[0], SIP_SEIP, true);
	th_step(m);
	assert_int_equal(m->harts[0].scause, CAUSE_INTERRUPT | IRQ_SEI);
	assert_int_equal(m->harts[0].sepc, TH_CODE + 0x40);
	th_free(m);
}

static void test_wfi(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = { WFI(), ADDI(A0, A0, 1), ADDI(A0, A0, 1) };

	(void)state;
	/* nothing pending: the hart leaves cpu_run with wfi set, pc past the WFI */
	th_code(m, TH_CODE, code, 3);
	assert_int_equal(th_run(m, 10), 1);
	assert_true(m->harts[0].wfi);
	assert_int_equal(m->harts[0].pc, TH_CODE + 4);
	assert_int_equal(m->harts[0].x[A0], 0);
	th_expect_no_trap(m);
	/* pending in sip but not enabled in sie: still nothing to wake it */
	th_code(m, TH_CODE, code, 3);
	m->harts[0].wfi = 0;
	cpu_set_irq(&m->harts[0], SIP_STIP, true);
	assert_int_equal(th_run(m, 10), 1);
	assert_true(m->harts[0].wfi);
	assert_int_equal(m->harts[0].x[A0], 0);
	/* woken (enabled, SIE = 0 so not taken): execution continues after the WFI */
	m->harts[0].wfi = 0;
	m->harts[0].sie = SIP_STIP;
	assert_int_equal(th_run(m, 2), 2);
	assert_int_equal(m->harts[0].x[A0], 2);
	th_expect_no_trap(m);
	th_free(m);

	/* pending and enabled in sie but SIE = 0: WFI is a no-op */
	m = th_setup();
	th_code(m, TH_CODE, code, 3);
	m->harts[0].sie = SIP_STIP;
	cpu_set_irq(&m->harts[0], SIP_STIP, true);
	assert_int_equal(th_run(m, 3), 3);
	assert_false(m->harts[0].wfi);
	assert_int_equal(m->harts[0].x[A0], 2);
	th_expect_no_trap(m);
	th_free(m);

	/* pending and enabled with SIE = 1: the interrupt is taken, sepc after the WFI */
	m = th_setup();
	th_code(m, TH_CODE, code, 3);
	m->harts[0].sie = SIP_SSIP;
	m->harts[0].sstatus |= SSTATUS_SIE;
	assert_int_equal(th_run(m, 10), 1);
	assert_true(m->harts[0].wfi);
	cpu_set_irq(&m->harts[0], SIP_SSIP, true);
	th_step(m);
	assert_int_equal(m->harts[0].scause, CAUSE_INTERRUPT | IRQ_SSI);
	assert_int_equal(m->harts[0].sepc, TH_CODE + 4);
	assert_false(m->harts[0].wfi);
	th_free(m);
}

static void test_system_encodings_reserved(void **state)
{
	const uint32_t bad[] = {
		ECALL() | (1u << 7),  /* rd != 0 */
		ECALL() | (1u << 15), /* rs1 != 0 */
		EBREAK() | (1u << 7),
		SRET() | (1u << 7),
		WFI() | (1u << 15),
		SFENCE_VMA(A0, A1) | (1u << 7),
		0x30200073u,			/* MRET: no M-mode for the guest */
		0x00200073u,			/* URET (removed N extension) */
		rv_i(0x73, A0, 4, ZERO, 0x100), /* funct3 4 */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct machine *m = th_setup();

		put(m, TH_CODE, bad[i]);
		th_step(m);
		th_expect_trap(m, EXC_ILLEGAL, bad[i], TH_CODE);
		th_free(m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ecall_from_user),
		cmocka_unit_test(test_ebreak),
		cmocka_unit_test(test_illegal_stval_from_user),
		cmocka_unit_test(test_sret),
		cmocka_unit_test(test_privileged_instructions_from_user),
		cmocka_unit_test(test_nested_trap_in_handler),
		cmocka_unit_test(test_vectored_and_direct),
		cmocka_unit_test(test_interrupt_priority),
		cmocka_unit_test(test_interrupt_masking_in_s_mode),
		cmocka_unit_test(test_software_interrupt_from_sip_write),
		cmocka_unit_test(test_interrupt_always_taken_in_user),
		cmocka_unit_test(test_interrupt_after_sret_and_jump),
		cmocka_unit_test(test_wfi),
		cmocka_unit_test(test_system_encodings_reserved),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
