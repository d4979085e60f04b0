/* cmds.c - what each ferry command does: check its arguments, ask the API, print the answer.
 *
 * Every command follows the same steps: names and values are checked here first (a name
 * that is not a name, a size that is not a size: usage, exit 2, before anything is sent);
 * then one request (cli_call) whose error answer becomes "ferry: <the API's message>" and
 * exit 1; then the answer printed, as text (format.c) or with --json as the API's JSON.
 * `cluster init` and `host add` do their work offline in the configuration directory
 * (local.c) and with --json say what they wrote.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/json.h"
#include "common/names.h"

int cli_failed(const char *fmt, ...)
{
	va_list ap;

	fputs("ferry: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_FAILED;
}

/* A usage error of a command: the message and where its help is. */
int cli_usage(const struct cli_args *a, const char *msg)
{
	char words[64];

	cli_cmd_words(a->cmd, words, sizeof(words));
	fprintf(stderr, "ferry: %s\nSee 'ferry help %s'.\n", msg, words);
	return CLI_USAGE;
}

static bool cli_json(const struct cli_args *a)
{
	return cli_flag(a, "json");
}

/* The positional name, normalised (VH01 is vh01). */
static int cli_name(const struct cli_args *a, const char *what, char out[NAME_MAX_LEN + 1])
{
	struct err e;

	if (name_normalize(a->pos[0], out, what, &e) < 0)
		return cli_usage(a, e.msg);
	return 0;
}

/* One API call: 0 with *out the answer's JSON (or NULL if not asked for), else an exit
 * status with the message printed. */
int cli_call(const struct cli_args *a, const char *method, const char *path, const json_t *body,
	     json_t **out)
{
	struct cli_conn *c = malloc(sizeof(*c));
	struct cli_reply r;
	struct err e;
	int rc = CLI_FAILED;

	if (out)
		*out = NULL;
	if (!c)
		return cli_failed("out of memory");
	if (cli_conn_setup(c, a, &e) < 0 || cli_request(c, method, path, body, &r, &e) < 0) {
		free(c);
		return cli_failed("%s", e.msg);
	}
	if (r.status < 200 || r.status > 299) {
		char msg[512];

		cli_api_error(r.status, r.body, r.len, msg, sizeof(msg));
		cli_failed("%s", msg);
	} else if (out) {
		*out = json_parse(r.body, r.len, &e);
		if (*out)
			rc = 0;
		else
			cli_failed("%s answered what is not JSON: %s", c->endpoints[c->answered],
				   e.msg);
	} else {
		rc = 0;
	}
	cli_reply_free(&r);
	free(c);
	return rc;
}

/* Print an answer: JSON, or through a formatter. */
static int cli_show(const struct cli_args *a, const json_t *v,
		    int (*fmt)(FILE *, const json_t *, struct err *))
{
	struct err e;

	if (cli_json(a)) {
		cli_format_json(stdout, v);
		return CLI_OK;
	}
	if (fmt(stdout, v, &e) < 0)
		return cli_failed("the agent's answer: %s", e.msg);
	return CLI_OK;
}

typedef int (*cli_formatter)(FILE *, const json_t *, struct err *);

/* `host ls`, `vm ls`: GET path; --json prints the whole answer, a table shows its member. */
static int cli_list(const struct cli_args *a, const char *path, const char *member,
		    cli_formatter fmt)
{
	json_t *v;
	int rc = cli_call(a, "GET", path, NULL, &v);

	if (rc)
		return rc;
	if (cli_json(a))
		cli_format_json(stdout, v);
	else
		rc = cli_show(a, json_get(v, member), fmt);
	json_free(v);
	return rc;
}

/* `host show`, `vm show`: GET prefix/NAME, the name checked first (what: "host", "VM"). */
static int cli_show_one(const struct cli_args *a, const char *what, const char *prefix,
			cli_formatter fmt)
{
	char name[NAME_MAX_LEN + 1], path[128];
	json_t *v;
	int rc;

	if ((rc = cli_name(a, what, name)))
		return rc;
	snprintf(path, sizeof(path), "%s/%s", prefix, name);
	if ((rc = cli_call(a, "GET", path, NULL, &v)))
		return rc;
	rc = cli_show(a, v, fmt);
	json_free(v);
	return rc;
}

/* ---- cluster and hosts ------------------------------------------------------------------ */

/* This machine's memory (half of it) and CPUs: the default capacity of a host. */
static void cli_local_capacity(uint64_t *memory, unsigned *vcpus)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	*memory = pages > 0 && psize > 0 ? ((uint64_t)pages * (uint64_t)psize / 2) >> 20 << 20
					 : 1ULL << 30;
	if (*memory < (256ULL << 20))
		*memory = 256ULL << 20;
	*vcpus = cpus > 0 ? (unsigned)cpus : 1;
}

/* The host options shared by `cluster init` and `host add`. */
static int cli_host_spec(const struct cli_args *a, const char *name, struct cli_host_spec *s,
			 struct err *e)
{
	const struct cli_values *mig = cli_get_all(a, "migration");
	const char *v;

	memset(s, 0, sizeof(*s));
	s->name = name;
	s->address = cli_get(a, "address");
	cli_local_capacity(&s->memory, &s->vcpus);
	s->api_port = 7443;
	if ((v = cli_get(a, "api-port"))) {
		char *end;
		long p = strtol(v, &end, 10);

		if (*end || end == v || p < 1 || p > 65535)
			return err_set(e, "--api-port '%s' is not a port (1 to 65535)", v);
		s->api_port = (unsigned)p;
	}
	if ((v = cli_get(a, "memory"))) {
		if (size_parse(v, &s->memory, e) < 0)
			return err_prefix(e, "--memory");
		if (s->memory < (16ULL << 20))
			return err_set(e, "--memory %s is less than 16 MiB", v);
	}
	if ((v = cli_get(a, "vcpus"))) {
		char *end;
		long n = strtol(v, &end, 10);

		if (*end || end == v || n < 1 || n > 1024)
			return err_set(e, "--vcpus '%s' is not a number from 1 to 1024", v);
		s->vcpus = (unsigned)n;
	}
	s->bridge = cli_get(a, "bridge");
	if (mig) {
		if (mig->n > HOSTCONF_MAX_PEERS)
			return err_set(e, "more than %d --migration peers", HOSTCONF_MAX_PEERS);
		for (size_t i = 0; i < mig->n; i++) {
			struct hostconf_peer p;

			if (cli_parse_migration(mig->v[i], &p, e) < 0)
				return -1;
			s->migration[s->nmigration++] = mig->v[i];
		}
	}
	s->etcd_url = cli_get(a, "etcd-url");
	s->state_dir = cli_get(a, "state-dir");
	s->run_dir = cli_get(a, "run-dir");
	s->log_dir = cli_get(a, "log-dir");
	return 0;
}

int cli_run_cluster_init(const struct cli_args *a)
{
	char cname[NAME_MAX_LEN + 1], hname[NAME_MAX_LEN + 1], list[1024];
	const char *etcd[HOSTCONF_MAX_ETCD + 1];
	const char *dir = cli_config_dir(a), *v;
	struct cli_host_spec s;
	size_t netcd = 0;
	struct err e;

	if (name_normalize(cli_get(a, "name"), cname, "cluster", &e) < 0 ||
	    name_normalize(cli_get(a, "host"), hname, "host", &e) < 0 ||
	    cli_host_spec(a, hname, &s, &e) < 0)
		return cli_usage(a, e.msg);
	if ((v = cli_get(a, "etcd"))) {
		snprintf(list, sizeof(list), "%s", v);
		for (char *save = NULL, *t = strtok_r(list, ",", &save); t;
		     t = strtok_r(NULL, ",", &save)) {
			if (netcd == HOSTCONF_MAX_ETCD)
				return cli_usage(a, "--etcd: more than 7 URLs");
			etcd[netcd++] = t;
		}
	}
	if (cli_cluster_init(dir, cname, &s, etcd, netcd, &e) < 0)
		return cli_failed("%s", e.msg);
	if (cli_json(a)) {
		json_t *o = json_object();
		char path[4200];

		json_set_str(o, "cluster", cname);
		json_set_str(o, "config_dir", dir);
		json_set_str(o, "host", hname);
		snprintf(path, sizeof(path), "%s/hosts/%s.json", dir, hname);
		json_set_str(o, "host_config", path);
		cli_format_json(stdout, o);
		json_free(o);
	} else {
		printf("cluster '%s' made in %s: ca.crt, ca.key, secret, admin.crt, admin.key, "
		       "cluster.json\n"
		       "host '%s': %s/hosts/%s.{crt,key,json} (start it with ferryd --config "
		       "%s/hosts/%s.json)\n",
		       cname, dir, hname, dir, hname, dir, hname);
	}
	return CLI_OK;
}

int cli_run_cluster_status(const struct cli_args *a)
{
	json_t *v;
	bool ok = false;
	struct err e;
	int rc = cli_call(a, "GET", "/v1/cluster", NULL, &v);

	if (rc)
		return rc;
	rc = cli_show(a, v, cli_format_cluster);
	json_get_bool(json_get(v, "quorum"), "ok", &ok, &e);
	json_free(v);
	return rc ? rc : ok ? CLI_OK : CLI_FAILED;
}

int cli_run_host_ls(const struct cli_args *a)
{
	return cli_list(a, "/v1/hosts", "hosts", cli_format_hosts);
}

int cli_run_host_show(const struct cli_args *a)
{
	return cli_show_one(a, "host", "/v1/hosts", cli_format_host);
}

int cli_run_host_add(const struct cli_args *a)
{
	char name[NAME_MAX_LEN + 1];
	const char *dir = cli_config_dir(a);
	struct cli_host_spec s;
	struct pki_info info;
	struct err e;
	int rc;

	if ((rc = cli_name(a, "host", name)))
		return rc;
	if (cli_host_spec(a, name, &s, &e) < 0)
		return cli_usage(a, e.msg);
	if (cli_host_add(dir, &s, &info, &e) < 0)
		return cli_failed("%s", e.msg);
	if (cli_json(a)) {
		json_t *o = json_object();
		char path[4200];

		json_set_str(o, "host", name);
		snprintf(path, sizeof(path), "%s/hosts/%s.json", dir, name);
		json_set_str(o, "config", path);
		snprintf(path, sizeof(path), "%s/hosts/%s.crt", dir, name);
		json_set_str(o, "cert", path);
		json_set_str(o, "serial", info.serial);
		cli_format_json(stdout, o);
		json_free(o);
	} else {
		char mem[32];

		size_format(s.memory, mem, sizeof(mem));
		printf("host '%s' added: %s/hosts/%s.{crt,key,json} (certificate serial %s; "
		       "offers %s, %u vCPUs; start it with ferryd --config %s/hosts/%s.json)\n",
		       name, dir, name, info.serial, mem, s.vcpus, dir, name);
	}
	return CLI_OK;
}

int cli_run_host_remove(const struct cli_args *a)
{
	char name[NAME_MAX_LEN + 1], path[128];
	const char *dir = cli_config_dir(a);
	bool offline = cli_flag(a, "offline");
	json_t *v = NULL;
	struct err e;
	int rc;

	if ((rc = cli_name(a, "host", name)))
		return rc;
	if (!offline) {
		snprintf(path, sizeof(path), "/v1/hosts/%s", name);
		if ((rc = cli_call(a, "DELETE", path, NULL, &v)))
			return rc;
	}
	if (cli_host_forget(dir, name, &e) < 0) {
		json_free(v);
		return cli_failed("%s%s", offline ? "" : "the cluster removed it, but ", e.msg);
	}
	if (cli_json(a)) {
		json_t *o = v ? json_incref(v) : json_object();

		if (!v)
			json_set_str(o, "removed", name);
		json_set_bool(o, "files_deleted", true);
		cli_format_json(stdout, o);
		json_free(o);
	} else if (offline) {
		printf("host '%s': its files in %s/hosts deleted (offline: nothing revoked)\n",
		       name, dir);
	} else {
		printf("host '%s' removed from the cluster, its certificate revoked; its files in "
		       "%s/hosts deleted\n",
		       name, dir);
	}
	json_free(v);
	return CLI_OK;
}

/* ---- VMs ---------------------------------------------------------------------------------- */

static int cli_abs_path(json_t *o, const struct cli_args *a, const char *opt, const char *key,
			struct err *e)
{
	const char *v = cli_get(a, opt);

	if (!v)
		return 0;
	if (v[0] != '/')
		return err_set(e,
			       "--%s '%s' is not an absolute path (as the hosts see it, on shared "
			       "storage)",
			       opt, v);
	json_set_str(o, key, v);
	return 0;
}

json_t *cli_vm_spec(const struct cli_args *a, struct err *e)
{
	char name[NAME_MAX_LEN + 1];
	const char *v;
	uint64_t mem;
	json_t *o;

	if (!a->npos || name_normalize(a->pos[0], name, "VM", e) < 0)
		return a->npos ? NULL : (err_set(e, "a VM needs a name"), NULL);
	v = cli_get(a, "memory");
	if (!v)
		return err_set(e, "--memory is required"), NULL;
	if (size_parse(v, &mem, e) < 0)
		return err_prefix(e, "--memory"), NULL;
	if (mem < (16ULL << 20))
		return err_set(e, "--memory %s is less than 16 MiB", v), NULL;
	o = json_object();
	json_set_str(o, "name", name);
	json_set_u64(o, "memory", mem);
	if ((v = cli_get(a, "cpus"))) {
		char *end;
		long n = strtol(v, &end, 10);

		if (*end || end == v || n < 1 || n > 1024) {
			json_free(o);
			return err_set(e, "--cpus '%s' is not a number from 1 to 1024", v), NULL;
		}
		json_set_int(o, "vcpus", n);
	} else {
		json_set_int(o, "vcpus", 1);
	}
	if (!cli_get(a, "kernel")) {
		json_free(o);
		return err_set(e, "--kernel is required"), NULL;
	}
	if (cli_abs_path(o, a, "kernel", "kernel", e) < 0 ||
	    cli_abs_path(o, a, "initrd", "initrd", e) < 0 ||
	    cli_abs_path(o, a, "disk", "disk", e) < 0) {
		json_free(o);
		return NULL;
	}
	if ((v = cli_get(a, "append")))
		json_set_str(o, "append", v);
	if ((v = cli_get(a, "isa"))) {
		if (!*v || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(v)) {
			json_free(o);
			return err_set(e, "--isa '%s' is not an ISA string (rv64imac)", v), NULL;
		}
		json_set_str(o, "isa", v);
	}
	if (!o)
		err_set(e, "out of memory");
	return o;
}

/* One line from a VM answer: "cl7: running on vh01", then what the command adds. */
static void cli_vm_line(const json_t *vm, const char *fallback, const char *what)
{
	const char *name = json_string_value(json_get(vm, "name"));
	const char *state = json_string_value(json_get(vm, "state"));
	const char *host = json_string_value(json_get(vm, "host"));

	printf("%s: %s%s%s%s%s\n", name ? name : fallback, state ? state : "?", host ? " on " : "",
	       host ? host : "", what ? " - " : "", what ? what : "");
}

int cli_run_vm_create(const struct cli_args *a)
{
	struct err e;
	json_t *spec = cli_vm_spec(a, &e), *v;
	int rc;

	if (!spec)
		return cli_usage(a, e.msg);
	rc = cli_call(a, "POST", "/v1/vms", spec, &v);
	json_free(spec);
	if (rc)
		return rc;
	if (cli_json(a)) {
		cli_format_json(stdout, v);
	} else {
		const json_t *s = json_get(v, "spec");
		uint64_t mem = 0, cpus = 1;
		char m[32];

		json_get_u64(s, "memory", &mem, &e);
		json_get_u64(s, "vcpus", &cpus, &e);
		size_format(mem, m, sizeof(m));
		printf("%s: created, stopped: %s, %llu vCPU%s, MAC %s\n",
		       json_string_value(json_get(v, "name"))
			   ? json_string_value(json_get(v, "name"))
			   : a->pos[0],
		       m, (unsigned long long)cpus, cpus == 1 ? "" : "s",
		       json_string_value(json_get(s, "mac")) ? json_string_value(json_get(s, "mac"))
							     : "-");
	}
	json_free(v);
	return CLI_OK;
}

int cli_run_vm_ls(const struct cli_args *a)
{
	return cli_list(a, "/v1/vms", "vms", cli_format_vms);
}

int cli_run_vm_show(const struct cli_args *a)
{
	return cli_show_one(a, "VM", "/v1/vms", cli_format_vm);
}

/* POST /v1/vms/NAME/ACTION with body; prints the VM's line. */
static int cli_vm_action(const struct cli_args *a, const char *action, json_t *body,
			 const char *what)
{
	char name[NAME_MAX_LEN + 1], path[160];
	json_t *v;
	int rc;

	if ((rc = cli_name(a, "VM", name)))
		return rc;
	snprintf(path, sizeof(path), "/v1/vms/%s/%s", name, action);
	if ((rc = cli_call(a, "POST", path, body, &v)))
		return rc;
	if (cli_json(a))
		cli_format_json(stdout, v);
	else
		cli_vm_line(v, name, what);
	json_free(v);
	return CLI_OK;
}

int cli_run_vm_start(const struct cli_args *a)
{
	const char *on = cli_get(a, "on");
	json_t *body = json_object();
	int rc;

	if (on) {
		char host[NAME_MAX_LEN + 1];
		struct err e;

		if (name_normalize(on, host, "host", &e) < 0) {
			json_free(body);
			return cli_usage(a, e.msg);
		}
		json_set_str(body, "on", host);
	}
	rc = cli_vm_action(a, "start", body, NULL);
	json_free(body);
	return rc;
}

int cli_run_vm_stop(const struct cli_args *a)
{
	return cli_vm_action(a, "stop", NULL,
			     "powered off hard: its guest was not asked to shut down");
}

int cli_run_vm_rm(const struct cli_args *a)
{
	char name[NAME_MAX_LEN + 1], path[128];
	json_t *v;
	int rc;

	if ((rc = cli_name(a, "VM", name)))
		return rc;
	snprintf(path, sizeof(path), "/v1/vms/%s", name);
	if ((rc = cli_call(a, "DELETE", path, NULL, &v)))
		return rc;
	if (cli_json(a))
		cli_format_json(stdout, v);
	else
		printf("%s: removed (its disk stays)\n", name);
	json_free(v);
	return CLI_OK;
}

int cli_run_vm_log(const struct cli_args *a)
{
	char name[NAME_MAX_LEN + 1], path[160];
	const char *lines = cli_get(a, "lines");
	struct cli_conn *c;
	struct cli_reply r;
	struct err e;
	long n = 100;
	int rc;

	if ((rc = cli_name(a, "VM", name)))
		return rc;
	if (lines) {
		char *end;

		n = strtol(lines, &end, 10);
		if (*end || end == lines || n < 1 || n > 10000)
			return cli_usage(a, "--lines is a number from 1 to 10000");
	}
	snprintf(path, sizeof(path), "/v1/vms/%s/log?lines=%ld", name, n);
	c = malloc(sizeof(*c));
	if (!c)
		return cli_failed("out of memory");
	if (cli_conn_setup(c, a, &e) < 0 || cli_request(c, "GET", path, NULL, &r, &e) < 0) {
		free(c);
		return cli_failed("%s", e.msg);
	}
	free(c);
	if (r.status != 200) {
		char msg[512];

		cli_api_error(r.status, r.body, r.len, msg, sizeof(msg));
		cli_reply_free(&r);
		return cli_failed("%s", msg);
	}
	if (cli_json(a)) {
		json_t *o = json_object();

		json_set_str(o, "name", name);
		json_set_int(o, "lines", n);
		json_set(o, "log", json_text(r.body));
		cli_format_json(stdout, o);
		json_free(o);
	} else {
		fwrite(r.body, 1, r.len, stdout);
	}
	cli_reply_free(&r);
	return CLI_OK;
}

static volatile int cli_stop;

static void cli_on_signal(int sig)
{
	(void)sig;
	cli_stop = 1;
}

int cli_run_vm_console(const struct cli_args *a)
{
	char name[NAME_MAX_LEN + 1], path[160];
	struct sigaction sa = { .sa_handler = cli_on_signal };
	struct cli_conn *c;
	struct err e;
	int rc;

	if ((rc = cli_name(a, "VM", name)))
		return rc;
	snprintf(path, sizeof(path), "/v1/vms/%s/console", name);
	c = malloc(sizeof(*c));
	if (!c)
		return cli_failed("out of memory");
	if (cli_conn_setup(c, a, &e) < 0) {
		free(c);
		return cli_failed("%s", e.msg);
	}
	c->json = cli_json(a);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!c->json && isatty(STDERR_FILENO))
		fprintf(stderr, "ferry: following %s's console (read-only); Ctrl-C to stop\n",
			name);
	rc = cli_follow(c, path, stdout, &cli_stop, &e);
	free(c);
	if (rc < 0)
		return cli_failed("%s", e.msg);
	return CLI_OK;
}

/* ---- version and help ---------------------------------------------------------------------- */

int cli_run_version(const struct cli_args *a)
{
	json_t *agent = NULL;
	int rc;

	if (cli_flag(a, "agent") && (rc = cli_call(a, "GET", "/v1/version", NULL, &agent)))
		return rc;
	if (cli_json(a)) {
		json_t *o = json_object();

		json_set_str(o, "version", cli_version);
		if (agent)
			json_set(o, "agent", json_incref(agent));
		cli_format_json(stdout, o);
		json_free(o);
	} else {
		printf("ferry %s\n", cli_version);
		if (agent) {
			const char *h = json_string_value(json_get(agent, "host"));
			const char *v = json_string_value(json_get(agent, "version"));

			printf("ferryd %s (on %s)\n", v ? v : "?", h ? h : "?");
		}
	}
	json_free(agent);
	return CLI_OK;
}

/* The command table as JSON (help --json). */
static json_t *cli_table_json(void)
{
	json_t *cmds = json_array();

	for (size_t i = 0; i < cli_ncommands; i++) {
		const struct cli_cmd *c = &cli_commands[i];
		json_t *o = json_object(), *opts = json_array();
		char words[64];

		cli_cmd_words(c, words, sizeof(words));
		json_set_str(o, "command", words);
		json_set_str(o, "args", c->args);
		json_set_str(o, "summary", c->summary);
		json_set_str(o, "description", c->description);
		for (int k = 0; c->opts[k].name; k++) {
			json_t *p = json_object();

			json_set_str(p, "name", c->opts[k].name);
			json_set_str(p, "arg", c->opts[k].arg);
			json_set_str(p, "help", c->opts[k].help);
			json_set_bool(p, "required", c->opts[k].flags & CLI_REQUIRED);
			json_set_bool(p, "repeat", c->opts[k].flags & CLI_REPEAT);
			json_push(opts, p);
		}
		json_set(o, "options", opts);
		json_push(cmds, o);
	}
	return cmds;
}

int cli_run_help(const struct cli_args *a)
{
	const struct cli_cmd *c = NULL;

	if (cli_json(a)) {
		json_t *o = json_object();

		json_set(o, "commands", cli_table_json());
		cli_format_json(stdout, o);
		json_free(o);
		return CLI_OK;
	}
	if (a->npos == 0) {
		cli_help_all(stdout);
		return CLI_OK;
	}
	if (a->npos == 1)
		c = cli_find(NULL, a->pos[0]);
	else
		c = cli_find(a->pos[0], a->pos[1]);
	if (!c && a->npos == 1) {
		for (size_t i = 0; cli_groups[i]; i++)
			if (!strcasecmp(cli_groups[i], a->pos[0])) {
				cli_help_group(stdout, cli_groups[i]);
				return CLI_OK;
			}
	}
	if (!c) {
		fprintf(stderr, "ferry: no command '%s%s%s' (see 'ferry help')\n", a->pos[0],
			a->npos > 1 ? " " : "", a->npos > 1 ? a->pos[1] : "");
		return CLI_USAGE;
	}
	cli_help_cmd(stdout, c);
	return CLI_OK;
}
