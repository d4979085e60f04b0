/* vblk.h - virtio block device on a raw image file (virtio spec, "Block Device").
 *
 * Requests are served in the run loop's thread: read, write, flush (fdatasync) and
 * get-id, in order, one at a time. The work is bounded per turn of the loop
 * (VBLK_TURN_BYTES): a request beyond what is left of the turn goes on at the next
 * turns, so one huge request (a guest may describe 4 GiB in one descriptor) never
 * stops the hart, the control socket or a migration. Flush and release finish the
 * request under way first, so nothing is in flight at a snapshot, a migration's
 * final copy or a hand-over. The image is locked (flock, exclusive)
 * while open, so two VMs on one host never write the same disk.
 */
#ifndef FERRY_VBLK_H
#define FERRY_VBLK_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/devices/virtio.h"

#define VBLK_SECTOR 512
#define VBLK_ID_LEN 20
/* Bytes moved for the guest per turn of the run loop (each request counts at least 4 KiB). */
#define VBLK_TURN_BYTES (4u << 20)

struct vblk {
	struct virtio_mmio vio;
	uint64_t capacity; /* in 512-byte sectors (guest-visible: travels in the config) */
	bool readonly;
	int fd;	      /* the open image while it is used, else -1 */
	int given_fd; /* fd:N: the inherited descriptor (kept while released), else -1 */
	char path[4096];
	char serial[VBLK_ID_LEN + 1];
	uint64_t reads, writes, flushes, bytes_read, bytes_written, io_errors;
	/* the request under way, and what this turn of the run loop still allows */
	struct virtq_chain req;
	bool busy;    /* req is a read or write being transferred */
	bool pending; /* work is left for the next turns (the machine knows) */
	bool req_write;
	uint64_t req_pos; /* its first byte on the disk */
	uint64_t req_len, req_done;
	uint64_t turn;	    /* the machine's turn that turn_left belongs to */
	uint64_t turn_left; /* bytes this turn still allows */
};

extern const struct state_desc vblk_state;

/* Register the device for an image (a regular file or block device) and open it; with
 * defer_open, only look at its size now and open it later with vblk_open (a migration's
 * destination opens the disk only once it owns the VM). */
int vblk_init(struct vblk *b, struct machine *m, const char *path, bool readonly, bool defer_open,
	      struct err *e);
/* Open and lock the image. */
int vblk_open(struct vblk *b, struct err *e);
/* Flush and close the image, releasing its lock (handing the disk to another host). */
int vblk_release(struct vblk *b, struct err *e);
void vblk_destroy(struct vblk *b);
/* Check an fd:N spec's descriptor before anything is built (the command line's check: an
 * error here is a usage error): open, a regular file or block device, O_RDWR. 0 for a
 * path, which is checked when opened. */
int vblk_check_spec(const char *spec, struct err *e);
/* Make every completed write durable (fdatasync). */
int vblk_flush(struct vblk *b, struct err *e);

#endif
