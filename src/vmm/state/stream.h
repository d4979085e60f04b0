/* stream.h - the machine stream: how a machine's state travels, to a file or over a socket.
 *
 * A stream is a header then typed records (docs/migration-stream.md):
 *
 *   header   "FERRYVM\0" | u32 format version | u32 flags | u32 state version      (20 bytes;
 *            format 1 had no state version: 16 bytes)
 *   record   u32 type | u32 length | payload[length] | u32 crc32c       (type, length, payload)
 *
 * All integers little endian (common/le.h). A reader checks the magic, the versions, every
 * record's type, length bound and checksum before it looks inside; a payload is then
 * decoded with bounds-checked reads (struct rbuf), so a truncated, corrupt or hostile stream
 * ends with an error naming what was wrong. The records themselves are the same in formats
 * 1 and 2; a reader takes both.
 */
#ifndef FERRY_STREAM_H
#define FERRY_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "vmm/core/ram.h"

#define STREAM_MAGIC "FERRYVM" /* 8 bytes with its NUL */
#define STREAM_VERSION 3       /* the format this ferry-vm writes */
#define STREAM_VERSION_MIN 1   /* the oldest it reads */
#define STREAM_HEADER_SIZE 20  /* format 2; format 1's was 16 */
#define STREAM_HEADER_SIZE_V1 16
/* The largest payload of any record, in a file or on a migration channel; a reader refuses a
 * longer one before reading it. A full page batch is 8 + 256 * (9 + 4096) bytes. */
#define STREAM_RECORD_MAX (2u << 20)
#define STREAM_RECORD_OVERHEAD 12 /* type, length, checksum */
#define STREAM_PAGES_PER_RECORD 256

enum stream_type {
	STREAM_CONFIG = 1, /* JSON: what the guest sees (memory, harts, ISA, devices, clock) */
	STREAM_PAGES = 2,  /* u32 count, then per page: u64 page index, u8 encoding, data */
	STREAM_DEVICE = 3, /* one device's state section (state.h) */
	STREAM_CLOCK = 4,  /* u64 guest ns, i64 realtime ns at the source, u32 mode */
	STREAM_END = 5,	   /* empty: the stream is complete */
	STREAM_CTRL = 6,   /* migration control channel: a JSON message */
	STREAM_DRAIN = 7,  /* migration data channel: u32 round; nothing older follows */
	STREAM_FRAME = 8,  /* migration control channel: u32 network index, a frame that reached
			    * the paused source (virtio-net header included), for the guest */
	STREAM_TYPE_MAX = 8,
};

/* Page encodings in a STREAM_PAGES record. */
enum stream_page_enc {
	STREAM_PAGE_ZERO = 0, /* all zero: no data */
	STREAM_PAGE_RAW = 1,  /* 4096 bytes follow */
};

uint32_t stream_crc32c(uint32_t crc, const void *p, size_t n);
const char *stream_type_name(uint32_t type);

/* What a stream's writer says it wrote: the format, and the newest state version of its
 * device sections (1 in a format 1 stream). */
struct stream_versions {
	uint32_t format;
	uint32_t state;
};

/* Can this ferry-vm read what v says? 0, or -1 with e naming the version it cannot read and
 * the range it can. */
int stream_versions_check(const struct stream_versions *v, struct err *e);

/* Append one framed record (header, payload, checksum) to b. */
void stream_frame(struct buf *b, uint32_t type, const void *payload, size_t len);
/* Parse one record at the start of p[0..len): returns 1 with *type, *payload, *plen and *used
 * (bytes the record occupies) set; 0 if more bytes are needed; -1 with e set if the record is
 * malformed (unknown type, longer than STREAM_RECORD_MAX, checksum mismatch). */
int stream_parse(const uint8_t *p, size_t len, uint32_t *type, const uint8_t **payload,
		 uint32_t *plen, size_t *used, struct err *e);

/* A PAGES record under construction: u32 round, u32 count, then per page u64 index, u8
 * encoding and (raw) 4096 bytes. */
struct stream_pages {
	struct buf b;
	uint32_t count;
};

void stream_pages_begin(struct stream_pages *sp, uint32_t round);
/* Add a page (zero pages are detected and cost 9 bytes). */
void stream_pages_add(struct stream_pages *sp, uint64_t pfn, const uint8_t *page);
/* Patch the count in; the payload is sp->b.p, sp->b.len. */
void stream_pages_end(struct stream_pages *sp);
/* Decode a PAGES payload, validating every entry (index below npages, known encoding, exact
 * length) before calling apply(ctx, round, pfn, data) for each page, data NULL for a zero page.
 * Returns 0, or -1 with e set. */
int stream_pages_decode(const uint8_t *p, size_t len, uint64_t npages,
			int (*apply)(void *ctx, uint32_t round, uint64_t pfn, const uint8_t *data),
			void *ctx, struct err *e);
/* Is a 4 KiB page all zero? */
bool stream_page_is_zero(const uint8_t *page);

/* Where decoded pages go: guest RAM; with round, the newest round applied per page (a
 * migration: an older copy is dropped); with hash, a table of page hashes (common/hash.h)
 * kept up to date, zero_hash being a zero page's. */
struct stream_page_sink {
	struct ram *ram;
	uint32_t *round;
	uint8_t *hash;
	uint64_t zero_hash;
};

/* Apply one page (data NULL: a zero page). Returns 1, or 0 if it was older than the round
 * already applied to that page and so dropped. The one way pages from a stream reach RAM:
 * snapshots and the migration destination both use it. */
int stream_page_apply(const struct stream_page_sink *s, uint32_t round, uint64_t pfn,
		      const uint8_t *data);
/* stream_page_apply as a stream_pages_decode callback, ctx the sink (a file's pages). */
int stream_page_apply_cb(void *ctx, uint32_t round, uint64_t pfn, const uint8_t *data);

/* The CLOCK record: u64 guest time in ns, i64 the source's CLOCK_REALTIME in ns, u32 clock mode
 * (0 host, 1 icount). */
#define STREAM_CLOCK_SIZE 20
/* A clock record's source realtime lies within +-2^62 ns (+-146 years around 1970) and its guest
 * time within GCLOCK_NS_MAX: differences of two such values never overflow. */
#define STREAM_REALTIME_MAX ((int64_t)1 << 62)

struct stream_clock {
	uint64_t guest_ns;
	int64_t realtime_ns;
	uint32_t mode;
};

void stream_clock_encode(struct buf *b, const struct stream_clock *c);
/* Returns 0, or -1 with e naming the record and what is wrong. */
int stream_clock_decode(const uint8_t *p, size_t len, struct stream_clock *c, struct err *e);

/* Writing to a descriptor, buffered. The first error sticks and is reported by finish. */
struct stream_writer {
	int fd;
	struct buf b;
	uint64_t bytes; /* written so far */
	int error;	/* errno of the first failure */
};

void stream_writer_init(struct stream_writer *w, int fd);
/* The header of format STREAM_VERSION, at state version STATE_VERSION. */
void stream_write_header(struct stream_writer *w);
void stream_write_record(struct stream_writer *w, uint32_t type, const void *payload, size_t len);
/* Flush; returns 0 or -1 with e set. Frees the buffer. */
int stream_writer_finish(struct stream_writer *w, struct err *e);

/* Reading from a descriptor: the header of any format this ferry-vm reads (v set to what it
 * says), refusing others with the versions named. */
int stream_read_header(int fd, struct stream_versions *v, struct err *e);
/* Read the next record into payload (reset first). Returns 0 with *type set, or -1. */
int stream_read_record(int fd, uint32_t *type, struct buf *payload, struct err *e);

#endif
