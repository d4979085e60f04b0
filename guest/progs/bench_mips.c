/* bench_mips.c - a CPU-bound loop whose instruction count is known exactly.
 *
 * The loop body is 8 uncompressed instructions (ALU, a load and a store that
 * hit the same cache line, a branch), run ITER times, so the guest executes
 * 8 * ITER instructions in the timed region (plus a handful around it). The
 * time is read from CLOCK_MONOTONIC inside the guest, which follows the
 * host's clock under both ferry-vm and QEMU. Prints:
 *   bench-mips: insns=N ns=T mips=M
 */
#include "../lib/rt.h"

#define ITER 25000000L
#define BODY 8

static unsigned long cell;

int main(void)
{
	long n = ITER;
	unsigned long *p = &cell, acc = 0, tmp = 0;
	long long t0, t1;

	t0 = rt_now_ns(RT_CLOCK_MONOTONIC);
	__asm__ volatile(".option push\n"
			 ".option norvc\n"
			 "1:\n"
			 "ld   %[tmp], 0(%[p])\n"
			 "add  %[tmp], %[tmp], %[n]\n"
			 "xor  %[acc], %[acc], %[tmp]\n"
			 "slli %[tmp], %[acc], 3\n"
			 "srli %[tmp], %[tmp], 1\n"
			 "sd   %[tmp], 0(%[p])\n"
			 "addi %[n], %[n], -1\n"
			 "bnez %[n], 1b\n"
			 ".option pop\n"
			 : [n] "+r"(n), [acc] "+r"(acc), [tmp] "+r"(tmp)
			 : [p] "r"(p)
			 : "memory");
	t1 = rt_now_ns(RT_CLOCK_MONOTONIC);

	rt_bench_report("bench-mips: ", (unsigned long long)ITER * BODY, t0, t1, acc & 0xffff);
	return 0;
}
