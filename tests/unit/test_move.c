/* test_move.c - a move's request (agent/move.h): what POST /v1/vms/<vm>/move takes and what it
 * refuses, with a message that names the member. */
#include "harness.h"

#include <string.h>

#include "agent/move.h"
#include "common/json.h"

static int parse(const char *text, struct move_req *r, struct aerr *ae)
{
	struct err e;
	json_t *j = json_parse(text, strlen(text), &e);
	assert_non_null(j);
	memset(ae, 0, sizeof(*ae));
	int rc = move_parse_request(j, r, ae);
	json_free(j);
	return rc;
}

static void test_good(void **state)
{
	(void)state;
	struct move_req r;
	struct aerr ae;
	assert_int_equal(parse("{\"to\": \"VH02\"}", &r, &ae), 0);
	assert_string_equal(r.to, "vh02");
	assert_string_equal(r.from, "");
	assert_false(r.quick);
	assert_int_equal(parse("{\"to\": \"Best\", \"from\": \"VH01\", \"quick\": true}", &r, &ae),
			 0);
	assert_string_equal(r.to, "best");
	assert_string_equal(r.from, "vh01");
	assert_true(r.quick);
}

static void test_bad(void **state)
{
	(void)state;
	static const struct {
		const char *body, *says;
	} cases[] = {
		{ "{}", "'to' is required" },
		{ "[]", "JSON object" },
		{ "{\"to\": 3}", "to" },
		{ "{\"to\": \"vh_02\"}", "vh_02" },
		{ "{\"to\": \"vh02\", \"quick\": \"yes\"}", "quick" },
		{ "{\"to\": \"vh02\", \"from\": \"\"}", "from" },
		{ "{\"to\": \"vh02\", \"colour\": \"red\"}", "colour" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct move_req r;
		struct aerr ae;
		assert_int_equal(parse(cases[i].body, &r, &ae), -1);
		assert_int_equal(ae.status, 400);
		if (!strstr(ae.msg, cases[i].says))
			fail_msg("%s: '%s' does not say '%s'", cases[i].body, ae.msg,
				 cases[i].says);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
