/* fpu_rv.c - the reference side of the FPU differential (tests/diff/fpu.sh): a static riscv64
 * Linux program, run under qemu-riscv64, that executes each record's real F/D instruction.
 *
 * It reads struct fpu_rec records (fpu_ops.h) on stdin and writes one struct fpu_res per record
 * on stdout. For each record: fflags cleared (fsflags), the operands moved into ft0-ft2 (FMV.W.X
 * or FMV.D.X; integer operands stay in an x register), the instruction, the result moved out
 * (FMV.X.W or FMV.X.D) and fflags read (frflags), all in one asm statement. The rounding mode
 * is the instruction's static rm field: one asm per op and rm; with FPU_REC_DYN the program
 * sets frm with fsrm and the instruction says dyn. The conversions that are always exact
 * (FCVT.D.W, FCVT.D.WU, FCVT.D.S), which the assembler only accepts without an rm, are
 * written with .insn so that their rm field too is the record's.
 *
 * Build: riscv64-linux-gnu-gcc -static -O2 -march=rv64gc -mabi=lp64d fpu_rv.c
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fpu_ops.h"

#define LD_S "fmv.w.x ft0, %2\n\tfmv.w.x ft1, %3\n\tfmv.w.x ft2, %4\n\t"
#define LD_D "fmv.d.x ft0, %2\n\tfmv.d.x ft1, %3\n\tfmv.d.x ft2, %4\n\t"
#define ST_S "\n\tfmv.x.w %0, ft3"
#define ST_D "\n\tfmv.x.d %0, ft3"
#define ST_X ""

#define RUN(ld, insn, st)                                                                          \
	asm volatile("fsflags zero\n\t" ld insn st "\n\tfrflags %1"                                \
		     : "=&r"(r), "=&r"(fl)                                                         \
		     : "r"(a), "r"(b), "r"(c)                                                      \
		     : "ft0", "ft1", "ft2", "ft3")

/* One asm per rounding mode: X(mnemonic, funct3 digit, ...) */
#define RM_CASES(X, ...)                                                                           \
	switch (rm) {                                                                              \
	case 0:                                                                                    \
		X("rne", "0", __VA_ARGS__);                                                        \
		break;                                                                             \
	case 1:                                                                                    \
		X("rtz", "1", __VA_ARGS__);                                                        \
		break;                                                                             \
	case 2:                                                                                    \
		X("rdn", "2", __VA_ARGS__);                                                        \
		break;                                                                             \
	case 3:                                                                                    \
		X("rup", "3", __VA_ARGS__);                                                        \
		break;                                                                             \
	case 4:                                                                                    \
		X("rmm", "4", __VA_ARGS__);                                                        \
		break;                                                                             \
	default:                                                                                   \
		X("dyn", "7", __VA_ARGS__);                                                        \
		break;                                                                             \
	}
/* the mnemonic's rm operand last */
#define RND(n, k, insn, ld, st) RUN(ld, insn n, st)
/* the rm field as .insn's funct3 */
#define NUM(n, k, pre, post, ld, st) RUN(ld, pre k post, st)

#define K(op, fmt) ((op)*2 + (fmt))

/* Returns 0, or -1 for an unknown record. */
static int exec(const struct fpu_rec *q, struct fpu_res *o)
{
	uint64_t a = q->a, b = q->b, c = q->c, r = 0, fl = 0;
	unsigned rm = q->rm & 7u;
	int s_result = q->fmt == 0; /* an S value in an f register: cut off the NaN-boxing */

	if (q->rm & FPU_REC_DYN) {
		asm volatile("fsrm %0" : : "r"((uint64_t)rm));
		rm = 7;
	}
	switch (K(q->op, q->fmt)) {
	case K(OP_ADD, 0):
		RM_CASES(RND, "fadd.s ft3, ft0, ft1, ", LD_S, ST_S);
		break;
	case K(OP_ADD, 1):
		RM_CASES(RND, "fadd.d ft3, ft0, ft1, ", LD_D, ST_D);
		break;
	case K(OP_SUB, 0):
		RM_CASES(RND, "fsub.s ft3, ft0, ft1, ", LD_S, ST_S);
		break;
	case K(OP_SUB, 1):
		RM_CASES(RND, "fsub.d ft3, ft0, ft1, ", LD_D, ST_D);
		break;
	case K(OP_MUL, 0):
		RM_CASES(RND, "fmul.s ft3, ft0, ft1, ", LD_S, ST_S);
		break;
	case K(OP_MUL, 1):
		RM_CASES(RND, "fmul.d ft3, ft0, ft1, ", LD_D, ST_D);
		break;
	case K(OP_DIV, 0):
		RM_CASES(RND, "fdiv.s ft3, ft0, ft1, ", LD_S, ST_S);
		break;
	case K(OP_DIV, 1):
		RM_CASES(RND, "fdiv.d ft3, ft0, ft1, ", LD_D, ST_D);
		break;
	case K(OP_SQRT, 0):
		RM_CASES(RND, "fsqrt.s ft3, ft0, ", LD_S, ST_S);
		break;
	case K(OP_SQRT, 1):
		RM_CASES(RND, "fsqrt.d ft3, ft0, ", LD_D, ST_D);
		break;
	case K(OP_MADD, 0):
		RM_CASES(RND, "fmadd.s ft3, ft0, ft1, ft2, ", LD_S, ST_S);
		break;
	case K(OP_MADD, 1):
		RM_CASES(RND, "fmadd.d ft3, ft0, ft1, ft2, ", LD_D, ST_D);
		break;
	case K(OP_MSUB, 0):
		RM_CASES(RND, "fmsub.s ft3, ft0, ft1, ft2, ", LD_S, ST_S);
		break;
	case K(OP_MSUB, 1):
		RM_CASES(RND, "fmsub.d ft3, ft0, ft1, ft2, ", LD_D, ST_D);
		break;
	case K(OP_NMSUB, 0):
		RM_CASES(RND, "fnmsub.s ft3, ft0, ft1, ft2, ", LD_S, ST_S);
		break;
	case K(OP_NMSUB, 1):
		RM_CASES(RND, "fnmsub.d ft3, ft0, ft1, ft2, ", LD_D, ST_D);
		break;
	case K(OP_NMADD, 0):
		RM_CASES(RND, "fnmadd.s ft3, ft0, ft1, ft2, ", LD_S, ST_S);
		break;
	case K(OP_NMADD, 1):
		RM_CASES(RND, "fnmadd.d ft3, ft0, ft1, ft2, ", LD_D, ST_D);
		break;
	case K(OP_MIN, 0):
		RUN(LD_S, "fmin.s ft3, ft0, ft1", ST_S);
		break;
	case K(OP_MIN, 1):
		RUN(LD_D, "fmin.d ft3, ft0, ft1", ST_D);
		break;
	case K(OP_MAX, 0):
		RUN(LD_S, "fmax.s ft3, ft0, ft1", ST_S);
		break;
	case K(OP_MAX, 1):
		RUN(LD_D, "fmax.d ft3, ft0, ft1", ST_D);
		break;
	case K(OP_EQ, 0):
		RUN(LD_S, "feq.s %0, ft0, ft1", ST_X);
		s_result = 0;
		break;
	case K(OP_EQ, 1):
		RUN(LD_D, "feq.d %0, ft0, ft1", ST_X);
		break;
	case K(OP_LT, 0):
		RUN(LD_S, "flt.s %0, ft0, ft1", ST_X);
		s_result = 0;
		break;
	case K(OP_LT, 1):
		RUN(LD_D, "flt.d %0, ft0, ft1", ST_X);
		break;
	case K(OP_LE, 0):
		RUN(LD_S, "fle.s %0, ft0, ft1", ST_X);
		s_result = 0;
		break;
	case K(OP_LE, 1):
		RUN(LD_D, "fle.d %0, ft0, ft1", ST_X);
		break;
	case K(OP_CLASS, 0):
		RUN(LD_S, "fclass.s %0, ft0", ST_X);
		s_result = 0;
		break;
	case K(OP_CLASS, 1):
		RUN(LD_D, "fclass.d %0, ft0", ST_X);
		break;
	case K(OP_TO_W, 0):
		RM_CASES(RND, "fcvt.w.s %0, ft0, ", LD_S, ST_X);
		s_result = 0;
		break;
	case K(OP_TO_W, 1):
		RM_CASES(RND, "fcvt.w.d %0, ft0, ", LD_D, ST_X);
		break;
	case K(OP_TO_WU, 0):
		RM_CASES(RND, "fcvt.wu.s %0, ft0, ", LD_S, ST_X);
		s_result = 0;
		break;
	case K(OP_TO_WU, 1):
		RM_CASES(RND, "fcvt.wu.d %0, ft0, ", LD_D, ST_X);
		break;
	case K(OP_TO_L, 0):
		RM_CASES(RND, "fcvt.l.s %0, ft0, ", LD_S, ST_X);
		s_result = 0;
		break;
	case K(OP_TO_L, 1):
		RM_CASES(RND, "fcvt.l.d %0, ft0, ", LD_D, ST_X);
		break;
	case K(OP_TO_LU, 0):
		RM_CASES(RND, "fcvt.lu.s %0, ft0, ", LD_S, ST_X);
		s_result = 0;
		break;
	case K(OP_TO_LU, 1):
		RM_CASES(RND, "fcvt.lu.d %0, ft0, ", LD_D, ST_X);
		break;
	case K(OP_FROM_W, 0):
		RM_CASES(RND, "fcvt.s.w ft3, %2, ", LD_S, ST_S);
		break;
	case K(OP_FROM_W, 1): /* FCVT.D.W: funct7 0x69, rs2 0 */
		RM_CASES(NUM, ".insn r 0x53, ", ", 0x69, ft3, %2, x0", LD_D, ST_D);
		break;
	case K(OP_FROM_WU, 0):
		RM_CASES(RND, "fcvt.s.wu ft3, %2, ", LD_S, ST_S);
		break;
	case K(OP_FROM_WU, 1): /* FCVT.D.WU: funct7 0x69, rs2 1 */
		RM_CASES(NUM, ".insn r 0x53, ", ", 0x69, ft3, %2, x1", LD_D, ST_D);
		break;
	case K(OP_FROM_L, 0):
		RM_CASES(RND, "fcvt.s.l ft3, %2, ", LD_S, ST_S);
		break;
	case K(OP_FROM_L, 1):
		RM_CASES(RND, "fcvt.d.l ft3, %2, ", LD_D, ST_D);
		break;
	case K(OP_FROM_LU, 0):
		RM_CASES(RND, "fcvt.s.lu ft3, %2, ", LD_S, ST_S);
		break;
	case K(OP_FROM_LU, 1):
		RM_CASES(RND, "fcvt.d.lu ft3, %2, ", LD_D, ST_D);
		break;
	case K(OP_CVT, 0): /* FCVT.S.D: a is a double */
		RM_CASES(RND, "fcvt.s.d ft3, ft0, ", LD_D, ST_S);
		break;
	case K(OP_CVT, 1): /* FCVT.D.S: funct7 0x21, rs2 0; a is a single */
		RM_CASES(NUM, ".insn r 0x53, ", ", 0x21, ft3, ft0, x0", LD_S, ST_D);
		break;
	default:
		return -1;
	}
	o->r = s_result ? r & 0xffffffffull : r;
	o->flags = fl;
	return 0;
}

int main(void)
{
	static struct fpu_rec in[4096];
	static struct fpu_res out[4096];
	unsigned long long n = 0;
	size_t got;

	while ((got = fread(in, sizeof(in[0]), sizeof(in) / sizeof(in[0]), stdin)) > 0) {
		for (size_t i = 0; i < got; i++) {
			if (exec(&in[i], &out[i]) < 0) {
				fprintf(stderr, "fpu_rv: record %llu: unknown op %u fmt %u\n",
					n + i, in[i].op, in[i].fmt);
				return 2;
			}
		}
		if (fwrite(out, sizeof(out[0]), got, stdout) != got) {
			perror("fpu_rv: write");
			return 2;
		}
		n += got;
	}
	if (ferror(stdin)) {
		perror("fpu_rv: read");
		return 2;
	}
	return fflush(stdout) == 0 ? 0 : 2;
}
