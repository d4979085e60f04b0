/* test_place.c - the "best possible node" (agent/place.h): the filters, the order, the reasons. */
#include "harness.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "agent/cluster.h"
#include "agent/place.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* A host: alive and active unless said otherwise. */
static struct place_host host(const char *name, uint64_t cap, uint64_t used, unsigned vcap,
			      unsigned vused, unsigned nvms)
{
	struct place_host h = { .alive = true,
				.mem_cap = cap,
				.mem_used = used,
				.vcpus_cap = vcap,
				.vcpus_used = vused,
				.nvms = nvms };
	snprintf(h.name, sizeof(h.name), "%s", name);
	snprintf(h.state, sizeof(h.state), "active");
	return h;
}

/* The verdict of host name in out (n entries); fails the test if there is none. */
static const struct place_verdict *verdict(const struct place_verdict *out, size_t n,
					   const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(out[i].host, name) == 0)
			return &out[i];
	fail_msg("no verdict for %s", name);
	return NULL;
}

/* Every verdict names its host in the order of h, and only the index returned is chosen. */
static void check_shape(const struct place_host *h, size_t n, const struct place_verdict *out,
			int best)
{
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(out[i].host, h[i].name);
		assert_int_equal(out[i].chosen, (int)i == best);
		assert_true(out[i].reason[0] != '\0');
		assert_int_equal(strncmp(out[i].reason, "chosen: ", 8) == 0, (int)i == best);
	}
}

static void test_filters(void **state)
{
	(void)state;
	struct place_host h[] = {
		host("vh01", 4 * GiB, 0, 8, 0, 0), /* dead */
		host("vh02", 4 * GiB, 0, 8, 0, 0), /* draining */
		host("vh03", 4 * GiB, 0, 8, 0, 0), /* paused */
		host("vh04", 4 * GiB, 0, 8, 0, 0), /* the source */
		host("vh05", GiB, 896 * MiB, 8, 0, 1), host("vh06", 4 * GiB, 0, 2, 1, 1),
		host("vh07", 2 * GiB, 0, 4, 0, 3), /* the only one that can take it */
		host("vh08", 4 * GiB, 0, 8, 0, 0), /* a state this version does not know */
		host("vh09", 4 * GiB, 0, 8, 0, 0), /* no state */
	};
	size_t n = sizeof(h) / sizeof(h[0]);
	struct place_verdict out[9];
	h[0].alive = false;
	snprintf(h[1].state, sizeof(h[1].state), "draining");
	snprintf(h[2].state, sizeof(h[2].state), "paused");
	snprintf(h[7].state, sizeof(h[7].state), "upgrading");
	h[8].state[0] = '\0';

	int best = place_best(h, n, "vh04", "cl7", 256 * MiB, 2, out);
	assert_int_equal(best, 6);
	check_shape(h, n, out, best);
	assert_string_equal(out[0].reason, "not alive (its agent is not registered)");
	assert_string_equal(out[1].reason, "draining");
	assert_string_equal(out[2].reason, "paused");
	assert_string_equal(out[3].reason, "the source (cl7 runs there)");
	assert_string_equal(out[4].reason, "has 128 MiB free, cl7 needs 256 MiB");
	assert_string_equal(out[5].reason, "has 1 vCPU free, cl7 needs 2");
	assert_string_equal(out[6].reason,
			    "chosen: most memory left after placing cl7 (1.8 GiB), 3 VMs");
	assert_string_equal(out[7].reason, "not active (its state is \"upgrading\")");
	assert_string_equal(out[8].reason, "not active (no state)");
	assert_true(out[6].mem_left == 2 * GiB - 256 * MiB);
	/* the ones without room have nothing left; a filtered host that fits says what it would */
	assert_true(out[4].mem_left == 0);
	assert_true(out[5].mem_left == 0);
	assert_true(out[1].mem_left == 4 * GiB - 256 * MiB);

	/* the same hosts without a source: vh04 is back in and has the most left */
	best = place_best(h, n, NULL, "cl7", 256 * MiB, 2, out);
	assert_int_equal(best, 3);
	check_shape(h, n, out, best);
	assert_string_equal(out[3].reason,
			    "chosen: most memory left after placing cl7 (3.8 GiB), 0 VMs");
	assert_string_equal(out[6].reason,
			    "less memory left after placing cl7 (1.8 GiB) than vh04 (3.8 GiB)");
	assert_int_equal(place_best(h, n, "", "cl7", 256 * MiB, 2, NULL), 3);
	/* the source is judged by name, whatever else is true of it */
	assert_int_equal(place_best(h, n, "vh07", "cl7", 256 * MiB, 2, out), 3);
	assert_string_equal(out[6].reason, "the source (cl7 runs there)");

	/* the first filter that applies is the one given: dead and draining reads "not alive" */
	snprintf(h[0].state, sizeof(h[0].state), "draining");
	place_best(h, n, "vh04", "cl7", 256 * MiB, 2, out);
	assert_string_equal(out[0].reason, "not alive (its agent is not registered)");
	/* draining and too small reads "draining" */
	h[1].mem_cap = MiB;
	place_best(h, n, "vh04", "cl7", 256 * MiB, 2, out);
	assert_string_equal(out[1].reason, "draining");
	assert_true(out[1].mem_left == 0);
}

/* The room reasons are cluster_admit's words, after the host's name. */
static void test_room_words_are_admissions(void **state)
{
	(void)state;
	struct place_host h[] = {
		host("vh02", GiB, 896 * MiB, 4, 2, 1),
		host("vh03", GiB, 0, 4, 3, 1),
		host("vh04", GiB, 2 * GiB, 4, 0, 1),
		host("vh05", GiB, 0, 2, 5, 1),
	};
	struct vm_spec s = { .name = "cl7", .memory = 256 * MiB, .vcpus = 2 };
	struct place_verdict out[4];
	struct aerr ae = { 0 };

	assert_int_equal(place_best(h, 4, NULL, "cl7", s.memory, s.vcpus, out), -1);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(cluster_admit(h[i].name, h[i].mem_cap, h[i].vcpus_cap,
					       h[i].mem_used, h[i].vcpus_used, &s, &ae),
				 -1);
		size_t len = strlen(h[i].name);
		assert_memory_equal(ae.msg, h[i].name, len);
		assert_int_equal(ae.msg[len], ' ');
		assert_string_equal(ae.msg + len + 1, out[i].reason);
	}
	assert_string_equal(out[1].reason, "has 1 vCPU free, cl7 needs 2");
	/* over-committed by hand: no room, not a wrapped-around huge one */
	assert_string_equal(out[2].reason, "has 0 B free, cl7 needs 256 MiB");
	assert_string_equal(out[3].reason, "has 0 vCPUs free, cl7 needs 2");
}

static void test_tie_breaks(void **state)
{
	(void)state;
	/* cl7 needs 256 MiB: vh03 and vh02 and vh04 keep 2 GiB, vh01 1.5 GiB */
	struct place_host h[] = {
		host("vh04", 4 * GiB, 1792 * MiB, 8, 0, 2),
		host("vh01", 4 * GiB, 2304 * MiB, 8, 0, 0),
		host("vh02", 4 * GiB, 1792 * MiB, 8, 0, 3),
		host("vh03", 4 * GiB, 1792 * MiB, 8, 0, 2),
	};
	struct place_verdict out[4];
	int best = place_best(h, 4, NULL, "cl7", 256 * MiB, 1, out);
	assert_int_equal(best, 3);
	check_shape(h, 4, out, best);
	assert_string_equal(out[3].reason,
			    "chosen: most memory left after placing cl7 (2 GiB), 2 VMs");
	assert_string_equal(out[1].reason,
			    "less memory left after placing cl7 (1.5 GiB) than vh03 (2 GiB)");
	assert_string_equal(out[2].reason,
			    "as much memory left as vh03 (2 GiB) but more VMs (3 against 2)");
	assert_string_equal(out[0].reason, "as good as vh03, which comes first by name");
	assert_true(out[1].mem_left == 1536 * MiB);
	assert_true(out[3].mem_left == 2 * GiB);

	char line[300];
	assert_int_equal(
	    place_verdict_line(&out[3], line, sizeof(line)),
	    (int)strlen("vh03: chosen: most memory left after placing cl7 (2 GiB), 2 VMs"));
	assert_string_equal(line,
			    "vh03: chosen: most memory left after placing cl7 (2 GiB), 2 VMs");
	place_verdict_line(&out[0], line, sizeof(line));
	assert_string_equal(line, "vh04: as good as vh03, which comes first by name");

	/* memory comes before the VM count: 1 MiB more left wins over 10 more VMs */
	h[2].mem_used -= MiB;
	h[2].nvms = 12;
	best = place_best(h, 4, NULL, "cl7", 256 * MiB, 1, out);
	assert_int_equal(best, 2);
	assert_string_equal(out[2].reason,
			    "chosen: most memory left after placing cl7 (2.0 GiB), 12 VMs");
	assert_string_equal(out[3].reason,
			    "less memory left after placing cl7 (2 GiB) than vh02 (2.0 GiB)");

	/* the VM count comes before the name: vh04 with 1 VM beats vh03 with 2 */
	h[2].mem_used += MiB;
	h[2].nvms = 3;
	h[0].nvms = 1;
	best = place_best(h, 4, NULL, "cl7", 256 * MiB, 1, out);
	assert_int_equal(best, 0);
	assert_string_equal(out[0].reason,
			    "chosen: most memory left after placing cl7 (2 GiB), 1 VM");
	assert_string_equal(out[3].reason,
			    "as much memory left as vh04 (2 GiB) but more VMs (2 against 1)");
	assert_string_equal(out[2].reason,
			    "as much memory left as vh04 (2 GiB) but more VMs (3 against 1)");

	/* the name is strcmp's order, not a natural one: "vh10" < "vh9" */
	struct place_host g[] = {
		host("vh9", GiB, 0, 1, 0, 0),
		host("vh10", GiB, 0, 1, 0, 0),
	};
	struct place_verdict go[2];
	assert_int_equal(place_best(g, 2, NULL, "cl7", 256 * MiB, 1, go), 1);
	assert_string_equal(go[0].reason, "as good as vh10, which comes first by name");
}

/* Heap's algorithm: every permutation of idx[0..k) in turn, each checked by check_perm. */
struct perm_ctx {
	const struct place_host *base;
	size_t n;
	const char *want;
	const struct place_verdict *want_out;
	unsigned seen;
};

static void check_perm(struct perm_ctx *c, const size_t *idx)
{
	struct place_host h[4];
	struct place_verdict out[4];
	for (size_t i = 0; i < c->n; i++)
		h[i] = c->base[idx[i]];
	int best = place_best(h, c->n, "vh05", "cl7", 512 * MiB, 2, out);
	assert_true(best >= 0);
	assert_string_equal(h[best].name, c->want);
	check_shape(h, c->n, out, best);
	/* not only the choice: every host's verdict is the same wherever it stands */
	for (size_t i = 0; i < c->n; i++) {
		const struct place_verdict *w = verdict(c->want_out, c->n, out[i].host);
		assert_string_equal(out[i].reason, w->reason);
		assert_true(out[i].mem_left == w->mem_left);
		assert_int_equal(out[i].chosen, w->chosen);
	}
	c->seen++;
}

static void heap_perm(struct perm_ctx *c, size_t *idx, size_t k)
{
	if (k <= 1) {
		check_perm(c, idx);
		return;
	}
	for (size_t i = 0; i < k - 1; i++) {
		heap_perm(c, idx, k - 1);
		size_t j = k % 2 == 0 ? i : 0, t = idx[j];
		idx[j] = idx[k - 1];
		idx[k - 1] = t;
	}
	heap_perm(c, idx, k - 1);
}

static void test_determinism(void **state)
{
	(void)state;
	/* ties on every level: vh02 and vh03 keep as much, vh03 has fewer VMs than vh02... */
	struct place_host sets[3][4] = {
		{
		    host("vh02", 4 * GiB, GiB, 8, 0, 2),
		    host("vh03", 4 * GiB, GiB, 8, 0, 1),
		    host("vh01", 4 * GiB, 2 * GiB, 8, 0, 0),
		    host("vh04", 4 * GiB, GiB, 8, 0, 1),
		},
		/* ...all four equal: only the name decides */
		{
		    host("vh04", 2 * GiB, 0, 4, 0, 1),
		    host("vh02", 2 * GiB, 0, 4, 0, 1),
		    host("vh03", 2 * GiB, 0, 4, 0, 1),
		    host("vh01", 2 * GiB, 0, 4, 0, 1),
		},
		/* ...one filtered out, the rest tied on memory, two on VMs */
		{
		    host("vh05", 8 * GiB, 0, 8, 0, 0), /* the source */
		    host("vh03", 3 * GiB, GiB, 8, 0, 4),
		    host("vh02", 3 * GiB, GiB, 8, 0, 3),
		    host("vh01", 3 * GiB, GiB, 8, 0, 4),
		},
	};
	const char *want[3] = { "vh03", "vh01", "vh02" };
	for (size_t s = 0; s < 3; s++) {
		struct place_verdict ref[4];
		int best = place_best(sets[s], 4, "vh05", "cl7", 512 * MiB, 2, ref);
		assert_true(best >= 0);
		assert_string_equal(sets[s][best].name, want[s]);
		struct perm_ctx c = { sets[s], 4, want[s], ref, 0 };
		size_t idx[4] = { 0, 1, 2, 3 };
		heap_perm(&c, idx, 4);
		assert_int_equal(c.seen, 24);
	}
}

static void test_none_fits(void **state)
{
	(void)state;
	struct place_host h[] = {
		host("vh01", 4 * GiB, 0, 8, 0, 0),
		host("vh02", 4 * GiB, 0, 8, 0, 0),
		host("vh03", 512 * MiB, 0, 8, 0, 0),
		host("vh04", 4 * GiB, 0, 1, 0, 0),
	};
	struct place_verdict out[4];
	h[0].alive = false;
	snprintf(h[1].state, sizeof(h[1].state), "paused");
	int best = place_best(h, 4, NULL, "cl7", GiB, 2, out);
	assert_int_equal(best, -1);
	check_shape(h, 4, out, best);
	assert_string_equal(out[0].reason, "not alive (its agent is not registered)");
	assert_string_equal(out[1].reason, "paused");
	assert_string_equal(out[2].reason, "has 512 MiB free, cl7 needs 1 GiB");
	assert_string_equal(out[3].reason, "has 1 vCPU free, cl7 needs 2");
	assert_true(out[2].mem_left == 0);
	assert_true(out[3].mem_left == 0);
	assert_int_equal(place_best(h, 4, NULL, "cl7", GiB, 2, NULL), -1);
}

static void test_huge(void **state)
{
	(void)state;
	struct place_host h[] = {
		host("vh01", UINT64_MAX, 0, UINT_MAX, 0, UINT_MAX),
		host("vh02", UINT64_MAX, GiB, UINT_MAX, UINT_MAX - 2, 0),
		host("vh03", GiB, UINT64_MAX, 4, UINT_MAX, 0), /* used far above capacity */
		host("vh04", UINT64_MAX, UINT64_MAX, UINT_MAX, UINT_MAX, 0),
	};
	struct place_verdict out[4];
	char line[300];

	/* a VM as large as memory itself fits exactly one host, with nothing left */
	int best = place_best(h, 4, NULL, "cl7", UINT64_MAX, 2, out);
	assert_int_equal(best, 0);
	assert_true(out[0].mem_left == 0);
	assert_string_equal(out[0].reason,
			    "chosen: most memory left after placing cl7 (0 B), 4294967295 VMs");
	assert_string_equal(out[1].reason, "has 16.0 EiB free, cl7 needs 16.0 EiB");
	assert_string_equal(out[2].reason, "has 0 B free, cl7 needs 16.0 EiB");
	assert_string_equal(out[3].reason, "has 0 B free, cl7 needs 16.0 EiB");

	/* a small one: vh01 keeps UINT64_MAX - 1 MiB, vh02 1 GiB less, vh03 and vh04 nothing */
	best = place_best(h, 4, NULL, "cl7", MiB, 2, out);
	assert_int_equal(best, 0);
	assert_true(out[0].mem_left == UINT64_MAX - MiB);
	assert_true(out[1].mem_left == UINT64_MAX - GiB - MiB);
	assert_true(out[2].mem_left == 0);
	assert_true(out[3].mem_left == 0);
	assert_string_equal(out[1].reason, "less memory left after placing cl7 (16.0 EiB) than "
					   "vh01 (16.0 EiB)");
	assert_string_equal(out[2].reason, "has 0 B free, cl7 needs 1 MiB");
	assert_string_equal(out[3].reason, "has 0 B free, cl7 needs 1 MiB");

	/* vCPUs at the limit: vh02 has exactly 2 free, 3 do not fit */
	best = place_best(h, 4, "vh01", "cl7", MiB, 3, out);
	assert_int_equal(best, -1);
	assert_string_equal(out[1].reason, "has 2 vCPUs free, cl7 needs 3");
	best = place_best(h, 4, "vh01", "cl7", MiB, 2, out);
	assert_int_equal(best, 1);

	/* names of the longest length: nothing cut from any reason, nothing overrun */
	char n63a[64], n63b[64], vm63[64];
	memset(n63a, 'a', 63), n63a[63] = '\0';
	memset(n63b, 'b', 63), n63b[63] = '\0';
	memset(vm63, 'v', 63), vm63[63] = '\0';
	struct place_host l[] = {
		host(n63b, 1000 * GiB + 900 * MiB, 0, 8, 0, 0),
		host(n63a, 1001 * GiB + 900 * MiB, 0, 8, 0, 0),
	};
	struct place_verdict lo[2];
	assert_int_equal(place_best(l, 2, NULL, vm63, 1, 1, lo), 1);
	char want[300];
	snprintf(want, sizeof(want),
		 "less memory left after placing %s (1000.9 GiB) than %s (1001.9 GiB)", vm63, n63a);
	assert_string_equal(lo[0].reason, want);
	snprintf(want, sizeof(want),
		 "%s: chosen: most memory left after placing %s (1001.9 GiB), 0 VMs", n63a, vm63);
	place_verdict_line(&lo[1], line, sizeof(line));
	assert_string_equal(line, want);
}

static void test_empty(void **state)
{
	(void)state;
	struct place_verdict out[1] = { { .host = "untouched" } };
	assert_int_equal(place_best(NULL, 0, NULL, "cl7", MiB, 1, out), -1);
	assert_string_equal(out[0].host, "untouched");
	assert_int_equal(place_best(NULL, 0, "vh01", "cl7", MiB, 1, NULL), -1);
	/* a host of no capacity at all, for a VM of nothing: it fits, with nothing left */
	struct place_host h[] = { host("vh01", 0, 0, 0, 0, 0) };
	assert_int_equal(place_best(h, 1, NULL, "cl7", 0, 0, out), 0);
	assert_true(out[0].mem_left == 0);
	assert_string_equal(out[0].reason,
			    "chosen: most memory left after placing cl7 (0 B), 0 VMs");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filters),	   cmocka_unit_test(test_room_words_are_admissions),
		cmocka_unit_test(test_tie_breaks), cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_none_fits),  cmocka_unit_test(test_huge),
		cmocka_unit_test(test_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
