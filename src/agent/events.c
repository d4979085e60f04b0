/* events.c - the event bus: a ring of recent events and server-sent-events formatting.
 *
 * The ring holds each event already encoded (type and one line of JSON), with its sequence
 * number; slot seq % EVENTS_RING. A reader asks for the first event after the last one it
 * sent and sleeps on the condition variable until it exists; publishing broadcasts. Nothing
 * here blocks a producer: publishing copies a string under the mutex and wakes readers.
 */
#include "agent/events.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"

struct slot {
	uint64_t seq;
	char type[32];
	char *data;
};

struct events {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct slot ring[EVENTS_RING];
	uint64_t last; /* last sequence number published */
	bool down;
};

struct events *events_new(void)
{
	struct events *ev = calloc(1, sizeof(*ev));
	if (!ev)
		return NULL;
	pthread_mutex_init(&ev->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ev->cond, &ca);
	pthread_condattr_destroy(&ca);
	return ev;
}

void events_free(struct events *ev)
{
	if (!ev)
		return;
	for (size_t i = 0; i < EVENTS_RING; i++)
		free(ev->ring[i].data);
	pthread_cond_destroy(&ev->cond);
	pthread_mutex_destroy(&ev->lock);
	free(ev);
}

void events_time_now(char out[32])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

uint64_t events_publish(struct events *ev, const char *type, json_t *data)
{
	if (!data)
		return 0;
	if (!json_get(data, "time")) {
		char t[32];
		events_time_now(t);
		json_set_str(data, "time", t);
	}
	char *text = json_encode(data, NULL);
	json_free(data);
	if (!text)
		return 0;
	pthread_mutex_lock(&ev->lock);
	uint64_t seq = ++ev->last;
	struct slot *s = &ev->ring[seq % EVENTS_RING];
	free(s->data);
	s->seq = seq;
	snprintf(s->type, sizeof(s->type), "%s", type);
	s->data = text;
	pthread_cond_broadcast(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
	return seq;
}

void events_shutdown(struct events *ev)
{
	pthread_mutex_lock(&ev->lock);
	ev->down = true;
	pthread_cond_broadcast(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
}

uint64_t events_last(struct events *ev)
{
	pthread_mutex_lock(&ev->lock);
	uint64_t n = ev->last;
	pthread_mutex_unlock(&ev->lock);
	return n;
}

void events_format_sse(uint64_t seq, const char *type, const char *data, struct buf *out)
{
	char head[96];
	int n = snprintf(head, sizeof(head), "id: %llu\nevent: %s\ndata: ", (unsigned long long)seq,
			 type);
	buf_put(out, head, (size_t)n);
	/* data is one line of JSON (json_encode escapes control characters), so one data: line */
	buf_put(out, data, strlen(data));
	buf_put(out, "\n\n", 2);
}

int64_t events_next(struct events *ev, uint64_t after, int timeout_ms, struct buf *out)
{
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&ev->lock);
	int64_t rc = 0;
	for (;;) {
		if (ev->down) {
			rc = -1;
			break;
		}
		if (ev->last > after) {
			uint64_t oldest = ev->last > EVENTS_RING ? ev->last - EVENTS_RING + 1 : 1;
			uint64_t seq = after + 1 < oldest ? oldest : after + 1;
			struct slot *s = &ev->ring[seq % EVENTS_RING];
			events_format_sse(seq, s->type, s->data, out);
			rc = (int64_t)seq;
			break;
		}
		int w = pthread_cond_timedwait(&ev->cond, &ev->lock, &dl);
		if (w == ETIMEDOUT && ev->last <= after && !ev->down)
			break;
	}
	pthread_mutex_unlock(&ev->lock);
	return rc;
}
