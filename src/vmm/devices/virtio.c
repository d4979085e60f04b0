/* virtio.c - virtio-mmio v2 transport and split virtqueues (virtio spec 1.x, sections
 * "Virtio Over MMIO" and "Split Virtqueues").
 *
 * Registers are 32 bits wide and only 32-bit accesses decode, except the
 * device config space from 0x100, which any width may access. Accesses
 * the transport does not decode (wrong width, holes, writes to read-only
 * registers) are refused, which the hart reports to the guest as an access
 * fault.
 */
#include "vmm/devices/virtio.h"

#include <libfdt.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "vmm/board/dtb.h"
#include "vmm/board/machine.h"
#include "vmm/core/ram.h"

enum {
	VIRTIO_MMIO_MAGIC_VALUE = 0x000,
	VIRTIO_MMIO_VERSION = 0x004,
	VIRTIO_MMIO_DEVICE_ID = 0x008,
	VIRTIO_MMIO_VENDOR_ID = 0x00c,
	VIRTIO_MMIO_DEVICE_FEATURES = 0x010,
	VIRTIO_MMIO_DEVICE_FEATURES_SEL = 0x014,
	VIRTIO_MMIO_DRIVER_FEATURES = 0x020,
	VIRTIO_MMIO_DRIVER_FEATURES_SEL = 0x024,
	VIRTIO_MMIO_QUEUE_SEL = 0x030,
	VIRTIO_MMIO_QUEUE_NUM_MAX = 0x034,
	VIRTIO_MMIO_QUEUE_NUM = 0x038,
	VIRTIO_MMIO_QUEUE_READY = 0x044,
	VIRTIO_MMIO_QUEUE_NOTIFY = 0x050,
	VIRTIO_MMIO_INTERRUPT_STATUS = 0x060,
	VIRTIO_MMIO_INTERRUPT_ACK = 0x064,
	VIRTIO_MMIO_STATUS = 0x070,
	VIRTIO_MMIO_QUEUE_DESC_LOW = 0x080,
	VIRTIO_MMIO_QUEUE_DESC_HIGH = 0x084,
	VIRTIO_MMIO_QUEUE_DRIVER_LOW = 0x090,
	VIRTIO_MMIO_QUEUE_DRIVER_HIGH = 0x094,
	VIRTIO_MMIO_QUEUE_DEVICE_LOW = 0x0a0,
	VIRTIO_MMIO_QUEUE_DEVICE_HIGH = 0x0a4,
	VIRTIO_MMIO_SHM_SEL = 0x0ac,
	VIRTIO_MMIO_SHM_LEN_LOW = 0x0b0,
	VIRTIO_MMIO_SHM_LEN_HIGH = 0x0b4,
	VIRTIO_MMIO_SHM_BASE_LOW = 0x0b8,
	VIRTIO_MMIO_SHM_BASE_HIGH = 0x0bc,
	VIRTIO_MMIO_QUEUE_RESET = 0x0c0,
	VIRTIO_MMIO_CONFIG_GENERATION = 0x0fc,
	VIRTIO_MMIO_CONFIG = 0x100,
};

#define VIRTIO_MAGIC 0x74726976u	/* "virt" */
#define VIRTIO_VENDOR_FERRY 0x46455259u /* "FERY" */

static uint64_t virtio_offered(const struct virtio_mmio *v)
{
	return v->ops->features | VIRTIO_F_VERSION_1;
}

void virtio_update_irq(struct virtio_mmio *v)
{
	machine_set_irq(v->m, v->irq, v->interrupt_status != 0);
}

static void virtio_raise(struct virtio_mmio *v, uint32_t bits)
{
	v->interrupt_status |= bits;
	virtio_update_irq(v);
}

void virtio_fail(struct virtio_mmio *v, const char *why)
{
	v->errors++;
	if (v->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	log_warn("%s (slot %u): %s; device needs reset", v->ops->name, v->slot, why);
	v->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (v->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_raise(v, VIRTIO_INT_CONFIG);
}

/* Return the transport to its reset state (status 0). */
static void virtio_reset(struct virtio_mmio *v)
{
	v->status = 0;
	v->device_features_sel = v->driver_features_sel = 0;
	v->driver_features = 0;
	v->queue_sel = 0;
	v->interrupt_status = 0;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		v->q_num[q] = v->q_ready[q] = 0;
		v->q_desc[q] = v->q_avail[q] = v->q_used[q] = 0;
		v->q_last_avail[q] = v->q_used_idx[q] = 0;
	}
	if (v->ops->reset)
		v->ops->reset(v);
	virtio_update_irq(v);
}

/* The rings of queue q lie inside RAM and are aligned as the spec requires. */
static bool virtq_layout_ok(const struct virtio_mmio *v, unsigned q)
{
	const struct ram *r = &v->m->ram;
	uint64_t n = v->q_num[q];

	if (n == 0 || n > VIRTQ_SIZE_MAX || (n & (n - 1)))
		return false;
	if ((v->q_desc[q] & 15) || (v->q_avail[q] & 1) || (v->q_used[q] & 3))
		return false;
	return ram_contains(r, v->q_desc[q], 16 * n) && ram_contains(r, v->q_avail[q], 6 + 2 * n) &&
	       ram_contains(r, v->q_used[q], 6 + 8 * n);
}

bool virtq_ready(const struct virtio_mmio *v, unsigned q)
{
	return q < v->ops->nqueues && v->q_ready[q] &&
	       (v->status & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_NEEDS_RESET)) ==
		   VIRTIO_STATUS_DRIVER_OK;
}

int virtq_pop(struct virtio_mmio *v, unsigned q, struct virtq_chain *c)
{
	struct ram *r = &v->m->ram;
	uint16_t avail_idx, head, idx;
	uint32_t n;
	unsigned count = 0;

	if (!virtq_ready(v, q))
		return 0;
	n = v->q_num[q];
	avail_idx = (uint16_t)ram_load(r, v->q_avail[q] + 2, 2);
	if (avail_idx == v->q_last_avail[q])
		return 0;
	if ((uint16_t)(avail_idx - v->q_last_avail[q]) > n) {
		virtio_fail(v, "available index runs more than a queue ahead");
		return -1;
	}
	head = (uint16_t)ram_load(r, v->q_avail[q] + 4 + 2 * (v->q_last_avail[q] % n), 2);
	if (head >= n) {
		virtio_fail(v, "available ring names a descriptor beyond the queue");
		return -1;
	}
	c->head = head;
	c->nr = c->nw = 0;
	c->rlen = c->wlen = 0;
	idx = head;
	for (;;) {
		uint64_t d = v->q_desc[q] + 16 * (uint64_t)idx;
		uint64_t addr = ram_load(r, d, 8);
		uint32_t len = (uint32_t)ram_load(r, d + 8, 4);
		uint16_t flags = (uint16_t)ram_load(r, d + 12, 2);
		uint16_t next = (uint16_t)ram_load(r, d + 14, 2);

		if (++count > n) {
			virtio_fail(v, "descriptor chain loops or is longer than the queue");
			return -1;
		}
		if (flags & VIRTQ_DESC_F_INDIRECT) {
			virtio_fail(v, "indirect descriptor, a feature not offered");
			return -1;
		}
		if (len && !ram_contains(r, addr, len)) {
			virtio_fail(v, "descriptor buffer outside guest memory");
			return -1;
		}
		if (flags & VIRTQ_DESC_F_WRITE) {
			c->w[c->nw++] = (struct virtq_buf){ addr, len };
			c->wlen += len;
		} else {
			if (c->nw) {
				virtio_fail(v, "readable descriptor after a writable one");
				return -1;
			}
			c->r[c->nr++] = (struct virtq_buf){ addr, len };
			c->rlen += len;
		}
		if (c->rlen + c->wlen > VIRTQ_MAX_CHAIN_BYTES) {
			virtio_fail(v, "descriptor chain larger than 1 GiB");
			return -1;
		}
		if (!(flags & VIRTQ_DESC_F_NEXT))
			break;
		if (next >= n) {
			virtio_fail(v, "descriptor's next index beyond the queue");
			return -1;
		}
		idx = next;
	}
	v->q_last_avail[q]++;
	return 1;
}

uint64_t virtq_read(struct virtio_mmio *v, const struct virtq_chain *c, uint64_t off, void *out,
		    uint64_t len)
{
	uint64_t done = 0;

	for (unsigned i = 0; i < c->nr && done < len; i++) {
		const struct virtq_buf *b = &c->r[i];

		if (off >= b->len) {
			off -= b->len;
			continue;
		}
		uint64_t n = b->len - off;

		if (n > len - done)
			n = len - done;
		ram_read(&v->m->ram, b->addr + off, (uint8_t *)out + done, n);
		done += n;
		off = 0;
	}
	return done;
}

uint64_t virtq_write(struct virtio_mmio *v, const struct virtq_chain *c, uint64_t off,
		     const void *in, uint64_t len)
{
	uint64_t done = 0;

	for (unsigned i = 0; i < c->nw && done < len; i++) {
		const struct virtq_buf *b = &c->w[i];

		if (off >= b->len) {
			off -= b->len;
			continue;
		}
		uint64_t n = b->len - off;

		if (n > len - done)
			n = len - done;
		ram_write(&v->m->ram, b->addr + off, (const uint8_t *)in + done, n);
		done += n;
		off = 0;
	}
	return done;
}

void virtq_push(struct virtio_mmio *v, unsigned q, const struct virtq_chain *c, uint32_t written)
{
	struct ram *r = &v->m->ram;
	uint32_t n = v->q_num[q];
	uint64_t elem = v->q_used[q] + 4 + 8 * (uint64_t)(v->q_used_idx[q] % n);

	ram_store(r, elem, c->head, 4);
	ram_store(r, elem + 4, written, 4);
	v->q_used_idx[q]++;
	/* The index is published after the element (one thread: program order suffices for the
	 * hart, which runs only between device calls). */
	ram_store(r, v->q_used[q] + 2, v->q_used_idx[q], 2);
}

void virtq_notify_guest(struct virtio_mmio *v, unsigned q)
{
	uint16_t flags = (uint16_t)ram_load(&v->m->ram, v->q_avail[q], 2);

	if (!(flags & VIRTQ_AVAIL_F_NO_INTERRUPT))
		virtio_raise(v, VIRTIO_INT_USED);
}

/* ---- registers ---------------------------------------------------------------------------- */

static bool virtio_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	struct virtio_mmio *v = opaque;
	unsigned q = v->queue_sel;

	if (off >= VIRTIO_MMIO_CONFIG) {
		uint64_t coff = off - VIRTIO_MMIO_CONFIG;
		uint8_t buf[8] = { 0 };

		if (coff + size > v->ops->config_size)
			return false;
		v->ops->config_read(v, (uint32_t)coff, buf, size);
		*val = 0;
		memcpy(val, buf, size);
		return true;
	}
	if (size != 4)
		return false;
	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		*val = VIRTIO_MAGIC;
		return true;
	case VIRTIO_MMIO_VERSION:
		*val = 2;
		return true;
	case VIRTIO_MMIO_DEVICE_ID:
		*val = v->ops->device_id;
		return true;
	case VIRTIO_MMIO_VENDOR_ID:
		*val = VIRTIO_VENDOR_FERRY;
		return true;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		*val = (uint32_t)(virtio_offered(v) >> (32 * v->device_features_sel));
		return true;
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		*val = q < v->ops->nqueues ? VIRTQ_SIZE_MAX : 0;
		return true;
	case VIRTIO_MMIO_QUEUE_READY:
		*val = q < v->ops->nqueues ? v->q_ready[q] : 0;
		return true;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		*val = v->interrupt_status;
		return true;
	case VIRTIO_MMIO_STATUS:
		*val = v->status;
		return true;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
		*val = 0xffffffffu; /* no shared memory regions */
		return true;
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH:
	case VIRTIO_MMIO_QUEUE_RESET:
		*val = 0;
		return true;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		*val = v->config_generation;
		return true;
	case VIRTIO_MMIO_QUEUE_NUM:
		*val = q < v->ops->nqueues ? v->q_num[q] : 0;
		return true;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH: {
		uint64_t a = 0;

		if (q < v->ops->nqueues)
			a = off < VIRTIO_MMIO_QUEUE_DRIVER_LOW	 ? v->q_desc[q]
			    : off < VIRTIO_MMIO_QUEUE_DEVICE_LOW ? v->q_avail[q]
								 : v->q_used[q];
		*val = (uint32_t)(a >> ((off & 4) ? 32 : 0));
		return true;
	}
	default:
		return false; /* write-only registers and holes */
	}
}

/* Set the low or high half of a queue address. */
static void set_half(uint64_t *a, uint64_t off, uint32_t v)
{
	if (off & 4)
		*a = (*a & 0xffffffffull) | (uint64_t)v << 32;
	else
		*a = (*a & ~0xffffffffull) | v;
}

static void virtio_write_status(struct virtio_mmio *v, uint32_t val)
{
	if (val == 0) {
		virtio_reset(v);
		return;
	}
	val &= 0xff;
	if ((val & VIRTIO_STATUS_FEATURES_OK) && !(v->status & VIRTIO_STATUS_FEATURES_OK)) {
		/* Accept the features only if they are a subset of what is offered and include
		 * VERSION_1 (no legacy interface here); otherwise FEATURES_OK stays clear and the
		 * driver gives up, as the spec intends. */
		if ((v->driver_features & ~virtio_offered(v)) ||
		    !(v->driver_features & VIRTIO_F_VERSION_1))
			val &= ~(uint32_t)VIRTIO_STATUS_FEATURES_OK;
	}
	/* The device owns NEEDS_RESET: the driver cannot set or clear it. */
	val =
	    (val & ~(uint32_t)VIRTIO_STATUS_NEEDS_RESET) | (v->status & VIRTIO_STATUS_NEEDS_RESET);
	bool now_ok = (val & VIRTIO_STATUS_DRIVER_OK) && !(v->status & VIRTIO_STATUS_DRIVER_OK);

	v->status = val;
	if (now_ok && v->ops->driver_ok)
		v->ops->driver_ok(v);
}

static bool virtio_write(void *opaque, uint64_t off, unsigned size, uint64_t val64)
{
	struct virtio_mmio *v = opaque;
	uint32_t val = (uint32_t)val64;
	unsigned q = v->queue_sel;
	bool q_ok = q < v->ops->nqueues;

	if (off >= VIRTIO_MMIO_CONFIG) {
		uint64_t coff = off - VIRTIO_MMIO_CONFIG;
		uint8_t buf[8];

		if (coff + size > v->ops->config_size || !v->ops->config_write)
			return false;
		memcpy(buf, &val64, size);
		v->ops->config_write(v, (uint32_t)coff, buf, size);
		return true;
	}
	if (size != 4)
		return false;
	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		v->device_features_sel = val ? 1 : 0; /* only two words of features exist */
		return true;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		v->driver_features_sel = val ? 1 : 0;
		return true;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (v->status & VIRTIO_STATUS_FEATURES_OK)
			return true; /* too late: ignored */
		if (v->driver_features_sel)
			v->driver_features = (v->driver_features & 0xffffffffull) | (uint64_t)val
											<< 32;
		else
			v->driver_features = (v->driver_features & ~0xffffffffull) | val;
		return true;
	case VIRTIO_MMIO_QUEUE_SEL:
		/* Any value; a queue that does not exist reads QueueNumMax 0. */
		v->queue_sel = val;
		return true;
	case VIRTIO_MMIO_QUEUE_NUM:
		if (q_ok && !v->q_ready[q])
			v->q_num[q] = val > VIRTQ_SIZE_MAX ? VIRTQ_SIZE_MAX + 1 : val;
		if (q_ok && v->q_num[q] > VIRTQ_SIZE_MAX) {
			v->q_num[q] = 0;
			virtio_fail(v, "queue size above QueueNumMax");
		}
		return true;
	case VIRTIO_MMIO_QUEUE_READY:
		if (!q_ok)
			return true;
		if (val & 1) {
			if (!virtq_layout_ok(v, q)) {
				virtio_fail(v, "queue size or ring addresses invalid when enabled");
				return true;
			}
			v->q_ready[q] = 1;
		} else {
			v->q_ready[q] = 0;
		}
		return true;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		if (val < v->ops->nqueues && virtq_ready(v, val) && v->ops->notify)
			v->ops->notify(v, val);
		return true;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		v->interrupt_status &= ~val;
		virtio_update_irq(v);
		return true;
	case VIRTIO_MMIO_STATUS:
		virtio_write_status(v, val);
		return true;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if (q_ok && !v->q_ready[q])
			set_half(&v->q_desc[q], off, val);
		return true;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		if (q_ok && !v->q_ready[q])
			set_half(&v->q_avail[q], off, val);
		return true;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		if (q_ok && !v->q_ready[q])
			set_half(&v->q_used[q], off, val);
		return true;
	case VIRTIO_MMIO_SHM_SEL:
		return true;
	case VIRTIO_MMIO_QUEUE_RESET:
		return true; /* VIRTIO_F_RING_RESET is not offered */
	default:
		return false; /* read-only registers and holes */
	}
}

static const struct mmio_ops virtio_mmio_ops = { .read = virtio_read, .write = virtio_write };

static int virtio_fdt(void *opaque, struct machine *m, void *fdt)
{
	struct virtio_mmio *v = opaque;
	char name[40];

	(void)m;
	snprintf(name, sizeof(name), "virtio_mmio@%llx", (unsigned long long)v->base);
	DTB_CHECK(fdt_begin_node(fdt, name));
	DTB_CHECK(fdt_property_string(fdt, "compatible", "virtio,mmio"));
	DTB_CHECK(dtb_reg(fdt, v->base, VIRTIO_MMIO_SIZE));
	DTB_CHECK(fdt_property_u32(fdt, "interrupts", v->irq));
	DTB_CHECK(fdt_property_u32(fdt, "interrupt-parent", DTB_PHANDLE_PLIC));
	DTB_CHECK(fdt_end_node(fdt));
	return 0;
}

static void virtio_dev_reset(void *opaque)
{
	virtio_reset(opaque);
}

static void virtio_dev_run_state(void *opaque, bool running)
{
	struct virtio_mmio *v = opaque;

	if (v->ops->run_state)
		v->ops->run_state(v, running);
}

int virtio_check_state(struct virtio_mmio *v, struct err *e)
{
	if (v->driver_features & ~virtio_offered(v))
		return err_set(e, "field 'driver_features': features this device does not offer");
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (q >= v->ops->nqueues && (v->q_ready[q] || v->q_num[q]))
			return err_set(e, "queue %u is set up but the device has %u queues", q,
				       v->ops->nqueues);
		if (v->q_ready[q] && !virtq_layout_ok(v, q))
			return err_set(e, "queue %u: size or ring addresses invalid", q);
	}
	virtio_update_irq(v);
	return 0;
}

int virtio_mmio_init(struct virtio_mmio *v, struct machine *m, const struct virtio_ops *ops,
		     void *dev, const struct state_desc *state, const struct machine_dev *hooks,
		     struct err *e)
{
	struct machine_dev md = { 0 };
	unsigned slot = m->nvirtio;

	if (hooks)
		md = *hooks;
	md.name = ops->name;
	md.opaque = v;
	md.fdt = virtio_fdt;
	md.reset = virtio_dev_reset;
	md.run_state = virtio_dev_run_state;

	if (slot >= VIRTIO_MMIO_SLOTS)
		return err_set(e, "%s: all %d virtio-mmio slots are taken", ops->name,
			       VIRTIO_MMIO_SLOTS);
	if (ops->nqueues > VIRTIO_MAX_QUEUES)
		return err_set(e, "%s: %u queues, at most %d", ops->name, ops->nqueues,
			       VIRTIO_MAX_QUEUES);
	memset(v, 0, sizeof(*v));
	v->ops = ops;
	v->dev = dev;
	v->m = m;
	v->slot = slot;
	v->irq = 1 + slot;
	v->base = MACHINE_VIRTIO_BASE + VIRTIO_MMIO_SIZE * slot;
	if (machine_add_region(m, ops->name, v->base, VIRTIO_MMIO_SIZE, &virtio_mmio_ops, v, e) < 0)
		return -1;
	/* The device's state section covers the transport too; the board resets through the
	 * transport, which resets the device. */
	md.state = state;
	md.state_obj = dev;
	if (machine_add_dev(m, &md, e) < 0)
		return -1;
	m->nvirtio++;
	return 0;
}
