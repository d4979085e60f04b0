/* fpu_ops.h - the records of the FPU differential (tests/diff/fpu.sh), shared by the riscv64
 * program that runs the real instructions (fpu_rv.c) and the host program (fpu_host.c).
 *
 * A record is 32 bytes, little-endian: op, fmt (0 S, 1 D), rm (0-4 the instruction's static
 * rounding mode; with FPU_REC_DYN set, frm is set to rm and the instruction says dyn), five
 * bytes of padding, then the operands a, b, c as raw bits (S in the low 32 bits; integers for
 * the FROM_* conversions in a). A result is 16 bytes: the destination register's value (for
 * S results the low 32 bits, the NaN-boxing cut off) and fflags.
 */
#ifndef FERRY_TESTS_DIFF_FPU_OPS_H
#define FERRY_TESTS_DIFF_FPU_OPS_H

#include <stdint.h>

/* X(name, mnemonic stem) in record order */
#define FPU_OPS(X)                                                                                 \
	X(ADD, "fadd")                                                                             \
	X(SUB, "fsub")                                                                             \
	X(MUL, "fmul")                                                                             \
	X(DIV, "fdiv")                                                                             \
	X(SQRT, "fsqrt")                                                                           \
	X(MADD, "fmadd")                                                                           \
	X(MSUB, "fmsub")                                                                           \
	X(NMSUB, "fnmsub")                                                                         \
	X(NMADD, "fnmadd")                                                                         \
	X(MIN, "fmin")                                                                             \
	X(MAX, "fmax")                                                                             \
	X(EQ, "feq")                                                                               \
	X(LT, "flt")                                                                               \
	X(LE, "fle")                                                                               \
	X(CLASS, "fclass")                                                                         \
	X(TO_W, "fcvt.w")                                                                          \
	X(TO_WU, "fcvt.wu")                                                                        \
	X(TO_L, "fcvt.l")                                                                          \
	X(TO_LU, "fcvt.lu")                                                                        \
	X(FROM_W, "fcvt.from.w")                                                                   \
	X(FROM_WU, "fcvt.from.wu")                                                                 \
	X(FROM_L, "fcvt.from.l")                                                                   \
	X(FROM_LU, "fcvt.from.lu")                                                                 \
	X(CVT, "fcvt.fmt.other")

enum fpu_op {
#define FPU_OP_ENUM(n, s) OP_##n,
	FPU_OPS(FPU_OP_ENUM)
#undef FPU_OP_ENUM
	    OP_COUNT
};

#define FPU_REC_DYN 0x08u

struct fpu_rec {
	uint8_t op;
	uint8_t fmt;
	uint8_t rm;
	uint8_t pad[5];
	uint64_t a, b, c;
};

struct fpu_res {
	uint64_t r;
	uint64_t flags;
};

#endif
