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
 * Devices are set up by registration (vmm/devices/devices.c builds them): each
 * registers its MMIO window and its operations (device-tree node, reset, state
 * table, and where it has them flush, release and re-acquire of its backing,
 * announce, frames held across a hand-over); the board walks them and never
 * knows their insides. Higher layers (migration, the control socket) register
 * as tick and poll clients and reach devices only through these operations.
 * Nothing here is global: two machines could live in one process.
 *
 * One thread runs everything: the harts in turn, a slice of instructions each
 * (round-robin from hart 0, which starts again after every pause), between
 * slices the timers, the file descriptors devices wait on, and (when every
 * hart sleeps in WFI) a poll() that blocks until the next timer deadline or a
 * ready descriptor, so an idle guest costs almost no host CPU. Why one thread
 * keeps several harts correct (dirty tracking, LR/SC, the decode cache, the
 * icount clock) is docs/architecture.md's "Several harts".
 */
#ifndef FERRY_MACHINE_H
#define FERRY_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "common/err.h"
#include "common/json.h"
#include "vmm/core/cpu.h"
#include "vmm/core/gclock.h"
#include "vmm/core/ram.h"

#define MACHINE_RAM_BASE 0x80000000ull
#define MACHINE_KERNEL_OFFSET 0x200000ull
#define MACHINE_PLIC_BASE 0x0c000000ull
#define MACHINE_UART_BASE 0x10000000ull
#define MACHINE_UART_IRQ 10
#define MACHINE_VIRTIO_BASE 0x10001000ull
#define MACHINE_TIMEBASE_HZ 10000000ull
#define MACHINE_MIN_RAM (16ull << 20)
#define MACHINE_MAX_RAM (256ull << 30)
#define MACHINE_MAX_HARTS CPU_MAX_HARTS

#define MACHINE_MAX_REGIONS 16
#define MACHINE_MAX_DEVS 16
#define MACHINE_MAX_POLLFDS 64
#define MACHINE_MAX_CLIENTS 8
/* A frame as the network devices hold it (take_frame, put_frame): the 12-byte virtio-net
 * header, then at most 64 KiB. */
#define MACHINE_FRAME_HDR 12
#define MACHINE_FRAME_MAX (65536 + MACHINE_FRAME_HDR)
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

/* What a device is, for the operations that ask for one kind. */
enum machine_dev_kind {
	MACHINE_DEV_OTHER = 0,
	MACHINE_DEV_NET,
	MACHINE_DEV_DISK,
};

/* What the board asks of each device besides MMIO. Every operation may be NULL (the console
 * has no node in the tree). */
struct machine_dev {
	const char *name;
	void *opaque;
	enum machine_dev_kind kind;
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
	/* What the guest sees of it, checked when a VM moves: a network's MAC (6 bytes), a
	 * disk's capacity in 512-byte sectors. */
	const uint8_t *mac;
	const uint64_t *capacity;

	/* The hand-over (vmm/migrate/handover.c) and the machine's end. */
	int (*flush)(void *opaque, struct err *e);   /* make what the guest wrote durable */
	int (*release)(void *opaque, struct err *e); /* let go of the backing (image, its lock) */
	int (*acquire)(void *opaque, struct err *e); /* take the backing (back); no-op if held */
	int (*announce)(void *opaque);		     /* tell the network where the device is */
	/* Frames that arrived for the guest while it was paused: take one (its length, 0 when
	 * none is left), or hand one in to be delivered once the guest runs (false: dropped). */
	ssize_t (*take_frame)(void *opaque, uint8_t *buf, size_t cap);
	bool (*put_frame)(void *opaque, const uint8_t *frame, size_t len);
	/* Go on with work a guest's request left (a large disk transfer is served a bounded
	 * piece a turn of the run loop, so the hart, the control socket and a migration keep
	 * going): called once a turn while the machine runs and work is pending
	 * (machine_work_pending). Returns true while some is left. */
	bool (*work)(void *opaque);
	void (*destroy)(void *opaque);
};

/* A higher layer's share of the run loop (the hand-over: the migration under way, the ownership
 * record's answers): tick is called after every look at the world (a slice, a poll); destroy
 * when the machine ends, after the devices. */
struct machine_client {
	void (*tick)(void *opaque);
	void (*destroy)(void *opaque);
	void *opaque;
};

/* The console's host side, for the SBI's legacy console calls. */
struct machine_console {
	void (*write)(void *opaque, const uint8_t *buf, size_t len);
	int (*getc)(void *opaque); /* -1: nothing waiting */
	void *opaque;
};

/* The interrupt controller: set the level of a wired interrupt line. */
struct machine_irqchip {
	void (*set_level)(void *opaque, unsigned irq, bool level);
	void *opaque;
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
	unsigned harts;	     /* 1..MACHINE_MAX_HARTS (0: 1) */
	const char *isa;     /* the ISA the machine offers (isa.h); NULL: rv64imafdc. A booted
			      * guest gets it; a loaded one keeps its own, if offered */
	const char *console; /* "stdio", "unix:PATH" or "null" */
	enum gclock_mode clock;
	const char *journal;	/* file to append run/pause transitions to, or NULL */
	bool start_paused;	/* wait for a resume before running the hart */
	bool restoring;		/* RAM and state will be loaded: read the kernel, don't place it */
	uint64_t restore_epoch; /* restoring a save made at this lease epoch: take the lease only
				 * if the record is still there (0: claim it as a fresh start) */
	const char *nets[MACHINE_MAX_NETS]; /* "tap:NAME[,mac=...]" or "tapfd:N[,mac=...]" */
	int nnets;
	const char *disks[MACHINE_MAX_DISKS]; /* image paths, or "fd:N" (inherited) */
	int ndisks;
	bool no_rng;
	const char *lease;    /* ownership record; default: the first disk's path + ".lease"
			       * (required when a disk is "fd:N") */
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
	unsigned isa_offered; /* cfg.isa parsed: the optional extensions a guest may have here */
	struct ram ram;
	struct cpu harts[MACHINE_MAX_HARTS];
	unsigned nharts;
	unsigned next_hart; /* the one whose slice comes next (0 after a pause) */
	struct cpu_bus bus; /* what the harts reach through: this machine */
	struct gclock clock;
	struct machine_console console;
	struct machine_irqchip irqchip;

	struct machine_region regions[MACHINE_MAX_REGIONS];
	int nregions;
	struct machine_dev devs[MACHINE_MAX_DEVS];
	int ndevs;
	struct machine_pollfd pollfds[MACHINE_MAX_POLLFDS];
	int npollfds;
	struct machine_client clients[MACHINE_MAX_CLIENTS];
	int nclients;
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
	uint64_t pause_at; /* pause when machine_instret reaches this (UINT64_MAX: never) */
	int journal_fd;
	/* events (STOP, RESUME, SHUTDOWN, ...) go to this listener, e.g. the control socket */
	void (*event)(void *opaque, const char *name, json_t *data); /* data borrowed */
	void *event_opaque;

	/* dirty logging */
	bool dirty_logging;
	uint64_t dirty_collections;

	int throttle_pct;	 /* auto-converge: share of time the hart sits out */
	int64_t hart_idle_until; /* ... until this monotonic time, after its last slice */
	int64_t wake_ns;	 /* the run loop must look again by this monotonic time (0: none) */
	uint64_t turns;		 /* turns of the run loop so far (a device's budget is per turn) */
	bool work_pending;	 /* a device has work left (machine_dev.work) */
};

/* Build the bare machine from its configuration: RAM, the hart, guest time, the boot blobs.
 * Devices register next (devices_attach), then machine_boot places the boot blobs and the
 * device tree (devices_machine_init does all three). */
int machine_init(struct machine *m, const struct machine_config *cfg, struct err *e);
int machine_boot(struct machine *m, struct err *e);
/* Ends the clients, then the devices (their destroy operations), then the machine. */
void machine_destroy(struct machine *m);

/* Run until the guest shuts down or an error stops it. Returns the exit reason. */
enum machine_exit machine_run(struct machine *m, struct err *e);

/* One turn of the harts' round-robin: the next hart that can run (started, not waiting in WFI
 * for nothing) runs one slice. Returns that hart, or NULL if none could run. machine_run calls
 * it between its looks at the world; tests call it alone. */
struct cpu *machine_run_slice(struct machine *m);

/* Registration, used by the devices' set-up functions. */
int machine_add_region(struct machine *m, const char *name, uint64_t base, uint64_t size,
		       const struct mmio_ops *ops, void *opaque, struct err *e);
int machine_add_dev(struct machine *m, const struct machine_dev *dev, struct err *e);
/* The first device registered under name (its opaque), or NULL. */
void *machine_dev_find(struct machine *m, const char *name);
int machine_add_client(struct machine *m, const struct machine_client *c, struct err *e);
/* Take a client off (its destroy is not called). */
void machine_remove_client(struct machine *m, void *opaque);
void machine_set_console(struct machine *m, const struct machine_console *c);
void machine_set_irqchip(struct machine *m, const struct machine_irqchip *c);
/* Raise or lower a wired interrupt line (devices). */
void machine_set_irq(struct machine *m, unsigned irq, bool level);
/* The SBI's console: write bytes, read one (-1 when none). */
void machine_console_write(struct machine *m, const uint8_t *buf, size_t len);
int machine_console_getc(struct machine *m);
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
/* Re-evaluate every hart's timer interrupt against its deadline. */
void machine_update_timer(struct machine *m);
/* Instructions retired by all the harts together (what pause_at and the statistics count). */
uint64_t machine_instret(const struct machine *m);
/* The hart with this id, or NULL. */
struct cpu *machine_hart(struct machine *m, uint64_t hartid);

/* Requests from the guest (SBI SRST). */
void machine_request_shutdown(struct machine *m);
void machine_request_reboot(struct machine *m);
/* The operator asked to quit (console escape, the control socket). */
void machine_request_quit(struct machine *m);
/* End the run loop for this reason (a migration or a save handed the VM over, or an error). */
void machine_request_exit(struct machine *m, enum machine_exit why);

/* For the run loop's clients: look again by this monotonic time (0: no deadline). */
void machine_wake_at(struct machine *m, int64_t ns);
/* ... or sooner: by ns at the latest, whatever was asked before. */
void machine_wake_by(struct machine *m, int64_t ns);
/* A device has work left: the run loop calls the devices' work operations at its next turns
 * (and does not sleep) until none has any. */
void machine_work_pending(struct machine *m);
/* Auto-converge: the share of time (0..95 %) the hart sits out; 0 runs it freely. */
void machine_set_throttle(struct machine *m, int pct);
int machine_throttle(const struct machine *m);

/* The devices' hand-over operations, over every device that has them. flush and acquire stop
 * at the first error; release takes back what it released if one fails. */
int machine_devs_flush(struct machine *m, struct err *e);
int machine_devs_release(struct machine *m, struct err *e);
int machine_devs_acquire(struct machine *m, struct err *e);
void machine_devs_announce(struct machine *m);
/* Frames held by the paused guest's networks: the next one (its length, 0 when none is
 * left), with the index of its network in *net; and one handed to network net. */
ssize_t machine_take_frame(struct machine *m, uint32_t *net, uint8_t *buf, size_t cap);
int machine_put_frame(struct machine *m, uint32_t net, const uint8_t *frame, size_t len);
/* What the guest sees: the MAC of network i, the capacity of disk i in 512-byte sectors
 * (NULL/0: none). */
const uint8_t *machine_mac(struct machine *m, int i);
uint64_t machine_disk_capacity(struct machine *m, int i);

/* Reset every hart: hart 0 to start at pc with a1 (the device tree), the others stopped until
 * an SBI hart_start. */
void machine_reset_harts(struct machine *m, uint64_t pc, uint64_t a1);

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
 * clears it and drops every hart's write-TLB entries, so the next store to every page is seen
 * again; returns the number of dirty pages. Call between two slices of the run loop (the
 * only thread there is), never from inside cpu_run. */
void machine_dirty_start(struct machine *m);
uint64_t machine_dirty_collect(struct machine *m, uint64_t *out);
void machine_dirty_stop(struct machine *m);

#endif
