/* buf.c - binary encoding and bounds-checked decoding. */
#include "common/buf.h"

#include "common/le.h"

#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b)
{
	memset(b, 0, sizeof(*b));
}

void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	b->oom = false;
}

uint8_t *buf_extend(struct buf *b, size_t n)
{
	uint8_t *at;

	if (b->oom)
		return NULL;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + n)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);

		if (!p) {
			b->oom = true;
			return NULL;
		}
		b->p = p;
		b->cap = cap;
	}
	at = b->p + b->len;
	b->len += n;
	return at;
}

void buf_put(struct buf *b, const void *data, size_t n)
{
	uint8_t *at = buf_extend(b, n);

	if (at && n)
		memcpy(at, data, n);
}

void buf_put_u8(struct buf *b, uint8_t v)
{
	buf_put(b, &v, 1);
}

void buf_put_u16(struct buf *b, uint16_t v)
{
	uint8_t x[2];

	le_put_u16(x, v);
	buf_put(b, x, 2);
}

void buf_put_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4];

	le_put_u32(x, v);
	buf_put(b, x, 4);
}

void buf_put_u64(struct buf *b, uint64_t v)
{
	uint8_t x[8];

	le_put_u64(x, v);
	buf_put(b, x, 8);
}

void buf_put_name(struct buf *b, const char *s)
{
	size_t n = strlen(s);

	if (n > 255)
		n = 255;
	buf_put_u8(b, (uint8_t)n);
	buf_put(b, s, n);
}

void rbuf_init(struct rbuf *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->pos = 0;
	r->bad = false;
}

bool rbuf_get(struct rbuf *r, void *out, size_t n)
{
	if (r->bad || r->len - r->pos < n) {
		r->bad = true;
		return false;
	}
	if (n)
		memcpy(out, r->p + r->pos, n);
	r->pos += n;
	return true;
}

bool rbuf_get_u8(struct rbuf *r, uint8_t *v)
{
	return rbuf_get(r, v, 1);
}

bool rbuf_get_u16(struct rbuf *r, uint16_t *v)
{
	uint8_t x[2];

	if (!rbuf_get(r, x, 2))
		return false;
	*v = le_get_u16(x);
	return true;
}

bool rbuf_get_u32(struct rbuf *r, uint32_t *v)
{
	uint8_t x[4];

	if (!rbuf_get(r, x, 4))
		return false;
	*v = le_get_u32(x);
	return true;
}

bool rbuf_get_u64(struct rbuf *r, uint64_t *v)
{
	uint8_t x[8];

	if (!rbuf_get(r, x, 8))
		return false;
	*v = le_get_u64(x);
	return true;
}

bool rbuf_get_name(struct rbuf *r, char *out)
{
	uint8_t n;

	if (!rbuf_get_u8(r, &n) || !rbuf_get(r, out, n))
		return false;
	out[n] = 0;
	return true;
}
