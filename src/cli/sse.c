/* sse.c - a reader of server-sent events (text/event-stream), fed as the bytes come.
 *
 * The format is the HTML standard's: lines ended by CRLF, LF or CR; "field: value" (one
 * optional space after the colon); a line starting with ':' a comment (the agent's
 * keepalive); an empty line ending the event. "data" lines accumulate, joined by '\n';
 * "event" sets the type (default "message"); "id" is remembered, so that a client which
 * reconnects can send it as Last-Event-ID and lose nothing the agent still holds. An event
 * without data is not dispatched, as the standard says.
 *
 * Chunks may be cut anywhere, even between the CR and the LF of a CRLF, so the reader keeps
 * the line it is in and whether the last byte was a CR. A line longer than CLI_SSE_MAX_LINE
 * is dropped with the event it belongs to, rather than grow without bound.
 */
#include <string.h>

#include "cli/cli.h"

void cli_sse_init(struct cli_sse *s,
		  void (*fn)(const char *type, const char *data, size_t len, void *opaque),
		  void *opaque)
{
	memset(s, 0, sizeof(*s));
	buf_init(&s->line);
	buf_init(&s->data);
	s->fn = fn;
	s->opaque = opaque;
}

void cli_sse_free(struct cli_sse *s)
{
	buf_free(&s->line);
	buf_free(&s->data);
}

static void cli_sse_reset_event(struct cli_sse *s)
{
	buf_reset(&s->data);
	s->event[0] = '\0';
	s->ndata = 0;
	s->spoiled = false;
}

static void cli_sse_dispatch(struct cli_sse *s)
{
	if (s->ndata && !s->spoiled && !s->data.oom) {
		buf_put(&s->data, "", 1); /* NUL-terminated for the callback */
		if (!s->data.oom)
			s->fn(s->event[0] ? s->event : "message", (const char *)s->data.p,
			      s->data.len - 1, s->opaque);
	}
	cli_sse_reset_event(s);
}

/* One complete line (without its end). */
static void cli_sse_line(struct cli_sse *s, const char *p, size_t len)
{
	const char *colon = memchr(p, ':', len);
	size_t nlen = colon ? (size_t)(colon - p) : len;
	const char *v = colon ? colon + 1 : p + len;
	size_t vlen = len - (size_t)(v - p);

	if (len == 0) {
		cli_sse_dispatch(s);
		return;
	}
	if (nlen == 0)
		return; /* a comment */
	if (vlen && v[0] == ' ') {
		v++;
		vlen--;
	}
	if (nlen == 4 && !memcmp(p, "data", 4)) {
		if (s->ndata++)
			buf_put(&s->data, "\n", 1);
		buf_put(&s->data, v, vlen);
		if (s->data.len > CLI_SSE_MAX_LINE)
			s->spoiled = true;
	} else if (nlen == 5 && !memcmp(p, "event", 5)) {
		snprintf(s->event, sizeof(s->event), "%.*s", (int)vlen, v);
	} else if (nlen == 2 && !memcmp(p, "id", 2)) {
		if (!memchr(v, '\0', vlen))
			snprintf(s->last_id, sizeof(s->last_id), "%.*s", (int)vlen, v);
	}
	/* retry and unknown fields: nothing to do */
}

void cli_sse_feed(struct cli_sse *s, const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = p[i];

		if (c == '\n' && s->cr) {
			s->cr = false; /* the LF of a CRLF: the line has ended already */
			continue;
		}
		s->cr = c == '\r';
		if (c == '\n' || c == '\r') {
			if (s->overflow) {
				s->overflow = false;
				s->spoiled = true;
			} else {
				cli_sse_line(s, (const char *)s->line.p, s->line.len);
			}
			buf_reset(&s->line);
			continue;
		}
		if (s->overflow)
			continue;
		/* the rest of the line up to its end in one copy */
		size_t n = 1;

		while (i + n < len && p[i + n] != '\n' && p[i + n] != '\r')
			n++;
		if (s->line.len + n > CLI_SSE_MAX_LINE) {
			s->overflow = true;
			buf_reset(&s->line);
		} else {
			buf_put(&s->line, p + i, n);
		}
		i += n - 1;
	}
}
