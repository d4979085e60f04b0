/* peer.h - forwarding a request to another host's agent (libcurl, HTTPS, mutual TLS).
 *
 * A request that concerns another host (a VM that runs there, a start "on" it) is sent to
 * that host's API with this host's certificate as the client certificate and the header
 * X-Ferry-Forwarded: 1, so the agent that receives it never forwards it again. An agent that
 * does not answer gives 502 host_unreachable; what it answers is relayed as it is.
 */
#ifndef FERRY_PEER_H
#define FERRY_PEER_H

#include <stddef.h>

#include "agent/agent.h"

#define PEER_HEADER "X-Ferry-Forwarded"

struct peer_reply {
	long status;
	char *body;
	size_t len;
	char ctype[128];
};
void peer_reply_free(struct peer_reply *r);

/* One request (body may be NULL), answered in full; timeout_ms bounds it. */
int peer_call(struct agent *a, const char *host, const char *api, const char *method,
	      const char *path, const char *body, size_t blen, long timeout_ms,
	      struct peer_reply *r, struct aerr *ae);
/* A GET whose answer is a stream (vm console): once the peer answered 200, *fd reads the
 * body as it comes (EOF at its end); closing *fd ends the transfer. Any other answer is
 * returned in ae (its status and message). */
int peer_stream(struct agent *a, const char *host, const char *api, const char *path, int *fd,
		struct aerr *ae);

#endif
