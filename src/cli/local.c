/* local.c - the cluster's configuration directory: cluster.json, the CA, the hosts' files.
 *
 *   DIR/ca.crt, ca.key (0600)        the cluster's CA
 *   DIR/secret (0600)                256 random bits in hex: the bearer secret of the API
 *   DIR/admin.crt, admin.key (0600)  the client certificate ferry uses (CN=admin)
 *   DIR/cluster.json                 {"name", "etcd": [URL...], "hosts": [{"name",
 *                                     "address", "api"}...]}: what ferry needs to find
 *                                     agents, and what `host add` copies into a host's file
 *   DIR/hosts/NAME.{crt,key,json}    a host's certificate, key (0600) and configuration
 *
 * `cluster init` and `host add` run offline (the files exist before any agent does) and
 * all-or-nothing: what a failed call wrote is removed again, and nothing existing is ever
 * written over (a cluster or a host that exists is refused by name). Every path written
 * into a host's file is absolute, since ferryd does not run where ferry ran. A cluster made
 * without --etcd is a one-machine cluster: the first host's file gets "etcd_member", and its
 * ferryd runs the store's one member itself.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/ca.h"
#include "cli/cli.h"
#include "common/json.h"
#include "common/names.h"

const char *cli_config_dir(const struct cli_args *a)
{
	const char *d = a ? cli_get(a, "config-dir") : NULL;

	if (!d || !*d)
		d = getenv("FERRY_CONFIG_DIR");
	return d && *d ? d : "/etc/ferry";
}

#define CLI_PATH(buf, e, ...)                                                                      \
	((size_t)snprintf(buf, sizeof(buf), __VA_ARGS__) >= sizeof(buf)                            \
	     ? err_set(e, "path too long: %s", buf)                                                \
	     : 0)

static int cli_read_text(const char *path, char **out, size_t *len, struct err *e)
{
	FILE *f = fopen(path, "re");
	size_t cap = 1 << 20;

	if (!f)
		return err_errno(e, "%s", path);
	*out = malloc(cap + 1);
	if (!*out) {
		fclose(f);
		return err_set(e, "out of memory");
	}
	*len = fread(*out, 1, cap + 1, f);
	fclose(f);
	if (*len > cap) {
		free(*out);
		return err_set(e, "%s: larger than 1 MiB", path);
	}
	(*out)[*len] = '\0';
	return 0;
}

static int cli_cluster_parse(struct cli_cluster *c, const json_t *o, struct err *e)
{
	const json_t *etcd = json_get(o, "etcd"), *hosts = json_get(o, "hosts");
	const char *name;
	size_t i;
	json_t *v;

	memset(c, 0, sizeof(*c));
	if (!json_is_object(o))
		return err_set(e, "not a JSON object");
	if (json_get_str(o, "name", &name, e) != 1 || strlen(name) >= sizeof(c->name))
		return err_set(e, "'name' is missing or not a cluster name");
	snprintf(c->name, sizeof(c->name), "%s", name);
	if (etcd && (!json_is_array(etcd) || json_array_size(etcd) > HOSTCONF_MAX_ETCD))
		return err_set(e, "'etcd' is not an array of at most %d URLs", HOSTCONF_MAX_ETCD);
	json_array_foreach(etcd, i, v)
	{
		const char *s = json_string_value(v);

		if (!s || strlen(s) >= sizeof(c->etcd[0]))
			return err_set(e, "'etcd' member %zu is not a URL", i + 1);
		snprintf(c->etcd[c->netcd++], sizeof(c->etcd[0]), "%s", s);
	}
	if (hosts && (!json_is_array(hosts) || json_array_size(hosts) > CLI_MAX_HOSTS))
		return err_set(e, "'hosts' is not an array of at most %d hosts", CLI_MAX_HOSTS);
	json_array_foreach(hosts, i, v)
	{
		struct cli_cluster_host *h = &c->hosts[c->nhosts];
		const char *hn = NULL, *addr = NULL, *api = NULL;

		if (json_get_str(v, "name", &hn, e) != 1 || json_get_str(v, "api", &api, e) != 1 ||
		    json_get_str(v, "address", &addr, e) < 0 || strlen(hn) >= sizeof(h->name) ||
		    strlen(api) >= sizeof(h->api) || (addr && strlen(addr) >= sizeof(h->address)))
			return err_set(e, "host %zu of 'hosts' lacks a 'name' or an 'api'", i + 1);
		snprintf(h->name, sizeof(h->name), "%s", hn);
		snprintf(h->api, sizeof(h->api), "%s", api);
		snprintf(h->address, sizeof(h->address), "%s", addr ? addr : "");
		c->nhosts++;
	}
	return 0;
}

int cli_cluster_load(struct cli_cluster *c, const char *dir, struct err *e)
{
	char path[PATH_MAX], *text = NULL;
	size_t len = 0;
	json_t *o;
	int rc;

	if (CLI_PATH(path, e, "%s/cluster.json", dir) < 0 ||
	    cli_read_text(path, &text, &len, e) < 0)
		return -1;
	o = json_parse(text, len, e);
	free(text);
	if (!o)
		return err_prefix(e, "%s", path);
	rc = cli_cluster_parse(c, o, e);
	json_free(o);
	return rc < 0 ? err_prefix(e, "%s", path) : 0;
}

int cli_cluster_save(const struct cli_cluster *c, const char *dir, struct err *e)
{
	json_t *o = json_object(), *etcd = json_array(), *hosts = json_array();
	char path[PATH_MAX], *text;
	int rc;

	json_set_str(o, "name", c->name);
	for (size_t i = 0; i < c->netcd; i++)
		json_push(etcd, json_text(c->etcd[i]));
	json_set(o, "etcd", etcd);
	for (size_t i = 0; i < c->nhosts; i++) {
		json_t *h = json_object();

		json_set_str(h, "name", c->hosts[i].name);
		json_set_str(h, "address", c->hosts[i].address);
		json_set_str(h, "api", c->hosts[i].api);
		json_push(hosts, h);
	}
	json_set(o, "hosts", hosts);
	text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_free(o);
	if (!text)
		return err_set(e, "out of memory");
	rc = CLI_PATH(path, e, "%s/cluster.json", dir);
	if (rc == 0)
		rc = hostconf_write_file(path, text, 0644, e);
	free(text);
	return rc;
}

int cli_parse_migration(const char *s, struct hostconf_peer *p, struct err *e)
{
	const char *eq = strchr(s, '=');
	char peer[256];

	memset(p, 0, sizeof(*p));
	if (!eq || eq == s || (size_t)(eq - s) >= sizeof(peer))
		return err_set(e, "--migration '%s' is not PEER=ADDR[,ADDR]", s);
	memcpy(peer, s, (size_t)(eq - s));
	peer[eq - s] = '\0';
	if (name_normalize(peer, p->name, "host", e) < 0)
		return err_prefix(e, "--migration");
	for (const char *a = eq + 1;;) {
		size_t n = strcspn(a, ",");

		if (n == 0 || n >= sizeof(p->addrs[0]))
			return err_set(e, "--migration '%s': an empty or overlong address", s);
		if (p->naddrs == HOSTCONF_MAX_LINKS)
			return err_set(e, "--migration '%s': more than %d addresses", s,
				       HOSTCONF_MAX_LINKS);
		memcpy(p->addrs[p->naddrs], a, n);
		p->addrs[p->naddrs++][n] = '\0';
		if (!a[n])
			break;
		a += n + 1;
	}
	return 0;
}

/* host:port, bracketing an IPv6 address. */
static void cli_hostport(const char *host, unsigned port, char *out, size_t size)
{
	if (strchr(host, ':'))
		snprintf(out, size, "[%s]:%u", host, port);
	else
		snprintf(out, size, "%s:%u", host, port);
}

static int cli_mkdir(const char *path, mode_t mode, struct err *e)
{
	char tmp[PATH_MAX];

	if (CLI_PATH(tmp, e, "%s", path) < 0)
		return -1;
	for (char *p = tmp + 1;; p++) {
		if (*p == '/' || !*p) {
			char c = *p;

			*p = '\0';
			if (mkdir(tmp, mode) < 0 && errno != EEXIST)
				return err_errno(e, "mkdir %s", tmp);
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}

/* An absolute form of a directory that exists. */
static int cli_absdir(const char *dir, char out[PATH_MAX], struct err *e)
{
	if (!realpath(dir, out))
		return err_errno(e, "%s", dir);
	return 0;
}

static bool cli_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Replace the etcd endpoints in a host's file (another host joined the store). */
static int cli_host_set_etcd(const char *path, const struct cli_cluster *c, struct err *e)
{
	struct hostconf *h = malloc(sizeof(*h));
	int rc;

	if (!h)
		return err_set(e, "out of memory");
	rc = hostconf_load(h, path, e);
	if (rc == 0) {
		/* the endpoint it had first (its own member, if it runs one) stays first */
		char first[128] = "";

		if (h->netcd)
			snprintf(first, sizeof(first), "%s", h->etcd[0]);
		h->netcd = 0;
		for (size_t i = 0; i < c->netcd; i++)
			if (!strcmp(c->etcd[i], first))
				snprintf(h->etcd[h->netcd++], sizeof(h->etcd[0]), "%s", first);
		for (size_t i = 0; i < c->netcd; i++)
			if (strcmp(c->etcd[i], first))
				snprintf(h->etcd[h->netcd++], sizeof(h->etcd[0]), "%s", c->etcd[i]);
		rc = hostconf_save(h, path, e);
	}
	free(h);
	return rc;
}

int cli_host_add(const char *dir_in, const struct cli_host_spec *s, struct pki_info *cert,
		 struct err *e)
{
	char dir[PATH_MAX], crt[PATH_MAX], key[PATH_MAX], conf[PATH_MAX], ca[PATH_MAX],
	    cakey[PATH_MAX];
	struct cli_cluster *cl = malloc(sizeof(*cl));
	struct hostconf *h = malloc(sizeof(*h));
	struct cli_cluster_host *entry;
	bool new_etcd = false;
	int rc = -1;

	if (!cl || !h) {
		err_set(e, "out of memory");
		goto out;
	}
	if (cli_absdir(dir_in, dir, e) < 0 || cli_cluster_load(cl, dir, e) < 0)
		goto out;
	if (CLI_PATH(crt, e, "%s/hosts/%s.crt", dir, s->name) < 0 ||
	    CLI_PATH(key, e, "%s/hosts/%s.key", dir, s->name) < 0 ||
	    CLI_PATH(conf, e, "%s/hosts/%s.json", dir, s->name) < 0 ||
	    CLI_PATH(ca, e, "%s/ca.crt", dir) < 0 || CLI_PATH(cakey, e, "%s/ca.key", dir) < 0)
		goto out;
	for (size_t i = 0; i < cl->nhosts; i++)
		if (!strcmp(cl->hosts[i].name, s->name)) {
			err_set(e, "host '%s' exists already in %s/cluster.json", s->name, dir);
			goto out;
		}
	if (cli_exists(crt) || cli_exists(key) || cli_exists(conf)) {
		err_set(e,
			"host '%s' has files in %s/hosts already (ferry host remove %s --offline)",
			s->name, dir, s->name);
		goto out;
	}
	if (cl->nhosts == CLI_MAX_HOSTS) {
		err_set(e, "the cluster has %d hosts: no more", CLI_MAX_HOSTS);
		goto out;
	}
	if (!s->address || !*s->address || strlen(s->address) >= sizeof(entry->address)) {
		err_set(e, "--address is empty or too long");
		goto out;
	}
	if (s->etcd_url) {
		bool found = false;

		if (strncmp(s->etcd_url, "https://", 8) ||
		    strlen(s->etcd_url) >= sizeof(cl->etcd[0])) {
			err_set(e, "--etcd-url '%s' is not an https:// URL (the store speaks TLS)",
				s->etcd_url);
			goto out;
		}
		for (size_t i = 0; i < cl->netcd; i++)
			found |= !strcmp(cl->etcd[i], s->etcd_url);
		if (!found) {
			if (cl->netcd == HOSTCONF_MAX_ETCD) {
				err_set(e, "the cluster has %d etcd endpoints already",
					HOSTCONF_MAX_ETCD);
				goto out;
			}
			snprintf(cl->etcd[cl->netcd++], sizeof(cl->etcd[0]), "%s", s->etcd_url);
			new_etcd = true;
		}
	}
	if (cl->netcd == 0) {
		err_set(e, "%s/cluster.json names no etcd endpoint (pass --etcd-url)", dir);
		goto out;
	}

	/* the configuration, checked whole before anything is written */
	hostconf_defaults(h);
	snprintf(h->cluster, sizeof(h->cluster), "%s", cl->name);
	snprintf(h->name, sizeof(h->name), "%s", s->name);
	cli_hostport(s->address, s->api_port ? s->api_port : 7443, h->api, sizeof(h->api));
	if (s->etcd_url)
		snprintf(h->etcd[h->netcd++], sizeof(h->etcd[0]), "%s", s->etcd_url);
	for (size_t i = 0; i < cl->netcd; i++)
		if (!s->etcd_url || strcmp(cl->etcd[i], s->etcd_url))
			snprintf(h->etcd[h->netcd++], sizeof(h->etcd[0]), "%s", cl->etcd[i]);
	snprintf(h->ca, sizeof(h->ca), "%s", ca);
	snprintf(h->cert, sizeof(h->cert), "%s", crt);
	snprintf(h->key, sizeof(h->key), "%s", key);
	if (CLI_PATH(h->secret, e, "%s/secret", dir) < 0)
		goto out;
	h->memory = s->memory;
	h->vcpus = s->vcpus;
	snprintf(h->bridge, sizeof(h->bridge), "%s", s->bridge ? s->bridge : "br0");
	if (s->bridge && strlen(s->bridge) >= sizeof(h->bridge)) {
		err_set(e, "--bridge '%s': longer than %zu characters", s->bridge,
			sizeof(h->bridge) - 1);
		goto out;
	}
	if (s->nmigration > HOSTCONF_MAX_PEERS) {
		err_set(e, "more than %d --migration peers", HOSTCONF_MAX_PEERS);
		goto out;
	}
	for (size_t i = 0; i < s->nmigration; i++) {
		if (cli_parse_migration(s->migration[i], &h->peers[h->npeers], e) < 0)
			goto out;
		if (!strcmp(h->peers[h->npeers].name, s->name)) {
			err_set(e, "--migration names the host itself");
			goto out;
		}
		for (size_t j = 0; j < h->npeers; j++)
			if (!strcmp(h->peers[j].name, h->peers[h->npeers].name)) {
				err_set(e, "--migration names '%s' twice", h->peers[j].name);
				goto out;
			}
		h->npeers++;
	}
	if ((s->state_dir && CLI_PATH(h->state_dir, e, "%s", s->state_dir) < 0) ||
	    (s->run_dir && CLI_PATH(h->run_dir, e, "%s", s->run_dir) < 0) ||
	    (s->log_dir && CLI_PATH(h->log_dir, e, "%s", s->log_dir) < 0))
		goto out;
	if (h->state_dir[0] != '/' || h->run_dir[0] != '/' || h->log_dir[0] != '/') {
		err_set(e, "--state-dir, --run-dir and --log-dir must be absolute paths");
		goto out;
	}
	if (s->etcd_member) {
		/* the one member of a one-machine store, run by this host's ferryd */
		char hp[100];

		h->etcd_member.enabled = true;
		if (s->etcd_url)
			snprintf(h->etcd_member.client_url, sizeof(h->etcd_member.client_url), "%s",
				 s->etcd_url);
		cli_hostport(s->address, 2380, hp, sizeof(hp));
		if (strlen(s->address) + 10 >= sizeof(hp)) {
			err_set(e, "--address is too long for the etcd member's URLs");
			goto out;
		}
		snprintf(h->etcd_member.peer_url, sizeof(h->etcd_member.peer_url), "https://%s",
			 hp);
		if (hostconf_member_resolve(h, e) < 0)
			goto out;
	}

	if (cli_mkdir(dir, 0755, e) < 0 || CLI_PATH(conf, e, "%s/hosts", dir) < 0 ||
	    cli_mkdir(conf, 0755, e) < 0 || CLI_PATH(conf, e, "%s/hosts/%s.json", dir, s->name) < 0)
		goto out;
	struct ca_subject subj = {
		.cn = s->name, .ip = s->address, .dns = s->name, .usage = CA_SERVER | CA_CLIENT
	};
	if (ca_issue(ca, cakey, &subj, crt, key, cert, e) < 0)
		goto out;
	if (hostconf_save(h, conf, e) < 0)
		goto undo;
	entry = &cl->hosts[cl->nhosts++];
	snprintf(entry->name, sizeof(entry->name), "%s", s->name);
	snprintf(entry->address, sizeof(entry->address), "%s", s->address);
	snprintf(entry->api, sizeof(entry->api), "%s", h->api);
	if (cli_cluster_save(cl, dir, e) < 0) {
		unlink(conf);
		goto undo;
	}
	/* a new member of the store: the other hosts' files learn its endpoint */
	if (new_etcd)
		for (size_t i = 0; i + 1 < cl->nhosts; i++) {
			char other[PATH_MAX];
			struct err oe;

			if (CLI_PATH(other, &oe, "%s/hosts/%s.json", dir, cl->hosts[i].name) == 0 &&
			    cli_exists(other) && cli_host_set_etcd(other, cl, &oe) < 0) {
				err_set(e, "%s (the host was added; fix that file's 'etcd')",
					oe.msg);
				goto out;
			}
		}
	rc = 0;
	goto out;
undo:
	unlink(crt);
	unlink(key);
out:
	free(cl);
	free(h);
	return rc;
}

static int cli_write_secret(const char *path, struct err *e)
{
	char hex[65];
	int fd;

	if (ca_random_hex(hex, 32, e) < 0)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_errno(e, "%s", path);
	hex[64] = '\n';
	if (fchmod(fd, 0600) < 0 || write(fd, hex, 65) != 65 || fsync(fd) < 0) {
		err_errno(e, "%s", path);
		close(fd);
		unlink(path);
		return -1;
	}
	memset(hex, 0, sizeof(hex));
	return close(fd) < 0 ? err_errno(e, "%s", path) : 0;
}

int cli_cluster_init(const char *dir_in, const char *name, const struct cli_host_spec *first,
		     const char *const *etcd, size_t netcd, struct err *e)
{
	static const char *const files[] = { "ca.crt",	  "ca.key",    "secret",
					     "admin.crt", "admin.key", "cluster.json" };
	char dir[PATH_MAX], p[6][PATH_MAX];
	struct cli_cluster *cl = NULL;
	struct ca_subject admin = { .cn = "admin", .usage = CA_CLIENT };
	char cn[128];
	int rc = -1;

	if (cli_mkdir(dir_in, 0755, e) < 0 || cli_absdir(dir_in, dir, e) < 0)
		return -1;
	for (size_t i = 0; i < 6; i++) {
		if (CLI_PATH(p[i], e, "%s/%s", dir, files[i]) < 0)
			return -1;
		if (cli_exists(p[i]))
			return err_set(e,
				       "%s holds a cluster already (%s exists): remove it, or use "
				       "another --config-dir",
				       dir, files[i]);
	}
	if (netcd > HOSTCONF_MAX_ETCD)
		return err_set(e, "more than %d etcd endpoints", HOSTCONF_MAX_ETCD);
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return err_set(e, "out of memory");
	snprintf(cl->name, sizeof(cl->name), "%s", name);
	for (size_t i = 0; i < netcd; i++) {
		if (strncmp(etcd[i], "https://", 8) || strlen(etcd[i]) >= sizeof(cl->etcd[0])) {
			err_set(e, "--etcd '%s' is not an https:// URL (the store speaks TLS)",
				etcd[i]);
			goto out;
		}
		snprintf(cl->etcd[cl->netcd++], sizeof(cl->etcd[0]), "%s", etcd[i]);
	}
	snprintf(cn, sizeof(cn), "ferry CA %s", name);
	if (ca_create(cn, p[0], p[1], e) < 0)
		goto out;
	if (cli_write_secret(p[2], e) < 0 ||
	    ca_issue(p[0], p[1], &admin, p[3], p[4], NULL, e) < 0 ||
	    cli_cluster_save(cl, dir, e) < 0)
		goto undo;
	{
		struct cli_host_spec h = *first;
		char url[320];

		/* the first host runs the store's first member unless the store is elsewhere */
		if (!netcd && !h.etcd_url) {
			char hp[300];

			cli_hostport(first->address, 2379, hp, sizeof(hp));
			snprintf(url, sizeof(url), "https://%s", hp);
			h.etcd_url = url;
		}
		/* ... and, with no store given, its ferryd runs that member (a one-machine
		 * cluster; more hosts join it as the store's clients) */
		if (!netcd)
			h.etcd_member = true;
		if (cli_host_add(dir, &h, NULL, e) < 0)
			goto undo;
	}
	rc = 0;
	goto out;
undo:
	for (size_t i = 0; i < 6; i++)
		unlink(p[i]);
out:
	free(cl);
	return rc;
}

int cli_host_forget(const char *dir, const char *name, struct err *e)
{
	static const char *const ext[] = { "json", "crt", "key" };
	struct cli_cluster *cl = malloc(sizeof(*cl));
	int rc = 0;

	if (!cl)
		return err_set(e, "out of memory");
	for (size_t i = 0; i < 3; i++) {
		char path[PATH_MAX];

		if (CLI_PATH(path, e, "%s/hosts/%s.%s", dir, name, ext[i]) < 0 ||
		    (unlink(path) < 0 && errno != ENOENT && err_errno(e, "%s", path))) {
			rc = -1;
			break;
		}
	}
	if (rc == 0) {
		char path[PATH_MAX];

		if (CLI_PATH(path, e, "%s/cluster.json", dir) < 0)
			rc = -1;
		else if (!cli_exists(path))
			goto out; /* no cluster file: nothing to drop the host from */
		else if (cli_cluster_load(cl, dir, e) < 0)
			rc = -1;
	}
	if (rc == 0) {
		size_t j = 0;

		for (size_t i = 0; i < cl->nhosts; i++)
			if (strcmp(cl->hosts[i].name, name))
				cl->hosts[j++] = cl->hosts[i];
		if (j != cl->nhosts) {
			cl->nhosts = j;
			rc = cli_cluster_save(cl, dir, e);
		}
	}
out:
	free(cl);
	return rc;
}
