/* vrng.c - virtio entropy device: one queue of device-writable buffers, filled with
 * randomness from getrandom(2), or under the deterministic clock from a seeded xorshift
 * generator whose state migrates with the device. */
#include "vmm/devices/vrng.h"

#include <sys/random.h>

#include "vmm/board/machine.h"

#define VRNG_CHUNK 4096

static void vrng_config_read(struct virtio_mmio *v, uint32_t off, uint8_t *out, unsigned size)
{
	(void)v;
	(void)off;
	(void)out;
	(void)size; /* no config space */
}

static void vrng_fill(struct vrng *r, uint8_t *buf, size_t n)
{
	if (r->prng) {
		for (size_t i = 0; i < n; i++) {
			r->prng ^= r->prng << 13;
			r->prng ^= r->prng >> 7;
			r->prng ^= r->prng << 17;
			buf[i] = (uint8_t)(r->prng >> 32);
		}
		return;
	}
	size_t done = 0;

	while (done < n) {
		ssize_t got = getrandom(buf + done, n - done, GRND_NONBLOCK);

		if (got <= 0)
			break;
		done += (size_t)got;
	}
	/* Without entropy (never, in practice) the rest stays zero: the guest's pool mixes it. */
	for (; done < n; done++)
		buf[done] = 0;
}

static void vrng_notify(struct virtio_mmio *v, unsigned q)
{
	struct vrng *r = v->dev;
	static struct virtq_chain c; /* large: not on the stack; one thread uses it */
	uint8_t buf[VRNG_CHUNK];
	bool any = false;
	int rc;

	while ((rc = virtq_pop(v, q, &c)) == 1) {
		uint64_t n = c.wlen < VRNG_CHUNK ? c.wlen : VRNG_CHUNK;

		vrng_fill(r, buf, n);
		virtq_write(v, &c, 0, buf, n);
		virtq_push(v, q, &c, (uint32_t)n);
		r->bytes += n;
		any = true;
	}
	if (any)
		virtq_notify_guest(v, q);
}

static const struct virtio_ops vrng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.features = 0,
	.nqueues = 1,
	.config_size = 0,
	.config_read = vrng_config_read,
	.notify = vrng_notify,
};

static int vrng_post_load(void *obj, struct err *e)
{
	struct vrng *r = obj;

	/* The generator's state is the peer's word: only a deterministic machine, which asked
	 * for a reproducible guest, keeps it. Any other draws from the host again, whatever the
	 * stream said, so nobody who wrote it knows what the guest gets next. */
	if (!r->deterministic)
		r->prng = 0;
	return virtio_check_state(&r->vio, e);
}

static const struct state_field vrng_fields[] = {
	VIRTIO_STATE_FIELDS(struct vrng, vio),
	STATE_FIELD(struct vrng, prng),
};

const struct state_desc vrng_state = {
	.name = "virtio-rng",
	.version = 1,
	.fields = vrng_fields,
	.nfields = STATE_NFIELDS(vrng_fields),
	.post_load = vrng_post_load,
};

int vrng_init(struct vrng *r, struct machine *m, bool deterministic, struct err *e)
{
	if (virtio_mmio_init(&r->vio, m, &vrng_ops, r, &vrng_state, NULL, e) < 0)
		return -1;
	r->deterministic = deterministic;
	r->prng = deterministic ? 0x9e3779b97f4a7c15ull : 0;
	r->bytes = 0;
	return 0;
}
