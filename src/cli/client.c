/* client.c - ferry's HTTPS client of the agent API (docs/api.md), on libcurl.
 *
 * Every request verifies the agent's certificate against the cluster's CA (DIR/ca.crt) and
 * the endpoint's name or address against it, and authenticates with a client certificate
 * or the cluster secret as a bearer token; there is no way to turn either check off.
 *
 * Endpoints are tried in order, and the next one only when the previous one could not be
 * connected to (refused, unresolvable, or no connection within the connect timeout): a
 * request that reached an agent is never sent again elsewhere, since starting a VM twice
 * is not the same as starting it once. Each request is a fresh handle: ferry makes one or
 * two requests per run.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli/cli.h"
#include "common/addr.h"
#include "common/buf.h"
#include "common/names.h"
#include "common/json.h"

#define CLI_CONNECT_TIMEOUT 5L
#define CLI_REQUEST_TIMEOUT 120L
#define CLI_MAX_BODY (64 << 20)

static bool cli_readable(const char *path)
{
	return access(path, R_OK) == 0;
}

int cli_read_secret(const char *path, char *out, size_t size, struct err *e)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return err_errno(e, "%s", path);
	if (fstat(fd, &st) < 0) {
		close(fd);
		return err_errno(e, "%s", path);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(e, "%s is not a regular file", path);
	}
	if (st.st_mode & 077) {
		close(fd);
		return err_set(e,
			       "%s has mode %04o: a secret must be readable by its owner only "
			       "(chmod 600 %s)",
			       path, (unsigned)(st.st_mode & 07777), path);
	}
	n = read(fd, out, size - 1);
	close(fd);
	if (n < 0)
		return err_errno(e, "%s", path);
	out[n] = '\0';
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
		out[--n] = '\0';
	if (n == 0)
		return err_set(e, "%s is empty", path);
	if ((size_t)n == size - 1)
		return err_set(e, "%s: the secret is longer than %zu bytes", path, size - 2);
	for (ssize_t i = 0; i < n; i++)
		if (out[i] <= ' ' || out[i] > '~')
			return err_set(e,
				       "%s: the secret has a character that is not printable "
				       "ASCII at byte %zd",
				       path, i + 1);
	return 0;
}

void cli_conn_add(struct cli_conn *c, const char *endpoint)
{
	if (!endpoint || !*endpoint || c->nendpoints == CLI_MAX_ENDPOINTS)
		return;
	for (size_t i = 0; i < c->nendpoints; i++)
		if (!strcmp(c->endpoints[i], endpoint))
			return;
	snprintf(c->endpoints[c->nendpoints++], sizeof(c->endpoints[0]), "%s", endpoint);
}

static int cli_path(char *out, size_t size, const char *dir, const char *name, struct err *e)
{
	if ((size_t)snprintf(out, size, "%s/%s", dir, name) >= size)
		return err_set(e, "%s/%s: path too long", dir, name);
	return 0;
}

int cli_conn_setup(struct cli_conn *c, const struct cli_args *a, struct err *e)
{
	const char *dir = cli_config_dir(a);
	const char *cert = cli_get(a, "cert"), *key = cli_get(a, "key");
	const char *secret = cli_get(a, "secret-file");
	const char *endpoint = cli_get(a, "endpoint");
	char path[4096], cpath[4096];
	struct cli_cluster cl;
	struct err ce;
	bool have_cluster;

	memset(c, 0, sizeof(*c));
	c->verbose = cli_flag(a, "verbose");
	if (cli_path(c->ca, sizeof(c->ca), dir, "ca.crt", e) < 0)
		return -1;
	if (!cli_readable(c->ca))
		return err_errno(e,
				 "%s: the cluster's CA cannot be read (is %s a cluster's "
				 "configuration? see --config-dir)",
				 c->ca, dir);

	/* credentials: what the options name, else the admin certificate, else the secret */
	if (cert || key) {
		if (!cert || !key)
			return err_set(e, "--cert and --key go together");
		snprintf(c->cert, sizeof(c->cert), "%s", cert);
		snprintf(c->key, sizeof(c->key), "%s", key);
		if (!cli_readable(cert) || !cli_readable(key))
			return err_errno(e, "%s", cli_readable(cert) ? key : cert);
	} else if (secret) {
		if (cli_read_secret(secret, c->secret, sizeof(c->secret), e) < 0)
			return -1;
	} else {
		if (cli_path(path, sizeof(path), dir, "admin.crt", e) < 0 ||
		    cli_path(cpath, sizeof(cpath), dir, "admin.key", e) < 0)
			return -1;
		if (cli_readable(path) && cli_readable(cpath)) {
			snprintf(c->cert, sizeof(c->cert), "%s", path);
			snprintf(c->key, sizeof(c->key), "%s", cpath);
		} else {
			if (cli_path(path, sizeof(path), dir, "secret", e) < 0)
				return -1;
			if (access(path, F_OK) == 0) {
				if (cli_read_secret(path, c->secret, sizeof(c->secret), e) < 0)
					return -1;
			} else {
				return err_set(
				    e,
				    "no credentials: neither %s/admin.crt and admin.key "
				    "nor %s/secret can be read; run as a user who may "
				    "read them, or pass --cert FILE --key FILE or "
				    "--secret-file FILE (`ferry cluster init` makes them)",
				    dir, dir);
			}
		}
	}

	/* endpoints: the one asked for, then every host of the cluster */
	if (!endpoint)
		endpoint = getenv("FERRY_ENDPOINT");
	if (endpoint && *endpoint) {
		struct addr ad;
		const char *eq = strchr(endpoint, '=');
		char name[NAME_MAX_LEN + 1], given[NAME_MAX_LEN + 2];

		if (eq) {
			snprintf(given, sizeof(given), "%.*s", (int)(eq - endpoint), endpoint);
			if ((size_t)(eq - endpoint) > NAME_MAX_LEN ||
			    name_normalize(given, name, "host", e) < 0)
				return err_prefix(e, "--endpoint NAME=ADDR:PORT");
		}
		if (addr_parse(eq ? eq + 1 : endpoint, "7443", 0, &ad, e) < 0)
			return err_prefix(e, "--endpoint");
		cli_conn_add(c, endpoint);
	}
	have_cluster = cli_cluster_load(&cl, dir, &ce) == 0;
	if (have_cluster)
		for (size_t i = 0; i < cl.nhosts; i++)
			cli_conn_add(c, cl.hosts[i].api);
	if (!c->nendpoints)
		return err_set(e,
			       "no agent to talk to: pass --endpoint HOST:PORT or set "
			       "FERRY_ENDPOINT (%s)",
			       have_cluster ? "cluster.json lists no host" : ce.msg);
	return 0;
}

void cli_reply_free(struct cli_reply *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

/* The URL of path on an endpoint (host:port, [v6]:port, or a host with the default port).
 * NAME=ADDR:PORT reaches the agent of host NAME at ADDR:PORT (a port forwarded to loopback,
 * say): the URL names NAME, which its certificate carries, and *connect_to tells curl
 * where to connect instead ("NAME:PORT:ADDR:PORT", CURLOPT_CONNECT_TO). */
static int cli_url(const char *endpoint, const char *path, char *out, size_t size, char *connect_to,
		   size_t csize, struct err *e)
{
	struct addr ad;
	char hp[ADDR_STR_MAX];
	const char *eq = strchr(endpoint, '=');

	connect_to[0] = '\0';
	if (addr_parse(eq ? eq + 1 : endpoint, "7443", 0, &ad, e) < 0)
		return -1;
	addr_format(&ad, hp);
	if (eq) {
		const char *port = strrchr(hp, ':');
		int nlen = (int)(eq - endpoint);

		if (!port)
			return err_set(e, "endpoint %s: no port", endpoint);
		if ((size_t)snprintf(out, size, "https://%.*s%s%s", nlen, endpoint, port, path) >=
			size ||
		    (size_t)snprintf(connect_to, csize, "%.*s%s:%s", nlen, endpoint, port, hp) >=
			csize)
			return err_set(e, "URL too long");
		return 0;
	}
	if ((size_t)snprintf(out, size, "https://%s%s", hp, path) >= size)
		return err_set(e, "URL too long");
	return 0;
}

struct cli_sink {
	struct buf body;
	FILE *out; /* streamed here when the answer is 200 (cli_follow) */
	bool json; /* ... each chunk as a JSON line */
	void (*fn)(const char *p, size_t len, void *opaque); /* or to this (cli_follow_fn) */
	void *opaque;
	const char *header; /* one more request header, or NULL */
	long curl_status;   /* the status of the answer being streamed, once it has come */
	CURL *curl;
	volatile int *stop;
};

static size_t cli_write(char *p, size_t size, size_t n, void *opaque)
{
	struct cli_sink *s = opaque;
	size_t len = size * n;

	if (s->out || s->fn) {
		long status = 0;

		curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
		s->curl_status = status;
		if (status == 200 && s->fn) {
			s->fn(p, len, s->opaque);
			return len;
		}
		if (status == 200) {
			if (s->json) {
				char *chunk = malloc(len + 1);
				json_t *o = json_object();

				if (chunk) {
					memcpy(chunk, p, len);
					chunk[len] = '\0';
					json_set(o, "data", json_text(chunk));
					free(chunk);
				}
				char *line = json_encode(o, NULL);
				if (line)
					fprintf(s->out, "%s\n", line);
				free(line);
				json_free(o);
			} else {
				fwrite(p, 1, len, s->out);
			}
			fflush(s->out);
			return len;
		}
	}
	if (s->body.len + len > CLI_MAX_BODY)
		return 0;
	buf_put(&s->body, p, len);
	return s->body.oom ? 0 : len;
}

static int cli_progress(void *opaque, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct cli_sink *s = opaque;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return s->stop && *s->stop;
}

/* Did the attempt fail before any connection was made (so another endpoint may be tried)? */
static bool cli_not_connected(CURL *h, CURLcode rc)
{
	curl_off_t t = 0;

	if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
		return true;
	if (rc != CURLE_OPERATION_TIMEDOUT)
		return false;
	curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &t);
	return t == 0;
}

static void cli_curl_init(void)
{
	static bool done;

	if (!done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		done = true;
	}
}

/* One request with fallback over the endpoints; the answer goes to sink. */
static int cli_perform(struct cli_conn *c, const char *method, const char *path, const char *body,
		       struct cli_sink *sink, long timeout, long *status, struct err *e)
{
	char url[1024], auth[300], errbuf[CURL_ERROR_SIZE], tried[400] = "";
	char connect_to[2 * ADDR_STR_MAX + 80];
	struct curl_slist *hdr = NULL, *connect = NULL;
	int rc = -1;

	cli_curl_init();
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	hdr = curl_slist_append(hdr, "Accept: application/json, text/plain");
	if (c->secret[0]) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->secret);
		hdr = curl_slist_append(hdr, auth);
		memset(auth, 0, sizeof(auth));
	}
	if (sink->header)
		hdr = curl_slist_append(hdr, sink->header);
	for (size_t i = 0; i < c->nendpoints; i++) {
		CURL *h = curl_easy_init();
		CURLcode cr;

		if (!h || !hdr) {
			err_set(e, "out of memory");
			if (h)
				curl_easy_cleanup(h);
			break;
		}
		if (cli_url(c->endpoints[i], path, url, sizeof(url), connect_to, sizeof(connect_to),
			    e) < 0) {
			curl_easy_cleanup(h);
			break;
		}
		curl_slist_free_all(connect);
		connect = NULL;
		if (connect_to[0]) {
			connect = curl_slist_append(NULL, connect_to);
			curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect);
		}
		errbuf[0] = '\0';
		buf_reset(&sink->body);
		sink->curl = h;
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
		curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
		if (c->cert[0]) {
			curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert);
			curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
			curl_easy_setopt(h, CURLOPT_SSLKEY, c->key);
			curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
		}
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(h, CURLOPT_USERAGENT, "ferry");
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CLI_CONNECT_TIMEOUT);
		curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cli_write);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, cli_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, sink);
		if (!strcmp(method, "POST")) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "{}");
		} else if (strcmp(method, "GET")) {
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
			if (body)
				curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		}
		cr = curl_easy_perform(h);
		if (cr == CURLE_OK || cr == CURLE_ABORTED_BY_CALLBACK) {
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
			curl_easy_cleanup(h);
			c->answered = i;
			if (c->verbose)
				fprintf(stderr, "ferry: %s answered %s %s: HTTP %ld\n",
					c->endpoints[i], method, path, *status);
			rc = 0;
			break;
		}
		const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cr);
		if (!cli_not_connected(h, cr)) {
			err_set(e, "%s: %s", c->endpoints[i], why);
			curl_easy_cleanup(h);
			break;
		}
		if (c->verbose)
			fprintf(stderr, "ferry: %s did not answer (%s)%s\n", c->endpoints[i], why,
				i + 1 < c->nendpoints ? ", trying the next host" : "");
		size_t n = strlen(tried);
		snprintf(tried + n, sizeof(tried) - n, "%s%s", n ? ", " : "", c->endpoints[i]);
		err_set(e, "no agent answered (%s): %s", tried, why);
		curl_easy_cleanup(h);
	}
	curl_slist_free_all(hdr);
	curl_slist_free_all(connect);
	return rc;
}

int cli_request(struct cli_conn *c, const char *method, const char *path, const json_t *body,
		struct cli_reply *r, struct err *e)
{
	struct cli_sink s = { 0 };
	char *text = body ? json_encode(body, NULL) : NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	if (body && !text)
		return err_set(e, "out of memory");
	buf_init(&s.body);
	rc = cli_perform(c, method, path, text, &s, CLI_REQUEST_TIMEOUT, &r->status, e);
	free(text);
	if (rc < 0) {
		buf_free(&s.body);
		return -1;
	}
	r->body = malloc(s.body.len + 1);
	if (!r->body) {
		buf_free(&s.body);
		return err_set(e, "out of memory");
	}
	if (s.body.len)
		memcpy(r->body, s.body.p, s.body.len);
	r->body[s.body.len] = '\0';
	r->len = s.body.len;
	buf_free(&s.body);
	return 0;
}

int cli_follow(struct cli_conn *c, const char *path, FILE *out, volatile int *stop, struct err *e)
{
	struct cli_sink s = { .out = out, .stop = stop };
	long status = 0;
	int rc;

	s.json = c->json;
	buf_init(&s.body);
	rc = cli_perform(c, "GET", path, NULL, &s, 0L, &status, e);
	if (rc == 0 && status != 200) {
		char msg[400];

		cli_api_error(status, (const char *)s.body.p, s.body.len, msg, sizeof(msg));
		rc = err_set(e, "%s", msg);
	}
	buf_free(&s.body);
	return rc;
}

int cli_follow_fn(struct cli_conn *c, const char *path, const char *header,
		  void (*fn)(const char *p, size_t len, void *opaque), void *opaque,
		  volatile int *stop, long *status, struct err *e)
{
	struct cli_sink s = { .fn = fn, .opaque = opaque, .header = header, .stop = stop };
	int rc;

	*status = 0;
	buf_init(&s.body);
	rc = cli_perform(c, "GET", path, NULL, &s, 0L, status, e);
	if (rc < 0 && s.curl_status)
		*status = s.curl_status; /* it answered, then the stream broke */
	if (rc == 0 && *status != 200) {
		char msg[400];

		cli_api_error(*status, (const char *)s.body.p, s.body.len, msg, sizeof(msg));
		rc = err_set(e, "%s", msg);
	}
	buf_free(&s.body);
	return rc;
}
