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
struct handover;

/* Called on the VM's thread with the answer to an asynchronous request. */
typedef void (*handover_done_fn)(void *opaque, const struct own_answer *a);

struct handover {
	struct machine *m;
	struct commit lease;	 /* the lease file beside the disk */
	struct own rec;		 /* the record that decides: the lease file, or (cluster) etcd */
	bool has_lease;		 /* false: no record (no disk, no --lease): the VM cannot move */
	uint64_t saved_epoch;	 /* saved (kept here) at this token: resuming moves the token */
	bool announce_on_resume; /* restored elsewhere: tell the switches where the MACs are */
	struct mig *mig;	 /* the migration under way or last ended, NULL when none */
	/* the asynchronous request under way, answered through done */
	bool asking;
	handover_done_fn done;
	void *done_opaque;
};

/* Start-up: find the record (the machine's --lease, or its first disk + ".lease") and, unless
 * the VM arrives by migration, take it: claim it, or for a restore check that the save is
 * still current. Registers the hand-over as a client of the machine's run loop. Start-up,
 * restore and a resume after a save wait for the record's answer; a move never does. */
int handover_init(struct handover *h, struct machine *m, struct err *e);
/* The same with another record deciding (rec: in the cluster, the agent's, owner_agent.h),
 * from the start on; the lease file then records its tokens. rec NULL: the lease file alone.
 * A record other than the lease file needs a lease path (an error without one). */
int handover_init_with(struct handover *h, struct machine *m, const struct own *rec, struct err *e);
/* Restoring a save (cfg.restore_epoch): once it has loaded, move the record from the saved
 * token to a new one, so the same save can never be restored again. */
int handover_restore(struct handover *h, struct err *e);
/* The operator resumes the VM here: a save kept here is made stale first, a restored VM
 * announces its MACs before it runs. */
int handover_resume(struct handover *h, const char *reason, struct err *e);
/* Before a VM that was saved and kept here runs again (the operator's resume, a failed
 * migration taking it back): move the record to a new token, so the save is stale. 0 if
 * there was nothing to do or it was done; -1 (the VM must not run) if the record refused. */
int handover_leave_save(struct handover *h, struct err *e);
/* Does this machine hold its record (and so may be moved or saved with release)? */
bool handover_holds(const struct handover *h);
/* The token held (0: none). */
uint64_t handover_token(const struct handover *h);

/* Let go: flush and release the disks, then the record (the VM must be paused). On failure
 * nothing is let go. The token that was held goes to *token. */
int handover_release(struct handover *h, uint64_t *token, struct err *e);
/* Ask the record, asynchronously; done is called once with the answer, from the run loop.
 * A destination's commit: OWN_COMMIT from the source's token (on OK, open the disks with
 * machine_devs_acquire). A source in doubt: OWN_SETTLE at the token it let go. Returns -1
 * if a request is already under way. */
int handover_ask(struct handover *h, enum own_op op, uint64_t expect, handover_done_fn done,
		 void *opaque);
/* Forget the asker of the request under way (it ends); the answer is still taken. */
void handover_forget(struct handover *h, void *opaque);
/* The cluster: etcd (through the agent) decides, and the lease file records its tokens. */
void handover_set_record(struct handover *h, struct own rec);

#endif
