/* diff.h - shared helpers for the differential test programs (guest/progs/diff_*.c).
 *
 * The diff_* programs run both under qemu-riscv64 (user mode) and inside a
 * ferry-vm guest; tests/diff/run.sh compares their stdout byte for byte. So
 * everything they print must be deterministic: hex values, "ok" lines, never
 * addresses that depend on the environment, never time or counter values.
 *
 * Output is buffered here (nolibc's printf makes one write per fragment and
 * has no zero padding) and flushed when the buffer fills, by the programs
 * before fork(), by the fatal-signal path, and at the end of main via d_done().
 *
 * Every printed result counts as one "check"; d_done() prints the total.
 *
 * d_init() installs handlers for the fault signals: an unexpected fault prints
 * "fatal signal N code C pc P addr A" and exits with 100 + N (the guest's init
 * reports a death by signal as status 0, so a plain crash would be hard to
 * see). An expected one is armed with d_trap_arm() and recorded.
 */
#ifndef FERRY_GUEST_DIFF_H
#define FERRY_GUEST_DIFF_H

#include "rt.h"

#include <asm/sigcontext.h>
#include <asm/ucontext.h>

typedef unsigned long u64;
typedef long s64;
typedef unsigned int u32;
typedef int s32;

#define D_OUTBUF 65536

static char d_out[D_OUTBUF];
static unsigned long d_outlen;
static unsigned long d_checks;
static unsigned long d_failed; /* self-checks (d_expect) that failed */

static void d_flush(void)
{
	unsigned long off = 0;

	while (off < d_outlen) {
		long n = write(1, d_out + off, d_outlen - off);

		if (n <= 0)
			break;
		off += (unsigned long)n;
	}
	d_outlen = 0;
}

static void d_putc(char c)
{
	if (d_outlen == D_OUTBUF)
		d_flush();
	d_out[d_outlen++] = c;
}

static void d_puts(const char *s)
{
	while (*s)
		d_putc(*s++);
}

/* Hex, zero-padded to `digits` (1..16). */
static void d_hexn(u64 v, int digits)
{
	for (int i = digits - 1; i >= 0; i--)
		d_putc("0123456789abcdef"[(v >> (4 * i)) & 15]);
}

static void d_hex(u64 v)
{
	d_hexn(v, 16);
}

static void d_hex32(u32 v)
{
	d_hexn(v, 8);
}

static void d_dec(u64 v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		d_putc(tmp[--n]);
}

static void d_sdec(s64 v)
{
	if (v < 0) {
		d_putc('-');
		d_dec((u64)0 - (u64)v);
	} else {
		d_dec((u64)v);
	}
}

/* "name = value\n", one check. */
static void d_kv(const char *name, u64 v)
{
	d_puts(name);
	d_puts(" = ");
	d_hex(v);
	d_putc('\n');
	d_checks++;
}

/* "name a b = r\n" for a binary operation, one check. */
static void d_op2(const char *name, u64 a, u64 b, u64 r)
{
	d_puts(name);
	d_putc(' ');
	d_hex(a);
	d_putc(' ');
	d_hex(b);
	d_puts(" = ");
	d_hex(r);
	d_putc('\n');
	d_checks++;
}

/* A property that must hold (self-check): prints "name ok" or "name FAIL". */
static void d_expect(const char *name, int cond)
{
	d_puts(name);
	d_puts(cond ? " ok\n" : " FAIL\n");
	d_checks++;
	if (!cond)
		d_failed++;
}

/* Print the check count, flush, and give main's exit status (0 unless a self-check failed). */
static int d_done(void)
{
	d_puts("checks ");
	d_dec(d_checks);
	d_putc('\n');
	d_flush();
	return d_failed ? 1 : 0;
}

/* FNV-1a over 64-bit words, for checksums of large results. */
#define D_FNV_INIT 0xcbf29ce484222325UL
static inline u64 d_fnv(u64 h, u64 v)
{
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (8 * i)) & 0xff;
		h *= 0x100000001b3UL;
	}
	return h;
}

/* xorshift64 */
static inline u64 d_xorshift(u64 *s)
{
	u64 x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static void *d_memset(void *p, int c, unsigned long n)
{
	volatile unsigned char *q = p;

	while (n--)
		*q++ = (unsigned char)c;
	return p;
}

/* Corner-case operand set used by the ALU and M-extension checks. */
static const u64 d_vals[] __attribute__((unused)) = {
	0x0000000000000000UL, 0x0000000000000001UL, 0x0000000000000002UL,
	0xffffffffffffffffUL, 0xfffffffffffffffeUL, 0x000000000000001fUL,
	0x0000000000000020UL, 0x000000000000003fUL, 0x0000000000000040UL,
	0x000000007fffffffUL, 0x0000000080000000UL, 0x00000000ffffffffUL,
	0xffffffff80000000UL, 0xffffffff7fffffffUL, 0x7fffffffffffffffUL,
	0x8000000000000000UL, 0x8000000080000000UL, 0x0123456789abcdefUL,
	0xfedcba9876543210UL, 0x00000001fffffffeUL,
};
#define D_NVALS (sizeof(d_vals) / sizeof(d_vals[0]))

/* ---- signals ------------------------------------------------------------------------ */

/* Raw rt_sigaction: nolibc 6.1 has none. The kernel (vDSO) and qemu-user supply
 * the return trampoline on riscv, so no SA_RESTORER. */
#define D_NR_rt_sigaction 134
#define D_NR_mprotect 226
#define D_NR_pipe2 59
#define D_NR_riscv_flush_icache 259

struct d_sigaction {
	void (*handler)(int, void *, void *);
	unsigned long flags;
	unsigned long mask; /* kernel sigset_t: 64 bits */
};

#define D_SA_SIGINFO 4
#define D_SA_NODEFER 0x40000000

/* The kernel's siginfo for the fault signals: si_addr at offset 16. */
struct d_siginfo {
	int signo;
	int errno_;
	int code;
	int pad;
	u64 addr;
};

/* The signal handler's third argument: user registers at uc_mcontext.sc_regs,
 * regs[0] = pc, regs[i] = x[i]. */
#define D_UC_REGS(uc) ((u64 *)&((struct ucontext *)(uc))->uc_mcontext.sc_regs)

static inline int d_sigaction(int sig, void (*h)(int, void *, void *))
{
	struct d_sigaction sa;

	sa.handler = h;
	sa.flags = D_SA_SIGINFO | D_SA_NODEFER;
	sa.mask = 0;
	return (int)my_syscall4(D_NR_rt_sigaction, sig, &sa, 0, 8);
}

static inline int d_mprotect(void *p, unsigned long len, int prot)
{
	return (int)my_syscall3(D_NR_mprotect, p, len, prot);
}

static inline int d_pipe(int fds[2])
{
	return (int)my_syscall2(D_NR_pipe2, fds, 0);
}

/* Make freshly written code visible to instruction fetch. */
static inline void d_flush_icache(void *start, void *end)
{
	my_syscall3(D_NR_riscv_flush_icache, start, end, 0);
	__asm__ volatile("fence.i" ::: "memory");
}

/* Expected traps. Arm with d_trap_arm(resume) right before an instruction that
 * may trap: the handler records signal, si_code, si_addr and pc, and resumes at
 * `resume`, or (resume 0) after the trapping instruction. An unexpected fault
 * signal prints "fatal signal ..." (pc and si_addr are deterministic for
 * these static binaries) and exits with status 100 + signal. */
static volatile int d_trap_armed;
static volatile int d_trap_sig;
static volatile int d_trap_code;
static volatile u64 d_trap_addr;
static volatile u64 d_trap_pc;
static volatile u64 d_trap_resume;

static void d_trap_handler(int sig, void *info, void *uc)
{
	struct d_siginfo *si = info;
	u64 *regs = D_UC_REGS(uc);

	if (d_trap_armed) {
		d_trap_armed = 0;
		d_trap_sig = sig;
		d_trap_code = si->code;
		d_trap_addr = si->addr;
		d_trap_pc = regs[0];
		if (d_trap_resume) {
			regs[0] = d_trap_resume;
		} else {
			unsigned short h = *(volatile unsigned short *)regs[0];

			regs[0] += (h & 3) == 3 ? 4 : 2;
		}
		return;
	}
	d_puts("fatal signal ");
	d_dec((u64)sig);
	d_puts(" code ");
	d_sdec(si->code);
	d_puts(" pc ");
	d_hex(regs[0]);
	d_puts(" addr ");
	d_hex(si->addr);
	d_putc('\n');
	d_flush();
	exit(100 + sig);
}

static void d_trap_arm(u64 resume)
{
	d_trap_sig = 0;
	d_trap_code = 0;
	d_trap_addr = 0;
	d_trap_pc = 0;
	d_trap_resume = resume;
	__asm__ volatile("" ::: "memory");
	d_trap_armed = 1;
	__asm__ volatile("" ::: "memory");
}

/* Install the fault handlers (SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV). */
static void d_init(void)
{
	static const int sigs[] = { 4, 5, 7, 8, 11 };

	for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		d_sigaction(sigs[i], d_trap_handler);
}

#endif
