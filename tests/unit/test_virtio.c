/* test_virtio.c - the virtio-mmio transport and virtqueues against well-behaved and hostile
 * drivers: every guest-controlled value is checked, a malformed ring puts the device in
 * DEVICE_NEEDS_RESET, and nothing outside guest RAM is ever touched (ASan watches). */
#include "harness.h"
#include "vmm/devices/vblk.h"
#include "vmm/devices/vrng.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define MMIO(m, slot) (MACHINE_VIRTIO_BASE + 0x1000ull * (slot))
#define R_MAGIC 0x000
#define R_VERSION 0x004
#define R_DEVICE_ID 0x008
#define R_DEV_FEAT 0x010
#define R_DEV_FEAT_SEL 0x014
#define R_DRV_FEAT 0x020
#define R_DRV_FEAT_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_INT_STATUS 0x060
#define R_INT_ACK 0x064
#define R_STATUS 0x070
#define R_DESC 0x080
#define R_AVAIL 0x090
#define R_USED 0x0a0
#define R_CONFIG 0x100

#define QN 8
#define DESC (TH_RAM + 0x100000)
#define AVAIL (TH_RAM + 0x101000)
#define USED (TH_RAM + 0x102000)
#define BUFS (TH_RAM + 0x110000)

static uint32_t rd(struct machine *m, unsigned slot, uint64_t off)
{
	uint64_t v = 0;

	assert_true(machine_mmio_read(m, MMIO(m, slot) + off, 4, &v));
	return (uint32_t)v;
}

static void wr(struct machine *m, unsigned slot, uint64_t off, uint32_t v)
{
	assert_true(machine_mmio_write(m, MMIO(m, slot) + off, 4, v));
}

static void wr64(struct machine *m, unsigned slot, uint64_t off, uint64_t v)
{
	wr(m, slot, off, (uint32_t)v);
	wr(m, slot, off + 4, (uint32_t)(v >> 32));
}

/* Drive the device to DRIVER_OK with queue 0 at DESC/AVAIL/USED of size num. */
static void setup(struct machine *m, unsigned slot, uint32_t num)
{
	wr(m, slot, R_STATUS, 0);
	wr(m, slot, R_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(m, slot, R_DRV_FEAT_SEL, 1);
	wr(m, slot, R_DRV_FEAT, 1); /* VERSION_1 */
	wr(m, slot, R_DRV_FEAT_SEL, 0);
	wr(m, slot, R_DRV_FEAT, 0);
	wr(m, slot, R_STATUS,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	assert_true(rd(m, slot, R_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	wr(m, slot, R_QUEUE_SEL, 0);
	wr(m, slot, R_QUEUE_NUM, num);
	wr64(m, slot, R_DESC, DESC);
	wr64(m, slot, R_AVAIL, AVAIL);
	wr64(m, slot, R_USED, USED);
	wr(m, slot, R_QUEUE_READY, 1);
	wr(m, slot, R_STATUS,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
	       VIRTIO_STATUS_DRIVER_OK);
	ram_fill(&m->ram, AVAIL, 0, 0x1000);
	ram_fill(&m->ram, USED, 0, 0x1000);
}

static void desc(struct machine *m, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	uint64_t d = DESC + 16ull * i;

	ram_store(&m->ram, d, addr, 8);
	ram_store(&m->ram, d + 8, len, 4);
	ram_store(&m->ram, d + 12, flags, 2);
	ram_store(&m->ram, d + 14, next, 2);
}

/* Offer head as the next available entry and notify. */
static void offer(struct machine *m, unsigned slot, uint16_t head)
{
	uint16_t idx = (uint16_t)ram_load(&m->ram, AVAIL + 2, 2);

	ram_store(&m->ram, AVAIL + 4 + 2 * (idx % QN), head, 2);
	ram_store(&m->ram, AVAIL + 2, (uint16_t)(idx + 1), 2);
	wr(m, slot, R_QUEUE_NOTIFY, 0);
}

static uint16_t used_idx(struct machine *m)
{
	return (uint16_t)ram_load(&m->ram, USED + 2, 2);
}

static bool broken(struct machine *m, unsigned slot)
{
	return (rd(m, slot, R_STATUS) & VIRTIO_STATUS_NEEDS_RESET) != 0;
}

/* The bare machine has virtio-rng in slot 0. */
#define RNG 0

static void test_transport_identity(void **state)
{
	struct machine *m = th_machine(0);
	uint64_t v;

	(void)state;
	assert_int_equal(rd(m, RNG, R_MAGIC), 0x74726976);
	assert_int_equal(rd(m, RNG, R_VERSION), 2);
	assert_int_equal(rd(m, RNG, R_DEVICE_ID), VIRTIO_ID_RNG);
	wr(m, RNG, R_DEV_FEAT_SEL, 1);
	assert_int_equal(rd(m, RNG, R_DEV_FEAT) & 1, 1); /* VERSION_1 */
	assert_int_equal(rd(m, RNG, R_QUEUE_NUM_MAX), VIRTQ_SIZE_MAX);
	wr(m, RNG, R_QUEUE_SEL, 5);
	assert_int_equal(rd(m, RNG, R_QUEUE_NUM_MAX), 0); /* no such queue */
	/* Only 32-bit register accesses; read-only registers refuse writes; write-only ones
	 * refuse reads; holes refuse both. */
	assert_false(machine_mmio_read(m, MMIO(m, RNG) + R_MAGIC, 2, &v));
	assert_false(machine_mmio_write(m, MMIO(m, RNG) + R_MAGIC, 4, 1));
	assert_false(machine_mmio_write(m, MMIO(m, RNG) + R_INT_STATUS, 4, 1));
	assert_false(machine_mmio_read(m, MMIO(m, RNG) + R_QUEUE_NOTIFY, 4, &v));
	assert_false(machine_mmio_read(m, MMIO(m, RNG) + 0x018, 4, &v));
	/* No config space on an entropy device. */
	assert_false(machine_mmio_read(m, MMIO(m, RNG) + R_CONFIG, 1, &v));
	th_free(m);
}

static void test_features_ok_needs_version_1(void **state)
{
	struct machine *m = th_machine(0);

	(void)state;
	wr(m, RNG, R_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(m, RNG, R_STATUS,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	assert_false(rd(m, RNG, R_STATUS) & VIRTIO_STATUS_FEATURES_OK); /* legacy refused */
	/* A feature that is not offered is refused too. */
	wr(m, RNG, R_STATUS, 0);
	wr(m, RNG, R_DRV_FEAT_SEL, 1);
	wr(m, RNG, R_DRV_FEAT, 1 | 2);
	wr(m, RNG, R_STATUS, VIRTIO_STATUS_FEATURES_OK);
	assert_false(rd(m, RNG, R_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	th_free(m);
}

static void test_rng_good_path(void **state)
{
	struct machine *m = th_machine(0);
	uint8_t buf[64];
	int nonzero = 0;

	(void)state;
	setup(m, RNG, QN);
	ram_fill(&m->ram, BUFS, 0, 64);
	desc(m, 0, BUFS, 32, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	desc(m, 1, BUFS + 32, 32, VIRTQ_DESC_F_WRITE, 0);
	offer(m, RNG, 0);
	assert_int_equal(used_idx(m), 1);
	assert_int_equal(ram_load(&m->ram, USED + 4, 4), 0);  /* id */
	assert_int_equal(ram_load(&m->ram, USED + 8, 4), 64); /* len */
	assert_true(rd(m, RNG, R_INT_STATUS) & VIRTIO_INT_USED);
	assert_true(th_plic(m)->level &
		    (1u << th_virtio(m, "virtio-rng")->irq)); /* the interrupt line is up */
	ram_read(&m->ram, BUFS, buf, 64);
	for (int i = 0; i < 64; i++)
		nonzero += buf[i] != 0;
	assert_true(nonzero > 32);
	wr(m, RNG, R_INT_ACK, VIRTIO_INT_USED);
	assert_int_equal(rd(m, RNG, R_INT_STATUS), 0);
	assert_false(th_plic(m)->level & (1u << th_virtio(m, "virtio-rng")->irq));
	assert_false(broken(m, RNG));
	th_free(m);
}

/* Each hostile ring breaks the device, raises a config interrupt, and writes nothing. */
static void hostile(void (*build)(struct machine *m), const char *what)
{
	struct machine *m = th_machine(0);

	setup(m, RNG, QN);
	build(m);
	if (!broken(m, RNG))
		fail_msg("%s: device not marked DEVICE_NEEDS_RESET", what);
	assert_int_equal(used_idx(m), 0);
	assert_true(rd(m, RNG, R_INT_STATUS) & VIRTIO_INT_CONFIG);
	/* Broken devices ignore further notifications... */
	desc(m, 0, BUFS, 16, VIRTQ_DESC_F_WRITE, 0);
	offer(m, RNG, 0);
	assert_int_equal(used_idx(m), 0);
	/* ...until the driver resets them. */
	setup(m, RNG, QN);
	assert_false(broken(m, RNG));
	desc(m, 0, BUFS, 16, VIRTQ_DESC_F_WRITE, 0);
	offer(m, RNG, 0);
	assert_int_equal(used_idx(m), 1);
	th_free(m);
}

static void b_avail_jump(struct machine *m)
{
	ram_store(&m->ram, AVAIL + 2, QN + 1, 2); /* more than a queue's worth */
	wr(m, RNG, R_QUEUE_NOTIFY, 0);
}
static void b_head_out_of_range(struct machine *m)
{
	offer(m, RNG, QN);
}
static void b_next_out_of_range(struct machine *m)
{
	desc(m, 0, BUFS, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 200);
	offer(m, RNG, 0);
}
static void b_loop(struct machine *m)
{
	desc(m, 0, BUFS, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	desc(m, 1, BUFS, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
	offer(m, RNG, 0);
}
static void b_self_loop(struct machine *m)
{
	desc(m, 3, BUFS, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
	offer(m, RNG, 3);
}
static void b_outside_ram(struct machine *m)
{
	desc(m, 0, TH_RAM + m->ram.size - 8, 16, VIRTQ_DESC_F_WRITE, 0);
	offer(m, RNG, 0);
}
static void b_below_ram(struct machine *m)
{
	desc(m, 0, 0x1000, 16, VIRTQ_DESC_F_WRITE, 0);
	offer(m, RNG, 0);
}
static void b_wraparound(struct machine *m)
{
	desc(m, 0, 0xfffffffffffff000ull, 0x2000, VIRTQ_DESC_F_WRITE, 0);
	offer(m, RNG, 0);
}
static void b_huge_len(struct machine *m)
{
	desc(m, 0, BUFS, 0xffffffffu, VIRTQ_DESC_F_WRITE, 0);
	offer(m, RNG, 0);
}
static void b_read_after_write(struct machine *m)
{
	desc(m, 0, BUFS, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	desc(m, 1, BUFS + 16, 16, VIRTQ_DESC_F_NEXT, 2);
	desc(m, 2, BUFS + 32, 16, VIRTQ_DESC_F_WRITE, 0);
	offer(m, RNG, 0);
}
static void b_indirect(struct machine *m)
{
	desc(m, 0, BUFS, 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(m, RNG, 0);
}
static void b_chain_too_big(struct machine *m)
{
	/* Every descriptor inside RAM, but together over the 1 GiB bound: only possible with a
	 * large RAM; here a long chain over the same 8 MiB stands for it via the count bound. */
	for (unsigned i = 0; i < QN; i++)
		desc(m, i, BUFS, 1u << 23, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT,
		     (uint16_t)((i + 1) % QN));
	offer(m, RNG, 0);
}

static void test_hostile_rings(void **state)
{
	(void)state;
	hostile(b_avail_jump, "available index far ahead");
	hostile(b_head_out_of_range, "head beyond the queue");
	hostile(b_next_out_of_range, "next beyond the queue");
	hostile(b_loop, "two-descriptor loop");
	hostile(b_self_loop, "descriptor pointing at itself");
	hostile(b_outside_ram, "buffer running past the end of RAM");
	hostile(b_below_ram, "buffer below RAM (MMIO space)");
	hostile(b_wraparound, "buffer wrapping around the address space");
	hostile(b_huge_len, "4 GiB buffer");
	hostile(b_read_after_write, "readable after writable");
	hostile(b_indirect, "indirect descriptor not offered");
	hostile(b_chain_too_big, "chain longer than the queue");
}

static void test_bad_queue_setup(void **state)
{
	const uint32_t bad_nums[] = { 0, 3, 6, VIRTQ_SIZE_MAX * 2, 0xffffffffu };
	const uint64_t bad_desc[] = { 0x1000, TH_RAM + 8, TH_RAM + (16ull << 20) - 64,
				      UINT64_MAX - 15 };

	(void)state;
	for (unsigned i = 0; i < sizeof(bad_nums) / sizeof(bad_nums[0]); i++) {
		struct machine *m = th_machine(0);

		wr(m, RNG, R_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
		wr(m, RNG, R_QUEUE_SEL, 0);
		wr(m, RNG, R_QUEUE_NUM, bad_nums[i]);
		wr64(m, RNG, R_DESC, DESC);
		wr64(m, RNG, R_AVAIL, AVAIL);
		wr64(m, RNG, R_USED, USED);
		wr(m, RNG, R_QUEUE_READY, 1);
		assert_true(broken(m, RNG));
		assert_int_equal(rd(m, RNG, R_QUEUE_READY), 0);
		th_free(m);
	}
	for (unsigned i = 0; i < sizeof(bad_desc) / sizeof(bad_desc[0]); i++) {
		struct machine *m = th_machine(0);

		wr(m, RNG, R_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
		wr(m, RNG, R_QUEUE_NUM, QN);
		wr64(m, RNG, R_DESC, bad_desc[i]);
		wr64(m, RNG, R_AVAIL, AVAIL);
		wr64(m, RNG, R_USED, USED);
		wr(m, RNG, R_QUEUE_READY, 1);
		assert_true(broken(m, RNG));
		th_free(m);
	}
}

/* A machine with a disk image of 64 sectors in slot 0 (rng then in slot 1). */
static struct machine *disk_machine(char *path)
{
	struct machine_config cfg = { .mem_size = 16ull << 20, .console = "null" };
	struct machine *m = calloc(1, sizeof(*m));
	struct err e;
	int fd;

	snprintf(path, 64, "/tmp/ferry-test-disk.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 64 * 512), 0);
	close(fd);
	cfg.disks[0] = path;
	cfg.ndisks = 1;
	if (devices_machine_init(m, &cfg, &e) != 0)
		fail_msg("machine_init: %s", e.msg);
	return m;
}

/* Issue one block request: header, data (readable for OUT, writable for IN), status. */
/* Remove the image and the lease files the machine made beside it. */
static void disk_cleanup(const char *path)
{
	char f[96];

	unlink(path);
	snprintf(f, sizeof(f), "%s.lease", path);
	unlink(f);
	snprintf(f, sizeof(f), "%s.lease.lock", path);
	unlink(f);
}

static uint8_t blk_req(struct machine *m, uint32_t type, uint64_t sector, uint64_t data,
		       uint32_t len)
{
	uint8_t hdr[16] = { 0 };

	memcpy(hdr, &type, 4);
	memcpy(hdr + 8, &sector, 8);
	ram_write(&m->ram, BUFS, hdr, 16);
	ram_store(&m->ram, BUFS + 0x800, 0xff, 1);
	desc(m, 0, BUFS, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(m, 1, data, len, VIRTQ_DESC_F_NEXT | (type == 1 ? 0 : VIRTQ_DESC_F_WRITE), 2);
	desc(m, 2, BUFS + 0x800, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(m, 0, 0);
	return (uint8_t)ram_load(&m->ram, BUFS + 0x800, 1);
}

static void test_blk_requests(void **state)
{
	char path[64];
	struct machine *m = disk_machine(path);
	uint8_t pattern[1024], back[1024], id[21] = { 0 };
	uint64_t cap;

	(void)state;
	assert_int_equal(rd(m, 0, R_DEVICE_ID), VIRTIO_ID_BLOCK);
	assert_true(machine_mmio_read(m, MMIO(m, 0) + R_CONFIG, 8, &cap));
	assert_int_equal(cap, 64);
	setup(m, 0, QN);
	for (int i = 0; i < 1024; i++)
		pattern[i] = (uint8_t)(i * 7 + 3);
	ram_write(&m->ram, BUFS + 0x1000, pattern, 1024);
	assert_int_equal(blk_req(m, 1, 10, BUFS + 0x1000, 1024), 0); /* OUT sectors 10-11 */
	ram_fill(&m->ram, BUFS + 0x2000, 0, 1024);
	assert_int_equal(blk_req(m, 0, 10, BUFS + 0x2000, 1024), 0); /* IN */
	ram_read(&m->ram, BUFS + 0x2000, back, 1024);
	assert_memory_equal(pattern, back, 1024);
	assert_int_equal(blk_req(m, 4, 0, BUFS + 0x2000, 0), 0);  /* FLUSH */
	assert_int_equal(blk_req(m, 8, 0, BUFS + 0x3000, 20), 0); /* GET_ID */
	ram_read(&m->ram, BUFS + 0x3000, id, 20);
	assert_true(strncmp((char *)id, "ferry-test-disk", 15) == 0);
	/* Out of range, partial sectors, unknown types: errors, and the device keeps working. */
	assert_int_equal(blk_req(m, 0, 63, BUFS + 0x2000, 1024), 1);	    /* past the end */
	assert_int_equal(blk_req(m, 0, UINT64_MAX, BUFS + 0x2000, 512), 1); /* overflow */
	assert_int_equal(blk_req(m, 1, 0, BUFS + 0x1000, 100), 1);	    /* not a sector */
	assert_int_equal(blk_req(m, 99, 0, BUFS + 0x1000, 512), 2);	    /* unsupported */
	assert_int_equal(blk_req(m, 8, 0, BUFS + 0x3000, 4), 1); /* id buffer too short */
	assert_false(broken(m, 0));
	assert_int_equal(used_idx(m), 9);
	/* A request with no writable byte for the status breaks the device. */
	desc(m, 0, BUFS, 16, 0, 0);
	offer(m, 0, 0);
	assert_true(broken(m, 0));
	machine_destroy(m);
	free(m);
	disk_cleanup(path);
}

struct turns {
	struct machine *m;
	int ticks;
};

static void turns_tick(void *opaque)
{
	struct turns *t = opaque;

	t->ticks++;
	if (used_idx(t->m) == 1 || t->ticks > 100000)
		machine_request_exit(t->m, MACHINE_QUIT);
	machine_wake_at(t->m, gclock_host_ns()); /* a stopped hart would sleep for good */
}

/* One read of 48 MiB in one descriptor: the notify returns after a bounded piece of it, the
 * run loop serves the rest over later turns while its clients (the control socket, a
 * migration) get theirs; the request completes whole and right. A flush finishes what is
 * under way. (It used to be served whole inside the guest's notify.) */
static void test_blk_huge_request_bounded(void **state)
{
	const uint64_t len = 48ull << 20, disk = 64ull << 20;
	struct machine_config cfg = { .mem_size = 128ull << 20, .console = "null", .ndisks = 1 };
	struct machine *m = calloc(1, sizeof(*m));
	struct turns t = { m, 0 };
	char path[64];
	struct err e;
	uint8_t hdr[16] = { 0 }, b;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/ferry-test-disk.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)disk), 0);
	assert_int_equal(pwrite(fd, "last", 4, (off_t)(len - 4)), 4);
	close(fd);
	cfg.disks[0] = path;
	if (devices_machine_init(m, &cfg, &e) != 0)
		fail_msg("machine_init: %s", e.msg);
	setup(m, 0, QN);
	ram_write(&m->ram, BUFS, hdr, 16); /* IN, sector 0 */
	ram_store(&m->ram, BUFS + 0x800, 0xff, 1);
	ram_fill(&m->ram, TH_RAM + (32ull << 20), 0xee, len);
	desc(m, 0, BUFS, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(m, 1, TH_RAM + (32ull << 20), (uint32_t)len, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE,
	     2);
	desc(m, 2, BUFS + 0x800, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(m, 0, 0);
	/* Not done inside the notify: the rest waits for the run loop. */
	assert_int_equal(used_idx(m), 0);
	assert_int_equal(ram_load(&m->ram, BUFS + 0x800, 1), 0xff);
	assert_true(m->work_pending);
	/* The guest has nothing else to do (its hart stopped); the loop serves the request. */
	assert_int_equal(
	    machine_add_client(m, &(struct machine_client){ turns_tick, NULL, &t }, &e), 0);
	m->harts[0].hsm = HSM_STOPPED;
	assert_int_equal(machine_run(m, &e), MACHINE_QUIT);
	assert_int_equal(used_idx(m), 1);
	assert_int_equal(ram_load(&m->ram, BUFS + 0x800, 1), 0); /* OK */
	assert_true(t.ticks >= (int)(len / VBLK_TURN_BYTES) - 1);
	ram_read(&m->ram, TH_RAM + (32ull << 20) + len - 4, hdr, 4);
	assert_memory_equal(hdr, "last", 4);
	assert_int_equal(ram_load(&m->ram, TH_RAM + (32ull << 20) + 12345, 1), 0);
	/* Another one, then a flush (a save, a migration's last copy): done before it returns. */
	ram_store(&m->ram, BUFS + 0x800, 0xff, 1);
	offer(m, 0, 0);
	assert_int_equal(used_idx(m), 1);
	assert_int_equal(machine_devs_flush(m, &e), 0);
	assert_int_equal(used_idx(m), 2);
	b = (uint8_t)ram_load(&m->ram, BUFS + 0x800, 1);
	assert_int_equal(b, 0);
	machine_destroy(m);
	free(m);
	disk_cleanup(path);
}

static void test_blk_lock(void **state)
{
	char path[64];
	struct machine *m = disk_machine(path), *m2 = calloc(1, sizeof(*m2));
	struct machine_config cfg = { .mem_size = 16ull << 20, .console = "null", .ndisks = 1 };
	struct err e;

	(void)state;
	cfg.disks[0] = path;
	assert_int_equal(devices_machine_init(m2, &cfg, &e), -1);
	assert_non_null(strstr(e.msg, "in use by another VM"));
	machine_destroy(m2);
	free(m2);
	machine_destroy(m);
	free(m);
	disk_cleanup(path);
}

/* Transport state survives a save and load, and a loaded ring that makes no sense is
 * refused with the field named. */
static void test_state_roundtrip_and_validation(void **state)
{
	struct machine *a = th_machine(0), *b = th_machine(0);
	struct vrng *ra = virtio_dev(th_virtio(a, "virtio-rng"));
	struct vrng *rb = virtio_dev(th_virtio(b, "virtio-rng"));
	struct buf out;
	struct rbuf in;
	struct err e;

	(void)state;
	setup(a, RNG, QN);
	desc(a, 0, BUFS, 16, VIRTQ_DESC_F_WRITE, 0);
	offer(a, RNG, 0);
	buf_init(&out);
	state_save(&vrng_state, ra, &out);
	rbuf_init(&in, out.p, out.len);
	assert_int_equal(state_load(&vrng_state, rb, &in, &e), 0);
	assert_int_equal(rb->vio.q_last_avail[0], 1);
	assert_int_equal(rb->vio.q_desc[0], DESC);
	assert_int_equal(state_hash(&vrng_state, ra), state_hash(&vrng_state, rb));
	/* A ready queue whose rings lie outside RAM: refused. */
	ra->vio.q_used[0] = 0x1000;
	buf_reset(&out);
	state_save(&vrng_state, ra, &out);
	rbuf_init(&in, out.p, out.len);
	assert_int_equal(state_load(&vrng_state, rb, &in, &e), -1);
	assert_non_null(strstr(e.msg, "virtio-rng"));
	assert_non_null(strstr(e.msg, "queue 0"));
	/* A queue size above the maximum: refused by the field's range, named. */
	ra->vio.q_used[0] = USED;
	ra->vio.q_num[1] = 4096;
	buf_reset(&out);
	state_save(&vrng_state, ra, &out);
	rbuf_init(&in, out.p, out.len);
	assert_int_equal(state_load(&vrng_state, rb, &in, &e), -1);
	assert_non_null(strstr(e.msg, "vio.q_num[1]"));
	buf_free(&out);
	th_free(a);
	th_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transport_identity),
		cmocka_unit_test(test_features_ok_needs_version_1),
		cmocka_unit_test(test_rng_good_path),
		cmocka_unit_test(test_hostile_rings),
		cmocka_unit_test(test_bad_queue_setup),
		cmocka_unit_test(test_blk_requests),
		cmocka_unit_test(test_blk_huge_request_bounded),
		cmocka_unit_test(test_blk_lock),
		cmocka_unit_test(test_state_roundtrip_and_validation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
