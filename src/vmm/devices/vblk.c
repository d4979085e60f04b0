/* vblk.c - virtio block device.
 *
 * A request is a chain: a 16-byte readable header (type, reserved, sector), the
 * data buffers (readable for a write, writable for a read), and one writable
 * status byte at the very end. Each is checked before any I/O: the header's
 * size, the data length (whole sectors, inside the disk), the status byte's
 * presence. A request that makes no sense gets VIRTIO_BLK_S_IOERR or _UNSUPP;
 * a chain that cannot even carry a status breaks the device (DEVICE_NEEDS_RESET).
 *
 * The image is a path (opened here) or an inherited descriptor (fd:N, opened read-write by
 * a supervisor that may open what ferry-vm may not). Either way it is locked with flock
 * while in use, so two VMs never write one image. Handing the disk to another host
 * (release) closes a path's descriptor but only unlocks an inherited one (it could not be
 * opened again); acquiring locks it again.
 */
#include "vmm/devices/vblk.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#include "common/log.h"
#include "vmm/board/machine.h"
#include "vmm/core/ram.h"

/* Features (virtio spec, "Block Device: Feature bits") */
#define VIRTIO_BLK_F_SEG_MAX (1ull << 2)
#define VIRTIO_BLK_F_RO (1ull << 5)
#define VIRTIO_BLK_F_BLK_SIZE (1ull << 6)
#define VIRTIO_BLK_F_FLUSH (1ull << 9)

/* Request types and status */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VBLK_SEG_MAX (VIRTQ_SIZE_MAX - 2)

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void vblk_config_read(struct virtio_mmio *v, uint32_t off, uint8_t *out, unsigned size)
{
	struct vblk *b = v->dev;
	uint8_t cfg[24] = { 0 };

	/* capacity @0, size_max @8, seg_max @12, geometry @16, blk_size @20 */
	put_le(cfg, b->capacity, 8);
	put_le(cfg + 12, VBLK_SEG_MAX, 4);
	put_le(cfg + 20, VBLK_SECTOR, 4);
	memcpy(out, cfg + off, size);
}

/* Transfer len bytes between the chain's data buffers, from byte off of its data, and the
 * image at byte pos. */
static int vblk_io(struct vblk *b, const struct virtq_chain *c, bool write, uint64_t off,
		   uint64_t pos, uint64_t len)
{
	struct ram *r = &b->vio.m->ram;
	uint64_t skip = (write ? 16 : 0) + off; /* a write's data follows the header */
	const struct virtq_buf *bufs = write ? c->r : c->w;
	unsigned n = write ? c->nr : c->nw;

	for (unsigned i = 0; i < n && len > 0; i++) {
		uint64_t blen = bufs[i].len, addr = bufs[i].addr;

		if (skip >= blen) {
			skip -= blen;
			continue;
		}
		addr += skip;
		blen -= skip;
		skip = 0;
		if (blen > len)
			blen = len;
		uint64_t done = 0;

		while (done < blen) {
			ssize_t k;

			if (write)
				k = pwrite(b->fd, ram_ptr(r, addr + done), blen - done,
					   (off_t)(pos + done));
			else
				k = pread(b->fd, ram_dma_ptr(r, addr + done, blen - done),
					  blen - done, (off_t)(pos + done));
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				log_warn("virtio-blk %s: %s at %llu: %s", b->path,
					 write ? "write" : "read", (unsigned long long)(pos + done),
					 k < 0 ? strerror(errno) : "end of file");
				return -1;
			}
			done += (uint64_t)k;
		}
		pos += blen;
		len -= blen;
	}
	return len == 0 ? 0 : -1;
}

/* The request is done: its status byte, then the used ring. */
static void vblk_complete(struct vblk *b, uint8_t status, uint64_t written)
{
	struct virtio_mmio *v = &b->vio;

	virtq_write(v, &b->req, b->req.wlen - 1, &status, 1);
	virtq_push(v, 0, &b->req, (uint32_t)(written + 1));
	b->busy = false;
}

/* Start the request in b->req: check it; a read or a write becomes the transfer under way
 * (b->busy), anything else is served now. False if the chain broke the device. */
static bool vblk_begin(struct vblk *b)
{
	const struct virtq_chain *c = &b->req;
	struct virtio_mmio *v = &b->vio;
	uint8_t hdr[16], status = VIRTIO_BLK_S_OK;
	uint32_t type;
	uint64_t sector, written = 0;

	if (c->nw == 0 || c->w[c->nw - 1].len == 0) {
		virtio_fail(v, "block request without a status byte");
		return false;
	}
	if (virtq_read(v, c, 0, hdr, 16) != 16) {
		status = VIRTIO_BLK_S_IOERR;
		goto done;
	}
	memcpy(&type, hdr, 4);
	memcpy(&sector, hdr + 8, 8);
	if (b->fd < 0) {
		/* Not ours (yet, or any more): the guest never runs then, but be safe. */
		status = VIRTIO_BLK_S_IOERR;
		goto done;
	}
	switch (type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT: {
		bool write = type == VIRTIO_BLK_T_OUT;
		/* Data: for a read, every writable byte but the status; for a write, every readable
		 * byte after the header. */
		uint64_t len = write ? c->rlen - 16 : c->wlen - 1;

		if (write && b->readonly) {
			status = VIRTIO_BLK_S_IOERR;
			break;
		}
		if (len % VBLK_SECTOR || sector > b->capacity ||
		    len / VBLK_SECTOR > b->capacity - sector) {
			status = VIRTIO_BLK_S_IOERR;
			break;
		}
		b->busy = true;
		b->req_write = write;
		b->req_pos = sector * VBLK_SECTOR;
		b->req_len = len;
		b->req_done = 0;
		return true;
	}
	case VIRTIO_BLK_T_FLUSH:
		if (fdatasync(b->fd) != 0) {
			status = VIRTIO_BLK_S_IOERR;
			b->io_errors++;
		}
		b->flushes++;
		break;
	case VIRTIO_BLK_T_GET_ID: {
		uint8_t id[VBLK_ID_LEN] = { 0 };

		memcpy(id, b->serial, strlen(b->serial));
		if (c->wlen - 1 < VBLK_ID_LEN) {
			status = VIRTIO_BLK_S_IOERR;
			break;
		}
		written = virtq_write(v, c, 0, id, VBLK_ID_LEN);
		break;
	}
	default:
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
done:
	vblk_complete(b, status, written);
	return true;
}

/* Move at most budget bytes of the transfer under way; complete it when all have moved. */
static uint64_t vblk_transfer(struct vblk *b, uint64_t budget)
{
	uint64_t n = b->req_len - b->req_done;

	if (n > budget)
		n = budget;
	if (n && vblk_io(b, &b->req, b->req_write, b->req_done, b->req_pos + b->req_done, n) < 0) {
		b->io_errors++;
		vblk_complete(b, VIRTIO_BLK_S_IOERR, 0);
		return n;
	}
	b->req_done += n;
	if (b->req_done == b->req_len) {
		if (b->req_write) {
			b->writes++;
			b->bytes_written += b->req_len;
		} else {
			b->reads++;
			b->bytes_read += b->req_len;
		}
		vblk_complete(b, VIRTIO_BLK_S_OK, b->req_write ? 0 : b->req_len);
	}
	return n;
}

/* Serve requests, in order, within budget bytes (unbounded: UINT64_MAX). True if some are
 * left (the one under way, or more on the ring once the budget ran out). */
static bool vblk_serve(struct vblk *b, uint64_t *budget)
{
	struct virtio_mmio *v = &b->vio;
	bool any = false, more = false;

	while (!(v->status & VIRTIO_STATUS_NEEDS_RESET)) {
		if (*budget == 0) {
			more = true;
			break;
		}
		if (!b->busy) {
			if (!(v->status & VIRTIO_STATUS_DRIVER_OK) || !v->q_ready[0] ||
			    virtq_pop(v, 0, &b->req) != 1)
				break;
			*budget -= *budget < 4096 ? *budget : 4096;
			if (!vblk_begin(b))
				break;
			any |= !b->busy;
			continue;
		}
		*budget -= vblk_transfer(b, *budget);
		any |= !b->busy;
	}
	if (v->status & VIRTIO_STATUS_NEEDS_RESET)
		b->busy = false; /* broken: nothing goes on until the driver resets it */
	if (any)
		virtq_notify_guest(v, 0);
	return (more || b->busy) && !(v->status & VIRTIO_STATUS_NEEDS_RESET);
}

/* This turn's budget, renewed at each turn of the run loop. */
static uint64_t *vblk_budget(struct vblk *b)
{
	if (b->turn != b->vio.m->turns) {
		b->turn = b->vio.m->turns;
		b->turn_left = VBLK_TURN_BYTES;
	}
	return &b->turn_left;
}

static void vblk_schedule(struct vblk *b, bool more)
{
	b->pending = more;
	if (more)
		machine_work_pending(b->vio.m);
}

static void vblk_notify(struct virtio_mmio *v, unsigned q)
{
	struct vblk *b = v->dev;

	(void)q;
	if (b->pending)
		return; /* the run loop serves the ring at its next turn */
	vblk_schedule(b, vblk_serve(b, vblk_budget(b)));
}

static bool vblk_work(void *opaque)
{
	struct vblk *b = virtio_dev(opaque);

	if (!b->pending)
		return false;
	vblk_schedule(b, vblk_serve(b, vblk_budget(b)));
	return b->pending;
}

/* Finish what is under way, whatever it costs: before a flush, a snapshot or a hand-over. */
static void vblk_drain(struct vblk *b)
{
	uint64_t all = UINT64_MAX;

	if (b->busy)
		vblk_schedule(b, vblk_serve(b, &all));
}

/* The driver reset the device: a transfer under way is forgotten (its ring is gone). */
static void vblk_reset(struct virtio_mmio *v)
{
	struct vblk *b = v->dev;

	b->busy = false;
	b->pending = false;
}

static struct virtio_ops vblk_ops_rw = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.features = VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH,
	.nqueues = 1,
	.config_size = 24,
	.config_read = vblk_config_read,
	.notify = vblk_notify,
	.reset = vblk_reset,
};

static struct virtio_ops vblk_ops_ro = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.features =
	    VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH | VIRTIO_BLK_F_RO,
	.nqueues = 1,
	.config_size = 24,
	.config_read = vblk_config_read,
	.notify = vblk_notify,
	.reset = vblk_reset,
};

static int vblk_post_load(void *obj, struct err *e)
{
	struct vblk *b = obj;

	return virtio_check_state(&b->vio, e);
}

static const struct state_field vblk_fields[] = {
	VIRTIO_STATE_FIELDS(struct vblk, vio),
};

const struct state_desc vblk_state = {
	.name = "virtio-blk",
	.version = 1,
	.fields = vblk_fields,
	.nfields = STATE_NFIELDS(vblk_fields),
	.post_load = vblk_post_load,
};

int vblk_flush(struct vblk *b, struct err *e)
{
	vblk_drain(b);
	if (b->fd >= 0 && fdatasync(b->fd) != 0)
		return err_errno(e, "flushing disk '%s'", b->path);
	return 0;
}

/* The image's size in bytes, from an open descriptor or (fd < 0) from its path. */
static int vblk_size(struct vblk *b, int fd, uint64_t *size, struct err *e)
{
	struct stat st;

	if ((fd >= 0 ? fstat(fd, &st) : stat(b->path, &st)) != 0)
		return err_errno(e, "cannot open disk '%s'", b->path);
	if (S_ISBLK(st.st_mode)) {
		int bfd = fd >= 0 ? fd : open(b->path, O_RDONLY | O_CLOEXEC);

		if (bfd < 0 || ioctl(bfd, BLKGETSIZE64, size) != 0) {
			if (bfd >= 0 && bfd != fd)
				close(bfd);
			return err_errno(e, "disk '%s': size", b->path);
		}
		if (bfd != fd)
			close(bfd);
	} else if (S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
	} else {
		return err_set(e, "disk '%s' is neither a file nor a block device", b->path);
	}
	return 0;
}

/* "N" of fd:N: a decimal descriptor number, 0..INT_MAX. */
static int vblk_parse_fd(const char *s, int *fd)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v > INT_MAX)
		return -1;
	*fd = (int)v;
	return 0;
}

/* Is fd an image opened as a disk needs it (read-write unless readonly)? */
static int vblk_check_fd(int fd, bool readonly, struct err *e)
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return err_set(e, "--disk fd:%d: descriptor %d is not open", fd, fd);
	if (fstat(fd, &st) != 0)
		return err_errno(e, "--disk fd:%d", fd);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return err_set(e, "--disk fd:%d: not a regular file or block device", fd);
	if (!readonly && (fl & O_ACCMODE) != O_RDWR)
		return err_set(e, "--disk fd:%d: not open for reading and writing (O_RDWR)", fd);
	return 0;
}

int vblk_check_spec(const char *spec, struct err *e)
{
	int fd;

	if (strncmp(spec, "fd:", 3) != 0)
		return 0;
	if (vblk_parse_fd(spec + 3, &fd) < 0)
		return err_set(e, "--disk '%s': expected fd:N with N a descriptor number", spec);
	return vblk_check_fd(fd, false, e);
}

int vblk_open(struct vblk *b, struct err *e)
{
	uint64_t size;

	if (b->fd >= 0)
		return 0;
	if (b->given_fd >= 0) {
		if (vblk_check_fd(b->given_fd, b->readonly, e) < 0)
			return -1;
		b->fd = b->given_fd;
	} else {
		b->fd = open(b->path, (b->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (b->fd < 0)
			return err_errno(e, "cannot open disk '%s'", b->path);
	}
	if (flock(b->fd, (b->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
		int saved = errno;

		if (b->given_fd < 0)
			close(b->fd);
		b->fd = -1;
		if (saved == EWOULDBLOCK)
			return err_set(e, "disk '%s' is in use by another VM (locked)", b->path);
		errno = saved;
		return err_errno(e, "cannot lock disk '%s'", b->path);
	}
	if (vblk_size(b, b->fd, &size, e) < 0)
		return -1;
	if (size / VBLK_SECTOR != b->capacity)
		return err_set(e, "disk '%s' changed size: %llu sectors, the guest knows %llu",
			       b->path, (unsigned long long)(size / VBLK_SECTOR),
			       (unsigned long long)b->capacity);
	return 0;
}

int vblk_release(struct vblk *b, struct err *e)
{
	int rc = 0;

	if (b->fd < 0)
		return 0;
	vblk_drain(b);
	if (fdatasync(b->fd) != 0)
		rc = err_errno(e, "flushing disk '%s'", b->path);
	if (b->given_fd >= 0)
		flock(b->fd, LOCK_UN); /* kept open: it could not be opened again */
	else
		close(b->fd); /* drops the lock */
	b->fd = -1;
	return rc;
}

static int vblk_dev_flush(void *opaque, struct err *e)
{
	return vblk_flush(virtio_dev(opaque), e);
}

static int vblk_dev_release(void *opaque, struct err *e)
{
	return vblk_release(virtio_dev(opaque), e);
}

static int vblk_dev_acquire(void *opaque, struct err *e)
{
	return vblk_open(virtio_dev(opaque), e);
}

static bool vblk_dev_work(void *opaque)
{
	return vblk_work(opaque);
}

static void vblk_dev_destroy(void *opaque)
{
	vblk_destroy(virtio_dev(opaque));
}

int vblk_init(struct vblk *b, struct machine *m, const char *path, bool readonly, bool defer_open,
	      struct err *e)
{
	struct machine_dev hooks = {
		.kind = MACHINE_DEV_DISK,
		.capacity = &b->capacity,
		.flush = vblk_dev_flush,
		.release = vblk_dev_release,
		.acquire = vblk_dev_acquire,
		.work = vblk_dev_work,
		.destroy = vblk_dev_destroy,
	};
	uint64_t size;

	memset(b, 0, sizeof(*b));
	b->fd = -1;
	b->given_fd = -1;
	b->turn = UINT64_MAX; /* no turn yet: the first notify gets a whole budget */
	if (strlen(path) >= sizeof(b->path))
		return err_set(e, "disk path too long");
	snprintf(b->path, sizeof(b->path), "%s", path);
	b->readonly = readonly;
	if (strncmp(path, "fd:", 3) == 0) {
		int fd;

		if (vblk_parse_fd(path + 3, &fd) < 0)
			return err_set(e, "--disk '%s': expected fd:N with N a descriptor number",
				       path);
		if (vblk_check_fd(fd, readonly, e) < 0)
			return -1;
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
			return err_errno(e, "--disk %s", path);
		b->given_fd = fd;
	}
	if (vblk_size(b, b->given_fd, &size, e) < 0)
		return -1;
	if (size < VBLK_SECTOR)
		return err_set(e, "disk '%s' is smaller than one 512-byte sector", path);
	if (size % VBLK_SECTOR)
		log_warn(
		    "disk '%s': %llu bytes is not a whole number of sectors; the tail is unused",
		    path, (unsigned long long)size);
	b->capacity = size / VBLK_SECTOR;
	if (!defer_open && vblk_open(b, e) < 0)
		return -1;
	/* The serial: the image's name, as much as fits (an inherited one's from /proc). */
	char real[4096];
	const char *base;

	if (b->given_fd >= 0) {
		char link[64];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", b->given_fd);
		n = readlink(link, real, sizeof(real) - 1);
		real[n > 0 ? n : 0] = '\0';
		if (n > 0)
			path = real;
	}
	base = strrchr(path, '/');

	snprintf(b->serial, sizeof(b->serial), "%.*s", VBLK_ID_LEN, base ? base + 1 : path);
	return virtio_mmio_init(&b->vio, m, readonly ? &vblk_ops_ro : &vblk_ops_rw, b, &vblk_state,
				&hooks, e);
}

void vblk_destroy(struct vblk *b)
{
	if (b->fd >= 0)
		fdatasync(b->fd);
	if (b->fd >= 0 && b->fd != b->given_fd)
		close(b->fd);
	if (b->given_fd >= 0)
		close(b->given_fd);
	b->fd = -1;
	b->given_fd = -1;
}
