/* stream.c - stream framing (header, records, CRC32C), page batches, the clock record. */
#include "vmm/state/stream.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/le.h"
#include "common/state.h"
#include "vmm/core/gclock.h"

static uint32_t crc_table[8][256];
static bool crc_ready;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1))); /* CRC32C, reflected */
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] =
			    (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
	crc_ready = true;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t n)
{
	uint64_t c = crc;

	while (n >= 8) {
		c = __builtin_ia32_crc32di(c, le_get_u64(p));
		p += 8;
		n -= 8;
	}
	while (n--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}
#endif

/* Slicing-by-8 in software where the CPU has no CRC32C instruction. */
static uint32_t crc_sw(uint32_t c, const uint8_t *p, size_t n)
{
	if (!crc_ready)
		crc_init();
	while (n >= 8) {
		uint32_t lo = le_get_u32(p) ^ c, hi = le_get_u32(p + 4);

		c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		    crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		    crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		    crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		n -= 8;
	}
	while (n--)
		c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
	return c;
}

uint32_t stream_crc32c(uint32_t crc, const void *p, size_t n)
{
	uint32_t c = ~crc;

#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return ~crc_hw(c, p, n);
#endif
	return ~crc_sw(c, p, n);
}

const char *stream_type_name(uint32_t type)
{
	static const char *const names[] = { "?",   "config", "pages", "device", "clock",
					     "end", "ctrl",   "drain", "frame" };

	return type <= STREAM_TYPE_MAX ? names[type] : "unknown";
}

void stream_writer_init(struct stream_writer *w, int fd)
{
	w->fd = fd;
	buf_init(&w->b);
	w->bytes = 0;
	w->error = 0;
}

static void stream_flush(struct stream_writer *w)
{
	size_t off = 0;

	if (w->b.oom && !w->error)
		w->error = ENOMEM;
	while (!w->error && off < w->b.len) {
		ssize_t n = write(w->fd, w->b.p + off, w->b.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			w->error = n < 0 ? errno : EIO;
			break;
		}
		off += (size_t)n;
		w->bytes += (uint64_t)n;
	}
	buf_reset(&w->b);
}

void stream_write_header(struct stream_writer *w)
{
	uint8_t magic[8] = STREAM_MAGIC;

	buf_put(&w->b, magic, 8);
	buf_put_u32(&w->b, STREAM_VERSION);
	buf_put_u32(&w->b, 0);
	buf_put_u32(&w->b, STATE_VERSION);
}

int stream_versions_check(const struct stream_versions *v, struct err *e)
{
	if (v->format < STREAM_VERSION_MIN || v->format > STREAM_VERSION)
		return err_set(e, "stream format %u, this ferry-vm reads formats %u to %u",
			       v->format, STREAM_VERSION_MIN, STREAM_VERSION);
	if (v->state < 1 || v->state > STATE_VERSION)
		return err_set(
		    e,
		    "machine state version %u, this ferry-vm reads state versions 1 to %u "
		    "(a newer ferry-vm wrote it)",
		    v->state, STATE_VERSION);
	return 0;
}

void stream_frame(struct buf *b, uint32_t type, const void *payload, size_t len)
{
	uint8_t head[8];
	uint32_t crc;

	le_put_u32(head, type);
	le_put_u32(head + 4, (uint32_t)len);
	crc = stream_crc32c(0, head, 8);
	crc = stream_crc32c(crc, payload, len);
	buf_put(b, head, 8);
	buf_put(b, payload, len);
	buf_put_u32(b, crc);
}

/* The checks of a record header, the same for a buffer and a descriptor. */
static int stream_check_head(uint32_t t, uint32_t n, struct err *e)
{
	if (t == 0 || t > STREAM_TYPE_MAX)
		return err_set(e, "unknown record type %u", t);
	if (n > STREAM_RECORD_MAX)
		return err_set(e, "%s record of %u bytes exceeds the limit of %u",
			       stream_type_name(t), n, STREAM_RECORD_MAX);
	return 0;
}

int stream_parse(const uint8_t *p, size_t len, uint32_t *type, const uint8_t **payload,
		 uint32_t *plen, size_t *used, struct err *e)
{
	uint32_t t, n, want, crc;

	if (len < 8)
		return 0;
	t = le_get_u32(p);
	n = le_get_u32(p + 4);
	if (stream_check_head(t, n, e) < 0)
		return -1;
	if (len - 8 < (size_t)n + 4)
		return 0;
	want = le_get_u32(p + 8 + n);
	crc = stream_crc32c(0, p, 8);
	crc = stream_crc32c(crc, p + 8, n);
	if (crc != want)
		return err_set(e, "%s record of %u bytes: checksum mismatch", stream_type_name(t),
			       n);
	*type = t;
	*payload = p + 8;
	*plen = n;
	*used = 8 + (size_t)n + 4;
	return 1;
}

void stream_write_record(struct stream_writer *w, uint32_t type, const void *payload, size_t len)
{
	stream_frame(&w->b, type, payload, len);
	if (w->b.len >= (1u << 20))
		stream_flush(w);
}

int stream_writer_finish(struct stream_writer *w, struct err *e)
{
	stream_flush(w);
	buf_free(&w->b);
	if (w->error) {
		errno = w->error;
		return err_errno(e, "writing the stream");
	}
	return 0;
}

/* Read exactly n bytes; 0 at a clean end before any byte, -1 on error or a short read. */
static int read_full(int fd, void *p, size_t n, struct err *e, const char *what)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (uint8_t *)p + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_errno(e, "reading %s", what);
		if (r == 0)
			return err_set(e, "stream truncated in %s (%zu of %zu bytes)", what, got,
				       n);
		got += (size_t)r;
	}
	return 0;
}

int stream_read_header(int fd, struct stream_versions *v, struct err *e)
{
	uint8_t h[STREAM_HEADER_SIZE];
	uint32_t flags;

	/* Format 1's header is a prefix of format 2's: read it, then what its version adds. */
	if (read_full(fd, h, STREAM_HEADER_SIZE_V1, e, "the header") < 0)
		return -1;
	if (memcmp(h, STREAM_MAGIC, 8) != 0)
		return err_set(e, "not a Ferry machine stream (bad magic)");
	v->format = le_get_u32(h + 8);
	flags = le_get_u32(h + 12);
	v->state = 1;
	if (v->format >= 2 && v->format <= STREAM_VERSION) {
		if (read_full(fd, h + STREAM_HEADER_SIZE_V1, 4, e, "the header") < 0)
			return -1;
		v->state = le_get_u32(h + STREAM_HEADER_SIZE_V1);
	}
	if (stream_versions_check(v, e) < 0)
		return -1;
	if (flags != 0)
		return err_set(e, "stream flags 0x%x not understood", flags);
	return 0;
}

int stream_read_record(int fd, uint32_t *type, struct buf *payload, struct err *e)
{
	uint8_t head[8], tail[4];
	uint32_t t, len, crc, want;

	if (read_full(fd, head, 8, e, "a record header") < 0)
		return -1;
	t = le_get_u32(head);
	len = le_get_u32(head + 4);
	if (stream_check_head(t, len, e) < 0)
		return -1;
	buf_reset(payload);
	if (len) {
		uint8_t *at = buf_extend(payload, len);

		if (!at)
			return err_set(e, "out of memory for a %u-byte record", len);
		if (read_full(fd, at, len, e, stream_type_name(t)) < 0)
			return -1;
	}
	if (read_full(fd, tail, 4, e, "a record checksum") < 0)
		return -1;
	want = le_get_u32(tail);
	crc = stream_crc32c(0, head, 8);
	crc = stream_crc32c(crc, payload->p, len);
	if (crc != want)
		return err_set(e, "%s record of %u bytes: checksum mismatch", stream_type_name(t),
			       len);
	*type = t;
	return 0;
}

bool stream_page_is_zero(const uint8_t *page)
{
	uint64_t acc = 0;

	for (unsigned i = 0; i < 4096; i += 8) {
		uint64_t v;

		memcpy(&v, page + i, 8);
		acc |= v;
	}
	return acc == 0;
}

void stream_pages_begin(struct stream_pages *sp, uint32_t round)
{
	buf_reset(&sp->b);
	buf_put_u32(&sp->b, round);
	buf_put_u32(&sp->b, 0);
	sp->count = 0;
}

void stream_pages_add(struct stream_pages *sp, uint64_t pfn, const uint8_t *page)
{
	buf_put_u64(&sp->b, pfn);
	if (stream_page_is_zero(page)) {
		buf_put_u8(&sp->b, STREAM_PAGE_ZERO);
	} else {
		buf_put_u8(&sp->b, STREAM_PAGE_RAW);
		buf_put(&sp->b, page, 4096);
	}
	sp->count++;
}

void stream_pages_end(struct stream_pages *sp)
{
	if (sp->b.len >= 8 && !sp->b.oom)
		le_put_u32(sp->b.p + 4, sp->count);
}

int stream_pages_decode(const uint8_t *p, size_t len, uint64_t npages,
			int (*apply)(void *ctx, uint32_t round, uint64_t pfn, const uint8_t *data),
			void *ctx, struct err *e)
{
	struct rbuf r;
	uint32_t round, count;

	/* First pass: validate everything, so a bad record changes no page. */
	rbuf_init(&r, p, len);
	if (!rbuf_get_u32(&r, &round) || !rbuf_get_u32(&r, &count))
		return err_set(e, "pages record of %zu bytes: truncated in its round and count",
			       len);
	if (count > STREAM_PAGES_PER_RECORD)
		return err_set(e, "pages record: count %u above the limit of %d", count,
			       STREAM_PAGES_PER_RECORD);
	for (uint32_t i = 0; i < count; i++) {
		uint64_t pfn;
		uint8_t enc;

		if (!rbuf_get_u64(&r, &pfn) || !rbuf_get_u8(&r, &enc))
			return err_set(
			    e, "pages record: truncated in the index or encoding of page %u of %u",
			    i, count);
		if (pfn >= npages)
			return err_set(e,
				       "pages record: page index %llu beyond memory (%llu pages)",
				       (unsigned long long)pfn, (unsigned long long)npages);
		if (enc == STREAM_PAGE_RAW) {
			if (rbuf_left(&r) < 4096)
				return err_set(
				    e,
				    "pages record: data of page %llu truncated (%zu of 4096 bytes)",
				    (unsigned long long)pfn, rbuf_left(&r));
			r.pos += 4096;
		} else if (enc != STREAM_PAGE_ZERO) {
			return err_set(e, "pages record: page %llu has unknown encoding %u",
				       (unsigned long long)pfn, enc);
		}
	}
	if (rbuf_left(&r))
		return err_set(e, "pages record: %zu bytes after the last page", rbuf_left(&r));
	/* Second pass: apply. */
	rbuf_init(&r, p + 8, len - 8);
	for (uint32_t i = 0; i < count; i++) {
		uint64_t pfn;
		uint8_t enc;

		rbuf_get_u64(&r, &pfn);
		rbuf_get_u8(&r, &enc);
		const uint8_t *data = NULL;

		if (enc == STREAM_PAGE_RAW) {
			data = r.p + r.pos;
			r.pos += 4096;
		}
		if (apply(ctx, round, pfn, data) < 0)
			return -1;
	}
	return 0;
}

int stream_page_apply(const struct stream_page_sink *s, uint32_t round, uint64_t pfn,
		      const uint8_t *data)
{
	uint64_t gpa = s->ram->base + pfn * RAM_PAGE_SIZE;

	/* An older copy than the newest applied is stale: a later round already replaced it. */
	if (s->round) {
		if (round < s->round[pfn])
			return 0;
		s->round[pfn] = round;
	}
	if (data)
		ram_write(s->ram, gpa, data, RAM_PAGE_SIZE);
	else
		ram_fill(s->ram, gpa, 0, RAM_PAGE_SIZE);
	if (s->hash)
		hash_page_set(s->hash, pfn, data ? hash_page(data) : s->zero_hash);
	return 1;
}

int stream_page_apply_cb(void *ctx, uint32_t round, uint64_t pfn, const uint8_t *data)
{
	stream_page_apply(ctx, round, pfn, data);
	return 0;
}

void stream_clock_encode(struct buf *b, const struct stream_clock *c)
{
	buf_put_u64(b, c->guest_ns);
	buf_put_u64(b, (uint64_t)c->realtime_ns);
	buf_put_u32(b, c->mode);
}

int stream_clock_decode(const uint8_t *p, size_t len, struct stream_clock *c, struct err *e)
{
	if (len != STREAM_CLOCK_SIZE)
		return err_set(e, "clock record of %zu bytes, expected %d", len, STREAM_CLOCK_SIZE);
	c->guest_ns = le_get_u64(p);
	c->realtime_ns = (int64_t)le_get_u64(p + 8);
	c->mode = le_get_u32(p + 16);
	if (c->mode > GCLOCK_ICOUNT)
		return err_set(e, "clock record: unknown clock mode %u", c->mode);
	if (c->guest_ns > GCLOCK_NS_MAX)
		return err_set(e, "clock record: guest time %llu ns above the limit of %llu",
			       (unsigned long long)c->guest_ns, (unsigned long long)GCLOCK_NS_MAX);
	if (c->realtime_ns > STREAM_REALTIME_MAX || c->realtime_ns < -STREAM_REALTIME_MAX)
		return err_set(e, "clock record: realtime %lld ns out of range",
			       (long long)c->realtime_ns);
	return 0;
}
