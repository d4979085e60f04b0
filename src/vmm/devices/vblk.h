/* vblk.h - virtio block device on a raw image file (virtio spec, "Block Device").
 *
 * Requests are served synchronously in the run loop's thread: read, write, flush
 * (fdatasync) and get-id. So every request is complete before the hart runs again,
 * and in particular before a pause returns: nothing is ever in flight at a
 * snapshot or a migration's final copy. The image is locked (flock, exclusive)
 * while open, so two VMs on one host never write the same disk.
 */
#ifndef FERRY_VBLK_H
#define FERRY_VBLK_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/devices/virtio.h"

#define VBLK_SECTOR 512
#define VBLK_ID_LEN 20

struct vblk {
	struct virtio_mmio vio;
	uint64_t capacity; /* in 512-byte sectors (guest-visible: travels in the config) */
	bool readonly;
	int fd;	      /* the open image while it is used, else -1 */
	int given_fd; /* fd:N: the inherited descriptor (kept while released), else -1 */
	char path[4096];
	char serial[VBLK_ID_LEN + 1];
	uint64_t reads, writes, flushes, bytes_read, bytes_written, io_errors;
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
