/* test_rvc.c - the C extension on RV64: expansion, execution, reserved encodings, and
 * fetching 32-bit instructions that straddle a page.
 *
 * Expected expansions are the ones the unprivileged spec's RVC chapter gives
 * for each instruction ("expands to addi rd', x2, nzuimm", ...); the encoders
 * in harness.h scatter immediates as its format tables show. Reserved
 * encodings (and the F/D loads and stores, with no FPU) must be illegal
 * instructions, reported with stval = the 16-bit parcel.
 */
#include "harness.h"

static void expand_is(uint16_t c, uint32_t want)
{
	uint32_t got = cpu_expand_rvc(c);

	if (got != want)
		fail_msg("expand %04x: got %08x, want %08x", c, got, want);
}

static void test_expand_quadrant0(void **state)
{
	(void)state;
	/* known encodings from assembler output */
	assert_int_equal(C_ADDI4SPN(A0, 16), 0x0808);
	expand_is(0x0808, ADDI(A0, SP, 16));
	expand_is(C_ADDI4SPN(S0, 1020), ADDI(S0, SP, 1020));
	expand_is(C_ADDI4SPN(A5, 4), ADDI(A5, SP, 4));
	expand_is(C_ADDI4SPN(S1, 0x208), ADDI(S1, SP, 0x208));
	expand_is(C_LW(A0, A1, 68), LW(A0, A1, 68));
	expand_is(C_LW(S1, S0, 124), LW(S1, S0, 124));
	expand_is(C_LW(A5, A5, 4), LW(A5, A5, 4));
	expand_is(C_LD(A5, S1, 248), LD(A5, S1, 248));
	expand_is(C_LD(S0, A4, 8), LD(S0, A4, 8));
	expand_is(C_LD(A0, A0, 0x80), LD(A0, A0, 0x80));
	expand_is(C_SW(A2, A3, 124), SW(A2, A3, 124));
	expand_is(C_SW(S0, S1, 64), SW(S0, S1, 64));
	expand_is(C_SD(A4, S0, 248), SD(A4, S0, 248));
	expand_is(C_SD(A1, A2, 0x40), SD(A1, A2, 0x40));
	/* the D extension's: register numbers are f8-f15 for rd'/rs2' */
	expand_is(C_FLD(A0, A1, 8), FLD(10, A1, 8));
	expand_is(C_FLD(S0, A5, 248), FLD(8, A5, 248));
	expand_is(C_FSD(A4, S0, 248), FSD(14, S0, 248));
	expand_is(C_FSD(S1, A2, 0x40), FSD(9, A2, 0x40));
}

static void test_expand_quadrant1(void **state)
{
	(void)state;
	assert_int_equal(C_NOP(), 0x0001);
	assert_int_equal(C_LI(A0, 0), 0x4501);
	assert_int_equal(C_ADDI(SP, -16), 0x1141);
	assert_int_equal(C_ADDI16SP(-64), 0x7139);
	expand_is(C_NOP(), ADDI(ZERO, ZERO, 0));
	expand_is(C_ADDI(T0, -32), ADDI(T0, T0, -32));
	expand_is(C_ADDI(SP, 31), ADDI(SP, SP, 31));
	expand_is(C_ADDI(SP, -16), ADDI(SP, SP, -16));
	expand_is(C_ADDIW(A0, -1), ADDIW(A0, A0, -1));
	expand_is(C_ADDIW(T6, 0), ADDIW(T6, T6, 0)); /* sext.w: imm 0 is fine */
	expand_is(C_ADDIW(RA, 31), ADDIW(RA, RA, 31));
	expand_is(C_LI(A0, -32), ADDI(A0, ZERO, -32));
	expand_is(C_LI(T6, 31), ADDI(T6, ZERO, 31));
	expand_is(C_ADDI16SP(-512), ADDI(SP, SP, -512));
	expand_is(C_ADDI16SP(496), ADDI(SP, SP, 496));
	expand_is(C_ADDI16SP(16), ADDI(SP, SP, 16));
	expand_is(C_ADDI16SP(-64), ADDI(SP, SP, -64));
	expand_is(C_ADDI16SP(0x160), ADDI(SP, SP, 0x160));
	/* C.LUI: nzimm[17:12] sign-extended into the whole upper immediate */
	expand_is(C_LUI(A0, -32), LUI(A0, 0xfffe0));
	expand_is(C_LUI(A0, -1), LUI(A0, 0xfffff));
	expand_is(C_LUI(A0, 1), LUI(A0, 1));
	expand_is(C_LUI(T0, 31), LUI(T0, 31));
	expand_is(C_LUI(S11, 0x15), LUI(S11, 0x15));
	expand_is(C_SRLI(A0, 63), SRLI(A0, A0, 63));
	expand_is(C_SRLI(S1, 1), SRLI(S1, S1, 1));
	expand_is(C_SRLI(A5, 32), SRLI(A5, A5, 32));
	expand_is(C_SRAI(A0, 32), SRAI(A0, A0, 32));
	expand_is(C_SRAI(S0, 7), SRAI(S0, S0, 7));
	expand_is(C_ANDI(A3, -1), ANDI(A3, A3, -1));
	expand_is(C_ANDI(A3, 31), ANDI(A3, A3, 31));
	expand_is(C_ANDI(S1, -32), ANDI(S1, S1, -32));
	expand_is(C_SUB(S0, A5), SUB(S0, S0, A5));
	expand_is(C_XOR(A1, A2), XOR(A1, A1, A2));
	expand_is(C_OR(A4, S1), OR(A4, A4, S1));
	expand_is(C_AND(A5, S0), AND(A5, A5, S0));
	expand_is(C_SUBW(A0, A1), SUBW(A0, A0, A1));
	expand_is(C_ADDW(S1, A3), ADDW(S1, S1, A3));
	expand_is(C_J(-2048), JAL(ZERO, -2048));
	expand_is(C_J(2046), JAL(ZERO, 2046));
	expand_is(C_J(0x2a4), JAL(ZERO, 0x2a4));
	expand_is(C_J(-0x55a), JAL(ZERO, -0x55a));
	expand_is(C_J(2), JAL(ZERO, 2));
	expand_is(C_BEQZ(A0, -256), BEQ(A0, ZERO, -256));
	expand_is(C_BEQZ(S0, 8), BEQ(S0, ZERO, 8));
	expand_is(C_BNEZ(S1, 254), BNE(S1, ZERO, 254));
	expand_is(C_BNEZ(A5, -0xaa), BNE(A5, ZERO, -0xaa));
	expand_is(C_BEQZ(A2, 0x56), BEQ(A2, ZERO, 0x56));
}

static void test_expand_quadrant2(void **state)
{
	(void)state;
	assert_int_equal(C_JR(RA), 0x8082); /* ret */
	assert_int_equal(C_MV(A0, A1), 0x852e);
	assert_int_equal(C_EBREAK(), 0x9002);
	assert_int_equal(C_SDSP(RA, 8), 0xe406);
	assert_int_equal(C_LDSP(RA, 8), 0x60a2);
	expand_is(C_SLLI(A0, 63), SLLI(A0, A0, 63));
	expand_is(C_SLLI(T6, 1), SLLI(T6, T6, 1));
	expand_is(C_SLLI(RA, 32), SLLI(RA, RA, 32));
	expand_is(C_LWSP(RA, 252), LW(RA, SP, 252));
	expand_is(C_LWSP(A0, 4), LW(A0, SP, 4));
	expand_is(C_LWSP(T6, 0x84), LW(T6, SP, 0x84));
	expand_is(C_LDSP(RA, 504), LD(RA, SP, 504));
	expand_is(C_LDSP(T6, 8), LD(T6, SP, 8));
	expand_is(C_LDSP(S2, 0x128), LD(S2, SP, 0x128));
	expand_is(C_JR(RA), JALR(ZERO, RA, 0));
	expand_is(C_JR(T6), JALR(ZERO, T6, 0));
	expand_is(C_MV(A0, A1), ADD(A0, ZERO, A1));
	expand_is(C_MV(T6, SP), ADD(T6, ZERO, SP));
	expand_is(C_EBREAK(), EBREAK());
	expand_is(C_JALR(T0), JALR(RA, T0, 0));
	expand_is(C_JALR(RA), JALR(RA, RA, 0));
	expand_is(C_ADD(A0, A1), ADD(A0, A0, A1));
	expand_is(C_ADD(SP, T6), ADD(SP, SP, T6));
	expand_is(C_SWSP(A0, 252), SW(A0, SP, 252));
	expand_is(C_SWSP(T6, 0x44), SW(T6, SP, 0x44));
	expand_is(C_SDSP(RA, 504), SD(RA, SP, 504));
	expand_is(C_SDSP(S3, 0x148), SD(S3, SP, 0x148));
	expand_is(C_FLDSP(0, 504), FLD(0, SP, 504)); /* f0 is a destination like any other */
	expand_is(C_FLDSP(31, 8), FLD(31, SP, 8));
	expand_is(C_FSDSP(0, 0x148), FSD(0, SP, 0x148));
	expand_is(C_FSDSP(31, 504), FSD(31, SP, 504));
}

static void test_expand_hints(void **state)
{
	(void)state;
	/* HINTs are legal and execute as their base instruction (writing x0 or nothing) */
	expand_is(C_ADDI(ZERO, 5), ADDI(ZERO, ZERO, 5));
	expand_is(C_ADDI(A0, 0), ADDI(A0, A0, 0));
	expand_is(C_LI(ZERO, 5), ADDI(ZERO, ZERO, 5));
	expand_is(C_LUI(ZERO, 1), LUI(ZERO, 1));
	expand_is(C_MV(ZERO, A0), ADD(ZERO, ZERO, A0));
	expand_is(C_ADD(ZERO, A0), ADD(ZERO, ZERO, A0));
	expand_is(C_SLLI(ZERO, 1), SLLI(ZERO, ZERO, 1));
	expand_is(C_SLLI(A0, 0), SLLI(A0, A0, 0));
	expand_is(C_SRLI(A0, 0), SRLI(A0, A0, 0));
	expand_is(C_SRAI(A0, 0), SRAI(A0, A0, 0));
}

struct rsv {
	uint16_t c;
	const char *what;
};

/* A macro, not a static table: the encoders are inline functions, not constant expressions.
 * (Its one-entry-a-line layout is kept by hand.) */
/* clang-format off */
#define RESERVED_TABLE \
	{ \
		{ 0x0000, "all-zero parcel" }, \
		{ C_ADDI4SPN(A0, 0), "C.ADDI4SPN nzuimm=0" }, \
		{ C_ADDI4SPN(A5, 0), "C.ADDI4SPN nzuimm=0, rd'=a5" }, \
		{ C_ADDI16SP(0), "C.ADDI16SP nzimm=0" }, \
		{ C_LUI(A0, 0), "C.LUI nzimm=0" }, \
		{ C_LUI(ZERO, 0), "C.LUI rd=0 nzimm=0" }, \
		{ C_LWSP(ZERO, 4), "C.LWSP rd=0" }, \
		{ C_LDSP(ZERO, 8), "C.LDSP rd=0" }, \
		{ C_LWSP(ZERO, 0), "C.LWSP rd=0 imm=0" }, \
		{ C_JR(ZERO), "C.JR rs1=0" }, \
		{ C_ADDIW(ZERO, 1), "C.ADDIW rd=0" }, \
		{ C_ADDIW(ZERO, 0), "C.ADDIW rd=0 imm=0" }, \
		{ 0x9c41, "reserved CA: funct6 100111 funct2 10" }, \
		{ 0x9c61, "reserved CA: funct6 100111 funct2 11" }, \
		{ 0x8004, "quadrant 0 funct3 100" }, \
		{ 0x9ffc, "quadrant 0 funct3 100, all operand bits" }, \
	}
/* clang-format on */

static void test_expand_reserved(void **state)
{
	const struct rsv reserved[] = RESERVED_TABLE;

	(void)state;
	assert_int_equal(rvc_ca(1, 2, S0, S0), 0x9c41);
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (cpu_expand_rvc(reserved[i].c) != 0)
			fail_msg("%s (%04x) expands to %08x", reserved[i].what, reserved[i].c,
				 cpu_expand_rvc(reserved[i].c));
}

static void test_reserved_raise_illegal(void **state)
{
	const struct rsv reserved[] = RESERVED_TABLE;

	(void)state;
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		struct machine *m = th_setup();
		/* a legal parcel follows: stval must hold only the 16 faulting bits */
		const uint16_t code[] = { C_NOP(), reserved[i].c, 0xffff, 0xffff };

		m->harts[0].x[SP] = TH_DATA;
		th_code16(m, TH_CODE, code, 4);
		assert_int_equal(th_run(m, 2), 1);
		if (m->harts[0].scause != EXC_ILLEGAL || m->harts[0].stval != reserved[i].c)
			fail_msg("%s: scause %llu stval %llx", reserved[i].what,
				 (unsigned long long)m->harts[0].scause,
				 (unsigned long long)m->harts[0].stval);
		th_expect_trap(m, EXC_ILLEGAL, reserved[i].c, TH_CODE + 2);
		th_free(m);
	}
}

/* Run one parcel at TH_CODE; it must retire and fall through to pc + 2. */
static void c1(struct machine *m, uint16_t c)
{
	m->harts[0].scause = TH_NO_TRAP;
	th_code16(m, TH_CODE, &c, 1);
	assert_int_equal(th_run(m, 1), 1);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 2);
}

static void test_exec_alu(void **state)
{
	struct machine *m = th_setup();
	uint64_t *x = m->harts[0].x;

	(void)state;
	c1(m, C_LI(A0, -5));
	assert_int_equal(x[A0], (uint64_t)-5);
	c1(m, C_ADDI(A0, 3));
	assert_int_equal(x[A0], (uint64_t)-2);
	c1(m, C_MV(A1, A0));
	assert_int_equal(x[A1], (uint64_t)-2);
	c1(m, C_ADD(A1, A0));
	assert_int_equal(x[A1], (uint64_t)-4);
	c1(m, C_LUI(A2, -1));
	assert_int_equal(x[A2], 0xfffffffffffff000ull);
	c1(m, C_LUI(A3, 31));
	assert_int_equal(x[A3], 0x1f000);
	c1(m, C_SRAI(A2, 4));
	assert_int_equal(x[A2], 0xffffffffffffff00ull);
	c1(m, C_SRLI(A2, 60));
	assert_int_equal(x[A2], 0xf);
	c1(m, C_ANDI(A2, -2));
	assert_int_equal(x[A2], 0xe);
	c1(m, C_SLLI(A2, 60));
	assert_int_equal(x[A2], 0xe000000000000000ull);
	x[A3] = 7;
	x[A2] = 14;
	c1(m, C_SUB(A3, A2));
	assert_int_equal(x[A3], (uint64_t)-7);
	c1(m, C_XOR(A3, A2));
	assert_int_equal(x[A3], (uint64_t)-9);
	c1(m, C_OR(A3, A2));
	assert_int_equal(x[A3], UINT64_MAX);
	c1(m, C_AND(A3, A2));
	assert_int_equal(x[A3], 14);
	/* the W forms wrap at 32 bits and sign-extend */
	x[A4] = 0xffffffff80000000ull;
	c1(m, C_ADDIW(A4, -1));
	assert_int_equal(x[A4], 0x7fffffff);
	x[A5] = 0x7fffffff;
	c1(m, C_ADDW(A5, A4));
	assert_int_equal(x[A5], (uint64_t)-2);
	c1(m, C_SUBW(A4, A5));
	assert_int_equal(x[A4], 0xffffffff80000001ull);
	x[T0] = 0x00000001ffffffffull;
	c1(m, C_ADDIW(T0, 0));
	assert_int_equal(x[T0], UINT64_MAX);
	/* stack pointer forms */
	x[SP] = TH_DATA + 0x800;
	c1(m, C_ADDI16SP(-512));
	assert_int_equal(x[SP], TH_DATA + 0x600);
	c1(m, C_ADDI16SP(496));
	assert_int_equal(x[SP], TH_DATA + 0x7f0);
	c1(m, C_ADDI4SPN(S0, 1020));
	assert_int_equal(x[S0], TH_DATA + 0x7f0 + 1020);
	/* HINTs do nothing */
	c1(m, C_ADDI(ZERO, 5));
	c1(m, C_LI(ZERO, 5));
	c1(m, C_MV(ZERO, A0));
	assert_int_equal(x[ZERO], 0);
	c1(m, C_NOP());
	th_free(m);
}

static void test_exec_loads_stores(void **state)
{
	struct machine *m = th_setup();
	uint64_t *x = m->harts[0].x;

	(void)state;
	x[SP] = TH_DATA;
	x[S0] = TH_DATA + 0x100;
	x[A0] = 0x8877665544332211ull;
	x[A1] = 0x00000000f0000001ull;
	c1(m, C_SDSP(A0, 504));
	assert_int_equal(ram_load(&m->ram, TH_DATA + 504, 8), 0x8877665544332211ull);
	c1(m, C_SWSP(A1, 252));
	assert_int_equal(ram_load(&m->ram, TH_DATA + 252, 8), 0xf0000001);
	c1(m, C_LDSP(T1, 504));
	assert_int_equal(x[T1], 0x8877665544332211ull);
	c1(m, C_LWSP(T2, 252));
	assert_int_equal(x[T2], 0xfffffffff0000001ull); /* C.LW* sign-extend */
	c1(m, C_SD(A0, S0, 248));
	assert_int_equal(ram_load(&m->ram, TH_DATA + 0x100 + 248, 8), 0x8877665544332211ull);
	c1(m, C_SW(A1, S0, 124));
	assert_int_equal(ram_load(&m->ram, TH_DATA + 0x100 + 124, 4), 0xf0000001);
	c1(m, C_LD(A2, S0, 248));
	assert_int_equal(x[A2], 0x8877665544332211ull);
	c1(m, C_LW(A3, S0, 124));
	assert_int_equal(x[A3], 0xfffffffff0000001ull);
	/* a compressed load faults like its expansion: stval is the address */
	x[S0] = 0x40000000;
	{
		const uint16_t c = C_LD(A2, S0, 8);

		th_code16(m, TH_CODE, &c, 1);
		th_step(m);
		th_expect_trap(m, EXC_LOAD_ACCESS, 0x40000008, TH_CODE);
	}
	th_free(m);
}

static void test_exec_control(void **state)
{
	struct machine *m = th_setup();
	uint64_t *x = m->harts[0].x;
	uint16_t c;

	(void)state;
	/* C.J both ways */
	c = C_J(0x2a4);
	th_code16(m, TH_CODE + 0x800, &c, 1);
	th_step(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 0x800 + 0x2a4);
	c = C_J(-2048);
	th_code16(m, TH_CODE + 0x800, &c, 1);
	th_step(m);
	assert_int_equal(m->harts[0].pc, TH_CODE);
	/* C.JR and C.JALR: the link is pc + 2 */
	x[T0] = TH_CODE + 0x300;
	c = C_JR(T0);
	th_code16(m, TH_CODE, &c, 1);
	th_step(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 0x300);
	x[RA] = 0;
	c = C_JALR(T0);
	th_code16(m, TH_CODE + 0x10, &c, 1);
	th_step(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 0x300);
	assert_int_equal(x[RA], TH_CODE + 0x12);
	x[RA] = TH_CODE + 0x401; /* C.JALR ra: the old ra is the target, bit 0 cleared */
	c = C_JALR(RA);
	th_code16(m, TH_CODE + 0x10, &c, 1);
	th_step(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 0x400);
	assert_int_equal(x[RA], TH_CODE + 0x12);
	/* branches: taken, and falling through by 2 */
	x[A0] = 0;
	c = C_BEQZ(A0, -256);
	th_code16(m, TH_CODE + 0x200, &c, 1);
	th_step(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 0x100);
	c = C_BNEZ(A0, 254);
	th_code16(m, TH_CODE + 0x200, &c, 1);
	th_step(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 0x202);
	x[A0] = 0x100000000ull; /* nonzero only in the upper half */
	c = C_BNEZ(A0, 254);
	th_code16(m, TH_CODE + 0x200, &c, 1);
	th_step(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 0x2fe);
	c = C_BEQZ(A0, 0x56);
	th_code16(m, TH_CODE + 0x200, &c, 1);
	th_step(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 0x202);
	th_expect_no_trap(m);
	/* C.EBREAK: breakpoint, stval and sepc the parcel's address */
	c = C_EBREAK();
	th_code16(m, TH_CODE + 0x22, &c, 1);
	th_step(m);
	th_expect_trap(m, EXC_BREAKPOINT, TH_CODE + 0x22, TH_CODE + 0x22);
	th_free(m);
}

static void test_mixed_lengths(void **state)
{
	struct machine *m = th_setup();
	uint16_t code[8];
	const uint32_t addi = ADDI(A0, A0, 0x123), add = ADD(A1, A0, A0);

	(void)state;
	/* 16, 32 (at a 2-byte aligned pc), 16, 32 */
	code[0] = C_LI(A0, 1);
	code[1] = (uint16_t)addi;
	code[2] = (uint16_t)(addi >> 16);
	code[3] = C_ADDI(A0, 1);
	code[4] = (uint16_t)add;
	code[5] = (uint16_t)(add >> 16);
	code[6] = C_NOP();
	th_code16(m, TH_CODE, code, 7);
	assert_int_equal(th_run(m, 5), 5);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].pc, TH_CODE + 14);
	assert_int_equal(m->harts[0].x[A0], 0x125);
	assert_int_equal(m->harts[0].x[A1], 0x24a);
	th_free(m);
}

static void put32_at(struct machine *m, uint64_t gpa, uint32_t insn)
{
	ram_store(&m->ram, gpa, insn & 0xffff, 2);
	ram_store(&m->ram, gpa + 2, insn >> 16, 2);
}

static void test_fetch_across_pages_bare(void **state)
{
	struct machine *m = th_setup();
	const uint64_t end = TH_RAM + (16ull << 20);
	const uint16_t cnop = C_NOP();

	(void)state;
	put32_at(m, TH_CODE + 0xffe, ADDI(A0, A0, 0x123));
	m->harts[0].pc = TH_CODE + 0xffe;
	th_step(m);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].x[A0], 0x123);
	assert_int_equal(m->harts[0].pc, TH_CODE + 0x1002);
	/* the last parcel of RAM: a 32-bit instruction there needs bytes beyond RAM */
	ram_store(&m->ram, end - 2, ADDI(A0, A0, 1) & 0xffff, 2);
	m->harts[0].pc = end - 2;
	th_step(m);
	th_expect_trap(m, EXC_INSN_ACCESS, end, end - 2);
	/* a compressed one there is fine, and the fetch after it faults */
	m->harts[0].scause = TH_NO_TRAP;
	ram_write(&m->ram, end - 2, &cnop, 2);
	m->harts[0].pc = end - 2;
	th_step(m);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].pc, end);
	th_step(m);
	th_expect_trap(m, EXC_INSN_ACCESS, end, end);
	th_free(m);
}

static void test_fetch_across_pages_paged(void **state)
{
	struct machine *m = th_setup();
	struct th_pt pt;
	const uint64_t x = PTE_V | PTE_R | PTE_X | PTE_A | PTE_D;
	const uint32_t addi = ADDI(A0, A0, 0x123);
	const uint16_t cnop = C_NOP();

	(void)state;
	th_paging_on(m, &pt);
	/* 0x40000: X, 0x41000 unmapped */
	th_map(&pt, 0x40000, TH_CODE + 0x3000, x, 0);
	/* 0x42000: X, 0x43000: readable and writable, not executable */
	th_map(&pt, 0x42000, TH_CODE + 0x6000, x, 0);
	th_map(&pt, 0x43000, TH_CODE + 0x7000, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D, 0);
	/* 0x44000, 0x45000: both X, physically in reverse order */
	th_map(&pt, 0x44000, TH_CODE + 0x5000, x, 0);
	th_map(&pt, 0x45000, TH_CODE + 0x4000, x, 0);
	/* 0x46000: X; 0x47000: a user page, never executable from S-mode */
	th_map(&pt, 0x46000, TH_CODE + 0x8000, x, 0);
	th_map(&pt, 0x47000, TH_CODE + 0x9000, x | PTE_U, 0);

	put32_at(m, TH_CODE + 0x3ffe, addi);
	m->harts[0].pc = 0x40ffe;
	th_step(m);
	th_expect_trap(m, EXC_INSN_PAGE, 0x41000, 0x40ffe);
	assert_int_equal(m->harts[0].x[A0], 0);

	m->harts[0].scause = TH_NO_TRAP;
	ram_store(&m->ram, TH_CODE + 0x6ffe, addi & 0xffff, 2);
	ram_store(&m->ram, TH_CODE + 0x7000, addi >> 16, 2);
	m->harts[0].pc = 0x42ffe;
	th_step(m);
	th_expect_trap(m, EXC_INSN_PAGE, 0x43000, 0x42ffe);

	m->harts[0].scause = TH_NO_TRAP;
	ram_store(&m->ram, TH_CODE + 0x8ffe, addi & 0xffff, 2);
	ram_store(&m->ram, TH_CODE + 0x9000, addi >> 16, 2);
	m->harts[0].pc = 0x46ffe;
	th_step(m);
	th_expect_trap(m, EXC_INSN_PAGE, 0x47000, 0x46ffe);

	/* both halves mapped: each comes from its own page */
	m->harts[0].scause = TH_NO_TRAP;
	ram_store(&m->ram, TH_CODE + 0x5ffe, addi & 0xffff, 2);
	ram_store(&m->ram, TH_CODE + 0x4000, addi >> 16, 2);
	m->harts[0].pc = 0x44ffe;
	th_step(m);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].x[A0], 0x123);
	assert_int_equal(m->harts[0].pc, 0x45002);

	/* a compressed instruction in the last parcel needs only its own page */
	ram_write(&m->ram, TH_CODE + 0x3ffe, &cnop, 2);
	m->harts[0].pc = 0x40ffe;
	th_step(m);
	th_expect_no_trap(m);
	assert_int_equal(m->harts[0].pc, 0x41000);
	th_step(m);
	th_expect_trap(m, EXC_INSN_PAGE, 0x41000, 0x41000);
	th_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expand_quadrant0),
		cmocka_unit_test(test_expand_quadrant1),
		cmocka_unit_test(test_expand_quadrant2),
		cmocka_unit_test(test_expand_hints),
		cmocka_unit_test(test_expand_reserved),
		cmocka_unit_test(test_reserved_raise_illegal),
		cmocka_unit_test(test_exec_alu),
		cmocka_unit_test(test_exec_loads_stores),
		cmocka_unit_test(test_exec_control),
		cmocka_unit_test(test_mixed_lengths),
		cmocka_unit_test(test_fetch_across_pages_bare),
		cmocka_unit_test(test_fetch_across_pages_paged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
