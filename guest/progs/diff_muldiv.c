/* diff_muldiv.c - the M extension with corner-case operands.
 *
 * All 13 RV64M instructions on all pairs of the operand set d_vals (0, 1, -1,
 * INT64_MIN, INT32_MIN in both sign- and zero-extended forms, values whose
 * upper word is garbage for the W forms, ...), so division by zero, the
 * signed-overflow cases (INT_MIN / -1) and MULH* with negative operands are
 * all covered; then named spot checks of exactly those corners and of
 * register aliasing (rd == rs1 == rs2, MULH followed by MUL).
 */
#include "diff.h"

#define NORVC ".option push\n.option norvc\n"
#define POP "\n.option pop\n"

#define M_LIST(X) \
	X(mul) X(mulh) X(mulhsu) X(mulhu) X(div) X(divu) X(rem) X(remu) \
	X(mulw) X(divw) X(divuw) X(remw) X(remuw)

#define M_FN(op)                                                                               \
	static u64 m_##op(u64 a, u64 b)                                                        \
	{                                                                                      \
		u64 r;                                                                         \
		__asm__ volatile(NORVC #op " %0, %1, %2" POP : "=r"(r) : "r"(a), "r"(b));     \
		return r;                                                                      \
	}
M_LIST(M_FN)

struct mop {
	const char *name;
	u64 (*fn)(u64, u64);
};
#define M_ENT(op) { #op, m_##op },
static const struct mop m_ops[] = { M_LIST(M_ENT) };
#define N_MOPS (sizeof(m_ops) / sizeof(m_ops[0]))

static u64 by_name(const char *n, u64 a, u64 b)
{
	for (unsigned i = 0; i < N_MOPS; i++) {
		const char *p = m_ops[i].name, *q = n;

		while (*p && *p == *q)
			p++, q++;
		if (!*p && !*q)
			return m_ops[i].fn(a, b);
	}
	return 0xbad;
}

static void print_idx(unsigned i)
{
	d_putc((char)('0' + i / 10));
	d_putc((char)('0' + i % 10));
}

static void spot(const char *op, u64 a, u64 b)
{
	d_op2(op, a, b, by_name(op, a, b));
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
	for (unsigned o = 0; o < N_MOPS; o++)
		for (unsigned i = 0; i < D_NVALS; i++)
			for (unsigned j = 0; j < D_NVALS; j++) {
				d_puts(m_ops[o].name);
				d_putc(' ');
				print_idx(i);
				d_putc(' ');
				print_idx(j);
				d_puts(" = ");
				d_hex(m_ops[o].fn(d_vals[i], d_vals[j]));
				d_putc('\n');
				d_checks++;
			}

	/* Division by zero: quotient all ones, remainder the dividend (W: sign-extended). */
	static const char *const dz[] = { "div", "divu", "rem", "remu", "divw", "divuw", "remw", "remuw" };
	static const u64 dividends[] = { 0, 1, 0x123456789UL, 0x8000000000000000UL, 0xffffffff80000000UL,
					 0x00000000fffffff9UL, 0x7fffffff00000005UL };
	for (unsigned i = 0; i < sizeof(dz) / sizeof(dz[0]); i++)
		for (unsigned j = 0; j < sizeof(dividends) / sizeof(dividends[0]); j++) {
			spot(dz[i], dividends[j], 0);
			/* only the low word of the divisor counts for W forms */
			spot(dz[i], dividends[j], 0xffffffff00000000UL);
		}
	/* Signed overflow: INT_MIN / -1 = INT_MIN, remainder 0. */
	spot("div", 0x8000000000000000UL, ~0UL);
	spot("rem", 0x8000000000000000UL, ~0UL);
	spot("divw", 0x80000000UL, ~0UL);
	spot("remw", 0x80000000UL, ~0UL);
	spot("divw", 0xffffffff80000000UL, 0x00000000ffffffffUL);
	spot("remw", 0x1234567880000000UL, 0xabcdef01ffffffffUL);
	spot("divuw", 0x80000000UL, ~0UL);
	spot("remuw", 0x80000000UL, ~0UL);
	/* Signs of the remainder follow the dividend. */
	static const s64 sd[][2] = { { 7, 3 }, { -7, 3 }, { 7, -3 }, { -7, -3 }, { 1, -1 }, { -1, 2 } };
	for (unsigned i = 0; i < 6; i++) {
		spot("div", (u64)sd[i][0], (u64)sd[i][1]);
		spot("rem", (u64)sd[i][0], (u64)sd[i][1]);
		spot("divw", (u64)sd[i][0], (u64)sd[i][1]);
		spot("remw", (u64)sd[i][0], (u64)sd[i][1]);
	}
	/* MULH* with negative operands. */
	static const u64 mh[][2] = {
		{ ~0UL, ~0UL }, { ~0UL, 1 }, { 1, ~0UL }, { 0x8000000000000000UL, 0x8000000000000000UL },
		{ 0x8000000000000000UL, ~0UL }, { 0x8000000000000000UL, 0x7fffffffffffffffUL },
		{ 0xfffffffffffffff9UL, 0x0000000000000003UL }, { 0x3UL, 0xfffffffffffffff9UL },
		{ 0xdeadbeefcafebabeUL, 0xfeedfacef00dd00dUL },
	};
	for (unsigned i = 0; i < sizeof(mh) / sizeof(mh[0]); i++) {
		spot("mulh", mh[i][0], mh[i][1]);
		spot("mulhsu", mh[i][0], mh[i][1]);
		spot("mulhu", mh[i][0], mh[i][1]);
		spot("mul", mh[i][0], mh[i][1]);
		spot("mulw", mh[i][0], mh[i][1]);
	}

	/* Aliasing: rd = rs1 = rs2; and the recommended MULH[S[U]]+MUL fusion sequence. */
	u64 a = 0xfedcba9876543210UL, hi, lo, x = 0x8000000000000001UL;
	__asm__ volatile(NORVC "mul %0, %0, %0" POP : "+r"(x));
	d_kv("mul-rd=rs1=rs2", x);
	x = 0x8000000000000001UL;
	__asm__ volatile(NORVC "mulh %0, %0, %0" POP : "+r"(x));
	d_kv("mulh-rd=rs1=rs2", x);
	x = 0xfffffffffffffff5UL;
	__asm__ volatile(NORVC "divw %0, %0, %0" POP : "+r"(x));
	d_kv("divw-rd=rs1=rs2", x);
	__asm__ volatile(NORVC "mulh %0, %2, %3\nmul %1, %2, %3" POP
			 : "=&r"(hi), "=&r"(lo) : "r"(a), "r"(0x7777777777777777UL));
	d_kv("mulh+mul hi", hi);
	d_kv("mulh+mul lo", lo);
	__asm__ volatile(NORVC "mulhsu %0, %2, %3\nmul %1, %2, %3" POP
			 : "=&r"(hi), "=&r"(lo) : "r"(a), "r"(0xf777777777777777UL));
	d_kv("mulhsu+mul hi", hi);
	d_kv("mulhsu+mul lo", lo);
	__asm__ volatile(NORVC "div %0, %2, %3\nrem %1, %2, %3" POP
			 : "=&r"(hi), "=&r"(lo) : "r"(a), "r"(0x123UL));
	d_kv("div+rem q", hi);
	d_kv("div+rem r", lo);
	/* Writes to x0 are discarded. */
	__asm__ volatile(NORVC "li %0, 9\nmul zero, %0, %0\ndiv zero, %0, zero\nmv %0, zero" POP : "=&r"(x));
	d_kv("m-x0", x);
	return d_done();
}
