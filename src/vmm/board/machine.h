/* machine.h - the board: RAM, harts, devices on the bus, guest time and the run loop.
 *
 * The layout is QEMU's riscv `virt` board, so a stock kernel and device tree
 * work unchanged:
 *
 *   0x0c000000  PLIC                 (S-mode contexts only)
 *   0x10000000  ns16550a UART        IRQ 10
 *   0x10001000  virtio-mmio slots    0x1000 apart, IRQ 1..8
 *   0x80000000  DRAM                 the kernel Image at +0x200000
 *
 * Devices are set up by registration: each registers its MMIO window and a
 * device-tree callback; the board walks them and never knows their insides.
 * Nothing here is global: two machines could live in one process.
 *
 * One thread runs everything: the vCPU in slices of instructions, between
 * slices the timer, the file descriptors devices wait on, and (when the hart
 * sleeps in WFI) a poll() that blocks until the next timer deadline or a ready
 * descriptor, so an idle guest costs almost no host CPU.
 */
#ifndef FERRY_MACHINE_H
#define FERRY_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/json.h"
#include "vmm/migrate/commit.h"
#include "vmm/devices/console.h"
#include "vmm/core/cpu.h"
#include "vmm/core/gclock.h"
#include "vmm/devices/plic.h"
#include "vmm/core/ram.h"
#include "vmm/devices/uart.h"
#include "vmm/devices/vblk.h"
#include "vmm/devices/vnet.h"
#include "vmm/devices/vrng.h"

#define MACHINE_RAM_BASE 0x80000000ull
#define MACHINE_KERNEL_OFFSET 0x200000ull
#define MACHINE_PLIC_BASE 0x0c000000ull
#define MACHINE_UART_BASE 0x10000000ull
#define MACHINE_UART_IRQ 10
#define MACHINE_VIRTIO_BASE 0x10001000ull
#define MACHINE_TIMEBASE_HZ 10000000ull
#define MACHINE_MIN_RAM (16ull << 20)
#define MACHINE_MAX_RAM (256ull << 30)

#define MACHINE_MAX_REGIONS 16
#define MACHINE_MAX_DEVS 16
#define MACHINE_MAX_POLLFDS 64
#define MACHINE_MAX_NETS 2
#define MACHINE_MAX_DISKS 2

struct machine;

/* An MMIO window on the bus. Offsets are relative to its base; a handler returns false for an
 * access the device does not decode, which the hart turns into an access fault. */
struct mmio_ops {
	bool (*read)(void *opaque, uint64_t off, unsigned size, uint64_t *val);
	bool (*write)(void *opaque, uint64_t off, unsigned size, uint64_t val);
};

struct machine_region {
	uint64_t base;
	uint64_t size;
	const struct mmio_ops *ops;
	void *opaque;
	const char *name;
};

/* What the board asks of each device besides MMIO. */
struct machine_dev {
	const char *name;
	void *opaque;
	/* Add the device's node to the tree under construction (see dtb.h). */
	int (*fdt)(void *opaque, struct machine *m, void *fdt);
	/* Return to power-on state (reboot). */
	void (*reset)(void *opaque);
	/* The machine paused (running false) or resumed; NULL if the device does not care.
	 * Called at an instruction boundary. */
	void (*run_state)(void *opaque, bool running);
	/* Migratable state, or NULL if the device has none, and the object it describes (NULL:
	 * opaque). */
	const struct state_desc *state;
	void *state_obj;
};

/* A descriptor the run loop polls for a device or backend. */
struct machine_pollfd {
	int fd;
	short events;
	void (*ready)(void *opaque, short revents);
	void *opaque;
};

struct machine_config {
	const char *kernel;  /* path of the RISC-V Linux Image; NULL: a bare machine (tests) */
	const char *initrd;  /* path, or NULL */
	const char *append;  /* kernel command line, or NULL */
	uint64_t mem_size;   /* bytes */
	const char *console; /* "stdio", "unix:PATH" or "null" */
	enum gclock_mode clock;
	const char *journal;	/* file to append run/pause transitions to, or NULL */
	bool start_paused;	/* wait for a resume before running the hart */
	bool restoring;		/* RAM and state will be loaded: read the kernel, don't place it */
	uint64_t restore_epoch; /* restoring a save made at this lease epoch: take the lease only
				 * if the record is still there (0: claim it as a fresh start) */
	const char *nets[MACHINE_MAX_NETS]; /* "tap:NAME[,mac=...]" */
	int nnets;
	const char *disks[MACHINE_MAX_DISKS]; /* image paths */
	int ndisks;
	bool no_rng;
	const char *lease;    /* ownership record; default: the first disk's path + ".lease" */
	const char *incoming; /* destination of a migration: "host:port[,host:port...]" */
	const char *token;    /* the one-time token an incoming migration must present */
	const char *name;     /* this VM's owner name in the lease (default: host:pid) */
};

/* Why the run loop ended. */
enum machine_exit {
	MACHINE_RUNNING = 0,
	MACHINE_SHUTDOWN, /* the guest powered off */
	MACHINE_ERROR,
	MACHINE_QUIT,	  /* the operator stopped it */
	MACHINE_MIGRATED, /* the VM now runs elsewhere: this copy is done */
	MACHINE_SAVED,	  /* saved to a file and handed over (quick migration): this copy is done */
};

struct machine {
	struct machine_config cfg;
	struct ram ram;
	struct cpu cpu;
	struct plic plic;
	struct uart uart;
	struct console console;
	struct gclock clock;
	struct vnet net[MACHINE_MAX_NETS];
	struct vblk blk[MACHINE_MAX_DISKS];
	struct vrng rng;

	struct machine_region regions[MACHINE_MAX_REGIONS];
	int nregions;
	struct machine_dev devs[MACHINE_MAX_DEVS];
	int ndevs;
	struct machine_pollfd pollfds[MACHINE_MAX_POLLFDS];
	int npollfds;
	unsigned nvirtio; /* virtio-mmio slots taken */

	/* boot blobs, kept for a reboot */
	uint8_t *kernel_img;
	size_t kernel_len;
	uint64_t kernel_image_size; /* from the Image header, includes BSS */
	uint8_t *initrd_img;
	size_t initrd_len;
	uint64_t dtb_addr;
	uint64_t initrd_start, initrd_end;

	enum machine_exit exit;
	bool reboot_requested;
	uint64_t reboots;
	uint64_t wfi_sleeps;

	/* run control */
	bool paused;
	uint64_t pause_at; /* pause when instret reaches this (UINT64_MAX: never) */
	int journal_fd;
	/* events (STOP, RESUME, SHUTDOWN, ...) go to this listener, e.g. the control socket */
	void (*event)(void *opaque, const char *name, json_t *data); /* data borrowed */
	void *event_opaque;

	/* dirty logging */
	bool dirty_logging;
	uint64_t dirty_collections;

	/* ownership (commit.h); has_lease false: no record, the VM cannot migrate */
	struct commit lease;
	bool has_lease;
	/* migration (migrate.h), NULL when none */
	struct mig *mig;
	int throttle_pct;	 /* auto-converge: share of time the hart sits out */
	int64_t hart_idle_until; /* ... until this monotonic time, after its last slice */
	bool announce_on_resume; /* restored elsewhere: tell the switches where the MACs are now */
	uint64_t saved_epoch; /* saved (kept here) at this lease epoch: resuming moves the epoch */
	int64_t wake_ns;      /* the run loop must look again by this monotonic time (0: none) */
};

/* Build the machine from its configuration: RAM, devices, boot blobs, device tree. */
int machine_init(struct machine *m, const struct machine_config *cfg, struct err *e);
/* Restoring a save (cfg.restore_epoch): once it has loaded, move the lease from the saved
 * epoch to the next, so the same save can never be restored again. */
int machine_lease_restore(struct machine *m, struct err *e);
void machine_destroy(struct machine *m);

/* Run until the guest shuts down or an error stops it. Returns the exit reason. */
enum machine_exit machine_run(struct machine *m, struct err *e);

/* Registration, used by the devices' set-up functions. */
int machine_add_region(struct machine *m, const char *name, uint64_t base, uint64_t size,
		       const struct mmio_ops *ops, void *opaque, struct err *e);
int machine_add_dev(struct machine *m, const struct machine_dev *dev, struct err *e);
/* Returns the slot of the new descriptor, or -1. */
int machine_add_pollfd(struct machine *m, const struct machine_pollfd *p, struct err *e);
/* Change a slot's descriptor and what it waits for (fd -1 or events 0 to stop polling it). */
/* Give a slot back: a later machine_add_pollfd may take it. */
void machine_free_pollfd(struct machine *m, int slot);
void machine_set_pollfd(struct machine *m, int slot, int fd, short events);

/* The object a device's state table describes. */
static inline void *machine_dev_state(const struct machine_dev *d)
{
	return d->state_obj ? d->state_obj : d->opaque;
}

/* Bus access for the hart: false if nothing decodes the address. */
bool machine_mmio_read(struct machine *m, uint64_t pa, unsigned size, uint64_t *val);
bool machine_mmio_write(struct machine *m, uint64_t pa, unsigned size, uint64_t val);

/* Guest time in timebase ticks (10 MHz). */
uint64_t machine_time(struct machine *m);
/* Re-evaluate the hart's timer interrupt against its deadline. */
void machine_update_timer(struct machine *m);

/* Requests from the guest (SBI SRST). */
void machine_request_shutdown(struct machine *m);
void machine_request_reboot(struct machine *m);
/* The operator asked to quit (console escape, later the control socket). */
void machine_request_quit(struct machine *m);

/* Put the RAM image of the boot blobs, the device tree and the hart back to their start. */
int machine_reset(struct machine *m, struct err *e);

/* Pause and resume the hart (at an instruction boundary), journalled and announced as the
 * STOP and RESUME events. The guest clock is frozen while paused. */
void machine_pause(struct machine *m, const char *reason);
void machine_resume(struct machine *m, const char *reason);
/* Journal a transition: "<monotonic ns> <realtime ns> <WHAT> <reason>". */
void machine_journal(struct machine *m, const char *what, const char *reason);
/* Announce an event to the listener; data is an object or NULL, and its reference is taken. */
void machine_emit(struct machine *m, const char *name, json_t *data);

/* Dirty logging. start clears the bitmap; collect copies it into out (ram.nwords words),
 * clears it and drops the hart's write-TLB entries, so the next store to every page is seen
 * again; returns the number of dirty pages. Call between two slices of the run loop (the
 * only thread there is), never from inside cpu_run. */
void machine_dirty_start(struct machine *m);
uint64_t machine_dirty_collect(struct machine *m, uint64_t *out);
void machine_dirty_stop(struct machine *m);

#endif
