/* diff_random.c - a pseudo-random instruction mix with a fixed seed.
 *
 * xorshift64 picks, at each step, an operation (one of the RV64I/M ALU
 * instructions, each as inline asm so that exact instruction runs), a
 * destination and two sources among 16 virtual registers (the second source
 * is a fresh random value one time in 8); one step in 16 reloads a register
 * with a corner value from d_vals, one in 16 with a random value. A running
 * checksum of every result is printed every 262144 steps, so a mismatch is
 * located to a stretch of steps; the final registers are printed too.
 */
#include "diff.h"

#define NORVC ".option push\n.option norvc\n"
#define POP "\n.option pop\n"

#define RR(op) X_RR(op)
#define OPS(X_RR, X_IMM) \
	X_RR(add) X_RR(sub) X_RR(sll) X_RR(slt) X_RR(sltu) X_RR(xor) X_RR(srl) X_RR(sra) X_RR(or) \
	X_RR(and) X_RR(addw) X_RR(subw) X_RR(sllw) X_RR(srlw) X_RR(sraw) X_RR(mul) X_RR(mulh) \
	X_RR(mulhsu) X_RR(mulhu) X_RR(div) X_RR(divu) X_RR(rem) X_RR(remu) X_RR(mulw) X_RR(divw) \
	X_RR(divuw) X_RR(remw) X_RR(remuw) \
	X_IMM(addi, -2048) X_IMM(addi, 1) X_IMM(addi, 2047) X_IMM(slti, -1) X_IMM(sltiu, -1) \
	X_IMM(sltiu, 100) X_IMM(xori, -1) X_IMM(xori, 0x5a5) X_IMM(ori, -1366) X_IMM(andi, 0x7f0) \
	X_IMM(andi, -16) X_IMM(slli, 1) X_IMM(slli, 13) X_IMM(slli, 63) X_IMM(srli, 7) X_IMM(srli, 33) \
	X_IMM(srai, 5) X_IMM(srai, 62) X_IMM(addiw, -1) X_IMM(addiw, 1234) X_IMM(slliw, 3) \
	X_IMM(slliw, 31) X_IMM(srliw, 9) X_IMM(srliw, 31) X_IMM(sraiw, 1) X_IMM(sraiw, 31)

#define COUNT_RR(op) +1
#define COUNT_IMM(op, imm) +1
#define NOPS (0 OPS(COUNT_RR, COUNT_IMM))

#define CASE_RR(op)                                                                            \
	case __COUNTER__ - base:                                                               \
		__asm__ volatile(NORVC #op " %0, %1, %2" POP : "=r"(r) : "r"(a), "r"(b));      \
		break;
#define CASE_IMM(op, imm)                                                                      \
	case __COUNTER__ - base:                                                               \
		__asm__ volatile(NORVC #op " %0, %1, " #imm POP : "=r"(r) : "r"(a));           \
		break;

static u64 exec(unsigned op, u64 a, u64 b)
{
	enum { base = __COUNTER__ + 1 };
	u64 r = 0;

	switch (op) {
		OPS(CASE_RR, CASE_IMM)
	default:
		r = 0xbad;
	}
	return r;
}

/* The same sequence with the compressed register-register forms where the
 * operands allow (rd == rs1, registers x8..x15): c.add/c.sub/c.xor/... */
static u64 exec_c(unsigned op, u64 a, u64 b)
{
	register u64 x __asm__("a0") = a;
	register u64 y __asm__("a1") = b;

	switch (op % 8) {
	case 0: __asm__ volatile(".option push\n.option rvc\nc.add a0, a1" POP : "+r"(x) : "r"(y)); break;
	case 1: __asm__ volatile(".option push\n.option rvc\nc.sub a0, a1" POP : "+r"(x) : "r"(y)); break;
	case 2: __asm__ volatile(".option push\n.option rvc\nc.xor a0, a1" POP : "+r"(x) : "r"(y)); break;
	case 3: __asm__ volatile(".option push\n.option rvc\nc.or a0, a1" POP : "+r"(x) : "r"(y)); break;
	case 4: __asm__ volatile(".option push\n.option rvc\nc.and a0, a1" POP : "+r"(x) : "r"(y)); break;
	case 5: __asm__ volatile(".option push\n.option rvc\nc.addw a0, a1" POP : "+r"(x) : "r"(y)); break;
	case 6: __asm__ volatile(".option push\n.option rvc\nc.subw a0, a1" POP : "+r"(x) : "r"(y)); break;
	default: __asm__ volatile(".option push\n.option rvc\nc.srai a0, 17" POP : "+r"(x)); break;
	}
	return x;
}

#define STEPS (1UL << 22)

int main(void)
{
	u64 seed = 0x9e3779b97f4a7c15UL, sum = D_FNV_INIT, regs[16];

	d_init();
	d_kv("ops", NOPS);
	for (int i = 0; i < 16; i++)
		regs[i] = d_xorshift(&seed);
	for (u64 step = 1; step <= STEPS; step++) {
		u64 x = d_xorshift(&seed);
		unsigned op = (unsigned)(x % (NOPS + 8));
		unsigned d = (x >> 8) & 15, s1 = (x >> 12) & 15, s2 = (x >> 16) & 15;

		u64 b = ((x >> 40) & 7) == 0 ? x * 0x2545f4914f6cdd1dUL : regs[s2];

		if (((x >> 20) & 15) == 0)
			regs[d] = d_vals[(x >> 24) % D_NVALS];
		else if (((x >> 20) & 15) == 1)
			regs[d] = x ^ (x << 32);
		else if (op < NOPS)
			regs[d] = exec(op, regs[s1], b);
		else
			regs[d] = exec_c(op - NOPS, regs[s1], b);
		sum = (sum ^ regs[d]) * 0x100000001b3UL;
		sum ^= sum >> 29;
		if ((step & 0x3ffff) == 0) {
			d_puts("step ");
			d_hexn(step, 8);
			d_puts(" sum ");
			d_hex(sum);
			d_putc('\n');
			d_checks++;
		}
	}
	for (int i = 0; i < 16; i++) {
		d_puts("r");
		d_dec((u64)i);
		d_puts(" = ");
		d_hex(regs[i]);
		d_putc('\n');
		d_checks++;
	}
	return d_done();
}
