/* buf.h - little-endian binary encoding into a growing buffer, and bounds-checked decoding.
 *
 * The decoder never reads past its end: every get returns false once the
 * input is exhausted, and the reader remembers that it failed, so a run of
 * gets can be checked once at the end.
 */
#ifndef FERRY_BUF_H
#define FERRY_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
void buf_put(struct buf *b, const void *data, size_t n);
/* Grow by n bytes and return where they start (contents undefined), or NULL if out of memory. */
uint8_t *buf_extend(struct buf *b, size_t n);
void buf_put_u8(struct buf *b, uint8_t v);
void buf_put_u16(struct buf *b, uint16_t v);
void buf_put_u32(struct buf *b, uint32_t v);
void buf_put_u64(struct buf *b, uint64_t v);
/* A string as u8 length + bytes (at most 255). */
void buf_put_name(struct buf *b, const char *s);

struct rbuf {
	const uint8_t *p;
	size_t len, pos;
	bool bad; /* a get ran past the end */
};

void rbuf_init(struct rbuf *r, const void *p, size_t len);
bool rbuf_get(struct rbuf *r, void *out, size_t n);
bool rbuf_get_u8(struct rbuf *r, uint8_t *v);
bool rbuf_get_u16(struct rbuf *r, uint16_t *v);
bool rbuf_get_u32(struct rbuf *r, uint32_t *v);
bool rbuf_get_u64(struct rbuf *r, uint64_t *v);
/* A u8-length name into out (NUL-terminated; out must hold 256 bytes). */
bool rbuf_get_name(struct rbuf *r, char *out);
static inline size_t rbuf_left(const struct rbuf *r)
{
	return r->len - r->pos;
}

#endif
