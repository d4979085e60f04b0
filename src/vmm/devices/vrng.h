/* vrng.h - virtio entropy device (virtio spec, "Entropy Device"). */
#ifndef FERRY_VRNG_H
#define FERRY_VRNG_H

#include <stdint.h>

#include "vmm/devices/virtio.h"

struct vrng {
	struct virtio_mmio vio;
	uint64_t prng;	    /* state of the deterministic generator (icount clock only) */
	bool deterministic; /* this machine's clock is icount (not state: the loading side's) */
	uint64_t bytes;
};

extern const struct state_desc vrng_state;

/* deterministic: fill buffers from a seeded generator instead of getrandom (for the
 * deterministic clock, so two runs of a machine stay identical). */
int vrng_init(struct vrng *r, struct machine *m, bool deterministic, struct err *e);

#endif
