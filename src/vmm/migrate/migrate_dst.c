/* migrate_dst.c - the destination side of a live migration.
 *
 * A destination ferry-vm is started paused with --incoming and a token
 * (--token-file or --token-fd). It listens on every address given (one per
 * migration link), and treats all that arrives as hostile:
 *
 *   - a connection must open with a HELLO: magic, version, role, channel
 *     index and the token; exactly those bytes are read first, and anything
 *     wrong closes the connection before another byte is read;
 *   - every record is type-, length- and checksum-checked (stream.h); page
 *     batches are validated whole before a page is written; device state is
 *     validated field by field (state.h) before the devices take it;
 *   - the config must equal this machine's (memory, ISA, devices, MACs, disk
 *     sizes), or the migration is refused with the difference named.
 *
 * Device state is applied only when the source has said END and every data
 * channel it still uses has DRAINed up to the final round. The VM resumes only
 * after this side has moved the lease's epoch (the commit), and announces its
 * MACs before the hart runs. A destination serves one migration: if it fails
 * before the commit, the process ends without the VM ever having run here.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/fault.h"
#include "vmm/board/machine.h"
#include "vmm/migrate/migrate_int.h"
#include "vmm/state/snapshot.h"
#include "vmm/state/stream.h"

#define DST_HELLO_FIXED 24
#define DST_HELLO_MS 3000

static void dst_ready(void *opaque, short revents);

/* The destination never ran the VM: end the process with the reason. */
static void dst_abort(struct mig *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void dst_abort(struct mig *g, const char *fmt, ...)
{
	char why[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	mig_fail(g, "%s", why);
	if (g->phase == MIG_COMPLETED)
		return; /* after the commit the VM is ours and keeps running */
	if (g->ctl.alive) {
		mig_chan_ctrl(&g->ctl,
			      json_pack("{s:s, s:o}", "msg", "error", "reason", json_text(why)));
		mig_chan_flush(g, &g->ctl);
	}
	g->phase = MIG_FAILED;
	mig_event(g);
	log_error("incoming migration failed: %s", why);
	g->m->exit = MACHINE_ERROR;
}

static int dst_listen(struct mig *g, const char *addr, struct err *e)
{
	char host[64], *port;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV },
			*res;
	struct machine_pollfd p = { .events = POLLIN, .ready = dst_ready, .opaque = g };
	int fd, one = 1, rc;

	if (g->nlisten == MIG_MAX_CHANNELS)
		return err_set(e, "--incoming: at most %d addresses", MIG_MAX_CHANNELS);
	snprintf(host, sizeof(host), "%s", addr);
	port = strrchr(host, ':');
	if (!port)
		return err_set(e, "--incoming address '%s' is not host:port", addr);
	*port++ = 0;
	rc = getaddrinfo(*host ? host : NULL, port, &hints, &res);
	if (rc != 0)
		return err_set(e, "--incoming address '%s': %s", addr, gai_strerror(rc));
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		freeaddrinfo(res);
		return err_errno(e, "socket");
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 16) != 0) {
		err_errno(e, "cannot listen on %s", addr);
		freeaddrinfo(res);
		close(fd);
		return -1;
	}
	freeaddrinfo(res);
	p.fd = fd;
	g->listen_fd[g->nlisten] = fd;
	g->listen_slot[g->nlisten] = machine_add_pollfd(g->m, &p, e);
	if (g->listen_slot[g->nlisten] < 0) {
		close(fd);
		return -1;
	}
	g->nlisten++;
	return 0;
}

static void dst_close_listeners(struct mig *g)
{
	for (int i = 0; i < g->nlisten; i++) {
		if (g->listen_fd[i] >= 0) {
			close(g->listen_fd[i]);
			machine_set_pollfd(g->m, g->listen_slot[i], -1, 0);
		}
		g->listen_fd[i] = -1;
	}
}

/* Constant-time comparison, so the token cannot be guessed byte by byte from timing. */
static bool dst_token_ok(const struct mig *g, const uint8_t *tok, uint32_t len)
{
	size_t want = strlen(g->p.token);
	uint8_t diff = (uint8_t)(len != want);

	for (size_t i = 0; i < MIG_TOKEN_MAX; i++) {
		uint8_t a = i < len ? tok[i] : 0, b = i < want ? (uint8_t)g->p.token[i] : 0;

		diff |= (uint8_t)(a ^ b);
	}
	return diff == 0;
}

/* Read the HELLO of a pending connection, exactly its bytes and no more. Returns 1 when it is
 * complete and valid (the connection then becomes a channel), 0 if more bytes are needed, -1
 * if the connection is refused. */
static int dst_hello(struct mig *g, struct mig_chan *c)
{
	uint32_t version, role, index, toklen = 0;
	size_t need = DST_HELLO_FIXED;

	for (;;) {
		if (c->in_len >= DST_HELLO_FIXED) {
			memcpy(&toklen, c->in + 20, 4);
			if (memcmp(c->in, MIG_MAGIC, 8) != 0 || toklen == 0 || toklen > MIG_TOKEN_MAX)
				return -1;
			need = DST_HELLO_FIXED + toklen;
		}
		if (c->in_len >= need)
			break;
		ssize_t n = recv(c->fd, c->in + c->in_len, need - c->in_len, 0);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0)
			return -1;
		c->in_len += (size_t)n;
	}
	memcpy(&version, c->in + 8, 4);
	memcpy(&role, c->in + 12, 4);
	memcpy(&index, c->in + 16, 4);
	if (version != MIG_VERSION || !dst_token_ok(g, c->in + DST_HELLO_FIXED, toklen))
		return -1;
	if (role == MIG_ROLE_CONTROL) {
		if (index != 0 || g->ctl.fd >= 0)
			return -1;
	} else if (role != MIG_ROLE_DATA || index < 1 || index > MIG_MAX_CHANNELS ||
		   g->data[index - 1].fd >= 0 || g->ctl.fd < 0) {
		/* Data channels are accepted only after the control channel. */
		return -1;
	}
	c->index = (int)index;
	c->in_len = 0;
	return 1;
}

static void dst_accept(struct mig *g, int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd >= 0)
		mig_dst_adopt(g, fd);
}

void mig_dst_adopt(struct mig *g, int fd)
{
	struct err e;

	for (size_t i = 0; i < sizeof(g->pending) / sizeof(g->pending[0]); i++) {
		struct mig_chan *c = &g->pending[i];

		if (c->fd >= 0)
			continue;
		if (mig_chan_attach(g, c, fd, dst_ready, &e) < 0) {
			log_warn("incoming migration: refused a connection: %s", e.msg);
			mig_chan_close(g, c);
			buf_init(&c->out);
			g->refused++;
			return;
		}
		c->connecting = true; /* here: HELLO not read yet */
		return;
	}
	close(fd); /* too many connections at once */
	g->refused++;
}

/* Promote a pending connection whose HELLO checked out. */
static void dst_promote(struct mig *g, struct mig_chan *p)
{
	struct mig_chan *c = p->index == 0 ? &g->ctl : &g->data[p->index - 1];
	/* The channel is closed (dst_hello checked), so it holds no slot: it takes the pending
	 * connection's. */
	*c = *p;
	c->connecting = false;
	c->hello = true;
	c->last_rx_ns = c->progress_ns = gclock_host_ns();
	buf_init(&p->out);
	p->fd = -1;
	p->slot = -1;
	p->in = NULL;
	p->in_len = 0;
	p->alive = false;
	p->connecting = false;
	if (c->index > g->ndata)
		g->ndata = c->index;
	if (!g->t_first_byte)
		g->t_first_byte = gclock_host_ns();
	mig_chan_set_poll(g, c);
}

static int dst_apply_page(void *ctx, uint32_t round, uint64_t pfn, const uint8_t *data)
{
	struct mig *g = ctx;
	struct ram *r = &g->m->ram;
	uint64_t gpa = r->base + pfn * RAM_PAGE_SIZE;

	/* An older copy than the newest applied is stale: a later round already replaced it. */
	if (round < g->page_round[pfn]) {
		g->pages_stale++;
		return 0;
	}
	g->page_round[pfn] = round;
	if (round != g->fault_round) {
		g->fault_round = round;
		fault_point("round", round);
	}
	if (data)
		ram_write(r, gpa, data, RAM_PAGE_SIZE);
	else
		ram_fill(r, gpa, 0, RAM_PAGE_SIZE);
	g->page_hash[pfn] = mig_page_hash(pfn, ram_ptr(r, gpa));
	g->pages_applied++;
	return 0;
}

static void dst_commit(struct mig *g, uint64_t epoch)
{
	struct machine *m = g->m;
	int64_t t0 = gclock_host_ns(), t1, t2, t3, rt;
	struct err e;
	int rc;

	if (!g->ready_sent) {
		dst_abort(g, "commit requested before the state was complete");
		return;
	}
	if (!m->has_lease) {
		dst_abort(g, "this destination has no lease path (--disk or --lease)");
		return;
	}
	/* The source released the lease just before asking; wait briefly for the kernel. */
	if (commit_lock(&m->lease, 2000, &e) < 0) {
		dst_abort(g, "cannot take the lease: %s", e.msg);
		return;
	}
	int64_t tl = gclock_host_ns();

	fault_point("before-commit", 0);
	rc = commit_swap(&m->lease, epoch, &e);
	log_info("incoming migration: lease lock %.3f ms, swap %.3f ms", (double)(tl - t0) / 1e6,
		 (double)(gclock_host_ns() - tl) / 1e6);
	if (rc <= 0) {
		struct commit_record r;

		if (rc < 0) {
			commit_unlock(&m->lease);
			dst_abort(g, "commit failed: %s", e.msg);
			return;
		}
		commit_read(&m->lease, &r, &e);
		commit_unlock(&m->lease);
		dst_abort(g, "the lease is at epoch %llu, not the source's %llu: not committing",
			  (unsigned long long)r.epoch, (unsigned long long)epoch);
		return;
	}
	/* Committed: from here on this side owns the VM. */
	g->phase = MIG_COMPLETED;
	machine_journal(m, "COMMIT", "migration");
	fault_point("after-commit", 0);
	for (int i = 0; i < m->cfg.ndisks; i++) {
		if (vblk_open(&m->blk[i], &e) < 0) {
			/* We own the VM but cannot reach its disk: it must not run. It is stopped, not
			 * lost: the lease names this host, the disk is intact. */
			mig_fail(g, "committed, but %s: the VM stays stopped", e.msg);
			log_error("%s", g->error);
			mig_chan_ctrl(&g->ctl, json_pack("{s:s, s:o}", "msg", "committed", "epoch",
							 json_u64(m->lease.epoch)));
			mig_chan_flush(g, &g->ctl);
			m->exit = MACHINE_ERROR;
			return;
		}
	}
	t1 = gclock_host_ns();
	mig_chan_ctrl(&g->ctl, json_pack("{s:s, s:o}", "msg", "committed", "epoch",
					 json_u64(m->lease.epoch)));
	mig_chan_flush(g, &g->ctl);
	/* Announce before the hart runs, so the switches know where the guest is by the time it
	 * sends or expects anything. */
	for (int i = 0; i < m->cfg.nnets; i++)
		vnet_announce(&m->net[i]);
	t2 = gclock_host_ns();
	/* Continue the guest clock, advanced by the real time the blackout took, never back. */
	rt = gclock_realtime_ns();
	gclock_set_ns(&m->clock, g->clock_guest_ns +
					 (rt > g->clock_src_rt ? (uint64_t)(rt - g->clock_src_rt) : 0));
	fault_point("before-resume", 0);
	machine_resume(m, "migration");
	fault_point("after-resume", 0);
	t3 = gclock_host_ns();
	mig_chan_ctrl(&g->ctl,
		      json_pack("{s:s, s:I, s:I, s:I, s:I}", "msg", "resumed", "realtime_ns",
				(json_int_t)gclock_realtime_ns(), "commit_ns",
				(json_int_t)(t1 - t0), "announce_ns", (json_int_t)(t2 - t1),
				"resume_ns", (json_int_t)(t3 - t2)));
	mig_chan_flush(g, &g->ctl);
	dst_close_listeners(g);
	g->announces_left = 3;
	g->next_announce_ns = t3 + 50 * 1000000LL;
	g->t_end = t3;
	mig_event(g);
	log_info("incoming migration complete: committed epoch %llu, resumed",
		 (unsigned long long)m->lease.epoch);
}

static void dst_ctrl(struct mig *g, const uint8_t *p, uint32_t len)
{
	struct err e;
	json_t *j = json_parse((const char *)p, len, &e);
	const char *msg = NULL;
	int64_t v;

	if (!j || json_get_str(j, "msg", &msg, &e) != 1) {
		json_free(j);
		dst_abort(g, "malformed control message");
		return;
	}
	if (strcmp(msg, "hb") == 0) {
		mig_chan_ctrl(&g->ctl, json_pack("{s:s}", "msg", "hb"));
	} else if (strcmp(msg, "end") == 0) {
		int64_t live = 0;

		if (json_get_int(j, "round", &v, &e) != 1 || json_get_int(j, "live", &live, &e) != 1 ||
		    v < 1 || v > UINT32_MAX || live <= 0 || live >= (1 << MIG_MAX_CHANNELS)) {
			dst_abort(g, "malformed end message");
		} else {
			g->have_end = true;
			g->end_round = (uint32_t)v;
			g->end_live = (uint32_t)live;
		}
	} else if (strcmp(msg, "dead") == 0) {
		if (json_get_int(j, "channel", &v, &e) == 1 && v >= 1 && v <= MIG_MAX_CHANNELS) {
			/* The source gave up on this channel: whatever still arrives on it is old. */
			mig_chan_close(g, &g->data[v - 1]);
			buf_init(&g->data[v - 1].out);
		}
	} else if (strcmp(msg, "commit") == 0) {
		/* Usually right after END: the commit happens once the state is complete. */
		if (json_get_int(j, "epoch", &v, &e) != 1 || v < 0) {
			dst_abort(g, "malformed commit message");
		} else {
			g->commit_epoch = (uint64_t)v;
			g->commit_wanted = true;
		}
	} else if (strcmp(msg, "cancel") == 0) {
		dst_abort(g, "cancelled by the source");
	} else if (strcmp(msg, "error") == 0) {
		dst_abort(g, "the source gave up");
	} else {
		dst_abort(g, "unexpected control message '%.40s'", msg);
	}
	json_free(j);
}

static void dst_record(struct mig *g, struct mig_chan *c, uint32_t type, const uint8_t *p,
		       uint32_t len)
{
	struct machine *m = g->m;
	struct err e;

	if (c != &g->ctl) {
		if (!g->config_ok) {
			dst_abort(g, "channel %d: %s record before the configuration was accepted",
				  c->index, stream_type_name(type));
		} else if (g->ready_sent && type == STREAM_PAGES) {
			/* The state is complete (and maybe running): nothing may write RAM now. */
			if (g->phase == MIG_COMPLETED) {
				log_warn("incoming migration: channel %d: pages after the state was complete; "
					 "closing it", c->index);
				mig_chan_close(g, c);
				buf_init(&c->out);
			} else {
				dst_abort(g, "channel %d: pages after the state was complete", c->index);
			}
		} else if (type == STREAM_PAGES) {
			if (stream_pages_decode(p, len, m->ram.npages, dst_apply_page, g, &e) < 0)
				dst_abort(g, "channel %d: %s", c->index, e.msg);
		} else if (type == STREAM_DRAIN && len == 4) {
			memcpy(&c->drain_round, p, 4);
			c->drained = true;
		} else {
			dst_abort(g, "channel %d: unexpected %s record", c->index, stream_type_name(type));
		}
		return;
	}
	if (!g->config_ok && type != STREAM_CONFIG) {
		dst_abort(g, "%s record before the configuration was accepted", stream_type_name(type));
		return;
	}
	switch (type) {
	case STREAM_CONFIG:
		if (g->config_ok) {
			dst_abort(g, "a second configuration record");
			return;
		}
		if (snapshot_config_check(m, p, len, &e) < 0) {
			mig_chan_ctrl(&g->ctl, json_pack("{s:s, s:o}", "msg", "refuse", "reason",
							 json_text(e.msg)));
			mig_chan_flush(g, &g->ctl);
			dst_abort(g, "refused the configuration: %s", e.msg);
			return;
		}
		g->config_ok = true;
		mig_chan_ctrl(&g->ctl, json_pack("{s:s}", "msg", "accept"));
		log_info("incoming migration: configuration accepted");
		mig_chan_flush(g, &g->ctl);
		fault_point("config", 0);
		break;
	case STREAM_DEVICE:
		if (g->ndevrecs >= snapshot_device_count(m)) {
			dst_abort(g, "more device records than devices");
			return;
		}
		buf_put_u32(&g->devrecs, len);
		buf_put(&g->devrecs, p, len);
		g->ndevrecs++;
		break;
	case STREAM_CLOCK: {
		struct rbuf r;
		uint64_t guest, rt;
		uint32_t mode;

		rbuf_init(&r, p, len);
		if (!rbuf_get_u64(&r, &guest) || !rbuf_get_u64(&r, &rt) || !rbuf_get_u32(&r, &mode) ||
		    rbuf_left(&r) || mode > GCLOCK_ICOUNT) {
			dst_abort(g, "malformed clock record");
			return;
		}
		g->clock_guest_ns = guest;
		g->clock_src_rt = (int64_t)rt;
		g->have_clock = true;
		break;
	}
	case STREAM_CTRL:
		dst_ctrl(g, p, len);
		break;
	case STREAM_FRAME: {
		uint32_t net;

		if (len < 4 + VNET_HDR_LEN || len > 4 + VNET_MAX_FRAME) {
			dst_abort(g, "frame record of %u bytes", len);
			return;
		}
		memcpy(&net, p, 4);
		if (net >= (uint32_t)m->cfg.nnets) {
			dst_abort(g, "frame for network %u of %d", net, m->cfg.nnets);
			return;
		}
		/* The device holds it until the guest runs here and has a buffer for it. */
		if (vnet_inject(&m->net[net], p + 4, len - 4))
			g->frames_received++;
		else
			g->frames_dropped++;
		break;
	}
	default:
		dst_abort(g, "unexpected %s record on the control channel", stream_type_name(type));
		break;
	}
}

/* Everything arrived: apply the device state and tell the source we are ready. */
static void dst_maybe_ready(struct mig *g)
{
	struct machine *m = g->m;
	struct rbuf r;
	struct err e;

	if (g->ready_sent || !g->config_ok || !g->have_end || !g->have_clock ||
	    g->ndevrecs != snapshot_device_count(m))
		return;
	for (int i = 0; i < MIG_MAX_CHANNELS; i++)
		if ((g->end_live >> i) & 1)
			if (!g->data[i].drained || g->data[i].drain_round < g->end_round)
				return;
	fault_point("last-page", 0);
	rbuf_init(&r, g->devrecs.p, g->devrecs.len);
	for (int i = 0; i < g->ndevrecs; i++) {
		uint32_t len;

		if (!rbuf_get_u32(&r, &len) || rbuf_left(&r) < len) {
			dst_abort(g, "device records corrupt");
			return;
		}
		if (snapshot_load_device(m, i, r.p + r.pos, len, &e) < 0) {
			dst_abort(g, "device state refused: %s", e.msg);
			return;
		}
		r.pos += len;
	}
	/* Hashes of what arrived, to compare with the source's (before anything here changes:
	 * the timer line is re-derived from the local clock just after). */
	uint64_t sum = 0, dev = snapshot_dev_hash(m);

	for (uint64_t pfn = 0; pfn < m->ram.npages; pfn++)
		sum += g->page_hash[pfn];
	machine_update_timer(m);
	mig_chan_ctrl(&g->ctl, json_pack("{s:s, s:o, s:o}", "msg", "ready", "ram_hash",
					 json_word(sum), "dev_hash", json_word(dev)));
	g->ready_sent = true;
	log_info("incoming migration: state complete (%llu pages applied, %llu stale)",
		 (unsigned long long)g->pages_applied, (unsigned long long)g->pages_stale);
}

static void dst_read(struct mig *g, struct mig_chan *c)
{
	uint32_t type, len;
	const uint8_t *p;
	struct err e;
	int rc = 0;

	if (mig_chan_fill(g, c) < 0) {
		if (c == &g->ctl) {
			if (g->phase != MIG_COMPLETED)
				dst_abort(g, "the source closed the control channel");
			mig_chan_close(g, c);
			buf_init(&c->out);
		} else {
			/* A data channel may die; the source resends its pages on the others. */
			mig_chan_close(g, c);
			buf_init(&c->out);
		}
		return;
	}
	while (c->fd >= 0 && g->phase != MIG_FAILED && (rc = mig_chan_next(c, &type, &p, &len, &e)) == 1) {
		dst_record(g, c, type, p, len);
		if (c->fd >= 0 && c->in)
			mig_chan_consume(c, len);
	}
	if (c->fd >= 0 && rc < 0)
		dst_abort(g, "channel %d: %s", c->index, e.msg);
}

static void dst_ready(void *opaque, short revents)
{
	struct mig *g = opaque;

	(void)revents;
	mig_dst_tick(g);
}

void mig_dst_tick(struct mig *g)
{
	struct machine *m = g->m;
	int64_t now = gclock_host_ns();

	m->wake_ns = now + 50 * 1000000LL;
	for (int i = 0; i < g->nlisten; i++) {
		struct pollfd p = { .fd = g->listen_fd[i], .events = POLLIN };

		if (g->listen_fd[i] >= 0 && poll(&p, 1, 0) > 0)
			dst_accept(g, g->listen_fd[i]);
	}
	for (size_t i = 0; i < sizeof(g->pending) / sizeof(g->pending[0]); i++) {
		struct mig_chan *c = &g->pending[i];
		int rc;

		if (c->fd < 0)
			continue;
		rc = dst_hello(g, c);
		if (rc == 1) {
			dst_promote(g, c);
		} else if (rc < 0 || now - c->progress_ns > DST_HELLO_MS * 1000000LL) {
			log_warn("incoming migration: refused a connection (bad or missing HELLO/token)");
			g->refused++;
			mig_chan_close(g, c);
			buf_init(&c->out);
		}
	}
	if (g->phase == MIG_FAILED)
		return;
	if (g->ctl.fd >= 0)
		dst_read(g, &g->ctl);
	for (int i = 0; i < MIG_MAX_CHANNELS && g->phase != MIG_FAILED; i++)
		if (g->data[i].fd >= 0)
			dst_read(g, &g->data[i]);
	if (g->phase == MIG_FAILED)
		return;
	if (g->phase == MIG_INCOMING) {
		dst_maybe_ready(g);
		if (g->ready_sent && g->commit_wanted && g->phase == MIG_INCOMING)
			dst_commit(g, g->commit_epoch);
		if (g->ctl.fd >= 0 && now - g->ctl.last_rx_ns > MIG_STALL_MS * 1000000LL)
			dst_abort(g, "the source has been silent for %d ms", MIG_STALL_MS);
	}
	if (g->ctl.fd >= 0 && mig_chan_flush(g, &g->ctl) < 0 && g->phase != MIG_COMPLETED)
		dst_abort(g, "control channel to the source failed");
	if (g->phase == MIG_COMPLETED) {
		if (g->announces_left > 0 && now >= g->next_announce_ns) {
			for (int i = 0; i < m->cfg.nnets; i++)
				vnet_announce(&m->net[i]);
			g->announces_left--;
			g->next_announce_ns = now + (int64_t)(4 - g->announces_left) * 100 * 1000000LL;
		}
		if (g->announces_left == 0 && g->ctl.fd < 0)
			m->wake_ns = 0;
	}
}

int mig_incoming(struct machine *m, const char *addrs, const char *token, struct err *e)
{
	struct mig *g;
	char list[1024], *a, *save = NULL;

	if (!token || !*token || strlen(token) > MIG_TOKEN_MAX)
		return err_set(e, "--incoming needs a token (1 to %d characters)", MIG_TOKEN_MAX);
	g = calloc(1, sizeof(*g));
	if (!g)
		return err_set(e, "out of memory");
	g->m = m;
	g->source = false;
	g->phase = MIG_INCOMING;
	g->t_start = gclock_host_ns();
	snprintf(g->p.token, sizeof(g->p.token), "%s", token);
	mig_chan_init(&g->ctl, 0);
	for (int i = 0; i < MIG_MAX_CHANNELS; i++)
		mig_chan_init(&g->data[i], i + 1);
	for (size_t i = 0; i < sizeof(g->pending) / sizeof(g->pending[0]); i++)
		mig_chan_init(&g->pending[i], -1);
	for (int i = 0; i < MIG_MAX_CHANNELS; i++)
		g->listen_fd[i] = -1;
	buf_init(&g->devrecs);
	g->page_round = calloc(m->ram.npages, sizeof(uint32_t));
	g->page_hash = malloc(m->ram.npages * sizeof(uint64_t));
	m->mig = g;
	if (!g->page_round || !g->page_hash) {
		mig_destroy(m);
		return err_set(e, "out of memory");
	}
	/* Pages never sent stay zero: start every page's hash as a zero page's. */
	static const uint8_t zero[RAM_PAGE_SIZE];

	for (uint64_t pfn = 0; pfn < m->ram.npages; pfn++)
		g->page_hash[pfn] = mig_page_hash(pfn, zero);
	snprintf(list, sizeof(list), "%s", addrs);
	for (a = strtok_r(list, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
		if (dst_listen(g, a, e) < 0) {
			mig_destroy(m);
			return -1;
		}
	}
	if (g->nlisten == 0) {
		mig_destroy(m);
		return err_set(e, "--incoming: no address");
	}
	m->wake_ns = gclock_host_ns() + 50 * 1000000LL;
	log_info("waiting for an incoming migration on %s", addrs);
	return 0;
}

void mig_dst_destroy(struct mig *g)
{
	dst_close_listeners(g);
	for (size_t i = 0; i < sizeof(g->pending) / sizeof(g->pending[0]); i++)
		mig_chan_close(g, &g->pending[i]);
	free(g->page_round);
	free(g->page_hash);
	buf_free(&g->devrecs);
}
