/* cpu.h - one RISC-V RV64IMAFDC hart, as a hypervisor's guest sees it: S and U modes only.
 *
 * The hart's architectural state is plain data (no host pointers), so it can
 * be saved field by field. Everything after `caches` is rebuilt on demand and
 * never saved: the software TLB, the decode cache and the links to the machine.
 *
 * There is no M-mode: the SBI is served by the VMM (sbi.c), as KVM does on
 * RISC-V hosts, and every trap goes to S-mode.
 *
 * F and D are the machine's choice (isa.h, `--isa`): without them every FP instruction and
 * the FP CSRs are illegal and sstatus.FS reads as zero. The arithmetic is fpu.c's.
 */
#ifndef FERRY_CPU_H
#define FERRY_CPU_H

#include <stdbool.h>
#include <stdint.h>

/* Harts a machine may have (hart ids 0..CPU_MAX_HARTS-1). */
#define CPU_MAX_HARTS 8

/* What the hart reaches outside itself: the bus beyond RAM, guest time and the SBI. The
 * board fills it in (machine.c); the hart never knows what is behind it. */
struct cpu;
struct cpu_bus {
	/* MMIO: false if nothing decodes the address (the hart raises an access fault). */
	bool (*read)(void *opaque, uint64_t pa, unsigned size, uint64_t *val);
	bool (*write)(void *opaque, uint64_t pa, unsigned size, uint64_t val);
	uint64_t (*time)(void *opaque);		    /* guest time in timebase ticks */
	void (*ecall)(void *opaque, struct cpu *c); /* an ECALL from S-mode: the SBI */
	void *opaque;
};
struct ram;
struct state_desc;

enum cpu_priv { PRIV_U = 0, PRIV_S = 1 };

/* sstatus fields (privileged spec, "Supervisor Status Register") */
#define SSTATUS_SIE (1ull << 1)
#define SSTATUS_SPIE (1ull << 5)
#define SSTATUS_SPP (1ull << 8)
#define SSTATUS_FS (3ull << 13) /* the FP state: Off, Initial, Clean, Dirty */
#define SSTATUS_FS_OFF (0ull << 13)
#define SSTATUS_FS_DIRTY (3ull << 13)
#define SSTATUS_SUM (1ull << 18)
#define SSTATUS_MXR (1ull << 19)
#define SSTATUS_UXL_64 (2ull << 32)
#define SSTATUS_SD (1ull << 63) /* read-only: FS is Dirty */
#define SSTATUS_WMASK                                                                              \
	(SSTATUS_SIE | SSTATUS_SPIE | SSTATUS_SPP | SSTATUS_FS | SSTATUS_SUM | SSTATUS_MXR)

/* sip / sie bits */
#define IRQ_SSI 1
#define IRQ_STI 5
#define IRQ_SEI 9
#define SIP_SSIP (1ull << IRQ_SSI)
#define SIP_STIP (1ull << IRQ_STI)
#define SIP_SEIP (1ull << IRQ_SEI)
#define SIE_MASK (SIP_SSIP | SIP_STIP | SIP_SEIP)

/* scause exception codes */
enum cpu_exc {
	EXC_INSN_MISALIGNED = 0,
	EXC_INSN_ACCESS = 1,
	EXC_ILLEGAL = 2,
	EXC_BREAKPOINT = 3,
	EXC_LOAD_MISALIGNED = 4,
	EXC_LOAD_ACCESS = 5,
	EXC_STORE_MISALIGNED = 6,
	EXC_STORE_ACCESS = 7,
	EXC_ECALL_U = 8,
	EXC_ECALL_S = 9,
	EXC_INSN_PAGE = 12,
	EXC_LOAD_PAGE = 13,
	EXC_STORE_PAGE = 15,
};
#define CAUSE_INTERRUPT (1ull << 63)

/* CSR numbers */
#define CSR_FFLAGS 0x001
#define CSR_FRM 0x002
#define CSR_FCSR 0x003
#define CSR_SSTATUS 0x100
#define CSR_SIE 0x104
#define CSR_STVEC 0x105
#define CSR_SCOUNTEREN 0x106
#define CSR_SENVCFG 0x10a
#define CSR_SSCRATCH 0x140
#define CSR_SEPC 0x141
#define CSR_SCAUSE 0x142
#define CSR_STVAL 0x143
#define CSR_SIP 0x144
#define CSR_SATP 0x180
#define CSR_CYCLE 0xc00
#define CSR_TIME 0xc01
#define CSR_INSTRET 0xc02

#define SATP_MODE_BARE 0ull
#define SATP_MODE_SV39 8ull
#define SATP_PPN_MASK ((1ull << 44) - 1)

/* SBI HSM hart states (SBI spec, "Hart State Management Extension") */
enum cpu_hsm {
	HSM_STARTED = 0,
	HSM_STOPPED = 1,
	HSM_START_PENDING = 2,
	HSM_STOP_PENDING = 3,
	HSM_SUSPENDED = 4,
};

/* Kinds of memory access, used to index the TLB and to choose fault causes. */
enum cpu_access { ACC_R = 0, ACC_W = 1, ACC_X = 2 };

/* The TLB is split into sets by effective privilege, so the hot path needs one compare:
 * U-mode; S-mode with sstatus.SUM clear; S-mode with SUM set. */
enum { TLB_SET_U = 0, TLB_SET_S = 1, TLB_SET_S_SUM = 2, TLB_SETS = 3 };
#define TLB_ENTRIES 256
#define TLB_INVALID UINT64_MAX

struct cpu_tlb_entry {
	uint64_t vpn;	  /* virtual page number, or TLB_INVALID */
	uintptr_t addend; /* host address = addend + virtual address */
};

/* The decode cache (cpu.c): instructions decoded once per guest physical page, one slot per
 * 2-byte offset, found from the pc through the execute TLB. Only caches: never saved, and
 * coherent with RAM through ram.h's code-page hook. */
#define DCACHE_PAGES 1024 /* pages held, direct-mapped by physical page number (32 MiB at most) */
#define DPAGE_SLOTS 2048  /* 4 KiB / 2 */

/* One decoded instruction (16 bytes). All zero: not decoded yet. */
struct cpu_dinsn {
	int32_t handler; /* where cpu_run's code for op is, from that of D_DECODE */
	int32_t imm;	 /* immediate; the instruction, for the generic executor and ILLEGAL */
	uint8_t op;	 /* what to do (enum dop in cpu.c) */
	uint8_t len;	 /* 2 or 4 bytes */
	uint8_t rd, rs1, rs2;
	uint8_t local; /* a jump or branch whose target is on the same page */
	uint8_t next;  /* bytes from this slot to the next instruction's (len / 2 slots) */
	uint8_t unused;
};

struct cpu_dpage {
	uint64_t tag;				/* guest physical page number + 1; 0: unused */
	const uint8_t *code;			/* the page's bytes, read-only */
	uint16_t lo, hi;			/* slots [lo, hi) may hold decoded instructions */
	struct cpu_dinsn slot[DPAGE_SLOTS + 1]; /* the last one is never decoded: the page end */
};

struct cpu {
	/* architectural state */
	uint64_t x[32];
	uint64_t pc;
	uint64_t instret; /* instructions retired; also the cycle counter */
	uint64_t sstatus;
	uint64_t sie;
	uint64_t sip;
	uint64_t stvec;
	uint64_t sscratch;
	uint64_t sepc;
	uint64_t scause;
	uint64_t stval;
	uint64_t satp;
	uint64_t scounteren;
	uint64_t senvcfg;
	uint64_t timecmp; /* SBI set_timer deadline, in timebase ticks */
	uint64_t lr_addr; /* LR reservation (virtual address), valid if lr_valid */
	uint32_t hartid;
	uint8_t priv;
	uint8_t lr_valid;
	uint8_t hsm;	/* enum cpu_hsm */
	uint8_t wfi;	/* waiting for an interrupt */
	uint64_t f[32]; /* F and D registers; a single-precision value is NaN-boxed */
	uint32_t fcsr;	/* frm (bits 7:5) and fflags (4:0) */

	/* the machine's: the optional extensions this hart gives (isa.h), kept across resets */
	unsigned ext;

	/* caches and links: rebuilt, never saved */
	const struct cpu_bus *bus;
	struct ram *ram;
	int tlb_set;
	bool stop;	    /* leave cpu_run() at the next instruction boundary */
	uint64_t exc_cause; /* the exception being raised by the current instruction */
	uint64_t exc_tval;
	uint64_t irqs_taken[3]; /* interrupts taken: software, timer, external (statistics) */
	uint64_t dc_decoded;	/* decode cache: instructions decoded, */
	uint64_t dc_dropped;	/* pages whose decoded instructions were dropped by a write, */
	uint64_t dc_evicted;	/* pages evicted for another one (statistics) */
	bool generic;		/* decode every instruction for the generic executor (tests) */
	uint64_t code_epoch;	/* the ram's code_epoch this hart's links and write-TLB match */
	struct cpu_tlb_entry tlb[TLB_SETS][3][TLB_ENTRIES];
	/* The decoded page of each valid execute-TLB entry, or NULL until looked up. */
	struct cpu_dpage *xpage[TLB_SETS][TLB_ENTRIES];
	/* DCACHE_PAGES pages, in memory that lives as long as RAM (ram_code_cache): committed
	 * by the host only as slots are used. NULL if it could not be mapped: every instruction
	 * is then fetched and run without it. */
	struct cpu_dpage *dcache;
};

/* The hart's migratable state (state.h). */
extern const struct state_desc cpu_state;

/* Put the hart in its reset state: S-mode, pc, a0 = hart id, a1 = opaque (the DTB). Its
 * extensions (c->ext) stay. */
void cpu_reset(struct cpu *c, const struct cpu_bus *bus, struct ram *ram, uint32_t hartid,
	       uint64_t pc, uint64_t a1);

/* SBI hart_start: the hart, stopped, starts in S-mode at pc with satp and sstatus zero, a0 its
 * id and a1 opaque, its TLB empty (the shared decode cache stays). */
void cpu_hart_start(struct cpu *c, uint64_t pc, uint64_t a1);

/* Run up to max steps (an instruction retired, or a trap or interrupt taken). Returns the
 * number of instructions retired. Returns early when the hart executes WFI with nothing
 * pending (c->wfi set), or when c->stop is set (by anything the hart calls out to: an SBI
 * call, an MMIO access; it is looked at after each such instruction). */
uint64_t cpu_run(struct cpu *c, uint64_t max);

/* True if an interrupt is pending and enabled in sie (what wakes WFI). */
static inline bool cpu_irq_waiting(const struct cpu *c)
{
	return (c->sip & c->sie) != 0;
}

/* Raise or lower an interrupt-pending bit driven from outside (STIP, SEIP, SSIP). */
static inline void cpu_set_irq(struct cpu *c, uint64_t mask, bool level)
{
	if (level)
		c->sip |= mask;
	else
		c->sip &= ~mask;
}

/* Drop every TLB entry (satp change, sfence.vma, load of a saved state). The decode cache is
 * indexed by physical page and kept coherent by the RAM accessors, so it stays. */
void cpu_tlb_flush(struct cpu *c);
/* Drop every decoded instruction (load of a saved state, reset). */
void cpu_dcache_flush(struct cpu *c);
/* Drop the write entries only: after the dirty bitmap is collected, the next store to each
 * page must take the slow path and mark it again. */
void cpu_tlb_flush_writes(struct cpu *c);

/* Read or write a CSR as the hart would (for the SBI and tests). Returns false if the CSR does
 * not exist or is not accessible at the current privilege. */
bool cpu_csr_read(struct cpu *c, unsigned csr, uint64_t *val);
bool cpu_csr_write(struct cpu *c, unsigned csr, uint64_t val);

/* Expand a 16-bit RVC instruction to its 32-bit equivalent; returns 0 for an illegal or
 * reserved encoding. */
uint32_t cpu_expand_rvc(uint16_t insn);

#endif
