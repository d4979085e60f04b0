/* hash.h - the hashes two machines compare: XXH3-64 (xxHash) of bytes, of a page, of RAM.
 *
 * One definition, used by both sides of a migration, by snapshots and by the control
 * socket's query-hash, so that equal memory always gives equal hashes:
 *
 *   page hash  XXH3-64 of the page's 4096 bytes (seed 0);
 *   RAM hash   XXH3-64 of the page hashes in page order, each as 8 little-endian bytes.
 *
 * A migration's destination keeps a table of page hashes (hash_page_set), updated as pages
 * arrive, and hashes the table (hash_pages) when the state is complete: 8 bytes a page
 * instead of 4096, off the blackout path. The source hashes its RAM (hash_memory) the same
 * way, and so does query-hash.
 */
#ifndef FERRY_HASH_H
#define FERRY_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "common/le.h"

#define HASH_PAGE_SIZE 4096
#define HASH_ENTRY_SIZE 8 /* bytes per page in a table of page hashes */

/* XXH3-64 of n bytes. */
uint64_t hash_bytes(const void *p, size_t n);
/* The hash of one 4 KiB page. */
uint64_t hash_page(const void *page);
/* The hash of an all-zero page. */
uint64_t hash_zero_page(void);
/* The RAM hash from a table of npages page hashes (HASH_ENTRY_SIZE bytes each). */
uint64_t hash_pages(const uint8_t *table, uint64_t npages);
/* The RAM hash of npages pages at mem (hashing each page, then the hashes). */
uint64_t hash_memory(const uint8_t *mem, uint64_t npages);

/* Store page pfn's hash in a table. */
static inline void hash_page_set(uint8_t *table, uint64_t pfn, uint64_t h)
{
	le_put_u64(table + pfn * HASH_ENTRY_SIZE, h);
}

#endif
