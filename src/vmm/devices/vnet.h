/* vnet.h - virtio network device with a TAP backend (virtio spec, "Network Device").
 *
 * Frames move between the guest's queues and a TAP device opened by name
 * (the host bridges it; see docs/lab.md). The TAP carries the same 12-byte
 * virtio-net header as the queues (IFF_VNET_HDR), so frames pass through
 * without rewriting. The TAP is non-blocking and polled by the run loop; a
 * paused machine stops polling it, so a paused VM never takes a frame from
 * its TAP into guest RAM.
 */
#ifndef FERRY_VNET_H
#define FERRY_VNET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "vmm/devices/virtio.h"

#define VNET_HDR_LEN 12
#define VNET_MAX_FRAME (65536 + VNET_HDR_LEN)

struct vnet {
	struct virtio_mmio vio;
	uint8_t mac[6]; /* guest-visible: travels in the config */
	char ifname[16];
	int tap;
	int slot;     /* the machine's pollfd slot for the TAP */
	bool running; /* the machine is not paused */
	bool rx_wait; /* a frame is waiting for RX buffers: TAP polling is off */
	uint64_t rx_frames, tx_frames, rx_dropped, tx_dropped;
	struct buf backlog; /* frames handed in (vnet_inject), delivered before the TAP's */
	size_t backlog_off;
	int backlog_n;
};

#define VNET_BACKLOG_MAX 1024	      /* frames ... */
#define VNET_BACKLOG_BYTES (4u << 20) /* ... and bytes held at most */

extern const struct state_desc vnet_state;

/* spec: "tap:NAME[,mac=52:54:00:12:34:56]" (open the TAP by name) or "tapfd:N[,mac=...]"
 * (an inherited descriptor already attached to a TAP with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR;
 * it is the device's from then on). */
int vnet_init(struct vnet *n, struct machine *m, const char *spec, struct err *e);
void vnet_destroy(struct vnet *n);
/* Check a tapfd: spec's descriptor before anything is built (the command line's check: an
 * error here is a usage error). 0 for a tap: spec, whose name is checked when opened. */
int vnet_check_spec(const char *spec, struct err *e);
/* Broadcast a RARP announcement from the guest's MAC on the TAP, so switches learn the
 * guest's new port after a migration (as QEMU's self-announce does). Returns 0 if sent. */
int vnet_announce(struct vnet *n);
/* A paused source hands on what reaches its TAP during the blackout: take one frame (header
 * included) from the TAP without delivering it. Returns its length, 0 if none is waiting. */
ssize_t vnet_take_frame(struct vnet *n, uint8_t *buf, size_t cap);
/* Give the guest a frame (header included) as if it came from the TAP, ahead of the TAP's own:
 * at once if it runs and has a receive buffer, else as soon as it does (up to
 * VNET_BACKLOG_MAX frames wait). Returns false (and counts a drop) if it cannot be kept. */
bool vnet_inject(struct vnet *n, const uint8_t *frame, size_t len);

#endif
