/* fuzz_restore.c - libFuzzer target: `ferry-vm --restore FILE` with a hostile FILE, in process.
 *
 * One machine (16 MiB, the default devices, no disk) is built once, with its pristine device
 * state kept. Each input is a snapshot file: it goes into a memfd, and the loader reads it as
 * --restore does (snapshot_file_open: header and configuration; snapshot_file_load: pages,
 * device records, clock, end); most inputs get their records' checksums made right first
 * (fix_crcs), so the mutations reach what the records hold. When a file is accepted, the restored hart runs for a bounded
 * number of instructions, so what the loader let through meets the hart, the MMU and the
 * devices. Then the machine is put back: the pages written since (the dirty log says which)
 * are zeroed, every device section and the clock are reloaded from the pristine copy. No
 * socket, no sleep: thousands of inputs a second.
 *
 * FERRY_FUZZ_MKSEEDS=DIR: write the seeds (a valid save of a hart running a loop that prints
 * and calls the SBI, and the reproducers of the findings of issue 11) into DIR and exit.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/state.h"
#include "vmm/board/machine.h"
#include "vmm/devices/devices.h"
#include "vmm/devices/uart.h"
#include "vmm/devices/virtio.h"
#include "vmm/devices/vrng.h"
#include "common/le.h"
#include "vmm/state/snapshot.h"
#include "vmm/state/stream.h"

#define RUN_INSNS 20000

static struct machine *m;
static struct buf pristine[MACHINE_MAX_DEVS + 1];
static int ndev, memfd = -1;
static char mpath[64];
static uint64_t *bits;

static struct machine *build(void)
{
	struct machine_config cfg = { .mem_size = 16ull << 20, .console = "null" };
	struct machine *mm = calloc(1, sizeof(*mm));
	struct err e;

	if (!mm || devices_machine_init(mm, &cfg, &e) != 0) {
		fprintf(stderr, "fuzz_restore: %s\n", e.msg);
		abort();
	}
	return mm;
}

static void init(void)
{
	log_set_level(LOG_ERROR);
	m = build();
	ndev = snapshot_device_count(m);
	for (int i = 0; i < ndev; i++) {
		buf_init(&pristine[i]);
		snapshot_save_device(m, i, &pristine[i]);
	}
	bits = calloc(m->ram.nwords, sizeof(*bits));
	memfd = memfd_create("fuzz-restore", MFD_CLOEXEC);
	if (!bits || memfd < 0)
		abort();
	snprintf(mpath, sizeof(mpath), "/proc/self/fd/%d", memfd);
	machine_dirty_start(m);
}

static void reset(void)
{
	struct err e;

	machine_dirty_collect(m, bits);
	for (uint64_t p = 0; p < m->ram.npages; p++)
		if ((bits[p >> 6] >> (p & 63)) & 1)
			ram_fill(&m->ram, m->ram.base + p * RAM_PAGE_SIZE, 0, RAM_PAGE_SIZE);
	machine_dirty_collect(m, bits);
	for (int i = 0; i < ndev; i++)
		if (snapshot_load_device(m, i, pristine[i].p, pristine[i].len, &e) < 0) {
			fprintf(stderr, "fuzz_restore: pristine state refused: %s\n", e.msg);
			abort();
		}
	gclock_set_ns(&m->clock, 0);
	m->exit = MACHINE_RUNNING;
	m->reboot_requested = false;
}

/* A mutation almost always breaks a record's checksum, which the loader checks first: most
 * inputs get theirs made right again (each record whose framing holds), so what is inside the
 * records is reached; one input in eight keeps its bytes as they are. */
static void fix_crcs(uint8_t *p, size_t size)
{
	size_t pos = size >= 12 && le_get_u32(p + 8) == 1 ? 16 : 20;

	while (pos + 12 <= size) {
		uint32_t len = le_get_u32(p + pos + 4);

		if (len > size - pos - 12)
			break;
		uint32_t crc = stream_crc32c(0, p + pos, 8);

		crc = stream_crc32c(crc, p + pos + 8, len);
		le_put_u32(p + pos + 8 + len, crc);
		pos += 12 + (size_t)len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snapshot_file f;
	struct err e;

	if (!m)
		init();
	if (size % 8 != 7) {
		uint8_t *copy = malloc(size ? size : 1);

		if (!copy)
			abort();
		memcpy(copy, data, size);
		fix_crcs(copy, size);
		if (ftruncate(memfd, 0) != 0 || pwrite(memfd, copy, size, 0) != (ssize_t)size)
			abort();
		free(copy);
	} else if (ftruncate(memfd, 0) != 0 || pwrite(memfd, data, size, 0) != (ssize_t)size) {
		abort();
	}
	if (snapshot_file_open(mpath, &f, &e) == 0) {
		if (snapshot_file_load(m, &f, &e) == 0) {
			machine_update_timer(m);
			for (int k = 0; k < 4 && m->exit == MACHINE_RUNNING; k++) {
				cpu_run(&m->harts[0], RUN_INSNS / 4);
				machine_update_timer(m);
			}
		}
		snapshot_file_close(&f);
	}
	reset();
	return 0;
}

/* ---- seeds ------------------------------------------------------------------------------------ */

static void save_to(struct machine *mm, const char *dir, const char *name)
{
	char path[512];
	struct err e;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (snapshot_save(mm, path, 0, &e) < 0) {
		fprintf(stderr, "fuzz_restore: %s\n", e.msg);
		exit(1);
	}
}

static void mkseeds(const char *dir)
{
	struct machine *mm = build();
	struct uart *u = machine_dev_find(mm, "uart");
	const uint64_t code = MACHINE_RAM_BASE + 0x1000;
	/* li a0,'F'; lui a1,0x10000; sb a0,0(a1); li a7,0x4442434e ... a loop:
	 *   addi a0,zero,70; lui a1,0x10000; sb a0,0(a1); li a7,1 (legacy putchar); ecall;
	 *   addi t0,t0,1; j back to the store */
	static const uint32_t prog[] = {
		0x04600513, /* addi a0, zero, 70 */
		0x100005b7, /* lui a1, 0x10000 */
		0x00a58023, /* sb a0, 0(a1) */
		0x00100893, /* addi a7, zero, 1 */
		0x00000073, /* ecall */
		0x00128293, /* addi t0, t0, 1 */
		0xff1ff06f, /* jal zero, -16 (back to the sb) */
	};

	ram_write(&mm->ram, code, prog, sizeof(prog));
	mm->harts[0].pc = code;
	u->ier = 0x0f;
	u->fcr = 0xc9;
	save_to(mm, dir, "loop");
	/* The reproducers: each was accepted before the fix. */
	mm->harts[0].pc = code + 1;
	save_to(mm, dir, "repro-odd-pc");
	mm->harts[0].pc = code;
	mm->harts[0].hsm = 3; /* HSM_STOP_PENDING */
	save_to(mm, dir, "repro-hsm");
	mm->harts[0].hsm = 0;
	u->fcr = 0x8b;
	save_to(mm, dir, "repro-fcr");
	u->fcr = 0xc9;
	mm->harts[0].instret = UINT64_MAX;
	save_to(mm, dir, "repro-instret");
	mm->harts[0].instret = 0;
	/* Accepted still, but a host-clock machine draws from the host after it. */
	struct vrng *r = virtio_dev(machine_dev_find(mm, "virtio-rng"));

	r->prng = 0x0123456789abcdefull;
	save_to(mm, dir, "repro-prng");
	r->prng = 0;
	machine_destroy(mm);
	free(mm);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FERRY_FUZZ_MKSEEDS");

	(void)argc;
	(void)argv;
	if (dir) {
		log_set_level(LOG_ERROR);
		mkseeds(dir);
		exit(0);
	}
	return 0;
}
