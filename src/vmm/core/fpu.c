/* fpu.c - IEEE 754 binary32/binary64 arithmetic as the RISC-V F and D extensions define it.
 *
 * Everything is done on integers, so the results and flags are the same on every host and do
 * not depend on the host's FPU state (rounding mode, DAZ/FTZ, x87 or SSE, what the compiler
 * does with floating-point code). docs/fpu.md explains the method and the tests.
 *
 * An operand is unpacked into its class and, when it is a finite non-zero number, a sign, an
 * exponent e and a 64-bit significand m normalised so that bit 63 is set (subnormals too):
 * the value is (-1)^s * m * 2^(e-63). Each operation computes its exact result in that form,
 * or a truncation of it with the bits shifted out ORed into bit 0 (a "sticky" bit; the bits
 * below the rounding position are at least 11, so the sticky bit only ever says "inexact,
 * and beyond the half-way point if the bits above say so"). round_pack() then rounds that to
 * the format in the rounding mode, detects tininess after rounding (F, "Subnormal
 * Arithmetic"), and raises NX, UF and OF. Products and FMA sums use 128-bit integers, so an
 * FMA is rounded once. Special operands (NaN, infinity, zero) are handled before, and every
 * NaN result is the canonical NaN (F, "NaN Generation and Propagation").
 */
#include "vmm/core/fpu.h"

#include <stdbool.h>

typedef unsigned __int128 u128;

/* A format: precision p (with the hidden bit), exponent range, width in bits. */
struct fmt {
	int p;
	int emin;
	int emax;
	int bias;
	unsigned w;
};

static const struct fmt fmts[2] = {
	[FPU_S] = { 24, -126, 127, 127, 32 },
	[FPU_D] = { 53, -1022, 1023, 1023, 64 },
};

enum cls { C_ZERO, C_NUM, C_INF, C_QNAN, C_SNAN };

struct unp {
	enum cls cls;
	unsigned s;
	int e;
	uint64_t m;
};

#define ALWAYS_INLINE static inline __attribute__((always_inline))

ALWAYS_INLINE uint64_t fmt_mask(const struct fmt *F)
{
	return F->w == 64 ? ~0ull : (1ull << F->w) - 1;
}

ALWAYS_INLINE uint64_t sign_bit(const struct fmt *F, unsigned s)
{
	return (uint64_t)s << (F->w - 1);
}

/* The exponent field all ones, fraction zero: infinity's magnitude. */
ALWAYS_INLINE uint64_t inf_bits(const struct fmt *F)
{
	return fmt_mask(F) >> 1 & ~((1ull << (F->p - 1)) - 1);
}

ALWAYS_INLINE uint64_t cnan(const struct fmt *F)
{
	return F->w == 64 ? FPU_CNAN_D : FPU_CNAN_S;
}

ALWAYS_INLINE uint64_t make_inf(const struct fmt *F, unsigned s)
{
	return sign_bit(F, s) | inf_bits(F);
}

ALWAYS_INLINE uint64_t make_zero(const struct fmt *F, unsigned s)
{
	return sign_bit(F, s);
}

/* The canonical NaN, with NV if an operand was a signalling NaN (or the operation invalid). */
ALWAYS_INLINE uint64_t nan_result(const struct fmt *F, bool nv, unsigned *flags)
{
	if (nv)
		*flags |= FPU_NV;
	return cnan(F);
}

ALWAYS_INLINE struct unp unpack(const struct fmt *F, uint64_t x)
{
	const unsigned fb = (unsigned)F->p - 1; /* fraction bits */
	const unsigned emax_field = (1u << (F->w - 1 - fb)) - 1;
	uint64_t frac, ex;
	struct unp u = { C_NUM, 0, 0, 0 };

	x &= fmt_mask(F);
	frac = x & ((1ull << fb) - 1);
	ex = x >> fb & emax_field;
	u.s = (unsigned)(x >> (F->w - 1)) & 1;
	if (ex == emax_field) {
		if (frac == 0)
			u.cls = C_INF;
		else
			u.cls = frac >> (fb - 1) & 1 ? C_QNAN : C_SNAN;
	} else if (ex == 0) {
		if (frac == 0) {
			u.cls = C_ZERO;
		} else {
			int z = __builtin_clzll(frac);

			/* frac * 2^(emin-fb) = (frac << z) * 2^(e-63) */
			u.m = frac << z;
			u.e = F->emin - (int)fb - z + 63;
		}
	} else {
		u.m = (frac | 1ull << fb) << (63 - fb);
		u.e = (int)ex - F->bias;
	}
	return u;
}

ALWAYS_INLINE bool is_nan(const struct unp *u)
{
	return u->cls >= C_QNAN;
}

/* m >> n with the bits shifted out ORed into bit 0. */
ALWAYS_INLINE uint64_t shift_jam(uint64_t m, unsigned n)
{
	if (n == 0)
		return m;
	if (n < 64)
		return m >> n | (m << (64 - n) != 0);
	return m != 0;
}

ALWAYS_INLINE u128 shift_jam128(u128 m, unsigned n)
{
	if (n == 0)
		return m;
	if (n < 128)
		return m >> n | (m << (128 - n) != 0);
	return m != 0;
}

ALWAYS_INLINE int clz128(u128 v)
{
	uint64_t hi = (uint64_t)(v >> 64);

	return hi ? __builtin_clzll(hi) : 64 + __builtin_clzll((uint64_t)v);
}

/* Whether rounding adds one unit to q, given its lowest bit, the bits below it (lost) and the
 * value of half a unit in the same scale. */
ALWAYS_INLINE bool round_up(enum fpu_rm rm, unsigned s, uint64_t lsb, uint64_t lost, uint64_t half)
{
	switch (rm) {
	case FPU_RTZ:
		return false;
	case FPU_RDN:
		return s && lost;
	case FPU_RUP:
		return !s && lost;
	case FPU_RMM:
		return lost >= half;
	case FPU_RNE:
	default:
		return lost > half || (lost == half && lsb);
	}
}

/* Overflow: infinity or the largest finite number, by the rounding mode and the sign (IEEE
 * 754-2008 7.4). */
ALWAYS_INLINE uint64_t overflow(const struct fmt *F, unsigned s, enum fpu_rm rm, unsigned *flags)
{
	bool inf = rm == FPU_RNE || rm == FPU_RMM || (rm == FPU_RDN && s) || (rm == FPU_RUP && !s);

	*flags |= FPU_OF | FPU_NX;
	return sign_bit(F, s) | (inf ? inf_bits(F) : inf_bits(F) - 1);
}

/* Round (-1)^s * m * 2^(e-63), m with bit 63 set, to the format. */
ALWAYS_INLINE uint64_t round_pack(const struct fmt *F, unsigned s, int e, uint64_t m,
				  enum fpu_rm rm, unsigned *flags)
{
	const unsigned sh = 64 - (unsigned)F->p; /* bits below the result's lowest bit */
	const uint64_t mask = (1ull << sh) - 1, half = 1ull << (sh - 1);
	bool tiny = false;
	uint64_t q, lost;

	if (e > F->emax)
		return overflow(F, s, rm, flags);
	if (e < F->emin) {
		/* Tiny after rounding: the result rounded to p bits with an unbounded exponent is
		 * below 2^emin. Only at e == emin-1 can rounding carry it up to 2^emin. */
		if (e < F->emin - 1)
			tiny = true;
		else
			tiny =
			    !(m >> sh == (1ull << F->p) - 1 && round_up(rm, s, 1, m & mask, half));
		m = shift_jam(m, (unsigned)(F->emin - e));
		e = F->emin;
	}
	lost = m & mask;
	q = (m >> sh) + round_up(rm, s, m >> sh & 1, lost, half);
	if (lost) {
		*flags |= FPU_NX;
		if (tiny)
			*flags |= FPU_UF;
	}
	if (e == F->emax && q >> F->p)
		return overflow(F, s, rm, flags);
	/* The hidden bit in q adds one to the exponent field; a carry out of q adds one more. At
	 * e == emin with the hidden bit clear, the field is 0: a subnormal (or zero). */
	return sign_bit(F, s) + ((uint64_t)(e + F->bias - 1) << (F->p - 1)) + q;
}

/* ---- arithmetic ----------------------------------------------------------------------------- */

ALWAYS_INLINE uint64_t do_add(const struct fmt *F, uint64_t a, uint64_t b, unsigned negb,
			      enum fpu_rm rm, unsigned *flags)
{
	struct unp x = unpack(F, a), y = unpack(F, b), t;
	uint64_t r, my;
	int z;

	if (is_nan(&x) || is_nan(&y))
		return nan_result(F, x.cls == C_SNAN || y.cls == C_SNAN, flags);
	y.s ^= negb;
	if (x.cls == C_INF || y.cls == C_INF) {
		if (x.cls == C_INF && y.cls == C_INF && x.s != y.s)
			return nan_result(F, true, flags);
		return make_inf(F, x.cls == C_INF ? x.s : y.s);
	}
	if (y.cls == C_ZERO) {
		if (x.cls == C_ZERO) /* x + -x is +0 but in RDN (IEEE 754-2008 6.3) */
			return make_zero(F, x.s == y.s ? x.s : rm == FPU_RDN);
		return a & fmt_mask(F);
	}
	if (x.cls == C_ZERO)
		return (b & fmt_mask(F)) ^ sign_bit(F, negb);
	if (x.e < y.e || (x.e == y.e && x.m < y.m)) {
		t = x;
		x = y;
		y = t;
	}
	/* |x| >= |y|; one bit of headroom, y aligned to x */
	my = shift_jam(y.m >> 1, (unsigned)(x.e - y.e));
	if (x.s == y.s) {
		r = (x.m >> 1) + my;
	} else {
		r = (x.m >> 1) - my;
		if (r == 0)
			return make_zero(F, rm == FPU_RDN);
	}
	z = __builtin_clzll(r);
	return round_pack(F, x.s, x.e + 1 - z, r << z, rm, flags);
}

ALWAYS_INLINE uint64_t do_mul(const struct fmt *F, uint64_t a, uint64_t b, enum fpu_rm rm,
			      unsigned *flags)
{
	struct unp x = unpack(F, a), y = unpack(F, b);
	unsigned s = x.s ^ y.s;
	u128 p;
	int e;

	if (is_nan(&x) || is_nan(&y))
		return nan_result(F, x.cls == C_SNAN || y.cls == C_SNAN, flags);
	if (x.cls == C_INF || y.cls == C_INF) {
		if (x.cls == C_ZERO || y.cls == C_ZERO)
			return nan_result(F, true, flags);
		return make_inf(F, s);
	}
	if (x.cls == C_ZERO || y.cls == C_ZERO)
		return make_zero(F, s);
	p = (u128)x.m * y.m; /* in [2^126, 2^128) */
	e = x.e + y.e;
	if (p >> 127)
		e++;
	else
		p <<= 1;
	return round_pack(F, s, e, (uint64_t)(p >> 64) | ((uint64_t)p != 0), rm, flags);
}

ALWAYS_INLINE uint64_t do_div(const struct fmt *F, uint64_t a, uint64_t b, enum fpu_rm rm,
			      unsigned *flags)
{
	struct unp x = unpack(F, a), y = unpack(F, b);
	unsigned s = x.s ^ y.s;
	u128 n;
	uint64_t q, r;
	int e;

	if (is_nan(&x) || is_nan(&y))
		return nan_result(F, x.cls == C_SNAN || y.cls == C_SNAN, flags);
	if (x.cls == C_INF)
		return y.cls == C_INF ? nan_result(F, true, flags) : make_inf(F, s);
	if (y.cls == C_INF)
		return make_zero(F, s);
	if (y.cls == C_ZERO) {
		if (x.cls == C_ZERO)
			return nan_result(F, true, flags);
		*flags |= FPU_DZ;
		return make_inf(F, s);
	}
	if (x.cls == C_ZERO)
		return make_zero(F, s);
	/* a 64-bit quotient with bit 63 set, the remainder as the sticky bit */
	if (x.m >= y.m) {
		n = (u128)x.m << 63;
		e = x.e - y.e;
	} else {
		n = (u128)x.m << 64;
		e = x.e - y.e - 1;
	}
	q = (uint64_t)(n / y.m);
	r = (uint64_t)(n % y.m);
	return round_pack(F, s, e, q | (r != 0), rm, flags);
}

/* The square root of v in [2^126, 2^128) to k <= 62 bits, digit by digit (two bits of v per bit
 * of the root), left-aligned with the sticky bit in bit 0: set when the remainder or the bits
 * of v not consumed are non-zero. The remainder is at most twice the root, so 64 bits hold it. */
ALWAYS_INLINE uint64_t sqrt_bits(u128 v, unsigned k)
{
	uint64_t rem = 0, root = 0;

	for (unsigned i = 0; i < k; i++) {
		uint64_t t, take;

		rem = rem << 2 | (uint64_t)(v >> 126);
		v <<= 2;
		t = root << 2 | 1;
		take = 0 - (uint64_t)(rem >= t); /* without a branch: the digits are random */
		rem -= t & take;
		root = root << 1 | (take & 1);
	}
	return root << (64 - k) | (rem != 0 || v != 0);
}

ALWAYS_INLINE uint64_t do_sqrt(const struct fmt *F, uint64_t a, enum fpu_rm rm, unsigned *flags)
{
	struct unp x = unpack(F, a);
	u128 v;
	int e;

	if (is_nan(&x))
		return nan_result(F, x.cls == C_SNAN, flags);
	if (x.cls == C_ZERO) /* sqrt(-0) = -0 */
		return a & fmt_mask(F);
	if (x.s)
		return nan_result(F, true, flags);
	if (x.cls == C_INF)
		return a & fmt_mask(F);
	/* m * 2^(e-63) with e made even: v * 2^(2*er - 126), v in [2^126, 2^128) */
	if ((unsigned)x.e & 1) {
		v = (u128)x.m << 64;
		e = (x.e - 1) / 2;
	} else {
		v = (u128)x.m << 63;
		e = x.e / 2;
	}
	/* p bits, the half-way bit and one more above the sticky bit */
	return round_pack(F, 0, e, sqrt_bits(v, (unsigned)F->p + 2), rm, flags);
}

ALWAYS_INLINE uint64_t do_fma(const struct fmt *F, uint64_t a, uint64_t b, uint64_t c,
			      enum fpu_rm rm, unsigned *flags)
{
	struct unp x = unpack(F, a), y = unpack(F, b), z = unpack(F, c);
	unsigned ps = x.s ^ y.s, s;
	bool inf_zero = (x.cls == C_INF && y.cls == C_ZERO) || (x.cls == C_ZERO && y.cls == C_INF);
	u128 p, pc, cc, r;
	int ep, e, n;

	/* inf * 0 is invalid even when the addend is a quiet NaN (F, "Single-Precision
	 * Floating-Point Computational Instructions") */
	if (is_nan(&x) || is_nan(&y) || is_nan(&z) || inf_zero)
		return nan_result(
		    F, x.cls == C_SNAN || y.cls == C_SNAN || z.cls == C_SNAN || inf_zero, flags);
	if (x.cls == C_INF || y.cls == C_INF) {
		if (z.cls == C_INF && z.s != ps)
			return nan_result(F, true, flags);
		return make_inf(F, ps);
	}
	if (z.cls == C_INF)
		return make_inf(F, z.s);
	if (x.cls == C_ZERO || y.cls == C_ZERO) {
		if (z.cls == C_ZERO)
			return make_zero(F, ps == z.s ? ps : rm == FPU_RDN);
		return c & fmt_mask(F);
	}
	p = (u128)x.m * y.m;
	ep = x.e + y.e;
	if (p >> 127)
		ep++;
	else
		p <<= 1;
	/* the product: p * 2^(ep-127), p with bit 127 set */
	if (z.cls == C_ZERO)
		return round_pack(F, ps, ep, (uint64_t)(p >> 64) | ((uint64_t)p != 0), rm, flags);
	/* Both with bit 125 set, two bits of headroom. The shift of p is exact: its low 2(64-p)-1
	 * bits are zero. */
	pc = p >> 2;
	cc = (u128)z.m << 62;
	if (ep > z.e || (ep == z.e && pc >= cc)) {
		cc = shift_jam128(cc, (unsigned)(ep - z.e));
		e = ep;
		s = ps;
	} else {
		pc = shift_jam128(pc, (unsigned)(z.e - ep));
		r = pc;
		pc = cc;
		cc = r;
		e = z.e;
		s = z.s;
	}
	if (ps == z.s) {
		r = pc + cc;
	} else {
		r = pc - cc;
		if (r == 0)
			return make_zero(F, rm == FPU_RDN);
	}
	/* r * 2^(e-125) = (r << n) * 2^(e+2-n-127) */
	n = clz128(r);
	r <<= n;
	return round_pack(F, s, e + 2 - n, (uint64_t)(r >> 64) | ((uint64_t)r != 0), rm, flags);
}

/* ---- comparisons ----------------------------------------------------------------------------- */

/* a < b for non-NaN operands, -0 < +0 when total. */
ALWAYS_INLINE bool less(const struct fmt *F, uint64_t a, uint64_t b, bool total)
{
	unsigned sa, sb;

	a &= fmt_mask(F);
	b &= fmt_mask(F);
	sa = (unsigned)(a >> (F->w - 1));
	sb = (unsigned)(b >> (F->w - 1));
	if (!total && ((a | b) << 1 & fmt_mask(F)) == 0)
		return false; /* +0 and -0 are equal */
	if (sa != sb)
		return sa;
	return sa ? a > b : a < b;
}

ALWAYS_INLINE bool equal(const struct fmt *F, uint64_t a, uint64_t b)
{
	a &= fmt_mask(F);
	b &= fmt_mask(F);
	return a == b || ((a | b) << 1 & fmt_mask(F)) == 0;
}

ALWAYS_INLINE uint64_t do_minmax(const struct fmt *F, uint64_t a, uint64_t b, bool max,
				 unsigned *flags)
{
	struct unp x = unpack(F, a), y = unpack(F, b);

	if (x.cls == C_SNAN || y.cls == C_SNAN)
		*flags |= FPU_NV;
	if (is_nan(&x))
		return is_nan(&y) ? cnan(F) : b & fmt_mask(F);
	if (is_nan(&y))
		return a & fmt_mask(F);
	return (less(F, a, b, true) != max ? a : b) & fmt_mask(F);
}

/* ---- the interface ----------------------------------------------------------------------------- */

#define FMT(f) (&fmts[(f) == FPU_D])

uint64_t fpu_add(enum fpu_fmt f, uint64_t a, uint64_t b, enum fpu_rm rm, unsigned *flags)
{
	return f == FPU_D ? do_add(&fmts[FPU_D], a, b, 0, rm, flags)
			  : do_add(&fmts[FPU_S], a, b, 0, rm, flags);
}

uint64_t fpu_sub(enum fpu_fmt f, uint64_t a, uint64_t b, enum fpu_rm rm, unsigned *flags)
{
	return f == FPU_D ? do_add(&fmts[FPU_D], a, b, 1, rm, flags)
			  : do_add(&fmts[FPU_S], a, b, 1, rm, flags);
}

uint64_t fpu_mul(enum fpu_fmt f, uint64_t a, uint64_t b, enum fpu_rm rm, unsigned *flags)
{
	return f == FPU_D ? do_mul(&fmts[FPU_D], a, b, rm, flags)
			  : do_mul(&fmts[FPU_S], a, b, rm, flags);
}

uint64_t fpu_div(enum fpu_fmt f, uint64_t a, uint64_t b, enum fpu_rm rm, unsigned *flags)
{
	return f == FPU_D ? do_div(&fmts[FPU_D], a, b, rm, flags)
			  : do_div(&fmts[FPU_S], a, b, rm, flags);
}

uint64_t fpu_sqrt(enum fpu_fmt f, uint64_t a, enum fpu_rm rm, unsigned *flags)
{
	return f == FPU_D ? do_sqrt(&fmts[FPU_D], a, rm, flags)
			  : do_sqrt(&fmts[FPU_S], a, rm, flags);
}

uint64_t fpu_fma(enum fpu_fmt f, uint64_t a, uint64_t b, uint64_t c, enum fpu_rm rm,
		 unsigned *flags)
{
	return f == FPU_D ? do_fma(&fmts[FPU_D], a, b, c, rm, flags)
			  : do_fma(&fmts[FPU_S], a, b, c, rm, flags);
}

uint64_t fpu_min(enum fpu_fmt f, uint64_t a, uint64_t b, unsigned *flags)
{
	return f == FPU_D ? do_minmax(&fmts[FPU_D], a, b, false, flags)
			  : do_minmax(&fmts[FPU_S], a, b, false, flags);
}

uint64_t fpu_max(enum fpu_fmt f, uint64_t a, uint64_t b, unsigned *flags)
{
	return f == FPU_D ? do_minmax(&fmts[FPU_D], a, b, true, flags)
			  : do_minmax(&fmts[FPU_S], a, b, true, flags);
}

int fpu_eq(enum fpu_fmt f, uint64_t a, uint64_t b, unsigned *flags)
{
	const struct fmt *F = FMT(f);
	struct unp x = unpack(F, a), y = unpack(F, b);

	if (is_nan(&x) || is_nan(&y)) {
		if (x.cls == C_SNAN || y.cls == C_SNAN)
			*flags |= FPU_NV;
		return 0;
	}
	return equal(F, a, b);
}

int fpu_lt(enum fpu_fmt f, uint64_t a, uint64_t b, unsigned *flags)
{
	const struct fmt *F = FMT(f);
	struct unp x = unpack(F, a), y = unpack(F, b);

	if (is_nan(&x) || is_nan(&y)) {
		*flags |= FPU_NV;
		return 0;
	}
	return less(F, a, b, false);
}

int fpu_le(enum fpu_fmt f, uint64_t a, uint64_t b, unsigned *flags)
{
	const struct fmt *F = FMT(f);
	struct unp x = unpack(F, a), y = unpack(F, b);

	if (is_nan(&x) || is_nan(&y)) {
		*flags |= FPU_NV;
		return 0;
	}
	return equal(F, a, b) || less(F, a, b, false);
}

unsigned fpu_class(enum fpu_fmt f, uint64_t a)
{
	const struct fmt *F = FMT(f);
	struct unp x = unpack(F, a);

	switch (x.cls) {
	case C_INF:
		return x.s ? FPU_CLASS_NINF : FPU_CLASS_PINF;
	case C_ZERO:
		return x.s ? FPU_CLASS_NZERO : FPU_CLASS_PZERO;
	case C_SNAN:
		return FPU_CLASS_SNAN;
	case C_QNAN:
		return FPU_CLASS_QNAN;
	case C_NUM:
	default:
		if (x.e < F->emin)
			return x.s ? FPU_CLASS_NSUB : FPU_CLASS_PSUB;
		return x.s ? FPU_CLASS_NNORM : FPU_CLASS_PNORM;
	}
}

/* The FCVT-to-integer limits (F, "Domains of float-to-integer conversions"), as the 64-bit
 * register values: W and WU sign-extended from bit 31. */
static const uint64_t int_max[4] = { 0x7fffffffull, ~0ull, 0x7fffffffffffffffull, ~0ull };
static const uint64_t int_min[4] = { 0xffffffff80000000ull, 0, 0x8000000000000000ull, 0 };
/* The largest magnitude in range, positive and negative */
static const uint64_t int_pos[4] = { 0x7fffffffull, 0xffffffffull, 0x7fffffffffffffffull, ~0ull };
static const uint64_t int_neg[4] = { 0x80000000ull, 0, 0x8000000000000000ull, 0 };

uint64_t fpu_to_int(enum fpu_fmt f, uint64_t a, enum fpu_int k, enum fpu_rm rm, unsigned *flags)
{
	const struct fmt *F = FMT(f);
	struct unp x = unpack(F, a);
	uint64_t q, frac, v;

	k &= 3;
	if (is_nan(&x)) {
		*flags |= FPU_NV;
		return int_max[k];
	}
	if (x.cls == C_ZERO)
		return 0;
	if (x.cls == C_INF || x.e > 63)
		goto invalid;
	/* the integer part q and the fraction as 64 bits (bit 63 is one half) */
	if (x.e >= 0) {
		unsigned sh = 63 - (unsigned)x.e;

		q = x.m >> sh;
		frac = sh ? x.m << (64 - sh) : 0;
	} else {
		q = 0;
		frac = shift_jam(x.m, (unsigned)(-x.e - 1));
	}
	q += round_up(rm, x.s, q & 1, frac, 1ull << 63); /* q < 2^63 whenever frac != 0 */
	if (q > (x.s ? int_neg[k] : int_pos[k]))
		goto invalid;
	if (frac)
		*flags |= FPU_NX;
	v = x.s ? 0 - q : q;
	if (k == FPU_WU)
		v = (uint64_t)(int64_t)(int32_t)(uint32_t)v;
	return v;
invalid:
	*flags |= FPU_NV;
	return x.s ? int_min[k] : int_max[k];
}

uint64_t fpu_from_int(enum fpu_fmt f, uint64_t v, enum fpu_int k, enum fpu_rm rm, unsigned *flags)
{
	unsigned s = 0;
	uint64_t mag;
	int z;

	switch (k & 3) {
	case FPU_W:
		s = (unsigned)(v >> 31) & 1;
		mag = (uint32_t)v;
		if (s) /* the magnitude of INT32_MIN is 2^31, still a uint32_t */
			mag = (uint32_t)(0 - (uint32_t)v);
		break;
	case FPU_WU:
		mag = (uint32_t)v;
		break;
	case FPU_L:
		s = (unsigned)(v >> 63);
		mag = s ? 0 - v : v;
		break;
	case FPU_LU:
	default:
		mag = v;
		break;
	}
	if (mag == 0)
		return 0;
	z = __builtin_clzll(mag);
	return f == FPU_D ? round_pack(&fmts[FPU_D], s, 63 - z, mag << z, rm, flags)
			  : round_pack(&fmts[FPU_S], s, 63 - z, mag << z, rm, flags);
}

uint64_t fpu_cvt(enum fpu_fmt to, enum fpu_fmt from, uint64_t a, enum fpu_rm rm, unsigned *flags)
{
	const struct fmt *T = FMT(to);
	struct unp x = unpack(FMT(from), a);

	switch (x.cls) {
	case C_SNAN:
	case C_QNAN:
		return nan_result(T, x.cls == C_SNAN, flags);
	case C_INF:
		return make_inf(T, x.s);
	case C_ZERO:
		return make_zero(T, x.s);
	case C_NUM:
	default:
		return to == FPU_D ? round_pack(&fmts[FPU_D], x.s, x.e, x.m, rm, flags)
				   : round_pack(&fmts[FPU_S], x.s, x.e, x.m, rm, flags);
	}
}
