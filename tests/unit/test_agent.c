/* test_agent.c - the agent's pure parts: request validation, state derivation, admission,
 * the alloc value, the watch's events, the event ring and SSE, the API's error objects. */
#include "harness.h"

#include <string.h>

#include "agent/api.h"
#include "agent/cluster.h"
#include "agent/events.h"
#include "common/json.h"

static json_t *J(const char *text)
{
	struct err e;
	json_t *j = json_parse(text, strlen(text), &e);
	assert_non_null(j);
	return j;
}

/* The body is refused with 400 and a message containing want. */
static void refused(const char *body, const char *want)
{
	struct vm_spec s;
	struct aerr ae = { 0 };
	json_t *j = J(body);
	assert_int_equal(cluster_spec_from_request(j, &s, &ae), -1);
	assert_int_equal(ae.status, 400);
	if (!strstr(ae.msg, want))
		fail_msg("'%s' gave '%s', expected '%s' in it", body, ae.msg, want);
	json_free(j);
}

static void test_spec_accepted(void **state)
{
	(void)state;
	struct vm_spec s;
	struct aerr ae = { 0 };
	json_t *j = J("{\"name\": \"CL7\", \"memory\": \"256M\", \"kernel\": \"/srv/Image\", "
		      "\"disk\": \"/srv/cl7.img\", \"append\": \"console=ttyS0\", \"isa\": "
		      "\"rv64imac\", \"initrd\": \"/srv/initramfs.cpio\"}");
	assert_int_equal(cluster_spec_from_request(j, &s, &ae), 0);
	assert_string_equal(s.name, "cl7");
	assert_true(s.memory == 256ULL << 20);
	assert_int_equal(s.vcpus, 1);
	assert_string_equal(s.kernel, "/srv/Image");
	assert_string_equal(s.disk, "/srv/cl7.img");
	assert_string_equal(s.initrd, "/srv/initramfs.cpio");
	assert_string_equal(s.append, "console=ttyS0");
	assert_string_equal(s.isa, "rv64imac");
	assert_string_equal(s.mac, "");
	json_free(j);

	j = J("{\"name\": \"a\", \"memory\": 16777216, \"vcpus\": 8, \"kernel\": \"/k\"}");
	assert_int_equal(cluster_spec_from_request(j, &s, &ae), 0);
	assert_true(s.memory == 16u << 20);
	assert_int_equal(s.vcpus, 8);
	json_free(j);
}

static void test_spec_refused(void **state)
{
	(void)state;
	refused("[1]", "must be a JSON object");
	refused("{\"name\": \"cl7\", \"memory\": \"256M\", \"kernel\": \"/k\", \"cpus\": 2}",
		"unknown member 'cpus'");
	refused("{\"memory\": \"256M\", \"kernel\": \"/k\"}", "'name' is required");
	refused("{\"name\": 7, \"memory\": \"256M\", \"kernel\": \"/k\"}",
		"'name' must be a string");
	refused("{\"name\": \"cl_7\", \"memory\": \"256M\", \"kernel\": \"/k\"}",
		"'_' at position 3");
	refused("{\"name\": \"cl7\", \"kernel\": \"/k\"}", "'memory' is required");
	refused("{\"name\": \"cl7\", \"memory\": \"12Q\", \"kernel\": \"/k\"}",
		"unknown suffix 'Q'");
	refused("{\"name\": \"cl7\", \"memory\": true, \"kernel\": \"/k\"}", "must be a size");
	refused("{\"name\": \"cl7\", \"memory\": -4096, \"kernel\": \"/k\"}",
		"must not be negative");
	refused("{\"name\": \"cl7\", \"memory\": 4096, \"kernel\": \"/k\"}", "at least 1 MiB");
	refused("{\"name\": \"cl7\", \"memory\": 1048577, \"kernel\": \"/k\"}",
		"multiple of 4 KiB");
	refused("{\"name\": \"cl7\", \"memory\": \"1M\", \"vcpus\": 0, \"kernel\": \"/k\"}",
		"'vcpus' must be 1 to 8, not 0");
	refused("{\"name\": \"cl7\", \"memory\": \"1M\", \"vcpus\": 9, \"kernel\": \"/k\"}",
		"not 9");
	refused("{\"name\": \"cl7\", \"memory\": \"1M\", \"vcpus\": \"2\", \"kernel\": \"/k\"}",
		"'vcpus' must be an integer");
	refused("{\"name\": \"cl7\", \"memory\": \"1M\"}", "'kernel' is required");
	refused("{\"name\": \"cl7\", \"memory\": \"1M\", \"kernel\": \"Image\"}",
		"'kernel' must be an absolute path");
	refused("{\"name\": \"cl7\", \"memory\": \"1M\", \"kernel\": \"/k\", \"disk\": \"x.img\"}",
		"'disk' must be an absolute path");
	refused("{\"name\": \"cl7\", \"memory\": \"1M\", \"kernel\": \"/k\", \"isa\": \"RV64;\"}",
		"not an ISA string");
	char big[1200 + 100];
	strcpy(big, "{\"name\": \"cl7\", \"memory\": \"1M\", \"kernel\": \"/k\", \"append\": \"");
	size_t n = strlen(big);
	memset(big + n, 'x', 1100);
	strcpy(big + n + 1100, "\"}");
	refused(big, "'append' is too long");
}

static void test_spec_roundtrip(void **state)
{
	(void)state;
	struct vm_spec s, t;
	struct aerr ae = { 0 };
	struct err e;
	json_t *j = J("{\"name\": \"cl7\", \"memory\": \"256M\", \"vcpus\": 2, \"kernel\": \"/k\", "
		      "\"append\": \"a b\"}");
	assert_int_equal(cluster_spec_from_request(j, &s, &ae), 0);
	json_free(j);
	cluster_random_mac(s.mac);
	assert_int_equal(strncmp(s.mac, "02:fe:", 6), 0);
	assert_int_equal(strlen(s.mac), 17);
	json_t *stored = cluster_spec_to_json(&s);
	assert_null(json_get(stored, "name"));
	assert_int_equal(cluster_spec_from_json("cl7", stored, &t, &e), 0);
	assert_memory_equal(&s, &t, sizeof(s));
	json_free(stored);
	json_t *bad = J("{\"memory\": \"x\"}");
	assert_int_equal(cluster_spec_from_json("cl7", bad, &t, &e), -1);
	json_free(bad);
}

static void test_vm_state(void **state)
{
	(void)state;
	assert_string_equal(cluster_vm_state("running", "vh01", true), "running");
	assert_string_equal(cluster_vm_state("starting", "vh01", true), "starting");
	assert_string_equal(cluster_vm_state("exited", "vh01", true), "stopped");
	assert_string_equal(cluster_vm_state(NULL, "vh01", true), "stopped");
	assert_string_equal(cluster_vm_state(NULL, "vh01", false), "lost");
	assert_string_equal(cluster_vm_state(NULL, NULL, false), "stopped");
	assert_string_equal(cluster_vm_state("", "", false), "stopped");
}

static void test_admission(void **state)
{
	(void)state;
	struct vm_spec s = { .name = "cl7", .memory = 256ULL << 20, .vcpus = 2 };
	struct aerr ae = { 0 };
	assert_int_equal(cluster_admit("vh02", 1ULL << 30, 4, 768ULL << 20, 2, &s, &ae), 0);
	assert_int_equal(cluster_admit("vh02", 1ULL << 30, 4, 896ULL << 20, 1, &s, &ae), -1);
	assert_int_equal(ae.status, 422);
	assert_string_equal(ae.msg, "vh02 has 128 MiB free, cl7 needs 256 MiB");
	assert_int_equal(cluster_admit("vh02", 1ULL << 30, 4, 0, 3, &s, &ae), -1);
	assert_string_equal(ae.msg, "vh02 has 1 vCPU free, cl7 needs 2");
	/* more used than offered (the capacity was lowered): nothing free, no underflow */
	assert_int_equal(cluster_admit("vh02", 1ULL << 30, 4, 2ULL << 30, 0, &s, &ae), -1);
	assert_string_equal(ae.msg, "vh02 has 0 B free, cl7 needs 256 MiB");
	assert_string_equal(aerr_code(422), "no_room");
}

static void test_alloc(void **state)
{
	(void)state;
	uint64_t m;
	unsigned v;
	json_t *a = cluster_alloc_with(NULL, "cl7", 256ULL << 20, 1);
	json_t *b = cluster_alloc_with(a, "cl8", 128ULL << 20, 2);
	cluster_alloc_used(b, &m, &v);
	assert_true(m == 384ULL << 20);
	assert_int_equal(v, 3);
	int64_t total = 0;
	struct err e;
	assert_int_equal(json_get_int(b, "memory", &total, &e), 1);
	assert_true(total == 384LL << 20);
	json_t *c = cluster_alloc_with(b, "cl7", 512ULL << 20, 1); /* replaced, not added */
	cluster_alloc_used(c, &m, &v);
	assert_true(m == 640ULL << 20);
	json_t *d = cluster_alloc_with(c, "cl7", 0, 0); /* removed */
	cluster_alloc_used(d, &m, &v);
	assert_true(m == 128ULL << 20);
	assert_int_equal(v, 2);
	assert_null(json_get(json_get(d, "vms"), "cl7"));
	assert_non_null(json_get(json_get(d, "vms"), "cl8"));
	cluster_alloc_used(NULL, &m, &v);
	assert_true(m == 0 && v == 0);
	json_free(a), json_free(b), json_free(c), json_free(d);
}

static struct etcd_event ev_make(enum etcd_evtype t, const char *key, const char *value,
				 int64_t version, int64_t lease)
{
	struct etcd_event ev = { 0 };
	ev.type = t;
	ev.kv.key = (char *)key;
	ev.kv.value = (char *)(value ? value : "");
	ev.kv.value_len = value ? strlen(value) : 0;
	ev.kv.version = version;
	ev.kv.lease = lease;
	return ev;
}

static void test_watch_events(void **state)
{
	(void)state;
	const char *type = NULL;
	json_t *d = NULL;
	struct etcd_event ev = ev_make(ETCD_EV_PUT, "/ferry/hosts/vh01", "{}", 1, 7);
	assert_int_equal(cluster_event_from_watch(&ev, &type, &d), 1);
	assert_string_equal(type, "host-up");
	assert_string_equal(json_string_value(json_get(d, "host")), "vh01");
	json_free(d);
	ev.has_prev = true;
	ev.prev_kv.lease = 7;
	assert_int_equal(cluster_event_from_watch(&ev, &type, &d), 0); /* same lease */
	ev.prev_kv.lease = 5;
	assert_int_equal(cluster_event_from_watch(&ev, &type, &d), 1); /* a new run's lease */
	json_free(d);
	ev = ev_make(ETCD_EV_DELETE, "/ferry/hosts/vh01", NULL, 0, 0);
	assert_int_equal(cluster_event_from_watch(&ev, &type, &d), 1);
	assert_string_equal(type, "host-down");
	json_free(d);
	ev = ev_make(ETCD_EV_PUT, "/ferry/hosts/vh01/alloc", "{}", 3, 0);
	assert_int_equal(cluster_event_from_watch(&ev, &type, &d), 0);
	ev = ev_make(ETCD_EV_PUT, "/ferry/vms/cl7/spec", "{}", 1, 0);
	assert_int_equal(cluster_event_from_watch(&ev, &type, &d), 1);
	assert_string_equal(type, "vm-created");
	assert_string_equal(json_string_value(json_get(d, "vm")), "cl7");
	json_free(d);
	ev = ev_make(ETCD_EV_DELETE, "/ferry/vms/cl7/spec", NULL, 0, 0);
	assert_int_equal(cluster_event_from_watch(&ev, &type, &d), 1);
	assert_string_equal(type, "vm-removed");
	json_free(d);
	ev = ev_make(ETCD_EV_PUT, "/ferry/vms/cl7/state",
		     "{\"state\": \"running\", \"host\": \"vh01\", \"reason\": \"started\"}", 2, 9);
	assert_int_equal(cluster_event_from_watch(&ev, &type, &d), 1);
	assert_string_equal(type, "vm-state");
	assert_string_equal(json_string_value(json_get(d, "state")), "running");
	assert_string_equal(json_string_value(json_get(d, "host")), "vh01");
	json_free(d);
	ev = ev_make(ETCD_EV_PUT, "/ferry/vms/cl7/state",
		     "{\"state\": \"running\", \"host\": \"vh02\", \"reason\": \"adopted\"}", 2, 9);
	assert_int_equal(cluster_event_from_watch(&ev, &type, &d), 1);
	assert_string_equal(type, "vm-adopted");
	json_free(d);
	ev = ev_make(ETCD_EV_PUT, "/ferry/vms/cl7/state", "not json", 2, 9);
	assert_int_equal(cluster_event_from_watch(&ev, &type, &d), 1); /* no crash on junk */
	json_free(d);
	ev = ev_make(ETCD_EV_PUT, "/other/key", "{}", 1, 0);
	assert_int_equal(cluster_event_from_watch(&ev, &type, &d), 0);
}

static void test_event_ring(void **state)
{
	(void)state;
	struct events *ev = events_new();
	struct buf b;
	buf_init(&b);
	assert_int_equal(events_next(ev, 0, 0, &b), 0); /* nothing yet */
	for (int i = 1; i <= EVENTS_RING + 44; i++) {
		json_t *d = json_object();
		json_set_int(d, "n", i);
		json_set_str(d, "time", "T");
		assert_int_equal(events_publish(ev, "vm-state", d), (uint64_t)i);
	}
	assert_int_equal(events_last(ev), EVENTS_RING + 44);
	/* an id older than the ring: the oldest kept comes next */
	assert_int_equal(events_next(ev, 3, 0, &b), 45);
	buf_put(&b, "", 1);
	assert_string_equal((char *)b.p, "id: 45\nevent: vm-state\ndata: {\"n\": 45, \"time\": "
					 "\"T\"}\n\n");
	buf_reset(&b);
	assert_int_equal(events_next(ev, 100, 0, &b), 101);
	buf_reset(&b);
	assert_int_equal(events_next(ev, EVENTS_RING + 44, 0, &b), 0);
	assert_int_equal(b.len, 0);
	/* time is added when absent */
	json_t *d = json_object();
	uint64_t seq = events_publish(ev, "host-up", d);
	assert_int_equal(events_next(ev, seq - 1, 0, &b), (int64_t)seq);
	buf_put(&b, "", 1);
	assert_non_null(strstr((char *)b.p, "\"time\": \"20"));
	buf_reset(&b);
	events_shutdown(ev);
	assert_int_equal(events_next(ev, seq, 1000, &b), -1);
	buf_free(&b);
	events_free(ev);
}

static void test_sse_format(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	events_format_sse(7, "host-down", "{\"host\": \"vh03\"}", &b);
	buf_put(&b, "", 1);
	assert_string_equal((char *)b.p, "id: 7\nevent: host-down\ndata: {\"host\": \"vh03\"}\n\n");
	buf_free(&b);
}

static void test_api_helpers(void **state)
{
	(void)state;
	struct aerr ae = { 0 };
	json_t *j = api_parse_body("{\"a\": ", 6, &ae);
	assert_null(j);
	assert_int_equal(ae.status, 400);
	assert_non_null(strstr(ae.msg, "not JSON"));
	assert_null(api_parse_body("[1, 2]", 6, &ae));
	assert_non_null(strstr(ae.msg, "JSON object"));
	j = api_parse_body("  \n", 3, &ae);
	assert_non_null(j);
	assert_int_equal(json_object_size(j), 0);
	json_free(j);

	json_t *err = api_error_json(404, NULL, "no VM named 'cl8'");
	char *text = json_encode(err, NULL);
	assert_string_equal(text,
			    "{\"error\": {\"code\": \"not_found\", \"message\": \"no VM named "
			    "'cl8'\"}}");
	free(text);
	json_free(err);
	err = api_error_json(500, "start_failed", "x");
	assert_string_equal(json_string_value(json_get(json_get(err, "error"), "code")),
			    "start_failed");
	json_free(err);
	assert_string_equal(aerr_code(413), "too_large");
	assert_string_equal(aerr_code(502), "host_unreachable");
	assert_string_equal(aerr_code(599), "internal");

	long n;
	assert_int_equal(api_parse_lines(NULL, &n, &ae), 0);
	assert_int_equal(n, 100);
	assert_int_equal(api_parse_lines("5", &n, &ae), 0);
	assert_int_equal(n, 5);
	assert_int_equal(api_parse_lines("0", &n, &ae), -1);
	assert_int_equal(api_parse_lines("10001", &n, &ae), -1);
	assert_int_equal(api_parse_lines("5x", &n, &ae), -1);
	assert_int_equal(ae.status, 400);

	const char *t = "a\nb\nc\n";
	assert_int_equal(api_tail_start(t, strlen(t), 1), 4);
	assert_int_equal(api_tail_start(t, strlen(t), 2), 2);
	assert_int_equal(api_tail_start(t, strlen(t), 3), 0);
	assert_int_equal(api_tail_start(t, strlen(t), 10), 0);
	assert_int_equal(api_tail_start("a\nb", 3, 1), 2); /* no final newline */
	assert_int_equal(api_tail_start("", 0, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_accepted),  cmocka_unit_test(test_spec_refused),
		cmocka_unit_test(test_spec_roundtrip), cmocka_unit_test(test_vm_state),
		cmocka_unit_test(test_admission),      cmocka_unit_test(test_alloc),
		cmocka_unit_test(test_watch_events),   cmocka_unit_test(test_event_ring),
		cmocka_unit_test(test_sse_format),     cmocka_unit_test(test_api_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
