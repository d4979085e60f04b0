/* diff_signal.c - the Linux user ABI paths that depend on the CPU's traps.
 *
 * Faults become signals with the right si_code and si_addr: loads, stores and
 * fetches on unmapped, read-only, PROT_NONE and non-executable pages (SIGSEGV),
 * the all-zero instruction, writing a read-only CSR, privileged instructions
 * and S-mode CSRs from U-mode (SIGILL), EBREAK (SIGTRAP). The handler gets the
 * registers of the faulting instruction in its ucontext, and sigreturn installs
 * the ones it writes there (all of x1, x5..x31 and pc are checked). Also: an
 * unknown system call number (-ENOSYS), raise() with SA_ONSTACK on an alternate
 * stack, the 16-byte alignment of the handler's stack, registers preserved by a
 * system call, accesses to kernel and non-canonical addresses, and mixed work
 * (LR/SC, AMOs, divisions, misaligned accesses) interrupted thousands of times
 * by SIGALRM giving the same results as uninterrupted.
 */
#include "diff.h"

#define NORVC ".option push\n.option norvc\n"
#define POP "\n.option pop\n"
#define PAGE 4096UL

static void report(const char *what, int sig, int code, int addr_ok, int pc_ok)
{
	d_puts(what);
	d_puts(": signal ");
	d_dec((u64)d_trap_sig);
	d_puts(" code ");
	d_sdec(d_trap_code);
	d_puts(" addr ");
	d_puts(addr_ok ? "ok" : "WRONG");
	d_puts(" pc ");
	d_puts(pc_ok ? "ok" : "WRONG");
	d_putc('\n');
	d_checks++;
	if (d_trap_sig != sig || d_trap_code != code)
		d_expect("  expected signal/code", 0);
}

/* A load or store at addr; resumes after it. */
static void mem_fault(const char *what, u64 addr, int store, int sig, int code)
{
	u64 pc = 0, v = 0;

	d_trap_arm(0);
	if (store)
		__asm__ volatile(NORVC "1: sd %2, 0(%1)\nlla %0, 1b" POP : "=&r"(pc) : "r"(addr), "r"(v) : "memory");
	else
		__asm__ volatile(NORVC "1: ld %1, 0(%2)\nlla %0, 1b" POP : "=&r"(pc), "=&r"(v) : "r"(addr) : "memory");
	d_trap_armed = 0;
	report(what, sig, code, d_trap_addr == addr, d_trap_pc == pc);
}

/* A jump to addr (with ra = the resume point); the handler resumes there. */
static void fetch_fault(const char *what, u64 addr, int sig, int code)
{
	d_trap_arm(0);
	__asm__ volatile(NORVC "lla t0, 1f\nsd t0, 0(%1)\njalr ra, 0(%0)\n1:" POP
			 : : "r"(addr), "r"(&d_trap_resume) : "ra", "t0", "memory");
	d_trap_armed = 0;
	report(what, sig, code, d_trap_addr == addr, d_trap_pc == addr);
}

static void test_segv(void)
{
	unsigned char *ro = mmap(0, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *none = mmap(0, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *rw = mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	mem_fault("load from NULL", 0, 0, 11, 1);
	mem_fault("store to 0x10", 0x10, 1, 11, 1);
	mem_fault("load from PROT_NONE", (u64)none + 8, 0, 11, 2);
	mem_fault("store to PROT_NONE", (u64)none + 16, 1, 11, 2);
	mem_fault("store to read-only", (u64)ro + 120, 1, 11, 2);
	d_expect("read-only page still readable", *(volatile u64 *)(ro + 120) == 0);
	/* the page is hot in the TLB (read and written) when it goes away */
	rw[0] = (unsigned char)(*(volatile unsigned char *)(rw + 64) + 1);
	munmap(rw, PAGE);
	mem_fault("load from unmapped page", (u64)rw + 64, 0, 11, 1);
	fetch_fault("jump to NULL", 0, 11, 1);
	fetch_fault("jump to PROT_NONE", (u64)none + 4, 11, 2);
	/* executing from a page without PROT_EXEC */
	rw = mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	*(u32 *)rw = 0x00008067; /* ret */
	fetch_fault("jump to non-executable", (u64)rw, 11, 2);
	d_mprotect(rw, PAGE, PROT_READ | PROT_EXEC);
	d_flush_icache(rw, rw + PAGE);
	((void (*)(void))(void *)rw)();
	d_expect("same page after mprotect(PROT_EXEC) runs", 1);
	munmap(rw, PAGE);

	/* An execute-only page (PROT_EXEC alone: a PTE with X but not R) runs; loading
	 * from it faults in Linux (SEGV_ACCERR). qemu-user does not enforce that on
	 * loads, so a load that returns the right word is accepted too. */
	rw = mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	((u32 *)rw)[0] = 0x00550513; /* addi a0, a0, 5 */
	((u32 *)rw)[1] = 0x00008067; /* ret */
	d_mprotect(rw, PAGE, PROT_EXEC);
	d_flush_icache(rw, rw + PAGE);
	d_kv("call into execute-only page", ((u64(*)(u64))(void *)rw)(100));
	{
		u64 pc = 0, v = 0, a = (u64)rw;

		d_trap_arm(0);
		__asm__ volatile(NORVC "1: lwu %1, 0(%2)\nlla %0, 1b" POP : "=&r"(pc), "=&r"(v) : "r"(a) : "memory");
		d_trap_armed = 0;
		d_expect("load from execute-only page: SIGSEGV/SEGV_ACCERR (or the word)",
			 (d_trap_sig == 11 && d_trap_code == 2 && d_trap_addr == a && d_trap_pc == pc) ||
				 (d_trap_sig == 0 && v == 0x00550513));
	}
	mem_fault("store to execute-only page", (u64)rw + 8, 1, 11, 2);
	munmap(rw, PAGE);

	/* mprotect takes write permission away from a page just written through */
	rw = mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (int i = 0; i < 8; i++)
		((volatile u64 *)rw)[i] = 0x1111UL * (u64)(i + 1);
	d_mprotect(rw, PAGE, PROT_READ);
	mem_fault("store after mprotect(PROT_READ)", (u64)rw + 8, 1, 11, 2);
	d_kv("value after refused store", ((volatile u64 *)rw)[1]);
	d_mprotect(rw, PAGE, PROT_NONE);
	mem_fault("load after mprotect(PROT_NONE)", (u64)rw + 16, 0, 11, 2);
	d_mprotect(rw, PAGE, PROT_READ | PROT_WRITE);
	((volatile u64 *)rw)[1] = 0x2222;
	d_kv("store after mprotect(PROT_READ|PROT_WRITE)", ((volatile u64 *)rw)[1]);
	munmap(rw, PAGE);
	/* a new anonymous mapping, very likely at the same address, reads as zero */
	rw = mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	d_kv("fresh mapping word", ((volatile u64 *)rw)[1]);
	munmap(rw, PAGE);
	munmap(ro, PAGE);
	munmap(none, PAGE);
}

#define ILL(name, insn)                                                                        \
	do {                                                                                   \
		u64 pc;                                                                        \
		d_trap_arm(0);                                                                 \
		__asm__ volatile(NORVC "1: " insn "\nlla %0, 1b" POP : "=r"(pc) : : "memory");  \
		d_trap_armed = 0;                                                              \
		report(name, 4, 1, d_trap_addr == pc, d_trap_pc == pc);                        \
	} while (0)

static void test_ill(void)
{
	ILL("all-zero 16-bit", ".2byte 0x0000");
	ILL("unimp (csrrw x0, cycle, x0)", "unimp");
	ILL("csrw time", "csrw time, zero");
	ILL("csrr sstatus", "csrr t0, sstatus");
	ILL("csrw stvec", "csrw stvec, zero");
	ILL("csrr satp", "csrr t0, satp");
	ILL("csrr mstatus", "csrr t0, mstatus");
	ILL("csrr mhartid", "csrr t0, mhartid");
	ILL("sret", "sret");
	ILL("mret", "mret");
	ILL("sfence.vma", "sfence.vma");
	ILL("csrr sscratch", "csrr t0, sscratch");
	ILL("csrw sepc", "csrw sepc, zero");

	u64 pc;
	d_trap_arm(0);
	__asm__ volatile(NORVC "1: ebreak\nlla %0, 1b" POP : "=r"(pc) : : "memory");
	d_trap_armed = 0;
	report("ebreak", 5, 1, d_trap_addr == pc, d_trap_pc == pc);
}

/* ---- registers through a signal frame ----------------------------------------------- */

/* regtrip(out): sets x1, x5..x31 to pattern A (x_i = i * 0x0101010101010101 ^ 0xa5..),
 * executes ebreak; the handler checks pattern A in the ucontext, writes pattern B
 * (x_i = ~A_i) and advances pc; then all registers are stored to out[i]. sp, gp,
 * tp are kept. */
extern void regtrip(u64 *out);
__asm__(".text\n.align 2\n.globl regtrip\nregtrip:\n"
	".option push\n.option norvc\n"
	"addi sp, sp, -384\n"
	"sd ra, 256(sp)\nsd s0, 264(sp)\nsd s1, 272(sp)\nsd s2, 280(sp)\nsd s3, 288(sp)\n"
	"sd s4, 296(sp)\nsd s5, 304(sp)\nsd s6, 312(sp)\nsd s7, 320(sp)\nsd s8, 328(sp)\n"
	"sd s9, 336(sp)\nsd s10, 344(sp)\nsd s11, 352(sp)\nsd a0, 360(sp)\n"
#define PAT(i) "li x" #i ", " #i " * 0x0101010101010101 ^ 0xa5a5a5a5a5a5a5a5\n"
	PAT(1) PAT(5) PAT(6) PAT(7) PAT(8) PAT(9) PAT(10) PAT(11) PAT(12) PAT(13) PAT(14) PAT(15)
	PAT(16) PAT(17) PAT(18) PAT(19) PAT(20) PAT(21) PAT(22) PAT(23) PAT(24) PAT(25) PAT(26)
	PAT(27) PAT(28) PAT(29) PAT(30) PAT(31)
	"ebreak\n"
#define DUMP(i) "sd x" #i ", " #i " * 8(sp)\n"
	DUMP(1) DUMP(5) DUMP(6) DUMP(7) DUMP(8) DUMP(9) DUMP(10) DUMP(11) DUMP(12) DUMP(13) DUMP(14)
	DUMP(15) DUMP(16) DUMP(17) DUMP(18) DUMP(19) DUMP(20) DUMP(21) DUMP(22) DUMP(23) DUMP(24)
	DUMP(25) DUMP(26) DUMP(27) DUMP(28) DUMP(29) DUMP(30) DUMP(31)
	"ld a0, 360(sp)\nli t0, 0\n"
	"1: add t1, sp, t0\nld t2, 0(t1)\nadd t1, a0, t0\nsd t2, 0(t1)\naddi t0, t0, 8\n"
	"li t1, 256\nbltu t0, t1, 1b\n"
	"ld ra, 256(sp)\nld s0, 264(sp)\nld s1, 272(sp)\nld s2, 280(sp)\nld s3, 288(sp)\n"
	"ld s4, 296(sp)\nld s5, 304(sp)\nld s6, 312(sp)\nld s7, 320(sp)\nld s8, 328(sp)\n"
	"ld s9, 336(sp)\nld s10, 344(sp)\nld s11, 352(sp)\n"
	"addi sp, sp, 384\nret\n"
	".option pop\n");

static u64 pattern_a(int i)
{
	return (u64)i * 0x0101010101010101UL ^ 0xa5a5a5a5a5a5a5a5UL;
}

static int regtrip_seen_bad = -1;
static int regtrip_sp_aligned;

static void regtrip_handler(int sig, void *info, void *uc)
{
	u64 *regs = D_UC_REGS(uc), sp;
	int bad = 0;

	(void)sig;
	(void)info;
	__asm__ volatile("mv %0, sp" : "=r"(sp));
	regtrip_sp_aligned = (sp & 15) == 0;
	for (int i = 1; i < 32; i++) {
		if (i >= 2 && i <= 4)
			continue;
		if (regs[i] != pattern_a(i))
			bad++;
		regs[i] = ~pattern_a(i);
	}
	regtrip_seen_bad = bad;
	regs[0] += 4;
}

static void test_regtrip(void)
{
	u64 out[32];
	int bad = 0;

	for (int i = 0; i < 32; i++)
		out[i] = 0;
	d_sigaction(5, regtrip_handler);
	regtrip(out);
	d_init();
	d_kv("handler saw pattern A, registers wrong", (u64)regtrip_seen_bad);
	d_expect("handler stack 16-byte aligned", regtrip_sp_aligned);
	for (int i = 1; i < 32; i++) {
		if (i >= 2 && i <= 4)
			continue;
		if (out[i] != ~pattern_a(i)) {
			bad++;
			d_puts("  x");
			d_dec((u64)i);
			d_puts(" after sigreturn = ");
			d_hex(out[i]);
			d_putc('\n');
		}
	}
	d_kv("after sigreturn, registers wrong", (u64)bad);
}

/* ecalltrip(out): x1, x5..x31 set to pattern A except a0 (x10) and a7 (x17 = 172,
 * getpid); ecall; all registers stored to out[i]. Linux must preserve every
 * register but a0 across a system call. */
extern void ecalltrip(u64 *out);
__asm__(".text\n.align 2\n.globl ecalltrip\necalltrip:\n"
	".option push\n.option norvc\n"
	"addi sp, sp, -384\n"
	"sd ra, 256(sp)\nsd s0, 264(sp)\nsd s1, 272(sp)\nsd s2, 280(sp)\nsd s3, 288(sp)\n"
	"sd s4, 296(sp)\nsd s5, 304(sp)\nsd s6, 312(sp)\nsd s7, 320(sp)\nsd s8, 328(sp)\n"
	"sd s9, 336(sp)\nsd s10, 344(sp)\nsd s11, 352(sp)\nsd a0, 360(sp)\n"
	PAT(1) PAT(5) PAT(6) PAT(7) PAT(8) PAT(9) PAT(11) PAT(12) PAT(13) PAT(14) PAT(15)
	PAT(16) PAT(18) PAT(19) PAT(20) PAT(21) PAT(22) PAT(23) PAT(24) PAT(25) PAT(26)
	PAT(27) PAT(28) PAT(29) PAT(30) PAT(31)
	"li a7, 172\nli a0, 0\n"
	"ecall\n"
	DUMP(1) DUMP(5) DUMP(6) DUMP(7) DUMP(8) DUMP(9) DUMP(10) DUMP(11) DUMP(12) DUMP(13) DUMP(14)
	DUMP(15) DUMP(16) DUMP(17) DUMP(18) DUMP(19) DUMP(20) DUMP(21) DUMP(22) DUMP(23) DUMP(24)
	DUMP(25) DUMP(26) DUMP(27) DUMP(28) DUMP(29) DUMP(30) DUMP(31)
	"ld a0, 360(sp)\nli t0, 0\n"
	"1: add t1, sp, t0\nld t2, 0(t1)\nadd t1, a0, t0\nsd t2, 0(t1)\naddi t0, t0, 8\n"
	"li t1, 256\nbltu t0, t1, 1b\n"
	"ld ra, 256(sp)\nld s0, 264(sp)\nld s1, 272(sp)\nld s2, 280(sp)\nld s3, 288(sp)\n"
	"ld s4, 296(sp)\nld s5, 304(sp)\nld s6, 312(sp)\nld s7, 320(sp)\nld s8, 328(sp)\n"
	"ld s9, 336(sp)\nld s10, 344(sp)\nld s11, 352(sp)\n"
	"addi sp, sp, 384\nret\n"
	".option pop\n");

static void test_ecalltrip(void)
{
	u64 out[32];
	int bad = 0;

	ecalltrip(out);
	for (int i = 1; i < 32; i++) {
		if ((i >= 2 && i <= 4) || i == 10)
			continue;
		u64 want = i == 17 ? 172 : pattern_a(i);
		if (out[i] != want) {
			bad++;
			d_puts("  x");
			d_dec((u64)i);
			d_puts(" after ecall = ");
			d_hex(out[i]);
			d_putc('\n');
		}
	}
	d_kv("registers changed by ecall (getpid)", (u64)bad);
	d_expect("getpid > 0", (long)out[10] > 0);
}

/* ---- asynchronous interruption ----------------------------------------------------- */

/* A chunk of mixed work whose result depends only on i: divisions, high
 * multiplies, an LR/SC loop, AMOs, misaligned loads, compressed code. */
static u64 shared_word;
static unsigned char mis[64];

static u64 chunk(u64 i)
{
	u64 x = i * 0x9e3779b97f4a7c15UL + 1, acc = i;

	for (int k = 0; k < 300; k++) {
		u64 a = d_xorshift(&x), b = d_xorshift(&x) | 1, r, t;

		switch (a & 7) {
		case 0: __asm__ volatile("div %0, %1, %2" : "=r"(r) : "r"(a), "r"(b)); break;
		case 1: __asm__ volatile("mulh %0, %1, %2" : "=r"(r) : "r"(a), "r"(b)); break;
		case 2: __asm__ volatile("remuw %0, %1, %2" : "=r"(r) : "r"(a), "r"(b)); break;
		case 3:
			__asm__ volatile("1: lr.d %0, (%2)\nxor %0, %0, %3\nsc.d %1, %0, (%2)\nbnez %1, 1b"
					 : "=&r"(r), "=&r"(t) : "r"(&shared_word), "r"(b) : "memory");
			break;
		case 4: __asm__ volatile("amoadd.d %0, %1, (%2)" : "=r"(r) : "r"(a), "r"(&shared_word) : "memory"); break;
		case 5:
			__asm__ volatile("ld %0, 0(%1)" : "=r"(r) : "r"(mis + (a >> 8) % 56) : "memory");
			__asm__ volatile("sd %0, 0(%1)" : : "r"(r ^ b), "r"(mis + (b >> 8) % 56) : "memory");
			break;
		case 6: __asm__ volatile(".option push\n.option rvc\nc.srai %0, 3\nc.addi %0, -7\n.option pop" : "=r"(r) : "0"(a)); break;
		default: __asm__ volatile("sraw %0, %1, %2" : "=r"(r) : "r"(a), "r"(b)); break;
		}
		acc = (acc ^ r) * 0x100000001b3UL;
	}
	return acc;
}

static volatile u64 alarms;
static volatile u64 handler_sink;

static void alarm_handler(int sig, void *info, void *uc)
{
	u64 x = alarms + 12345, y = 77;

	(void)sig;
	(void)info;
	(void)uc;
	/* clobber plenty of registers and the reservation */
	for (int i = 0; i < 40; i++) {
		x = x * 6364136223846793005UL + 1442695040888963407UL;
		y ^= x / (y | 1);
	}
	__asm__ volatile("amoadd.d zero, %0, (%1)" : : "r"(0UL), "r"(&handler_sink) : "memory");
	handler_sink = x ^ y;
	alarms++;
}

#define MAXCHUNK 8192
static u64 results[MAXCHUNK];

static void set_timer(long usec)
{
	long it[4] = { 0, usec, 0, usec }; /* interval, value */

	my_syscall3(103, 0, it, 0); /* setitimer(ITIMER_REAL) */
}

static void test_async(void)
{
	u64 n = 0, s1, s2, bad = 0;

	for (int i = 0; i < 64; i++)
		mis[i] = (unsigned char)(i * 37);
	shared_word = 5;
	d_sigaction(14, alarm_handler);
	set_timer(200);
	while (n < MAXCHUNK && (n < 64 || alarms < 30)) {
		results[n] = chunk(n);
		n++;
	}
	set_timer(0);
	s1 = shared_word;
	/* again, without signals, from the same starting state */
	for (int i = 0; i < 64; i++)
		mis[i] = (unsigned char)(i * 37);
	shared_word = 5;
	for (u64 i = 0; i < n; i++)
		if (chunk(i) != results[i])
			bad++;
	s2 = shared_word;
	d_expect("SIGALRM interrupted the computation", alarms > 0);
	d_kv("chunks that differ when interrupted", bad);
	d_expect("shared word the same", s1 == s2);
}

/* ---- misc ABI ------------------------------------------------------------------------ */

static volatile int usr1_count;
static volatile int usr1_on_altstack;
static unsigned char altstack[16384] __attribute__((aligned(16)));

static void usr1_handler(int sig, void *info, void *uc)
{
	unsigned char *sp;

	(void)info;
	(void)uc;
	__asm__ volatile("mv %0, sp" : "=r"(sp));
	usr1_count += sig;
	usr1_on_altstack = sp > altstack && sp <= altstack + sizeof(altstack);
}

/* Addresses outside the user part of the address space (kernel half, non-canonical
 * for Sv39): SIGSEGV/SEGV_MAPERR. si_addr: Linux reports stval, the address;
 * qemu-user reports 0 for addresses beyond its guest space; both accepted.
 * (Not 1 << 38, the first address above Sv39's user half: qemu-user reserves
 * memory there and reports SEGV_ACCERR where Linux says SEGV_MAPERR.) */
static void test_high(void)
{
	static const u64 addrs[] = { 0x0000800000000000UL, 0x8000000000000000UL,
				     0xffffffc000000000UL, 0xffffffff80000000UL, 0xfffffffffffff000UL };

	for (unsigned i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		for (int st = 0; st < 2; st++) {
			u64 pc = 0, v = 0, a = addrs[i];

			d_trap_arm(0);
			if (st)
				__asm__ volatile(NORVC "1: sd %2, 8(%1)\nlla %0, 1b" POP : "=&r"(pc) : "r"(a), "r"(v) : "memory");
			else
				__asm__ volatile(NORVC "1: ld %1, 8(%2)\nlla %0, 1b" POP : "=&r"(pc), "=&r"(v) : "r"(a) : "memory");
			d_trap_armed = 0;
			d_puts(st ? "store to " : "load from ");
			d_hex(a + 8);
			report("", 11, 1, d_trap_addr == a + 8 || d_trap_addr == 0, d_trap_pc == pc);
		}
	}
}

static void test_misc(void)
{
	long r;
	register long a7 __asm__("a7") = 999;
	register long a0 __asm__("a0") = 0;

	__asm__ volatile("ecall" : "+r"(a0) : "r"(a7) : "memory");
	r = a0;
	d_kv("syscall 999 returns", (u64)r);

	struct {
		void *sp;
		int flags;
		unsigned long size;
	} ss = { altstack, 0, sizeof(altstack) };
	struct d_sigaction sa = { usr1_handler, D_SA_SIGINFO | 0x08000000 /* SA_ONSTACK */, 0 };
	d_kv("sigaltstack", (u64)my_syscall2(132, &ss, 0));
	d_kv("rt_sigaction SIGUSR1", (u64)my_syscall4(D_NR_rt_sigaction, 10, &sa, 0, 8));
	raise(10);
	raise(10);
	d_kv("SIGUSR1 handler sum", (u64)usr1_count);
	d_expect("SIGUSR1 handler ran on the alternate stack", usr1_on_altstack);
}

int main(void)
{
	d_init();
	test_segv();
	test_ill();
	test_regtrip();
	test_ecalltrip();
	test_high();
	test_async();
	test_misc();
	return d_done();
}
