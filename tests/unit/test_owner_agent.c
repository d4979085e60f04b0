/* test_owner_agent.c - the ownership record decided by the host agent (--owner agent:...):
 * its spec, the answers it gives at once, and the requests it asks of the agent over the
 * control socket (the OWNER event, owner-pending, owner-answer), composed with the lease
 * file by the hand-over. */
#include "harness.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "vmm/control/control.h"
#include "vmm/control/owner_agent.h"
#include "vmm/core/gclock.h"
#include "vmm/migrate/commit.h"
#include "vmm/migrate/handover.h"
#include "vmm/migrate/owner.h"

static char dir[64];
static int nlease;

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ferry-owner-agent.XXXXXX");
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

static struct owner_agent_spec spec(const char *s)
{
	struct owner_agent_spec sp;
	struct err e = { 0 };

	if (owner_agent_parse(s, &sp, &e) != 0)
		fail_msg("owner_agent_parse(%s): %s", s, e.msg);
	return sp;
}

static void parse_fails(const char *s, const char *why)
{
	struct owner_agent_spec sp;
	struct err e = { 0 };

	assert_int_equal(owner_agent_parse(s, &sp, &e), -1);
	if (!strstr(e.msg, why))
		fail_msg("owner_agent_parse(%s): '%s' does not say '%s'", s, e.msg, why);
}

static void test_parse(void **state)
{
	struct owner_agent_spec sp;

	(void)state;
	sp = spec("agent:100");
	assert_int_equal(sp.token, 100);
	assert_false(sp.has_from);
	sp = spec("agent:0");
	assert_int_equal(sp.token, 0);
	sp = spec("agent:7340032,from=41");
	assert_int_equal(sp.token, 7340032);
	assert_true(sp.has_from);
	assert_int_equal(sp.from, 41);
	sp = spec("agent:9223372036854775807");
	assert_int_equal(sp.token, INT64_MAX);
	parse_fails("lease:1", "expected agent:TOKEN");
	parse_fails("agent:", "TOKEN is missing");
	parse_fails("agent:-1", "not a decimal number");
	parse_fails("agent:12x", "not a decimal number");
	parse_fails("agent: 1", "not a decimal number");
	parse_fails("agent:9223372036854775808", "larger than");
	parse_fails("agent:99999999999999999999999", "larger than");
	parse_fails("agent:5,to=3", "unknown part");
	parse_fails("agent:5,from=", "from= is missing");
	parse_fails("agent:5,from=5", "newer than the save's");
	parse_fails("agent:5,from=9", "newer than the save's");
}

/* Ask and take the answer at once (only the local answers come at once). */
static struct own_answer ask_now(struct own *o, enum own_op op, uint64_t expect)
{
	struct own_answer a;

	assert_int_equal(own_ask(o, op, expect), 0);
	assert_true(own_answer(o, &a));
	assert_int_equal(a.op, op);
	assert_false(own_answer(o, &a)); /* once */
	return a;
}

static int events;
static json_t *last_event;

static void count_event(void *opaque, const char *name, json_t *data)
{
	(void)opaque;
	if (strcmp(name, "OWNER") != 0)
		return;
	events++;
	json_decref(last_event);
	last_event = json_incref(data);
}

static void test_local_answers(void **state)
{
	struct machine *m = th_machine(0);
	struct owner_agent oa;
	struct owner_agent_spec sp = spec("agent:100");
	struct own o;
	struct own_answer a;

	(void)state;
	m->event = count_event;
	events = 0;
	owner_agent_init(&oa, m, &sp);
	o = owner_agent_own(&oa);
	assert_int_equal(o.ops->token(o.impl), 0); /* nothing held before the claim */
	a = ask_now(&o, OWN_CLAIM, 0);
	assert_int_equal(a.status, OWN_OK);
	assert_int_equal(a.token, 100);
	assert_int_equal(o.ops->token(o.impl), 100);
	/* Asked later (leaving a save behind): the token held, as the agent gave it. */
	a = ask_now(&o, OWN_CLAIM, 0);
	assert_int_equal(a.status, OWN_OK);
	assert_int_equal(a.token, 100);
	/* One request at a time, local or not. */
	assert_int_equal(own_ask(&o, OWN_CLAIM, 0), 0);
	assert_int_equal(own_ask(&o, OWN_CLAIM, 0), -1);
	assert_true(own_answer(&o, &a));
	/* No restore was expected: a check fails, saying so. */
	a = ask_now(&o, OWN_CHECK, 100);
	assert_int_equal(a.status, OWN_FAILED);
	assert_non_null(strstr(a.msg, "no restore was expected"));
	o.ops->release(o.impl);
	assert_int_equal(o.ops->token(o.impl), 0);
	assert_int_equal(events, 0); /* none of that went out */
	o.ops->destroy(o.impl);

	/* agent:0 holds nothing, and a claim cannot make it hold anything. */
	sp = spec("agent:0");
	owner_agent_init(&oa, m, &sp);
	a = ask_now(&o, OWN_CLAIM, 0);
	assert_int_equal(a.status, OWN_FAILED);
	assert_non_null(strstr(a.msg, "no token"));
	assert_int_equal(o.ops->token(o.impl), 0);

	/* A restore the agent committed from 41 to 77: the save at 41 passes, once. */
	sp = spec("agent:77,from=41");
	owner_agent_init(&oa, m, &sp);
	a = ask_now(&o, OWN_CHECK, 41);
	assert_int_equal(a.status, OWN_OK);
	a = ask_now(&o, OWN_CHECK, 40); /* a stale save: refused with what the cluster holds */
	assert_int_equal(a.status, OWN_REFUSED);
	assert_int_equal(a.token, 41);
	assert_true(a.owner[0] != 0);
	assert_int_equal(o.ops->token(o.impl), 0);
	a = ask_now(&o, OWN_COMMIT, 41);
	assert_int_equal(a.status, OWN_OK);
	assert_int_equal(a.token, 77);
	assert_int_equal(o.ops->token(o.impl), 77);
	assert_int_equal(events, 0);
	/* The restore's commit was the one decided before: a later one is the agent's. */
	assert_int_equal(own_ask(&o, OWN_COMMIT, 77), 0);
	assert_false(own_answer(&o, &a));
	assert_int_equal(events, 1);
	o.ops->destroy(o.impl);

	/* The same restore from a save that is not the one: refused, nothing held. */
	owner_agent_init(&oa, m, &sp);
	a = ask_now(&o, OWN_COMMIT, 40);
	assert_int_equal(a.status, OWN_REFUSED);
	assert_int_equal(a.token, 41);
	assert_int_equal(o.ops->token(o.impl), 0);
	json_decref(last_event);
	last_event = NULL;
	m->event = NULL;
	th_free(m);
}

/* A VM with the agent's record, its hand-over (the lease file records the agent's tokens) and
 * its control socket with one client on a socketpair, as main.c wires them. */
struct rig {
	struct machine *m;
	struct handover *h;
	struct control c;
	struct owner_agent oa;
	char lease[128];
	int slot, peer;
	int answers;
	struct own_answer last;
};

static void rig_up(struct rig *r, const char *owner, bool incoming)
{
	struct owner_agent_spec sp = spec(owner);
	struct own rec;
	struct err e = { 0 };
	char sock[128];
	int sv[2];

	memset(r, 0, sizeof(*r));
	r->m = th_machine(0);
	r->h = calloc(1, sizeof(*r->h));
	assert_non_null(r->h);
	snprintf(r->lease, sizeof(r->lease), "%s/vm%d.lease", dir, ++nlease);
	r->m->cfg.lease = r->lease;
	r->m->cfg.incoming = incoming ? "127.0.0.1:0" : NULL;
	owner_agent_init(&r->oa, r->m, &sp);
	rec = owner_agent_own(&r->oa);
	if (handover_init_with(r->h, r->m, &rec, &e) != 0)
		fail_msg("handover_init_with: %s", e.msg);
	snprintf(sock, sizeof(sock), "unix:%s/vm%d.sock", dir, nlease);
	if (control_init(&r->c, r->h, sock, &e) != 0)
		fail_msg("control_init: %s", e.msg);
	control_set_owner(&r->c, &r->oa);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	r->slot = control_adopt(&r->c, sv[0], getpid(), getuid());
	assert_true(r->slot >= 0);
	r->peer = sv[1];
}

static void rig_down(struct rig *r)
{
	control_destroy(&r->c);
	close(r->peer);
	th_free(r->m);
	free(r->h);
}

/* The lines the VM queued for the client since the last look, parsed (an array). */
static json_t *rig_lines(struct rig *r)
{
	struct control_client *cl = &r->c.clients[r->slot];
	const char *p = (const char *)cl->out.p + cl->out_off;
	size_t left = cl->out.len - cl->out_off;
	json_t *all = json_array();

	while (left) {
		const char *nl = memchr(p, '\n', left);
		struct err e;
		json_t *v;

		assert_non_null(nl);
		v = json_parse(p, (size_t)(nl - p), &e);
		if (!v)
			fail_msg("the VM sent invalid JSON: %s", e.msg);
		json_push(all, v);
		left -= (size_t)(nl - p) + 1;
		p = nl + 1;
	}
	buf_reset(&cl->out);
	cl->out_off = 0;
	return all;
}

/* The OWNER events among lines (their data objects), in order. */
static json_t *owner_events(json_t *lines)
{
	json_t *out = json_array(), *v;
	size_t i;

	json_array_foreach(lines, i, v)
	{
		const char *ev = NULL;
		struct err e;

		if (json_get_str(v, "event", &ev, &e) == 1 && strcmp(ev, "OWNER") == 0) {
			assert_non_null(json_get(v, "timestamp"));
			json_push(out, json_incref(json_get(v, "data")));
		}
	}
	return out;
}

/* Send one request line and return the reply (the last line that is not an event). */
static json_t *rig_request(struct rig *r, const char *line)
{
	json_t *lines, *v, *reply = NULL;
	size_t i;

	json_decref(rig_lines(r));
	control_feed(&r->c, r->slot, line, strlen(line));
	control_feed(&r->c, r->slot, "\n", 1);
	lines = rig_lines(r);
	json_array_foreach(lines, i, v)
	{
		if (!json_get(v, "event")) {
			json_decref(reply);
			reply = json_incref(v);
		}
	}
	json_decref(lines);
	assert_non_null(reply);
	return reply;
}

/* The reply is a GenericError whose description says why. */
static void expect_error(struct rig *r, const char *line, const char *why)
{
	json_t *reply = rig_request(r, line), *err = json_get(reply, "error");
	const char *cls = NULL, *desc = NULL;
	struct err e;

	if (!err || json_get_str(err, "class", &cls, &e) != 1 ||
	    json_get_str(err, "desc", &desc, &e) != 1 || strcmp(cls, "GenericError") != 0 ||
	    !strstr(desc, why)) {
		char *text = json_encode(reply, NULL);

		fail_msg("sent %s: want a GenericError saying '%s', got %s", line, why, text);
	}
	json_decref(reply);
}

static void expect_ok(struct rig *r, const char *line)
{
	json_t *reply = rig_request(r, line);

	if (!json_is_object(json_get(reply, "return"))) {
		char *text = json_encode(reply, NULL);

		fail_msg("sent %s: got %s", line, text);
	}
	json_decref(reply);
}

static void on_answer(void *opaque, const struct own_answer *a)
{
	struct rig *r = opaque;

	r->answers++;
	r->last = *a;
}

/* What the run loop does after a slice: the hand-over's tick (the record's answer). */
static void tick(struct rig *r)
{
	for (int i = 0; i < r->m->nclients; i++)
		if (r->m->clients[i].opaque == r->h)
			r->m->clients[i].tick(r->h);
}

static uint64_t data_u64(const json_t *d, const char *key)
{
	uint64_t v = 0;
	struct err e;

	assert_int_equal(json_get_u64(d, key, &v, &e), 1);
	return v;
}

static const char *data_str(const json_t *d, const char *key)
{
	const char *s = NULL;
	struct err e;

	assert_int_equal(json_get_str(d, key, &s, &e), 1);
	return s;
}

static void test_remote_commit(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct commit_record rec;
	struct err e = { 0 };
	json_t *lines, *evs, *reply, *d;

	(void)state;
	rig_up(r, "agent:0", true);
	assert_false(handover_holds(r->h));
	assert_int_equal(r->h->lease.fd, -1); /* no lease lock before the commit */
	expect_ok(r, "{\"execute\": \"owner-pending\"}");
	reply = rig_request(r, "{\"execute\": \"owner-pending\"}");
	assert_int_equal(json_object_size(json_get(reply, "return")), 0); /* {}: none */
	json_decref(reply);
	expect_error(r,
		     "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 1, \"status\": "
		     "\"ok\", \"token\": 5}}",
		     "no request");

	/* The destination's commit, from the source's token 41: asked of the agent. */
	json_decref(rig_lines(r));
	assert_int_equal(handover_ask(r->h, OWN_COMMIT, 41, on_answer, r), 0);
	lines = rig_lines(r);
	evs = owner_events(lines);
	assert_int_equal(json_array_size(evs), 1);
	d = json_array_get(evs, 0);
	assert_int_equal(data_u64(d, "seq"), 1);
	assert_string_equal(data_str(d, "op"), "commit");
	assert_int_equal(data_u64(d, "expect"), 41);
	assert_int_equal(json_object_size(d), 3);
	json_decref(evs);
	json_decref(lines);
	/* The VM's thread goes on: ticks give no answer, and say nothing new before 500 ms. */
	for (int i = 0; i < 5; i++)
		tick(r);
	assert_int_equal(r->answers, 0);
	lines = rig_lines(r);
	evs = owner_events(lines);
	assert_int_equal(json_array_size(evs), 0);
	json_decref(evs);
	json_decref(lines);
	/* ... and once they have passed, the same request again. */
	assert_true(r->oa.next_event_ns <= gclock_host_ns() + OWNER_AGENT_RESEND_MS * 1000000LL);
	assert_true(r->oa.next_event_ns > gclock_host_ns() + 400 * 1000000LL);
	r->oa.next_event_ns = gclock_host_ns() - 1;
	tick(r);
	lines = rig_lines(r);
	evs = owner_events(lines);
	assert_int_equal(json_array_size(evs), 1);
	assert_int_equal(data_u64(json_array_get(evs, 0), "seq"), 1);
	json_decref(evs);
	json_decref(lines);
	assert_int_equal(r->answers, 0);

	/* owner-pending says the same as the event. */
	reply = rig_request(r, "{\"execute\": \"owner-pending\", \"id\": 3}");
	d = json_get(reply, "return");
	assert_int_equal(data_u64(d, "seq"), 1);
	assert_string_equal(data_str(d, "op"), "commit");
	assert_int_equal(data_u64(d, "expect"), 41);
	json_decref(reply);

	/* Wrong answers change nothing. */
	expect_error(r,
		     "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 2, \"status\": "
		     "\"ok\", \"token\": 101}}",
		     "seq 2 is not the pending request's (1)");
	expect_error(r, "{\"execute\": \"owner-answer\"}", "'seq' and 'status' are required");
	expect_error(r, "{\"execute\": \"owner-answer\", \"arguments\": {\"status\": \"ok\"}}",
		     "'seq' is required");
	expect_error(r,
		     "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": \"1\", "
		     "\"status\": \"ok\", \"token\": 1}}",
		     "'seq'");
	expect_error(r,
		     "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": -1, "
		     "\"status\": \"ok\", \"token\": 1}}",
		     "'seq' must not be negative");
	expect_error(r, "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 1}}",
		     "'status' is required");
	expect_error(r,
		     "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 1, \"status\": "
		     "\"yes\", \"token\": 101}}",
		     "'status' 'yes' is not ok, refused, busy or failed");
	expect_error(r,
		     "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 1, \"status\": "
		     "7}}",
		     "'status'");
	expect_error(r,
		     "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 1, \"status\": "
		     "\"ok\"}}",
		     "'token' is required with status ok");
	expect_error(r,
		     "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 1, \"status\": "
		     "\"refused\"}}",
		     "'token' is required with status refused");
	expect_error(r,
		     "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 1, \"status\": "
		     "\"ok\", \"token\": 0}}",
		     "'token' 0");
	expect_error(r,
		     "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 1, \"status\": "
		     "\"ok\", \"token\": 1.5}}",
		     "'token'");
	expect_error(r,
		     "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 1, \"status\": "
		     "\"ok\", \"token\": -3}}",
		     "'token' must not be negative");
	expect_error(r,
		     "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 1, \"status\": "
		     "\"ok\", \"token\": 101, \"owner\": 5}}",
		     "'owner'");
	expect_error(r,
		     "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 1, \"status\": "
		     "\"ok\", \"token\": 101, \"owner\": \"vh02\\u0007\"}}",
		     "'owner' must not contain control characters");
	expect_error(r,
		     "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 1, \"status\": "
		     "\"ok\", \"token\": 101, \"msg\": \"a\\nb\"}}",
		     "'msg' must not contain control characters");
	expect_error(r,
		     "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 1, \"status\": "
		     "\"ok\", \"token\": 101, \"tokn\": 3}}",
		     "unknown member 'tokn'");
	{
		char line[512], name[100];

		memset(name, 'x', sizeof(name) - 1);
		name[sizeof(name) - 1] = 0;
		snprintf(line, sizeof(line),
			 "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 1, \"status\": "
			 "\"ok\", \"token\": 101, \"owner\": \"%s\"}}",
			 name);
		expect_error(r, line, "'owner' is longer than 63 bytes");
	}
	tick(r);
	assert_int_equal(r->answers, 0); /* still pending */
	assert_false(handover_holds(r->h));

	/* The right answer: the commit is done, once, and the lease file records the token. */
	expect_ok(r, "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 1, \"status\": "
		     "\"ok\", \"token\": 101, \"owner\": \"vh02\"}}");
	expect_error(r,
		     "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 1, \"status\": "
		     "\"ok\", \"token\": 101}}",
		     "answered already");
	tick(r);
	assert_int_equal(r->answers, 1);
	assert_int_equal(r->last.op, OWN_COMMIT);
	assert_int_equal(r->last.status, OWN_OK);
	assert_int_equal(r->last.token, 101);
	assert_string_equal(r->last.owner, "vh02");
	assert_true(handover_holds(r->h));
	assert_int_equal(handover_token(r->h), 101);
	assert_int_equal(commit_read(&r->h->lease, &rec, &e), 0);
	assert_int_equal(rec.epoch, 101);
	assert_true(r->h->lease.fd >= 0);
	tick(r);
	assert_int_equal(r->answers, 1);
	reply = rig_request(r, "{\"execute\": \"owner-pending\"}");
	assert_int_equal(json_object_size(json_get(reply, "return")), 0);
	json_decref(reply);
	expect_error(r,
		     "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 1, \"status\": "
		     "\"ok\", \"token\": 101}}",
		     "no request");
	rig_down(r);
	free(r);
}

static void test_refused_busy_settle(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct commit_record rec;
	struct err e = { 0 };
	json_t *lines, *evs, *d;
	uint64_t token = 0;

	(void)state;
	/* A source: the claim is answered at start, and the lease file records it. */
	rig_up(r, "agent:100", false);
	assert_true(handover_holds(r->h));
	assert_int_equal(handover_token(r->h), 100);
	assert_int_equal(commit_read(&r->h->lease, &rec, &e), 0);
	assert_int_equal(rec.epoch, 100);
	/* A save kept here, then a resume: the token held stays the agent's. */
	r->h->saved_epoch = 100;
	assert_int_equal(handover_leave_save(r->h, &e), 0);
	assert_int_equal(r->h->saved_epoch, 0);
	assert_int_equal(handover_token(r->h), 100);

	/* It hands over (no disks here) and is in doubt: SETTLE at 100 goes to the agent. */
	assert_int_equal(handover_release(r->h, &token, &e), 0);
	assert_int_equal(token, 100);
	assert_int_equal(r->h->lease.fd, -1);
	json_decref(rig_lines(r));
	assert_int_equal(handover_ask(r->h, OWN_SETTLE, 100, on_answer, r), 0);
	lines = rig_lines(r);
	evs = owner_events(lines);
	assert_int_equal(json_array_size(evs), 1);
	d = json_array_get(evs, 0);
	assert_int_equal(data_u64(d, "seq"), 1);
	assert_string_equal(data_str(d, "op"), "settle");
	assert_int_equal(data_u64(d, "expect"), 100);
	json_decref(evs);
	json_decref(lines);
	/* Busy: answered as busy, and nothing is held. */
	expect_ok(r, "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 1, \"status\": "
		     "\"busy\"}}");
	tick(r);
	assert_int_equal(r->answers, 1);
	assert_int_equal(r->last.status, OWN_BUSY);
	assert_false(handover_holds(r->h));
	/* Asked again: a new request, a new number. */
	assert_int_equal(handover_ask(r->h, OWN_SETTLE, 100, on_answer, r), 0);
	lines = rig_lines(r);
	evs = owner_events(lines);
	assert_int_equal(json_array_size(evs), 1);
	assert_int_equal(data_u64(json_array_get(evs, 0), "seq"), 2);
	json_decref(evs);
	json_decref(lines);
	expect_error(r,
		     "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 1, \"status\": "
		     "\"ok\", \"token\": 100}}",
		     "seq 1 is not the pending request's (2)");
	/* Failed, with a message: it says why. */
	expect_ok(r, "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 2, \"status\": "
		     "\"failed\", \"msg\": \"etcd has no quorum\"}}");
	tick(r);
	assert_int_equal(r->answers, 2);
	assert_int_equal(r->last.status, OWN_FAILED);
	assert_string_equal(r->last.msg, "etcd has no quorum");
	/* Still ours: the lease lock is taken back and the token held again. */
	assert_int_equal(handover_ask(r->h, OWN_SETTLE, 100, on_answer, r), 0);
	expect_ok(r, "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 3, \"status\": "
		     "\"ok\", \"token\": 100}}");
	tick(r);
	assert_int_equal(r->answers, 3);
	assert_int_equal(r->last.status, OWN_OK);
	assert_true(handover_holds(r->h));
	assert_int_equal(handover_token(r->h), 100);
	assert_true(r->h->lease.fd >= 0);

	/* Another round: the agent says the record is still ours at 99, which the lease file
	 * does not say (it records 100): a failure, and nothing is held. */
	assert_int_equal(handover_release(r->h, &token, &e), 0);
	assert_int_equal(handover_ask(r->h, OWN_SETTLE, 99, on_answer, r), 0);
	expect_ok(r, "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 4, \"status\": "
		     "\"ok\", \"token\": 99}}");
	tick(r);
	assert_int_equal(r->answers, 4);
	assert_int_equal(r->last.status, OWN_FAILED);
	assert_non_null(strstr(r->last.msg, "records token 100"));
	assert_false(handover_holds(r->h));
	assert_int_equal(r->h->lease.fd, -1);

	/* Refused: the VM is elsewhere, at the token the agent names. */
	assert_int_equal(handover_ask(r->h, OWN_SETTLE, 100, on_answer, r), 0);
	expect_ok(r, "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 5, \"status\": "
		     "\"refused\", \"token\": 101, \"owner\": \"vh02\"}}");
	tick(r);
	assert_int_equal(r->answers, 5);
	assert_int_equal(r->last.status, OWN_REFUSED);
	assert_int_equal(r->last.token, 101);
	assert_string_equal(r->last.owner, "vh02");
	assert_false(handover_holds(r->h));
	rig_down(r);
	free(r);
}

static void test_restore(void **state)
{
	struct machine *m;
	struct handover *h = calloc(1, sizeof(*h));
	struct owner_agent oa;
	struct owner_agent_spec sp;
	struct own rec;
	struct commit_record cr;
	struct commit c;
	struct err e = { 0 };
	char lease[128];

	(void)state;
	snprintf(lease, sizeof(lease), "%s/restore.lease", dir);
	/* The saver recorded token 100 in the lease file. */
	commit_init(&c, lease, "saver");
	assert_int_equal(commit_lock(&c, 0, &e), 0);
	assert_int_equal(commit_record_token(&c, 100, &e), 0);
	commit_unlock(&c);

	/* The agent moved the record from 100 to 102: the save at 100 is restored. */
	m = th_machine(0);
	m->cfg.lease = lease;
	m->cfg.restore_epoch = 100;
	sp = spec("agent:102,from=100");
	owner_agent_init(&oa, m, &sp);
	rec = owner_agent_own(&oa);
	assert_int_equal(handover_init_with(h, m, &rec, &e), 0);
	assert_int_equal(h->lease.fd, -1); /* the check takes nothing */
	assert_int_equal(handover_restore(h, &e), 0);
	assert_true(handover_holds(h));
	assert_int_equal(handover_token(h), 102);
	assert_int_equal(commit_read(&h->lease, &cr, &e), 0);
	assert_int_equal(cr.epoch, 102);
	th_free(m);

	/* A save the agent did not commit from is stale: refused at start, the stale message. */
	m = th_machine(0);
	m->cfg.lease = lease;
	m->cfg.restore_epoch = 100;
	sp = spec("agent:104,from=102");
	owner_agent_init(&oa, m, &sp);
	rec = owner_agent_own(&oa);
	assert_int_equal(handover_init_with(h, m, &rec, &e), -1);
	assert_non_null(strstr(e.msg, "the save is stale"));
	assert_non_null(strstr(e.msg, "at epoch 102"));
	th_free(m);

	/* A restore without from=: no restore was expected. */
	m = th_machine(0);
	m->cfg.lease = lease;
	m->cfg.restore_epoch = 102;
	sp = spec("agent:104");
	owner_agent_init(&oa, m, &sp);
	rec = owner_agent_own(&oa);
	assert_int_equal(handover_init_with(h, m, &rec, &e), -1);
	assert_non_null(strstr(e.msg, "no restore was expected"));
	th_free(m);

	/* The agent committed from the save's token, but the lease file moved past its new
	 * token meanwhile: the disk cannot say so, the restore fails and holds nothing. */
	assert_int_equal(commit_lock(&c, 0, &e), 0);
	assert_int_equal(commit_record_token(&c, 200, &e), 0);
	commit_unlock(&c);
	m = th_machine(0);
	m->cfg.lease = lease;
	m->cfg.restore_epoch = 102;
	sp = spec("agent:150,from=102");
	owner_agent_init(&oa, m, &sp);
	rec = owner_agent_own(&oa);
	assert_int_equal(handover_init_with(h, m, &rec, &e), 0);
	assert_int_equal(handover_restore(h, &e), -1);
	assert_non_null(strstr(e.msg, "not newer"));
	assert_false(handover_holds(h));
	assert_int_equal(h->lease.fd, -1);
	th_free(m);

	/* The agent's record needs a lease. */
	m = th_machine(0);
	sp = spec("agent:5");
	owner_agent_init(&oa, m, &sp);
	rec = owner_agent_own(&oa);
	assert_int_equal(handover_init_with(h, m, &rec, &e), -1);
	assert_non_null(strstr(e.msg, "needs a lease"));
	th_free(m);
	free(h);
}

static void test_no_agent(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));

	(void)state;
	rig_up(r, "agent:0", true);
	control_set_owner(&r->c, NULL); /* as without --owner: the lease file decides */
	expect_error(r, "{\"execute\": \"owner-pending\"}", "lease file");
	expect_error(r,
		     "{\"execute\": \"owner-answer\", \"arguments\": {\"seq\": 1, \"status\": "
		     "\"ok\", \"token\": 3}}",
		     "lease file");
	rig_down(r);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),	      cmocka_unit_test(test_local_answers),
		cmocka_unit_test(test_remote_commit), cmocka_unit_test(test_refused_busy_settle),
		cmocka_unit_test(test_restore),	      cmocka_unit_test(test_no_agent),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
