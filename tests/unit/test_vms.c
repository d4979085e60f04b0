/* test_vms.c - the VM supervisor's records, start-time check and what needs no root (agent/vms.h). */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/vms.h"

static char tdir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(tdir, sizeof(tdir), "/tmp/ferry-test-vms.XXXXXX");
	return mkdtemp(tdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void sample(struct vms_record *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->info.spec.name, sizeof(r->info.spec.name), "cl-7");
	r->info.spec.memory = 256ull << 20;
	r->info.spec.vcpus = 1;
	snprintf(r->info.spec.disk, sizeof(r->info.spec.disk), "/srv/disks/cl-7.img");
	snprintf(r->info.spec.kernel, sizeof(r->info.spec.kernel), "/srv/Image");
	snprintf(r->info.spec.append, sizeof(r->info.spec.append), "console=ttyS0 \"quoted\" ip=x");
	snprintf(r->info.spec.mac, sizeof(r->info.spec.mac), "02:fe:00:00:00:07");
	r->info.pid = 4242;
	r->info.started_ms = 1796000000123;
	snprintf(r->info.control, sizeof(r->info.control), "/run/ferry/vms/cl-7.sock");
	r->start_time = 987654321;
	vms_tap_name("cl-7", r->tap);
	snprintf(r->console, sizeof(r->console), "/var/log/ferry/cl-7/console.log");
	snprintf(r->log, sizeof(r->log), "/var/log/ferry/cl-7/vm.log");
	snprintf(r->lease, sizeof(r->lease), "/srv/disks/cl-7.img.lease");
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_record_round_trip(void **state)
{
	(void)state;
	struct vms_record w, r;
	struct err e = { { 0 } };
	char path[128], tmp[140];
	struct stat st;

	sample(&w);
	snprintf(path, sizeof(path), "%s/cl-7.json", tdir);
	assert_int_equal(vms_record_write(path, &w, &e), 0);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_not_equal(stat(tmp, &st), 0); /* renamed into place */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(vms_record_read(path, &r, &e), 0);
	assert_string_equal(r.info.spec.name, "cl-7");
	assert_int_equal(r.info.spec.memory, 256ull << 20);
	assert_int_equal(r.info.spec.vcpus, 1);
	assert_string_equal(r.info.spec.disk, w.info.spec.disk);
	assert_string_equal(r.info.spec.kernel, w.info.spec.kernel);
	assert_string_equal(r.info.spec.initrd, "");
	assert_string_equal(r.info.spec.append, w.info.spec.append);
	assert_string_equal(r.info.spec.mac, w.info.spec.mac);
	assert_int_equal(r.info.pid, 4242);
	assert_int_equal(r.info.started_ms, 1796000000123);
	assert_string_equal(r.info.control, w.info.control);
	assert_int_equal(r.start_time, 987654321);
	assert_string_equal(r.tap, w.tap);
	assert_string_equal(r.console, w.console);
	assert_string_equal(r.log, w.log);
	assert_string_equal(r.lease, w.lease);
	assert_int_equal(r.info.exit_status, -1);
	assert_false(r.info.adopted);
}

/* Each corrupt form of a record is refused, with e naming the file and the fault. */
static void expect_refused(const char *text, const char *why)
{
	struct vms_record r;
	struct err e = { { 0 } };
	char path[128];

	snprintf(path, sizeof(path), "%s/bad.json", tdir);
	write_text(path, text);
	assert_int_equal(vms_record_read(path, &r, &e), -1);
	assert_non_null(strstr(e.msg, "bad.json"));
	if (!strstr(e.msg, why))
		fail_msg("'%s' does not say '%s'", e.msg, why);
}

static void test_record_corrupt_refused(void **state)
{
	(void)state;
	struct vms_record w;
	struct err e = { { 0 } };
	char path[128], *text, *p;
	FILE *f;
	long n;

	expect_refused("{\"version\": 1, \"pid\": ", "invalid JSON");
	expect_refused("[1, 2]", "not an object");
	expect_refused("", "invalid JSON");
	/* From a good record, one fault at a time. */
	sample(&w);
	snprintf(path, sizeof(path), "%s/good.json", tdir);
	assert_int_equal(vms_record_write(path, &w, &e), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 64);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);

	char buf[8192];
	/* An unknown member. */
	snprintf(buf, sizeof(buf), "{\"extra\": 1, %s", text + 1);
	expect_refused(buf, "unknown member 'extra'");
	/* A wrong type. */
	snprintf(buf, sizeof(buf), "%s", text);
	p = strstr(buf, "\"pid\": 4242");
	assert_non_null(p);
	memcpy(p, "\"pid\": \"42\"", 11);
	expect_refused(buf, "pid");
	/* pid 1 is never a VM. */
	snprintf(buf, sizeof(buf), "%s", text);
	p = strstr(buf, "\"pid\": 4242");
	memcpy(p, "\"pid\":    1", 11);
	expect_refused(buf, "pid 1");
	/* Another version. */
	snprintf(buf, sizeof(buf), "%s", text);
	p = strstr(buf, "\"version\": 1");
	assert_non_null(p);
	p[11] = '2';
	expect_refused(buf, "version 2");
	/* A VM name that is not one. */
	snprintf(buf, sizeof(buf), "%s", text);
	p = strstr(buf, "\"cl-7\"");
	assert_non_null(p);
	memcpy(p, "\"CL_7\"", 6);
	expect_refused(buf, "not a VM name");
	/* A missing member. */
	snprintf(buf, sizeof(buf), "%s", text);
	p = strstr(buf, "\"tap\"");
	assert_non_null(p);
	memcpy(p, "\"tip\"", 5);
	expect_refused(buf, "unknown member 'tip'");
	free(text);
}

static void test_start_time(void **state)
{
	(void)state;
	struct vms_record r;
	struct err e = { { 0 } };
	uint64_t t1, t2;
	pid_t child;

	assert_int_equal(vms_proc_start_time(getpid(), &t1, &e), 0);
	assert_int_equal(vms_proc_start_time(getpid(), &t2, &e), 0);
	assert_true(t1 > 0);
	assert_int_equal(t1, t2);
	sample(&r);
	r.info.pid = getpid();
	r.start_time = t1;
	assert_true(vms_record_alive(&r));
	/* Same pid, another start time: a reused pid, not our process. */
	r.start_time = t1 + 1;
	assert_false(vms_record_alive(&r));
	/* A process that is gone. */
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, NULL, 0), child);
	assert_int_equal(vms_proc_start_time(child, &t2, &e), -1);
	r.info.pid = child;
	r.start_time = t1;
	assert_false(vms_record_alive(&r));
}

static void test_tap_name(void **state)
{
	(void)state;
	char a[16], b[16], c[16];
	char longname[64];

	memset(longname, 'a', 63);
	longname[63] = '\0';
	vms_tap_name("cl-7", a);
	vms_tap_name("cl-7", b);
	vms_tap_name("cl-8", c);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	assert_int_equal(strncmp(a, "fv", 2), 0);
	vms_tap_name(longname, c);
	assert_int_equal(strlen(c), 14); /* < IFNAMSIZ */
}

/* vms_open drops a record whose pid is gone, sets a corrupt one aside, adopts nothing. */
static void test_open_drops_stale(void **state)
{
	(void)state;
	struct vms_cfg cfg = { .nice = 10, .bridge = "" };
	struct vms_record w;
	struct vm_info list[4];
	struct err e = { { 0 } };
	struct vms *v;
	char run[128], logs[128], path[200], corrupt[220];
	struct stat st;
	pid_t child;

	snprintf(run, sizeof(run), "%s/run", tdir);
	snprintf(logs, sizeof(logs), "%s/log", tdir);
	assert_int_equal(mkdir(run, 0755), 0);
	snprintf(path, sizeof(path), "%s/vms", run);
	assert_int_equal(mkdir(path, 0755), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, NULL, 0), child);
	sample(&w);
	w.info.pid = child;
	snprintf(path, sizeof(path), "%s/vms/cl-7.json", run);
	assert_int_equal(vms_record_write(path, &w, &e), 0);
	snprintf(corrupt, sizeof(corrupt), "%s/vms/bad.json", run);
	write_text(corrupt, "{\"version\": 1");
	cfg.run_dir = run;
	cfg.log_dir = logs;
	cfg.vm_binary = "/nonexistent/ferry-vm";
	assert_int_equal(vms_open(&v, &cfg, &e), 0);
	assert_int_equal(vms_list(v, list, 4), 0);
	assert_int_not_equal(stat(path, &st), 0);
	assert_int_not_equal(stat(corrupt, &st), 0);
	snprintf(corrupt, sizeof(corrupt), "%s/vms/bad.json.corrupt", run);
	assert_int_equal(stat(corrupt, &st), 0);
	assert_int_equal(vms_get(v, "cl-7", &list[0]), -1);

	/* What is refused before anything starts. */
	struct vm_spec s;

	memset(&s, 0, sizeof(s));
	snprintf(s.name, sizeof(s.name), "Bad_Name");
	assert_int_equal(vms_start(v, &s, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "is not a VM name"));
	snprintf(s.name, sizeof(s.name), "cl-7");
	s.memory = 256ull << 20;
	snprintf(s.kernel, sizeof(s.kernel), "%s/no-such-Image", tdir);
	assert_int_equal(vms_start(v, &s, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "no-such-Image"));
	/* A kernel that exists, a ferry-vm that does not: the exec's error comes back. */
	snprintf(s.kernel, sizeof(s.kernel), "%s/Image", tdir);
	write_text(s.kernel, "not really a kernel");
	assert_int_equal(vms_start(v, &s, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "cannot start /nonexistent/ferry-vm"));
	assert_non_null(strstr(e.msg, "No such file"));
	assert_int_equal(vms_list(v, list, 4), 0);
	assert_int_equal(vms_stop(v, "cl-7", &e), -1);
	assert_non_null(strstr(e.msg, "no VM 'cl-7'"));
	vms_close(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_record_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_corrupt_refused, setup, teardown),
		cmocka_unit_test(test_start_time),
		cmocka_unit_test(test_tap_name),
		cmocka_unit_test_setup_teardown(test_open_drops_stale, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
