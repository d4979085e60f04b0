/* etcdprobe.c - drives the etcd client (agent/etcd.h) from the command line for etcd.sh.
 *
 * Usage: etcdprobe [--ca F] [--cert F] [--key F] [--timeout MS] --endpoints URL[,URL...] OP...
 * Operations run in order; each prints one line of JSON on stdout with "op", "ok", the time
 * it took in "ms", when it ended in "at" (ms since the epoch) and what it returned (or "error" and "kind"):
 *   put KEY VALUE LEASE (0: none) get KEY                 prefix PREFIX [LIMIT]
 *   cas-create KEY VALUE       (txn: create_revision == 0 ? put : get)
 *   cas-mod KEY REV VALUE      (txn: mod_revision == REV ? put : get)
 *   grant TTL                  keepalive ID             ttl ID          revoke ID
 *   members                    (list, then the status of each)
 *   puts KEY N MS              (N puts of KEY=0..N-1, MS apart, one line each, going on after
 *                              failures)
 *   watch PREFIX FROM SECONDS COUNT
 *                              (events, one line each, until COUNT events or SECONDS; a watch
 *                              that ends is reopened on the next member from its next revision)
 *   sleep MS
 * Exits 0 if every operation succeeded (a lost CAS is a success), 1 otherwise.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/etcd.h"
#include "common/json.h"

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void emit(json_t *o)
{
	char *s = json_encode(o, NULL);
	if (s) {
		printf("%s\n", s);
		fflush(stdout);
	}
	free(s);
	json_free(o);
}

static json_t *result(const char *op, double t0)
{
	json_t *o = json_object();
	json_set_str(o, "op", op);
	json_set_decimal(o, "ms", now_ms() - t0, 1);
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	json_set_int(o, "at", (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000);
	return o;
}

static int failed(json_t *o, struct etcd *c, const struct err *e)
{
	json_set_bool(o, "ok", false);
	json_set_str(o, "error", e->msg);
	if (c)
		json_set_int(o, "kind", etcd_last_error(c));
	emit(o);
	return 1;
}

static json_t *kv_json(const struct etcd_kv *kv)
{
	json_t *o = json_object();
	json_set(o, "key", json_text(kv->key));
	json_set(o, "value", json_text(kv->value));
	json_set_int(o, "create_revision", kv->create_revision);
	json_set_int(o, "mod_revision", kv->mod_revision);
	json_set_int(o, "version", kv->version);
	char s[24];
	snprintf(s, sizeof s, "%" PRId64, kv->lease);
	json_set_str(o, "lease", s);
	return o;
}

static int64_t arg_i64(const char *s)
{
	return strtoll(s, NULL, 10);
}

static int do_cas(struct etcd *c, const char *op, const char *key, int64_t rev, const char *value)
{
	double t0 = now_ms();
	struct etcd_cmp cmp = { .key = key,
				.target = rev ? ETCD_CMP_MOD : ETCD_CMP_CREATE,
				.result = ETCD_CMP_EQUAL,
				.revision = rev };
	struct etcd_op put = { .kind = ETCD_OP_PUT, .key = key, .value = value };
	struct etcd_op get = { .kind = ETCD_OP_GET, .key = key };
	struct etcd_txn_result t;
	struct err e;
	if (etcd_txn(c, &cmp, 1, &put, 1, &get, 1, &t, &e) < 0)
		return failed(result(op, t0), c, &e);
	json_t *o = result(op, t0);
	json_set_bool(o, "ok", true);
	json_set_bool(o, "succeeded", t.succeeded);
	json_set_int(o, "revision", t.revision);
	if (t.nranges && t.ranges[0].n)
		json_set(o, "current", kv_json(&t.ranges[0].kvs[0]));
	json_set_str(o, "endpoint", etcd_current_endpoint(c));
	etcd_txn_result_free(&t);
	emit(o);
	return 0;
}

struct watch_ctx {
	int n;
};

static int on_event(void *arg, const struct etcd_event *ev)
{
	struct watch_ctx *w = arg;
	json_t *o = json_object();
	json_set_str(o, "op", "event");
	json_set_str(o, "type", ev->type == ETCD_EV_DELETE ? "delete" : "put");
	json_set(o, "kv", kv_json(&ev->kv));
	if (ev->has_prev)
		json_set(o, "prev_kv", kv_json(&ev->prev_kv));
	emit(o);
	w->n++;
	return 0;
}

static int do_watch(const struct etcd_cfg *cfg, const char *prefix, int64_t from, double secs,
		    int count)
{
	struct watch_ctx ctx = { 0 };
	struct etcd_watch *w;
	struct err e;
	double t0 = now_ms(), end = t0 + secs * 1e3;
	int bad = 0;

	if (etcd_watch_open(&w, cfg, prefix, true, from, true, on_event, &ctx, &e) < 0)
		return failed(result("watch", t0), NULL, &e);
	while (ctx.n < count && now_ms() < end) {
		if (etcd_watch_poll(w, 100, &e) == 0)
			continue;
		json_t *o = result("watch-ended", t0);
		json_set_str(o, "error", e.msg);
		json_set_str(o, "endpoint", etcd_watch_endpoint(w));
		json_set_int(o, "next_revision", etcd_watch_next_revision(w));
		json_set_int(o, "compacted", etcd_watch_compacted(w));
		emit(o);
		if (etcd_watch_compacted(w) || etcd_watch_reopen(w, &e) < 0) {
			bad = 1;
			break;
		}
		o = result("watch-reopened", t0);
		json_set_str(o, "endpoint", etcd_watch_endpoint(w));
		json_set_int(o, "from", etcd_watch_next_revision(w));
		emit(o);
	}
	json_t *o = result("watch", t0);
	json_set_bool(o, "ok", !bad && ctx.n >= count);
	json_set_int(o, "events", ctx.n);
	json_set_int(o, "next_revision", etcd_watch_next_revision(w));
	emit(o);
	etcd_watch_close(w);
	return bad || ctx.n < count;
}

static int usage(void)
{
	fprintf(stderr, "usage: etcdprobe [--ca F] [--cert F] [--key F] [--timeout MS] "
			"--endpoints URL[,URL...] OP...\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct etcd_cfg cfg = { 0 };
	char *eps = NULL;
	int i = 1;

	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (strcmp(argv[i], "--ca") == 0)
			cfg.ca = argv[i + 1];
		else if (strcmp(argv[i], "--cert") == 0)
			cfg.cert = argv[i + 1];
		else if (strcmp(argv[i], "--key") == 0)
			cfg.key = argv[i + 1];
		else if (strcmp(argv[i], "--timeout") == 0)
			cfg.timeout_ms = strtol(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--endpoints") == 0)
			eps = argv[i + 1];
		else
			return usage();
	}
	if (!eps)
		return usage();
	for (char *s = strtok(eps, ","); s && cfg.nendpoints < ETCD_MAX_MEMBERS;
	     s = strtok(NULL, ","))
		cfg.endpoints[cfg.nendpoints++] = s;

	struct etcd *c;
	struct err e;
	if (etcd_open(&c, &cfg, &e) < 0) {
		fprintf(stderr, "etcdprobe: %s\n", e.msg);
		return 1;
	}
	int bad = 0;
	while (i < argc) {
		const char *op = argv[i++];
		int left = argc - i;
		double t0 = now_ms();
		json_t *o;
		if (strcmp(op, "put") == 0 && left >= 3) {
			int64_t rev;
			if (etcd_put(c, argv[i], argv[i + 1], arg_i64(argv[i + 2]), &rev, &e) < 0) {
				bad |= failed(result(op, t0), c, &e);
			} else {
				o = result(op, t0);
				json_set_bool(o, "ok", true);
				json_set_int(o, "revision", rev);
				json_set_str(o, "endpoint", etcd_current_endpoint(c));
				emit(o);
			}
			i += 3;
		} else if (strcmp(op, "get") == 0 && left >= 1) {
			struct etcd_kv kv;
			bool found;
			int64_t rev;
			if (etcd_get(c, argv[i], &kv, &found, &rev, &e) < 0) {
				bad |= failed(result(op, t0), c, &e);
			} else {
				o = result(op, t0);
				json_set_bool(o, "ok", true);
				json_set_bool(o, "found", found);
				json_set_int(o, "revision", rev);
				if (found)
					json_set(o, "kv", kv_json(&kv));
				json_set_str(o, "endpoint", etcd_current_endpoint(c));
				emit(o);
				etcd_kv_free(&kv);
			}
			i += 1;
		} else if (strcmp(op, "prefix") == 0 && left >= 2) {
			struct etcd_range r;
			if (etcd_get_prefix(c, argv[i], (size_t)arg_i64(argv[i + 1]), &r, &e) < 0) {
				bad |= failed(result(op, t0), c, &e);
			} else {
				o = result(op, t0);
				json_t *kvs = json_array();
				for (size_t k = 0; k < r.n; k++)
					json_push(kvs, kv_json(&r.kvs[k]));
				json_set_bool(o, "ok", true);
				json_set(o, "kvs", kvs);
				json_set_int(o, "count", r.count);
				json_set_bool(o, "more", r.more);
				emit(o);
				etcd_range_free(&r);
			}
			i += 2;
		} else if (strcmp(op, "cas-create") == 0 && left >= 2) {
			bad |= do_cas(c, op, argv[i], 0, argv[i + 1]);
			i += 2;
		} else if (strcmp(op, "cas-mod") == 0 && left >= 3) {
			bad |= do_cas(c, op, argv[i], arg_i64(argv[i + 1]), argv[i + 2]);
			i += 3;
		} else if (strcmp(op, "grant") == 0 && left >= 1) {
			int64_t id, ttl;
			if (etcd_lease_grant(c, arg_i64(argv[i]), &id, &ttl, &e) < 0) {
				bad |= failed(result(op, t0), c, &e);
			} else {
				char s[24];
				snprintf(s, sizeof s, "%" PRId64, id);
				o = result(op, t0);
				json_set_bool(o, "ok", true);
				json_set_str(o, "id", s);
				json_set_int(o, "ttl", ttl);
				emit(o);
			}
			i += 1;
		} else if ((strcmp(op, "keepalive") == 0 || strcmp(op, "ttl") == 0 ||
			    strcmp(op, "revoke") == 0) &&
			   left >= 1) {
			int64_t id = arg_i64(argv[i]), ttl = 0;
			int rc = op[0] == 'k'	? etcd_lease_keepalive(c, id, &ttl, &e)
				 : op[0] == 't' ? etcd_lease_ttl(c, id, &ttl, &e)
						: etcd_lease_revoke(c, id, &e);
			if (rc < 0) {
				bad |= failed(result(op, t0), c, &e);
			} else {
				o = result(op, t0);
				json_set_bool(o, "ok", true);
				json_set_int(o, "ttl", ttl);
				emit(o);
			}
			i += 1;
		} else if (strcmp(op, "members") == 0) {
			struct etcd_member m[ETCD_MAX_MEMBERS];
			size_t n;
			if (etcd_members(c, m, ETCD_MAX_MEMBERS, &n, &e) < 0) {
				bad |= failed(result(op, t0), c, &e);
			} else {
				etcd_member_status(c, m, n);
				json_t *arr = json_array();
				for (size_t k = 0; k < n; k++) {
					json_t *x = json_object();
					char s[24];
					snprintf(s, sizeof s, "%" PRIu64, m[k].id);
					json_set_str(x, "id", s);
					json_set_str(x, "name", m[k].name);
					json_set_str(x, "client_url", m[k].client_url);
					json_set_bool(x, "reachable", m[k].reachable);
					json_set_bool(x, "is_leader", m[k].is_leader);
					snprintf(s, sizeof s, "%" PRIu64, m[k].leader);
					json_set_str(x, "leader", s);
					json_set_int(x, "raft_term", m[k].raft_term);
					json_set_int(x, "db_size", m[k].db_size);
					json_push(arr, x);
				}
				o = result(op, t0);
				json_set_bool(o, "ok", true);
				json_set(o, "members", arr);
				emit(o);
			}
		} else if (strcmp(op, "puts") == 0 && left >= 3) {
			long n = strtol(argv[i + 1], NULL, 10);
			useconds_t pause = (useconds_t)arg_i64(argv[i + 2]) * 1000;
			for (long k = 0; k < n; k++) {
				if (k)
					usleep(pause);
				char v[24];
				int64_t rev;
				snprintf(v, sizeof v, "%ld", k);
				t0 = now_ms();
				if (etcd_put(c, argv[i], v, 0, &rev, &e) < 0) {
					o = result(op, t0);
					json_set_str(o, "value", v);
					bad |= failed(o, c, &e);
					continue;
				}
				o = result(op, t0);
				json_set_bool(o, "ok", true);
				json_set_str(o, "value", v);
				json_set_int(o, "revision", rev);
				json_set_str(o, "endpoint", etcd_current_endpoint(c));
				emit(o);
			}
			i += 3;
		} else if (strcmp(op, "watch") == 0 && left >= 4) {
			bad |= do_watch(&cfg, argv[i], arg_i64(argv[i + 1]),
					strtod(argv[i + 2], NULL), (int)arg_i64(argv[i + 3]));
			i += 4;
		} else if (strcmp(op, "sleep") == 0 && left >= 1) {
			usleep((useconds_t)arg_i64(argv[i]) * 1000);
			i += 1;
		} else {
			fprintf(stderr, "etcdprobe: bad operation '%s'\n", op);
			etcd_close(c);
			return 2;
		}
	}
	etcd_close(c);
	return bad;
}
