/* api.c - the agent's HTTPS/JSON API on libmicrohttpd (api.h, docs/api.md).
 *
 * libmicrohttpd runs one thread per connection and calls api_handle for each request: the
 * first call checks the connection count and the credentials (a client certificate verified
 * against the cluster's CA and not revoked, or the bearer secret) and the Content-Length;
 * the next calls gather the body (at most API_MAX_BODY bytes); the last one routes the
 * request. Handlers answer JSON (errors: {"error":{"code","message"}}) or, for the event
 * stream and a console, a response whose content callback blocks on this connection's
 * thread: it waits for the next event or for the console file to grow, a second at a time,
 * and ends when the client closes (seen as POLLRDHUP on the socket) or the agent stops.
 *
 * A request about another host is forwarded there (peer.h) unless it was forwarded already.
 */
#include "agent/api.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/cluster.h"
#include "agent/events.h"
#include "agent/move.h"
#include "agent/peer.h"
#include "common/addr.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/names.h"
#include "common/pki.h"

struct api {
	struct MHD_Daemon *d;
	struct agent *a;
	atomic_int conns;
	char *key_pem, *cert_pem, *ca_pem;
};

struct req {
	struct buf body;
	bool too_large;
	bool checked;
	char peer[PKI_CN_MAX]; /* the client certificate's CN ("" with the secret) */
};

/* ---- pure helpers --------------------------------------------------------------------------- */

json_t *api_error_json(int status, const char *code, const char *msg)
{
	json_t *in = json_object();
	json_set_str(in, "code", code ? code : aerr_code(status));
	json_set(in, "message", json_text(msg));
	json_t *j = json_object();
	json_set(j, "error", in);
	return j;
}

json_t *api_parse_body(const char *body, size_t len, struct aerr *ae)
{
	struct err e;
	size_t i = 0;
	while (i < len && isspace((unsigned char)body[i]))
		i++;
	if (i == len)
		return json_object();
	json_t *j = json_parse(body, len, &e);
	if (!j) {
		aerr_set(ae, 400, "the body is not JSON: %s", e.msg);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_free(j);
		aerr_set(ae, 400, "the body must be a JSON object");
		return NULL;
	}
	return j;
}

int api_parse_lines(const char *arg, long *lines, struct aerr *ae)
{
	*lines = 100;
	if (!arg)
		return 0;
	char *end;
	errno = 0;
	long v = strtol(arg, &end, 10);
	if (!*arg || *end || errno || v < 1 || v > 10000)
		return aerr_set(ae, 400, "lines must be a number from 1 to 10000, not '%.32s'",
				arg);
	*lines = v;
	return 0;
}

size_t api_tail_start(const char *text, size_t len, long lines)
{
	size_t i = len;
	if (i > 0 && text[i - 1] == '\n')
		i--; /* the last line's own newline */
	while (i > 0) {
		if (text[i - 1] == '\n' && --lines == 0)
			return i;
		i--;
	}
	return 0;
}

/* ---- answers -------------------------------------------------------------------------------- */

static enum MHD_Result send_text(struct MHD_Connection *c, int status, const char *ctype,
				 char *text, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, int status, json_t *j)
{
	size_t len = 0;
	char *text = json_encode(j, &len);
	json_free(j);
	if (!text) {
		log_error("answering %d: the JSON could not be encoded (out of memory?)", status);
		return MHD_NO;
	}
	char *t2 = realloc(text, len + 2);
	if (t2) {
		text = t2;
		text[len++] = '\n';
		text[len] = '\0';
	}
	return send_text(c, status, "application/json", text, len);
}

static enum MHD_Result send_err(struct MHD_Connection *c, const struct aerr *ae)
{
	int st = ae->status ? ae->status : 500;
	if (st >= 500)
		log_warn("answering %d: %s", st, ae->msg);
	return send_json(c, st, api_error_json(st, ae->code, ae->msg));
}

static enum MHD_Result fail(struct MHD_Connection *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum MHD_Result fail(struct MHD_Connection *c, int status, const char *fmt, ...)
{
	struct aerr ae;
	va_list ap;
	va_start(ap, fmt);
	ae.status = status;
	ae.code = NULL;
	vsnprintf(ae.msg, sizeof(ae.msg), fmt, ap);
	va_end(ap);
	return send_err(c, &ae);
}

/* ---- credentials ---------------------------------------------------------------------------- */

static bool secret_ok(struct agent *a, const char *auth)
{
	if (!a->secret[0] || !auth || strncasecmp(auth, "Bearer ", 7) != 0)
		return false;
	const char *s = auth + 7;
	size_t n = strlen(s), m = strlen(a->secret);
	unsigned char diff = n != m;
	for (size_t i = 0; i < m; i++)
		diff |= (unsigned char)(a->secret[i] ^ (i < n ? s[i] : 0));
	return diff == 0;
}

/* 0 authenticated, else the status to refuse with (401, 403) and why in ae. */
static int check_auth(struct api *s, struct MHD_Connection *c, char peer[PKI_CN_MAX],
		      struct aerr *ae)
{
	struct agent *a = s->a;
	if (s->cert_pem) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
		gnutls_session_t sess = ci ? (gnutls_session_t)ci->tls_session : NULL;
		unsigned status = 0;
		unsigned ncert = 0;
		const gnutls_datum_t *certs =
		    sess ? gnutls_certificate_get_peers(sess, &ncert) : NULL;
		if (certs && ncert > 0 && gnutls_certificate_verify_peers2(sess, &status) == 0 &&
		    status == 0) {
			struct pki_info info;
			struct err e;
			if (pki_info_mem(certs[0].data, certs[0].size, 1, &info, &e) < 0)
				return aerr_set(ae, 401, "client certificate: %s", e.msg);
			if (cluster_is_revoked(a, info.serial))
				return aerr_set(ae, 403,
						"the certificate of '%s' (serial %s) is revoked",
						info.cn, info.serial);
			snprintf(peer, PKI_CN_MAX, "%s", info.cn);
			return 0;
		}
		if (certs && ncert > 0 &&
		    !secret_ok(a, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization")))
			return aerr_set(ae, 401,
					"the client certificate is not one of this cluster's");
	}
	if (secret_ok(a, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization")))
		return 0;
	return aerr_set(ae, 401,
			"no credentials: a client certificate of the cluster or the "
			"cluster secret (Authorization: Bearer) is needed");
}

/* ---- streams -------------------------------------------------------------------------------- */

/* Whether the client has closed its side (the next write would fail). */
static bool client_gone(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return true;
	struct pollfd p = { .fd = ci->connect_fd, .events = POLLRDHUP };
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

struct sse {
	struct agent *a;
	struct MHD_Connection *c;
	uint64_t last;
	struct buf out;
	size_t off;
	time_t sent;
};

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	struct sse *s = cls;
	while (s->off >= s->out.len) {
		buf_reset(&s->out);
		s->off = 0;
		if (s->a->quit || client_gone(s->c))
			return MHD_CONTENT_READER_END_OF_STREAM;
		int64_t seq = events_next(s->a->events, s->last, 1000, &s->out);
		if (seq < 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (seq > 0) {
			s->last = (uint64_t)seq;
			s->sent = time(NULL);
		} else if (time(NULL) - s->sent >= API_KEEPALIVE_S) {
			buf_put(&s->out, ": keepalive\n\n", 13);
			s->sent = time(NULL);
		}
	}
	size_t n = s->out.len - s->off;
	if (n > max)
		n = max;
	memcpy(buf, s->out.p + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static void sse_free(void *cls)
{
	struct sse *s = cls;
	buf_free(&s->out);
	free(s);
}

static enum MHD_Result stream_events(struct agent *a, struct MHD_Connection *c)
{
	struct sse *s = calloc(1, sizeof(*s));
	if (!s)
		return MHD_NO;
	s->a = a;
	s->c = c;
	s->sent = time(NULL);
	buf_init(&s->out);
	uint64_t last = events_last(a->events);
	const char *lei = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
	s->last = last;
	if (lei) {
		char *end;
		unsigned long long v = strtoull(lei, &end, 10);
		if (*lei && !*end)
			s->last = v <= last ? v : 0; /* an id from an earlier run: all we have */
	}
	buf_put(&s->out, "retry: 2000\n\n", 13);
	struct MHD_Response *r =
	    MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s, sse_free);
	if (!r) {
		sse_free(s);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* A console followed: a local file read as it grows, or a forwarded stream (a pipe). */
struct follow {
	struct agent *a;
	struct MHD_Connection *c;
	int fd;
	bool is_pipe;
};

static ssize_t follow_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	struct follow *f = cls;
	for (;;) {
		if (f->a->quit || client_gone(f->c))
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (f->is_pipe) {
			struct pollfd p = { .fd = f->fd, .events = POLLIN };
			if (poll(&p, 1, 500) <= 0)
				continue;
		}
		ssize_t n = read(f->fd, buf, max);
		if (n > 0)
			return n;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || f->is_pipe)
			return MHD_CONTENT_READER_END_OF_STREAM;
		/* at the end of the file: truncated meanwhile? start again from its start */
		struct stat st;
		off_t cur = lseek(f->fd, 0, SEEK_CUR);
		if (fstat(f->fd, &st) == 0 && st.st_size < cur)
			lseek(f->fd, 0, SEEK_SET);
		else
			usleep(200 * 1000);
	}
}

static void follow_free(void *cls)
{
	struct follow *f = cls;
	close(f->fd);
	free(f);
}

static enum MHD_Result stream_fd(struct agent *a, struct MHD_Connection *c, int fd, bool is_pipe)
{
	struct follow *f = calloc(1, sizeof(*f));
	if (!f) {
		close(fd);
		return MHD_NO;
	}
	f->a = a;
	f->c = c;
	f->fd = fd;
	f->is_pipe = is_pipe;
	struct MHD_Response *r =
	    MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, follow_read, f, follow_free);
	if (!r) {
		follow_free(f);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static int console_path(struct agent *a, const char *vm, char *path, size_t size, struct aerr *ae)
{
	pthread_mutex_lock(&a->vms_lock);
	int rc = vms_console_path(a->vms, vm, path, size);
	pthread_mutex_unlock(&a->vms_lock);
	if (rc < 0)
		return aerr_set(ae, 404, "%s has no console log on %s", vm, a->conf.name);
	return 0;
}

static enum MHD_Result local_log(struct agent *a, struct MHD_Connection *c, const char *vm,
				 long lines)
{
	struct aerr ae = { 0 };
	char path[4096];
	if (console_path(a, vm, path, sizeof(path), &ae) < 0)
		return send_err(c, &ae);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(c, 404, "%s has no console log on %s (%s)", vm, a->conf.name,
			    strerror(errno));
	struct stat st;
	off_t size = fstat(fd, &st) == 0 ? st.st_size : 0;
	off_t from = size > (4 << 20) ? size - (4 << 20) : 0; /* the last 4 MiB at most */
	size_t len = (size_t)(size - from);
	char *text = malloc(len + 1);
	ssize_t n = text ? pread(fd, text, len, from) : -1;
	close(fd);
	if (n < 0) {
		free(text);
		return fail(c, 500, "reading %s: %s", path, strerror(errno));
	}
	size_t start = api_tail_start(text, (size_t)n, lines);
	memmove(text, text + start, (size_t)n - start);
	return send_text(c, 200, "text/plain; charset=utf-8", text, (size_t)n - start);
}

static enum MHD_Result local_console(struct agent *a, struct MHD_Connection *c, const char *vm)
{
	struct aerr ae = { 0 };
	char path[4096];
	if (console_path(a, vm, path, sizeof(path), &ae) < 0)
		return send_err(c, &ae);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(c, 404, "%s has no console log on %s (%s)", vm, a->conf.name,
			    strerror(errno));
	struct stat st;
	if (fstat(fd, &st) == 0 && st.st_size > 65536)
		lseek(fd, st.st_size - 65536, SEEK_SET); /* what is there: its last 64 KiB */
	return stream_fd(a, c, fd, false);
}

/* ---- forwarding ----------------------------------------------------------------------------- */

static enum MHD_Result forward(struct agent *a, struct MHD_Connection *c, const char *host,
			       const char *api, const char *method, const char *path,
			       const struct buf *body)
{
	struct peer_reply r;
	struct aerr ae = { 0 };
	log_debug("forwarding %s %s to %s (%s)", method, path, host, api);
	if (peer_call(a, host, api, method, path, body ? (const char *)body->p : NULL,
		      body ? body->len : 0, 120000, &r, &ae) < 0)
		return send_err(c, &ae);
	char *text = r.body ? r.body : strdup("");
	return send_text(c, (int)r.status, r.ctype, text, r.len);
}

/* ---- routing -------------------------------------------------------------------------------- */

static bool is_forwarded(struct MHD_Connection *c)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, PEER_HEADER) != NULL;
}

/* out is read after rc was computed (a pointer, so `reply(c, f(&out), 200, &out, ...)` does
 * not depend on the order in which arguments are evaluated). */
static enum MHD_Result reply(struct MHD_Connection *c, int rc, int okstatus, json_t **out,
			     const struct aerr *ae)
{
	if (rc < 0) {
		json_free(*out);
		return send_err(c, ae);
	}
	return send_json(c, okstatus, *out);
}

/* ---- moves ---------------------------------------------------------------------------------- */

/* Forward to host unless it is this one or the request was forwarded already: true if sent. */
static bool forward_to_host(struct agent *a, struct MHD_Connection *c, const char *host,
			    const char *method, const char *path, const struct buf *body,
			    enum MHD_Result *res)
{
	struct aerr ae = { 0 };
	char api[128];
	if (strcmp(host, a->conf.name) == 0 || is_forwarded(c))
		return false;
	if (cluster_host_api(a, host, api, &ae) < 0)
		*res = send_err(c, &ae);
	else
		*res = forward(a, c, host, api, method, path, body);
	return true;
}

static enum MHD_Result route_move(struct agent *a, struct MHD_Connection *c, const char *method,
				  const char *vm, const struct buf *body, const char *url)
{
	struct aerr ae = { 0 };
	struct move_req req;
	json_t *out = NULL;
	if (strcmp(method, "POST") != 0)
		return fail(c, 405, "%s is not allowed on %s (POST)", method, url);
	json_t *b = api_parse_body((const char *)body->p, body->len, &ae);
	if (!b)
		return send_err(c, &ae);
	int pr = move_parse_request(b, &req, &ae);
	json_free(b);
	if (pr < 0)
		return send_err(c, &ae);
	if (!is_forwarded(c)) {
		bool self = true;
		char host[64], api[128];
		if (cluster_vm_target(a, vm, false, NULL, host, api, &self, &ae) < 0)
			return send_err(c, &ae);
		if (!self) {
			if (req.from[0] && strcmp(req.from, host) != 0)
				return fail(c, 409, "%s runs on %s, not on %s", vm, host, req.from);
			char path[256];
			snprintf(path, sizeof(path), "/v1/vms/%s/move", vm);
			return forward(a, c, host, api, method, path, body);
		}
	}
	return reply(c, move_request(a, vm, &req, &out, &ae), 202, &out, &ae);
}

static enum MHD_Result route_migrations(struct agent *a, struct MHD_Connection *c,
					const char *method, char (*segs)[128], size_t n,
					const char *url)
{
	struct aerr ae = { 0 };
	json_t *out = NULL;
	char vm[NAME_MAX_LEN + 1], source[64];
	struct err e;
	enum MHD_Result res;
	bool get = strcmp(method, "GET") == 0;
	if (n == 1) {
		if (!get)
			return fail(c, 405, "%s is not allowed on %s (GET)", method, url);
		return reply(c, move_list(a, &out, &ae), 200, &out, &ae);
	}
	if (n == 2 && strcmp(segs[1], "history") == 0) {
		if (!get)
			return fail(c, 405, "%s is not allowed on %s (GET)", method, url);
		return reply(c, move_history(a, &out, &ae), 200, &out, &ae);
	}
	if (name_normalize(segs[1], vm, "VM", &e) < 0)
		return fail(c, 400, "%s", e.msg);
	bool cancel = n == 3 && strcmp(segs[2], "cancel") == 0;
	if (n == 3 && !cancel)
		return fail(c, 404, "no such endpoint: %.200s", url);
	if (cancel && strcmp(method, "POST") != 0)
		return fail(c, 405, "%s is not allowed on %s (POST)", method, url);
	if (!cancel && !get)
		return fail(c, 405, "%s is not allowed on %s (GET)", method, url);
	int f = move_find(a, vm, source, &ae);
	if (f < 0)
		return send_err(c, &ae);
	if (f == 0) {
		if (cancel)
			return fail(c, 409, "%s has no move under way", vm);
		return reply(c, move_last(a, vm, &out, &ae), 200, &out, &ae);
	}
	char path[256];
	snprintf(path, sizeof(path), cancel ? "/v1/migrations/%s/cancel" : "/v1/migrations/%s", vm);
	if (forward_to_host(a, c, source, method, path, NULL, &res))
		return res;
	if (cancel)
		return reply(c, move_cancel(a, vm, &out, &ae), 200, &out, &ae);
	json_t *m = move_local_status(a, vm);
	if (!m)
		return reply(c, move_last(a, vm, &out, &ae), 200, &out, &ae);
	out = json_object();
	json_set(out, "migration", m);
	return send_json(c, 200, out);
}

static enum MHD_Result route_internal(struct agent *a, struct MHD_Connection *c, const char *method,
				      char (*segs)[128], size_t n, const struct buf *body,
				      const char *peer, const char *url)
{
	struct aerr ae = { 0 };
	json_t *out = NULL;
	char vm[NAME_MAX_LEN + 1];
	struct err e;
	if (n != 4 || strcmp(segs[1], "moves") != 0)
		return fail(c, 404, "no such endpoint: %.200s", url);
	if (strcmp(method, "POST") != 0)
		return fail(c, 405, "%s is not allowed on %s (POST)", method, url);
	if (name_normalize(segs[2], vm, "VM", &e) < 0)
		return fail(c, 400, "%s", e.msg);
	json_t *b = api_parse_body((const char *)body->p, body->len, &ae);
	if (!b)
		return send_err(c, &ae);
	int rc;
	if (strcmp(segs[3], "prepare") == 0)
		rc = move_prepare(a, peer, vm, b, &out, &ae);
	else if (strcmp(segs[3], "restore") == 0)
		rc = move_restore(a, peer, vm, b, &out, &ae);
	else if (strcmp(segs[3], "abort") == 0)
		rc = move_abort(a, peer, vm, b, &out, &ae);
	else
		rc = aerr_set(&ae, 404, "no such endpoint: %.200s", url);
	json_free(b);
	return reply(c, rc, 200, &out, &ae);
}

static enum MHD_Result route_vm(struct agent *a, struct MHD_Connection *c, const char *method,
				const char *vm, const char *action, const struct buf *body,
				const char *url)
{
	struct aerr ae = { 0 };
	json_t *out = NULL;
	int rc;
	if (!action) {
		if (strcmp(method, "GET") == 0) {
			rc = cluster_vm_get(a, vm, &out, &ae);
			return reply(c, rc, 200, &out, &ae);
		}
		if (strcmp(method, "DELETE") == 0) {
			rc = cluster_vm_remove(a, vm, &ae);
			if (rc == 0) {
				out = json_object();
				json_set_str(out, "removed", vm);
			}
			return reply(c, rc, 200, &out, &ae);
		}
		return fail(c, 405, "%s is not allowed on /v1/vms/%s (GET, DELETE)", method, vm);
	}
	if (strcmp(action, "move") == 0)
		return route_move(a, c, method, vm, body, url);
	bool start = strcmp(action, "start") == 0, stop = strcmp(action, "stop") == 0;
	bool log = strcmp(action, "log") == 0, console = strcmp(action, "console") == 0;
	if (!start && !stop && !log && !console)
		return fail(c, 404, "no such endpoint: %s", url);
	if ((start || stop) && strcmp(method, "POST") != 0)
		return fail(c, 405, "%s is not allowed on %s (POST)", method, url);
	if ((log || console) && strcmp(method, "GET") != 0)
		return fail(c, 405, "%s is not allowed on %s (GET)", method, url);

	char on[NAME_MAX_LEN + 1] = "";
	long lines = 100;
	if (start) {
		json_t *b = api_parse_body((const char *)body->p, body->len, &ae);
		if (!b)
			return send_err(c, &ae);
		const char *key;
		json_t *v;
		json_object_foreach(b, key, v)
		{
			if (strcmp(key, "on") != 0) {
				json_free(b);
				return fail(c, 400, "unknown member '%.64s' (known: on)", key);
			}
		}
		const char *o = NULL;
		struct err e;
		int g = json_get_str(b, "on", &o, &e);
		if (g < 0 || (g == 1 && name_normalize(o, on, "host", &e) < 0)) {
			json_free(b);
			return fail(c, 400, "%s", e.msg);
		}
		json_free(b);
	}
	if (log && api_parse_lines(MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "lines"),
				   &lines, &ae) < 0)
		return send_err(c, &ae);

	bool self = true;
	char host[64], api[128];
	if (!is_forwarded(c)) {
		if (cluster_vm_target(a, vm, start, on[0] ? on : NULL, host, api, &self, &ae) < 0)
			return send_err(c, &ae);
	}
	if (!self) {
		char path[256];
		if (console) {
			int fd;
			snprintf(path, sizeof(path), "/v1/vms/%s/console", vm);
			if (peer_stream(a, host, api, path, &fd, &ae) < 0)
				return send_err(c, &ae);
			return stream_fd(a, c, fd, true);
		}
		if (log)
			snprintf(path, sizeof(path), "/v1/vms/%s/log?lines=%ld", vm, lines);
		else
			snprintf(path, sizeof(path), "/v1/vms/%s/%s", vm, action);
		struct buf fb;
		buf_init(&fb);
		if (start) {
			json_t *fj = json_object();
			json_set_str(fj, "on", host);
			json_encode_buf(fj, &fb);
			json_free(fj);
		}
		enum MHD_Result r = forward(a, c, host, api, method, path, start ? &fb : NULL);
		buf_free(&fb);
		return r;
	}
	if (start)
		rc = cluster_vm_start_local(a, vm, &out, &ae);
	else if (stop)
		rc = cluster_vm_stop_local(a, vm, &out, &ae);
	else if (log)
		return local_log(a, c, vm, lines);
	else
		return local_console(a, c, vm);
	return reply(c, rc, 200, &out, &ae);
}

static enum MHD_Result route(struct agent *a, struct MHD_Connection *c, const char *url,
			     const char *method, const struct buf *body, const char *peer)
{
	struct aerr ae = { 0 };
	json_t *out = NULL;
	char segs[4][128];
	size_t n = 0;
	if (strncmp(url, "/v1/", 4) != 0)
		return fail(c, 404, "no such endpoint: %.200s (the API is under /v1/)", url);
	for (const char *p = url + 4; *p && n < 4;) {
		const char *q = strchr(p, '/');
		size_t len = q ? (size_t)(q - p) : strlen(p);
		if (len == 0 || len >= sizeof(segs[0]))
			return fail(c, 404, "no such endpoint: %.200s", url);
		memcpy(segs[n], p, len);
		segs[n++][len] = '\0';
		p = q ? q + 1 : p + len;
		if (q && !q[1])
			return fail(c, 404, "no such endpoint: %.200s", url);
		if (q && n == 4)
			return fail(c, 404, "no such endpoint: %.200s", url);
	}
	bool get = strcmp(method, "GET") == 0;
	char name[NAME_MAX_LEN + 1];
	struct err e;
#define ONLY(m, allowed)                                                                           \
	do {                                                                                       \
		if (strcmp(method, m) != 0)                                                        \
			return fail(c, 405, "%s is not allowed on %.200s (%s)", method, url,       \
				    allowed);                                                      \
	} while (0)
	if (n == 1 && strcmp(segs[0], "version") == 0) {
		ONLY("GET", "GET");
		out = json_object();
		json_set_str(out, "version", a->version);
		json_set_str(out, "host", a->conf.name);
		return send_json(c, 200, out);
	}
	if (n == 1 && strcmp(segs[0], "cluster") == 0) {
		ONLY("GET", "GET");
		return reply(c, cluster_status(a, &out, &ae), 200, &out, &ae);
	}
	if (n == 1 && strcmp(segs[0], "events") == 0) {
		ONLY("GET", "GET");
		return stream_events(a, c);
	}
	if (n == 1 && strcmp(segs[0], "hosts") == 0) {
		ONLY("GET", "GET");
		return reply(c, cluster_host_list(a, &out, &ae), 200, &out, &ae);
	}
	if (n == 3 && strcmp(segs[0], "hosts") == 0) {
		if (name_normalize(segs[1], name, "host", &e) < 0)
			return fail(c, 400, "%s", e.msg);
		bool drain = strcmp(segs[2], "drain") == 0, resume = strcmp(segs[2], "resume") == 0;
		if (!drain && !resume)
			return fail(c, 404, "no such endpoint: %.200s", url);
		ONLY("POST", "POST");
		char path[256];
		enum MHD_Result res;
		snprintf(path, sizeof(path), "/v1/hosts/%s/%s", name, segs[2]);
		if (forward_to_host(a, c, name, method, path, NULL, &res))
			return res;
		if (strcmp(name, a->conf.name) != 0)
			return fail(c, 409, "this is %s, not %s", a->conf.name, name);
		if (drain)
			return reply(c, move_drain(a, &out, &ae), 202, &out, &ae);
		return reply(c, move_resume_host(a, &out, &ae), 200, &out, &ae);
	}
	if (n >= 1 && strcmp(segs[0], "migrations") == 0)
		return route_migrations(a, c, method, segs, n, url);
	if (n >= 1 && strcmp(segs[0], "internal") == 0)
		return route_internal(a, c, method, segs, n, body, peer, url);
	if (n == 2 && strcmp(segs[0], "hosts") == 0) {
		if (name_normalize(segs[1], name, "host", &e) < 0)
			return fail(c, 400, "%s", e.msg);
		if (get && strcmp(name, a->conf.name) == 0) {
			int rc = cluster_host_get(a, name, &out, &ae);
			json_t *d = rc == 0 ? move_drain_status(a) : NULL;
			if (d)
				json_set(out, "drain", d);
			return reply(c, rc, 200, &out, &ae);
		}
		if (get && !is_forwarded(c)) {
			char api[128], path[256];
			struct aerr fe = { 0 };
			snprintf(path, sizeof(path), "/v1/hosts/%s", name);
			if (cluster_host_api(a, name, api, &fe) == 0)
				return forward(a, c, name, api, method, path, NULL);
		}
		if (get)
			return reply(c, cluster_host_get(a, name, &out, &ae), 200, &out, &ae);
		ONLY("DELETE", "GET, DELETE");
		int rc = cluster_host_remove(a, name, &ae);
		if (rc == 0) {
			out = json_object();
			json_set_str(out, "removed", name);
		}
		return reply(c, rc, 200, &out, &ae);
	}
	if (n == 1 && strcmp(segs[0], "vms") == 0) {
		if (get)
			return reply(c, cluster_vm_list(a, &out, &ae), 200, &out, &ae);
		ONLY("POST", "GET, POST");
		json_t *b = api_parse_body((const char *)body->p, body->len, &ae);
		if (!b)
			return send_err(c, &ae);
		int rc = cluster_vm_create(a, b, &out, &ae);
		json_free(b);
		return reply(c, rc, 201, &out, &ae);
	}
	if ((n == 2 || n == 3) && strcmp(segs[0], "vms") == 0) {
		if (name_normalize(segs[1], name, "VM", &e) < 0)
			return fail(c, 400, "%s", e.msg);
		return route_vm(a, c, method, name, n == 3 ? segs[2] : NULL, body, url);
	}
#undef ONLY
	return fail(c, 404, "no such endpoint: %.200s", url);
}

static enum MHD_Result api_handle(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	(void)version;
	struct api *s = cls;
	struct req *r = *con_cls;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		buf_init(&r->body);
		*con_cls = r;
		if (atomic_load(&s->conns) > API_MAX_CONN)
			return fail(c, 503, "too many connections (at most %d)", API_MAX_CONN);
		struct aerr ae = { 0 };
		if (check_auth(s, c, r->peer, &ae) < 0)
			return send_err(c, &ae);
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
		if (cl && strtoull(cl, NULL, 10) > API_MAX_BODY)
			return fail(c, 413, "the body is larger than %d bytes", API_MAX_BODY);
		r->checked = true;
		return MHD_YES;
	}
	if (*upload_size) {
		if (r->body.len + *upload_size > API_MAX_BODY)
			r->too_large = true;
		else
			buf_put(&r->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (!r->checked)
		return MHD_YES; /* an answer is queued already */
	if (r->too_large)
		return fail(c, 413, "the body is larger than %d bytes", API_MAX_BODY);
	buf_put(&r->body, "", 1); /* a NUL after the text, not counted */
	r->body.len--;
	if (r->body.oom)
		return fail(c, 500, "out of memory");
	return route(s->a, c, url, method, &r->body, r->peer);
}

static void api_done(void *cls, struct MHD_Connection *c, void **con_cls,
		     enum MHD_RequestTerminationCode toe)
{
	(void)cls, (void)c, (void)toe;
	struct req *r = *con_cls;
	if (r) {
		buf_free(&r->body);
		free(r);
		*con_cls = NULL;
	}
}

static void api_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		       enum MHD_ConnectionNotificationCode toe)
{
	(void)c, (void)socket_context;
	struct api *s = cls;
	int n;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		n = atomic_fetch_add(&s->conns, 1) + 1;
	else
		n = atomic_fetch_sub(&s->conns, 1) - 1;
	log_debug("connection %s: %d open",
		  toe == MHD_CONNECTION_NOTIFY_STARTED ? "opened" : "closed", n);
}

static void api_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_info("http: %s", msg);
}

static char *read_pem(const char *path, struct err *e)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		err_errno(e, "%s", path);
		return NULL;
	}
	char *text = NULL;
	size_t cap = 0;
	ssize_t n = getdelim(&text, &cap, '\0', f);
	fclose(f);
	if (n <= 0) {
		free(text);
		err_set(e, "%s is empty", path);
		return NULL;
	}
	return text;
}

int api_start(struct api **out, struct agent *a, struct err *e)
{
	struct api *s = calloc(1, sizeof(*s));
	if (!s)
		return err_set(e, "out of memory");
	s->a = a;
	struct addr ad;
	struct addrinfo *ai = NULL;
	if (addr_parse(a->conf.api, "7443", ADDR_LISTEN, &ad, e) < 0 ||
	    addr_resolve(&ad, true, &ai, e) < 0)
		goto fail;
	unsigned flags =
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	bool tls = a->conf.cert[0] != '\0';
	if (tls) {
		if (!(s->key_pem = read_pem(a->conf.key, e)) ||
		    !(s->cert_pem = read_pem(a->conf.cert, e)) ||
		    !(s->ca_pem = read_pem(a->conf.ca, e)))
			goto fail;
		flags |= MHD_USE_TLS;
	}
	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_SOCK_ADDR, 0, ai->ai_addr },
		{ MHD_OPTION_CONNECTION_LIMIT, API_HARD_CONN, NULL },
		{ MHD_OPTION_PER_IP_CONNECTION_LIMIT, API_MAX_CONN + 8, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, API_CONN_TIMEOUT_S, NULL },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)api_done, s },
		{ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)api_notify, s },
		{ tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, s->key_pem },
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, s->cert_pem },
		{ MHD_OPTION_HTTPS_MEM_TRUST, 0, s->ca_pem },
		{ MHD_OPTION_END, 0, NULL }
	};
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, api_handle, s, MHD_OPTION_EXTERNAL_LOGGER,
				api_log, s, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	freeaddrinfo(ai);
	ai = NULL;
	if (!s->d) {
		err_set(e, "cannot serve the API on %s (in use, or a bad certificate or key)",
			a->conf.api);
		goto fail;
	}
	if (!tls)
		log_warn("no certificate configured: the API is plain HTTP on %s, for tests only",
			 a->conf.api);
	*out = s;
	return 0;
fail:
	if (ai)
		freeaddrinfo(ai);
	free(s->key_pem), free(s->cert_pem), free(s->ca_pem);
	free(s);
	return -1;
}

void api_stop(struct api *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->d);
	free(s->key_pem), free(s->cert_pem), free(s->ca_pem);
	free(s);
}
