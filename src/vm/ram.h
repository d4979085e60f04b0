/* ram.h - guest RAM: one anonymous mapping, written only through these accessors.
 *
 * Every write into guest RAM, by the vCPU or by a device, goes through a
 * function of this header, and each of them marks the written 4 KiB pages in
 * the dirty bitmap before (or as) the bytes change. The vCPU's write-TLB keeps
 * host pointers to RAM pages for speed; it gets them only from
 * ram_page_for_write(), which marks the page first. So a page that was
 * written since the last collection is always marked, provided whoever
 * collects the bitmap also drops the vCPU's write-TLB entries (see
 * docs/architecture.md, "Dirty tracking").
 *
 * Reads may use ram_ptr() freely. Writing through a pointer obtained any
 * other way is a bug that a test greps for.
 */
#ifndef FERRY_RAM_H
#define FERRY_RAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../common/err.h"

#define RAM_PAGE_SHIFT 12
#define RAM_PAGE_SIZE (1u << RAM_PAGE_SHIFT)

struct ram {
	uint8_t *host;	   /* the mapping */
	uint64_t base;	   /* guest physical address of its first byte */
	uint64_t size;	   /* bytes, a multiple of RAM_PAGE_SIZE */
	uint64_t npages;
	uint64_t *dirty;   /* one bit per page: written since the last collection */
	uint64_t nwords;   /* words in dirty[] */
};

int ram_init(struct ram *r, uint64_t base, uint64_t size, struct err *e);
void ram_destroy(struct ram *r);
/* Zero all of RAM (for a reboot); marks every page dirty. */
void ram_clear(struct ram *r);

/* True if [gpa, gpa+len) lies inside RAM. */
static inline bool ram_contains(const struct ram *r, uint64_t gpa, uint64_t len)
{
	return gpa >= r->base && len <= r->size && gpa - r->base <= r->size - len;
}

/* Read-only host pointer to a guest physical address inside RAM. */
static inline const uint8_t *ram_ptr(const struct ram *r, uint64_t gpa)
{
	return r->host + (gpa - r->base);
}

static inline void ram_mark_dirty(struct ram *r, uint64_t gpa)
{
	uint64_t pfn = (gpa - r->base) >> RAM_PAGE_SHIFT;

	r->dirty[pfn >> 6] |= 1ull << (pfn & 63);
}

static inline bool ram_is_dirty(const struct ram *r, uint64_t gpa)
{
	uint64_t pfn = (gpa - r->base) >> RAM_PAGE_SHIFT;

	return (r->dirty[pfn >> 6] >> (pfn & 63)) & 1;
}

/* Mark every page of [gpa, gpa+len) dirty. The range must be inside RAM. */
void ram_mark_range(struct ram *r, uint64_t gpa, uint64_t len);

/* Host pointer to the start of the page holding gpa, for writing: marks the page dirty first.
 * This is how the vCPU's write-TLB gets its pointers. */
static inline uint8_t *ram_page_for_write(struct ram *r, uint64_t gpa)
{
	ram_mark_dirty(r, gpa);
	return r->host + ((gpa - r->base) & ~(uint64_t)(RAM_PAGE_SIZE - 1));
}

/* Writable host pointer to [gpa, gpa+len) for a device that fills guest memory directly
 * (a disk read lands there with pread): marks every page of the range dirty first. The range
 * must be inside RAM, and the caller writes only within it. */
static inline uint8_t *ram_dma_ptr(struct ram *r, uint64_t gpa, uint64_t len)
{
	ram_mark_range(r, gpa, len);
	return r->host + (gpa - r->base);
}

/* Copy bytes in and out of RAM; the range must be inside RAM (checked by the caller). */
void ram_write(struct ram *r, uint64_t gpa, const void *src, uint64_t len);
void ram_fill(struct ram *r, uint64_t gpa, int byte, uint64_t len);
static inline void ram_read(const struct ram *r, uint64_t gpa, void *dst, uint64_t len)
{
	memcpy(dst, ram_ptr(r, gpa), len);
}

/* Little-endian scalar access to an address inside RAM; the store marks the page(s). */
static inline uint64_t ram_load(const struct ram *r, uint64_t gpa, unsigned size)
{
	uint64_t v = 0;

	memcpy(&v, ram_ptr(r, gpa), size);
	return v;
}

static inline void ram_store(struct ram *r, uint64_t gpa, uint64_t val, unsigned size)
{
	ram_write(r, gpa, &val, size);
}

/* Number of dirty pages. */
uint64_t ram_dirty_count(const struct ram *r);

#endif
