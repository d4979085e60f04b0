/* hostconf.c - a host's configuration file (hostconf.h): read strictly, written atomically.
 *
 * The file is small JSON written by `ferry cluster init` and `ferry host add` and read by
 * ferryd at start. Reading is strict because a mistake in it must stop the agent with a
 * message, not run it half-configured: every member is checked for its type and range, a
 * member that is not in the list below is an error (a misspelled "memroy" must not leave the
 * capacity at a default), and the message names the file and the member. What a file may
 * leave out has the defaults of hostconf_defaults(); what ferryd cannot run without
 * (cluster, name, api, etcd, ca, cert, key, memory, vcpus) is required. "etcd_member" is
 * resolved as it is read (hostconf_member_resolve: its defaults from api and state_dir, its
 * client URL checked against etcd), so ferryd gets every path and URL it will use.
 *
 * Writing goes through a temporary file in the same directory (mode 0600: the file names
 * the key and the secret) that is flushed and renamed over the old one, so a reader sees
 * the old file or the new one, never half of one. Every member is written, defaults too,
 * so the file says all that the agent will use.
 */
#include "common/hostconf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/names.h"

#define HOSTCONF_MAX_FILE (1 << 20)

/* The members a file may have; anything else is refused. */
static const char *const hostconf_members[] = {
	"cluster", "name",	"api",	   "etcd",	"ca",	       "cert",	    "key",
	"secret",  "memory",	"vcpus",   "bridge",	"migration",   "state_dir", "run_dir",
	"log_dir", "vm_binary", "vm_nice", "vm_cgroup", "etcd_member",
};

/* The members "etcd_member" may have. */
static const char *const hostconf_member_keys[] = { "binary", "data_dir", "client_url",
						    "peer_url" };

static void hostconf_copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src);
}

void hostconf_defaults(struct hostconf *c)
{
	char exe[PATH_MAX];
	ssize_t n;

	memset(c, 0, sizeof(*c));
	hostconf_copy(c->state_dir, sizeof(c->state_dir), "/var/lib/ferry");
	hostconf_copy(c->run_dir, sizeof(c->run_dir), "/run/ferry");
	hostconf_copy(c->log_dir, sizeof(c->log_dir), "/var/log/ferry");
	c->vm_nice = 10;
	/* ferry-vm is installed beside ferryd (and beside ferry, which writes the files). */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash && (size_t)(slash - exe) + sizeof("/ferry-vm") <= sizeof(c->vm_binary)) {
			size_t dirlen = (size_t)(slash - exe);

			memcpy(c->vm_binary, exe, dirlen);
			memcpy(c->vm_binary + dirlen, "/ferry-vm", sizeof("/ferry-vm"));
			return;
		}
	}
	hostconf_copy(c->vm_binary, sizeof(c->vm_binary), "/usr/bin/ferry-vm");
}

/* A string member into dst (size bytes). 0 absent (an error if required), 1 stored, -1. */
static int hostconf_str(const json_t *o, const char *key, char *dst, size_t size, bool required,
			struct err *e)
{
	const char *s;
	int r = json_get_str(o, key, &s, e);

	if (r < 0)
		return -1;
	if (r == 0)
		return required ? err_set(e, "'%s' is missing", key) : 0;
	if (strlen(s) >= size)
		return err_set(e, "'%s' is longer than %zu characters", key, size - 1);
	if (required && !*s)
		return err_set(e, "'%s' is empty", key);
	hostconf_copy(dst, size, s);
	return 1;
}

static int hostconf_name(const json_t *o, const char *key, char *dst, const char *what,
			 struct err *e)
{
	char raw[256], norm[NAME_MAX_LEN + 1];

	if (hostconf_str(o, key, raw, sizeof(raw), true, e) < 0)
		return -1;
	if (name_normalize(raw, norm, what, e) < 0)
		return err_prefix(e, "'%s'", key);
	hostconf_copy(dst, 64, norm);
	return 0;
}

static int hostconf_migration(struct hostconf *c, const json_t *m, struct err *e)
{
	const char *peer;
	json_t *addrs;

	if (!json_is_object(m))
		return err_set(e, "'migration' is not an object");
	json_object_foreach((json_t *)m, peer, addrs)
	{
		struct hostconf_peer *p;
		size_t i;
		json_t *a;

		if (c->npeers == HOSTCONF_MAX_PEERS)
			return err_set(e, "'migration' has more than %d peers", HOSTCONF_MAX_PEERS);
		p = &c->peers[c->npeers];
		if (name_normalize(peer, p->name, "host", e) < 0)
			return err_prefix(e, "'migration'");
		if (!json_is_array(addrs) || json_array_size(addrs) == 0 ||
		    json_array_size(addrs) > HOSTCONF_MAX_LINKS)
			return err_set(e,
				       "'migration' of '%s' is not an array of 1 to %d addresses",
				       p->name, HOSTCONF_MAX_LINKS);
		json_array_foreach(addrs, i, a)
		{
			const char *s = json_string_value(a);

			if (!s || !*s || strlen(s) >= sizeof(p->addrs[0]))
				return err_set(e,
					       "'migration' of '%s': address %zu is not an address",
					       p->name, i + 1);
			hostconf_copy(p->addrs[i], sizeof(p->addrs[i]), s);
		}
		p->naddrs = json_array_size(addrs);
		c->npeers++;
	}
	return 0;
}

/* The host part of "api" ("10.0.0.1", "[fe80::1]", "vh01"), brackets kept. */
static int hostconf_api_host(const struct hostconf *c, char *out, size_t size, struct err *e)
{
	const char *colon = strrchr(c->api, ':');
	size_t n = colon ? (size_t)(colon - c->api) : 0;

	if (!n || n >= size)
		return err_set(e, "'api' has no host part to make the etcd member's URLs of");
	memcpy(out, c->api, n);
	out[n] = '\0';
	return 0;
}

int hostconf_member_resolve(struct hostconf *c, struct err *e)
{
	struct hostconf_member *m = &c->etcd_member;
	char host[100];
	bool found = false;

	if (!m->enabled)
		return 0;
	if (!m->binary[0])
		hostconf_copy(m->binary, sizeof(m->binary), "/usr/bin/etcd");
	if (!m->data_dir[0] && snprintf(m->data_dir, sizeof(m->data_dir), "%s/etcd",
					c->state_dir) >= (int)sizeof(m->data_dir))
		return err_set(e, "'etcd_member': state_dir is too long for its data_dir");
	if (!m->client_url[0] || !m->peer_url[0]) {
		if (hostconf_api_host(c, host, sizeof(host), e) < 0)
			return -1;
		if (!m->client_url[0])
			snprintf(m->client_url, sizeof(m->client_url), "https://%s:2379", host);
		if (!m->peer_url[0])
			snprintf(m->peer_url, sizeof(m->peer_url), "https://%s:2380", host);
	}
	if (m->binary[0] != '/' || m->data_dir[0] != '/')
		return err_set(e, "'etcd_member': binary and data_dir must be absolute paths");
	if (strncmp(m->client_url, "https://", 8) || strncmp(m->peer_url, "https://", 8))
		return err_set(e, "'etcd_member': client_url and peer_url must be https:// URLs");
	for (size_t i = 0; i < c->netcd; i++)
		found |= !strcmp(c->etcd[i], m->client_url);
	if (!found)
		return err_set(e, "'etcd_member': its client_url %s is not one of 'etcd'",
			       m->client_url);
	return 0;
}

static int hostconf_member(struct hostconf *c, const json_t *v, struct err *e)
{
	struct hostconf_member *m = &c->etcd_member;
	const char *key;
	json_t *x;

	memset(m, 0, sizeof(*m));
	if (json_is_boolean(v)) {
		m->enabled = json_is_true(v);
		return hostconf_member_resolve(c, e);
	}
	if (!json_is_object(v))
		return err_set(e, "'etcd_member' is not true, false or an object");
	json_object_foreach((json_t *)v, key, x)
	{
		size_t i, count = sizeof(hostconf_member_keys) / sizeof(hostconf_member_keys[0]);

		for (i = 0; i < count; i++)
			if (!strcmp(key, hostconf_member_keys[i]))
				break;
		if (i == count)
			return err_set(e, "'etcd_member': unknown member '%s'", key);
	}
	if (hostconf_str(v, "binary", m->binary, sizeof(m->binary), false, e) < 0 ||
	    hostconf_str(v, "data_dir", m->data_dir, sizeof(m->data_dir), false, e) < 0 ||
	    hostconf_str(v, "client_url", m->client_url, sizeof(m->client_url), false, e) < 0 ||
	    hostconf_str(v, "peer_url", m->peer_url, sizeof(m->peer_url), false, e) < 0)
		return err_prefix(e, "'etcd_member'");
	m->enabled = true;
	return hostconf_member_resolve(c, e);
}

static int hostconf_parse(struct hostconf *c, const json_t *o, struct err *e)
{
	const char *key;
	json_t *v;
	int64_t n;
	uint64_t u;
	int r;

	if (!json_is_object(o))
		return err_set(e, "not a JSON object");
	json_object_foreach((json_t *)o, key, v)
	{
		size_t i, count = sizeof(hostconf_members) / sizeof(hostconf_members[0]);

		for (i = 0; i < count; i++)
			if (!strcmp(key, hostconf_members[i]))
				break;
		if (i == count)
			return err_set(e, "unknown member '%s'", key);
	}
	if (hostconf_name(o, "cluster", c->cluster, "cluster", e) < 0 ||
	    hostconf_name(o, "name", c->name, "host", e) < 0 ||
	    hostconf_str(o, "api", c->api, sizeof(c->api), true, e) < 0)
		return -1;
	if (!strchr(c->api, ':'))
		return err_set(e, "'api' is not host:port: '%s'", c->api);

	v = json_get(o, "etcd");
	if (!v)
		return err_set(e, "'etcd' is missing");
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > HOSTCONF_MAX_ETCD)
		return err_set(e, "'etcd' is not an array of 1 to %d URLs", HOSTCONF_MAX_ETCD);
	for (size_t i = 0; i < json_array_size(v); i++) {
		const char *s = json_string_value(json_array_get(v, i));

		if (!s || strncmp(s, "https://", 8) || strlen(s) >= sizeof(c->etcd[0]))
			return err_set(e, "'etcd' member %zu is not an https:// URL", i + 1);
		hostconf_copy(c->etcd[i], sizeof(c->etcd[i]), s);
	}
	c->netcd = json_array_size(v);

	if (hostconf_str(o, "ca", c->ca, sizeof(c->ca), true, e) < 0 ||
	    hostconf_str(o, "cert", c->cert, sizeof(c->cert), true, e) < 0 ||
	    hostconf_str(o, "key", c->key, sizeof(c->key), true, e) < 0 ||
	    hostconf_str(o, "secret", c->secret, sizeof(c->secret), false, e) < 0 ||
	    hostconf_str(o, "bridge", c->bridge, sizeof(c->bridge), false, e) < 0 ||
	    hostconf_str(o, "state_dir", c->state_dir, sizeof(c->state_dir), false, e) < 0 ||
	    hostconf_str(o, "run_dir", c->run_dir, sizeof(c->run_dir), false, e) < 0 ||
	    hostconf_str(o, "log_dir", c->log_dir, sizeof(c->log_dir), false, e) < 0 ||
	    hostconf_str(o, "vm_binary", c->vm_binary, sizeof(c->vm_binary), false, e) < 0 ||
	    hostconf_str(o, "vm_cgroup", c->vm_cgroup, sizeof(c->vm_cgroup), false, e) < 0)
		return -1;

	r = json_get_u64(o, "memory", &u, e);
	if (r < 0)
		return -1;
	if (r == 0)
		return err_set(e, "'memory' is missing");
	if (u < (16ULL << 20))
		return err_set(e, "'memory' is %llu bytes: less than 16 MiB",
			       (unsigned long long)u);
	c->memory = u;
	r = json_get_int(o, "vcpus", &n, e);
	if (r < 0)
		return -1;
	if (r == 0)
		return err_set(e, "'vcpus' is missing");
	if (n < 1 || n > 1024)
		return err_set(e, "'vcpus' is %lld: not 1 to 1024", (long long)n);
	c->vcpus = (unsigned)n;
	r = json_get_int(o, "vm_nice", &n, e);
	if (r < 0)
		return -1;
	if (r == 1 && (n < -20 || n > 19))
		return err_set(e, "'vm_nice' is %lld: not -20 to 19", (long long)n);
	if (r == 1)
		c->vm_nice = (int)n;
	v = json_get(o, "migration");
	if (v && hostconf_migration(c, v, e) < 0)
		return -1;
	v = json_get(o, "etcd_member");
	if (v && hostconf_member(c, v, e) < 0)
		return -1;
	return 0;
}

int hostconf_load(struct hostconf *c, const char *path, struct err *e)
{
	char *text = NULL;
	size_t len = 0;
	json_t *o;
	FILE *f;
	int rc;

	hostconf_defaults(c);
	f = fopen(path, "re");
	if (!f)
		return err_errno(e, "%s", path);
	text = malloc(HOSTCONF_MAX_FILE + 1);
	if (!text) {
		fclose(f);
		return err_set(e, "%s: out of memory", path);
	}
	len = fread(text, 1, HOSTCONF_MAX_FILE + 1, f);
	if (ferror(f)) {
		rc = err_errno(e, "%s: read", path);
		goto out;
	}
	if (len > HOSTCONF_MAX_FILE) {
		rc = err_set(e, "%s: larger than %d bytes", path, HOSTCONF_MAX_FILE);
		goto out;
	}
	o = json_parse(text, len, e);
	if (!o) {
		rc = err_prefix(e, "%s", path);
		goto out;
	}
	rc = hostconf_parse(c, o, e);
	json_free(o);
	if (rc < 0)
		err_prefix(e, "%s", path);
out:
	free(text);
	fclose(f);
	return rc;
}

/* The configuration as a JSON object (NULL if memory ran out). */
static json_t *hostconf_json(const struct hostconf *c)
{
	json_t *o = json_object(), *etcd = json_array(), *mig = json_object();

	json_set_str(o, "cluster", c->cluster);
	json_set_str(o, "name", c->name);
	json_set_str(o, "api", c->api);
	for (size_t i = 0; i < c->netcd; i++)
		json_push(etcd, json_text(c->etcd[i]));
	json_set(o, "etcd", etcd);
	json_set_str(o, "ca", c->ca);
	json_set_str(o, "cert", c->cert);
	json_set_str(o, "key", c->key);
	if (c->secret[0])
		json_set_str(o, "secret", c->secret);
	json_set_u64(o, "memory", c->memory);
	json_set_int(o, "vcpus", c->vcpus);
	json_set_str(o, "bridge", c->bridge);
	for (size_t i = 0; i < c->npeers; i++) {
		json_t *a = json_array();

		for (size_t j = 0; j < c->peers[i].naddrs; j++)
			json_push(a, json_text(c->peers[i].addrs[j]));
		json_set(mig, c->peers[i].name, a);
	}
	json_set(o, "migration", mig);
	json_set_str(o, "state_dir", c->state_dir);
	json_set_str(o, "run_dir", c->run_dir);
	json_set_str(o, "log_dir", c->log_dir);
	json_set_str(o, "vm_binary", c->vm_binary);
	json_set_int(o, "vm_nice", c->vm_nice);
	json_set_str(o, "vm_cgroup", c->vm_cgroup);
	if (c->etcd_member.enabled) {
		json_t *m = json_object();

		json_set_str(m, "binary", c->etcd_member.binary);
		json_set_str(m, "data_dir", c->etcd_member.data_dir);
		json_set_str(m, "client_url", c->etcd_member.client_url);
		json_set_str(m, "peer_url", c->etcd_member.peer_url);
		json_set(o, "etcd_member", m);
	}
	return o;
}

int hostconf_write_file(const char *path, const char *text, unsigned mode, struct err *e)
{
	char tmp[PATH_MAX];
	size_t len = strlen(text);
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return err_set(e, "%s: path too long", path);
	fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 until fchmod */
	if (fd < 0)
		return err_errno(e, "%s", tmp);
	if (fchmod(fd, (mode_t)mode) < 0 || write(fd, text, len) != (ssize_t)len ||
	    write(fd, "\n", 1) != 1 || fsync(fd) < 0) {
		err_errno(e, "%s: write", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) < 0) {
		err_errno(e, "%s: close", tmp);
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) < 0) {
		err_errno(e, "rename %s to %s", tmp, path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

int hostconf_save(const struct hostconf *c, const char *path, struct err *e)
{
	json_t *o = hostconf_json(c);
	char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	int rc;

	json_free(o);
	if (!text)
		return err_set(e, "%s: out of memory", path);
	rc = hostconf_write_file(path, text, 0600, e);
	free(text);
	return rc;
}
