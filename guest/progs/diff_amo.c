/* diff_amo.c - the A extension: every AMO .W/.D and LR/SC.
 *
 * Each AMO runs on pairs (memory value, rs2 value) from a corner-case set; a
 * line shows rd (the old value, sign-extended for .W) and the 64 bits of
 * memory around the word (the neighbouring word must be untouched).
 * Then: aq/rl encodings, register aliasing (rd == rs2, rd == x0), LR/SC
 * success and failure cases that the spec pins down, an LR/SC counter loop,
 * and misaligned AMO/LR/SC, which must trap (Linux: SIGBUS BUS_ADRALN).
 */
#include "diff.h"

#define NORVC ".option push\n.option norvc\n"
#define POP "\n.option pop\n"

static const u64 avals[] = {
	0, 1, 0xffffffffffffffffUL, 0x7fffffffffffffffUL, 0x8000000000000000UL, 0x000000007fffffffUL,
	0x0000000080000000UL, 0xffffffff80000000UL, 0x00000000ffffffffUL, 0x0123456789abcdefUL,
	0xfedcba9876543210UL,
};
#define NA (sizeof(avals) / sizeof(avals[0]))

static u64 mem[4] __attribute__((aligned(16)));

#define AMO_D_LIST(X) \
	X(amoswap.d) X(amoadd.d) X(amoxor.d) X(amoand.d) X(amoor.d) \
	X(amomin.d) X(amomax.d) X(amominu.d) X(amomaxu.d)
#define AMO_W_LIST(X) \
	X(amoswap.w) X(amoadd.w) X(amoxor.w) X(amoand.w) X(amoor.w) \
	X(amomin.w) X(amomax.w) X(amominu.w) X(amomaxu.w)

#define AMO_NAME(op) #op,
static const char *const amo_names[] = { AMO_D_LIST(AMO_NAME) AMO_W_LIST(AMO_NAME) };
#define N_AMO (sizeof(amo_names) / sizeof(amo_names[0]))

#define AMO_CASE(op)                                                                           \
	if (k++ == idx) {                                                                      \
		__asm__ volatile(NORVC #op " %0, %2, (%1)" POP : "=&r"(r) : "r"(p), "r"(v)       \
				 : "memory");                                                  \
		return r;                                                                      \
	}

static u64 amo_exec(unsigned idx, void *p, u64 v)
{
	unsigned k = 0;
	u64 r;

	AMO_D_LIST(AMO_CASE)
	AMO_W_LIST(AMO_CASE)
	return 0xbad;
}

static void line(const char *name, u64 rd, u64 m)
{
	d_puts(name);
	d_puts(" rd ");
	d_hex(rd);
	d_puts(" mem ");
	d_hex(m);
	d_putc('\n');
	d_checks++;
}

static void test_amo_table(void)
{
	for (unsigned o = 0; o < N_AMO; o++) {
		int word = o >= N_AMO / 2;

		for (unsigned i = 0; i < NA; i++) {
			for (unsigned j = 0; j < NA; j++) {
				u64 rd;

				mem[0] = mem[2] = 0x5555555555555555UL;
				mem[1] = word ? 0xa5a5a5a500000000UL | (avals[i] & 0xffffffffUL) : avals[i];
				/* .W: the upper word of mem[1] must be untouched; also run one at
				 * the upper word (offset 4) for odd j. */
				if (word && (j & 1)) {
					mem[1] = (avals[i] << 32) | 0xa5a5a5a5UL;
					rd = amo_exec(o, (char *)&mem[1] + 4, avals[j]);
				} else {
					rd = amo_exec(o, &mem[1], avals[j]);
				}
				d_puts(amo_names[o]);
				d_putc(' ');
				d_hexn(i, 2);
				d_putc(' ');
				d_hexn(j, 2);
				line("", rd, mem[1]);
				if (mem[0] != 0x5555555555555555UL || mem[2] != 0x5555555555555555UL)
					d_expect("amo-neighbours", 0);
			}
		}
	}
}

static void test_ordering_and_aliasing(void)
{
	u64 r, v;

	mem[1] = 10;
#define ORD(op)                                                                                \
	__asm__ volatile(NORVC #op " %0, %2, (%1)" POP : "=&r"(r) : "r"(&mem[1]), "r"(3UL)     \
			 : "memory");                                                          \
	line(#op, r, mem[1]);
	ORD(amoadd.d.aq) ORD(amoadd.d.rl) ORD(amoadd.d.aqrl) ORD(amoadd.w.aq) ORD(amoadd.w.rl)
	ORD(amoadd.w.aqrl) ORD(amoswap.d.aqrl) ORD(amomax.w.aq) ORD(amominu.d.rl) ORD(amoor.w.aqrl)

	/* rd == rs2: memory gets the old rs2, rd the old memory. */
	mem[1] = 0x1111111111111111UL;
	v = 0x2222222222222222UL;
	__asm__ volatile(NORVC "amoswap.d %0, %0, (%1)" POP : "+r"(v) : "r"(&mem[1]) : "memory");
	line("amoswap.d rd=rs2", v, mem[1]);
	mem[1] = 0x00000000fffffff0UL;
	v = 0x20;
	__asm__ volatile(NORVC "amoadd.w %0, %0, (%1)" POP : "+r"(v) : "r"(&mem[1]) : "memory");
	line("amoadd.w rd=rs2", v, mem[1]);
	/* rd == rs1: the address register is overwritten with the old value. */
	mem[1] = 0x77;
	{
		u64 p = (u64)&mem[1];

		__asm__ volatile(NORVC "amoadd.d %0, %1, (%0)" POP : "+r"(p) : "r"(1UL) : "memory");
		line("amoadd.d rd=rs1", p, mem[1]);
	}
	/* rd == x0: the memory update still happens. */
	mem[1] = 5;
	__asm__ volatile(NORVC "amoadd.d zero, %1, (%0)\namoswap.w zero, %1, (%0)" POP
			 : : "r"(&mem[1]), "r"(0xffffffff00000007UL) : "memory");
	line("amo rd=x0", 0, mem[1]);
}

static u64 page[1024] __attribute__((aligned(4096)));

/* An SC can fail for reasons outside the program: Linux clears the reservation on
 * every return from a trap, so a timer interrupt between LR and SC makes the SC
 * fail in the guest (never under qemu-user). Sequences that expect success are
 * therefore retried (the memory is restored first), up to 1000 times. */
#define RETRY(body, ok)                                                                        \
	for (int try_ = 0; try_ < 1000; try_++) {                                              \
		body;                                                                          \
		if (ok)                                                                        \
			break;                                                                 \
	}

static void test_lrsc(void)
{
	u64 r, s;

	/* lr.w sign-extends; sc.w succeeds (rd 0) and writes only the word. */
	RETRY(mem[1] = 0x12345678fedcba98UL;
	      __asm__ volatile(NORVC "lr.w %0, (%2)\nsc.w %1, %3, (%2)" POP
			       : "=&r"(r), "=&r"(s) : "r"(&mem[1]), "r"(0x1111111122222222UL) : "memory"),
	      s == 0)
	line("lr.w", r, mem[1]);
	d_kv("sc.w success rd", s);
	RETRY(mem[1] = 0x8000000000000000UL;
	      __asm__ volatile(NORVC "lr.d %0, (%2)\nsc.d %1, %3, (%2)" POP
			       : "=&r"(r), "=&r"(s) : "r"(&mem[1]), "r"(0x0102030405060708UL) : "memory"),
	      s == 0)
	line("lr.d", r, mem[1]);
	d_kv("sc.d success rd", s);
	/* aq/rl forms */
	RETRY(mem[1] = 0x0102030405060708UL;
	      __asm__ volatile(NORVC "lr.d.aq %0, (%2)\nsc.d.rl %1, %3, (%2)" POP
			       : "=&r"(r), "=&r"(s) : "r"(&mem[1]), "r"(0x1UL) : "memory"),
	      s == 0)
	line("lr.d.aq", r, mem[1]);
	d_kv("sc.d.rl success rd", s);
	RETRY(mem[1] = 1;
	      __asm__ volatile(NORVC "lr.w.aqrl %0, (%2)\nsc.w.aqrl %1, %3, (%2)" POP
			       : "=&r"(r), "=&r"(s) : "r"(&mem[1]), "r"(0x80000000UL) : "memory"),
	      s == 0)
	line("lr.w.aqrl", r, mem[1]);
	d_kv("sc.w.aqrl success rd", s);

	/* A second SC after a successful one must fail: any SC invalidates the reservation. */
	RETRY(mem[1] = 1;
	      __asm__ volatile(NORVC "lr.d %0, (%2)\nsc.d %0, %3, (%2)\nsc.d %1, %4, (%2)" POP
			       : "=&r"(r), "=&r"(s) : "r"(&mem[1]), "r"(2UL), "r"(3UL) : "memory"),
	      r == 0)
	d_kv("sc after sc: first rd", r);
	d_kv("sc after sc: second failed", s != 0);
	d_kv("sc after sc: mem", mem[1]);
	/* SC to an address outside the reservation set (another page) must fail and not write. */
	page[0] = 0x55;
	mem[1] = 0x66;
	__asm__ volatile(NORVC "lr.d %0, (%2)\nsc.d %1, %4, (%3)" POP
			 : "=&r"(r), "=&r"(s) : "r"(&mem[1]), "r"(&page[512]), "r"(9UL) : "memory");
	d_kv("sc other page failed", s != 0);
	d_kv("sc other page mem", page[512]);
	d_kv("sc other page lr mem", mem[1]);
	/* sc with rd = x0 still stores on success */
	RETRY(mem[1] = 0;
	      __asm__ volatile(NORVC "lr.d %0, (%1)\nsc.d zero, %2, (%1)" POP
			       : "=&r"(r) : "r"(&mem[1]), "r"(0xabcUL) : "memory"),
	      mem[1] != 0)
	d_kv("sc rd=x0 mem", mem[1]);

	/* An LR/SC loop: atomic add, 1000 times, on a word and a doubleword. */
	u32 *w = (u32 *)&mem[2];
	mem[2] = 0xfffffff0fffffe00UL;
	mem[3] = 0;
	for (int i = 0; i < 1000; i++) {
		__asm__ volatile(NORVC "1: lr.w %0, (%2)\naddw %0, %0, %3\nsc.w %1, %0, (%2)\nbnez %1, 1b" POP
				 : "=&r"(r), "=&r"(s) : "r"(w), "r"((u64)i) : "memory");
		__asm__ volatile(NORVC "1: lr.d %0, (%2)\nadd %0, %0, %3\nsc.d %1, %0, (%2)\nbnez %1, 1b" POP
				 : "=&r"(r), "=&r"(s) : "r"(&mem[3]), "r"((u64)i << 40) : "memory");
	}
	d_kv("lr/sc loop w", mem[2]);
	d_kv("lr/sc loop d", mem[3]);
}

/* Misaligned AMO/LR/SC: an address-misaligned (or access-fault) exception, never
 * performed (A spec: "If the address is not naturally aligned, an address-misaligned
 * exception or an access-fault exception will be generated"). Linux 6.1 turns the
 * misaligned exception into SIGBUS/BUS_ADRALN with si_addr = the pc (DO_ERROR_INFO
 * passes regs->epc); qemu-user gives the data address: both are accepted.
 * A misaligned SC after an LR elsewhere: qemu-user fails it without a trap (it
 * checks the reservation first), which the spec does not allow, while a trap is
 * right; accepted: a trap, or a failure code, as long as nothing is stored. */
static void test_misaligned(void)
{
	static const unsigned offs[] = { 1, 2, 4, 7 };
	static const char *const nm[] = { "amoadd.d", "amoswap.w", "lr.d", "amomaxu.d", "sc.w" };
	unsigned char *b = (unsigned char *)page + 64;

	for (unsigned k = 0; k < sizeof(offs) / sizeof(offs[0]); k++) {
		for (int which = 0; which < 5; which++) {
			unsigned off = offs[k];
			u64 r = 0x1234, pc = 0, *p = (u64 *)(b + off);
			int ok;

			if ((which == 1 || which == 4) && off == 4)
				continue; /* aligned for .w */
			for (int i = 0; i < 32; i++)
				b[i] = (unsigned char)(0x10 + i);
			d_trap_arm(0);
			if (which == 0)
				__asm__ volatile(NORVC "1: amoadd.d %0, %2, (%3)\nlla %1, 1b" POP
						 : "=&r"(r), "=&r"(pc) : "r"(1UL), "r"(p) : "memory");
			else if (which == 1)
				__asm__ volatile(NORVC "1: amoswap.w %0, %2, (%3)\nlla %1, 1b" POP
						 : "=&r"(r), "=&r"(pc) : "r"(0UL), "r"(p) : "memory");
			else if (which == 2)
				__asm__ volatile(NORVC "1: lr.d %0, (%2)\nlla %1, 1b" POP
						 : "=&r"(r), "=&r"(pc) : "r"(p) : "memory");
			else if (which == 3)
				__asm__ volatile(NORVC "1: amomaxu.d %0, %2, (%3)\nlla %1, 1b" POP
						 : "=&r"(r), "=&r"(pc) : "r"(~0UL), "r"(p) : "memory");
			else
				__asm__ volatile(NORVC "lr.w %0, (%2)\n1: sc.w %0, %4, (%3)\nlla %1, 1b" POP
						 : "=&r"(r), "=&r"(pc) : "r"(b), "r"(p), "r"(0UL) : "memory");
			d_trap_armed = 0;
			d_puts("misaligned ");
			d_puts(nm[which]);
			d_puts(" +");
			d_dec(off);
			if (which == 4 && d_trap_sig == 0) {
				ok = r != 0; /* failed without a trap (qemu-user) */
			} else {
				ok = d_trap_sig == 7 && d_trap_code == 1 && d_trap_pc == pc &&
				     (d_trap_addr == (u64)p || d_trap_addr == pc);
			}
			int unchanged = 1;
			for (int i = 0; i < 32; i++)
				if (b[i] != (unsigned char)(0x10 + i))
					unchanged = 0;
			d_expect(which == 4 ? ": SIGBUS/BUS_ADRALN at the pc, or failed" : ": SIGBUS/BUS_ADRALN at the pc",
				 ok);
			d_puts("misaligned ");
			d_puts(nm[which]);
			d_puts(" +");
			d_dec(off);
			d_expect(": memory unchanged", unchanged);
		}
	}
}

/* AMOs and SC are stores: on a page Linux has not populated, or has mapped to the
 * shared zero page (read-only), or copy-on-write after fork, they must raise the
 * store/AMO page fault (a load page fault would make Linux return without a fix
 * and the instruction would fault forever); on a PROT_READ page, SIGSEGV. */
static u64 *map1(int prot)
{
	u64 *p = mmap(0, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		d_puts("mmap failed\n");
		d_flush();
		exit(3);
	}
	return p;
}

static u64 amo_on(int which, u64 *p)
{
	u64 r = 0, s = 0;

	switch (which) {
	case 0: __asm__ volatile(NORVC "amoadd.d %0, %1, (%2)" POP : "=&r"(r) : "r"(5UL), "r"(p) : "memory"); break;
	case 1: __asm__ volatile(NORVC "amoswap.w %0, %1, (%2)" POP : "=&r"(r) : "r"(7UL), "r"(p) : "memory"); break;
	case 2: __asm__ volatile(NORVC "amoor.d.aqrl %0, %1, (%2)" POP : "=&r"(r) : "r"(9UL), "r"(p) : "memory"); break;
	case 3: __asm__ volatile(NORVC "amomaxu.w %0, %1, (%2)" POP : "=&r"(r) : "r"(11UL), "r"(p) : "memory"); break;
	default:
		__asm__ volatile(NORVC "1: lr.d %0, (%2)\naddi %0, %0, 13\nsc.d %1, %0, (%2)\nbnez %1, 1b" POP
				 : "=&r"(r), "=&r"(s) : "r"(p) : "memory");
		break;
	}
	return r;
}

static void test_amo_pages(void)
{
	static const char *const nm[] = { "amoadd.d", "amoswap.w", "amoor.d.aqrl", "amomaxu.w", "lr/sc.d" };

	for (int w = 0; w < 5; w++) {
		u64 *p, r;

		p = map1(PROT_READ | PROT_WRITE);
		r = amo_on(w, p + 3);
		d_puts(nm[w]);
		d_puts(" on a fresh page: rd ");
		d_hex(r);
		d_kv(" mem", p[3]);
		munmap(p, 4096);

		p = map1(PROT_READ | PROT_WRITE);
		r = *(volatile u64 *)(p + 100); /* maps the zero page */
		r += amo_on(w, p + 3);
		d_puts(nm[w]);
		d_puts(" on the zero page: rd ");
		d_hex(r);
		d_kv(" mem", p[3]);
		munmap(p, 4096);

		p = map1(PROT_READ | PROT_WRITE);
		p[3] = 0x100;
		d_flush();
		pid_t pid = fork();
		if (pid == 0) {
			r = amo_on(w, p + 3);
			exit((int)((r & 0xff) + (p[3] & 0xff)) & 0xff);
		}
		int st = 0;
		waitpid(pid, &st, 0);
		r = amo_on(w, p + 3);
		d_puts(nm[w]);
		d_puts(" copy-on-write: child status ");
		d_hexn((u64)st, 4);
		d_puts(" parent rd ");
		d_hex(r);
		d_kv(" mem", p[3]);
		munmap(p, 4096);

		p = map1(PROT_READ);
		d_trap_arm(0);
		if (w == 4) {
			/* lr succeeds on a readable page; the sc must fault (or fail) */
			u64 t = 0, s = 0;

			__asm__ volatile(NORVC "lr.d %0, (%2)\nsc.d %1, %0, (%2)" POP : "=&r"(t), "=&r"(s) : "r"(p + 3) : "memory");
			if (!d_trap_sig && s != 0) {
				d_trap_sig = 11; /* a failed sc is as good as the fault */
				d_trap_code = 2;
			}
		} else {
			amo_on(w, p + 3);
		}
		d_trap_armed = 0;
		d_puts(nm[w]);
		d_puts(" on PROT_READ: signal ");
		d_dec((u64)d_trap_sig);
		d_puts(" code ");
		d_dec((u64)d_trap_code);
		d_putc('\n');
		d_checks++;
		munmap(p, 4096);

		p = map1(PROT_NONE);
		d_trap_arm(0);
		if (w == 4) {
			u64 t = 0;

			__asm__ volatile(NORVC "lr.d %0, (%1)" POP : "=&r"(t) : "r"(p + 3) : "memory");
		} else {
			amo_on(w, p + 3);
		}
		d_trap_armed = 0;
		d_puts(nm[w]);
		d_puts(" on PROT_NONE: signal ");
		d_dec((u64)d_trap_sig);
		d_puts(" code ");
		d_dec((u64)d_trap_code);
		d_puts(" addr ok ");
		d_dec(d_trap_addr == (u64)(p + 3));
		d_putc('\n');
		d_checks++;
		munmap(p, 4096);
	}
}

int main(void)
{
	d_init();
	test_amo_table();
	test_ordering_and_aliasing();
	test_lrsc();
	test_misaligned();
	test_amo_pages();
	return d_done();
}
