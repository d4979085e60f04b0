/* etcd.h - the cluster store's client: etcd 3.4 through its JSON gateway (/v3/...), libcurl.
 *
 * Nothing etcd does is written again here: this module only speaks the gateway's JSON.
 * One kept-alive HTTP/1.1 connection (a curl easy handle) per member, mutual TLS with the
 * cluster's CA; a request that fails on one member (connection refused, timeout, 503 "no
 * leader", "request timed out, possibly due to previous leader failure") is retried on the
 * next member, up to one full turn, within the caller's deadline. The quirks of the gateway
 * (../shared/etcd-gateway.md: zero values left out, int64 as strings, padded base64, errors
 * inside an HTTP 200 stream, a keepalive on a dead lease answered 200 without TTL) are
 * handled here and nowhere else.
 *
 * Transport and parsing are separate: etcd_parse_* take a response body and are what the
 * unit tests feed with exchanges recorded from a real etcd 3.4 (tests/fixtures/etcd/).
 *
 * A `struct etcd` is not thread-safe: each thread uses its own (or takes one from a pool).
 * Every call is bounded in time by cfg.timeout_ms (per member attempt) and returns -1 with e
 * set on failure; e names the member and the cause.
 */
#ifndef FERRY_ETCD_H
#define FERRY_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define ETCD_MAX_MEMBERS 7

struct etcd_cfg {
	const char *endpoints[ETCD_MAX_MEMBERS]; /* "https://10.0.0.1:2379" (http:// too) */
	size_t nendpoints;
	const char *ca;	  /* PEM file of the cluster CA (NULL: no TLS verification setup) */
	const char *cert; /* client certificate (PEM), NULL for none */
	const char *key;  /* its key (PEM) */
	long timeout_ms;  /* per attempt on one member; 0 means 2000 */
};

struct etcd;

/* Kinds of failure a caller can act on without parsing the message. */
enum etcd_errkind {
	ETCD_OK = 0,
	ETCD_EUNAVAILABLE, /* no member answered in time (all tried), or no leader */
	ETCD_ENOTFOUND,	   /* lease not found (revoke, timetolive on a revoked lease) */
	ETCD_ECOMPACTED,   /* a watch or range asked for a compacted revision */
	ETCD_EPROTO,	   /* the answer was not what the gateway sends */
	ETCD_EREQUEST,	   /* the server refused the request (400) */
};

int etcd_open(struct etcd **out, const struct etcd_cfg *cfg, struct err *e);
void etcd_close(struct etcd *c);
/* The kind of the last failure on c (ETCD_OK after a success). */
enum etcd_errkind etcd_last_error(const struct etcd *c);
/* The endpoint the last successful request went to (for logs and `cluster status`). */
const char *etcd_current_endpoint(const struct etcd *c);

/* A key-value pair as etcd returns it; key and value are decoded bytes with a NUL added. */
struct etcd_kv {
	char *key;
	char *value;
	size_t value_len;
	int64_t create_revision, mod_revision, version, lease;
};

struct etcd_range {
	struct etcd_kv *kvs;
	size_t n;
	int64_t revision; /* the store's revision when read (header) */
	int64_t count;
	bool more;
};
void etcd_range_free(struct etcd_range *r);
void etcd_kv_free(struct etcd_kv *kv);

/* A linearizable read of one key: *found false (and kv zeroed) if absent. *revision (may be
 * NULL) gets the header's revision. */
int etcd_get(struct etcd *c, const char *key, struct etcd_kv *kv, bool *found, int64_t *revision,
	     struct err *e);
/* Every key under prefix (keys from prefix to the prefix's range end), sorted by key;
 * linearizable. limit 0 = no limit. */
int etcd_get_prefix(struct etcd *c, const char *prefix, size_t limit, struct etcd_range *r,
		    struct err *e);

/* A plain put / delete (kv/put, kv/deleterange): for what decides nothing (a host's status
 * under its lease, say); anything that decides goes through etcd_txn. *revision (may be NULL)
 * gets the header's revision; *deleted (may be NULL) the number of keys deleted. */
int etcd_put(struct etcd *c, const char *key, const char *value, int64_t lease, int64_t *revision,
	     struct err *e);
int etcd_delete(struct etcd *c, const char *key, bool prefix, int64_t *deleted, struct err *e);

/* Transactions: compare-and-swap, the only way Ferry writes anything that decides. */
enum etcd_target { ETCD_CMP_CREATE, ETCD_CMP_MOD, ETCD_CMP_VERSION, ETCD_CMP_VALUE };
enum etcd_result { ETCD_CMP_EQUAL, ETCD_CMP_NOT_EQUAL, ETCD_CMP_GREATER, ETCD_CMP_LESS };
struct etcd_cmp {
	const char *key;
	enum etcd_target target;
	enum etcd_result result;
	int64_t revision;  /* CREATE, MOD, VERSION */
	const char *value; /* VALUE */
};
enum etcd_opkind { ETCD_OP_PUT, ETCD_OP_DELETE, ETCD_OP_GET };
struct etcd_op {
	enum etcd_opkind kind;
	const char *key;
	const char *value; /* PUT; NUL-terminated */
	int64_t lease;	   /* PUT: 0 = none (a put without lease detaches the key's lease) */
	bool keep_lease;   /* PUT with lease 0: keep the lease the key has (ignore_lease) */
	bool prefix;	   /* DELETE, GET: the whole prefix */
};
struct etcd_txn_result {
	bool succeeded;
	int64_t revision;	   /* header revision after the txn */
	struct etcd_range *ranges; /* one per ETCD_OP_GET of the branch that ran, in order */
	size_t nranges;
};
void etcd_txn_result_free(struct etcd_txn_result *t);
int etcd_txn(struct etcd *c, const struct etcd_cmp *cmp, size_t ncmp, const struct etcd_op *ok,
	     size_t nok, const struct etcd_op *fail, size_t nfail, struct etcd_txn_result *res,
	     struct err *e);

/* Leases. keepalive: *ttl gets the TTL granted again, or 0 if the lease is gone (the
 * gateway answers 200 without a TTL then: not an error here, the caller decides). */
int etcd_lease_grant(struct etcd *c, int64_t ttl, int64_t *id, int64_t *granted, struct err *e);
int etcd_lease_keepalive(struct etcd *c, int64_t id, int64_t *ttl, struct err *e);
int etcd_lease_revoke(struct etcd *c, int64_t id, struct err *e);
/* The TTL left (lease/timetolive): -1 if the lease is gone, 0 if under a second is left. */
int etcd_lease_ttl(struct etcd *c, int64_t id, int64_t *ttl, struct err *e);

/* The cluster: members and, per member, its status (who is leader). */
struct etcd_member {
	uint64_t id; /* can exceed INT64_MAX */
	char name[64];
	char client_url[128]; /* first client URL */
	char peer_url[128];   /* first peer URL */
	bool reachable;	      /* its status answered */
	bool is_leader;
	uint64_t leader; /* the leader it sees (status), 0 unknown */
	int64_t raft_term, db_size;
};
int etcd_members(struct etcd *c, struct etcd_member *out, size_t max, size_t *n, struct err *e);
/* Status of each member (by its client URL, over this client's TLS settings), filling
 * reachable/is_leader/leader/raft_term/db_size. */
void etcd_member_status(struct etcd *c, struct etcd_member *m, size_t n);
/* Remove a member / add one (for a member that lost its data). */
int etcd_member_remove(struct etcd *c, uint64_t id, struct err *e);
int etcd_member_add(struct etcd *c, const char *peer_url, uint64_t *id, struct err *e);

/* Watches: a stream of events on a key or a prefix from a revision (0 = now). The gateway
 * reads the whole request before answering, so a watch is one HTTP request on its own
 * connection; etcd_watch_poll runs it without blocking from a caller's loop. */
enum etcd_evtype { ETCD_EV_PUT, ETCD_EV_DELETE };
struct etcd_event {
	enum etcd_evtype type;
	struct etcd_kv kv;	/* on DELETE: key and mod_revision only */
	struct etcd_kv prev_kv; /* if asked and present */
	bool has_prev;
};
/* Called for each event; return 0 to go on, -1 to stop the watch. */
typedef int (*etcd_watch_fn)(void *arg, const struct etcd_event *ev);
struct etcd_watch;
int etcd_watch_open(struct etcd_watch **out, const struct etcd_cfg *cfg, const char *key,
		    bool prefix, int64_t start_revision, bool prev_kv, etcd_watch_fn fn, void *arg,
		    struct err *e);
/* Wait up to timeout_ms for events and deliver them. Returns 0 while the watch runs, -1 when
 * it ended (the member went away, compacted: etcd_watch_compacted tells the revision to
 * re-read from; the caller re-opens on another member from *next_revision). */
int etcd_watch_poll(struct etcd_watch *w, int timeout_ms, struct err *e);
/* Start the same watch again on the next member (from etcd_watch_next_revision), trying each
 * member once; after etcd_watch_poll returned -1 for a reason other than compaction. */
int etcd_watch_reopen(struct etcd_watch *w, struct err *e);
/* The revision to go on from: one past the last event delivered (the start revision before). */
int64_t etcd_watch_next_revision(const struct etcd_watch *w);
/* The endpoint the watch runs on (or ran on last). */
const char *etcd_watch_endpoint(const struct etcd_watch *w);
int64_t etcd_watch_compacted(const struct etcd_watch *w); /* 0 if not compacted */
void etcd_watch_close(struct etcd_watch *w);

/* ---- parsing (what the unit tests drive with recorded exchanges) ---- */
int etcd_parse_range(const char *body, size_t len, struct etcd_range *r, struct err *e);
int etcd_parse_txn(const char *body, size_t len, struct etcd_txn_result *t, struct err *e);
int etcd_parse_lease(const char *body, size_t len, int64_t *id, int64_t *ttl, struct err *e);
/* One line of a streamed answer ({"result": ...} or {"error": ...}). For a watch line,
 * events are delivered to fn; *canceled, *compact_revision and *header_revision (each may be NULL)
 * report the rest (a "created" line delivers nothing). Returns 0, 1 if fn asked to stop, -1
 * on an error line (e set; etcd_parse_error gives its kind) or a malformed one. */
int etcd_parse_watch_line(const char *line, size_t len, etcd_watch_fn fn, void *arg,
			  int64_t *compact_revision, bool *canceled, int64_t *header_revision,
			  struct err *e);
/* An {"error": ...} object (top level or inside "result"): the errkind and message. ETCD_OK
 * (e untouched) if body is JSON without an error; ETCD_EPROTO if it is not JSON. */
enum etcd_errkind etcd_parse_error(const char *body, size_t len, struct err *e);
/* cluster/member/list: up to max members into out, *n the number stored. */
int etcd_parse_members(const char *body, size_t len, struct etcd_member *out, size_t max, size_t *n,
		       struct err *e);
/* maintenance/status of one member into m (leader, is_leader against m->id, raft_term,
 * db_size; reachable set). */
int etcd_parse_status(const char *body, size_t len, struct etcd_member *m, struct err *e);
/* A put's or deleterange's answer: the header's revision and "deleted" (0 when left out). */
int etcd_parse_put(const char *body, size_t len, int64_t *revision, int64_t *deleted,
		   struct err *e);

/* The range end that selects every key starting with prefix (len bytes): the prefix with its
 * last byte below 0xff incremented and what follows dropped; "\0" (every key from prefix on)
 * if there is none. Returns malloc'd bytes, *outlen its length. */
char *etcd_range_end(const char *prefix, size_t len, size_t *outlen);

/* base64 as the gateway takes it (standard, padded). Returns malloc'd, NUL-terminated. */
char *etcd_b64_encode(const void *data, size_t len);
/* Decodes; NULL (with e set) on bad input. *len gets the decoded size; a NUL is added. */
char *etcd_b64_decode(const char *text, size_t *len, struct err *e);

#endif
