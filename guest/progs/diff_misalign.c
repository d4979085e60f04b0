/* diff_misalign.c - misaligned loads, stores and instruction fetches.
 *
 * Linux 6.1 in S-mode does not emulate misaligned accesses, so a user program
 * only works if the hart (here: the VMM) performs them. Every load and store
 * width (plus the compressed c.lw/c.ld/c.sw/c.sd and sp-relative forms) runs at
 * every offset of an 8-byte window, in the middle of a page and straddling a
 * 4 KiB page boundary. Then the page-fault paths: a misaligned access that
 * straddles into a page not yet faulted in (Linux must be told the address of
 * the part that faulted, or it would retry forever), into a read-only zero page,
 * into a PROT_NONE page (SIGSEGV, nothing stored), and a 32-bit instruction
 * that straddles two pages, also when the second one is not executable yet.
 */
#include "diff.h"

#define NORVC ".option push\n.option norvc\n"
#define RVC ".option push\n.option rvc\n"
#define POP "\n.option pop\n"

#define PAGE 4096UL
static unsigned char buf[3 * PAGE] __attribute__((aligned(4096)));

enum { L_LB, L_LBU, L_LH, L_LHU, L_LW, L_LWU, L_LD, L_CLW, L_CLD, L_CLWSP, L_CLDSP, L_NEG, NLOAD };
static const char *const lnames[NLOAD] = { "lb", "lbu", "lh", "lhu", "lw", "lwu", "ld",
					   "c.lw", "c.ld", "c.lwsp", "c.ldsp", "ld-neg-off" };

static u64 do_load(int k, unsigned char *p)
{
	register u64 r __asm__("a0");
	register unsigned char *b __asm__("a1") = p;

	switch (k) {
	case L_LB: __asm__ volatile(NORVC "lb a0, 0(a1)" POP : "=r"(r) : "r"(b) : "memory"); break;
	case L_LBU: __asm__ volatile(NORVC "lbu a0, 0(a1)" POP : "=r"(r) : "r"(b) : "memory"); break;
	case L_LH: __asm__ volatile(NORVC "lh a0, 0(a1)" POP : "=r"(r) : "r"(b) : "memory"); break;
	case L_LHU: __asm__ volatile(NORVC "lhu a0, 0(a1)" POP : "=r"(r) : "r"(b) : "memory"); break;
	case L_LW: __asm__ volatile(NORVC "lw a0, 0(a1)" POP : "=r"(r) : "r"(b) : "memory"); break;
	case L_LWU: __asm__ volatile(NORVC "lwu a0, 0(a1)" POP : "=r"(r) : "r"(b) : "memory"); break;
	case L_LD: __asm__ volatile(NORVC "ld a0, 0(a1)" POP : "=r"(r) : "r"(b) : "memory"); break;
	case L_CLW: __asm__ volatile(RVC "c.lw a0, 0(a1)" POP : "=r"(r) : "r"(b) : "memory"); break;
	case L_CLD: __asm__ volatile(RVC "c.ld a0, 0(a1)" POP : "=r"(r) : "r"(b) : "memory"); break;
	case L_CLWSP:
		__asm__ volatile(RVC "mv t0, sp\nmv sp, a1\nc.lwsp a0, 0(sp)\nmv sp, t0" POP
				 : "=r"(r) : "r"(b) : "t0", "memory");
		break;
	case L_CLDSP:
		__asm__ volatile(RVC "mv t0, sp\naddi sp, a1, -8\nc.ldsp a0, 8(sp)\nmv sp, t0" POP
				 : "=r"(r) : "r"(b) : "t0", "memory");
		break;
	default:
		__asm__ volatile(NORVC "addi a1, a1, 2047\nld a0, -2047(a1)" POP : "=r"(r), "+r"(b) : : "memory");
		break;
	}
	return r;
}

enum { S_SB, S_SH, S_SW, S_SD, S_CSW, S_CSD, S_CSWSP, S_CSDSP, S_NEG, NSTORE };
static const char *const snames[NSTORE] = { "sb", "sh", "sw", "sd", "c.sw", "c.sd", "c.swsp", "c.sdsp",
					    "sd-neg-off" };

static void do_store(int k, unsigned char *p, u64 v)
{
	register u64 r __asm__("a0") = v;
	register unsigned char *b __asm__("a1") = p;

	switch (k) {
	case S_SB: __asm__ volatile(NORVC "sb a0, 0(a1)" POP : : "r"(r), "r"(b) : "memory"); break;
	case S_SH: __asm__ volatile(NORVC "sh a0, 0(a1)" POP : : "r"(r), "r"(b) : "memory"); break;
	case S_SW: __asm__ volatile(NORVC "sw a0, 0(a1)" POP : : "r"(r), "r"(b) : "memory"); break;
	case S_SD: __asm__ volatile(NORVC "sd a0, 0(a1)" POP : : "r"(r), "r"(b) : "memory"); break;
	case S_CSW: __asm__ volatile(RVC "c.sw a0, 0(a1)" POP : : "r"(r), "r"(b) : "memory"); break;
	case S_CSD: __asm__ volatile(RVC "c.sd a0, 0(a1)" POP : : "r"(r), "r"(b) : "memory"); break;
	case S_CSWSP:
		__asm__ volatile(RVC "mv t0, sp\naddi sp, a1, -4\nc.swsp a0, 4(sp)\nmv sp, t0" POP
				 : : "r"(r), "r"(b) : "t0", "memory");
		break;
	case S_CSDSP:
		__asm__ volatile(RVC "mv t0, sp\nmv sp, a1\nc.sdsp a0, 0(sp)\nmv sp, t0" POP
				 : : "r"(r), "r"(b) : "t0", "memory");
		break;
	default:
		__asm__ volatile(NORVC "addi a1, a1, 2000\nsd a0, -2000(a1)" POP : "+r"(b) : "r"(r) : "memory");
		break;
	}
}

static void fill(unsigned char *p, unsigned long n, unsigned seed)
{
	for (unsigned long i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 0x9d + seed * 0x31 + 0x5b);
}

static void print_bytes(const unsigned char *p, int n)
{
	for (int i = 0; i < n; i++)
		d_hexn(p[i], 2);
}

/* The three windows: mid-page, and straddling the boundary at buf + PAGE. */
static unsigned char *window(int w)
{
	return w == 0 ? buf + 256 : w == 1 ? buf + PAGE - 8 : buf + PAGE - 4;
}

static void test_windows(void)
{
	for (int w = 0; w < 3; w++) {
		unsigned char *base = window(w);

		for (int k = 0; k < NLOAD; k++) {
			fill(buf, sizeof(buf), (unsigned)k);
			d_puts("w");
			d_dec((u64)w);
			d_putc(' ');
			d_puts(lnames[k]);
			d_puts(" =");
			for (int o = 0; o < 8; o++) {
				d_putc(' ');
				d_hex(do_load(k, base + o));
				d_checks++;
			}
			d_putc('\n');
		}
		for (int k = 0; k < NSTORE; k++) {
			for (int o = 0; o < 8; o++) {
				fill(buf, sizeof(buf), 7);
				do_store(k, base + o, 0x8877665544332211UL);
				d_puts("w");
				d_dec((u64)w);
				d_putc(' ');
				d_puts(snames[k]);
				d_putc(' ');
				d_dec((u64)o);
				d_puts(" = ");
				print_bytes(base - 4, 20);
				d_putc('\n');
				d_checks++;
			}
		}
	}
	/* Nothing outside the windows was touched by the stores: whole-buffer checksum. */
	fill(buf, sizeof(buf), 9);
	for (int w = 0; w < 3; w++)
		for (int o = 0; o < 8; o++)
			do_store(S_SD, window(w) + o, do_load(L_LD, window(w) + o) + 1);
	u64 h = D_FNV_INIT;
	for (unsigned long i = 0; i < sizeof(buf); i += 8)
		h = d_fnv(h, *(u64 *)(buf + i));
	d_kv("load+1/store sweep checksum", h);
}

static unsigned char *map2(int prot)
{
	void *p = mmap(0, 2 * PAGE, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		d_puts("mmap failed\n");
		d_flush();
		exit(3);
	}
	return p;
}

/* Misaligned accesses that straddle into pages Linux has not populated yet. */
static void test_fresh_pages(void)
{
	static const int loads[] = { L_LH, L_LW, L_LD, L_CLD };
	static const int stores[] = { S_SH, S_SW, S_SD, S_CSW };
	static const int back[] = { 1, 3, 5, 7 };

	for (int i = 0; i < 4; i++) {
		for (int j = 0; j < 4; j++) {
			unsigned char *m;
			u64 r;

			/* both pages untouched: the load faults on one or both */
			m = map2(PROT_READ | PROT_WRITE);
			r = do_load(loads[i], m + PAGE - back[j]);
			d_puts("fresh ");
			d_puts(lnames[loads[i]]);
			d_puts(" -");
			d_dec((u64)back[j]);
			d_puts(" = ");
			d_hex(r);
			d_putc('\n');
			d_checks++;
			munmap(m, 2 * PAGE);

			/* both untouched: store */
			m = map2(PROT_READ | PROT_WRITE);
			do_store(stores[i], m + PAGE - back[j], 0xf1e2d3c4b5a69788UL);
			d_puts("fresh ");
			d_puts(snames[stores[i]]);
			d_puts(" -");
			d_dec((u64)back[j]);
			d_puts(" = ");
			print_bytes(m + PAGE - 8, 16);
			d_putc('\n');
			d_checks++;
			munmap(m, 2 * PAGE);

			/* first page written, second only read (the shared zero page, read-only) */
			m = map2(PROT_READ | PROT_WRITE);
			m[0] = 1;
			r = *(volatile unsigned char *)(m + PAGE + 100);
			do_store(stores[i], m + PAGE - back[j], 0x0102030405060708UL + r);
			d_puts("zeropage ");
			d_puts(snames[stores[i]]);
			d_puts(" -");
			d_dec((u64)back[j]);
			d_puts(" = ");
			print_bytes(m + PAGE - 8, 16);
			d_putc('\n');
			d_checks++;
			munmap(m, 2 * PAGE);

			/* first page read only (zero page), second written */
			m = map2(PROT_READ | PROT_WRITE);
			r = *(volatile unsigned char *)(m + 100);
			m[PAGE + 8] = 1;
			do_store(stores[i], m + PAGE - back[j], 0x1112131415161718UL + r);
			d_puts("zeropage1 ");
			d_puts(snames[stores[i]]);
			d_puts(" -");
			d_dec((u64)back[j]);
			d_puts(" = ");
			print_bytes(m + PAGE - 8, 16);
			d_putc('\n');
			d_checks++;
			munmap(m, 2 * PAGE);
		}
	}
	/* After fork, both pages are copy-on-write: a straddling store in the child. */
	unsigned char *m = map2(PROT_READ | PROT_WRITE);
	fill(m, 2 * PAGE, 3);
	d_flush();
	pid_t pid = fork();
	if (pid == 0) {
		do_store(S_SD, m + PAGE - 3, 0xaaaaaaaaaaaaaaaaUL);
		d_puts("cow child = ");
		print_bytes(m + PAGE - 8, 16);
		d_putc('\n');
		d_flush();
		exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	d_puts("cow parent = ");
	print_bytes(m + PAGE - 8, 16);
	d_putc('\n');
	d_kv("cow child status", (u64)st);
	munmap(m, 2 * PAGE);
}

/* Straddling into a PROT_NONE page: SIGSEGV with si_addr in the second page (the
 * privileged spec: stval holds "the virtual address of the portion of the access
 * that caused the fault"; with an address in the first page Linux would find
 * nothing to fix and retry forever). The bytes of the first page are printed:
 * the spec would allow a partial store, but neither qemu-user nor ferry-vm
 * (which translates both pages before writing, see src/vmm/core/cpu.c) does one. */
static void test_fault_straddle(void)
{
	static const int stores[] = { S_SH, S_SW, S_SD, S_CSD, S_CSWSP };
	static const int loads[] = { L_LHU, L_LW, L_LD, L_CLW };
	static const int back[] = { 1, 2, 3, 7 };

	for (int s = 0; s < 2; s++) {
		int n = s ? 4 : 5;

		for (int i = 0; i < n; i++) {
			for (int j = 0; j < 4; j++) {
				int k = s ? loads[i] : stores[i];
				unsigned char *m, *a;
				u64 r = 0;

				if (((s == 0 && k == S_SH) || (s == 1 && k == L_LHU)) && j > 0)
					continue; /* a halfword straddles only at -1 */
				m = map2(PROT_READ | PROT_WRITE);
				a = m + PAGE - back[j];
				fill(m, PAGE, 5);
				d_mprotect(m + PAGE, PAGE, PROT_NONE);
				d_trap_arm(0);
				if (s)
					r = do_load(k, a);
				else
					do_store(k, a, 0xeeeeeeeeeeeeeeeeUL);
				d_trap_armed = 0;
				d_puts("straddle-none ");
				d_puts(s ? lnames[k] : snames[k]);
				d_puts(" -");
				d_dec((u64)(m + PAGE - a));
				d_puts(": signal ");
				d_dec((u64)d_trap_sig);
				d_puts(" code ");
				d_dec((u64)d_trap_code);
				d_puts(" addr in 2nd page ");
				d_dec(d_trap_addr >= (u64)(m + PAGE) && d_trap_addr < (u64)(m + 2 * PAGE));
				d_puts(" bytes ");
				print_bytes(m + PAGE - 8, 8);
				d_putc('\n');
				d_checks++;
				(void)r;
				munmap(m, 2 * PAGE);
			}
		}
	}
}

/* A 32-bit instruction whose halves are in two pages. */
static u64 (*fetch_fn)(u64);
static u64 fetch_resume_count;

static void fetch_fix_handler(int sig, void *info, void *uc)
{
	struct d_siginfo *si = info;
	u64 *regs = D_UC_REGS(uc);
	unsigned char *page2 = (unsigned char *)((u64)fetch_fn + 2);

	d_puts("fetch fault: signal ");
	d_dec((u64)sig);
	d_puts(" code ");
	d_dec((u64)si->code);
	d_puts(" pc at insn ");
	d_dec(regs[0] == (u64)fetch_fn);
	d_puts(" addr is 2nd page ");
	d_dec(si->addr == (u64)page2);
	d_putc('\n');
	d_checks++;
	fetch_resume_count++;
	/* make the second page executable and return: the instruction runs again */
	d_mprotect(page2, PAGE, PROT_READ | PROT_EXEC);
}

static void test_fetch_straddle(void)
{
	unsigned char *m = map2(PROT_READ | PROT_WRITE);
	unsigned char *code = m + PAGE - 2;
	/* lui a0, 0x12345 ; addiw a0, a0, 0x678 would be two; use:
	 * add  a0, a0, a0  (0x00a50533)  straddling
	 * addi a0, a0, 7   (0x00750513)
	 * ret  (c.jr ra = 0x8082) */
	static const unsigned char insns[] = { 0x33, 0x05, 0xa5, 0x00, 0x13, 0x05, 0x75, 0x00, 0x82, 0x80 };

	for (unsigned i = 0; i < sizeof(insns); i++)
		code[i] = insns[i];
	d_mprotect(m, 2 * PAGE, PROT_READ | PROT_EXEC);
	d_flush_icache(m, m + 2 * PAGE);
	fetch_fn = (u64(*)(u64))(void *)code;
	d_kv("straddling insn", fetch_fn(0x100));

	/* Also a compressed instruction right before the boundary, then a 32-bit one
	 * starting exactly at it. */
	d_mprotect(m, 2 * PAGE, PROT_READ | PROT_WRITE);
	static const unsigned char insns2[] = { 0x05, 0x05, 0x33, 0x05, 0xa5, 0x00, 0x82, 0x80 }; /* c.addi a0,1; add; ret */
	for (unsigned i = 0; i < sizeof(insns2); i++)
		code[i] = insns2[i];
	d_mprotect(m, 2 * PAGE, PROT_READ | PROT_EXEC);
	d_flush_icache(m, m + 2 * PAGE);
	d_kv("c.addi before boundary", fetch_fn(0x100));

	/* Second page not executable: the fetch faults with stval in the second page
	 * (sepc at the instruction); the handler makes it executable and returns. */
	d_mprotect(m, 2 * PAGE, PROT_READ | PROT_WRITE);
	for (unsigned i = 0; i < sizeof(insns); i++)
		code[i] = insns[i];
	d_mprotect(m, PAGE, PROT_READ | PROT_EXEC);
	d_mprotect(m + PAGE, PAGE, PROT_READ);
	d_flush_icache(m, m + 2 * PAGE);
	d_sigaction(11, fetch_fix_handler);
	d_kv("straddling insn after fault", fetch_fn(0x100));
	d_kv("fetch faults", fetch_resume_count);
	d_init();
	munmap(m, 2 * PAGE);
}

int main(void)
{
	d_init();
	test_windows();
	test_fresh_pages();
	test_fault_straddle();
	test_fetch_straddle();
	return d_done();
}
