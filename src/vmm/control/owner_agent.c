/* owner_agent.c - the ownership record decided by the host agent, asked over the control socket.
 *
 * One request at a time, as owner.h wants. A request the agent decided before it started the
 * process (CLAIM, a restore's CHECK and COMMIT) is answered in ask() itself and handed back
 * by the next answer(). Any other (an incoming migration's COMMIT, a source's SETTLE) gets
 * the next sequence number and goes out as the OWNER event; each poll of answer() while it
 * is unanswered sends the event again once OWNER_AGENT_RESEND_MS have passed, so a client
 * that connects late, or missed a line, still learns of it. owner-answer fills the answer in
 * (owner_agent_reply) only for the sequence number pending, and answer() returns it once.
 *
 * The token: the one last given to this process (TOKEN at start, then what an answer said),
 * held from an OK until release. CLAIM answers with it; it is the agent's to move, in etcd.
 */
#include "vmm/control/owner_agent.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "vmm/board/machine.h"
#include "vmm/core/gclock.h"

#define OWNER_AGENT_CLUSTER "the cluster's record"

/* A decimal token: digits only, at most INT64_MAX (what JSON carries exactly). */
static int owner_agent_number(const char *s, size_t n, const char *what, uint64_t *out,
			      struct err *e)
{
	uint64_t v = 0;

	if (n == 0)
		return err_set(e, "--owner: %s is missing (a decimal number)", what);
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return err_set(e, "--owner: %s '%.*s' is not a decimal number", what,
				       (int)(n > 40 ? 40 : n), s);
		if (v > ((uint64_t)INT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return err_set(e, "--owner: %s '%.*s' is larger than %" PRId64, what,
				       (int)(n > 40 ? 40 : n), s, INT64_MAX);
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int owner_agent_parse(const char *spec, struct owner_agent_spec *s, struct err *e)
{
	const char *p, *comma;

	memset(s, 0, sizeof(*s));
	if (strncmp(spec, "agent:", 6) != 0)
		return err_set(e, "--owner '%.60s': expected agent:TOKEN[,from=EXPECT]", spec);
	p = spec + 6;
	comma = strchr(p, ',');
	if (owner_agent_number(p, comma ? (size_t)(comma - p) : strlen(p), "TOKEN", &s->token, e) <
	    0)
		return -1;
	if (!comma)
		return 0;
	p = comma + 1;
	if (strncmp(p, "from=", 5) != 0)
		return err_set(
		    e, "--owner: unknown part '%.40s' after the token (only from=EXPECT)", p);
	if (owner_agent_number(p + 5, strlen(p + 5), "from=", &s->from, e) < 0)
		return -1;
	s->has_from = true;
	if (s->from >= s->token)
		return err_set(e,
			       "--owner agent:%" PRIu64 ",from=%" PRIu64
			       ": the restore's token must be newer than the save's",
			       s->token, s->from);
	return 0;
}

void owner_agent_init(struct owner_agent *oa, struct machine *m, const struct owner_agent_spec *s)
{
	memset(oa, 0, sizeof(*oa));
	oa->m = m;
	oa->spec = *s;
	oa->token = s->token;
}

json_t *owner_agent_pending(const struct owner_agent *oa)
{
	json_t *d = json_object();

	if (!d || !oa->pending || !oa->remote || oa->answered)
		return d;
	json_set_u64(d, "seq", oa->seq);
	json_set_str(d, "op", own_op_name(oa->op));
	json_set_u64(d, "expect", oa->expect);
	return d;
}

static void owner_agent_emit(struct owner_agent *oa)
{
	oa->next_event_ns = gclock_host_ns() + OWNER_AGENT_RESEND_MS * 1000000LL;
	machine_emit(oa->m, "OWNER", owner_agent_pending(oa));
}

/* The local answer to a request the agent decided before the start. */
static void owner_agent_local(struct owner_agent *oa, enum own_status st, uint64_t token,
			      const char *owner, const char *msg)
{
	oa->answered = true;
	oa->a.status = st;
	oa->a.token = token;
	snprintf(oa->a.owner, sizeof(oa->a.owner), "%s", owner);
	snprintf(oa->a.msg, sizeof(oa->a.msg), "%s", msg);
}

static int owner_agent_ask(void *impl, enum own_op op, uint64_t expect)
{
	struct owner_agent *oa = impl;
	const struct owner_agent_spec *s = &oa->spec;

	if (oa->pending)
		return -1;
	oa->pending = true;
	oa->remote = false;
	oa->answered = false;
	oa->op = op;
	oa->expect = expect;
	memset(&oa->a, 0, sizeof(oa->a));
	oa->a.op = op;
	switch (op) {
	case OWN_CLAIM:
		if (oa->token)
			owner_agent_local(oa, OWN_OK, oa->token, "", "");
		else
			owner_agent_local(oa, OWN_FAILED, 0, "",
					  "the agent gave this process no token (--owner agent:0): "
					  "only an incoming migration's commit gives it one");
		return 0;
	case OWN_CHECK:
		if (!s->has_from)
			owner_agent_local(oa, OWN_FAILED, 0, "",
					  "no restore was expected: the agent gave no from= "
					  "(--owner agent:TOKEN,from=EXPECT)");
		else
			owner_agent_local(oa, expect == s->from ? OWN_OK : OWN_REFUSED, s->from,
					  OWNER_AGENT_CLUSTER, "");
		return 0;
	case OWN_COMMIT:
		if (s->has_from && !oa->restore_done) {
			/* The restore's: etcd moved from `from` to the token before the start. */
			oa->restore_done = true;
			if (expect == s->from)
				owner_agent_local(oa, OWN_OK, s->token, "", "");
			else
				owner_agent_local(oa, OWN_REFUSED, s->from, OWNER_AGENT_CLUSTER,
						  "");
			return 0;
		}
		break;
	case OWN_SETTLE:
		break;
	}
	oa->remote = true;
	oa->seq++;
	log_info("owner: asking the agent to %s from token %" PRIu64 " (request %" PRIu64 ")",
		 own_op_name(op), expect, oa->seq);
	owner_agent_emit(oa);
	return 0;
}

static bool owner_agent_answer(void *impl, struct own_answer *a)
{
	struct owner_agent *oa = impl;

	if (!oa->pending)
		return false;
	if (!oa->answered) {
		if (gclock_host_ns() >= oa->next_event_ns)
			owner_agent_emit(oa); /* still unanswered: say it again */
		return false;
	}
	*a = oa->a;
	oa->pending = false;
	oa->answered = false;
	if (a->status == OWN_OK && a->op != OWN_CHECK) {
		oa->token = a->token;
		oa->held = true;
	}
	return true;
}

static void owner_agent_release(void *impl)
{
	((struct owner_agent *)impl)->held = false;
}

static uint64_t owner_agent_token(void *impl)
{
	struct owner_agent *oa = impl;

	return oa->held ? oa->token : 0;
}

static void owner_agent_destroy(void *impl)
{
	struct owner_agent *oa = impl;

	oa->pending = false;
	oa->answered = false;
}

static const struct own_ops owner_agent_ops = {
	.name = "agent",
	.ask = owner_agent_ask,
	.answer = owner_agent_answer,
	.release = owner_agent_release,
	.token = owner_agent_token,
	.destroy = owner_agent_destroy,
};

struct own owner_agent_own(struct owner_agent *oa)
{
	return (struct own){ &owner_agent_ops, oa };
}

/* An optional string member of at most max - 1 bytes, without control characters (it goes
 * into log lines and error messages). */
static int owner_agent_text(const json_t *args, const char *key, size_t max, char *out,
			    struct err *e)
{
	const char *s = NULL;
	int rc = json_get_str(args, key, &s, e);

	if (rc <= 0)
		return rc;
	if (strlen(s) >= max)
		return err_set(e, "'%s' is longer than %zu bytes", key, max - 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return err_set(e, "'%s' must not contain control characters", key);
	snprintf(out, max, "%s", s);
	return 1;
}

int owner_agent_reply(struct owner_agent *oa, const json_t *args, struct err *e)
{
	static const char *const statuses[] = { "ok", "refused", "busy", "failed" };
	static const char *const members[] = { "seq", "status", "token", "owner", "msg" };
	struct own_answer a = { 0 };
	const char *status = NULL, *key;
	uint64_t seq = 0, token = 0;
	int st = -1, has_token;
	json_t *val;

	if (!args)
		return err_set(e, "'seq' and 'status' are required");
	json_object_foreach((json_t *)args, key, val)
	{
		bool known = false;

		for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
			known = known || strcmp(key, members[i]) == 0;
		if (!known)
			return err_set(e, "unknown member '%.60s' (seq, status, token, owner, msg)",
				       key);
	}
	int rc = json_get_u64(args, "seq", &seq, e);

	if (rc < 0)
		return -1;
	if (rc == 0)
		return err_set(e, "'seq' is required (the request's, from the OWNER event)");
	rc = json_get_str(args, "status", &status, e);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return err_set(e, "'status' is required (ok, refused, busy or failed)");
	for (int i = 0; i < (int)(sizeof(statuses) / sizeof(statuses[0])); i++)
		if (strcmp(status, statuses[i]) == 0)
			st = i;
	if (st < 0)
		return err_set(e, "'status' '%.40s' is not ok, refused, busy or failed", status);
	has_token = json_get_u64(args, "token", &token, e);
	if (has_token < 0)
		return -1;
	if (!has_token && (st == OWN_OK || st == OWN_REFUSED))
		return err_set(e, "'token' is required with status %s", status);
	if (st == OWN_OK && token == 0)
		return err_set(e, "'token' 0 names no owner: an ok needs the token given");
	if (owner_agent_text(args, "owner", sizeof(a.owner), a.owner, e) < 0 ||
	    owner_agent_text(args, "msg", sizeof(a.msg), a.msg, e) < 0)
		return -1;
	if (!oa->pending || !oa->remote)
		return err_set(e,
			       "no request of the ownership record is waiting for the agent "
			       "(seq %" PRIu64 " given)",
			       seq);
	if (seq != oa->seq)
		return err_set(e, "seq %" PRIu64 " is not the pending request's (%" PRIu64 ")", seq,
			       oa->seq);
	if (oa->answered)
		return err_set(e, "request %" PRIu64 " is answered already", seq);
	a.op = oa->op;
	a.status = (enum own_status)st;
	a.token = token;
	if (st == OWN_FAILED && !a.msg[0])
		snprintf(a.msg, sizeof(a.msg), "the agent answered failed");
	oa->a = a;
	oa->answered = true;
	log_info("owner: the agent answered %s to request %" PRIu64 " (%s from %" PRIu64
		 "), token %" PRIu64,
		 status, seq, own_op_name(oa->op), oa->expect, token);
	return 0;
}
