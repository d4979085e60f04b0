/* cpu.c - RV64IMAC interpreter with Zicsr, Zifencei and Zicntr; S and U modes.
 *
 * Decode once, run many times. Instructions are decoded into a decode cache
 * indexed by guest *physical* page: one 16-byte slot per 2-byte offset of the
 * page (struct cpu_dinsn in cpu.h: an operation, the register numbers, the
 * sign-extended immediate and the distance to the next slot; a compressed
 * instruction is expanded once, here). A slot is decoded the first time it is
 * run: an all-zero slot leads to D_DECODE, which decodes it in place.
 *
 * Threaded dispatch: cpu_run() keeps the current slot in a local and ends the
 * code of every operation with its own indirect jump to the next slot's
 * operation (GCC's labels as values; the slot holds the offset of its
 * operation's code). The pc is not kept: it is derived from the slot's
 * position when an instruction needs it. A jump or branch whose target is on
 * the same page moves the slot pointer; one to another page finds the
 * target's decoded page through the execute TLB, whose entries carry a link to
 * it (c->xpage). Falling off the end of a page reaches the page's last slot,
 * which is never decoded, and continues on the next page the same way.
 *
 * Counting: the fast operations (computation, branches, jumps, loads and
 * stores that hit the TLB) only decrement a local step budget, from which
 * c->instret is derived exactly whenever it is written back; `max` bounds
 * steps (instructions retired, traps and interrupts taken) as before. These
 * operations cannot change sip, sie, sstatus, the privilege, the TLB or
 * c->stop. Everything that can (SYSTEM and CSR instructions, AMOs, a TLB miss,
 * MMIO, a trap, an instruction across a page end) runs out of line with c->pc
 * and c->instret written back first, and then returns to the instruction
 * boundary ("boundary" in cpu_run), which looks at c->stop and at pending
 * interrupts before the next instruction, exactly as a step-by-step loop
 * would.
 *
 * Coherence with memory: every write to RAM goes through ram.h, and every
 * accessor there checks a second bitmap, the pages the hart has decoded
 * instructions from ("code pages"). The first write to a code page calls
 * cpu_code_hook() before the bytes change, which drops all the decoded slots
 * of that page; they are decoded again from memory when next run. The hart's
 * own stores through the write-TLB are covered by an invariant: no write-TLB
 * entry points to a code page. When a page becomes a code page, its write
 * entries (under every virtual alias) are dropped; a store to it then takes
 * the slow path, whose ram_page_for_write() drops the decoded code first. So a
 * store, an AMO, an SC, a PTE A/D update, a device write (ram_write,
 * ram_dma_ptr) or a snapshot load over code is seen before that code runs
 * again, even when it is the next instruction of the same page, and FENCE.I
 * has nothing left to do. The decode cache depends only on physical memory,
 * so satp writes and SFENCE.VMA flush only the TLB (and with it the execute
 * TLB's links to decoded pages); the decode cache itself is emptied when a
 * saved state is loaded and at reset. A 32-bit instruction that straddles two
 * pages is never cached (D_CROSS fetches it each time), as its slot would not
 * see a write to the second page.
 *
 * Exceptions are precise: an instruction that faults records the exception
 * in c->exc_cause/exc_tval and changes no register or memory; the trap is then
 * entered with c->pc at the faulting instruction. The generic executor
 * (cpu_exec, one switch over the 32-bit encoding) runs the rare instructions
 * and serves as the reference: with c->generic set, every instruction is
 * decoded for it, which the unit tests use to compare the two.
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
#include "vmm/core/cpu.h"

#include <stddef.h>
#include <string.h>

#include "vmm/core/fpu.h"
#include "vmm/core/gclock.h"
#include "vmm/core/isa.h"
#include "vmm/core/mmu.h"
#include "vmm/core/ram.h"
#include "common/state.h"

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
	memset(c->xpage, 0, sizeof(c->xpage));
}

void cpu_tlb_flush_writes(struct cpu *c)
{
	for (int s = 0; s < TLB_SETS; s++)
		for (int i = 0; i < TLB_ENTRIES; i++)
			c->tlb[s][ACC_W][i].vpn = TLB_INVALID;
}

static void cpu_code_hook(void *opaque, uint64_t gpa);

void cpu_reset(struct cpu *c, const struct cpu_bus *bus, struct ram *ram, uint32_t hartid,
	       uint64_t pc, uint64_t a1)
{
	unsigned ext = c->ext;

	memset(c, 0, sizeof(*c));
	c->ext = ext;
	c->bus = bus;
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
	c->dcache = ram_code_cache(ram, DCACHE_PAGES * sizeof(struct cpu_dpage));
	ram_set_code_hook(ram, cpu_code_hook, c);
	cpu_dcache_flush(c);
}

void cpu_hart_start(struct cpu *c, uint64_t pc, uint64_t a1)
{
	memset(c->x, 0, sizeof(c->x));
	memset(c->f, 0, sizeof(c->f));
	c->fcsr = 0;
	c->pc = pc;
	c->x[10] = c->hartid;
	c->x[11] = a1;
	c->priv = PRIV_S;
	c->sstatus = 0;
	c->sie = 0;
	c->sip &= ~SIP_SSIP;
	c->stvec = c->sscratch = c->sepc = c->scause = c->stval = 0;
	c->satp = 0;
	c->scounteren = c->senvcfg = 0;
	c->timecmp = UINT64_MAX;
	c->lr_valid = 0;
	c->wfi = 0;
	c->hsm = HSM_STARTED;
	cpu_update_tlb_set(c);
	cpu_tlb_flush(c);
}

/* This hart changed what the others may hold of the shared decode cache (ram.h, code_epoch);
 * it has seen to its own links and entries. */
static void cpu_code_epoch_bump(struct cpu *c)
{
	c->code_epoch = ++c->ram->code_epoch;
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
		 * the page dirty first (and drops decoded code of it, so no write entry ever
		 * points to a code page); read and execute entries never write. */
		const uint8_t *page = acc == ACC_W ? ram_page_for_write(c->ram, *pa)
						   : ram_ptr(c->ram, *pa & ~0xfffull);
		unsigned i = (unsigned)((va >> 12) % TLB_ENTRIES);
		struct cpu_tlb_entry *e = &c->tlb[c->tlb_set][acc][i];

		e->vpn = va >> 12;
		e->addend = (uintptr_t)page - (uintptr_t)(va & ~0xfffull);
		if (acc == ACC_X)
			c->xpage[c->tlb_set][i] = NULL; /* looked up when first run */
		*host = page + (va & 0xfff);
	}
	return true;
}

/* The entry of one TLB (an access kind in a set) that maps [va, va+size) within one page, or
 * NULL. */
static inline const struct cpu_tlb_entry *cpu_tlb_hit(const struct cpu_tlb_entry *tlb, uint64_t va,
						      unsigned size)
{
	const struct cpu_tlb_entry *e = &tlb[(va >> 12) % TLB_ENTRIES];

	if (likely(e->vpn == va >> 12) && likely((va & 0xfff) <= 0x1000 - size))
		return e;
	return NULL;
}

/* The writable host address of va through a write-TLB entry. This is the one place a write
 * pointer is made from a TLB entry (stores and AMOs); the page was marked dirty when the entry
 * was installed (ram_page_for_write), and is not a code page. */
static inline uint8_t *cpu_write_host(const struct cpu_tlb_entry *e, uint64_t va)
{
	return (void *)(e->addend + (uintptr_t)va);
}

static inline const uint8_t *cpu_read_host(const struct cpu_tlb_entry *e, uint64_t va)
{
	return (const void *)(e->addend + (uintptr_t)va);
}

/* The read-only host pointer for [va, va+size) if the TLB maps it within one page, else NULL. */
static inline const uint8_t *cpu_read_ptr(const struct cpu_tlb_entry *tlb, uint64_t va,
					  unsigned size)
{
	const struct cpu_tlb_entry *e = cpu_tlb_hit(tlb, va, size);

	return e ? cpu_read_host(e, va) : NULL;
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
	if ((va & (size - 1)) || !c->bus->read(c->bus->opaque, pa, size, val))
		return cpu_raise(c, EXC_LOAD_ACCESS, va);
	return true;
}

/* Load size bytes (1, 2, 4, 8), zero-extended. */
static inline bool cpu_load(struct cpu *c, uint64_t va, unsigned size, uint64_t *val)
{
	const uint8_t *p = cpu_read_ptr(c->tlb[c->tlb_set][ACC_R], va, size);

	if (likely(p != NULL)) {
		*val = 0;
		memcpy(val, p, size);
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
	if ((va & (size - 1)) || !c->bus->write(c->bus->opaque, pa, size, val))
		return cpu_raise(c, EXC_STORE_ACCESS, va);
	return true;
}

/* Store the low size bytes of val. */
static inline bool cpu_store(struct cpu *c, uint64_t va, unsigned size, uint64_t val)
{
	const struct cpu_tlb_entry *e = cpu_tlb_hit(c->tlb[c->tlb_set][ACC_W], va, size);

	if (likely(e != NULL)) {
		memcpy(cpu_write_host(e, va), &val, size);
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
	/* A write entry means the page is writable, hence readable (W without R is reserved),
	 * already marked dirty, and not a code page. */
	const struct cpu_tlb_entry *e = cpu_tlb_hit(c->tlb[c->tlb_set][ACC_W], va, size);

	if (e) {
		*host = cpu_write_host(e, va);
		return true;
	}
	if (!cpu_translate(c, va, ACC_W, &pa, &h))
		return false;
	if (!h)
		return cpu_raise(c, EXC_STORE_ACCESS, va);
	/* Reading requires R as well (W without R is reserved, so W implies R here). The
	 * writable pointer comes from the RAM accessor, which marks the page. */
	*host = ram_page_for_write(c->ram, pa) + (pa & 0xfff);
	return true;
}

/* Fetch the instruction at c->pc without the decode cache (a 32-bit instruction whose upper
 * half is on the next page). */
static bool cpu_fetch_slow(struct cpu *c, uint32_t *insn)
{
	uint64_t pc = c->pc, pa;
	const uint8_t *h = cpu_read_ptr(c->tlb[c->tlb_set][ACC_X], pc, 2);
	uint16_t lo, hi;

	if (!h && !cpu_translate(c, pc, ACC_X, &pa, &h))
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
	h = cpu_read_ptr(c->tlb[c->tlb_set][ACC_X], pc + 2, 2);
	if (!h && !cpu_translate(c, pc + 2, ACC_X, &pa, &h))
		return false;
	if (!h)
		return cpu_raise(c, EXC_INSN_ACCESS, pc + 2);
	memcpy(&hi, h, 2);
	*insn = (uint32_t)lo | ((uint32_t)hi << 16);
	return true;
}

/* ---- CSRs ---------------------------------------------------------------------------------- */

/* F and D are usable: the hart has F and sstatus.FS is not Off. */
static inline bool cpu_fp_on(const struct cpu *c)
{
	return (c->ext & ISA_F) && (c->sstatus & SSTATUS_FS) != SSTATUS_FS_OFF;
}

/* A write to an FP register or to fcsr: FS becomes Dirty (and SD with it). */
static inline void cpu_fp_dirty(struct cpu *c)
{
	c->sstatus |= SSTATUS_FS_DIRTY;
}

bool cpu_csr_read(struct cpu *c, unsigned csr, uint64_t *val)
{
	/* fflags, frm, fcsr: from U-mode too, and only while FS is not Off. */
	if (csr >= CSR_FFLAGS && csr <= CSR_FCSR) {
		if (!cpu_fp_on(c))
			return false;
		*val = csr == CSR_FFLAGS ? (c->fcsr & 0x1f)
		       : csr == CSR_FRM	 ? (c->fcsr >> 5)
					 : c->fcsr;
		return true;
	}
	/* Counters: readable in U-mode only as scounteren allows (Zicntr). */
	if (csr >= CSR_CYCLE && csr <= CSR_INSTRET) {
		if (c->priv == PRIV_U && !((c->scounteren >> (csr - CSR_CYCLE)) & 1))
			return false;
		*val = csr == CSR_TIME ? c->bus->time(c->bus->opaque) : c->instret;
		return true;
	}
	if (c->priv == PRIV_U)
		return false;
	switch (csr) {
	case CSR_SSTATUS:
		*val = c->sstatus | SSTATUS_UXL_64 |
		       ((c->sstatus & SSTATUS_FS) == SSTATUS_FS_DIRTY ? SSTATUS_SD : 0);
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
	if (csr >= CSR_FFLAGS && csr <= CSR_FCSR) {
		if (!cpu_fp_on(c))
			return false;
		if (csr == CSR_FFLAGS)
			c->fcsr = (c->fcsr & ~0x1fu) | (uint32_t)(val & 0x1f);
		else if (csr == CSR_FRM)
			c->fcsr = (c->fcsr & 0x1fu) | (uint32_t)(val & 7) << 5;
		else
			c->fcsr = (uint32_t)(val & 0xff);
		cpu_fp_dirty(c);
		return true;
	}
	if (c->priv == PRIV_U)
		return false;
	switch (csr) {
	case CSR_SSTATUS: {
		uint64_t old = c->sstatus;

		/* FS is read-only zero on a hart without F. */
		c->sstatus = val & SSTATUS_WMASK & ((c->ext & ISA_F) ? ~0ull : ~SSTATUS_FS);
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
		uint32_t imm =
		    BITS(i, 10, 7) << 6 | BITS(i, 12, 11) << 4 | BIT(i, 5) << 3 | BIT(i, 6) << 2;
		if (imm == 0)
			return 0; /* includes the all-zero illegal instruction */
		return enc_i(0x13, rdp, 0, 2, (int32_t)imm);
	}
	case 0 << 3 | 1: { /* C.FLD (an FLD: illegal there unless the hart has D and FS is on) */
		uint32_t imm = BITS(i, 6, 5) << 6 | BITS(i, 12, 10) << 3;
		return enc_i(0x07, rdp, 3, rs1p, (int32_t)imm);
	}
	case 0 << 3 | 5: { /* C.FSD */
		uint32_t imm = BITS(i, 6, 5) << 6 | BITS(i, 12, 10) << 3;
		return enc_s(0x27, 3, rs1p, rdp, (int32_t)imm);
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
	case 1 << 3 |
	    0: /* C.ADDI (C.NOP when rd=0; rd=0 with imm!=0 and rd!=0 with imm=0 are HINTs) */
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
	case 2 << 3 | 1: { /* C.FLDSP (f0 is a valid destination) */
		uint32_t imm = BITS(i, 4, 2) << 6 | BIT(i, 12) << 5 | BITS(i, 6, 5) << 3;
		return enc_i(0x07, rd, 3, 2, (int32_t)imm);
	}
	case 2 << 3 | 5: { /* C.FSDSP */
		uint32_t imm = BITS(i, 9, 7) << 6 | BITS(i, 12, 10) << 3;
		return enc_s(0x27, 3, 2, rs2, (int32_t)imm);
	}
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
				return 0x00100073;	 /* C.EBREAK */
			return enc_i(0x67, 1, 0, rd, 0); /* C.JALR */
		}
		return enc_r(0x33, rd, 0, rd, rs2, 0); /* C.ADD (rd=0 is a HINT) */
	case 2 << 3 | 6: {			       /* C.SWSP */
		uint32_t imm = BITS(i, 8, 7) << 6 | BITS(i, 12, 9) << 2;
		return enc_s(0x23, 2, 2, rs2, (int32_t)imm);
	}
	case 2 << 3 | 7: { /* C.SDSP */
		uint32_t imm = BITS(i, 9, 7) << 6 | BITS(i, 12, 10) << 3;
		return enc_s(0x23, 3, 2, rs2, (int32_t)imm);
	}
	default:
		/* reserved, and the RV32-only encodings (C.FLW, C.FSW, C.JAL...) */
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
		rh = cpu_read_ptr(c->tlb[c->tlb_set][ACC_R], va, size);
		if (!rh && !cpu_translate(c, va, ACC_R, &pa, &rh))
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
		c->bus->ecall(c->bus->opaque, c);
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
		c->sstatus =
		    (c->sstatus & ~SSTATUS_SIE) | ((c->sstatus & SSTATUS_SPIE) ? SSTATUS_SIE : 0);
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

/* ---- F and D (unprivileged spec, "F" and "D" chapters) --------------------------------- */

#define NANBOX 0xffffffff00000000ull

/* An FP register read as format fmt: a single-precision value that is not properly NaN-boxed
 * reads as the canonical NaN ("NaN Boxing of Narrower Values"). */
static inline uint64_t cpu_fget(const struct cpu *c, unsigned r, enum fpu_fmt fmt)
{
	uint64_t v = c->f[r];

	if (fmt == FPU_D)
		return v;
	return (v & NANBOX) == NANBOX ? (uint32_t)v : FPU_CNAN_S;
}

static inline void cpu_fset(struct cpu *c, unsigned r, enum fpu_fmt fmt, uint64_t v)
{
	c->f[r] = fmt == FPU_D ? v : NANBOX | (uint32_t)v;
	cpu_fp_dirty(c);
}

/* Accrue exception flags: fcsr changes only if a flag is new. */
static inline void cpu_fflags(struct cpu *c, unsigned flags)
{
	if (flags & ~c->fcsr & 0x1f) {
		c->fcsr |= flags & 0x1f;
		cpu_fp_dirty(c);
	}
}

/* The format of an OP-FP or fused multiply-add encoding (bits 26:25): S with F, D with D;
 * H and Q do not exist here. */
static inline bool cpu_fmt(const struct cpu *c, uint32_t insn, enum fpu_fmt *fmt)
{
	unsigned f = (insn >> 25) & 3;

	if (f == FPU_S && (c->ext & ISA_F))
		*fmt = FPU_S;
	else if (f == FPU_D && (c->ext & ISA_D))
		*fmt = FPU_D;
	else
		return false;
	return true;
}

/* The rounding mode of an instruction with an rm field: static, or frm for DYN (7). The
 * reserved modes (5, 6, and frm 5-7 under DYN) are illegal instructions. */
static inline bool cpu_rm(const struct cpu *c, uint32_t insn, enum fpu_rm *rm)
{
	unsigned r = (insn >> 12) & 7;

	if (r == 7)
		r = c->fcsr >> 5;
	if (r > FPU_RMM)
		return false;
	*rm = (enum fpu_rm)r;
	return true;
}

static inline uint64_t sign_bit(enum fpu_fmt fmt)
{
	return fmt == FPU_D ? 1ull << 63 : 1ull << 31;
}

/* LOAD-FP, STORE-FP, the fused multiply-adds and OP-FP. Every one is illegal while FS is Off,
 * and with an encoding of a format or rounding mode this hart does not have. */
static bool cpu_exec_fp(struct cpu *c, uint32_t insn)
{
	unsigned rd = (insn >> 7) & 31, rs1 = (insn >> 15) & 31, rs2 = (insn >> 20) & 31;
	unsigned f3 = (insn >> 12) & 7, f5 = insn >> 27;
	unsigned flags = 0;
	enum fpu_fmt fmt;
	enum fpu_rm rm;
	uint64_t a, b, v;

	if (!cpu_fp_on(c))
		return cpu_raise(c, EXC_ILLEGAL, insn);
	switch (insn & 0x7f) {
	case 0x07: /* FLW, FLD */
	case 0x27: /* FSW, FSD */
		if (f3 == 2)
			fmt = FPU_S;
		else if (f3 == 3 && (c->ext & ISA_D))
			fmt = FPU_D;
		else
			return cpu_raise(c, EXC_ILLEGAL, insn);
		if ((insn & 0x7f) == 0x07) {
			if (!cpu_load(c, c->x[rs1] + (uint64_t)imm_i(insn), fmt == FPU_D ? 8 : 4,
				      &v))
				return false;
			cpu_fset(c, rd, fmt, v);
		} else if (!cpu_store(c, c->x[rs1] + (uint64_t)imm_s(insn), fmt == FPU_D ? 8 : 4,
				      c->f[rs2])) {
			return false; /* FSW stores the low 32 bits as they are, boxed or not */
		}
		return true;
	case 0x43: /* FMADD:  a*b+c */
	case 0x47: /* FMSUB:  a*b-c */
	case 0x4b: /* FNMSUB: -(a*b)+c */
	case 0x4f: /* FNMADD: -(a*b)-c */
		if (!cpu_fmt(c, insn, &fmt) || !cpu_rm(c, insn, &rm))
			return cpu_raise(c, EXC_ILLEGAL, insn);
		a = cpu_fget(c, rs1, fmt);
		b = cpu_fget(c, rs2, fmt);
		v = cpu_fget(c, insn >> 27, fmt);
		/* Negating an operand is exact, so the one rounding is still the last step. */
		if ((insn & 0x7f) == 0x4b || (insn & 0x7f) == 0x4f)
			a ^= sign_bit(fmt);
		if ((insn & 0x7f) == 0x47 || (insn & 0x7f) == 0x4f)
			v ^= sign_bit(fmt);
		v = fpu_fma(fmt, a, b, v, rm, &flags);
		cpu_fset(c, rd, fmt, v);
		cpu_fflags(c, flags);
		return true;
	case 0x53:
		break;
	default:
		return cpu_raise(c, EXC_ILLEGAL, insn);
	}
	/* OP-FP */
	if (!cpu_fmt(c, insn, &fmt))
		return cpu_raise(c, EXC_ILLEGAL, insn);
	a = cpu_fget(c, rs1, fmt);
	b = cpu_fget(c, rs2, fmt);
	switch (f5) {
	case 0x00: /* FADD */
	case 0x01: /* FSUB */
	case 0x02: /* FMUL */
	case 0x03: /* FDIV */
		if (!cpu_rm(c, insn, &rm))
			return cpu_raise(c, EXC_ILLEGAL, insn);
		v = f5 == 0   ? fpu_add(fmt, a, b, rm, &flags)
		    : f5 == 1 ? fpu_sub(fmt, a, b, rm, &flags)
		    : f5 == 2 ? fpu_mul(fmt, a, b, rm, &flags)
			      : fpu_div(fmt, a, b, rm, &flags);
		cpu_fset(c, rd, fmt, v);
		break;
	case 0x0b: /* FSQRT */
		if (rs2 != 0 || !cpu_rm(c, insn, &rm))
			return cpu_raise(c, EXC_ILLEGAL, insn);
		cpu_fset(c, rd, fmt, fpu_sqrt(fmt, a, rm, &flags));
		break;
	case 0x04: { /* FSGNJ, FSGNJN, FSGNJX: sign bit only, no flags, NaNs as they are */
		uint64_t sb = sign_bit(fmt);

		if (f3 > 2)
			return cpu_raise(c, EXC_ILLEGAL, insn);
		v = f3 == 0 ? b & sb : f3 == 1 ? ~b & sb : (a ^ b) & sb;
		cpu_fset(c, rd, fmt, (a & ~sb) | v);
		break;
	}
	case 0x05: /* FMIN, FMAX */
		if (f3 > 1)
			return cpu_raise(c, EXC_ILLEGAL, insn);
		cpu_fset(c, rd, fmt, f3 ? fpu_max(fmt, a, b, &flags) : fpu_min(fmt, a, b, &flags));
		break;
	case 0x08: { /* FCVT.S.D (fmt S, rs2 D), FCVT.D.S (fmt D, rs2 S) */
		enum fpu_fmt from = fmt == FPU_S ? FPU_D : FPU_S;

		if (rs2 != (unsigned)from || !(c->ext & ISA_D) || !cpu_rm(c, insn, &rm))
			return cpu_raise(c, EXC_ILLEGAL, insn);
		cpu_fset(c, rd, fmt, fpu_cvt(fmt, from, cpu_fget(c, rs1, from), rm, &flags));
		break;
	}
	case 0x14: /* FLE, FLT, FEQ */
		if (f3 > 2)
			return cpu_raise(c, EXC_ILLEGAL, insn);
		c->x[rd] = (uint64_t)(f3 == 0	? fpu_le(fmt, a, b, &flags)
				      : f3 == 1 ? fpu_lt(fmt, a, b, &flags)
						: fpu_eq(fmt, a, b, &flags));
		break;
	case 0x18: /* FCVT.{W,WU,L,LU}.fmt */
		if (rs2 > FPU_LU || !cpu_rm(c, insn, &rm))
			return cpu_raise(c, EXC_ILLEGAL, insn);
		c->x[rd] = fpu_to_int(fmt, a, (enum fpu_int)rs2, rm, &flags);
		break;
	case 0x1a: /* FCVT.fmt.{W,WU,L,LU} */
		if (rs2 > FPU_LU || !cpu_rm(c, insn, &rm))
			return cpu_raise(c, EXC_ILLEGAL, insn);
		cpu_fset(c, rd, fmt, fpu_from_int(fmt, c->x[rs1], (enum fpu_int)rs2, rm, &flags));
		break;
	case 0x1c: /* FMV.X.W, FMV.X.D (f3 0), FCLASS (f3 1) */
		if (rs2 != 0 || f3 > 1)
			return cpu_raise(c, EXC_ILLEGAL, insn);
		if (f3 == 1)
			c->x[rd] = fpu_class(fmt, a);
		else /* the raw bits, boxed or not; FMV.X.W sign-extends bit 31 */
			c->x[rd] = fmt == FPU_D ? c->f[rs1] : sext32(c->f[rs1]);
		break;
	case 0x1e: /* FMV.W.X, FMV.D.X */
		if (rs2 != 0 || f3 != 0)
			return cpu_raise(c, EXC_ILLEGAL, insn);
		cpu_fset(c, rd, fmt, c->x[rs1]);
		break;
	default:
		return cpu_raise(c, EXC_ILLEGAL, insn);
	}
	cpu_fflags(c, flags);
	return true;
}

/* The generic executor: execute one (expanded) instruction of length len at c->pc, and advance
 * c->pc. Returns false if it raised an exception. It runs what the decode cache leaves to it
 * (SYSTEM, CSRs, AMOs, loads into x0, page-crossing instructions) and, with c->generic,
 * everything: it is the reference the decoded operations are tested against. */
static bool cpu_exec(struct cpu *c, uint32_t insn, unsigned len)
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
	case 0x0f: /* MISC-MEM: FENCE, FENCE.I (the decode cache is always coherent with RAM) */
		if (f3 > 1)
			return cpu_raise(c, EXC_ILLEGAL, insn);
		break;
	case 0x2f:
		if (!cpu_exec_amo(c, insn))
			return false;
		break;
	case 0x07: /* LOAD-FP */
	case 0x27: /* STORE-FP */
	case 0x43: /* the fused multiply-adds */
	case 0x47:
	case 0x4b:
	case 0x4f:
	case 0x53: /* OP-FP */
		if (!cpu_exec_fp(c, insn))
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

/* Run the instruction at c->pc without the decode cache: fetch, expand, execute. Returns false
 * with the exception recorded if it faulted (stval of an illegal one is as fetched). */
static bool cpu_step_uncached(struct cpu *c)
{
	uint32_t insn, orig;
	unsigned len = 4;

	if (!cpu_fetch_slow(c, &insn))
		return false;
	orig = insn;
	if ((insn & 3) != 3) {
		orig = (uint16_t)insn;
		insn = cpu_expand_rvc((uint16_t)insn);
		len = 2;
		if (insn == 0)
			return cpu_raise(c, EXC_ILLEGAL, orig);
	}
	if (cpu_exec(c, insn, len))
		return true;
	if (c->exc_cause == EXC_ILLEGAL)
		c->exc_tval = orig;
	return false;
}

/* ---- the decode cache ------------------------------------------------------------------- */

/* The operations of decoded instructions, as an X-macro so the enum and cpu_run's table of
 * labels cannot disagree. Operations from LUI on only compute rd, so with rd = x0 they are
 * decoded as NOP (they are HINTs). */
/* The list keeps its hand layout (the formatter would reflow the opcodes): */
/* clang-format off */
#define DOPS(_)                                                                                    \
	_(DECODE) /* not decoded yet (or past the last slot): decode this slot, then run it */     \
	_(CROSS)  /* a 32-bit instruction across the end of the page: fetched every time */        \
	_(EXEC)	  /* run by the generic executor (SYSTEM, AMO, a load into x0) */                  \
	_(ILLEGAL)                                                                                 \
	_(NOP) /* FENCE, FENCE.I, HINTs */                                                         \
	_(FP)  /* F and D computation (OP-FP, the fused multiply-adds): cpu_exec_fp, in line */    \
	_(FLW) _(FLD) _(FSW) _(FSD) /* FP loads and stores hitting the TLB; else run uncached */   \
	_(JAL)                                                                                     \
	_(JALR)                                                                                    \
	_(BEQ) _(BNE) _(BLT) _(BGE) _(BLTU) _(BGEU) _(LB) _(LH) _(LW) _(LD) _(LBU) _(LHU) _(LWU)   \
	    _(SB) _(SH) _(SW) _(SD) _(LUI) _(AUIPC) _(ADDI) _(SLTI) _(SLTIU) _(XORI) _(ORI)        \
		_(ANDI) _(SLLI) _(SRLI) _(SRAI) _(ADDIW) _(SLLIW) _(SRLIW) _(SRAIW) _(ADD) _(SUB)  \
		    _(SLL) _(SLT) _(SLTU) _(XOR) _(SRL) _(SRA) _(OR) _(AND) _(ADDW) _(SUBW)        \
			_(SLLW) _(SRLW) _(SRAW) _(MUL) _(MULH) _(MULHSU) _(MULHU) _(DIV) _(DIVU)   \
			    _(REM) _(REMU) _(MULW) _(DIVW) _(DIVUW) _(REMW) _(REMUW)

#define DOP_ENUM(name) D_##name,
/* clang-format on */
enum dop { DOPS(DOP_ENUM) D_COUNT };
_Static_assert(D_COUNT <= 256, "operations fit the slot's op byte");

/* Drop the decoded instructions of a page (it stays assigned to its physical page). */
static void cpu_dpage_clear(struct cpu_dpage *dp)
{
	if (dp->lo < dp->hi)
		memset(&dp->slot[dp->lo], 0, (size_t)(dp->hi - dp->lo) * sizeof(dp->slot[0]));
	dp->lo = DPAGE_SLOTS;
	dp->hi = 0;
}

/* ram.h's code hook: the code page at gpa is about to be written (its bit is already clear). */
static void cpu_code_hook(void *opaque, uint64_t gpa)
{
	struct cpu *c = opaque;
	struct cpu_dpage *dp;

	if (!c->dcache)
		return;
	dp = &c->dcache[(gpa >> 12) % DCACHE_PAGES];
	if (dp->tag == (gpa >> 12) + 1) {
		cpu_dpage_clear(dp);
		c->dc_dropped++;
	}
}

/* Give a cache page up: no decoded slot, not a code page, no execute-TLB link to it. */
static void cpu_dpage_evict(struct cpu *c, struct cpu_dpage *dp)
{
	cpu_dpage_clear(dp);
	ram_unmark_code(c->ram, (dp->tag - 1) << 12);
	dp->tag = 0;
	for (int s = 0; s < TLB_SETS; s++)
		for (int i = 0; i < TLB_ENTRIES; i++)
			if (c->xpage[s][i] == dp)
				c->xpage[s][i] = NULL;
	cpu_code_epoch_bump(c); /* the other harts' links to dp are stale */
}

void cpu_dcache_flush(struct cpu *c)
{
	ram_code_cache_clear(c->ram); /* every page unused, every slot D_DECODE */
	ram_code_forget_all(c->ram);
	memset(c->xpage, 0, sizeof(c->xpage));
	cpu_code_epoch_bump(c);
}

/* The cache page for the RAM page at gpa (host: its bytes), assigned if need be. */
static struct cpu_dpage *cpu_dcache_page(struct cpu *c, uint64_t gpa, const uint8_t *host)
{
	struct cpu_dpage *dp = &c->dcache[(gpa >> 12) % DCACHE_PAGES];

	if (dp->tag != (gpa >> 12) + 1) {
		if (dp->tag) {
			cpu_dpage_evict(c, dp);
			c->dc_evicted++;
		}
		dp->tag = (gpa >> 12) + 1;
		dp->code = host;
		dp->lo = DPAGE_SLOTS;
		dp->hi = 0;
	}
	return dp;
}

/* The decoded page of the instruction at pc, through the execute TLB; NULL with the exception
 * recorded if pc cannot be fetched. */
static struct cpu_dpage *cpu_fetch_page(struct cpu *c, uint64_t pc)
{
	uint64_t vpn = pc >> 12, pa;
	unsigned i = (unsigned)(vpn % TLB_ENTRIES);
	const struct cpu_tlb_entry *e = &c->tlb[c->tlb_set][ACC_X][i];
	const uint8_t *h;

	if (e->vpn != vpn) {
		if (!cpu_translate(c, pc, ACC_X, &pa, &h))
			return NULL;
		if (!h) {
			cpu_raise(c, EXC_INSN_ACCESS, pc);
			return NULL;
		}
	}
	h = (const uint8_t *)(e->addend + (uintptr_t)(vpn << 12));
	c->xpage[c->tlb_set][i] = cpu_dcache_page(c, ram_gpa_of(c->ram, h), h);
	return c->xpage[c->tlb_set][i];
}

/* Drop the write-TLB entries that point to the host page h (it is becoming a code page). */
static void cpu_drop_write_entries(struct cpu *c, const uint8_t *h)
{
	for (int s = 0; s < TLB_SETS; s++)
		for (int i = 0; i < TLB_ENTRIES; i++) {
			struct cpu_tlb_entry *e = &c->tlb[s][ACC_W][i];

			if (e->vpn != TLB_INVALID &&
			    e->addend + (uintptr_t)(e->vpn << 12) == (uintptr_t)h)
				e->vpn = TLB_INVALID;
		}
}

/* Decode one (expanded) instruction of length len found at page offset off; orig is the
 * instruction as fetched. Checks every encoding the generic executor checks. */
static void cpu_decode(const struct cpu *c, struct cpu_dinsn *d, uint32_t insn, uint32_t orig,
		       unsigned len, unsigned off)
{
	static const uint8_t branch[8] = { D_BEQ, D_BNE, D_ILLEGAL, D_ILLEGAL,
					   D_BLT, D_BGE, D_BLTU,    D_BGEU };
	static const uint8_t load[8] = { D_LB, D_LH, D_LW, D_LD, D_LBU, D_LHU, D_LWU, D_ILLEGAL };
	static const uint8_t opimm[8] = { D_ADDI, D_SLLI, D_SLTI, D_SLTIU,
					  D_XORI, D_SRLI, D_ORI,  D_ANDI };
	static const uint8_t op[8] = { D_ADD, D_SLL, D_SLT, D_SLTU, D_XOR, D_SRL, D_OR, D_AND };
	static const uint8_t muldiv[8] = { D_MUL, D_MULH, D_MULHSU, D_MULHU,
					   D_DIV, D_DIVU, D_REM,    D_REMU };
	static const uint8_t muldivw[8] = { D_MULW, D_ILLEGAL, D_ILLEGAL, D_ILLEGAL,
					    D_DIVW, D_DIVUW,   D_REMW,	  D_REMUW };
	unsigned rd = (insn >> 7) & 31, rs1 = (insn >> 15) & 31, rs2 = (insn >> 20) & 31;
	unsigned f3 = (insn >> 12) & 7, f7 = insn >> 25;
	unsigned o = D_ILLEGAL;
	int64_t imm = 0;

	switch (insn & 0x7f) {
	case 0x37: /* LUI */
	case 0x17: /* AUIPC */
		o = (insn & 0x7f) == 0x37 ? D_LUI : D_AUIPC;
		imm = (int32_t)(insn & 0xfffff000u);
		break;
	case 0x6f:
		o = D_JAL;
		imm = imm_j(insn);
		break;
	case 0x67:
		if (f3 == 0)
			o = D_JALR;
		imm = imm_i(insn);
		break;
	case 0x63:
		o = branch[f3];
		imm = imm_b(insn);
		break;
	case 0x03:
		o = load[f3];
		if (o != D_ILLEGAL && rd == 0)
			o = D_EXEC; /* still loads (it may fault or touch a device); rare */
		imm = imm_i(insn);
		break;
	case 0x23:
		if (f3 <= 3)
			o = D_SB + f3;
		imm = imm_s(insn);
		break;
	case 0x13:
		o = opimm[f3];
		imm = imm_i(insn);
		if (f3 == 1 && (insn >> 26) != 0)
			o = D_ILLEGAL; /* SLLI: imm[11:6] must be zero */
		if (f3 == 5)
			o = (insn >> 26) == 0 ? D_SRLI : (insn >> 26) == 0x10 ? D_SRAI : D_ILLEGAL;
		if (f3 == 1 || f3 == 5)
			imm &= 63;
		break;
	case 0x1b:
		imm = f3 == 0 ? imm_i(insn) : rs2; /* shamt[4:0] */
		if (f3 == 0)
			o = D_ADDIW;
		else if (f3 == 1 && f7 == 0)
			o = D_SLLIW;
		else if (f3 == 5 && f7 == 0)
			o = D_SRLIW;
		else if (f3 == 5 && f7 == 0x20)
			o = D_SRAIW;
		break;
	case 0x33:
		if (f7 == 0x01)
			o = muldiv[f3];
		else if (f7 == 0)
			o = op[f3];
		else if (f7 == 0x20 && f3 == 0)
			o = D_SUB;
		else if (f7 == 0x20 && f3 == 5)
			o = D_SRA;
		break;
	case 0x3b:
		if (f7 == 0x01)
			o = muldivw[f3];
		else if (f7 == 0 && f3 == 0)
			o = D_ADDW;
		else if (f7 == 0x20 && f3 == 0)
			o = D_SUBW;
		else if (f7 == 0 && f3 == 1)
			o = D_SLLW;
		else if (f7 == 0 && f3 == 5)
			o = D_SRLW;
		else if (f7 == 0x20 && f3 == 5)
			o = D_SRAW;
		break;
	case 0x0f: /* FENCE, FENCE.I: the decode cache is always coherent with RAM */
		if (f3 <= 1)
			o = D_NOP;
		break;
	case 0x2f: /* AMO, LR, SC */
	case 0x73: /* SYSTEM */
		o = D_EXEC;
		break;
	/* F and D: whether the hart has them and FS is on is checked when they run. */
	case 0x07: /* LOAD-FP */
		if (f3 == 2 || f3 == 3)
			o = f3 == 2 ? D_FLW : D_FLD;
		imm = imm_i(insn);
		break;
	case 0x27: /* STORE-FP */
		if (f3 == 2 || f3 == 3)
			o = f3 == 2 ? D_FSW : D_FSD;
		imm = imm_s(insn);
		break;
	case 0x43: /* the fused multiply-adds, OP-FP */
	case 0x47:
	case 0x4b:
	case 0x4f:
	case 0x53:
		o = D_FP;
		break;
	default:
		break;
	}
	if (o >= D_LUI && rd == 0)
		o = D_NOP;
	if (c->generic && o != D_ILLEGAL)
		o = D_EXEC;
	if (o == D_EXEC || o == D_FP)
		imm = (int32_t)insn;
	if (o == D_ILLEGAL)
		imm = (int32_t)orig; /* stval */
	d->op = (uint8_t)o;
	d->len = (uint8_t)len;
	d->next = (uint8_t)(len / 2 * sizeof(*d));
	d->rd = (uint8_t)rd;
	d->rs1 = (uint8_t)rs1;
	d->rs2 = (uint8_t)rs2;
	d->imm = (int32_t)imm;
	/* A jump or branch that stays on this virtual page moves the slot pointer directly: the
	 * page and its execute permission are the same. */
	d->local = (o == D_JAL || (o >= D_BEQ && o <= D_BGEU)) && (int64_t)off + imm >= 0 &&
		   (int64_t)off + imm < RAM_PAGE_SIZE;
}

/* Decode slot i of the cache page dp from the page's bytes. */
static void cpu_decode_slot(struct cpu *c, struct cpu_dpage *dp, unsigned i)
{
	struct cpu_dinsn *d = &dp->slot[i];
	unsigned off = 2 * i;
	uint16_t lo;
	uint32_t insn;

	if (dp->lo >= dp->hi) {
		/* The first instruction decoded from this page: from now on every write to it must
		 * drop the decoded slots, so it may no longer be written through the write-TLB. */
		ram_mark_code(c->ram, (dp->tag - 1) << 12);
		cpu_drop_write_entries(c, dp->code);
		cpu_code_epoch_bump(c); /* and the other harts' write entries to it too */
	}
	if (i < dp->lo)
		dp->lo = (uint16_t)i;
	if (i + 1 > dp->hi)
		dp->hi = (uint16_t)(i + 1);
	c->dc_decoded++;
	memcpy(&lo, dp->code + off, 2);
	if ((lo & 3) != 3) {
		/* Compressed: expanded once here. 0 (reserved or illegal) decodes as illegal. */
		cpu_decode(c, d, cpu_expand_rvc(lo), lo, 2, off);
	} else if (off == RAM_PAGE_SIZE - 2) {
		/* The upper half is on the next page, which this slot would not see change. */
		cpu_decode(c, d, 0, 0, 4, off);
		d->op = D_CROSS;
	} else {
		memcpy(&insn, dp->code + off, 4);
		cpu_decode(c, d, insn, insn, 4, off);
	}
}

/* ---- the interpreter loop --------------------------------------------------------------- */

uint64_t cpu_run(struct cpu *c, uint64_t max)
{
	/* Where the code of each operation is, from that of D_DECODE; a decoded slot holds its
	 * operation's, so an all-zero slot decodes itself. */
#define DOP_HANDLER(name) &&op_##name - &&op_DECODE,
	static const int32_t handler[D_COUNT] = { DOPS(DOP_HANDLER) };
	uint64_t *const x = c->x;
	const uint64_t start = c->instret;
	uint64_t left = max; /* steps left in this slice */
	uint64_t base;	     /* c->instret == base - left at every instruction boundary */
	const struct cpu_tlb_entry *rtlb = NULL, *wtlb = NULL, *xtlb = NULL;
	struct cpu_dpage *const *xpg = NULL;
	struct cpu_dpage *dp = NULL;
	const struct cpu_dinsn *s = NULL, *s0 = NULL; /* the current slot, slot 0 of its page */
	uint64_t vbase = 0;			      /* the virtual address of its page */
	uint64_t npc, va, v;
	unsigned size = 0;

	c->stop = false;
	if (c->hsm != HSM_STARTED || max == 0)
		return 0;
	if (unlikely(c->code_epoch != c->ram->code_epoch)) {
		/* Another hart gave a cache page to another RAM page, emptied the cache or made a
		 * page a code page since this one last ran: its links into the cache may point to
		 * a page that now holds other code, and a write entry of its own may point to a
		 * code page. Both are dropped; the slow paths rebuild them. */
		memset(c->xpage, 0, sizeof(c->xpage));
		cpu_tlb_flush_writes(c);
		c->code_epoch = c->ram->code_epoch;
	}
	base = start + max;

/* The pc of the current slot. */
#define PC() (vbase + 2 * (uint64_t)(s - s0))
/* Write the pc and instret back before anything that may look at them or trap. */
#define SYNC() (c->pc = PC(), c->instret = base - left)
/* Each operation ends with its own indirect jump, so the host's branch predictor learns which
 * operation follows which. The empty asm, different at each site, stops the compiler from
 * merging the identical dispatch tails into one shared jump. */
#define DISPATCH()                                                                                 \
	do {                                                                                       \
		__asm__ volatile("" ::"i"(__COUNTER__));                                           \
		goto *(&&op_DECODE + s->handler);                                                  \
	} while (0)
/* Retire the current instruction and run the one at slot s. */
#define COUNT_DISPATCH()                                                                           \
	do {                                                                                       \
		if (unlikely(--left == 0))                                                         \
			goto leave;                                                                \
		DISPATCH();                                                                        \
	} while (0)
#define NEXT()                                                                                     \
	do {                                                                                       \
		s = (const struct cpu_dinsn *)((const char *)s + s->next);                         \
		COUNT_DISPATCH();                                                                  \
	} while (0)
/* Retire a taken jump or branch to pc + imm. */
#define TAKEN()                                                                                    \
	do {                                                                                       \
		if (s->local) {                                                                    \
			s += s->imm >> 1;                                                          \
			COUNT_DISPATCH();                                                          \
		}                                                                                  \
		npc = PC() + IMM;                                                                  \
		goto far;                                                                          \
	} while (0)
#define ENTER(pc) (vbase = (pc) & ~0xfffull, s0 = dp->slot, s = s0 + (((pc)&0xfff) >> 1))
#define RD x[s->rd]
#define R1 x[s->rs1]
#define R2 x[s->rs2]
#define IMM ((uint64_t)(int64_t)s->imm)
#define ALU(name, expr)                                                                            \
	op_##name : RD = (expr);                                                                   \
	NEXT();
#define BRANCH(name, cond)                                                                         \
	op_##name : if (cond) TAKEN();                                                             \
	NEXT();
#define LOAD(name, type)                                                                           \
	op_##name:                                                                                 \
	{                                                                                          \
		const struct cpu_tlb_entry *e;                                                     \
		type t;                                                                            \
		va = R1 + IMM;                                                                     \
		e = cpu_tlb_hit(rtlb, va, sizeof(type));                                           \
		if (unlikely(!e)) {                                                                \
			size = sizeof(type);                                                       \
			goto load_slow;                                                            \
		}                                                                                  \
		memcpy(&t, cpu_read_host(e, va), sizeof(type));                                    \
		RD = (uint64_t)(int64_t)t; /* sign- or zero-extends as type is signed or not */    \
		NEXT();                                                                            \
	}
#define STORE(name, type)                                                                          \
	op_##name:                                                                                 \
	{                                                                                          \
		const struct cpu_tlb_entry *e;                                                     \
		type t = (type)R2;                                                                 \
		va = R1 + IMM;                                                                     \
		e = cpu_tlb_hit(wtlb, va, sizeof(type));                                           \
		if (unlikely(!e)) {                                                                \
			size = sizeof(type);                                                       \
			v = R2;                                                                    \
			goto store_slow;                                                           \
		}                                                                                  \
		memcpy(cpu_write_host(e, va), &t, sizeof(type));                                   \
		NEXT();                                                                            \
	}

boundary:
	/* c->pc and c->instret are exact. Anything may have changed since the last visit: the
	 * privilege, the TLB, sip and sie, c->stop. */
	if (left == 0 || c->stop)
		goto done;
	if (unlikely(c->sip & c->sie) && cpu_check_interrupts(c)) {
		left--;
		base--;
		goto boundary;
	}
	if (unlikely(!c->dcache)) {
		/* No decode cache (it could not be mapped): one instruction at a time. */
		if (cpu_step_uncached(c))
			goto retired;
		goto fault;
	}
	rtlb = c->tlb[c->tlb_set][ACC_R];
	wtlb = c->tlb[c->tlb_set][ACC_W];
	xtlb = c->tlb[c->tlb_set][ACC_X];
	xpg = c->xpage[c->tlb_set];
	npc = c->pc;
	if (likely(xtlb[(npc >> 12) % TLB_ENTRIES].vpn == npc >> 12) &&
	    likely(xpg[(npc >> 12) % TLB_ENTRIES] != NULL)) {
		dp = xpg[(npc >> 12) % TLB_ENTRIES];
	} else {
		dp = cpu_fetch_page(c, npc);
		if (!dp)
			goto fault;
	}
	ENTER(npc);
	DISPATCH();

far:
	/* The instruction retired and execution goes on at npc, maybe on another page. */
	if (unlikely(--left == 0)) {
		c->pc = npc;
		c->instret = base;
		goto done;
	}
jump:
	if (likely(xtlb[(npc >> 12) % TLB_ENTRIES].vpn == npc >> 12) &&
	    likely(xpg[(npc >> 12) % TLB_ENTRIES] != NULL)) {
		dp = xpg[(npc >> 12) % TLB_ENTRIES];
		ENTER(npc);
		DISPATCH();
	}
	c->pc = npc;
	c->instret = base - left;
	goto boundary;

leave:
	/* The budget ran out after the instruction before slot s. */
	c->pc = PC();
	c->instret = base;
	goto done;

retired:
	/* An instruction run out of line retired; c->pc is the next one. */
	left--;
	c->instret = base - left;
	goto boundary;

fault:
	/* The instruction at c->pc raised c->exc_cause: a step, but nothing retired. */
	left--;
	base--;
	cpu_trap(c, c->exc_cause, c->exc_tval);
	goto boundary;

load_slow : {
	/* A TLB miss, a page-crossing load, or MMIO. */
	unsigned o = s->op, rd = s->rd, len = s->len;

	SYNC();
	if (!cpu_load_slow(c, va, size, &v))
		goto fault;
	switch (o) {
	case D_LB:
		v = (uint64_t)(int64_t)(int8_t)v;
		break;
	case D_LH:
		v = (uint64_t)(int64_t)(int16_t)v;
		break;
	case D_LW:
		v = (uint64_t)(int64_t)(int32_t)v;
		break;
	default:
		break;
	}
	x[rd] = v;
	c->pc += len;
	goto retired;
}

store_slow : {
	/* A TLB miss (the first store to a page since the write-TLB was dropped, or to a code
	 * page), a page-crossing store, or MMIO. */
	unsigned len = s->len;

	SYNC();
	if (!cpu_store_slow(c, va, size, v))
		goto fault;
	c->pc += len;
	goto retired;
}

op_DECODE : {
	unsigned i = (unsigned)(s - s0);

	if (i == DPAGE_SLOTS) {
		/* Past the last slot (never decoded): go on at the next page. */
		npc = vbase + RAM_PAGE_SIZE;
		goto jump;
	}
	cpu_decode_slot(c, dp, i);
	dp->slot[i].handler = handler[dp->slot[i].op];
	DISPATCH();
}

op_CROSS:
	SYNC();
	if (cpu_step_uncached(c))
		goto retired;
	goto fault;

op_FP:
	/* Computation only: it writes f and x registers, fcsr and sstatus.FS, none of which the
	 * loop holds, and can raise only an illegal instruction (it has no other exception). */
	if (likely(cpu_exec_fp(c, (uint32_t)s->imm))) {
		x[0] = 0;
		NEXT();
	}
	SYNC();
	goto fault;

	/* FP loads and stores: the fast path when the hart has the format, FS is on and the TLB
	 * hits; anything else (illegal, a miss, a page crossing, MMIO) runs uncached, which
	 * fetches and decodes the instruction again and does it all. */
#define FP_LOAD(name, bits, need)                                                                  \
	op_##name:                                                                                 \
	{                                                                                          \
		const struct cpu_tlb_entry *e;                                                     \
		uint##bits##_t t;                                                                  \
		va = R1 + IMM;                                                                     \
		e = cpu_tlb_hit(rtlb, va, bits / 8);                                               \
		if (unlikely(!e || !(c->ext & (need)) || !(c->sstatus & SSTATUS_FS)))              \
			goto fp_uncached;                                                          \
		memcpy(&t, cpu_read_host(e, va), bits / 8);                                        \
		c->f[s->rd] = bits == 32 ? NANBOX | t : t;                                         \
		cpu_fp_dirty(c);                                                                   \
		NEXT();                                                                            \
	}
#define FP_STORE(name, bits, need)                                                                 \
	op_##name:                                                                                 \
	{                                                                                          \
		const struct cpu_tlb_entry *e;                                                     \
		uint##bits##_t t = (uint##bits##_t)c->f[s->rs2];                                   \
		va = R1 + IMM;                                                                     \
		e = cpu_tlb_hit(wtlb, va, bits / 8);                                               \
		if (unlikely(!e || !(c->ext & (need)) || !(c->sstatus & SSTATUS_FS)))              \
			goto fp_uncached;                                                          \
		memcpy(cpu_write_host(e, va), &t, bits / 8);                                       \
		NEXT();                                                                            \
	}
	FP_LOAD(FLW, 32, ISA_F)
	FP_LOAD(FLD, 64, ISA_D)
	FP_STORE(FSW, 32, ISA_F)
	FP_STORE(FSD, 64, ISA_D)
#undef FP_LOAD
#undef FP_STORE
fp_uncached:
	SYNC();
	if (cpu_step_uncached(c))
		goto retired;
	goto fault;

op_EXEC : {
	uint32_t insn = (uint32_t)s->imm, orig = insn;
	unsigned len = s->len;
	uint16_t half;

	if (len == 2) { /* stval of an illegal one is the parcel, which is still in memory */
		memcpy(&half, dp->code + 2 * (s - s0), 2);
		orig = half;
	}

	SYNC();
	if (cpu_exec(c, insn, len))
		goto retired;
	if (c->exc_cause == EXC_ILLEGAL)
		c->exc_tval = orig;
	goto fault;
}

op_ILLEGAL:
	SYNC();
	cpu_raise(c, EXC_ILLEGAL, (uint32_t)s->imm);
	goto fault;

op_NOP:
	NEXT();

op_JAL : {
	uint64_t pc = PC();

	RD = pc + s->len;
	x[0] = 0;
	TAKEN();
}

op_JALR : {
	uint64_t pc = PC();

	npc = (R1 + IMM) & ~1ull;
	RD = pc + s->len;
	x[0] = 0;
	if (npc - vbase < RAM_PAGE_SIZE) {
		s = s0 + ((npc - vbase) >> 1);
		COUNT_DISPATCH();
	}
	goto far;
}

	BRANCH(BEQ, R1 == R2)
	BRANCH(BNE, R1 != R2)
	BRANCH(BLT, (int64_t)R1 < (int64_t)R2)
	BRANCH(BGE, (int64_t)R1 >= (int64_t)R2)
	BRANCH(BLTU, R1 < R2)
	BRANCH(BGEU, R1 >= R2)

	LOAD(LB, int8_t)
	LOAD(LH, int16_t)
	LOAD(LW, int32_t)
	LOAD(LD, uint64_t)
	LOAD(LBU, uint8_t)
	LOAD(LHU, uint16_t)
	LOAD(LWU, uint32_t)

	STORE(SB, uint8_t)
	STORE(SH, uint16_t)
	STORE(SW, uint32_t)
	STORE(SD, uint64_t)

	ALU(LUI, IMM)
	ALU(AUIPC, PC() + IMM)
	ALU(ADDI, R1 + IMM)
	ALU(SLTI, (int64_t)R1 < (int64_t)IMM)
	ALU(SLTIU, R1 < IMM)
	ALU(XORI, R1 ^ IMM)
	ALU(ORI, R1 | IMM)
	ALU(ANDI, R1 & IMM)
	ALU(SLLI, R1 << s->imm)
	ALU(SRLI, R1 >> s->imm)
	ALU(SRAI, (uint64_t)((int64_t)R1 >> s->imm))
	ALU(ADDIW, sext32(R1 + IMM))
	ALU(SLLIW, sext32((uint32_t)R1 << s->imm))
	ALU(SRLIW, sext32((uint32_t)R1 >> s->imm))
	ALU(SRAIW, (uint64_t)(int64_t)((int32_t)R1 >> s->imm))
	ALU(ADD, R1 + R2)
	ALU(SUB, R1 - R2)
	ALU(SLL, R1 << (R2 & 63))
	ALU(SLT, (int64_t)R1 < (int64_t)R2)
	ALU(SLTU, R1 < R2)
	ALU(XOR, R1 ^ R2)
	ALU(SRL, R1 >> (R2 & 63))
	ALU(SRA, (uint64_t)((int64_t)R1 >> (R2 & 63)))
	ALU(OR, R1 | R2)
	ALU(AND, R1 & R2)
	ALU(ADDW, sext32(R1 + R2))
	ALU(SUBW, sext32(R1 - R2))
	ALU(SLLW, sext32((uint32_t)R1 << (R2 & 31)))
	ALU(SRLW, sext32((uint32_t)R1 >> (R2 & 31)))
	ALU(SRAW, (uint64_t)(int64_t)((int32_t)R1 >> (R2 & 31)))
	ALU(MUL, R1 * R2)
	ALU(MULH, cpu_muldiv(1, R1, R2))
	ALU(MULHSU, cpu_muldiv(2, R1, R2))
	ALU(MULHU, cpu_muldiv(3, R1, R2))
	ALU(DIV, cpu_muldiv(4, R1, R2))
	ALU(DIVU, cpu_muldiv(5, R1, R2))
	ALU(REM, cpu_muldiv(6, R1, R2))
	ALU(REMU, cpu_muldiv(7, R1, R2))
	ALU(MULW, cpu_muldivw(0, R1, R2))
	ALU(DIVW, cpu_muldivw(4, R1, R2))
	ALU(DIVUW, cpu_muldivw(5, R1, R2))
	ALU(REMW, cpu_muldivw(6, R1, R2))
	ALU(REMUW, cpu_muldivw(7, R1, R2))

done:
	return c->instret - start;

#undef PC
#undef SYNC
#undef DISPATCH
#undef COUNT_DISPATCH
#undef NEXT
#undef TAKEN
#undef ENTER
#undef RD
#undef R1
#undef R2
#undef IMM
#undef ALU
#undef BRANCH
#undef LOAD
#undef STORE
#undef DOP_HANDLER
}

/* ---- migratable state --------------------------------------------------------------------- */

/* Checks a range cannot express, then the caches: a loaded hart starts with an empty TLB and
 * an empty decode cache. */
static int cpu_post_load(void *obj, struct err *e)
{
	struct cpu *c = obj;
	uint64_t mode = c->satp >> 60;

	if (c->sstatus & ~SSTATUS_WMASK)
		return err_set(e, "field 'sstatus': bits 0x%llx do not exist",
			       (unsigned long long)(c->sstatus & ~SSTATUS_WMASK));
	/* A hart without F has FS hardwired to Off and no FP state (the config record's ISA,
	 * checked before, decides which hart this is). */
	if (!(c->ext & ISA_F) && (c->sstatus & SSTATUS_FS))
		return err_set(e, "field 'sstatus': FS is set, and this hart has no F");
	if (!(c->ext & ISA_F) && c->fcsr)
		return err_set(e, "field 'fcsr' is set, and this hart has no F");
	for (int i = 0; i < 32; i++)
		if (!(c->ext & ISA_F) && c->f[i])
			return err_set(e, "field 'f': f%d is set, and this hart has no F", i);
	if ((c->sie | c->sip) & ~SIE_MASK)
		return err_set(e, "field 'sie' or 'sip': bits beyond SSIP, STIP and SEIP");
	if (c->stvec & 2)
		return err_set(e, "field 'stvec': reserved mode");
	if (c->pc & 1)
		return err_set(e, "field 'pc': odd address"); /* fetches would straddle a page */
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
	cpu_dcache_flush(c);
	return 0;
}

static const struct state_field cpu_fields[] = {
	STATE_ARRAY(struct cpu, x),
	STATE_FIELD(struct cpu, pc),
	/* The icount clock counts GCLOCK_ICOUNT_NS per instruction: it stays within guest time's
	 * bound (a machine retiring 10^9 a second takes 146 years to get there). */
	STATE_FIELD_MAX(struct cpu, instret, GCLOCK_NS_MAX / GCLOCK_ICOUNT_NS),
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
	STATE_FIELD_MAX(struct cpu, hartid, CPU_MAX_HARTS - 1),
	STATE_FIELD_MAX(struct cpu, priv, PRIV_S),
	STATE_FIELD_MAX(struct cpu, lr_valid, 1),
	/* Only a started or a stopped hart exists here (hart_stop); the pending states and a
	 * suspended hart (suspend is a WFI) are never reached, and nothing would leave them. */
	STATE_FIELD_MAX(struct cpu, hsm, HSM_STOPPED),
	STATE_FIELD_MAX(struct cpu, wfi, 1),
	/* F and D (state version 2): a hart saved before them had none, so the registers and
	 * fcsr load as zero, and sstatus (a version 1 field) has FS Off. */
	STATE_ARRAY(struct cpu, f, .since = 2, .def = 0),
	STATE_FIELD_MASK(struct cpu, fcsr, 0xff, .since = 2, .def = 0),
};

const struct state_desc cpu_state = {
	.name = "cpu",
	.version = 2,
	.fields = cpu_fields,
	.nfields = STATE_NFIELDS(cpu_fields),
	.post_load = cpu_post_load,
};
