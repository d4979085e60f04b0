/* devices.c - the `virt` board's devices, built from the machine's configuration.
 *
 * Each device lives in its own file and registers itself (MMIO window, device
 * operations); this file only decides which devices there are and in what
 * order. Their memory is one block, freed as a run-loop client once every
 * device's own destroy operation has run (machine_destroy ends devices first).
 */
#include "vmm/devices/devices.h"

#include <stdlib.h>

#include "vmm/devices/console.h"
#include "vmm/devices/plic.h"
#include "vmm/devices/uart.h"
#include "vmm/devices/vblk.h"
#include "vmm/devices/vnet.h"
#include "vmm/devices/vrng.h"

struct devices {
	struct plic plic;
	struct console console;
	struct uart uart;
	struct vnet net[MACHINE_MAX_NETS];
	struct vblk blk[MACHINE_MAX_DISKS];
	struct vrng rng;
};

int devices_attach(struct machine *m, struct err *e)
{
	const struct machine_config *cfg = &m->cfg;
	struct devices *d = calloc(1, sizeof(*d));

	if (!d)
		return err_set(e, "out of memory for the devices");
	if (machine_add_client(m, &(struct machine_client){ .destroy = free, .opaque = d }, e) <
	    0) {
		free(d);
		return -1;
	}
	if (plic_init(&d->plic, m, MACHINE_PLIC_BASE, m->nharts, e) < 0)
		return -1;
	if (console_init(&d->console, m, cfg->console ? cfg->console : "stdio", e) < 0)
		return -1;
	if (uart_init(&d->uart, m, MACHINE_UART_BASE, MACHINE_UART_IRQ, &d->console, e) < 0)
		return -1;
	for (int i = 0; i < cfg->nnets; i++) {
		if (vnet_init(&d->net[i], m, cfg->nets[i], e) < 0) {
			vnet_destroy(&d->net[i]);
			return -1;
		}
	}
	for (int i = 0; i < cfg->ndisks; i++) {
		if (vblk_init(&d->blk[i], m, cfg->disks[i], false, cfg->incoming != NULL, e) < 0) {
			vblk_destroy(&d->blk[i]);
			return -1;
		}
	}
	if (!cfg->no_rng && vrng_init(&d->rng, m, cfg->clock == GCLOCK_ICOUNT, e) < 0)
		return -1;
	return 0;
}

int devices_machine_init(struct machine *m, const struct machine_config *cfg, struct err *e)
{
	if (machine_init(m, cfg, e) < 0 || devices_attach(m, e) < 0)
		return -1;
	return machine_boot(m, e);
}
