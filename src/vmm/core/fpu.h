/* fpu.h - IEEE 754 binary32/binary64 arithmetic as the RISC-V F and D extensions define it.
 *
 * A pure library on integers (docs/fpu.md): no hart, no guest memory, no host FPU state.
 * Values are raw bits in a uint64_t: binary64 as is; binary32 in the low 32 bits (upper bits
 * ignored on input, zero on output: NaN-boxing is the caller's). Every function ORs the
 * exception flags it raises into *flags (accrued, never cleared). Every NaN result is the
 * canonical NaN. Callers resolve the dynamic rounding mode (7) and reject 5 and 6.
 */
#ifndef FERRY_VMM_CORE_FPU_H
#define FERRY_VMM_CORE_FPU_H

#include <stdint.h>

enum fpu_fmt { FPU_S = 0, FPU_D = 1 }; /* the fmt field of OP-FP encodings */
enum fpu_rm { FPU_RNE = 0, FPU_RTZ = 1, FPU_RDN = 2, FPU_RUP = 3, FPU_RMM = 4 };
enum fpu_int { FPU_W = 0, FPU_WU = 1, FPU_L = 2, FPU_LU = 3 }; /* the rs2 field of FCVT */

/* fflags bits */
#define FPU_NX 0x01u
#define FPU_UF 0x02u
#define FPU_OF 0x04u
#define FPU_DZ 0x08u
#define FPU_NV 0x10u

#define FPU_CNAN_S 0x7fc00000u
#define FPU_CNAN_D 0x7ff8000000000000ull

/* FCLASS bits */
#define FPU_CLASS_NINF 0x001u
#define FPU_CLASS_NNORM 0x002u
#define FPU_CLASS_NSUB 0x004u
#define FPU_CLASS_NZERO 0x008u
#define FPU_CLASS_PZERO 0x010u
#define FPU_CLASS_PSUB 0x020u
#define FPU_CLASS_PNORM 0x040u
#define FPU_CLASS_PINF 0x080u
#define FPU_CLASS_SNAN 0x100u
#define FPU_CLASS_QNAN 0x200u

uint64_t fpu_add(enum fpu_fmt f, uint64_t a, uint64_t b, enum fpu_rm rm, unsigned *flags);
uint64_t fpu_sub(enum fpu_fmt f, uint64_t a, uint64_t b, enum fpu_rm rm, unsigned *flags);
uint64_t fpu_mul(enum fpu_fmt f, uint64_t a, uint64_t b, enum fpu_rm rm, unsigned *flags);
uint64_t fpu_div(enum fpu_fmt f, uint64_t a, uint64_t b, enum fpu_rm rm, unsigned *flags);
uint64_t fpu_sqrt(enum fpu_fmt f, uint64_t a, enum fpu_rm rm, unsigned *flags);
/* a*b+c with one rounding; the caller flips sign bits for FMSUB/FNMSUB/FNMADD. */
uint64_t fpu_fma(enum fpu_fmt f, uint64_t a, uint64_t b, uint64_t c, enum fpu_rm rm,
		 unsigned *flags);
/* FMIN/FMAX (minimumNumber/maximumNumber, F 2.2): -0 < +0; one NaN operand gives the other;
 * two give the canonical NaN; NV if either is a signalling NaN. */
uint64_t fpu_min(enum fpu_fmt f, uint64_t a, uint64_t b, unsigned *flags);
uint64_t fpu_max(enum fpu_fmt f, uint64_t a, uint64_t b, unsigned *flags);
int fpu_eq(enum fpu_fmt f, uint64_t a, uint64_t b, unsigned *flags); /* quiet: NV only for sNaN */
int fpu_lt(enum fpu_fmt f, uint64_t a, uint64_t b, unsigned *flags); /* signalling: NV for NaN */
int fpu_le(enum fpu_fmt f, uint64_t a, uint64_t b, unsigned *flags);
unsigned fpu_class(enum fpu_fmt f, uint64_t a); /* FCLASS's 10-bit mask */
/* FCVT.{W,WU,L,LU}.fmt; W and WU results sign-extended from bit 31. */
uint64_t fpu_to_int(enum fpu_fmt f, uint64_t a, enum fpu_int k, enum fpu_rm rm, unsigned *flags);
/* FCVT.fmt.{W,WU,L,LU}; W and WU take the low 32 bits of v. */
uint64_t fpu_from_int(enum fpu_fmt f, uint64_t v, enum fpu_int k, enum fpu_rm rm, unsigned *flags);
/* FCVT.S.D and FCVT.D.S */
uint64_t fpu_cvt(enum fpu_fmt to, enum fpu_fmt from, uint64_t a, enum fpu_rm rm, unsigned *flags);

#endif
