/* test_csr.c - Zicsr and the supervisor CSRs: access rules, privilege, WARL fields.
 *
 * From the unprivileged spec's Zicsr chapter: CSRRW always writes (and with
 * rd = x0 does not read); CSRRS/CSRRC with rs1 = x0, and their immediate forms
 * with uimm = 0, do not write at all; any attempted write to a read-only CSR
 * (csr[11:10] = 11) is illegal. From the privileged spec: CSRs of a higher
 * privilege than the current one, or that do not exist, are illegal; the
 * supervisor CSRs' WARL fields, and Zicntr's scounteren gating of U-mode.
 */
#include "harness.h"

#include "vmm/core/isa.h"

/* Run n instructions at TH_CODE in S-mode; they must all retire. */
static void run_ok(struct machine *m, const uint32_t *code, size_t n)
{
	th_code(m, TH_CODE, code, n);
	assert_int_equal(th_run(m, n), n);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 4 * n);
}

/* Run one instruction at pc in the hart's current mode; returns true if it trapped, and
 * then checks it was an illegal instruction reporting its own bits. */
static bool try_insn(struct machine *m, uint64_t pc, uint32_t insn)
{
	m->harts[0].scause = TH_NO_TRAP;
	ram_write(&m->ram, pc, &insn, 4);
	m->harts[0].pc = pc;
	th_step(m);
	if (m->harts[0].scause == TH_NO_TRAP) {
		assert_int_equal(m->harts[0].pc, pc + 4);
		return false;
	}
	th_expect_trap(m, EXC_ILLEGAL, insn, pc);
	m->harts[0].scause = TH_NO_TRAP;
	return true;
}

/* The same from U-mode, entered by SRET. */
static bool try_user(struct machine *m, uint32_t insn)
{
	const uint64_t upc = TH_CODE + 0x100;
	bool trapped;

	const uint32_t ebreak = EBREAK();

	/* An EBREAK after the instruction brings the hart back to S-mode if it did not trap. */
	ram_write(&m->ram, upc + 4, &ebreak, 4);
	th_enter_user(m, upc);
	trapped = try_insn(m, upc, insn);
	if (!trapped) {
		assert_int_equal(m->harts[0].priv, PRIV_U);
		th_step(m);
		th_expect_trap(m, EXC_BREAKPOINT, upc + 4, upc + 4);
		m->harts[0].scause = TH_NO_TRAP;
	}
	assert_false(m->harts[0].sstatus & SSTATUS_SPP); /* came from U */
	return trapped;
}

static void test_csrrw_rs_rc(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = {
		CSRRW(A2, CSR_SSCRATCH, A0),   /* a2 = 0xf0f0, sscratch = a0 */
		CSRRS(A3, CSR_SSCRATCH, A1),   /* set bits */
		CSRRC(A4, CSR_SSCRATCH, T0),   /* clear bits */
		CSRRS(A5, CSR_SSCRATCH, ZERO), /* read only */
	};

	(void)state;
	m->harts[0].sscratch = 0xf0f0;
	m->harts[0].x[A0] = 0x8000000000001234ull;
	m->harts[0].x[A1] = 0xff00;
	m->harts[0].x[T0] = 0x8000000000000f00ull;
	run_ok(m, code, 4);
	assert_int_equal(m->harts[0].x[A2], 0xf0f0);
	assert_int_equal(m->harts[0].x[A3], 0x8000000000001234ull);
	assert_int_equal(m->harts[0].x[A4], 0x800000000000ff34ull);
	assert_int_equal(m->harts[0].x[A5], 0xf034);
	assert_int_equal(m->harts[0].sscratch, 0xf034);
	th_free(m);
}

static void test_csr_immediate_forms(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = {
		CSRRWI(A2, CSR_SSCRATCH, 0x11), /* uimm is zero-extended */
		CSRRSI(A3, CSR_SSCRATCH, 0x06), CSRRCI(A4, CSR_SSCRATCH, 0x03),
		CSRRWI(A5, CSR_SSCRATCH, 31),	CSRRSI(A6, CSR_SSCRATCH, 0), /* no write */
		CSRRCI(A7, CSR_SSCRATCH, 0),				     /* no write */
	};

	(void)state;
	m->harts[0].sscratch = UINT64_MAX;
	run_ok(m, code, 6);
	assert_int_equal(m->harts[0].x[A2], UINT64_MAX);
	assert_int_equal(m->harts[0].x[A3], 0x11);
	assert_int_equal(m->harts[0].x[A4], 0x17);
	assert_int_equal(m->harts[0].x[A5], 0x14);
	assert_int_equal(m->harts[0].x[A6], 31);
	assert_int_equal(m->harts[0].x[A7], 31);
	assert_int_equal(m->harts[0].sscratch, 31);
	th_free(m);
}

static void test_csr_rd_rs1_rules(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = {
		CSRRW(A0, CSR_SSCRATCH, A0),	 /* rd == rs1: a swap */
		CSRRW(ZERO, CSR_SSCRATCH, A1),	 /* rd = x0: a plain write */
		CSRRS(ZERO, CSR_SSCRATCH, ZERO), /* no effect at all */
		CSRRC(T0, CSR_SSCRATCH, ZERO),	 /* read, no write */
	};

	(void)state;
	m->harts[0].sscratch = 9;
	m->harts[0].x[A0] = 5;
	m->harts[0].x[A1] = 77;
	run_ok(m, code, 4);
	assert_int_equal(m->harts[0].x[A0], 9);
	assert_int_equal(m->harts[0].x[ZERO], 0);
	assert_int_equal(m->harts[0].x[T0], 77);
	assert_int_equal(m->harts[0].sscratch, 77);
	th_free(m);
}

static void test_read_only_counters(void **state)
{
	const unsigned csrs[] = { CSR_CYCLE, CSR_TIME, CSR_INSTRET };

	(void)state;
	for (int i = 0; i < 3; i++) {
		struct machine *m = th_setup();
		unsigned csr = csrs[i];
		const uint64_t pc = TH_CODE;

		m->harts[0].x[A1] = 0; /* "writes" zero: still a write */
		m->harts[0].x[A2] = 0x1234;
		/* reads: CSRRS/CSRRC with rs1 = x0, the immediate forms with uimm = 0 */
		assert_false(try_insn(m, pc, CSRRS(A3, csr, ZERO)));
		assert_false(try_insn(m, pc, CSRRC(A3, csr, ZERO)));
		assert_false(try_insn(m, pc, CSRRSI(A3, csr, 0)));
		assert_false(try_insn(m, pc, CSRRCI(A3, csr, 0)));
		/* any write is illegal, even of zero, even with rd = x0 */
		assert_true(try_insn(m, pc, CSRRW(A2, csr, ZERO)));
		assert_true(try_insn(m, pc, CSRRW(ZERO, csr, A1)));
		assert_true(try_insn(m, pc, CSRRS(A2, csr, A1)));
		assert_true(try_insn(m, pc, CSRRC(A2, csr, A1)));
		assert_true(try_insn(m, pc, CSRRWI(A2, csr, 0)));
		assert_true(try_insn(m, pc, CSRRSI(A2, csr, 1)));
		assert_true(try_insn(m, pc, CSRRCI(A2, csr, 1)));
		assert_int_equal(m->harts[0].x[A2], 0x1234); /* rd untouched by the faulting ones */
		th_free(m);
	}
}

static void test_counters_count(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = {
		CSRRS(A0, CSR_INSTRET, ZERO), CSRRS(A1, CSR_INSTRET, ZERO),
		CSRRS(A2, CSR_CYCLE, ZERO),   ADDI(ZERO, ZERO, 0),
		CSRRS(A3, CSR_CYCLE, ZERO),   CSRRS(A4, CSR_TIME, ZERO),
		CSRRS(A5, CSR_TIME, ZERO),
	};

	(void)state;
	run_ok(m, code, 7);
	assert_int_equal(m->harts[0].x[A1] - m->harts[0].x[A0], 1);
	assert_true(m->harts[0].x[A3] > m->harts[0].x[A2]);
	assert_true(m->harts[0].x[A5] >= m->harts[0].x[A4]);
	assert_true(machine_time(m) >= m->harts[0].x[A5]);
	th_free(m);
}

static void test_nonexistent_and_m_mode_csrs(void **state)
{
	const unsigned csrs[] = {
		0x300,	       /* mstatus */
		0x301,	       /* misa */
		0x305,	       /* mtvec */
		0x341,	       /* mepc */
		0x344,	       /* mip */
		0xf14,	       /* mhartid (read-only M) */
		0xb00,	       /* mcycle */
		0x600,	       /* hstatus: no H */
		0x200,	       /* vsstatus */
		0x7b0,	       /* dcsr: debug mode only */
		0x001,	       /* fflags: no F */
		0x003,	       /* fcsr */
		0x008,	       /* vstart: no V */
		0x14d,	       /* stimecmp: no Sstc */
		0x10c,	       /* sstateen0: no Smstateen */
		0x101,	       /* unassigned supervisor CSR */
		0x5c0,	       /* custom supervisor CSR, none implemented */
		0xc80,	       /* cycleh: RV32 only */
		0xc81,	       /* timeh */
		0xc82,	       /* instreth */
		0x180 + 0x400, /* satp's number with csr[11:10] = 01: a different CSR */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(csrs) / sizeof(csrs[0]); i++) {
		struct machine *m = th_setup();

		m->harts[0].x[A1] = 0;
		assert_true(try_insn(m, TH_CODE, CSRRS(A2, csrs[i], ZERO)));
		assert_true(try_insn(m, TH_CODE, CSRRW(ZERO, csrs[i], A1)));
		assert_true(try_insn(m, TH_CODE, CSRRSI(A2, csrs[i], 0)));
		th_free(m);
	}
}

static void test_supervisor_csrs_from_user(void **state)
{
	const unsigned csrs[] = { CSR_SSTATUS, CSR_SIE,	     CSR_STVEC, CSR_SCOUNTEREN,
				  CSR_SENVCFG, CSR_SSCRATCH, CSR_SEPC,	CSR_SCAUSE,
				  CSR_STVAL,   CSR_SIP,	     CSR_SATP };

	(void)state;
	for (size_t i = 0; i < sizeof(csrs) / sizeof(csrs[0]); i++) {
		struct machine *m = th_setup();

		m->harts[0].sscratch = 0x77;
		assert_true(try_user(m, CSRRS(A2, csrs[i], ZERO)));
		assert_true(try_user(m, CSRRW(ZERO, csrs[i], ZERO)));
		assert_true(try_user(m, CSRRSI(ZERO, csrs[i], 1)));
		assert_int_equal(m->harts[0].sscratch, 0x77);
		th_free(m);
	}
}

static void test_counters_from_user(void **state)
{
	const unsigned csrs[] = { CSR_CYCLE, CSR_TIME, CSR_INSTRET };

	(void)state;
	for (uint64_t en = 0; en < 8; en++) {
		struct machine *m = th_setup();

		m->harts[0].scounteren = en;
		for (int i = 0; i < 3; i++) {
			bool allowed = (en >> i) & 1;

			assert_int_equal(try_user(m, CSRRS(A2, csrs[i], ZERO)), !allowed);
			/* writes stay illegal whatever scounteren says */
			assert_true(try_user(m, CSRRW(ZERO, csrs[i], ZERO)));
		}
		/* S-mode reads the counters whatever scounteren says */
		m->harts[0].pc = TH_CODE;
		for (int i = 0; i < 3; i++)
			assert_false(try_insn(m, TH_CODE, CSRRS(A2, csrs[i], ZERO)));
		th_free(m);
	}
}

static void test_scounteren_senvcfg(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = {
		CSRRW(ZERO, CSR_SCOUNTEREN, A0),   CSRRS(A2, CSR_SCOUNTEREN, ZERO),
		CSRRW(ZERO, CSR_SCOUNTEREN, ZERO), CSRRS(A3, CSR_SCOUNTEREN, ZERO),
		CSRRW(ZERO, CSR_SENVCFG, A0),	   CSRRS(A4, CSR_SENVCFG, ZERO),
	};

	(void)state;
	m->harts[0].x[A0] = UINT64_MAX;
	run_ok(m, code, 6);
	assert_int_equal(m->harts[0].x[A2] & 7, 7); /* CY, TM, IR are writable */
	assert_int_equal(m->harts[0].x[A3], 0);
	/* senvcfg: only FIOM can exist here (no Zicbo*, no pointer masking) */
	assert_int_equal(m->harts[0].x[A4] & ~1ull, 0);
	th_free(m);
}

/* sstatus on a hart with or without F: FS is writable only with F, and SD follows FS. */
static void check_sstatus_warl(unsigned ext)
{
	struct machine *m = th_setup();
	const uint64_t fs = ext & ISA_F ? SSTATUS_FS : 0;
	const uint64_t writable =
	    SSTATUS_SIE | SSTATUS_SPIE | SSTATUS_SPP | SSTATUS_SUM | SSTATUS_MXR | fs;
	const uint32_t code[] = {
		CSRRS(A2, CSR_SSTATUS, ZERO),
		CSRRW(ZERO, CSR_SSTATUS, A0), /* every bit */
		CSRRS(A3, CSR_SSTATUS, ZERO),
		CSRRW(ZERO, CSR_SSTATUS, ZERO),
		CSRRS(A4, CSR_SSTATUS, ZERO),
		CSRRW(ZERO, CSR_SSTATUS, A1), /* try UXL = 1 (32-bit U-mode) */
		CSRRS(A5, CSR_SSTATUS, ZERO),
	};

	m->harts[0].ext = ext;
	m->harts[0].x[A0] = UINT64_MAX;
	m->harts[0].x[A1] = 1ull << 32;
	run_ok(m, code, 7);
	/* UXL is read-only 2 (64-bit U-mode); FS as above, VS and XS zero (no V, no custom
	 * state); SD is FS == Dirty; UBE zero (little-endian only); the WPRI fields read zero. */
	assert_int_equal(m->harts[0].x[A2] >> 32 & 3, 2);
	assert_int_equal(m->harts[0].x[A3], writable | SSTATUS_UXL_64 | (fs ? SSTATUS_SD : 0));
	assert_int_equal(m->harts[0].x[A3], fs ? 0x80000002000c6122ull : 0x2000c0122ull);
	assert_int_equal(m->harts[0].x[A4], SSTATUS_UXL_64);
	assert_int_equal(m->harts[0].x[A5], SSTATUS_UXL_64);
	th_free(m);
}

static void test_sstatus_warl(void **state)
{
	(void)state;
	check_sstatus_warl(ISA_F | ISA_D);
	check_sstatus_warl(0);
}

static void test_stvec_warl(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = {
		CSRRW(ZERO, CSR_STVEC, A0), CSRRS(A2, CSR_STVEC, ZERO), CSRRW(ZERO, CSR_STVEC, A1),
		CSRRS(A3, CSR_STVEC, ZERO), CSRRW(ZERO, CSR_STVEC, T0), /* mode 2: reserved */
		CSRRS(A4, CSR_STVEC, ZERO), CSRRW(ZERO, CSR_STVEC, T1), /* mode 3: reserved */
		CSRRS(A5, CSR_STVEC, ZERO),
	};

	(void)state;
	m->harts[0].x[A0] = TH_TRAP;
	m->harts[0].x[A1] = TH_TRAP + 0x100 + 1; /* vectored */
	m->harts[0].x[T0] = TH_TRAP + 2;
	m->harts[0].x[T1] = TH_TRAP + 3;
	run_ok(m, code, 8);
	assert_int_equal(m->harts[0].x[A2], TH_TRAP);
	assert_int_equal(m->harts[0].x[A3], TH_TRAP + 0x101);
	/* a reserved mode is not kept: the field reads back as Direct or Vectored */
	assert_true((m->harts[0].x[A4] & 3) < 2);
	assert_true((m->harts[0].x[A5] & 3) < 2);
	th_free(m);
}

static void test_sepc_sscratch_scause_stval(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = {
		CSRRW(ZERO, CSR_SEPC, A0),     CSRRS(A2, CSR_SEPC, ZERO),
		CSRRW(ZERO, CSR_SEPC, A1),     CSRRS(A3, CSR_SEPC, ZERO),
		CSRRW(ZERO, CSR_SSCRATCH, A1), CSRRS(A4, CSR_SSCRATCH, ZERO),
		CSRRW(ZERO, CSR_STVAL, A1),    CSRRS(A5, CSR_STVAL, ZERO),
		CSRRW(ZERO, CSR_SCAUSE, T0),   CSRRS(A6, CSR_SCAUSE, ZERO),
	};

	(void)state;
	m->harts[0].x[A0] = 0x80001235;
	m->harts[0].x[A1] = UINT64_MAX;
	m->harts[0].x[T0] = CAUSE_INTERRUPT | IRQ_STI;
	th_code(m, TH_CODE, code, 10);
	assert_int_equal(th_run(m, 10), 10); /* scause is written here: count and pc show no trap */
	assert_int_equal(m->harts[0].pc, TH_CODE + 40);
	/* IALIGN = 16: sepc[0] is always zero, sepc[1] is kept */
	assert_int_equal(m->harts[0].x[A2], 0x80001234);
	assert_int_equal(m->harts[0].x[A3], UINT64_MAX - 1);
	assert_int_equal(m->harts[0].x[A4], UINT64_MAX);
	assert_int_equal(m->harts[0].x[A5], UINT64_MAX);
	assert_int_equal(m->harts[0].x[A6], CAUSE_INTERRUPT | IRQ_STI);
	th_free(m);
}

static void test_sip_sie(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = {
		CSRRW(ZERO, CSR_SIE, A0), /* every bit */
		CSRRS(A2, CSR_SIE, ZERO), CSRRW(ZERO, CSR_SIE, ZERO),
		CSRRW(ZERO, CSR_SIP, A0),			    /* only SSIP takes */
		CSRRS(A3, CSR_SIP, ZERO), CSRRC(ZERO, CSR_SIP, A0), /* clears SSIP, not STIP/SEIP */
		CSRRS(A4, CSR_SIP, ZERO),
	};

	(void)state;
	m->harts[0].x[A0] = UINT64_MAX;
	cpu_set_irq(&m->harts[0], SIP_STIP, true);
	th_code(m, TH_CODE, code, 7);
	assert_int_equal(th_run(m, 3), 3);
	assert_int_equal(m->harts[0].x[A2], SIP_SSIP | SIP_STIP | SIP_SEIP);
	assert_int_equal(m->harts[0].x[A2], 0x222);
	/* sie is now 0, so setting SSIP does not interrupt */
	assert_int_equal(th_run(m, 4), 4);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].x[A3], SIP_SSIP | SIP_STIP);
	assert_int_equal(m->harts[0].x[A4], SIP_STIP);
	/* with STIP low, writing it has no effect either */
	cpu_set_irq(&m->harts[0], SIP_STIP, false);
	m->harts[0].pc = TH_CODE + 12;
	assert_int_equal(th_run(m, 2), 2);
	assert_int_equal(m->harts[0].x[A3], SIP_SSIP);
	assert_int_equal(m->harts[0].sip, SIP_SSIP);
	th_free(m);
}

static void test_satp_warl(void **state)
{
	struct machine *m = th_setup();
	struct th_pt pt;
	const uint64_t asid_bits = 0xffffull << 44;
	const uint32_t code[] = {
		CSRRW(ZERO, CSR_SATP, A0), /* Sv39 with every ASID bit */
		CSRRS(A2, CSR_SATP, ZERO),
		CSRRW(ZERO, CSR_SATP, A1), /* Sv48: unsupported, no effect */
		CSRRS(A3, CSR_SATP, ZERO),
		CSRRW(ZERO, CSR_SATP, T0), /* Sv57: no effect */
		CSRRS(A4, CSR_SATP, ZERO),
		CSRRW(ZERO, CSR_SATP, T1), /* reserved mode 1: no effect */
		CSRRS(A5, CSR_SATP, ZERO),
		CSRRW(A6, CSR_SATP, ZERO), /* Bare */
		CSRRS(A7, CSR_SATP, ZERO),
	};

	(void)state;
	/* The code keeps running after satp switches to Sv39: identity-map its page. */
	th_pt_init(&pt, m, TH_PT);
	th_map(&pt, TH_CODE, TH_CODE, PTE_V | PTE_R | PTE_X | PTE_A | PTE_D, 0);
	m->harts[0].x[A0] = th_pt_satp(&pt) | asid_bits;
	m->harts[0].x[A1] = (9ull << 60) | 0x1234;
	m->harts[0].x[T0] = (10ull << 60) | 0x1234;
	m->harts[0].x[T1] = (1ull << 60) | 0x1234;
	run_ok(m, code, 10);
	/* ASIDLEN is 0: the ASID field reads zero */
	assert_int_equal(m->harts[0].x[A2], th_pt_satp(&pt));
	assert_int_equal(m->harts[0].x[A3], th_pt_satp(&pt));
	assert_int_equal(m->harts[0].x[A4], th_pt_satp(&pt));
	assert_int_equal(m->harts[0].x[A5], th_pt_satp(&pt));
	assert_int_equal(m->harts[0].x[A6], th_pt_satp(&pt));
	assert_int_equal(m->harts[0].x[A7], 0);
	th_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csrrw_rs_rc),
		cmocka_unit_test(test_csr_immediate_forms),
		cmocka_unit_test(test_csr_rd_rs1_rules),
		cmocka_unit_test(test_read_only_counters),
		cmocka_unit_test(test_counters_count),
		cmocka_unit_test(test_nonexistent_and_m_mode_csrs),
		cmocka_unit_test(test_supervisor_csrs_from_user),
		cmocka_unit_test(test_counters_from_user),
		cmocka_unit_test(test_scounteren_senvcfg),
		cmocka_unit_test(test_sstatus_warl),
		cmocka_unit_test(test_stvec_warl),
		cmocka_unit_test(test_sepc_sscratch_scause_stval),
		cmocka_unit_test(test_sip_sie),
		cmocka_unit_test(test_satp_warl),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
