/* cluster.c - the key schema, registration, VM records, start and stop, capacity (cluster.h).
 *
 * Reads take one linearizable range of everything under /ferry/ (a cluster's keys are few)
 * and answer from that snapshot; writes that decide (create, admission, ownership, removal)
 * are transactions whose compares are the mod_revisions seen in the snapshot (create_revision
 * 0 for a key that was absent), retried a few times when another agent won the race. State
 * keys are informational and bound to the owner host's lease, so they are plain puts.
 *
 * Start on this host: refuse if the state key says it runs; admission against the alloc key;
 * one transaction puts alloc, owner (only if it changes) and state "starting"; then
 * vms_start, and state "running" or, on failure, the alloc entry released and state
 * "stopped" with the reason. Stop is a hard power-off (vms_stop), then the same release.
 */
#include "agent/cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "agent/events.h"
#include "common/json.h"
#include "common/log.h"
#include "common/names.h"

#define TXN_TRIES 5

int aerr_set(struct aerr *a, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	a->status = status;
	a->code = NULL;
	vsnprintf(a->msg, sizeof(a->msg), fmt, ap);
	va_end(ap);
	return -1;
}

const char *aerr_code(int status)
{
	switch (status) {
	case 400:
		return "bad_request";
	case 401:
		return "unauthenticated";
	case 403:
		return "forbidden";
	case 404:
		return "not_found";
	case 405:
		return "method_not_allowed";
	case 409:
		return "conflict";
	case 413:
		return "too_large";
	case 422:
		return "no_room";
	case 502:
		return "host_unreachable";
	case 503:
		return "unavailable";
	default:
		return "internal";
	}
}

/* ---- pure ----------------------------------------------------------------------------------- */

static int copy_str(const json_t *body, const char *key, char *out, size_t size, bool path,
		    struct aerr *ae)
{
	struct err e;
	const char *s = NULL;
	int rc = json_get_str(body, key, &s, &e);
	if (rc < 0)
		return aerr_set(ae, 400, "%s", e.msg);
	if (rc == 0)
		return 0;
	if (strlen(s) >= size)
		return aerr_set(ae, 400, "'%s' is too long (at most %zu characters)", key,
				size - 1);
	if (path && *s && *s != '/')
		return aerr_set(ae, 400, "'%s' must be an absolute path, not '%s'", key, s);
	snprintf(out, size, "%s", s);
	return 1;
}

static int get_size(const json_t *body, const char *key, uint64_t *out, struct aerr *ae)
{
	const json_t *v = json_get(body, key);
	struct err e;
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return aerr_set(ae, 400, "'%s' must not be negative", key);
		*out = (uint64_t)json_integer_value(v);
		return 1;
	}
	if (json_is_string(v)) {
		if (size_parse(json_string_value(v), out, &e) < 0)
			return aerr_set(ae, 400, "'%s': %s", key, e.msg);
		return 1;
	}
	return aerr_set(ae, 400, "'%s' must be a size (an integer or a string such as \"256M\")",
			key);
}

int cluster_spec_from_request(const json_t *body, struct vm_spec *s, struct aerr *ae)
{
	static const char *const known[] = { "name",   "memory", "vcpus",  "disk",
					     "kernel", "initrd", "append", "isa" };
	struct err e;
	memset(s, 0, sizeof(*s));
	if (!json_is_object(body))
		return aerr_set(ae, 400, "the body must be a JSON object");
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)body, key, val)
	{
		bool ok = false;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok |= strcmp(key, known[i]) == 0;
		if (!ok)
			return aerr_set(ae, 400,
					"unknown member '%.64s' (known: name, memory, vcpus, "
					"disk, kernel, initrd, append, isa)",
					key);
	}
	const char *name = NULL;
	int rc = json_get_str(body, "name", &name, &e);
	if (rc < 0)
		return aerr_set(ae, 400, "%s", e.msg);
	if (rc == 0)
		return aerr_set(ae, 400, "'name' is required");
	if (name_normalize(name, s->name, "VM", &e) < 0)
		return aerr_set(ae, 400, "%s", e.msg);
	rc = get_size(body, "memory", &s->memory, ae);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return aerr_set(ae, 400, "'memory' is required");
	if (s->memory < CLUSTER_MEMORY_MIN || s->memory % 4096)
		return aerr_set(ae, 400,
				"'memory' must be at least 1 MiB and a multiple of 4 KiB, not %llu",
				(unsigned long long)s->memory);
	int64_t vcpus = 1;
	if (json_get_int(body, "vcpus", &vcpus, &e) < 0)
		return aerr_set(ae, 400, "%s", e.msg);
	if (vcpus < 1 || vcpus > CLUSTER_VCPUS_MAX)
		return aerr_set(ae, 400, "'vcpus' must be 1 to %d, not %lld", CLUSTER_VCPUS_MAX,
				(long long)vcpus);
	s->vcpus = (unsigned)vcpus;
	if (copy_str(body, "disk", s->disk, sizeof(s->disk), true, ae) < 0 ||
	    copy_str(body, "initrd", s->initrd, sizeof(s->initrd), true, ae) < 0 ||
	    copy_str(body, "append", s->append, sizeof(s->append), false, ae) < 0 ||
	    copy_str(body, "isa", s->isa, sizeof(s->isa), false, ae) < 0)
		return -1;
	rc = copy_str(body, "kernel", s->kernel, sizeof(s->kernel), true, ae);
	if (rc < 0)
		return -1;
	if (rc == 0 || !*s->kernel)
		return aerr_set(ae, 400, "'kernel' is required");
	for (const char *p = s->isa; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return aerr_set(ae, 400, "'isa' is not an ISA string: '%s'", s->isa);
	return 0;
}

json_t *cluster_spec_to_json(const struct vm_spec *s)
{
	json_t *j = json_object();
	json_set_u64(j, "memory", s->memory);
	json_set_int(j, "vcpus", s->vcpus);
	json_set_str(j, "isa", s->isa);
	json_set_str(j, "disk", s->disk);
	json_set_str(j, "kernel", s->kernel);
	json_set_str(j, "initrd", s->initrd);
	json_set_str(j, "append", s->append);
	json_set_str(j, "mac", s->mac);
	return j;
}

static int spec_str(const json_t *j, const char *key, char *out, size_t size, struct err *e)
{
	const char *v = "";
	if (json_get_str(j, key, &v, e) < 0)
		return -1;
	if (strlen(v) >= size)
		return err_set(e, "'%s' too long", key);
	snprintf(out, size, "%s", v);
	return 0;
}

int cluster_spec_from_json(const char *name, const json_t *j, struct vm_spec *s, struct err *e)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	int64_t vcpus = 1;
	if (!json_is_object(j))
		return err_set(e, "the spec of %s is not an object", name);
	if (json_get_u64(j, "memory", &s->memory, e) < 0 || json_get_int(j, "vcpus", &vcpus, e) < 0)
		return -1;
	s->vcpus = vcpus > 0 ? (unsigned)vcpus : 1;
	if (spec_str(j, "isa", s->isa, sizeof(s->isa), e) < 0 ||
	    spec_str(j, "disk", s->disk, sizeof(s->disk), e) < 0 ||
	    spec_str(j, "kernel", s->kernel, sizeof(s->kernel), e) < 0 ||
	    spec_str(j, "initrd", s->initrd, sizeof(s->initrd), e) < 0 ||
	    spec_str(j, "append", s->append, sizeof(s->append), e) < 0 ||
	    spec_str(j, "mac", s->mac, sizeof(s->mac), e) < 0)
		return -1;
	return 0;
}

const char *cluster_vm_state(const char *state_key, const char *owner_host, bool owner_alive)
{
	if (state_key && *state_key)
		return strcmp(state_key, "exited") == 0 ? "stopped" : state_key;
	if (!owner_host || !*owner_host)
		return "stopped";
	return owner_alive ? "stopped" : "lost";
}

int cluster_admit(const char *host, uint64_t cap_mem, unsigned cap_vcpus, uint64_t used_mem,
		  unsigned used_vcpus, const struct vm_spec *s, struct aerr *ae)
{
	uint64_t free_mem = cap_mem > used_mem ? cap_mem - used_mem : 0;
	unsigned free_vcpus = cap_vcpus > used_vcpus ? cap_vcpus - used_vcpus : 0;
	char have[32], need[32];
	if (free_mem < s->memory) {
		size_format(free_mem, have, sizeof(have));
		size_format(s->memory, need, sizeof(need));
		return aerr_set(ae, 422, "%s has %s free, %s needs %s", host, have, s->name, need);
	}
	if (free_vcpus < s->vcpus)
		return aerr_set(ae, 422, "%s has %u vCPU%s free, %s needs %u", host, free_vcpus,
				free_vcpus == 1 ? "" : "s", s->name, s->vcpus);
	return 0;
}

json_t *cluster_alloc_with(const json_t *old, const char *vm, uint64_t memory, unsigned vcpus)
{
	json_t *vms = json_object();
	const json_t *ov = json_get(old, "vms");
	const char *k;
	json_t *v;
	if (json_is_object(ov))
		json_object_foreach((json_t *)ov, k, v) if (strcmp(k, vm) != 0 && json_is_object(v))
		    json_object_set(vms, k, v);
	if (memory) {
		json_t *ent = json_object();
		json_set_u64(ent, "memory", memory);
		json_set_int(ent, "vcpus", vcpus);
		json_set(vms, vm, ent);
	}
	json_t *out = json_object();
	uint64_t tm = 0, tv = 0;
	json_object_foreach(vms, k, v)
	{
		uint64_t m = 0, c = 0;
		json_get_u64(v, "memory", &m, &(struct err){ { 0 } });
		json_get_u64(v, "vcpus", &c, &(struct err){ { 0 } });
		tm += m;
		tv += c;
	}
	json_set_u64(out, "memory", tm);
	json_set_u64(out, "vcpus", tv);
	json_set(out, "vms", vms);
	return out;
}

void cluster_alloc_used(const json_t *alloc, uint64_t *mem, unsigned *vcpus)
{
	json_t *t = cluster_alloc_with(alloc, "", 0, 0); /* totals from the entries */
	uint64_t m = 0, c = 0;
	struct err e;
	json_get_u64(t, "memory", &m, &e);
	json_get_u64(t, "vcpus", &c, &e);
	json_free(t);
	*mem = m;
	*vcpus = (unsigned)c;
}

/* Split a key under /ferry/: kind "host" (/ferry/hosts/h), "alloc", "cert", "spec", "owner",
 * "state" (/ferry/vms/v/...), "revoked" (/ferry/revoked/s), "mac"; name gets h, v or s. */
static const char *key_kind(const char *key, char name[128])
{
	const char *rest;
	const char *sub;
	size_t n;
	if (strncmp(key, "/ferry/hosts/", 13) == 0) {
		rest = key + 13;
		sub = strchr(rest, '/');
		n = sub ? (size_t)(sub - rest) : strlen(rest);
		if (n == 0 || n >= 128)
			return NULL;
		memcpy(name, rest, n);
		name[n] = '\0';
		if (!sub)
			return "host";
		if (strcmp(sub, "/alloc") == 0)
			return "alloc";
		if (strcmp(sub, "/cert") == 0)
			return "cert";
		return NULL;
	}
	if (strncmp(key, "/ferry/vms/", 11) == 0) {
		rest = key + 11;
		sub = strchr(rest, '/');
		if (!sub || sub == rest || (size_t)(sub - rest) >= 128)
			return NULL;
		n = (size_t)(sub - rest);
		memcpy(name, rest, n);
		name[n] = '\0';
		sub++;
		if (strcmp(sub, "spec") == 0 || strcmp(sub, "owner") == 0 ||
		    strcmp(sub, "state") == 0)
			return sub;
		return NULL;
	}
	if (strncmp(key, "/ferry/revoked/", 15) == 0 && strlen(key + 15) < 128) {
		strcpy(name, key + 15);
		return "revoked";
	}
	return NULL;
}

int cluster_event_from_watch(const struct etcd_event *ev, const char **type, json_t **data)
{
	char name[128];
	const char *kind = key_kind(ev->kv.key, name);
	*data = NULL;
	if (!kind)
		return 0;
	bool put = ev->type == ETCD_EV_PUT;
	if (strcmp(kind, "host") == 0) {
		if (put && ev->has_prev && ev->prev_kv.lease == ev->kv.lease)
			return 0; /* the same lease's key written again: no news */
		*type = put ? "host-up" : "host-down";
		*data = json_object();
		json_set_str(*data, "host", name);
		return 1;
	}
	if (strcmp(kind, "spec") == 0) {
		if (put && ev->kv.version != 1)
			return 0;
		*type = put ? "vm-created" : "vm-removed";
		*data = json_object();
		json_set_str(*data, "vm", name);
		return 1;
	}
	if (strcmp(kind, "state") == 0 && put) {
		struct err e;
		json_t *v = json_parse(ev->kv.value, ev->kv.value_len, &e);
		const char *st = "", *host = "", *reason = "";
		json_get_str(v, "state", &st, &e);
		json_get_str(v, "host", &host, &e);
		json_get_str(v, "reason", &reason, &e);
		*data = json_object();
		json_set_str(*data, "vm", name);
		json_set_str(*data, "host", host);
		if (strcmp(reason, "adopted") == 0) {
			*type = "vm-adopted";
		} else {
			*type = "vm-state";
			json_set_str(*data, "state", st);
			json_set_str(*data, "reason", reason);
		}
		json_free(v);
		return 1;
	}
	return 0;
}

void cluster_random_mac(char out[18])
{
	uint8_t b[4] = { 0 };
	if (getrandom(b, sizeof(b), 0) != sizeof(b)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint32_t x = (uint32_t)ts.tv_nsec ^ (uint32_t)getpid() << 16;
		memcpy(b, &x, 4);
	}
	snprintf(out, 18, "02:fe:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3]);
}

static bool name_mark(char (*set)[VM_NAME_MAX + 1], const char *name, bool add);

/* ---- snapshots ------------------------------------------------------------------------------ */

struct snap {
	struct etcd_range r;
};

static int snap_load(struct etcd *c, struct snap *s, struct aerr *ae)
{
	struct err e;
	memset(s, 0, sizeof(*s));
	if (etcd_get_prefix(c, "/ferry/", 0, &s->r, &e) < 0)
		return aerr_set(ae, 503, "the cluster store cannot be reached: %s", e.msg);
	return 0;
}

static void snap_free(struct snap *s)
{
	etcd_range_free(&s->r);
}

static const struct etcd_kv *snap_find(const struct snap *s, const char *fmt, const char *name)
{
	char key[256];
	snprintf(key, sizeof(key), fmt, name);
	for (size_t i = 0; i < s->r.n; i++)
		if (strcmp(s->r.kvs[i].key, key) == 0)
			return &s->r.kvs[i];
	return NULL;
}

static json_t *kv_json(const struct etcd_kv *kv)
{
	struct err e;
	if (!kv)
		return NULL;
	json_t *j = json_parse(kv->value, kv->value_len, &e);
	if (!j)
		log_warn("%s holds no JSON: %s", kv->key, e.msg);
	return j;
}

static const char *jstr(const json_t *j, const char *key)
{
	const json_t *v = json_get(j, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool host_alive(const struct snap *s, const char *h)
{
	return h && *h && snap_find(s, "/ferry/hosts/%s", h) != NULL;
}

/* ---- etcd pool ------------------------------------------------------------------------------ */

struct etcd *agent_etcd(struct agent *a, struct err *e)
{
	pthread_mutex_lock(&a->pool_lock);
	for (;;) {
		for (size_t i = 0; i < AGENT_ETCD_POOL; i++) {
			if (a->pool_busy[i])
				continue;
			if (!a->pool[i] && etcd_open(&a->pool[i], &a->ecfg, e) < 0) {
				a->pool[i] = NULL;
				pthread_mutex_unlock(&a->pool_lock);
				return NULL;
			}
			a->pool_busy[i] = true;
			pthread_mutex_unlock(&a->pool_lock);
			return a->pool[i];
		}
		pthread_cond_wait(&a->pool_cond, &a->pool_lock);
	}
}

void agent_etcd_put(struct agent *a, struct etcd *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&a->pool_lock);
	for (size_t i = 0; i < AGENT_ETCD_POOL; i++)
		if (a->pool[i] == c)
			a->pool_busy[i] = false;
	pthread_cond_signal(&a->pool_cond);
	pthread_mutex_unlock(&a->pool_lock);
}

static struct etcd *borrow(struct agent *a, struct aerr *ae)
{
	struct err e;
	struct etcd *c = agent_etcd(a, &e);
	if (!c)
		aerr_set(ae, 503, "the cluster store cannot be reached: %s", e.msg);
	return c;
}

static int64_t cur_lease(struct agent *a)
{
	pthread_mutex_lock(&a->reg_lock);
	int64_t l = a->lease;
	pthread_mutex_unlock(&a->reg_lock);
	return l;
}

/* ---- writing state keys and alloc ----------------------------------------------------------- */

static int put_state(struct agent *a, struct etcd *c, const char *vm, const char *state, pid_t pid,
		     const char *reason, int64_t lease, struct err *e)
{
	char key[256], since[32];
	events_time_now(since);
	json_t *j = json_object();
	json_set_str(j, "state", state);
	json_set_str(j, "host", a->conf.name);
	json_set_int(j, "pid", pid);
	json_set_str(j, "since", since);
	json_set_str(j, "reason", reason ? reason : "");
	char *text = json_encode(j, NULL);
	json_free(j);
	if (!text)
		return err_set(e, "out of memory");
	snprintf(key, sizeof(key), "/ferry/vms/%s/state", vm);
	int rc = etcd_put(c, key, text, lease, NULL, e);
	free(text);
	return rc;
}

/* Set (memory != 0) or remove this host's alloc entry for vm, by compare-and-swap. With admit,
 * the entry is set only if this host has room for it after the others (else 422 in ae, and
 * ALLOC_NO_ROOM is returned). */
#define ALLOC_NO_ROOM (-2)
static int alloc_cas(struct agent *a, struct etcd *c, const char *vm, uint64_t memory,
		     unsigned vcpus, const struct vm_spec *admit, struct aerr *ae, struct err *e)
{
	char key[256];
	snprintf(key, sizeof(key), "/ferry/hosts/%s/alloc", a->conf.name);
	for (int i = 0; i < TXN_TRIES; i++) {
		struct etcd_kv kv = { 0 };
		bool found = false;
		if (etcd_get(c, key, &kv, &found, NULL, e) < 0)
			return -1;
		json_t *old = found ? kv_json(&kv) : NULL;
		if (admit) {
			uint64_t um;
			unsigned uv;
			json_t *rest = cluster_alloc_with(old, vm, 0, 0);
			cluster_alloc_used(rest, &um, &uv);
			json_free(rest);
			if (cluster_admit(a->conf.name, a->conf.memory, a->conf.vcpus, um, uv,
					  admit, ae) < 0) {
				json_free(old);
				etcd_kv_free(&kv);
				return ALLOC_NO_ROOM;
			}
		}
		json_t *nv = cluster_alloc_with(old, vm, memory, vcpus);
		json_free(old);
		char *text = json_encode(nv, NULL);
		json_free(nv);
		struct etcd_cmp cmp = { .key = key,
					.target = found ? ETCD_CMP_MOD : ETCD_CMP_CREATE,
					.result = ETCD_CMP_EQUAL,
					.revision = found ? kv.mod_revision : 0 };
		etcd_kv_free(&kv);
		struct etcd_op op = { .kind = ETCD_OP_PUT, .key = key, .value = text };
		struct etcd_txn_result res = { 0 };
		int rc = text ? etcd_txn(c, &cmp, 1, &op, 1, NULL, 0, &res, e)
			      : err_set(e, "out of memory");
		bool ok = res.succeeded;
		etcd_txn_result_free(&res);
		free(text);
		if (rc < 0)
			return -1;
		if (ok)
			return 0;
	}
	return err_set(e, "the alloc key of %s kept changing", a->conf.name);
}

static int alloc_set(struct agent *a, struct etcd *c, const char *vm, uint64_t memory,
		     unsigned vcpus, struct err *e)
{
	return alloc_cas(a, c, vm, memory, vcpus, NULL, NULL, e);
}

void cluster_vm_ended(struct agent *a, const char *name, const char *state, const char *reason)
{
	struct err e;
	struct etcd *c = agent_etcd(a, &e);
	if (!c) {
		log_error("%s %s, but the cluster store cannot be reached: %s", name, state, e.msg);
		return;
	}
	if (alloc_set(a, c, name, 0, 0, &e) < 0)
		log_error("%s: releasing its allocation: %s", name, e.msg);
	/* The state key is the owner's: a copy that is not (a move's source, gone) says nothing. */
	char okey[256];
	struct etcd_kv okv = { 0 };
	bool found = false, mine = true;
	snprintf(okey, sizeof(okey), "/ferry/vms/%s/owner", name);
	if (etcd_get(c, okey, &okv, &found, NULL, &e) == 0 && found) {
		json_t *oj = kv_json(&okv);
		mine = !jstr(oj, "host") || strcmp(jstr(oj, "host"), a->conf.name) == 0;
		json_free(oj);
	}
	etcd_kv_free(&okv);
	if (mine && put_state(a, c, name, state, 0, reason, cur_lease(a), &e) < 0)
		log_error("%s: writing its state: %s", name, e.msg);
	agent_etcd_put(a, c);
	log_info("%s %s: %s%s", name, state, reason, mine ? "" : " (its owner is elsewhere)");
}

static char *host_value(struct agent *a);

/* ---- for moves (move.c) --------------------------------------------------------------------- */

int cluster_reserve(struct agent *a, const struct vm_spec *s, struct aerr *ae)
{
	char state[16];
	struct err e;

	cluster_host_state(a, state);
	if (strcmp(state, "active") != 0)
		return aerr_set(ae, 409, "%s is %s: nothing new is placed there", a->conf.name,
				state);
	struct etcd *c = borrow(a, ae);
	if (!c)
		return -1;
	int r = alloc_cas(a, c, s->name, s->memory, s->vcpus, s, ae, &e);
	agent_etcd_put(a, c);
	if (r == ALLOC_NO_ROOM)
		return -1;
	if (r < 0)
		return aerr_set(ae, 503, "admitting %s: %s", s->name, e.msg);
	return 0;
}

int cluster_unreserve(struct agent *a, const char *vm, struct err *e)
{
	struct etcd *c = agent_etcd(a, e);
	if (!c)
		return -1;
	int rc = alloc_set(a, c, vm, 0, 0, e);
	agent_etcd_put(a, c);
	return rc;
}

int cluster_put_state(struct agent *a, const char *vm, const char *state, pid_t pid,
		      const char *reason, struct err *e)
{
	struct etcd *c = agent_etcd(a, e);
	if (!c)
		return -1;
	int rc = put_state(a, c, vm, state, pid, reason, cur_lease(a), e);
	agent_etcd_put(a, c);
	return rc;
}

int cluster_vm_spec(struct agent *a, const char *vm, struct vm_spec *s, struct aerr *ae)
{
	char key[256];
	struct err e;
	struct etcd_kv kv = { 0 };
	bool found = false;
	struct etcd *c = borrow(a, ae);
	if (!c)
		return -1;
	snprintf(key, sizeof(key), "/ferry/vms/%s/spec", vm);
	int r = etcd_get(c, key, &kv, &found, NULL, &e);
	agent_etcd_put(a, c);
	if (r < 0)
		return aerr_set(ae, 503, "the cluster store cannot be reached: %s", e.msg);
	if (!found)
		return aerr_set(ae, 404, "no VM named '%s'", vm);
	json_t *j = kv_json(&kv);
	r = j ? cluster_spec_from_json(vm, j, s, &e) : err_set(&e, "not JSON");
	json_free(j);
	etcd_kv_free(&kv);
	if (r < 0)
		return aerr_set(ae, 500, "the spec of %s: %s", vm, e.msg);
	return 0;
}

void cluster_host_state(struct agent *a, char out[16])
{
	pthread_mutex_lock(&a->reg_lock);
	snprintf(out, 16, "%s", a->host_state[0] ? a->host_state : "active");
	pthread_mutex_unlock(&a->reg_lock);
}

static int cas_put(struct etcd *c, const char *key, const char *value, int64_t lease,
		   bool only_if_changed, int64_t *old_lease, struct err *e);

int cluster_set_host_state(struct agent *a, const char *state, struct err *e)
{
	char key[256];
	pthread_mutex_lock(&a->reg_lock);
	snprintf(a->host_state, sizeof(a->host_state), "%s", state);
	pthread_mutex_unlock(&a->reg_lock);
	int64_t lease = cur_lease(a);
	if (!lease)
		return 0; /* written with the next registration */
	char *hv = host_value(a);
	if (!hv)
		return err_set(e, "out of memory");
	struct etcd *c = agent_etcd(a, e);
	int rc = -1;
	if (c) {
		snprintf(key, sizeof(key), "/ferry/hosts/%s", a->conf.name);
		rc = cas_put(c, key, hv, lease, true, NULL, e);
		agent_etcd_put(a, c);
	}
	free(hv);
	return rc;
}

/* ---- registration --------------------------------------------------------------------------- */

static char *host_value(struct agent *a)
{
	json_t *j = json_object();
	json_set_str(j, "name", a->conf.name);
	json_set_str(j, "api", a->conf.api);
	json_t *mig = json_object();
	for (size_t i = 0; i < a->conf.npeers; i++) {
		json_t *arr = json_array();
		for (size_t k = 0; k < a->conf.peers[i].naddrs; k++)
			json_push(arr, json_text(a->conf.peers[i].addrs[k]));
		json_set(mig, a->conf.peers[i].name, arr);
	}
	json_set(j, "migration", mig);
	json_t *cap = json_object();
	json_set_u64(cap, "memory", a->conf.memory);
	json_set_int(cap, "vcpus", a->conf.vcpus);
	json_set(j, "capacity", cap);
	pthread_mutex_lock(&a->reg_lock);
	json_set_str(j, "state", a->host_state[0] ? a->host_state : "active");
	pthread_mutex_unlock(&a->reg_lock);
	json_set_str(j, "cert_serial", a->cert_serial);
	json_set_str(j, "version", a->version);
	char *text = json_encode(j, NULL);
	json_free(j);
	return text;
}

/* Put key = value by compare-and-swap on what is there (create 0 if absent). */
static int cas_put(struct etcd *c, const char *key, const char *value, int64_t lease,
		   bool only_if_changed, int64_t *old_lease, struct err *e)
{
	for (int i = 0; i < TXN_TRIES; i++) {
		struct etcd_kv kv = { 0 };
		bool found = false;
		if (etcd_get(c, key, &kv, &found, NULL, e) < 0)
			return -1;
		if (old_lease)
			*old_lease = found ? kv.lease : 0;
		if (found && only_if_changed && strcmp(kv.value, value) == 0) {
			etcd_kv_free(&kv);
			return 0;
		}
		struct etcd_cmp cmp = { .key = key,
					.target = found ? ETCD_CMP_MOD : ETCD_CMP_CREATE,
					.result = ETCD_CMP_EQUAL,
					.revision = found ? kv.mod_revision : 0 };
		etcd_kv_free(&kv);
		struct etcd_op op = {
			.kind = ETCD_OP_PUT, .key = key, .value = value, .lease = lease
		};
		struct etcd_txn_result res = { 0 };
		int rc = etcd_txn(c, &cmp, 1, &op, 1, NULL, 0, &res, e);
		bool ok = res.succeeded;
		etcd_txn_result_free(&res);
		if (rc < 0)
			return -1;
		if (ok)
			return 0;
	}
	return err_set(e, "%s kept changing", key);
}

int cluster_register(struct agent *a, const char *reason, struct err *e)
{
	struct etcd *c = agent_etcd(a, e);
	if (!c)
		return -1;
	int rc = -1;
	int64_t lease = 0, granted = 0, old_lease = 0;
	char key[256];
	char *hv = host_value(a), *cv = NULL;
	if (!hv) {
		err_set(e, "out of memory");
		goto out;
	}
	if (etcd_lease_grant(c, CLUSTER_LEASE_TTL, &lease, &granted, e) < 0)
		goto out;
	snprintf(key, sizeof(key), "/ferry/hosts/%s", a->conf.name);
	if (cas_put(c, key, hv, lease, false, &old_lease, e) < 0)
		goto out;
	/* the persistent record of the certificate and address, for a later `host remove` */
	json_t *cj = json_object();
	json_set_str(cj, "serial", a->cert_serial);
	json_set_str(cj, "api", a->conf.api);
	cv = json_encode(cj, NULL);
	json_free(cj);
	snprintf(key, sizeof(key), "/ferry/hosts/%s/cert", a->conf.name);
	if (cv && cas_put(c, key, cv, 0, true, NULL, e) < 0)
		log_warn("writing %s: %s", key, e->msg);
	pthread_mutex_lock(&a->reg_lock);
	a->lease = lease;
	a->registered = true;
	pthread_mutex_unlock(&a->reg_lock);

	/* this host's VMs: their state keys under the new lease */
	static struct vm_info infos[AGENT_MAX_VMS];
	pthread_mutex_lock(&a->vms_lock);
	size_t n = a->vms ? vms_list(a->vms, infos, AGENT_MAX_VMS) : 0;
	if (n > AGENT_MAX_VMS)
		n = AGENT_MAX_VMS;
	struct {
		char name[VM_NAME_MAX + 1];
		enum vm_run run;
		pid_t pid;
	} *list = calloc(n ? n : 1, sizeof(*list));
	for (size_t i = 0; list && i < n; i++) {
		memcpy(list[i].name, infos[i].spec.name, sizeof(list[i].name));
		list[i].name[VM_NAME_MAX] = '\0';
		list[i].run = infos[i].run;
		list[i].pid = infos[i].pid;
	}
	pthread_mutex_unlock(&a->vms_lock);
	for (size_t i = 0; list && i < n; i++) {
		if (list[i].run == VM_EXITED)
			continue;
		struct err se;
		char okey[256];
		struct etcd_kv okv = { 0 };
		bool found = false;
		/* Only a VM whose owner key names this host has its state written here: a copy
		 * that is not the owner's (an incoming VM whose move ended while the agent was
		 * away) is dealt with by move_reconcile, and must not claim the VM. */
		snprintf(okey, sizeof(okey), "/ferry/vms/%s/owner", list[i].name);
		if (etcd_get(c, okey, &okv, &found, NULL, &se) == 0) {
			json_t *oj = found ? kv_json(&okv) : NULL;
			bool mine = jstr(oj, "host") && strcmp(jstr(oj, "host"), a->conf.name) == 0;
			json_free(oj);
			etcd_kv_free(&okv);
			if (!mine)
				continue;
		}
		if (put_state(a, c, list[i].name, vm_run_name(list[i].run), list[i].pid, reason,
			      lease, &se) < 0)
			log_error("%s: writing its state: %s", list[i].name, se.msg);
	}
	free(list);
	if (old_lease && old_lease != lease) {
		struct err re;
		if (etcd_lease_revoke(c, old_lease, &re) < 0 &&
		    etcd_last_error(c) != ETCD_ENOTFOUND)
			log_warn("revoking the lease of a previous run: %s", re.msg);
	}
	log_info("registered as %s under lease %llx (%zu VM%s here)", a->conf.name,
		 (unsigned long long)lease, n, n == 1 ? "" : "s");
	rc = 0;
out:
	free(hv);
	free(cv);
	agent_etcd_put(a, c);
	return rc;
}

int cluster_keepalive(struct agent *a, struct err *e)
{
	int64_t lease = cur_lease(a), ttl = 0;
	if (!lease)
		return cluster_register(a, "registered again", e);
	struct etcd *c = agent_etcd(a, e);
	if (!c)
		return -1;
	int rc = etcd_lease_keepalive(c, lease, &ttl, e);
	agent_etcd_put(a, c);
	if (rc < 0)
		return -1;
	if (ttl > 0)
		return 0;
	log_warn("lease %llx is gone: registering again", (unsigned long long)lease);
	pthread_mutex_lock(&a->reg_lock);
	a->registered = false;
	pthread_mutex_unlock(&a->reg_lock);
	if (cluster_register(a, "registered again", e) < 0)
		return -1;
	struct err re;
	if (cluster_reconcile_alloc(a, &re) < 0)
		log_warn("reconciling the alloc key: %s", re.msg);
	return 0;
}

/* The VMs the alloc key admitted here that do not run here (they ended while the agent was
 * away, or their release failed): their state says so, if they still exist. */
static void reconcile_gone(struct agent *a, struct etcd *c, const json_t *old, const json_t *nv,
			   char (*stopping)[VM_NAME_MAX + 1])
{
	const json_t *ov = json_get(old, "vms");
	const char *k;
	json_t *v;
	if (!json_is_object(ov))
		return;
	json_object_foreach((json_t *)ov, k, v)
	{
		if (json_get(json_get(nv, "vms"), k) || name_mark(stopping, k, false))
			continue; /* still runs, or a stop by request writes its own state */
		char key[256];
		struct etcd_kv kv = { 0 };
		bool found = false;
		struct err e;
		snprintf(key, sizeof(key), "/ferry/vms/%s/spec", k);
		if (etcd_get(c, key, &kv, &found, NULL, &e) == 0 && found &&
		    put_state(a, c, k, "exited", 0, "not running here when its agent came back",
			      cur_lease(a), &e) < 0)
			log_warn("%s: writing its state: %s", k, e.msg);
		etcd_kv_free(&kv);
		log_info("%s was admitted here but does not run: its admission released", k);
	}
}

int cluster_reconcile_alloc(struct agent *a, struct err *e)
{
	static struct vm_info infos[AGENT_MAX_VMS];
	static char starting[AGENT_MAX_VMS][VM_NAME_MAX + 1];
	static char stopping[AGENT_MAX_VMS][VM_NAME_MAX + 1];
	struct etcd *c = agent_etcd(a, e);
	if (!c)
		return -1;
	char key[256];
	int rc = -1;
	snprintf(key, sizeof(key), "/ferry/hosts/%s/alloc", a->conf.name);
	for (int t = 0; t < TXN_TRIES; t++) {
		struct etcd_kv kv = { 0 };
		bool found = false;
		if (etcd_get(c, key, &kv, &found, NULL, e) < 0)
			break;
		/* what runs here, listed after the read: a start admitted since then is in flight
		 * (its entry kept below) or runs (listed) */
		pthread_mutex_lock(&a->vms_lock);
		size_t n = a->vms ? vms_list(a->vms, infos, AGENT_MAX_VMS) : 0;
		memcpy(starting, a->starting, sizeof(starting));
		memcpy(stopping, a->stopping, sizeof(stopping));
		pthread_mutex_unlock(&a->vms_lock);
		if (n > AGENT_MAX_VMS)
			n = AGENT_MAX_VMS;
		json_t *old = found ? kv_json(&kv) : NULL;
		json_t *nv = cluster_alloc_with(NULL, "", 0, 0);
		for (size_t i = 0; i < n; i++) {
			if (infos[i].run == VM_EXITED)
				continue;
			json_t *x = cluster_alloc_with(nv, infos[i].spec.name, infos[i].spec.memory,
						       infos[i].spec.vcpus);
			json_free(nv);
			nv = x;
		}
		for (size_t i = 0; i < AGENT_MAX_VMS; i++) {
			const json_t *ent =
			    starting[i][0] ? json_get(json_get(old, "vms"), starting[i]) : NULL;
			uint64_t m = 0, v = 0;
			struct err je;
			if (!ent || json_get_u64(ent, "memory", &m, &je) < 0 ||
			    json_get_u64(ent, "vcpus", &v, &je) < 0 || !m)
				continue;
			json_t *x = cluster_alloc_with(nv, starting[i], m, (unsigned)v);
			json_free(nv);
			nv = x;
		}
		char *text = json_encode(nv, NULL);
		bool same = found && text && strcmp(kv.value, text) == 0;
		struct etcd_cmp cmp = { .key = key,
					.target = found ? ETCD_CMP_MOD : ETCD_CMP_CREATE,
					.result = ETCD_CMP_EQUAL,
					.revision = found ? kv.mod_revision : 0 };
		etcd_kv_free(&kv);
		if (same) {
			json_free(old), json_free(nv);
			free(text);
			rc = 0;
			break;
		}
		if (found)
			log_info(
			    "the alloc key of %s did not match the VMs running here: rewritten",
			    a->conf.name);
		struct etcd_op op = { .kind = ETCD_OP_PUT, .key = key, .value = text };
		struct etcd_txn_result res = { 0 };
		int r = text ? etcd_txn(c, &cmp, 1, &op, 1, NULL, 0, &res, e) : -1;
		bool ok = res.succeeded;
		etcd_txn_result_free(&res);
		free(text);
		if (ok)
			reconcile_gone(a, c, old, nv, stopping);
		json_free(old), json_free(nv);
		if (r < 0)
			break;
		if (ok) {
			rc = 0;
			break;
		}
	}
	agent_etcd_put(a, c);
	return rc;
}

void cluster_note_revoked(struct agent *a, const char *serial)
{
	pthread_mutex_lock(&a->rev_lock);
	bool have = false;
	for (size_t i = 0; i < a->nrevoked; i++)
		have |= strcasecmp(a->revoked[i], serial) == 0;
	if (!have && a->nrevoked < AGENT_MAX_REVOKED)
		snprintf(a->revoked[a->nrevoked++], sizeof(a->revoked[0]), "%s", serial);
	pthread_mutex_unlock(&a->rev_lock);
}

bool cluster_is_revoked(struct agent *a, const char *serial)
{
	pthread_mutex_lock(&a->rev_lock);
	bool have = false;
	for (size_t i = 0; i < a->nrevoked; i++)
		have |= strcasecmp(a->revoked[i], serial) == 0;
	pthread_mutex_unlock(&a->rev_lock);
	return have;
}

int cluster_load_revoked(struct agent *a, struct err *e)
{
	struct etcd *c = agent_etcd(a, e);
	if (!c)
		return -1;
	struct etcd_range r = { 0 };
	int rc = etcd_get_prefix(c, "/ferry/revoked/", 0, &r, e);
	for (size_t i = 0; rc == 0 && i < r.n; i++)
		cluster_note_revoked(a, r.kvs[i].key + 15);
	etcd_range_free(&r);
	agent_etcd_put(a, c);
	return rc;
}

/* ---- objects -------------------------------------------------------------------------------- */

static json_t *host_json(const struct snap *s, const char *h)
{
	json_t *hv = kv_json(snap_find(s, "/ferry/hosts/%s", h));
	json_t *alloc = kv_json(snap_find(s, "/ferry/hosts/%s/alloc", h));
	json_t *cert = kv_json(snap_find(s, "/ferry/hosts/%s/cert", h));
	json_t *j = json_object();
	json_set_str(j, "name", h);
	json_set_bool(j, "alive", hv != NULL);
	json_set_str(j, "state", hv && jstr(hv, "state") ? jstr(hv, "state") : "down");
	const char *api = jstr(hv, "api") ? jstr(hv, "api") : jstr(cert, "api");
	json_set(j, "api", json_text(api));
	json_t *cap = json_get(hv, "capacity");
	json_set(j, "capacity", cap ? json_incref(cap) : json_null());
	uint64_t um;
	unsigned uv;
	cluster_alloc_used(alloc, &um, &uv);
	json_t *used = json_object();
	json_set_u64(used, "memory", um);
	json_set_int(used, "vcpus", uv);
	json_set(j, "used", used);
	json_t *vms = json_array();
	const json_t *av = json_get(alloc, "vms");
	const char *k;
	json_t *v;
	if (json_is_object(av))
		json_object_foreach((json_t *)av, k, v) json_push(vms, json_text(k));
	json_set(j, "vms", vms);
	json_t *mig = json_get(hv, "migration");
	json_set(j, "migration", mig ? json_incref(mig) : json_object());
	if (jstr(hv, "version"))
		json_set_str(j, "version", jstr(hv, "version"));
	json_free(hv);
	json_free(alloc);
	json_free(cert);
	return j;
}

static json_t *vm_json(const struct snap *s, const char *v)
{
	json_t *spec = kv_json(snap_find(s, "/ferry/vms/%s/spec", v));
	json_t *owner = kv_json(snap_find(s, "/ferry/vms/%s/owner", v));
	json_t *st = kv_json(snap_find(s, "/ferry/vms/%s/state", v));
	json_t *j = json_object();
	json_set_str(j, "name", v);
	json_set(j, "spec", spec ? spec : json_object());
	const char *oh = jstr(owner, "host");
	const char *state = cluster_vm_state(jstr(st, "state"), oh, host_alive(s, oh));
	json_set_str(j, "state", state);
	const char *host = jstr(st, "host") ? jstr(st, "host") : oh;
	json_set(j, "host", json_text(host));
	int64_t pid = 0;
	struct err e;
	json_get_int(st, "pid", &pid, &e);
	bool runs = strcmp(state, "running") == 0 || strcmp(state, "paused") == 0 ||
		    strcmp(state, "starting") == 0;
	if (runs && pid > 0)
		json_set_int(j, "pid", pid);
	else
		json_set(j, "pid", json_null());
	json_set(j, "since", json_text(jstr(st, "since")));
	if (jstr(st, "reason") && *jstr(st, "reason"))
		json_set_str(j, "reason", jstr(st, "reason"));
	if (strcmp(state, "lost") == 0)
		json_set_str(j, "reason", "its host's agent is gone: it may still run there");
	json_free(owner);
	json_free(st);
	return j;
}

/* ---- requests ------------------------------------------------------------------------------- */

static int with_snap(struct agent *a, struct etcd **c, struct snap *s, struct aerr *ae)
{
	*c = borrow(a, ae);
	if (!*c)
		return -1;
	if (snap_load(*c, s, ae) < 0) {
		agent_etcd_put(a, *c);
		*c = NULL;
		return -1;
	}
	return 0;
}

int cluster_vm_get(struct agent *a, const char *name, json_t **out, struct aerr *ae)
{
	struct etcd *c;
	struct snap s;
	if (with_snap(a, &c, &s, ae) < 0)
		return -1;
	int rc = 0;
	if (!snap_find(&s, "/ferry/vms/%s/spec", name))
		rc = aerr_set(ae, 404, "no VM named '%s'", name);
	else
		*out = vm_json(&s, name);
	snap_free(&s);
	agent_etcd_put(a, c);
	return rc;
}

int cluster_vm_list(struct agent *a, json_t **out, struct aerr *ae)
{
	struct etcd *c;
	struct snap s;
	char name[128];
	if (with_snap(a, &c, &s, ae) < 0)
		return -1;
	json_t *arr = json_array();
	for (size_t i = 0; i < s.r.n; i++) {
		const char *k = key_kind(s.r.kvs[i].key, name);
		if (k && strcmp(k, "spec") == 0)
			json_push(arr, vm_json(&s, name));
	}
	*out = json_object();
	json_set(*out, "vms", arr);
	snap_free(&s);
	agent_etcd_put(a, c);
	return 0;
}

int cluster_host_list(struct agent *a, json_t **out, struct aerr *ae)
{
	struct etcd *c;
	struct snap s;
	char name[128], prev[128] = "";
	if (with_snap(a, &c, &s, ae) < 0)
		return -1;
	json_t *arr = json_array();
	for (size_t i = 0; i < s.r.n; i++) {
		const char *k = key_kind(s.r.kvs[i].key, name);
		if (!k || (strcmp(k, "host") && strcmp(k, "alloc") && strcmp(k, "cert")))
			continue;
		if (strcmp(name, prev) == 0)
			continue; /* keys are sorted: a host's keys are together */
		snprintf(prev, sizeof(prev), "%s", name);
		json_push(arr, host_json(&s, name));
	}
	*out = json_object();
	json_set(*out, "hosts", arr);
	snap_free(&s);
	agent_etcd_put(a, c);
	return 0;
}

static bool host_known(const struct snap *s, const char *h)
{
	return snap_find(s, "/ferry/hosts/%s", h) || snap_find(s, "/ferry/hosts/%s/alloc", h) ||
	       snap_find(s, "/ferry/hosts/%s/cert", h);
}

int cluster_host_get(struct agent *a, const char *name, json_t **out, struct aerr *ae)
{
	struct etcd *c;
	struct snap s;
	if (with_snap(a, &c, &s, ae) < 0)
		return -1;
	int rc = 0;
	if (!host_known(&s, name))
		rc = aerr_set(ae, 404, "no host named '%s'", name);
	else
		*out = host_json(&s, name);
	snap_free(&s);
	agent_etcd_put(a, c);
	return rc;
}

int cluster_host_api(struct agent *a, const char *host, char api[128], struct aerr *ae)
{
	struct etcd *c;
	struct snap s;
	if (with_snap(a, &c, &s, ae) < 0)
		return -1;
	int rc = 0;
	json_t *hv = kv_json(snap_find(&s, "/ferry/hosts/%s", host));
	if (!host_known(&s, host))
		rc = aerr_set(ae, 404, "no host named '%s'", host);
	else if (!hv || !jstr(hv, "api"))
		rc = aerr_set(ae, 409, "host %s is down (its agent holds no lease)", host);
	else
		snprintf(api, 128, "%s", jstr(hv, "api"));
	json_free(hv);
	snap_free(&s);
	agent_etcd_put(a, c);
	return rc;
}

int cluster_vm_target(struct agent *a, const char *vm, bool for_start, const char *on,
		      char host[64], char api[128], bool *self, struct aerr *ae)
{
	struct etcd *c;
	struct snap s;
	if (with_snap(a, &c, &s, ae) < 0)
		return -1;
	int rc = -1;
	json_t *owner = kv_json(snap_find(&s, "/ferry/vms/%s/owner", vm));
	json_t *st = kv_json(snap_find(&s, "/ferry/vms/%s/state", vm));
	json_t *hv = NULL;
	const char *oh = jstr(owner, "host");
	const char *t;
	if (!snap_find(&s, "/ferry/vms/%s/spec", vm)) {
		aerr_set(ae, 404, "no VM named '%s'", vm);
		goto out;
	}
	if (for_start && on)
		t = on;
	else if (oh)
		t = oh;
	else if (for_start)
		t = a->conf.name;
	else {
		aerr_set(ae, 409, "%s has never run", vm);
		goto out;
	}
	if (for_start && on && jstr(st, "state") && jstr(st, "host") &&
	    strcmp(jstr(st, "host"), on) != 0 &&
	    strcmp(cluster_vm_state(jstr(st, "state"), oh, true), "stopped") != 0) {
		aerr_set(ae, 409, "%s runs on %s", vm, jstr(st, "host"));
		goto out;
	}
	snprintf(host, 64, "%s", t);
	*self = strcmp(t, a->conf.name) == 0;
	hv = kv_json(snap_find(&s, "/ferry/hosts/%s", t));
	if (*self) {
		snprintf(api, 128, "%s", a->conf.api);
	} else if (!host_known(&s, t)) {
		aerr_set(ae, 404, "no host named '%s'", t);
		goto out;
	} else if (!hv || !jstr(hv, "api")) {
		if (for_start && !on)
			aerr_set(ae, 409,
				 "%s last ran on %s, whose agent is gone (the VM may still run "
				 "there): start it with \"on\" to choose a host",
				 vm, t);
		else
			aerr_set(ae, 409, "host %s is down (its agent holds no lease)", t);
		goto out;
	} else {
		snprintf(api, 128, "%s", jstr(hv, "api"));
	}
	rc = 0;
out:
	json_free(owner);
	json_free(st);
	json_free(hv);
	snap_free(&s);
	agent_etcd_put(a, c);
	return rc;
}

int cluster_vm_create(struct agent *a, const json_t *body, json_t **out, struct aerr *ae)
{
	struct vm_spec spec;
	if (cluster_spec_from_request(body, &spec, ae) < 0)
		return -1;
	struct etcd *c = borrow(a, ae);
	if (!c)
		return -1;
	int rc = -1;
	char skey[256], mkey[256];
	snprintf(skey, sizeof(skey), "/ferry/vms/%s/spec", spec.name);
	for (int t = 0; t < TXN_TRIES && rc < 0; t++) {
		struct err e;
		cluster_random_mac(spec.mac);
		snprintf(mkey, sizeof(mkey), "/ferry/macs/%s", spec.mac);
		json_t *sj = cluster_spec_to_json(&spec);
		char *text = json_encode(sj, NULL);
		json_free(sj);
		json_t *mj = json_object();
		json_set_str(mj, "vm", spec.name);
		char *mtext = json_encode(mj, NULL);
		json_free(mj);
		struct etcd_cmp cmp[2] = {
			{ .key = skey, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL },
			{ .key = mkey, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL }
		};
		struct etcd_op ops[2] = { { .kind = ETCD_OP_PUT, .key = skey, .value = text },
					  { .kind = ETCD_OP_PUT, .key = mkey, .value = mtext } };
		struct etcd_op fail = { .kind = ETCD_OP_GET, .key = skey };
		struct etcd_txn_result res = { 0 };
		int r = text && mtext ? etcd_txn(c, cmp, 2, ops, 2, &fail, 1, &res, &e) : -1;
		free(text);
		free(mtext);
		if (r < 0) {
			etcd_txn_result_free(&res);
			aerr_set(ae, 503, "the cluster store cannot be reached: %s", e.msg);
			break;
		}
		bool ok = res.succeeded;
		bool exists = !ok && res.nranges > 0 && res.ranges[0].n > 0;
		etcd_txn_result_free(&res);
		if (ok) {
			rc = 0;
		} else if (exists) {
			aerr_set(ae, 409, "a VM named '%s' exists already", spec.name);
			break;
		}
		/* else the MAC was taken: draw another */
	}
	if (rc < 0 && ae->status == 0)
		aerr_set(ae, 500, "no free MAC address found for %s", spec.name);
	agent_etcd_put(a, c);
	if (rc == 0) {
		*out = json_object();
		json_set_str(*out, "name", spec.name);
		json_set(*out, "spec", cluster_spec_to_json(&spec));
		json_set_str(*out, "state", "stopped");
		json_set(*out, "host", json_null());
		json_set(*out, "pid", json_null());
		json_set(*out, "since", json_null());
	}
	return rc;
}

int cluster_vm_remove(struct agent *a, const char *name, struct aerr *ae)
{
	struct etcd *c = borrow(a, ae);
	if (!c)
		return -1;
	int rc = -1;
	char skey[256], okey[256], stkey[256], mkey[256];
	snprintf(skey, sizeof(skey), "/ferry/vms/%s/spec", name);
	snprintf(okey, sizeof(okey), "/ferry/vms/%s/owner", name);
	snprintf(stkey, sizeof(stkey), "/ferry/vms/%s/state", name);
	for (int t = 0; t < TXN_TRIES; t++) {
		struct snap s;
		struct err e;
		if (snap_load(c, &s, ae) < 0)
			break;
		const struct etcd_kv *sp = snap_find(&s, "%s", skey);
		const struct etcd_kv *ow = snap_find(&s, "%s", okey);
		const struct etcd_kv *st = snap_find(&s, "%s", stkey);
		if (!sp) {
			snap_free(&s);
			aerr_set(ae, 404, "no VM named '%s'", name);
			break;
		}
		json_t *vj = vm_json(&s, name);
		const char *state = jstr(vj, "state");
		if (strcmp(state, "stopped") != 0) {
			aerr_set(ae, 409, "%s is %s%s%s: stop it first", name, state,
				 jstr(vj, "host") ? " on " : "",
				 jstr(vj, "host") ? jstr(vj, "host") : "");
			json_free(vj);
			snap_free(&s);
			break;
		}
		json_free(vj);
		json_t *sj = kv_json(sp);
		const char *mac = jstr(sj, "mac");
		snprintf(mkey, sizeof(mkey), "/ferry/macs/%s", mac ? mac : "none");
		json_free(sj);
		struct etcd_cmp cmp[3] = {
			{ .key = skey, .target = ETCD_CMP_MOD, .revision = sp->mod_revision },
			{ .key = okey,
			  .target = ow ? ETCD_CMP_MOD : ETCD_CMP_CREATE,
			  .revision = ow ? ow->mod_revision : 0 },
			{ .key = stkey,
			  .target = st ? ETCD_CMP_MOD : ETCD_CMP_CREATE,
			  .revision = st ? st->mod_revision : 0 }
		};
		struct etcd_op ops[4] = { { .kind = ETCD_OP_DELETE, .key = skey },
					  { .kind = ETCD_OP_DELETE, .key = okey },
					  { .kind = ETCD_OP_DELETE, .key = stkey },
					  { .kind = ETCD_OP_DELETE, .key = mkey } };
		struct etcd_txn_result res = { 0 };
		int r = etcd_txn(c, cmp, 3, ops, 4, NULL, 0, &res, &e);
		bool ok = res.succeeded;
		etcd_txn_result_free(&res);
		snap_free(&s);
		if (r < 0) {
			aerr_set(ae, 503, "the cluster store cannot be reached: %s", e.msg);
			break;
		}
		if (ok) {
			rc = 0;
			break;
		}
	}
	if (rc < 0 && ae->status == 0)
		aerr_set(ae, 409, "%s kept changing while it was being removed", name);
	agent_etcd_put(a, c);
	return rc;
}

/* A small set of names (under vms_lock): set adds name, else it is taken out. Returns whether
 * it was there. */
static bool name_mark(char (*set)[VM_NAME_MAX + 1], const char *name, bool add)
{
	for (size_t i = 0; i < AGENT_MAX_VMS; i++)
		if (strcmp(set[i], name) == 0) {
			if (!add)
				set[i][0] = '\0';
			return true;
		}
	if (add)
		for (size_t i = 0; i < AGENT_MAX_VMS; i++)
			if (!set[i][0]) {
				snprintf(set[i], sizeof(set[i]), "%s", name);
				break;
			}
	return false;
}

static bool stopping_take(struct agent *a, const char *name, bool set)
{
	return name_mark(a->stopping, name, set);
}

static void starting_mark(struct agent *a, const char *name, bool add)
{
	pthread_mutex_lock(&a->vms_lock);
	name_mark(a->starting, name, add);
	pthread_mutex_unlock(&a->vms_lock);
}

void agent_stopping_mark(struct agent *a, const char *name)
{
	stopping_take(a, name, true);
}

bool agent_stopping_take(struct agent *a, const char *name)
{
	return stopping_take(a, name, false);
}

int cluster_vm_start_local(struct agent *a, const char *name, json_t **out, struct aerr *ae)
{
	struct etcd *c = borrow(a, ae);
	if (!c)
		return -1;
	const char *me = a->conf.name;
	int rc = -1;
	bool admitted = false;
	int64_t owner_rev = 0; /* the owner key's mod_revision once admitted: the VM's token */
	struct vm_spec spec;
	char akey[256], okey[256];
	snprintf(akey, sizeof(akey), "/ferry/hosts/%s/alloc", me);
	snprintf(okey, sizeof(okey), "/ferry/vms/%s/owner", name);
	int64_t lease = cur_lease(a);
	if (!lease) {
		aerr_set(ae, 503, "%s is not registered in the cluster store yet", me);
		goto out;
	}
	{
		struct vm_info vi;
		pthread_mutex_lock(&a->vms_lock);
		int here = vms_get(a->vms, name, &vi);
		pthread_mutex_unlock(&a->vms_lock);
		if (here == 0 && vi.run != VM_EXITED) {
			aerr_set(ae, 409, "%s runs on %s", name, me);
			goto out;
		}
	}
	starting_mark(a, name, true);
	for (int t = 0; t < TXN_TRIES && !admitted; t++) {
		struct snap s;
		struct err e;
		if (snap_load(c, &s, ae) < 0)
			goto out;
		const struct etcd_kv *sp = snap_find(&s, "/ferry/vms/%s/spec", name);
		const struct etcd_kv *al = snap_find(&s, "%s", akey);
		const struct etcd_kv *ow = snap_find(&s, "%s", okey);
		json_t *sj = kv_json(sp), *st = kv_json(snap_find(&s, "/ferry/vms/%s/state", name));
		json_t *aj = kv_json(al), *oj = kv_json(ow);
		json_t *hv = kv_json(snap_find(&s, "/ferry/hosts/%s", me));
		int bad = 0;
		const char *state = jstr(st, "state");
		if (!sp) {
			bad = aerr_set(ae, 404, "no VM named '%s'", name);
		} else if (cluster_spec_from_json(name, sj, &spec, &e) < 0) {
			bad = aerr_set(ae, 500, "the spec of %s: %s", name, e.msg);
		} else if (state &&
			   (strcmp(state, "starting") == 0 || strcmp(state, "running") == 0 ||
			    strcmp(state, "paused") == 0)) {
			bad = aerr_set(ae, 409, "%s runs on %s", name,
				       jstr(st, "host") ? jstr(st, "host") : "another host");
		} else {
			const char *oh = jstr(oj, "host");
			if (oh && strcmp(oh, me) != 0 && !state && host_alive(&s, oh) == false)
				log_warn("%s: taking it over from %s, whose agent is gone", name,
					 oh);
			uint64_t um;
			unsigned uv;
			json_t *rest =
			    cluster_alloc_with(aj, name, 0, 0); /* without a stale entry */
			cluster_alloc_used(rest, &um, &uv);
			json_free(rest);
			if (cluster_admit(me, a->conf.memory, a->conf.vcpus, um, uv, &spec, ae) < 0)
				bad = -1;
		}
		if (bad < 0) {
			json_free(sj), json_free(st), json_free(aj), json_free(oj), json_free(hv);
			snap_free(&s);
			goto out;
		}
		json_t *na = cluster_alloc_with(aj, name, spec.memory, spec.vcpus);
		char *atext = json_encode(na, NULL);
		json_free(na);
		bool owner_changes = !jstr(oj, "host") || strcmp(jstr(oj, "host"), me) != 0;
		json_t *no = json_object();
		json_set_str(no, "host", me);
		json_set(no, "migration", json_null());
		char *otext = json_encode(no, NULL);
		json_free(no);
		char since[32], stkey[256];
		events_time_now(since);
		json_t *ns = json_object();
		json_set_str(ns, "state", "starting");
		json_set_str(ns, "host", me);
		json_set_int(ns, "pid", 0);
		json_set_str(ns, "since", since);
		json_set_str(ns, "reason", "start requested");
		char *sttext = json_encode(ns, NULL);
		json_free(ns);
		snprintf(stkey, sizeof(stkey), "/ferry/vms/%s/state", name);
		struct etcd_cmp cmp[3] = {
			{ .key = akey,
			  .target = al ? ETCD_CMP_MOD : ETCD_CMP_CREATE,
			  .revision = al ? al->mod_revision : 0 },
			{ .key = okey,
			  .target = ow ? ETCD_CMP_MOD : ETCD_CMP_CREATE,
			  .revision = ow ? ow->mod_revision : 0 },
			{ .key = sp->key, .target = ETCD_CMP_MOD, .revision = sp->mod_revision }
		};
		struct etcd_op ops[3];
		size_t nops = 0;
		ops[nops++] = (struct etcd_op){ .kind = ETCD_OP_PUT, .key = akey, .value = atext };
		ops[nops++] = (struct etcd_op){
			.kind = ETCD_OP_PUT, .key = stkey, .value = sttext, .lease = lease
		};
		if (owner_changes)
			ops[nops++] =
			    (struct etcd_op){ .kind = ETCD_OP_PUT, .key = okey, .value = otext };
		struct etcd_txn_result res = { 0 };
		int r = atext && otext && sttext ? etcd_txn(c, cmp, 3, ops, nops, NULL, 0, &res, &e)
						 : err_set(&e, "out of memory");
		admitted = r == 0 && res.succeeded;
		if (admitted)
			owner_rev = owner_changes ? res.revision : ow->mod_revision;
		etcd_txn_result_free(&res);
		free(atext), free(otext), free(sttext);
		json_free(sj), json_free(st), json_free(aj), json_free(oj), json_free(hv);
		snap_free(&s);
		if (r < 0) {
			aerr_set(ae, 503, "the cluster store cannot be reached: %s", e.msg);
			goto out;
		}
	}
	if (!admitted) {
		aerr_set(ae, 409, "%s: other agents kept changing its records; try again", name);
		goto out;
	}
	struct err e;
	struct vm_info vi = { 0 };
	pthread_mutex_lock(&a->vms_lock);
	stopping_take(a, name, false);
	vms_forget(a->vms, name, &e); /* an exited copy of the same name, if any */
	struct vms_start_opts so = { .owner_agent = spec.disk[0] != 0,
				     .owner_token = (uint64_t)owner_rev };
	int sr = vms_start(a->vms, &spec, &so, &e);
	if (sr == 0)
		vms_get(a->vms, name, &vi);
	name_mark(a->starting, name, false);
	pthread_mutex_unlock(&a->vms_lock);
	if (sr < 0) {
		char reason[600];
		snprintf(reason, sizeof(reason), "did not start: %s", e.msg);
		struct err e2;
		if (alloc_set(a, c, name, 0, 0, &e2) < 0)
			log_error("%s: releasing its allocation: %s", name, e2.msg);
		if (put_state(a, c, name, "stopped", 0, reason, lease, &e2) < 0)
			log_error("%s: writing its state: %s", name, e2.msg);
		aerr_set(ae, 500, "%s %s", name, reason);
		ae->code = "start_failed";
		goto out;
	}
	if (put_state(a, c, name, "running", vi.pid, "started", lease, &e) < 0)
		log_error("%s: writing its state: %s", name, e.msg);
	rc = 0;
out:
	starting_mark(a, name, false);
	agent_etcd_put(a, c);
	if (rc == 0)
		return cluster_vm_get(a, name, out, ae);
	return rc;
}

int cluster_vm_stop_local(struct agent *a, const char *name, json_t **out, struct aerr *ae)
{
	struct vm_info vi;
	struct err e;
	pthread_mutex_lock(&a->vms_lock);
	int here = vms_get(a->vms, name, &vi);
	if (here < 0 || vi.run == VM_EXITED) {
		pthread_mutex_unlock(&a->vms_lock);
		/* not running here: its record may still say so (a VM that died with no report) */
		json_t *vj = NULL;
		if (cluster_vm_get(a, name, &vj, ae) < 0)
			return -1;
		const char *st = jstr(vj, "state"), *h = jstr(vj, "host");
		if (h && strcmp(h, a->conf.name) == 0 && strcmp(st, "stopped") != 0) {
			json_free(vj);
			cluster_vm_ended(a, name, "stopped", "not running here any more");
			return cluster_vm_get(a, name, out, ae);
		}
		json_free(vj);
		return aerr_set(ae, 409, "%s is not running", name);
	}
	stopping_take(a, name, true);
	int r = vms_stop(a->vms, name, &e);
	if (r == 0)
		vms_forget(a->vms, name, &(struct err){ { 0 } });
	pthread_mutex_unlock(&a->vms_lock);
	if (r < 0)
		return aerr_set(ae, 500, "stopping %s: %s", name, e.msg);
	cluster_vm_ended(a, name, "stopped", "stopped by request (hard power-off)");
	return cluster_vm_get(a, name, out, ae);
}

int cluster_host_remove(struct agent *a, const char *name, struct aerr *ae)
{
	if (strcmp(name, a->conf.name) == 0)
		return aerr_set(
		    ae, 409,
		    "%s is the host answering: stop its agent and remove it from another "
		    "host",
		    name);
	struct etcd *c = borrow(a, ae);
	if (!c)
		return -1;
	int rc = -1;
	char hkey[256], akey[256], ckey[256], rkey[256];
	snprintf(hkey, sizeof(hkey), "/ferry/hosts/%s", name);
	snprintf(akey, sizeof(akey), "/ferry/hosts/%s/alloc", name);
	snprintf(ckey, sizeof(ckey), "/ferry/hosts/%s/cert", name);
	for (int t = 0; t < TXN_TRIES; t++) {
		struct snap s;
		struct err e;
		if (snap_load(c, &s, ae) < 0)
			break;
		const struct etcd_kv *hk = snap_find(&s, "%s", hkey);
		const struct etcd_kv *ak = snap_find(&s, "%s", akey);
		const struct etcd_kv *ck = snap_find(&s, "%s", ckey);
		if (!host_known(&s, name)) {
			snap_free(&s);
			aerr_set(ae, 404, "no host named '%s'", name);
			break;
		}
		json_t *aj = kv_json(ak), *hj = kv_json(hk), *cj = kv_json(ck);
		uint64_t um;
		unsigned uv;
		cluster_alloc_used(aj, &um, &uv);
		const json_t *avms = json_get(aj, "vms");
		size_t nvms = json_is_object(avms) ? json_object_size(avms) : 0;
		const char *serial =
		    jstr(hj, "cert_serial") ? jstr(hj, "cert_serial") : jstr(cj, "serial");
		if (hk && nvms) {
			aerr_set(ae, 409, "%s is alive and runs %zu VM%s: stop or move them first",
				 name, nvms, nvms == 1 ? "" : "s");
			json_free(aj), json_free(hj), json_free(cj);
			snap_free(&s);
			break;
		}
		char time[32];
		events_time_now(time);
		json_t *rj = json_object();
		json_set_str(rj, "host", name);
		json_set_str(rj, "time", time);
		char *rtext = json_encode(rj, NULL);
		json_free(rj);
		snprintf(rkey, sizeof(rkey), "/ferry/revoked/%s", serial && *serial ? serial : "");
		struct etcd_cmp cmp[3] = { { .key = hkey,
					     .target = hk ? ETCD_CMP_MOD : ETCD_CMP_CREATE,
					     .revision = hk ? hk->mod_revision : 0 },
					   { .key = akey,
					     .target = ak ? ETCD_CMP_MOD : ETCD_CMP_CREATE,
					     .revision = ak ? ak->mod_revision : 0 },
					   { .key = ckey,
					     .target = ck ? ETCD_CMP_MOD : ETCD_CMP_CREATE,
					     .revision = ck ? ck->mod_revision : 0 } };
		struct etcd_op ops[4];
		size_t nops = 0;
		ops[nops++] = (struct etcd_op){ .kind = ETCD_OP_DELETE, .key = hkey };
		ops[nops++] = (struct etcd_op){ .kind = ETCD_OP_DELETE, .key = akey };
		ops[nops++] = (struct etcd_op){ .kind = ETCD_OP_DELETE, .key = ckey };
		if (serial && *serial)
			ops[nops++] =
			    (struct etcd_op){ .kind = ETCD_OP_PUT, .key = rkey, .value = rtext };
		else
			log_warn("host %s: no certificate serial recorded, nothing to revoke",
				 name);
		struct etcd_txn_result res = { 0 };
		int r = rtext ? etcd_txn(c, cmp, 3, ops, nops, NULL, 0, &res, &e) : -1;
		bool ok = res.succeeded;
		etcd_txn_result_free(&res);
		free(rtext);
		if (ok && serial && *serial)
			cluster_note_revoked(a, serial);
		json_free(aj), json_free(hj), json_free(cj);
		snap_free(&s);
		if (r < 0) {
			aerr_set(ae, 503, "the cluster store cannot be reached: %s", e.msg);
			break;
		}
		if (ok) {
			rc = 0;
			break;
		}
	}
	if (rc < 0 && ae->status == 0)
		aerr_set(ae, 409, "%s kept changing while it was being removed", name);
	agent_etcd_put(a, c);
	return rc;
}

int cluster_status(struct agent *a, json_t **out, struct aerr *ae)
{
	struct etcd *c = borrow(a, ae);
	if (!c)
		return -1;
	struct etcd_member m[ETCD_MAX_MEMBERS];
	size_t n = 0;
	struct err e;
	if (etcd_members(c, m, ETCD_MAX_MEMBERS, &n, &e) < 0) {
		agent_etcd_put(a, c);
		return aerr_set(ae, 503, "the cluster store cannot be reached: %s", e.msg);
	}
	if (n > ETCD_MAX_MEMBERS)
		n = ETCD_MAX_MEMBERS;
	etcd_member_status(c, m, n);
	agent_etcd_put(a, c);
	json_t *j = json_object();
	json_set_str(j, "name", a->conf.cluster);
	json_t *arr = json_array();
	size_t reach = 0;
	const char *leader = NULL;
	for (size_t i = 0; i < n; i++) {
		char id[20];
		snprintf(id, sizeof(id), "%llx", (unsigned long long)m[i].id);
		json_t *mj = json_object();
		json_set_str(mj, "name", m[i].name);
		json_set_str(mj, "id", id);
		json_set_str(mj, "client_url", m[i].client_url);
		json_set_bool(mj, "reachable", m[i].reachable);
		json_set_bool(mj, "leader", m[i].is_leader);
		json_push(arr, mj);
		reach += m[i].reachable;
		if (m[i].is_leader)
			leader = m[i].name;
	}
	json_set(j, "members", arr);
	json_set(j, "leader", json_text(leader));
	json_t *q = json_object();
	json_set_int(q, "members", (int64_t)n);
	json_set_int(q, "reachable", (int64_t)reach);
	json_set_int(q, "needed", (int64_t)(n / 2 + 1));
	json_set_bool(q, "ok", n > 0 && reach >= n / 2 + 1);
	json_set(j, "quorum", q);
	json_t *hosts = NULL;
	struct aerr hae = { 0 };
	if (cluster_host_list(a, &hosts, &hae) == 0) {
		json_t *ha = json_get(hosts, "hosts");
		json_set(j, "hosts", json_incref(ha));
		json_free(hosts);
	} else {
		json_set(j, "hosts", json_array());
	}
	*out = j;
	return 0;
}
