/* peer.c - forwarding requests to other agents (peer.h).
 *
 * One curl easy handle per request: forwarding is rare (a start elsewhere, a log), so a kept
 * connection is not worth its locking. A stream (console) runs its transfer on a thread of
 * its own that writes the body into a pipe; the caller reads the other end, and closing it
 * makes the next write fail, which ends the transfer.
 */
#include "agent/peer.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"

void peer_reply_free(struct peer_reply *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
	struct peer_reply *r = arg;
	size_t add = size * n;
	if (r->len + add > (64u << 20))
		return 0;
	char *nb = realloc(r->body, r->len + add + 1);
	if (!nb)
		return 0;
	memcpy(nb + r->len, p, add);
	r->body = nb;
	r->len += add;
	r->body[r->len] = '\0';
	return add;
}

static CURL *peer_handle(struct agent *a, const char *api, const char *path,
			 struct curl_slist **hdrs)
{
	CURL *h = curl_easy_init();
	if (!h)
		return NULL;
	char url[1024];
	snprintf(url, sizeof(url), "%s://%s%s", a->conf.cert[0] ? "https" : "http", api, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	if (a->conf.cert[0]) {
		curl_easy_setopt(h, CURLOPT_CAINFO, a->conf.ca);
		curl_easy_setopt(h, CURLOPT_SSLCERT, a->conf.cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, a->conf.key);
	}
	*hdrs = curl_slist_append(NULL, PEER_HEADER ": 1");
	*hdrs = curl_slist_append(*hdrs, "Content-Type: application/json");
	if (!a->conf.cert[0] && a->secret[0]) {
		char auth[320];
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", a->secret);
		*hdrs = curl_slist_append(*hdrs, auth);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
	return h;
}

int peer_call(struct agent *a, const char *host, const char *api, const char *method,
	      const char *path, const char *body, size_t blen, long timeout_ms,
	      struct peer_reply *r, struct aerr *ae)
{
	memset(r, 0, sizeof(*r));
	struct curl_slist *hdrs = NULL;
	CURL *h = peer_handle(a, api, path, &hdrs);
	if (!h)
		return aerr_set(ae, 500, "out of memory");
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "POST") == 0 || body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)(body ? blen : 0));
	}
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	CURLcode rc = curl_easy_perform(h);
	int ret = 0;
	if (rc != CURLE_OK) {
		ret = aerr_set(ae, 502, "the agent of %s (%s) did not answer: %s", host, api,
			       curl_easy_strerror(rc));
		peer_reply_free(r);
	} else {
		char *ct = NULL;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
		curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
		snprintf(r->ctype, sizeof(r->ctype), "%s", ct ? ct : "application/json");
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return ret;
}

struct stream {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int refs;
	bool ready, done;
	long status;
	int wfd;
	struct peer_reply err; /* the body of an answer other than 200 */
	CURL *h;
	struct curl_slist *hdrs;
	char curl_err[CURL_ERROR_SIZE];
};

static void stream_unref(struct stream *s)
{
	pthread_mutex_lock(&s->lock);
	int left = --s->refs;
	pthread_mutex_unlock(&s->lock);
	if (left)
		return;
	if (s->wfd >= 0)
		close(s->wfd);
	peer_reply_free(&s->err);
	curl_slist_free_all(s->hdrs);
	curl_easy_cleanup(s->h);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static size_t stream_write(char *p, size_t size, size_t n, void *arg)
{
	struct stream *s = arg;
	size_t len = size * n;
	pthread_mutex_lock(&s->lock);
	if (!s->ready) {
		curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->status);
		if (s->status == 200) {
			s->ready = true;
			pthread_cond_broadcast(&s->cond);
		}
	}
	long status = s->status;
	pthread_mutex_unlock(&s->lock);
	if (status != 200)
		return collect(p, size, n, &s->err);
	for (size_t off = 0; off < len;) {
		ssize_t w = write(s->wfd, p + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return 0; /* the reader is gone: end the transfer */
		off += (size_t)w;
	}
	return len;
}

static void *stream_run(void *arg)
{
	struct stream *s = arg;
	CURLcode rc = curl_easy_perform(s->h);
	pthread_mutex_lock(&s->lock);
	if (!s->ready && s->status == 0)
		curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->status);
	if (rc != CURLE_OK && !s->ready)
		snprintf(s->curl_err, sizeof(s->curl_err), "%s", curl_easy_strerror(rc));
	s->done = true;
	close(s->wfd);
	s->wfd = -1;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	stream_unref(s);
	return NULL;
}

int peer_stream(struct agent *a, const char *host, const char *api, const char *path, int *fd,
		struct aerr *ae)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return aerr_set(ae, 500, "pipe: %s", strerror(errno));
	struct stream *s = calloc(1, sizeof(*s));
	if (!s) {
		close(p[0]), close(p[1]);
		return aerr_set(ae, 500, "out of memory");
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->refs = 2;
	s->wfd = p[1];
	s->h = peer_handle(a, api, path, &s->hdrs);
	if (!s->h) {
		close(p[0]);
		s->refs = 1;
		stream_unref(s);
		return aerr_set(ae, 500, "out of memory");
	}
	curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, stream_write);
	curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
	pthread_t t;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &at, stream_run, s) != 0) {
		pthread_attr_destroy(&at);
		close(p[0]);
		s->refs = 1;
		stream_unref(s);
		return aerr_set(ae, 500, "cannot start a thread");
	}
	pthread_attr_destroy(&at);
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 10;
	pthread_mutex_lock(&s->lock);
	while (!s->ready && !s->done)
		if (pthread_cond_timedwait(&s->cond, &s->lock, &dl) != 0)
			break;
	bool ready = s->ready;
	int ret = 0;
	if (ready) {
		*fd = p[0];
	} else if (s->done && s->status) {
		struct err e;
		json_t *j = s->err.body ? json_parse(s->err.body, s->err.len, &e) : NULL;
		const char *m = json_string_value(json_get(json_get(j, "error"), "message"));
		ret = aerr_set(ae, (int)s->status, "%s", m ? m : "the peer refused");
		json_free(j);
	} else {
		ret = aerr_set(ae, 502, "the agent of %s (%s) did not answer%s%s", host, api,
			       s->curl_err[0] ? ": " : "", s->curl_err);
	}
	pthread_mutex_unlock(&s->lock);
	if (!ready)
		close(p[0]);
	stream_unref(s);
	return ret;
}
