/* handover.h - step 4 of a move: who owns the VM, its disks, and handing both over.
 *
 * A VM runs only where its ownership record says (commit.h). This module holds
 * that record for one machine and does every hand-over of it in one place:
 *
 *   start-up        claim the record (a fresh start), or check that the save
 *                   being restored is still the current one;
 *   restore         after the save has loaded, move the record on from the
 *                   saved epoch, so a save is restored at most once;
 *   release         pause, flush the disks, let go of the disks and the record
 *                   (a live migration's source at its commit, a save with
 *                   release);
 *   take back       a source whose move failed before the commit: lock the
 *                   record, check it is still ours, reopen the disks;
 *   take over       a destination's commit: swap the record from the source's
 *                   epoch, open the disks;
 *   activate        announce the VM's MACs, then resume.
 *
 * It is also the machine's run-loop client for the migration under way, and it
 * ends that migration and lets go of the record when the machine ends.
 */
#ifndef FERRY_HANDOVER_H
#define FERRY_HANDOVER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "vmm/migrate/commit.h"

struct machine;
struct mig;

struct handover {
	struct machine *m;
	struct commit lease; /* the ownership record */
	bool has_lease;	     /* false: no record (no disk, no --lease): the VM cannot move */
	uint64_t saved_epoch; /* saved (kept here) at this epoch: resuming moves the epoch */
	bool announce_on_resume; /* restored elsewhere: tell the switches where the MACs are */
	struct mig *mig;	 /* the migration under way or last ended, NULL when none */
};

/* Start-up: find the record (the machine's --lease, or its first disk + ".lease") and, unless
 * the VM arrives by migration, take it: claim it, or for a restore check that the save is
 * still current. Registers the hand-over as a client of the machine's run loop. */
int handover_init(struct handover *h, struct machine *m, struct err *e);
/* Restoring a save (cfg.restore_epoch): once it has loaded, move the record from the saved
 * epoch to the next, so the same save can never be restored again. */
int handover_restore(struct handover *h, struct err *e);
/* The operator resumes the VM here: a save kept here is made stale first, a restored VM
 * announces its MACs before it runs. */
int handover_resume(struct handover *h, const char *reason, struct err *e);
/* Does this machine hold its record (and so may be moved or saved with release)? */
bool handover_holds(const struct handover *h);

/* Let go: flush and release the disks, then the record (the VM must be paused). On failure
 * nothing is let go. Returns the epoch that was held in *epoch. */
int handover_release(struct handover *h, uint64_t *epoch, struct err *e);
/* A source in doubt after it let go at epoch: ask the record, never guess. 1: still ours, and
 * locked again (the disks can be reopened and the VM resumed); 0: it moved on, the VM is
 * elsewhere; -1: not known yet (the destination holds it, or it could not be read): stay
 * paused and ask again. */
int handover_settle(struct handover *h, uint64_t epoch, struct err *e);
/* A destination's commit: lock the record and swap it from the source's epoch. 1 committed
 * (this process owns the VM: open the disks with machine_devs_acquire); 0 the record is not
 * at expect, it names *r's owner (nothing taken); -1 error (nothing taken). */
int handover_take_over(struct handover *h, uint64_t expect, struct commit_record *r,
		       struct err *e);

#endif
