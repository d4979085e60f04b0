/* stream.h - the machine stream: how a machine's state travels, to a file or over a socket.
 *
 * A stream is a header then typed records (docs/migration-stream.md):
 *
 *   header   "FERRYVM\0" | u32 version | u32 flags                      (16 bytes)
 *   record   u32 type | u32 length | payload[length] | u32 crc32c       (type, length, payload)
 *
 * All integers little endian. A reader checks the magic, the version, every
 * record's type, length bound and checksum before it looks inside; a payload
 * is then decoded with bounds-checked reads (struct rbuf), so a truncated,
 * corrupt or hostile stream ends with an error naming what was wrong.
 */
#ifndef FERRY_STREAM_H
#define FERRY_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define STREAM_MAGIC "FERRYVM"	/* 8 bytes with its NUL */
#define STREAM_VERSION 1
#define STREAM_HEADER_SIZE 16
#define STREAM_MAX_RECORD (8u << 20) /* largest payload a reader accepts */
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

/* Append one framed record (header, payload, checksum) to b. */
void stream_frame(struct buf *b, uint32_t type, const void *payload, size_t len);
/* Parse one record at the start of p[0..len): returns 1 with *type, *payload, *plen and *used
 * (bytes the record occupies) set; 0 if more bytes are needed; -1 with e set if the record is
 * malformed (unknown type, longer than max, checksum mismatch). */
int stream_parse(const uint8_t *p, size_t len, size_t max, uint32_t *type, const uint8_t **payload,
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

/* Writing to a descriptor, buffered. The first error sticks and is reported by finish. */
struct stream_writer {
	int fd;
	struct buf b;
	uint64_t bytes; /* written so far */
	int error;	/* errno of the first failure */
};

void stream_writer_init(struct stream_writer *w, int fd);
void stream_write_header(struct stream_writer *w);
void stream_write_record(struct stream_writer *w, uint32_t type, const void *payload, size_t len);
/* Flush; returns 0 or -1 with e set. Frees the buffer. */
int stream_writer_finish(struct stream_writer *w, struct err *e);

/* Reading from a descriptor. */
int stream_read_header(int fd, struct err *e);
/* Read the next record into payload (reset first). Returns 0 with *type set, or -1. */
int stream_read_record(int fd, uint32_t *type, struct buf *payload, struct err *e);

#endif
