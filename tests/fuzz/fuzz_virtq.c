/* fuzz_virtq.c - libFuzzer target: hostile drivers against the virtio transport and the
 * virtio-blk and virtio-rng queues.
 *
 * Each input runs on one machine built once (16 MiB of RAM, a 64-sector disk image, the
 * entropy device). Both devices are first driven to DRIVER_OK with one queue whose rings lie
 * in a 64 KiB window of RAM; the input then acts as a driver that may do anything:
 *   op 0: write bytes into the window (descriptor tables, rings, buffers)
 *   op 1: write a register of either device (any offset, any value)
 *   op 2: read a register
 *   op 3: publish an available entry and notify the queue
 * ASan and UBSan watch the host side: the device must never touch memory outside guest RAM,
 * crash, or loop forever, whatever the rings say.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/board/machine.h"
#include "vmm/devices/devices.h"

#define WIN (MACHINE_RAM_BASE + 0x100000)
#define WIN_SIZE 0x10000
#define QN 16

static struct machine *m;
static char disk[64];

static void wr(unsigned slot, uint64_t off, uint32_t v)
{
	machine_mmio_write(m, MACHINE_VIRTIO_BASE + 0x1000ull * slot + off, 4, v);
}

static void setup(unsigned slot)
{
	uint64_t base = WIN + 0x4000ull * slot;

	wr(slot, 0x070, 0);
	wr(slot, 0x070, 3);
	wr(slot, 0x024, 1);
	wr(slot, 0x020, 1);
	wr(slot, 0x070, 11);
	wr(slot, 0x030, 0);
	wr(slot, 0x038, QN);
	wr(slot, 0x080, (uint32_t)base);
	wr(slot, 0x084, (uint32_t)(base >> 32));
	wr(slot, 0x090, (uint32_t)(base + 0x1000));
	wr(slot, 0x094, (uint32_t)((base + 0x1000) >> 32));
	wr(slot, 0x0a0, (uint32_t)(base + 0x2000));
	wr(slot, 0x0a4, (uint32_t)((base + 0x2000) >> 32));
	wr(slot, 0x044, 1);
	wr(slot, 0x070, 15);
}

static void init(void)
{
	struct machine_config cfg = { .mem_size = 16ull << 20, .console = "null" };
	struct err e;
	int fd;

	snprintf(disk, sizeof(disk), "/tmp/ferry-fuzz-disk.XXXXXX");
	fd = mkstemp(disk);
	if (fd < 0 || ftruncate(fd, 64 * 512) != 0)
		abort();
	close(fd);
	cfg.disks[0] = disk;
	cfg.ndisks = 1;
	m = calloc(1, sizeof(*m));
	if (!m || devices_machine_init(m, &cfg, &e) != 0) {
		fprintf(stderr, "fuzz_virtq: %s\n", e.msg);
		abort();
	}
	/* The open descriptors keep them. */
	unlink(disk);
	char lease[80];

	snprintf(lease, sizeof(lease), "%s.lease", disk);
	unlink(lease);
	snprintf(lease, sizeof(lease), "%s.lease.lock", disk);
	unlink(lease);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i = 0;

	if (!m)
		init();
	ram_fill(&m->ram, WIN, 0, WIN_SIZE);
	setup(0);
	setup(1);
	while (i < size) {
		uint8_t op = data[i++] & 3;

		if (op == 0 && size - i >= 3) {
			uint16_t off;
			uint8_t len;

			memcpy(&off, data + i, 2);
			len = data[i + 2];
			i += 3;
			off %= WIN_SIZE;
			if (len > size - i)
				len = (uint8_t)(size - i);
			if ((size_t)off + len > WIN_SIZE)
				len = (uint8_t)(WIN_SIZE - off);
			ram_write(&m->ram, WIN + off, data + i, len);
			i += len;
		} else if (op == 1 && size - i >= 6) {
			uint32_t v;

			memcpy(&v, data + i + 2, 4);
			machine_mmio_write(m,
					   MACHINE_VIRTIO_BASE + 0x1000ull * (data[i] & 1) +
					       (data[i + 1] * 4u) % 0x200,
					   4, v);
			i += 6;
		} else if (op == 2 && size - i >= 2) {
			uint64_t v;

			machine_mmio_read(m,
					  MACHINE_VIRTIO_BASE + 0x1000ull * (data[i] & 1) +
					      (data[i + 1] * 4u) % 0x200,
					  4, &v);
			i += 2;
		} else if (op == 3 && size - i >= 2) {
			unsigned slot = data[i] & 1;
			uint64_t avail = WIN + 0x4000ull * slot + 0x1000;
			uint16_t idx = (uint16_t)ram_load(&m->ram, avail + 2, 2);

			ram_store(&m->ram, avail + 4 + 2 * (idx % QN), data[i + 1] % (QN + 2), 2);
			ram_store(&m->ram, avail + 2, (uint16_t)(idx + 1), 2);
			wr(slot, 0x050, 0);
			i += 2;
		} else {
			break;
		}
	}
	/* A large disk request goes on over later turns of the run loop, which this target does
	 * not have: a flush finishes it, as a save or a migration's pause would. */
	struct err e;

	machine_devs_flush(m, &e);
	return 0;
}
