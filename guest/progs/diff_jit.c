/* diff_jit.c - random instruction blocks, generated at run time and executed.
 *
 * With a fixed seed, each block is a few hundred random instructions encoded
 * here (any registers except sp and x31, whose values are addresses; random
 * immediates and shift amounts):
 * RV64I/M register and immediate ALU ops, LUI, loads and stores of every width
 * at random (often misaligned) offsets around a page boundary, every AMO,
 * LR/SC retry loops, forward branches that skip the next instruction, and the
 * compressed ALU forms. A prologue loads all 31 registers from a state array
 * (x31 = base of a scratch area), an epilogue stores them back; the block is
 * written into an RWX mapping (across a page boundary), made visible to fetch
 * with riscv_flush_icache + fence.i, and called. The hash of the registers and
 * the scratch memory is printed for the first blocks and cumulatively.
 */
#include "diff.h"

#define PAGE 4096UL
#define BLOCKS 3000
#define BODY 300

static u32 *code_start;
static unsigned char *cp; /* emit cursor */
static u64 seed = 0x2545f4914f6cdd1dUL;

static u64 rnd(void)
{
	return d_xorshift(&seed);
}

static void emit32(u32 w)
{
	cp[0] = (unsigned char)w;
	cp[1] = (unsigned char)(w >> 8);
	cp[2] = (unsigned char)(w >> 16);
	cp[3] = (unsigned char)(w >> 24);
	cp += 4;
}

static void emit16(u32 h)
{
	cp[0] = (unsigned char)h;
	cp[1] = (unsigned char)(h >> 8);
	cp += 2;
}

static u32 r_type(u32 f7, u32 rs2, u32 rs1, u32 f3, u32 rd, u32 opc)
{
	return f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | opc;
}

static u32 i_type(u32 imm, u32 rs1, u32 f3, u32 rd, u32 opc)
{
	return (imm & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | opc;
}

static u32 s_type(u32 imm, u32 rs2, u32 rs1, u32 f3)
{
	return ((imm >> 5) & 0x7f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | (imm & 0x1f) << 7 | 0x23;
}

static u32 b_type(u32 imm, u32 rs2, u32 rs1, u32 f3)
{
	return ((imm >> 12) & 1) << 31 | ((imm >> 5) & 0x3f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 |
	       ((imm >> 1) & 0xf) << 8 | ((imm >> 11) & 1) << 7 | 0x63;
}

#define LD(rd, off, base) i_type((u32)(off), base, 3, rd, 0x03)
#define SD(rs, off, base) s_type((u32)(off), rs, base, 3)
#define ADDI(rd, rs, imm) i_type((u32)(imm), rs, 0, rd, 0x13)

/* A destination register: not sp (x2), not the scratch base (x31). */
static u32 rand_rd(void)
{
	u32 r;

	do
		r = (u32)(rnd() % 31);
	while (r == 2);
	return r;
}

/* A source register: not sp and not x31, whose values are addresses that differ
 * between qemu-user and the guest. */
static u32 rand_rs(void)
{
	return rand_rd();
}

static const u32 rr_ops[][3] = { /* funct7, funct3, opcode */
	{ 0, 0, 0x33 }, { 0x20, 0, 0x33 }, { 0, 1, 0x33 }, { 0, 2, 0x33 }, { 0, 3, 0x33 },
	{ 0, 4, 0x33 }, { 0, 5, 0x33 }, { 0x20, 5, 0x33 }, { 0, 6, 0x33 }, { 0, 7, 0x33 },
	{ 1, 0, 0x33 }, { 1, 1, 0x33 }, { 1, 2, 0x33 }, { 1, 3, 0x33 }, { 1, 4, 0x33 },
	{ 1, 5, 0x33 }, { 1, 6, 0x33 }, { 1, 7, 0x33 },
	{ 0, 0, 0x3b }, { 0x20, 0, 0x3b }, { 0, 1, 0x3b }, { 0, 5, 0x3b }, { 0x20, 5, 0x3b },
	{ 1, 0, 0x3b }, { 1, 4, 0x3b }, { 1, 5, 0x3b }, { 1, 6, 0x3b }, { 1, 7, 0x3b },
};

static const u32 amo_f5[] = { 0x00, 0x01, 0x04, 0x08, 0x0c, 0x10, 0x14, 0x18, 0x1c };

/* One instruction that does not change control flow; returns its length. */
static void gen_simple(void)
{
	u64 x = rnd();
	unsigned kind = (unsigned)(x % 100);
	u32 rd = rand_rd(), rs1 = rand_rs(), rs2 = rand_rs();
	u32 imm = (u32)(x >> 20) & 0xfff;

	if (kind < 32) {
		const u32 *o = rr_ops[(x >> 8) % (sizeof(rr_ops) / sizeof(rr_ops[0]))];

		emit32(r_type(o[0], rs2, rs1, o[1], rd, o[2]));
	} else if (kind < 52) {
		switch ((x >> 8) % 13) {
		case 0: emit32(i_type(imm, rs1, 0, rd, 0x13)); break;            /* addi */
		case 1: emit32(i_type(imm, rs1, 2, rd, 0x13)); break;            /* slti */
		case 2: emit32(i_type(imm, rs1, 3, rd, 0x13)); break;            /* sltiu */
		case 3: emit32(i_type(imm, rs1, 4, rd, 0x13)); break;            /* xori */
		case 4: emit32(i_type(imm, rs1, 6, rd, 0x13)); break;            /* ori */
		case 5: emit32(i_type(imm, rs1, 7, rd, 0x13)); break;            /* andi */
		case 6: emit32(i_type(imm & 63, rs1, 1, rd, 0x13)); break;       /* slli */
		case 7: emit32(i_type(imm & 63, rs1, 5, rd, 0x13)); break;       /* srli */
		case 8: emit32(i_type(0x400 | (imm & 63), rs1, 5, rd, 0x13)); break; /* srai */
		case 9: emit32(i_type(imm, rs1, 0, rd, 0x1b)); break;            /* addiw */
		case 10: emit32(i_type(imm & 31, rs1, 1, rd, 0x1b)); break;      /* slliw */
		case 11: emit32(i_type(imm & 31, rs1, 5, rd, 0x1b)); break;      /* srliw */
		default: emit32(i_type(0x400 | (imm & 31), rs1, 5, rd, 0x1b)); break; /* sraiw */
		}
	} else if (kind < 55) {
		emit32(((u32)(x >> 24) & 0xfffff) << 12 | rd << 7 | 0x37); /* lui */
	} else if (kind < 65) {
		static const u32 f3[] = { 0, 1, 2, 3, 4, 5, 6 };
		u32 off = (u32)((x >> 32) % 4096); /* -2048..2047 around x31 */

		emit32(i_type(off, 31, f3[(x >> 8) % 7], rd, 0x03));
	} else if (kind < 73) {
		u32 off = (u32)((x >> 32) % 4096);

		emit32(s_type(off, rs2, 31, (u32)((x >> 8) & 3)));
	} else if (kind < 79) {
		u32 f5 = amo_f5[(x >> 8) % 9];
		u32 d = (u32)(x >> 12) & 1; /* .w or .d */
		u32 aqrl = (u32)(x >> 13) & 3;

		emit32(f5 << 27 | aqrl << 25 | rs2 << 20 | 31 << 15 | (2 + d) << 12 | rd << 7 | 0x2f);
	} else {
		/* compressed ALU forms (rd' = x8..x15 for the CA/CB formats) */
		u32 rdp = (u32)(x >> 8) & 7, rs2p = (u32)(x >> 11) & 7;
		u32 i6 = (u32)(x >> 14) & 63;
		u32 full = (u32)(x >> 20) % 32;

		if (full == 2 || full == 31)
			full = 1;
		switch ((x >> 26) % 16) {
		case 0: emit16(0x0001 | (i6 >> 5) << 12 | full << 7 | (i6 & 31) << 2); break;     /* c.addi */
		case 1: emit16(0x2001 | (i6 >> 5) << 12 | (full ? full : 1) << 7 | (i6 & 31) << 2); break; /* c.addiw */
		case 2: emit16(0x4001 | (i6 >> 5) << 12 | full << 7 | (i6 & 31) << 2); break;     /* c.li */
		case 3: /* c.lui: rd not 0/2, nzimm != 0 */
			emit16(0x6001 | (i6 >> 5) << 12 | (full ? full : 1) << 7 | ((i6 ? i6 : 1) & 31) << 2 |
			       (i6 ? 0 : 0));
			break;
		case 4: emit16(0x8001 | (i6 >> 5) << 12 | 0 << 10 | rdp << 7 | (i6 & 31) << 2); break; /* c.srli */
		case 5: emit16(0x8001 | (i6 >> 5) << 12 | 1 << 10 | rdp << 7 | (i6 & 31) << 2); break; /* c.srai */
		case 6: emit16(0x8001 | (i6 >> 5) << 12 | 2 << 10 | rdp << 7 | (i6 & 31) << 2); break; /* c.andi */
		case 7: emit16(0x8c01 | rdp << 7 | 0 << 5 | rs2p << 2); break;                       /* c.sub */
		case 8: emit16(0x8c01 | rdp << 7 | 1 << 5 | rs2p << 2); break;                       /* c.xor */
		case 9: emit16(0x8c01 | rdp << 7 | 2 << 5 | rs2p << 2); break;                       /* c.or */
		case 10: emit16(0x8c01 | rdp << 7 | 3 << 5 | rs2p << 2); break;                      /* c.and */
		case 11: emit16(0x9c01 | rdp << 7 | 0 << 5 | rs2p << 2); break;                      /* c.subw */
		case 12: emit16(0x9c01 | rdp << 7 | 1 << 5 | rs2p << 2); break;                      /* c.addw */
		case 13: emit16(0x0002 | (i6 >> 5) << 12 | full << 7 | (i6 & 31) << 2); break;     /* c.slli */
		case 14: emit16(0x8002 | full << 7 | (rs2p + 8) << 2); break;                        /* c.mv */
		default: emit16(0x9002 | full << 7 | (rs2p + 8) << 2); break;                        /* c.add */
		}
	}
}

static void gen_body(void)
{
	for (int i = 0; i < BODY; i++) {
		u64 x = rnd();
		unsigned kind = (unsigned)(x % 100);

		if (kind < 6) {
			/* bXX rs1, rs2, over the next instruction */
			static const u32 f3[] = { 0, 1, 4, 5, 6, 7 };
			unsigned char *br = cp;
			u32 rs1 = rand_rs(), rs2 = rand_rs(), len;

			cp += 4;
			gen_simple();
			len = (u32)(cp - br - 4);
			unsigned char *save = cp;
			cp = br;
			emit32(b_type(4 + len, rs2, rs1, f3[(x >> 8) % 6]));
			cp = save;
		} else if (kind < 8) {
			/* lr/sc on x31 (aligned), retried until the sc succeeds: Linux clears
			 * the reservation on every trap return, so a timer interrupt between
			 * the two makes the sc fail (in the guest, not under qemu-user). The
			 * sc's rd must be neither x0 nor its rs2 for the retry to be exact. */
			u32 d = (u32)(x >> 8) & 1, rd1 = rand_rd(), rd2, rs2 = rand_rs();

			do
				rd2 = rand_rd();
			while (rd2 == 0 || rd2 == rs2);
			emit32(0x02u << 27 | 31 << 15 | (2 + d) << 12 | rd1 << 7 | 0x2f);
			emit32(0x03u << 27 | rs2 << 20 | 31 << 15 | (2 + d) << 12 | rd2 << 7 | 0x2f);
			emit32(b_type((u32)-8, 0, rd2, 1)); /* bnez rd2, lr */
		} else {
			gen_simple();
		}
	}
}

static const u32 saved[] = { 1, 3, 4, 8, 9, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27 };

static void gen_block(void)
{
	emit32(ADDI(2, 2, -144));
	for (unsigned i = 0; i < 15; i++)
		emit32(SD(saved[i], 8 * i, 2));
	emit32(SD(10, 120, 2));
	for (u32 r = 1; r < 32; r++)
		if (r != 2 && r != 10)
			emit32(LD(r, 8 * r, 10));
	emit32(LD(10, 80, 10));
	gen_body();
	emit32(SD(5, 128, 2));
	emit32(LD(5, 120, 2));
	for (u32 r = 1; r < 32; r++)
		if (r != 2 && r != 5)
			emit32(SD(r, 8 * r, 5));
	emit32(LD(6, 128, 2));
	emit32(SD(6, 40, 5));
	for (unsigned i = 0; i < 15; i++)
		emit32(LD(saved[i], 8 * i, 2));
	emit32(ADDI(2, 2, 144));
	emit32(0x00008067); /* ret */
}

static u64 state[32];

int main(void)
{
	unsigned char *code = mmap(0, 4 * PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *scratch = mmap(0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				      -1, 0);
	u64 total = D_FNV_INIT;

	d_init();
	if (code == MAP_FAILED || scratch == MAP_FAILED) {
		d_puts("mmap failed\n");
		return d_done() + 3;
	}
	for (int b = 0; b < BLOCKS; b++) {
		/* a different start each time, so blocks straddle the page boundary */
		code_start = (u32 *)(code + PAGE - 512 + (unsigned)(b % 64) * 2 * 2);
		cp = (unsigned char *)code_start;
		gen_block();
		d_flush_icache(code, code + 4 * PAGE);

		for (int i = 0; i < 32; i++) {
			u64 x = rnd();

			state[i] = (x & 7) == 0 ? d_vals[(x >> 3) % D_NVALS] : x;
		}
		state[31] = (u64)(scratch + PAGE);
		for (unsigned long i = 0; i < 2 * PAGE / 8; i++)
			((u64 *)scratch)[i] = rnd();

		((void (*)(u64 *))(void *)code_start)(state);

		u64 h = D_FNV_INIT;
		for (int i = 1; i < 31; i++)
			if (i != 2)
				h = d_fnv(h, state[i]);
		h = d_fnv(h, state[31] - (u64)scratch);
		for (unsigned long i = 0; i < 2 * PAGE / 8; i++)
			h = d_fnv(h, ((u64 *)scratch)[i]);
		total = d_fnv(total, h);
		if (b < 16 || (b + 1) % 250 == 0) {
			d_puts("block ");
			d_dec((u64)b);
			d_puts(" hash ");
			d_hex(h);
			d_puts(" total ");
			d_hex(total);
			d_putc('\n');
			d_checks++;
		}
	}
	d_kv("instructions per block", BODY);
	return d_done();
}
