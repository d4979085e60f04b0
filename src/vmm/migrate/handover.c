/* handover.c - step 4 of a move in one place: the ownership record and the disks.
 *
 * The record is the lease file (commit.c), or one that decides elsewhere (in the
 * cluster: etcd through the host agent, vmm/control/owner_agent.h) with the lease file
 * recording its tokens under the lock. Every path that gives a VM to a process or takes
 * it away goes through here, so the order is the same on each: the disks are flushed and
 * closed before the record is let go, and opened only after the record is ours.
 */
#include "vmm/migrate/handover.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/fault.h"
#include "common/log.h"
#include "vmm/board/machine.h"
#include "vmm/core/gclock.h"
#include "vmm/migrate/migrate.h"

static bool handover_composed(const struct handover *h)
{
	return h->rec.impl != &h->lease;
}

/* The decider said yes to a CLAIM, COMMIT or SETTLE with its token: in the cluster, the lease
 * file beside the disk records it under its lock, so the disk says which token may open it.
 * A token the file already records is ours again (a CLAIM after a save kept here, a SETTLE
 * after a failed move): the lock is taken back and nothing is written. A SETTLE's token must
 * be the file's, or someone recorded a newer one meanwhile. If the file cannot agree, the
 * answer turns into a failure and what was taken here is let go again. */
static void handover_record(struct handover *h, struct own_answer *a)
{
	struct commit_record r;
	struct err e = { 0 };
	bool had_lock = h->lease.fd >= 0;
	int rc = 0;

	if (!handover_composed(h) || a->status != OWN_OK || a->op == OWN_CHECK)
		return;
	if (commit_lock(&h->lease, 0, &e) < 0 || commit_read(&h->lease, &r, &e) < 0)
		rc = -1;
	else if (a->op == OWN_SETTLE && r.epoch != a->token)
		rc = err_set(&e, "the lease file records token %llu", (unsigned long long)r.epoch);
	else if (r.epoch != a->token)
		rc = commit_record_token(&h->lease, a->token, &e);
	if (rc == 0)
		return;
	/* The record moved, but the disk cannot say so: do not run on it. */
	a->status = OWN_FAILED;
	snprintf(a->msg, sizeof(a->msg),
		 "the record %s token %llu, but the lease file could not record it: %.400s",
		 a->op == OWN_SETTLE ? "is still at" : "moved to", (unsigned long long)a->token,
		 e.msg);
	if (!had_lock) {
		h->rec.ops->release(h->rec.impl);
		commit_unlock(&h->lease);
	}
}

static void handover_tick(void *opaque)
{
	struct handover *h = opaque;
	struct own_answer a;

	if (h->mig)
		mig_tick(h);
	if (!h->asking)
		return;
	if (!own_answer(&h->rec, &a)) {
		/* Not yet: look again soon, even with nothing else to do. */
		machine_wake_by(h->m, gclock_host_ns() + 10 * 1000000LL);
		return;
	}
	h->asking = false;
	handover_record(h, &a);
	if (h->done)
		h->done(h->done_opaque, &a);
}

static void handover_end(void *opaque)
{
	struct handover *h = opaque;

	mig_destroy(h);
	if (h->rec.ops)
		h->rec.ops->destroy(h->rec.impl);
	commit_unlock(&h->lease);
}

int handover_ask(struct handover *h, enum own_op op, uint64_t expect, handover_done_fn done,
		 void *opaque)
{
	if (h->asking || own_ask(&h->rec, op, expect) < 0)
		return -1;
	h->asking = true;
	h->done = done;
	h->done_opaque = opaque;
	return 0;
}

void handover_forget(struct handover *h, void *opaque)
{
	if (h->done_opaque == opaque) {
		h->done = NULL;
		h->done_opaque = NULL;
	}
}

void handover_set_record(struct handover *h, struct own rec)
{
	h->rec = rec;
}

/* Before the run loop (start-up, restore) or for the operator's resume: wait for the answer,
 * for at most 10 s. */
static void handover_wait(struct handover *h, enum own_op op, uint64_t expect, struct own_answer *a)
{
	struct timespec step = { 0, 10 * 1000000 };

	memset(a, 0, sizeof(*a));
	a->op = op;
	if (h->asking || own_ask(&h->rec, op, expect) < 0) {
		a->status = OWN_FAILED;
		snprintf(a->msg, sizeof(a->msg), "a request to the ownership record is under way");
		return;
	}
	for (int i = 0; i < 1000; i++) {
		if (own_answer(&h->rec, a)) {
			handover_record(h, a);
			return;
		}
		nanosleep(&step, NULL);
	}
	a->status = OWN_FAILED;
	snprintf(a->msg, sizeof(a->msg), "the ownership record did not answer in 10 s");
}

static int handover_stale(struct handover *h, const struct own_answer *a, struct err *e)
{
	return err_set(e,
		       "the save is stale: it was made at lease epoch %llu, the lease is at "
		       "epoch %llu (%s); the VM ran on or was restored since",
		       (unsigned long long)h->m->cfg.restore_epoch, (unsigned long long)a->token,
		       a->owner);
}

int handover_init(struct handover *h, struct machine *m, struct err *e)
{
	return handover_init_with(h, m, NULL, e);
}

int handover_init_with(struct handover *h, struct machine *m, const struct own *rec, struct err *e)
{
	const struct machine_config *cfg = &m->cfg;
	char path[4200], owner[COMMIT_OWNER_MAX], host[64] = "host";
	struct own_answer a;

	memset(h, 0, sizeof(*h));
	h->m = m;
	commit_init(&h->lease, "", "");
	h->rec = commit_own(&h->lease);
	if (machine_add_client(m, &(struct machine_client){ handover_tick, handover_end, h }, e) <
	    0)
		return -1;
	if (cfg->lease)
		snprintf(path, sizeof(path), "%s", cfg->lease);
	else if (cfg->ndisks)
		snprintf(path, sizeof(path), "%s.lease", cfg->disks[0]);
	else if (rec)
		return err_set(e,
			       "the ownership record (%s) needs a lease: a --disk, or --lease FILE",
			       rec->ops->name);
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
	if (rec)
		h->rec = *rec; /* the cluster's record decides; the lease file records its tokens */
	if (cfg->incoming)
		return 0; /* taken only at the commit */
	/* A restore checks now and moves the record once the file has loaded. */
	handover_wait(h, cfg->restore_epoch ? OWN_CHECK : OWN_CLAIM, cfg->restore_epoch, &a);
	if (a.status == OWN_REFUSED)
		return handover_stale(h, &a, e);
	if (a.status != OWN_OK)
		return err_set(e, "the VM's lease: %s", a.msg);
	return 0;
}

int handover_restore(struct handover *h, struct err *e)
{
	struct own_answer a;

	h->announce_on_resume = true;
	if (!h->has_lease || !h->m->cfg.restore_epoch)
		return 0;
	fault_point("restore-claim", 0);
	handover_wait(h, OWN_COMMIT, h->m->cfg.restore_epoch, &a);
	if (a.status == OWN_REFUSED)
		return handover_stale(h, &a, e);
	if (a.status != OWN_OK)
		return err_set(e, "the VM's lease: %s", a.msg);
	return 0;
}

int handover_leave_save(struct handover *h, struct err *e)
{
	if (h->saved_epoch && handover_holds(h) && handover_token(h) == h->saved_epoch) {
		/* Saved and running on: the saved file must never be restored over a disk that
		 * moved on. A new token makes it stale. */
		struct own_answer a;

		handover_wait(h, OWN_CLAIM, 0, &a);
		if (a.status != OWN_OK)
			return err_set(e, "the VM's lease: %s", a.msg);
		h->saved_epoch = 0;
	}
	return 0;
}

int handover_resume(struct handover *h, const char *reason, struct err *e)
{
	struct machine *m = h->m;

	if (handover_leave_save(h, e) < 0)
		return -1;
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
	return h->has_lease && h->rec.ops->token(h->rec.impl) != 0;
}

uint64_t handover_token(const struct handover *h)
{
	return h->rec.ops ? h->rec.ops->token(h->rec.impl) : 0;
}

int handover_release(struct handover *h, uint64_t *token, struct err *e)
{
	if (!handover_holds(h))
		return err_set(e, "this VM holds no lease to hand over");
	if (machine_devs_release(h->m, e) < 0)
		return -1;
	*token = handover_token(h);
	h->rec.ops->release(h->rec.impl);
	if (handover_composed(h))
		commit_unlock(&h->lease);
	return 0;
}
