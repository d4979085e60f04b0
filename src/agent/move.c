/* move.c - moving a VM through the cluster (move.h): the source's lead, the destination's
 * part, the owner transactions, the history, drain.
 *
 * Each move is a struct move on the list of the agents that take part: the source's (role
 * MOVE_SRC) runs a thread that leads the move from its queue slot to its history entry; the
 * destination's (MOVE_DST) runs a thread that holds its incoming VM's control socket, answers
 * its commit request and tears it down if the move goes away. What decides is in etcd and
 * written only by compare-and-swap:
 *
 *   /ferry/migrations/<vm>   created only if absent, under the source's lease: {"id", "vm",
 *                            "source", "destination", "mode", "phase", "started_ms"}; phase
 *                            "prepare", "migrating", then "committed" (the destination's
 *                            commit) or "aborted" (the source's settle); deleted at the end
 *   /ferry/vms/<vm>/owner    {"host", "migration"}: changes only in the commit
 *   /ferry/history/<ms>-<vm> the move's record, written once at its end
 *
 * The commit compares the owner key's mod_revision with the token read at prepare and the
 * migration key's mod_revision with what the destination read just before; the abort compares
 * the same migration key's. Both write the migration key, so after one has succeeded the other
 * can never succeed. A commit whose answer was lost is recognised by reading the owner: this
 * host with this migration's id.
 *
 * Nothing here holds vms_lock or the moves' lock across a call to etcd, a peer or a VM.
 */
#include "agent/move.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/cluster.h"
#include "agent/etcd.h"
#include "agent/events.h"
#include "agent/peer.h"
#include "agent/place.h"
#include "agent/vmconn.h"
#include "agent/vms.h"
#include "common/json.h"
#include "common/log.h"
#include "common/names.h"

#define MOVE_ID_LEN 12
#define MOVE_TXN_TRIES 8
#define MOVE_PROGRESS_MS 200 /* migrate-status asked this often */
#define MOVE_EVENT_MS 500    /* a progress event at most this often */
#define MOVE_SAVE_TIMEOUT_MS (10 * 60 * 1000)

enum move_role { MOVE_SRC, MOVE_DST };

struct move {
	struct move *next;
	struct agent *a;
	enum move_role role;
	char vm[VM_NAME_MAX + 1];
	char id[MOVE_ID_LEN + 1];
	char source[64], dest[64];
	bool quick;
	struct vm_spec spec;
	int64_t owner_rev; /* the owner key's mod_revision at prepare: the VM's token */
	int64_t started_ms;
	char phase[16];
	json_t *status;	    /* the source VM's last migrate-status */
	json_t *candidates; /* to = best: every host's verdict */
	char reason[512];
	bool cancel;	 /* the operator asked (source) / the source asked (destination) */
	bool vm_exited;	 /* the process ended during the move */
	bool committed;	 /* the owner key names the destination (either side knows it) */
	bool committing; /* destination: a commit request is being decided */
	bool drain;	 /* part of this host's drain */
	bool vm_gone;	 /* source: its VM closed its control socket during the move */
	int port;	 /* destination: the incoming VM's port */
	char file[4200]; /* quick: the save beside the disk */
	double total_ms, blackout_ms;
	uint64_t bytes;
	json_t *blackout;
	struct etcd *ec; /* destination: a client held for the move, its connection kept warm by
			  * the checks every second, so the commit finds it open */
};

struct moves {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct move *list;
	int outgoing;
	json_t *drain; /* this host's drain (NULL if none this run) */
	bool draining;
};

static int64_t now_ms(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *jstr(const json_t *j, const char *key)
{
	const json_t *v = json_get(j, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int64_t jint(const json_t *j, const char *key)
{
	const json_t *v = json_get(j, key);
	return json_is_integer(v) ? json_integer_value(v) : 0;
}

static double jreal(const json_t *j, const char *key)
{
	const json_t *v = json_get(j, key);
	return json_is_number(v) ? json_number_value(v) : 0;
}

/* ---- the request ---------------------------------------------------------------------------- */

int move_parse_request(const json_t *body, struct move_req *r, struct aerr *ae)
{
	const char *key, *to = NULL, *from = NULL;
	json_t *v;
	struct err e;

	memset(r, 0, sizeof(*r));
	if (!json_is_object(body))
		return aerr_set(ae, 400, "the body must be a JSON object");
	json_object_foreach((json_t *)body, key, v)
	{
		if (strcmp(key, "to") != 0 && strcmp(key, "from") != 0 && strcmp(key, "quick") != 0)
			return aerr_set(ae, 400, "unknown member '%.64s' (known: to, from, quick)",
					key);
	}
	if (json_get_str(body, "to", &to, &e) < 0 || json_get_str(body, "from", &from, &e) < 0 ||
	    json_get_bool(body, "quick", &r->quick, &e) < 0)
		return aerr_set(ae, 400, "%s", e.msg);
	if (!to)
		return aerr_set(ae, 400, "'to' is required: a host, or \"best\"");
	if (strcasecmp(to, "best") == 0)
		snprintf(r->to, sizeof(r->to), "best");
	else if (name_normalize(to, r->to, "host", &e) < 0)
		return aerr_set(ae, 400, "to: %s", e.msg);
	if (from && name_normalize(from, r->from, "host", &e) < 0)
		return aerr_set(ae, 400, "from: %s", e.msg);
	return 0;
}

/* ---- the list ------------------------------------------------------------------------------- */

int move_init(struct agent *a)
{
	struct moves *ms = calloc(1, sizeof(*ms));
	if (!ms)
		return -1;
	pthread_mutex_init(&ms->lock, NULL);
	pthread_cond_init(&ms->cond, NULL);
	a->moves = ms;
	return 0;
}

void move_free(struct agent *a)
{
	struct moves *ms = a->moves;
	if (!ms)
		return;
	/* Moves still under way keep their memory: their threads end with the process. */
	json_free(ms->drain);
	a->moves = NULL;
}

static struct move *find_locked(struct moves *ms, const char *vm, int role)
{
	for (struct move *m = ms->list; m; m = m->next)
		if (strcmp(m->vm, vm) == 0 && (role < 0 || (int)m->role == role))
			return m;
	return NULL;
}

static void unlink_move(struct moves *ms, struct move *m)
{
	pthread_mutex_lock(&ms->lock);
	for (struct move **p = &ms->list; *p; p = &(*p)->next)
		if (*p == m) {
			*p = m->next;
			break;
		}
	pthread_cond_broadcast(&ms->cond);
	pthread_mutex_unlock(&ms->lock);
}

static void free_move(struct move *m)
{
	json_free(m->status);
	json_free(m->candidates);
	json_free(m->blackout);
	free(m);
}

static void set_phase(struct move *m, const char *phase)
{
	pthread_mutex_lock(&m->a->moves->lock);
	snprintf(m->phase, sizeof(m->phase), "%s", phase);
	pthread_mutex_unlock(&m->a->moves->lock);
}

/* M, the API's view of a move (docs/api.md); under the moves' lock. */
static json_t *move_json_locked(const struct move *m)
{
	json_t *j = json_object();
	json_set_str(j, "id", m->id);
	json_set_str(j, "vm", m->vm);
	json_set_str(j, "source", m->source);
	json_set_str(j, "destination", m->dest);
	json_set_str(j, "mode", m->quick ? "quick" : "live");
	json_set_str(j, "phase", m->phase);
	json_set_bool(j, "queued", strcmp(m->phase, "queued") == 0);
	json_set_int(j, "started_ms", m->started_ms);
	if (m->candidates)
		json_set(j, "candidates", json_deep_copy(m->candidates));
	const json_t *s = m->status;
	if (s) {
		json_set_int(j, "round", jint(s, "round"));
		json_set_int(j, "bytes_sent", jint(s, "bytes_sent"));
		json_set_int(j, "bytes_remaining", jint(s, "remaining_bytes"));
		json_set_int(j, "bandwidth", jint(s, "bandwidth"));
		json_set_int(j, "dirty_rate", jint(s, "dirty_rate"));
		double dt = jreal(s, "expected_downtime_ms");
		if (dt >= 0 && dt < 1e9) /* not yet known: the engine says "infinite" */
			json_set_decimal(j, "expected_downtime_ms", dt, 1);
	}
	bool over = strcmp(m->phase, "completed") == 0 || strcmp(m->phase, "failed") == 0 ||
		    strcmp(m->phase, "cancelled") == 0;
	if (over) {
		json_set_decimal(j, "total_ms", m->total_ms, 1);
		json_set_decimal(j, "blackout_ms", m->blackout_ms, 3);
		json_set_u64(j, "bytes", m->bytes);
		if (m->blackout)
			json_set(j, "blackout", json_deep_copy(m->blackout));
		if (m->reason[0])
			json_set_str(j, "reason", m->reason);
		static const char *const hashes[] = { "ram_hash_source", "ram_hash_destination",
						      "dev_hash_source", "dev_hash_destination" };
		for (size_t i = 0; s && i < sizeof(hashes) / sizeof(hashes[0]); i++)
			if (jstr(s, hashes[i]))
				json_set_str(j, hashes[i], jstr(s, hashes[i]));
	}
	return j;
}

static json_t *move_json(struct move *m)
{
	pthread_mutex_lock(&m->a->moves->lock);
	json_t *j = move_json_locked(m);
	pthread_mutex_unlock(&m->a->moves->lock);
	return j;
}

static void publish(struct move *m, const char *type)
{
	events_publish(m->a->events, type, move_json(m));
}

json_t *move_local_status(struct agent *a, const char *vm)
{
	struct moves *ms = a->moves;
	pthread_mutex_lock(&ms->lock);
	struct move *m = find_locked(ms, vm, MOVE_SRC);
	json_t *j = m ? move_json_locked(m) : NULL;
	pthread_mutex_unlock(&ms->lock);
	return j;
}

/* ---- etcd ----------------------------------------------------------------------------------- */

/* key's value as JSON: 1 found (*j, *mod), 0 absent, -1 etcd away. */
static int get_json(struct etcd *c, const char *key, json_t **j, int64_t *mod, struct err *e)
{
	struct etcd_kv kv = { 0 };
	bool found = false;
	*j = NULL;
	if (mod)
		*mod = 0;
	if (etcd_get(c, key, &kv, &found, NULL, e) < 0)
		return -1;
	if (!found)
		return 0;
	*j = json_parse(kv.value, kv.value_len, e);
	if (mod)
		*mod = kv.mod_revision;
	etcd_kv_free(&kv);
	if (!*j)
		return err_prefix(e, "%s", key);
	return 1;
}

static void mig_key(char out[256], const char *vm)
{
	snprintf(out, 256, "/ferry/migrations/%.63s", vm);
}

static void owner_key(char out[256], const char *vm)
{
	snprintf(out, 256, "/ferry/vms/%.63s/owner", vm);
}

/* The move's own etcd client if it holds one, else one lent from the pool. */
static struct etcd *mv_etcd(struct move *m, struct err *e)
{
	return m->ec ? m->ec : agent_etcd(m->a, e);
}

static void mv_etcd_put(struct move *m, struct etcd *c)
{
	if (c != m->ec)
		agent_etcd_put(m->a, c);
}

static char *mig_value(const struct move *m, const char *phase)
{
	json_t *j = json_object();
	json_set_str(j, "id", m->id);
	json_set_str(j, "vm", m->vm);
	json_set_str(j, "source", m->source);
	json_set_str(j, "destination", m->dest);
	json_set_str(j, "mode", m->quick ? "quick" : "live");
	json_set_str(j, "phase", phase);
	json_set_int(j, "started_ms", m->started_ms);
	char *t = json_encode(j, NULL);
	json_free(j);
	return t;
}

/* The migration key of this move moved to phase, if it still holds this move and is not yet
 * decided (committed or aborted). 1 done, 0 it was decided already (phase in *was), -1 etcd. */
static int mig_advance(struct etcd *c, const struct move *m, const char *phase, char was[16],
		       struct err *e)
{
	char key[256];
	mig_key(key, m->vm);
	for (int i = 0; i < MOVE_TXN_TRIES; i++) {
		json_t *j;
		int64_t mod;
		int g = get_json(c, key, &j, &mod, e);
		if (g < 0)
			return -1;
		const char *id = jstr(j, "id"), *ph = jstr(j, "phase");
		if (g == 0 || !id || strcmp(id, m->id) != 0) {
			snprintf(was, 16, "gone");
			json_free(j);
			return 0;
		}
		if (ph && (strcmp(ph, "committed") == 0 || strcmp(ph, "aborted") == 0)) {
			snprintf(was, 16, "%s", ph);
			json_free(j);
			return 0;
		}
		json_free(j);
		char *v = mig_value(m, phase);
		struct etcd_cmp cmp = { .key = key, .target = ETCD_CMP_MOD, .revision = mod };
		struct etcd_op op = {
			.kind = ETCD_OP_PUT, .key = key, .value = v, .keep_lease = true
		};
		struct etcd_txn_result res = { 0 };
		int r =
		    v ? etcd_txn(c, &cmp, 1, &op, 1, NULL, 0, &res, e) : err_set(e, "no memory");
		bool ok = res.succeeded;
		etcd_txn_result_free(&res);
		free(v);
		if (r < 0)
			return -1;
		if (ok)
			return 1;
	}
	return err_set(e, "%s kept changing", key);
}

/* ---- the owner transactions ----------------------------------------------------------------- */

struct own_reply {
	const char *status; /* "ok", "refused", "busy", "failed" */
	int64_t token;
	char owner[64];
	char msg[256];
};

/* The destination's commit: from the source's token `expect` to this host. Loops until etcd
 * answers for certain (nobody decides on a timeout); gives up only when the VM is gone. */
static void dst_commit(struct move *m, uint64_t expect, struct own_reply *o)
{
	struct agent *a = m->a;
	char okey[256], mkey[256];
	owner_key(okey, m->vm);
	mig_key(mkey, m->vm);
	memset(o, 0, sizeof(*o));
	if ((int64_t)expect != m->owner_rev) {
		o->status = "refused";
		o->token = m->owner_rev;
		snprintf(o->msg, sizeof(o->msg),
			 "the source holds token %" PRIu64 ", the owner record was at %" PRId64
			 " at prepare",
			 expect, m->owner_rev);
		return;
	}
	/* The blackout's one etcd write, in one round trip: the owner key still at the token read
	 * at prepare, and the migration key still holding this move, undecided ("migrating", the
	 * exact value its source wrote). If anything differs, the loop below reads and decides. */
	{
		struct err e;
		struct etcd *c = mv_etcd(m, &e);
		json_t *no = json_object();
		json_set_str(no, "host", a->conf.name);
		json_set_str(no, "migration", m->id);
		char *otext = json_encode(no, NULL), *want = mig_value(m, "migrating"),
		     *mtext = mig_value(m, "committed");
		json_free(no);
		struct etcd_cmp cmp[2] = {
			{ .key = okey, .target = ETCD_CMP_MOD, .revision = m->owner_rev },
			{ .key = mkey, .target = ETCD_CMP_VALUE, .value = want },
		};
		struct etcd_op ops[2] = {
			{ .kind = ETCD_OP_PUT, .key = okey, .value = otext },
			{ .kind = ETCD_OP_PUT, .key = mkey, .value = mtext, .keep_lease = true },
		};
		struct etcd_txn_result res = { 0 };
		if (c && otext && want && mtext &&
		    etcd_txn(c, cmp, 2, ops, 2, NULL, 0, &res, &e) == 0 && res.succeeded) {
			o->status = "ok";
			o->token = res.revision;
		}
		etcd_txn_result_free(&res);
		mv_etcd_put(m, c);
		free(otext), free(want), free(mtext);
		if (o->status)
			return;
	}
	for (int attempt = 0;; attempt++) {
		struct err e;
		struct etcd *c = mv_etcd(m, &e);
		json_t *oj = NULL, *mj = NULL;
		int64_t orev = 0, mrev = 0;
		int go = c ? get_json(c, okey, &oj, &orev, &e) : -1;
		int gm = go >= 0 ? get_json(c, mkey, &mj, &mrev, &e) : -1;
		if (go >= 0 && gm >= 0) {
			const char *oh = jstr(oj, "host"), *omig = jstr(oj, "migration");
			const char *mid = jstr(mj, "id"), *ph = jstr(mj, "phase");
			if (oh && strcmp(oh, a->conf.name) == 0 && omig &&
			    strcmp(omig, m->id) == 0) {
				/* committed already: the answer to an earlier try was lost */
				o->status = "ok";
				o->token = orev;
			} else if (gm == 0 || !mid || strcmp(mid, m->id) != 0 ||
				   (ph && strcmp(ph, "aborted") == 0)) {
				o->status = "refused";
				o->token = orev;
				snprintf(o->owner, sizeof(o->owner), "%s", oh ? oh : "");
				snprintf(o->msg, sizeof(o->msg), "the move was %s",
					 gm == 0 || !mid || strcmp(mid, m->id) != 0
					     ? "ended by its source"
					     : "aborted by its source");
			} else if (go == 0 || orev != m->owner_rev) {
				o->status = "refused";
				o->token = orev;
				snprintf(o->owner, sizeof(o->owner), "%s", oh ? oh : "");
				snprintf(o->msg, sizeof(o->msg),
					 "the owner record moved on (revision %" PRId64
					 ", not %" PRId64 ")",
					 orev, m->owner_rev);
			} else {
				json_t *no = json_object();
				json_set_str(no, "host", a->conf.name);
				json_set_str(no, "migration", m->id);
				char *otext = json_encode(no, NULL);
				json_free(no);
				char *mtext = mig_value(m, "committed");
				struct etcd_cmp cmp[2] = {
					{ .key = okey, .target = ETCD_CMP_MOD, .revision = orev },
					{ .key = mkey, .target = ETCD_CMP_MOD, .revision = mrev },
				};
				struct etcd_op ops[2] = {
					{ .kind = ETCD_OP_PUT, .key = okey, .value = otext },
					{ .kind = ETCD_OP_PUT,
					  .key = mkey,
					  .value = mtext,
					  .keep_lease = true },
				};
				struct etcd_txn_result res = { 0 };
				int r = otext && mtext
					    ? etcd_txn(c, cmp, 2, ops, 2, NULL, 0, &res, &e)
					    : err_set(&e, "out of memory");
				if (r == 0 && res.succeeded) {
					o->status = "ok";
					o->token = res.revision;
				}
				etcd_txn_result_free(&res);
				free(otext), free(mtext);
				/* not succeeded: something changed; read again. r < 0: the outcome is
				 * not known; reading again tells. */
			}
		}
		json_free(oj), json_free(mj);
		mv_etcd_put(m, c);
		if (o->status)
			return;
		pthread_mutex_lock(&a->moves->lock);
		bool gone = m->vm_exited;
		pthread_mutex_unlock(&a->moves->lock);
		if (gone) {
			o->status = "failed";
			snprintf(o->msg, sizeof(o->msg), "the incoming VM ended");
			return;
		}
		if (attempt % 25 == 0)
			log_warn("%s: the commit of migration %s is not decided yet: %s", m->vm,
				 m->id, go < 0 || gm < 0 ? e.msg : "the records changed");
		usleep(200 * 1000);
	}
}

/* A source in doubt (its VM let go of the disks and asked the destination to commit, and the
 * answer did not come): still ours (and the move aborted, so it can never commit), or moved
 * on. BUSY if etcd cannot tell now: the VM asks again. */
static void src_settle(struct agent *a, const char *vm, uint64_t expect, struct own_reply *o)
{
	char okey[256], mkey[256];
	owner_key(okey, vm);
	mig_key(mkey, vm);
	memset(o, 0, sizeof(*o));
	struct err e;
	struct etcd *c = agent_etcd(a, &e);
	for (int i = 0; c && i < MOVE_TXN_TRIES && !o->status; i++) {
		json_t *oj = NULL, *mj = NULL;
		int64_t orev = 0, mrev = 0;
		int go = get_json(c, okey, &oj, &orev, &e);
		int gm = go >= 0 ? get_json(c, mkey, &mj, &mrev, &e) : -1;
		if (go < 0 || gm < 0) {
			json_free(oj), json_free(mj);
			break;
		}
		const char *oh = jstr(oj, "host"), *ph = jstr(mj, "phase");
		if (go == 0 || orev != (int64_t)expect) {
			o->status = "refused";
			o->token = orev;
			snprintf(o->owner, sizeof(o->owner), "%s", oh ? oh : "");
			snprintf(o->msg, sizeof(o->msg), "the VM is %s's now", oh ? oh : "nobody");
		} else if (gm == 1 && !(ph && strcmp(ph, "aborted") == 0)) {
			/* abort it, so that it can never commit */
			json_t *nm = json_deep_copy(mj);
			json_set_str(nm, "phase", "aborted");
			char *mtext = json_encode(nm, NULL);
			json_free(nm);
			struct etcd_cmp cmp[2] = {
				{ .key = mkey, .target = ETCD_CMP_MOD, .revision = mrev },
				{ .key = okey, .target = ETCD_CMP_MOD, .revision = orev },
			};
			struct etcd_op op = {
				.kind = ETCD_OP_PUT, .key = mkey, .value = mtext, .keep_lease = true
			};
			struct etcd_txn_result res = { 0 };
			int r = mtext ? etcd_txn(c, cmp, 2, &op, 1, NULL, 0, &res, &e) : -1;
			if (r == 0 && res.succeeded) {
				o->status = "ok";
				o->token = orev;
			}
			etcd_txn_result_free(&res);
			free(mtext);
			if (r < 0) {
				json_free(oj), json_free(mj);
				break;
			}
		} else {
			o->status =
			    "ok"; /* no move can commit: the migration key is gone or aborted */
			o->token = orev;
		}
		json_free(oj), json_free(mj);
	}
	agent_etcd_put(a, c);
	if (!o->status) {
		o->status = "busy";
		snprintf(o->msg, sizeof(o->msg), "the cluster store cannot tell now");
	}
}

/* Answer the VM's OWNER request on its control socket. */
static void own_answer(struct vmconn *vc, int64_t seq, const struct own_reply *o)
{
	json_t *args = json_object();
	struct err e;
	json_set_int(args, "seq", seq);
	json_set_str(args, "status", o->status);
	if (strcmp(o->status, "ok") == 0 || strcmp(o->status, "refused") == 0)
		json_set_int(args, "token", o->token);
	if (o->owner[0])
		json_set_str(args, "owner", o->owner);
	if (o->msg[0])
		json_set_str(args, "msg", o->msg);
	if (vmconn_send(vc, "owner-answer", args, &e) < 0)
		log_warn("answering the VM's ownership request: %s", e.msg);
	json_free(args);
}

/* ---- history -------------------------------------------------------------------------------- */

static json_t *history_json(struct move *m, const char *result)
{
	json_t *h = json_object();
	json_set_str(h, "id", m->id);
	json_set_str(h, "vm", m->vm);
	json_set_str(h, "source", m->source);
	json_set_str(h, "destination", m->dest);
	json_set_str(h, "mode", m->quick ? "quick" : "live");
	json_set_int(h, "started_ms", m->started_ms);
	json_set_decimal(h, "total_ms", m->total_ms, 1);
	json_set_decimal(h, "blackout_ms", m->blackout_ms, 3);
	json_set_u64(h, "bytes", m->bytes);
	json_set_str(h, "result", result);
	json_set_str(h, "phase", result);
	json_set_str(h, "reason", m->reason);
	if (m->blackout)
		json_set(h, "blackout", json_deep_copy(m->blackout));
	static const char *const hashes[] = { "ram_hash_source", "ram_hash_destination" };
	for (size_t i = 0; m->status && i < 2; i++)
		if (jstr(m->status, hashes[i]))
			json_set_str(h, hashes[i], jstr(m->status, hashes[i]));
	return h;
}

static void history_put(struct agent *a, const json_t *h, int64_t started_ms, const char *vm)
{
	char key[256];
	struct err e;
	snprintf(key, sizeof(key), "/ferry/history/%013" PRId64 "-%s", started_ms, vm);
	char *text = json_encode(h, NULL);
	struct etcd *c = agent_etcd(a, &e);
	/* created only if absent: a record is written once */
	struct etcd_cmp cmp = { .key = key, .target = ETCD_CMP_CREATE, .revision = 0 };
	struct etcd_op op = { .kind = ETCD_OP_PUT, .key = key, .value = text };
	struct etcd_txn_result res = { 0 };
	if (!c || !text || etcd_txn(c, &cmp, 1, &op, 1, NULL, 0, &res, &e) < 0)
		log_warn("%s: the history of its move could not be written: %s", vm,
			 text ? e.msg : "out of memory");
	etcd_txn_result_free(&res);
	agent_etcd_put(a, c);
	free(text);
}

/* Every key under prefix, read linearizably. */
static int load_prefix(struct agent *a, const char *prefix, struct etcd_range *r, struct aerr *ae)
{
	struct err e;
	struct etcd *c = agent_etcd(a, &e);
	memset(r, 0, sizeof(*r));
	int g = c ? etcd_get_prefix(c, prefix, 0, r, &e) : -1;
	agent_etcd_put(a, c);
	if (g < 0)
		return aerr_set(ae, 503, "the cluster store cannot be reached: %s", e.msg);
	return 0;
}

int move_history(struct agent *a, json_t **out, struct aerr *ae)
{
	struct err e;
	struct etcd_range r;
	if (load_prefix(a, "/ferry/history/", &r, ae) < 0)
		return -1;
	json_t *arr = json_array();
	for (size_t i = 0; i < r.n; i++) {
		json_t *h = json_parse(r.kvs[i].value, r.kvs[i].value_len, &e);
		if (h)
			json_push(arr, h);
	}
	etcd_range_free(&r);
	*out = json_object();
	json_set(*out, "history", arr);
	return 0;
}

int move_last(struct agent *a, const char *vm, json_t **out, struct aerr *ae)
{
	json_t *all = NULL, *last = NULL;
	if (move_history(a, &all, ae) < 0)
		return -1;
	json_t *arr = json_get(all, "history");
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *h = json_array_get(arr, i);
		const char *v = jstr(h, "vm");
		if (v && strcmp(v, vm) == 0)
			last = h;
	}
	if (!last) {
		json_free(all);
		return aerr_set(ae, 404, "%s has no move under way and none in the history", vm);
	}
	*out = json_object();
	json_set(*out, "migration", json_deep_copy(last));
	json_free(all);
	return 0;
}

/* ---- any agent ------------------------------------------------------------------------------ */

int move_find(struct agent *a, const char *vm, char source[64], struct aerr *ae)
{
	char key[256];
	struct err e;
	json_t *j = NULL;
	mig_key(key, vm);
	struct etcd *c = agent_etcd(a, &e);
	int g = c ? get_json(c, key, &j, NULL, &e) : -1;
	agent_etcd_put(a, c);
	if (g < 0)
		return aerr_set(ae, 503, "the cluster store cannot be reached: %s", e.msg);
	if (g == 1)
		snprintf(source, 64, "%s", jstr(j, "source") ? jstr(j, "source") : "");
	json_free(j);
	return g;
}

int move_list(struct agent *a, json_t **out, struct aerr *ae)
{
	struct err e;
	struct etcd_range r;
	if (load_prefix(a, "/ferry/migrations/", &r, ae) < 0)
		return -1;
	json_t *arr = json_array();
	for (size_t i = 0; i < r.n; i++) {
		json_t *mj = json_parse(r.kvs[i].value, r.kvs[i].value_len, &e);
		const char *vm = jstr(mj, "vm");
		json_t *local = vm ? move_local_status(a, vm) : NULL;
		if (local) {
			json_free(mj);
			mj = local;
		}
		if (mj)
			json_push(arr, mj);
	}
	etcd_range_free(&r);
	*out = json_object();
	json_set(*out, "migrations", arr);
	return 0;
}

/* ---- choosing the destination --------------------------------------------------------------- */

/* Every registered host (alive or not) with its capacity and alloc. */
static int load_hosts(struct agent *a, struct place_host **out, size_t *n, json_t **hostvals,
		      struct aerr *ae)
{
	struct err e;
	struct etcd_range r;
	*out = NULL;
	*n = 0;
	if (load_prefix(a, "/ferry/hosts/", &r, ae) < 0)
		return -1;
	struct place_host *h = calloc(r.n ? r.n : 1, sizeof(*h));
	*hostvals = json_object();
	if (!h) {
		etcd_range_free(&r);
		return aerr_set(ae, 500, "out of memory");
	}
	size_t k = 0;
	for (size_t i = 0; i < r.n; i++) {
		const char *key = r.kvs[i].key + strlen("/ferry/hosts/");
		const char *slash = strchr(key, '/');
		size_t len = slash ? (size_t)(slash - key) : strlen(key);
		if (len == 0 || len >= sizeof(h[0].name))
			continue;
		size_t at = k;
		for (size_t q = 0; q < k; q++)
			if (strncmp(h[q].name, key, len) == 0 && h[q].name[len] == 0)
				at = q;
		if (at == k) {
			memcpy(h[k].name, key, len);
			h[k].name[len] = 0;
			snprintf(h[k].state, sizeof(h[k].state), "down");
			k++;
		}
		json_t *v = json_parse(r.kvs[i].value, r.kvs[i].value_len, &e);
		if (!slash) {
			const json_t *cap = json_get(v, "capacity");
			h[at].alive = true;
			snprintf(h[at].state, sizeof(h[at].state), "%s",
				 jstr(v, "state") ? jstr(v, "state") : "active");
			h[at].mem_cap = (uint64_t)jint(cap, "memory");
			h[at].vcpus_cap = (unsigned)jint(cap, "vcpus");
			json_set(*hostvals, h[at].name, json_incref(v));
		} else if (strcmp(slash, "/alloc") == 0 && v) {
			cluster_alloc_used(v, &h[at].mem_used, &h[at].vcpus_used);
			h[at].nvms = (unsigned)json_object_size(json_get(v, "vms"));
		}
		json_free(v);
	}
	etcd_range_free(&r);
	*out = h;
	*n = k;
	return 0;
}

/* The destination for r (to a host or "best"): dest, its verdicts in *cands (best only). */
static int choose_dest(struct agent *a, const struct vm_spec *s, const char *to, char dest[64],
		       json_t **cands, json_t **hostval, struct aerr *ae)
{
	struct place_host *h;
	size_t n;
	json_t *hv = NULL;
	*cands = NULL;
	*hostval = NULL;
	if (load_hosts(a, &h, &n, &hv, ae) < 0)
		return -1;
	struct place_verdict *v = calloc(n ? n : 1, sizeof(*v));
	int rc = -1;
	if (!v) {
		aerr_set(ae, 500, "out of memory");
		goto out;
	}
	int best = place_best(h, n, a->conf.name, s->name, s->memory, s->vcpus, v);
	if (strcmp(to, "best") == 0) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++) {
			if (strcmp(h[i].name, a->conf.name) == 0)
				continue;
			json_t *c = json_object();
			json_set_str(c, "host", v[i].host);
			json_set_bool(c, "chosen", v[i].chosen);
			json_set_str(c, "reason", v[i].reason);
			json_push(arr, c);
		}
		if (best < 0) {
			char all[512] = "";
			size_t len = 0;
			for (size_t i = 0; i < n && len < sizeof(all) - 1; i++)
				if (strcmp(h[i].name, a->conf.name) != 0)
					len += (size_t)snprintf(all + len, sizeof(all) - len,
								"%s%s: %s", len ? "; " : "",
								v[i].host, v[i].reason);
			json_free(arr);
			aerr_set(ae, 422, "no host can take %s: %s", s->name,
				 all[0] ? all : "there is no other host");
			goto out;
		}
		*cands = arr;
		snprintf(dest, 64, "%s", h[best].name);
	} else {
		size_t i;
		for (i = 0; i < n && strcmp(h[i].name, to) != 0; i++)
			;
		if (i == n) {
			aerr_set(ae, 404, "no host named '%s'", to);
			goto out;
		}
		if (strcmp(to, a->conf.name) == 0) {
			aerr_set(ae, 409, "%s already runs on %s", s->name, to);
			goto out;
		}
		if (!h[i].alive) {
			aerr_set(ae, 409, "%s is down (its agent holds no lease)", to);
			goto out;
		}
		if (strcmp(h[i].state, "active") != 0) {
			aerr_set(ae, 409, "%s is %s: nothing new is placed there", to, h[i].state);
			goto out;
		}
		if (!v[i].mem_left &&
		    !(h[i].mem_cap >= h[i].mem_used && h[i].mem_cap - h[i].mem_used >= s->memory)) {
			aerr_set(ae, 422, "%s %s", to, v[i].reason); /* "vh02 has ... free, ..." */
			goto out;
		}
		if (h[i].vcpus_used + s->vcpus > h[i].vcpus_cap) {
			aerr_set(
			    ae, 422, "%s has %u vCPU%s free, %s needs %u", to,
			    h[i].vcpus_cap > h[i].vcpus_used ? h[i].vcpus_cap - h[i].vcpus_used : 0,
			    h[i].vcpus_cap - h[i].vcpus_used == 1 ? "" : "s", s->name, s->vcpus);
			goto out;
		}
		snprintf(dest, 64, "%s", to);
	}
	*hostval = json_incref(json_get(hv, dest));
	rc = 0;
out:
	json_free(hv);
	free(h);
	free(v);
	return rc;
}

/* ---- the source ----------------------------------------------------------------------------- */

static void random_id(char out[MOVE_ID_LEN + 1])
{
	unsigned char b[MOVE_ID_LEN / 2];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		uint64_t x = (uint64_t)now_ms(CLOCK_REALTIME) ^ ((uint64_t)getpid() << 32);
		memcpy(b, &x, sizeof(b));
	}
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* A peer's error body into text. */
static void peer_error(const struct peer_reply *r, char *out, size_t size)
{
	struct err e;
	json_t *j = r->body ? json_parse(r->body, r->len, &e) : NULL;
	const char *msg = jstr(json_get(j, "error"), "message");
	snprintf(out, size, "%s (HTTP %ld)", msg ? msg : "no reason given", r->status);
	json_free(j);
}

/* POST body to the destination's internal endpoint; 0 and *ret, or -1 with why. */
static int call_dest(struct move *m, const char *what, json_t *body, long timeout_ms, json_t **ret,
		     char *why, size_t wsize)
{
	struct aerr ae = { 0 };
	char api[128], path[256];
	struct peer_reply r;
	*ret = NULL;
	if (cluster_host_api(m->a, m->dest, api, &ae) < 0) {
		snprintf(why, wsize, "%s", ae.msg);
		return -1;
	}
	snprintf(path, sizeof(path), "/v1/internal/moves/%s/%s", m->vm, what);
	char *text = json_encode(body, NULL);
	int rc = peer_call(m->a, m->dest, api, "POST", path, text, text ? strlen(text) : 0,
			   timeout_ms, &r, &ae);
	free(text);
	if (rc < 0) {
		snprintf(why, wsize, "%s", ae.msg);
		return -1;
	}
	if (r.status != 200) {
		peer_error(&r, why, wsize);
		peer_reply_free(&r);
		return -1;
	}
	struct err e;
	*ret = json_parse(r.body ? r.body : "", r.len, &e);
	peer_reply_free(&r);
	if (!*ret) {
		snprintf(why, wsize, "%s answered no JSON: %.400s", m->dest, e.msg);
		return -1;
	}
	return 0;
}

static json_t *dest_body(const struct move *m)
{
	json_t *b = json_object();
	json_set_str(b, "id", m->id);
	json_set_str(b, "source", m->source);
	json_set_int(b, "token", m->owner_rev);
	json_set_str(b, "mode", m->quick ? "quick" : "live");
	json_set_int(b, "started_ms", m->started_ms);
	return b;
}

static void fail_with(struct move *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_with(struct move *m, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&m->a->moves->lock);
	if (!m->reason[0]) {
		va_start(ap, fmt);
		vsnprintf(m->reason, sizeof(m->reason), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&m->a->moves->lock);
}

/* Tell the destination to let go of its part (best effort: it also sees the migration key go). */
static void abort_dest(struct move *m)
{
	json_t *b = dest_body(m), *ret = NULL;
	char why[512];
	if (call_dest(m, "abort", b, 5000, &ret, why, sizeof(why)) < 0)
		log_warn("%s: telling %s to drop its part of the move: %s", m->vm, m->dest, why);
	json_free(b);
	json_free(ret);
}

struct src_loop {
	struct move *m;
	struct vmconn *vc;
	int64_t last_event_ms;
};

static void src_status(struct src_loop *l, json_t *st)
{
	struct move *m = l->m;
	const char *ph = jstr(st, "phase");
	pthread_mutex_lock(&m->a->moves->lock);
	json_free(m->status);
	m->status = json_incref(st);
	if (ph && strcmp(ph, "none") != 0 && strcmp(ph, "completed") != 0 &&
	    strcmp(ph, "failed") != 0 && strcmp(ph, "cancelled") != 0)
		snprintf(m->phase, sizeof(m->phase), "%s", ph);
	pthread_mutex_unlock(&m->a->moves->lock);
	int64_t t = now_ms(CLOCK_MONOTONIC);
	if (t - l->last_event_ms >= MOVE_EVENT_MS) {
		l->last_event_ms = t;
		publish(m, "migration-progress");
	}
}

static void src_owner_event(struct src_loop *l, const json_t *data)
{
	int64_t seq = jint(data, "seq"), expect = jint(data, "expect");
	const char *op = jstr(data, "op");
	struct own_reply o;
	if (!op)
		return;
	if (strcmp(op, "settle") == 0) {
		src_settle(l->m->a, l->m->vm, (uint64_t)expect, &o);
		log_info("%s: settled the move in doubt: %s%s%s", l->m->vm, o.status,
			 o.msg[0] ? ": " : "", o.msg);
	} else {
		memset(&o, 0, sizeof(o));
		o.status = "failed";
		snprintf(o.msg, sizeof(o.msg), "a source's agent decides no %s", op);
	}
	own_answer(l->vc, seq, &o);
}

/* Take the final status's figures. */
static void src_figures(struct move *m, const json_t *st)
{
	pthread_mutex_lock(&m->a->moves->lock);
	json_free(m->status);
	m->status = json_incref((json_t *)st);
	m->bytes = (uint64_t)jint(st, "bytes_sent");
	const json_t *b = json_get(st, "blackout");
	if (b) {
		json_free(m->blackout);
		m->blackout = json_deep_copy(b);
		m->blackout_ms = jreal(b, "total_ms");
	}
	pthread_mutex_unlock(&m->a->moves->lock);
}

/* The live path: 0 moved, -1 the VM stays here (reason set). */
static int src_live(struct move *m, const json_t *prep)
{
	struct vmconn vc;
	struct err e;
	struct vm_info vi;
	struct agent *a = m->a;
	pthread_mutex_lock(&a->vms_lock);
	int here = vms_get(a->vms, m->vm, &vi);
	pthread_mutex_unlock(&a->vms_lock);
	if (here < 0 || vi.run == VM_EXITED) {
		fail_with(m, "%s no longer runs on %s", m->vm, m->source);
		return -1;
	}
	if (vmconn_open(&vc, vi.control, 3000, &e) < 0) {
		fail_with(m, "%s's control socket: %s", m->vm, e.msg);
		return -1;
	}
	json_t *args = json_object();
	json_set(args, "addresses", json_deep_copy(json_get(prep, "addresses")));
	json_set_str(args, "token", jstr(prep, "token") ? jstr(prep, "token") : "");
	json_set_int(args, "downtime_ms", 20);
	json_set_bool(args, "wait", true);
	int64_t mid = vmconn_send(&vc, "migrate", args, &e);
	json_free(args);
	if (mid < 0) {
		fail_with(m, "%s: %s", m->vm, e.msg);
		vmconn_close(&vc);
		return -1;
	}
	struct src_loop l = { .m = m, .vc = &vc };
	int64_t sid = 0, next_status = now_ms(CLOCK_MONOTONIC) + MOVE_PROGRESS_MS;
	bool cancel_sent = false;
	int rc = -1;
	for (;;) {
		int64_t t = now_ms(CLOCK_MONOTONIC);
		if (!sid && t >= next_status) {
			sid = vmconn_send(&vc, "migrate-status", NULL, &e);
			if (sid < 0)
				sid = 0;
		}
		pthread_mutex_lock(&a->moves->lock);
		bool cancel = m->cancel;
		pthread_mutex_unlock(&a->moves->lock);
		if (cancel && !cancel_sent) {
			cancel_sent = true;
			if (vmconn_send(&vc, "migrate-cancel", NULL, &e) < 0)
				log_warn("%s: cancelling: %s", m->vm, e.msg);
		}
		json_t *msg = NULL;
		int r = vmconn_next(&vc, 50, &msg, &e);
		if (r < 0) {
			/* The VM closed its socket without the final answer: it ended. Did the move
			 * commit? The owner key says. */
			char src[64];
			struct aerr ae;
			(void)src;
			(void)ae;
			json_t *oj = NULL;
			char okey[256];
			owner_key(okey, m->vm);
			struct etcd *c = agent_etcd(a, &e);
			int g = c ? get_json(c, okey, &oj, NULL, &e) : -1;
			agent_etcd_put(a, c);
			const char *oh = jstr(oj, "host"), *om = jstr(oj, "migration");
			if (g == 1 && oh && om && strcmp(oh, m->dest) == 0 &&
			    strcmp(om, m->id) == 0) {
				rc = 0;
			} else {
				fail_with(m, "%s ended during the move (%s)", m->vm, e.msg);
				m->vm_gone = true;
			}
			json_free(oj);
			break;
		}
		if (r == 0)
			continue;
		const char *ev = jstr(msg, "event");
		int64_t id = jint(msg, "id");
		if (ev && strcmp(ev, "OWNER") == 0) {
			src_owner_event(&l, json_get(msg, "data"));
		} else if (ev && strcmp(ev, "MIGRATION") == 0) {
			src_status(&l, json_get(msg, "data"));
		} else if (!ev && id == sid) {
			if (json_get(msg, "return"))
				src_status(&l, json_get(msg, "return"));
			sid = 0;
			next_status = now_ms(CLOCK_MONOTONIC) + MOVE_PROGRESS_MS;
		} else if (!ev && id == mid) {
			const json_t *ret = json_get(msg, "return");
			const char *ph = jstr(ret, "phase");
			if (ret)
				src_figures(m, ret);
			if (!ret) {
				const char *desc = jstr(json_get(msg, "error"), "desc");
				fail_with(m, "%s refused to migrate: %s", m->vm,
					  desc ? desc : "no reason given");
			} else if (ph && strcmp(ph, "completed") == 0) {
				rc = 0;
			} else {
				const char *er = jstr(ret, "error");
				fail_with(m, "%s", er ? er : ph ? ph : "the migration ended");
				if (ph && strcmp(ph, "cancelled") == 0)
					set_phase(m, "cancelled");
			}
			json_free(msg);
			break;
		}
		json_free(msg);
	}
	vmconn_close(&vc);
	return rc;
}

/* The quick path: save with release here, restore there. 0 moved, -1 not (reason set; the VM
 * runs here again if it can). */
static int src_quick(struct move *m)
{
	struct agent *a = m->a;
	struct vmconn vc;
	struct err e;
	struct vm_info vi;
	pthread_mutex_lock(&a->vms_lock);
	int here = vms_get(a->vms, m->vm, &vi);
	pthread_mutex_unlock(&a->vms_lock);
	if (here < 0 || vi.run == VM_EXITED) {
		fail_with(m, "%s no longer runs on %s", m->vm, m->source);
		return -1;
	}
	snprintf(m->file, sizeof(m->file), "%.4000s.%s.save", m->spec.disk, m->id);
	if (vmconn_open(&vc, vi.control, 3000, &e) < 0) {
		fail_with(m, "%s's control socket: %s", m->vm, e.msg);
		return -1;
	}
	set_phase(m, "saving");
	publish(m, "migration-progress");
	json_t *args = json_object(), *ret = NULL;
	json_set_str(args, "file", m->file);
	json_set_bool(args, "release", true);
	int64_t t0 = now_ms(CLOCK_REALTIME);
	int r = vmconn_call(&vc, "save", args, MOVE_SAVE_TIMEOUT_MS, &ret, NULL, NULL, &e);
	json_free(args);
	json_free(ret);
	vmconn_close(&vc);
	if (r < 0) {
		fail_with(m, "saving %s: %s", m->vm, e.msg);
		return -1; /* a failed save hands nothing over: the VM runs on */
	}
	set_phase(m, "restoring");
	publish(m, "migration-progress");
	json_t *b = dest_body(m), *dr = NULL;
	char why[512];
	json_set_str(b, "file", m->file);
	r = call_dest(m, "restore", b, 120000, &dr, why, sizeof(why));
	json_free(b);
	if (r == 0) {
		int64_t running = jint(dr, "running_ms");
		pthread_mutex_lock(&a->moves->lock);
		m->blackout_ms = running > t0 ? (double)(running - t0) : 0;
		pthread_mutex_unlock(&a->moves->lock);
		json_free(dr);
		struct stat st;
		if (stat(m->file, &st) == 0) {
			pthread_mutex_lock(&a->moves->lock);
			m->bytes = (uint64_t)st.st_size; /* what went through the shared storage */
			pthread_mutex_unlock(&a->moves->lock);
		}
		unlink(m->file);
		return 0;
	}
	fail_with(m, "restoring on %s: %s", m->dest, why);
	/* Not restored there. If the owner key is still ours, the save is restored here. */
	char okey[256];
	json_t *oj = NULL;
	int64_t orev = 0;
	owner_key(okey, m->vm);
	struct etcd *c = agent_etcd(a, &e);
	int g = c ? get_json(c, okey, &oj, &orev, &e) : -1;
	agent_etcd_put(a, c);
	const char *oh = jstr(oj, "host");
	int64_t nrev = 0;
	if (g == 1 && orev == m->owner_rev && oh && strcmp(oh, a->conf.name) == 0) {
		/* The owner key moved on by compare-and-swap (still this host): the restore takes
		 * the VM from the save's token to the new one, as on any other host. */
		char *otext = json_encode(oj, NULL);
		struct etcd_cmp cmp = { .key = okey, .target = ETCD_CMP_MOD, .revision = orev };
		struct etcd_op op = { .kind = ETCD_OP_PUT, .key = okey, .value = otext };
		struct etcd_txn_result res = { 0 };
		c = agent_etcd(a, &e);
		if (c && otext && etcd_txn(c, &cmp, 1, &op, 1, NULL, 0, &res, &e) == 0 &&
		    res.succeeded)
			nrev = res.revision;
		etcd_txn_result_free(&res);
		agent_etcd_put(a, c);
		free(otext);
	}
	if (nrev) {
		struct vms_start_opts so = { .owner_agent = true,
					     .owner_token = (uint64_t)nrev,
					     .owner_from = (uint64_t)m->owner_rev,
					     .restore = m->file };
		struct vm_info vi2 = { 0 };
		pthread_mutex_lock(&a->vms_lock);
		vms_forget(a->vms, m->vm, &e);
		int sr = vms_start(a->vms, &m->spec, &so, &e);
		if (sr == 0)
			vms_get(a->vms, m->vm, &vi2);
		pthread_mutex_unlock(&a->vms_lock);
		if (sr == 0) {
			log_info("%s: restored here again after the failed quick move", m->vm);
			cluster_put_state(a, m->vm, "running", vi2.pid,
					  "restored here after a failed quick move", &e);
			unlink(m->file);
			pthread_mutex_lock(&a->moves->lock);
			m->vm_exited = false;
			pthread_mutex_unlock(&a->moves->lock);
		} else {
			log_error("%s: restoring it here again failed: %s; its save is %s", m->vm,
				  e.msg, m->file);
			cluster_put_state(a, m->vm, "stopped", 0, "quick move failed; saved", &e);
		}
	} else if (g == 1 && oh && strcmp(oh, m->dest) == 0) {
		/* committed there but not running: stopped, not lost (its disk and save remain) */
		log_error("%s: %s owns it but did not run it; its save is %s", m->vm, m->dest,
			  m->file);
	}
	json_free(oj);
	return -1;
}

static void *src_thread(void *arg)
{
	struct move *m = arg;
	struct agent *a = m->a;
	struct moves *ms = a->moves;
	int64_t t0 = now_ms(CLOCK_MONOTONIC);
	bool slot = false, moved = false, dest_prepared = false;
	struct err e;
	char was[16];

	pthread_mutex_lock(&ms->lock);
	while (ms->outgoing >= MOVE_MAX_OUT && !m->cancel)
		pthread_cond_wait(&ms->cond, &ms->lock);
	if (!m->cancel) {
		ms->outgoing++;
		slot = true;
		snprintf(m->phase, sizeof(m->phase), "prepare");
	}
	pthread_mutex_unlock(&ms->lock);
	if (!slot) {
		fail_with(m, "cancelled while queued");
		set_phase(m, "cancelled");
		goto end;
	}
	publish(m, "migration-started");

	/* 1. prepare: the destination admits the VM and (live) waits for it */
	json_t *b = dest_body(m), *prep = NULL;
	char why[512];
	int r = call_dest(m, "prepare", b, 60000, &prep, why, sizeof(why));
	json_free(b);
	if (r < 0) {
		fail_with(m, "%s did not take %s: %s", m->dest, m->vm, why);
		goto end;
	}
	dest_prepared = true;
	struct etcd *c = agent_etcd(a, &e);
	r = c ? mig_advance(c, m, "migrating", was, &e) : -1;
	agent_etcd_put(a, c);
	if (r <= 0) {
		fail_with(m, "the migration key: %s", r < 0 ? e.msg : was);
		json_free(prep);
		goto end;
	}
	/* 2-5 */
	moved = (m->quick ? src_quick(m) : src_live(m, prep)) == 0;
	json_free(prep);
end:
	/* A VM that closed its socket has ended: wait for the main loop to have seen its exit,
	 * so that what it means is recorded below and not as a plain exit. */
	for (int i = 0; m->vm_gone && i < 60; i++) {
		pthread_mutex_lock(&ms->lock);
		bool seen = m->vm_exited;
		pthread_mutex_unlock(&ms->lock);
		if (seen)
			break;
		usleep(50 * 1000);
	}
	pthread_mutex_lock(&ms->lock);
	m->total_ms = (double)(now_ms(CLOCK_MONOTONIC) - t0);
	m->committed = moved;
	bool exited = m->vm_exited;
	/* The phase the API shows changes last, once the history holds the move and the
	 * migration key is gone: a client that sees the end can move the VM again at once. */
	const char *result = moved					       ? "completed"
			     : m->cancel || strcmp(m->phase, "cancelled") == 0 ? "cancelled"
									       : "failed";
	if (slot)
		ms->outgoing--;
	pthread_cond_broadcast(&ms->cond);
	pthread_mutex_unlock(&ms->lock);

	if (moved) {
		/* Until the main loop has seen the old copy's exit, the move must stay listed:
		 * that exit is the move's, not a VM that stopped. */
		for (int i = 0; i < 100; i++) {
			pthread_mutex_lock(&ms->lock);
			bool gone = m->vm_exited;
			pthread_mutex_unlock(&ms->lock);
			if (gone)
				break;
			usleep(50 * 1000);
		}
		if (cluster_unreserve(a, m->vm, &e) < 0)
			log_warn("%s: releasing its allocation here: %s", m->vm, e.msg);
		log_info("%s moved to %s (%s) in %.0f ms, blackout %.3f ms", m->vm, m->dest,
			 m->quick ? "quick" : "live", m->total_ms, m->blackout_ms);
	} else {
		if (dest_prepared)
			abort_dest(m);
		log_warn("%s did not move to %s: %s", m->vm, m->dest, m->reason);
		if (exited && !m->quick)
			cluster_vm_ended(a, m->vm, "exited", "ended during a move");
	}
	/* The migration key: aborted if it was not committed (so it never can be), then gone. */
	c = agent_etcd(a, &e);
	if (c) {
		char key[256];
		if (!moved && mig_advance(c, m, "aborted", was, &e) < 0)
			log_warn("%s: aborting the migration key: %s", m->vm, e.msg);
		json_t *h = history_json(m, result);
		agent_etcd_put(a, c);
		history_put(a, h, m->started_ms, m->vm);
		json_free(h);
		c = agent_etcd(a, &e);
		mig_key(key, m->vm);
		if (c && etcd_delete(c, key, false, NULL, &e) < 0)
			log_warn("%s: deleting the migration key: %s", m->vm, e.msg);
		agent_etcd_put(a, c);
	}
	set_phase(m, result);
	publish(m, moved			      ? "migration-completed"
		   : strcmp(result, "cancelled") == 0 ? "migration-cancelled"
						      : "migration-failed");
	unlink_move(ms, m);
	free_move(m);
	return NULL;
}

static int spawn(void *(*fn)(void *), struct move *m)
{
	pthread_t th;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	int r = pthread_create(&th, &at, fn, m);
	pthread_attr_destroy(&at);
	return r;
}

int move_request(struct agent *a, const char *vm, const struct move_req *r, json_t **out,
		 struct aerr *ae)
{
	struct moves *ms = a->moves;
	struct vm_info vi;
	struct err e;
	const char *me = a->conf.name;

	if (r->from[0] && strcmp(r->from, me) != 0)
		return aerr_set(ae, 409, "%s runs on %s, not on %s", vm, me, r->from);
	pthread_mutex_lock(&a->vms_lock);
	int here = vms_get(a->vms, vm, &vi);
	pthread_mutex_unlock(&a->vms_lock);
	if (here < 0 || vi.run == VM_EXITED || vi.run == VM_STARTING)
		return aerr_set(ae, 409, "%s is not running on %s", vm, me);
	struct move *m = calloc(1, sizeof(*m));
	if (!m)
		return aerr_set(ae, 500, "out of memory");
	m->a = a;
	m->role = MOVE_SRC;
	m->quick = r->quick;
	snprintf(m->vm, sizeof(m->vm), "%s", vm);
	snprintf(m->source, sizeof(m->source), "%s", me);
	if (cluster_vm_spec(a, vm, &m->spec, ae) < 0)
		goto fail;
	if (!m->spec.disk[0]) {
		aerr_set(
		    ae, 409,
		    "%s has no disk: a VM moves with its disk on the shared storage, where its "
		    "lease is",
		    vm);
		goto fail;
	}
	json_t *hostval = NULL;
	if (choose_dest(a, &m->spec, r->to, m->dest, &m->candidates, &hostval, ae) < 0)
		goto fail;
	const json_t *links = json_get(json_get(hostval, "migration"), me);
	bool has_links = json_array_size(links) > 0;
	json_free(hostval);
	if (!m->quick && !has_links) {
		aerr_set(ae, 409, "%s has no migration link to %s (its hostconf's \"migration\")",
			 m->dest, me);
		goto fail;
	}

	/* The owner key: ours, and its revision is the VM's token. */
	char okey[256], mkey[256];
	json_t *oj = NULL;
	owner_key(okey, vm);
	mig_key(mkey, vm);
	struct etcd *c = agent_etcd(a, &e);
	int g = c ? get_json(c, okey, &oj, &m->owner_rev, &e) : -1;
	const char *oh = jstr(oj, "host");
	if (g < 0) {
		aerr_set(ae, 503, "the cluster store cannot be reached: %s", e.msg);
	} else if (g == 0 || !oh || strcmp(oh, me) != 0) {
		aerr_set(ae, 409, "%s's owner record names %s, not %s", vm, oh ? oh : "nobody", me);
		g = -1;
	}
	json_free(oj);
	if (g < 0) {
		agent_etcd_put(a, c);
		goto fail;
	}
	/* One move per VM: the migration key is created only if absent. */
	random_id(m->id);
	m->started_ms = now_ms(CLOCK_REALTIME);
	snprintf(m->phase, sizeof(m->phase), "queued");
	char *v = mig_value(m, "prepare");
	struct etcd_cmp cmp = { .key = mkey, .target = ETCD_CMP_CREATE, .revision = 0 };
	struct etcd_op op = { .kind = ETCD_OP_PUT, .key = mkey, .value = v, .lease = 0 };
	struct etcd_op get = { .kind = ETCD_OP_GET, .key = mkey };
	struct etcd_txn_result res = { 0 };
	pthread_mutex_lock(&a->reg_lock);
	op.lease = a->lease;
	pthread_mutex_unlock(&a->reg_lock);
	int t = v && op.lease ? etcd_txn(c, &cmp, 1, &op, 1, &get, 1, &res, &e)
			      : err_set(&e, v ? "this host holds no lease" : "out of memory");
	agent_etcd_put(a, c);
	free(v);
	if (t < 0) {
		etcd_txn_result_free(&res);
		aerr_set(ae, 503, "the cluster store cannot be reached: %s", e.msg);
		goto fail;
	}
	if (!res.succeeded) {
		json_t *cur = NULL;
		if (res.nranges && res.ranges[0].n)
			cur = json_parse(res.ranges[0].kvs[0].value, res.ranges[0].kvs[0].value_len,
					 &e);
		aerr_set(ae, 409, "%s is already moving (migration %s from %s to %s, %s)", vm,
			 jstr(cur, "id") ? jstr(cur, "id") : "?",
			 jstr(cur, "source") ? jstr(cur, "source") : "?",
			 jstr(cur, "destination") ? jstr(cur, "destination") : "?",
			 jstr(cur, "phase") ? jstr(cur, "phase") : "?");
		json_free(cur);
		etcd_txn_result_free(&res);
		goto fail;
	}
	etcd_txn_result_free(&res);

	pthread_mutex_lock(&ms->lock);
	m->next = ms->list;
	ms->list = m;
	if (ms->outgoing < MOVE_MAX_OUT)
		snprintf(m->phase, sizeof(m->phase), "prepare");
	*out = json_object();
	json_set(*out, "migration", move_json_locked(m));
	pthread_mutex_unlock(&ms->lock);
	if (spawn(src_thread, m) != 0) {
		unlink_move(ms, m);
		c = agent_etcd(a, &e);
		if (c)
			etcd_delete(c, mkey, false, NULL, &e);
		agent_etcd_put(a, c);
		free_move(m);
		json_free(*out);
		*out = NULL;
		return aerr_set(ae, 500, "cannot start the move's thread");
	}
	log_info("moving %s to %s (%s, migration %s)", vm, m->dest, r->quick ? "quick" : "live",
		 m->id);
	return 0;
fail:
	free_move(m);
	return -1;
}

int move_cancel(struct agent *a, const char *vm, json_t **out, struct aerr *ae)
{
	struct moves *ms = a->moves;
	pthread_mutex_lock(&ms->lock);
	struct move *m = find_locked(ms, vm, MOVE_SRC);
	int rc = 0;
	if (!m)
		rc = aerr_set(ae, 409, "%s has no move under way from %s", vm, a->conf.name);
	else if (strcmp(m->phase, "commit") == 0 || strcmp(m->phase, "restoring") == 0 ||
		 strcmp(m->phase, "completed") == 0)
		rc = aerr_set(ae, 409, "the move of %s is past its point of no return (%s)", vm,
			      m->phase);
	else {
		m->cancel = true;
		pthread_cond_broadcast(&ms->cond);
		*out = json_object();
		json_set(*out, "migration", move_json_locked(m));
	}
	pthread_mutex_unlock(&ms->lock);
	return rc;
}

/* ---- the destination ------------------------------------------------------------------------ */

/* A port for an incoming VM: the first one of the range that no other move here holds and
 * that can be bound on addr now. */
static int pick_port(struct moves *ms, const char *addr)
{
	for (int p = MOVE_PORT_FIRST; p < MOVE_PORT_FIRST + MOVE_PORT_COUNT; p++) {
		bool used = false;
		pthread_mutex_lock(&ms->lock);
		for (struct move *m = ms->list; m; m = m->next)
			used |= m->role == MOVE_DST && m->port == p;
		pthread_mutex_unlock(&ms->lock);
		if (used)
			continue;
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p) };
		if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
			return p; /* not IPv4: ferry-vm will say if the port is taken */
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int one = 1;
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		int b = s >= 0 ? bind(s, (struct sockaddr *)&sa, sizeof(sa)) : -1;
		if (s >= 0)
			close(s);
		if (b == 0)
			return p;
	}
	return -1;
}

static void random_token(char out[33])
{
	unsigned char b[16];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		abort(); /* no randomness: no token may be made */
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* The body the source's agent sent: its migration, checked against the migration key. */
static int dst_check(struct agent *a, const char *peer, const char *vm, const json_t *body,
		     struct move *m, struct aerr *ae)
{
	const char *id = jstr(body, "id"), *src = jstr(body, "source"), *mode = jstr(body, "mode");
	int64_t token = jint(body, "token");
	if (!id || strlen(id) != MOVE_ID_LEN || !src || !mode || token <= 0 ||
	    (strcmp(mode, "live") != 0 && strcmp(mode, "quick") != 0))
		return aerr_set(ae, 400,
				"a move needs id (%d characters), source, mode (live or "
				"quick) and token (> 0)",
				MOVE_ID_LEN);
	if (!peer || strcmp(peer, src) != 0)
		return aerr_set(ae, 403, "only %s's agent may move %s from %s (this client is %s)",
				src, vm, src, peer && *peer ? peer : "not a host");
	char key[256];
	struct err e;
	json_t *j = NULL;
	mig_key(key, vm);
	struct etcd *c = agent_etcd(a, &e);
	int g = c ? get_json(c, key, &j, NULL, &e) : -1;
	agent_etcd_put(a, c);
	if (g < 0)
		return aerr_set(ae, 503, "the cluster store cannot be reached: %s", e.msg);
	const char *kid = jstr(j, "id"), *kd = jstr(j, "destination"), *ks = jstr(j, "source");
	bool ok = g == 1 && kid && strcmp(kid, id) == 0 && kd && strcmp(kd, a->conf.name) == 0 &&
		  ks && strcmp(ks, src) == 0;
	json_free(j);
	if (!ok)
		return aerr_set(ae, 409, "no migration %s of %s from %s to %s is under way", id, vm,
				src, a->conf.name);
	memset(m, 0, sizeof(*m));
	m->a = a;
	m->role = MOVE_DST;
	snprintf(m->vm, sizeof(m->vm), "%s", vm);
	snprintf(m->id, sizeof(m->id), "%s", id);
	snprintf(m->source, sizeof(m->source), "%s", src);
	snprintf(m->dest, sizeof(m->dest), "%s", a->conf.name);
	m->quick = strcmp(mode, "quick") == 0;
	m->owner_rev = token;
	m->started_ms = jint(body, "started_ms");
	snprintf(m->phase, sizeof(m->phase), "incoming");
	return 0;
}

/* Does the migration key still hold this move, undecided or committed? */
static bool dst_still_wanted(struct move *m)
{
	char key[256];
	struct err e;
	json_t *j = NULL;
	mig_key(key, m->vm);
	struct etcd *c = mv_etcd(m, &e);
	int g = c ? get_json(c, key, &j, NULL, &e) : -1;
	mv_etcd_put(m, c);
	if (g < 0)
		return true; /* cannot tell: keep waiting */
	const char *id = jstr(j, "id"), *ph = jstr(j, "phase");
	bool ok = g == 1 && id && strcmp(id, m->id) == 0 && !(ph && strcmp(ph, "aborted") == 0);
	json_free(j);
	return ok;
}

/* Tear the incoming VM down (it never ran here) and release the reservation. */
static void dst_teardown(struct move *m, const char *why)
{
	struct agent *a = m->a;
	struct err e;
	pthread_mutex_lock(&a->vms_lock);
	struct vm_info vi;
	if (vms_get(a->vms, m->vm, &vi) == 0 && vi.run != VM_EXITED && !m->quick) {
		if (vms_stop(a->vms, m->vm, &e) < 0)
			log_warn("%s: stopping the incoming VM: %s", m->vm, e.msg);
	}
	vms_forget(a->vms, m->vm, &e);
	pthread_mutex_unlock(&a->vms_lock);
	if (cluster_unreserve(a, m->vm, &e) < 0)
		log_warn("%s: releasing its reservation: %s", m->vm, e.msg);
	log_info("%s: the incoming move %s is dropped: %s", m->vm, m->id, why);
}

static void *dst_thread(void *arg)
{
	struct move *m = arg;
	struct agent *a = m->a;
	struct vmconn vc = { .fd = -1 };
	struct vm_info vi;
	struct err e;
	int64_t next_check = 0, next_status = 0, sid = 0;
	bool ran = false;
	const char *why = "the move ended";

	if (!m->quick) {
		m->ec = agent_etcd(a, &e); /* NULL: the pool lends one when needed */
		pthread_mutex_lock(&a->vms_lock);
		int here = vms_get(a->vms, m->vm, &vi);
		pthread_mutex_unlock(&a->vms_lock);
		if (here < 0 || vmconn_open(&vc, vi.control, 3000, &e) < 0) {
			why = "its control socket did not answer";
			goto teardown;
		}
	}
	for (;;) {
		int64_t t = now_ms(CLOCK_MONOTONIC);
		pthread_mutex_lock(&a->moves->lock);
		bool committed = m->committed, cancel = m->cancel, exited = m->vm_exited;
		pthread_mutex_unlock(&a->moves->lock);
		if (m->quick) {
			if (committed)
				break; /* the restore made it ours */
			if (cancel) {
				why = "the source gave it up";
				goto teardown;
			}
			if (t >= next_check) {
				next_check = t + 1000;
				if (!dst_still_wanted(m)) {
					why = "the migration key is gone";
					goto teardown;
				}
			}
			usleep(100 * 1000);
			continue;
		}
		if (!committed && (cancel || exited)) {
			why = exited ? "the incoming VM ended" : "the source gave it up";
			goto teardown;
		}
		if (!committed && t >= next_check) {
			next_check = t + 1000;
			if (!dst_still_wanted(m)) {
				why = "the migration key is gone (the source's agent ended it)";
				goto teardown;
			}
		}
		if (committed && !sid && t >= next_status) {
			sid = vmconn_send(&vc, "status", NULL, &e);
			if (sid < 0)
				sid = 0;
		}
		json_t *msg = NULL;
		int r = vmconn_next(&vc, 100, &msg, &e);
		if (r < 0) {
			if (committed)
				break; /* it ran here and ended: the main loop records that */
			why = "the incoming VM ended before it was committed";
			goto teardown;
		}
		if (r == 0)
			continue;
		const char *ev = jstr(msg, "event");
		if (ev && strcmp(ev, "OWNER") == 0) {
			const json_t *d = json_get(msg, "data");
			const char *op = jstr(d, "op");
			struct own_reply o;
			if (op && strcmp(op, "commit") == 0) {
				pthread_mutex_lock(&a->moves->lock);
				m->committing = true;
				pthread_mutex_unlock(&a->moves->lock);
				dst_commit(m, (uint64_t)jint(d, "expect"), &o);
				pthread_mutex_lock(&a->moves->lock);
				m->committing = false;
				if (strcmp(o.status, "ok") == 0)
					m->committed = true;
				pthread_mutex_unlock(&a->moves->lock);
				log_info("%s: commit of migration %s: %s%s%s", m->vm, m->id,
					 o.status, o.msg[0] ? ": " : "", o.msg);
			} else {
				memset(&o, 0, sizeof(o));
				o.status = "failed";
				snprintf(o.msg, sizeof(o.msg),
					 "a destination's agent decides no %s",
					 op ? op : "request");
			}
			own_answer(&vc, jint(d, "seq"), &o);
		} else if (!ev && sid && jint(msg, "id") == sid) {
			const char *st = jstr(json_get(msg, "return"), "status");
			sid = 0;
			next_status = now_ms(CLOCK_MONOTONIC) + 50;
			if (st && strcmp(st, "running") == 0) {
				ran = true;
				json_free(msg);
				break;
			}
		}
		json_free(msg);
	}
	vmconn_close(&vc);
	if (ran) {
		/* committed and running: its state key is this host's now (a VM that ended right
		 * after its commit is recorded by the main loop, as any VM's exit) */
		pthread_mutex_lock(&a->vms_lock);
		int here = vms_get(a->vms, m->vm, &vi);
		pthread_mutex_unlock(&a->vms_lock);
		if (cluster_put_state(a, m->vm, "running", here == 0 ? vi.pid : 0, "moved here",
				      &e) < 0)
			log_warn("%s: writing its state: %s", m->vm, e.msg);
	}
	if (ran || m->committed)
		log_info("%s is this host's now (migration %s from %s)", m->vm, m->id, m->source);
	agent_etcd_put(a, m->ec);
	unlink_move(a->moves, m);
	free_move(m);
	return NULL;
teardown:
	vmconn_close(&vc);
	agent_etcd_put(a, m->ec);
	m->ec = NULL;
	dst_teardown(m, why);
	unlink_move(a->moves, m);
	free_move(m);
	return NULL;
}

int move_prepare(struct agent *a, const char *peer, const char *vm, const json_t *body,
		 json_t **out, struct aerr *ae)
{
	struct moves *ms = a->moves;
	struct move *m = calloc(1, sizeof(*m));
	struct err e;
	if (!m)
		return aerr_set(ae, 500, "out of memory");
	if (dst_check(a, peer, vm, body, m, ae) < 0 || cluster_vm_spec(a, vm, &m->spec, ae) < 0)
		goto fail;
	pthread_mutex_lock(&ms->lock);
	bool busy = find_locked(ms, vm, -1) != NULL;
	pthread_mutex_unlock(&ms->lock);
	if (busy) {
		aerr_set(ae, 409, "%s takes part in another move here", vm);
		goto fail;
	}
	const struct hostconf_peer *p = NULL;
	for (size_t i = 0; i < a->conf.npeers; i++)
		if (strcmp(a->conf.peers[i].name, m->source) == 0)
			p = &a->conf.peers[i];
	if (!m->quick && (!p || !p->naddrs)) {
		aerr_set(ae, 409, "%s has no migration link to %s", a->conf.name, m->source);
		goto fail;
	}
	if (cluster_reserve(a, &m->spec, ae) < 0)
		goto fail;
	*out = json_object();
	if (!m->quick) {
		char incoming[HOSTCONF_MAX_LINKS * 72] = "", token[33];
		size_t len = 0;
		m->port = pick_port(ms, p->addrs[0]);
		if (m->port < 0) {
			cluster_unreserve(a, vm, &e);
			aerr_set(ae, 503, "no free migration port in %d-%d", MOVE_PORT_FIRST,
				 MOVE_PORT_FIRST + MOVE_PORT_COUNT - 1);
			goto fail_out;
		}
		json_t *addrs = json_array();
		for (size_t i = 0; i < p->naddrs; i++) {
			char one[80];
			snprintf(one, sizeof(one), strchr(p->addrs[i], ':') ? "[%s]:%d" : "%s:%d",
				 p->addrs[i], m->port);
			len += (size_t)snprintf(incoming + len, sizeof(incoming) - len, "%s%s",
						len ? "," : "", one);
			json_push(addrs, json_text(one));
		}
		random_token(token);
		struct vms_start_opts so = {
			.owner_agent = true, .owner_token = 0, .incoming = incoming, .token = token
		};
		pthread_mutex_lock(&ms->lock);
		m->next = ms->list;
		ms->list = m; /* listed before it starts, so its exit is recognised */
		pthread_mutex_unlock(&ms->lock);
		pthread_mutex_lock(&a->vms_lock);
		agent_stopping_take(a, vm); /* a stop of an earlier copy is over */
		vms_forget(a->vms, vm, &e); /* an exited copy of the same name, if any */
		int sr = vms_start(a->vms, &m->spec, &so, &e);
		pthread_mutex_unlock(&a->vms_lock);
		if (sr < 0) {
			unlink_move(ms, m);
			cluster_unreserve(a, vm, &(struct err){ { 0 } });
			json_free(addrs);
			explicit_bzero(token, sizeof(token));
			aerr_set(ae, 500, "the incoming VM did not start: %s", e.msg);
			goto fail_out;
		}
		json_set(*out, "addresses", addrs);
		json_set_str(*out, "token", token);
		explicit_bzero(token, sizeof(token));
	} else {
		pthread_mutex_lock(&ms->lock);
		m->next = ms->list;
		ms->list = m;
		pthread_mutex_unlock(&ms->lock);
	}
	if (spawn(dst_thread, m) != 0) {
		m->cancel = true; /* cannot happen in practice; the VM is torn down below */
		dst_teardown(m, "no thread");
		unlink_move(ms, m);
		aerr_set(ae, 500, "cannot start the move's thread");
		goto fail_out;
	}
	log_info("%s: admitted for migration %s from %s (%s)", vm, m->id, m->source,
		 m->quick ? "quick" : "live");
	return 0;
fail_out:
	json_free(*out);
	*out = NULL;
fail:
	free_move(m);
	return -1;
}

static struct move *dst_find(struct agent *a, const char *peer, const char *vm, const json_t *body,
			     struct aerr *ae)
{
	struct moves *ms = a->moves;
	const char *id = jstr(body, "id"), *src = jstr(body, "source");
	if (!id || !src)
		return aerr_set(ae, 400, "id and source are required"), NULL;
	if (!peer || strcmp(peer, src) != 0)
		return aerr_set(ae, 403, "only %s's agent may do that (this client is %s)", src,
				peer && *peer ? peer : "not a host"),
		       NULL;
	pthread_mutex_lock(&ms->lock);
	struct move *m = find_locked(ms, vm, MOVE_DST);
	if (m && strcmp(m->id, id) != 0)
		m = NULL;
	pthread_mutex_unlock(&ms->lock);
	if (!m)
		aerr_set(ae, 404, "no migration %s of %s comes here", id, vm);
	return m;
}

int move_abort(struct agent *a, const char *peer, const char *vm, const json_t *body, json_t **out,
	       struct aerr *ae)
{
	struct move *m = dst_find(a, peer, vm, body, ae);
	if (!m)
		return -1;
	pthread_mutex_lock(&a->moves->lock);
	int rc = 0;
	if (m->committed || m->committing)
		rc = aerr_set(ae, 409, "migration %s of %s is %s here", m->id, vm,
			      m->committed ? "committed" : "being committed");
	else
		m->cancel = true;
	pthread_mutex_unlock(&a->moves->lock);
	if (rc == 0) {
		*out = json_object();
		json_set_str(*out, "aborted", m->id);
	}
	return rc;
}

int move_restore(struct agent *a, const char *peer, const char *vm, const json_t *body,
		 json_t **out, struct aerr *ae)
{
	struct move *m = dst_find(a, peer, vm, body, ae);
	struct err e;
	if (!m)
		return -1;
	const char *file = jstr(body, "file");
	char want[4200];
	snprintf(want, sizeof(want), "%.4000s.%s.save", m->spec.disk, m->id);
	if (!m->quick)
		return aerr_set(ae, 409, "migration %s of %s is a live one", m->id, vm);
	if (!file || strcmp(file, want) != 0)
		return aerr_set(ae, 400, "the save of migration %s must be %s", m->id, want);
	pthread_mutex_lock(&a->moves->lock);
	bool busy = m->committing || m->committed || m->cancel;
	m->committing = true;
	pthread_mutex_unlock(&a->moves->lock);
	if (busy)
		return aerr_set(ae, 409, "migration %s of %s is restored or dropped already", m->id,
				vm);
	struct own_reply o;
	dst_commit(m, (uint64_t)m->owner_rev, &o);
	if (strcmp(o.status, "ok") != 0) {
		pthread_mutex_lock(&a->moves->lock);
		m->committing = false;
		m->cancel = true;
		pthread_mutex_unlock(&a->moves->lock);
		return aerr_set(ae, 409, "the owner record refused the commit: %s", o.msg);
	}
	/* Ours now: restore from the save made at the source's token. */
	struct vms_start_opts so = { .owner_agent = true,
				     .owner_token = (uint64_t)o.token,
				     .owner_from = (uint64_t)m->owner_rev,
				     .restore = file };
	struct vm_info vi = { 0 };
	pthread_mutex_lock(&a->vms_lock);
	agent_stopping_take(a, vm);
	vms_forget(a->vms, vm, &e);
	int sr = vms_start(a->vms, &m->spec, &so, &e);
	if (sr == 0)
		vms_get(a->vms, vm, &vi);
	pthread_mutex_unlock(&a->vms_lock);
	int64_t running = now_ms(CLOCK_REALTIME);
	pthread_mutex_lock(&a->moves->lock);
	m->committing = false;
	m->committed = true; /* the dst thread ends */
	pthread_mutex_unlock(&a->moves->lock);
	if (sr < 0) {
		char reason[600];
		snprintf(reason, sizeof(reason), "restore after a quick move failed: %.500s",
			 e.msg);
		cluster_unreserve(a, vm, &(struct err){ { 0 } });
		cluster_put_state(a, vm, "stopped", 0, reason, &(struct err){ { 0 } });
		return aerr_set(ae, 500,
				"%s owns %s now but could not restore it: %s (its save "
				"%s and its disk remain)",
				a->conf.name, vm, e.msg, file);
	}
	if (cluster_put_state(a, vm, "running", vi.pid, "moved here (quick)", &e) < 0)
		log_warn("%s: writing its state: %s", vm, e.msg);
	*out = json_object();
	json_set_int(*out, "running_ms", running);
	json_set_int(*out, "token", o.token);
	return 0;
}

/* ---- the loop's side ------------------------------------------------------------------------ */

bool move_vm_exited(struct agent *a, const char *vm, int status)
{
	struct moves *ms = a->moves;
	bool mine = false;
	if (!ms)
		return false;
	pthread_mutex_lock(&ms->lock);
	for (struct move *m = ms->list; m; m = m->next) {
		if (strcmp(m->vm, vm) != 0)
			continue;
		if (m->role == MOVE_SRC || !m->committed) {
			m->vm_exited = true;
			mine = true;
		}
	}
	pthread_mutex_unlock(&ms->lock);
	if (mine)
		log_debug("%s exited (status %d) during a move", vm, status);
	return mine;
}

/* ---- drain ---------------------------------------------------------------------------------- */

static void drain_push(struct agent *a, const char *list, json_t *item)
{
	pthread_mutex_lock(&a->moves->lock);
	json_push(json_get(a->moves->drain, list), item);
	pthread_mutex_unlock(&a->moves->lock);
}

/* Wait until the move of vm (from here) has passed its prepare, or ended; then the next one
 * is placed knowing its reservation. Returns true if it is still under way. */
static bool drain_wait_placed(struct agent *a, const char *vm)
{
	struct moves *ms = a->moves;
	for (;;) {
		pthread_mutex_lock(&ms->lock);
		struct move *m = find_locked(ms, vm, MOVE_SRC);
		bool placed =
		    !m || (strcmp(m->phase, "queued") != 0 && strcmp(m->phase, "prepare") != 0);
		bool under_way = m != NULL;
		bool slot = ms->outgoing < MOVE_MAX_OUT;
		pthread_mutex_unlock(&ms->lock);
		if (placed && (!under_way || slot))
			return under_way;
		usleep(50 * 1000);
	}
}

static void *drain_thread(void *arg)
{
	struct agent *a = arg;
	struct moves *ms = a->moves;
	static struct vm_info infos[AGENT_MAX_VMS];
	char names[AGENT_MAX_VMS][VM_NAME_MAX + 1];
	size_t n = 0;

	pthread_mutex_lock(&a->vms_lock);
	size_t k = vms_list(a->vms, infos, AGENT_MAX_VMS);
	for (size_t i = 0; i < k && i < AGENT_MAX_VMS; i++)
		if (infos[i].run == VM_RUNNING || infos[i].run == VM_PAUSED)
			snprintf(names[n++], sizeof(names[0]), "%.63s", infos[i].spec.name);
	pthread_mutex_unlock(&a->vms_lock);
	pthread_mutex_lock(&ms->lock);
	json_t *pending = json_array();
	for (size_t i = 0; i < n; i++)
		json_push(pending, json_text(names[i]));
	json_set(ms->drain, "pending", pending);
	pthread_mutex_unlock(&ms->lock);

	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&ms->lock);
		bool stop = !ms->draining;
		pthread_mutex_unlock(&ms->lock);
		if (stop)
			break;
		/* wait for a free slot before placing: the placement then sees the reservations
		 * of the moves before it */
		for (;;) {
			pthread_mutex_lock(&ms->lock);
			bool slot = ms->outgoing < MOVE_MAX_OUT;
			pthread_mutex_unlock(&ms->lock);
			if (slot)
				break;
			usleep(50 * 1000);
		}
		struct move_req r = { .to = "best" };
		struct aerr ae = { 0 };
		json_t *out = NULL;
		json_t *item = json_object();
		json_set_str(item, "vm", names[i]);
		pthread_mutex_lock(&ms->lock);
		json_t *p = json_get(ms->drain, "pending");
		for (size_t q = 0; q < json_array_size(p); q++)
			if (strcmp(json_string_value(json_array_get(p, q)), names[i]) == 0) {
				json_array_remove(p, q);
				break;
			}
		pthread_mutex_unlock(&ms->lock);
		if (move_request(a, names[i], &r, &out, &ae) < 0) {
			json_set_str(item, "reason", ae.msg);
			drain_push(a, "stayed", item);
			log_warn("drain: %s stays on %s: %s", names[i], a->conf.name, ae.msg);
			continue;
		}
		const json_t *mj = json_get(out, "migration");
		json_set_str(item, "to", jstr(mj, "destination"));
		json_set_str(item, "id", jstr(mj, "id"));
		json_free(out);
		pthread_mutex_lock(&ms->lock);
		struct move *m = find_locked(ms, names[i], MOVE_SRC);
		if (m)
			m->drain = true;
		pthread_mutex_unlock(&ms->lock);
		drain_push(a, "moving", item);
		drain_wait_placed(a, names[i]);
	}
	/* wait for the drain's moves to end, then sort them into moved and stayed */
	for (;;) {
		pthread_mutex_lock(&ms->lock);
		bool any = false;
		for (struct move *m = ms->list; m; m = m->next)
			any |= m->role == MOVE_SRC && m->drain;
		pthread_mutex_unlock(&ms->lock);
		if (!any)
			break;
		usleep(100 * 1000);
	}
	json_t *hist = NULL;
	struct aerr ae;
	if (move_history(a, &hist, &ae) < 0)
		hist = NULL;
	pthread_mutex_lock(&ms->lock);
	json_t *moving = json_get(ms->drain, "moving");
	for (size_t i = 0; i < json_array_size(moving); i++) {
		const json_t *it = json_array_get(moving, i);
		const char *id = jstr(it, "id");
		const json_t *h = NULL;
		const json_t *arr = json_get(hist, "history");
		for (size_t q = 0; id && q < json_array_size(arr); q++)
			if (jstr(json_array_get(arr, q), "id") &&
			    strcmp(jstr(json_array_get(arr, q), "id"), id) == 0)
				h = json_array_get(arr, q);
		json_t *o = json_object();
		json_set_str(o, "vm", jstr(it, "vm"));
		const char *res = jstr(h, "result");
		if (res && strcmp(res, "completed") == 0) {
			json_set_str(o, "to", jstr(it, "to"));
			json_set_decimal(o, "total_ms", jreal(h, "total_ms"), 1);
			json_set_decimal(o, "blackout_ms", jreal(h, "blackout_ms"), 3);
			json_push(json_get(ms->drain, "moved"), o);
		} else {
			json_set_str(o, "reason",
				     jstr(h, "reason") ? jstr(h, "reason")
						       : "the move's outcome is unknown");
			json_push(json_get(ms->drain, "stayed"), o);
		}
	}
	json_set(ms->drain, "moving", json_array());
	json_set_bool(ms->drain, "done", true);
	pthread_mutex_unlock(&ms->lock);
	json_free(hist);
	events_publish(a->events, "host-drained", move_drain_status(a));
	log_info("drain of %s done", a->conf.name);
	return NULL;
}

int move_drain(struct agent *a, json_t **out, struct aerr *ae)
{
	struct moves *ms = a->moves;
	struct err e;
	pthread_mutex_lock(&ms->lock);
	bool running = ms->drain && !json_is_true(json_get(ms->drain, "done"));
	pthread_mutex_unlock(&ms->lock);
	if (running)
		return aerr_set(ae, 409, "%s is being drained already", a->conf.name);
	if (cluster_set_host_state(a, "draining", &e) < 0)
		return aerr_set(ae, 503, "marking %s draining: %s", a->conf.name, e.msg);
	pthread_mutex_lock(&ms->lock);
	json_free(ms->drain);
	ms->drain = json_object();
	json_set_bool(ms->drain, "done", false);
	json_set(ms->drain, "pending", json_array());
	json_set(ms->drain, "moving", json_array());
	json_set(ms->drain, "moved", json_array());
	json_set(ms->drain, "stayed", json_array());
	ms->draining = true;
	pthread_mutex_unlock(&ms->lock);
	pthread_t th;
	if (pthread_create(&th, NULL, drain_thread, a) != 0)
		return aerr_set(ae, 500, "cannot start the drain's thread");
	pthread_detach(th);
	usleep(20 * 1000); /* its list of VMs, for the answer */
	*out = json_object();
	json_set_str(*out, "host", a->conf.name);
	json_set_str(*out, "state", "draining");
	json_set(*out, "drain", move_drain_status(a));
	return 0;
}

int move_resume_host(struct agent *a, json_t **out, struct aerr *ae)
{
	struct err e;
	pthread_mutex_lock(&a->moves->lock);
	a->moves->draining = false;
	pthread_mutex_unlock(&a->moves->lock);
	if (cluster_set_host_state(a, "active", &e) < 0)
		return aerr_set(ae, 503, "marking %s active: %s", a->conf.name, e.msg);
	return cluster_host_get(a, a->conf.name, out, ae);
}

json_t *move_drain_status(struct agent *a)
{
	pthread_mutex_lock(&a->moves->lock);
	json_t *d = a->moves->drain ? json_deep_copy(a->moves->drain) : NULL;
	pthread_mutex_unlock(&a->moves->lock);
	return d;
}

/* ---- after the agent restarted -------------------------------------------------------------- */

void move_reconcile(struct agent *a)
{
	static struct vm_info infos[AGENT_MAX_VMS];
	struct moves *ms = a->moves;
	struct err e;

	pthread_mutex_lock(&a->vms_lock);
	size_t n = vms_list(a->vms, infos, AGENT_MAX_VMS);
	pthread_mutex_unlock(&a->vms_lock);
	if (n > AGENT_MAX_VMS)
		n = AGENT_MAX_VMS;
	for (size_t i = 0; i < n; i++) {
		const struct vm_info *vi = &infos[i];
		if (vi->run == VM_EXITED || vi->run == VM_STARTING)
			continue;
		pthread_mutex_lock(&ms->lock);
		bool moving = find_locked(ms, vi->spec.name, -1) != NULL;
		pthread_mutex_unlock(&ms->lock);
		if (moving)
			continue;
		char okey[256];
		json_t *oj = NULL;
		owner_key(okey, vi->spec.name);
		struct etcd *c = agent_etcd(a, &e);
		int g = c ? get_json(c, okey, &oj, NULL, &e) : -1;
		agent_etcd_put(a, c);
		const char *oh = jstr(oj, "host");
		if (g == 1 && oh && strcmp(oh, a->conf.name) != 0) {
			/* The owner is elsewhere: this copy must never run (an incoming VM whose
			 * move ended while its agent was away, or a source that lost its move). */
			log_warn("%s is %s's: its copy here (pid %d) is destroyed", vi->spec.name,
				 oh, (int)vi->pid);
			pthread_mutex_lock(&a->vms_lock);
			agent_stopping_mark(a, vi->spec.name);
			if (vms_stop(a->vms, vi->spec.name, &e) == 0)
				vms_forget(a->vms, vi->spec.name, &e);
			agent_stopping_take(a, vi->spec.name); /* reaped here: no exit will come */
			pthread_mutex_unlock(&a->vms_lock);
			if (cluster_unreserve(a, vi->spec.name, &e) < 0)
				log_warn("%s: releasing its reservation: %s", vi->spec.name, e.msg);
			json_free(oj);
			continue;
		}
		json_free(oj);
		if (g != 1)
			continue;
		/* A request of the ownership record nobody answered (its agent was away). */
		struct vmconn vc;
		json_t *p = NULL;
		if (vmconn_open(&vc, vi->control, 1000, &e) < 0)
			continue;
		if (vmconn_call(&vc, "owner-pending", NULL, 1000, &p, NULL, NULL, &e) == 0 &&
		    jstr(p, "op")) {
			struct own_reply o;
			if (strcmp(jstr(p, "op"), "settle") == 0) {
				src_settle(a, vi->spec.name, (uint64_t)jint(p, "expect"), &o);
			} else {
				memset(&o, 0, sizeof(o));
				o.status = "failed";
				snprintf(
				    o.msg, sizeof(o.msg),
				    "the move this commit belongs to is not known here any more");
			}
			log_info("%s: answered its pending %s: %s", vi->spec.name, jstr(p, "op"),
				 o.status);
			own_answer(&vc, jint(p, "seq"), &o);
		}
		json_free(p);
		vmconn_close(&vc);
	}
}
