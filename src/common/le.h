/* le.h - little-endian integers in byte buffers: the one codec for every format Ferry defines.
 *
 * The machine stream, the migration HELLO and every record's integers are little endian
 * (docs/migration-stream.md), whatever the host's byte order. Everything that puts an
 * integer into a record or takes one out goes through these (or through buf.h, which uses
 * them), never through a memcpy of a host integer. The compilers turn each into a single
 * load or store on a little-endian host.
 */
#ifndef FERRY_LE_H
#define FERRY_LE_H

#include <stdint.h>

static inline void le_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void le_put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void le_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t le_get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t le_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t le_get_u64(const uint8_t *p)
{
	return (uint64_t)le_get_u32(p + 4) << 32 | le_get_u32(p);
}

#endif
