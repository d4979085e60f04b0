/* test_mac.c - MAC address strings (common/mac.h), and their use by virtio-net's --net. */
#include "harness.h"

#include <stdio.h>

#include "common/mac.h"
#include "vmm/devices/vnet.h"

static void test_parse_format(void **state)
{
	static const struct {
		const char *s, *canon;
		uint8_t mac[MAC_LEN];
	} cases[] = {
		{ "52:54:00:12:34:56",
		  "52:54:00:12:34:56",
		  { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 } },
		{ "52:54:00:AB:cd:Ef",
		  "52:54:00:ab:cd:ef",
		  { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef } },
		{ "00:00:00:00:00:00", "00:00:00:00:00:00", { 0 } },
		{ "ff:ff:ff:ff:ff:ff",
		  "ff:ff:ff:ff:ff:ff",
		  { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t mac[MAC_LEN];
		char out[MAC_STR_LEN];
		struct err e;

		if (mac_parse(cases[i].s, mac, &e) != 0)
			fail_msg("'%s' refused: %s", cases[i].s, e.msg);
		assert_memory_equal(mac, cases[i].mac, MAC_LEN);
		mac_format(mac, out);
		assert_string_equal(out, cases[i].canon);
	}
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"52:54:00:12:34",
		"52:54:00:12:34:56:78",
		"52:54:00:12:34:5",
		"52:54:00:12:34:567",
		"2:54:00:12:34:56",
		"52-54-00-12-34-56",
		"525400123456",
		"52:54:00:12:34:5g",
		"52:54:00:12:34:56 ",
		" 52:54:00:12:34:56",
		"0x52:54:00:12:34:56",
		"+52:54:00:12:34:56",
		"52:54:00:12:34::6",
		"52:54:00:12:34:56\n",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t mac[MAC_LEN] = { 1, 2, 3, 4, 5, 6 };
		struct err e = { "" };
		char want[80];

		if (mac_parse(bad[i], mac, &e) != -1)
			fail_msg("'%s' accepted", bad[i]);
		snprintf(want, sizeof(want), "'%s' is not a MAC address", bad[i]);
		assert_string_not_equal(e.msg, "");
		if (!strstr(e.msg, want))
			fail_msg("'%s': message \"%s\"", bad[i], e.msg);
		/* nothing written on failure */
		assert_memory_equal(mac, ((uint8_t[]){ 1, 2, 3, 4, 5, 6 }), MAC_LEN);
	}
}

static void test_group(void **state)
{
	(void)state;
	assert_true(mac_is_group((uint8_t[]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }));
	assert_true(mac_is_group((uint8_t[]){ 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 }));
	assert_true(mac_is_group((uint8_t[]){ 0x33, 0x33, 0x00, 0x00, 0x00, 0x01 }));
	assert_false(mac_is_group((uint8_t[]){ 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }));
	assert_false(mac_is_group((uint8_t[]){ 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 }));
}

/* --net refuses a malformed or group MAC before it opens any TAP. */
static void test_net_option(void **state)
{
	static const struct {
		const char *spec, *msg;
	} cases[] = {
		{ "tap:t0,mac=52:54:00:12:34", "--net: '52:54:00:12:34' is not a MAC address" },
		{ "tap:t0,mac=0x52:54:00:12:34:56", "is not a MAC address" },
		{ "tap:t0,mac=01:00:5e:00:00:01",
		  "--net: '01:00:5e:00:00:01' is not a unicast MAC" },
		{ "tap:t0,mac=ff:ff:ff:ff:ff:ff", "is not a unicast MAC" },
	};
	struct machine *m = th_machine(0);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vnet n;
		struct err e = { "" };

		assert_int_equal(vnet_init(&n, m, cases[i].spec, &e), -1);
		if (!strstr(e.msg, cases[i].msg))
			fail_msg("%s: message \"%s\" does not say \"%s\"", cases[i].spec, e.msg,
				 cases[i].msg);
		assert_int_equal(n.tap, -1);
	}
	th_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_format),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_group),
		cmocka_unit_test(test_net_option),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
