/* test_owner.c - the ownership record: the lease file, its asynchronous interface, and the
 * hand-over recording another record's token in it. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "vmm/migrate/commit.h"
#include "vmm/migrate/handover.h"
#include "vmm/migrate/owner.h"

static char dir[64];

static void lease_path(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ferry-owner.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* Ask and take the answer at once (the lease file answers on the first poll unless its lock
 * is held elsewhere). */
static struct own_answer ask(struct own *o, enum own_op op, uint64_t expect)
{
	struct own_answer a;

	assert_int_equal(own_ask(o, op, expect), 0);
	assert_true(own_answer(o, &a));
	assert_int_equal(a.op, op);
	return a;
}

static void test_claim_check_commit(void **state)
{
	char path[128];
	struct commit a, b;
	struct own oa, ob;
	struct own_answer r;

	(void)state;
	lease_path(path, sizeof(path), "vm1.lease");
	commit_init(&a, path, "host-a");
	commit_init(&b, path, "host-b");
	oa = commit_own(&a);
	ob = commit_own(&b);

	/* A fresh start on a missing record: token 1, held. */
	r = ask(&oa, OWN_CLAIM, 0);
	assert_int_equal(r.status, OWN_OK);
	assert_int_equal(r.token, 1);
	assert_int_equal(oa.ops->token(oa.impl), 1);
	/* Only one request at a time. */
	assert_int_equal(own_ask(&oa, OWN_CLAIM, 0), 0);
	assert_int_equal(own_ask(&oa, OWN_CLAIM, 0), -1);
	assert_true(own_answer(&oa, &r));
	assert_int_equal(r.token, 2); /* claiming again moves the token on */
	/* Nothing pending: no answer. */
	assert_false(own_answer(&oa, &r));

	/* The other side cannot commit while the lock is held, and says so after its wait. */
	assert_int_equal(own_ask(&ob, OWN_COMMIT, 2), 0);
	assert_false(own_answer(&ob, &r)); /* still waiting for the lock: no answer yet */
	/* Let go: the next poll takes the lock and commits from 2; the token is the record's
	 * choice (the next epoch), not the caller's. */
	oa.ops->release(oa.impl);
	assert_int_equal(oa.ops->token(oa.impl), 0);
	assert_true(own_answer(&ob, &r));
	assert_int_equal(r.status, OWN_OK);
	assert_int_equal(r.token, 3);
	assert_string_equal(r.owner, "host-b");

	/* A commit from a token the record no longer holds is refused, naming what it holds. */
	ob.ops->release(ob.impl);
	r = ask(&oa, OWN_COMMIT, 2);
	assert_int_equal(r.status, OWN_REFUSED);
	assert_int_equal(r.token, 3);
	assert_string_equal(r.owner, "host-b");
	assert_int_equal(oa.ops->token(oa.impl), 0); /* and nothing was taken */

	/* A restore's check: at the save's token or not. */
	r = ask(&oa, OWN_CHECK, 3);
	assert_int_equal(r.status, OWN_OK);
	oa.ops->release(oa.impl);
	r = ask(&oa, OWN_CHECK, 2);
	assert_int_equal(r.status, OWN_REFUSED);
	assert_int_equal(r.token, 3);
	oa.ops->destroy(oa.impl);
	ob.ops->destroy(ob.impl);
}

static void test_settle(void **state)
{
	char path[128];
	struct commit src, dst;
	struct own os, od;
	struct own_answer r;

	(void)state;
	lease_path(path, sizeof(path), "vm2.lease");
	commit_init(&src, path, "src");
	commit_init(&dst, path, "dst");
	os = commit_own(&src);
	od = commit_own(&dst);
	assert_int_equal(ask(&os, OWN_CLAIM, 0).token, 1);
	os.ops->release(os.impl); /* the source let go at token 1 and asked to commit */

	/* The destination holds the lock and has not swapped yet: the source cannot tell. */
	assert_int_equal(commit_lock(&dst, 0, &(struct err){ 0 }), 0);
	r = ask(&os, OWN_SETTLE, 1);
	assert_int_equal(r.status, OWN_BUSY);
	/* It let go without committing: the record is still the source's, which takes it. */
	commit_unlock(&dst);
	r = ask(&os, OWN_SETTLE, 1);
	assert_int_equal(r.status, OWN_OK);
	assert_int_equal(r.token, 1);
	assert_int_equal(os.ops->token(os.impl), 1);

	/* Another round: this time the destination commits, even while it still holds the
	 * lock the answer is known: the record moved on. */
	os.ops->release(os.impl);
	assert_int_equal(ask(&od, OWN_COMMIT, 1).status, OWN_OK);
	r = ask(&os, OWN_SETTLE, 1);
	assert_int_equal(r.status, OWN_REFUSED);
	assert_int_equal(r.token, 2);
	assert_string_equal(r.owner, "dst");
	assert_int_equal(os.ops->token(os.impl), 0);
	os.ops->destroy(os.impl);
	od.ops->destroy(od.impl);
}

static void test_record_token(void **state)
{
	char path[128];
	struct commit c;
	struct commit_record rec;
	struct err e = { 0 };

	(void)state;
	lease_path(path, sizeof(path), "vm3.lease");
	commit_init(&c, path, "here");
	assert_int_equal(commit_record_token(&c, 5, &e), -1); /* not without the lock */
	assert_int_equal(commit_lock(&c, 0, &e), 0);
	assert_int_equal(commit_record_token(&c, 1000, &e), 0);
	assert_int_equal(commit_read(&c, &rec, &e), 0);
	assert_int_equal(rec.epoch, 1000);
	/* Never backwards, never the same token twice. */
	assert_int_equal(commit_record_token(&c, 1000, &e), -1);
	assert_non_null(strstr(e.msg, "not newer"));
	assert_int_equal(commit_record_token(&c, 999, &e), -1);
	assert_int_equal(commit_read(&c, &rec, &e), 0);
	assert_int_equal(rec.epoch, 1000);
	commit_unlock(&c);
}

/* A stand-in for a record that answers later and chooses its own tokens (as etcd's revisions
 * do): the hand-over must wait for it and then have the lease file record its token. */
struct slow {
	int polls_left;
	bool pending;
	enum own_op op;
	uint64_t token, held;
};

static int slow_ask(void *impl, enum own_op op, uint64_t expect)
{
	struct slow *s = impl;

	(void)expect;
	if (s->pending)
		return -1;
	s->pending = true;
	s->op = op;
	s->polls_left = 3;
	return 0;
}

static bool slow_answer(void *impl, struct own_answer *a)
{
	struct slow *s = impl;

	if (!s->pending || s->polls_left-- > 0)
		return false;
	s->pending = false;
	memset(a, 0, sizeof(*a));
	a->op = s->op;
	a->status = OWN_OK;
	a->token = s->held = s->token;
	snprintf(a->owner, sizeof(a->owner), "elsewhere");
	return true;
}

static void slow_release(void *impl)
{
	((struct slow *)impl)->held = 0;
}

static uint64_t slow_token(void *impl)
{
	return ((struct slow *)impl)->held;
}

static void slow_destroy(void *impl)
{
	(void)impl;
}

static const struct own_ops slow_ops = { "slow",       slow_ask,   slow_answer,
					 slow_release, slow_token, slow_destroy };

static int answers;
static struct own_answer last;

static void on_answer(void *opaque, const struct own_answer *a)
{
	(void)opaque;
	answers++;
	last = *a;
}

/* The hand-over's run-loop client: what the machine calls after every slice. */
static void tick(struct machine *m, struct handover *h)
{
	for (int i = 0; i < m->nclients; i++)
		if (m->clients[i].opaque == h)
			m->clients[i].tick(h);
}

static void test_handover_records_the_deciders_token(void **state)
{
	char path[128];
	struct machine *m = th_machine(0);
	struct handover *h = calloc(1, sizeof(*h));
	struct slow s = { .token = 7340032 };
	struct commit_record rec;
	struct err e = { 0 };

	(void)state;
	lease_path(path, sizeof(path), "vm4.lease");
	m->cfg.lease = path;
	m->cfg.incoming = "127.0.0.1:0"; /* arrives by migration: nothing claimed at start */
	assert_int_equal(handover_init(h, m, &e), 0);
	assert_false(handover_holds(h));
	handover_set_record(h, (struct own){ &slow_ops, &s });
	answers = 0;
	assert_int_equal(handover_ask(h, OWN_COMMIT, 41, on_answer, NULL), 0);
	assert_int_equal(handover_ask(h, OWN_COMMIT, 41, on_answer, NULL), -1);
	for (int i = 0; i < 3; i++) {
		tick(m, h);
		assert_int_equal(answers, 0); /* the machine's thread goes on meanwhile */
	}
	tick(m, h);
	assert_int_equal(answers, 1);
	assert_int_equal(last.status, OWN_OK);
	assert_int_equal(last.token, 7340032);
	/* The lease file beside the disk now says the decider's token, under its lock. */
	assert_int_equal(commit_read(&h->lease, &rec, &e), 0);
	assert_int_equal(rec.epoch, 7340032);
	assert_true(handover_holds(h));
	assert_int_equal(handover_token(h), 7340032);
	tick(m, h);
	assert_int_equal(answers, 1); /* answered once */

	/* A token that does not move the file forward is not recorded: the answer turns into a
	 * failure, and the VM does not run on a disk that cannot say who owns it. */
	s.token = 5;
	assert_int_equal(handover_ask(h, OWN_COMMIT, 7340032, on_answer, NULL), 0);
	for (int i = 0; i < 4; i++)
		tick(m, h);
	assert_int_equal(answers, 2);
	assert_int_equal(last.status, OWN_FAILED);
	assert_non_null(strstr(last.msg, "not newer"));
	th_free(m); /* ends the hand-over with the machine */
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_claim_check_commit),
		cmocka_unit_test(test_settle),
		cmocka_unit_test(test_record_token),
		cmocka_unit_test(test_handover_records_the_deciders_token),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
