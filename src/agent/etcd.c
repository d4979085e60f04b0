/* etcd.c - the cluster store's client: etcd 3.4's JSON gateway over libcurl, with failover.
 *
 * Transport. One curl easy handle per member, created on first use and kept: libcurl keeps
 * its connection alive between requests (HTTP/1.1, TCP keepalive), so a request costs a
 * round trip, not a TLS handshake. A request goes first to the member that answered last;
 * if that member cannot be reached, does not answer within cfg.timeout_ms, answers 503 or
 * says it has no leader or timed out (a put through a follower during a leader change hangs
 * about 7 s and then fails so: the per-attempt timeout is what bounds it), the next member is
 * tried, one full turn at most. Other answers (a 404 for a lease that is gone, a 400) are the
 * answer, whichever member gave it. A write that timed out may still be applied later by the
 * member it went to; this is why whatever decides is a compare-and-swap transaction: its
 * retry on another member fails its compare instead of applying twice.
 *
 * Wire format (measured, ../shared/etcd-gateway.md and tests/fixtures/etcd/): keys and values
 * are standard padded base64; every 64-bit integer travels as a JSON string (lease IDs are
 * above 2^53, member IDs above INT64_MAX) and is converted with strtoll/strtoull, never via a
 * double; zero values are left out (a lost transaction has no "succeeded", an empty range no
 * "kvs", a PUT event no "type", a dead lease's keepalive no "TTL"), so a missing field reads
 * as 0/false/empty. Errors come as {"error":"...","code":N} (unary calls) or as
 * {"error":{"grpc_code":N,"message":...}} (streams, also after a 200 status line).
 *
 * Watches run on a curl multi handle of their own (the gateway reads a whole request before
 * it answers, so a watch cannot share a connection), never blocking: etcd_watch_poll waits in
 * curl_multi_poll, splits the chunked body into lines and delivers the events. A watch asks
 * for a leader (gRPC metadata "hasleader" through the gateway's Grpc-Metadata- header), so a
 * member cut off from its quorum ends the stream with "no leader" instead of going silent.
 * No CURLOPT_LOW_SPEED on watches: an idle watch sends nothing.
 *
 * Parsing is apart from transport (etcd_parse_*), for the unit tests' recorded exchanges.
 */
#include "agent/etcd.h"

#include <curl/curl.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"
#include "common/log.h"

#define ETCD_DEFAULT_TIMEOUT_MS 2000
#define ETCD_MAX_BODY (64u << 20) /* an answer larger than this is refused */

/* ---- small helpers ------------------------------------------------------------------------ */

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

struct etcd_buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void ebuf_reset(struct etcd_buf *b)
{
	b->len = 0;
	b->oom = false;
}

static void ebuf_free(struct etcd_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

static bool ebuf_put(struct etcd_buf *b, const void *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > ETCD_MAX_BODY) {
			b->oom = true;
			return false;
		}
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return false;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return true;
}

static size_t ebuf_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct etcd_buf *b = arg;
	return ebuf_put(b, data, size * nmemb) ? size * nmemb : 0;
}

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* An int64 field: absent = 0; a JSON string of decimal digits (what the gateway sends) or an
 * integer. Never through a double. */
static int get_i64(const json_t *obj, const char *key, int64_t *out, struct err *e)
{
	const json_t *v = json_get(obj, key);

	*out = 0;
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 1;
	}
	if (!json_is_string(v))
		return err_set(e, "'%s' is not an integer string", key);
	const char *s = json_string_value(v);
	char *end;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return err_set(e, "'%s' is not an int64: \"%.40s\"", key, s);
	*out = x;
	return 1;
}

static int get_u64(const json_t *obj, const char *key, uint64_t *out, struct err *e)
{
	const json_t *v = json_get(obj, key);

	*out = 0;
	if (!v)
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (uint64_t)json_integer_value(v);
		return 1;
	}
	if (!json_is_string(v))
		return err_set(e, "'%s' is not an unsigned integer string", key);
	const char *s = json_string_value(v);
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-')
		return err_set(e, "'%s' is not a uint64: \"%.40s\"", key, s);
	*out = x;
	return 1;
}

static bool get_flag(const json_t *obj, const char *key)
{
	return json_is_true(json_get(obj, key));
}

static int get_header_rev(const json_t *obj, int64_t *rev, struct err *e)
{
	return get_i64(json_get(obj, "header"), "revision", rev, e) < 0 ? -1 : 0;
}

static json_t *i64_string(int64_t v)
{
	char s[24];
	snprintf(s, sizeof s, "%" PRId64, v);
	return json_string(s);
}

static json_t *u64_string(uint64_t v)
{
	char s[24];
	snprintf(s, sizeof s, "%" PRIu64, v);
	return json_string(s);
}

/* ---- base64 --------------------------------------------------------------------------------- */

/* GnuTLS's gnutls_base64_encode2/decode2 give plain standard padded base64 (no PEM header, no
 * line breaks: checked, and test_etcd.c asserts it on long input), which is what the gateway
 * takes. The decoder also skips line breaks; the gateway never sends any. */
char *etcd_b64_encode(const void *data, size_t len)
{
	gnutls_datum_t in = { (unsigned char *)(uintptr_t)data, (unsigned int)len }, out = { 0 };

	if (len == 0)
		return strdup("");
	if (len > UINT32_MAX / 2 || gnutls_base64_encode2(&in, &out) < 0)
		return NULL;
	char *s = malloc(out.size + 1);
	if (s) {
		memcpy(s, out.data, out.size);
		s[out.size] = '\0';
	}
	gnutls_free(out.data);
	return s;
}

char *etcd_b64_decode(const char *text, size_t *len, struct err *e)
{
	size_t n = strlen(text);
	gnutls_datum_t in = { (unsigned char *)(uintptr_t)text, (unsigned int)n }, out = { 0 };

	*len = 0;
	if (n == 0)
		return calloc(1, 1);
	if (n > UINT32_MAX / 2) {
		err_set(e, "base64 text too long");
		return NULL;
	}
	int rc = gnutls_base64_decode2(&in, &out);
	if (rc < 0) {
		err_set(e, "bad base64 \"%.40s\": %s", text, gnutls_strerror(rc));
		return NULL;
	}
	char *s = malloc(out.size + 1);
	if (s) {
		memcpy(s, out.data, out.size);
		s[out.size] = '\0';
		*len = out.size;
	} else {
		err_set(e, "out of memory");
	}
	gnutls_free(out.data);
	return s;
}

static json_t *b64_json(const void *data, size_t len)
{
	char *s = etcd_b64_encode(data, len);
	json_t *j = s ? json_string(s) : NULL;
	free(s);
	return j;
}

char *etcd_range_end(const char *prefix, size_t len, size_t *outlen)
{
	char *end = malloc(len + 1);

	if (!end)
		return NULL;
	memcpy(end, prefix, len);
	for (size_t i = len; i > 0; i--) {
		if ((unsigned char)end[i - 1] < 0xff) {
			end[i - 1] = (char)((unsigned char)end[i - 1] + 1);
			*outlen = i;
			return end;
		}
	}
	end[0] = '\0'; /* all 0xff, or empty: every key from prefix on */
	*outlen = 1;
	return end;
}

/* Sets "key" (and "range_end" for a prefix) of a request object. */
static void set_key(json_t *req, const char *key, bool prefix)
{
	size_t n = strlen(key);

	json_set(req, "key", b64_json(key, n));
	if (prefix) {
		size_t elen;
		char *end = etcd_range_end(key, n, &elen);
		if (end)
			json_set(req, "range_end", b64_json(end, elen));
		free(end);
		if (n == 0) /* everything: key "\0" too */
			json_set(req, "key", b64_json("", 1));
	}
}

/* ---- parsing ---------------------------------------------------------------------------- */

void etcd_kv_free(struct etcd_kv *kv)
{
	if (!kv)
		return;
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof *kv);
}

void etcd_range_free(struct etcd_range *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		etcd_kv_free(&r->kvs[i]);
	free(r->kvs);
	memset(r, 0, sizeof *r);
}

void etcd_txn_result_free(struct etcd_txn_result *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nranges; i++)
		etcd_range_free(&t->ranges[i]);
	free(t->ranges);
	memset(t, 0, sizeof *t);
}

static int kv_from_json(const json_t *o, struct etcd_kv *kv, struct err *e)
{
	const char *s = NULL;
	size_t n;

	memset(kv, 0, sizeof *kv);
	if (!json_is_object(o))
		return err_set(e, "a kv is not an object");
	if (json_get_str(o, "key", &s, e) != 1)
		return err_set(e, "a kv without a key");
	if (!(kv->key = etcd_b64_decode(s, &n, e)))
		return err_prefix(e, "key");
	s = "";
	if (json_get_str(o, "value", &s, e) < 0 ||
	    !(kv->value = etcd_b64_decode(s, &kv->value_len, e)))
		goto fail;
	if (get_i64(o, "create_revision", &kv->create_revision, e) < 0 ||
	    get_i64(o, "mod_revision", &kv->mod_revision, e) < 0 ||
	    get_i64(o, "version", &kv->version, e) < 0 || get_i64(o, "lease", &kv->lease, e) < 0)
		goto fail;
	return 0;
fail:
	etcd_kv_free(kv);
	return -1;
}

static int range_from_json(const json_t *o, struct etcd_range *r, struct err *e)
{
	const json_t *kvs = json_get(o, "kvs");

	memset(r, 0, sizeof *r);
	if (get_header_rev(o, &r->revision, e) < 0 || get_i64(o, "count", &r->count, e) < 0)
		return -1;
	r->more = get_flag(o, "more");
	if (!kvs)
		return 0;
	if (!json_is_array(kvs))
		return err_set(e, "'kvs' is not an array");
	size_t n = json_array_size(kvs);
	if (n && !(r->kvs = calloc(n, sizeof *r->kvs)))
		return err_set(e, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (kv_from_json(json_array_get(kvs, i), &r->kvs[i], e) < 0) {
			etcd_range_free(r);
			return -1;
		}
		r->n++;
	}
	return 0;
}

/* Kind and message of an error object: {"error":"text","code":N} or
 * {"error":{"grpc_code":N,"message":"text"}}. */
static enum etcd_errkind error_from_json(const json_t *root, struct err *e)
{
	const json_t *er = json_get(root, "error");
	const json_t *res = json_get(root, "result");
	int64_t code = -1;
	const char *msg = NULL;

	if (!er && res)
		er = json_get(res, "error");
	if (!er)
		return ETCD_OK;
	if (json_is_object(er)) {
		get_i64(er, "grpc_code", &code, NULL);
		json_get_str(er, "message", &msg, NULL);
	} else {
		get_i64(root, "code", &code, NULL);
		msg = json_string_value(er);
	}
	if (!msg)
		msg = "(no message)";
	err_set(e, "%s (code %" PRId64 ")", msg, code);
	switch (code) {
	case 5:
		return ETCD_ENOTFOUND;
	case 11:
		return strstr(msg, "compacted") ? ETCD_ECOMPACTED : ETCD_EREQUEST;
	case 14: /* unavailable: no leader, leader changed */
	case 4:	 /* deadline exceeded */
		return ETCD_EUNAVAILABLE;
	case 2: /* unknown: the gateway's own timeout ("context deadline exceeded") */
		return strstr(msg, "deadline") || strstr(msg, "timed out") ? ETCD_EUNAVAILABLE
									   : ETCD_EPROTO;
	default:
		if (strstr(msg, "no leader") || strstr(msg, "timed out") ||
		    strstr(msg, "leader changed"))
			return ETCD_EUNAVAILABLE;
		return ETCD_EREQUEST;
	}
}

enum etcd_errkind etcd_parse_error(const char *body, size_t len, struct err *e)
{
	struct err pe;
	json_t *root = json_parse(body, len, &pe);

	if (!root) {
		err_set(e, "answer is not JSON: %s", pe.msg);
		return ETCD_EPROTO;
	}
	enum etcd_errkind k = error_from_json(root, e);
	json_free(root);
	return k;
}

/* Parse a body into root, refusing error answers. */
static json_t *parse_body(const char *body, size_t len, struct err *e)
{
	json_t *root = json_parse(body, len, e);

	if (!root)
		return NULL;
	if (!json_is_object(root)) {
		json_free(root);
		err_set(e, "answer is not an object");
		return NULL;
	}
	if (error_from_json(root, e) != ETCD_OK) {
		json_free(root);
		return NULL;
	}
	return root;
}

int etcd_parse_range(const char *body, size_t len, struct etcd_range *r, struct err *e)
{
	json_t *root = parse_body(body, len, e);

	memset(r, 0, sizeof *r);
	if (!root)
		return -1;
	int rc = range_from_json(root, r, e);
	json_free(root);
	return rc;
}

int etcd_parse_put(const char *body, size_t len, int64_t *revision, int64_t *deleted, struct err *e)
{
	json_t *root = parse_body(body, len, e);
	int64_t rev = 0, del = 0;
	int rc = -1;

	if (!root)
		return -1;
	if (get_header_rev(root, &rev, e) == 0 && get_i64(root, "deleted", &del, e) >= 0)
		rc = 0;
	if (revision)
		*revision = rev;
	if (deleted)
		*deleted = del;
	json_free(root);
	return rc;
}

int etcd_parse_txn(const char *body, size_t len, struct etcd_txn_result *t, struct err *e)
{
	json_t *root = parse_body(body, len, e);

	memset(t, 0, sizeof *t);
	if (!root)
		return -1;
	t->succeeded = get_flag(root, "succeeded");
	if (get_header_rev(root, &t->revision, e) < 0)
		goto fail;
	const json_t *resps = json_get(root, "responses");
	if (resps && !json_is_array(resps)) {
		err_set(e, "'responses' is not an array");
		goto fail;
	}
	size_t n = json_array_size(resps), nr = 0;
	for (size_t i = 0; i < n; i++)
		if (json_get(json_array_get(resps, i), "response_range"))
			nr++;
	if (nr && !(t->ranges = calloc(nr, sizeof *t->ranges))) {
		err_set(e, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *rr = json_get(json_array_get(resps, i), "response_range");
		if (!rr)
			continue;
		if (range_from_json(rr, &t->ranges[t->nranges], e) < 0)
			goto fail;
		t->nranges++;
	}
	json_free(root);
	return 0;
fail:
	json_free(root);
	etcd_txn_result_free(t);
	return -1;
}

int etcd_parse_lease(const char *body, size_t len, int64_t *id, int64_t *ttl, struct err *e)
{
	json_t *root = parse_body(body, len, e);

	*id = *ttl = 0;
	if (!root)
		return -1;
	const json_t *o = json_get(root, "result") ? json_get(root, "result") : root;
	int rc = 0;
	if (get_i64(o, "ID", id, e) < 0 || get_i64(o, "TTL", ttl, e) < 0)
		rc = -1;
	json_free(root);
	return rc;
}

int etcd_parse_members(const char *body, size_t len, struct etcd_member *out, size_t max, size_t *n,
		       struct err *e)
{
	json_t *root = parse_body(body, len, e);

	*n = 0;
	if (!root)
		return -1;
	const json_t *ms = json_get(root, "members");
	for (size_t i = 0; i < json_array_size(ms) && *n < max; i++) {
		const json_t *m = json_array_get(ms, i);
		struct etcd_member *o = &out[*n];
		const char *s;
		memset(o, 0, sizeof *o);
		if (get_u64(m, "ID", &o->id, e) < 0) {
			json_free(root);
			return -1;
		}
		if (json_get_str(m, "name", &s, NULL) == 1) /* empty until it has started */
			snprintf(o->name, sizeof o->name, "%s", s);
		s = json_string_value(json_array_get(json_get(m, "clientURLs"), 0));
		if (s)
			snprintf(o->client_url, sizeof o->client_url, "%s", s);
		s = json_string_value(json_array_get(json_get(m, "peerURLs"), 0));
		if (s)
			snprintf(o->peer_url, sizeof o->peer_url, "%s", s);
		(*n)++;
	}
	json_free(root);
	return 0;
}

int etcd_parse_status(const char *body, size_t len, struct etcd_member *m, struct err *e)
{
	json_t *root = parse_body(body, len, e);

	m->reachable = false;
	if (!root)
		return -1;
	int rc = -1;
	if (get_u64(root, "leader", &m->leader, e) >= 0 &&
	    get_i64(root, "raftTerm", &m->raft_term, e) >= 0 &&
	    get_i64(root, "dbSize", &m->db_size, e) >= 0) {
		uint64_t self = 0;
		get_u64(json_get(root, "header"), "member_id", &self, NULL);
		if (!m->id)
			m->id = self;
		m->is_leader = m->leader != 0 && m->leader == m->id;
		m->reachable = true;
		rc = 0;
	}
	json_free(root);
	return rc;
}

static int event_from_json(const json_t *o, struct etcd_event *ev, struct err *e)
{
	const char *type = NULL;

	memset(ev, 0, sizeof *ev);
	json_get_str(o, "type", &type, NULL);
	if (type && strcmp(type, "DELETE") == 0)
		ev->type = ETCD_EV_DELETE;
	else if (type && strcmp(type, "PUT") != 0)
		return err_set(e, "unknown event type \"%.20s\"", type);
	if (kv_from_json(json_get(o, "kv"), &ev->kv, e) < 0)
		return -1;
	if (json_get(o, "prev_kv")) {
		if (kv_from_json(json_get(o, "prev_kv"), &ev->prev_kv, e) < 0) {
			etcd_kv_free(&ev->kv);
			return -1;
		}
		ev->has_prev = true;
	}
	return 0;
}

int etcd_parse_watch_line(const char *line, size_t len, etcd_watch_fn fn, void *arg,
			  int64_t *compact_revision, bool *canceled, int64_t *header_revision,
			  struct err *e)
{
	json_t *root = parse_body(line, len, e);
	int rc = 0;

	if (!root)
		return -1;
	const json_t *res = json_get(root, "result");
	if (!json_is_object(res)) {
		json_free(root);
		return err_set(e, "a stream line without \"result\"");
	}
	int64_t v;
	if (get_i64(res, "compact_revision", &v, e) < 0)
		goto fail;
	if (compact_revision)
		*compact_revision = v;
	if (canceled)
		*canceled = get_flag(res, "canceled");
	if (get_header_rev(res, &v, e) < 0)
		goto fail;
	if (header_revision)
		*header_revision = v;
	const json_t *evs = json_get(res, "events");
	for (size_t i = 0; i < json_array_size(evs) && rc == 0; i++) {
		struct etcd_event ev;
		if (event_from_json(json_array_get(evs, i), &ev, e) < 0)
			goto fail;
		if (fn && fn(arg, &ev) != 0)
			rc = 1;
		etcd_kv_free(&ev.kv);
		etcd_kv_free(&ev.prev_kv);
	}
	json_free(root);
	return rc;
fail:
	json_free(root);
	return -1;
}

/* ---- transport ---------------------------------------------------------------------------- */

struct etcd_member_conn {
	CURL *h;
	char errbuf[CURL_ERROR_SIZE];
};

struct etcd {
	struct etcd_cfg cfg; /* strings owned */
	struct etcd_member_conn m[ETCD_MAX_MEMBERS];
	struct curl_slist *headers;
	size_t cur;
	enum etcd_errkind last;
	struct etcd_buf body;
	long status;
};

static pthread_once_t etcd_curl_once = PTHREAD_ONCE_INIT;
static void etcd_curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void cfg_free(struct etcd_cfg *c)
{
	for (size_t i = 0; i < c->nendpoints; i++)
		free((char *)c->endpoints[i]);
	free((char *)c->ca);
	free((char *)c->cert);
	free((char *)c->key);
	memset(c, 0, sizeof *c);
}

static int cfg_copy(struct etcd_cfg *d, const struct etcd_cfg *s, struct err *e)
{
	memset(d, 0, sizeof *d);
	if (s->nendpoints == 0 || s->nendpoints > ETCD_MAX_MEMBERS)
		return err_set(e, "etcd: %zu endpoints (1 to %d)", s->nendpoints, ETCD_MAX_MEMBERS);
	for (size_t i = 0; i < s->nendpoints; i++) {
		if (!s->endpoints[i] || (strncmp(s->endpoints[i], "http://", 7) != 0 &&
					 strncmp(s->endpoints[i], "https://", 8) != 0)) {
			cfg_free(d);
			return err_set(e, "etcd: endpoint %zu is not an http:// or https:// URL",
				       i);
		}
		d->endpoints[i] = strdup(s->endpoints[i]);
		d->nendpoints++;
	}
	d->ca = xstrdup(s->ca);
	d->cert = xstrdup(s->cert);
	d->key = xstrdup(s->key);
	d->timeout_ms = s->timeout_ms > 0 ? s->timeout_ms : ETCD_DEFAULT_TIMEOUT_MS;
	return 0;
}

/* Options every handle of this client gets (requests, status probes, watches). */
static void handle_setup(CURL *h, const struct etcd_cfg *cfg, char *errbuf,
			 struct curl_slist *headers)
{
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, cfg->timeout_ms);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (cfg->ca)
		curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca);
	if (cfg->cert)
		curl_easy_setopt(h, CURLOPT_SSLCERT, cfg->cert);
	if (cfg->key)
		curl_easy_setopt(h, CURLOPT_SSLKEY, cfg->key);
}

static struct curl_slist *make_headers(bool watch)
{
	struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/json");
	if (l)
		l = curl_slist_append(l, "Expect:"); /* no 100-continue round trip */
	if (l && watch)
		l = curl_slist_append(l, "Grpc-Metadata-hasleader: true");
	return l;
}

/* "connection refused", "timed out after 2000 ms": the cause of a transport failure. */
static void curl_cause(CURL *h, CURLcode rc, const char *errbuf, long timeout_ms, char *out,
		       size_t n)
{
	long oserr = 0;

	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr);
		if (oserr == ECONNREFUSED)
			snprintf(out, n, "connection refused");
		else if (oserr)
			snprintf(out, n, "cannot connect: %s", strerror((int)oserr));
		else
			snprintf(out, n, "cannot connect");
		break;
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(out, n, "timed out after %ld ms", timeout_ms);
		break;
	case CURLE_GOT_NOTHING:
		snprintf(out, n, "connection closed without an answer");
		break;
	default:
		snprintf(out, n, "%s%s%s", curl_easy_strerror(rc), *errbuf ? ": " : "", errbuf);
	}
}

int etcd_open(struct etcd **out, const struct etcd_cfg *cfg, struct err *e)
{
	struct etcd *c = calloc(1, sizeof *c);

	*out = NULL;
	if (!c)
		return err_set(e, "etcd: out of memory");
	pthread_once(&etcd_curl_once, etcd_curl_init);
	if (cfg_copy(&c->cfg, cfg, e) < 0) {
		free(c);
		return -1;
	}
	if (!(c->headers = make_headers(false))) {
		etcd_close(c);
		return err_set(e, "etcd: out of memory");
	}
	*out = c;
	return 0;
}

void etcd_close(struct etcd *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < ETCD_MAX_MEMBERS; i++)
		if (c->m[i].h)
			curl_easy_cleanup(c->m[i].h);
	curl_slist_free_all(c->headers);
	ebuf_free(&c->body);
	cfg_free(&c->cfg);
	free(c);
}

enum etcd_errkind etcd_last_error(const struct etcd *c)
{
	return c->last;
}

const char *etcd_current_endpoint(const struct etcd *c)
{
	return c->cfg.endpoints[c->cur];
}

/* One attempt on member i. Returns 0 with c->status and c->body set, or -1 with the cause in
 * cause. */
static int attempt(struct etcd *c, size_t i, const char *path, const char *req, size_t reqlen,
		   char *cause, size_t n)
{
	struct etcd_member_conn *m = &c->m[i];
	char url[512];

	if (!m->h) {
		if (!(m->h = curl_easy_init())) {
			snprintf(cause, n, "out of memory");
			return -1;
		}
		handle_setup(m->h, &c->cfg, m->errbuf, c->headers);
		curl_easy_setopt(m->h, CURLOPT_WRITEFUNCTION, ebuf_write_cb);
		curl_easy_setopt(m->h, CURLOPT_TIMEOUT_MS, c->cfg.timeout_ms);
	}
	snprintf(url, sizeof url, "%s%s", c->cfg.endpoints[i], path);
	curl_easy_setopt(m->h, CURLOPT_URL, url);
	curl_easy_setopt(m->h, CURLOPT_POSTFIELDS, req);
	curl_easy_setopt(m->h, CURLOPT_POSTFIELDSIZE, (long)reqlen);
	curl_easy_setopt(m->h, CURLOPT_WRITEDATA, &c->body);
	ebuf_reset(&c->body);
	m->errbuf[0] = '\0';
	CURLcode rc = curl_easy_perform(m->h);
	if (rc == CURLE_WRITE_ERROR && c->body.oom) {
		snprintf(cause, n, "answer larger than %u bytes", ETCD_MAX_BODY);
		return -1;
	}
	if (rc != CURLE_OK) {
		curl_cause(m->h, rc, m->errbuf, c->cfg.timeout_ms, cause, n);
		return -1;
	}
	curl_easy_getinfo(m->h, CURLINFO_RESPONSE_CODE, &c->status);
	if (!c->body.p)
		ebuf_put(&c->body, "", 0);
	return 0;
}

/* POST req (taken) to path, member after member from the one that worked last, one turn at
 * most. Returns 0 with an HTTP 200 answer that is no error in c->body, or -1 with e set and
 * c->last the kind. */
static int call(struct etcd *c, const char *path, json_t *req, struct err *e)
{
	size_t reqlen;
	char *text = json_encode(req, &reqlen);
	size_t n = c->cfg.nendpoints;
	char all[sizeof e->msg] = "";

	json_free(req);
	if (!text) {
		c->last = ETCD_EPROTO;
		return err_set(e, "etcd: out of memory building a request");
	}
	for (size_t k = 0; k < n; k++) {
		size_t i = (c->cur + k) % n;
		const char *ep = c->cfg.endpoints[i];
		char cause[300];
		struct err ae;
		if (attempt(c, i, path, text, reqlen, cause, sizeof cause) == 0) {
			enum etcd_errkind kind = etcd_parse_error(c->body.p, c->body.len, &ae);
			if (kind == ETCD_OK && c->status == 200) {
				free(text);
				c->cur = i;
				c->last = ETCD_OK;
				return 0;
			}
			if (kind == ETCD_OK) {
				kind = ETCD_EPROTO;
				err_set(&ae, "HTTP %ld", c->status);
			}
			if (c->status == 503)
				kind = ETCD_EUNAVAILABLE;
			if (kind != ETCD_EUNAVAILABLE) {
				/* the cluster's answer, whichever member gave it */
				free(text);
				c->cur = i;
				c->last = kind;
				return err_set(e, "etcd %s: %s%s", ep,
					       kind == ETCD_EPROTO ? "bad answer: " : "", ae.msg);
			}
			snprintf(cause, sizeof cause, "%.290s", ae.msg);
		}
		log_debug("etcd %s%s: %s (trying the next member)", ep, path, cause);
		size_t used = strlen(all);
		snprintf(all + used, sizeof all - used, "%setcd %s: %s", used ? "; " : "", ep,
			 cause);
	}
	free(text);
	c->last = ETCD_EUNAVAILABLE;
	return err_set(e, "%s", all);
}

/* After a parser refused an answer call() took: the kind and the member in the message. */
static int bad_answer(struct etcd *c, struct err *e)
{
	c->last = ETCD_EPROTO;
	return err_prefix(e, "etcd %s: bad answer", etcd_current_endpoint(c));
}

/* ---- key-value ------------------------------------------------------------------------------ */

int etcd_get(struct etcd *c, const char *key, struct etcd_kv *kv, bool *found, int64_t *revision,
	     struct err *e)
{
	json_t *req = json_object();
	struct etcd_range r;

	memset(kv, 0, sizeof *kv);
	*found = false;
	set_key(req, key, false);
	if (call(c, "/v3/kv/range", req, e) < 0)
		return -1;
	if (etcd_parse_range(c->body.p, c->body.len, &r, e) < 0)
		return bad_answer(c, e);
	if (revision)
		*revision = r.revision;
	if (r.n > 0) {
		*kv = r.kvs[0];
		memset(&r.kvs[0], 0, sizeof r.kvs[0]);
		*found = true;
	}
	etcd_range_free(&r);
	return 0;
}

int etcd_get_prefix(struct etcd *c, const char *prefix, size_t limit, struct etcd_range *r,
		    struct err *e)
{
	json_t *req = json_object();

	memset(r, 0, sizeof *r);
	set_key(req, prefix, true);
	if (limit)
		json_set(req, "limit", i64_string((int64_t)limit));
	if (call(c, "/v3/kv/range", req, e) < 0)
		return -1;
	if (etcd_parse_range(c->body.p, c->body.len, r, e) < 0)
		return bad_answer(c, e);
	return 0;
}

int etcd_put(struct etcd *c, const char *key, const char *value, int64_t lease, int64_t *revision,
	     struct err *e)
{
	json_t *req = json_object();

	set_key(req, key, false);
	json_set(req, "value", b64_json(value, strlen(value)));
	if (lease)
		json_set(req, "lease", i64_string(lease));
	if (call(c, "/v3/kv/put", req, e) < 0)
		return -1;
	if (etcd_parse_put(c->body.p, c->body.len, revision, NULL, e) < 0)
		return bad_answer(c, e);
	return 0;
}

int etcd_delete(struct etcd *c, const char *key, bool prefix, int64_t *deleted, struct err *e)
{
	json_t *req = json_object();

	set_key(req, key, prefix);
	if (call(c, "/v3/kv/deleterange", req, e) < 0)
		return -1;
	if (etcd_parse_put(c->body.p, c->body.len, NULL, deleted, e) < 0)
		return bad_answer(c, e);
	return 0;
}

static const char *const target_names[] = { "CREATE", "MOD", "VERSION", "VALUE" };
static const char *const target_fields[] = { "create_revision", "mod_revision", "version", NULL };
static const char *const result_names[] = { "EQUAL", "NOT_EQUAL", "GREATER", "LESS" };

static json_t *op_json(const struct etcd_op *op)
{
	json_t *o = json_object(), *w = json_object();

	switch (op->kind) {
	case ETCD_OP_PUT:
		set_key(o, op->key, false);
		json_set(o, "value", b64_json(op->value, strlen(op->value)));
		if (op->lease)
			json_set(o, "lease", i64_string(op->lease));
		else if (op->keep_lease)
			json_set(o, "ignore_lease", json_true());
		json_set(w, "request_put", o);
		break;
	case ETCD_OP_DELETE:
		set_key(o, op->key, op->prefix);
		json_set(w, "request_delete_range", o);
		break;
	case ETCD_OP_GET:
		set_key(o, op->key, op->prefix);
		json_set(w, "request_range", o);
		break;
	default:
		json_free(o);
		json_free(w);
		return NULL;
	}
	return w;
}

int etcd_txn(struct etcd *c, const struct etcd_cmp *cmp, size_t ncmp, const struct etcd_op *ok,
	     size_t nok, const struct etcd_op *fail, size_t nfail, struct etcd_txn_result *res,
	     struct err *e)
{
	json_t *req = json_object(), *cmps = json_array(), *oks = json_array(),
	       *fails = json_array();

	memset(res, 0, sizeof *res);
	/* json_set takes the arrays now, so one json_free(req) drops everything on an error */
	json_set(req, "compare", cmps);
	json_set(req, "success", oks);
	json_set(req, "failure", fails);
	for (size_t i = 0; i < ncmp; i++) {
		const struct etcd_cmp *x = &cmp[i];
		/* etcd takes an unknown enum number as true (etcd-gateway.md): never send one */
		if ((unsigned)x->target > ETCD_CMP_VALUE || (unsigned)x->result > ETCD_CMP_LESS) {
			json_free(req);
			c->last = ETCD_EREQUEST;
			return err_set(e, "etcd: compare %zu has an unknown target or result", i);
		}
		json_t *o = json_object();
		set_key(o, x->key, false);
		json_set_str(o, "target", target_names[x->target]);
		json_set_str(o, "result", result_names[x->result]);
		if (x->target == ETCD_CMP_VALUE)
			json_set(
			    o, "value",
			    b64_json(x->value ? x->value : "", x->value ? strlen(x->value) : 0));
		else
			json_set(o, target_fields[x->target], i64_string(x->revision));
		json_push(cmps, o);
	}
	for (size_t i = 0; i < nok + nfail; i++) {
		const struct etcd_op *op = i < nok ? &ok[i] : &fail[i - nok];
		json_t *o = op_json(op);
		if (!o) {
			json_free(req);
			c->last = ETCD_EREQUEST;
			return err_set(e, "etcd: operation %zu has an unknown kind", i);
		}
		json_push(i < nok ? oks : fails, o);
	}
	if (call(c, "/v3/kv/txn", req, e) < 0)
		return -1;
	if (etcd_parse_txn(c->body.p, c->body.len, res, e) < 0)
		return bad_answer(c, e);
	return 0;
}

/* ---- leases --------------------------------------------------------------------------------- */

/* req (taken) to path; the answer's ID (got_id may be NULL) and TTL. */
static int lease_call(struct etcd *c, const char *path, json_t *req, int64_t *got_id, int64_t *ttl,
		      struct err *e)
{
	int64_t dummy;

	if (call(c, path, req, e) < 0)
		return -1;
	if (etcd_parse_lease(c->body.p, c->body.len, got_id ? got_id : &dummy, ttl, e) < 0)
		return bad_answer(c, e);
	return 0;
}

static json_t *lease_req(const char *field, int64_t v)
{
	json_t *req = json_object();
	json_set(req, field, i64_string(v));
	return req;
}

int etcd_lease_grant(struct etcd *c, int64_t ttl, int64_t *id, int64_t *granted, struct err *e)
{
	/* no ID: etcd chooses one */
	return lease_call(c, "/v3/lease/grant", lease_req("TTL", ttl), id, granted, e);
}

int etcd_lease_keepalive(struct etcd *c, int64_t id, int64_t *ttl, struct err *e)
{
	/* no TTL in the answer: the lease is gone (the gateway answers 200 then) */
	*ttl = 0;
	return lease_call(c, "/v3/lease/keepalive", lease_req("ID", id), NULL, ttl, e);
}

int etcd_lease_ttl(struct etcd *c, int64_t id, int64_t *ttl, struct err *e)
{
	return lease_call(c, "/v3/lease/timetolive", lease_req("ID", id), NULL, ttl, e);
}

int etcd_lease_revoke(struct etcd *c, int64_t id, struct err *e)
{
	return call(c, "/v3/lease/revoke", lease_req("ID", id), e);
}

/* ---- the cluster -------------------------------------------------------------------------- */

int etcd_members(struct etcd *c, struct etcd_member *out, size_t max, size_t *n, struct err *e)
{
	*n = 0;
	if (call(c, "/v3/cluster/member/list", json_object(), e) < 0)
		return -1;
	if (etcd_parse_members(c->body.p, c->body.len, out, max, n, e) < 0)
		return bad_answer(c, e);
	return 0;
}

void etcd_member_status(struct etcd *c, struct etcd_member *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char url[256], errbuf[CURL_ERROR_SIZE] = "";
		struct etcd_buf body = { 0 };
		struct err e;
		CURL *h;

		m[i].reachable = m[i].is_leader = false;
		if (!m[i].client_url[0] || !(h = curl_easy_init()))
			continue;
		handle_setup(h, &c->cfg, errbuf, c->headers);
		snprintf(url, sizeof url, "%s/v3/maintenance/status", m[i].client_url);
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->cfg.timeout_ms);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{}");
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ebuf_write_cb);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
		CURLcode rc = curl_easy_perform(h);
		long status = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (rc == CURLE_OK && status == 200 && body.p) {
			if (etcd_parse_status(body.p, body.len, &m[i], &e) < 0)
				log_debug("etcd %s: status: %s", m[i].client_url, e.msg);
		} else {
			char cause[300];
			curl_cause(h, rc, errbuf, c->cfg.timeout_ms, cause, sizeof cause);
			log_debug("etcd %s: status: %s", m[i].client_url,
				  rc == CURLE_OK ? "not HTTP 200" : cause);
		}
		ebuf_free(&body);
		curl_easy_cleanup(h);
	}
}

int etcd_member_remove(struct etcd *c, uint64_t id, struct err *e)
{
	json_t *req = json_object();

	json_set(req, "ID", u64_string(id));
	return call(c, "/v3/cluster/member/remove", req, e);
}

int etcd_member_add(struct etcd *c, const char *peer_url, uint64_t *id, struct err *e)
{
	json_t *req = json_object(), *urls = json_array();

	json_push(urls, json_string(peer_url));
	json_set(req, "peerURLs", urls);
	if (call(c, "/v3/cluster/member/add", req, e) < 0)
		return -1;
	json_t *root = json_parse(c->body.p, c->body.len, e);
	int rc = root && get_u64(json_get(root, "member"), "ID", id, e) == 1 ? 0 : -1;
	json_free(root);
	if (rc < 0) {
		err_set(e, "no member ID");
		return bad_answer(c, e);
	}
	return 0;
}

/* ---- watches -------------------------------------------------------------------------------- */

struct etcd_watch {
	struct etcd_cfg cfg;
	char *key;
	bool prefix, prev_kv;
	etcd_watch_fn fn;
	void *arg;
	CURLM *multi;
	CURL *h;
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
	char *req;
	struct etcd_buf in;    /* bytes not yet split into lines */
	size_t member;	       /* the member it runs on */
	size_t tried;	       /* members tried since it last ran */
	bool running, created; /* created: a first line came */
	double started_ms;     /* when it started on this member (monotonic) */
	int64_t next_revision, compacted;
};

static void watch_stop(struct etcd_watch *w)
{
	if (w->h) {
		curl_multi_remove_handle(w->multi, w->h);
		curl_easy_cleanup(w->h);
		w->h = NULL;
	}
	w->running = false;
}

static int watch_start(struct etcd_watch *w, size_t member, struct err *e)
{
	json_t *req = json_object(), *cr = json_object();
	char url[512];

	watch_stop(w);
	free(w->req);
	set_key(cr, w->key, w->prefix);
	if (w->next_revision > 0)
		json_set(cr, "start_revision", i64_string(w->next_revision));
	if (w->prev_kv)
		json_set_bool(cr, "prev_kv", true);
	json_set(req, "create_request", cr);
	w->req = json_encode(req, NULL);
	json_free(req);
	if (!w->req || !(w->h = curl_easy_init()))
		return err_set(e, "etcd: out of memory");
	w->member = member;
	handle_setup(w->h, &w->cfg, w->errbuf, w->headers);
	snprintf(url, sizeof url, "%s/v3/watch", w->cfg.endpoints[member]);
	curl_easy_setopt(w->h, CURLOPT_URL, url);
	curl_easy_setopt(w->h, CURLOPT_POSTFIELDS, w->req);
	curl_easy_setopt(w->h, CURLOPT_WRITEFUNCTION, ebuf_write_cb);
	curl_easy_setopt(w->h, CURLOPT_WRITEDATA, &w->in);
	ebuf_reset(&w->in);
	w->errbuf[0] = '\0';
	w->created = false;
	w->started_ms = now_ms();
	if (curl_multi_add_handle(w->multi, w->h) != CURLM_OK)
		return err_set(e, "etcd: cannot start a watch");
	w->running = true;
	return 0;
}

/* The event callback the watch hands to the parser: remembers the next revision, then calls
 * the caller's. */
static int watch_deliver(void *arg, const struct etcd_event *ev)
{
	struct etcd_watch *w = arg;

	if (ev->kv.mod_revision >= w->next_revision)
		w->next_revision = ev->kv.mod_revision + 1;
	return w->fn ? w->fn(w->arg, ev) : 0;
}

/* Split what arrived into lines and handle each. Returns 0; -1 when the watch ended (e set:
 * compacted, canceled, stopped by the caller); -2 on an error line from the member ({"error":
 * ...}, "no leader" say) or a malformed one, with the cause in e. */
static int watch_lines(struct etcd_watch *w, bool at_eof, struct err *e)
{
	size_t start = 0;
	int rc = 0;

	while (rc == 0 && start < w->in.len) {
		char *nl = memchr(w->in.p + start, '\n', w->in.len - start);
		size_t end = nl ? (size_t)(nl - w->in.p) : w->in.len;
		if (!nl && !at_eof)
			break;
		size_t len = end - start;
		const char *line = w->in.p + start;
		start = nl ? end + 1 : end;
		if (len == 0 || (len == 1 && line[0] == '\r'))
			continue;
		int64_t compact = 0, hrev = 0;
		bool canceled = false;
		struct err le;
		int r = etcd_parse_watch_line(line, len, watch_deliver, w, &compact, &canceled,
					      &hrev, &le);
		if (r < 0) {
			err_set(e, "%s", le.msg);
			rc = -2;
			break;
		}
		w->created = true; /* a result line: it runs on this member */
		w->tried = 0;
		if (r == 1) {
			err_set(e, "etcd %s: watch stopped by its caller",
				w->cfg.endpoints[w->member]);
			rc = -1;
		} else if (compact > 0) {
			w->compacted = compact;
			err_set(e,
				"etcd %s: watch: revision %" PRId64 " compacted (from %" PRId64 ")",
				w->cfg.endpoints[w->member], w->next_revision, compact);
			rc = -1;
		} else if (canceled) {
			err_set(e, "etcd %s: watch canceled", w->cfg.endpoints[w->member]);
			rc = -1;
		}
	}
	if (start) {
		memmove(w->in.p, w->in.p + start, w->in.len - start);
		w->in.len -= start;
		w->in.p[w->in.len] = '\0';
	}
	return rc;
}

int etcd_watch_open(struct etcd_watch **out, const struct etcd_cfg *cfg, const char *key,
		    bool prefix, int64_t start_revision, bool prev_kv, etcd_watch_fn fn, void *arg,
		    struct err *e)
{
	struct etcd_watch *w = calloc(1, sizeof *w);

	*out = NULL;
	if (!w)
		return err_set(e, "etcd: out of memory");
	pthread_once(&etcd_curl_once, etcd_curl_init);
	if (cfg_copy(&w->cfg, cfg, e) < 0) {
		free(w);
		return -1;
	}
	w->key = strdup(key);
	w->prefix = prefix;
	w->prev_kv = prev_kv;
	w->fn = fn;
	w->arg = arg;
	w->next_revision = start_revision;
	w->multi = curl_multi_init();
	w->headers = make_headers(true);
	if (!w->key || !w->multi || !w->headers) {
		etcd_watch_close(w);
		return err_set(e, "etcd: out of memory");
	}
	if (watch_start(w, 0, e) < 0) {
		etcd_watch_close(w);
		return -1;
	}
	w->tried = 1;
	*out = w;
	return 0;
}

int etcd_watch_reopen(struct etcd_watch *w, struct err *e)
{
	if (w->compacted)
		return err_set(e, "etcd: watch compacted at %" PRId64 ": read again", w->compacted);
	w->tried = 1;
	return watch_start(w, (w->member + 1) % w->cfg.nendpoints, e);
}

/* The watch failed on its member (cause): if it never got going there, the next member, one
 * turn at most (returns 0); else it ends (-1, e set). */
static int watch_failed(struct etcd_watch *w, const char *cause, struct err *e)
{
	if (!w->created && w->tried < w->cfg.nendpoints) {
		log_debug("etcd %s: watch: %s (trying the next member)",
			  w->cfg.endpoints[w->member], cause);
		w->tried++;
		return watch_start(w, (w->member + 1) % w->cfg.nendpoints, e);
	}
	err_set(e, "etcd %s: watch: %s", w->cfg.endpoints[w->member], cause);
	watch_stop(w);
	return -1;
}

int etcd_watch_poll(struct etcd_watch *w, int timeout_ms, struct err *e)
{
	int still = 0, left;
	CURLMsg *msg;
	bool done = false;
	CURLcode result = CURLE_OK;
	char cause[300];

	if (!w->running)
		return err_set(e, "etcd %s: watch has ended", w->cfg.endpoints[w->member]);
	curl_multi_perform(w->multi, &still);
	if (still) {
		/* not past the deadline for the first line */
		int wait = timeout_ms;
		if (!w->created) {
			double left_ms = w->started_ms + (double)w->cfg.timeout_ms - now_ms();
			if (left_ms < wait)
				wait = left_ms > 0 ? (int)left_ms + 1 : 0;
		}
		curl_multi_poll(w->multi, NULL, 0, wait, NULL);
		curl_multi_perform(w->multi, &still);
	}
	while ((msg = curl_multi_info_read(w->multi, &left)))
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == w->h) {
			done = true;
			result = msg->data.result;
		}
	long status = 0;
	curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &status);
	if (status != 0 && status != 200) {
		if (!done)
			return 0; /* wait for the whole error body */
		struct err pe;
		etcd_parse_error(w->in.p ? w->in.p : "", w->in.len, &pe);
		snprintf(cause, sizeof cause, "HTTP %ld: %.200s", status, pe.msg);
		return watch_failed(w, cause, e);
	}
	int rc = watch_lines(w, done, e);
	if (rc == -2) {
		snprintf(cause, sizeof cause, "%.290s", e->msg);
		return watch_failed(w, cause, e);
	}
	if (rc < 0) {
		watch_stop(w);
		return -1;
	}
	if (done) {
		if (result == CURLE_OK)
			snprintf(cause, sizeof cause, "stream closed");
		else
			curl_cause(w->h, result, w->errbuf, w->cfg.timeout_ms, cause, sizeof cause);
		return watch_failed(w, cause, e);
	}
	if (!w->created && now_ms() - w->started_ms >= (double)w->cfg.timeout_ms) {
		/* connected maybe, but not even "created" in time: a member that hangs */
		snprintf(cause, sizeof cause, "not created within %ld ms", w->cfg.timeout_ms);
		return watch_failed(w, cause, e);
	}
	return 0;
}

int64_t etcd_watch_next_revision(const struct etcd_watch *w)
{
	return w->next_revision;
}

int64_t etcd_watch_compacted(const struct etcd_watch *w)
{
	return w->compacted;
}

const char *etcd_watch_endpoint(const struct etcd_watch *w)
{
	return w->cfg.endpoints[w->member];
}

void etcd_watch_close(struct etcd_watch *w)
{
	if (!w)
		return;
	watch_stop(w);
	if (w->multi)
		curl_multi_cleanup(w->multi);
	curl_slist_free_all(w->headers);
	ebuf_free(&w->in);
	free(w->req);
	free(w->key);
	cfg_free(&w->cfg);
	free(w);
}
