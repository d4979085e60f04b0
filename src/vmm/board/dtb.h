/* dtb.h - the flattened device tree, generated at start from the devices present.
 *
 * The board writes the root, /chosen, /memory and /cpus, then asks every
 * registered device for its node under /soc. libfdt's sequential-write calls
 * are wrapped in DTB_CHECK so the error path is written once.
 */
#ifndef FERRY_DTB_H
#define FERRY_DTB_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct machine;

#define DTB_CHECK(call)                                                                            \
	do {                                                                                       \
		int dtb_rc_ = (call);                                                              \
		if (dtb_rc_ < 0)                                                                   \
			return dtb_rc_;                                                            \
	} while (0)

/* Fixed phandles: the PLIC, and each hart's local interrupt controller. */
#define DTB_PHANDLE_PLIC 1
#define DTB_PHANDLE_CPU_INTC(hart) (2 + (hart))

/* A `reg` property of one (address, size) pair, two cells each. */
int dtb_reg(void *fdt, uint64_t base, uint64_t size);

/* Build the tree into buf. Returns its size, or -1 with e set. */
int dtb_build(struct machine *m, void *buf, size_t bufsize, struct err *e);

#endif
