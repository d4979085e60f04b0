/* format.c - the API's host, VM and cluster objects as text for people.
 *
 * Lists are tables: a header line, columns two spaces apart, each as wide as its widest
 * cell (a table is built whole, then measured, then printed). One object is a block of
 * "label: value" lines. Sizes go through size_format ("256 MiB"). A member the API must
 * send (docs/api.md) and does not is an error naming it, never a silent blank; a member
 * that may be null (a VM's host before its first start) prints as "-".
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/json.h"
#include "common/names.h"

void cli_table_row(struct cli_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		void *p = realloc(t->cells, cap * sizeof(*t->cells));

		if (!p)
			return;
		t->cells = p;
		t->cap = cap;
	}
	for (size_t c = 0; c < t->ncols; c++)
		snprintf(t->cells[t->nrows][c], CLI_CELL, "%s", cells[c] ? cells[c] : "-");
	t->nrows++;
}

void cli_table_free(struct cli_table *t)
{
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

void cli_table_print(FILE *f, struct cli_table *t, const char *indent)
{
	size_t w[CLI_COLS] = { 0 };

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++)
			if (strlen(t->cells[r][c]) > w[c])
				w[c] = strlen(t->cells[r][c]);
	for (size_t r = 0; r < t->nrows; r++) {
		fputs(indent, f);
		for (size_t c = 0; c < t->ncols; c++) {
			if (c + 1 == t->ncols)
				fprintf(f, "%s\n", t->cells[r][c]);
			else
				fprintf(f, "%-*s  ", (int)w[c], t->cells[r][c]);
		}
	}
	cli_table_free(t);
}

int cli_need_str(const json_t *o, const char *key, const char *what, const char **out,
		 struct err *e)
{
	int r = json_get_str(o, key, out, e);

	if (r < 0)
		return err_prefix(e, "%s", what);
	if (r == 0)
		return err_set(e, "%s has no '%s'", what, key);
	return 0;
}

int cli_need_u64(const json_t *o, const char *key, const char *what, uint64_t *out, struct err *e)
{
	int r = json_get_u64(o, key, out, e);

	if (r < 0)
		return err_prefix(e, "%s", what);
	if (r == 0)
		return err_set(e, "%s has no '%s'", what, key);
	return 0;
}

/* A string member that may be absent or null. */
static const char *cli_opt_str(const json_t *o, const char *key)
{
	return json_string_value(json_get(o, key));
}

/* Used and total memory and vCPUs of a host. */
struct cli_host_use {
	const char *name, *state, *api;
	bool alive;
	uint64_t mem_used, mem_total, cpu_used, cpu_total;
	const json_t *vms;
};

static int cli_host_use(const json_t *h, struct cli_host_use *u, struct err *e)
{
	const json_t *cap, *used;
	char what[96];

	memset(u, 0, sizeof(*u));
	if (!json_is_object(h))
		return err_set(e, "a host that is not an object");
	if (cli_need_str(h, "name", "a host", &u->name, e) < 0)
		return -1;
	snprintf(what, sizeof(what), "host '%s'", u->name);
	if (cli_need_str(h, "state", what, &u->state, e) < 0)
		return -1;
	if (json_get_bool(h, "alive", &u->alive, e) < 0)
		return err_prefix(e, "%s", what);
	u->api = cli_opt_str(h, "api");
	cap = json_get(h, "capacity");
	used = json_get(h, "used");
	if (!json_is_object(cap) || !json_is_object(used))
		return err_set(e, "%s has no 'capacity' or 'used'", what);
	if (cli_need_u64(cap, "memory", what, &u->mem_total, e) < 0 ||
	    cli_need_u64(cap, "vcpus", what, &u->cpu_total, e) < 0 ||
	    cli_need_u64(used, "memory", what, &u->mem_used, e) < 0 ||
	    cli_need_u64(used, "vcpus", what, &u->cpu_used, e) < 0)
		return -1;
	u->vms = json_get(h, "vms");
	return 0;
}

/* A JSON array of strings joined by sep ("-" if empty). */
static void cli_join(const json_t *arr, const char *sep, char *out, size_t size)
{
	size_t i, n = 0;
	json_t *v;

	out[0] = '\0';
	json_array_foreach(arr, i, v)
	{
		const char *s = json_string_value(v);

		if (!s)
			continue;
		int w = snprintf(out + n, size - n, "%s%s", n ? sep : "", s);
		if (w < 0 || (size_t)w >= size - n)
			break;
		n += (size_t)w;
	}
	if (!out[0])
		snprintf(out, size, "-");
}

int cli_format_hosts(FILE *f, const json_t *hosts, struct err *e)
{
	struct cli_table t = { .ncols = 6 };
	static const char *const head[] = { "NAME", "STATE", "ALIVE", "MEMORY", "VCPUS", "VMS" };
	size_t i;
	json_t *h;

	if (!json_is_array(hosts))
		return err_set(e, "the hosts are not an array");
	cli_table_row(&t, head);
	json_array_foreach(hosts, i, h)
	{
		struct cli_host_use u;
		char mu[32], mt[32], mem[80], cpus[48], vms[CLI_CELL];

		if (cli_host_use(h, &u, e) < 0) {
			free(t.cells);
			return -1;
		}
		size_format(u.mem_used, mu, sizeof(mu));
		size_format(u.mem_total, mt, sizeof(mt));
		snprintf(mem, sizeof(mem), "%s / %s", mu, mt);
		snprintf(cpus, sizeof(cpus), "%" PRIu64 "/%" PRIu64, u.cpu_used, u.cpu_total);
		cli_join(u.vms, ",", vms, sizeof(vms));
		const char *row[] = { u.name, u.state, u.alive ? "yes" : "no", mem, cpus, vms };
		cli_table_row(&t, row);
	}
	cli_table_print(f, &t, "");
	return 0;
}

int cli_format_host(FILE *f, const json_t *host, struct err *e)
{
	struct cli_host_use u;
	char mu[32], mt[32], vms[CLI_CELL];
	const char *peer;
	json_t *addrs, *mig;

	if (cli_host_use(host, &u, e) < 0)
		return -1;
	size_format(u.mem_used, mu, sizeof(mu));
	size_format(u.mem_total, mt, sizeof(mt));
	cli_join(u.vms, ", ", vms, sizeof(vms));
	fprintf(f, "name:       %s\n", u.name);
	fprintf(f, "state:      %s\n", u.state);
	fprintf(f, "alive:      %s\n", u.alive ? "yes" : "no (its agent holds no lease)");
	fprintf(f, "api:        %s\n", u.api ? u.api : "-");
	fprintf(f, "memory:     %s used of %s\n", mu, mt);
	fprintf(f, "vcpus:      %" PRIu64 " used of %" PRIu64 "\n", u.cpu_used, u.cpu_total);
	fprintf(f, "vms:        %s\n", vms);
	mig = json_get(host, "migration");
	if (json_is_object(mig) && json_object_size(mig)) {
		bool first = true;

		json_object_foreach(mig, peer, addrs)
		{
			char a[CLI_CELL];

			cli_join(addrs, ", ", a, sizeof(a));
			fprintf(f, "%s%s via %s\n", first ? "migration:  to " : "            to ",
				peer, a);
			first = false;
		}
	} else {
		fprintf(f, "migration:  -\n");
	}
	return 0;
}

/* The members of a VM that its table and block show. */
struct cli_vm_view {
	const char *name, *state, *host;
	const json_t *spec;
	uint64_t memory, vcpus;
};

static int cli_vm_view(const json_t *vm, struct cli_vm_view *v, struct err *e)
{
	char what[96];

	memset(v, 0, sizeof(*v));
	if (!json_is_object(vm))
		return err_set(e, "a VM that is not an object");
	if (cli_need_str(vm, "name", "a VM", &v->name, e) < 0)
		return -1;
	snprintf(what, sizeof(what), "VM '%s'", v->name);
	if (cli_need_str(vm, "state", what, &v->state, e) < 0)
		return -1;
	v->host = cli_opt_str(vm, "host");
	v->spec = json_get(vm, "spec");
	if (!json_is_object(v->spec))
		return err_set(e, "%s has no 'spec'", what);
	if (cli_need_u64(v->spec, "memory", what, &v->memory, e) < 0)
		return -1;
	if (json_get_u64(v->spec, "vcpus", &v->vcpus, e) < 0)
		return err_prefix(e, "%s", what);
	if (!v->vcpus)
		v->vcpus = 1;
	return 0;
}

int cli_format_vms(FILE *f, const json_t *vms, struct err *e)
{
	struct cli_table t = { .ncols = 5 };
	static const char *const head[] = { "NAME", "STATE", "HOST", "MEMORY", "VCPUS" };
	size_t i;
	json_t *vm;

	if (!json_is_array(vms))
		return err_set(e, "the VMs are not an array");
	cli_table_row(&t, head);
	json_array_foreach(vms, i, vm)
	{
		struct cli_vm_view v;
		char mem[32], cpus[24];

		if (cli_vm_view(vm, &v, e) < 0) {
			free(t.cells);
			return -1;
		}
		size_format(v.memory, mem, sizeof(mem));
		snprintf(cpus, sizeof(cpus), "%" PRIu64, v.vcpus);
		const char *row[] = { v.name, v.state, v.host, mem, cpus };
		cli_table_row(&t, row);
	}
	cli_table_print(f, &t, "");
	return 0;
}

int cli_format_vm(FILE *f, const json_t *vm, struct err *e)
{
	static const char *const spec_strs[] = {
		"isa", "disk", "kernel", "initrd", "append", "mac"
	};
	struct cli_vm_view v;
	char mem[32];
	int64_t pid;

	if (cli_vm_view(vm, &v, e) < 0)
		return -1;
	size_format(v.memory, mem, sizeof(mem));
	fprintf(f, "name:     %s\n", v.name);
	fprintf(f, "state:    %s%s\n", v.state,
		!strcmp(v.state, "lost") ? " (its host's agent is gone: it may still run there)"
					 : "");
	fprintf(f, "host:     %s\n", v.host ? v.host : "- (never started)");
	if (json_get_int(vm, "pid", &pid, e) == 1 && pid > 0)
		fprintf(f, "pid:      %" PRId64 "\n", pid);
	if (cli_opt_str(vm, "reason"))
		fprintf(f, "reason:   %s\n", cli_opt_str(vm, "reason"));
	if (cli_opt_str(vm, "since"))
		fprintf(f, "since:    %s\n", cli_opt_str(vm, "since"));
	fprintf(f, "memory:   %s\n", mem);
	fprintf(f, "vcpus:    %" PRIu64 "\n", v.vcpus);
	for (size_t i = 0; i < sizeof(spec_strs) / sizeof(spec_strs[0]); i++) {
		const char *s = cli_opt_str(v.spec, spec_strs[i]);

		fprintf(f, "%s:%*s%s\n", spec_strs[i], (int)(9 - strlen(spec_strs[i])), "",
			s && *s ? s : "-");
	}
	return 0;
}

int cli_format_cluster(FILE *f, const json_t *cluster, struct err *e)
{
	struct cli_table t = { .ncols = 5 };
	static const char *const head[] = { "MEMBER", "ID", "CLIENT URL", "REACHABLE", "LEADER" };
	const json_t *members, *q;
	const char *name, *leader;
	uint64_t qm = 0, qr = 0, qn = 0;
	bool ok = false;
	size_t i;
	json_t *m;

	if (!json_is_object(cluster))
		return err_set(e, "the cluster is not an object");
	if (cli_need_str(cluster, "name", "the cluster", &name, e) < 0)
		return -1;
	leader = cli_opt_str(cluster, "leader");
	members = json_get(cluster, "members");
	q = json_get(cluster, "quorum");
	if (!json_is_array(members))
		return err_set(e, "the cluster has no 'members'");
	if (!json_is_object(q) || cli_need_u64(q, "members", "the quorum", &qm, e) < 0 ||
	    cli_need_u64(q, "reachable", "the quorum", &qr, e) < 0 ||
	    cli_need_u64(q, "needed", "the quorum", &qn, e) < 0 ||
	    json_get_bool(q, "ok", &ok, e) < 0)
		return json_is_object(q) ? -1 : err_set(e, "the cluster has no 'quorum'");
	fprintf(f, "cluster:  %s\n", name);
	fprintf(f, "leader:   %s\n", leader ? leader : "- (none)");
	fprintf(f,
		"quorum:   %s: %" PRIu64 " of %" PRIu64 " members reachable, %" PRIu64 " needed\n",
		ok ? "ok" : "LOST", qr, qm, qn);
	fprintf(f, "\n");
	cli_table_row(&t, head);
	json_array_foreach(members, i, m)
	{
		const char *mn, *id = cli_opt_str(m, "id"), *url = cli_opt_str(m, "client_url");
		bool reach = false, lead = false;

		if (cli_need_str(m, "name", "a member", &mn, e) < 0 ||
		    json_get_bool(m, "reachable", &reach, e) < 0 ||
		    json_get_bool(m, "leader", &lead, e) < 0) {
			free(t.cells);
			return -1;
		}
		const char *row[] = { mn, id, url, reach ? "yes" : "no", lead ? "*" : "" };
		cli_table_row(&t, row);
	}
	cli_table_print(f, &t, "");
	fprintf(f, "\n");
	return cli_format_hosts(f, json_get(cluster, "hosts"), e);
}

void cli_format_json(FILE *f, const json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |
				    JSON_REAL_PRECISION(15));

	if (s) {
		fprintf(f, "%s\n", s);
		free(s);
	}
}

void cli_api_error(long status, const char *body, size_t len, char *out, size_t size)
{
	struct err e;
	json_t *v = body && len ? json_parse(body, len, &e) : NULL;
	const json_t *err = json_get(v, "error");
	const char *msg = json_string_value(json_get(err, "message"));
	const char *code = json_string_value(json_get(err, "code"));

	if (msg && *msg) {
		snprintf(out, size, "%s", msg);
	} else if (code) {
		snprintf(out, size, "%s (HTTP %ld)", code, status);
	} else {
		size_t n = 0;

		while (body && n < len && n < 200 && body[n] != '\n' && body[n] != '\r')
			n++;
		if (n)
			snprintf(out, size, "HTTP %ld: %.*s", status, (int)n, body);
		else
			snprintf(out, size, "HTTP %ld", status);
	}
	json_free(v);
}
