/* test_cpu.c - the base integer ISA (RV64I) and the M extension, one instruction at a time.
 *
 * Expected values come from the unprivileged spec: the RV64I chapter (W forms
 * operate on the low 32 bits and sign-extend the 32-bit result; shifts take
 * 6-bit amounts, W shifts 5-bit), and the M chapter's table of division
 * corner cases. Constants are written out by hand rather than recomputed.
 */
#include "harness.h"

/* Run one instruction at TH_CODE with a0 = a, a1 = b; it must retire without a trap and
 * fall through. Returns a2, where the instructions under test put their result. */
static uint64_t exec_ab(struct machine *m, uint32_t insn, uint64_t a, uint64_t b)
{
	m->harts[0].x[A0] = a;
	m->harts[0].x[A1] = b;
	m->harts[0].x[A2] = 0x5a5a5a5a5a5a5a5aull;
	th_code(m, TH_CODE, &insn, 1);
	assert_int_equal(th_run(m, 1), 1);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 4);
	/* sources untouched (rd is a2 everywhere) */
	assert_int_equal(m->harts[0].x[A0], a);
	assert_int_equal(m->harts[0].x[A1], b);
	assert_int_equal(m->harts[0].x[ZERO], 0);
	return m->harts[0].x[A2];
}

#define RR(OP, a, b) exec_ab(m, OP(A2, A0, A1), (a), (b))
#define RI(OP, a, imm) exec_ab(m, OP(A2, A0, imm), (a), 0)

/* The instruction must raise illegal-instruction with stval = its bits and change nothing. */
static void expect_illegal(struct machine *m, uint32_t insn)
{
	m->harts[0].x[A2] = 0x1234;
	m->harts[0].scause = TH_NO_TRAP;
	th_code(m, TH_CODE, &insn, 1);
	assert_int_equal(th_run(m, 1), 0);
	th_expect_trap(m, EXC_ILLEGAL, insn, TH_CODE);
	assert_int_equal(m->harts[0].x[A2], 0x1234);
	m->harts[0].scause = TH_NO_TRAP;
}

/* ---- RV64I -------------------------------------------------------------------------------- */

static void test_lui_auipc(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = {
		LUI(A0, 0x80000),   /* bit 31 set: sign-extends */
		LUI(A1, 0x7ffff),   /* largest positive */
		AUIPC(A2, 0),	    /* the pc itself */
		AUIPC(A3, 0x80000), /* pc - 2 GiB */
		AUIPC(A4, 1),	    /* pc + 4 KiB */
		LUI(A5, 0xfffff),   /* -4096 */
	};

	(void)state;
	th_code(m, TH_CODE, code, 6);
	assert_int_equal(th_run(m, 6), 6);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].x[A0], 0xffffffff80000000ull);
	assert_int_equal(m->harts[0].x[A1], 0x7ffff000ull);
	assert_int_equal(m->harts[0].x[A2], TH_CODE + 8);
	assert_int_equal(m->harts[0].x[A3], TH_CODE + 12 - 0x80000000ull);
	assert_int_equal(m->harts[0].x[A4], TH_CODE + 16 + 0x1000);
	assert_int_equal(m->harts[0].x[A5], (uint64_t)-4096);
	th_free(m);
}

static void test_op_imm(void **state)
{
	struct machine *m = th_setup();

	(void)state;
	assert_int_equal(RI(ADDI, 5, -7), (uint64_t)-2);
	assert_int_equal(RI(ADDI, 0, 2047), 2047);
	assert_int_equal(RI(ADDI, 0, -2048), (uint64_t)-2048);
	assert_int_equal(RI(ADDI, UINT64_MAX, 1), 0); /* wraps, no overflow trap */
	assert_int_equal(RI(ADDI, 0x7fffffffffffffffull, 1), 0x8000000000000000ull);
	/* SLTI compares signed, SLTIU unsigned with the sign-extended immediate */
	assert_int_equal(RI(SLTI, (uint64_t)-1, 0), 1);
	assert_int_equal(RI(SLTI, 1, -1), 0);
	assert_int_equal(RI(SLTI, 5, 5), 0);
	assert_int_equal(RI(SLTI, 0x8000000000000000ull, -2048), 1);
	assert_int_equal(RI(SLTIU, 5, -1), 1); /* -1 is the largest unsigned value */
	assert_int_equal(RI(SLTIU, UINT64_MAX, -1), 0);
	assert_int_equal(RI(SLTIU, 0, 1), 1); /* seqz */
	assert_int_equal(RI(SLTIU, 7, 1), 0);
	assert_int_equal(RI(SLTIU, (uint64_t)-1, 2047), 0);
	assert_int_equal(RI(XORI, 0x00ff00ff00ff00ffull, -1), 0xff00ff00ff00ff00ull); /* not */
	assert_int_equal(RI(XORI, 0x0f0, 0x0ff), 0x00f);
	assert_int_equal(RI(ORI, 0x1000, -2048), 0xfffffffffffff800ull);
	assert_int_equal(RI(ORI, 0x100, 0x011), 0x111);
	assert_int_equal(RI(ANDI, 0x123456789abcdef0ull, -2048), 0x123456789abcd800ull);
	assert_int_equal(RI(ANDI, 0x123456789abcdef0ull, 0x7ff), 0x6f0);
	th_free(m);
}

static void test_shift_imm(void **state)
{
	struct machine *m = th_setup();

	(void)state;
	assert_int_equal(RI(SLLI, 1, 63), 0x8000000000000000ull);
	assert_int_equal(RI(SLLI, 0x1234, 32), 0x123400000000ull); /* shamt[5] is used */
	assert_int_equal(RI(SLLI, 0xffff, 0), 0xffff);
	assert_int_equal(RI(SRLI, 0x8000000000000000ull, 63), 1);
	assert_int_equal(RI(SRLI, 0x8000000000000000ull, 32), 0x80000000ull);
	assert_int_equal(RI(SRAI, 0x8000000000000000ull, 63), UINT64_MAX);
	assert_int_equal(RI(SRAI, 0x8000000000000000ull, 32), 0xffffffff80000000ull);
	assert_int_equal(RI(SRAI, 0x4000000000000000ull, 62), 1);
	assert_int_equal(RI(SRAI, (uint64_t)-16, 2), (uint64_t)-4);
	/* imm[11:6] must be 000000 (SLLI, SRLI) or 010000 (SRAI): anything else is reserved */
	expect_illegal(m, rv_i(0x13, A2, 1, A0, 0x040));     /* SLLI with "shamt" 64 */
	expect_illegal(m, rv_i(0x13, A2, 1, A0, 0x400 | 1)); /* SLLI with an SRAI-like funct6 */
	expect_illegal(m, rv_i(0x13, A2, 5, A0, 0x040 | 3)); /* SRLI, imm[6] set */
	expect_illegal(m, rv_i(0x13, A2, 5, A0, 0x200 | 3)); /* funct6 001000 */
	expect_illegal(m, rv_i(0x13, A2, 5, A0, 0x440 | 3)); /* SRAI with imm[6] set */
	th_free(m);
}

static void test_op_imm_32(void **state)
{
	struct machine *m = th_setup();

	(void)state;
	/* ADDIW: add, keep 32 bits, sign-extend; the upper half of rs1 is ignored */
	assert_int_equal(RI(ADDIW, 0x7fffffff, 1), 0xffffffff80000000ull);
	assert_int_equal(RI(ADDIW, 0x1234567800000001ull, 1), 2);
	assert_int_equal(RI(ADDIW, 0xffffffffull, 0), UINT64_MAX); /* sext.w */
	assert_int_equal(RI(ADDIW, 0x80000000ull, -1), 0x7fffffff);
	assert_int_equal(RI(ADDIW, 0, -2048), (uint64_t)-2048);
	/* SLLIW/SRLIW/SRAIW: 5-bit shamt, 32-bit result sign-extended */
	assert_int_equal(RI(SLLIW, 1, 31), 0xffffffff80000000ull);
	assert_int_equal(RI(SLLIW, 0xffffffff00000003ull, 1), 6);
	assert_int_equal(RI(SLLIW, 0x40000000, 1), 0xffffffff80000000ull);
	assert_int_equal(RI(SRLIW, 0x80000000ull, 0), 0xffffffff80000000ull);
	assert_int_equal(RI(SRLIW, 0xffffffff80000000ull, 1), 0x40000000);
	assert_int_equal(RI(SRLIW, 0x12345678ffffffffull, 31), 1);
	assert_int_equal(RI(SRAIW, 0x80000000ull, 4), 0xfffffffff8000000ull);
	assert_int_equal(RI(SRAIW, 0x00000000f0000000ull, 31), UINT64_MAX);
	assert_int_equal(RI(SRAIW, 0xffffffff7fffffffull, 30), 1);
	/* imm[5] (bit 25) set is reserved for the W shifts */
	expect_illegal(m, rv_i(0x1b, A2, 1, A0, 0x020));     /* SLLIW shamt 32 */
	expect_illegal(m, rv_i(0x1b, A2, 5, A0, 0x020 | 1)); /* SRLIW */
	expect_illegal(m, rv_i(0x1b, A2, 5, A0, 0x420 | 1)); /* SRAIW */
	expect_illegal(m, rv_i(0x1b, A2, 2, A0, 0));	     /* no SLTIW */
	expect_illegal(m, rv_i(0x1b, A2, 7, A0, 0));	     /* no ANDIW */
	th_free(m);
}

static void test_op(void **state)
{
	struct machine *m = th_setup();

	(void)state;
	assert_int_equal(RR(ADD, 0x7fffffffffffffffull, 1), 0x8000000000000000ull);
	assert_int_equal(RR(ADD, UINT64_MAX, 2), 1);
	assert_int_equal(RR(SUB, 0, 1), UINT64_MAX);
	assert_int_equal(RR(SUB, 0x8000000000000000ull, 1), 0x7fffffffffffffffull);
	/* register shifts use rs2[5:0] only */
	assert_int_equal(RR(SLL, 1, 63), 0x8000000000000000ull);
	assert_int_equal(RR(SLL, 1, 65), 2);
	assert_int_equal(RR(SLL, 3, 0xffffffffffffffc0ull), 3);
	assert_int_equal(RR(SRL, 0x8000000000000000ull, 63), 1);
	assert_int_equal(RR(SRL, 0x8000000000000000ull, 0x7f), 1);
	assert_int_equal(RR(SRA, 0x8000000000000000ull, 63), UINT64_MAX);
	assert_int_equal(RR(SRA, 0x8000000000000000ull, 64 + 4), 0xf800000000000000ull);
	/* SLT signed, SLTU unsigned */
	assert_int_equal(RR(SLT, (uint64_t)-1, 1), 1);
	assert_int_equal(RR(SLTU, (uint64_t)-1, 1), 0);
	assert_int_equal(RR(SLT, 1, (uint64_t)-1), 0);
	assert_int_equal(RR(SLTU, 1, (uint64_t)-1), 1);
	assert_int_equal(RR(SLT, 3, 3), 0);
	assert_int_equal(RR(SLTU, 0, 1), 1); /* snez with rs1 = x0 in real code */
	assert_int_equal(RR(SLT, 0x8000000000000000ull, 0x7fffffffffffffffull), 1);
	const uint64_t p = 0xff00ff00ff00ff00ull, q = 0x0ff00ff00ff00ff0ull;

	assert_int_equal(RR(XOR, p, q), 0xf0f0f0f0f0f0f0f0ull);
	assert_int_equal(RR(OR, p, q), 0xfff0fff0fff0fff0ull);
	assert_int_equal(RR(AND, p, q), 0x0f000f000f000f00ull);
	assert_int_equal(RR(OR, 0xff00000000000000ull, 0xff), 0xff000000000000ffull);
	/* reserved funct7 / funct3 combinations */
	expect_illegal(m, rv_r(0x33, A2, 1, A0, A1, 0x20)); /* "SUB" with the SLL funct3 */
	expect_illegal(m, rv_r(0x33, A2, 0, A0, A1, 0x40));
	expect_illegal(m, rv_r(0x33, A2, 4, A0, A1, 0x20));
	th_free(m);
}

static void test_op_32(void **state)
{
	struct machine *m = th_setup();

	(void)state;
	assert_int_equal(RR(ADDW, 0x7fffffff, 1), 0xffffffff80000000ull);
	assert_int_equal(RR(ADDW, 0xdead00007fffffffull, 0xbeef000000000001ull),
			 0xffffffff80000000ull);
	assert_int_equal(RR(ADDW, 0xffffffffull, 1), 0);
	assert_int_equal(RR(SUBW, 0xffffffff80000000ull, 1), 0x7fffffff);
	assert_int_equal(RR(SUBW, 0, 1), UINT64_MAX);
	assert_int_equal(RR(SUBW, 0x100000000ull, 0), 0);
	/* 5-bit shift amounts */
	assert_int_equal(RR(SLLW, 1, 31), 0xffffffff80000000ull);
	assert_int_equal(RR(SLLW, 1, 33), 2);
	assert_int_equal(RR(SLLW, 0x1ffffffffull, 32), UINT64_MAX);
	assert_int_equal(RR(SRLW, 0xffffffff80000000ull, 31), 1);
	assert_int_equal(RR(SRLW, 0xffffffff80000000ull, 32), 0xffffffff80000000ull); /* shift 0 */
	assert_int_equal(RR(SRLW, 0x00000000f0000000ull, 4), 0x0f000000);
	assert_int_equal(RR(SRAW, 0x80000000ull, 31), UINT64_MAX);
	assert_int_equal(RR(SRAW, 0x80000000ull, 63), UINT64_MAX);
	assert_int_equal(RR(SRAW, 0xffffffff7fffffffull, 30), 1);
	assert_int_equal(RR(SRAW, 0x80000000ull, 0), 0xffffffff80000000ull);
	expect_illegal(m, rv_r(0x3b, A2, 2, A0, A1, 0));    /* no SLTW */
	expect_illegal(m, rv_r(0x3b, A2, 1, A0, A1, 0x20)); /* no "SUBW" with funct3 1 */
	expect_illegal(m, rv_r(0x3b, A2, 6, A0, A1, 0));    /* no ORW */
	th_free(m);
}

static void test_jal(void **state)
{
	struct machine *m = th_setup();
	uint32_t insn;

	(void)state;
	insn = JAL(RA, 16);
	th_code(m, TH_CODE, &insn, 1);
	th_step(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 16);
	assert_int_equal(m->harts[0].x[RA], TH_CODE + 4);

	insn = JAL(T0, -16);
	th_code(m, TH_CODE + 0x100, &insn, 1);
	th_step(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 0xf0);
	assert_int_equal(m->harts[0].x[T0], TH_CODE + 0x104);

	/* the extremes of the 21-bit offset exercise every immediate field */
	insn = JAL(RA, 0xffffe);
	th_code(m, TH_CODE, &insn, 1);
	th_step(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 0xffffe);
	insn = JAL(RA, -0x100000);
	th_code(m, TH_CODE + 0x100000, &insn, 1);
	th_step(m);
	assert_int_equal(m->harts[0].pc, TH_CODE);
	assert_int_equal(m->harts[0].x[RA], TH_CODE + 0x100004);
	insn = JAL(RA, 0x800 | 0x7fe);
	th_code(m, TH_CODE, &insn, 1);
	th_step(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 0xffe);

	/* rd = x0: a plain jump, x0 stays zero */
	insn = JAL(ZERO, 8);
	th_code(m, TH_CODE, &insn, 1);
	th_step(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 8);
	assert_int_equal(m->harts[0].x[ZERO], 0);
	th_expect_no_trap(m);
	th_free(m);
}

static void test_jalr(void **state)
{
	struct machine *m = th_setup();
	uint32_t insn;

	(void)state;
	/* the target's bit 0 is cleared */
	insn = JALR(RA, A0, 0);
	m->harts[0].x[A0] = TH_CODE + 0x201;
	th_code(m, TH_CODE, &insn, 1);
	th_step(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 0x200);
	assert_int_equal(m->harts[0].x[RA], TH_CODE + 4);

	insn = JALR(RA, A0, 1); /* odd sum from an odd offset */
	m->harts[0].x[A0] = TH_CODE + 0x200;
	th_code(m, TH_CODE, &insn, 1);
	th_step(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 0x200);

	insn = JALR(RA, A0, -2048);
	m->harts[0].x[A0] = TH_CODE + 0x1000;
	th_code(m, TH_CODE, &insn, 1);
	th_step(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 0x800);

	insn = JALR(T1, A0, 2047); /* odd: lands on +0x7fe */
	m->harts[0].x[A0] = TH_CODE;
	th_code(m, TH_CODE, &insn, 1);
	th_step(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 0x7fe);
	assert_int_equal(m->harts[0].x[T1], TH_CODE + 4);

	/* rd == rs1: the target uses the old value */
	insn = JALR(RA, RA, 4);
	m->harts[0].x[RA] = TH_CODE + 0x300;
	th_code(m, TH_CODE, &insn, 1);
	th_step(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 0x304);
	assert_int_equal(m->harts[0].x[RA], TH_CODE + 4);

	/* a 2-byte aligned target is fine with C */
	insn = JALR(ZERO, A0, 2);
	m->harts[0].x[A0] = TH_CODE + 0x400;
	th_code(m, TH_CODE, &insn, 1);
	th_step(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 0x402);
	assert_int_equal(m->harts[0].x[ZERO], 0);
	th_expect_no_trap(m);

	/* funct3 != 0 is reserved */
	expect_illegal(m, rv_i(0x67, RA, 1, A0, 0));
	th_free(m);
}

/* Run a branch at TH_CODE + 0x2000 with a0 = a, a1 = b; returns pc relative to it. */
static int64_t branch(struct machine *m, uint32_t insn, uint64_t a, uint64_t b)
{
	const uint64_t at = TH_CODE + 0x2000;

	m->harts[0].x[A0] = a;
	m->harts[0].x[A1] = b;
	th_code(m, at, &insn, 1);
	assert_int_equal(th_run(m, 1), 1);
	th_expect_no_trap(m);
	return (int64_t)(m->harts[0].pc - at);
}

static void test_branches(void **state)
{
	struct machine *m = th_setup();
	const uint64_t neg = (uint64_t)-1, one = 1;

	(void)state;
	assert_int_equal(branch(m, BEQ(A0, A1, 64), 5, 5), 64);
	assert_int_equal(branch(m, BEQ(A0, A1, 64), 5, 6), 4);
	assert_int_equal(branch(m, BNE(A0, A1, 64), 5, 6), 64);
	assert_int_equal(branch(m, BNE(A0, A1, 64), 5, 5), 4);
	/* 64-bit compares: differing only in the upper half */
	assert_int_equal(branch(m, BEQ(A0, A1, 64), 0x100000000ull, 0), 4);
	assert_int_equal(branch(m, BNE(A0, A1, 64), 0x100000000ull, 0), 64);
	/* signed */
	assert_int_equal(branch(m, BLT(A0, A1, 64), neg, one), 64);
	assert_int_equal(branch(m, BLT(A0, A1, 64), one, neg), 4);
	assert_int_equal(branch(m, BLT(A0, A1, 64), one, one), 4);
	assert_int_equal(branch(m, BGE(A0, A1, 64), one, neg), 64);
	assert_int_equal(branch(m, BGE(A0, A1, 64), one, one), 64);
	assert_int_equal(branch(m, BGE(A0, A1, 64), neg, one), 4);
	/* unsigned */
	assert_int_equal(branch(m, BLTU(A0, A1, 64), one, neg), 64);
	assert_int_equal(branch(m, BLTU(A0, A1, 64), neg, one), 4);
	assert_int_equal(branch(m, BLTU(A0, A1, 64), one, one), 4);
	assert_int_equal(branch(m, BGEU(A0, A1, 64), neg, one), 64);
	assert_int_equal(branch(m, BGEU(A0, A1, 64), one, one), 64);
	assert_int_equal(branch(m, BGEU(A0, A1, 64), one, neg), 4);
	/* backward, and the extremes of the 13-bit offset */
	assert_int_equal(branch(m, BEQ(A0, A1, -8), 0, 0), -8);
	assert_int_equal(branch(m, BEQ(A0, A1, -4096), 0, 0), -4096);
	assert_int_equal(branch(m, BEQ(A0, A1, 4094), 0, 0), 4094);
	assert_int_equal(branch(m, BNE(A0, A1, 0x800), 0, 1), 0x800);
	assert_int_equal(branch(m, BNE(A0, A1, 0x7fe), 0, 1), 0x7fe);
	/* funct3 2 and 3 are reserved */
	expect_illegal(m, rv_b(2, A0, A1, 8));
	expect_illegal(m, rv_b(3, A0, A1, 8));
	th_free(m);
}

static void test_loads(void **state)
{
	struct machine *m = th_setup();

	(void)state;
	ram_store(&m->ram, TH_DATA, 0xf1e2d3c4b5a69788ull, 8);
	ram_store(&m->ram, TH_DATA + 8, 0x0102030405060708ull, 8);
	/* negative values sign-extend, the U forms zero-extend */
	assert_int_equal(RI(LB, TH_DATA, 0), 0xffffffffffffff88ull);
	assert_int_equal(RI(LBU, TH_DATA, 0), 0x88);
	assert_int_equal(RI(LH, TH_DATA, 0), 0xffffffffffff9788ull);
	assert_int_equal(RI(LHU, TH_DATA, 0), 0x9788);
	assert_int_equal(RI(LW, TH_DATA, 0), 0xffffffffb5a69788ull);
	assert_int_equal(RI(LWU, TH_DATA, 0), 0xb5a69788ull);
	assert_int_equal(RI(LD, TH_DATA, 0), 0xf1e2d3c4b5a69788ull);
	assert_int_equal(RI(LB, TH_DATA, 7), 0xfffffffffffffff1ull);
	assert_int_equal(RI(LH, TH_DATA, 6), 0xfffffffffffff1e2ull);
	assert_int_equal(RI(LW, TH_DATA, 4), 0xfffffffff1e2d3c4ull);
	/* positive values are unchanged by either */
	assert_int_equal(RI(LB, TH_DATA, 8), 0x08);
	assert_int_equal(RI(LH, TH_DATA, 8), 0x0708);
	assert_int_equal(RI(LW, TH_DATA, 8), 0x05060708);
	assert_int_equal(RI(LWU, TH_DATA, 12), 0x01020304);
	/* negative and large offsets */
	assert_int_equal(RI(LD, TH_DATA + 16, -8), 0x0102030405060708ull);
	assert_int_equal(RI(LBU, TH_DATA + 2048, -2048), 0x88);
	assert_int_equal(RI(LBU, TH_DATA - 2047, 2047), 0x88);
	/* funct3 7 (LDU in RV128) is reserved */
	expect_illegal(m, rv_i(0x03, A2, 7, A0, 0));
	th_free(m);
}

static void test_stores(void **state)
{
	struct machine *m = th_setup();
	const uint64_t v = 0x1122334455667788ull;
	const uint32_t code[] = {
		SB(A1, A0, 0),	  SH(A1, A0, 8),  SW(A1, A0, 16),
		SD(A1, A0, 24),	  SD(A1, A2, -8), /* a2 = a0 + 48: stores at +40 */
		SW(A1, A0, 2047),
	};

	(void)state;
	ram_fill(&m->ram, TH_DATA, 0xaa, 4096);
	m->harts[0].x[A0] = TH_DATA;
	m->harts[0].x[A1] = v;
	m->harts[0].x[A2] = TH_DATA + 48;
	th_code(m, TH_CODE, code, 6);
	assert_int_equal(th_run(m, 6), 6);
	th_expect_no_trap(m);
	/* each store writes exactly its width, little-endian */
	assert_int_equal(ram_load(&m->ram, TH_DATA, 8), 0xaaaaaaaaaaaaaa88ull);
	assert_int_equal(ram_load(&m->ram, TH_DATA + 8, 8), 0xaaaaaaaaaaaa7788ull);
	assert_int_equal(ram_load(&m->ram, TH_DATA + 16, 8), 0xaaaaaaaa55667788ull);
	assert_int_equal(ram_load(&m->ram, TH_DATA + 24, 8), v);
	assert_int_equal(ram_load(&m->ram, TH_DATA + 32, 8), 0xaaaaaaaaaaaaaaaaull);
	assert_int_equal(ram_load(&m->ram, TH_DATA + 40, 8), v);
	assert_int_equal(ram_load(&m->ram, TH_DATA + 48, 8), 0xaaaaaaaaaaaaaaaaull);
	assert_int_equal(ram_load(&m->ram, TH_DATA + 2047, 4), 0x55667788);
	assert_int_equal(ram_load(&m->ram, TH_DATA + 2046, 1), 0xaa);
	assert_int_equal(ram_load(&m->ram, TH_DATA + 2051, 1), 0xaa);
	/* funct3 4..7 are reserved for stores */
	expect_illegal(m, rv_s(0x23, 4, A0, A1, 0));
	expect_illegal(m, rv_s(0x23, 7, A0, A1, 0));
	th_free(m);
}

static void test_x0_never_written(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = {
		ADDI(ZERO, ZERO, 5),
		LUI(ZERO, 0x12345),
		AUIPC(ZERO, 1),
		LD(ZERO, A0, 0),
		ADD(ZERO, A1, A1),
		JAL(ZERO, 4),
		CSRRS(ZERO, CSR_SSCRATCH, ZERO),
		ADD(A2, ZERO, ZERO), /* reads x0 as zero */
		ADDI(A3, ZERO, 0),
		SD(ZERO, A0, 8), /* stores zero */
	};

	(void)state;
	ram_store(&m->ram, TH_DATA, 0x1234, 8);
	ram_store(&m->ram, TH_DATA + 8, 0xffff, 8);
	m->harts[0].x[A0] = TH_DATA;
	m->harts[0].x[A1] = 77;
	m->harts[0].x[A2] = m->harts[0].x[A3] = 99;
	m->harts[0].sscratch = 0xabc;
	th_code(m, TH_CODE, code, 10);
	for (int i = 0; i < 10; i++) {
		th_step(m);
		assert_int_equal(m->harts[0].x[ZERO], 0);
	}
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 40);
	assert_int_equal(m->harts[0].x[A2], 0);
	assert_int_equal(m->harts[0].x[A3], 0);
	assert_int_equal(ram_load(&m->ram, TH_DATA + 8, 8), 0);
	th_free(m);
}

static void test_fence_and_illegal_opcodes(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = { FENCE(), FENCE_I(), rv_i(0x0f, 0, 0, 0, 0x830) /* fence.tso */ };

	(void)state;
	th_code(m, TH_CODE, code, 3);
	assert_int_equal(th_run(m, 3), 3);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 12);
	expect_illegal(m, 0x0000000bu);			 /* custom-0 */
	expect_illegal(m, rv_i(0x07, A2, 2, A0, 0));	 /* FLW: no F */
	expect_illegal(m, rv_i(0x07, A2, 3, A0, 0));	 /* FLD */
	expect_illegal(m, rv_s(0x27, 3, A0, A1, 0));	 /* FSD */
	expect_illegal(m, rv_r(0x53, A2, 0, A0, A1, 0)); /* FADD.S */
	expect_illegal(m, rv_r(0x57, A2, 0, A0, A1, 0)); /* OP-V: no V */
	/* the all-zero word is the all-zero 16-bit parcel: illegal, stval is that parcel */
	expect_illegal(m, 0);
	th_free(m);
}

static void test_self_modifying_code(void **state)
{
	struct machine *m = th_setup();
	const uint32_t code[] = {
		SW(A1, A0, 0), /* overwrite the instruction at +16 */
		FENCE_I(),	     ADDI(ZERO, ZERO, 0),
		ADDI(ZERO, ZERO, 0), ADDI(A2, ZERO, 1), /* replaced by addi a2, zero, 2 */
	};

	(void)state;
	m->harts[0].x[A0] = TH_CODE + 16;
	m->harts[0].x[A1] = ADDI(A2, ZERO, 2);
	th_code(m, TH_CODE, code, 5);
	/* run the old version once, so the page is in the fetch TLB */
	m->harts[0].pc = TH_CODE + 16;
	th_step(m);
	assert_int_equal(m->harts[0].x[A2], 1);
	m->harts[0].pc = TH_CODE;
	assert_int_equal(th_run(m, 5), 5);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].x[A2], 2);
	th_free(m);
}

/* ---- M ------------------------------------------------------------------------------------- */

static void test_mul(void **state)
{
	struct machine *m = th_setup();
	const uint64_t min = 0x8000000000000000ull, neg1 = UINT64_MAX;

	(void)state;
	assert_int_equal(RR(MUL, 0x123456789ull, 0x100000000ull), 0x2345678900000000ull);
	assert_int_equal(RR(MUL, (uint64_t)-3, 7), (uint64_t)-21);
	assert_int_equal(RR(MUL, neg1, neg1), 1);
	/* high halves: signed x signed, signed x unsigned, unsigned x unsigned */
	assert_int_equal(RR(MULH, neg1, neg1), 0);
	assert_int_equal(RR(MULH, (uint64_t)-2, 3), neg1);
	assert_int_equal(RR(MULH, min, min), 0x4000000000000000ull);
	assert_int_equal(RR(MULH, min, 1), neg1);
	assert_int_equal(RR(MULH, INT64_MAX, INT64_MAX), 0x3fffffffffffffffull);
	assert_int_equal(RR(MULHU, neg1, neg1), 0xfffffffffffffffeull);
	assert_int_equal(RR(MULHU, min, 2), 1);
	assert_int_equal(RR(MULHU, (uint64_t)-2, 3), 2);
	/* MULHSU: rs1 signed, rs2 unsigned. -1 * (2^64 - 1) = -2^64 + 1: high = -1 */
	assert_int_equal(RR(MULHSU, neg1, neg1), neg1);
	assert_int_equal(RR(MULHSU, 2, neg1), 1);
	assert_int_equal(RR(MULHSU, (uint64_t)-2, 3), neg1);
	assert_int_equal(RR(MULHSU, min, min), 0xc000000000000000ull);
	assert_int_equal(RR(MULHSU, 3, min), 1);
	/* MULW: low 32 bits of the product, sign-extended; upper source halves ignored */
	assert_int_equal(RR(MULW, 0x7fffffff, 2), (uint64_t)-2);
	assert_int_equal(RR(MULW, 0x100000003ull, 0x700000005ull), 15);
	assert_int_equal(RR(MULW, 0x10000, 0x8000), 0xffffffff80000000ull);
	assert_int_equal(RR(MULW, (uint64_t)-3, 5), (uint64_t)-15);
	/* OP-32 with funct7 1 has no MULHW/MULHSUW/MULHUW */
	expect_illegal(m, rv_r(0x3b, A2, 1, A0, A1, 1));
	expect_illegal(m, rv_r(0x3b, A2, 2, A0, A1, 1));
	expect_illegal(m, rv_r(0x3b, A2, 3, A0, A1, 1));
	th_free(m);
}

static void test_div(void **state)
{
	struct machine *m = th_setup();
	const uint64_t min = 0x8000000000000000ull, neg1 = UINT64_MAX;

	(void)state;
	/* rounding toward zero; the remainder takes the dividend's sign */
	assert_int_equal(RR(DIV, (uint64_t)-7, 2), (uint64_t)-3);
	assert_int_equal(RR(REM, (uint64_t)-7, 2), neg1);
	assert_int_equal(RR(DIV, 7, (uint64_t)-2), (uint64_t)-3);
	assert_int_equal(RR(REM, 7, (uint64_t)-2), 1);
	assert_int_equal(RR(DIV, (uint64_t)-7, (uint64_t)-2), 3);
	assert_int_equal(RR(REM, (uint64_t)-7, (uint64_t)-2), neg1);
	assert_int_equal(RR(DIVU, neg1, 2), 0x7fffffffffffffffull);
	assert_int_equal(RR(REMU, neg1, 2), 1);
	assert_int_equal(RR(DIVU, (uint64_t)-7, 2), 0x7ffffffffffffffcull);
	/* division by zero: quotient all ones, remainder the dividend */
	assert_int_equal(RR(DIV, 42, 0), neg1);
	assert_int_equal(RR(DIV, (uint64_t)-42, 0), neg1);
	assert_int_equal(RR(DIVU, 42, 0), neg1);
	assert_int_equal(RR(REM, (uint64_t)-42, 0), (uint64_t)-42);
	assert_int_equal(RR(REMU, 0xdeadbeefcafef00dull, 0), 0xdeadbeefcafef00dull);
	/* signed overflow: quotient the dividend, remainder zero */
	assert_int_equal(RR(DIV, min, neg1), min);
	assert_int_equal(RR(REM, min, neg1), 0);
	assert_int_equal(RR(DIVU, min, neg1), 0);
	assert_int_equal(RR(REMU, min, neg1), min);

	/* W forms: 32-bit operands (upper halves ignored), results sign-extended */
	assert_int_equal(RR(DIVW, 0xffffffff00000000ull | (uint32_t)-7, 2), (uint64_t)-3);
	assert_int_equal(RR(REMW, (uint32_t)-7, 2), neg1);
	assert_int_equal(RR(DIVW, 0x123456780000000eull, 0xabcdef0000000002ull), 7);
	assert_int_equal(RR(DIVUW, 0x80000000ull, 1), 0xffffffff80000000ull);
	assert_int_equal(RR(DIVUW, 0xfffffffeull, 2), 0x7fffffff);
	assert_int_equal(RR(DIVUW, 0xffffffff00000010ull, 3), 5);
	assert_int_equal(RR(REMUW, 0xffffffffull, 0x10), 0xf);
	assert_int_equal(RR(REMUW, 0xffffffffull, 0x80000000ull), 0x7fffffff);
	assert_int_equal(RR(REMUW, 0xfffffffeull, 0xffffffffull), 0xfffffffffffffffeull);
	/* by zero */
	assert_int_equal(RR(DIVW, 42, 0), neg1);
	assert_int_equal(RR(DIVW, 42, 0xffffffff00000000ull), neg1); /* low half zero */
	assert_int_equal(RR(DIVUW, 42, 0), neg1);
	assert_int_equal(RR(REMW, 0x0000000180000000ull, 0), 0xffffffff80000000ull);
	assert_int_equal(RR(REMUW, 0x0000000180000000ull, 0), 0xffffffff80000000ull);
	assert_int_equal(RR(REMUW, 0x0000000112345678ull, 0), 0x12345678);
	/* overflow */
	assert_int_equal(RR(DIVW, 0x80000000ull, 0xffffffffull), 0xffffffff80000000ull);
	assert_int_equal(RR(REMW, 0x80000000ull, neg1), 0);
	assert_int_equal(RR(DIVUW, 0x80000000ull, 0xffffffffull), 0);
	th_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lui_auipc),
		cmocka_unit_test(test_op_imm),
		cmocka_unit_test(test_shift_imm),
		cmocka_unit_test(test_op_imm_32),
		cmocka_unit_test(test_op),
		cmocka_unit_test(test_op_32),
		cmocka_unit_test(test_jal),
		cmocka_unit_test(test_jalr),
		cmocka_unit_test(test_branches),
		cmocka_unit_test(test_loads),
		cmocka_unit_test(test_stores),
		cmocka_unit_test(test_x0_never_written),
		cmocka_unit_test(test_fence_and_illegal_opcodes),
		cmocka_unit_test(test_self_modifying_code),
		cmocka_unit_test(test_mul),
		cmocka_unit_test(test_div),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
