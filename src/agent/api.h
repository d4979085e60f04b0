/* api.h - the agent's HTTPS/JSON API (libmicrohttpd), docs/api.md.
 *
 * One thread per connection (libmicrohttpd's), mutual TLS with the cluster's CA: a client
 * certificate of the CA that is not revoked, or the cluster secret as a bearer token. At
 * most API_MAX_CONN connections are served; those beyond get 503 before libmicrohttpd's own
 * hard limit (a few more) closes further ones unanswered.
 */
#ifndef FERRY_API_H
#define FERRY_API_H

#include <jansson.h>
#include <stddef.h>

#include "agent/agent.h"
#include "common/err.h"

#define API_MAX_BODY (64 * 1024)
#define API_MAX_CONN 64
#define API_HARD_CONN (API_MAX_CONN + 16)
#define API_CONN_TIMEOUT_S 30
#define API_KEEPALIVE_S 15

struct api;

int api_start(struct api **out, struct agent *a, struct err *e);
void api_stop(struct api *s);

/* The JSON of an error: {"error": {"code", "message"}} (new reference); code NULL: the
 * status's. */
json_t *api_error_json(int status, const char *code, const char *msg);
/* Parse a request body into an object: 400 naming the parser's complaint. An empty body
 * gives an empty object. */
json_t *api_parse_body(const char *body, size_t len, struct aerr *ae);
/* ?lines=N of a log request (default 100, 1..10000). */
int api_parse_lines(const char *arg, long *lines, struct aerr *ae);
/* The last `lines` lines of text (len bytes): where they start. */
size_t api_tail_start(const char *text, size_t len, long lines);

#endif
