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
 *
 * The same accessors keep the hart's decode cache coherent. A page the hart
 * has decoded instructions from is a "code page" (a second bitmap); the first
 * write to it through any accessor calls the code hook (cpu.c), which drops
 * the decoded instructions, before the bytes change. The hart never caches a
 * write pointer to a code page (it drops its write-TLB entries for a page when
 * the page becomes one), so a store through the write-TLB never lands on code.
 */
#ifndef FERRY_RAM_H
#define FERRY_RAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/err.h"

#define RAM_PAGE_SHIFT 12
#define RAM_PAGE_SIZE (1u << RAM_PAGE_SHIFT)

struct ram {
	uint8_t *host; /* the mapping */
	uint64_t base; /* guest physical address of its first byte */
	uint64_t size; /* bytes, a multiple of RAM_PAGE_SIZE */
	uint64_t npages;
	uint64_t *dirty; /* one bit per page: written since the last collection */
	uint64_t nwords; /* words in dirty[] and code_pages[] */
	/* One bit per page: the hart holds instructions decoded from it. */
	uint64_t *code_pages;
	/* Called once when a code page is about to be written (its bit is already clear). */
	void (*code_hook)(void *opaque, uint64_t gpa);
	void *code_opaque;
	/* The harts' decode cache (ram_code_cache), or NULL: one for all of them. */
	void *code_cache;
	size_t code_cache_size;
	/* Bumped by the hart that changes what the other harts may hold of the cache: a cache
	 * page given to another RAM page, the cache emptied, a page that became a code page. A
	 * hart that has not seen the latest value drops its links into the cache and its
	 * write-TLB entries before it runs again (cpu.c). */
	uint64_t code_epoch;
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

/* A code page is about to be written: clear its bit and tell the hart (ram.c). */
void ram_code_written(struct ram *r, uint64_t pfn);

/* Every write path calls this before changing a page: marks it dirty and, if the hart decoded
 * instructions from it, has them dropped. */
static inline void ram_mark_dirty(struct ram *r, uint64_t gpa)
{
	uint64_t pfn = (gpa - r->base) >> RAM_PAGE_SHIFT;
	uint64_t bit = 1ull << (pfn & 63);

	r->dirty[pfn >> 6] |= bit;
	if (__builtin_expect((r->code_pages[pfn >> 6] & bit) != 0, 0))
		ram_code_written(r, pfn);
}

/* The hart is about to decode instructions from the page holding gpa: the next write to it,
 * through any accessor, calls the code hook first. */
static inline void ram_mark_code(struct ram *r, uint64_t gpa)
{
	uint64_t pfn = (gpa - r->base) >> RAM_PAGE_SHIFT;

	r->code_pages[pfn >> 6] |= 1ull << (pfn & 63);
}

static inline bool ram_is_code(const struct ram *r, uint64_t gpa)
{
	uint64_t pfn = (gpa - r->base) >> RAM_PAGE_SHIFT;

	return (r->code_pages[pfn >> 6] >> (pfn & 63)) & 1;
}

/* Install the hook called before a code page is written. */
void ram_set_code_hook(struct ram *r, void (*hook)(void *opaque, uint64_t gpa), void *opaque);
/* Forget every code page without calling the hook (the hart emptied its decode cache). */
void ram_code_forget_all(struct ram *r);
/* Forget one code page without calling the hook (the hart dropped its decoded copy). */
static inline void ram_unmark_code(struct ram *r, uint64_t gpa)
{
	uint64_t pfn = (gpa - r->base) >> RAM_PAGE_SHIFT;

	r->code_pages[pfn >> 6] &= ~(1ull << (pfn & 63));
}

/* Memory for the hart's decode cache: size bytes, zero-filled, committed by the host only as
 * it is touched, and living as long as RAM (ram_destroy unmaps it). The first call maps it;
 * later calls return the same mapping (size must not change). NULL if it cannot be mapped. */
void *ram_code_cache(struct ram *r, size_t size);
/* Zero the decode cache's memory and give it back to the host. */
void ram_code_cache_clear(struct ram *r);

/* The guest physical address of a host pointer into RAM (from ram_ptr or a TLB entry). */
static inline uint64_t ram_gpa_of(const struct ram *r, const uint8_t *p)
{
	return r->base + (uint64_t)(p - r->host);
}

static inline bool ram_is_dirty(const struct ram *r, uint64_t gpa)
{
	uint64_t pfn = (gpa - r->base) >> RAM_PAGE_SHIFT;

	return (r->dirty[pfn >> 6] >> (pfn & 63)) & 1;
}

/* Mark every page of [gpa, gpa+len) dirty (and drop decoded code, as ram_mark_dirty). The
 * range must be inside RAM. */
void ram_mark_range(struct ram *r, uint64_t gpa, uint64_t len);

/* Host pointer to the start of the page holding gpa, for writing: marks the page dirty first
 * (and drops decoded code of it). This is how the vCPU's write-TLB gets its pointers. */
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
/* The RAM hash (common/hash.h): what both sides of a migration and query-hash compare. */
uint64_t ram_hash(const struct ram *r);
/* The hash of page pfn (common/hash.h). */
uint64_t ram_page_hash(const struct ram *r, uint64_t pfn);

#endif
