/* events.h - the agent's event bus: a ring of recent events, read as server-sent events.
 *
 * Producers (the etcd watch of /ferry/, the agent's own loop) publish an event, a type and a
 * JSON object; readers (each GET /v1/events, on its own connection thread) wait on a
 * condition variable for the next sequence number. The ring keeps the last EVENTS_RING
 * events, so a client that reconnects with Last-Event-ID within them misses nothing; an
 * older id starts from the oldest event kept.
 */
#ifndef FERRY_EVENTS_H
#define FERRY_EVENTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define EVENTS_RING 256

struct events;

struct events *events_new(void);
void events_free(struct events *ev);
/* Publish (type, data): data's reference is taken; "time" is added if absent. Returns the
 * event's sequence number (from 1), or 0 if memory ran out. */
uint64_t events_publish(struct events *ev, const char *type, json_t *data);
/* Wake every reader and make them end (at shutdown). */
void events_shutdown(struct events *ev);
/* The last sequence number published (0 if none). */
uint64_t events_last(struct events *ev);

/* Wait up to timeout_ms for the first event after `after` and append it to out in SSE form.
 * Returns its sequence number, 0 on timeout, -1 after events_shutdown. If `after` is older
 * than the ring, the oldest event kept comes next. */
int64_t events_next(struct events *ev, uint64_t after, int timeout_ms, struct buf *out);

/* One event in server-sent-events form: "id: N\nevent: TYPE\ndata: JSON\n\n". */
void events_format_sse(uint64_t seq, const char *type, const char *data, struct buf *out);
/* The time now as the API writes it: "2026-12-02T06:10:11.204Z". */
void events_time_now(char out[32]);

#endif
