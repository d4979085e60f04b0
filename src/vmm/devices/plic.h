/* plic.h - RISC-V Platform-Level Interrupt Controller (the PLIC spec, SiFive layout).
 *
 * Level-triggered sources 1..PLIC_SOURCES-1, one S-mode context per hart
 * (context i is hart i's S-mode; there is no M-mode). Devices drive their
 * line with plic_set_level(); the PLIC drives each hart's SEIP.
 */
#ifndef FERRY_PLIC_H
#define FERRY_PLIC_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "common/state.h"

struct machine;
struct cpu;

#define PLIC_SOURCES 32 /* source 0 does not exist; riscv,ndev = 31 */
#define PLIC_MAX_CONTEXTS 8
#define PLIC_SIZE 0x600000ull

struct plic {
	/* device state */
	uint32_t priority[PLIC_SOURCES];
	uint32_t pending; /* bit per source */
	uint32_t level;	  /* current line level from the device, bit per source */
	uint32_t claimed; /* claimed and not yet completed */
	uint32_t enable[PLIC_MAX_CONTEXTS];
	uint32_t threshold[PLIC_MAX_CONTEXTS];

	/* links */
	unsigned ncontexts;
	struct cpu *harts[PLIC_MAX_CONTEXTS];
};

/* The PLIC's migratable state. */
extern const struct state_desc plic_state;

int plic_init(struct plic *p, struct machine *m, uint64_t base, unsigned nharts, struct err *e);
/* Set the level of a source's interrupt line. */
void plic_set_level(struct plic *p, unsigned source, bool level);

#endif
