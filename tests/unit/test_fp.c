/* test_fp.c - the F and D extensions as the hart runs them (cpu.c); the arithmetic itself is
 * fpu.c's and has its own tests (test_fpu.c, tests/diff/fpu.sh).
 *
 * From the unprivileged spec's F and D chapters and the privileged spec's sstatus: FS Off
 * makes every FP instruction and the FP CSRs illegal; a write to an FP register or fcsr
 * makes FS Dirty, and SD follows; fflags accrue, frm and fcsr alias them; a reserved rounding
 * mode (static 5 or 6, or DYN with frm 5-7) is illegal; single-precision values are
 * NaN-boxed and an improperly boxed operand reads as the canonical NaN, except for FMV.X.W
 * and FSW, which move the raw bits; the compressed FP loads and stores; a hart without F
 * has none of it. And the state: the registers and fcsr are saved, and a section from
 * before them loads as zero.
 */
#include "harness.h"

#include "common/state.h"
#include "vmm/core/fpu.h"
#include "vmm/core/isa.h"

#define ONE_S 0x3f800000ull		/* 1.0f */
#define ONE_D 0x3ff0000000000000ull	/* 1.0 */
#define BOX 0xffffffff00000000ull	/* NaN-boxing of a single */
#define CNAN_S_BOXED (BOX | FPU_CNAN_S) /* the canonical NaN, boxed */
#define FS_INITIAL (1ull << 13)

/* Every test runs twice: through the decode cache's FP operations, and through the generic
 * executor alone (c->generic), the reference they must agree with. */
static bool generic;

static struct machine *fp_machine(void)
{
	struct machine *m = th_setup();

	m->harts[0].sstatus |= FS_INITIAL;
	m->harts[0].generic = generic;
	return m;
}

/* Run n instructions at TH_CODE; they must all retire. */
static void run_ok(struct machine *m, const uint32_t *code, size_t n)
{
	th_code(m, TH_CODE, code, n);
	assert_int_equal(th_run(m, n), n);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 4 * n);
}

/* One instruction; true if it raised an illegal instruction exception reporting its bits. */
static bool illegal(struct machine *m, uint32_t insn)
{
	m->harts[0].scause = TH_NO_TRAP;
	th_code(m, TH_CODE, &insn, 1);
	th_step(m);
	if (m->harts[0].scause == TH_NO_TRAP)
		return false;
	th_expect_trap(m, EXC_ILLEGAL, insn, TH_CODE);
	m->harts[0].scause = TH_NO_TRAP;
	return true;
}

static void test_fs_off_traps(void **state)
{
	struct machine *m = fp_machine();
	const uint32_t fp[] = {
		FADD(1, 0, 1, 2, 3),
		FLD(1, A0, 0),
		FSD(1, A0, 0),
		FMV_F(1, 1, A0),
		FMV_X(1, A1, 1),
		FMA4(0x43, 1, 0, 1, 2, 3, 4),
		CSRRS(A1, CSR_FCSR, ZERO),
		CSRRS(A1, CSR_FFLAGS, ZERO),
		CSRRW(ZERO, CSR_FRM, A0),
	};

	(void)state;
	m->harts[0].x[A0] = TH_RAM + 0x1000;
	m->harts[0].sstatus &= ~SSTATUS_FS;
	for (size_t i = 0; i < sizeof(fp) / sizeof(fp[0]); i++) {
		m->harts[0].sstatus &= ~SSTATUS_FS;
		if (!illegal(m, fp[i]))
			fail_msg("instruction %zu (%08x) ran with FS Off", i, fp[i]);
		assert_int_equal(m->harts[0].sstatus & SSTATUS_FS, 0);
		/* the same instruction runs once FS is Initial */
		m->harts[0].sstatus |= FS_INITIAL;
		if (illegal(m, fp[i]))
			fail_msg("instruction %zu (%08x) illegal with FS Initial", i, fp[i]);
	}
	th_free(m);
}

/* Which instructions make FS Dirty, and SD with it. */
static void test_fs_dirty(void **state)
{
	struct machine *m = fp_machine();
	uint64_t ss;

	(void)state;
	/* reading fcsr and comparing without new flags writes no FP state */
	m->harts[0].f[1] = ONE_D;
	m->harts[0].f[2] = ONE_D;
	assert_false(illegal(m, CSRRS(A1, CSR_FCSR, ZERO)));
	assert_false(illegal(m, FEQ(1, A2, 1, 2)));
	assert_false(illegal(m, FMV_X(1, A3, 1)));
	assert_int_equal(m->harts[0].x[A2], 1);
	assert_int_equal(m->harts[0].x[A3], ONE_D);
	assert_int_equal(m->harts[0].sstatus & SSTATUS_FS, FS_INITIAL);
	assert_false(illegal(m, CSRRS(A4, CSR_SSTATUS, ZERO)));
	assert_int_equal(m->harts[0].x[A4] & SSTATUS_SD, 0);
	/* a write to an FP register */
	assert_false(illegal(m, FADD(1, 0, 3, 1, 2)));
	assert_int_equal(m->harts[0].f[3], 0x4000000000000000ull); /* 2.0 */
	assert_int_equal(m->harts[0].sstatus & SSTATUS_FS, SSTATUS_FS_DIRTY);
	assert_false(illegal(m, CSRRS(A4, CSR_SSTATUS, ZERO)));
	assert_int_equal(m->harts[0].x[A4] & SSTATUS_SD, SSTATUS_SD);
	/* a compare that raises a flag writes fcsr: an FLT with a NaN (signalling compare) */
	m->harts[0].sstatus = (m->harts[0].sstatus & ~SSTATUS_FS) | (2ull << 13); /* Clean */
	m->harts[0].f[4] = FPU_CNAN_D;
	assert_false(illegal(m, FOP(0x14, 1, 1, A5, 1, 4)));
	assert_int_equal(m->harts[0].x[A5], 0);
	assert_int_equal(m->harts[0].fcsr, FPU_NV);
	assert_int_equal(m->harts[0].sstatus & SSTATUS_FS, SSTATUS_FS_DIRTY);
	/* a write to fcsr */
	m->harts[0].sstatus = (m->harts[0].sstatus & ~SSTATUS_FS) | (2ull << 13);
	assert_false(illegal(m, CSRRWI(ZERO, CSR_FFLAGS, 0)));
	assert_int_equal(m->harts[0].sstatus & SSTATUS_FS, SSTATUS_FS_DIRTY);
	/* the kernel cleans it (a context switch saved the registers) */
	ss = m->harts[0].sstatus & ~SSTATUS_FS;
	m->harts[0].x[A0] = ss | (2ull << 13);
	assert_false(illegal(m, CSRRW(ZERO, CSR_SSTATUS, A0)));
	assert_false(illegal(m, CSRRS(A4, CSR_SSTATUS, ZERO)));
	assert_int_equal(m->harts[0].x[A4] & (SSTATUS_SD | SSTATUS_FS), 2ull << 13);
	th_free(m);
}

static void test_fcsr(void **state)
{
	struct machine *m = fp_machine();
	const uint32_t code[] = {
		CSRRW(A1, CSR_FCSR, A0),     /* a1 = 0, fcsr = 0xff of a0 */
		CSRRS(A2, CSR_FRM, ZERO),    /* 7 */
		CSRRS(A3, CSR_FFLAGS, ZERO), /* 0x1f */
		CSRRWI(ZERO, CSR_FRM, 2),    /* RDN */
		CSRRCI(ZERO, CSR_FFLAGS, 1), /* clear NX */
		CSRRS(A4, CSR_FCSR, ZERO),   /* 2 << 5 | 0x1e */
		CSRRW(ZERO, CSR_FCSR, ZERO),
		FOP(0x03, 1, 7, 3, 1, 2),    /* fdiv.d f3 = 1 / 0, dynamic mode: DZ */
		FOP(0x03, 1, 7, 4, 1, 5),    /* fdiv.d f4 = 1 / 3: NX */
		CSRRS(A5, CSR_FFLAGS, ZERO), /* DZ | NX */
	};

	(void)state;
	m->harts[0].x[A0] = ~0ull;
	m->harts[0].f[1] = ONE_D;
	m->harts[0].f[2] = 0;
	m->harts[0].f[5] = 0x4008000000000000ull; /* 3.0 */
	run_ok(m, code, sizeof(code) / sizeof(code[0]));
	assert_int_equal(m->harts[0].x[A1], 0);
	assert_int_equal(m->harts[0].x[A2], 7);
	assert_int_equal(m->harts[0].x[A3], 0x1f);
	assert_int_equal(m->harts[0].x[A4], 2 << 5 | 0x1e);
	assert_int_equal(m->harts[0].x[A5], FPU_DZ | FPU_NX);
	assert_int_equal(m->harts[0].f[3], 0x7ff0000000000000ull); /* +inf */
	assert_int_equal(m->harts[0].f[4], 0x3fd5555555555555ull); /* 1/3 rounded to nearest */
	th_free(m);
}

/* The mode: static in the instruction, or frm for DYN; the reserved ones are illegal. */
static void test_rounding_modes(void **state)
{
	struct machine *m = fp_machine();

	(void)state;
	m->harts[0].f[1] = ONE_D;
	m->harts[0].f[5] = 0x4008000000000000ull; /* 3.0 */
	/* 1/3 is between ...555 and ...556: up rounds to the larger, down to the smaller */
	assert_false(illegal(m, FOP(0x03, 1, 3, 4, 1, 5))); /* RUP */
	assert_int_equal(m->harts[0].f[4], 0x3fd5555555555556ull);
	assert_false(illegal(m, FOP(0x03, 1, 2, 4, 1, 5))); /* RDN */
	assert_int_equal(m->harts[0].f[4], 0x3fd5555555555555ull);
	m->harts[0].fcsr = 3 << 5; /* frm = RUP */
	assert_false(illegal(m, FOP(0x03, 1, 7, 4, 1, 5)));
	assert_int_equal(m->harts[0].f[4], 0x3fd5555555555556ull);
	/* reserved static modes */
	assert_true(illegal(m, FOP(0x03, 1, 5, 4, 1, 5)));
	assert_true(illegal(m, FOP(0x03, 1, 6, 4, 1, 5)));
	assert_true(illegal(m, FMA4(0x43, 1, 5, 4, 1, 5, 1)));
	assert_true(illegal(m, FCVT_L(1, 6, A0, 1)));
	/* frm 5, 6, 7: DYN is illegal, a static mode is not */
	for (uint32_t frm = 5; frm <= 7; frm++) {
		m->harts[0].fcsr = frm << 5;
		assert_true(illegal(m, FOP(0x03, 1, 7, 4, 1, 5)));
		assert_true(
		    illegal(m, FOP(0x08, 1, 7, 4, 1, 0))); /* fcvt.d.s: exact, rm still checked */
		assert_false(illegal(m, FOP(0x03, 1, 0, 4, 1, 5)));
		/* instructions whose funct3 is not a rounding mode */
		assert_false(illegal(m, FSGNJ(1, 6, 1, 5)));
		assert_false(illegal(m, FEQ(1, A0, 1, 5)));
	}
	/* formats H (2) and Q (3) do not exist */
	assert_true(illegal(m, FOP(0x00, 2, 0, 4, 1, 5)));
	assert_true(illegal(m, FOP(0x00, 3, 0, 4, 1, 5)));
	th_free(m);
}

static void test_nan_boxing(void **state)
{
	struct machine *m = fp_machine();
	uint32_t word = 0;

	(void)state;
	m->harts[0].f[1] = ONE_S;	/* 1.0f with upper bits zero: not boxed */
	m->harts[0].f[2] = BOX | ONE_S; /* boxed */
	m->harts[0].x[A0] = TH_RAM + 0x1000;
	assert_false(illegal(m, FADD(0, 0, 3, 2, 2)));
	assert_int_equal(m->harts[0].f[3], BOX | 0x40000000ull); /* 2.0f, boxed */
	assert_false(illegal(m, FADD(0, 0, 3, 1, 2)));
	assert_int_equal(m->harts[0].f[3], CNAN_S_BOXED);
	/* sign injection reads the unboxed operand as the canonical NaN too */
	assert_false(illegal(m, FOP(0x04, 0, 1, 3, 1, 1))); /* fsgnjn.s */
	assert_int_equal(m->harts[0].f[3], BOX | 0xffc00000ull);
	assert_false(illegal(m, FSGNJ(0, 3, 2, 1))); /* sign of the canonical NaN: + */
	assert_int_equal(m->harts[0].f[3], BOX | ONE_S);
	assert_false(illegal(m, FCLASS(0, A1, 1)));
	assert_int_equal(m->harts[0].x[A1], FPU_CLASS_QNAN);
	assert_false(illegal(m, FCLASS(0, A1, 2)));
	assert_int_equal(m->harts[0].x[A1], FPU_CLASS_PNORM);
	/* FMV.X.W and FSW move the raw low bits; FMV.X.W sign-extends bit 31 */
	m->harts[0].f[4] = 0x12345678bf800000ull;
	assert_false(illegal(m, FMV_X(0, A2, 4)));
	assert_int_equal(m->harts[0].x[A2], 0xffffffffbf800000ull);
	assert_false(illegal(m, FSW(4, A0, 0)));
	ram_read(&m->ram, TH_RAM + 0x1000, &word, 4);
	assert_int_equal(word, 0xbf800000u);
	/* FLW and FMV.W.X box */
	assert_false(illegal(m, FLW(5, A0, 0)));
	assert_int_equal(m->harts[0].f[5], BOX | 0xbf800000ull);
	m->harts[0].x[A3] = 0xdeadbeef3f800000ull;
	assert_false(illegal(m, FMV_F(0, 6, A3)));
	assert_int_equal(m->harts[0].f[6], BOX | ONE_S);
	/* FCVT.D.S of an unboxed value: the canonical NaN's conversion */
	assert_false(illegal(m, FOP(0x08, 1, 0, 7, 1, 0)));
	assert_int_equal(m->harts[0].f[7], FPU_CNAN_D);
	/* FCVT.S.D boxes its result */
	m->harts[0].f[8] = ONE_D;
	assert_false(illegal(m, FCVT_S_D(0, 9, 8)));
	assert_int_equal(m->harts[0].f[9], BOX | ONE_S);
	th_free(m);
}

/* The fused forms negate exactly, before the one rounding. */
static void test_fused(void **state)
{
	struct machine *m = fp_machine();
	const uint64_t two = 0x4000000000000000ull, three = 0x4008000000000000ull;

	(void)state;
	m->harts[0].f[1] = two;
	m->harts[0].f[2] = three;
	m->harts[0].f[3] = ONE_D;
	assert_false(illegal(m, FMA4(0x43, 1, 0, 4, 1, 2, 3))); /* 2*3+1 = 7 */
	assert_int_equal(m->harts[0].f[4], 0x401c000000000000ull);
	assert_false(illegal(m, FMA4(0x47, 1, 0, 4, 1, 2, 3))); /* 2*3-1 = 5 */
	assert_int_equal(m->harts[0].f[4], 0x4014000000000000ull);
	assert_false(illegal(m, FMA4(0x4b, 1, 0, 4, 1, 2, 3))); /* -(2*3)+1 = -5 */
	assert_int_equal(m->harts[0].f[4], 0xc014000000000000ull);
	assert_false(illegal(m, FMA4(0x4f, 1, 0, 4, 1, 2, 3))); /* -(2*3)-1 = -7 */
	assert_int_equal(m->harts[0].f[4], 0xc01c000000000000ull);
	/* single precision, boxed in and out */
	m->harts[0].f[5] = BOX | 0x40000000ull; /* 2.0f */
	m->harts[0].f[6] = BOX | 0x40400000ull; /* 3.0f */
	m->harts[0].f[7] = BOX | ONE_S;
	assert_false(illegal(m, FMA4(0x43, 0, 0, 8, 5, 6, 7)));
	assert_int_equal(m->harts[0].f[8], BOX | 0x40e00000ull); /* 7.0f */
	/* fma(inf, 0, qNaN) is invalid (the manual says so even with a quiet NaN addend) */
	m->harts[0].fcsr = 0;
	m->harts[0].f[9] = 0x7ff0000000000000ull;
	m->harts[0].f[10] = 0;
	m->harts[0].f[11] = FPU_CNAN_D;
	assert_false(illegal(m, FMA4(0x43, 1, 0, 12, 9, 10, 11)));
	assert_int_equal(m->harts[0].f[12], FPU_CNAN_D);
	assert_int_equal(m->harts[0].fcsr, FPU_NV);
	th_free(m);
}

/* Loads and stores of both widths, compressed ones, and a misaligned one. */
static void test_loads_stores(void **state)
{
	struct machine *m = fp_machine();
	const uint64_t val = 0x400921fb54442d18ull; /* pi */
	const uint16_t code16[] = {
		C_FLD(S0, A0, 8),  /* f8 = [a0 + 8] */
		C_FSD(S0, A0, 24), /* [a0 + 24] = f8 */
		C_FLDSP(31, 16),   /* f31 = [sp + 16] */
		C_FSDSP(31, 32),   /* [sp + 32] = f31 */
	};
	uint64_t out = 0;

	(void)state;
	m->harts[0].x[A0] = TH_RAM + 0x2000;
	m->harts[0].x[SP] = TH_RAM + 0x3000;
	ram_write(&m->ram, TH_RAM + 0x2008, &val, 8);
	ram_write(&m->ram, TH_RAM + 0x3010, &val, 8);
	th_code16(m, TH_CODE, code16, 4);
	assert_int_equal(th_run(m, 4), 4);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].f[8], val);
	assert_int_equal(m->harts[0].f[31], val);
	ram_read(&m->ram, TH_RAM + 0x2018, &out, 8);
	assert_int_equal(out, val);
	ram_read(&m->ram, TH_RAM + 0x3020, &out, 8);
	assert_int_equal(out, val);
	/* misaligned: performed, as the hart does for integer loads */
	m->harts[0].x[A1] = TH_RAM + 0x2009;
	assert_false(illegal(m, FLD(1, A1, -1)));
	assert_int_equal(m->harts[0].f[1], val);
	assert_false(illegal(m, FSD(1, A1, 0x100)));
	ram_read(&m->ram, TH_RAM + 0x2109, &out, 8);
	assert_int_equal(out, val);
	/* FLD with width 1 (a vector encoding) is not an FP load */
	assert_true(illegal(m, rv_i(0x07, 1, 0, A1, 0)));
	assert_true(illegal(m, rv_s(0x27, 4, A1, 1, 0)));
	th_free(m);
}

/* A hart without D has no D instructions; without F, none at all and FS stays Off. */
static void test_without_f_or_d(void **state)
{
	struct machine *m = fp_machine();
	const uint32_t d_only[] = { FLD(1, A0, 0), FSD(1, A0, 0), FADD(1, 0, 1, 2, 3),
				    FMV_X(1, A1, 1), FCVT_S_D(0, 1, 2) };

	(void)state;
	m->harts[0].x[A0] = TH_RAM + 0x1000;
	m->harts[0].ext = ISA_F;
	for (size_t i = 0; i < sizeof(d_only) / sizeof(d_only[0]); i++)
		if (!illegal(m, d_only[i]))
			fail_msg("D instruction %zu (%08x) ran without D", i, d_only[i]);
	assert_false(illegal(m, FADD(0, 0, 1, 2, 3)));
	assert_false(illegal(m, FLW(1, A0, 0)));
	/* a compressed FLD without D: illegal, and stval is the 16-bit parcel */
	{
		const uint16_t c = C_FLD(S0, A0, 8);

		m->harts[0].scause = TH_NO_TRAP;
		th_code16(m, TH_CODE, &c, 1);
		th_step(m);
		th_expect_trap(m, EXC_ILLEGAL, c, TH_CODE);
	}
	m->harts[0].scause = TH_NO_TRAP;
	m->harts[0].ext = 0;
	assert_true(illegal(m, FADD(0, 0, 1, 2, 3)));
	assert_true(illegal(m, FLW(1, A0, 0)));
	assert_true(illegal(m, CSRRS(A1, CSR_FCSR, ZERO)));
	m->harts[0].sstatus &= ~SSTATUS_FS;
	m->harts[0].x[A2] = SSTATUS_FS;
	assert_false(illegal(m, CSRRS(ZERO, CSR_SSTATUS, A2)));
	assert_int_equal(m->harts[0].sstatus & SSTATUS_FS, 0);
	th_free(m);
}

/* Every register and fcsr travel in the hart's section; one from before F and D loads with
 * them zero; a hart without F refuses FP state it could not hold. */
static void test_state(void **state)
{
	struct machine *a = fp_machine(), *b = th_setup();
	struct buf s, old;
	struct rbuf r;
	struct err e;

	(void)state;
	assert_int_equal(b->harts[0].sstatus & SSTATUS_FS, 0); /* Off after reset */
	for (int i = 0; i < 32; i++)
		a->harts[0].f[i] = 0x0123456789abcdefull * (uint64_t)(i + 1);
	a->harts[0].fcsr = 0xa5;
	a->harts[0].sstatus |= SSTATUS_FS_DIRTY;
	buf_init(&s);
	buf_init(&old);
	state_save(&cpu_state, &a->harts[0], &s);
	rbuf_init(&r, s.p, s.len);
	if (state_load(&cpu_state, &b->harts[0], &r, &e) < 0)
		fail_msg("%s", e.msg);
	assert_memory_equal(b->harts[0].f, a->harts[0].f, sizeof(a->harts[0].f));
	assert_int_equal(b->harts[0].fcsr, 0xa5);
	assert_int_equal(b->harts[0].sstatus & SSTATUS_FS, SSTATUS_FS_DIRTY);
	/* a section of state version 1 (no F, no D): registers and fcsr zero */
	a->harts[0].sstatus &= ~SSTATUS_FS;
	state_save_at(&cpu_state, &a->harts[0], 1, &old);
	rbuf_init(&r, old.p, old.len);
	if (state_load(&cpu_state, &b->harts[0], &r, &e) < 0)
		fail_msg("%s", e.msg);
	for (int i = 0; i < 32; i++)
		assert_int_equal(b->harts[0].f[i], 0);
	assert_int_equal(b->harts[0].fcsr, 0);
	/* fcsr bits beyond frm and fflags */
	a->harts[0].fcsr = 0x100;
	buf_reset(&s);
	state_save(&cpu_state, &a->harts[0], &s);
	rbuf_init(&r, s.p, s.len);
	assert_int_equal(state_load(&cpu_state, &b->harts[0], &r, &e), -1);
	assert_non_null(strstr(e.msg, "fcsr"));
	/* FP state into a hart without F */
	a->harts[0].fcsr = 0;
	a->harts[0].sstatus |= SSTATUS_FS_DIRTY;
	buf_reset(&s);
	state_save(&cpu_state, &a->harts[0], &s);
	b->harts[0].ext = 0;
	rbuf_init(&r, s.p, s.len);
	assert_int_equal(state_load(&cpu_state, &b->harts[0], &r, &e), -1);
	assert_non_null(strstr(e.msg, "FS is set, and this hart has no F"));
	a->harts[0].sstatus &= ~SSTATUS_FS;
	buf_reset(&s);
	state_save(&cpu_state, &a->harts[0], &s);
	rbuf_init(&r, s.p, s.len);
	assert_int_equal(state_load(&cpu_state, &b->harts[0], &r, &e), -1);
	assert_non_null(strstr(e.msg, "f0 is set, and this hart has no F"));
	buf_free(&s);
	buf_free(&old);
	th_free(a);
	th_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fs_off_traps), cmocka_unit_test(test_fs_dirty),
		cmocka_unit_test(test_fcsr),	     cmocka_unit_test(test_rounding_modes),
		cmocka_unit_test(test_nan_boxing),   cmocka_unit_test(test_fused),
		cmocka_unit_test(test_loads_stores), cmocka_unit_test(test_without_f_or_d),
		cmocka_unit_test(test_state),
	};

	int failed = cmocka_run_group_tests_name("decoded", tests, NULL, NULL);

	generic = true;
	return failed + cmocka_run_group_tests_name("generic", tests, NULL, NULL);
}
