/* bench_fmips.c - a floating-point loop whose instruction count is known exactly.
 *
 * The companion of bench_mips for the F and D extensions (built rv64imafdc/lp64d by
 * guest/build.sh). The loop body is 10 uncompressed instructions: a double load, two fused
 * multiply-adds, a multiply, two adds, a divide, a double store (same cache line as the
 * load), and the loop control (addi, bnez); it runs ITER times, so the timed region executes
 * 10 * ITER instructions (plus a handful around it). The recurrence x = x * (1 - 2^-10) + 1/3
 * keeps the operands normal and the results inexact, so no emulator takes an exact-result
 * shortcut. The time is read from CLOCK_MONOTONIC inside the guest. Prints:
 *   bench-mips: fp insns=N ns=T mips=M check=C
 */
#include "../lib/rt.h"

#define ITER 10000000L
#define BODY 10

static unsigned long cell = 0x3fe8000000000000UL; /* 0.75 */

int main(void)
{
	long n = ITER;
	unsigned long *p = &cell, z;
	long long t0, t1;

	t0 = rt_now_ns(RT_CLOCK_MONOTONIC);
	__asm__ volatile(
	    ".option push\n"
	    ".option norvc\n"
	    "fmv.d.x fa0, %[x0]\n" /* x */
	    "fmv.d.x fs1, %[a]\n"  /* a = 1 - 2^-10 */
	    "fmv.d.x fs2, %[b]\n"  /* b = 1/3 */
	    "fmv.d.x fs3, %[c]\n"  /* c = 0.75 */
	    "fmv.d.x fa2, zero\n"  /* z */
	    "fmv.d.x fa4, zero\n"  /* v */
	    "fmv.d.x fa5, zero\n"  /* u */
	    "1:\n"
	    "fld     ft0, 0(%[p])\n"
	    "fmadd.d fa0, fa0, fs1, fs2\n" /* x = x * a + b */
	    "fmul.d  fa1, fa0, fs3\n"	   /* y = x * c */
	    "fadd.d  fa2, fa2, ft0\n"	   /* z += the stored w */
	    "fdiv.d  fa3, fa1, fa0\n"	   /* w = y / x */
	    "fmadd.d fa4, fa3, fa3, fa4\n" /* v += w * w */
	    "fadd.d  fa5, fa5, fa1\n"	   /* u += y */
	    "fsd     fa3, 0(%[p])\n"
	    "addi    %[n], %[n], -1\n"
	    "bnez    %[n], 1b\n"
	    "fadd.d  fa2, fa2, fa4\n"
	    "fadd.d  fa2, fa2, fa5\n"
	    "fmv.x.d %[z], fa2\n"
	    ".option pop\n"
	    : [n] "+r"(n), [z] "=r"(z)
	    : [p] "r"(p), [x0] "r"(0x3ff0000000000000UL), [a] "r"(0x3fefe00000000000UL),
	      [b] "r"(0x3fd5555555555555UL), [c] "r"(0x3fe8000000000000UL)
	    : "ft0", "fa0", "fa1", "fa2", "fa3", "fa4", "fa5", "fs1", "fs2", "fs3", "memory");
	t1 = rt_now_ns(RT_CLOCK_MONOTONIC);

	rt_bench_report("bench-mips: fp ", (unsigned long long)ITER * BODY, t0, t1, z >> 32 & 0xffff);
	return 0;
}
