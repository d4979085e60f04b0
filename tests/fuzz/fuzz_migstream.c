/* fuzz_migstream.c - libFuzzer target: hostile sources against the destination of a live
 * migration (migrate_dst.c): HELLOs, framing, records, page batches, device state, control.
 *
 * One machine is built once (16 MiB of RAM, console "null", the entropy device, no disk and so
 * no lease), paused as a destination is. Every input starts a fresh incoming migration (see
 * new_incoming) and talks to it over socketpairs whose one end the destination adopts
 * (mig_dst_adopt) as if accepted: three named connections, 0 opened first, 1 and 2 when first
 * used, and flooding ones. The input is a sequence of operations, each one byte OP then its
 * arguments (integers little endian; missing bytes read as zero). The low nibble of OP is the
 * kind, bits 4-5 the connection k (3 means 0, except for OPEN), bits 6-7 a variant V:
 *   0 RAW      u16 n, n bytes, written as they are (framing, truncated records, bad HELLOs)
 *   1 HELLO    V0 valid (control for k 0, data channel k otherwise); V1 u8 pos, u8 xor: token
 *              damaged (pos 255: one byte short); V2 u8 s: bad magic, token length, a format
 *              1 HELLO, or a format or state version this side does not read; V3 u8 role,
 *              u8 index, as given
 *   2 RECORD   u8 type, u16 n, n bytes: framed with a valid checksum; V&1: u16 pos, u8 xor
 *              flips a byte of the framed record; V&2: u16 cut, only that prefix is sent
 *   3 CONFIG   this machine's own config record; V&1: u16 pos, u8 byte replaces one byte;
 *              V&2: u16 cut truncates (or, past the end, appends a byte)
 *   4 DEVICE   u8 i: this machine's own device section i (mod the count), mutated as CONFIG
 *   5 CLOCK    u64 guest ns, u64 realtime, u8 mode; V0 mode % 2, V1 mode as given, V2 one
 *              byte short, V3 one byte long
 *   6 PAGES    u8 round, u8 n, n x (u16 page, u8 fill: 0 a zero page, else a raw page of it),
 *              built with stream_pages_*; V1 u32 round instead; V2 by hand: u8 round, u16
 *              declared count, u8 n, n x (u16 page, u8 encoding, u8 fill), u8 trailing bytes;
 *              V3 as V0, then u16 pos, u8 xor changes the payload before framing. Page
 *              numbers: below 0x4000 modulo 16, below 0x8000 modulo the RAM's pages, above
 *              near and past its end; 0xffff is 2^64-1
 *   7 DRAIN    u8 round; V1 u32 round; V2 a 3-byte payload; V3 a 5-byte payload
 *   8 CTRL     control JSON: u8 kind then its fields: end (u8 round, u8 live), commit (u8
 *              epoch), hb, dead (u8 channel), cancel, error, garbage (u8 n, n bytes), end
 *              (i64 round, i64 live), commit (i64 epoch), unknown msg (u8 n, n chars), msg
 *              not a string
 *   9 CLOSE    V0 shutdown(SHUT_WR) of the peer end (EOF); else close it, the next use of k
 *              opens a new connection
 *  10 TICK     u8 n: n % 4 more ticks
 *  11 SCRIPT   u8 skip, u8 round: a whole valid migration on connections 0 and 1 (HELLO,
 *              config, data HELLO, pages, devices, clock, drain, end), minus the steps whose
 *              bit is set in skip
 *  12 OPEN     a new connection k (the old peer end is closed); k 3: FLOOD u8 n, u8 cut:
 *              n % 18 + 1 more connections, each sent a data HELLO (cut % (its length + 1)
 *              bytes of it, 0 meaning all) for channels 1 + (n / 18 + i) % 8, left open
 *  13 DEVICES  every device section of this machine, in order; V1 u8 i, u16 pos, u8 byte:
 *              section i has one byte replaced; V2 u8 i, u16 cut: section i cut (or one byte
 *              longer), V3 u8 i: sections i and i + 1 swap places
 *  14 DHELLO   u8 i: a valid data HELLO for channel 1 + i % 8 on connection k
 *  15 AGE      u8 s: the destination's receive and progress stamps move s % 8 + 1 seconds
 *              back, so HELLO and silence timeouts fire at the next tick
 * Every operation is followed by mig_tick() and by reading what the destination wrote back.
 *
 * ASan and UBSan watch memory (leaks too); the target also aborts if the migration is
 * neither INCOMING nor FAILED (without a lease it can never complete), if the machine left its
 * pause, if a failure left no error message or the wrong exit, if a commit request found the
 * state complete and did not end the migration, if ready was sent without the end, the clock
 * and every device, if a reply is not a well-framed ctrl record, or if the machine's own
 * device state no longer loads. It also aborts on the protocol weaknesses this target once found
 * (docs at the checks): a control reply that is not valid JSON, the state declared complete
 * although no config was ever accepted, pages applied after that.
 * FERRY_FUZZ_STATS=1 prints at exit how deep the inputs got.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/hash.h"
#include "common/json.h"
#include "common/log.h"
#include "vmm/board/machine.h"
#include "vmm/devices/devices.h"
#include "vmm/migrate/commit.h"
#include "vmm/migrate/handover.h"
#include "vmm/migrate/migrate.h"
#include "vmm/migrate/migrate_int.h"
#include "vmm/state/snapshot.h"
#include "vmm/state/stream.h"

/* ASan's: is p the start of a heap block? (weak: absent in a build without ASan) */
int __sanitizer_get_ownership(const volatile void *p) __attribute__((weak));

#define NCONN 3
#define MAX_OPENS 96 /* connections per input, each with a 2 MiB input buffer */
#define MAX_EXTRA 48
#define MAX_DEVS 16
#define RX_MAX (64u << 10)
#define SEND_RETRIES 256

static const char token[] = "fuzz-token-5f3a9c0e7b214d68a1c9e03b";
#define EPOCH 5		 /* the lease's epoch at the start of every input: the source's */
#define HART_STEPS 20000 /* instructions run once the VM runs here */
static char lease_dir[4096], lease_path[4200];

static struct machine *m;
static struct handover ho; /* the machine's ownership record and migration */
static int base_npollfds;
static struct buf own_cfg;
static struct buf own_dev[MAX_DEVS];
static int ndev;
static bool strict, stats, fresh;
/* What mig_incoming builds, kept once (see new_incoming) */
static struct mig tmpl;
static uint8_t *tmpl_hash;

struct conn {
	int peer; /* its descriptor (an fconn); -1 when not open */
	bool eof; /* we shut our writing side down */
};

static struct conn conns[NCONN];
static int nextra; /* flooding connections, kept to the end of the input */
static int opens;
static bool seen_accept;
static bool ready_seen;
static uint64_t pages_at_ready;

static struct {
	unsigned long inputs, accept, refuse, ready, ready_no_config, failed, no_lease, bad_json,
	    devs_full, pages_applied, late_pages, committed, resumed, hart_runs, refused;
} st;

/* ---- input reading ------------------------------------------------------------------------ */

struct in {
	const uint8_t *p;
	size_t len, pos;
};

static uint8_t u8(struct in *in)
{
	return in->pos < in->len ? in->p[in->pos++] : 0;
}

static uint16_t u16(struct in *in)
{
	uint16_t v = u8(in);

	return (uint16_t)(v | (uint16_t)u8(in) << 8);
}

static uint32_t u32(struct in *in)
{
	uint32_t v = u16(in);

	return v | (uint32_t)u16(in) << 16;
}

static uint64_t u64(struct in *in)
{
	uint64_t v = u32(in);

	return v | (uint64_t)u32(in) << 32;
}

/* Up to n bytes of the input (fewer at its end). */
static const uint8_t *bytes(struct in *in, size_t *n)
{
	const uint8_t *p = in->p + in->pos;

	if (*n > in->len - in->pos)
		*n = in->len - in->pos;
	in->pos += *n;
	return p;
}

/* ---- connections, in process ------------------------------------------------------------------
 *
 * No sockets: the destination's channels reach these through its mig_io hooks. Each open is
 * one fconn, its descriptor FD_BASE + its number (never a real descriptor). */

#define FD_BASE (1 << 24)

struct fconn {
	struct buf to_dst; /* what we sent and the destination has not read */
	size_t off;
	bool eof;	    /* we shut our writing side down */
	bool closed;	    /* the destination closed its end */
	uint8_t rx[RX_MAX]; /* what the destination wrote, not yet parsed */
	size_t rxlen;
};

static struct fconn fc[MAX_OPENS];

static struct fconn *fc_of(int fd)
{
	return fd >= FD_BASE && fd < FD_BASE + opens ? &fc[fd - FD_BASE] : NULL;
}

static ssize_t io_recv(void *opaque, int fd, void *buf, size_t len)
{
	struct fconn *c = fc_of(fd);
	size_t n;

	(void)opaque;
	if (!c || c->closed) {
		errno = EBADF;
		return -1;
	}
	n = c->to_dst.len - c->off;
	if (n == 0) {
		if (c->eof)
			return 0;
		errno = EAGAIN;
		return -1;
	}
	if (n > len)
		n = len;
	memcpy(buf, c->to_dst.p + c->off, n);
	c->off += n;
	if (c->off == c->to_dst.len) {
		buf_reset(&c->to_dst);
		c->off = 0;
	}
	return (ssize_t)n;
}

static ssize_t io_send(void *opaque, int fd, const void *buf, size_t len)
{
	struct fconn *c = fc_of(fd);

	(void)opaque;
	if (!c || c->closed) {
		errno = EBADF;
		return -1;
	}
	if (len > RX_MAX - c->rxlen)
		len = RX_MAX - c->rxlen;
	if (len == 0) {
		errno = EAGAIN;
		return -1;
	}
	memcpy(c->rx + c->rxlen, buf, len);
	c->rxlen += len;
	return (ssize_t)len;
}

static void io_close(void *opaque, int fd)
{
	struct fconn *c = fc_of(fd);

	(void)opaque;
	if (c)
		c->closed = true;
}

static const struct mig_io fuzz_io = { io_recv, io_send, io_close, NULL };

/* ---- the destination's replies ------------------------------------------------------------ */

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_migstream: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	abort();
}

static void reply(const uint8_t *p, uint32_t len)
{
	struct err e = { { 0 } };
	json_t *j = json_parse((const char *)p, len, &e);
	const char *msg = NULL;
	char text[1100];

	snprintf(text, sizeof(text), "%.*s", (int)len, (const char *)p);
	if (!j || json_get_str(j, "msg", &msg, &e) != 1) {
		st.bad_json++;
		if (strict)
			fail("a control reply is not a JSON message", text);
		json_free(j);
		return;
	}
	if (strcmp(msg, "accept") == 0) {
		st.accept++;
		seen_accept = true;
	} else if (strcmp(msg, "refuse") == 0) {
		st.refuse++;
	} else if (strcmp(msg, "ready") == 0) {
		st.ready++;
		ready_seen = true;
		pages_at_ready = ho.mig->pages_applied;
		if (!seen_accept) {
			st.ready_no_config++;
			if (strict)
				fail("state declared complete but no config was accepted", text);
		}
	} else if (strcmp(msg, "resumed") == 0) {
		st.resumed++;
	}
	json_free(j);
}

/* Parse what the destination wrote to connection k; every record must be well framed. */
static void drain_replies(int k)
{
	struct fconn *c;

	if (conns[k].peer < 0)
		return;
	c = &fc[conns[k].peer - FD_BASE];
	for (;;) {
		uint32_t type, plen;
		const uint8_t *pl;
		size_t used;
		struct err e;
		int rc = stream_parse(c->rx, c->rxlen, &type, &pl, &plen, &used, &e);

		if (rc < 0)
			fail("the destination wrote a malformed record", e.msg);
		if (rc == 0) {
			if (c->rxlen == RX_MAX)
				fail("a reply larger than the receive buffer", NULL);
			break;
		}
		if (type != STREAM_CTRL)
			fail("the destination wrote a record other than ctrl",
			     stream_type_name(type));
		reply(pl, plen);
		memmove(c->rx, c->rx + used, c->rxlen - used);
		c->rxlen -= used;
	}
}

/* One look of the run loop at the hand-over: the migration and the record's answers. */
static void tick(void)
{
	for (int i = 0; i < m->nclients; i++)
		if (m->clients[i].tick)
			m->clients[i].tick(m->clients[i].opaque);
	for (int k = 0; k < NCONN; k++)
		drain_replies(k);
}

/* ---- connections ----------------------------------------------------------------------------- */

static const char *const hosts[NCONN] = { "10.0.0.1", "10.0.0.2", "10.0.0.3" };

static void conn_close(int k)
{
	conns[k].peer = -1;
	conns[k].eof = false;
}

/* A new in-process connection from host, adopted by the destination: its descriptor. */
static int fc_open(const char *host)
{
	struct fconn *c;

	if (opens >= MAX_OPENS)
		return -1;
	c = &fc[opens];
	buf_reset(&c->to_dst);
	c->off = 0;
	c->eof = c->closed = false;
	c->rxlen = 0;
	opens++;
	mig_dst_adopt(ho.mig, FD_BASE + opens - 1, host);
	return FD_BASE + opens - 1;
}

static int conn_open(int k)
{
	int fd;

	conn_close(k);
	fd = fc_open(hosts[k]);
	if (fd < 0)
		return -1;
	conns[k].peer = fd;
	return 0;
}

/* Our end of connection k, opened if it is not. */
static int conn_get(int k)
{
	if (conns[k].peer < 0 && conn_open(k) < 0)
		return -1;
	return conns[k].eof ? -1 : conns[k].peer;
}

/* Write to connection k (kept until the destination reads it, or dropped if it closed). */
static void send_to(int k, const void *data, size_t len)
{
	int fd = conn_get(k);
	struct fconn *c;

	if (fd < 0)
		return;
	c = &fc[fd - FD_BASE];
	if (len && !c->closed && c->to_dst.len < (16u << 20))
		buf_put(&c->to_dst, data, len);
}

static void send_record(int k, uint32_t type, const void *payload, size_t len)
{
	struct buf b;

	buf_init(&b);
	stream_frame(&b, type, payload, len);
	if (!b.oom)
		send_to(k, b.p, b.len);
	buf_free(&b);
}

/* A control message built with jansson (its reference is taken). */
static void send_ctrl(int k, json_t *msg)
{
	char *text = json_encode(msg, NULL);

	if (!text)
		fail("cannot encode a control message", NULL);
	send_record(k, STREAM_CTRL, text, strlen(text));
	free(text);
	json_decref(msg);
}

/* ---- operations ------------------------------------------------------------------------------ */

static void op_hello(struct in *in, int k, unsigned v)
{
	struct buf b;

	buf_init(&b);
	if (v == 3) {
		uint32_t role = u8(in), index = u8(in);

		mig_hello(&b, token, role, index);
	} else {
		mig_hello(&b, token, k == 0 ? MIG_ROLE_CONTROL : MIG_ROLE_DATA, (uint32_t)k);
	}
	if (v == 1) {
		uint8_t pos = u8(in), x = u8(in);

		if (pos == 255) {
			b.len--; /* token one byte short of the length announced: waits for more */
		} else {
			b.p[24 + pos % (sizeof(token) - 1)] ^= x ? x : 1;
		}
	} else if (v == 2) {
		uint8_t s = u8(in);

		switch (s % 4) {
		case 0:
			b.p[s / 4 % 8] ^= 0x20; /* magic */
			break;
		case 1:
			if (s & 4) {
				b.p[8] = 1; /* format 1: no state version after the token */
				b.len -= 4;
			} else if (s & 8) {
				b.p[b.len - 4] = (uint8_t)(s / 16 + 2); /* a newer state version */
			} else {
				b.p[8] = (uint8_t)(s / 16 == 1 ? 0
							       : s / 16 + STREAM_VERSION +
								     1); /* format 0 or newer */
			}
			break;
		case 2: /* token length 0, or above the maximum */
			memset(b.p + 20, 0, 4);
			if (s & 4)
				b.p[20] = MIG_TOKEN_MAX + 1 + s / 8;
			break;
		default: /* token length off by one either way */
			b.p[20] = (uint8_t)(b.p[20] + ((s & 4) ? 1 : -1));
			break;
		}
	}
	send_to(k, b.p, b.len);
	buf_free(&b);
}

static void op_record(struct in *in, int k, unsigned v)
{
	uint32_t type = u8(in);
	size_t n = u16(in);
	const uint8_t *p = bytes(in, &n);
	struct buf b;

	buf_init(&b);
	stream_frame(&b, type, p, n);
	if (v & 1) {
		uint16_t pos = u16(in);
		uint8_t x = u8(in);

		b.p[pos % b.len] ^= x ? x : 1;
	}
	if (v & 2) {
		uint16_t cut = u16(in);

		b.len = cut % b.len;
	}
	send_to(k, b.p, b.len);
	buf_free(&b);
}

/* Send own bytes as a record of type, optionally changed at one place or cut. */
static void send_mutated(struct in *in, int k, unsigned v, uint32_t type, const uint8_t *src,
			 size_t len)
{
	struct buf b;

	buf_init(&b);
	buf_put(&b, src, len);
	buf_put_u8(&b, 0); /* room for an appended byte */
	b.len = len;
	if (v & 1) {
		uint16_t pos = u16(in);
		uint8_t x = u8(in);

		if (len)
			b.p[pos % len] = x;
	}
	if (v & 2) {
		uint16_t cut = u16(in);

		b.len = cut % (len + 2);
		if (b.len > len) {
			b.p[len] = (uint8_t)cut;
			b.len = len + 1;
		}
	}
	if (!b.oom)
		send_record(k, type, b.p, b.len);
	buf_free(&b);
}

static void op_clock(struct in *in, int k, unsigned v)
{
	uint64_t guest = u64(in), rt = u64(in);
	uint8_t mode = u8(in);
	struct buf b;

	buf_init(&b);
	buf_put_u64(&b, guest);
	buf_put_u64(&b, rt);
	buf_put_u32(&b, v == 1 ? (uint32_t)mode | (uint32_t)mode << 24 : mode % 2u);
	if (v == 2)
		b.len--;
	else if (v == 3)
		buf_put_u8(&b, mode);
	send_record(k, STREAM_CLOCK, b.p, b.len);
	buf_free(&b);
}

static uint64_t page_index(uint16_t v)
{
	uint64_t npages = m->ram.npages;

	if (v == 0xffff)
		return UINT64_MAX;
	if (v < 0x4000)
		return v % 16; /* a few pages, so that rounds overtake each other on them */
	if (v < 0x8000)
		return v % npages;
	return npages - 16 + (v - 0x8000u);
}

static uint8_t page[RAM_PAGE_SIZE];

static void op_pages(struct in *in, int k, unsigned v)
{
	struct stream_pages sp;

	buf_init(&sp.b);
	if (v == 2) {
		/* By hand: any count, any encoding, trailing bytes. */
		uint8_t round = u8(in);
		uint16_t declared = u16(in);
		uint8_t n = u8(in);

		buf_put_u32(&sp.b, round);
		buf_put_u32(&sp.b, declared);
		for (unsigned i = 0; i < n && in->pos < in->len; i++) {
			uint64_t pfn = page_index(u16(in));
			uint8_t enc = u8(in), fill = u8(in);

			buf_put_u64(&sp.b, pfn);
			buf_put_u8(&sp.b, enc);
			if (enc == STREAM_PAGE_RAW) {
				memset(page, fill, sizeof(page));
				buf_put(&sp.b, page, sizeof(page));
			}
		}
		for (unsigned t = u8(in); t; t--)
			buf_put_u8(&sp.b, (uint8_t)t);
	} else {
		uint32_t round = v == 1 ? u32(in) : u8(in);
		uint8_t n = u8(in);

		stream_pages_begin(&sp, round);
		for (unsigned i = 0; i < n && in->pos < in->len; i++) {
			uint64_t pfn = page_index(u16(in));

			memset(page, u8(in), sizeof(page));
			stream_pages_add(&sp, pfn, page);
		}
		stream_pages_end(&sp);
		if (v == 3) {
			uint16_t pos = u16(in);
			uint8_t x = u8(in);

			if (sp.b.len && !sp.b.oom)
				sp.b.p[pos % sp.b.len] ^= x ? x : 1;
		}
	}
	if (!sp.b.oom)
		send_record(k, STREAM_PAGES, sp.b.p, sp.b.len);
	buf_free(&sp.b);
}

static void op_drain(struct in *in, int k, unsigned v)
{
	uint32_t round = v == 1 ? u32(in) : u8(in);
	uint8_t r[5] = { (uint8_t)round, (uint8_t)(round >> 8), (uint8_t)(round >> 16),
			 (uint8_t)(round >> 24), 0 };

	send_record(k, STREAM_DRAIN, r, v == 2 ? 3 : v == 3 ? 5 : 4);
}

static void op_ctrl(struct in *in, int k)
{
	uint8_t kind = u8(in);
	size_t n;
	const uint8_t *p;

	switch (kind % 14) {
	case 0: {
		uint8_t round = u8(in), live = u8(in);

		send_ctrl(k,
			  json_pack("{s:s, s:i, s:i}", "msg", "end", "round", round, "live", live));
		break;
	}
	case 1:
		send_ctrl(k, json_pack("{s:s, s:i}", "msg", "commit", "epoch", u8(in)));
		break;
	case 2:
		send_ctrl(k, json_pack("{s:s}", "msg", "hb"));
		break;
	case 3:
		send_ctrl(k,
			  json_pack("{s:s, s:i}", "msg", "dead", "channel", (int)(int8_t)u8(in)));
		break;
	case 4:
		send_ctrl(k, json_pack("{s:s}", "msg", "cancel"));
		break;
	case 5:
		send_ctrl(k, json_pack("{s:s, s:s}", "msg", "error", "reason", "fuzz"));
		break;
	case 6:
		n = u8(in);
		p = bytes(in, &n);
		send_record(k, STREAM_CTRL, p, n);
		break;
	case 7: {
		int64_t round = (int64_t)u64(in), live = (int64_t)u64(in);

		send_ctrl(k, json_pack("{s:s, s:I, s:I}", "msg", "end", "round", (json_int_t)round,
				       "live", (json_int_t)live));
		break;
	}
	case 8:
		send_ctrl(k,
			  json_pack("{s:s, s:I}", "msg", "commit", "epoch", (json_int_t)u64(in)));
		break;
	case 9: {
		char s[256];

		n = u8(in);
		p = bytes(in, &n);
		memcpy(s, p, n);
		s[n] = 0;
		send_ctrl(k, json_pack("{s:o}", "msg", json_text(s)));
		break;
	}
	case 11: /* a data channel announced, from one of the connections' addresses */
		n = u8(in);
		send_ctrl(k, json_pack("{s:s, s:i, s:s}", "msg", "channel", "index", (int)(n & 15),
				       "addr", n & 0x80 ? "10.0.9.9" : hosts[(n >> 4) % NCONN]));
		break;
	case 12: /* the source's round */
		send_ctrl(k, json_pack("{s:s, s:i}", "msg", "round", "round", u8(in)));
		break;
	case 13:
		send_ctrl(k, json_pack("{s:s, s:I}", "msg", "round", "round", (json_int_t)u64(in)));
		break;
	default:
		send_ctrl(k, json_pack("{s:i}", "msg", u8(in)));
		break;
	}
}

/* Many connections at once: each gets the first bytes of a data HELLO (all of it, or a prefix
 * that leaves it pending). */
static void op_flood(struct in *in)
{
	uint8_t n = u8(in), cut = u8(in);
	struct buf b;
	char host[32];

	buf_init(&b);
	for (unsigned i = 0; i <= n % 18u && nextra < MAX_EXTRA && opens < MAX_OPENS; i++) {
		int fd;

		/* From a few addresses (the per-address bound), sometimes the source's own. */
		snprintf(host, sizeof(host), "10.0.%u.%u", (n >> 5) & 1, 1 + (n / 18u + i) % 6);
		fd = fc_open(host);
		if (fd < 0)
			break;
		nextra++;
		buf_reset(&b);
		mig_hello(&b, token, MIG_ROLE_DATA, 1 + (n / 18u + i) % MIG_MAX_CHANNELS);
		if (!b.oom && !fc[fd - FD_BASE].closed)
			buf_put(&fc[fd - FD_BASE].to_dst, b.p,
				cut % (b.len + 1) ? cut % (b.len + 1) : b.len);
		tick();
	}
	buf_free(&b);
}

/* Time passes: every stamp the destination's timeouts look at moves back by d, so the next
 * tick finds HELLOs overdue and the source silent. */
static void age(int64_t d)
{
	struct mig *g = ho.mig;

	g->ctl.last_rx_ns -= d;
	g->ctl.progress_ns -= d;
	for (size_t i = 0; i < sizeof(g->pending) / sizeof(g->pending[0]); i++) {
		g->pending[i].progress_ns -= d;
		g->pending[i].accepted_ns -= d;
	}
	for (int i = 0; i < MIG_PEERS; i++)
		g->peers[i].blocked_until -= d;
	for (int i = 0; i < MIG_MAX_CHANNELS; i++) {
		g->data[i].last_rx_ns -= d;
		g->data[i].progress_ns -= d;
	}
}

static void send_devices(int k)
{
	for (int i = 0; i < ndev; i++)
		send_record(k, STREAM_DEVICE, own_dev[i].p, own_dev[i].len);
}

/* Every device section, one of them damaged (or two out of order): the state applied last. */
static void op_devices(struct in *in, int k, unsigned v)
{
	int bad = u8(in) % ndev;

	for (int i = 0; i < ndev; i++) {
		if (v == 3) {
			int j = i == bad ? (i + 1) % ndev : i == (bad + 1) % ndev ? bad : i;

			send_record(k, STREAM_DEVICE, own_dev[j].p, own_dev[j].len);
		} else if (i == bad) {
			send_mutated(in, k, v, STREAM_DEVICE, own_dev[i].p, own_dev[i].len);
		} else {
			send_record(k, STREAM_DEVICE, own_dev[i].p, own_dev[i].len);
		}
	}
}

static void send_hello(int k, uint32_t role, uint32_t index)
{
	struct buf b;

	buf_init(&b);
	mig_hello(&b, token, role, index);
	send_to(k, b.p, b.len);
	buf_free(&b);
}

/* A complete migration the way the source sends it, minus the skipped steps. */
static void op_script(struct in *in, unsigned v)
{
	uint8_t skip = u8(in), round = u8(in);

	if (!(skip & 1))
		send_hello(0, MIG_ROLE_CONTROL, 0);
	if (!(skip & 2))
		send_record(0, STREAM_CONFIG, own_cfg.p, own_cfg.len);
	/* What a format 3 source announces: its data channel, from connection 1's address, and
	 * the round (V2 leaves them out). */
	if (v != 2) {
		send_ctrl(0, json_pack("{s:s, s:i, s:s}", "msg", "channel", "index", 1, "addr",
				       hosts[1]));
		send_ctrl(0, json_pack("{s:s, s:i}", "msg", "round", "round", round ? round : 1));
	}
	tick();
	if (!(skip & 4))
		send_hello(1, MIG_ROLE_DATA, 1);
	if (!(skip & 8)) {
		struct stream_pages sp;

		buf_init(&sp.b);
		stream_pages_begin(&sp, round);
		memset(page, 0x5a, sizeof(page));
		stream_pages_add(&sp, 1, page);
		memset(page, 0, sizeof(page));
		stream_pages_add(&sp, 2, page);
		stream_pages_end(&sp);
		if (!sp.b.oom)
			send_record(1, STREAM_PAGES, sp.b.p, sp.b.len);
		buf_free(&sp.b);
	}
	tick();
	if (!(skip & 16))
		send_devices(0);
	if (!(skip & 32)) {
		uint8_t clk[20] = { 0 };

		clk[0] = 1;
		send_record(0, STREAM_CLOCK, clk, sizeof(clk));
	}
	if (!(skip & 64)) {
		uint8_t r[4] = { round, 0, 0, 0 };

		send_record(1, STREAM_DRAIN, r, 4);
	}
	if (!(skip & 128))
		send_ctrl(0, json_pack("{s:s, s:i, s:i}", "msg", "end", "round", round ? round : 1,
				       "live", 1));
	/* V1 and V3: and the commit at the lease's epoch (V3: then an hb while it runs). */
	if (v & 1)
		send_ctrl(0, json_pack("{s:s, s:i}", "msg", "commit", "epoch", EPOCH));
	if (v == 3) {
		tick();
		send_ctrl(0, json_pack("{s:s}", "msg", "hb"));
	}
}

/* ---- set-up, checks, reset ------------------------------------------------------------------ */

static void init(void)
{
	struct machine_config cfg = { .mem_size = 16ull << 20, .console = "null" };
	struct err e;

	strict = true;
	/* Refusals and failures are logged by the thousand: only errors, unless asked. */
	log_set_level(getenv("FERRY_FUZZ_LOG") ? LOG_INFO : LOG_ERROR);
	stats = getenv("FERRY_FUZZ_STATS") && atoi(getenv("FERRY_FUZZ_STATS"));
	/* What main() sets for --incoming: paused, nothing placed. */
	cfg.incoming = "127.0.0.1:0";
	cfg.token = token;
	/* A lease on tmpfs, so that commits run (and cost little), under FERRY_FUZZ_TMP if set
	 * (run.sh and long.sh give a directory they remove: libFuzzer ends the process without
	 * running its clean-up). */
	const char *tmp = getenv("FERRY_FUZZ_TMP");
	snprintf(lease_dir, sizeof(lease_dir), "%s/ferry-fuzz.XXXXXX",
		 tmp && *tmp ? tmp : "/dev/shm");
	if (!mkdtemp(lease_dir))
		fail("mkdtemp", strerror(errno));
	snprintf(lease_path, sizeof(lease_path), "%s/vm.lease", lease_dir);
	cfg.lease = lease_path;
	cfg.start_paused = true;
	cfg.restoring = true;
	m = calloc(1, sizeof(*m));
	if (!m || devices_machine_init(m, &cfg, &e) != 0 || handover_init(&ho, m, &e) != 0) {
		fprintf(stderr, "fuzz_migstream: %s\n", e.msg);
		abort();
	}
	if (!ho.has_lease || !m->paused)
		fail("the machine was expected paused and with a lease", NULL);
	base_npollfds = m->npollfds;
	buf_init(&own_cfg);
	snapshot_config_text(m, 0, &own_cfg);
	ndev = snapshot_device_count(m);
	if (ndev > MAX_DEVS || own_cfg.oom)
		fail("unexpected machine", NULL);
	for (int i = 0; i < ndev; i++) {
		buf_init(&own_dev[i]);
		snapshot_save_device(m, i, &own_dev[i]);
	}
	for (int k = 0; k < NCONN; k++)
		conns[k].peer = -1;
	for (int i = 0; i < MAX_OPENS; i++)
		buf_init(&fc[i].to_dst);
	fresh = getenv("FERRY_FUZZ_FRESH") && atoi(getenv("FERRY_FUZZ_FRESH"));
	if (mig_incoming(&ho, "127.0.0.1:0", token, &e) < 0)
		fail("mig_incoming", e.msg);
	/* The template may hold no heap block but the machine and the two per-page arrays: a copy
	 * would share it. */
	for (size_t off = 0; off + sizeof(void *) <= sizeof(*ho.mig); off += sizeof(void *)) {
		void *p;

		memcpy(&p, (const char *)ho.mig + off, sizeof(p));
		if (p && p != m && p != &ho && p != ho.mig->page_round && p != ho.mig->page_hash &&
		    __sanitizer_get_ownership && __sanitizer_get_ownership(p))
			fail("mig_incoming allocates more than this target copies; run with "
			     "FERRY_FUZZ_FRESH=1 or teach new_incoming",
			     NULL);
	}
	tmpl = *ho.mig;
	tmpl_hash = malloc(m->ram.npages * HASH_ENTRY_SIZE);
	if (!tmpl_hash)
		abort();
	memcpy(tmpl_hash, ho.mig->page_hash, m->ram.npages * HASH_ENTRY_SIZE);
	mig_destroy(&ho);
	m->npollfds = base_npollfds;
}

/* A fresh incoming migration. mig_incoming spends time filling its per-page tables for the
 * whole of RAM (much of an input's time under the fuzzer's instrumentation), so by default
 * this is a copy of the one it built at start-up, with its own per-page arrays and no listening
 * socket (nothing would connect to it). FERRY_FUZZ_FRESH=1 calls mig_incoming every time. */
static void new_incoming(void)
{
	struct err e;
	struct mig *g;

	if (fresh) {
		if (mig_incoming(&ho, "127.0.0.1:0", token, &e) < 0)
			fail("mig_incoming", e.msg);
		ho.mig->io = &fuzz_io;
		return;
	}
	g = malloc(sizeof(*g));
	if (!g)
		abort();
	*g = tmpl;
	g->page_round = calloc(m->ram.npages, sizeof(uint32_t));
	g->page_hash = malloc(m->ram.npages * HASH_ENTRY_SIZE);
	if (!g->page_round || !g->page_hash)
		abort();
	memcpy(g->page_hash, tmpl_hash, m->ram.npages * HASH_ENTRY_SIZE);
	g->nlisten = 0;
	for (int i = 0; i < MIG_MAX_CHANNELS; i++)
		g->listen_fd[i] = -1;
	g->t_start = gclock_host_ns();
	g->io = &fuzz_io;
	ho.mig = g;
	m->wake_ns = g->t_start + 50 * 1000000LL;
}

static void report(void)
{
	if (!stats)
		return;
	fprintf(
	    stderr,
	    "fuzz_migstream: %lu inputs, %lu failed (%lu at the missing lease), config accepted "
	    "%lu / refused %lu, all device records %lu, ready %lu (%lu without a config), "
	    "%lu pages applied (%lu times after ready), %lu replies not JSON, %lu committed, "
	    "%lu resumed, %lu hart runs, %lu connections refused\n",
	    st.inputs, st.failed, st.no_lease, st.accept, st.refuse, st.devs_full, st.ready,
	    st.ready_no_config, st.pages_applied, st.late_pages, st.bad_json, st.committed,
	    st.resumed, st.hart_runs, st.refused);
}

/* The guest's view after the state was applied: read every register, ring the queue. */
static void probe_devices(void)
{
	uint64_t val;

	for (uint64_t off = 0; off < 8; off++)
		machine_mmio_read(m, MACHINE_UART_BASE + off, 1, &val);
	machine_mmio_read(m, MACHINE_PLIC_BASE + 0x1000, 4, &val);
	machine_mmio_read(m, MACHINE_PLIC_BASE + 0x2000, 4, &val);
	machine_mmio_read(m, MACHINE_PLIC_BASE + 0x200004, 4, &val);
	for (uint64_t off = 0; off < 0x100; off += 4)
		machine_mmio_read(m, MACHINE_VIRTIO_BASE + off, 4, &val);
	machine_mmio_write(m, MACHINE_VIRTIO_BASE + 0x050, 4, 0);
	machine_update_timer(m);
}

static bool runs_here(const struct mig *g)
{
	return g->dst == DST_COMMITTED || g->dst == DST_RUNNING;
}

static void check(struct mig *g)
{
	if (runs_here(g)) {
		/* Committed: only after the whole state, at the source's epoch, by the record. */
		if (g->phase != MIG_COMPLETED)
			fail("committed but not completed", mig_phase_name(g->phase));
		if (!g->have_end || !g->have_clock || g->ndevrecs != ndev || !seen_accept)
			fail("committed without the whole state", NULL);
		if (g->commit_expect != EPOCH || handover_token(&ho) != EPOCH + 1)
			fail("committed from another epoch than the record's", NULL);
		if (g->dst == DST_RUNNING && m->paused)
			fail("running here but paused", NULL);
		return;
	}
	if (g->phase != MIG_INCOMING && g->phase != MIG_FAILED)
		fail("incoming migration in an impossible phase", mig_phase_name(g->phase));
	if (!m->paused)
		fail("the machine left its pause", NULL);
	if (g->phase == MIG_FAILED && !g->error[0])
		fail("the migration failed without an error message", NULL);
	if (g->phase == MIG_FAILED && m->exit != MACHINE_ERROR)
		fail("the migration failed but the machine would not end", g->error);
	if (g->phase == MIG_INCOMING && m->exit != MACHINE_RUNNING)
		fail("the machine would end during an incoming migration", NULL);
	if (g->phase == MIG_INCOMING && g->dst == DST_READY && g->commit_wanted)
		fail("a commit was requested on a complete state and nothing happened", NULL);
	if (g->dst == DST_READY && (!g->have_end || !g->have_clock || g->ndevrecs != ndev))
		fail("ready without the end, the clock or every device", NULL);
	if (ready_seen && g->pages_applied != pages_at_ready) {
		st.late_pages++;
		pages_at_ready = g->pages_applied;
		if (strict)
			fail("pages applied after the state was declared complete", NULL);
	}
	/* A format 3 source's pages never run ahead of its announced round. */
	if (g->peer.format >= MIG_FORMAT_ANNOUNCE)
		for (uint64_t pfn = 0; pfn < 16; pfn++)
			if (g->page_round[pfn] > g->src_round)
				fail("a page applied at a round the source never announced", NULL);
}

/* The lease as the source leaves it at its commit: at EPOCH, unlocked. */
static void reset_lease(void)
{
	char rec[COMMIT_RECORD_SIZE];
	int fd, n;

	commit_unlock(&ho.lease);
	ho.lease.epoch = 0;
	ho.lease.pending = false;
	ho.asking = false;
	ho.done = NULL;
	ho.done_opaque = NULL;
	memset(rec, ' ', sizeof(rec));
	n = snprintf(rec, sizeof(rec), "ferry-lease v1 epoch=%d owner=source", EPOCH);
	rec[n] = ' ';
	rec[sizeof(rec) - 1] = '\n';
	fd = open(lease_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec))
		fail("cannot write the lease", strerror(errno));
	close(fd);
}

static void cleanup(void)
{
	char path[160];

	snprintf(path, sizeof(path), "%s.lock", lease_path);
	unlink(path);
	unlink(lease_path);
	rmdir(lease_dir);
}

/* Back to the machine as built: device state, RAM (only the pages written), descriptors. */
static void restore_machine(bool devices)
{
	struct err e;

	if (devices) {
		for (int i = 0; i < ndev; i++)
			if (snapshot_load_device(m, i, own_dev[i].p, own_dev[i].len, &e) < 0)
				fail("the machine's own device state no longer loads", e.msg);
		machine_update_timer(m);
	}
	for (uint64_t w = 0; w < m->ram.nwords; w++) {
		uint64_t bits = m->ram.dirty[w];

		while (bits) {
			uint64_t pfn = w * 64 + (uint64_t)__builtin_ctzll(bits);

			bits &= bits - 1;
			if (pfn < m->ram.npages)
				ram_fill(&m->ram, m->ram.base + pfn * RAM_PAGE_SIZE, 0,
					 RAM_PAGE_SIZE);
		}
	}
	memset(m->ram.dirty, 0, m->ram.nwords * sizeof(m->ram.dirty[0]));
	cpu_dcache_flush(&m->harts[0]);
	gclock_set_ns(&m->clock, 0);
	m->paused = true;
	m->npollfds = base_npollfds;
	m->exit = MACHINE_RUNNING;
	m->wake_ns = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size, 0 };
	struct mig *g;
	bool devices;

	if (!m) {
		init();
		atexit(report);
		atexit(cleanup);
	}
	st.inputs++;
	reset_lease();
	new_incoming();
	g = ho.mig;
	opens = 0;
	nextra = 0;
	seen_accept = false;
	ready_seen = false;
	conn_open(0);
	tick();
	while (in.pos < in.len) {
		uint8_t op = u8(&in);
		unsigned kind = op & 15, v = op >> 6;
		int k = (op >> 4) & 3;

		if (k == 3)
			k = 0;
		switch (kind) {
		case 0: {
			size_t n = u16(&in);
			const uint8_t *p = bytes(&in, &n);

			send_to(k, p, n);
			break;
		}
		case 1:
			op_hello(&in, k, v);
			break;
		case 2:
			op_record(&in, k, v);
			break;
		case 3:
			send_mutated(&in, k, v, STREAM_CONFIG, (const uint8_t *)own_cfg.p,
				     own_cfg.len);
			break;
		case 4: {
			int i = u8(&in) % ndev;

			send_mutated(&in, k, v, STREAM_DEVICE, own_dev[i].p, own_dev[i].len);
			break;
		}
		case 5:
			op_clock(&in, k, v);
			break;
		case 6:
			op_pages(&in, k, v);
			break;
		case 7:
			op_drain(&in, k, v);
			break;
		case 8:
			op_ctrl(&in, k);
			break;
		case 9:
			if (conns[k].peer >= 0) {
				if (v == 0 && !conns[k].eof) {
					shutdown(conns[k].peer, SHUT_WR);
					conns[k].eof = true;
				} else {
					conn_close(k);
				}
			}
			break;
		case 11:
			op_script(&in, v);
			break;
		case 12:
			if (((op >> 4) & 3) == 3)
				op_flood(&in);
			else
				conn_open(k);
			break;
		case 13:
			if (v == 0)
				send_devices(k);
			else
				op_devices(&in, k, v);
			break;
		case 14:
			send_hello(k, MIG_ROLE_DATA, 1 + u8(&in) % MIG_MAX_CHANNELS);
			break;
		case 15:
			age((int64_t)(u8(&in) % 8 + 1) * 1000000000LL);
			break;
		default:
			for (unsigned t = u8(&in) % 4; t; t--)
				tick();
			break;
		}
		tick();
		check(g);
	}
	tick();
	tick();
	check(g);
	if (g->dst == DST_RUNNING) {
		/* The VM runs here: a bounded run of the hart on what was loaded, the migration
		 * still ticking (the source's late frames, announcements). */
		st.hart_runs++;
		for (int i = 0; i < 4 && m->exit == MACHINE_RUNNING; i++) {
			cpu_run(&m->harts[0], HART_STEPS / 4);
			tick();
		}
		check(g);
	}
	st.committed += runs_here(g);
	st.refused += g->refused;
	if (g->phase == MIG_FAILED) {
		st.failed++;
		if (strstr(g->error, "no lease path"))
			st.no_lease++;
	}
	st.pages_applied += g->pages_applied;
	devices = g->ndevrecs == ndev || runs_here(g);
	st.devs_full += devices;
	if (g->dst == DST_READY)
		probe_devices();
	mig_destroy(&ho);
	for (int k = 0; k < NCONN; k++)
		conn_close(k);
	restore_machine(devices);
	return 0;
}
