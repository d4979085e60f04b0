/* place.h - the "best possible node" for a VM: which host it should go to, and why each of the
 * others was not chosen (DESIGN.md §6, docs/architecture.md "Best possible node").
 *
 * Pure: the caller reads the hosts, their states and their allocations from the store and
 * fills struct place_host; nothing here talks to etcd. The choice is only a proposal: the
 * admission on the chosen host (a compare-and-swap on its alloc key) still decides, so a
 * choice made on a snapshot that has moved on is refused there, never over-committed.
 * place_best() takes out = NULL when only the choice is wanted.
 */
#ifndef FERRY_PLACE_H
#define FERRY_PLACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct place_host {
	char name[64];
	bool alive;		    /* its host key is under a live lease */
	char state[16];		    /* "active", "paused", "draining" */
	uint64_t mem_cap, mem_used; /* bytes; used = its alloc (running + reserved) */
	unsigned vcpus_cap, vcpus_used;
	unsigned nvms; /* VMs admitted there (entries of its alloc) */
};

struct place_verdict {
	char host[64];
	bool chosen;
	char reason[192];  /* why chosen, or why not */
	uint64_t mem_left; /* memory left after placing the VM (0 if it does not fit) */
};

/* The best host for VM vm (mem bytes, vcpus) that now runs on source (NULL: nowhere): keep the
 * hosts that are alive, active, not the source and have room for its memory and vCPUs after what
 * is admitted; prefer the most memory left after placing it, then fewer VMs, then the name
 * (strcmp order). Returns the index of the chosen host in h, or -1 if none fits. out (n entries,
 * in the order of h) gets a verdict for every host. Deterministic: the order of h does not change
 * the choice. */
int place_best(const struct place_host *h, size_t n, const char *source, const char *vm,
	       uint64_t mem, unsigned vcpus, struct place_verdict *out);
/* One line per host for `ferry move --to best --explain` and the API: "vh03: chosen: ..." */
int place_verdict_line(const struct place_verdict *v, char *out, size_t size);

#endif
