/* snapshot.h - a whole machine to a file in the stream format, and back.
 *
 * A snapshot is a stream (stream.h) holding: CONFIG, the non-zero RAM pages
 * (pages not mentioned are zero), a DEVICE record per device (the hart
 * first, then every registered device with state, in registration order),
 * CLOCK and END. It is written to FILE.tmp, synced and renamed, so a
 * half-written snapshot is never found under its name.
 */
#ifndef FERRY_SNAPSHOT_H
#define FERRY_SNAPSHOT_H

#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "vmm/core/gclock.h"
#include "vmm/core/isa.h"

struct machine;

/* The guest-visible configuration a snapshot or stream carries. */
struct snapshot_config {
	uint64_t mem_size;
	unsigned harts;
	char isa[ISA_STR_MAX]; /* the guest's ISA, as its record spells it (well formed) */
	enum gclock_mode clock;
	uint64_t lease_epoch; /* the lease epoch of the VM when saved (0: none) */
};

/* A snapshot file opened once: its configuration is read (to build the machine that loads
 * it) and the rest is loaded from the same descriptor, never from the path again, so what
 * loads is the file whose configuration and lease epoch were checked. */
struct snapshot_file {
	int fd;
	char path[4096];
	struct buf cfgrec; /* the config record's text */
	struct snapshot_config cfg;
};

/* Write the machine (paused, or between two slices of the run loop) to path: path.tmp,
 * created anew (O_EXCL, not through a link, mode 0600), synced, renamed. */
int snapshot_save(struct machine *m, const char *path, uint64_t lease_epoch, struct err *e);
/* Read only the configuration of a snapshot file (to build the machine that loads it). */
int snapshot_read_config(const char *path, struct snapshot_config *cfg, struct err *e);
/* Load a snapshot into a machine built with the same configuration. */
int snapshot_load(struct machine *m, const char *path, struct err *e);
/* The same in steps: open and read the configuration (f->cfg), load the rest into a machine
 * built from it, close (always, also after a failure). */
int snapshot_file_open(const char *path, struct snapshot_file *f, struct err *e);
int snapshot_file_load(struct machine *m, struct snapshot_file *f, struct err *e);
void snapshot_file_close(struct snapshot_file *f);
/* The guest-visible configuration (the config record): a new JSON object (NULL if out of
 * memory), and the same as the record's text appended to out (-1 if out of memory).
 * lease_epoch: the token of the ownership record the VM was saved at (0: none). */
json_t *snapshot_config_json(struct machine *m, uint64_t lease_epoch);
int snapshot_config_text(struct machine *m, uint64_t lease_epoch, struct buf *out);
/* Check a config record against this machine: ISA, harts, memory, devices, MACs, disk sizes.
 * The error names the first difference. */
int snapshot_config_check(struct machine *m, const uint8_t *text, size_t len, struct err *e);
/* Device records: the harts are devices 0..nharts-1, then every registered device with
 * state. */
int snapshot_device_count(struct machine *m);
void snapshot_save_device(struct machine *m, int index, struct buf *out);
int snapshot_load_device(struct machine *m, int index, const uint8_t *p, size_t len, struct err *e);

/* A hash of every device's state (the hart included): XXH3-64 of their sections in order. */
uint64_t snapshot_dev_hash(struct machine *m);
/* The hash of hart number hart's section alone (its registers, FP ones included, and CSRs), or
 * with hart -1 of every hart's sections in order. */
uint64_t snapshot_hart_hash(struct machine *m, int hart);
/* The RAM hash (ram_hash, common/hash.h) and the device hash, for comparing two machines. */
void snapshot_hash(struct machine *m, uint64_t *ram_hash, uint64_t *dev_hash);

#endif
