/* migrate.c - migration channels, parameters, status and events, shared by both sides.
 *
 * A channel is a non-blocking TCP socket with an output buffer and an input
 * buffer. Output is framed records (stream.h) appended to the buffer and
 * written whenever the socket takes them; input is read into a buffer of one
 * maximum record and parsed record by record, each checked (type, length,
 * checksum) before its payload is looked at.
 */
#include "vmm/migrate/migrate.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "common/addr.h"
#include "common/log.h"
#include "common/fault.h"
#include "common/state.h"
#include "vmm/board/machine.h"
#include "vmm/migrate/migrate_int.h"
#include "vmm/state/stream.h"

static const char *const mig_phase_names[] = {
	[MIG_NONE] = "none",	     [MIG_SETUP] = "setup",	    [MIG_PRECOPY] = "precopy",
	[MIG_STOPCOPY] = "stopcopy", [MIG_COMMIT] = "commit",	    [MIG_COMPLETED] = "completed",
	[MIG_FAILED] = "failed",     [MIG_CANCELLED] = "cancelled", [MIG_INCOMING] = "incoming",
};

const char *mig_phase_name(enum mig_phase p)
{
	return (unsigned)p < sizeof(mig_phase_names) / sizeof(mig_phase_names[0])
		   ? mig_phase_names[p]
		   : "?";
}

/* ---- channels ------------------------------------------------------------------------------ */

void mig_chan_init(struct mig_chan *c, int index)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->slot = -1;
	c->index = index;
	buf_init(&c->out);
}

ssize_t mig_recv(struct mig *g, int fd, void *buf, size_t len)
{
	if (g->io)
		return g->io->recv(g->io->opaque, fd, buf, len);
	return recv(fd, buf, len, MSG_DONTWAIT);
}

static ssize_t mig_send(struct mig *g, int fd, const void *buf, size_t len)
{
	if (g->io)
		return g->io->send(g->io->opaque, fd, buf, len);
	return send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

void mig_close_fd(struct mig *g, int fd)
{
	if (g->io)
		g->io->close(g->io->opaque, fd);
	else
		close(fd);
}

void mig_sockaddr_host(const void *sa, unsigned salen, char *out, size_t cap)
{
	const struct sockaddr *s = sa;

	out[0] = 0;
	if (!s || salen < sizeof(sa_family_t) ||
	    getnameinfo(s, salen, out, (socklen_t)cap, NULL, 0, NI_NUMERICHOST) != 0) {
		out[0] = 0;
		return;
	}
	/* A dual-stack listener sees an IPv4 peer as ::ffff:a.b.c.d; the peer knows itself as
	 * a.b.c.d. */
	if (s->sa_family == AF_INET6 && strncmp(out, "::ffff:", 7) == 0 && strchr(out + 7, '.'))
		memmove(out, out + 7, strlen(out + 7) + 1);
}

void mig_chan_close(struct mig *g, struct mig_chan *c)
{
	if (c->fd >= 0)
		mig_close_fd(g, c->fd);
	if (c->slot >= 0)
		machine_free_pollfd(g->m, c->slot);
	c->slot = -1;
	c->fd = -1;
	c->alive = false;
	c->connecting = false;
	buf_free(&c->out);
	c->out_off = 0;
	free(c->in);
	c->in = NULL;
	c->in_len = 0;
	c->in_cap = 0;
}

/* Socket options every channel gets: no Nagle delay for control messages, a bound on how long
 * sent data may stay unacknowledged (a stalled link fails the channel), keepalives. */
static void mig_sockopts(int fd)
{
	int one = 1, ms = MIG_STALL_MS, idle = 1, intvl = 1, cnt = 3;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

int mig_chan_attach(struct mig *g, struct mig_chan *c, int fd,
		    void (*ready)(void *opaque, short revents), struct err *e)
{
	struct machine_pollfd p = { .fd = fd, .events = POLLIN, .ready = ready, .opaque = g };

	if (!g->io)
		mig_sockopts(fd);
	c->fd = fd;
	c->alive = true;
	/* Small at first (a HELLO fits): it grows with what arrives, up to one largest record,
	 * so a connection that has not shown the token holds little. */
	c->in_cap = MIG_IN_START;
	c->in = malloc(c->in_cap);
	if (!c->in)
		return err_set(e, "out of memory for a migration channel");
	c->in_len = 0;
	c->last_rx_ns = c->progress_ns = gclock_host_ns();
	if (c->slot < 0) {
		c->slot = machine_add_pollfd(g->m, &p, e);
		if (c->slot < 0)
			return -1;
	} else {
		machine_set_pollfd(g->m, c->slot, fd, POLLIN);
	}
	return 0;
}

void mig_chan_record(struct mig_chan *c, uint32_t type, const void *payload, size_t len)
{
	size_t at = c->out.len;

	stream_frame(&c->out, type, payload, len);
	if (fault_take_corrupt())
		c->out.p[at + 8 + len / 2] ^=
		    0x5a; /* the fault switch: damage the payload (or crc) */
}

void mig_chan_ctrl(struct mig_chan *c, json_t *msg)
{
	struct buf b;

	/* Whole or not at all: a message cut short would not be JSON. */
	buf_init(&b);
	if (json_encode_buf(msg, &b) == 0)
		mig_chan_record(c, STREAM_CTRL, b.p, b.len);
	else
		log_error("migration: out of memory for a control message");
	buf_free(&b);
	json_decref(msg);
}

size_t mig_chan_pending(const struct mig_chan *c)
{
	return c->out.len - c->out_off;
}

void mig_chan_set_poll(struct mig *g, struct mig_chan *c)
{
	short ev = 0;

	if (c->fd < 0 || c->slot < 0)
		return;
	if (c->connecting || mig_chan_pending(c))
		ev |= POLLOUT;
	if (!c->connecting)
		ev |= POLLIN;
	machine_set_pollfd(g->m, c->slot, c->fd, ev);
}

int mig_chan_flush(struct mig *g, struct mig_chan *c)
{
	int64_t now = gclock_host_ns();

	if (c->fd < 0 || c->connecting)
		return c->fd < 0 ? -1 : 0;
	while (mig_chan_pending(c)) {
		ssize_t n = mig_send(g, c->fd, c->out.p + c->out_off, mig_chan_pending(c));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return -1;
		c->out_off += (size_t)n;
		c->sent += (uint64_t)n;
		c->progress_ns = now;
	}
	if (!mig_chan_pending(c)) {
		buf_reset(&c->out);
		c->out_off = 0;
		c->progress_ns = now;
	} else if (c->out_off > (1u << 20)) {
		/* Keep the buffer from growing: drop what is written. */
		memmove(c->out.p, c->out.p + c->out_off, mig_chan_pending(c));
		c->out.len -= c->out_off;
		c->out_off = 0;
	}
	mig_chan_set_poll(g, c);
	return 0;
}

int mig_chan_fill(struct mig *g, struct mig_chan *c)
{
	while (c->fd >= 0 && c->in) {
		if (c->in_len == c->in_cap) {
			size_t cap = c->in_cap * 2 < MIG_IN_BUF ? c->in_cap * 2 : MIG_IN_BUF;
			uint8_t *p;

			if (c->in_cap >= MIG_IN_BUF)
				break;
			p = realloc(c->in, cap);
			if (!p)
				return -1;
			c->in = p;
			c->in_cap = cap;
		}
		ssize_t n = mig_recv(g, c->fd, c->in + c->in_len, c->in_cap - c->in_len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		c->in_len += (size_t)n;
		c->recvd += (uint64_t)n;
		c->last_rx_ns = gclock_host_ns();
	}
	return 0;
}

void mig_chan_discard(struct mig *g, struct mig_chan *c)
{
	uint8_t sink[4096];

	while (c->fd >= 0 && mig_recv(g, c->fd, sink, sizeof(sink)) > 0)
		;
	c->in_len = 0;
}

int mig_chan_next(struct mig_chan *c, uint32_t *type, const uint8_t **payload, uint32_t *len,
		  struct err *e)
{
	size_t used;

	return stream_parse(c->in, c->in_len, type, payload, len, &used, e);
}

void mig_chan_consume(struct mig_chan *c, uint32_t len)
{
	size_t used = STREAM_RECORD_OVERHEAD + (size_t)len;

	memmove(c->in, c->in + used, c->in_len - used);
	c->in_len -= used;
}

void mig_hello(struct buf *b, const char *token, uint32_t role, uint32_t index)
{
	buf_put(b, MIG_MAGIC, 8);
	buf_put_u32(b, STREAM_VERSION);
	buf_put_u32(b, role);
	buf_put_u32(b, index);
	buf_put_u32(b, (uint32_t)strlen(token));
	buf_put(b, token, strlen(token));
	buf_put_u32(b, STATE_VERSION);
}

/* ---- status, events, failure ------------------------------------------------------------- */

void mig_fail(struct mig *g, const char *fmt, ...)
{
	va_list ap;

	if (g->error[0])
		return; /* the first cause is the one to report */
	va_start(ap, fmt);
	vsnprintf(g->error, sizeof(g->error), fmt, ap);
	va_end(ap);
	log_warn("migration: %s", g->error);
}

int64_t mig_cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
	       ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

static double ms(int64_t a, int64_t b)
{
	return (a && b && b >= a) ? (double)(b - a) / 1e6 : 0;
}

json_t *mig_status(struct handover *h)
{
	struct mig *g = h->mig;
	json_t *o = json_object();

	if (!g) {
		json_set_str(o, "phase", "none");
		return o;
	}
	json_set_str(o, "phase", mig_phase_name(g->phase));
	json_set_str(o, "role", g->source ? "source" : "destination");
	if (g->error[0])
		json_set_str(o, "error", g->error);
	if (g->source) {
		uint64_t sent = 0;
		int live = 0;

		for (int i = 0; i < g->ndata; i++) {
			sent += g->data[i].sent;
			live += g->data[i].alive;
		}
		sent += g->ctl.sent;
		json_set_u64(o, "round", g->round);
		json_set_u64(o, "pages_sent", g->pages_sent);
		json_set_u64(o, "zero_pages", g->zero_pages);
		json_set_u64(o, "bytes_sent", sent);
		json_set_u64(o, "remaining_bytes", (g->todo_left + g->dirty_last) * RAM_PAGE_SIZE);
		json_set_u64(o, "dirty_rate", g->dirty_rate);
		json_set_u64(o, "bandwidth", g->bandwidth);
		json_set_u64(o, "expected_downtime_ms", g->expected_downtime_ms);
		json_set_int(o, "throttle_pct", machine_throttle(g->m));
		json_set_int(o, "channels", g->ndata);
		json_set_int(o, "channels_alive", live);
		json_set_bool(o, "auto_converge", g->conv.throttled);
		json_set_int(o, "max_throttle_pct",
			     g->final_throttle > machine_throttle(g->m) ? g->final_throttle
									: machine_throttle(g->m));
		json_set_bool(o, "over_budget", g->over_budget);
		json_set_u64(o, "downtime_budget_ms", g->p.downtime_ms);
		json_set_u64(o, "bandwidth_cap", g->p.bandwidth);
		json_set_u64(o, "frames_forwarded", g->frames_forwarded);
		json_set_decimal(
		    o, "cpu_ms",
		    (double)((g->cpu_end_ns ? g->cpu_end_ns : mig_cpu_ns()) - g->cpu_start_ns) /
			1e6,
		    1);
		json_set_decimal(o, "total_ms",
				 ms(g->t_start, g->t_end ? g->t_end : gclock_host_ns()), 1);
		if (g->t_pause) {
			/* The blackout: source pause to destination resume on the realtime clock (the
			 * lab's hosts share it), and where the time went. "transfer" is the rest:
			 * the final bytes on the wire and the destination applying them. */
			double total =
			    g->dst_rt_resume ? (double)(g->dst_rt_resume - g->rt_pause) / 1e6 : 0;
			double flush = ms(g->t_pause, g->t_flush),
			       queue = ms(g->t_flush, g->t_final_queued);
			double commit = (double)g->dst_commit_ns / 1e6,
			       announce = (double)g->dst_announce_ns / 1e6;
			double resume = (double)g->dst_resume_ns / 1e6;
			double transfer = total - flush - queue - commit - announce - resume;
			json_t *b = json_object();

			json_set_decimal(b, "total_ms", total, 3);
			json_set_decimal(b, "flush_ms", flush, 3);
			json_set_decimal(b, "final_pages_ms", queue, 3);
			json_set_decimal(b, "transfer_ms",
					 total ? (transfer > 0 ? transfer : 0) : 0, 3);
			json_set_decimal(b, "commit_ms", commit, 3);
			json_set_decimal(b, "announce_ms", announce, 3);
			json_set_decimal(b, "resume_ms", resume, 3);
			json_set_u64(b, "final_pages", g->final_pages);
			json_set(o, "blackout", b);
		}
		if (g->ram_hash_src || g->ram_hash_dst) {
			char hex[17];
			const struct {
				const char *name;
				uint64_t v;
			} hashes[] = {
				{ "ram_hash_source", g->ram_hash_src },
				{ "ram_hash_destination", g->ram_hash_dst },
				{ "dev_hash_source", g->dev_hash_src },
				{ "dev_hash_destination", g->dev_hash_dst },
			};

			for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++) {
				snprintf(hex, sizeof(hex), "%016llx",
					 (unsigned long long)hashes[i].v);
				json_set_str(o, hashes[i].name, hex);
			}
		}
	} else {
		json_set_u64(o, "pages_applied", g->pages_applied);
		json_set_u64(o, "pages_stale", g->pages_stale);
		json_set_u64(o, "refused_connections", g->refused);
		json_set_u64(o, "refused_hello", g->refused_token);
		json_set_u64(o, "refused_limit", g->refused_limit);
		json_set_u64(o, "refused_address", g->refused_address);
		json_set_u64(o, "frames_received", g->frames_received);
		json_set_u64(o, "frames_dropped", g->frames_dropped);
	}
	return o;
}

void mig_event(struct mig *g)
{
	machine_emit(g->m, "MIGRATION", mig_status(g->h));
}

/* ---- parameters ----------------------------------------------------------------------------- */

int mig_parse_params(const json_t *args, struct mig_params *p, struct err *e)
{
	const json_t *addrs = json_get(args, "addresses");
	const char *token = NULL;
	int64_t v;
	int rc;

	memset(p, 0, sizeof(*p));
	p->downtime_ms = MIG_DEFAULT_DOWNTIME_MS;
	if (!json_is_array(addrs) || json_array_size(addrs) == 0 ||
	    json_array_size(addrs) > MIG_MAX_CHANNELS)
		return err_set(e, "'addresses' must be a list of 1 to %d \"host:port\" strings",
			       MIG_MAX_CHANNELS);
	for (size_t i = 0; i < json_array_size(addrs); i++) {
		const json_t *a = json_array_get(addrs, i);
		struct addr ad;

		if (!json_is_string(a) || json_string_length(a) >= sizeof(p->addrs[0]))
			return err_set(e, "'addresses'[%zu] must be a \"host:port\" string", i);
		if (addr_parse(json_string_value(a), NULL, 0, &ad, e) < 0)
			return err_prefix(e, "'addresses'[%zu]", i);
		snprintf(p->addrs[i], sizeof(p->addrs[i]), "%s", json_string_value(a));
	}
	p->naddrs = (int)json_array_size(addrs);
	rc = json_get_str(args, "token", &token, e);
	if (rc < 0)
		return -1;
	if (rc == 0 || !*token || strlen(token) > MIG_TOKEN_MAX)
		return err_set(e, "'token' (1 to %d characters) is required", MIG_TOKEN_MAX);
	snprintf(p->token, sizeof(p->token), "%s", token);
	rc = json_get_int(args, "downtime_ms", &v, e);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		if (v < 1 || v > 600000)
			return err_set(e, "'downtime_ms' must be 1 to 600000");
		p->downtime_ms = (uint64_t)v;
	}
	rc = json_get_int(args, "bandwidth", &v, e);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		if (v < 0)
			return err_set(
			    e, "'bandwidth' (bytes per second, 0 = unlimited) must be >= 0");
		p->bandwidth = (uint64_t)v;
	}
	p->channels = p->naddrs;
	rc = json_get_int(args, "channels", &v, e);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		if (v < 1 || v > MIG_MAX_CHANNELS)
			return err_set(e, "'channels' must be 1 to %d", MIG_MAX_CHANNELS);
		p->channels = (int)v;
	}
	return 0;
}

enum mig_phase mig_phase(struct handover *h)
{
	return h->mig ? h->mig->phase : MIG_NONE;
}

bool mig_owns_run_state(struct handover *h)
{
	enum mig_phase p = mig_phase(h);

	if (!h->mig)
		return false;
	if (!h->mig->source)
		return p != MIG_COMPLETED;
	return p == MIG_STOPCOPY || p == MIG_COMMIT;
}

void mig_tick(struct handover *h)
{
	struct mig *g = h->mig;

	if (!g)
		return;
	if (g->source)
		mig_src_tick(g);
	else
		mig_dst_tick(g);
}

void mig_destroy(struct handover *h)
{
	struct mig *g = h->mig;

	if (!g)
		return;
	if (g->source)
		mig_src_destroy(g);
	else
		mig_dst_destroy(g);
	mig_chan_close(g, &g->ctl);
	for (int i = 0; i < MIG_MAX_CHANNELS; i++)
		mig_chan_close(g, &g->data[i]);
	h->mig = NULL;
	machine_set_throttle(g->m, 0);
	machine_wake_at(g->m, 0);
	free(g);
}
