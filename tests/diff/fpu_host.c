/* fpu_host.c - the host side of the FPU differential (tests/diff/fpu.sh): generates the records
 * and checks the reference's results against src/vmm/core/fpu.c.
 *
 *   fpu_host gen N SEED             N records (struct fpu_rec, fpu_ops.h) on stdout
 *   fpu_host check N SEED <RESULTS  the same N records again, each run through fpu.c and
 *                                   compared bit for bit (result and fflags) with the
 *                                   reference's struct fpu_res on stdin
 *
 * check prints each mismatch (the first MAX_PRINT in full), a line per operation and format,
 * "fpu-diff: G passed, F failed" over those groups and, last, "fpu-diff: N records,
 * M mismatches"; it exits 1 if there was a mismatch, 2 if it could not run.
 *
 * Operands are drawn from classes (random bits, zeros, infinities, quiet and signalling NaNs
 * with payloads, subnormals, values near the smallest normal and near overflow, values near
 * 1, short significands that make ties, the conversion boundaries +-2^31, 2^32, 2^63, 2^64 in
 * steps of 0.5 and ulps), and the second and third operands are often made from the first:
 * the same exponent (cancellation), shifted exponents (alignment, sticky bits, ties), products
 * and quotients aimed at the underflow and overflow thresholds, FMA addends that cancel the
 * product. S operands carry random upper bits now and then (fpu.c and FMV.W.X both ignore
 * them).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpu_ops.h"
#include "vmm/core/fpu.h"

#define MAX_PRINT 100

static const char *const op_names[OP_COUNT] = {
#define FPU_OP_NAME(n, s) s,
	FPU_OPS(FPU_OP_NAME)
#undef FPU_OP_NAME
};

static const char *const rm_names[8] = { "rne", "rtz", "rdn", "rup", "rmm", "rm5", "rm6", "dyn" };

/* ---- random numbers (splitmix64) --------------------------------------------------------- */

static uint64_t rng;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned rn(unsigned n)
{
	return (unsigned)(rnd() % n);
}

/* ---- operand classes ----------------------------------------------------------------------- */

struct fi {
	unsigned w, fb, eb;
	int bias;
	unsigned p;
};

static const struct fi fis[2] = { { 32, 23, 8, 127, 24 }, { 64, 52, 11, 1023, 53 } };

static uint64_t fmask(const struct fi *F)
{
	return F->w == 64 ? ~0ull : (1ull << F->w) - 1;
}

static uint64_t emaxf(const struct fi *F)
{
	return (1ull << F->eb) - 1;
}

static uint64_t fracmask(const struct fi *F)
{
	return (1ull << F->fb) - 1;
}

static uint64_t mk(const struct fi *F, unsigned s, uint64_t ex, uint64_t frac)
{
	return (uint64_t)s << (F->w - 1) | (ex & emaxf(F)) << F->fb | (frac & fracmask(F));
}

static uint64_t expof(const struct fi *F, uint64_t x)
{
	return x >> F->fb & emaxf(F);
}

static uint64_t frac_pattern(const struct fi *F)
{
	uint64_t fm = fracmask(F);

	switch (rn(9)) {
	case 0:
	case 1:
		return rnd() & fm;
	case 2:
		return fm; /* all ones: rounding carries */
	case 3:
		return 0; /* a power of two */
	case 4:		  /* a short significand: products and sums land on ties */
		return rnd() & fm & ~(fm >> (1 + rn(F->fb)));
	case 5: /* ones at the bottom */
		return (rnd() & fm) | ((1ull << rn(F->fb)) - 1);
	case 6: /* the last bit, perhaps the first */
		return 1 | (rn(2) ? 1ull << (F->fb - 1) : 0);
	case 7: /* all ones but a few low bits */
		return fm & ~((1ull << rn(8)) - 1);
	default: /* a single bit */
		return 1ull << rn(F->fb);
	}
}

/* A value near a conversion boundary: +-2^k (k among 0, 24, 31, 32, 53, 63, 64) plus steps of
 * 0.5, or plus a few ulps; or a small value with halves (ties for RNE and RMM). */
static uint64_t boundary(const struct fi *F)
{
	static const int ks[] = { 0, 1, 24, 31, 31, 32, 32, 53, 63, 63, 64, 64 };
	double v;
	uint64_t bits;

	if (rn(4) == 0) {
		v = (double)((int)rn(17) - 8) * 0.5 + (rn(4) == 0 ? (double)(rn(8)) * 0.125 : 0);
	} else {
		v = ldexp(1.0, ks[rn(sizeof(ks) / sizeof(ks[0]))]);
		if (rn(2))
			v = -v;
		if (rn(2))
			v += (double)((int)rn(9) - 4) * 0.5;
	}
	if (F->w == 32) {
		float f = (float)v;
		uint32_t u;

		memcpy(&u, &f, 4);
		bits = u;
	} else {
		memcpy(&bits, &v, 8);
	}
	if (rn(3) == 0 && (bits << 1) != 0) /* a few ulps off */
		bits += (uint64_t)((int64_t)rn(7) - 3);
	return bits & fmask(F);
}

static uint64_t gen_val(const struct fi *F)
{
	unsigned s = rn(2);
	uint64_t fm = fracmask(F), x;

	switch (rn(17)) {
	case 0:
	case 1:
		return rnd() & fmask(F);
	case 2:
		return mk(F, s, 0, 0);
	case 3:
		return mk(F, s, emaxf(F), 0);
	case 4: /* quiet NaN, perhaps with a payload */
		return mk(F, s, emaxf(F), 1ull << (F->fb - 1) | (rn(2) ? rnd() & fm : 0));
	case 5: /* signalling NaN with a payload */
		x = rnd() & (fm >> 1);
		return mk(F, s, emaxf(F), x ? x : 1ull << rn(F->fb - 1));
	case 6:
	case 7: /* subnormal */
		x = frac_pattern(F);
		return mk(F, s, 0, x ? x : 1);
	case 8: /* near the smallest normal */
		return mk(F, s, 1 + rn(3), frac_pattern(F));
	case 9: /* near overflow */
		return mk(F, s, emaxf(F) - 1 - rn(3), frac_pattern(F));
	case 10:
	case 11: /* near 1 */
		return mk(F, s, (uint64_t)F->bias - 3 + rn(7), frac_pattern(F));
	case 12:
	case 13: /* any exponent */
		return mk(F, s, 1 + rnd() % (emaxf(F) - 1), frac_pattern(F));
	case 14: { /* extremes */
		const uint64_t c[] = { 1, fm, fm + 1, mk(F, 0, emaxf(F) - 1, fm),
				       mk(F, 0, (uint64_t)F->bias, 0) };
		return c[rn(5)] | (uint64_t)s << (F->w - 1);
	}
	default:
		return boundary(F);
	}
}

/* A normal or subnormal with the given exponent field (clamped), random significand. */
static uint64_t with_exp(const struct fi *F, long ex)
{
	unsigned s = rn(2);

	if (ex <= 0)
		return mk(F, s, 0, frac_pattern(F) | 1);
	if (ex >= (long)emaxf(F))
		ex = (long)emaxf(F) - 1;
	return mk(F, s, (uint64_t)ex, frac_pattern(F));
}

/* An exponent field for a result: the subnormal range and the smallest normals, or the
 * largest exponents and just beyond, or anywhere. */
static long target_exp(const struct fi *F)
{
	switch (rn(3)) {
	case 0:
		return 3 - (long)rn(F->p + 6);
	case 1:
		return (long)emaxf(F) - 3 + (long)rn(5);
	default:
		return (long)(rnd() % emaxf(F));
	}
}

/* A threshold a result is aimed at: the smallest normal a few ulps either side (tininess
 * before and after rounding differ there), or the largest finite number, signed. */
static uint64_t threshold(const struct fi *F)
{
	uint64_t t;

	if (rn(3))
		t = fracmask(F) + 1 + (uint64_t)((int64_t)rn(7) - 3);
	else
		t = mk(F, 0, emaxf(F) - 1, fracmask(F)) - rn(3);
	return t | (uint64_t)rn(2) << (F->w - 1);
}

static uint64_t garbage_upper(const struct fi *F, uint64_t x)
{
	if (F->w == 32 && rn(8) == 0)
		x |= rnd() << 32;
	return x;
}

static uint64_t gen_int(unsigned p)
{
	uint64_t v;

	switch (rn(8)) {
	case 0:
		v = rnd();
		break;
	case 1: { /* k significant bits anywhere: rounding at and around the precision */
		unsigned k = p - 2 + rn(6), at = rn(64 - k + 1);

		v = ((rnd() & ((1ull << k) - 1)) | 1ull << (k - 1)) << at;
		break;
	}
	case 2: { /* an exact tie: an odd number of p+1 bits, shifted */
		unsigned at = rn(64 - p);

		v = ((rnd() & ((1ull << p) - 1)) | 1ull << p | 1) << at;
		break;
	}
	case 3: {
		const uint64_t c[] = { 0,
				       1,
				       ~0ull,
				       0x7fffffff,
				       0x80000000,
				       0xffffffff,
				       0x7fffffffffffffff,
				       0x8000000000000000,
				       1ull << p,
				       (1ull << p) + 1,
				       (1ull << p) - 1 };
		v = c[rn(sizeof(c) / sizeof(c[0]))];
		break;
	}
	case 4:
		v = rnd() >> rn(64);
		break;
	case 5: /* 32-bit values with random upper bits */
		v = (rnd() << 32) | (rnd() >> rn(32) & 0xffffffff);
		break;
	default:
		v = rnd() >> rn(64);
		v = 0 - v;
		break;
	}
	return v;
}

static void gen(struct fpu_rec *q)
{
	const struct fi *F, *G;
	unsigned r = rn(16);

	memset(q, 0, sizeof(*q));
	q->op = (uint8_t)rn(OP_COUNT);
	q->fmt = (uint8_t)rn(2);
	q->rm = (uint8_t)(rn(5) | (rn(8) == 0 ? FPU_REC_DYN : 0));
	F = &fis[q->fmt];
	q->a = gen_val(F);
	q->b = gen_val(F);
	q->c = gen_val(F);
	switch (q->op) {
	case OP_ADD:
	case OP_SUB:
		if (r < 5) /* same or nearby exponent: cancellation */
			q->b = mk(F, rn(2), expof(F, q->a) + 2 - rn(5), frac_pattern(F));
		else if (r < 10) /* shifted: alignment, sticky bits, ties */
			q->b = with_exp(F, (long)expof(F, q->a) - (long)rn(F->p + 4));
		else if (r < 12) /* +-a, a with its low bits changed */
			q->b = rn(2) ? q->a ^ (uint64_t)rn(2) << (F->w - 1) : q->a ^ (rnd() & 0xff);
		break;
	case OP_MUL:
	case OP_MADD:
	case OP_MSUB:
	case OP_NMSUB:
	case OP_NMADD:
		if (r < 5) { /* the product aimed at the underflow or overflow thresholds */
			q->b = with_exp(F, target_exp(F) - (long)expof(F, q->a) + F->bias);
		} else if (r < 9 && q->op == OP_MUL) { /* within an ulp or so of one */
			unsigned fl = 0;

			q->b = fpu_div(q->fmt, threshold(F), q->a, (enum fpu_rm)rn(5), &fl);
		}
		if (q->op != OP_MUL) {
			unsigned fl = 0, t = rn(8);
			uint64_t prod = fpu_mul(q->fmt, q->a, q->b, (enum fpu_rm)rn(5), &fl);

			if (t < 3) /* cancels the product, or nearly */
				q->c = (prod ^ 1ull << (F->w - 1)) + (uint64_t)((int64_t)rn(5) - 2);
			else if (t < 4) /* the sum near a threshold */
				q->c = fpu_sub(q->fmt, threshold(F), prod, (enum fpu_rm)rn(5), &fl);
			else if (t < 5) /* smaller than the product: alignment, sticky, ties */
				q->c = with_exp(F, (long)expof(F, prod) - (long)rn(2 * F->p + 4));
			q->c &= fmask(F);
		}
		break;
	case OP_DIV:
		if (r < 5) { /* the quotient aimed at the thresholds */
			q->b = with_exp(F, (long)expof(F, q->a) - target_exp(F) + F->bias);
		} else if (r < 8) { /* within an ulp or so of one */
			unsigned fl = 0;

			q->b = fpu_div(q->fmt, q->a, threshold(F), (enum fpu_rm)rn(5), &fl);
		} else if (r < 10) {
			q->b = q->a ^ (rnd() & 0xf);
		}
		break;
	case OP_SQRT:
		if (r < 4) { /* a square, or next to one */
			unsigned fl = 0;
			uint64_t h = mk(F, 0, 1 + rnd() % (emaxf(F) - 1),
					rnd() & fracmask(F) & ~(fracmask(F) >> (F->p / 2)));

			q->a = fpu_mul(q->fmt, h, h, FPU_RNE, &fl) + (uint64_t)((int64_t)rn(3) - 1);
		} else if (r < 6) {
			q->a = with_exp(F, (long)rn(3)) & ~(1ull << (F->w - 1));
		}
		break;
	case OP_MIN:
	case OP_MAX:
	case OP_EQ:
	case OP_LT:
	case OP_LE:
		if (r < 3)
			q->b = q->a;
		else if (r < 6)
			q->b = q->a ^ 1ull << (F->w - 1);
		else if (r < 8)
			q->b = q->a ^ (rnd() & 3);
		else if (r < 10)
			q->b = mk(F, rn(2), 0, 0);
		break;
	case OP_TO_W:
	case OP_TO_WU:
	case OP_TO_L:
	case OP_TO_LU:
		if (r < 10)
			q->a = boundary(F);
		break;
	case OP_FROM_W:
	case OP_FROM_WU:
	case OP_FROM_L:
	case OP_FROM_LU:
		q->a = gen_int(F->p);
		break;
	case OP_CVT:
		G = &fis[!q->fmt]; /* the source format */
		q->a = gen_val(G);
		if (q->fmt == 0 && r < 10) { /* D to S: around S's range and its ties */
			long e;
			uint64_t frac = rnd() & fracmask(G);

			switch (rn(4)) {
			case 0:
				e = 1023 - 126 - (long)rn(28);
				break;
			case 3: /* just below S's smallest normal */
				e = 1023 - 127;
				frac |= fracmask(G) & ~(fracmask(G) >> (20 + rn(12)));
				break;
			case 1:
				e = 1023 + 126 + (long)rn(3);
				break;
			default:
				e = 1023 - 3 + (long)rn(7);
				break;
			}
			if (rn(2)) { /* at, or an ulp beside, S's half-way point */
				frac &= ~((1ull << 29) - 1);
				frac |= 1ull << 28;
				frac += (uint64_t)((int64_t)rn(3) - 1);
			}
			q->a = mk(G, rn(2), (uint64_t)e, frac);
		}
		q->a = garbage_upper(G, q->a);
		return;
	default:
		break;
	}
	q->a = garbage_upper(F, q->a);
	q->b = garbage_upper(F, q->b);
	q->c = garbage_upper(F, q->c);
}

/* ---- fpu.c's answer ------------------------------------------------------------------------ */

static struct fpu_res ours(const struct fpu_rec *q)
{
	enum fpu_fmt f = q->fmt ? FPU_D : FPU_S;
	enum fpu_rm rm = (enum fpu_rm)(q->rm & 7);
	uint64_t sb = f == FPU_D ? 1ull << 63 : 1ull << 31, a = q->a, b = q->b, c = q->c, r = 0;
	unsigned fl = 0;
	struct fpu_res o;

	switch (q->op) {
	case OP_ADD:
		r = fpu_add(f, a, b, rm, &fl);
		break;
	case OP_SUB:
		r = fpu_sub(f, a, b, rm, &fl);
		break;
	case OP_MUL:
		r = fpu_mul(f, a, b, rm, &fl);
		break;
	case OP_DIV:
		r = fpu_div(f, a, b, rm, &fl);
		break;
	case OP_SQRT:
		r = fpu_sqrt(f, a, rm, &fl);
		break;
	case OP_MADD: /* (a*b)+c */
		r = fpu_fma(f, a, b, c, rm, &fl);
		break;
	case OP_MSUB: /* (a*b)-c */
		r = fpu_fma(f, a, b, c ^ sb, rm, &fl);
		break;
	case OP_NMSUB: /* -(a*b)+c */
		r = fpu_fma(f, a ^ sb, b, c, rm, &fl);
		break;
	case OP_NMADD: /* -(a*b)-c */
		r = fpu_fma(f, a ^ sb, b, c ^ sb, rm, &fl);
		break;
	case OP_MIN:
		r = fpu_min(f, a, b, &fl);
		break;
	case OP_MAX:
		r = fpu_max(f, a, b, &fl);
		break;
	case OP_EQ:
		r = (uint64_t)fpu_eq(f, a, b, &fl);
		break;
	case OP_LT:
		r = (uint64_t)fpu_lt(f, a, b, &fl);
		break;
	case OP_LE:
		r = (uint64_t)fpu_le(f, a, b, &fl);
		break;
	case OP_CLASS:
		r = fpu_class(f, a);
		break;
	case OP_TO_W:
	case OP_TO_WU:
	case OP_TO_L:
	case OP_TO_LU:
		r = fpu_to_int(f, a, (enum fpu_int)(q->op - OP_TO_W), rm, &fl);
		break;
	case OP_FROM_W:
	case OP_FROM_WU:
	case OP_FROM_L:
	case OP_FROM_LU:
		r = fpu_from_int(f, a, (enum fpu_int)(q->op - OP_FROM_W), rm, &fl);
		break;
	case OP_CVT:
		r = fpu_cvt(f, f == FPU_D ? FPU_S : FPU_D, a, rm, &fl);
		break;
	default:
		break;
	}
	o.r = r;
	o.flags = fl;
	return o;
}

/* Cases where QEMU and the ISA manual disagree, so that the manual decides: each returns the
 * manual's section when the record is one. None are known (docs/fpu.md). */
static const char *allowed(const struct fpu_rec *q, const struct fpu_res *ref,
			   const struct fpu_res *sub)
{
	(void)q;
	(void)ref;
	(void)sub;
	return NULL;
}

static void flag_names(char *buf, uint64_t fl)
{
	static const char *const n[5] = { "NX", "UF", "OF", "DZ", "NV" };

	buf[0] = 0;
	for (int i = 4; i >= 0; i--) {
		if (fl >> i & 1) {
			if (buf[0])
				strcat(buf, "|");
			strcat(buf, n[i]);
		}
	}
	if (!buf[0])
		strcpy(buf, "-");
	if (fl >> 5)
		strcat(buf, "|?");
}

static int check(unsigned long long n)
{
	static unsigned long long count[OP_COUNT][2], bad[OP_COUNT][2];
	unsigned long long mism = 0, allow = 0, printed = 0;
	unsigned groups_ok = 0, groups_bad = 0;

	for (unsigned long long i = 0; i < n; i++) {
		struct fpu_rec q;
		struct fpu_res ref, sub;
		const char *why;

		gen(&q);
		if (fread(&ref, sizeof(ref), 1, stdin) != 1) {
			fprintf(stderr, "fpu_host: only %llu of %llu results from the reference\n",
				i, n);
			printf("fpu-diff: short read from the reference after %llu records\n", i);
			return 2;
		}
		sub = ours(&q);
		count[q.op][q.fmt]++;
		if (ref.r == sub.r && ref.flags == sub.flags)
			continue;
		why = allowed(&q, &ref, &sub);
		if (why) {
			allow++;
			continue;
		}
		mism++;
		bad[q.op][q.fmt]++;
		if (printed++ < MAX_PRINT) {
			char f1[32], f2[32];

			flag_names(f1, ref.flags);
			flag_names(f2, sub.flags);
			printf("mismatch: record %llu %s.%s rm=%s%s a=%#" PRIx64 " b=%#" PRIx64
			       " c=%#" PRIx64 ": qemu %#" PRIx64 " %s, fpu.c %#" PRIx64 " %s\n",
			       i, op_names[q.op], q.fmt ? "d" : "s", rm_names[q.rm & 7],
			       q.rm & FPU_REC_DYN ? "(frm)" : "", q.a, q.b, q.c, ref.r, f1, sub.r,
			       f2);
		}
	}
	if (fread(&(struct fpu_res){ 0, 0 }, sizeof(struct fpu_res), 1, stdin) == 1) {
		printf("fpu-diff: the reference wrote more than %llu results\n", n);
		return 2;
	}
	if (printed > MAX_PRINT)
		printf("(%llu more mismatches not shown)\n", printed - MAX_PRINT);
	for (unsigned op = 0; op < OP_COUNT; op++) {
		for (unsigned f = 0; f < 2; f++) {
			printf("%s %s.%s: %llu records, %llu mismatches\n",
			       bad[op][f] ? "FAIL" : "ok", op_names[op], f ? "d" : "s",
			       count[op][f], bad[op][f]);
			if (bad[op][f] || count[op][f] == 0)
				groups_bad++;
			else
				groups_ok++;
		}
	}
	if (allow)
		printf("fpu-diff: %llu records differed as the allow-list says\n", allow);
	printf("fpu-diff: %u passed, %u failed\n", groups_ok, groups_bad);
	printf("fpu-diff: %llu records, %llu mismatches\n", n, mism);
	return mism || groups_bad ? 1 : 0;
}

static int generate(unsigned long long n)
{
	static struct fpu_rec buf[4096];
	size_t k = 0;

	for (unsigned long long i = 0; i < n; i++) {
		gen(&buf[k++]);
		if (k == sizeof(buf) / sizeof(buf[0]) || i + 1 == n) {
			if (fwrite(buf, sizeof(buf[0]), k, stdout) != k) {
				perror("fpu_host: write");
				return 2;
			}
			k = 0;
		}
	}
	return fflush(stdout) == 0 ? 0 : 2;
}

int main(int argc, char **argv)
{
	unsigned long long n;
	char *end;

	if (argc != 4 || (strcmp(argv[1], "gen") != 0 && strcmp(argv[1], "check") != 0)) {
		fprintf(stderr, "usage: fpu_host gen|check N SEED\n");
		return 2;
	}
	n = strtoull(argv[2], &end, 0);
	if (*end || n == 0) {
		fprintf(stderr, "fpu_host: bad record count %s\n", argv[2]);
		return 2;
	}
	rng = strtoull(argv[3], &end, 0);
	if (*end) {
		fprintf(stderr, "fpu_host: bad seed %s\n", argv[3]);
		return 2;
	}
	return strcmp(argv[1], "gen") == 0 ? generate(n) : check(n);
}
