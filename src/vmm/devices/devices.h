/* devices.h - the machine's devices, built from its configuration.
 *
 * The board knows no device: this is where the `virt` board's set is put
 * together, in the order their nodes appear in the device tree and their
 * virtio-mmio slots are taken (networks, disks, then the entropy source), so
 * that the same configuration gives the same machine on every host.
 */
#ifndef FERRY_DEVICES_H
#define FERRY_DEVICES_H

#include "common/err.h"
#include "vmm/board/machine.h"

/* Register the devices cfg names on a machine fresh from machine_init. */
int devices_attach(struct machine *m, struct err *e);

/* machine_init, devices_attach and machine_boot: a whole machine, ready to run or to load. */
int devices_machine_init(struct machine *m, const struct machine_config *cfg, struct err *e);

#endif
