/* harness.h - helpers for the unit tests: a bare machine, and an RV64 instruction encoder.
 *
 * A bare machine has RAM at 0x80000000, the PLIC and the UART, a console that
 * keeps output only in its backlog, and its hart in S-mode at the base of RAM
 * with satp = 0. Tests put instructions in RAM with th_code() and step the
 * hart with th_run().
 *
 * The encoders follow the unprivileged spec's instruction formats (R, I, S,
 * B, U, J); they are written independently of the decoder in cpu.c.
 */
#ifndef FERRY_TEST_HARNESS_H
#define FERRY_TEST_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "vmm/core/cpu.h"
#include "vmm/board/machine.h"
#include "vmm/core/mmu.h"
#include "vmm/core/ram.h"
#include "vmm/devices/console.h"
#include "vmm/devices/devices.h"
#include "vmm/devices/plic.h"
#include "vmm/devices/virtio.h"

#define TH_RAM 0x80000000ull

/* A bare machine with mem bytes of RAM (16 MiB if 0). */
struct machine *th_machine(uint64_t mem);
/* ... with this many harts: hart 0 started at the base of RAM, the others stopped. */
struct machine *th_machine_harts(uint64_t mem, unsigned harts);
void th_free(struct machine *m);
/* The machine's devices, found by the name they registered under. */
static inline struct plic *th_plic(struct machine *m)
{
	return machine_dev_find(m, "plic");
}
static inline struct console *th_console(struct machine *m)
{
	return machine_dev_find(m, "console");
}
static inline struct virtio_mmio *th_virtio(struct machine *m, const char *name)
{
	return machine_dev_find(m, name);
}
/* Write n 32-bit instruction words at gpa and point the hart's pc there. */
void th_code(struct machine *m, uint64_t gpa, const uint32_t *insns, size_t n);
/* Write 16-bit parcels (compressed code) at gpa and point the pc there. */
void th_code16(struct machine *m, uint64_t gpa, const uint16_t *parcels, size_t n);
/* Run up to max steps (instructions or traps). Returns instructions retired. */
uint64_t th_run(struct machine *m, uint64_t max);
/* Run exactly one step: either one instruction retires or one trap is taken. */
void th_step(struct machine *m);

/* Register numbers */
enum {
	ZERO = 0,
	RA,
	SP,
	GP,
	TP,
	T0,
	T1,
	T2,
	S0,
	S1,
	A0,
	A1,
	A2,
	A3,
	A4,
	A5,
	A6,
	A7,
	S2,
	S3,
	S4,
	S5,
	S6,
	S7,
	S8,
	S9,
	S10,
	S11,
	T3,
	T4,
	T5,
	T6
};

/* Formats */
static inline uint32_t rv_r(unsigned op, unsigned rd, unsigned f3, unsigned rs1, unsigned rs2,
			    unsigned f7)
{
	return op | rd << 7 | f3 << 12 | rs1 << 15 | rs2 << 20 | f7 << 25;
}
static inline uint32_t rv_i(unsigned op, unsigned rd, unsigned f3, unsigned rs1, int32_t imm)
{
	return op | rd << 7 | f3 << 12 | rs1 << 15 | ((uint32_t)imm & 0xfffu) << 20;
}
static inline uint32_t rv_s(unsigned op, unsigned f3, unsigned rs1, unsigned rs2, int32_t imm)
{
	uint32_t u = (uint32_t)imm;
	return op | (u & 0x1f) << 7 | f3 << 12 | rs1 << 15 | rs2 << 20 | ((u >> 5) & 0x7f) << 25;
}
static inline uint32_t rv_b(unsigned f3, unsigned rs1, unsigned rs2, int32_t imm)
{
	uint32_t u = (uint32_t)imm;
	return 0x63 | ((u >> 11) & 1) << 7 | ((u >> 1) & 0xf) << 8 | f3 << 12 | rs1 << 15 |
	       rs2 << 20 | ((u >> 5) & 0x3f) << 25 | ((u >> 12) & 1) << 31;
}
static inline uint32_t rv_u(unsigned op, unsigned rd, uint32_t imm20)
{
	return op | rd << 7 | (imm20 << 12);
}
static inline uint32_t rv_j(unsigned rd, int32_t imm)
{
	uint32_t u = (uint32_t)imm;
	return 0x6f | rd << 7 | ((u >> 12) & 0xff) << 12 | ((u >> 11) & 1) << 20 |
	       ((u >> 1) & 0x3ff) << 21 | ((u >> 20) & 1) << 31;
}

/* Common instructions */
#define LUI(rd, imm20) rv_u(0x37, rd, imm20)
#define AUIPC(rd, imm20) rv_u(0x17, rd, imm20)
#define JAL(rd, off) rv_j(rd, off)
#define JALR(rd, rs1, off) rv_i(0x67, rd, 0, rs1, off)
#define BEQ(a, b, off) rv_b(0, a, b, off)
#define BNE(a, b, off) rv_b(1, a, b, off)
#define BLT(a, b, off) rv_b(4, a, b, off)
#define BGE(a, b, off) rv_b(5, a, b, off)
#define BLTU(a, b, off) rv_b(6, a, b, off)
#define BGEU(a, b, off) rv_b(7, a, b, off)
#define LB(rd, rs1, off) rv_i(0x03, rd, 0, rs1, off)
#define LH(rd, rs1, off) rv_i(0x03, rd, 1, rs1, off)
#define LW(rd, rs1, off) rv_i(0x03, rd, 2, rs1, off)
#define LD(rd, rs1, off) rv_i(0x03, rd, 3, rs1, off)
#define LBU(rd, rs1, off) rv_i(0x03, rd, 4, rs1, off)
#define LHU(rd, rs1, off) rv_i(0x03, rd, 5, rs1, off)
#define LWU(rd, rs1, off) rv_i(0x03, rd, 6, rs1, off)
#define SB(rs2, rs1, off) rv_s(0x23, 0, rs1, rs2, off)
#define SH(rs2, rs1, off) rv_s(0x23, 1, rs1, rs2, off)
#define SW(rs2, rs1, off) rv_s(0x23, 2, rs1, rs2, off)
#define SD(rs2, rs1, off) rv_s(0x23, 3, rs1, rs2, off)
/* F and D (fd, fs: FP register numbers; rm: 0-4 static, 7 dynamic; fmt: 0 S, 1 D) */
#define FLW(fd, rs1, off) rv_i(0x07, fd, 2, rs1, off)
#define FLD(fd, rs1, off) rv_i(0x07, fd, 3, rs1, off)
#define FSW(fs2, rs1, off) rv_s(0x27, 2, rs1, fs2, off)
#define FSD(fs2, rs1, off) rv_s(0x27, 3, rs1, fs2, off)
/* OP-FP: funct5, fmt, rm/funct3, registers */
#define FOP(f5, fmt, rm, rd, rs1, rs2) rv_r(0x53, rd, rm, rs1, rs2, (f5) << 2 | (fmt))
#define FADD(fmt, rm, fd, fs1, fs2) FOP(0x00, fmt, rm, fd, fs1, fs2)
#define FMUL(fmt, rm, fd, fs1, fs2) FOP(0x02, fmt, rm, fd, fs1, fs2)
#define FSGNJ(fmt, fd, fs1, fs2) FOP(0x04, fmt, 0, fd, fs1, fs2)
#define FCVT_S_D(rm, fd, fs1) FOP(0x08, 0, rm, fd, fs1, 1)
#define FEQ(fmt, rd, fs1, fs2) FOP(0x14, fmt, 2, rd, fs1, fs2)
#define FCVT_L(fmt, rm, rd, fs1) FOP(0x18, fmt, rm, rd, fs1, 2)
#define FCLASS(fmt, rd, fs1) FOP(0x1c, fmt, 1, rd, fs1, 0)
#define FMV_X(fmt, rd, fs1) FOP(0x1c, fmt, 0, rd, fs1, 0)
#define FMV_F(fmt, fd, rs1) FOP(0x1e, fmt, 0, fd, rs1, 0)
/* R4: FMADD 0x43, FMSUB 0x47, FNMSUB 0x4b, FNMADD 0x4f */
#define FMA4(op, fmt, rm, fd, fs1, fs2, fs3)                                                       \
	(rv_r(op, fd, rm, fs1, fs2, (fmt)) | (uint32_t)(fs3) << 27)
#define ADDI(rd, rs1, imm) rv_i(0x13, rd, 0, rs1, imm)
#define SLTI(rd, rs1, imm) rv_i(0x13, rd, 2, rs1, imm)
#define SLTIU(rd, rs1, imm) rv_i(0x13, rd, 3, rs1, imm)
#define XORI(rd, rs1, imm) rv_i(0x13, rd, 4, rs1, imm)
#define ORI(rd, rs1, imm) rv_i(0x13, rd, 6, rs1, imm)
#define ANDI(rd, rs1, imm) rv_i(0x13, rd, 7, rs1, imm)
#define SLLI(rd, rs1, sh) rv_i(0x13, rd, 1, rs1, (sh))
#define SRLI(rd, rs1, sh) rv_i(0x13, rd, 5, rs1, (sh))
#define SRAI(rd, rs1, sh) rv_i(0x13, rd, 5, rs1, 0x400 | (sh))
#define ADDIW(rd, rs1, imm) rv_i(0x1b, rd, 0, rs1, imm)
#define SLLIW(rd, rs1, sh) rv_i(0x1b, rd, 1, rs1, (sh))
#define SRLIW(rd, rs1, sh) rv_i(0x1b, rd, 5, rs1, (sh))
#define SRAIW(rd, rs1, sh) rv_i(0x1b, rd, 5, rs1, 0x400 | (sh))
#define ADD(rd, a, b) rv_r(0x33, rd, 0, a, b, 0)
#define SUB(rd, a, b) rv_r(0x33, rd, 0, a, b, 0x20)
#define SLL(rd, a, b) rv_r(0x33, rd, 1, a, b, 0)
#define SLT(rd, a, b) rv_r(0x33, rd, 2, a, b, 0)
#define SLTU(rd, a, b) rv_r(0x33, rd, 3, a, b, 0)
#define XOR(rd, a, b) rv_r(0x33, rd, 4, a, b, 0)
#define SRL(rd, a, b) rv_r(0x33, rd, 5, a, b, 0)
#define SRA(rd, a, b) rv_r(0x33, rd, 5, a, b, 0x20)
#define OR(rd, a, b) rv_r(0x33, rd, 6, a, b, 0)
#define AND(rd, a, b) rv_r(0x33, rd, 7, a, b, 0)
#define ADDW(rd, a, b) rv_r(0x3b, rd, 0, a, b, 0)
#define SUBW(rd, a, b) rv_r(0x3b, rd, 0, a, b, 0x20)
#define SLLW(rd, a, b) rv_r(0x3b, rd, 1, a, b, 0)
#define SRLW(rd, a, b) rv_r(0x3b, rd, 5, a, b, 0)
#define SRAW(rd, a, b) rv_r(0x3b, rd, 5, a, b, 0x20)
#define MUL(rd, a, b) rv_r(0x33, rd, 0, a, b, 1)
#define MULH(rd, a, b) rv_r(0x33, rd, 1, a, b, 1)
#define MULHSU(rd, a, b) rv_r(0x33, rd, 2, a, b, 1)
#define MULHU(rd, a, b) rv_r(0x33, rd, 3, a, b, 1)
#define DIV(rd, a, b) rv_r(0x33, rd, 4, a, b, 1)
#define DIVU(rd, a, b) rv_r(0x33, rd, 5, a, b, 1)
#define REM(rd, a, b) rv_r(0x33, rd, 6, a, b, 1)
#define REMU(rd, a, b) rv_r(0x33, rd, 7, a, b, 1)
#define MULW(rd, a, b) rv_r(0x3b, rd, 0, a, b, 1)
#define DIVW(rd, a, b) rv_r(0x3b, rd, 4, a, b, 1)
#define DIVUW(rd, a, b) rv_r(0x3b, rd, 5, a, b, 1)
#define REMW(rd, a, b) rv_r(0x3b, rd, 6, a, b, 1)
#define REMUW(rd, a, b) rv_r(0x3b, rd, 7, a, b, 1)
/* A extension: f5, with aq = rl = 0; width 2 (.W) or 3 (.D) */
#define AMO(f5, w, rd, rs1, rs2) rv_r(0x2f, rd, w, rs1, rs2, (f5) << 2)
#define LR_W(rd, rs1) AMO(0x02, 2, rd, rs1, 0)
#define LR_D(rd, rs1) AMO(0x02, 3, rd, rs1, 0)
#define SC_W(rd, rs1, rs2) AMO(0x03, 2, rd, rs1, rs2)
#define SC_D(rd, rs1, rs2) AMO(0x03, 3, rd, rs1, rs2)
#define FENCE() 0x0ff0000fu
#define FENCE_I() 0x0000100fu
#define ECALL() 0x00000073u
#define EBREAK() 0x00100073u
#define SRET() 0x10200073u
#define WFI() 0x10500073u
#define SFENCE_VMA(rs1, rs2) rv_r(0x73, 0, 0, rs1, rs2, 0x09)
#define CSRRW(rd, csr, rs1) rv_i(0x73, rd, 1, rs1, (int32_t)(csr))
#define CSRRS(rd, csr, rs1) rv_i(0x73, rd, 2, rs1, (int32_t)(csr))
#define CSRRC(rd, csr, rs1) rv_i(0x73, rd, 3, rs1, (int32_t)(csr))
#define CSRRWI(rd, csr, u) rv_i(0x73, rd, 5, u, (int32_t)(csr))
#define CSRRSI(rd, csr, u) rv_i(0x73, rd, 6, u, (int32_t)(csr))
#define CSRRCI(rd, csr, u) rv_i(0x73, rd, 7, u, (int32_t)(csr))

/* A extension, the read-modify-write operations (funct5 from the unprivileged spec's table) */
#define AMOADD_W(rd, rs1, rs2) AMO(0x00, 2, rd, rs1, rs2)
#define AMOSWAP_W(rd, rs1, rs2) AMO(0x01, 2, rd, rs1, rs2)
#define AMOXOR_W(rd, rs1, rs2) AMO(0x04, 2, rd, rs1, rs2)
#define AMOOR_W(rd, rs1, rs2) AMO(0x08, 2, rd, rs1, rs2)
#define AMOAND_W(rd, rs1, rs2) AMO(0x0c, 2, rd, rs1, rs2)
#define AMOMIN_W(rd, rs1, rs2) AMO(0x10, 2, rd, rs1, rs2)
#define AMOMAX_W(rd, rs1, rs2) AMO(0x14, 2, rd, rs1, rs2)
#define AMOMINU_W(rd, rs1, rs2) AMO(0x18, 2, rd, rs1, rs2)
#define AMOMAXU_W(rd, rs1, rs2) AMO(0x1c, 2, rd, rs1, rs2)
#define AMOADD_D(rd, rs1, rs2) AMO(0x00, 3, rd, rs1, rs2)
#define AMOSWAP_D(rd, rs1, rs2) AMO(0x01, 3, rd, rs1, rs2)
#define AMOXOR_D(rd, rs1, rs2) AMO(0x04, 3, rd, rs1, rs2)
#define AMOOR_D(rd, rs1, rs2) AMO(0x08, 3, rd, rs1, rs2)
#define AMOAND_D(rd, rs1, rs2) AMO(0x0c, 3, rd, rs1, rs2)
#define AMOMIN_D(rd, rs1, rs2) AMO(0x10, 3, rd, rs1, rs2)
#define AMOMAX_D(rd, rs1, rs2) AMO(0x14, 3, rd, rs1, rs2)
#define AMOMINU_D(rd, rs1, rs2) AMO(0x18, 3, rd, rs1, rs2)
#define AMOMAXU_D(rd, rs1, rs2) AMO(0x1c, 3, rd, rs1, rs2)

/* RVC (the unprivileged spec's "RVC Instruction Set Listings"). Register arguments are full
 * register numbers; for the 3-bit fields (rd', rs1', rs2') they must be x8..x15. Immediates
 * are the instruction's byte offsets or values, scattered into the formats here. */
#define RVC_B(v, n) ((((uint32_t)(v)) >> (n)) & 1u)
#define RVC_BS(v, hi, lo) ((((uint32_t)(v)) >> (lo)) & ((1u << ((hi) - (lo) + 1)) - 1))
/* CI: funct3 | imm[5] | rd | imm[4:0] | op */
static inline uint16_t rvc_ci(unsigned f3, unsigned op, unsigned rd, int32_t imm6)
{
	return (uint16_t)(f3 << 13 | RVC_B(imm6, 5) << 12 | rd << 7 | RVC_BS(imm6, 4, 0) << 2 | op);
}
/* CL/CS with the .W offset layout: uimm[5:3] at 12:10, uimm[2] at 6, uimm[6] at 5 */
static inline uint16_t rvc_clw(unsigned f3, unsigned r1, unsigned r2, uint32_t off)
{
	return (uint16_t)(f3 << 13 | RVC_BS(off, 5, 3) << 10 | (r1 & 7) << 7 | RVC_B(off, 2) << 6 |
			  RVC_B(off, 6) << 5 | (r2 & 7) << 2);
}
/* CL/CS with the .D offset layout: uimm[5:3] at 12:10, uimm[7:6] at 6:5 */
static inline uint16_t rvc_cld(unsigned f3, unsigned r1, unsigned r2, uint32_t off)
{
	return (uint16_t)(f3 << 13 | RVC_BS(off, 5, 3) << 10 | (r1 & 7) << 7 |
			  RVC_BS(off, 7, 6) << 5 | (r2 & 7) << 2);
}
/* CA: 100 | funct6 bit 12 | 11 | rd' | funct2 | rs2' | 01 */
static inline uint16_t rvc_ca(unsigned b12, unsigned f2, unsigned rd, unsigned rs2)
{
	return (uint16_t)(4u << 13 | b12 << 12 | 3u << 10 | (rd & 7) << 7 | f2 << 5 |
			  (rs2 & 7) << 2 | 1u);
}
/* CB with an immediate (C.SRLI, C.SRAI, C.ANDI): 100 | imm[5] | funct2 | rd' | imm[4:0] | 01 */
static inline uint16_t rvc_cbi(unsigned f2, unsigned rd, int32_t imm6)
{
	return (uint16_t)(4u << 13 | RVC_B(imm6, 5) << 12 | f2 << 10 | (rd & 7) << 7 |
			  RVC_BS(imm6, 4, 0) << 2 | 1u);
}
/* CI loads from sp: funct3 | off[5] | rd | the other offset bits, already placed | 10 */
static inline uint16_t rvc_cisp(unsigned f3, unsigned rd, uint32_t off, uint32_t low)
{
	return (uint16_t)(f3 << 13 | RVC_B(off, 5) << 12 | rd << 7 | low << 2 | 2u);
}
/* CB branch: offset[8|4:3] at 12:10, offset[7:6|2:1|5] at 6:2 */
static inline uint16_t rvc_cb(unsigned f3, unsigned rs1, int32_t off)
{
	return (uint16_t)(f3 << 13 | RVC_B(off, 8) << 12 | RVC_BS(off, 4, 3) << 10 |
			  (rs1 & 7) << 7 | RVC_BS(off, 7, 6) << 5 | RVC_BS(off, 2, 1) << 3 |
			  RVC_B(off, 5) << 2 | 1u);
}
/* CJ: offset[11|4|9:8|10|6|7|3:1|5] */
static inline uint16_t rvc_cj(unsigned f3, int32_t off)
{
	return (uint16_t)(f3 << 13 | RVC_B(off, 11) << 12 | RVC_B(off, 4) << 11 |
			  RVC_BS(off, 9, 8) << 9 | RVC_B(off, 10) << 8 | RVC_B(off, 6) << 7 |
			  RVC_B(off, 7) << 6 | RVC_BS(off, 3, 1) << 3 | RVC_B(off, 5) << 2 | 1u);
}
/* CSS with the .W layout (uimm[5:2|7:6]) and the .D layout (uimm[5:3|8:6]) */
static inline uint16_t rvc_cssw(unsigned f3, unsigned rs2, uint32_t off)
{
	return (uint16_t)(f3 << 13 | RVC_BS(off, 5, 2) << 9 | RVC_BS(off, 7, 6) << 7 | rs2 << 2 |
			  2u);
}
static inline uint16_t rvc_cssd(unsigned f3, unsigned rs2, uint32_t off)
{
	return (uint16_t)(f3 << 13 | RVC_BS(off, 5, 3) << 10 | RVC_BS(off, 8, 6) << 7 | rs2 << 2 |
			  2u);
}
/* CR: funct4 | rd/rs1 | rs2 | 10 */
static inline uint16_t rvc_cr(unsigned f4, unsigned rd, unsigned rs2)
{
	return (uint16_t)(f4 << 12 | rd << 7 | rs2 << 2 | 2u);
}

/* Quadrant 0 */
#define C_ADDI4SPN(rd, nzuimm)                                                                     \
	((uint16_t)(RVC_BS(nzuimm, 5, 4) << 11 | RVC_BS(nzuimm, 9, 6) << 7 |                       \
		    RVC_B(nzuimm, 2) << 6 | RVC_B(nzuimm, 3) << 5 | ((rd)&7) << 2))
#define C_FLD(rd, rs1, off) rvc_cld(1, rs1, rd, off)
#define C_LW(rd, rs1, off) rvc_clw(2, rs1, rd, off)
#define C_LD(rd, rs1, off) rvc_cld(3, rs1, rd, off)
#define C_FSD(rs2, rs1, off) rvc_cld(5, rs1, rs2, off)
#define C_SW(rs2, rs1, off) rvc_clw(6, rs1, rs2, off)
#define C_SD(rs2, rs1, off) rvc_cld(7, rs1, rs2, off)
/* Quadrant 1 */
#define C_NOP() ((uint16_t)0x0001)
#define C_ADDI(rd, imm) rvc_ci(0, 1, rd, imm)
#define C_ADDIW(rd, imm) rvc_ci(1, 1, rd, imm)
#define C_LI(rd, imm) rvc_ci(2, 1, rd, imm)
#define C_ADDI16SP(nzimm)                                                                          \
	((uint16_t)(3u << 13 | RVC_B(nzimm, 9) << 12 | 2u << 7 | RVC_B(nzimm, 4) << 6 |            \
		    RVC_B(nzimm, 6) << 5 | RVC_BS(nzimm, 8, 7) << 3 | RVC_B(nzimm, 5) << 2 | 1u))
/* imm6 is nzimm[17:12], a signed 6-bit value: rd gets sext(imm6 << 12) */
#define C_LUI(rd, imm6) rvc_ci(3, 1, rd, imm6)
#define C_SRLI(rd, sh) rvc_cbi(0, rd, (int32_t)(sh))
#define C_SRAI(rd, sh) rvc_cbi(1, rd, (int32_t)(sh))
#define C_ANDI(rd, imm) rvc_cbi(2, rd, imm)
#define C_SUB(rd, rs2) rvc_ca(0, 0, rd, rs2)
#define C_XOR(rd, rs2) rvc_ca(0, 1, rd, rs2)
#define C_OR(rd, rs2) rvc_ca(0, 2, rd, rs2)
#define C_AND(rd, rs2) rvc_ca(0, 3, rd, rs2)
#define C_SUBW(rd, rs2) rvc_ca(1, 0, rd, rs2)
#define C_ADDW(rd, rs2) rvc_ca(1, 1, rd, rs2)
#define C_J(off) rvc_cj(5, off)
#define C_BEQZ(rs1, off) rvc_cb(6, rs1, off)
#define C_BNEZ(rs1, off) rvc_cb(7, rs1, off)
/* Quadrant 2 */
#define C_SLLI(rd, sh) rvc_ci(0, 2, rd, (int32_t)(sh))
/* C.LWSP: offset[4:2|7:6] at 6:2; C.LDSP and C.FLDSP: offset[4:3|8:6] */
#define C_FLDSP(rd, off) rvc_cisp(1, rd, off, RVC_BS(off, 4, 3) << 3 | RVC_BS(off, 8, 6))
#define C_LWSP(rd, off) rvc_cisp(2, rd, off, RVC_BS(off, 4, 2) << 2 | RVC_BS(off, 7, 6))
#define C_LDSP(rd, off) rvc_cisp(3, rd, off, RVC_BS(off, 4, 3) << 3 | RVC_BS(off, 8, 6))
#define C_JR(rs1) rvc_cr(8, rs1, 0)
#define C_MV(rd, rs2) rvc_cr(8, rd, rs2)
#define C_EBREAK() rvc_cr(9, 0, 0)
#define C_JALR(rs1) rvc_cr(9, rs1, 0)
#define C_ADD(rd, rs2) rvc_cr(9, rd, rs2)
#define C_FSDSP(rs2, off) rvc_cssd(5, rs2, off)
#define C_SWSP(rs2, off) rvc_cssw(6, rs2, off)
#define C_SDSP(rs2, off) rvc_cssd(7, rs2, off)

/* Sv39 page tables built in guest RAM with ram_store (privileged spec, "Sv39"). Tables are
 * allocated from a bump pointer; level 0 maps a 4 KiB page, 1 a 2 MiB, 2 a 1 GiB page. */
struct th_pt {
	struct machine *m;
	uint64_t root;
	uint64_t next;
};

static inline uint64_t th_pt_alloc(struct th_pt *pt)
{
	uint64_t a = pt->next;

	ram_fill(&pt->m->ram, a, 0, RAM_PAGE_SIZE);
	pt->next += RAM_PAGE_SIZE;
	return a;
}

/* Tables from gpa upwards (a free, page-aligned area of RAM). */
static inline void th_pt_init(struct th_pt *pt, struct machine *m, uint64_t gpa)
{
	pt->m = m;
	pt->next = gpa;
	pt->root = th_pt_alloc(pt);
}

/* The satp value that selects these tables. */
static inline uint64_t th_pt_satp(const struct th_pt *pt)
{
	return (8ull << 60) | (pt->root >> 12);
}

/* Physical address of the PTE for va at level, creating pointer PTEs above it. */
static inline uint64_t th_pte_addr(struct th_pt *pt, uint64_t va, int level)
{
	uint64_t table = pt->root;

	for (int i = 2; i > level; i--) {
		uint64_t a = table + ((va >> (12 + 9 * i)) & 0x1ff) * 8;
		uint64_t pte = ram_load(&pt->m->ram, a, 8);

		if (!(pte & PTE_V)) {
			uint64_t t = th_pt_alloc(pt);

			pte = (t >> 12) << PTE_PPN_SHIFT | PTE_V;
			ram_store(&pt->m->ram, a, pte, 8);
		}
		table = ((pte >> PTE_PPN_SHIFT) & ((1ull << 44) - 1)) << 12;
	}
	return table + ((va >> (12 + 9 * level)) & 0x1ff) * 8;
}

/* Map va to pa at level with the given PTE flag bits (V is not implied). */
static inline uint64_t th_map(struct th_pt *pt, uint64_t va, uint64_t pa, uint64_t flags, int level)
{
	uint64_t a = th_pte_addr(pt, va, level);

	ram_store(&pt->m->ram, a, (pa >> 12) << PTE_PPN_SHIFT | flags, 8);
	return a;
}

static inline uint64_t th_pte(struct th_pt *pt, uint64_t va, int level)
{
	return ram_load(&pt->m->ram, th_pte_addr(pt, va, level), 8);
}

/* Forget the dirty bitmap, as a collection would: clear it and drop the write-TLB. */
static inline void th_clear_dirty(struct machine *m)
{
	memset(m->ram.dirty, 0, m->ram.nwords * sizeof(uint64_t));
	cpu_tlb_flush_writes(&m->harts[0]);
}

/* A conventional layout for the CPU tests: code at the base of RAM, an SRET stub to enter
 * U-mode, the trap vector (never executed: tests look at the state right after the trap),
 * data, and page tables. */
#define TH_CODE TH_RAM
#define TH_SRET_STUB (TH_RAM + 0xf000)
#define TH_TRAP (TH_RAM + 0x10000)
#define TH_DATA (TH_RAM + 0x20000)
#define TH_PT (TH_RAM + 0x800000)
#define TH_NO_TRAP 0x5ca1ab1eull /* scause before a run: still there means no trap */

/* A bare machine with stvec = TH_TRAP and scause = TH_NO_TRAP. */
static inline struct machine *th_setup(void)
{
	struct machine *m = th_machine(0);

	m->harts[0].stvec = TH_TRAP;
	m->harts[0].scause = TH_NO_TRAP;
	return m;
}

/* Assert that the last step took exception cause with stval tval at sepc epc. */
static inline void th_expect_trap(struct machine *m, uint64_t cause, uint64_t tval, uint64_t epc)
{
	assert_int_equal(m->harts[0].scause, cause);
	assert_int_equal(m->harts[0].stval, tval);
	assert_int_equal(m->harts[0].sepc, epc);
	assert_int_equal(m->harts[0].pc, m->harts[0].stvec & ~3ull);
	assert_int_equal(m->harts[0].priv, PRIV_S);
}

static inline void th_expect_no_trap(struct machine *m)
{
	assert_int_equal(m->harts[0].scause, TH_NO_TRAP);
}

/* Drop to U-mode at pc through a real SRET executed at TH_SRET_STUB (which must be
 * executable in S-mode). */
static inline void th_enter_user(struct machine *m, uint64_t pc)
{
	const uint32_t sret = SRET();

	ram_write(&m->ram, TH_SRET_STUB, &sret, 4);
	m->harts[0].pc = TH_SRET_STUB;
	m->harts[0].sepc = pc;
	m->harts[0].sstatus &= ~SSTATUS_SPP;
	th_step(m);
	assert_int_equal(m->harts[0].priv, PRIV_U);
	assert_int_equal(m->harts[0].pc, pc);
}

#define TH_PTE_KERNEL (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)

/* Turn on Sv39 with fresh tables at TH_PT that identity-map, for S-mode, the code page, the
 * SRET stub and the trap vector's page. */
static inline void th_paging_on(struct machine *m, struct th_pt *pt)
{
	th_pt_init(pt, m, TH_PT);
	th_map(pt, TH_CODE, TH_CODE, TH_PTE_KERNEL, 0);
	th_map(pt, TH_SRET_STUB, TH_SRET_STUB, TH_PTE_KERNEL, 0);
	th_map(pt, TH_TRAP, TH_TRAP, TH_PTE_KERNEL, 0);
	assert_true(cpu_csr_write(&m->harts[0], CSR_SATP, th_pt_satp(pt)));
}

#endif
