/* test_member.c - the etcd member's command line (agent/member.h). */
#include "harness.h"

#include <string.h>

#include "agent/member.h"

/* The value after flag in argv (NULL if the flag is not there or has no value). */
static const char *arg_of(const char *const *argv, int n, const char *flag)
{
	for (int i = 0; i + 1 < n; i++)
		if (!strcmp(argv[i], flag))
			return argv[i + 1];
	return NULL;
}

static bool has(const char *const *argv, int n, const char *flag)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(argv[i], flag))
			return true;
	return false;
}

static void test_argv(void **state)
{
	(void)state;
	struct hostconf c;
	const char *argv[64];
	char buf[1024];
	struct err e;
	int n;

	hostconf_defaults(&c);
	strcpy(c.cluster, "single");
	strcpy(c.name, "vh01");
	strcpy(c.api, "10.77.0.11:7443");
	strcpy(c.etcd[0], "https://10.77.0.11:2379");
	c.netcd = 1;
	strcpy(c.ca, "/etc/ferry/ca.crt");
	strcpy(c.cert, "/etc/ferry/hosts/vh01.crt");
	strcpy(c.key, "/etc/ferry/hosts/vh01.key");
	c.etcd_member.enabled = true;
	assert_int_equal(hostconf_member_resolve(&c, &e), 0);
	n = member_argv(&c, argv, 64, buf, sizeof(buf), &e);
	assert_true(n > 0);
	assert_null(argv[n]);
	assert_string_equal(argv[0], "/usr/bin/etcd");
	assert_string_equal(arg_of(argv, n, "--name"), "vh01");
	assert_string_equal(arg_of(argv, n, "--data-dir"), "/var/lib/ferry/etcd");
	assert_string_equal(arg_of(argv, n, "--listen-client-urls"), "https://10.77.0.11:2379");
	assert_string_equal(arg_of(argv, n, "--advertise-client-urls"), "https://10.77.0.11:2379");
	assert_string_equal(arg_of(argv, n, "--listen-peer-urls"), "https://10.77.0.11:2380");
	assert_string_equal(arg_of(argv, n, "--initial-cluster"), "vh01=https://10.77.0.11:2380");
	assert_string_equal(arg_of(argv, n, "--initial-cluster-state"), "new");
	assert_string_equal(arg_of(argv, n, "--initial-cluster-token"), "ferry-single");
	assert_string_equal(arg_of(argv, n, "--trusted-ca-file"), "/etc/ferry/ca.crt");
	assert_string_equal(arg_of(argv, n, "--peer-trusted-ca-file"), "/etc/ferry/ca.crt");
	assert_string_equal(arg_of(argv, n, "--cert-file"), "/etc/ferry/hosts/vh01.crt");
	assert_string_equal(arg_of(argv, n, "--peer-key-file"), "/etc/ferry/hosts/vh01.key");
	assert_true(has(argv, n, "--client-cert-auth"));
	assert_true(has(argv, n, "--peer-client-cert-auth"));
	assert_true(has(argv, n, "--pre-vote"));
	/* too little room: refused, not cut */
	assert_int_equal(member_argv(&c, argv, 10, buf, sizeof(buf), &e), -1);
	assert_int_equal(member_argv(&c, argv, 64, buf, 8, &e), -1);
	assert_non_null(strstr(e.msg, "too long"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_argv),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
