/* test_cli.c - ferry without a server: parsing, help, output of API objects, credentials,
 * endpoints, the configuration directory. */
#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/json.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ferry-test-cli.XXXXXX");
	unsetenv("FERRY_ENDPOINT");
	unsetenv("FERRY_CONFIG_DIR");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

/* Parse a command line given as words (NULL-terminated). */
static int parse(struct cli_args *a, struct err *e, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;

	argv[argc++] = "ferry";
	va_start(ap, e);
	for (char *w; (w = va_arg(ap, char *));)
		argv[argc++] = w;
	va_end(ap);
	return cli_parse(argc, argv, a, e);
}

/* What a function writes to a FILE, as a malloc'ed string. */
struct capture {
	char *text;
	size_t len;
	FILE *f;
};
static FILE *cap_open(struct capture *c)
{
	c->f = open_memstream(&c->text, &c->len);
	return c->f;
}
static char *cap_close(struct capture *c)
{
	fclose(c->f);
	return c->text;
}

static json_t *parse_json(const char *text)
{
	struct err e;
	json_t *v = json_parse(text, strlen(text), &e);
	if (!v)
		fail_msg("%s", e.msg);
	return v;
}

/* ---- the parser ----------------------------------------------------------------------------- */

static void test_parse_words_and_options(void **state)
{
	(void)state;
	struct cli_args a;
	struct err e;

	assert_int_equal(
	    parse(&a, &e, "vm", "create", "CL7", "--memory", "256M", "--kernel=/k", "--json", NULL),
	    0);
	assert_ptr_equal(a.cmd, cli_find("vm", "create"));
	assert_int_equal(a.npos, 1);
	assert_string_equal(a.pos[0], "CL7");
	assert_string_equal(cli_get(&a, "memory"), "256M");
	assert_string_equal(cli_get(&a, "kernel"), "/k");
	assert_true(cli_flag(&a, "json"));
	assert_false(cli_flag(&a, "verbose"));
	assert_null(cli_get(&a, "disk"));

	/* global options before the words, words in any case, aliases */
	assert_int_equal(parse(&a, &e, "--endpoint", "10.0.0.1:7443", "VM", "List", NULL), 0);
	assert_ptr_equal(a.cmd, cli_find("vm", "ls"));
	assert_string_equal(cli_get(&a, "endpoint"), "10.0.0.1:7443");
	assert_int_equal(parse(&a, &e, "vm", "create", "x", "--memory", "1G", "--kernel", "/k",
			       "--vcpus", "2", NULL),
			 0);
	assert_string_equal(cli_get(&a, "cpus"), "2");
	assert_ptr_equal(cli_find("host", "rm"), cli_find("host", "remove"));

	/* repeatable options keep every value */
	assert_int_equal(parse(&a, &e, "host", "add", "vh02", "--address", "10.0.0.2",
			       "--migration", "vh01=10.1.0.2", "--migration",
			       "vh03=10.2.0.2,10.3.0.2", NULL),
			 0);
	const struct cli_values *m = cli_get_all(&a, "migration");
	assert_int_equal(m->n, 2);
	assert_string_equal(m->v[1], "vh03=10.2.0.2,10.3.0.2");

	/* -- ends options */
	assert_int_equal(parse(&a, &e, "vm", "show", "--", "--odd", NULL), 0);
	assert_string_equal(a.pos[0], "--odd");

	/* help needs no required option */
	assert_int_equal(parse(&a, &e, "vm", "create", "--help", NULL), 0);
	assert_true(a.help);
	assert_int_equal(parse(&a, &e, "host", "add", "-h", NULL), 0);
	assert_true(a.help);

	/* nothing, or a group alone */
	assert_int_equal(parse(&a, &e, NULL), 0);
	assert_null(a.cmd);
	assert_int_equal(parse(&a, &e, "vm", NULL), 0);
	assert_null(a.cmd);
	assert_string_equal(a.group, "vm");
}

static void test_parse_refusals(void **state)
{
	(void)state;
	static const struct {
		const char *w[10];
		const char *msg;
		bool cmd_known;
	} bad[] = {
		{ { "vm", "create", "cl7", "--kernel", "/k", NULL }, "--memory is required", true },
		{ { "vm", "create", "cl7", "--memory", "1G", "--memory", "2G", "--kernel", "/k" },
		  "--memory given twice",
		  true },
		{ { "vm", "start", "cl7", "--to", "vh02", NULL },
		  "unknown option --to for 'vm start'",
		  true },
		{ { "vm", "start", NULL }, "'vm start' needs NAME", true },
		{ { "vm", "start", "a", "b", NULL }, "one too many", true },
		{ { "vm", "stop", "a", "--json=yes", NULL }, "--json takes no value", true },
		{ { "vm", "log", "a", "--lines", NULL }, "--lines needs a value", true },
		{ { "vm", "fly", NULL }, "'fly' is not a 'vm' command", false },
		{ { "teleport", NULL }, "'teleport' is not a command", false },
		{ { "-x", NULL }, "unknown option -x", false },
		{ { "--nope", "vm", "ls", NULL }, "unknown option --nope", false },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[12] = { "ferry" };
		int argc = 1;
		struct cli_args a;
		struct err e;

		for (int k = 0; k < 10 && bad[i].w[k]; k++)
			argv[argc++] = (char *)bad[i].w[k];
		assert_int_equal(cli_parse(argc, argv, &a, &e), -1);
		if (!strstr(e.msg, bad[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, e.msg, bad[i].msg);
		assert_int_equal(a.cmd != NULL, bad[i].cmd_known);
	}
}

/* Every command has its words, summary and a function; no option shadows a global one. */
static void test_table(void **state)
{
	(void)state;
	static const char *const need[] = {
		"cluster init",	 "cluster status",   "host ls",	    "host show", "host add",
		"host remove",	 "vm create",	     "vm ls",	    "vm show",	 "vm start",
		"vm stop",	 "vm log",	     "vm console",  "vm rm",	 "version",
		"help",		 "host drain",	     "host resume", "move",	 "Move-VM",
		"migrations ls", "migrations cancel"
	};
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		char g[16], n[16];
		int k = sscanf(need[i], "%15s %15s", g, n);
		const struct cli_cmd *c = k == 2 ? cli_find(g, n) : cli_find(NULL, g);
		if (!c)
			fail_msg("no command '%s'", need[i]);
	}
	for (size_t i = 0; i < cli_ncommands; i++) {
		const struct cli_cmd *c = &cli_commands[i];
		assert_non_null(c->summary);
		assert_non_null(c->run);
		for (int k = 0; c->opts[k].name; k++)
			for (int g = 0; cli_global_opts[g].name; g++)
				if (!strcmp(c->opts[k].name, cli_global_opts[g].name))
					fail_msg("%s: --%s shadows a global option", c->name,
						 c->opts[k].name);
	}
}

/* ---- help, man page, completion ---------------------------------------------------------------- */

static void test_help(void **state)
{
	(void)state;
	struct capture c;
	char *t;

	cli_help_cmd(cap_open(&c), cli_find("vm", "create"));
	t = cap_close(&c);
	assert_non_null(
	    strstr(t, "usage: ferry vm create NAME --memory SIZE --kernel PATH [OPTIONS]"));
	assert_non_null(strstr(t, "--cpus N, --vcpus N"));
	assert_non_null(strstr(t, "--disk PATH"));
	/* wrapped at 80 columns */
	for (char *line = t, *nl; (nl = strchr(line, '\n')); line = nl + 1)
		assert_true(nl - line <= 80);
	free(t);

	cli_help_cmd(cap_open(&c), cli_find("vm", "stop"));
	t = cap_close(&c);
	assert_non_null(strstr(t, "hard power-off"));
	assert_non_null(strstr(t, "not asked to shut down"));
	free(t);

	cli_help_cmd(cap_open(&c), cli_find("vm", "console"));
	t = cap_close(&c);
	assert_non_null(strstr(t, "not supported yet"));
	free(t);

	cli_help_all(cap_open(&c));
	t = cap_close(&c);
	for (size_t i = 0; i < cli_ncommands; i++) {
		char line[128], words[64];
		cli_cmd_words(&cli_commands[i], words, sizeof(words));
		/* each command on a line of its own, with the start of its summary */
		snprintf(line, sizeof(line), "\n  %-19s%.20s", words, cli_commands[i].summary);
		assert_non_null(strstr(t, line));
	}
	assert_non_null(strstr(t, "--config-dir DIR"));
	free(t);
}

static void test_man_and_completion(void **state)
{
	(void)state;
	struct capture c;
	char *t, path[128], cmd[256];

	cli_man(cap_open(&c), "1.2-3");
	t = cap_close(&c);
	assert_non_null(strstr(t, ".TH FERRY 1"));
	assert_non_null(strstr(t, "ferry 1.2\\-3"));
	assert_non_null(strstr(t, ".SS \"vm create NAME \\-\\-memory SIZE"));
	assert_non_null(strstr(t, ".SS \"cluster status\""));
	assert_non_null(strstr(t, "\\fB\\-\\-on HOST\\fR"));
	/* no line starts with a dot that is not a request we wrote */
	for (char *line = t; *line; line = strchr(line, '\n') + 1) {
		if (line[0] == '.')
			assert_true((line[1] >= 'A' && line[1] <= 'Z') ||
				    !strncmp(line, ".nf\n", 4) || !strncmp(line, ".fi\n", 4) ||
				    line[1] == '\\');
		if (!strchr(line, '\n'))
			break;
	}
	free(t);

	cli_completion(cap_open(&c));
	t = cap_close(&c);
	assert_non_null(strstr(t, "complete -F _ferry ferry"));
	assert_non_null(strstr(t, "'vm create')"));
	assert_non_null(strstr(t, "--memory"));
	snprintf(path, sizeof(path), "%s/ferry.bash", dir);
	FILE *f = fopen(path, "w");
	fputs(t, f);
	fclose(f);
	free(t);
	/* valid bash, and it completes a group's commands and a command's options */
	snprintf(cmd, sizeof(cmd),
		 "bash -c '. %s; COMP_WORDS=(ferry vm st); COMP_CWORD=2; _ferry; "
		 "[ \"${COMPREPLY[*]}\" = \"start stop\" ]'",
		 path);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd),
		 "bash -c '. %s; COMP_WORDS=(ferry --json vm create cl7 --mem); COMP_CWORD=5; "
		 "_ferry; [ \"${COMPREPLY[*]}\" = \"--memory\" ]'",
		 path);
	assert_int_equal(system(cmd), 0);
}

/* ---- output -------------------------------------------------------------------------------------- */

static const char host_json[] =
    "{\"name\": \"vh01\", \"alive\": true, \"state\": \"active\", \"api\": "
    "\"10.77.0.11:7443\", \"capacity\": {\"memory\": 1073741824, \"vcpus\": 4}, \"used\": "
    "{\"memory\": 268435456, \"vcpus\": 1}, \"vms\": [\"cl7\"], \"migration\": {\"vh02\": "
    "[\"10.78.1.1\", \"10.78.2.1\"]}}";

static void test_format_hosts(void **state)
{
	(void)state;
	char text[2048];
	snprintf(text, sizeof(text),
		 "[%s, {\"name\": \"vh02-long-name\", \"alive\": false, \"state\": \"draining\", "
		 "\"capacity\": {\"memory\": 2147483648, \"vcpus\": 8}, \"used\": {\"memory\": 0, "
		 "\"vcpus\": 0}, \"vms\": []}]",
		 host_json);
	json_t *v = parse_json(text);
	struct capture c;
	struct err e;
	char *t;

	assert_int_equal(cli_format_hosts(cap_open(&c), v, &e), 0);
	t = cap_close(&c);
	assert_string_equal(t, "NAME            STATE     ALIVE  MEMORY           VCPUS  VMS\n"
			       "vh01            active    yes    256 MiB / 1 GiB  1/4    cl7\n"
			       "vh02-long-name  draining  no     0 B / 2 GiB      0/8    -\n");
	free(t);
	json_free(v);
}

static void test_format_host(void **state)
{
	(void)state;
	json_t *v = parse_json(host_json);
	struct capture c;
	struct err e;
	char *t;

	assert_int_equal(cli_format_host(cap_open(&c), v, &e), 0);
	t = cap_close(&c);
	assert_non_null(strstr(t, "name:       vh01\n"));
	assert_non_null(strstr(t, "alive:      yes\n"));
	assert_non_null(strstr(t, "api:        10.77.0.11:7443\n"));
	assert_non_null(strstr(t, "memory:     256 MiB used of 1 GiB\n"));
	assert_non_null(strstr(t, "vcpus:      1 used of 4\n"));
	assert_non_null(strstr(t, "migration:  to vh02 via 10.78.1.1, 10.78.2.1\n"));
	free(t);
	json_free(v);

	/* a host without its capacity is an error that names it */
	v = parse_json("{\"name\": \"vh09\", \"alive\": true, \"state\": \"active\"}");
	assert_int_equal(cli_format_host(cap_open(&c), v, &e), -1);
	free(cap_close(&c));
	assert_non_null(strstr(e.msg, "host 'vh09'"));
	json_free(v);
}

static const char vm_json[] =
    "{\"name\": \"cl7\", \"spec\": {\"memory\": 268435456, \"vcpus\": 2, \"isa\": \"\", "
    "\"disk\": \"/srv/shared/cl7.img\", \"kernel\": \"/srv/shared/Image\", \"initrd\": "
    "\"/srv/shared/initramfs.cpio\", \"append\": \"console=ttyS0 ferry.workload=counter\", "
    "\"mac\": \"02:fe:3c:11:08:a2\"}, \"state\": \"running\", \"host\": \"vh01\", \"pid\": "
    "4242, \"since\": \"2026-12-02T06:10:11Z\"}";

static void test_format_vms(void **state)
{
	(void)state;
	char text[2048];
	snprintf(text, sizeof(text),
		 "[%s, {\"name\": \"cl8\", \"spec\": {\"memory\": 1610612736}, \"state\": "
		 "\"stopped\", \"host\": null}]",
		 vm_json);
	json_t *v = parse_json(text);
	struct capture c;
	struct err e;
	char *t;

	assert_int_equal(cli_format_vms(cap_open(&c), v, &e), 0);
	t = cap_close(&c);
	assert_string_equal(t, "NAME  STATE    HOST  MEMORY   VCPUS\n"
			       "cl7   running  vh01  256 MiB  2\n"
			       "cl8   stopped  -     1.5 GiB  1\n");
	free(t);
	json_free(v);

	v = parse_json(vm_json);
	assert_int_equal(cli_format_vm(cap_open(&c), v, &e), 0);
	t = cap_close(&c);
	assert_non_null(strstr(t, "state:    running\n"));
	assert_non_null(strstr(t, "host:     vh01\n"));
	assert_non_null(strstr(t, "pid:      4242\n"));
	assert_non_null(strstr(t, "memory:   256 MiB\n"));
	assert_non_null(strstr(t, "isa:      -\n"));
	assert_non_null(strstr(t, "disk:     /srv/shared/cl7.img\n"));
	assert_non_null(strstr(t, "append:   console=ttyS0 ferry.workload=counter\n"));
	assert_non_null(strstr(t, "mac:      02:fe:3c:11:08:a2\n"));
	free(t);
	json_free(v);

	v = parse_json(
	    "{\"name\": \"cl9\", \"state\": \"lost\", \"host\": \"vh02\", \"pid\": null, "
	    "\"reason\": \"its host's agent is gone\", \"spec\": {\"memory\": 16777216}}");
	assert_int_equal(cli_format_vm(cap_open(&c), v, &e), 0);
	t = cap_close(&c);
	assert_non_null(strstr(t, "lost (its host's agent is gone"));
	assert_non_null(strstr(t, "reason:   its host's agent is gone\n"));
	assert_null(strstr(t, "pid:"));
	free(t);
	json_free(v);

	v = parse_json("[{\"name\": \"cl9\", \"state\": \"stopped\"}]");
	assert_int_equal(cli_format_vms(cap_open(&c), v, &e), -1);
	free(cap_close(&c));
	assert_non_null(strstr(e.msg, "VM 'cl9' has no 'spec'"));
	json_free(v);
}

static void test_format_cluster(void **state)
{
	(void)state;
	char text[4096];
	snprintf(
	    text, sizeof(text),
	    "{\"name\": \"ferry\", \"members\": [{\"name\": \"vh01\", \"id\": "
	    "\"8e9e05c52164694d\", \"client_url\": \"https://10.77.0.11:2379\", \"reachable\": "
	    "true, \"leader\": true}, {\"name\": \"vh02\", \"id\": \"91bc3c398fb3c146\", "
	    "\"client_url\": \"https://10.77.0.12:2379\", \"reachable\": false, \"leader\": "
	    "false}], \"leader\": \"vh01\", \"quorum\": {\"members\": 3, \"reachable\": 2, "
	    "\"needed\": 2, \"ok\": true}, \"hosts\": [%s]}",
	    host_json);
	json_t *v = parse_json(text);
	struct capture c;
	struct err e;
	char *t;

	assert_int_equal(cli_format_cluster(cap_open(&c), v, &e), 0);
	t = cap_close(&c);
	assert_non_null(strstr(t, "cluster:  ferry\n"));
	assert_non_null(strstr(t, "leader:   vh01\n"));
	assert_non_null(strstr(t, "quorum:   ok: 2 of 3 members reachable, 2 needed\n"));
	assert_non_null(strstr(t, "MEMBER  ID                CLIENT URL               REACHABLE  "
				  "LEADER\n"));
	assert_non_null(strstr(t, "vh01    8e9e05c52164694d  https://10.77.0.11:2379  yes        "
				  "*\n"));
	assert_non_null(strstr(t, "vh02    91bc3c398fb3c146  https://10.77.0.12:2379  no         "
				  "\n"));
	assert_non_null(strstr(t, "vh01  active  yes    256 MiB / 1 GiB  1/4    cl7\n"));
	free(t);
	json_free(v);

	v = parse_json("{\"name\": \"ferry\", \"members\": [], \"leader\": null, \"quorum\": "
		       "{\"members\": 3, \"reachable\": 1, \"needed\": 2, \"ok\": false}, "
		       "\"hosts\": []}");
	assert_int_equal(cli_format_cluster(cap_open(&c), v, &e), 0);
	t = cap_close(&c);
	assert_non_null(strstr(t, "leader:   - (none)\n"));
	assert_non_null(strstr(t, "quorum:   LOST: 1 of 3 members reachable, 2 needed\n"));
	free(t);
	json_free(v);
}

static void test_format_json_and_errors(void **state)
{
	(void)state;
	json_t *v = parse_json("{\"b\": 1, \"a\": [true]}");
	struct capture c;
	char *t, msg[256];

	cli_format_json(cap_open(&c), v);
	t = cap_close(&c);
	assert_string_equal(t, "{\n  \"b\": 1,\n  \"a\": [\n    true\n  ]\n}\n");
	free(t);
	json_free(v);

	const char *body = "{\"error\": {\"code\": \"not_found\", \"message\": \"no VM named "
			   "'cl8'\"}}";
	cli_api_error(404, body, strlen(body), msg, sizeof(msg));
	assert_string_equal(msg, "no VM named 'cl8'");
	body = "{\"error\": {\"code\": \"internal\"}}";
	cli_api_error(500, body, strlen(body), msg, sizeof(msg));
	assert_string_equal(msg, "internal (HTTP 500)");
	body = "Bad Gateway\r\nmore";
	cli_api_error(502, body, strlen(body), msg, sizeof(msg));
	assert_string_equal(msg, "HTTP 502: Bad Gateway");
	cli_api_error(503, NULL, 0, msg, sizeof(msg));
	assert_string_equal(msg, "HTTP 503");
}

/* ---- vm create's body --------------------------------------------------------------------------- */

static void test_vm_spec(void **state)
{
	(void)state;
	struct cli_args a;
	struct err e;
	json_t *v;
	char *t;

	assert_int_equal(parse(&a, &e, "vm", "create", "CL7", "--memory", "256M", "--cpus", "2",
			       "--kernel", "/srv/Image", "--disk", "/srv/cl7.img", "--append",
			       "console=ttyS0 ip=10.0.0.7", "--isa", "rv64imac", NULL),
			 0);
	v = cli_vm_spec(&a, &e);
	assert_non_null(v);
	t = json_encode(v, NULL);
	assert_string_equal(t, "{\"name\": \"cl7\", \"memory\": 268435456, \"vcpus\": 2, "
			       "\"kernel\": \"/srv/Image\", \"disk\": \"/srv/cl7.img\", "
			       "\"append\": \"console=ttyS0 ip=10.0.0.7\", \"isa\": \"rv64imac\"}");
	free(t);
	json_free(v);

	static const struct {
		const char *name, *mem, *cpus, *kernel, *msg;
	} bad[] = {
		{ "cl_7", "256M", "1", "/k", "'_' at position 3" },
		{ "cl7", "256Q", "1", "/k", "--memory" },
		{ "cl7", "1M", "1", "/k", "less than 16 MiB" },
		{ "cl7", "256M", "0", "/k", "--cpus '0'" },
		{ "cl7", "256M", "two", "/k", "--cpus 'two'" },
		{ "cl7", "256M", "1", "Image", "not an absolute path" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(&a, &e, "vm", "create", bad[i].name, "--memory", bad[i].mem,
				       "--cpus", bad[i].cpus, "--kernel", bad[i].kernel, NULL),
				 0);
		assert_null(cli_vm_spec(&a, &e));
		if (!strstr(e.msg, bad[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, e.msg, bad[i].msg);
	}
}

/* ---- credentials and endpoints -------------------------------------------------------------------- */

static void put(const char *name, const char *text, mode_t mode)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	fchmod(fd, mode);
	close(fd);
}

static void test_secret_file(void **state)
{
	(void)state;
	char path[256], s[128];
	struct err e;

	snprintf(path, sizeof(path), "%s/s", dir);
	put("s", "00ff\n", 0600);
	assert_int_equal(cli_read_secret(path, s, sizeof(s), &e), 0);
	assert_string_equal(s, "00ff");
	put("s", "00ff\n", 0400);
	assert_int_equal(cli_read_secret(path, s, sizeof(s), &e), 0);
	put("s", "00ff\n", 0644);
	assert_int_equal(cli_read_secret(path, s, sizeof(s), &e), -1);
	assert_non_null(strstr(e.msg, "mode 0644"));
	put("s", "00ff\n", 0660);
	assert_int_equal(cli_read_secret(path, s, sizeof(s), &e), -1);
	put("s", "\n", 0600);
	assert_int_equal(cli_read_secret(path, s, sizeof(s), &e), -1);
	assert_non_null(strstr(e.msg, "empty"));
	put("s", "a b\n", 0600);
	assert_int_equal(cli_read_secret(path, s, sizeof(s), &e), -1);
	unlink(path);
}

static void test_conn_setup(void **state)
{
	(void)state;
	struct cli_conn *c = malloc(sizeof(*c));
	struct cli_args a;
	struct err e;
	char cfg[128];

	snprintf(cfg, sizeof(cfg), "%s/etc", dir);
	mkdir(cfg, 0755);
	/* no CA: not a cluster's directory */
	assert_int_equal(parse(&a, &e, "--config-dir", cfg, "vm", "ls", NULL), 0);
	assert_int_equal(cli_conn_setup(c, &a, &e), -1);
	assert_non_null(strstr(e.msg, "ca.crt"));
	put("etc/ca.crt", "x", 0644);
	/* no credentials at all: refused, saying how to get some */
	assert_int_equal(cli_conn_setup(c, &a, &e), -1);
	assert_non_null(strstr(e.msg, "no credentials"));
	assert_non_null(strstr(e.msg, "--secret-file"));
	/* a secret too open: refused */
	put("etc/secret", "abc\n", 0644);
	assert_int_equal(cli_conn_setup(c, &a, &e), -1);
	assert_non_null(strstr(e.msg, "mode 0644"));
	put("etc/secret", "abc\n", 0600);
	/* a secret, but nowhere to send it */
	assert_int_equal(cli_conn_setup(c, &a, &e), -1);
	assert_non_null(strstr(e.msg, "--endpoint"));
	put("etc/cluster.json",
	    "{\"name\": \"lab\", \"etcd\": [], \"hosts\": [{\"name\": \"vh01\", \"address\": "
	    "\"10.0.0.1\", \"api\": \"10.0.0.1:7443\"}, {\"name\": \"vh02\", \"address\": "
	    "\"10.0.0.2\", \"api\": \"10.0.0.2:7443\"}]}",
	    0644);
	assert_int_equal(cli_conn_setup(c, &a, &e), 0);
	assert_string_equal(c->secret, "abc");
	assert_string_equal(c->cert, "");
	assert_int_equal(c->nendpoints, 2);
	assert_string_equal(c->endpoints[0], "10.0.0.1:7443");
	/* the admin certificate comes first when it can be read */
	put("etc/admin.crt", "c", 0644);
	put("etc/admin.key", "k", 0600);
	assert_int_equal(cli_conn_setup(c, &a, &e), 0);
	assert_non_null(strstr(c->cert, "/etc/admin.crt"));
	assert_string_equal(c->secret, "");
	/* --secret-file says otherwise */
	char sf[256];
	snprintf(sf, sizeof(sf), "%s/etc/secret", dir);
	assert_int_equal(parse(&a, &e, "--config-dir", cfg, "--secret-file", sf, "vm", "ls", NULL),
			 0);
	assert_int_equal(cli_conn_setup(c, &a, &e), 0);
	assert_string_equal(c->secret, "abc");
	assert_string_equal(c->cert, "");
	/* the endpoint asked for first, then the cluster's hosts, none twice */
	assert_int_equal(
	    parse(&a, &e, "--config-dir", cfg, "--endpoint", "10.0.0.2:7443", "vm", "ls", NULL), 0);
	assert_int_equal(cli_conn_setup(c, &a, &e), 0);
	assert_int_equal(c->nendpoints, 2);
	assert_string_equal(c->endpoints[0], "10.0.0.2:7443");
	assert_string_equal(c->endpoints[1], "10.0.0.1:7443");
	setenv("FERRY_ENDPOINT", "[fd00::9]:7443", 1);
	setenv("FERRY_CONFIG_DIR", cfg, 1);
	assert_int_equal(parse(&a, &e, "vm", "ls", NULL), 0);
	assert_int_equal(cli_conn_setup(c, &a, &e), 0);
	assert_int_equal(c->nendpoints, 3);
	assert_string_equal(c->endpoints[0], "[fd00::9]:7443");
	setenv("FERRY_ENDPOINT", "10.0.0.1:99999", 1);
	assert_int_equal(cli_conn_setup(c, &a, &e), -1);
	assert_non_null(strstr(e.msg, "--endpoint"));
	unsetenv("FERRY_ENDPOINT");
	unsetenv("FERRY_CONFIG_DIR");
	free(c);
}

/* ---- the configuration directory --------------------------------------------------------------- */

static void test_migration_arg(void **state)
{
	(void)state;
	struct hostconf_peer p;
	struct err e;

	assert_int_equal(cli_parse_migration("VH02=10.78.1.1,10.78.2.1", &p, &e), 0);
	assert_string_equal(p.name, "vh02");
	assert_int_equal(p.naddrs, 2);
	assert_string_equal(p.addrs[1], "10.78.2.1");
	assert_int_equal(cli_parse_migration("vh02", &p, &e), -1);
	assert_int_equal(cli_parse_migration("=1.2.3.4", &p, &e), -1);
	assert_int_equal(cli_parse_migration("vh02=1.2.3.4,", &p, &e), -1);
	assert_int_equal(cli_parse_migration("v_2=1.2.3.4", &p, &e), -1);
	assert_int_equal(cli_parse_migration("vh02=a,b,c,d,e", &p, &e), -1);
	assert_non_null(strstr(e.msg, "more than 4"));
}

/* With --etcd the store runs elsewhere: no member for ferryd to run. */
static void test_init_etcd_elsewhere(void **state)
{
	(void)state;
	char cfg[128], path[256];
	const char *const etcd[] = { "https://10.77.0.5:2379" };
	struct cli_host_spec h = {
		.name = "vh01", .address = "10.77.0.11", .memory = 1ULL << 30, .vcpus = 4
	};
	struct hostconf *hc = malloc(sizeof(*hc));
	struct err e;

	snprintf(cfg, sizeof(cfg), "%s/cfg-elsewhere", dir);
	assert_int_equal(cli_cluster_init(cfg, "lab", &h, etcd, 1, &e), 0);
	snprintf(path, sizeof(path), "%s/hosts/vh01.json", cfg);
	assert_int_equal(hostconf_load(hc, path, &e), 0);
	assert_false(hc->etcd_member.enabled);
	assert_int_equal(hc->netcd, 1);
	assert_string_equal(hc->etcd[0], "https://10.77.0.5:2379");
	free(hc);
}

static void test_init_add_forget(void **state)
{
	(void)state;
	char cfg[128], path[256];
	struct cli_host_spec h = { .name = "vh01",
				   .address = "10.77.0.11",
				   .memory = 1ULL << 30,
				   .vcpus = 4,
				   .migration = { "vh02=10.78.1.1" },
				   .nmigration = 1 };
	struct cli_cluster cl;
	struct hostconf *hc = malloc(sizeof(*hc));
	struct pki_info info;
	struct err e;
	struct stat st;

	snprintf(cfg, sizeof(cfg), "%s/cfg", dir);
	assert_int_equal(cli_cluster_init(cfg, "lab", &h, NULL, 0, &e), 0);
	snprintf(path, sizeof(path), "%s/secret", cfg);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 65);
	assert_int_equal(cli_cluster_load(&cl, cfg, &e), 0);
	assert_string_equal(cl.name, "lab");
	assert_int_equal(cl.netcd, 1);
	assert_string_equal(cl.etcd[0], "https://10.77.0.11:2379");
	assert_int_equal(cl.nhosts, 1);
	assert_string_equal(cl.hosts[0].api, "10.77.0.11:7443");
	snprintf(path, sizeof(path), "%s/hosts/vh01.json", cfg);
	assert_int_equal(hostconf_load(hc, path, &e), 0);
	assert_string_equal(hc->cluster, "lab");
	assert_string_equal(hc->peers[0].name, "vh02");
	assert_true(hc->memory == 1ULL << 30);
	assert_string_equal(hc->bridge, "br0");
	assert_non_null(strstr(hc->ca, "/cfg/ca.crt"));
	assert_true(hc->ca[0] == '/');
	/* no --etcd: a one-machine cluster, whose first host's ferryd runs the member */
	assert_true(hc->etcd_member.enabled);
	assert_string_equal(hc->etcd_member.client_url, "https://10.77.0.11:2379");
	assert_string_equal(hc->etcd_member.peer_url, "https://10.77.0.11:2380");
	assert_string_equal(hc->etcd_member.data_dir, "/var/lib/ferry/etcd");
	assert_string_equal(hc->etcd_member.binary, "/usr/bin/etcd");
	/* a second init is refused and changes nothing */
	assert_int_equal(cli_cluster_init(cfg, "other", &h, NULL, 0, &e), -1);
	assert_non_null(strstr(e.msg, "holds a cluster already"));
	assert_int_equal(cli_cluster_load(&cl, cfg, &e), 0);
	assert_string_equal(cl.name, "lab");

	/* a second host with its own etcd member and an IPv6 address */
	struct cli_host_spec h2 = { .name = "vh02",
				    .address = "fd00::12",
				    .api_port = 8443,
				    .memory = 512ULL << 20,
				    .vcpus = 2,
				    .etcd_url = "https://[fd00::12]:2379",
				    .state_dir = "/tmp/lab/vh02/state" };
	assert_int_equal(cli_host_add(cfg, &h2, &info, &e), 0);
	assert_int_equal(strlen(info.serial), 32);
	assert_string_equal(info.cn, "vh02");
	snprintf(path, sizeof(path), "%s/hosts/vh02.json", cfg);
	assert_int_equal(hostconf_load(hc, path, &e), 0);
	assert_string_equal(hc->api, "[fd00::12]:8443");
	assert_int_equal(hc->netcd, 2);
	assert_string_equal(hc->etcd[0], "https://[fd00::12]:2379");
	assert_string_equal(hc->state_dir, "/tmp/lab/vh02/state");
	assert_false(hc->etcd_member.enabled); /* host add leaves its member to the operator */
	/* the first host learnt the new member, its own staying first */
	snprintf(path, sizeof(path), "%s/hosts/vh01.json", cfg);
	assert_int_equal(hostconf_load(hc, path, &e), 0);
	assert_int_equal(hc->netcd, 2);
	assert_string_equal(hc->etcd[0], "https://10.77.0.11:2379");
	assert_string_equal(hc->etcd[1], "https://[fd00::12]:2379");
	assert_true(hc->etcd_member.enabled); /* kept when its file is written again */
	/* the same host again: refused */
	assert_int_equal(cli_host_add(cfg, &h2, &info, &e), -1);
	assert_non_null(strstr(e.msg, "exists already"));
	/* a bad directory option: refused before anything is written */
	struct cli_host_spec h3 = { .name = "vh03",
				    .address = "10.77.0.13",
				    .memory = 1ULL << 30,
				    .vcpus = 1,
				    .run_dir = "run" };
	assert_int_equal(cli_host_add(cfg, &h3, &info, &e), -1);
	assert_non_null(strstr(e.msg, "absolute"));
	snprintf(path, sizeof(path), "%s/hosts/vh03.key", cfg);
	assert_int_equal(access(path, F_OK), -1);

	/* forget: files gone, cluster.json without it */
	assert_int_equal(cli_host_forget(cfg, "vh02", &e), 0);
	snprintf(path, sizeof(path), "%s/hosts/vh02.key", cfg);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(cli_cluster_load(&cl, cfg, &e), 0);
	assert_int_equal(cl.nhosts, 1);
	assert_string_equal(cl.hosts[0].name, "vh01");
	/* ... and it may be added again */
	assert_int_equal(cli_host_add(cfg, &h2, &info, &e), 0);
	free(hc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_words_and_options),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_man_and_completion),
		cmocka_unit_test(test_format_hosts),
		cmocka_unit_test(test_format_host),
		cmocka_unit_test(test_format_vms),
		cmocka_unit_test(test_format_cluster),
		cmocka_unit_test(test_format_json_and_errors),
		cmocka_unit_test(test_vm_spec),
		cmocka_unit_test(test_secret_file),
		cmocka_unit_test(test_conn_setup),
		cmocka_unit_test(test_migration_arg),
		cmocka_unit_test(test_init_add_forget),
		cmocka_unit_test(test_init_etcd_elsewhere),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
