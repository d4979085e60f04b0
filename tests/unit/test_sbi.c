/* test_sbi.c - SBI calls made by an ECALL from S-mode (SBI spec 2.0).
 *
 * Calling convention: a7 = extension id, a6 = function id, a0..a5 arguments;
 * the call returns an error code in a0 and a value in a1, and preserves every
 * other register. The legacy (0.1) calls return in a0 only and preserve the
 * rest, a1 included. An ECALL from S-mode is served, not trapped: the hart
 * continues after it.
 */
#include "harness.h"

#include "vmm/board/sbi.h"

struct ret {
	int64_t error;
	uint64_t value;
};

/* Make one SBI call; asserts it did not trap and that no register other than a0/a1 (a0 only
 * for a legacy call) changed. */
static struct ret call(struct machine *m, uint64_t eid, uint64_t fid, uint64_t a0, uint64_t a1,
		       uint64_t a2)
{
	const uint32_t ecall = ECALL();
	uint64_t before[32];
	bool legacy = eid < 0x10;

	for (int r = 1; r < 32; r++)
		m->harts[0].x[r] = 0x1000 + (uint64_t)r;
	m->harts[0].x[A7] = eid;
	m->harts[0].x[A6] = fid;
	m->harts[0].x[A0] = a0;
	m->harts[0].x[A1] = a1;
	m->harts[0].x[A2] = a2;
	memcpy(before, m->harts[0].x, sizeof(before));
	m->harts[0].scause = TH_NO_TRAP;
	th_code(m, TH_CODE, &ecall, 1);
	assert_int_equal(th_run(m, 1), 1);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 4);
	assert_int_equal(m->harts[0].priv, PRIV_S);
	for (int r = 1; r < 32; r++)
		if (r != A0 && (r != A1 || legacy) && m->harts[0].x[r] != before[r])
			fail_msg("x%d changed by SBI call %llx/%llx", r, (unsigned long long)eid,
				 (unsigned long long)fid);
	return (struct ret){ (int64_t)m->harts[0].x[A0], m->harts[0].x[A1] };
}

static void test_base(void **state)
{
	struct machine *m = th_setup();
	struct ret r;

	(void)state;
	r = call(m, SBI_EXT_BASE, 0, 0, 0, 0); /* get_spec_version */
	assert_int_equal(r.error, 0);
	assert_int_equal(r.value, 0x02000000);	  /* 2.0: major in bits 30:24, minor 23:0 */
	for (uint64_t fid = 1; fid <= 6; fid++) { /* impl id/version, mvendorid, marchid, mimpid */
		r = call(m, SBI_EXT_BASE, fid, 0, 0, 0);
		assert_int_equal(r.error, 0);
	}
	r = call(m, SBI_EXT_BASE, 1, 0, 0, 0);
	assert_int_equal(r.value, SBI_IMPL_ID_FERRY);
	r = call(m, SBI_EXT_BASE, 7, 0, 0, 0);
	assert_int_equal(r.error, SBI_ERR_NOT_SUPPORTED);
	r = call(m, SBI_EXT_BASE, 0x100, 0, 0, 0);
	assert_int_equal(r.error, SBI_ERR_NOT_SUPPORTED);
	th_free(m);
}

static void test_probe_extension(void **state)
{
	struct machine *m = th_setup();
	const uint64_t present[] = { SBI_EXT_BASE,
				     SBI_EXT_TIME,
				     SBI_EXT_IPI,
				     SBI_EXT_RFENCE,
				     SBI_EXT_HSM,
				     SBI_EXT_SRST,
				     0,
				     1,
				     2,
				     3,
				     8 };
	const uint64_t absent[] = {
		0x4442434e,	  /* DBCN */
		0x504d55,	  /* PMU */
		0x53555350,	  /* SUSP */
		0x43505043,	  /* CPPC */
		4,		  /* legacy send_ipi: takes a pointer, not provided */
		5,	    6, 7, /* legacy remote fences */
		0x12345678,
	};
	struct ret r;

	(void)state;
	for (size_t i = 0; i < sizeof(present) / sizeof(present[0]); i++) {
		r = call(m, SBI_EXT_BASE, 3, present[i], 0, 0);
		assert_int_equal(r.error, 0);
		if (r.value == 0)
			fail_msg("extension %llx reported absent", (unsigned long long)present[i]);
	}
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
		r = call(m, SBI_EXT_BASE, 3, absent[i], 0, 0);
		assert_int_equal(r.error, 0);
		assert_int_equal(r.value, 0);
	}
	th_free(m);
}

static void test_set_timer(void **state)
{
	struct machine *m = th_setup();
	struct ret r;
	uint64_t future = machine_time(m) + MACHINE_TIMEBASE_HZ * 1000;

	(void)state;
	/* a deadline in the future clears a pending timer interrupt */
	cpu_set_irq(&m->harts[0], SIP_STIP, true);
	r = call(m, SBI_EXT_TIME, 0, future, 0, 0);
	assert_int_equal(r.error, 0);
	assert_int_equal(m->harts[0].timecmp, future);
	assert_false(m->harts[0].sip & SIP_STIP);
	/* one in the past makes it pending */
	r = call(m, SBI_EXT_TIME, 0, 0, 0, 0);
	assert_int_equal(r.error, 0);
	assert_int_equal(m->harts[0].timecmp, 0);
	assert_true(m->harts[0].sip & SIP_STIP);
	/* "never" */
	r = call(m, SBI_EXT_TIME, 0, UINT64_MAX, 0, 0);
	assert_false(m->harts[0].sip & SIP_STIP);
	/* the legacy call does the same, returning in a0 only */
	cpu_set_irq(&m->harts[0], SIP_STIP, true);
	r = call(m, SBI_EXT_LEGACY_SET_TIMER, 0, future, 0, 0);
	assert_int_equal(r.error, 0);
	assert_int_equal(m->harts[0].timecmp, future);
	assert_false(m->harts[0].sip & SIP_STIP);
	r = call(m, SBI_EXT_TIME, 1, 0, 0, 0);
	assert_int_equal(r.error, SBI_ERR_NOT_SUPPORTED);
	th_free(m);
}

static void test_timer_interrupt_arrives(void **state)
{
	struct machine *m = th_setup();

	(void)state;
	/* with STIE and SIE set, a past deadline interrupts right after the ECALL */
	m->harts[0].sie = SIP_STIP;
	m->harts[0].sstatus |= SSTATUS_SIE;
	call(m, SBI_EXT_TIME, 0, 0, 0, 0);
	th_step(m);
	assert_int_equal(m->harts[0].scause, CAUSE_INTERRUPT | IRQ_STI);
	assert_int_equal(m->harts[0].sepc, TH_CODE + 4);
	th_free(m);
}

static void test_ipi(void **state)
{
	struct machine *m = th_setup();
	struct ret r;

	(void)state;
	r = call(m, SBI_EXT_IPI, 0, 1, 0, 0); /* hart_mask = 1, base 0: hart 0 */
	assert_int_equal(r.error, 0);
	assert_true(m->harts[0].sip & SIP_SSIP);
	cpu_set_irq(&m->harts[0], SIP_SSIP, false);
	r = call(m, SBI_EXT_IPI, 0, 1, UINT64_MAX, 0); /* base -1: every hart */
	assert_int_equal(r.error, 0);
	assert_true(m->harts[0].sip & SIP_SSIP);
	cpu_set_irq(&m->harts[0], SIP_SSIP, false);
	/* harts that do not exist */
	r = call(m, SBI_EXT_IPI, 0, 2, 0, 0);
	assert_int_equal(r.error, SBI_ERR_INVALID_PARAM);
	r = call(m, SBI_EXT_IPI, 0, 1, 1, 0);
	assert_int_equal(r.error, SBI_ERR_INVALID_PARAM);
	r = call(m, SBI_EXT_IPI, 0, 3, 0, 0);
	assert_int_equal(r.error, SBI_ERR_INVALID_PARAM);
	r = call(m, SBI_EXT_IPI, 0, 1ull << 63, UINT64_MAX - 1, 0);
	assert_int_equal(r.error, SBI_ERR_INVALID_PARAM);
	assert_false(m->harts[0].sip & SIP_SSIP);
	r = call(m, SBI_EXT_IPI, 1, 1, 0, 0);
	assert_int_equal(r.error, SBI_ERR_NOT_SUPPORTED);
	/* legacy clear_ipi */
	cpu_set_irq(&m->harts[0], SIP_SSIP, true);
	r = call(m, SBI_EXT_LEGACY_CLEAR_IPI, 0, 0, 0, 0);
	assert_int_equal(r.error, 0);
	assert_false(m->harts[0].sip & SIP_SSIP);
	/* the IPI is taken as a supervisor software interrupt */
	m->harts[0].sie = SIP_SSIP;
	m->harts[0].sstatus |= SSTATUS_SIE;
	call(m, SBI_EXT_IPI, 0, 1, 0, 0);
	th_step(m);
	assert_int_equal(m->harts[0].scause, CAUSE_INTERRUPT | IRQ_SSI);
	th_free(m);
}

static void test_rfence(void **state)
{
	struct machine *m = th_setup();
	struct th_pt pt;
	struct ret r;
	uint64_t pte;
	const uint32_t load = LD(A1, A0, 0);

	(void)state;
	r = call(m, SBI_EXT_RFENCE, 0, 1, 0, 0); /* remote_fence_i */
	assert_int_equal(r.error, 0);
	r = call(m, SBI_EXT_RFENCE, 0, 2, 0, 0);
	assert_int_equal(r.error, SBI_ERR_INVALID_PARAM);
	r = call(m, SBI_EXT_RFENCE, 3, 1, 0, 0); /* hfence.gvma.vmid: no H */
	assert_int_equal(r.error, SBI_ERR_NOT_SUPPORTED);
	/* remote_sfence_vma on this hart acts as an SFENCE.VMA */
	th_paging_on(m, &pt);
	pte = th_map(&pt, 0x10000, TH_DATA, TH_PTE_KERNEL, 0);
	ram_store(&m->ram, TH_DATA, 0x1111, 8);
	ram_store(&m->ram, TH_DATA + 0x1000, 0x2222, 8);
	m->harts[0].x[A0] = 0x10000;
	th_code(m, TH_CODE + 0x100, &load, 1);
	th_step(m);
	assert_int_equal(m->harts[0].x[A1], 0x1111);
	ram_store(&m->ram, pte, ((TH_DATA + 0x1000) >> 12) << 10 | TH_PTE_KERNEL, 8);
	r = call(m, SBI_EXT_RFENCE, 1, 1, 0, 0x10000); /* mask, base, start; size in a3 */
	assert_int_equal(r.error, 0);
	m->harts[0].x[A0] = 0x10000;
	m->harts[0].pc = TH_CODE + 0x100;
	th_step(m);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].x[A1], 0x2222);
	r = call(m, SBI_EXT_RFENCE, 2, 2, 0, 0); /* sfence_vma_asid, hart 1 */
	assert_int_equal(r.error, SBI_ERR_INVALID_PARAM);
	th_free(m);
}

static void test_hsm(void **state)
{
	struct machine *m = th_setup();
	struct ret r;

	(void)state;
	r = call(m, SBI_EXT_HSM, 2, 0, 0, 0); /* hart_get_status(0) */
	assert_int_equal(r.error, 0);
	assert_int_equal(r.value, HSM_STARTED);
	r = call(m, SBI_EXT_HSM, 2, 1, 0, 0);
	assert_int_equal(r.error, SBI_ERR_INVALID_PARAM);
	r = call(m, SBI_EXT_HSM, 0, 0, TH_CODE, 0); /* hart_start of the running hart */
	assert_int_equal(r.error, SBI_ERR_ALREADY_AVAILABLE);
	r = call(m, SBI_EXT_HSM, 0, 5, TH_CODE, 0);
	assert_int_equal(r.error, SBI_ERR_INVALID_PARAM);
	r = call(m, SBI_EXT_HSM, 9, 0, 0, 0);
	assert_int_equal(r.error, SBI_ERR_NOT_SUPPORTED);
	/* a retentive suspend with nothing pending waits like WFI, then returns success */
	r = call(m, SBI_EXT_HSM, 3, 0, 0, 0);
	assert_int_equal(r.error, 0);
	assert_true(m->harts[0].wfi);
	m->harts[0].wfi = 0;
	th_free(m);

	/* hart_stop: the hart stops running */
	m = th_setup();
	{
		const uint32_t code[] = { ECALL(), ADDI(A2, A2, 1) };

		m->harts[0].x[A7] = SBI_EXT_HSM;
		m->harts[0].x[A6] = 1;
		m->harts[0].x[A2] = 0;
		th_code(m, TH_CODE, code, 2);
		th_run(m, 10);
		assert_int_equal(m->harts[0].hsm, HSM_STOPPED);
		assert_int_equal(m->harts[0].x[A2], 0);
		assert_int_equal(th_run(m, 10), 0);
		assert_int_equal(m->harts[0].x[A2], 0);
	}
	th_free(m);
}

static void test_srst(void **state)
{
	struct machine *m = th_setup();
	struct ret r;

	(void)state;
	r = call(m, SBI_EXT_SRST, 0, 3, 0, 0); /* reserved type */
	assert_int_equal(r.error, SBI_ERR_INVALID_PARAM);
	r = call(m, SBI_EXT_SRST, 0, 0xefffffff, 0, 0);
	assert_int_equal(r.error, SBI_ERR_INVALID_PARAM);
	r = call(m, SBI_EXT_SRST, 0, 0, 2, 0); /* reserved reason */
	assert_int_equal(r.error, SBI_ERR_INVALID_PARAM);
	r = call(m, SBI_EXT_SRST, 1, 0, 0, 0); /* no such function */
	assert_int_equal(r.error, SBI_ERR_NOT_SUPPORTED);
	assert_int_equal(m->exit, MACHINE_RUNNING);
	assert_false(m->reboot_requested);
	/* shutdown: the machine exits and the hart stops right after the ECALL */
	{
		const uint32_t code[] = { ECALL(), ADDI(A2, A2, 1) };

		m->harts[0].x[A7] = SBI_EXT_SRST;
		m->harts[0].x[A6] = 0;
		m->harts[0].x[A0] = 0;
		m->harts[0].x[A1] = 0;
		m->harts[0].x[A2] = 0;
		th_code(m, TH_CODE, code, 2);
		assert_int_equal(th_run(m, 10), 1);
		assert_int_equal(m->exit, MACHINE_SHUTDOWN);
		assert_int_equal(m->harts[0].x[A2], 0);
	}
	th_free(m);

	/* cold and warm reboot */
	for (uint64_t type = 1; type <= 2; type++) {
		m = th_setup();
		call(m, SBI_EXT_SRST, 0, type, 1, 0);
		assert_true(m->reboot_requested);
		assert_int_equal(m->exit, MACHINE_RUNNING);
		th_free(m);
	}
}

static void test_legacy_console_and_shutdown(void **state)
{
	struct machine *m = th_setup();
	struct ret r;
	char out[16];
	size_t n;

	(void)state;
	call(m, SBI_EXT_LEGACY_PUTCHAR, 0, 'H', 0, 0);
	call(m, SBI_EXT_LEGACY_PUTCHAR, 0, 0x100 | 'i', 0, 0); /* only the low byte */
	r = call(m, SBI_EXT_LEGACY_PUTCHAR, 0, '\n', 0, 0);
	assert_int_equal(r.error, 0);
	n = console_backlog(th_console(m), out, sizeof(out));
	assert_int_equal(n, 3);
	assert_memory_equal(out, "Hi\n", 3);
	/* no input on a null console */
	r = call(m, SBI_EXT_LEGACY_GETCHAR, 0, 0, 0, 0);
	assert_int_equal(r.error, -1);
	/* legacy shutdown */
	call(m, SBI_EXT_LEGACY_SHUTDOWN, 0, 0, 0, 0);
	assert_int_equal(m->exit, MACHINE_SHUTDOWN);
	th_free(m);
}

static void test_unknown_extension(void **state)
{
	struct machine *m = th_setup();
	const uint64_t eids[] = { 0x12345678, 0x4442434e, 0x504d55, 0x04,      0x07,
				  0x0a,	      0x0f,	  0x11,	    0xffffffff };
	struct ret r;

	(void)state;
	for (size_t i = 0; i < sizeof(eids) / sizeof(eids[0]); i++) {
		/* a1 nonzero: a call in the legacy range (0x00-0x0f) must leave it alone */
		r = call(m, eids[i], 0, 0, 0x77, 0);
		assert_int_equal(r.error, SBI_ERR_NOT_SUPPORTED);
	}
	th_free(m);
}

static void test_pause_sets_the_timer_line(void **state)
{
	struct machine *m = th_setup();

	(void)state;
	/* A deadline passes between two turns of the run loop, and the machine is paused before
	 * the next: the paused state has the line set, as a restore of it would. */
	uint64_t deadline = machine_time(m) + MACHINE_TIMEBASE_HZ * 10;

	call(m, SBI_EXT_TIME, 0, deadline, 0, 0);
	assert_false(m->harts[0].sip & SIP_STIP);
	gclock_set_ns(&m->clock, (deadline + 1) * (1000000000ull / MACHINE_TIMEBASE_HZ));
	assert_false(m->harts[0].sip & SIP_STIP);
	machine_pause(m, "test");
	assert_true(m->harts[0].sip & SIP_STIP);
	th_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base),
		cmocka_unit_test(test_probe_extension),
		cmocka_unit_test(test_set_timer),
		cmocka_unit_test(test_timer_interrupt_arrives),
		cmocka_unit_test(test_pause_sets_the_timer_line),
		cmocka_unit_test(test_ipi),
		cmocka_unit_test(test_rfence),
		cmocka_unit_test(test_hsm),
		cmocka_unit_test(test_srst),
		cmocka_unit_test(test_legacy_console_and_shutdown),
		cmocka_unit_test(test_unknown_extension),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
