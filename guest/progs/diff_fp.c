/* diff_fp.c - the F and D extensions: every instruction, every rounding mode, fflags and fcsr.
 *
 * Built for rv64imafdc/lp64d (guest/build.sh), but every FP instruction is inline asm on fixed
 * registers with integer operands moved in with fmv.d.x and results moved out with fmv.x.d,
 * so the full 64 bits of each result register are seen (NaN-boxing of single results
 * included) and the exact instruction named runs.
 *
 * The operation table holds all the arithmetic, conversion, move, compare and classify
 * instructions of F and D. An operation that rounds is built six times: with each static
 * rounding mode (rne rtz rdn rup rmm) and with dyn, which runs once under each frm value
 * 0..4 set by fsrm. fflags is cleared (fsflags zero) before each instruction and read
 * (frflags) right after it. Each (operation, mode) runs on the corner operands (the cross
 * product for two-operand ones) and on operands drawn by a fixed-seed xorshift from classes:
 * random bits, subnormals, quiet and signalling NaNs with payloads, infinities and zeros,
 * values near 2^24, 2^31, 2^32, 2^53, 2^63, 2^64, quarter steps around integers, values near
 * the ends of the exponent range, exact ties of addition and multiplication (and, for the
 * integer sources, integers exactly halfway between two floats). Single operands are
 * NaN-boxed except one time in 16, when the upper word is garbage.
 *
 * Each group prints its first two cases in full ("op mode a b c = result flags") and a
 * checksum of all of them; so a difference is located to a group. Then explicit sections:
 * the fcsr, frm and fflags CSRs; NaN-boxing; known results of each rounding mode; loads and
 * stores including C.FLD/C.FSD/C.FLDSP/C.FSDSP; all 32 registers; FP state across system
 * calls; and the reserved rounding modes (static 5 and 6, frm 5..7), which must raise
 * SIGILL. Self-checks (d_expect) state what the specification says where it is unambiguous.
 */
#include "diff.h"

#define NORVC ".option push\n.option norvc\n"
#define POP "\n.option pop\n"

/* ---- the operations ------------------------------------------------------------------- */

enum kind { F3, F2, F1, FX, FFX, XF }; /* operands and result: F register or X register */
enum src { S_S, S_D, S_W, S_L };       /* source format: single, double, int32, int64 */
typedef u64 (*fp_fn)(u64 a, u64 b, u64 c, u64 *flags);

#define FP_CLOB "ft0", "ft1", "ft2", "ft3", "memory"

/* Three F sources (fused multiply-add), F result. */
#define BODY_F3(insn, rm)                                                                          \
	__asm__ volatile(NORVC "fmv.d.x ft1, %2\nfmv.d.x ft2, %3\nfmv.d.x ft3, %4\n"               \
			       "fsflags zero\n" insn " ft0, ft1, ft2, ft3" rm "\nfrflags %1\n"     \
			       "fmv.x.d %0, ft0" POP                                               \
			 : "=&r"(r), "=&r"(f)                                                      \
			 : "r"(a), "r"(b), "r"(c)                                                  \
			 : FP_CLOB)
#define BODY_F2(insn, rm)                                                                          \
	__asm__ volatile(NORVC "fmv.d.x ft1, %2\nfmv.d.x ft2, %3\n"                                \
			       "fsflags zero\n" insn " ft0, ft1, ft2" rm "\nfrflags %1\n"          \
			       "fmv.x.d %0, ft0" POP                                               \
			 : "=&r"(r), "=&r"(f)                                                      \
			 : "r"(a), "r"(b), "r"(c)                                                  \
			 : FP_CLOB)
#define BODY_F1(insn, rm)                                                                          \
	__asm__ volatile(NORVC "fmv.d.x ft1, %2\n"                                                 \
			       "fsflags zero\n" insn " ft0, ft1" rm "\nfrflags %1\n"               \
			       "fmv.x.d %0, ft0" POP                                               \
			 : "=&r"(r), "=&r"(f)                                                      \
			 : "r"(a), "r"(b), "r"(c)                                                  \
			 : FP_CLOB)
#define BODY_FX(insn, rm)                                                                          \
	__asm__ volatile(NORVC "fmv.d.x ft1, %2\n"                                                 \
			       "fsflags zero\n" insn " %0, ft1" rm "\nfrflags %1" POP              \
			 : "=&r"(r), "=&r"(f)                                                      \
			 : "r"(a), "r"(b), "r"(c)                                                  \
			 : FP_CLOB)
#define BODY_FFX(insn, rm)                                                                         \
	__asm__ volatile(NORVC "fmv.d.x ft1, %2\nfmv.d.x ft2, %3\n"                                \
			       "fsflags zero\n" insn " %0, ft1, ft2" rm "\nfrflags %1" POP         \
			 : "=&r"(r), "=&r"(f)                                                      \
			 : "r"(a), "r"(b), "r"(c)                                                  \
			 : FP_CLOB)
#define BODY_XF(insn, rm)                                                                          \
	__asm__ volatile(NORVC "fsflags zero\n" insn " ft0, %2" rm "\nfrflags %1\n"                \
			       "fmv.x.d %0, ft0" POP                                               \
			 : "=&r"(r), "=&r"(f)                                                      \
			 : "r"(a), "r"(b), "r"(c)                                                  \
			 : FP_CLOB)

/* Operations that round: X(id, mnemonic, kind, source format). */
/* clang-format off */
#define OPS_RM(X)                          \
	X(fmadd_s, "fmadd.s", F3, S_S)     \
	X(fmsub_s, "fmsub.s", F3, S_S)     \
	X(fnmsub_s, "fnmsub.s", F3, S_S)   \
	X(fnmadd_s, "fnmadd.s", F3, S_S)   \
	X(fadd_s, "fadd.s", F2, S_S)       \
	X(fsub_s, "fsub.s", F2, S_S)       \
	X(fmul_s, "fmul.s", F2, S_S)       \
	X(fdiv_s, "fdiv.s", F2, S_S)       \
	X(fsqrt_s, "fsqrt.s", F1, S_S)     \
	X(fcvt_w_s, "fcvt.w.s", FX, S_S)   \
	X(fcvt_wu_s, "fcvt.wu.s", FX, S_S) \
	X(fcvt_l_s, "fcvt.l.s", FX, S_S)   \
	X(fcvt_lu_s, "fcvt.lu.s", FX, S_S) \
	X(fcvt_s_w, "fcvt.s.w", XF, S_W)   \
	X(fcvt_s_wu, "fcvt.s.wu", XF, S_W) \
	X(fcvt_s_l, "fcvt.s.l", XF, S_L)   \
	X(fcvt_s_lu, "fcvt.s.lu", XF, S_L) \
	X(fmadd_d, "fmadd.d", F3, S_D)     \
	X(fmsub_d, "fmsub.d", F3, S_D)     \
	X(fnmsub_d, "fnmsub.d", F3, S_D)   \
	X(fnmadd_d, "fnmadd.d", F3, S_D)   \
	X(fadd_d, "fadd.d", F2, S_D)       \
	X(fsub_d, "fsub.d", F2, S_D)       \
	X(fmul_d, "fmul.d", F2, S_D)       \
	X(fdiv_d, "fdiv.d", F2, S_D)       \
	X(fsqrt_d, "fsqrt.d", F1, S_D)     \
	X(fcvt_w_d, "fcvt.w.d", FX, S_D)   \
	X(fcvt_wu_d, "fcvt.wu.d", FX, S_D) \
	X(fcvt_l_d, "fcvt.l.d", FX, S_D)   \
	X(fcvt_lu_d, "fcvt.lu.d", FX, S_D) \
	X(fcvt_d_l, "fcvt.d.l", XF, S_L)   \
	X(fcvt_d_lu, "fcvt.d.lu", XF, S_L) \
	X(fcvt_s_d, "fcvt.s.d", F1, S_D)
/* clang-format on */

/* Operations that do not round (exact conversions, moves, sign injection, min/max, compares,
 * classify). */
/* clang-format off */
#define OPS_NORM(X)                        \
	X(fsgnj_s, "fsgnj.s", F2, S_S)     \
	X(fsgnjn_s, "fsgnjn.s", F2, S_S)   \
	X(fsgnjx_s, "fsgnjx.s", F2, S_S)   \
	X(fmin_s, "fmin.s", F2, S_S)       \
	X(fmax_s, "fmax.s", F2, S_S)       \
	X(feq_s, "feq.s", FFX, S_S)        \
	X(flt_s, "flt.s", FFX, S_S)        \
	X(fle_s, "fle.s", FFX, S_S)        \
	X(fclass_s, "fclass.s", FX, S_S)   \
	X(fmv_x_w, "fmv.x.w", FX, S_S)     \
	X(fmv_w_x, "fmv.w.x", XF, S_L)     \
	X(fsgnj_d, "fsgnj.d", F2, S_D)     \
	X(fsgnjn_d, "fsgnjn.d", F2, S_D)   \
	X(fsgnjx_d, "fsgnjx.d", F2, S_D)   \
	X(fmin_d, "fmin.d", F2, S_D)       \
	X(fmax_d, "fmax.d", F2, S_D)       \
	X(feq_d, "feq.d", FFX, S_D)        \
	X(flt_d, "flt.d", FFX, S_D)        \
	X(fle_d, "fle.d", FFX, S_D)        \
	X(fclass_d, "fclass.d", FX, S_D)   \
	X(fmv_x_d, "fmv.x.d", FX, S_D)     \
	X(fmv_d_x, "fmv.d.x", XF, S_L)     \
	X(fcvt_d_s, "fcvt.d.s", F1, S_S)   \
	X(fcvt_d_w, "fcvt.d.w", XF, S_W)   \
	X(fcvt_d_wu, "fcvt.d.wu", XF, S_W)
/* clang-format on */

#define FN_RM1(id, str, kind, src, rm)                                                             \
	static u64 op_##id##_##rm(u64 a, u64 b, u64 c, u64 *fl)                                    \
	{                                                                                          \
		u64 r, f;                                                                          \
		BODY_##kind(str, ", " #rm);                                                        \
		*fl = f;                                                                           \
		return r;                                                                          \
	}
/* clang-format off */
#define FN_RM(id, str, kind, src)                                                                  \
	FN_RM1(id, str, kind, src, rne) FN_RM1(id, str, kind, src, rtz)                            \
	FN_RM1(id, str, kind, src, rdn) FN_RM1(id, str, kind, src, rup)                            \
	FN_RM1(id, str, kind, src, rmm) FN_RM1(id, str, kind, src, dyn)
/* clang-format on */
#define FN_NORM(id, str, kind, src)                                                                \
	static u64 op_##id(u64 a, u64 b, u64 c, u64 *fl)                                           \
	{                                                                                          \
		u64 r, f;                                                                          \
		BODY_##kind(str, "");                                                              \
		*fl = f;                                                                           \
		return r;                                                                          \
	}
OPS_RM(FN_RM)
OPS_NORM(FN_NORM)

struct fop {
	const char *name;
	enum kind kind;
	enum src src;
	int rounds;
	fp_fn fn[6]; /* rne rtz rdn rup rmm dyn; fn[0] only if !rounds */
};

#define ENT_RM(id, str, kind, src)                                                                 \
	{ str,                                                                                     \
	  kind,                                                                                    \
	  src,                                                                                     \
	  1,                                                                                       \
	  { op_##id##_rne, op_##id##_rtz, op_##id##_rdn, op_##id##_rup, op_##id##_rmm,             \
	    op_##id##_dyn } },
#define ENT_NORM(id, str, kind, src) { str, kind, src, 0, { op_##id } },
static const struct fop ops[] = { OPS_RM(ENT_RM) OPS_NORM(ENT_NORM) };
#define N_OPS (sizeof(ops) / sizeof(ops[0]))

static const char *const rm_names[] = { "rne", "rtz", "rdn", "rup", "rmm" };

/* The destination is single (NaN-boxed) for F results whose mnemonic's first suffix is s or w. */
static int dst_single(const struct fop *o)
{
	const char *p = o->name;

	if (o->kind == FX || o->kind == FFX)
		return 0;
	while (*p && *p != '.')
		p++;
	return p[1] == 's' || p[1] == 'w';
}

static const struct fop *find_op(const char *name)
{
	for (unsigned k = 0; k < N_OPS; k++) {
		const char *a = ops[k].name, *b = name;

		while (*a && *a == *b)
			a++, b++;
		if (!*a && !*b)
			return &ops[k];
	}
	return 0;
}

/* ---- fcsr helpers --------------------------------------------------------------------- */

static void set_frm(u64 m)
{
	__asm__ volatile("fsrm %0" ::"r"(m) : "memory");
}

static u64 get_frm(void)
{
	u64 m;

	__asm__ volatile("frrm %0" : "=r"(m)::"memory");
	return m;
}

static u64 get_fcsr(void)
{
	u64 v;

	__asm__ volatile("frcsr %0" : "=r"(v)::"memory");
	return v;
}

static void set_fcsr(u64 v)
{
	__asm__ volatile("fscsr %0" ::"r"(v) : "memory");
}

/* ---- operands ------------------------------------------------------------------------- */

static u64 seed = 0x2545f4914f6cdd1dUL;

static u64 rnd(void)
{
	return d_xorshift(&seed);
}

#define S_ONES 0xffffffff00000000UL

/* Format parameters: mantissa bits, exponent bias, maximum biased exponent. */
static int mbits(int dbl)
{
	return dbl ? 52 : 23;
}
static int bias(int dbl)
{
	return dbl ? 1023 : 127;
}
static u64 emax(int dbl)
{
	return dbl ? 0x7ff : 0xff;
}

static u64 mk(int dbl, int neg, u64 e, u64 m)
{
	int mb = mbits(dbl);

	return ((u64)neg << (mb + (dbl ? 11 : 8))) | e << mb | (m & ((1UL << mb) - 1));
}

/* The float nearest below |m| * 2^e (truncated if m has too many bits), sign neg. */
static u64 mkval(int dbl, int neg, u64 m, int e)
{
	int p = 63, mb = mbits(dbl);

	if (!m)
		return mk(dbl, neg, 0, 0);
	while (!(m >> p))
		p--;
	m = p > mb ? m >> (p - mb) : m << (mb - p);
	return mk(dbl, neg, (u64)(p + e + bias(dbl)), m);
}

/* A float of one of the operand classes. */
static u64 gen_float(int dbl)
{
	int mb = mbits(dbl), neg = (int)(rnd() & 1);
	u64 mmask = (1UL << mb) - 1, quiet = 1UL << (mb - 1), r = rnd(), m;
	static const int pow2[] = { 24, 31, 32, 53, 63, 64 };

	switch (rnd() % 12) {
	case 0:
	case 1: /* random bits */
		return dbl ? r : r & 0xffffffffUL;
	case 2: /* subnormal */
		m = r & mmask;
		if (r >> 62 == 0)
			m &= 0xff;
		return mk(dbl, neg, 0, m ? m : 1);
	case 3: /* quiet NaN with a payload (sometimes the canonical one) */
		return mk(dbl, neg, emax(dbl), quiet | (r & 3 ? r >> 8 & mmask : 0));
	case 4: /* signalling NaN with a payload */
		m = r & (quiet - 1);
		return mk(dbl, neg, emax(dbl), m ? m : 1);
	case 5: /* infinity or zero */
		return mk(dbl, neg, r & 1 ? emax(dbl) : 0, 0);
	case 6: /* near a power of two that bounds an integer format or the precision */
		return mk(dbl, neg, (u64)(pow2[r % 6] + bias(dbl)), 0) +
		       (u64)((s64)(r >> 8 & 7) - 3);
	case 7: /* quarter steps around small integers (exact ties for conversions) */
		return mkval(dbl, neg, r % 2400, -2);
	case 8: /* half steps around large integers, in double near 2^31 and 2^32 */
		if (dbl && (r & 3) == 0)
			return mkval(dbl, neg, (1UL << (32 + (r >> 2 & 1))) + (r >> 8) % 17 - 8,
				     -1);
		return mkval(dbl, neg, r >> (dbl ? 22 : 40), -1);
	case 9: /* near the ends of the exponent range (overflow, underflow into subnormal) */
		return mk(dbl, neg, r & 1 ? emax(dbl) - 1 - (r >> 1) % 3 : 1 + (r >> 1) % 2,
			  r >> 8);
	default: /* a normal number of moderate magnitude */
		return mk(dbl, neg, (u64)(bias(dbl) - 32) + r % 64, r >> 8);
	}
}

/* A single NaN-boxed in an F register, except one time in 16 (garbage upper word). */
static u64 box(u64 v)
{
	u64 up = rnd();

	if ((up & 15) == 0 && (up >> 32) != 0xffffffffUL)
		return (up & S_ONES) | v;
	return S_ONES | v;
}

/* An integer of one of the classes. */
static u64 gen_int(void)
{
	u64 r = rnd(), v;
	static const int pow2[] = { 24, 31, 32, 53, 63, 64 };
	int k, p;

	switch (rnd() % 8) {
	case 0: /* small */
		v = (u64)((s64)(r % 601) - 300);
		break;
	case 1: /* near a power of two (2^64: small negative) */
		k = pow2[r % 6];
		v = (k == 64 ? 0 : 1UL << k) + (u64)((s64)(r >> 8 & 15) - 8);
		if (r & (1UL << 20))
			v = (u64)0 - v;
		break;
	case 2: /* exactly halfway between two floats of precision 24 or 53 */
		p = r & 1 ? 24 : 53;
		v = ((1UL << (p - 1)) | (r >> 2 & ((1UL << (p - 1)) - 1))) << 1 | 1;
		v <<= (r >> 58) % (64 - (p + 1));
		if (rnd() & 1)
			v = (u64)0 - v;
		break;
	case 3: /* a 32-bit value */
		v = r & 0xffffffffUL;
		break;
	case 4: /* random magnitude */
		v = r >> (rnd() % 64);
		break;
	default:
		v = r;
	}
	return v;
}

/* Operands for operation o: an addition tie or a multiplication tie one time in 8 each for
 * the F2/F3 float ones. */
static void gen_args(const struct fop *o, u64 in[3])
{
	int dbl = o->src == S_D, mb = mbits(dbl);
	u64 t = rnd() % 16;

	if (o->src == S_W || o->src == S_L) {
		in[0] = gen_int();
		in[1] = in[2] = 0;
		return;
	}
	for (int i = 0; i < 3; i++)
		in[i] = gen_float(dbl);
	if ((o->kind == F2 || o->kind == F3) && t < 2) {
		u64 r = rnd();
		int ea = (int)(r % 40) - 20, neg = (int)(r >> 8 & 1);

		if (t == 0) {
			/* a + b where b is 1/2 or 3/2 ulp of a */
			in[0] = mk(dbl, neg, (u64)(bias(dbl) + ea), r >> 16);
			in[1] = mkval(dbl, (int)(r >> 9 & 1), r >> 10 & 1 ? 3 : 1, ea - mb - 1);
		} else {
			/* (1 + 2^-i)(1 + 2^-j) with i + j = precision: the product is a tie */
			int i = 1 + (int)((r >> 16) % (u64)mb), j = mb + 1 - i;

			in[0] = mkval(dbl, neg, (1UL << i) + 1, ea - i);
			in[1] = mkval(dbl, (int)(r >> 9 & 1), (1UL << j) + 1, -j);
			/* addend: 0 or a multiple of the product's ulp (keeps the tie) */
			in[2] = r >> 10 & 1
				    ? mk(dbl, 0, 0, 0)
				    : mkval(dbl, (int)(r >> 11 & 1), (r >> 12) % 5 + 1, ea - mb);
		}
	}
	if (!dbl)
		for (int i = 0; i < 3; i++)
			in[i] = box(in[i]);
}

static const u64 s_corner[] = {
	0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x40000000, 0x3f000000, 0xbfc00000,
	0x40400000, 0x3f800001, 0x3f7fffff, 0x00000001, 0x007fffff, 0x80000001, 0x00800000,
	0x80800000, 0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000,
	0x7fc12345, 0x7f800001, 0xff812345, 0x4f000000, 0xcf000000, 0x4f800000, 0x5f000000,
	0x5f800000, 0x3e99999a, 0x40490fdb, 0x40200000,
};
static const u64 d_corner[] = {
	0x0000000000000000, 0x8000000000000000, 0x3ff0000000000000, 0xbff0000000000000,
	0x4000000000000000, 0x3fe0000000000000, 0xbff8000000000000, 0x4008000000000000,
	0x3ff0000000000001, 0x3fefffffffffffff, 0x0000000000000001, 0x000fffffffffffff,
	0x8000000000000001, 0x0010000000000000, 0x8010000000000000, 0x7fefffffffffffff,
	0xffefffffffffffff, 0x7ff0000000000000, 0xfff0000000000000, 0x7ff8000000000000,
	0xfff8000000000000, 0x7ff8000000012345, 0x7ff0000000000001, 0xfff0000000012345,
	0x41e0000000000000, 0xc1e0000000000000, 0x41f0000000000000, 0x43e0000000000000,
	0x43f0000000000000, 0x41dfffffffe00000, 0x400921fb54442d18, 0x4004000000000000,
};
static const u64 i_corner[] = {
	0,
	1,
	2,
	3,
	0xffffffffffffffff,
	0xfffffffffffffffe,
	0x7fffffff,
	0x80000000,
	0xffffffff,
	0xffffffff80000000,
	0x0000000100000000,
	0x7fffffffffffffff,
	0x8000000000000000,
	0x8000000000000001,
	0xfffffffffffffc00,
	0x0000000001000000,
	0x0000000001000001,
	0x0000000001000003,
	0x0020000000000000,
	0x0020000000000001,
	0x0020000000000003,
	0x123456789abcdef0,
	0xfedcba9876543210,
	0x00000000deadbeef,
	0xdeadbeef00000005,
	0x7fffffff00000000,
	0xffffff80,
	0x7fffff80,
	0x00ffffff,
	0x01fffffe,
	0xffffffffff000001,
	0x4000000000000400,
};
#define N_CORNER 32
_Static_assert(sizeof(s_corner) / 8 == N_CORNER && sizeof(d_corner) / 8 == N_CORNER &&
		   sizeof(i_corner) / 8 == N_CORNER,
	       "corner sets");

static u64 corner(const struct fop *o, unsigned i)
{
	switch (o->src) {
	case S_S:
		return S_ONES | s_corner[i];
	case S_D:
		return d_corner[i];
	default:
		return i_corner[i];
	}
}

/* ---- running groups ------------------------------------------------------------------- */

static u64 n_ops;	  /* FP operations whose results entered a checksum */
static u64 n_unboxed;	  /* single results that were not NaN-boxed */
static u64 n_frm_changed; /* groups after which frm was not what fsrm had set */

static u64 mix(u64 h, u64 v)
{
	h ^= v;
	h *= 0x9e3779b97f4a7c15UL;
	return h ^ h >> 29;
}

struct group {
	const struct fop *o;
	fp_fn fn;
	const char *mode; /* "rne".."rmm", "dyn-rne".., or "" */
	const char *what; /* "corner" or "random" */
	u64 n, h;
};

static void g_case(struct group *g, const u64 in[3])
{
	u64 fl, r = g->fn(in[0], in[1], in[2], &fl);
	int nsrc = g->o->kind == F3 ? 3 : g->o->kind == F2 || g->o->kind == FFX ? 2 : 1;

	if (dst_single(g->o) && (r >> 32) != 0xffffffffUL)
		n_unboxed++;
	g->h = mix(mix(g->h, r), fl);
	for (int i = 0; i < nsrc; i++)
		g->h = mix(g->h, in[i]);
	if (g->n < 2) {
		d_puts(g->o->name);
		d_putc(' ');
		d_puts(g->mode);
		for (int i = 0; i < nsrc; i++) {
			d_putc(' ');
			d_hex(in[i]);
		}
		d_puts(" = ");
		d_hex(r);
		d_putc(' ');
		d_hexn(fl, 2);
		d_putc('\n');
		d_checks++;
	}
	g->n++;
	n_ops++;
}

static void g_end(struct group *g)
{
	d_puts(g->o->name);
	d_putc(' ');
	d_puts(g->mode);
	d_putc(' ');
	d_puts(g->what);
	d_puts(" n=");
	d_dec(g->n);
	d_puts(" h=");
	d_hex(g->h);
	d_putc('\n');
	d_checks++;
}

#define N_RANDOM_RM 192	   /* random cases per (rounding operation, mode) */
#define N_RANDOM_NORM 1024 /* random cases per non-rounding operation */

/* All corner operands: unary ones each, two-operand ones the cross product, fused ones the
 * cross product of the first two with a third that walks the set. */
static void run_corners(const struct fop *o, fp_fn fn, const char *mode)
{
	struct group g = { o, fn, mode, "corner", 0, D_FNV_INIT };
	u64 in[3] = { 0, 0, 0 };

	if (o->kind == F2 || o->kind == FFX || o->kind == F3) {
		for (unsigned i = 0; i < N_CORNER; i++)
			for (unsigned j = 0; j < N_CORNER; j++) {
				in[0] = corner(o, i);
				in[1] = corner(o, j);
				in[2] = corner(o, (i * 7 + j * 3) % N_CORNER);
				g_case(&g, in);
			}
	} else {
		for (unsigned i = 0; i < N_CORNER; i++) {
			in[0] = corner(o, i);
			g_case(&g, in);
		}
	}
	g_end(&g);
}

static void run_random(const struct fop *o, fp_fn fn, const char *mode, unsigned n)
{
	struct group g = { o, fn, mode, "random", 0, D_FNV_INIT };
	u64 in[3];

	for (unsigned i = 0; i < n; i++) {
		gen_args(o, in);
		g_case(&g, in);
	}
	g_end(&g);
}

static void run_ops(void)
{
	static const char *const dyn_names[] = { "dyn-rne", "dyn-rtz", "dyn-rdn", "dyn-rup",
						 "dyn-rmm" };

	for (unsigned k = 0; k < N_OPS; k++) {
		const struct fop *o = &ops[k];

		if (!o->rounds) {
			set_frm(0);
			run_corners(o, o->fn[0], "-");
			run_random(o, o->fn[0], "-", N_RANDOM_NORM);
			continue;
		}
		/* Static modes, frm set to a different mode meanwhile (it must not matter). */
		for (unsigned m = 0; m < 5; m++) {
			set_frm(4 - m);
			/* The fused ones' corner set is large: under two static modes only. */
			if (o->kind != F3 || m == 0 || m == 2)
				run_corners(o, o->fn[m], rm_names[m]);
			run_random(o, o->fn[m], rm_names[m], N_RANDOM_RM);
			n_frm_changed += get_frm() != 4 - m;
		}
		/* Dynamic: frm set by fsrm to each mode. */
		for (unsigned m = 0; m < 5; m++) {
			set_frm(m);
			if (o->kind != F2 && o->kind != F3)
				run_corners(o, o->fn[5], dyn_names[m]);
			run_random(o, o->fn[5], dyn_names[m], N_RANDOM_RM);
			n_frm_changed += get_frm() != m;
		}
	}
	set_frm(0);
	d_expect("single-results-nan-boxed", n_unboxed == 0);
	d_expect("frm-unchanged-by-ops", n_frm_changed == 0);
}

/* ---- the CSRs --------------------------------------------------------------------------- */

static void run_csrs(void)
{
	u64 old, v, a, b, c;

	set_fcsr(0);
	/* csrrw on fcsr: all ones written, only bits 7:0 kept */
	__asm__ volatile("csrrw %0, fcsr, %1" : "=r"(old) : "r"(~0UL) : "memory");
	d_kv("csrrw-fcsr-old", old);
	d_kv("fcsr-after-ones", v = get_fcsr());
	d_expect("fcsr-keeps-8-bits", v == 0xff);
	__asm__ volatile("frrm %0\nfrflags %1" : "=r"(a), "=r"(b)::"memory");
	d_expect("frm-and-fflags-of-fcsr", a == 7 && b == 0x1f);
	/* reserved upper bits: writes ignored */
	set_fcsr(0xffffff00UL);
	d_kv("fcsr-after-upper", v = get_fcsr());
	d_expect("fcsr-upper-ignored", v == 0);
	/* frm alone: 3 bits; fflags unchanged by it */
	a = 0x15;
	__asm__ volatile("csrw fflags, %0\ncsrrw %1, frm, %3\ncsrr %0, frm\nfrcsr %2"
			 : "+&r"(a), "=&r"(old), "=&r"(c)
			 : "r"(0xf9UL)
			 : "memory");
	d_kv("frm-after-f9", a);
	d_kv("fcsr-after-frm", c);
	d_expect("frm-3-bits", a == 1 && c == (1 << 5 | 0x15));
	/* fflags alone: 5 bits; frm unchanged */
	__asm__ volatile("csrrw %0, fflags, %2\ncsrr %1, fcsr"
			 : "=&r"(old), "=r"(v)
			 : "r"(0xeaUL)
			 : "memory");
	d_kv("csrrw-fflags-old", old);
	d_kv("fcsr-after-fflags", v);
	d_expect("fflags-5-bits", old == 0x15 && v == (1 << 5 | 0x0a));
	/* csrrs / csrrc, register and immediate forms */
	__asm__ volatile("csrrs %0, fflags, %1" : "=r"(old) : "r"(0x101UL) : "memory");
	d_kv("csrrs-fflags-old", old);
	d_kv("fflags-after-csrrs", v = get_fcsr() & 0x1f);
	d_expect("csrrs-fflags", v == 0x0b);
	__asm__ volatile("csrrc %0, fflags, %1" : "=r"(old) : "r"(0x3UL) : "memory");
	d_kv("fflags-after-csrrc", v = get_fcsr() & 0x1f);
	d_expect("csrrc-fflags", old == 0x0b && v == 0x08);
	__asm__ volatile("csrrs %0, frm, %1" : "=r"(old) : "r"(0x6UL) : "memory");
	d_kv("frm-after-csrrs", v = get_frm());
	d_expect("csrrs-frm", old == 1 && v == 7);
	__asm__ volatile("csrrc %0, frm, %1" : "=r"(old) : "r"(0x5UL) : "memory");
	d_kv("frm-after-csrrc", v = get_frm());
	d_expect("csrrc-frm", old == 7 && v == 2);
	__asm__ volatile("csrrwi %0, fcsr, 0x1f" : "=r"(old)::"memory");
	d_kv("csrrwi-fcsr-old", old);
	d_kv("fcsr-after-csrrwi", v = get_fcsr());
	d_expect("csrrwi-fcsr", old == (2 << 5 | 0x08) && v == 0x1f);
	__asm__ volatile("csrrsi %0, frm, 4\ncsrrci %1, fflags, 0x11" : "=r"(a), "=r"(b)::"memory");
	d_kv("fcsr-after-csrrsi-csrrci", v = get_fcsr());
	d_expect("csrrsi-csrrci", a == 0 && b == 0x1f && v == (4 << 5 | 0x0e));
	/* the pseudo-instructions, swap forms included */
	__asm__ volatile("fscsr %0, %1" : "=r"(old) : "r"(0x3a5UL) : "memory");
	d_kv("fscsr-swap-old", old);
	d_kv("fcsr-after-fscsr", v = get_fcsr());
	d_expect("fscsr", old == (4 << 5 | 0x0e) && v == 0xa5);
	__asm__ volatile("fsrm %0, %1" : "=r"(old) : "r"(0x0bUL) : "memory");
	d_expect("fsrm-swap", old == 5 && get_frm() == 3 && (get_fcsr() & 0x1f) == 0x05);
	__asm__ volatile("fsflags %0, %1" : "=r"(old) : "r"(0x3eUL) : "memory");
	d_expect("fsflags-swap", old == 0x05 && get_fcsr() == (3 << 5 | 0x1e));
	__asm__ volatile("fsrmi %0, 1\nfsflagsi %1, 2" : "=r"(a), "=r"(b)::"memory");
	d_expect("fsrmi-fsflagsi", a == 3 && b == 0x1e && get_fcsr() == (1 << 5 | 0x02));
	d_kv("fcsr-final", get_fcsr());

	/* fflags accumulate: division by zero, then an inexact operation, then invalid */
	set_fcsr(0);
	__asm__ volatile(NORVC "fmv.d.x ft1, %1\nfmv.d.x ft2, zero\nfdiv.d ft0, ft1, ft2\n"
			       "frflags %0" POP
			 : "=r"(a)
			 : "r"(0x3ff0000000000000UL)
			 : FP_CLOB);
	__asm__ volatile(NORVC "fmv.d.x ft1, %1\nfmv.d.x ft2, %2\nfdiv.d ft0, ft1, ft2\n"
			       "frflags %0" POP
			 : "=r"(b)
			 : "r"(0x3ff0000000000000UL), "r"(0x4008000000000000UL)
			 : FP_CLOB);
	__asm__ volatile(NORVC "fmv.d.x ft1, zero\nfdiv.d ft0, ft1, ft1\nfrflags %0" POP
			 : "=r"(c)
			 :
			 : FP_CLOB);
	d_kv("fflags-accumulate", a << 16 | b << 8 | c);
	d_expect("fflags-sticky", a == 0x08 && b == 0x09 && c == 0x19);
	set_fcsr(0);
}

/* ---- NaN-boxing ------------------------------------------------------------------------- */

static void run_nanbox(void)
{
	static const u64 bad[] = { 0x0000000040000000UL, 0x7fffffff3f800000UL, 0xfffffffe3f800000UL,
				   0x12345678ff812345UL };
	const u64 one = S_ONES | 0x3f800000, mone = S_ONES | 0xbf800000, qnan = S_ONES | 0x7fc00000;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		u64 v = bad[i], fl, r, low = v & 0xffffffffUL, sext = (u64)(s64)(s32)(u32)v;
		u32 mem[2] = { 0, 0 };

		d_kv("nanbox-value", v);
		r = op_fadd_s_rne(v, one, 0, &fl);
		d_kv("nanbox-fadd.s", r << 8 | fl);
		d_expect("nanbox-fadd.s-canonical", r == qnan && fl == 0);
		r = op_fsgnj_s(v, v, 0, &fl);
		d_expect("nanbox-fsgnj.s-both", r == qnan);
		r = op_fsgnj_s(v, mone, 0, &fl);
		d_kv("nanbox-fsgnj.s", r);
		d_expect("nanbox-fsgnj.s-rs1", r == (S_ONES | 0xffc00000));
		r = op_fsgnjn_s(one, v, 0, &fl);
		d_expect("nanbox-fsgnjn.s-rs2", r == mone);
		r = op_fsgnjx_s(mone, v, 0, &fl);
		d_expect("nanbox-fsgnjx.s-rs2", r == mone);
		r = op_fmv_x_w(v, 0, 0, &fl);
		d_kv("nanbox-fmv.x.w", r);
		d_expect("nanbox-fmv.x.w-raw", r == sext);
		r = op_fclass_s(v, 0, 0, &fl);
		d_kv("nanbox-fclass.s", r);
		d_expect("nanbox-fclass.s-qnan", r == 0x200);
		r = op_feq_s(v, v, 0, &fl);
		d_expect("nanbox-feq.s-quiet", r == 0 && fl == 0);
		r = op_fle_s(v, one, 0, &fl);
		d_expect("nanbox-fle.s-invalid", r == 0 && fl == 0x10);
		r = op_fmin_s(v, one, 0, &fl);
		d_expect("nanbox-fmin.s-other", r == one && fl == 0);
		r = op_fcvt_d_s(v, 0, 0, &fl);
		d_kv("nanbox-fcvt.d.s", r);
		d_expect("nanbox-fcvt.d.s-canonical", r == 0x7ff8000000000000UL && fl == 0);
		r = op_fcvt_w_s_rtz(v, 0, 0, &fl);
		d_expect("nanbox-fcvt.w.s-nan", r == 0x7fffffff && fl == 0x10);
		r = op_fsqrt_s_rne(v, 0, 0, &fl);
		d_expect("nanbox-fsqrt.s", r == qnan && fl == 0);
		r = op_fmadd_s_rne(one, one, v, &fl);
		d_expect("nanbox-fmadd.s-rs3", r == qnan && fl == 0);
		/* fsw stores the raw low word */
		__asm__ volatile(NORVC "fmv.d.x ft0, %1\nfsw ft0, 0(%0)\nfsw ft0, 4(%0)" POP
				 :
				 : "r"(mem), "r"(v)
				 : FP_CLOB);
		d_kv("nanbox-fsw", (u64)mem[1] << 32 | mem[0]);
		d_expect("nanbox-fsw-raw", mem[0] == low && mem[1] == low);
		/* a double operation sees the whole register */
		r = op_fsgnj_d(v, v, 0, &fl);
		d_expect("nanbox-fsgnj.d-whole", r == v);
	}
	/* Single results and flw/fmv.w.x are boxed; fmv.x.w sign-extends. */
	u64 fl, r = op_fmv_w_x(0x123456789abcdef0UL, 0, 0, &fl);
	d_kv("fmv.w.x-boxes", r);
	d_expect("fmv.w.x-boxed", r == (S_ONES | 0x9abcdef0));
	r = op_fcvt_s_d_rne(0x3ff0000000000000UL, 0, 0, &fl);
	d_expect("fcvt.s.d-boxed", r == one);
	r = op_fmv_x_w(S_ONES | 0x80000001, 0, 0, &fl);
	d_expect("fmv.x.w-sign-extends", r == 0xffffffff80000001UL);
}

/* ---- rounding modes: results known exactly ---------------------------------------------- */

static void run_rounding(void)
{
	static const u64 third_d[5] = { 0x3fd5555555555555, 0x3fd5555555555555, 0x3fd5555555555555,
					0x3fd5555555555556, 0x3fd5555555555555 };
	static const u64 mthird_d[5] = { 0xbfd5555555555555, 0xbfd5555555555555, 0xbfd5555555555556,
					 0xbfd5555555555555, 0xbfd5555555555555 };
	static const u64 third_s[5] = { 0x3eaaaaab, 0x3eaaaaaa, 0x3eaaaaaa, 0x3eaaaaab,
					0x3eaaaaab };
	static const s64 cvt_25[5] = { 2, 2, 2, 3, 3 }, cvt_m25[5] = { -2, -2, -3, -2, -3 };
	static const s64 cvt_35[5] = { 4, 3, 3, 4, 4 };
	/* 1 + 2^-53 is a tie: rup and rmm go up; 2^64 - 1 to single: rtz and rdn go down */
	static const u64 tie1[5] = { 0x3ff0000000000000, 0x3ff0000000000000, 0x3ff0000000000000,
				     0x3ff0000000000001, 0x3ff0000000000001 };
	static const u64 big_s[5] = { 0x5f800000, 0x5f7fffff, 0x5f7fffff, 0x5f800000, 0x5f800000 };
	/* overflow: the largest finite or infinity, by direction */
	static const u64 ovf[5] = { 0x7ff0000000000000, 0x7fefffffffffffff, 0x7fefffffffffffff,
				    0x7ff0000000000000, 0x7ff0000000000000 };
	const u64 one = 0x3ff0000000000000UL, three = 0x4008000000000000UL;

	for (unsigned m = 0; m < 5; m++) {
		const struct fop *div_d = find_op("fdiv.d"), *div_s = find_op("fdiv.s"),
				 *cvt_w_d = find_op("fcvt.w.d"), *add_d = find_op("fadd.d"),
				 *cvt_s_lu = find_op("fcvt.s.lu"), *mul_d = find_op("fmul.d");
		u64 fl, r;
		int ok = 1;

		if (!div_d || !div_s || !add_d || !mul_d || !cvt_w_d || !cvt_s_lu) {
			d_expect("rounding-ops-found", 0);
			return;
		}
		/* each check twice: static mode m, and dyn with frm = m */
		for (int dyn = 0; dyn < 2; dyn++) {
			unsigned f = dyn ? 5 : m;

			set_frm(dyn ? m : 4 - m);
			r = div_d->fn[f](one, three, 0, &fl);
			ok &= r == third_d[m] && fl == 1;
			r = div_d->fn[f](one | 1UL << 63, three, 0, &fl);
			ok &= r == mthird_d[m] && fl == 1;
			r = div_s->fn[f](S_ONES | 0x3f800000, S_ONES | 0x40400000, 0, &fl);
			ok &= r == (S_ONES | third_s[m]) && fl == 1;
			r = cvt_w_d->fn[f](0x4004000000000000UL, 0, 0, &fl);
			ok &= r == (u64)cvt_25[m] && fl == 1;
			r = cvt_w_d->fn[f](0xc004000000000000UL, 0, 0, &fl);
			ok &= r == (u64)cvt_m25[m] && fl == 1;
			r = cvt_w_d->fn[f](0x400c000000000000UL, 0, 0, &fl);
			ok &= r == (u64)cvt_35[m] && fl == 1;
			r = add_d->fn[f](one, 0x3ca0000000000000UL, 0, &fl);
			ok &= r == tie1[m] && fl == 1;
			r = cvt_s_lu->fn[f](~0UL, 0, 0, &fl);
			ok &= r == (S_ONES | big_s[m]) && fl == 1;
			r = mul_d->fn[f](0x7fe0000000000000UL, 0x4000000000000000UL, 0, &fl);
			ok &= r == ovf[m] && fl == 0x05;
			/* exact: no flag, same in every mode */
			r = add_d->fn[f](one, one, 0, &fl);
			ok &= r == 0x4000000000000000UL && fl == 0;
			/* x - x is +0 except in rdn: -0 */
			r = add_d->fn[f](three, three | 1UL << 63, 0, &fl);
			ok &= r == (m == 2 ? 1UL << 63 : 0) && fl == 0;
		}
		d_puts("rounding-known ");
		d_puts(rm_names[m]);
		d_expect("", ok);
	}
	set_frm(0);

	/* Conversions to integers: out of range, NaN, sign extension of the W forms. */
	struct {
		const char *op;
		u64 in, want, fl;
	} cv[] = {
		{ "fcvt.w.d", 0x41e0000000000000, 0x7fffffff, 0x10 },	   /* 2^31 */
		{ "fcvt.w.d", 0xc1e0000000000000, 0xffffffff80000000, 0 }, /* -2^31 */
		{ "fcvt.w.d", 0xc1e0000000200000, 0xffffffff80000000, 0x10 },
		{ "fcvt.w.d", 0x7ff8000000000000, 0x7fffffff, 0x10 },
		{ "fcvt.w.d", 0xfff0000000000000, 0xffffffff80000000, 0x10 },
		{ "fcvt.wu.d", 0x41efffffffe00000, 0xffffffffffffffff,
		  0 }, /* 2^32-1: sign-extended */
		{ "fcvt.wu.d", 0x41e0000000000000, 0xffffffff80000000, 0 },
		{ "fcvt.wu.d", 0xbff0000000000000, 0, 0x10 },
		{ "fcvt.wu.d", 0xbfe0000000000000, 0, 0x01 }, /* -0.5 rtz: 0, only inexact */
		{ "fcvt.wu.s", S_ONES | 0x4f32d05e, 0xffffffffb2d05e00, 0 },
		{ "fcvt.l.d", 0x43e0000000000000, 0x7fffffffffffffff, 0x10 },
		{ "fcvt.l.d", 0xc3e0000000000000, 0x8000000000000000, 0 },
		{ "fcvt.l.s", S_ONES | 0x7fc00000, 0x7fffffffffffffff, 0x10 },
		{ "fcvt.l.s", S_ONES | 0xff800000, 0x8000000000000000, 0x10 },
		{ "fcvt.lu.d", 0x43f0000000000000, 0xffffffffffffffff, 0x10 },
		{ "fcvt.lu.d", 0x43efffffffffffff, 0xfffffffffffff800, 0 },
		{ "fcvt.lu.s", S_ONES | 0xff800000, 0, 0x10 },
		{ "fcvt.lu.s", S_ONES | 0x80000000, 0, 0 }, /* -0 */
	};
	for (unsigned i = 0; i < sizeof(cv) / sizeof(cv[0]); i++) {
		const struct fop *o = find_op(cv[i].op);
		u64 fl, r;

		if (!o) {
			d_expect("conversion-op-found", 0);
			continue;
		}
		r = o->fn[1](cv[i].in, 0, 0, &fl); /* rtz */
		d_puts(cv[i].op);
		d_putc(' ');
		d_hex(cv[i].in);
		d_expect("", r == cv[i].want && fl == cv[i].fl);
	}
}

/* ---- loads and stores ----------------------------------------------------------------- */

static u64 big[1024] __attribute__((aligned(16)));

static int is_rvc(u64 pc)
{
	return (*(volatile unsigned short *)pc & 3) != 3;
}

static void run_mem(void)
{
	u64 *base = big + 512, pcs[4], r[8];
	const u64 snan = 0x7ff0000000000001UL, pat = 0x0123456789abcdefUL;

	d_memset(big, 0, sizeof(big));
	base[1] = snan;
	base[-256] = 0x7f812345deadbeefUL; /* offset -2048 */
	base[255] = 0xc0ffee00ff800001UL;  /* offset 2040; its upper word at 2044 */
	/* fld/fsd move the bits untouched (no quieting); flw boxes; fsw stores the low word */
	__asm__ volatile(NORVC "fld ft0, 8(%[b])\nfsd ft0, 16(%[b])\n"
			       "flw ft1, -2048(%[b])\nfmv.x.d %[r0], ft1\n"
			       "flw ft2, 2044(%[b])\nfmv.x.d %[r1], ft2\n"
			       "fsw ft2, 24(%[b])\nfsw ft1, 28(%[b])\n"
			       "fld ft3, 2040(%[b])\nfsd ft3, -2040(%[b])\n"
			       "fmv.d.x ft0, %[pat]\nfsw ft0, 32(%[b])\n"
			       "fld ft1, 16(%[b])\nfmv.x.d %[r2], ft1\n"
			       "flw ft2, -2048(%[b])\nfsd ft2, 40(%[b])" POP
			 : [r0] "=&r"(r[0]), [r1] "=&r"(r[1]), [r2] "=&r"(r[2])
			 : [b] "r"(base), [pat] "r"(pat)
			 : FP_CLOB);
	d_kv("flw-2048-boxed", r[0]);
	d_kv("flw+2044-boxed", r[1]);
	d_kv("fld-fsd-snan", base[2]);
	d_kv("fsw-low-words", base[3]);
	d_kv("fld-fsd-2040", base[-255]);
	d_kv("fsw-of-double", base[4]);
	d_kv("fsd-of-flw", base[5]);
	d_expect("fp-load-store", r[0] == (S_ONES | 0xdeadbeef) && r[1] == (S_ONES | 0xc0ffee00) &&
				      base[2] == snan && r[2] == snan &&
				      base[3] == (0xdeadbeefUL << 32 | 0xc0ffee00) &&
				      base[-255] == 0xc0ffee00ff800001UL && base[4] == 0x89abcdef &&
				      base[5] == (S_ONES | 0xdeadbeef));

	/* Compressed: C.FLD/C.FSD (registers f8..f15, x8..x15, offsets 0..248 by 8) */
	for (unsigned i = 0; i < 32; i++)
		big[i] = 0x4000000000000000UL + i * 0x0001000000000001UL;
	__asm__ volatile(".option push\n.option rvc\n"
			 "mv a5, %[p]\n"
			 "1: c.fld fs0, 0(a5)\n"
			 "c.fld fa5, 248(a5)\n"
			 "2: c.fsd fs0, 8(a5)\n"
			 "c.fsd fa5, 136(a5)\n"
			 "c.fld fs1, 128(a5)\n"
			 "c.fsd fs1, 240(a5)\n"
			 "la %[pc0], 1b\nla %[pc1], 2b\n"
			 ".option pop"
			 : [pc0] "=&r"(pcs[0]), [pc1] "=&r"(pcs[1])
			 : [p] "r"(big)
			 : "a5", "fs0", "fs1", "fa5", "memory");
	d_kv("c.fld-c.fsd-8", big[1]);
	d_kv("c.fld-c.fsd-136", big[17]);
	d_kv("c.fld-c.fsd-240", big[30]);
	d_expect("c.fld-c.fsd", big[1] == big[0] && big[17] == big[31] && big[30] == big[16] &&
				    is_rvc(pcs[0]) && is_rvc(pcs[1]));

	/* C.FLDSP/C.FSDSP (any F register, offsets 0..504 by 8 from sp) */
	__asm__ volatile(".option push\n.option rvc\n"
			 "addi sp, sp, -512\n"
			 "fmv.d.x ft0, %[a]\nfmv.d.x f31, %[b]\n"
			 "1: c.fsdsp ft0, 504(sp)\n"
			 "c.fsdsp f31, 0(sp)\n"
			 "c.fsdsp ft0, 256(sp)\n"
			 "2: c.fldsp ft5, 0(sp)\n"
			 "c.fldsp f20, 504(sp)\n"
			 "c.fldsp f1, 256(sp)\n"
			 "ld %[r1], 504(sp)\nld %[r0], 0(sp)\n"
			 "addi sp, sp, 512\n"
			 "fmv.x.d %[r2], ft5\nfmv.x.d %[r3], f20\nfmv.x.d %[r4], f1\n"
			 "la %[pc0], 1b\nla %[pc1], 2b\n"
			 ".option pop"
			 : [r0] "=&r"(r[0]), [r1] "=&r"(r[1]), [r2] "=&r"(r[2]), [r3] "=&r"(r[3]),
			   [r4] "=&r"(r[4]), [pc0] "=&r"(pcs[0]), [pc1] "=&r"(pcs[1])
			 : [a] "r"(snan), [b] "r"(pat)
			 : "ft0", "ft5", "f20", "f1", "f31", "memory");
	d_kv("c.fsdsp-504", r[1]);
	d_kv("c.fsdsp-0", r[0]);
	d_kv("c.fldsp-0", r[2]);
	d_kv("c.fldsp-504", r[3]);
	d_kv("c.fldsp-256", r[4]);
	d_expect("c.fldsp-c.fsdsp", r[1] == snan && r[0] == pat && r[2] == pat && r[3] == snan &&
					r[4] == snan && is_rvc(pcs[0]) && is_rvc(pcs[1]));
}

/* ---- all 32 registers ------------------------------------------------------------------- */

/* clang-format off */
#define FREGS(X)                                                                                   \
	X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)      \
	X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23) X(24) X(25) X(26) X(27) X(28) X(29)        \
	X(30) X(31)
/* clang-format on */
#define FLD_I(i) "fld f" #i ", " #i "*8(%0)\n"
#define FSD_REV(i) "fsd f" #i ", (31-" #i ")*8(%1)\n"
#define FCLOB(i) "f" #i,
#define FADD_I(i)                                                                                  \
	__asm__ volatile(NORVC "fmv.d.x f" #i ", %1\nfadd.d f" #i ", f" #i ", f" #i "\n"           \
			       "fmul.d f" #i ", f" #i ", f" #i "\nfmv.x.d %0, f" #i POP            \
			 : "=r"(r)                                                                 \
			 : "r"(0x3ff0000000000000UL + ((u64)(i) << 52))                            \
			 : "f" #i);                                                                \
	h = mix(h, r);

static void run_regs(void)
{
	u64 src[32], dst[32], h = D_FNV_INIT, r;
	int ok = 1;

	for (unsigned i = 0; i < 32; i++) {
		src[i] = 0x7ff0000000000000UL ^ (i * 0x0101010101010101UL) ^ ((u64)i << 44);
		dst[i] = 0;
	}
	/* each register loaded with its own value, all stored after all loads, in reverse */
	__asm__ volatile(FREGS(FLD_I) FREGS(FSD_REV)
			 :
			 : "r"(src), "r"(dst)
			 : FREGS(FCLOB) "memory");
	for (unsigned i = 0; i < 32; i++) {
		ok &= dst[31 - i] == src[i];
		h = mix(h, dst[i]);
	}
	d_expect("fregs-distinct", ok);
	/* (2 * 2^i)^2 in each register: rd = rs1 = rs2 */
	FREGS(FADD_I)
	d_kv("fregs-arith", h);
}

/* ---- FP state across system calls -------------------------------------------------------- */

static void run_syscall(void)
{
	u64 a, b, c;

	/* fcsr and registers survive getpid and sched_yield */
	__asm__ volatile(NORVC "fscsr %3\nfmv.d.x fs0, %4\nfmv.d.x ft11, %5\n"
			       "li a7, 172\necall\nli a7, 124\necall\n"
			       "frcsr %0\nfmv.x.d %1, fs0\nfmv.x.d %2, ft11" POP
			 : "=&r"(a), "=&r"(b), "=&r"(c)
			 : "r"(0x7bUL), "r"(0xfff0000000000123UL), "r"(0x7ff4000000000000UL)
			 : "a0", "a7", "fs0", "ft11", "memory");
	d_kv("syscall-fcsr", a);
	d_kv("syscall-fs0", b);
	d_kv("syscall-ft11", c);
	d_expect("fp-state-across-syscalls",
		 a == 0x7b && b == 0xfff0000000000123UL && c == 0x7ff4000000000000UL);
	set_fcsr(0);
}

/* ---- reserved rounding modes ------------------------------------------------------------ */

/* One possibly trapping instruction: rd (ft0) preset, fflags cleared, frm set; prints the
 * signal, its code, whether si_addr and the pc are the instruction, ft0 and fflags after. */
#define TRAP_CASE(label, frm, insn)                                                                \
	do {                                                                                       \
		u64 pc_, rd_, fl_;                                                                 \
		d_trap_arm(0);                                                                     \
		__asm__ volatile(NORVC "fsrmi " #frm "\nfmv.d.x ft0, %3\nfmv.d.x ft1, %3\n"        \
				       "fmv.d.x ft2, %3\nfmv.d.x ft3, %3\nfsflags zero\n"          \
				       "la %0, 1f\n1: " insn "\nfrflags %2\nfmv.x.d %1, ft0\n"     \
				       "fsrmi 0" POP                                               \
				 : "=&r"(pc_), "=&r"(rd_), "=&r"(fl_)                              \
				 : "r"(0x3ff8000000000000UL)                                       \
				 : FP_CLOB, "t0");                                                 \
		trap_report(label, pc_, rd_, fl_);                                                 \
	} while (0)

static void trap_report(const char *label, u64 pc, u64 rd, u64 fl)
{
	int trapped = d_trap_sig != 0;

	d_trap_armed = 0;
	d_puts("trap ");
	d_puts(label);
	d_puts(" sig=");
	d_dec((u64)d_trap_sig);
	d_puts(" code=");
	d_sdec(d_trap_code);
	d_puts(" at-insn=");
	d_dec(trapped && d_trap_pc == pc && d_trap_addr == pc);
	d_puts(" rd=");
	d_hex(rd);
	d_puts(" fflags=");
	d_hexn(fl, 2);
	d_putc('\n');
	d_checks++;
}

static void run_traps(void)
{
	/* static rm 5 and 6, encoded by hand: funct3 is the rm field */
	TRAP_CASE("fadd.s-rm5", 0, ".insn r 0x53, 5, 0x00, ft0, ft1, ft2");
	TRAP_CASE("fadd.d-rm6", 0, ".insn r 0x53, 6, 0x01, ft0, ft1, ft2");
	TRAP_CASE("fmul.d-rm5", 0, ".insn r 0x53, 5, 0x09, ft0, ft1, ft2");
	TRAP_CASE("fdiv.s-rm6", 0, ".insn r 0x53, 6, 0x0c, ft0, ft1, ft2");
	TRAP_CASE("fsqrt.d-rm5", 0, ".insn r 0x53, 5, 0x2d, ft0, ft1, f0");
	TRAP_CASE("fmadd.d-rm5", 0, ".insn r4 0x43, 5, 1, ft0, ft1, ft2, ft3");
	TRAP_CASE("fnmadd.s-rm6", 0, ".insn r4 0x4f, 6, 0, ft0, ft1, ft2, ft3");
	TRAP_CASE("fcvt.w.d-rm5", 0, ".insn r 0x53, 5, 0x61, t0, ft1, f0");
	TRAP_CASE("fcvt.s.d-rm6", 0, ".insn r 0x53, 6, 0x20, ft0, ft1, f1");
	TRAP_CASE("fcvt.d.l-rm5", 0, ".insn r 0x53, 5, 0x69, ft0, t0, f2");
	/* the same encodings with a valid static rm run (controls) */
	TRAP_CASE("fadd.d-rm4", 0, ".insn r 0x53, 4, 0x01, ft0, ft1, ft2");
	TRAP_CASE("fmadd.d-rm0", 0, ".insn r4 0x43, 0, 1, ft0, ft1, ft2, ft3");
	/* dyn with frm 5, 6, 7 */
	TRAP_CASE("fadd.s-dyn-frm5", 5, "fadd.s ft0, ft1, ft2, dyn");
	TRAP_CASE("fmul.d-dyn-frm6", 6, "fmul.d ft0, ft1, ft2, dyn");
	TRAP_CASE("fmadd.s-dyn-frm7", 7, "fmadd.s ft0, ft1, ft2, ft3, dyn");
	TRAP_CASE("fsqrt.d-dyn-frm5", 5, "fsqrt.d ft0, ft1, dyn");
	TRAP_CASE("fcvt.l.d-dyn-frm6", 6, "fcvt.l.d t0, ft1, dyn");
	TRAP_CASE("fcvt.s.d-dyn-frm7", 7, "fcvt.s.d ft0, ft1, dyn");
	TRAP_CASE("fcvt.d.lu-dyn-frm5", 5, "fcvt.d.lu ft0, t0, dyn");
	/* a static mode ignores a reserved frm; operations that do not round never trap */
	TRAP_CASE("fadd.d-rtz-frm5", 5, "fadd.d ft0, ft1, ft2, rtz");
	TRAP_CASE("fsgnjn.d-frm6", 6, "fsgnjn.d ft0, ft1, ft2");
	TRAP_CASE("fmax.s-frm7", 7, "fmax.s ft0, ft1, ft2");
	TRAP_CASE("fle.d-frm5", 5, "fle.d t0, ft1, ft2");
	TRAP_CASE("fclass.d-frm6", 6, "fclass.d t0, ft1");
	TRAP_CASE("fmv.x.d-frm7", 7, "fmv.x.d t0, ft1");
	/* and frm itself holds the reserved value */
	u64 v;
	__asm__ volatile("fsrmi 6\nfrrm %0\nfsrmi 0" : "=r"(v)::"memory");
	d_kv("frm-reserved-readback", v);
	d_expect("frm-reserved-readback-6", v == 6);
	set_fcsr(0);
}

int main(void)
{
	d_init();
	set_fcsr(0);
	run_csrs();
	run_nanbox();
	run_rounding();
	run_mem();
	run_regs();
	run_syscall();
	run_traps();
	run_ops();
	d_puts("fp-ops ");
	d_dec(n_ops);
	d_putc('\n');
	return d_done();
}
