/* test_hostconf.c - a host's configuration file (common/hostconf.h): save, load, refusals,
 * the etcd member's defaults. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hostconf.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ferry-test-hostconf.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void sample(struct hostconf *c)
{
	hostconf_defaults(c);
	strcpy(c->cluster, "ferry");
	strcpy(c->name, "vh01");
	strcpy(c->api, "10.77.0.11:7443");
	strcpy(c->etcd[0], "https://10.77.0.11:2379");
	strcpy(c->etcd[1], "https://10.77.0.12:2379");
	c->netcd = 2;
	strcpy(c->ca, "/etc/ferry/ca.crt");
	strcpy(c->cert, "/etc/ferry/hosts/vh01.crt");
	strcpy(c->key, "/etc/ferry/hosts/vh01.key");
	strcpy(c->secret, "/etc/ferry/secret");
	c->memory = 1ULL << 30;
	c->vcpus = 4;
	strcpy(c->bridge, "br0");
	strcpy(c->peers[0].name, "vh02");
	strcpy(c->peers[0].addrs[0], "10.78.1.1");
	strcpy(c->peers[0].addrs[1], "10.78.2.1");
	c->peers[0].naddrs = 2;
	c->npeers = 1;
	strcpy(c->state_dir, "/tmp/lab/vh01/state");
}

static void test_defaults(void **state)
{
	(void)state;
	struct hostconf c;
	hostconf_defaults(&c);
	assert_string_equal(c.state_dir, "/var/lib/ferry");
	assert_string_equal(c.run_dir, "/run/ferry");
	assert_string_equal(c.log_dir, "/var/log/ferry");
	assert_int_equal(c.vm_nice, 10);
	/* next to the running program */
	assert_non_null(strstr(c.vm_binary, "/ferry-vm"));
}

static void test_round_trip(void **state)
{
	(void)state;
	struct hostconf c, d;
	struct err e;
	char path[128];
	struct stat st;

	sample(&c);
	snprintf(path, sizeof(path), "%s/vh01.json", dir);
	assert_int_equal(hostconf_save(&c, path, &e), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(hostconf_load(&d, path, &e), 0);
	assert_string_equal(d.cluster, "ferry");
	assert_string_equal(d.name, "vh01");
	assert_string_equal(d.api, "10.77.0.11:7443");
	assert_int_equal(d.netcd, 2);
	assert_string_equal(d.etcd[1], "https://10.77.0.12:2379");
	assert_string_equal(d.key, "/etc/ferry/hosts/vh01.key");
	assert_string_equal(d.secret, "/etc/ferry/secret");
	assert_true(d.memory == 1ULL << 30);
	assert_int_equal(d.vcpus, 4);
	assert_string_equal(d.bridge, "br0");
	assert_int_equal(d.npeers, 1);
	assert_string_equal(d.peers[0].name, "vh02");
	assert_int_equal(d.peers[0].naddrs, 2);
	assert_string_equal(d.peers[0].addrs[1], "10.78.2.1");
	assert_string_equal(d.state_dir, "/tmp/lab/vh01/state");
	assert_string_equal(d.run_dir, "/run/ferry");
	assert_int_equal(d.vm_nice, 10);
	/* saved again over the first: still one file, no temporary left */
	assert_int_equal(hostconf_save(&d, path, &e), 0);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "test $(ls '%s' | wc -l) -eq 1", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_minimal_and_case(void **state)
{
	(void)state;
	struct hostconf c;
	struct err e;
	char path[128];

	snprintf(path, sizeof(path), "%s/min.json", dir);
	write_file(path, "{\"cluster\": \"Ferry\", \"name\": \"VH02\", \"api\": \"10.0.0.2:7443\","
			 " \"etcd\": [\"https://10.0.0.1:2379\"], \"ca\": \"/c\", \"cert\": \"/t\","
			 " \"key\": \"/k\", \"memory\": 268435456, \"vcpus\": 2}");
	assert_int_equal(hostconf_load(&c, path, &e), 0);
	assert_string_equal(c.cluster, "ferry");
	assert_string_equal(c.name, "vh02");
	assert_string_equal(c.secret, "");
	assert_int_equal(c.npeers, 0);
	assert_string_equal(c.log_dir, "/var/log/ferry");
}

/* Each bad file is refused, with a message naming the file and the member. */
static void test_refused(void **state)
{
	(void)state;
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ "{\"cluster\": \"ferry\", \"name\": \"vh01\", \"api\": \"a:1\", \"etcd\": "
		  "[\"https://a:1\"], \"ca\": \"c\", \"cert\": \"t\", \"key\": \"k\", \"memroy\": "
		  "1, "
		  "\"memory\": 268435456, \"vcpus\": 1}",
		  "unknown member 'memroy'" },
		{ "{\"cluster\": \"ferry\", \"name\": \"vh01\", \"api\": \"a:1\", \"etcd\": "
		  "[\"https://a:1\"], \"ca\": \"c\", \"cert\": \"t\", \"key\": \"k\", \"vcpus\": "
		  "1}",
		  "'memory' is missing" },
		{ "{\"cluster\": \"ferry\", \"name\": \"vh_1\", \"api\": \"a:1\", \"etcd\": "
		  "[\"https://a:1\"], \"ca\": \"c\", \"cert\": \"t\", \"key\": \"k\", "
		  "\"memory\": 268435456, \"vcpus\": 1}",
		  "'name'" },
		{ "{\"cluster\": \"ferry\", \"name\": \"vh01\", \"api\": \"a:1\", \"etcd\": "
		  "[\"http://a:1\"], \"ca\": \"c\", \"cert\": \"t\", \"key\": \"k\", "
		  "\"memory\": 268435456, \"vcpus\": 1}",
		  "https://" },
		{ "{\"cluster\": \"ferry\", \"name\": \"vh01\", \"api\": \"a:1\", \"etcd\": "
		  "[\"https://a:1\"], \"ca\": \"c\", \"cert\": \"t\", \"key\": \"k\", "
		  "\"memory\": 268435456, \"vcpus\": \"4\"}",
		  "vcpus" },
		{ "{\"cluster\": \"ferry\", \"name\": \"vh01\", \"api\": \"a:1\", \"etcd\": "
		  "[\"https://a:1\"], \"ca\": \"c\", \"cert\": \"t\", \"key\": \"k\", "
		  "\"memory\": 268435456, \"vcpus\": 1, \"migration\": {\"vh02\": []}}",
		  "'migration' of 'vh02'" },
		{ "[1]", "not a JSON object" },
		{ "{\"cluster\": ", "invalid JSON" },
	};
	char path[128];
	struct hostconf c;
	struct err e;

	snprintf(path, sizeof(path), "%s/bad.json", dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(path, bad[i].text);
		assert_int_equal(hostconf_load(&c, path, &e), -1);
		if (!strstr(e.msg, bad[i].msg) || !strstr(e.msg, path))
			fail_msg("case %zu: '%s' lacks '%s'", i, e.msg, bad[i].msg);
	}
	snprintf(path, sizeof(path), "%s/absent.json", dir);
	assert_int_equal(hostconf_load(&c, path, &e), -1);
	assert_non_null(strstr(e.msg, "No such file"));
}

#define MINIMAL                                                                                    \
	"{\"cluster\": \"ferry\", \"name\": \"vh01\", \"api\": \"10.0.0.1:7443\", \"etcd\": "      \
	"[\"https://10.0.0.1:2379\"], \"ca\": \"/c\", \"cert\": \"/t\", \"key\": \"/k\", "         \
	"\"memory\": 268435456, \"vcpus\": 1, \"state_dir\": \"/srv/ferry\""

/* The etcd member: saved whole and read back; absent by default and not written then. */
static void test_member_round_trip(void **state)
{
	(void)state;
	struct hostconf c, d;
	struct err e;
	char path[128], cmd[256];

	sample(&c);
	snprintf(path, sizeof(path), "%s/m.json", dir);
	assert_false(c.etcd_member.enabled);
	assert_int_equal(hostconf_save(&c, path, &e), 0);
	snprintf(cmd, sizeof(cmd), "grep -q etcd_member '%s'", path);
	assert_int_not_equal(system(cmd), 0);
	assert_int_equal(hostconf_load(&d, path, &e), 0);
	assert_false(d.etcd_member.enabled);

	c.etcd_member.enabled = true;
	strcpy(c.etcd_member.binary, "/opt/etcd/bin/etcd");
	strcpy(c.etcd_member.client_url, "https://10.77.0.12:2379");
	strcpy(c.etcd_member.peer_url, "https://10.77.0.12:2390");
	assert_int_equal(hostconf_member_resolve(&c, &e), 0);
	assert_string_equal(c.etcd_member.data_dir, "/tmp/lab/vh01/state/etcd");
	assert_int_equal(hostconf_save(&c, path, &e), 0);
	assert_int_equal(hostconf_load(&d, path, &e), 0);
	assert_true(d.etcd_member.enabled);
	assert_string_equal(d.etcd_member.binary, "/opt/etcd/bin/etcd");
	assert_string_equal(d.etcd_member.data_dir, "/tmp/lab/vh01/state/etcd");
	assert_string_equal(d.etcd_member.client_url, "https://10.77.0.12:2379");
	assert_string_equal(d.etcd_member.peer_url, "https://10.77.0.12:2390");
}

/* true and a partial object take the defaults from api and state_dir; false is none. */
static void test_member_defaults(void **state)
{
	(void)state;
	struct hostconf c;
	struct err e;
	char path[128];

	snprintf(path, sizeof(path), "%s/md.json", dir);
	write_file(path, MINIMAL ", \"etcd_member\": true}");
	assert_int_equal(hostconf_load(&c, path, &e), 0);
	assert_true(c.etcd_member.enabled);
	assert_string_equal(c.etcd_member.binary, "/usr/bin/etcd");
	assert_string_equal(c.etcd_member.data_dir, "/srv/ferry/etcd");
	assert_string_equal(c.etcd_member.client_url, "https://10.0.0.1:2379");
	assert_string_equal(c.etcd_member.peer_url, "https://10.0.0.1:2380");

	write_file(path, MINIMAL ", \"etcd_member\": {\"data_dir\": \"/d/etcd\"}}");
	assert_int_equal(hostconf_load(&c, path, &e), 0);
	assert_true(c.etcd_member.enabled);
	assert_string_equal(c.etcd_member.data_dir, "/d/etcd");
	assert_string_equal(c.etcd_member.client_url, "https://10.0.0.1:2379");

	write_file(path, MINIMAL ", \"etcd_member\": false}");
	assert_int_equal(hostconf_load(&c, path, &e), 0);
	assert_false(c.etcd_member.enabled);

	/* IPv6: the brackets stay */
	write_file(path,
		   "{\"cluster\": \"ferry\", \"name\": \"vh01\", \"api\": \"[fd00::1]:7443\","
		   " \"etcd\": [\"https://[fd00::1]:2379\"], \"ca\": \"/c\", \"cert\": \"/t\","
		   " \"key\": \"/k\", \"memory\": 268435456, \"vcpus\": 1,"
		   " \"etcd_member\": true}");
	assert_int_equal(hostconf_load(&c, path, &e), 0);
	assert_string_equal(c.etcd_member.peer_url, "https://[fd00::1]:2380");
	assert_string_equal(c.etcd_member.data_dir, "/var/lib/ferry/etcd");
}

static void test_member_refused(void **state)
{
	(void)state;
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ MINIMAL ", \"etcd_member\": 1}",
		  "'etcd_member' is not true, false or an object" },
		{ MINIMAL ", \"etcd_member\": \"yes\"}", "'etcd_member' is not true" },
		{ MINIMAL ", \"etcd_member\": {\"dir\": \"/x\"}}",
		  "'etcd_member': unknown member 'dir'" },
		{ MINIMAL ", \"etcd_member\": {\"binary\": 7}}", "'etcd_member'" },
		{ MINIMAL ", \"etcd_member\": {\"binary\": \"etcd\"}}", "absolute paths" },
		{ MINIMAL ", \"etcd_member\": {\"peer_url\": \"http://10.0.0.1:2380\"}}",
		  "https:// URLs" },
		{ MINIMAL ", \"etcd_member\": {\"client_url\": \"https://10.0.0.9:2379\"}}",
		  "its client_url https://10.0.0.9:2379 is not one of 'etcd'" },
	};
	char path[128];
	struct hostconf c;
	struct err e;

	snprintf(path, sizeof(path), "%s/mbad.json", dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(path, bad[i].text);
		assert_int_equal(hostconf_load(&c, path, &e), -1);
		if (!strstr(e.msg, bad[i].msg) || !strstr(e.msg, path))
			fail_msg("case %zu: '%s' lacks '%s'", i, e.msg, bad[i].msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),	  cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_minimal_and_case),  cmocka_unit_test(test_refused),
		cmocka_unit_test(test_member_round_trip), cmocka_unit_test(test_member_defaults),
		cmocka_unit_test(test_member_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
