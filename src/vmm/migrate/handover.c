/* handover.c - step 4 of a move in one place: the ownership record and the disks.
 *
 * The record is today's lease file (commit.c). Every path that gives a VM to a
 * process or takes it away goes through here, so the order is the same on each:
 * the disks are flushed and closed before the record is let go, and opened only
 * after the record is ours.
 */
#include "vmm/migrate/handover.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/fault.h"
#include "common/log.h"
#include "vmm/board/machine.h"
#include "vmm/core/gclock.h"
#include "vmm/migrate/migrate.h"

static void handover_tick(void *opaque)
{
	struct handover *h = opaque;

	if (h->mig)
		mig_tick(h);
}

static void handover_end(void *opaque)
{
	struct handover *h = opaque;

	mig_destroy(h);
	commit_unlock(&h->lease);
}

/* Restoring a save made at cfg.restore_epoch: the record must still be there. */
static int handover_check_restore(struct handover *h, struct err *e)
{
	struct commit_record r = { 0 };

	if (commit_read(&h->lease, &r, e) < 0)
		return -1;
	if (r.epoch != h->m->cfg.restore_epoch)
		return err_set(
		    e,
		    "the save is stale: it was made at lease epoch %llu, the lease is at "
		    "epoch %llu (%s); the VM ran on or was restored since",
		    (unsigned long long)h->m->cfg.restore_epoch, (unsigned long long)r.epoch,
		    r.owner);
	return 0;
}

int handover_init(struct handover *h, struct machine *m, struct err *e)
{
	const struct machine_config *cfg = &m->cfg;
	char path[4200], owner[COMMIT_OWNER_MAX], host[64] = "host";

	memset(h, 0, sizeof(*h));
	h->m = m;
	commit_init(&h->lease, "", "");
	if (machine_add_client(m, &(struct machine_client){ handover_tick, handover_end, h }, e) <
	    0)
		return -1;
	if (cfg->lease)
		snprintf(path, sizeof(path), "%s", cfg->lease);
	else if (cfg->ndisks)
		snprintf(path, sizeof(path), "%s.lease", cfg->disks[0]);
	else
		return 0;
	gethostname(host, sizeof(host) - 1);
	if (cfg->name)
		snprintf(owner, sizeof(owner), "%s", cfg->name);
	else
		snprintf(owner, sizeof(owner), "%.40s:%d", host, (int)getpid());
	for (char *p = owner; *p; p++)
		if (*p == ' ' || *p == '\n')
			*p = '_';
	commit_init(&h->lease, path, owner);
	h->has_lease = true;
	if (cfg->incoming)
		return 0; /* taken only at the commit */
	if (commit_lock(&h->lease, 0, e) < 0)
		return err_prefix(e, "the VM's lease");
	if (cfg->restore_epoch)
		return handover_check_restore(h, e); /* moved only once the file has loaded */
	return commit_claim(&h->lease, e);
}

int handover_restore(struct handover *h, struct err *e)
{
	int rc;

	h->announce_on_resume = true;
	if (!h->has_lease || !h->m->cfg.restore_epoch)
		return 0;
	fault_point("restore-claim", 0);
	rc = commit_swap(&h->lease, h->m->cfg.restore_epoch, e);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return handover_check_restore(h, e);
	return 0;
}

int handover_resume(struct handover *h, const char *reason, struct err *e)
{
	struct machine *m = h->m;

	if (h->saved_epoch && h->lease.fd >= 0 && h->lease.epoch == h->saved_epoch) {
		/* Saved and running on: the saved file must never be restored over a disk that
		 * moved on. The next epoch makes it stale. */
		if (commit_claim(&h->lease, e) < 0)
			return -1;
		h->saved_epoch = 0;
	}
	if (h->announce_on_resume && m->paused) {
		/* The VM may have moved to another host since its state was saved: announce its
		 * MACs before the hart runs, as a migration's destination does. */
		machine_devs_announce(m);
		h->announce_on_resume = false;
	}
	machine_resume(m, reason);
	return 0;
}

bool handover_holds(const struct handover *h)
{
	return h->has_lease && h->lease.fd >= 0;
}

int handover_release(struct handover *h, uint64_t *epoch, struct err *e)
{
	if (!handover_holds(h))
		return err_set(e, "this VM holds no lease to hand over");
	if (machine_devs_release(h->m, e) < 0)
		return -1;
	*epoch = h->lease.epoch;
	commit_unlock(&h->lease);
	return 0;
}

int handover_settle(struct handover *h, uint64_t epoch, struct err *e)
{
	struct commit_record r;

	if (commit_read(&h->lease, &r, e) == 0 && r.epoch > epoch) {
		log_info("the lease moved to epoch %llu (%s): the VM is there",
			 (unsigned long long)r.epoch, r.owner);
		return 0;
	}
	if (commit_lock(&h->lease, 0, e) < 0)
		return -1; /* the destination holds it: wait */
	if (commit_still_ours(&h->lease, e) == 1)
		return 1;
	commit_unlock(&h->lease);
	return 0;
}

int handover_take_over(struct handover *h, uint64_t expect, struct commit_record *r,
		       struct err *e)
{
	int64_t t0 = gclock_host_ns(), tl;
	int rc;

	if (!h->has_lease)
		return err_set(e, "this destination has no lease path (--disk or --lease)");
	/* The source released the record just before asking; wait briefly for the kernel. */
	if (commit_lock(&h->lease, 2000, e) < 0)
		return err_prefix(e, "cannot take the lease");
	tl = gclock_host_ns();
	fault_point("before-commit", 0);
	rc = commit_swap(&h->lease, expect, e);
	log_info("incoming migration: lease lock %.3f ms, swap %.3f ms", (double)(tl - t0) / 1e6,
		 (double)(gclock_host_ns() - tl) / 1e6);
	if (rc == 0)
		commit_read(&h->lease, r, e);
	if (rc <= 0)
		commit_unlock(&h->lease);
	return rc;
}
