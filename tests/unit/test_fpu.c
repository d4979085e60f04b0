/* test_fpu.c - IEEE 754 arithmetic for the F and D extensions (vmm/core/fpu.h).
 *
 * Tables of corner cases whose expected bits and flags are worked out from the unprivileged
 * manual's F and D chapters and IEEE 754-2008 (not from fpu.c): every rounding mode
 * including RMM on ties, overflow to infinity or the largest finite number by mode and sign,
 * tininess detected after rounding (a product just below 2^emin that rounds to it does not
 * underflow; one that is exactly representable below it does), exact zeros' signs, the
 * canonical NaN, NV for signalling NaNs and for inf*0 even with a quiet NaN addend, FMA's
 * single rounding, fmin/fmax of signed zeros and NaNs, the compares, FCLASS of every class,
 * and the conversions' boundaries and invalid inputs.
 *
 * Then a randomized comparison with the host's FPU (SSE on x86-64) in RNE, RTZ, RDN and RUP:
 * add, sub, mul, div, sqrt and fma on operands biased to subnormals, the thresholds, values
 * near 1 and short significands (ties), results and flags compared (a NaN result: the host's
 * is some NaN, fpu.c's must be the canonical one). tests/diff/fpu.sh compares all operations
 * in all five modes with QEMU's softfloat.
 */
#include "harness.h"

#include <fenv.h>
#include <math.h>

#include "vmm/core/fpu.h"

enum top { ADD, SUB, MUL, DIV, SQRT, FMA, MIN, MAX, EQ, LT, LE, CLASS, TOI, FROMI, CVT };

static const char *const top_names[] = { "add", "sub",	 "mul",	   "div",      "sqrt",
					 "fma", "min",	 "max",	   "eq",       "lt",
					 "le",	"class", "to_int", "from_int", "cvt" };

/* One case: for TOI and FROMI c is the enum fpu_int; for CVT fmt is the destination. */
struct tcase {
	enum top op;
	enum fpu_fmt fmt;
	enum fpu_rm rm;
	uint64_t a, b, c;
	uint64_t want;
	unsigned flags;
	int line;
};

#define S FPU_S
#define D FPU_D
#define NX FPU_NX
#define UF FPU_UF
#define OF FPU_OF
#define DZ FPU_DZ
#define NV FPU_NV
#define C(op, f, rm, a, b, c, want, fl)                                                            \
	{                                                                                          \
		op, f, rm, a, b, c, want, fl, __LINE__                                             \
	}
/* The same operation in RNE, RTZ, RDN, RUP and RMM */
#define C5(op, f, a, b, c, w0, f0, w1, f1, w2, f2, w3, f3, w4, f4)                                 \
	C(op, f, FPU_RNE, a, b, c, w0, f0), C(op, f, FPU_RTZ, a, b, c, w1, f1),                    \
	    C(op, f, FPU_RDN, a, b, c, w2, f2), C(op, f, FPU_RUP, a, b, c, w3, f3),                \
	    C(op, f, FPU_RMM, a, b, c, w4, f4)
/* No rounding: RNE */
#define C1(op, f, a, b, c, want, fl) C(op, f, FPU_RNE, a, b, c, want, fl)

/* binary32 */
#define PZ 0x00000000ull
#define NZ 0x80000000ull
#define PINF 0x7f800000ull
#define NINF 0xff800000ull
#define CN 0x7fc00000ull
#define QN 0x7fc12345ull  /* quiet NaN with a payload */
#define NQN 0xffc00001ull /* negative quiet NaN */
#define SN 0x7f800001ull
#define NSN 0xffbfffffull /* negative signalling NaN, the largest payload */
#define MINSUB 0x00000001ull
#define MAXSUB 0x007fffffull
#define MINN 0x00800000ull
#define MAXF 0x7f7fffffull
#define NMAXF 0xff7fffffull
#define ONE 0x3f800000ull
#define NONE 0xbf800000ull
#define TWO 0x40000000ull
#define THREE 0x40400000ull
#define FIVE 0x40a00000ull
#define HALF 0x3f000000ull
/* binary64 */
#define DPZ 0x0000000000000000ull
#define DNZ 0x8000000000000000ull
#define DPINF 0x7ff0000000000000ull
#define DNINF 0xfff0000000000000ull
#define DCN 0x7ff8000000000000ull
#define DQN 0x7ff8dead00000000ull
#define DNQN 0xfff8000000000000ull
#define DSN 0x7ff0000000000001ull
#define DMINSUB 0x0000000000000001ull
#define DMAXSUB 0x000fffffffffffffull
#define DMINN 0x0010000000000000ull
#define DMAXF 0x7fefffffffffffffull
#define DONE 0x3ff0000000000000ull
#define DNONE 0xbff0000000000000ull
#define DTWO 0x4000000000000000ull
#define DTHREE 0x4008000000000000ull

static const struct tcase cases[] = {
	/* ---- add/sub: ties in every mode, both signs */
	/* 1 + 2^-24: half an ulp above 1, which is even */
	C5(ADD, S, ONE, 0x33800000, 0, ONE, NX, ONE, NX, ONE, NX, 0x3f800001, NX, 0x3f800001, NX),
	/* (1+2^-23) + 2^-24: the tie's lower neighbour is odd */
	C5(ADD, S, 0x3f800001, 0x33800000, 0, 0x3f800002, NX, 0x3f800001, NX, 0x3f800001, NX,
	   0x3f800002, NX, 0x3f800002, NX),
	C5(ADD, S, NONE, 0xb3800000, 0, NONE, NX, NONE, NX, 0xbf800001, NX, NONE, NX, 0xbf800001,
	   NX),
	C5(ADD, D, DONE, 0x3ca0000000000000, 0, DONE, NX, DONE, NX, DONE, NX, 0x3ff0000000000001,
	   NX, 0x3ff0000000000001, NX),
	/* exact zeros: x + -x is +0 except in RDN; -0 + -0 is -0 */
	C5(ADD, S, ONE, NONE, 0, PZ, 0, PZ, 0, NZ, 0, PZ, 0, PZ, 0),
	C5(SUB, S, ONE, ONE, 0, PZ, 0, PZ, 0, NZ, 0, PZ, 0, PZ, 0),
	C5(ADD, S, PZ, NZ, 0, PZ, 0, PZ, 0, NZ, 0, PZ, 0, PZ, 0),
	C5(ADD, S, NZ, NZ, 0, NZ, 0, NZ, 0, NZ, 0, NZ, 0, NZ, 0),
	C5(SUB, D, DTHREE, DTHREE, 0, DPZ, 0, DPZ, 0, DNZ, 0, DPZ, 0, DPZ, 0),
	C1(SUB, S, PZ, PZ, 0, PZ, 0),
	C(SUB, S, FPU_RDN, PZ, PZ, 0, NZ, 0),
	C1(SUB, S, NZ, PZ, 0, NZ, 0),
	/* x + 0 is x, subnormal or not */
	C1(ADD, S, MINSUB, NZ, 0, MINSUB, 0),
	C1(ADD, S, NZ, 0x80000001, 0, 0x80000001, 0),
	C1(ADD, D, DPZ, DMAXSUB, 0, DMAXSUB, 0),
	/* subnormals: exact sums raise nothing, even below 2^emin */
	C1(ADD, S, MINSUB, MINSUB, 0, 0x00000002, 0),
	C1(ADD, S, MAXSUB, MINSUB, 0, MINN, 0),
	C1(SUB, S, MINN, MINSUB, 0, MAXSUB, 0),
	C1(SUB, D, DMINN, DMINSUB, 0, DMAXSUB, 0),
	/* infinities and NaNs */
	C1(ADD, S, PINF, NINF, 0, CN, NV),
	C1(SUB, S, PINF, PINF, 0, CN, NV),
	C1(ADD, S, PINF, ONE, 0, PINF, 0),
	C1(ADD, S, NINF, NINF, 0, NINF, 0),
	C1(SUB, S, ONE, PINF, 0, NINF, 0),
	C1(ADD, S, SN, ONE, 0, CN, NV),
	C1(ADD, S, ONE, NQN, 0, CN, 0),
	C1(ADD, S, QN, SN, 0, CN, NV),
	C1(ADD, S, QN, PINF, 0, CN, 0),
	C1(ADD, D, DQN, DONE, 0, DCN, 0),
	C1(SUB, D, DONE, DSN, 0, DCN, NV),
	/* overflow: infinity or the largest finite number by mode and sign */
	C5(ADD, S, MAXF, MAXF, 0, PINF, OF | NX, MAXF, OF | NX, MAXF, OF | NX, PINF, OF | NX, PINF,
	   OF | NX),
	C5(ADD, S, NMAXF, NMAXF, 0, NINF, OF | NX, NMAXF, OF | NX, NINF, OF | NX, NMAXF, OF | NX,
	   NINF, OF | NX),
	/* max + half an ulp (2^103): the tie rounds up past max in RNE and RMM; RTZ and RDN give
	 * max, only inexact: rounded with an unbounded exponent it is max, no overflow */
	C5(ADD, S, MAXF, 0x73000000, 0, PINF, OF | NX, MAXF, NX, MAXF, NX, PINF, OF | NX, PINF,
	   OF | NX),
	/* max + a quarter ulp: only RUP overflows */
	C5(ADD, S, MAXF, 0x72800000, 0, MAXF, NX, MAXF, NX, MAXF, NX, PINF, OF | NX, MAXF, NX),
	C5(ADD, D, DMAXF, 0x7c90000000000000, 0, DPINF, OF | NX, DMAXF, NX, DMAXF, NX, DPINF,
	   OF | NX, DPINF, OF | NX),

	/* ---- mul */
	/* (18631*2^-15) * (1801*2^-136) = (2^25-1)*2^-151 = 2^-126 - 2^-151: with an unbounded
	 * exponent RNE and RMM round it (a tie) up to 2^-126, so it is not tiny: NX alone.
	 * Tininess before rounding would say UF. RTZ and RDN round it below 2^-126: UF. */
	C5(MUL, S, 0x3f118e00, 0x00e12000, 0, MINN, NX, MAXSUB, UF | NX, MAXSUB, UF | NX, MINN, NX,
	   MINN, NX),
	/* (1-2^-24) * 2^-126 = 2^-126 - 2^-150 has 24 bits: tiny whatever the rounding, and the
	 * subnormal rounding is inexact: UF even where the result is 2^-126 */
	C5(MUL, S, 0x3f7fffff, MINN, 0, MINN, UF | NX, MAXSUB, UF | NX, MAXSUB, UF | NX, MINN,
	   UF | NX, MINN, UF | NX),
	/* the same two cases in D: (1-2^-18) * (1+2^-18+2^-36)*2^-1022 = (1-2^-54)*2^-1022, and
	 * (1-2^-53) * 2^-1022 */
	C5(MUL, D, 0x3feffff800000000, 0x0010000400010000, 0, DMINN, NX, DMAXSUB, UF | NX, DMAXSUB,
	   UF | NX, DMINN, NX, DMINN, NX),
	C5(MUL, D, 0x3fefffffffffffff, DMINN, 0, DMINN, UF | NX, DMAXSUB, UF | NX, DMAXSUB, UF | NX,
	   DMINN, UF | NX, DMINN, UF | NX),
	/* half the smallest subnormal: a tie between 0 and it */
	C5(MUL, S, MINSUB, HALF, 0, PZ, UF | NX, PZ, UF | NX, PZ, UF | NX, MINSUB, UF | NX, MINSUB,
	   UF | NX),
	C5(MUL, S, 0x80000001, HALF, 0, NZ, UF | NX, NZ, UF | NX, 0x80000001, UF | NX, NZ, UF | NX,
	   0x80000001, UF | NX),
	/* exact subnormal results: no flags */
	C1(MUL, S, MINN, HALF, 0, 0x00400000, 0),
	C1(MUL, S, THREE, MINSUB, 0, 0x00000003, 0),
	C1(MUL, D, DMINN, 0x3fe0000000000000, 0, 0x0008000000000000, 0),
	/* overflow */
	C5(MUL, S, 0x7f000000, TWO, 0, PINF, OF | NX, MAXF, OF | NX, MAXF, OF | NX, PINF, OF | NX,
	   PINF, OF | NX),
	C5(MUL, S, 0xff000000, TWO, 0, NINF, OF | NX, NMAXF, OF | NX, NINF, OF | NX, NMAXF, OF | NX,
	   NINF, OF | NX),
	C5(MUL, D, DMAXF, DMAXF, 0, DPINF, OF | NX, DMAXF, OF | NX, DMAXF, OF | NX, DPINF, OF | NX,
	   DPINF, OF | NX),
	/* specials */
	C1(MUL, S, PZ, PINF, 0, CN, NV),
	C1(MUL, S, PINF, NZ, 0, CN, NV),
	C1(MUL, S, NZ, FIVE, 0, NZ, 0),
	C1(MUL, S, NINF, NONE, 0, PINF, 0),
	C1(MUL, S, SN, PZ, 0, CN, NV),
	C1(MUL, D, DQN, DPINF, 0, DCN, 0),

	/* ---- div */
	C1(DIV, S, ONE, PZ, 0, PINF, DZ),
	C1(DIV, S, NONE, PZ, 0, NINF, DZ),
	C1(DIV, S, ONE, NZ, 0, NINF, DZ),
	C1(DIV, S, PZ, PZ, 0, CN, NV),
	C1(DIV, S, PINF, NINF, 0, CN, NV),
	C1(DIV, S, PZ, PINF, 0, PZ, 0),
	C1(DIV, S, PINF, PZ, 0, PINF, 0), /* infinity is exact: no DZ */
	C1(DIV, S, ONE, NINF, 0, NZ, 0),
	C1(DIV, S, NZ, ONE, 0, NZ, 0),
	C1(DIV, S, SN, ONE, 0, CN, NV),
	C1(DIV, S, QN, PZ, 0, CN, 0),
	C1(DIV, D, DONE, DNZ, 0, DNINF, DZ),
	C5(DIV, S, ONE, THREE, 0, 0x3eaaaaab, NX, 0x3eaaaaaa, NX, 0x3eaaaaaa, NX, 0x3eaaaaab, NX,
	   0x3eaaaaab, NX),
	C5(DIV, S, NONE, THREE, 0, 0xbeaaaaab, NX, 0xbeaaaaaa, NX, 0xbeaaaaab, NX, 0xbeaaaaaa, NX,
	   0xbeaaaaab, NX),
	C5(DIV, D, DONE, DTHREE, 0, 0x3fd5555555555555, NX, 0x3fd5555555555555, NX,
	   0x3fd5555555555555, NX, 0x3fd5555555555556, NX, 0x3fd5555555555555, NX),
	C5(DIV, S, MAXF, HALF, 0, PINF, OF | NX, MAXF, OF | NX, MAXF, OF | NX, PINF, OF | NX, PINF,
	   OF | NX),
	C5(DIV, S, MINSUB, TWO, 0, PZ, UF | NX, PZ, UF | NX, PZ, UF | NX, MINSUB, UF | NX, MINSUB,
	   UF | NX),
	C1(DIV, S, MINN, TWO, 0, 0x00400000, 0),

	/* ---- sqrt */
	C1(SQRT, S, NZ, 0, 0, NZ, 0),
	C1(SQRT, S, PZ, 0, 0, PZ, 0),
	C1(SQRT, S, NONE, 0, 0, CN, NV),
	C1(SQRT, S, NINF, 0, 0, CN, NV),
	C1(SQRT, S, 0x80000001, 0, 0, CN, NV),
	C1(SQRT, S, PINF, 0, 0, PINF, 0),
	C1(SQRT, S, SN, 0, 0, CN, NV),
	C1(SQRT, S, QN, 0, 0, CN, 0),
	C1(SQRT, S, NQN, 0, 0, CN, 0), /* a NaN, not a negative number: no NV */
	C1(SQRT, D, DNZ, 0, 0, DNZ, 0),
	C1(SQRT, D, DNONE, 0, 0, DCN, NV),
	C5(SQRT, S, TWO, 0, 0, 0x3fb504f3, NX, 0x3fb504f3, NX, 0x3fb504f3, NX, 0x3fb504f4, NX,
	   0x3fb504f3, NX),
	C5(SQRT, D, DTWO, 0, 0, 0x3ff6a09e667f3bcd, NX, 0x3ff6a09e667f3bcc, NX, 0x3ff6a09e667f3bcc,
	   NX, 0x3ff6a09e667f3bcd, NX, 0x3ff6a09e667f3bcd, NX),
	C1(SQRT, S, 0x40800000, 0, 0, TWO, 0),
	C1(SQRT, S, 0x00000002, 0, 0, 0x1a800000, 0),	   /* sqrt(2^-148) = 2^-74 */
	C1(SQRT, S, MINSUB, 0, 0, 0x1a3504f3, NX),	   /* 2^-75 * sqrt(2) */
	C1(SQRT, D, DMINSUB, 0, 0, 0x1e60000000000000, 0), /* sqrt(2^-1074) = 2^-537 */

	/* ---- fma */
	/* inf * 0 is invalid even when the addend is a quiet NaN (F: FMA) */
	C1(FMA, S, PINF, PZ, QN, CN, NV),
	C1(FMA, S, PZ, NINF, QN, CN, NV),
	C1(FMA, D, DPINF, DNZ, DQN, DCN, NV),
	C1(FMA, S, PINF, PZ, ONE, CN, NV),
	C1(FMA, S, QN, PZ, PINF, CN, 0),
	C1(FMA, S, PINF, ONE, NINF, CN, NV),
	C1(FMA, S, ONE, ONE, SN, CN, NV),
	C1(FMA, S, QN, ONE, ONE, CN, 0),
	C1(FMA, S, PINF, ONE, PINF, PINF, 0),
	C1(FMA, S, ONE, ONE, NINF, NINF, 0),
	C1(FMA, S, NINF, NINF, MAXF, PINF, 0),
	/* one rounding: (1+2^-12)^2 - 1 = 2^-11 + 2^-24 exactly (rounding the product first, a
	 * tie to even, would give 2^-11) */
	C5(FMA, S, 0x3f800800, 0x3f800800, NONE, 0x3a000400, 0, 0x3a000400, 0, 0x3a000400, 0,
	   0x3a000400, 0, 0x3a000400, 0),
	/* (1+2^-12)^2 = 1 + 2^-11 + 2^-24, a tie: RNE down, RMM away */
	C5(FMA, S, 0x3f800800, 0x3f800800, PZ, 0x3f801000, NX, 0x3f801000, NX, 0x3f801000, NX,
	   0x3f801001, NX, 0x3f801001, NX),
	/* ... and plus or minus 2^-60 breaks the tie (a sticky bit far below) */
	C5(FMA, S, 0x3f800800, 0x3f800800, 0x21800000, 0x3f801001, NX, 0x3f801000, NX, 0x3f801000,
	   NX, 0x3f801001, NX, 0x3f801001, NX),
	C5(FMA, S, 0x3f800800, 0x3f800800, 0xa1800000, 0x3f801000, NX, 0x3f801000, NX, 0x3f801000,
	   NX, 0x3f801001, NX, 0x3f801000, NX),
	/* (1+2^-27)^2 - 1 = 2^-26 + 2^-54 in D */
	C1(FMA, D, 0x3ff0000002000000, 0x3ff0000002000000, DNONE, 0x3e50000001000000, 0),
	/* no intermediate overflow: max*2 - max = max */
	C1(FMA, S, MAXF, TWO, NMAXF, MAXF, 0),
	/* a tiny addend is still seen */
	C5(FMA, S, ONE, ONE, MINSUB, ONE, NX, ONE, NX, ONE, NX, 0x3f800001, NX, ONE, NX),
	/* exact zeros */
	C5(FMA, S, PZ, FIVE, NZ, PZ, 0, PZ, 0, NZ, 0, PZ, 0, PZ, 0),
	C5(FMA, S, NZ, FIVE, NZ, NZ, 0, NZ, 0, NZ, 0, NZ, 0, NZ, 0),
	C5(FMA, S, ONE, ONE, NONE, PZ, 0, PZ, 0, NZ, 0, PZ, 0, PZ, 0),
	C5(FMA, D, DONE, DNONE, DONE, DPZ, 0, DPZ, 0, DNZ, 0, DPZ, 0, DPZ, 0),
	C1(FMA, S, PZ, FIVE, MINSUB, MINSUB, 0),
	/* the product underflows: the sum is tiny and inexact */
	C5(FMA, S, MINSUB, HALF, PZ, PZ, UF | NX, PZ, UF | NX, PZ, UF | NX, MINSUB, UF | NX, MINSUB,
	   UF | NX),

	/* ---- fmin/fmax (F 2.2: minimumNumber/maximumNumber; -0 < +0) */
	C1(MIN, S, NZ, PZ, 0, NZ, 0),
	C1(MIN, S, PZ, NZ, 0, NZ, 0),
	C1(MAX, S, NZ, PZ, 0, PZ, 0),
	C1(MAX, S, PZ, NZ, 0, PZ, 0),
	C1(MIN, S, QN, ONE, 0, ONE, 0),
	C1(MIN, S, ONE, QN, 0, ONE, 0),
	C1(MIN, S, SN, ONE, 0, ONE, NV),
	C1(MAX, S, ONE, SN, 0, ONE, NV),
	C1(MAX, S, NSN, NINF, 0, NINF, NV),
	C1(MIN, S, QN, NQN, 0, CN, 0),
	C1(MAX, S, SN, QN, 0, CN, NV),
	C1(MIN, S, NQN, NINF, 0, NINF, 0),
	C1(MAX, S, QN, NINF, 0, NINF, 0),
	C1(MIN, S, ONE, TWO, 0, ONE, 0),
	C1(MAX, S, ONE, TWO, 0, TWO, 0),
	C1(MIN, S, NONE, 0xc0000000, 0, 0xc0000000, 0),
	C1(MAX, S, NONE, 0xc0000000, 0, NONE, 0),
	C1(MIN, S, NINF, PINF, 0, NINF, 0),
	C1(MAX, S, MINSUB, PZ, 0, MINSUB, 0),
	C1(MIN, S, 0x80000001, NZ, 0, 0x80000001, 0),
	C1(MIN, S, 0xffffffff3f800000, TWO, 0, ONE, 0), /* upper bits ignored, zero on output */
	C1(MIN, D, DNZ, DPZ, 0, DNZ, 0),
	C1(MAX, D, DPZ, DNZ, 0, DPZ, 0),
	C1(MAX, D, DSN, DONE, 0, DONE, NV),
	C1(MIN, D, DQN, DNQN, 0, DCN, 0),

	/* ---- compares: FEQ quiet, FLT and FLE signalling; +0 == -0 */
	C1(EQ, S, PZ, NZ, 0, 1, 0),
	C1(LT, S, NZ, PZ, 0, 0, 0),
	C1(LE, S, NZ, PZ, 0, 1, 0),
	C1(LE, S, PZ, NZ, 0, 1, 0),
	C1(EQ, S, QN, QN, 0, 0, 0),
	C1(EQ, S, SN, ONE, 0, 0, NV),
	C1(EQ, S, ONE, SN, 0, 0, NV),
	C1(LT, S, QN, ONE, 0, 0, NV),
	C1(LE, S, ONE, QN, 0, 0, NV),
	C1(LT, S, ONE, TWO, 0, 1, 0),
	C1(LT, S, TWO, ONE, 0, 0, 0),
	C1(LT, S, ONE, ONE, 0, 0, 0),
	C1(LE, S, ONE, ONE, 0, 1, 0),
	C1(LE, S, TWO, ONE, 0, 0, 0),
	C1(LT, S, 0xc0000000, NONE, 0, 1, 0),
	C1(LE, S, NINF, NMAXF, 0, 1, 0),
	C1(LT, S, MINSUB, PZ, 0, 0, 0),
	C1(LT, S, 0x80000001, PZ, 0, 1, 0),
	C1(EQ, S, ONE, ONE, 0, 1, 0),
	C1(EQ, S, ONE, 0x3f800001, 0, 0, 0),
	C1(EQ, S, PINF, PINF, 0, 1, 0),
	C1(LT, S, NINF, PINF, 0, 1, 0),
	C1(EQ, S, 0x123456783f800000, ONE, 0, 1, 0),
	C1(EQ, D, DPZ, DNZ, 0, 1, 0),
	C1(LT, D, DNONE, DNZ, 0, 1, 0),
	C1(EQ, D, DQN, DONE, 0, 0, 0),
	C1(LE, D, DSN, DONE, 0, 0, NV),

	/* ---- FCLASS: one bit for each class */
	C1(CLASS, S, NINF, 0, 0, FPU_CLASS_NINF, 0),
	C1(CLASS, S, NONE, 0, 0, FPU_CLASS_NNORM, 0),
	C1(CLASS, S, 0x80000001, 0, 0, FPU_CLASS_NSUB, 0),
	C1(CLASS, S, NZ, 0, 0, FPU_CLASS_NZERO, 0),
	C1(CLASS, S, PZ, 0, 0, FPU_CLASS_PZERO, 0),
	C1(CLASS, S, MINSUB, 0, 0, FPU_CLASS_PSUB, 0),
	C1(CLASS, S, MAXSUB, 0, 0, FPU_CLASS_PSUB, 0),
	C1(CLASS, S, MINN, 0, 0, FPU_CLASS_PNORM, 0),
	C1(CLASS, S, MAXF, 0, 0, FPU_CLASS_PNORM, 0),
	C1(CLASS, S, PINF, 0, 0, FPU_CLASS_PINF, 0),
	C1(CLASS, S, SN, 0, 0, FPU_CLASS_SNAN, 0),
	C1(CLASS, S, NSN, 0, 0, FPU_CLASS_SNAN, 0),
	C1(CLASS, S, QN, 0, 0, FPU_CLASS_QNAN, 0),
	C1(CLASS, S, NQN, 0, 0, FPU_CLASS_QNAN, 0),
	C1(CLASS, S, CN, 0, 0, FPU_CLASS_QNAN, 0),
	C1(CLASS, D, DNINF, 0, 0, FPU_CLASS_NINF, 0),
	C1(CLASS, D, DNONE, 0, 0, FPU_CLASS_NNORM, 0),
	C1(CLASS, D, 0x800fffffffffffff, 0, 0, FPU_CLASS_NSUB, 0),
	C1(CLASS, D, DNZ, 0, 0, FPU_CLASS_NZERO, 0),
	C1(CLASS, D, DPZ, 0, 0, FPU_CLASS_PZERO, 0),
	C1(CLASS, D, DMINSUB, 0, 0, FPU_CLASS_PSUB, 0),
	C1(CLASS, D, DMINN, 0, 0, FPU_CLASS_PNORM, 0),
	C1(CLASS, D, DPINF, 0, 0, FPU_CLASS_PINF, 0),
	C1(CLASS, D, DSN, 0, 0, FPU_CLASS_SNAN, 0),
	C1(CLASS, D, 0xfff7ffffffffffff, 0, 0, FPU_CLASS_SNAN, 0),
	C1(CLASS, D, DCN, 0, 0, FPU_CLASS_QNAN, 0),
	C1(CLASS, D, DNQN, 0, 0, FPU_CLASS_QNAN, 0),

	/* ---- FCVT to integers (F: "Domains of float-to-integer conversions") */
	/* 2^31 - 0.5: RNE's tie goes to 2^31 (even), out of range: NV, not NX */
	C5(TOI, D, 0x41dfffffffe00000, 0, FPU_W, 0x7fffffff, NV, 0x7fffffff, NX, 0x7fffffff, NX,
	   0x7fffffff, NV, 0x7fffffff, NV),
	/* -2^31 - 0.5: RNE's tie goes to -2^31 (even), in range */
	C5(TOI, D, 0xc1e0000000100000, 0, FPU_W, 0xffffffff80000000, NX, 0xffffffff80000000, NX,
	   0xffffffff80000000, NV, 0xffffffff80000000, NX, 0xffffffff80000000, NV),
	C1(TOI, D, 0xc1e0000000200000, 0, FPU_W, 0xffffffff80000000, NV), /* -2^31 - 1 */
	C(TOI, D, FPU_RUP, 0xc1e0000000200000, 0, FPU_W, 0xffffffff80000000, NV),
	C1(TOI, D, 0xc1e0000000000000, 0, FPU_W, 0xffffffff80000000, 0),	     /* -2^31 */
	C1(TOI, D, 0x41dfffffffc00000, 0, FPU_W, 0x7fffffff, 0),		     /* 2^31 - 1 */
	C5(TOI, D, 0x4004000000000000, 0, FPU_W, 2, NX, 2, NX, 2, NX, 3, NX, 3, NX), /* 2.5 */
	C5(TOI, D, 0xc004000000000000, 0, FPU_W, 0xfffffffffffffffe, NX, 0xfffffffffffffffe, NX,
	   0xfffffffffffffffd, NX, 0xfffffffffffffffe, NX, 0xfffffffffffffffd, NX),  /* -2.5 */
	C5(TOI, D, 0x3fe0000000000000, 0, FPU_W, 0, NX, 0, NX, 0, NX, 1, NX, 1, NX), /* 0.5 */
	C5(TOI, D, 0x3ff8000000000000, 0, FPU_W, 2, NX, 1, NX, 1, NX, 2, NX, 2, NX), /* 1.5 */
	/* -0.5 to WU: 0 when it rounds to -0 (inexact), invalid when it rounds to -1 */
	C5(TOI, D, 0xbfe0000000000000, 0, FPU_WU, 0, NX, 0, NX, 0, NV, 0, NX, 0, NV),
	C5(TOI, S, 0xbf000000, 0, FPU_WU, 0, NX, 0, NX, 0, NV, 0, NX, 0, NV),
	C5(TOI, D, 0xbfe0000000000000, 0, FPU_LU, 0, NX, 0, NX, 0, NV, 0, NX, 0, NV),
	C1(TOI, D, DNONE, 0, FPU_WU, 0, NV),
	C1(TOI, D, DNZ, 0, FPU_WU, 0, 0),
	C1(TOI, D, DNZ, 0, FPU_W, 0, 0),
	/* WU: results sign-extended from bit 31 */
	C1(TOI, D, 0x41efffffffe00000, 0, FPU_WU, 0xffffffffffffffff, 0),  /* 2^32 - 1 */
	C1(TOI, D, 0x41e0000000000000, 0, FPU_WU, 0xffffffff80000000, 0),  /* 2^31 */
	C1(TOI, D, 0x41f0000000000000, 0, FPU_WU, 0xffffffffffffffff, NV), /* 2^32 */
	C1(TOI, D, 0x4059000000000000, 0, FPU_WU, 100, 0),
	/* L and LU around 2^63 and 2^64 */
	C1(TOI, D, 0x43e0000000000000, 0, FPU_L, 0x7fffffffffffffff, NV),
	C1(TOI, D, 0x43dfffffffffffff, 0, FPU_L, 0x7ffffffffffffc00, 0),
	C1(TOI, D, 0xc3e0000000000000, 0, FPU_L, 0x8000000000000000, 0),
	C1(TOI, D, 0xc3e0000000000001, 0, FPU_L, 0x8000000000000000, NV),
	C1(TOI, D, 0x43e0000000000000, 0, FPU_LU, 0x8000000000000000, 0),
	C1(TOI, D, 0xc3e0000000000000, 0, FPU_LU, 0, NV),
	C1(TOI, D, 0x43efffffffffffff, 0, FPU_LU, 0xfffffffffffff800, 0),
	C1(TOI, D, 0x43f0000000000000, 0, FPU_LU, 0xffffffffffffffff, NV),
	/* NaN: the largest positive value, whatever the NaN's sign */
	C1(TOI, D, DCN, 0, FPU_W, 0x7fffffff, NV),
	C1(TOI, D, DNQN, 0, FPU_W, 0x7fffffff, NV),
	C1(TOI, D, DSN, 0, FPU_WU, 0xffffffffffffffff, NV),
	C1(TOI, D, DNQN, 0, FPU_L, 0x7fffffffffffffff, NV),
	C1(TOI, D, DQN, 0, FPU_LU, 0xffffffffffffffff, NV),
	C1(TOI, S, NQN, 0, FPU_W, 0x7fffffff, NV),
	C1(TOI, S, NSN, 0, FPU_WU, 0xffffffffffffffff, NV),
	C1(TOI, S, CN, 0, FPU_L, 0x7fffffffffffffff, NV),
	C1(TOI, S, SN, 0, FPU_LU, 0xffffffffffffffff, NV),
	/* infinities */
	C1(TOI, D, DPINF, 0, FPU_W, 0x7fffffff, NV),
	C1(TOI, D, DNINF, 0, FPU_W, 0xffffffff80000000, NV),
	C1(TOI, D, DNINF, 0, FPU_WU, 0, NV),
	C1(TOI, D, DPINF, 0, FPU_WU, 0xffffffffffffffff, NV),
	C1(TOI, D, DNINF, 0, FPU_L, 0x8000000000000000, NV),
	C1(TOI, S, PINF, 0, FPU_LU, 0xffffffffffffffff, NV),
	C1(TOI, S, NINF, 0, FPU_LU, 0, NV),
	/* S around 2^31, 2^63, 2^64 */
	C1(TOI, S, 0x4f000000, 0, FPU_W, 0x7fffffff, NV),
	C1(TOI, S, 0x4effffff, 0, FPU_W, 0x7fffff80, 0),
	C1(TOI, S, 0xcf000000, 0, FPU_W, 0xffffffff80000000, 0),
	C1(TOI, S, 0xcf000001, 0, FPU_W, 0xffffffff80000000, NV),
	C1(TOI, S, 0x5f000000, 0, FPU_L, 0x7fffffffffffffff, NV),
	C1(TOI, S, 0xdf000000, 0, FPU_L, 0x8000000000000000, 0),
	C1(TOI, S, 0x5f000000, 0, FPU_LU, 0x8000000000000000, 0),
	C1(TOI, S, 0x5f800000, 0, FPU_LU, 0xffffffffffffffff, NV),
	/* tiny values */
	C5(TOI, S, MINSUB, 0, FPU_W, 0, NX, 0, NX, 0, NX, 1, NX, 0, NX),
	C5(TOI, S, 0x80000001, 0, FPU_W, 0, NX, 0, NX, 0xffffffffffffffff, NX, 0, NX, 0, NX),
	C(TOI, S, FPU_RMM, 0xffffffff40200000, 0, FPU_W, 3, NX), /* 2.5, upper bits ignored */

	/* ---- FCVT from integers */
	C1(FROMI, S, 0, 0, FPU_W, PZ, 0),
	C1(FROMI, S, 0x12345678ffffffff, 0, FPU_W, NONE, 0), /* W takes the low 32 bits */
	C1(FROMI, S, 0x80000000, 0, FPU_W, 0xcf000000, 0),
	C5(FROMI, S, 0x7fffffff, 0, FPU_W, 0x4f000000, NX, 0x4effffff, NX, 0x4effffff, NX,
	   0x4f000000, NX, 0x4f000000, NX),
	/* 2^24 + 1: a tie */
	C5(FROMI, S, 0x01000001, 0, FPU_W, 0x4b800000, NX, 0x4b800000, NX, 0x4b800000, NX,
	   0x4b800001, NX, 0x4b800001, NX),
	C5(FROMI, S, 0xfeffffff, 0, FPU_W, 0xcb800000, NX, 0xcb800000, NX, 0xcb800001, NX,
	   0xcb800000, NX, 0xcb800001, NX),
	C1(FROMI, S, 0xffffffff, 0, FPU_WU, 0x4f800000, NX),
	C(FROMI, S, FPU_RTZ, 0xffffffff, 0, FPU_WU, 0x4f7fffff, NX),
	C1(FROMI, D, 0xffffffff, 0, FPU_WU, 0x41efffffffe00000, 0),
	C1(FROMI, D, 0xffffffff, 0, FPU_W, DNONE, 0),
	C1(FROMI, D, 0x8000000000000000, 0, FPU_L, 0xc3e0000000000000, 0),
	C1(FROMI, D, 0x7fffffffffffffff, 0, FPU_L, 0x43e0000000000000, NX),
	C(FROMI, D, FPU_RTZ, 0x7fffffffffffffff, 0, FPU_L, 0x43dfffffffffffff, NX),
	C1(FROMI, D, 0xffffffffffffffff, 0, FPU_LU, 0x43f0000000000000, NX),
	C(FROMI, D, FPU_RTZ, 0xffffffffffffffff, 0, FPU_LU, 0x43efffffffffffff, NX),
	C1(FROMI, D, 0xffffffffffffffff, 0, FPU_L, DNONE, 0),
	C1(FROMI, S, 0xffffffffffffffff, 0, FPU_LU, 0x5f800000, NX),
	C(FROMI, S, FPU_RTZ, 0xffffffffffffffff, 0, FPU_LU, 0x5f7fffff, NX),
	C5(FROMI, D, 0x0020000000000001, 0, FPU_L, 0x4340000000000000, NX, 0x4340000000000000, NX,
	   0x4340000000000000, NX, 0x4340000000000001, NX, 0x4340000000000001, NX), /* 2^53+1 */

	/* ---- FCVT.S.D and FCVT.D.S */
	C5(CVT, S, 0x3fd5555555555555, 0, 0, 0x3eaaaaab, NX, 0x3eaaaaaa, NX, 0x3eaaaaaa, NX,
	   0x3eaaaaab, NX, 0x3eaaaaab, NX),
	C5(CVT, S, 0x47f0000000000000, 0, 0, PINF, OF | NX, MAXF, OF | NX, MAXF, OF | NX, PINF,
	   OF | NX, PINF, OF | NX), /* 2^128 */
	C5(CVT, S, 0xc7f0000000000000, 0, 0, NINF, OF | NX, NMAXF, OF | NX, NINF, OF | NX, NMAXF,
	   OF | NX, NINF, OF | NX),
	/* S's max + half an ulp */
	C5(CVT, S, 0x47effffff0000000, 0, 0, PINF, OF | NX, MAXF, NX, MAXF, NX, PINF, OF | NX, PINF,
	   OF | NX),
	/* 2^-126 - 2^-151 and 2^-126 - 2^-150, as for mul */
	C5(CVT, S, 0x380ffffff0000000, 0, 0, MINN, NX, MAXSUB, UF | NX, MAXSUB, UF | NX, MINN, NX,
	   MINN, NX),
	C5(CVT, S, 0x380fffffe0000000, 0, 0, MINN, UF | NX, MAXSUB, UF | NX, MAXSUB, UF | NX, MINN,
	   UF | NX, MINN, UF | NX),
	C5(CVT, S, DMINSUB, 0, 0, PZ, UF | NX, PZ, UF | NX, PZ, UF | NX, MINSUB, UF | NX, PZ,
	   UF | NX),
	C5(CVT, S, 0x8000000000000001, 0, 0, NZ, UF | NX, NZ, UF | NX, 0x80000001, UF | NX, NZ,
	   UF | NX, NZ, UF | NX),
	C1(CVT, S, DSN, 0, 0, CN, NV),
	C1(CVT, S, DQN, 0, 0, CN, 0), /* payloads are not kept */
	C1(CVT, S, DNINF, 0, 0, NINF, 0),
	C1(CVT, S, DNZ, 0, 0, NZ, 0),
	C1(CVT, S, DONE, 0, 0, ONE, 0),
	C1(CVT, D, SN, 0, 0, DCN, NV),
	C1(CVT, D, QN, 0, 0, DCN, 0),
	C1(CVT, D, MINSUB, 0, 0, 0x36a0000000000000, 0),
	C1(CVT, D, 0x3eaaaaab, 0, 0, 0x3fd5555560000000, 0),
	C1(CVT, D, NINF, 0, 0, DNINF, 0),
	C1(CVT, D, NZ, 0, 0, DNZ, 0),
	C1(CVT, D, MAXF, 0, 0, 0x47efffffe0000000, 0),
	C(CVT, D, FPU_RUP, 0xffffffff3f800000, 0, 0, DONE, 0),
};

static uint64_t run_case(const struct tcase *t, unsigned *fl)
{
	switch (t->op) {
	case ADD:
		return fpu_add(t->fmt, t->a, t->b, t->rm, fl);
	case SUB:
		return fpu_sub(t->fmt, t->a, t->b, t->rm, fl);
	case MUL:
		return fpu_mul(t->fmt, t->a, t->b, t->rm, fl);
	case DIV:
		return fpu_div(t->fmt, t->a, t->b, t->rm, fl);
	case SQRT:
		return fpu_sqrt(t->fmt, t->a, t->rm, fl);
	case FMA:
		return fpu_fma(t->fmt, t->a, t->b, t->c, t->rm, fl);
	case MIN:
		return fpu_min(t->fmt, t->a, t->b, fl);
	case MAX:
		return fpu_max(t->fmt, t->a, t->b, fl);
	case EQ:
		return (uint64_t)fpu_eq(t->fmt, t->a, t->b, fl);
	case LT:
		return (uint64_t)fpu_lt(t->fmt, t->a, t->b, fl);
	case LE:
		return (uint64_t)fpu_le(t->fmt, t->a, t->b, fl);
	case CLASS:
		return fpu_class(t->fmt, t->a);
	case TOI:
		return fpu_to_int(t->fmt, t->a, (enum fpu_int)t->c, t->rm, fl);
	case FROMI:
		return fpu_from_int(t->fmt, t->a, (enum fpu_int)t->c, t->rm, fl);
	case CVT:
		return fpu_cvt(t->fmt, t->fmt == FPU_S ? FPU_D : FPU_S, t->a, t->rm, fl);
	}
	return 0;
}

static void test_table(void **state)
{
	static const char *const rms[] = { "rne", "rtz", "rdn", "rup", "rmm" };
	unsigned bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *t = &cases[i];
		unsigned fl = 0;
		uint64_t r = run_case(t, &fl);

		if (r != t->want || fl != t->flags) {
			print_error("test_fpu.c:%d: %s.%s %s a=%#llx b=%#llx c=%#llx: got %#llx "
				    "flags %#x, want %#llx flags %#x\n",
				    t->line, top_names[t->op], t->fmt == FPU_D ? "d" : "s",
				    rms[t->rm], (unsigned long long)t->a, (unsigned long long)t->b,
				    (unsigned long long)t->c, (unsigned long long)r, fl,
				    (unsigned long long)t->want, t->flags);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* Flags accrue: an operation ORs its flags into *flags and clears none. */
static void test_flags_accrue(void **state)
{
	unsigned fl = FPU_DZ;

	(void)state;
	assert_int_equal(fpu_add(FPU_S, ONE, 0x33800000, FPU_RNE, &fl), ONE);
	assert_int_equal(fl, FPU_DZ | FPU_NX);
	assert_int_equal(fpu_mul(FPU_D, DONE, DTWO, FPU_RNE, &fl), DTWO);
	assert_int_equal(fl, FPU_DZ | FPU_NX);
	assert_int_equal(fpu_lt(FPU_D, DQN, DONE, &fl), 0);
	assert_int_equal(fl, FPU_DZ | FPU_NX | FPU_NV);
	assert_int_equal(fpu_class(FPU_S, SN), FPU_CLASS_SNAN); /* FCLASS raises nothing */
	assert_int_equal(fl, FPU_DZ | FPU_NX | FPU_NV);
}

/* ---- against the host's FPU ---------------------------------------------------------------- */

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* An operand of format f (fb fraction bits, eb exponent bits) with exponent field near ex
 * (or, if ex < 0, from a class of its own): subnormals, the thresholds, near 1, short
 * significands that make ties. */
static uint64_t operand(enum fpu_fmt f, long ex)
{
	unsigned fb = f == FPU_D ? 52 : 23, eb = f == FPU_D ? 11 : 8, w = fb + eb + 1;
	uint64_t emax = (1ull << eb) - 1, bias = emax >> 1, fm = (1ull << fb) - 1;
	uint64_t s = rnd() & 1, frac = rnd() & fm;

	switch (rnd() % 4) { /* the significand */
	case 0:
		frac &= ~(fm >> (1 + rnd() % fb)); /* short */
		break;
	case 1:
		frac |= (1ull << (rnd() % fb)) - 1; /* ones at the bottom */
		break;
	default:
		break;
	}
	if (ex < 0) {
		switch (rnd() % 10) {
		case 0:
			return rnd() & (w == 64 ? ~0ull : (1ull << w) - 1);
		case 1:
		case 2:
			ex = 0; /* subnormal */
			break;
		case 3:
			ex = (long)(1 + rnd() % 3);
			break;
		case 4:
			ex = (long)(emax - 1 - rnd() % 4);
			break;
		case 5: { /* zero, infinity, NaNs */
			static const uint64_t k[] = { 0, 1, 2, 3 };
			uint64_t which = k[rnd() % 4];

			if (which == 0)
				return s << (w - 1);
			if (which == 1)
				return s << (w - 1) | emax << fb;
			if (which == 2)
				return s << (w - 1) | emax << fb | 1ull << (fb - 1) | (rnd() & fm);
			return s << (w - 1) | emax << fb | ((rnd() & (fm >> 1)) | 1);
		}
		case 6:
			ex = (long)(1 + rnd() % (emax - 1));
			break;
		default:
			ex = (long)bias - 2 + (long)(rnd() % 5);
			break;
		}
	}
	if (ex <= 0) {
		ex = 0;
		frac |= frac == 0;
	}
	if ((uint64_t)ex >= emax)
		ex = (long)emax - 1;
	return s << (w - 1) | (uint64_t)ex << fb | frac;
}

static long expo(enum fpu_fmt f, uint64_t x)
{
	return f == FPU_D ? (long)(x >> 52 & 0x7ff) : (long)(x >> 23 & 0xff);
}

static unsigned host_flags(void)
{
	int e = fetestexcept(FE_ALL_EXCEPT);

	return (e & FE_INEXACT ? FPU_NX : 0) | (e & FE_UNDERFLOW ? FPU_UF : 0) |
	       (e & FE_OVERFLOW ? FPU_OF : 0) | (e & FE_DIVBYZERO ? FPU_DZ : 0) |
	       (e & FE_INVALID ? FPU_NV : 0);
}

/* One operation on the host in mode rm: volatile operands and result keep the operation
 * between fesetround and fetestexcept. */
static uint64_t host_op(enum fpu_fmt f, int op, uint64_t a, uint64_t b, uint64_t c, int mode,
			unsigned *fl)
{
	uint64_t r = 0;

	feclearexcept(FE_ALL_EXCEPT);
	fesetround(mode);
	if (f == FPU_D) {
		volatile double x, y, z, v = 0;
		double t;

		memcpy(&t, &a, 8);
		x = t;
		memcpy(&t, &b, 8);
		y = t;
		memcpy(&t, &c, 8);
		z = t;
		switch (op) {
		case ADD:
			v = x + y;
			break;
		case SUB:
			v = x - y;
			break;
		case MUL:
			v = x * y;
			break;
		case DIV:
			v = x / y;
			break;
		case SQRT:
			v = sqrt(x);
			break;
		case FMA:
			v = fma(x, y, z);
			break;
		}
		t = v;
		memcpy(&r, &t, 8);
	} else {
		volatile float x, y, z, v = 0;
		float t;
		uint32_t u;

		u = (uint32_t)a;
		memcpy(&t, &u, 4);
		x = t;
		u = (uint32_t)b;
		memcpy(&t, &u, 4);
		y = t;
		u = (uint32_t)c;
		memcpy(&t, &u, 4);
		z = t;
		switch (op) {
		case ADD:
			v = x + y;
			break;
		case SUB:
			v = x - y;
			break;
		case MUL:
			v = x * y;
			break;
		case DIV:
			v = x / y;
			break;
		case SQRT:
			v = sqrtf(x);
			break;
		case FMA:
			v = fmaf(x, y, z);
			break;
		}
		t = v;
		memcpy(&u, &t, 4);
		r = u;
	}
	*fl = host_flags();
	fesetround(FE_TONEAREST);
	return r;
}

static bool is_nan_bits(enum fpu_fmt f, uint64_t x)
{
	return f == FPU_D ? (x & ~(1ull << 63)) > DPINF : (x & 0x7fffffffu) > PINF;
}

/* fma(inf, 0, qNaN): IEEE 754 lets the host raise NV or not (x86 does not); the F extension
 * requires NV, which the table checks. */
static bool inf_zero_qnan(enum fpu_fmt f, int op, uint64_t a, uint64_t b, uint64_t c)
{
	unsigned ca = fpu_class(f, a), cb = fpu_class(f, b);
	unsigned inf = FPU_CLASS_PINF | FPU_CLASS_NINF, zero = FPU_CLASS_PZERO | FPU_CLASS_NZERO;

	return op == FMA && fpu_class(f, c) == FPU_CLASS_QNAN &&
	       (((ca & inf) && (cb & zero)) || ((ca & zero) && (cb & inf)));
}

#define ITERS 100000 /* 2.4 million comparisons */

static void test_against_host(void **state)
{
	static const int modes[4] = { FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD };
	static const int ops[] = { ADD, SUB, MUL, DIV, SQRT, FMA };
	/* glibc's fma() is the FMA instruction where there is one; only then are its flags
	 * trusted as a reference (its software fallback is checked for results only) */
	bool fma_flags = __builtin_cpu_supports("fma");
	unsigned long compared = 0, bad = 0, kinds[5] = { 0 };

	(void)state;
	for (int i = 0; i < ITERS; i++) {
		enum fpu_fmt f = i & 1 ? FPU_D : FPU_S;
		long bias = f == FPU_D ? 1023 : 127, pbits = f == FPU_D ? 53 : 24;
		uint64_t a = operand(f, -1), b, c;

		switch (rnd() % 4) { /* b related to a */
		case 0:		     /* alignment and ties in sums */
			b = operand(f, expo(f, a) - (long)(rnd() % (uint64_t)(pbits + 3)));
			break;
		case 1: /* a product or quotient near the thresholds */
			b = operand(f, (rnd() & 1 ? 3 : 2 * bias - 2) - expo(f, a) + bias -
					   (long)(rnd() % 4));
			break;
		default:
			b = operand(f, -1);
			break;
		}
		c = rnd() & 1 ? operand(f, -1)
			      : fpu_mul(f, a, b, FPU_RTZ, &(unsigned){ 0 }) ^
				    (f == FPU_D ? 1ull << 63 : 1ull << 31);
		for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
			for (int m = 0; m < 4; m++) {
				unsigned hf, ff = 0;
				uint64_t h = host_op(f, ops[o], a, b, c, modes[m], &hf);
				struct tcase t = { ops[o], f, (enum fpu_rm)m, a, b, c, 0, 0, 0 };
				uint64_t r = run_case(&t, &ff);
				bool same;

				if (is_nan_bits(f, h))
					same = r == (f == FPU_D ? DCN : CN);
				else
					same = r == h;
				if (!(ops[o] == FMA && !fma_flags) &&
				    !inf_zero_qnan(f, ops[o], a, b, c))
					same = same && ff == hf;
				compared++;
				for (int k = 0; k < 5; k++)
					kinds[k] += ff >> k & 1;
				if (!same && bad++ < 20)
					print_error(
					    "%s.%s mode %d a=%#llx b=%#llx c=%#llx: host %#llx "
					    "flags %#x, fpu.c %#llx flags %#x\n",
					    top_names[ops[o]], f == FPU_D ? "d" : "s", m,
					    (unsigned long long)a, (unsigned long long)b,
					    (unsigned long long)c, (unsigned long long)h, hf,
					    (unsigned long long)r, ff);
			}
		}
	}
	assert_int_equal(bad, 0);
	/* the operands reached every flag, many times */
	for (int k = 0; k < 5; k++)
		assert_true(kinds[k] > 500);
	assert_true(compared == (unsigned long)ITERS * 6 * 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_flags_accrue),
		cmocka_unit_test(test_against_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
