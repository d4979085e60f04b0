/* test_etcd.c - the etcd client's parsers (agent/etcd.h) fed with recorded exchanges.
 *
 * Every answer here was recorded from Debian's etcd 3.4 by tests/fixtures/etcd/record.sh; the
 * expected values are read from the same recordings with jansson (not the parser under test),
 * so a fresh recording (other IDs and revisions) passes as well. Also base64 and the
 * prefix's range end.
 */
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/etcd.h"
#include "common/json.h"

/* The fixtures, found from this file's path (unit tests run from the repository's root). */
static void fixture_path(char *out, size_t n, const char *name, const char *ext)
{
	const char *src = __FILE__; /* ".../tests/unit/test_etcd.c" */
	const char *cut = strstr(src, "unit/test_etcd.c");
	snprintf(out, n, "%.*sfixtures/etcd/%s.%s", (int)(cut - src), src, name, ext);
}

struct rec {
	long status; /* resp only */
	char *body;  /* after the first line, NUL-terminated */
	size_t len;
	char *text;
};

static void rec_load(struct rec *r, const char *name, const char *ext)
{
	char path[512];
	fixture_path(path, sizeof path, name, ext);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	fseek(f, 0, SEEK_SET);
	r->text = malloc((size_t)size + 1);
	assert_non_null(r->text);
	assert_int_equal(fread(r->text, 1, (size_t)size, f), (size_t)size);
	r->text[size] = '\0';
	fclose(f);
	char *nl = strchr(r->text, '\n');
	assert_non_null(nl);
	r->body = nl + 1;
	r->len = strlen(r->body);
	r->status = 0;
	if (strncmp(r->text, "HTTP ", 5) == 0)
		r->status = strtol(r->text + 5, NULL, 10);
	else
		assert_true(strncmp(r->text, "POST /v3/", 9) == 0);
}

static void rec_free(struct rec *r)
{
	free(r->text);
}

/* The recording's own JSON (one value), read with jansson. */
static json_t *expect_json(const char *body, size_t len)
{
	json_error_t je;
	json_t *v = json_loadb(body, len, JSON_DISABLE_EOF_CHECK, &je);
	assert_non_null(v);
	return v;
}

/* A JSON string at a path of keys ("header", "revision") as an int64, by strtoll. */
static int64_t s64(const json_t *v, const char *k1, const char *k2)
{
	const json_t *x = json_object_get(v, k1);
	if (k2)
		x = json_object_get(x, k2);
	assert_true(json_is_string(x));
	return strtoll(json_string_value(x), NULL, 10);
}

static void test_put(void **state)
{
	(void)state;
	struct rec r;
	struct err e;
	int64_t rev = -1, deleted = -1;
	rec_load(&r, "put", "resp");
	assert_int_equal(r.status, 200);
	json_t *x = expect_json(r.body, r.len);
	assert_int_equal(etcd_parse_put(r.body, r.len, &rev, &deleted, &e), 0);
	assert_true(rev == s64(x, "header", "revision"));
	assert_true(rev > 0);
	assert_true(deleted == 0);
	json_decref(x);
	rec_free(&r);

	/* the request: the key as padded base64 */
	rec_load(&r, "put", "req");
	x = expect_json(r.body, r.len);
	size_t n;
	char *key = etcd_b64_decode(json_string_value(json_object_get(x, "key")), &n, &e);
	assert_string_equal(key, "fixture/key");
	free(key);
	json_decref(x);
	rec_free(&r);
}

static void test_range_key(void **state)
{
	(void)state;
	struct rec r;
	struct err e;
	struct etcd_range rg;
	rec_load(&r, "range_key", "resp");
	json_t *x = expect_json(r.body, r.len);
	assert_int_equal(etcd_parse_range(r.body, r.len, &rg, &e), 0);
	assert_int_equal(rg.n, 1);
	assert_true(rg.count == s64(x, "count", NULL));
	assert_false(rg.more);
	assert_true(rg.revision == s64(x, "header", "revision"));
	const json_t *k = json_array_get(json_object_get(x, "kvs"), 0);
	assert_string_equal(rg.kvs[0].key, "fixture/key");
	assert_string_equal(rg.kvs[0].value, "value two"); /* what record.sh put last */
	assert_int_equal(rg.kvs[0].value_len, 9);
	assert_true(rg.kvs[0].create_revision == s64(k, "create_revision", NULL));
	assert_true(rg.kvs[0].mod_revision == s64(k, "mod_revision", NULL));
	assert_true(rg.kvs[0].version == 2);
	assert_true(rg.kvs[0].lease == 0); /* left out */
	etcd_range_free(&rg);
	json_decref(x);
	rec_free(&r);
}

static void test_range_missing(void **state)
{
	(void)state;
	struct rec r;
	struct err e;
	struct etcd_range rg;
	rec_load(&r, "range_missing", "resp");
	json_t *x = expect_json(r.body, r.len);
	assert_null(json_object_get(x, "kvs")); /* the quirk itself */
	assert_null(json_object_get(x, "count"));
	assert_int_equal(etcd_parse_range(r.body, r.len, &rg, &e), 0);
	assert_int_equal(rg.n, 0);
	assert_null(rg.kvs);
	assert_true(rg.count == 0);
	assert_true(rg.revision == s64(x, "header", "revision"));
	etcd_range_free(&rg);
	json_decref(x);
	rec_free(&r);
}

static void test_range_prefix(void **state)
{
	(void)state;
	struct rec r;
	struct err e;
	struct etcd_range rg;
	rec_load(&r, "range_prefix_limit", "resp");
	json_t *x = expect_json(r.body, r.len);
	assert_int_equal(etcd_parse_range(r.body, r.len, &rg, &e), 0);
	assert_int_equal(rg.n, 2);
	assert_true(rg.more);
	assert_true(rg.count == s64(x, "count", NULL));
	assert_true(rg.count == 4);
	assert_string_equal(rg.kvs[0].key, "app/a");
	assert_string_equal(rg.kvs[0].value, "v-a");
	assert_string_equal(rg.kvs[1].key, "app/b");
	etcd_range_free(&rg);
	json_decref(x);
	rec_free(&r);

	rec_load(&r, "range_prefix_all", "resp");
	assert_int_equal(etcd_parse_range(r.body, r.len, &rg, &e), 0);
	assert_int_equal(rg.n, 4);
	assert_false(rg.more);
	assert_string_equal(rg.kvs[3].key, "app/empty");
	assert_string_equal(rg.kvs[3].value, ""); /* an empty value is left out */
	assert_int_equal(rg.kvs[3].value_len, 0);
	x = expect_json(r.body, r.len);
	assert_null(json_object_get(json_array_get(json_object_get(x, "kvs"), 3), "value"));
	json_decref(x);
	etcd_range_free(&rg);
	rec_free(&r);

	/* the request's range end is the rule's */
	rec_load(&r, "range_prefix_limit", "req");
	x = expect_json(r.body, r.len);
	size_t n;
	char *end = etcd_range_end("app/", 4, &n);
	char *b = etcd_b64_encode(end, n);
	assert_string_equal(b, json_string_value(json_object_get(x, "range_end")));
	free(b);
	free(end);
	json_decref(x);
	rec_free(&r);
}

static void test_txn(void **state)
{
	(void)state;
	struct rec r;
	struct err e;
	struct etcd_txn_result t;

	rec_load(&r, "txn_wins", "resp");
	json_t *x = expect_json(r.body, r.len);
	assert_int_equal(etcd_parse_txn(r.body, r.len, &t, &e), 0);
	assert_true(t.succeeded);
	assert_true(t.revision == s64(x, "header", "revision"));
	assert_int_equal(t.nranges, 0);
	etcd_txn_result_free(&t);
	json_decref(x);
	rec_free(&r);

	rec_load(&r, "txn_loses", "resp");
	x = expect_json(r.body, r.len);
	assert_null(json_object_get(x, "succeeded"));
	assert_int_equal(etcd_parse_txn(r.body, r.len, &t, &e), 0);
	assert_false(t.succeeded);
	assert_int_equal(t.nranges, 1);
	assert_int_equal(t.ranges[0].n, 1);
	assert_string_equal(t.ranges[0].kvs[0].key, "fixture/txn");
	assert_string_equal(t.ranges[0].kvs[0].value, "owner-a");
	etcd_txn_result_free(&t);
	json_decref(x);
	rec_free(&r);

	rec_load(&r, "txn_loses_noops", "resp");
	assert_int_equal(etcd_parse_txn(r.body, r.len, &t, &e), 0);
	assert_false(t.succeeded);
	assert_int_equal(t.nranges, 0);
	assert_true(t.revision > 0);
	etcd_txn_result_free(&t);
	rec_free(&r);

	/* a MOD compare at the revision read: wins, the put then the range in the answer */
	rec_load(&r, "txn_mod_wins", "resp");
	assert_int_equal(etcd_parse_txn(r.body, r.len, &t, &e), 0);
	assert_true(t.succeeded);
	assert_int_equal(t.nranges, 1);
	assert_string_equal(t.ranges[0].kvs[0].value, "owner-b");
	assert_true(t.ranges[0].kvs[0].mod_revision == t.revision);
	etcd_txn_result_free(&t);
	rec_free(&r);

	rec_load(&r, "delete_prefix", "resp");
	int64_t rev, del;
	assert_int_equal(etcd_parse_put(r.body, r.len, &rev, &del, &e), 0);
	assert_true(del == 4);
	rec_free(&r);
}

static void test_lease(void **state)
{
	(void)state;
	struct rec r;
	struct err e;
	int64_t id, ttl, granted_id;
	char s[32];

	rec_load(&r, "lease_grant", "resp");
	json_t *x = expect_json(r.body, r.len);
	assert_int_equal(etcd_parse_lease(r.body, r.len, &granted_id, &ttl, &e), 0);
	assert_true(ttl == 30);
	/* the ID exactly as written, even above 2^53 (no double on the way) */
	snprintf(s, sizeof s, "%" PRId64, granted_id);
	assert_string_equal(s, json_string_value(json_object_get(x, "ID")));
	json_decref(x);
	rec_free(&r);

	rec_load(&r, "lease_keepalive", "resp");
	assert_int_equal(r.status, 200);
	assert_int_equal(etcd_parse_lease(r.body, r.len, &id, &ttl, &e), 0);
	assert_true(id == granted_id);
	assert_true(ttl == 30);
	rec_free(&r);

	rec_load(&r, "lease_timetolive", "resp");
	assert_int_equal(etcd_parse_lease(r.body, r.len, &id, &ttl, &e), 0);
	assert_true(id == granted_id);
	assert_true(ttl > 0 && ttl <= 30);
	rec_free(&r);

	rec_load(&r, "lease_revoke", "resp");
	assert_int_equal(r.status, 200);
	assert_int_equal(etcd_parse_error(r.body, r.len, &e), ETCD_OK);
	rec_free(&r);

	rec_load(&r, "lease_revoke_again", "resp");
	assert_int_equal(r.status, 404);
	assert_int_equal(etcd_parse_error(r.body, r.len, &e), ETCD_ENOTFOUND);
	assert_non_null(strstr(e.msg, "lease not found"));
	assert_non_null(strstr(e.msg, "code 5"));
	assert_int_equal(etcd_parse_lease(r.body, r.len, &id, &ttl, &e), -1);
	rec_free(&r);

	/* a keepalive on a lease that is gone: 200, no TTL */
	rec_load(&r, "lease_keepalive_gone", "resp");
	assert_int_equal(r.status, 200);
	assert_int_equal(etcd_parse_lease(r.body, r.len, &id, &ttl, &e), 0);
	assert_true(id == granted_id);
	assert_true(ttl == 0);
	rec_free(&r);

	rec_load(&r, "lease_timetolive_gone", "resp");
	assert_int_equal(etcd_parse_lease(r.body, r.len, &id, &ttl, &e), 0);
	assert_true(ttl == -1);
	rec_free(&r);
}

/* Events seen by the watch tests. */
struct seen {
	int n;
	struct etcd_event ev[8];
	char val[8][16], prev[8][16], key[8][32];
	int stop_after;
};

static int on_event(void *arg, const struct etcd_event *ev)
{
	struct seen *s = arg;
	if (s->n < 8) {
		s->ev[s->n] = *ev;
		snprintf(s->key[s->n], sizeof s->key[0], "%s", ev->kv.key);
		snprintf(s->val[s->n], sizeof s->val[0], "%s", ev->kv.value);
		snprintf(s->prev[s->n], sizeof s->prev[0], "%s",
			 ev->has_prev ? ev->prev_kv.value : "-");
	}
	s->n++;
	return s->stop_after && s->n >= s->stop_after ? -1 : 0;
}

/* Feed every line of a recorded stream; returns the rc of the last line. */
static int feed(const struct rec *r, struct seen *s, int64_t *compact, bool *canceled,
		int64_t *hrev, int *lines, struct err *e)
{
	const char *p = r->body, *end = r->body + r->len;
	int rc = 0;
	*lines = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (len) {
			rc = etcd_parse_watch_line(p, len, on_event, s, compact, canceled, hrev, e);
			(*lines)++;
			if (rc != 0)
				return rc;
		}
		p += len + 1;
	}
	return rc;
}

static void test_watch(void **state)
{
	(void)state;
	struct rec r;
	struct err e;
	struct seen s = { 0 };
	int64_t compact = -1, hrev = 0;
	bool canceled = true;
	int lines;

	rec_load(&r, "watch", "resp");
	assert_int_equal(r.status, 200);
	assert_int_equal(feed(&r, &s, &compact, &canceled, &hrev, &lines, &e), 0);
	assert_int_equal(lines, 4); /* created, put, put, delete */
	assert_int_equal(s.n, 3);
	assert_false(canceled);
	assert_true(compact == 0);
	assert_int_equal(s.ev[0].type, ETCD_EV_PUT); /* no "type" on a PUT */
	assert_string_equal(s.key[0], "fixture/watched");
	assert_string_equal(s.val[0], "v1");
	assert_string_equal(s.prev[0], "-");
	assert_true(s.ev[0].kv.version == 1);
	assert_int_equal(s.ev[1].type, ETCD_EV_PUT);
	assert_string_equal(s.val[1], "v2");
	assert_string_equal(s.prev[1], "v1");
	assert_int_equal(s.ev[2].type, ETCD_EV_DELETE);
	assert_string_equal(s.val[2], "");
	assert_string_equal(s.prev[2], "v2");
	assert_true(s.ev[2].kv.mod_revision == s.ev[1].kv.mod_revision + 1);
	assert_true(hrev == s.ev[2].kv.mod_revision);
	/* the start revision asked for is the first event's */
	rec_free(&r);
	rec_load(&r, "watch", "req");
	json_t *x = expect_json(r.body, r.len);
	assert_true(s64(json_object_get(x, "create_request"), "start_revision", NULL) ==
		    s.ev[0].kv.mod_revision);
	json_decref(x);
	rec_free(&r);

	/* the callback stops the watch: 1, and no further event of that line */
	struct seen s2 = { .stop_after = 1 };
	rec_load(&r, "watch", "resp");
	assert_int_equal(feed(&r, &s2, NULL, NULL, NULL, &lines, &e), 1);
	assert_int_equal(s2.n, 1);
	rec_free(&r);
}

static void test_watch_compacted(void **state)
{
	(void)state;
	struct rec r;
	struct err e;
	struct seen s = { 0 };
	int64_t compact = 0, hrev = 0;
	bool canceled = false;
	int lines;

	rec_load(&r, "watch_compacted", "resp");
	assert_int_equal(r.status, 200);
	assert_int_equal(feed(&r, &s, &compact, &canceled, &hrev, &lines, &e), 0);
	assert_int_equal(lines, 2);
	assert_int_equal(s.n, 0);
	assert_true(canceled);
	const char *second = strchr(r.body, '\n') + 1;
	json_t *x = expect_json(second, strlen(second));
	assert_true(compact == s64(json_object_get(x, "result"), "compact_revision", NULL));
	assert_true(compact > 2);
	json_decref(x);
	rec_free(&r);

	rec_load(&r, "range_compacted", "resp");
	assert_int_equal(r.status, 400);
	assert_int_equal(etcd_parse_error(r.body, r.len, &e), ETCD_ECOMPACTED);
	struct etcd_range rg;
	assert_int_equal(etcd_parse_range(r.body, r.len, &rg, &e), -1);
	assert_non_null(strstr(e.msg, "compacted"));
	rec_free(&r);
}

static void test_no_leader(void **state)
{
	(void)state;
	struct rec r;
	struct err e;
	struct seen s = { 0 };
	int lines;

	/* an error inside an HTTP 200 stream (the last line has no newline) */
	rec_load(&r, "watch_no_leader", "resp");
	assert_int_equal(r.status, 200);
	assert_int_equal(feed(&r, &s, NULL, NULL, NULL, &lines, &e), -1);
	assert_int_equal(lines, 2);
	assert_non_null(strstr(e.msg, "no leader"));
	const char *second = strchr(r.body, '\n') + 1;
	assert_int_equal(etcd_parse_error(second, strlen(second), &e), ETCD_EUNAVAILABLE);
	assert_non_null(strstr(e.msg, "code 14"));
	rec_free(&r);

	/* keepalive with no leader: the stream's error form, in a 503 */
	rec_load(&r, "keepalive_no_leader", "resp");
	assert_int_equal(r.status, 503);
	assert_int_equal(etcd_parse_error(r.body, r.len, &e), ETCD_EUNAVAILABLE);
	assert_non_null(strstr(e.msg, "etcdserver: no leader"));
	int64_t id, ttl;
	assert_int_equal(etcd_parse_lease(r.body, r.len, &id, &ttl, &e), -1);
	rec_free(&r);

	/* a put with no leader: the gateway's own deadline, 500 code 2 */
	rec_load(&r, "put_no_leader", "resp");
	assert_int_equal(r.status, 500);
	assert_int_equal(etcd_parse_error(r.body, r.len, &e), ETCD_EUNAVAILABLE);
	rec_free(&r);

	/* a request the server refuses: unpadded base64 */
	rec_load(&r, "bad_base64", "resp");
	assert_int_equal(r.status, 400);
	assert_int_equal(etcd_parse_error(r.body, r.len, &e), ETCD_EREQUEST);
	assert_non_null(strstr(e.msg, "code 3"));
	rec_free(&r);
}

static void test_members(void **state)
{
	(void)state;
	struct rec r;
	struct err e;
	struct etcd_member m[ETCD_MAX_MEMBERS];
	size_t n;
	char s[32];

	rec_load(&r, "member_list", "resp");
	assert_int_equal(etcd_parse_members(r.body, r.len, m, ETCD_MAX_MEMBERS, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(m[0].name, "s1");
	assert_true(strncmp(m[0].client_url, "http://127.0.0.1:", 17) == 0);
	assert_true(strncmp(m[0].peer_url, "http://127.0.0.1:", 17) == 0);
	rec_free(&r);
	rec_load(&r, "status", "resp");
	json_t *x = expect_json(r.body, r.len);
	assert_int_equal(etcd_parse_status(r.body, r.len, &m[0], &e), 0);
	assert_true(m[0].reachable);
	assert_true(m[0].is_leader);
	assert_true(m[0].db_size == s64(x, "dbSize", NULL));
	assert_true(m[0].raft_term == s64(x, "raftTerm", NULL));
	json_decref(x);
	rec_free(&r);

	rec_load(&r, "cluster_member_list", "resp");
	x = expect_json(r.body, r.len);
	assert_int_equal(etcd_parse_members(r.body, r.len, m, ETCD_MAX_MEMBERS, &n, &e), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		/* IDs exactly, also above INT64_MAX */
		snprintf(s, sizeof s, "%" PRIu64, m[i].id);
		const json_t *jm = json_array_get(json_object_get(x, "members"), i);
		assert_string_equal(s, json_string_value(json_object_get(jm, "ID")));
	}
	json_decref(x);
	/* only 2 slots: 2 stored */
	struct etcd_member two[2];
	assert_int_equal(etcd_parse_members(r.body, r.len, two, 2, &n, &e), 0);
	assert_int_equal(n, 2);
	rec_free(&r);

	/* the status of each: one leader, the one all of them name */
	int leaders = 0;
	for (int i = 0; i < 3; i++) {
		char name[32];
		snprintf(name, sizeof name, "cluster_status_m%d", i + 1);
		rec_load(&r, name, "resp");
		struct etcd_member *mm = NULL;
		for (size_t j = 0; j < 3; j++)
			if (strcmp(m[j].name, name + 15) == 0)
				mm = &m[j];
		assert_non_null(mm);
		assert_int_equal(etcd_parse_status(r.body, r.len, mm, &e), 0);
		assert_true(mm->reachable);
		leaders += mm->is_leader;
		rec_free(&r);
	}
	assert_int_equal(leaders, 1);
	assert_true(m[0].leader == m[1].leader && m[1].leader == m[2].leader);
}

static void test_base64(void **state)
{
	(void)state;
	static const char *const vec[][2] = { { "", "" },
					      { "f", "Zg==" },
					      { "fo", "Zm8=" },
					      { "foo", "Zm9v" },
					      { "foob", "Zm9vYg==" },
					      { "fooba", "Zm9vYmE=" },
					      { "foobar", "Zm9vYmFy" } };
	struct err e;
	size_t n;
	for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
		char *b = etcd_b64_encode(vec[i][0], strlen(vec[i][0]));
		assert_string_equal(b, vec[i][1]);
		free(b);
		char *d = etcd_b64_decode(vec[i][1], &n, &e);
		assert_non_null(d);
		assert_int_equal(n, strlen(vec[i][0]));
		assert_string_equal(d, vec[i][0]);
		free(d);
	}
	/* long and binary: one line, no PEM framing, back as it was */
	unsigned char bin[3000];
	for (size_t i = 0; i < sizeof bin; i++)
		bin[i] = (unsigned char)(i * 7);
	char *b = etcd_b64_encode(bin, sizeof bin);
	assert_null(strchr(b, '\n'));
	assert_null(strchr(b, '-'));
	assert_int_equal(strlen(b), 4000);
	char *d = etcd_b64_decode(b, &n, &e);
	assert_int_equal(n, sizeof bin);
	assert_memory_equal(d, bin, sizeof bin);
	free(b);
	free(d);
	/* refused like the gateway refuses them: unpadded, URL-safe, truncated */
	assert_null(etcd_b64_decode("Zm9vYg", &n, &e));
	assert_non_null(strstr(e.msg, "bad base64"));
	assert_null(etcd_b64_decode("_-8=", &n, &e));
	assert_null(etcd_b64_decode("Zm9", &n, &e));
}

static void test_range_end(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t len;
		const char *out;
		size_t outlen;
	} vec[] = {
		{ "app/", 4, "app0", 4 },
		{ "a", 1, "b", 1 },
		{ "a\xff", 2, "b", 1 },
		{ "ab\xff\xff", 4, "ac", 2 },
		{ "\xff\xff", 2, "", 1 },
		{ "", 0, "", 1 },
		{ "/ferry/vms/", 11, "/ferry/vms0", 11 },
	};
	for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
		size_t n;
		char *end = etcd_range_end(vec[i].in, vec[i].len, &n);
		assert_int_equal(n, vec[i].outlen);
		assert_memory_equal(end, vec[i].out, n);
		free(end);
	}
}

static void test_open_refused(void **state)
{
	(void)state;
	struct etcd *c;
	struct err e;
	struct etcd_cfg cfg = { .endpoints = { "10.0.0.1:2379" }, .nendpoints = 1 };
	assert_int_equal(etcd_open(&c, &cfg, &e), -1);
	assert_non_null(strstr(e.msg, "not an http:// or https:// URL"));
	cfg.nendpoints = 0;
	assert_int_equal(etcd_open(&c, &cfg, &e), -1);
	cfg.endpoints[0] = "https://10.0.0.1:2379";
	cfg.nendpoints = 1;
	assert_int_equal(etcd_open(&c, &cfg, &e), 0);
	assert_string_equal(etcd_current_endpoint(c), "https://10.0.0.1:2379");
	assert_int_equal(etcd_last_error(c), ETCD_OK);
	etcd_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put),	      cmocka_unit_test(test_range_key),
		cmocka_unit_test(test_range_missing), cmocka_unit_test(test_range_prefix),
		cmocka_unit_test(test_txn),	      cmocka_unit_test(test_lease),
		cmocka_unit_test(test_watch),	      cmocka_unit_test(test_watch_compacted),
		cmocka_unit_test(test_no_leader),     cmocka_unit_test(test_members),
		cmocka_unit_test(test_base64),	      cmocka_unit_test(test_range_end),
		cmocka_unit_test(test_open_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
