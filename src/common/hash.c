/* hash.c - XXH3-64 over bytes, pages and tables of page hashes (hash.h). */
#include "common/hash.h"

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

uint64_t hash_bytes(const void *p, size_t n)
{
	return XXH3_64bits(p, n);
}

uint64_t hash_page(const void *page)
{
	return XXH3_64bits(page, HASH_PAGE_SIZE);
}

uint64_t hash_zero_page(void)
{
	static const uint8_t zero[HASH_PAGE_SIZE];

	return hash_page(zero);
}

uint64_t hash_pages(const uint8_t *table, uint64_t npages)
{
	return XXH3_64bits(table, (size_t)npages * HASH_ENTRY_SIZE);
}

uint64_t hash_memory(const uint8_t *mem, uint64_t npages)
{
	XXH3_state_t st;
	uint8_t chunk[512 * HASH_ENTRY_SIZE];
	size_t fill = 0;

	XXH3_INITSTATE(&st);
	XXH3_64bits_reset(&st);
	for (uint64_t pfn = 0; pfn < npages; pfn++) {
		le_put_u64(chunk + fill, hash_page(mem + pfn * HASH_PAGE_SIZE));
		fill += HASH_ENTRY_SIZE;
		if (fill == sizeof(chunk)) {
			XXH3_64bits_update(&st, chunk, fill);
			fill = 0;
		}
	}
	XXH3_64bits_update(&st, chunk, fill);
	return XXH3_64bits_digest(&st);
}
