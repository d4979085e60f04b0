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
#include <cmocka.h>

#include "../../src/vm/cpu.h"
#include "../../src/vm/machine.h"
#include "../../src/vm/mmu.h"
#include "../../src/vm/ram.h"

#define TH_RAM 0x80000000ull

/* A bare machine with mem bytes of RAM (16 MiB if 0). */
struct machine *th_machine(uint64_t mem);
void th_free(struct machine *m);
/* Write n 32-bit instruction words at gpa and point the hart's pc there. */
void th_code(struct machine *m, uint64_t gpa, const uint32_t *insns, size_t n);
/* Write 16-bit parcels (compressed code) at gpa and point the pc there. */
void th_code16(struct machine *m, uint64_t gpa, const uint16_t *parcels, size_t n);
/* Run up to max steps (instructions or traps). Returns instructions retired. */
uint64_t th_run(struct machine *m, uint64_t max);
/* Run exactly one step: either one instruction retires or one trap is taken. */
void th_step(struct machine *m);

/* Register numbers */
enum { ZERO = 0, RA, SP, GP, TP, T0, T1, T2, S0, S1, A0, A1, A2, A3, A4, A5, A6, A7,
       S2, S3, S4, S5, S6, S7, S8, S9, S10, S11, T3, T4, T5, T6 };

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

#endif
