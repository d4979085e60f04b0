/* ram.c - guest RAM, its dirty bitmap and its code-page bitmap. */
#include "vmm/core/ram.h"

#include <stdlib.h>
#include <sys/mman.h>

#include "common/hash.h"

int ram_init(struct ram *r, uint64_t base, uint64_t size, struct err *e)
{
	memset(r, 0, sizeof(*r));
	if (size == 0 || size % RAM_PAGE_SIZE)
		return err_set(e, "memory size %llu is not a positive multiple of 4 KiB",
			       (unsigned long long)size);
	r->host = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->host == MAP_FAILED) {
		r->host = NULL;
		return err_errno(e, "cannot map %llu bytes of guest memory",
				 (unsigned long long)size);
	}
	r->base = base;
	r->size = size;
	r->npages = size >> RAM_PAGE_SHIFT;
	r->nwords = (r->npages + 63) / 64;
	r->dirty = calloc(r->nwords, sizeof(uint64_t));
	r->code_pages = calloc(r->nwords, sizeof(uint64_t));
	if (!r->dirty || !r->code_pages) {
		munmap(r->host, size);
		r->host = NULL;
		free(r->dirty);
		free(r->code_pages);
		r->dirty = r->code_pages = NULL;
		return err_set(e, "out of memory for the dirty bitmap");
	}
	return 0;
}

void ram_destroy(struct ram *r)
{
	if (r->host)
		munmap(r->host, r->size);
	free(r->dirty);
	free(r->code_pages);
	if (r->code_cache)
		munmap(r->code_cache, r->code_cache_size);
	memset(r, 0, sizeof(*r));
}

void *ram_code_cache(struct ram *r, size_t size)
{
	void *p;

	if (r->code_cache)
		return r->code_cache_size == size ? r->code_cache : NULL;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	r->code_cache = p;
	r->code_cache_size = size;
	return p;
}

void ram_code_cache_clear(struct ram *r)
{
	if (r->code_cache && madvise(r->code_cache, r->code_cache_size, MADV_DONTNEED) != 0)
		memset(r->code_cache, 0, r->code_cache_size);
}

void ram_code_written(struct ram *r, uint64_t pfn)
{
	r->code_pages[pfn >> 6] &= ~(1ull << (pfn & 63));
	if (r->code_hook)
		r->code_hook(r->code_opaque, r->base + (pfn << RAM_PAGE_SHIFT));
}

void ram_set_code_hook(struct ram *r, void (*hook)(void *opaque, uint64_t gpa), void *opaque)
{
	r->code_hook = hook;
	r->code_opaque = opaque;
}

void ram_code_forget_all(struct ram *r)
{
	memset(r->code_pages, 0, r->nwords * sizeof(uint64_t));
}

void ram_mark_range(struct ram *r, uint64_t gpa, uint64_t len)
{
	uint64_t first, last;

	if (len == 0)
		return;
	first = (gpa - r->base) >> RAM_PAGE_SHIFT;
	last = (gpa - r->base + len - 1) >> RAM_PAGE_SHIFT;
	for (uint64_t p = first; p <= last; p++) {
		r->dirty[p >> 6] |= 1ull << (p & 63);
		if (r->code_pages[p >> 6] & (1ull << (p & 63)))
			ram_code_written(r, p);
	}
}

void ram_write(struct ram *r, uint64_t gpa, const void *src, uint64_t len)
{
	ram_mark_range(r, gpa, len);
	memcpy(r->host + (gpa - r->base), src, len);
}

void ram_fill(struct ram *r, uint64_t gpa, int byte, uint64_t len)
{
	ram_mark_range(r, gpa, len);
	memset(r->host + (gpa - r->base), byte, len);
}

void ram_clear(struct ram *r)
{
	/* Mark first (and drop decoded code), then give the pages back to the kernel: they read
	 * as zero afterwards. */
	ram_mark_range(r, r->base, r->size);
	if (madvise(r->host, r->size, MADV_DONTNEED) != 0)
		memset(r->host, 0, r->size);
}

uint64_t ram_dirty_count(const struct ram *r)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < r->nwords; i++)
		n += (uint64_t)__builtin_popcountll(r->dirty[i]);
	return n;
}

uint64_t ram_hash(const struct ram *r)
{
	return hash_memory(r->host, r->npages);
}

uint64_t ram_page_hash(const struct ram *r, uint64_t pfn)
{
	return hash_page(r->host + pfn * RAM_PAGE_SIZE);
}
