/* cpu.c - RV64IMAC interpreter with Zicsr, Zifencei and Zicntr; S and U modes.
 *
 * One instruction at a time: fetch through the TLB, expand a compressed
 * instruction to its 32-bit form, execute it in one switch. An instruction
 * that faults records the exception in c->exc_cause/exc_tval and returns
 * false; the loop then enters the trap, so every exception is precise: no
 * register or memory is changed by a faulting instruction.
 *
 * Memory accesses use a software TLB per effective privilege (cpu.h) that
 * maps a virtual page straight to its host page. Only RAM pages are cached;
 * MMIO always takes the slow path to the device. Write entries are installed
 * only through ram_page_for_write(), which marks the page dirty first, so a
 * store through a cached entry is always already accounted for.
 *
 * Misaligned loads and stores are performed here (Linux 6.1 in S-mode does
 * not emulate them); one that crosses a page translates both pages before
 * touching memory, so it faults before any byte is written. Misaligned
 * LR/SC/AMOs raise the address-misaligned exception.
 */
#include "cpu.h"

#include <string.h>

#include "machine.h"
#include "mmu.h"
#include "ram.h"
#include "sbi.h"
#include "state.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

static void cpu_update_tlb_set(struct cpu *c)
{
	if (c->priv == PRIV_U)
		c->tlb_set = TLB_SET_U;
	else
		c->tlb_set = (c->sstatus & SSTATUS_SUM) ? TLB_SET_S_SUM : TLB_SET_S;
}

void cpu_tlb_flush(struct cpu *c)
{
	for (int s = 0; s < TLB_SETS; s++)
		for (int a = 0; a < 3; a++)
			for (int i = 0; i < TLB_ENTRIES; i++)
				c->tlb[s][a][i].vpn = TLB_INVALID;
}

void cpu_tlb_flush_writes(struct cpu *c)
{
	for (int s = 0; s < TLB_SETS; s++)
		for (int i = 0; i < TLB_ENTRIES; i++)
			c->tlb[s][ACC_W][i].vpn = TLB_INVALID;
}

void cpu_reset(struct cpu *c, struct machine *m, struct ram *ram, uint32_t hartid, uint64_t pc,
	       uint64_t a1)
{
	memset(c, 0, sizeof(*c));
	c->m = m;
	c->ram = ram;
	c->hartid = hartid;
	c->priv = PRIV_S;
	c->pc = pc;
	c->x[10] = hartid;
	c->x[11] = a1;
	c->timecmp = UINT64_MAX;
	c->hsm = HSM_STARTED;
	cpu_update_tlb_set(c);
	cpu_tlb_flush(c);
}

static inline bool cpu_raise(struct cpu *c, uint64_t cause, uint64_t tval)
{
	c->exc_cause = cause;
	c->exc_tval = tval;
	return false;
}

/* Enter the S-mode trap handler (privileged spec, "Supervisor Trap Vector Base Address"). */
static void cpu_trap(struct cpu *c, uint64_t cause, uint64_t tval)
{
	uint64_t s = c->sstatus;

	c->sepc = c->pc;
	c->scause = cause;
	c->stval = tval;
	s = (s & ~SSTATUS_SPP) | (c->priv == PRIV_S ? SSTATUS_SPP : 0);
	s = (s & ~SSTATUS_SPIE) | ((s & SSTATUS_SIE) ? SSTATUS_SPIE : 0);
	s &= ~SSTATUS_SIE;
	c->sstatus = s;
	c->priv = PRIV_S;
	c->lr_valid = 0;
	c->wfi = 0;
	if ((cause & CAUSE_INTERRUPT) && (c->stvec & 3) == 1)
		c->pc = (c->stvec & ~3ull) + 4 * (cause & ~CAUSE_INTERRUPT);
	else
		c->pc = c->stvec & ~3ull;
	cpu_update_tlb_set(c);
}

/* Take the highest-priority enabled pending interrupt, if any (SEI > SSI > STI). */
static bool cpu_check_interrupts(struct cpu *c)
{
	uint64_t pending = c->sip & c->sie;

	if (!pending)
		return false;
	if (c->priv == PRIV_S && !(c->sstatus & SSTATUS_SIE))
		return false;
	int irq = (pending & SIP_SEIP) ? IRQ_SEI : (pending & SIP_SSIP) ? IRQ_SSI : IRQ_STI;

	c->irqs_taken[irq / 4]++; /* 1, 5, 9 -> 0, 1, 2 */

	cpu_trap(c, CAUSE_INTERRUPT | (uint64_t)irq, 0);
	return true;
}

/* ---- memory access ---------------------------------------------------------------------- */

/* Translate va for acc and, if it maps RAM, install the TLB entry. Returns the physical
 * address through *pa; *host is the host pointer for RAM or NULL for anything else. */
static bool cpu_translate(struct cpu *c, uint64_t va, enum cpu_access acc, uint64_t *pa,
			  const uint8_t **host)
{
	uint64_t cause;

	if (!mmu_translate(c, va, acc, pa, &cause))
		return cpu_raise(c, cause, va);
	*host = NULL;
	if (ram_contains(c->ram, *pa & ~0xfffull, RAM_PAGE_SIZE)) {
		/* A write entry gets its pointer only from ram_page_for_write(), which marks
		 * the page dirty first; read and execute entries never write. */
		const uint8_t *page = acc == ACC_W ? ram_page_for_write(c->ram, *pa)
						   : ram_ptr(c->ram, *pa & ~0xfffull);
		struct cpu_tlb_entry *e = &c->tlb[c->tlb_set][acc][(va >> 12) % TLB_ENTRIES];

		e->vpn = va >> 12;
		e->addend = (uintptr_t)page - (uintptr_t)(va & ~0xfffull);
		*host = page + (va & 0xfff);
	}
	return true;
}

static bool cpu_load_slow(struct cpu *c, uint64_t va, unsigned size, uint64_t *val)
{
	uint64_t pa, pa2;
	const uint8_t *h, *h2;

	if (((va & 0xfff) + size) > 0x1000) {
		/* Crosses a page: translate both before reading either. */
		uint64_t va2 = (va + size) & ~0xfffull;
		unsigned n1 = (unsigned)(va2 - va);
		uint8_t buf[8];

		if (!cpu_translate(c, va, ACC_R, &pa, &h))
			return false;
		if (!cpu_translate(c, va2, ACC_R, &pa2, &h2))
			return false;
		if (!h)
			return cpu_raise(c, EXC_LOAD_ACCESS, va);
		if (!h2)
			return cpu_raise(c, EXC_LOAD_ACCESS, va2);
		memcpy(buf, h, n1);
		memcpy(buf + n1, h2, size - n1);
		*val = 0;
		memcpy(val, buf, size);
		return true;
	}
	if (!cpu_translate(c, va, ACC_R, &pa, &h))
		return false;
	if (h) {
		*val = 0;
		memcpy(val, h, size);
		return true;
	}
	if ((va & (size - 1)) || !machine_mmio_read(c->m, pa, size, val))
		return cpu_raise(c, EXC_LOAD_ACCESS, va);
	return true;
}

/* Load size bytes (1, 2, 4, 8), zero-extended. */
static inline bool cpu_load(struct cpu *c, uint64_t va, unsigned size, uint64_t *val)
{
	struct cpu_tlb_entry *e = &c->tlb[c->tlb_set][ACC_R][(va >> 12) % TLB_ENTRIES];

	if (likely(e->vpn == va >> 12) && likely((va & 0xfff) + size <= 0x1000)) {
		*val = 0;
		memcpy(val, (const void *)(e->addend + (uintptr_t)va), size);
		return true;
	}
	return cpu_load_slow(c, va, size, val);
}

static bool cpu_store_slow(struct cpu *c, uint64_t va, unsigned size, uint64_t val)
{
	uint64_t pa, pa2;
	const uint8_t *h, *h2;

	if (((va & 0xfff) + size) > 0x1000) {
		uint64_t va2 = (va + size) & ~0xfffull;
		unsigned n1 = (unsigned)(va2 - va);
		uint8_t buf[8];

		if (!cpu_translate(c, va, ACC_W, &pa, &h))
			return false;
		if (!cpu_translate(c, va2, ACC_W, &pa2, &h2))
			return false;
		if (!h)
			return cpu_raise(c, EXC_STORE_ACCESS, va);
		if (!h2)
			return cpu_raise(c, EXC_STORE_ACCESS, va2);
		/* Both pages were marked dirty by the translation that installed them. */
		memcpy(buf, &val, size);
		ram_write(c->ram, pa, buf, n1);
		ram_write(c->ram, pa2, buf + n1, size - n1);
		return true;
	}
	if (!cpu_translate(c, va, ACC_W, &pa, &h))
		return false;
	if (h) {
		ram_write(c->ram, pa, &val, size);
		return true;
	}
	if ((va & (size - 1)) || !machine_mmio_write(c->m, pa, size, val))
		return cpu_raise(c, EXC_STORE_ACCESS, va);
	return true;
}

/* Store the low size bytes of val. */
static inline bool cpu_store(struct cpu *c, uint64_t va, unsigned size, uint64_t val)
{
	struct cpu_tlb_entry *e = &c->tlb[c->tlb_set][ACC_W][(va >> 12) % TLB_ENTRIES];

	if (likely(e->vpn == va >> 12) && likely((va & 0xfff) + size <= 0x1000)) {
		/* The page was marked dirty when this entry was installed (ram_page_for_write). */
		memcpy((void *)(e->addend + (uintptr_t)va), &val, size);
		return true;
	}
	return cpu_store_slow(c, va, size, val);
}

/* Host pointer for an aligned atomic access to RAM, translated for writing (an AMO needs
 * both permissions; a store fault is reported, as the spec says for AMOs). */
static bool cpu_amo_ptr(struct cpu *c, uint64_t va, unsigned size, uint8_t **host)
{
	const uint8_t *h;
	uint64_t pa;

	if (va & (size - 1))
		return cpu_raise(c, EXC_STORE_MISALIGNED, va);
	if (!cpu_translate(c, va, ACC_W, &pa, &h))
		return false;
	if (!h)
		return cpu_raise(c, EXC_STORE_ACCESS, va);
	/* Reading requires R as well (W without R is reserved, so W implies R here). The
	 * writable pointer comes from the RAM accessor, which marks the page. */
	*host = ram_page_for_write(c->ram, pa) + (pa & 0xfff);
	return true;
}

static bool cpu_fetch_slow(struct cpu *c, uint32_t *insn)
{
	uint64_t pc = c->pc, pa;
	const uint8_t *h;
	uint16_t lo, hi;

	if (!cpu_translate(c, pc, ACC_X, &pa, &h))
		return false;
	if (!h)
		return cpu_raise(c, EXC_INSN_ACCESS, pc);
	memcpy(&lo, h, 2);
	if ((lo & 3) != 3) {
		*insn = lo;
		return true;
	}
	if ((pc & 0xfff) != 0xffe) {
		memcpy(insn, h, 4);
		return true;
	}
	/* A 32-bit instruction whose upper half is on the next page. */
	if (!cpu_translate(c, pc + 2, ACC_X, &pa, &h))
		return false;
	if (!h)
		return cpu_raise(c, EXC_INSN_ACCESS, pc + 2);
	memcpy(&hi, h, 2);
	*insn = (uint32_t)lo | ((uint32_t)hi << 16);
	return true;
}

static inline bool cpu_fetch(struct cpu *c, uint32_t *insn)
{
	uint64_t pc = c->pc;
	struct cpu_tlb_entry *e = &c->tlb[c->tlb_set][ACC_X][(pc >> 12) % TLB_ENTRIES];

	if (likely(e->vpn == pc >> 12) && likely((pc & 0xfff) <= 0xffc)) {
		memcpy(insn, (const void *)(e->addend + (uintptr_t)pc), 4);
		return true;
	}
	return cpu_fetch_slow(c, insn);
}

/* ---- CSRs ---------------------------------------------------------------------------------- */

bool cpu_csr_read(struct cpu *c, unsigned csr, uint64_t *val)
{
	/* Counters: readable in U-mode only as scounteren allows (Zicntr). */
	if (csr >= CSR_CYCLE && csr <= CSR_INSTRET) {
		if (c->priv == PRIV_U && !((c->scounteren >> (csr - CSR_CYCLE)) & 1))
			return false;
		*val = csr == CSR_TIME ? machine_time(c->m) : c->instret;
		return true;
	}
	if (c->priv == PRIV_U)
		return false;
	switch (csr) {
	case CSR_SSTATUS:
		*val = c->sstatus | SSTATUS_UXL_64;
		return true;
	case CSR_SIE:
		*val = c->sie;
		return true;
	case CSR_STVEC:
		*val = c->stvec;
		return true;
	case CSR_SCOUNTEREN:
		*val = c->scounteren;
		return true;
	case CSR_SENVCFG:
		*val = c->senvcfg;
		return true;
	case CSR_SSCRATCH:
		*val = c->sscratch;
		return true;
	case CSR_SEPC:
		*val = c->sepc;
		return true;
	case CSR_SCAUSE:
		*val = c->scause;
		return true;
	case CSR_STVAL:
		*val = c->stval;
		return true;
	case CSR_SIP:
		*val = c->sip;
		return true;
	case CSR_SATP:
		*val = c->satp;
		return true;
	default:
		return false;
	}
}

bool cpu_csr_write(struct cpu *c, unsigned csr, uint64_t val)
{
	if (c->priv == PRIV_U)
		return false;
	switch (csr) {
	case CSR_SSTATUS: {
		uint64_t old = c->sstatus;

		c->sstatus = val & SSTATUS_WMASK;
		if ((old ^ c->sstatus) & SSTATUS_MXR)
			cpu_tlb_flush(c); /* read permission of execute-only pages changed */
		cpu_update_tlb_set(c);
		return true;
	}
	case CSR_SIE:
		c->sie = val & SIE_MASK;
		return true;
	case CSR_STVEC:
		/* MODE is WARL: only Direct (0) and Vectored (1) exist. */
		c->stvec = val & ~2ull;
		return true;
	case CSR_SCOUNTEREN:
		c->scounteren = val & 7; /* CY, TM, IR; no hpmcounters */
		return true;
	case CSR_SENVCFG:
		c->senvcfg = val & 1; /* FIOM; no CBO or PBMT extensions */
		return true;
	case CSR_SSCRATCH:
		c->sscratch = val;
		return true;
	case CSR_SEPC:
		c->sepc = val & ~1ull; /* IALIGN=16 */
		return true;
	case CSR_SCAUSE:
		c->scause = val;
		return true;
	case CSR_STVAL:
		c->stval = val;
		return true;
	case CSR_SIP:
		/* Only SSIP is writable; STIP and SEIP are driven by the timer and the PLIC. */
		c->sip = (c->sip & ~SIP_SSIP) | (val & SIP_SSIP);
		return true;
	case CSR_SATP: {
		uint64_t mode = val >> 60;

		/* WARL: a mode other than Bare or Sv39 leaves satp unchanged. ASIDLEN is 0. */
		if (mode == SATP_MODE_BARE)
			c->satp = 0;
		else if (mode == SATP_MODE_SV39)
			c->satp = (SATP_MODE_SV39 << 60) | (val & SATP_PPN_MASK);
		else
			return true;
		cpu_tlb_flush(c);
		return true;
	}
	default:
		return false;
	}
}

/* Zicsr: CSRRW/S/C and their immediate forms. */
static bool cpu_exec_csr(struct cpu *c, uint32_t insn)
{
	unsigned csr = insn >> 20, rd = (insn >> 7) & 31, rs1 = (insn >> 15) & 31;
	unsigned f3 = (insn >> 12) & 7;
	uint64_t src = (f3 & 4) ? rs1 : c->x[rs1];
	uint64_t old = 0, nv;
	bool writes = (f3 & 3) == 1 || rs1 != 0;
	bool reads = (f3 & 3) != 1 || rd != 0;

	if (writes && (csr >> 10) == 3)
		return cpu_raise(c, EXC_ILLEGAL, insn); /* read-only CSR */
	/* Every access checks existence and privilege, even when only one side happens. */
	if (!cpu_csr_read(c, csr, &old))
		return cpu_raise(c, EXC_ILLEGAL, insn);
	(void)reads;
	if (writes) {
		switch (f3 & 3) {
		case 1:
			nv = src;
			break;
		case 2:
			nv = old | src;
			break;
		default:
			nv = old & ~src;
			break;
		}
		if (!cpu_csr_write(c, csr, nv))
			return cpu_raise(c, EXC_ILLEGAL, insn);
	}
	c->x[rd] = old;
	return true;
}

/* ---- RVC expansion (unprivileged spec, "RVC Instruction Set Listings") --------------------- */

static inline uint32_t enc_r(unsigned op, unsigned rd, unsigned f3, unsigned rs1, unsigned rs2,
			     unsigned f7)
{
	return op | rd << 7 | f3 << 12 | rs1 << 15 | rs2 << 20 | f7 << 25;
}

static inline uint32_t enc_i(unsigned op, unsigned rd, unsigned f3, unsigned rs1, int32_t imm)
{
	return op | rd << 7 | f3 << 12 | rs1 << 15 | ((uint32_t)imm & 0xfff) << 20;
}

static inline uint32_t enc_s(unsigned op, unsigned f3, unsigned rs1, unsigned rs2, int32_t imm)
{
	uint32_t u = (uint32_t)imm;

	return op | (u & 0x1f) << 7 | f3 << 12 | rs1 << 15 | rs2 << 20 | ((u >> 5) & 0x7f) << 25;
}

static inline uint32_t enc_b(unsigned f3, unsigned rs1, unsigned rs2, int32_t imm)
{
	uint32_t u = (uint32_t)imm;

	return 0x63 | ((u >> 11) & 1) << 7 | ((u >> 1) & 0xf) << 8 | f3 << 12 | rs1 << 15 |
	       rs2 << 20 | ((u >> 5) & 0x3f) << 25 | ((u >> 12) & 1) << 31;
}

static inline uint32_t enc_j(unsigned rd, int32_t imm)
{
	uint32_t u = (uint32_t)imm;

	return 0x6f | rd << 7 | ((u >> 12) & 0xff) << 12 | ((u >> 11) & 1) << 20 |
	       ((u >> 1) & 0x3ff) << 21 | ((u >> 20) & 1) << 31;
}

static inline int32_t sext(uint32_t v, int bits)
{
	return (int32_t)(v << (32 - bits)) >> (32 - bits);
}

#define BIT(v, n) (((v) >> (n)) & 1u)
#define BITS(v, hi, lo) (((v) >> (lo)) & ((1u << ((hi) - (lo) + 1)) - 1))

uint32_t cpu_expand_rvc(uint16_t ci)
{
	uint32_t i = ci;
	unsigned op = i & 3, f3 = i >> 13;
	unsigned rd = BITS(i, 11, 7), rs2 = BITS(i, 6, 2);
	unsigned rdp = 8 + BITS(i, 4, 2), rs1p = 8 + BITS(i, 9, 7);

	switch (op << 3 | f3) {
	case 0 << 3 | 0: { /* C.ADDI4SPN */
		uint32_t imm = BITS(i, 10, 7) << 6 | BITS(i, 12, 11) << 4 | BIT(i, 5) << 3 |
			       BIT(i, 6) << 2;
		if (imm == 0)
			return 0; /* includes the all-zero illegal instruction */
		return enc_i(0x13, rdp, 0, 2, (int32_t)imm);
	}
	case 0 << 3 | 2: { /* C.LW */
		uint32_t imm = BIT(i, 5) << 6 | BITS(i, 12, 10) << 3 | BIT(i, 6) << 2;
		return enc_i(0x03, rdp, 2, rs1p, (int32_t)imm);
	}
	case 0 << 3 | 3: { /* C.LD */
		uint32_t imm = BITS(i, 6, 5) << 6 | BITS(i, 12, 10) << 3;
		return enc_i(0x03, rdp, 3, rs1p, (int32_t)imm);
	}
	case 0 << 3 | 6: { /* C.SW */
		uint32_t imm = BIT(i, 5) << 6 | BITS(i, 12, 10) << 3 | BIT(i, 6) << 2;
		return enc_s(0x23, 2, rs1p, rdp, (int32_t)imm);
	}
	case 0 << 3 | 7: { /* C.SD */
		uint32_t imm = BITS(i, 6, 5) << 6 | BITS(i, 12, 10) << 3;
		return enc_s(0x23, 3, rs1p, rdp, (int32_t)imm);
	}
	case 1 << 3 | 0: /* C.ADDI (C.NOP when rd=0; rd=0 with imm!=0 and rd!=0 with imm=0 are HINTs) */
		return enc_i(0x13, rd, 0, rd, sext(BIT(i, 12) << 5 | rs2, 6));
	case 1 << 3 | 1: /* C.ADDIW */
		if (rd == 0)
			return 0;
		return enc_i(0x1b, rd, 0, rd, sext(BIT(i, 12) << 5 | rs2, 6));
	case 1 << 3 | 2: /* C.LI (rd=0 is a HINT) */
		return enc_i(0x13, rd, 0, 0, sext(BIT(i, 12) << 5 | rs2, 6));
	case 1 << 3 | 3:
		if (rd == 2) { /* C.ADDI16SP */
			uint32_t imm = BIT(i, 12) << 9 | BITS(i, 4, 3) << 7 | BIT(i, 5) << 6 |
				       BIT(i, 2) << 5 | BIT(i, 6) << 4;
			if (imm == 0)
				return 0;
			return enc_i(0x13, 2, 0, 2, sext(imm, 10));
		} else { /* C.LUI (rd=0 is a HINT) */
			uint32_t imm = BIT(i, 12) << 17 | rs2 << 12;
			if (imm == 0)
				return 0;
			return 0x37 | rd << 7 | ((uint32_t)sext(imm, 18) & 0xfffff000u);
		}
	case 1 << 3 | 4: {
		unsigned f2 = BITS(i, 11, 10);
		uint32_t shamt = BIT(i, 12) << 5 | rs2;

		switch (f2) {
		case 0: /* C.SRLI (shamt=0 is a HINT) */
			return enc_i(0x13, rs1p, 5, rs1p, (int32_t)shamt);
		case 1: /* C.SRAI */
			return enc_i(0x13, rs1p, 5, rs1p, (int32_t)(shamt | 0x400));
		case 2: /* C.ANDI */
			return enc_i(0x13, rs1p, 7, rs1p, sext(shamt, 6));
		default: {
			unsigned rs2p = rdp;
			unsigned sub = BIT(i, 12) << 2 | BITS(i, 6, 5);

			switch (sub) {
			case 0: /* C.SUB */
				return enc_r(0x33, rs1p, 0, rs1p, rs2p, 0x20);
			case 1: /* C.XOR */
				return enc_r(0x33, rs1p, 4, rs1p, rs2p, 0);
			case 2: /* C.OR */
				return enc_r(0x33, rs1p, 6, rs1p, rs2p, 0);
			case 3: /* C.AND */
				return enc_r(0x33, rs1p, 7, rs1p, rs2p, 0);
			case 4: /* C.SUBW */
				return enc_r(0x3b, rs1p, 0, rs1p, rs2p, 0x20);
			case 5: /* C.ADDW */
				return enc_r(0x3b, rs1p, 0, rs1p, rs2p, 0);
			default: /* reserved */
				return 0;
			}
		}
		}
	}
	case 1 << 3 | 5: { /* C.J */
		uint32_t imm = BIT(i, 12) << 11 | BIT(i, 8) << 10 | BITS(i, 10, 9) << 8 |
			       BIT(i, 6) << 7 | BIT(i, 7) << 6 | BIT(i, 2) << 5 | BIT(i, 11) << 4 |
			       BITS(i, 5, 3) << 1;
		return enc_j(0, sext(imm, 12));
	}
	case 1 << 3 | 6:
	case 1 << 3 | 7: { /* C.BEQZ, C.BNEZ */
		uint32_t imm = BIT(i, 12) << 8 | BITS(i, 6, 5) << 6 | BIT(i, 2) << 5 |
			       BITS(i, 11, 10) << 3 | BITS(i, 4, 3) << 1;
		return enc_b(f3 == 6 ? 0 : 1, rs1p, 0, sext(imm, 9));
	}
	case 2 << 3 | 0: /* C.SLLI (rd=0 or shamt=0 are HINTs) */
		return enc_i(0x13, rd, 1, rd, (int32_t)(BIT(i, 12) << 5 | rs2));
	case 2 << 3 | 2: { /* C.LWSP */
		uint32_t imm = BITS(i, 3, 2) << 6 | BIT(i, 12) << 5 | BITS(i, 6, 4) << 2;
		if (rd == 0)
			return 0;
		return enc_i(0x03, rd, 2, 2, (int32_t)imm);
	}
	case 2 << 3 | 3: { /* C.LDSP */
		uint32_t imm = BITS(i, 4, 2) << 6 | BIT(i, 12) << 5 | BITS(i, 6, 5) << 3;
		if (rd == 0)
			return 0;
		return enc_i(0x03, rd, 3, 2, (int32_t)imm);
	}
	case 2 << 3 | 4:
		if (!BIT(i, 12)) {
			if (rs2 == 0) { /* C.JR */
				if (rd == 0)
					return 0;
				return enc_i(0x67, 0, 0, rd, 0);
			}
			return enc_r(0x33, rd, 0, 0, rs2, 0); /* C.MV (rd=0 is a HINT) */
		}
		if (rs2 == 0) {
			if (rd == 0)
				return 0x00100073; /* C.EBREAK */
			return enc_i(0x67, 1, 0, rd, 0); /* C.JALR */
		}
		return enc_r(0x33, rd, 0, rd, rs2, 0); /* C.ADD (rd=0 is a HINT) */
	case 2 << 3 | 6: { /* C.SWSP */
		uint32_t imm = BITS(i, 8, 7) << 6 | BITS(i, 12, 9) << 2;
		return enc_s(0x23, 2, 2, rs2, (int32_t)imm);
	}
	case 2 << 3 | 7: { /* C.SDSP */
		uint32_t imm = BITS(i, 9, 7) << 6 | BITS(i, 12, 10) << 3;
		return enc_s(0x23, 3, 2, rs2, (int32_t)imm);
	}
	default:
		/* C.FLD, C.FSD, C.FLDSP, C.FSDSP and the RV32-only encodings: no F/D here. */
		return 0;
	}
}

/* ---- execution ---------------------------------------------------------------------------- */

static inline int64_t imm_i(uint32_t insn)
{
	return (int32_t)insn >> 20;
}

static inline int64_t imm_s(uint32_t insn)
{
	return ((int32_t)insn >> 25) * 32 + (int32_t)((insn >> 7) & 31);
}

static inline int64_t imm_b(uint32_t insn)
{
	uint32_t v = BIT(insn, 31) << 12 | BIT(insn, 7) << 11 | BITS(insn, 30, 25) << 5 |
		     BITS(insn, 11, 8) << 1;
	return sext(v, 13);
}

static inline int64_t imm_j(uint32_t insn)
{
	uint32_t v = BIT(insn, 31) << 20 | BITS(insn, 19, 12) << 12 | BIT(insn, 20) << 11 |
		     BITS(insn, 30, 21) << 1;
	return sext(v, 21);
}

static inline uint64_t mulhu64(uint64_t a, uint64_t b)
{
	return (uint64_t)(((unsigned __int128)a * b) >> 64);
}

static inline uint64_t mulh64(int64_t a, int64_t b)
{
	return (uint64_t)(((__int128)a * b) >> 64);
}

static inline uint64_t mulhsu64(int64_t a, uint64_t b)
{
	return (uint64_t)(((__int128)a * (__int128)b) >> 64);
}

static uint64_t cpu_muldiv(unsigned f3, uint64_t a, uint64_t b)
{
	switch (f3) {
	case 0: /* MUL */
		return a * b;
	case 1: /* MULH */
		return mulh64((int64_t)a, (int64_t)b);
	case 2: /* MULHSU */
		return mulhsu64((int64_t)a, b);
	case 3: /* MULHU */
		return mulhu64(a, b);
	case 4: /* DIV: by zero gives -1; INT64_MIN / -1 overflows to INT64_MIN */
		if (b == 0)
			return UINT64_MAX;
		if ((int64_t)a == INT64_MIN && (int64_t)b == -1)
			return a;
		return (uint64_t)((int64_t)a / (int64_t)b);
	case 5: /* DIVU */
		return b == 0 ? UINT64_MAX : a / b;
	case 6: /* REM: by zero gives the dividend; the overflow case gives 0 */
		if (b == 0)
			return a;
		if ((int64_t)a == INT64_MIN && (int64_t)b == -1)
			return 0;
		return (uint64_t)((int64_t)a % (int64_t)b);
	default: /* REMU */
		return b == 0 ? a : a % b;
	}
}

static uint64_t cpu_muldivw(unsigned f3, uint64_t a64, uint64_t b64)
{
	int32_t a = (int32_t)a64, b = (int32_t)b64;
	uint32_t ua = (uint32_t)a64, ub = (uint32_t)b64;
	int32_t r;

	switch (f3) {
	case 0: /* MULW */
		r = (int32_t)(ua * ub);
		break;
	case 4: /* DIVW */
		if (b == 0)
			r = -1;
		else if (a == INT32_MIN && b == -1)
			r = a;
		else
			r = a / b;
		break;
	case 5: /* DIVUW */
		r = (int32_t)(ub == 0 ? UINT32_MAX : ua / ub);
		break;
	case 6: /* REMW */
		if (b == 0)
			r = a;
		else if (a == INT32_MIN && b == -1)
			r = 0;
		else
			r = a % b;
		break;
	default: /* REMUW */
		r = (int32_t)(ub == 0 ? ua : ua % ub);
		break;
	}
	return (uint64_t)(int64_t)r;
}

/* The A extension. */
static bool cpu_exec_amo(struct cpu *c, uint32_t insn)
{
	unsigned rd = (insn >> 7) & 31, rs1 = (insn >> 15) & 31, rs2 = (insn >> 20) & 31;
	unsigned f3 = (insn >> 12) & 7, f5 = insn >> 27;
	uint64_t va = c->x[rs1], src = c->x[rs2], old, res;
	unsigned size;
	uint8_t *h;

	if (f3 == 2)
		size = 4;
	else if (f3 == 3)
		size = 8;
	else
		return cpu_raise(c, EXC_ILLEGAL, insn);

	if (f5 == 0x02) { /* LR */
		const uint8_t *rh;
		uint64_t pa;

		if (rs2 != 0)
			return cpu_raise(c, EXC_ILLEGAL, insn);
		if (va & (size - 1))
			return cpu_raise(c, EXC_LOAD_MISALIGNED, va);
		if (!cpu_translate(c, va, ACC_R, &pa, &rh))
			return false;
		if (!rh)
			return cpu_raise(c, EXC_LOAD_ACCESS, va);
		old = 0;
		memcpy(&old, rh, size);
		c->x[rd] = size == 4 ? (uint64_t)(int64_t)(int32_t)old : old;
		c->lr_addr = va;
		c->lr_valid = 1;
		return true;
	}
	if (f5 == 0x03) { /* SC */
		if (va & (size - 1))
			return cpu_raise(c, EXC_STORE_MISALIGNED, va);
		if (!c->lr_valid || c->lr_addr != va) {
			c->lr_valid = 0;
			c->x[rd] = 1;
			return true;
		}
		if (!cpu_amo_ptr(c, va, size, &h))
			return false;
		c->lr_valid = 0;
		memcpy(h, &src, size); /* h came from ram_page_for_write: the page is marked */
		c->x[rd] = 0;
		return true;
	}
	switch (f5) {
	case 0x00:
	case 0x01:
	case 0x04:
	case 0x08:
	case 0x0c:
	case 0x10:
	case 0x14:
	case 0x18:
	case 0x1c:
		break;
	default:
		return cpu_raise(c, EXC_ILLEGAL, insn);
	}
	if (!cpu_amo_ptr(c, va, size, &h))
		return false;
	old = 0;
	memcpy(&old, h, size);
	if (size == 4) {
		old = (uint64_t)(int64_t)(int32_t)old;
		src = (uint64_t)(int64_t)(int32_t)src;
	}
	switch (f5) {
	case 0x00: /* AMOADD */
		res = old + src;
		break;
	case 0x01: /* AMOSWAP */
		res = src;
		break;
	case 0x04: /* AMOXOR */
		res = old ^ src;
		break;
	case 0x08: /* AMOOR */
		res = old | src;
		break;
	case 0x0c: /* AMOAND */
		res = old & src;
		break;
	case 0x10: /* AMOMIN */
		res = (int64_t)old < (int64_t)src ? old : src;
		break;
	case 0x14: /* AMOMAX */
		res = (int64_t)old > (int64_t)src ? old : src;
		break;
	case 0x18: /* AMOMINU */
		res = old < src ? old : src;
		break;
	default: /* AMOMAXU */
		res = old > src ? old : src;
		break;
	}
	memcpy(h, &res, size); /* h came from ram_page_for_write: the page is marked */
	c->x[rd] = old;
	return true;
}

/* SYSTEM opcode: ECALL, EBREAK, SRET, WFI, SFENCE.VMA, and the CSR instructions. */
static bool cpu_exec_system(struct cpu *c, uint32_t insn, uint64_t *next_pc)
{
	unsigned f3 = (insn >> 12) & 7;

	if (f3 != 0) {
		if (f3 == 4)
			return cpu_raise(c, EXC_ILLEGAL, insn);
		return cpu_exec_csr(c, insn);
	}
	if (((insn >> 7) & 31) != 0)
		return cpu_raise(c, EXC_ILLEGAL, insn);
	switch (insn >> 20) {
	case 0x000: /* ECALL */
		if ((insn >> 15) & 31)
			break;
		if (c->priv == PRIV_U)
			return cpu_raise(c, EXC_ECALL_U, 0);
		sbi_ecall(c);
		return true;
	case 0x001: /* EBREAK */
		if ((insn >> 15) & 31)
			break;
		return cpu_raise(c, EXC_BREAKPOINT, c->pc);
	case 0x102: /* SRET */
		if ((insn >> 15) & 31)
			break;
		if (c->priv != PRIV_S)
			return cpu_raise(c, EXC_ILLEGAL, insn);
		*next_pc = c->sepc;
		c->priv = (c->sstatus & SSTATUS_SPP) ? PRIV_S : PRIV_U;
		c->sstatus = (c->sstatus & ~SSTATUS_SIE) | ((c->sstatus & SSTATUS_SPIE) ? SSTATUS_SIE : 0);
		c->sstatus |= SSTATUS_SPIE;
		c->sstatus &= ~SSTATUS_SPP;
		cpu_update_tlb_set(c);
		return true;
	case 0x105: /* WFI */
		if ((insn >> 15) & 31)
			break;
		if (c->priv != PRIV_S)
			return cpu_raise(c, EXC_ILLEGAL, insn);
		if (!cpu_irq_waiting(c)) {
			c->wfi = 1;
			c->stop = true;
		}
		return true;
	default:
		if ((insn >> 25) == 0x09) { /* SFENCE.VMA */
			if (c->priv != PRIV_S)
				return cpu_raise(c, EXC_ILLEGAL, insn);
			cpu_tlb_flush(c);
			return true;
		}
		break;
	}
	return cpu_raise(c, EXC_ILLEGAL, insn);
}

static inline uint64_t sext32(uint64_t v)
{
	return (uint64_t)(int64_t)(int32_t)v;
}

/* Execute one (expanded) instruction of length len. Returns false if it raised an exception. */
static inline bool cpu_exec(struct cpu *c, uint32_t insn, unsigned len)
{
	uint64_t *x = c->x;
	unsigned rd = (insn >> 7) & 31, rs1 = (insn >> 15) & 31, rs2 = (insn >> 20) & 31;
	unsigned f3 = (insn >> 12) & 7, f7 = insn >> 25;
	uint64_t next_pc = c->pc + len, v;

	switch (insn & 0x7f) {
	case 0x37: /* LUI */
		x[rd] = (uint64_t)(int64_t)(int32_t)(insn & 0xfffff000u);
		break;
	case 0x17: /* AUIPC */
		x[rd] = c->pc + (uint64_t)(int64_t)(int32_t)(insn & 0xfffff000u);
		break;
	case 0x6f: /* JAL */
		x[rd] = next_pc;
		next_pc = c->pc + (uint64_t)imm_j(insn);
		break;
	case 0x67: /* JALR */
		if (f3 != 0)
			return cpu_raise(c, EXC_ILLEGAL, insn);
		v = (x[rs1] + (uint64_t)imm_i(insn)) & ~1ull;
		x[rd] = next_pc;
		next_pc = v;
		break;
	case 0x63: { /* branches */
		uint64_t a = x[rs1], b = x[rs2];
		bool t;

		switch (f3) {
		case 0:
			t = a == b;
			break;
		case 1:
			t = a != b;
			break;
		case 4:
			t = (int64_t)a < (int64_t)b;
			break;
		case 5:
			t = (int64_t)a >= (int64_t)b;
			break;
		case 6:
			t = a < b;
			break;
		case 7:
			t = a >= b;
			break;
		default:
			return cpu_raise(c, EXC_ILLEGAL, insn);
		}
		if (t)
			next_pc = c->pc + (uint64_t)imm_b(insn);
		break;
	}
	case 0x03: { /* loads */
		uint64_t va = x[rs1] + (uint64_t)imm_i(insn);
		static const unsigned char sizes[8] = { 1, 2, 4, 8, 1, 2, 4, 0 };
		unsigned size = sizes[f3];

		if (size == 0)
			return cpu_raise(c, EXC_ILLEGAL, insn);
		if (!cpu_load(c, va, size, &v))
			return false;
		switch (f3) {
		case 0:
			v = (uint64_t)(int64_t)(int8_t)v;
			break;
		case 1:
			v = (uint64_t)(int64_t)(int16_t)v;
			break;
		case 2:
			v = sext32(v);
			break;
		default:
			break;
		}
		x[rd] = v;
		break;
	}
	case 0x23: { /* stores */
		uint64_t va = x[rs1] + (uint64_t)imm_s(insn);

		if (f3 > 3)
			return cpu_raise(c, EXC_ILLEGAL, insn);
		if (!cpu_store(c, va, 1u << f3, x[rs2]))
			return false;
		break;
	}
	case 0x13: { /* OP-IMM */
		uint64_t a = x[rs1];
		int64_t imm = imm_i(insn);

		switch (f3) {
		case 0:
			v = a + (uint64_t)imm;
			break;
		case 1: /* SLLI: imm[11:6] must be zero */
			if ((insn >> 26) != 0)
				return cpu_raise(c, EXC_ILLEGAL, insn);
			v = a << (imm & 63);
			break;
		case 2:
			v = (int64_t)a < imm;
			break;
		case 3:
			v = a < (uint64_t)imm;
			break;
		case 4:
			v = a ^ (uint64_t)imm;
			break;
		case 5: /* SRLI / SRAI */
			if ((insn >> 26) == 0)
				v = a >> (imm & 63);
			else if ((insn >> 26) == 0x10)
				v = (uint64_t)((int64_t)a >> (imm & 63));
			else
				return cpu_raise(c, EXC_ILLEGAL, insn);
			break;
		case 6:
			v = a | (uint64_t)imm;
			break;
		default:
			v = a & (uint64_t)imm;
			break;
		}
		x[rd] = v;
		break;
	}
	case 0x1b: { /* OP-IMM-32 */
		uint64_t a = x[rs1];
		unsigned sh = rs2; /* shamt[4:0] */

		switch (f3) {
		case 0: /* ADDIW */
			v = sext32(a + (uint64_t)imm_i(insn));
			break;
		case 1: /* SLLIW */
			if (f7 != 0)
				return cpu_raise(c, EXC_ILLEGAL, insn);
			v = sext32((uint32_t)a << sh);
			break;
		case 5:
			if (f7 == 0) /* SRLIW */
				v = sext32((uint32_t)a >> sh);
			else if (f7 == 0x20) /* SRAIW */
				v = (uint64_t)(int64_t)((int32_t)a >> sh);
			else
				return cpu_raise(c, EXC_ILLEGAL, insn);
			break;
		default:
			return cpu_raise(c, EXC_ILLEGAL, insn);
		}
		x[rd] = v;
		break;
	}
	case 0x33: { /* OP */
		uint64_t a = x[rs1], b = x[rs2];

		if (f7 == 0x01) {
			v = cpu_muldiv(f3, a, b);
		} else if (f7 == 0) {
			switch (f3) {
			case 0:
				v = a + b;
				break;
			case 1:
				v = a << (b & 63);
				break;
			case 2:
				v = (int64_t)a < (int64_t)b;
				break;
			case 3:
				v = a < b;
				break;
			case 4:
				v = a ^ b;
				break;
			case 5:
				v = a >> (b & 63);
				break;
			case 6:
				v = a | b;
				break;
			default:
				v = a & b;
				break;
			}
		} else if (f7 == 0x20 && f3 == 0) {
			v = a - b;
		} else if (f7 == 0x20 && f3 == 5) {
			v = (uint64_t)((int64_t)a >> (b & 63));
		} else {
			return cpu_raise(c, EXC_ILLEGAL, insn);
		}
		x[rd] = v;
		break;
	}
	case 0x3b: { /* OP-32 */
		uint64_t a = x[rs1], b = x[rs2];

		if (f7 == 0x01) {
			if (f3 != 0 && f3 < 4)
				return cpu_raise(c, EXC_ILLEGAL, insn);
			v = cpu_muldivw(f3, a, b);
		} else if (f7 == 0 && f3 == 0) {
			v = sext32(a + b);
		} else if (f7 == 0x20 && f3 == 0) {
			v = sext32(a - b);
		} else if (f7 == 0 && f3 == 1) {
			v = sext32((uint32_t)a << (b & 31));
		} else if (f7 == 0 && f3 == 5) {
			v = sext32((uint32_t)a >> (b & 31));
		} else if (f7 == 0x20 && f3 == 5) {
			v = (uint64_t)(int64_t)((int32_t)a >> (b & 31));
		} else {
			return cpu_raise(c, EXC_ILLEGAL, insn);
		}
		x[rd] = v;
		break;
	}
	case 0x0f: /* MISC-MEM: FENCE, FENCE.I (no decode cache, so nothing to flush) */
		if (f3 > 1)
			return cpu_raise(c, EXC_ILLEGAL, insn);
		break;
	case 0x2f:
		if (!cpu_exec_amo(c, insn))
			return false;
		break;
	case 0x73:
		if (!cpu_exec_system(c, insn, &next_pc))
			return false;
		break;
	default:
		return cpu_raise(c, EXC_ILLEGAL, insn);
	}
	x[0] = 0;
	c->pc = next_pc;
	return true;
}

uint64_t cpu_run(struct cpu *c, uint64_t max)
{
	uint64_t n = 0;

	c->stop = false;
	if (c->hsm != HSM_STARTED)
		return 0;
	/* max bounds steps: an instruction retired or a trap taken. */
	for (uint64_t step = 0; step < max && !c->stop; step++) {
		uint32_t insn, orig;
		unsigned len = 4;

		if (unlikely(c->sip & c->sie) && cpu_check_interrupts(c))
			continue;
		if (unlikely(!cpu_fetch(c, &insn))) {
			cpu_trap(c, c->exc_cause, c->exc_tval);
			continue;
		}
		orig = insn;
		if ((insn & 3) != 3) {
			uint16_t half = (uint16_t)insn;

			orig = half;
			insn = cpu_expand_rvc(half);
			len = 2;
			if (unlikely(insn == 0)) {
				cpu_trap(c, EXC_ILLEGAL, half);
				continue;
			}
		}
		if (likely(cpu_exec(c, insn, len))) {
			c->instret++;
			n++;
		} else {
			/* stval of an illegal instruction holds the instruction as fetched. */
			cpu_trap(c, c->exc_cause, c->exc_cause == EXC_ILLEGAL ? orig : c->exc_tval);
		}
	}
	return n;
}

/* ---- migratable state --------------------------------------------------------------------- */

/* Checks a range cannot express, then the caches: a loaded hart starts with an empty TLB. */
static int cpu_post_load(void *obj, struct err *e)
{
	struct cpu *c = obj;
	uint64_t mode = c->satp >> 60;

	if (c->sstatus & ~SSTATUS_WMASK)
		return err_set(e, "field 'sstatus': bits 0x%llx do not exist",
			       (unsigned long long)(c->sstatus & ~SSTATUS_WMASK));
	if ((c->sie | c->sip) & ~SIE_MASK)
		return err_set(e, "field 'sie' or 'sip': bits beyond SSIP, STIP and SEIP");
	if (c->stvec & 2)
		return err_set(e, "field 'stvec': reserved mode");
	if (c->sepc & 1)
		return err_set(e, "field 'sepc': odd address");
	if (c->scounteren & ~7ull)
		return err_set(e, "field 'scounteren': bits beyond CY, TM and IR");
	if (c->senvcfg & ~1ull)
		return err_set(e, "field 'senvcfg': bits beyond FIOM");
	if (!((mode == SATP_MODE_BARE && c->satp == 0) ||
	      (mode == SATP_MODE_SV39 && !(c->satp & ~((SATP_MODE_SV39 << 60) | SATP_PPN_MASK)))))
		return err_set(e, "field 'satp': 0x%llx is not a value this hart can hold",
			       (unsigned long long)c->satp);
	c->x[0] = 0;
	c->exc_cause = 0;
	c->exc_tval = 0;
	c->stop = false;
	cpu_update_tlb_set(c);
	cpu_tlb_flush(c);
	return 0;
}

static const struct state_field cpu_fields[] = {
	STATE_ARRAY(struct cpu, x),
	STATE_FIELD(struct cpu, pc),
	STATE_FIELD(struct cpu, instret),
	STATE_FIELD(struct cpu, sstatus),
	STATE_FIELD(struct cpu, sie),
	STATE_FIELD(struct cpu, sip),
	STATE_FIELD(struct cpu, stvec),
	STATE_FIELD(struct cpu, sscratch),
	STATE_FIELD(struct cpu, sepc),
	STATE_FIELD(struct cpu, scause),
	STATE_FIELD(struct cpu, stval),
	STATE_FIELD(struct cpu, satp),
	STATE_FIELD(struct cpu, scounteren),
	STATE_FIELD(struct cpu, senvcfg),
	STATE_FIELD(struct cpu, timecmp),
	STATE_FIELD(struct cpu, lr_addr),
	STATE_FIELD_MAX(struct cpu, hartid, 0),
	STATE_FIELD_MAX(struct cpu, priv, PRIV_S),
	STATE_FIELD_MAX(struct cpu, lr_valid, 1),
	STATE_FIELD_MAX(struct cpu, hsm, HSM_SUSPENDED),
	STATE_FIELD_MAX(struct cpu, wfi, 1),
};

const struct state_desc cpu_state = {
	.name = "cpu",
	.version = 1,
	.fields = cpu_fields,
	.nfields = STATE_NFIELDS(cpu_fields),
	.post_load = cpu_post_load,
};
