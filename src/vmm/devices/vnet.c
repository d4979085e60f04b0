/* vnet.c - virtio-net over a TAP device.
 *
 * RX: when the TAP is readable and the guest has posted a receive buffer,
 * read one frame (header included) into a bounce buffer and copy it into the
 * buffer through the RAM accessors (pages marked dirty). With no buffer
 * posted, stop polling the TAP until the guest adds buffers and notifies the
 * receive queue; the kernel queues frames meanwhile (and drops beyond its
 * queue, as a real NIC would).
 * TX: on a notify of the transmit queue, gather each chain (header + frame)
 * and write it to the TAP; a frame the TAP cannot take now is dropped.
 *
 * The TAP is opened by name (tap:NAME, which needs CAP_NET_ADMIN unless the device is
 * owned by the caller) or inherited already attached (tapfd:N, from a supervisor that
 * holds the privilege). An inherited descriptor must be what the name path would have
 * made: a TAP (not a TUN) with IFF_NO_PI and IFF_VNET_HDR, checked with TUNGETIFF; the
 * header size, the offloads, O_NONBLOCK and FD_CLOEXEC are then set here as for a name.
 */
#include "vmm/devices/vnet.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/if_tun.h>

#include "common/log.h"
#include "common/mac.h"
#include "vmm/board/machine.h"

/* Features (virtio spec, "Network Device: Feature bits") */
#define VIRTIO_NET_F_CSUM (1ull << 0)
#define VIRTIO_NET_F_GUEST_CSUM (1ull << 1)
#define VIRTIO_NET_F_MAC (1ull << 5)
#define VIRTIO_NET_F_GUEST_TSO4 (1ull << 7)
#define VIRTIO_NET_F_GUEST_TSO6 (1ull << 8)
#define VIRTIO_NET_F_GUEST_ECN (1ull << 9)
#define VIRTIO_NET_F_HOST_TSO4 (1ull << 11)
#define VIRTIO_NET_F_HOST_TSO6 (1ull << 12)
#define VIRTIO_NET_F_HOST_ECN (1ull << 13)
#define VNET_OFFLOADS                                                                              \
	(VIRTIO_NET_F_CSUM | VIRTIO_NET_F_GUEST_CSUM | VIRTIO_NET_F_GUEST_TSO4 |                   \
	 VIRTIO_NET_F_GUEST_TSO6 | VIRTIO_NET_F_GUEST_ECN | VIRTIO_NET_F_HOST_TSO4 |               \
	 VIRTIO_NET_F_HOST_TSO6 | VIRTIO_NET_F_HOST_ECN)
#define VIRTIO_NET_F_STATUS (1ull << 16)
#define VIRTIO_NET_S_LINK_UP 1

#define VNET_RXQ 0
#define VNET_TXQ 1

static uint8_t vnet_frame[VNET_MAX_FRAME]; /* bounce buffer: one thread uses it */
static struct virtq_chain vnet_chain;

static void vnet_config_read(struct virtio_mmio *v, uint32_t off, uint8_t *out, unsigned size)
{
	struct vnet *n = v->dev;
	uint8_t cfg[8] = { 0 };

	/* mac @0, status @6 */
	memcpy(cfg, n->mac, 6);
	cfg[6] = VIRTIO_NET_S_LINK_UP;
	memcpy(out, cfg + off, size);
}

static bool vnet_rx_has_buffer(struct vnet *n)
{
	struct virtio_mmio *v = &n->vio;

	if (!virtq_ready(v, VNET_RXQ))
		return false;
	uint16_t avail = (uint16_t)ram_load(&v->m->ram, v->q_avail[VNET_RXQ] + 2, 2);

	return avail != v->q_last_avail[VNET_RXQ];
}

/* Poll the TAP only while the machine runs and the guest can take a frame. */
static void vnet_update_poll(struct vnet *n)
{
	bool on = n->running && n->tap >= 0 && vnet_rx_has_buffer(n);

	n->rx_wait = !on;
	machine_set_pollfd(n->vio.m, n->slot, n->tap, on ? POLLIN : 0);
}

/* Put one frame (in vnet_frame) into the next receive buffer, which the caller checked is
 * there. Returns false if the buffer could not be taken. */
static bool vnet_deliver(struct vnet *n, size_t len)
{
	struct virtio_mmio *v = &n->vio;

	if (virtq_pop(v, VNET_RXQ, &vnet_chain) != 1)
		return false;
	if ((uint64_t)len > vnet_chain.wlen) {
		/* The guest posted a buffer too small for this frame: drop the frame, give the buffer
		 * back empty. */
		n->rx_dropped++;
		virtq_push(v, VNET_RXQ, &vnet_chain, 0);
		return true;
	}
	/* num_buffers (the header's last field) is 1: one buffer per frame. */
	vnet_frame[10] = 1;
	vnet_frame[11] = 0;
	virtq_write(v, &vnet_chain, 0, vnet_frame, (uint64_t)len);
	virtq_push(v, VNET_RXQ, &vnet_chain, (uint32_t)len);
	n->rx_frames++;
	return true;
}

/* Move frames into receive buffers while both are there: the backlog first, then the TAP. */
static void vnet_rx(struct vnet *n)
{
	bool any = false;

	while (n->running && n->backlog_n && vnet_rx_has_buffer(n)) {
		struct rbuf r;
		uint32_t len;

		rbuf_init(&r, n->backlog.p + n->backlog_off, n->backlog.len - n->backlog_off);
		if (!rbuf_get_u32(&r, &len) || rbuf_left(&r) < len || len > sizeof(vnet_frame))
			break; /* cannot happen: vnet_inject wrote it */
		memcpy(vnet_frame, r.p + r.pos, len);
		n->backlog_off += 4 + len;
		n->backlog_n--;
		if (!vnet_deliver(n, len))
			break;
		any = true;
	}
	if (n->backlog_n == 0 && n->backlog.len) {
		buf_free(&n->backlog);
		buf_init(&n->backlog);
		n->backlog_off = 0;
	}
	while (n->running && n->backlog_n == 0 && vnet_rx_has_buffer(n)) {
		ssize_t len = read(n->tap, vnet_frame, sizeof(vnet_frame));

		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0)
			break; /* EAGAIN: no more frames */
		if (len < VNET_HDR_LEN) {
			n->rx_dropped++;
			continue;
		}
		if (!vnet_deliver(n, (size_t)len))
			break;
		any = true;
	}
	if (any)
		virtq_notify_guest(&n->vio, VNET_RXQ);
	vnet_update_poll(n);
}

static void vnet_tx(struct vnet *n)
{
	struct virtio_mmio *v = &n->vio;
	bool any = false;

	while (virtq_pop(v, VNET_TXQ, &vnet_chain) == 1) {
		uint64_t len = vnet_chain.rlen;

		any = true;
		if (len < VNET_HDR_LEN || len > sizeof(vnet_frame)) {
			n->tx_dropped++;
			virtq_push(v, VNET_TXQ, &vnet_chain, 0);
			continue;
		}
		virtq_read(v, &vnet_chain, 0, vnet_frame, len);
		/* The header travels as is: the TAP understands the same checksum and segmentation
		 * offload fields the guest filled in. */
		if (n->tap < 0 || write(n->tap, vnet_frame, len) != (ssize_t)len)
			n->tx_dropped++;
		else
			n->tx_frames++;
		virtq_push(v, VNET_TXQ, &vnet_chain, 0);
	}
	if (any)
		virtq_notify_guest(v, VNET_TXQ);
}

static void vnet_notify(struct virtio_mmio *v, unsigned q)
{
	struct vnet *n = v->dev;

	if (q == VNET_TXQ)
		vnet_tx(n);
	else
		vnet_rx(n); /* new receive buffers: frames may be waiting */
}

static void vnet_tap_ready(void *opaque, short revents)
{
	struct vnet *n = opaque;

	(void)revents;
	vnet_rx(n);
}

/* Tell the TAP which offloads the guest accepts on receive, so the host kernel hands over
 * large segments with partial checksums only to a guest that negotiated them. */
static void vnet_apply_offloads(struct vnet *n)
{
	struct virtio_mmio *v = &n->vio;
	unsigned long off = 0;

	if (n->tap < 0)
		return;
	if (virtio_has(v, VIRTIO_NET_F_GUEST_CSUM)) {
		off |= TUN_F_CSUM;
		if (virtio_has(v, VIRTIO_NET_F_GUEST_TSO4))
			off |= TUN_F_TSO4;
		if (virtio_has(v, VIRTIO_NET_F_GUEST_TSO6))
			off |= TUN_F_TSO6;
		if (virtio_has(v, VIRTIO_NET_F_GUEST_ECN) && (off & (TUN_F_TSO4 | TUN_F_TSO6)))
			off |= TUN_F_TSO_ECN;
	}
	if (ioctl(n->tap, TUNSETOFFLOAD, off) != 0)
		log_warn("virtio-net %s: cannot set TAP offloads 0x%lx", n->ifname, off);
}

static void vnet_driver_ok(struct virtio_mmio *v)
{
	vnet_apply_offloads(v->dev);
	vnet_update_poll(v->dev);
}

static void vnet_reset(struct virtio_mmio *v)
{
	vnet_apply_offloads(v->dev);
	vnet_update_poll(v->dev);
}

static void vnet_run_state(struct virtio_mmio *v, bool running)
{
	struct vnet *n = v->dev;

	n->running = running;
	if (running && n->backlog_n)
		vnet_rx(n); /* frames handed in while paused: now */
	else
		vnet_update_poll(n);
}

static const struct virtio_ops vnet_ops = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.features = VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS | VNET_OFFLOADS,
	.nqueues = 2,
	.config_size = 8,
	.config_read = vnet_config_read,
	.notify = vnet_notify,
	.reset = vnet_reset,
	.driver_ok = vnet_driver_ok,
	.run_state = vnet_run_state,
};

static int vnet_post_load(void *obj, struct err *e)
{
	struct vnet *n = obj;

	if (virtio_check_state(&n->vio, e) < 0)
		return -1;
	vnet_apply_offloads(n);
	vnet_update_poll(n);
	return 0;
}

static const struct state_field vnet_fields[] = {
	VIRTIO_STATE_FIELDS(struct vnet, vio),
};

const struct state_desc vnet_state = {
	.name = "virtio-net",
	.version = 1,
	.fields = vnet_fields,
	.nfields = STATE_NFIELDS(vnet_fields),
	.post_load = vnet_post_load,
};

/* "N" of tapfd:N: a decimal descriptor number, 0..INT_MAX. */
static int vnet_parse_fd(const char *s, int *fd)
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

/* Is fd an attached TAP as ferry-vm needs it? Fills ifname (IFNAMSIZ bytes). */
static int vnet_check_tapfd(int fd, char *ifname, struct err *e)
{
	struct ifreq ifr;
	const short need = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;

	if (fcntl(fd, F_GETFD) < 0)
		return err_set(e, "--net tapfd:%d: descriptor %d is not open", fd, fd);
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) != 0)
		return err_set(e, "--net tapfd:%d: descriptor %d is not an attached TAP device", fd,
			       fd);
	if ((ifr.ifr_flags & (IFF_TUN | IFF_TAP)) != IFF_TAP)
		return err_set(e, "--net tapfd:%d: '%.16s' is a TUN device, not a TAP", fd,
			       ifr.ifr_name);
	if ((ifr.ifr_flags & need) != need)
		return err_set(e,
			       "--net tapfd:%d: TAP '%.16s' was not attached with IFF_NO_PI and "
			       "IFF_VNET_HDR",
			       fd, ifr.ifr_name);
	if ((fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDWR)
		return err_set(e, "--net tapfd:%d: not open for reading and writing", fd);
	if (ifname)
		snprintf(ifname, IFNAMSIZ, "%.15s", ifr.ifr_name);
	return 0;
}

int vnet_check_spec(const char *spec, struct err *e)
{
	char buf[128], *comma;
	int fd;

	if (strncmp(spec, "tapfd:", 6) != 0)
		return 0; /* tap:NAME is checked when it is opened */
	snprintf(buf, sizeof(buf), "%s", spec + 6);
	comma = strchr(buf, ',');
	if (comma)
		*comma = '\0';
	if (vnet_parse_fd(buf, &fd) < 0)
		return err_set(
		    e, "--net '%s': expected tapfd:N[,mac=MAC] with N a descriptor number", spec);
	return vnet_check_tapfd(fd, NULL, e);
}

/* Header size and offloads, on a TAP opened here or inherited. */
static int vnet_setup_tap(struct vnet *n, struct err *e)
{
	int hdr = VNET_HDR_LEN;

	if (ioctl(n->tap, TUNSETVNETHDRSZ, &hdr) != 0)
		return err_errno(e, "TAP device '%s': virtio-net header size", n->ifname);
	if (ioctl(n->tap, TUNSETOFFLOAD, 0) != 0)
		return err_errno(e, "TAP device '%s': offloads", n->ifname);
	return 0;
}

static int vnet_open_tap(struct vnet *n, struct err *e)
{
	struct ifreq ifr;

	n->tap = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (n->tap < 0)
		return err_errno(e, "cannot open /dev/net/tun");
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", n->ifname);
	if (ioctl(n->tap, TUNSETIFF, &ifr) != 0)
		return err_errno(e, "cannot attach to TAP device '%s'", n->ifname);
	return vnet_setup_tap(n, e);
}

/* Take an inherited TAP descriptor: checked, then made non-blocking and close-on-exec. */
static int vnet_take_tapfd(struct vnet *n, int fd, struct err *e)
{
	int fl;

	if (vnet_check_tapfd(fd, n->ifname, e) < 0)
		return -1;
	n->tap = fd;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
		return err_errno(e, "--net tapfd:%d", fd);
	return vnet_setup_tap(n, e);
}

_Static_assert(VNET_HDR_LEN == MACHINE_FRAME_HDR && VNET_MAX_FRAME == MACHINE_FRAME_MAX,
	       "the board's frame size is the device's");

static int vnet_dev_announce(void *opaque)
{
	return vnet_announce(virtio_dev(opaque));
}

static ssize_t vnet_dev_take_frame(void *opaque, uint8_t *buf, size_t cap)
{
	return vnet_take_frame(virtio_dev(opaque), buf, cap);
}

static bool vnet_dev_put_frame(void *opaque, const uint8_t *frame, size_t len)
{
	return vnet_inject(virtio_dev(opaque), frame, len);
}

static void vnet_dev_destroy(void *opaque)
{
	vnet_destroy(virtio_dev(opaque));
}

int vnet_init(struct vnet *n, struct machine *m, const char *spec, struct err *e)
{
	struct machine_dev hooks = {
		.kind = MACHINE_DEV_NET,
		.mac = n->mac,
		.announce = vnet_dev_announce,
		.take_frame = vnet_dev_take_frame,
		.put_frame = vnet_dev_put_frame,
		.destroy = vnet_dev_destroy,
	};
	struct machine_pollfd p = { .fd = -1, .events = 0, .ready = vnet_tap_ready };
	char buf[128], *opt, *save = NULL;

	memset(n, 0, sizeof(*n));
	n->tap = -1;
	n->running = !m->paused;
	/* A locally administered default MAC, as QEMU's 52:54:00 prefix. */
	memcpy(n->mac, (uint8_t[]){ 0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t)(0x56 + m->nvirtio) },
	       6);
	bool byfd = strncmp(spec, "tapfd:", 6) == 0;
	int fd = -1;

	if (!byfd && strncmp(spec, "tap:", 4) != 0)
		return err_set(e,
			       "--net '%s': expected tap:NAME[,mac=XX:XX:XX:XX:XX:XX] or "
			       "tapfd:N[,mac=...]",
			       spec);
	snprintf(buf, sizeof(buf), "%s", spec + (byfd ? 6 : 4));
	opt = strtok_r(buf, ",", &save);
	if (byfd) {
		if (!opt || vnet_parse_fd(opt, &fd) < 0)
			return err_set(e, "--net '%s': expected tapfd:N with N a descriptor number",
				       spec);
	} else {
		if (!opt || !*opt || strlen(opt) >= IFNAMSIZ)
			return err_set(e,
				       "--net '%s': TAP name missing or longer than %d characters",
				       spec, IFNAMSIZ - 1);
		snprintf(n->ifname, sizeof(n->ifname), "%s", opt);
	}
	while ((opt = strtok_r(NULL, ",", &save))) {
		if (strncmp(opt, "mac=", 4) == 0) {
			if (mac_parse(opt + 4, n->mac, e) < 0)
				return err_prefix(e, "--net");
			if (mac_is_group(n->mac)) /* multicast or broadcast: never a NIC's own */
				return err_set(e, "--net: '%s' is not a unicast MAC address",
					       opt + 4);
		} else {
			return err_set(e, "--net: unknown option '%s'", opt);
		}
	}
	if ((byfd ? vnet_take_tapfd(n, fd, e) : vnet_open_tap(n, e)) < 0)
		return -1;
	p.opaque = n;
	n->slot = machine_add_pollfd(m, &p, e);
	if (n->slot < 0)
		return -1;
	return virtio_mmio_init(&n->vio, m, &vnet_ops, n, &vnet_state, &hooks, e);
}

void vnet_destroy(struct vnet *n)
{
	if (n->tap >= 0)
		close(n->tap);
	n->tap = -1;
	buf_free(&n->backlog);
	n->backlog_n = 0;
	n->backlog_off = 0;
}

ssize_t vnet_take_frame(struct vnet *n, uint8_t *buf, size_t cap)
{
	for (;;) {
		ssize_t len = n->tap >= 0 ? read(n->tap, buf, cap) : 0;

		if (len < 0 && errno == EINTR)
			continue;
		if (len < VNET_HDR_LEN)
			return 0;
		return len;
	}
}

bool vnet_inject(struct vnet *n, const uint8_t *frame, size_t len)
{
	if (len < VNET_HDR_LEN || len > sizeof(vnet_frame) || n->backlog_n >= VNET_BACKLOG_MAX ||
	    n->backlog.len - n->backlog_off + len > VNET_BACKLOG_BYTES) {
		n->rx_dropped++;
		return false;
	}
	buf_put_u32(&n->backlog, (uint32_t)len);
	buf_put(&n->backlog, frame, len);
	n->backlog_n++;
	vnet_rx(n);
	return true;
}

int vnet_announce(struct vnet *n)
{
	uint8_t f[VNET_HDR_LEN + 60] = { 0 };
	uint8_t *eth = f + VNET_HDR_LEN, *arp = eth + 14;

	if (n->tap < 0)
		return -1;
	memset(eth, 0xff, 6); /* broadcast */
	memcpy(eth + 6, n->mac, 6);
	eth[12] = 0x80; /* ETH_P_RARP */
	eth[13] = 0x35;
	arp[1] = 1;		     /* hardware type: Ethernet */
	arp[2] = 0x08;		     /* protocol type: IPv4 */
	arp[4] = 6;		     /* hardware address length */
	arp[5] = 4;		     /* protocol address length */
	arp[7] = 3;		     /* operation: reverse request */
	memcpy(arp + 8, n->mac, 6);  /* sender hardware address */
	memcpy(arp + 18, n->mac, 6); /* target hardware address; both IPs stay 0.0.0.0 */
	return write(n->tap, f, sizeof(f)) == (ssize_t)sizeof(f) ? 0 : -1;
}
