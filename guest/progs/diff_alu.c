/* diff_alu.c - RV64I base integer instructions with corner-case operands.
 *
 * Every instruction is written in inline asm inside `.option norvc` so the
 * exact 32-bit encoding runs. Register-register ops run on all pairs of the
 * operand set d_vals (printed once as v00..v19, results as "op ii jj = r").
 * Immediate forms run with boundary immediates and shift amounts 0/1/31/32/63.
 * Also: branches (taken bitmaps), LUI/AUIPC, JAL/JALR corners, x0 writes,
 * loads/stores sign/zero extension, FENCE/FENCE.I, and counters (only checked
 * for moving forward, never printed).
 */
#include "diff.h"

#define NORVC ".option push\n.option norvc\n"
#define POP "\n.option pop\n"

/* ---- register-register ------------------------------------------------------------ */
#define RR_LIST(X) \
	X(add) X(sub) X(sll) X(slt) X(sltu) X(xor) X(srl) X(sra) X(or) X(and) \
	X(addw) X(subw) X(sllw) X(srlw) X(sraw)

#define RR_FN(op)                                                                              \
	static u64 rr_##op(u64 a, u64 b)                                                       \
	{                                                                                      \
		u64 r;                                                                         \
		__asm__ volatile(NORVC #op " %0, %1, %2" POP : "=r"(r) : "r"(a), "r"(b));     \
		return r;                                                                      \
	}
RR_LIST(RR_FN)

struct rr {
	const char *name;
	u64 (*fn)(u64, u64);
};
#define RR_ENT(op) { #op, rr_##op },
static const struct rr rr_ops[] = { RR_LIST(RR_ENT) };

static void print_idx(unsigned i)
{
	d_putc((char)('0' + i / 10));
	d_putc((char)('0' + i % 10));
}

static void test_rr(void)
{
	for (unsigned o = 0; o < sizeof(rr_ops) / sizeof(rr_ops[0]); o++) {
		for (unsigned i = 0; i < D_NVALS; i++) {
			for (unsigned j = 0; j < D_NVALS; j++) {
				d_puts(rr_ops[o].name);
				d_putc(' ');
				print_idx(i);
				d_putc(' ');
				print_idx(j);
				d_puts(" = ");
				d_hex(rr_ops[o].fn(d_vals[i], d_vals[j]));
				d_putc('\n');
				d_checks++;
			}
		}
	}
}

/* ---- register-immediate ------------------------------------------------------------ */
#define IMM_LIST(X) \
	X(addi, 0) X(addi, 1) X(addi, -1) X(addi, 2047) X(addi, -2048) \
	X(slti, 0) X(slti, 1) X(slti, -1) X(slti, 2047) X(slti, -2048) \
	X(sltiu, 0) X(sltiu, 1) X(sltiu, -1) X(sltiu, 2047) X(sltiu, -2048) \
	X(xori, 0) X(xori, -1) X(xori, 0x555) X(xori, -2048) \
	X(ori, 0) X(ori, -1) X(ori, 0x7ff) X(ori, -2048) \
	X(andi, 0) X(andi, -1) X(andi, 0x7ff) X(andi, -2048) \
	X(slli, 0) X(slli, 1) X(slli, 31) X(slli, 32) X(slli, 63) \
	X(srli, 0) X(srli, 1) X(srli, 31) X(srli, 32) X(srli, 63) \
	X(srai, 0) X(srai, 1) X(srai, 31) X(srai, 32) X(srai, 63) \
	X(addiw, 0) X(addiw, 1) X(addiw, -1) X(addiw, 2047) X(addiw, -2048) \
	X(slliw, 0) X(slliw, 1) X(slliw, 16) X(slliw, 31) \
	X(srliw, 0) X(srliw, 1) X(srliw, 16) X(srliw, 31) \
	X(sraiw, 0) X(sraiw, 1) X(sraiw, 16) X(sraiw, 31)

#define IMM_NAME(op, imm) #op " " #imm,
static const char *const imm_names[] = { IMM_LIST(IMM_NAME) };
#define IMM_CASE(op, imm)                                                                      \
	if (k++ == idx) {                                                                      \
		__asm__ volatile(NORVC #op " %0, %1, " #imm POP : "=r"(r) : "r"(a));           \
		return r;                                                                      \
	}

static u64 imm_exec(unsigned idx, u64 a)
{
	unsigned k = 0;
	u64 r;

	IMM_LIST(IMM_CASE)
	return 0xdeadUL;
}

static void test_imm(void)
{
	for (unsigned o = 0; o < sizeof(imm_names) / sizeof(imm_names[0]); o++) {
		for (unsigned i = 0; i < D_NVALS; i++) {
			d_puts(imm_names[o]);
			d_putc(' ');
			print_idx(i);
			d_puts(" = ");
			d_hex(imm_exec(o, d_vals[i]));
			d_putc('\n');
			d_checks++;
		}
	}
}

/* ---- branches --------------------------------------------------------------------- */
#define BR_LIST(X) X(beq) X(bne) X(blt) X(bge) X(bltu) X(bgeu)
#define BR_FN(op)                                                                              \
	static int br_##op(u64 a, u64 b)                                                       \
	{                                                                                      \
		u64 t;                                                                         \
		__asm__ volatile(NORVC "li %0, 1\n" #op " %1, %2, 1f\nli %0, 0\n1:" POP          \
				 : "=&r"(t)                                                    \
				 : "r"(a), "r"(b));                                            \
		return (int)t;                                                                 \
	}
BR_LIST(BR_FN)
struct br {
	const char *name;
	int (*fn)(u64, u64);
};
#define BR_ENT(op) { #op, br_##op },
static const struct br br_ops[] = { BR_LIST(BR_ENT) };

static void test_branches(void)
{
	for (unsigned o = 0; o < sizeof(br_ops) / sizeof(br_ops[0]); o++) {
		for (unsigned i = 0; i < D_NVALS; i++) {
			d_puts(br_ops[o].name);
			d_putc(' ');
			print_idx(i);
			d_puts(" = ");
			for (unsigned j = 0; j < D_NVALS; j++)
				d_putc(br_ops[o].fn(d_vals[i], d_vals[j]) ? '1' : '0');
			d_putc('\n');
			d_checks += D_NVALS;
		}
	}
	/* Backward branch: a counted loop with bne. */
	u64 n = 0, cnt = 1000;
	__asm__ volatile(NORVC "1: addi %0, %0, 3\naddi %1, %1, -1\nbne %1, zero, 1b" POP
			 : "+r"(n), "+r"(cnt));
	d_kv("bne-loop", n);
}

/* ---- upper immediates, jumps -------------------------------------------------------- */
static void test_upper_jumps(void)
{
	u64 r, s;

#define LUI(imm)                                                                               \
	__asm__ volatile(NORVC "lui %0, " #imm POP : "=r"(r));                                \
	d_kv("lui " #imm, r);
	LUI(0) LUI(1) LUI(0x7ffff) LUI(0x80000) LUI(0xfffff) LUI(0x12345)
#define AUIPC(imm)                                                                             \
	__asm__ volatile(NORVC "1: auipc %0, " #imm "\nlla %1, 1b" POP : "=r"(r), "=r"(s));   \
	d_kv("auipc-pc " #imm, r - s);
	AUIPC(0) AUIPC(1) AUIPC(0x7ffff) AUIPC(0x80000) AUIPC(0xfffff)

	/* jal: link = pc + 4, and the target is reached. */
	__asm__ volatile(NORVC "1: jal %0, 2f\nli %1, 99\n2: lla %1, 1b\nsub %0, %0, %1" POP
			 : "=&r"(r), "=&r"(s));
	d_kv("jal-link-minus-pc", r);
	/* jalr: target = (rs1 + imm) & ~1, with rd == rs1 (old rs1 must be used). */
	__asm__ volatile(NORVC "lla %0, 3f\n"
			 "1: jalr %0, 1(%0)\n"
			 "li %1, 0x111\nj 4f\n"
			 "3: lla %1, 1b\nsub %0, %0, %1\n"
			 "4:" POP
			 : "=&r"(r), "=&r"(s));
	d_kv("jalr-odd-rd=rs1-link-minus-pc", r);
	/* jalr with negative offset */
	__asm__ volatile(NORVC "lla %0, 3f\naddi %0, %0, 16\n"
			 "jalr %1, -16(%0)\n"
			 "li %0, 0x222\nj 4f\n"
			 "3: li %0, 0x333\n"
			 "4:" POP
			 : "=&r"(r), "=&r"(s));
	d_kv("jalr-negative-offset", r);
	/* jal/jalr with rd = x0 */
	__asm__ volatile(NORVC "li %0, 1\njal zero, 1f\nli %0, 2\n1: lla %1, 2f\njalr zero, 0(%1)\n"
			 "li %0, 3\n2:" POP
			 : "=&r"(r), "=&r"(s));
	d_kv("jal-jalr-x0", r);
	/* writes to x0 are discarded */
	__asm__ volatile(NORVC "li %0, 5\naddi zero, %0, 7\nadd zero, %0, %0\nlui zero, 0x12345\n"
			 "mv %0, zero" POP
			 : "=&r"(r));
	d_kv("x0-after-writes", r);
}

/* ---- loads and stores ------------------------------------------------------------- */
static unsigned char membuf[64] __attribute__((aligned(16)));

static void test_loadstore(void)
{
	unsigned char *p = membuf + 32;
	u64 r;

	for (int i = 0; i < 64; i++)
		membuf[i] = (unsigned char)(0x80 + i * 7);
#define LD(op, off)                                                                            \
	__asm__ volatile(NORVC #op " %0, " #off "(%1)" POP : "=r"(r) : "r"(p) : "memory");   \
	d_kv(#op " " #off, r);
	LD(lb, 0) LD(lb, 1) LD(lb, -32) LD(lbu, 0) LD(lbu, -1) LD(lh, 0) LD(lh, -2) LD(lhu, 0)
	LD(lhu, 2) LD(lw, 0) LD(lw, -4) LD(lw, 4) LD(lwu, 0) LD(lwu, -8) LD(ld, 0) LD(ld, -32)
	LD(ld, 24)

	u64 v = 0xfedcba9876543210UL;
#define ST(op, off)                                                                            \
	d_memset(membuf, 0xa5, sizeof(membuf));                                                \
	__asm__ volatile(NORVC #op " %1, " #off "(%0)" POP : : "r"(p), "r"(v) : "memory");   \
	r = *(volatile u64 *)(p + ((off) & ~7)) ;                                              \
	d_kv(#op " " #off, r);
	ST(sb, 0) ST(sb, 3) ST(sb, -1) ST(sh, 0) ST(sh, 6) ST(sh, -2) ST(sw, 0) ST(sw, 4)
	ST(sw, -4) ST(sd, 0) ST(sd, -8) ST(sd, 24)
}

/* ---- fences and counters ---------------------------------------------------------- */

/* Read a counter CSR in U-mode. Returns 1 with the value, or 0 if the read trapped
 * with SIGILL/ILL_ILLOPC at that very instruction: Zicntr reads from U-mode are
 * allowed only by scounteren, which Linux 6.1 sets only in its SBI PMU driver
 * (absent from the guest kernel), while qemu-user always allows them. Either
 * outcome is correct; anything else is not. */
static int read_counter(int which, u64 *v, int *bad)
{
	u64 x = 0, pc = 0;

	d_trap_arm(0);
	if (which == 0)
		__asm__ volatile(NORVC "1: rdcycle %0\nlla %1, 1b" POP : "=&r"(x), "=&r"(pc));
	else if (which == 1)
		__asm__ volatile(NORVC "1: rdtime %0\nlla %1, 1b" POP : "=&r"(x), "=&r"(pc));
	else
		__asm__ volatile(NORVC "1: rdinstret %0\nlla %1, 1b" POP : "=&r"(x), "=&r"(pc));
	d_trap_armed = 0;
	if (!d_trap_sig) {
		*v = x;
		return 1;
	}
	if (d_trap_sig != 4 || d_trap_code != 1 || d_trap_pc != pc)
		*bad = 1;
	return 0;
}

static void test_misc(void)
{
	static const char *const names[3] = { "rdcycle", "rdtime", "rdinstret" };
	u64 r = 0;

	__asm__ volatile(NORVC "fence\nfence rw, rw\nfence r, r\nfence w, w\nfence iorw, iorw\n"
			 "fence.tso\nfence.i" POP ::: "memory");
	d_expect("fences", 1);

	for (int w = 0; w < 3; w++) {
		u64 a = 0, b = 0;
		int bad = 0, ra, rb;

		ra = read_counter(w, &a, &bad);
		for (int i = 0; i < 20000; i++)
			__asm__ volatile("addi %0, %0, 1" : "+r"(r));
		rt_nanosleep(2000000);
		rb = read_counter(w, &b, &bad);
		d_puts(names[w]);
		d_puts(" forward-or-disabled");
		d_expect("", !bad && ra == rb && (!ra || b > a));
	}
	d_kv("busy-loop", r);
}

int main(void)
{
	d_init();
	for (unsigned i = 0; i < D_NVALS; i++) {
		d_putc('v');
		print_idx(i);
		d_puts(" = ");
		d_hex(d_vals[i]);
		d_putc('\n');
	}
	test_rr();
	test_imm();
	test_branches();
	test_upper_jumps();
	test_loadstore();
	test_misc();
	return d_done();
}
