/* test_stream.c - the machine stream codec: integers, framing, checksums, headers and versions,
 * page batches, the clock record, page apply and the hashes (docs/migration-stream.md).
 *
 * The byte layouts are written out here by hand from the document, not from the encoder, so a
 * change of the format shows up as a failing test, not as two sides that agree with each other
 * and with nobody else.
 */
#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/hash.h"
#include "common/le.h"
#include "common/state.h"
#include "vmm/migrate/migrate_int.h"
#include "vmm/state/stream.h"

#define expect_err(e, sub)                                                                         \
	do {                                                                                       \
		if (!strstr((e).msg, (sub)))                                                       \
			fail_msg("error '%s' does not say '%s'", (e).msg, (sub));                  \
	} while (0)

/* ---- integers ------------------------------------------------------------------------------ */

static void test_le_layout(void **state)
{
	uint8_t b[8];

	(void)state;
	le_put_u16(b, 0x1234);
	assert_int_equal(b[0], 0x34);
	assert_int_equal(b[1], 0x12);
	assert_int_equal(le_get_u16(b), 0x1234);
	le_put_u32(b, 0xa1b2c3d4u);
	assert_memory_equal(b, ((uint8_t[]){ 0xd4, 0xc3, 0xb2, 0xa1 }), 4);
	assert_int_equal(le_get_u32(b), 0xa1b2c3d4u);
	le_put_u64(b, 0x0102030405060708ull);
	assert_memory_equal(b, ((uint8_t[]){ 8, 7, 6, 5, 4, 3, 2, 1 }), 8);
	assert_int_equal(le_get_u64(b), 0x0102030405060708ull);
	le_put_u64(b, UINT64_MAX);
	assert_int_equal(le_get_u64(b), UINT64_MAX);
}

static void test_buf_codec(void **state)
{
	struct buf b;
	struct rbuf r;
	uint8_t u8v;
	uint16_t u16v;
	uint32_t u32v;
	uint64_t u64v;
	char name[256];

	(void)state;
	buf_init(&b);
	buf_put_u8(&b, 0xfe);
	buf_put_u16(&b, 0xbeef);
	buf_put_u32(&b, 0xdeadbeefu);
	buf_put_u64(&b, 0x1122334455667788ull);
	buf_put_name(&b, "uart");
	assert_int_equal(b.len, 1 + 2 + 4 + 8 + 5);
	assert_memory_equal(
	    b.p, ((uint8_t[]){ 0xfe, 0xef, 0xbe, 0xef, 0xbe, 0xad, 0xde, 0x88, 0x77, 0x66,
			       0x55, 0x44, 0x33, 0x22, 0x11, 4,	   'u',	 'a',  'r',  't' }),
	    b.len);
	rbuf_init(&r, b.p, b.len);
	assert_true(rbuf_get_u8(&r, &u8v));
	assert_true(rbuf_get_u16(&r, &u16v));
	assert_true(rbuf_get_u32(&r, &u32v));
	assert_true(rbuf_get_u64(&r, &u64v));
	assert_true(rbuf_get_name(&r, name));
	assert_int_equal(u8v, 0xfe);
	assert_int_equal(u16v, 0xbeef);
	assert_int_equal(u32v, 0xdeadbeefu);
	assert_int_equal(u64v, 0x1122334455667788ull);
	assert_string_equal(name, "uart");
	assert_int_equal(rbuf_left(&r), 0);
	/* Past the end: every get fails and the reader stays failed. */
	assert_false(rbuf_get_u8(&r, &u8v));
	assert_true(r.bad);
	/* A u64 with 7 bytes left fails whole, and so does a name longer than what is left. */
	rbuf_init(&r, b.p, 7);
	assert_false(rbuf_get_u64(&r, &u64v));
	rbuf_init(&r, (const uint8_t[]){ 5, 'a', 'b' }, 3);
	assert_false(rbuf_get_name(&r, name));
	buf_free(&b);
}

/* ---- framing ------------------------------------------------------------------------------- */

static void test_crc32c(void **state)
{
	(void)state;
	/* The check value of CRC-32C (Castagnoli), and chaining. */
	assert_int_equal(stream_crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(stream_crc32c(stream_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
	assert_int_equal(stream_crc32c(0, "", 0), 0);
}

static void test_frame_layout(void **state)
{
	struct buf b;
	const uint8_t payload[3] = { 'a', 'b', 'c' };
	uint32_t crc;

	(void)state;
	buf_init(&b);
	stream_frame(&b, STREAM_CLOCK, payload, 3);
	assert_int_equal(b.len, 8 + 3 + 4);
	assert_memory_equal(b.p, ((uint8_t[]){ 4, 0, 0, 0, 3, 0, 0, 0, 'a', 'b', 'c' }), 11);
	crc = stream_crc32c(0, b.p, 11); /* over type, length and payload */
	assert_int_equal(le_get_u32(b.p + 11), crc);
	buf_free(&b);
}

static void test_parse(void **state)
{
	struct buf b;
	uint8_t payload[100];
	uint32_t type, plen;
	const uint8_t *pl;
	size_t used;
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 13);
	buf_init(&b);
	stream_frame(&b, STREAM_DEVICE, payload, sizeof(payload));
	stream_frame(&b, STREAM_END, NULL, 0);
	assert_int_equal(stream_parse(b.p, b.len, &type, &pl, &plen, &used, &e), 1);
	assert_int_equal(type, STREAM_DEVICE);
	assert_int_equal(plen, sizeof(payload));
	assert_int_equal(used, 12 + sizeof(payload));
	assert_memory_equal(pl, payload, sizeof(payload));
	assert_int_equal(stream_parse(b.p + used, b.len - used, &type, &pl, &plen, &used, &e), 1);
	assert_int_equal(type, STREAM_END);
	assert_int_equal(plen, 0);
	/* Every proper prefix of a record asks for more. */
	for (size_t n = 0; n < 12 + sizeof(payload); n++)
		assert_int_equal(stream_parse(b.p, n, &type, &pl, &plen, &used, &e), 0);
	/* A damaged payload or checksum byte: refused, the record named. */
	for (size_t i = 8; i < 12 + sizeof(payload); i++) {
		b.p[i] ^= 0x40;
		assert_int_equal(stream_parse(b.p, b.len, &type, &pl, &plen, &used, &e), -1);
		expect_err(e, "device record of 100 bytes: checksum mismatch");
		b.p[i] ^= 0x40;
	}
	/* A damaged type: unknown, or a checksum mismatch under another name. */
	b.p[0] = 9;
	assert_int_equal(stream_parse(b.p, b.len, &type, &pl, &plen, &used, &e), -1);
	expect_err(e, "unknown record type 9");
	b.p[0] = 0;
	assert_int_equal(stream_parse(b.p, b.len, &type, &pl, &plen, &used, &e), -1);
	expect_err(e, "unknown record type 0");
	b.p[0] = STREAM_CLOCK;
	assert_int_equal(stream_parse(b.p, b.len, &type, &pl, &plen, &used, &e), -1);
	expect_err(e, "clock record of 100 bytes: checksum mismatch");
	b.p[0] = STREAM_DEVICE;
	/* Oversized: refused from the header alone, before the payload has arrived. */
	le_put_u32(b.p + 4, STREAM_RECORD_MAX + 1);
	assert_int_equal(stream_parse(b.p, 8, &type, &pl, &plen, &used, &e), -1);
	expect_err(e, "device record of 2097153 bytes exceeds the limit of 2097152");
	buf_free(&b);
}

/* ---- files: header, versions, records ------------------------------------------------------ */

static int tmp_file(const void *p, size_t n)
{
	char path[] = "/tmp/ferry-test-stream.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static void test_header_v2_layout(void **state)
{
	struct stream_writer w;
	struct stream_versions v;
	struct err e;
	char path[] = "/tmp/ferry-test-stream.XXXXXX";
	uint8_t h[64];
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	stream_writer_init(&w, fd);
	stream_write_header(&w);
	assert_int_equal(stream_writer_finish(&w, &e), 0);
	assert_int_equal(w.bytes, STREAM_HEADER_SIZE);
	assert_int_equal(pread(fd, h, sizeof(h), 0), STREAM_HEADER_SIZE);
	assert_memory_equal(h, "FERRYVM\0", 8);
	assert_int_equal(le_get_u32(h + 8), 3); /* format 3 has the layout of format 2 */
	assert_int_equal(le_get_u32(h + 12), 0);
	assert_int_equal(le_get_u32(h + 16), STATE_VERSION);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(stream_read_header(fd, &v, &e), 0);
	assert_int_equal(v.format, 3);
	assert_int_equal(v.state, STATE_VERSION);
	close(fd);
}

static int read_header_of(const uint8_t *h, size_t n, struct stream_versions *v, struct err *e)
{
	int fd = tmp_file(h, n), rc;

	rc = stream_read_header(fd, v, e);
	close(fd);
	return rc;
}

static void test_header_versions(void **state)
{
	uint8_t h[20] = "FERRYVM";
	struct stream_versions v;
	struct err e;

	(void)state;
	/* Format 1 (the previous release): 16 bytes, state version 1 implied. */
	le_put_u32(h + 8, 1);
	assert_int_equal(read_header_of(h, 16, &v, &e), 0);
	assert_int_equal(v.format, 1);
	assert_int_equal(v.state, 1);
	/* Format 2 cut in its state version. */
	le_put_u32(h + 8, 2);
	assert_int_equal(read_header_of(h, 17, &v, &e), -1);
	expect_err(e, "stream truncated in the header");
	/* Format 2 at a state version this build does not know. */
	le_put_u32(h + 16, STATE_VERSION + 1);
	assert_int_equal(read_header_of(h, 20, &v, &e), -1);
	expect_err(e, "machine state version 3, this ferry-vm reads state versions 1 to 2");
	le_put_u32(h + 16, 0);
	assert_int_equal(read_header_of(h, 20, &v, &e), -1);
	expect_err(e, "machine state version 0");
	/* A newer format, and format 0. */
	le_put_u32(h + 8, 4);
	assert_int_equal(read_header_of(h, 20, &v, &e), -1);
	expect_err(e, "stream format 4, this ferry-vm reads formats 1 to 3");
	le_put_u32(h + 8, 0);
	assert_int_equal(read_header_of(h, 20, &v, &e), -1);
	expect_err(e, "stream format 0");
	/* Flags it does not know, a wrong magic, a short file. */
	le_put_u32(h + 8, 2);
	le_put_u32(h + 12, 1);
	le_put_u32(h + 16, 1);
	assert_int_equal(read_header_of(h, 20, &v, &e), -1);
	expect_err(e, "stream flags 0x1 not understood");
	le_put_u32(h + 12, 0);
	h[0] = 'X';
	assert_int_equal(read_header_of(h, 20, &v, &e), -1);
	expect_err(e, "bad magic");
	assert_int_equal(read_header_of(h, 5, &v, &e), -1);
	expect_err(e, "stream truncated in the header (5 of 16 bytes)");
}

static void test_read_records(void **state)
{
	struct buf b, rec;
	uint8_t payload[300];
	uint32_t type;
	struct err e;
	int fd;

	(void)state;
	memset(payload, 0x5a, sizeof(payload));
	buf_init(&b);
	buf_init(&rec);
	stream_frame(&b, STREAM_DEVICE, payload, sizeof(payload));
	stream_frame(&b, STREAM_END, NULL, 0);
	fd = tmp_file(b.p, b.len);
	assert_int_equal(stream_read_record(fd, &type, &rec, &e), 0);
	assert_int_equal(type, STREAM_DEVICE);
	assert_int_equal(rec.len, sizeof(payload));
	assert_int_equal(stream_read_record(fd, &type, &rec, &e), 0);
	assert_int_equal(type, STREAM_END);
	assert_int_equal(rec.len, 0);
	assert_int_equal(stream_read_record(fd, &type, &rec, &e), -1);
	expect_err(e, "stream truncated in a record header (0 of 8 bytes)");
	close(fd);
	/* Cut in the payload, in the checksum. */
	fd = tmp_file(b.p, 100);
	assert_int_equal(stream_read_record(fd, &type, &rec, &e), -1);
	expect_err(e, "stream truncated in device (92 of 300 bytes)");
	close(fd);
	fd = tmp_file(b.p, 310);
	assert_int_equal(stream_read_record(fd, &type, &rec, &e), -1);
	expect_err(e, "stream truncated in a record checksum (2 of 4 bytes)");
	close(fd);
	/* Corrupt. */
	b.p[50] ^= 1;
	fd = tmp_file(b.p, b.len);
	assert_int_equal(stream_read_record(fd, &type, &rec, &e), -1);
	expect_err(e, "device record of 300 bytes: checksum mismatch");
	close(fd);
	/* Oversized: refused before anything is allocated or read. */
	le_put_u32(b.p + 4, 0xffffff00u);
	fd = tmp_file(b.p, b.len);
	assert_int_equal(stream_read_record(fd, &type, &rec, &e), -1);
	expect_err(e, "device record of 4294967040 bytes exceeds the limit of 2097152");
	close(fd);
	le_put_u32(b.p, 77);
	fd = tmp_file(b.p, b.len);
	assert_int_equal(stream_read_record(fd, &type, &rec, &e), -1);
	expect_err(e, "unknown record type 77");
	close(fd);
	buf_free(&b);
	buf_free(&rec);
}

/* ---- page batches -------------------------------------------------------------------------- */

struct seen {
	int n;
	uint32_t round[8];
	uint64_t pfn[8];
	const uint8_t *data[8];
	int fail_at; /* the callback fails at this call (-1: never) */
};

static int record_page(void *ctx, uint32_t round, uint64_t pfn, const uint8_t *data)
{
	struct seen *s = ctx;

	if (s->n == s->fail_at)
		return -1;
	s->round[s->n] = round;
	s->pfn[s->n] = pfn;
	s->data[s->n] = data;
	s->n++;
	return 0;
}

static void test_pages_layout(void **state)
{
	struct stream_pages sp;
	uint8_t zero[4096] = { 0 }, raw[4096];
	struct seen s = { .fail_at = -1 };
	struct err e;

	(void)state;
	for (int i = 0; i < 4096; i++)
		raw[i] = (uint8_t)(i ^ 0xa5);
	buf_init(&sp.b);
	stream_pages_begin(&sp, 7);
	stream_pages_add(&sp, 3, zero);
	stream_pages_add(&sp, 0x0102030405ull, raw);
	stream_pages_end(&sp);
	assert_int_equal(sp.count, 2);
	/* u32 round, u32 count, then u64 index + u8 encoding (+ 4096 bytes if raw). */
	assert_int_equal(sp.b.len, 8 + 9 + 9 + 4096);
	assert_memory_equal(sp.b.p,
			    ((uint8_t[]){ 7,
					  0,
					  0,
					  0,
					  2,
					  0,
					  0,
					  0,
					  3,
					  0,
					  0,
					  0,
					  0,
					  0,
					  0,
					  0,
					  STREAM_PAGE_ZERO,
					  5,
					  4,
					  3,
					  2,
					  1,
					  0,
					  0,
					  0,
					  STREAM_PAGE_RAW }),
			    26);
	assert_memory_equal(sp.b.p + 26, raw, 4096);
	assert_int_equal(
	    stream_pages_decode(sp.b.p, sp.b.len, 0x0102030406ull, record_page, &s, &e), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.round[0], 7);
	assert_int_equal(s.pfn[0], 3);
	assert_null(s.data[0]);
	assert_int_equal(s.pfn[1], 0x0102030405ull);
	assert_memory_equal(s.data[1], raw, 4096);
	/* An empty batch is legal. */
	stream_pages_begin(&sp, 1);
	stream_pages_end(&sp);
	s.n = 0;
	assert_int_equal(stream_pages_decode(sp.b.p, sp.b.len, 16, record_page, &s, &e), 0);
	assert_int_equal(s.n, 0);
	buf_free(&sp.b);
}

/* A hand-made batch: round 1, the count, then entries. */
static size_t batch(uint8_t *p, uint32_t count, const uint64_t *pfn, const uint8_t *enc, int n)
{
	size_t at = 8;

	le_put_u32(p, 1);
	le_put_u32(p + 4, count);
	for (int i = 0; i < n; i++) {
		le_put_u64(p + at, pfn[i]);
		p[at + 8] = enc[i];
		at += 9;
		if (enc[i] == STREAM_PAGE_RAW) {
			memset(p + at, 0x11 * (i + 1), 4096);
			at += 4096;
		}
	}
	return at;
}

static void test_pages_refused(void **state)
{
	static uint8_t p[3 * 4105 + 64];
	struct seen s = { .fail_at = -1 };
	struct err e;
	size_t n;

	(void)state;
	/* A bad entry anywhere changes nothing: nothing is applied. */
	n = batch(p, 3, (uint64_t[]){ 1, 2, 16 }, (uint8_t[]){ 1, 0, 1 }, 3);
	assert_int_equal(stream_pages_decode(p, n, 16, record_page, &s, &e), -1);
	expect_err(e, "pages record: page index 16 beyond memory (16 pages)");
	assert_int_equal(s.n, 0);
	n = batch(p, 2, (uint64_t[]){ 1, 2 }, (uint8_t[]){ 1, 2 }, 2);
	assert_int_equal(stream_pages_decode(p, n, 16, record_page, &s, &e), -1);
	expect_err(e, "pages record: page 2 has unknown encoding 2");
	assert_int_equal(s.n, 0);
	/* Raw data cut short. */
	n = batch(p, 2, (uint64_t[]){ 1, 2 }, (uint8_t[]){ 0, 1 }, 2);
	assert_int_equal(stream_pages_decode(p, n - 1, 16, record_page, &s, &e), -1);
	expect_err(e, "pages record: data of page 2 truncated (4095 of 4096 bytes)");
	/* The count promises more than there is, or less. */
	n = batch(p, 3, (uint64_t[]){ 1, 2 }, (uint8_t[]){ 0, 0 }, 2);
	assert_int_equal(stream_pages_decode(p, n, 16, record_page, &s, &e), -1);
	expect_err(e, "pages record: truncated in the index or encoding of page 2 of 3");
	n = batch(p, 1, (uint64_t[]){ 1, 2 }, (uint8_t[]){ 0, 0 }, 2);
	assert_int_equal(stream_pages_decode(p, n, 16, record_page, &s, &e), -1);
	expect_err(e, "pages record: 9 bytes after the last page");
	/* Above the per-record limit, and a header cut short. */
	n = batch(p, STREAM_PAGES_PER_RECORD + 1, NULL, NULL, 0);
	assert_int_equal(stream_pages_decode(p, n, 16, record_page, &s, &e), -1);
	expect_err(e, "pages record: count 257 above the limit of 256");
	assert_int_equal(stream_pages_decode(p, 7, 16, record_page, &s, &e), -1);
	expect_err(e, "pages record of 7 bytes: truncated in its round and count");
	assert_int_equal(s.n, 0);
	/* A failing apply stops the decoding and is passed on. */
	n = batch(p, 3, (uint64_t[]){ 1, 2, 3 }, (uint8_t[]){ 0, 0, 0 }, 3);
	s.fail_at = 1;
	assert_int_equal(stream_pages_decode(p, n, 16, record_page, &s, &e), -1);
	assert_int_equal(s.n, 1);
}

static void test_page_apply(void **state)
{
	struct ram r;
	struct err e;
	uint8_t page[4096], table[16 * HASH_ENTRY_SIZE];
	uint32_t rounds[16] = { 0 };
	struct stream_page_sink sink = { .ram = &r, .round = rounds, .hash = table };

	(void)state;
	assert_int_equal(ram_init(&r, TH_RAM, 16 * 4096, &e), 0);
	sink.zero_hash = hash_zero_page();
	for (int i = 0; i < 16; i++)
		hash_page_set(table, (uint64_t)i, sink.zero_hash);
	assert_int_equal(hash_pages(table, 16), ram_hash(&r));
	memset(page, 0x42, sizeof(page));
	/* Round 2 writes page 5; a round 1 copy arriving later is dropped; round 3 zeroes it. */
	assert_int_equal(stream_page_apply(&sink, 2, 5, page), 1);
	assert_memory_equal(ram_ptr(&r, TH_RAM + 5 * 4096), page, 4096);
	assert_int_equal(le_get_u64(table + 5 * 8), hash_page(page));
	assert_true((r.dirty[0] >> 5) & 1); /* through the accessors: marked dirty */
	assert_int_equal(hash_pages(table, 16), ram_hash(&r));
	memset(page, 0x17, sizeof(page));
	assert_int_equal(stream_page_apply(&sink, 1, 5, page), 0);
	assert_int_equal(ram_ptr(&r, TH_RAM + 5 * 4096)[0], 0x42);
	assert_int_equal(stream_page_apply(&sink, 2, 5, page), 1); /* the same round: applied */
	assert_int_equal(ram_ptr(&r, TH_RAM + 5 * 4096)[0], 0x17);
	assert_int_equal(stream_page_apply(&sink, 3, 5, NULL), 1);
	assert_true(stream_page_is_zero(ram_ptr(&r, TH_RAM + 5 * 4096)));
	assert_int_equal(le_get_u64(table + 5 * 8), sink.zero_hash);
	assert_int_equal(rounds[5], 3);
	/* Without rounds (a file): every copy lands. */
	struct stream_page_sink file = { .ram = &r };

	assert_int_equal(stream_page_apply_cb(&file, 0, 6, page), 0);
	assert_int_equal(ram_ptr(&r, TH_RAM + 6 * 4096)[4095], 0x17);
	ram_destroy(&r);
}

/* ---- the clock record ----------------------------------------------------------------------- */

static void test_clock_record(void **state)
{
	struct stream_clock c = { .guest_ns = 0x1122334455667788ull, .realtime_ns = -2, .mode = 1 },
			    d;
	struct buf b;
	struct err e;

	(void)state;
	buf_init(&b);
	stream_clock_encode(&b, &c);
	assert_int_equal(b.len, STREAM_CLOCK_SIZE);
	assert_memory_equal(
	    b.p, ((uint8_t[]){ 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0xfe, 0xff,
			       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1,	 0,    0,    0 }),
	    20);
	assert_int_equal(stream_clock_decode(b.p, b.len, &d, &e), 0);
	assert_int_equal(d.guest_ns, c.guest_ns);
	assert_int_equal(d.realtime_ns, -2);
	assert_int_equal(d.mode, 1);
	assert_int_equal(stream_clock_decode(b.p, 19, &d, &e), -1);
	expect_err(e, "clock record of 19 bytes, expected 20");
	buf_put_u8(&b, 0);
	assert_int_equal(stream_clock_decode(b.p, b.len, &d, &e), -1);
	expect_err(e, "clock record of 21 bytes, expected 20");
	b.p[16] = 2;
	assert_int_equal(stream_clock_decode(b.p, 20, &d, &e), -1);
	expect_err(e, "clock record: unknown clock mode 2");
	buf_free(&b);
}

/* ---- hashes -------------------------------------------------------------------------------- */

static void test_hashes(void **state)
{
	static uint8_t mem[8 * 4096];
	uint8_t table[8 * HASH_ENTRY_SIZE];

	(void)state;
	/* XXH3-64 of nothing (xxHash's own test vector): the algorithm is XXH3, seed 0. */
	assert_int_equal(hash_bytes("", 0), 0x2d06800538d394c2ull);
	for (size_t i = 0; i < sizeof(mem); i++)
		mem[i] = (uint8_t)(i * 31 + (i >> 12));
	memset(mem + 2 * 4096, 0, 4096);
	/* The RAM hash is the hash of the page hashes, in order, as 8 little-endian bytes. */
	for (uint64_t p = 0; p < 8; p++)
		le_put_u64(table + p * 8, hash_bytes(mem + p * 4096, 4096));
	assert_int_equal(hash_memory(mem, 8), hash_bytes(table, sizeof(table)));
	assert_int_equal(hash_memory(mem, 8), hash_pages(table, 8));
	assert_int_equal(hash_page(mem + 2 * 4096), hash_zero_page());
	/* Position matters: the same pages in another order hash differently. */
	uint8_t swapped[8 * HASH_ENTRY_SIZE];

	memcpy(swapped, table + 8, 8);
	memcpy(swapped + 8, table, 8);
	memcpy(swapped + 16, table + 16, sizeof(table) - 16);
	assert_int_not_equal(hash_pages(swapped, 8), hash_pages(table, 8));
	/* More pages than one chunk of the incremental hash (512). */
	static uint8_t big[1030 * 4096];
	static uint8_t bigt[1030 * HASH_ENTRY_SIZE];

	big[1029 * 4096 + 7] = 1;
	for (uint64_t p = 0; p < 1030; p++)
		hash_page_set(bigt, p, hash_page(big + p * 4096));
	assert_int_equal(hash_memory(big, 1030), hash_pages(bigt, 1030));
}

/* ---- the migration HELLO ------------------------------------------------------------------- */

static void test_hello_layout(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	mig_hello(&b, "tok", MIG_ROLE_DATA, 2);
	assert_int_equal(b.len, MIG_HELLO_FIXED + 3 + 4);
	assert_memory_equal(b.p, "FERRYMIG", 8);
	assert_int_equal(le_get_u32(b.p + 8), STREAM_VERSION);
	assert_int_equal(le_get_u32(b.p + 12), 1);
	assert_int_equal(le_get_u32(b.p + 16), 2);
	assert_int_equal(le_get_u32(b.p + 20), 3);
	assert_memory_equal(b.p + 24, "tok", 3);
	assert_int_equal(le_get_u32(b.p + 27), STATE_VERSION);
	buf_free(&b);
}

static void test_versions_check(void **state)
{
	struct err e;

	(void)state;
	assert_int_equal(stream_versions_check(&(struct stream_versions){ 1, 1 }, &e), 0);
	assert_int_equal(stream_versions_check(&(struct stream_versions){ 2, STATE_VERSION }, &e),
			 0);
	assert_int_equal(stream_versions_check(&(struct stream_versions){ 3, STATE_VERSION }, &e),
			 0);
	assert_int_equal(stream_versions_check(&(struct stream_versions){ 4, 1 }, &e), -1);
	expect_err(e, "stream format 4, this ferry-vm reads formats 1 to 3");
	assert_int_equal(stream_versions_check(&(struct stream_versions){ 2, 9 }, &e), -1);
	expect_err(e, "machine state version 9, this ferry-vm reads state versions 1 to 2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_le_layout),	cmocka_unit_test(test_buf_codec),
		cmocka_unit_test(test_crc32c),		cmocka_unit_test(test_frame_layout),
		cmocka_unit_test(test_parse),		cmocka_unit_test(test_header_v2_layout),
		cmocka_unit_test(test_header_versions), cmocka_unit_test(test_read_records),
		cmocka_unit_test(test_pages_layout),	cmocka_unit_test(test_pages_refused),
		cmocka_unit_test(test_page_apply),	cmocka_unit_test(test_clock_record),
		cmocka_unit_test(test_hashes),		cmocka_unit_test(test_hello_layout),
		cmocka_unit_test(test_versions_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
