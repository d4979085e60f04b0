/* test_pki.c - the cluster's CA (cli/ca.h) and reading certificates (common/pki.h). */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/ca.h"
#include "common/pki.h"

static char dir[64];
static char ca_crt[128], ca_key[128];

static void path(char *out, const char *name)
{
	snprintf(out, 128, "%s/%s", dir, name);
}

static int setup(void **state)
{
	struct err e;
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ferry-test-pki.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	path(ca_crt, "ca.crt");
	path(ca_key, "ca.key");
	if (ca_create("ferry CA lab", ca_crt, ca_key, &e) < 0) {
		fprintf(stderr, "%s\n", e.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

/* certtool -i of a file contains each needle */
static int certtool_has(const char *file, const char *needle)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "certtool -i --infile '%s' 2>&1 | grep -qF -- '%s'", file,
		 needle);
	return system(cmd) == 0;
}

static void test_ca(void **state)
{
	(void)state;
	struct stat st;
	struct pki_info info;
	struct err e;

	assert_int_equal(stat(ca_key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(pki_info_file(ca_crt, &info, &e), 0);
	assert_string_equal(info.cn, "ferry CA lab");
	assert_string_equal(info.issuer_cn, "ferry CA lab");
	assert_int_equal(strlen(info.serial), 32);
	assert_true(certtool_has(ca_crt, "Certificate Authority (CA): TRUE"));
	assert_true(certtool_has(ca_crt, "Certificate signing"));
	assert_true(certtool_has(ca_crt, "SECP256R1"));
	/* self-signed: verifies against itself */
	assert_int_equal(ca_verify_file(ca_crt, ca_crt, &e), 0);
	/* never over an existing CA */
	assert_int_equal(ca_create("again", ca_crt, ca_key, &e), -1);
	assert_non_null(strstr(e.msg, "exists"));
	assert_int_equal(pki_info_file(ca_crt, &info, &e), 0);
	assert_string_equal(info.cn, "ferry CA lab");
}

static void test_host(void **state)
{
	(void)state;
	char crt[128], key[128];
	struct ca_subject s = {
		.cn = "vh01", .ip = "10.77.0.11", .dns = "vh01", .usage = CA_SERVER | CA_CLIENT
	};
	struct pki_info issued, read;
	struct stat st;
	struct err e;

	path(crt, "vh01.crt");
	path(key, "vh01.key");
	assert_int_equal(ca_issue(ca_crt, ca_key, &s, crt, key, &issued, &e), 0);
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(pki_info_file(crt, &read, &e), 0);
	assert_string_equal(read.cn, "vh01");
	assert_string_equal(read.issuer_cn, "ferry CA lab");
	assert_string_equal(read.serial, issued.serial);
	assert_int_equal(ca_verify_file(ca_crt, crt, &e), 0);
	assert_true(certtool_has(crt, "IPAddress: 10.77.0.11"));
	assert_true(certtool_has(crt, "DNSname: vh01"));
	assert_true(certtool_has(crt, "TLS WWW Server"));
	assert_true(certtool_has(crt, "TLS WWW Client"));
	assert_true(certtool_has(crt, "Certificate Authority (CA): FALSE"));
	/* certtool agrees that it chains to the CA */
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "certtool --verify --load-ca-certificate '%s' --infile '%s' >/dev/null 2>&1",
		 ca_crt, crt);
	assert_int_equal(system(cmd), 0);
	/* the key matches the certificate */
	snprintf(cmd, sizeof(cmd),
		 "k=\"$(certtool --pubkey-info --load-privkey '%s' 2>/dev/null | sed -n "
		 "'/BEGIN/,/END/p')\"; test -n \"$k\" && test \"$k\" = \"$(certtool --pubkey-info "
		 "--load-certificate '%s' 2>/dev/null | sed -n '/BEGIN/,/END/p')\"",
		 key, crt);
	assert_int_equal(system(cmd), 0);

	/* a second certificate gets another serial; an existing pair is never overwritten */
	char crt2[128], key2[128];
	struct pki_info other;
	path(crt2, "vh02.crt");
	path(key2, "vh02.key");
	s.cn = "vh02";
	s.ip = "fd00::2";
	s.dns = "vh02";
	assert_int_equal(ca_issue(ca_crt, ca_key, &s, crt2, key2, &other, &e), 0);
	assert_string_not_equal(other.serial, issued.serial);
	assert_true(certtool_has(crt2, "IPAddress: fd00::2"));
	assert_int_equal(ca_issue(ca_crt, ca_key, &s, crt2, key2, &other, &e), -1);
	assert_non_null(strstr(e.msg, "exists"));
}

static void test_admin_and_foreign(void **state)
{
	(void)state;
	char crt[128], key[128], other_crt[128], other_key[128];
	struct ca_subject s = { .cn = "admin", .usage = CA_CLIENT };
	struct err e;

	path(crt, "admin.crt");
	path(key, "admin.key");
	assert_int_equal(ca_issue(ca_crt, ca_key, &s, crt, key, NULL, &e), 0);
	assert_true(certtool_has(crt, "TLS WWW Client"));
	assert_false(certtool_has(crt, "TLS WWW Server"));
	/* a certificate of another CA does not verify against ours */
	path(other_crt, "other-ca.crt");
	path(other_key, "other-ca.key");
	assert_int_equal(ca_create("other", other_crt, other_key, &e), 0);
	assert_int_equal(ca_verify_file(other_crt, crt, &e), -1);
	assert_non_null(strstr(e.msg, crt));
	/* a file that is no certificate */
	assert_int_equal(ca_issue(key, ca_key, &s, crt, key, NULL, &e), -1);
	struct pki_info info;
	assert_int_equal(pki_info_mem("junk", 4, 0, &info, &e), -1);
	assert_non_null(strstr(e.msg, "not a certificate"));
}

static void test_random_hex(void **state)
{
	(void)state;
	char a[65], b[65];
	struct err e;
	assert_int_equal(ca_random_hex(a, 32, &e), 0);
	assert_int_equal(ca_random_hex(b, 32, &e), 0);
	assert_int_equal(strlen(a), 64);
	assert_int_equal(strspn(a, "0123456789abcdef"), 64);
	assert_string_not_equal(a, b);
	assert_int_equal(ca_random_hex(a, 65, &e), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ca),
		cmocka_unit_test(test_host),
		cmocka_unit_test(test_admin_and_foreign),
		cmocka_unit_test(test_random_hex),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
