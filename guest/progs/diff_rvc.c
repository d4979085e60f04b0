/* diff_rvc.c - the C extension, instruction by instruction.
 *
 * Every RV64C instruction with boundary immediates, written as explicit c.*
 * mnemonics, and a few also as hand-assembled `.2byte` encodings (so neither
 * the compiler nor the assembler chooses the form). The whole program is also
 * compiled with -march=rv64imac, so its ordinary code is full of compressed
 * instructions already. Checked: sign extension of c.li/c.lui/c.addiw/c.lw,
 * 6-bit shift amounts, c.bnez/c.beqz on values with only high bits set,
 * c.jalr's link (pc + 2), c.addi16sp/c.addi4spn scaling, sp-relative loads and
 * stores with their largest offsets, c.ebreak.
 */
#include "diff.h"

#define RVC ".option push\n.option rvc\n"
#define POP "\n.option pop\n"

#define UN_LIST(X) \
	X("c.addi a0, -1") X("c.addi a0, -32") X("c.addi a0, 31") X("c.addi a0, 1") \
	X("c.addiw a0, -32") X("c.addiw a0, 0") X("c.addiw a0, 31") X("c.addiw a0, 1") \
	X("c.li a0, -32") X("c.li a0, 31") X("c.li a0, 0") \
	X("c.lui a0, 1") X("c.lui a0, 0x1f") X("c.lui a0, 0xfffe0") X("c.lui a0, 0xfffff") \
	X("c.srli a0, 1") X("c.srli a0, 31") X("c.srli a0, 32") X("c.srli a0, 63") \
	X("c.srai a0, 1") X("c.srai a0, 31") X("c.srai a0, 32") X("c.srai a0, 63") \
	X("c.slli a0, 1") X("c.slli a0, 31") X("c.slli a0, 32") X("c.slli a0, 63") \
	X("c.andi a0, -32") X("c.andi a0, -1") X("c.andi a0, 0") X("c.andi a0, 31") \
	X("c.slli s1, 17\nc.mv a0, s1") X("c.addi s1, -7\nc.mv a0, s1") \
	X(".2byte 0x157d # c.addi a0,-1") X(".2byte 0x7501 # c.lui a0,0xfffe0") \
	X(".2byte 0x957d # c.srai a0,63") X(".2byte 0x9101 # c.srli a0,32") \
	X(".2byte 0x157e # c.slli a0,63") X(".2byte 0x9901 # c.andi a0,-32") \
	X(".2byte 0x357d # c.addiw a0,-1") X(".2byte 0x5501 # c.li a0,-32") \
	X(".2byte 0x0001 # c.nop") X(".2byte 0x0505 # c.addi a0,1")

#define BIN_LIST(X) \
	X("c.sub a0, a1") X("c.xor a0, a1") X("c.or a0, a1") X("c.and a0, a1") \
	X("c.subw a0, a1") X("c.addw a0, a1") X("c.mv a0, a1") X("c.add a0, a1") \
	X(".2byte 0x9d0d # c.subw a0,a1") X(".2byte 0x9d2d # c.addw a0,a1") \
	X(".2byte 0x952e # c.add a0,a1") X(".2byte 0x852e # c.mv a0,a1") \
	X(".2byte 0x8d0d # c.sub a0,a1") X(".2byte 0x8d2d # c.xor a0,a1")

#define UN_CASE(ins)                                                                           \
	if (k++ == idx) {                                                                      \
		__asm__ volatile(RVC "mv s1, a0\n" ins POP : "+r"(a0) : : "s1");                \
		return a0;                                                                     \
	}
#define BIN_CASE(ins)                                                                          \
	if (k++ == idx) {                                                                      \
		__asm__ volatile(RVC ins POP : "+r"(a0) : "r"(a1));                             \
		return a0;                                                                     \
	}
#define NAME(ins) ins,

static const char *const un_names[] = { UN_LIST(NAME) };
static const char *const bin_names[] = { BIN_LIST(NAME) };

static u64 un_exec(unsigned idx, u64 x)
{
	register u64 a0 __asm__("a0") = x;
	unsigned k = 0;

	UN_LIST(UN_CASE)
	return 0xbad;
}

static u64 bin_exec(unsigned idx, u64 x, u64 y)
{
	register u64 a0 __asm__("a0") = x;
	register u64 a1 __asm__("a1") = y;
	unsigned k = 0;

	BIN_LIST(BIN_CASE)
	return 0xbad;
}

static void print_name(const char *s)
{
	/* first line of the asm text, with newlines shown as ';' */
	for (; *s; s++)
		d_putc(*s == '\n' ? ';' : *s);
}

static void test_alu(void)
{
	for (unsigned o = 0; o < sizeof(un_names) / sizeof(un_names[0]); o++) {
		print_name(un_names[o]);
		d_putc(':');
		for (unsigned i = 0; i < D_NVALS; i++) {
			d_putc(i % 4 ? ' ' : '\n');
			d_hex(un_exec(o, d_vals[i]));
			d_checks++;
		}
		d_putc('\n');
	}
	for (unsigned o = 0; o < sizeof(bin_names) / sizeof(bin_names[0]); o++) {
		print_name(bin_names[o]);
		d_putc(':');
		for (unsigned i = 0; i < D_NVALS; i += 2) {
			for (unsigned j = 0; j < D_NVALS; j += 3) {
				d_putc(j ? ' ' : '\n');
				d_hex(bin_exec(o, d_vals[i], d_vals[j]));
				d_checks++;
			}
		}
		d_putc('\n');
	}
}

static void test_control(void)
{
	d_puts("c.beqz/c.bnez/.2byte:");
	for (unsigned i = 0; i < D_NVALS; i++) {
		register u64 a0 __asm__("a0") = d_vals[i];
		register u64 a1 __asm__("a1");
		u64 z, nz, rz;

		__asm__ volatile(RVC "li a1, 1\nc.beqz a0, 1f\nli a1, 0\n1:" POP : "=&r"(a1) : "r"(a0));
		z = a1;
		__asm__ volatile(RVC "li a1, 1\nc.bnez a0, 1f\nli a1, 0\n1:" POP : "=&r"(a1) : "r"(a0));
		nz = a1;
		/* c.beqz a0, +6 (0xc119), skipping a 4-byte li */
		__asm__ volatile(RVC "li a1, 1\n.2byte 0xc119\n.option push\n.option norvc\nli a1, 0\n.option pop" POP
				 : "=&r"(a1) : "r"(a0));
		rz = a1;
		d_putc(' ');
		d_putc((char)('0' + z));
		d_putc((char)('0' + nz));
		d_putc((char)('0' + rz));
		d_checks += 3;
	}
	d_putc('\n');

	u64 r, s;
	__asm__ volatile(RVC "li %0, 1\nc.j 1f\nli %0, 2\n1: addi %0, %0, 10\nli %1, 0" POP : "=&r"(r), "=&r"(s));
	d_kv("c.j", r);
	{
		register u64 a1 __asm__("a1");
		register u64 ra __asm__("ra");

		__asm__ volatile(RVC "lla a1, 2f\n1: c.jalr a1\nj 3f\n2: lla %1, 1b\nsub %1, ra, %1\nc.jr ra\n3:" POP
				 : "=&r"(a1), "=&r"(r), "=&r"(ra));
		d_kv("c.jalr link - pc", r);
		__asm__ volatile(RVC "lla a1, 2f\n1: .2byte 0x9582 # c.jalr a1\nj 3f\n2: lla %1, 1b\nsub %1, ra, %1\nc.jr ra\n3:" POP
				 : "=&r"(a1), "=&r"(r), "=&r"(ra));
		d_kv(".2byte c.jalr link - pc", r);
		__asm__ volatile(RVC "li %1, 5\nlla a1, 2f\n.2byte 0x8582 # c.jr a1\nli %1, 6\n2: addi %1, %1, 1" POP
				 : "=&r"(a1), "=&r"(r));
		d_kv(".2byte c.jr", r);
	}
	__asm__ volatile(RVC "c.nop\n.2byte 0x0001\nc.nop 5\nli %0, 3" POP : "=r"(r));
	d_kv("c.nop", r);

	d_trap_arm(0);
	__asm__ volatile(RVC "1: c.ebreak\nlla %0, 1b" POP : "=r"(r));
	d_expect("c.ebreak SIGTRAP/TRAP_BRKPT at pc",
		 d_trap_sig == 5 && d_trap_code == 1 && d_trap_pc == r);
	d_trap_arm(0);
	__asm__ volatile(RVC "1: .2byte 0x9002 # c.ebreak\nlla %0, 1b" POP : "=r"(r));
	d_expect(".2byte c.ebreak SIGTRAP/TRAP_BRKPT at pc",
		 d_trap_sig == 5 && d_trap_code == 1 && d_trap_pc == r);
	(void)s;
}

static u64 mem[80] __attribute__((aligned(16)));
static u64 stk[160] __attribute__((aligned(16)));

/* One compressed load/store through a0 (value) and a1 (base); the register
 * variables are set right before each asm (a call may clobber them). */
#define LDST(ins, val)                                                                         \
	({                                                                                     \
		register u64 a0 __asm__("a0") = (val);                                         \
		register u64 *a1 __asm__("a1") = mem;                                          \
		__asm__ volatile(RVC ins POP : "+r"(a0) : "r"(a1) : "memory");                  \
		a0;                                                                            \
	})

static void test_mem(void)
{
	for (int i = 0; i < 80; i++)
		mem[i] = 0x8000000080000000UL + (u64)i * 0x0101010101010101UL;
	d_kv("c.ld 248", LDST("c.ld a0, 248(a1)", 0));
	d_kv(".2byte c.ld 248", LDST(".2byte 0x7de8 # c.ld a0,248(a1)", 0));
	d_kv("c.lw 124", LDST("c.lw a0, 124(a1)", 0));
	d_kv("c.lw 0 (sign)", LDST("c.lw a0, 0(a1)", 0));
	d_kv("c.lw 4 (sign)", LDST("c.lw a0, 4(a1)", 0));
	d_kv(".2byte c.lw 124", LDST(".2byte 0x5de8 # c.lw a0,124(a1)", 0));
	LDST("c.sd a0, 248(a1)\nc.sw a0, 124(a1)", 0x1122334455667788UL);
	d_kv("c.sd 248", mem[31]);
	d_kv("c.sw 124", mem[15]);
	LDST(".2byte 0xfde8 # c.sd a0,248(a1)\n.2byte 0xdde8 # c.sw a0,124(a1)", 0x99aabbccddeeff00UL);
	d_kv(".2byte c.sd 248", mem[31]);
	d_kv(".2byte c.sw 124", mem[15]);

	/* sp-relative: point sp at stk for the duration. */
	for (int i = 0; i < 160; i++)
		stk[i] = 0xf0f0f0f0f0f0f0f0UL ^ ((u64)i << 56) ^ (u64)i;
	u64 l1, l2, d1, d2, spn;
	__asm__ volatile(RVC "mv t0, sp\nmv sp, %5\n"
			 "c.ldsp %0, 504(sp)\nc.lwsp %1, 252(sp)\n"
			 "li t1, -1\nc.sdsp t1, 8(sp)\nc.swsp t1, 16(sp)\n"
			 ".2byte 0x757e # c.ldsp a0,504(sp)\nmv %2, a0\n"
			 ".2byte 0x557e # c.lwsp a0,252(sp)\nmv %3, a0\n"
			 "c.addi4spn a0, sp, 1020\nsub %4, a0, sp\n"
			 "mv sp, t0"
			 POP
			 : "=&r"(l1), "=&r"(l2), "=&r"(d1), "=&r"(d2), "=&r"(spn)
			 : "r"(stk)
			 : "t0", "t1", "a0", "memory");
	d_kv("c.ldsp 504", l1);
	d_kv("c.lwsp 252", l2);
	d_kv(".2byte c.ldsp 504", d1);
	d_kv(".2byte c.lwsp 252", d2);
	d_kv("c.sdsp", stk[1]);
	d_kv("c.swsp", stk[2]);
	d_kv("c.addi4spn 1020", spn);
	__asm__ volatile(RVC "mv t0, sp\nc.addi16sp sp, -512\nsub %0, sp, t0\nc.addi16sp sp, 496\n"
			 ".2byte 0x617d # c.addi16sp sp,496\nsub %1, sp, t0\nmv sp, t0" POP
			 : "=&r"(l1), "=&r"(l2) : : "t0");
	d_kv("c.addi16sp -512", l1);
	d_kv("c.addi16sp -512+496+496", l2);
}

int main(void)
{
	d_init();
	test_alu();
	test_control();
	test_mem();
	return d_done();
}
