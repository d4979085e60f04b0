/* virtio.h - virtio-mmio version 2 transport and split virtqueues (virtio 1.x spec).
 *
 * A virtio device embeds a `struct virtio_mmio` (the transport: registers,
 * features, queues) and supplies a `struct virtio_ops` (device id, features,
 * config space, what to do when a queue is notified). The transport decodes
 * the MMIO window, negotiates features, keeps the queue addresses, and offers
 * the device a safe way to use its queues:
 *
 *   virtq_pop()   takes the next available descriptor chain and validates all
 *                 of it (index bounds, loops, chain length, every buffer
 *                 inside guest RAM, readable buffers before writable ones)
 *                 before the device sees a single address;
 *   virtq_read()  / virtq_write() copy between the chain and the host, through
 *                 the RAM accessors (writes mark pages dirty);
 *   virtq_push()  returns the chain to the used ring.
 *
 * The guest controls every byte of the rings, so nothing there is trusted:
 * a malformed ring puts the device in DEVICE_NEEDS_RESET (the spec's way to
 * say "broken"), raises a configuration-change interrupt and stops using the
 * queues until the driver resets the device. The host process never crashes
 * and never touches memory outside the guest.
 *
 * Transport state holds only guest physical addresses and indices, so it is
 * declared in the device's state table (VIRTIO_STATE_FIELDS) and migrates.
 */
#ifndef FERRY_VIRTIO_H
#define FERRY_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "common/state.h"

struct machine;
struct machine_dev;
struct virtio_mmio;

#define VIRTIO_MMIO_SIZE 0x1000
#define VIRTIO_MMIO_SLOTS 8
#define VIRTIO_MAX_QUEUES 2
#define VIRTQ_SIZE_MAX 256
#define VIRTQ_MAX_CHAIN_BYTES (1u << 30) /* more than any request needs */

/* Device ids (virtio spec, "Device Types") */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_RNG 4

/* Feature bits common to every device */
#define VIRTIO_F_VERSION_1 (1ull << 32)

/* Device status bits */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

/* InterruptStatus bits */
#define VIRTIO_INT_USED 1
#define VIRTIO_INT_CONFIG 2

/* Descriptor flags */
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct virtio_ops {
	const char *name; /* "virtio-net", ... (device tree, logs) */
	uint32_t device_id;
	uint64_t features; /* offered; VIRTIO_F_VERSION_1 is added by the transport */
	unsigned nqueues;
	uint32_t config_size;
	/* Copy size bytes of the device's config space at off into out (off + size is within
	 * config_size). */
	void (*config_read)(struct virtio_mmio *v, uint32_t off, uint8_t *out, unsigned size);
	/* The driver wrote config space (NULL: config is read-only). */
	void (*config_write)(struct virtio_mmio *v, uint32_t off, const uint8_t *in, unsigned size);
	/* The driver notified queue q (it is ready and the device is DRIVER_OK). */
	void (*notify)(struct virtio_mmio *v, unsigned q);
	/* The driver reset the device: forget device-specific progress. */
	void (*reset)(struct virtio_mmio *v);
	/* The driver set DRIVER_OK. */
	void (*driver_ok)(struct virtio_mmio *v);
	/* The machine paused (running false) or resumed (NULL: nothing to do). */
	void (*run_state)(struct virtio_mmio *v, bool running);
};

struct virtio_mmio {
	/* transport state (migrated through VIRTIO_STATE_FIELDS) */
	uint32_t status;
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint64_t driver_features;
	uint32_t queue_sel;
	uint32_t interrupt_status;
	uint32_t config_generation;
	uint32_t q_num[VIRTIO_MAX_QUEUES];
	uint32_t q_ready[VIRTIO_MAX_QUEUES];
	uint64_t q_desc[VIRTIO_MAX_QUEUES];
	uint64_t q_avail[VIRTIO_MAX_QUEUES];
	uint64_t q_used[VIRTIO_MAX_QUEUES];
	uint16_t q_last_avail[VIRTIO_MAX_QUEUES]; /* next avail entry the device will take */
	uint16_t q_used_idx[VIRTIO_MAX_QUEUES];	  /* next used entry the device will fill */

	/* links */
	const struct virtio_ops *ops;
	void *dev; /* the device embedding this transport */
	struct machine *m;
	unsigned slot, irq;
	uint64_t base;
	uint64_t errors; /* rings found malformed (statistics) */
};

/* The transport fields of a device's state table, for a device struct T embedding a
 * struct virtio_mmio as member M. */
#define VIRTIO_STATE_FIELDS(T, M)                                                                  \
	STATE_FIELD_MAX(T, M.status, 0xff), STATE_FIELD_MAX(T, M.device_features_sel, 1),          \
	    STATE_FIELD_MAX(T, M.driver_features_sel, 1), STATE_FIELD(T, M.driver_features),       \
	    STATE_FIELD(T, M.queue_sel), STATE_FIELD_MAX(T, M.interrupt_status, 3),                \
	    STATE_FIELD(T, M.config_generation), STATE_ARRAY_MAX(T, M.q_num, VIRTQ_SIZE_MAX),      \
	    STATE_ARRAY_MAX(T, M.q_ready, 1), STATE_ARRAY(T, M.q_desc), STATE_ARRAY(T, M.q_avail), \
	    STATE_ARRAY(T, M.q_used), STATE_ARRAY(T, M.q_last_avail), STATE_ARRAY(T, M.q_used_idx)

/* One buffer of a chain. */
struct virtq_buf {
	uint64_t addr;
	uint32_t len;
};

/* A validated descriptor chain: readable buffers first, then writable ones. */
struct virtq_chain {
	uint16_t head;
	unsigned nr, nw;
	uint64_t rlen, wlen; /* total readable and writable bytes */
	struct virtq_buf r[VIRTQ_SIZE_MAX];
	struct virtq_buf w[VIRTQ_SIZE_MAX];
};

/* Register a device in the next free virtio-mmio slot. hooks (or NULL) gives the device's
 * own board operations (kind, what the guest sees, flush, release, frames, destroy); they are
 * called with the transport as opaque (virtio_dev() gives the device back). */
int virtio_mmio_init(struct virtio_mmio *v, struct machine *m, const struct virtio_ops *ops,
		     void *dev, const struct state_desc *state, const struct machine_dev *hooks,
		     struct err *e);

/* The device behind a transport, from a board operation's opaque. */
static inline void *virtio_dev(void *opaque)
{
	return ((struct virtio_mmio *)opaque)->dev;
}

/* Is the queue usable now (device DRIVER_OK, not broken, queue ready)? */
bool virtq_ready(const struct virtio_mmio *v, unsigned q);
/* Take the next available chain. Returns 1 with *c filled, 0 if the queue is empty, -1 if
 * the ring is malformed (the device is then marked DEVICE_NEEDS_RESET). */
int virtq_pop(struct virtio_mmio *v, unsigned q, struct virtq_chain *c);
/* Copy up to len bytes of the chain's readable part, from byte off, into out. Returns the
 * number of bytes copied. */
uint64_t virtq_read(struct virtio_mmio *v, const struct virtq_chain *c, uint64_t off, void *out,
		    uint64_t len);
/* Copy len bytes into the chain's writable part at byte off (marks pages dirty). Returns the
 * number of bytes written (less if the buffers are shorter). */
uint64_t virtq_write(struct virtio_mmio *v, const struct virtq_chain *c, uint64_t off,
		     const void *in, uint64_t len);
/* Put the chain on the used ring with the number of bytes written into it. */
void virtq_push(struct virtio_mmio *v, unsigned q, const struct virtq_chain *c, uint32_t written);
/* Raise the used-buffer interrupt unless the driver asked for none on this queue. */
void virtq_notify_guest(struct virtio_mmio *v, unsigned q);
/* Mark the device broken: DEVICE_NEEDS_RESET and a configuration-change interrupt. */
void virtio_fail(struct virtio_mmio *v, const char *why);
/* Was a feature negotiated? */
static inline bool virtio_has(const struct virtio_mmio *v, uint64_t feature)
{
	return (v->driver_features & feature) != 0;
}

/* The interrupt line follows InterruptStatus; call after loading state. */
void virtio_update_irq(struct virtio_mmio *v);
/* Check loaded transport state against what the device offers (post_load helper). */
int virtio_check_state(struct virtio_mmio *v, struct err *e);

#endif
