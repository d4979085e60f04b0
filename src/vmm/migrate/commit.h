/* commit.h - who owns a VM: the durable record that makes "at most one copy runs" true.
 *
 * A migration hands a VM from a source to a destination. The handover is not
 * a message but a record that outlives both processes: an epoch number and
 * the owner it names. Only the owner may open the VM's disk for writing and
 * run the VM, and ownership moves in exactly one step, a compare-and-swap of
 * the epoch (E -> E+1) made by the destination while it holds the lock:
 *
 *   before the swap: the source owns the VM; on any failure it takes the
 *                    lock back, checks the epoch is still its own, resumes;
 *   after the swap:  the destination owns it; the source never resumes.
 *
 * A side that cannot tell which happened reads the record; nobody resumes on
 * a timeout alone.
 *
 * The record is a lease file beside the disk image (`IMAGE.lease`, or the path
 * given by --lease) guarded by an exclusive flock(2) on `FILE.lock`. It serves
 * the ownership interface (owner.h) on its own (commit_own), choosing the next
 * epoch as the new token; in the cluster, etcd decides and the lease file only
 * records etcd's token (commit_record_token), so the disk still says who may
 * open it.
 */
#ifndef FERRY_COMMIT_H
#define FERRY_COMMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "vmm/migrate/owner.h"

#define COMMIT_OWNER_MAX 64
#define COMMIT_RECORD_SIZE 128

struct commit {
	char path[4096]; /* the lease file */
	int fd;		 /* open and flock'ed while we hold the lease, else -1 */
	uint64_t epoch;	 /* the epoch we own (0: none) */
	char owner[COMMIT_OWNER_MAX];
	/* the request under way through the ownership interface (owner.h) */
	bool pending;
	enum own_op op;
	uint64_t expect;
	int64_t deadline_ns; /* a COMMIT waits this long for the lock (the source lets go first) */
};

/* What the record says. */
struct commit_record {
	uint64_t epoch;
	char owner[COMMIT_OWNER_MAX];
};

void commit_init(struct commit *c, const char *path, const char *owner);
#define COMMIT_BUSY (-2)
/* Take the lock, waiting at most wait_ms (0: try once). Returns 0, COMMIT_BUSY if another
 * process holds it, or -1 (e set either way). */
int commit_lock(struct commit *c, int wait_ms, struct err *e);
/* Release the lock (the record stays). */
void commit_unlock(struct commit *c);
/* Read the record (lock held or not). A missing file reads as epoch 0. */
int commit_read(struct commit *c, struct commit_record *r, struct err *e);
/* With the lock held: become the owner at a fresh start. If the record names another owner at
 * its epoch, we still take the next epoch: starting a VM is the operator's decision; the
 * record then says this process is the owner. */
int commit_claim(struct commit *c, struct err *e);
/* With the lock held: the migration commit. Succeeds only if the record still holds `expect`
 * (the source's epoch); writes expect+1 with our name, durably (fsync of file and directory).
 * On success c->epoch is the new epoch. Returns 1 committed, 0 the record had moved on (not
 * committed), -1 error. */
int commit_swap(struct commit *c, uint64_t expect, struct err *e);
/* With the lock held: is the record still at our epoch (the source checking before it
 * resumes after a failed migration)? 1 yes, 0 no, -1 error. */
int commit_still_ours(struct commit *c, struct err *e);
/* With the lock held: record a token another record chose (etcd's revision), if it is newer
 * than the one the file holds. */
int commit_record_token(struct commit *c, uint64_t token, struct err *e);

/* The lease file as an ownership record (owner.h); c must outlive it. */
struct own commit_own(struct commit *c);

#endif
