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
 *
 * State machine (enum mig_dst_state; the table below is every transition):
 *
 *   LISTENING --config accepted--> RECEIVING --END, drained, state applied-->
 *   READY --the source asks to commit--> COMMITTING (the record is asked)
 *   --it names us--> COMMITTED --disks, announce, resume--> RUNNING.
 *   A failure before COMMITTING --> FAILED at once; in COMMITTING the record's
 *   answer decides (refused or failed --> FAILED).
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/log.h"
#include "common/fault.h"
#include "common/hash.h"
#include "common/le.h"
#include "common/state.h"
#include "vmm/board/machine.h"
#include "vmm/migrate/migrate_int.h"
#include "vmm/state/snapshot.h"
#include "vmm/state/stream.h"

#define DST_HELLO_MS 3000

#define TO(s) (1u << (s))
static const uint32_t dst_next[DST_NSTATES] = {
	[DST_LISTENING] = TO(DST_RECEIVING) | TO(DST_FAILED),
	[DST_RECEIVING] = TO(DST_READY) | TO(DST_FAILED),
	[DST_READY] = TO(DST_COMMITTING) | TO(DST_FAILED),
	[DST_COMMITTING] = TO(DST_COMMITTED) | TO(DST_FAILED),
	[DST_COMMITTED] = TO(DST_RUNNING),
	[DST_RUNNING] = 0,
	[DST_FAILED] = 0,
};

static const enum mig_phase dst_phase[DST_NSTATES] = {
	[DST_LISTENING] = MIG_INCOMING,	 [DST_RECEIVING] = MIG_INCOMING,
	[DST_READY] = MIG_INCOMING,	 [DST_COMMITTING] = MIG_INCOMING,
	[DST_COMMITTED] = MIG_COMPLETED, [DST_RUNNING] = MIG_COMPLETED,
	[DST_FAILED] = MIG_FAILED,
};

static const char *const dst_names[DST_NSTATES] = {
	"listening", "receiving", "ready", "committing", "committed", "running", "failed",
};

const char *mig_dst_state_name(enum mig_dst_state s)
{
	return s < DST_NSTATES ? dst_names[s] : "?";
}

void mig_dst_enter(struct mig *g, enum mig_dst_state to)
{
	if (to >= DST_NSTATES || !(dst_next[g->dst] & TO(to))) {
		log_error("incoming migration: no transition from %s to %s",
			  mig_dst_state_name(g->dst), mig_dst_state_name(to));
		return;
	}
	g->dst = to;
	g->phase = dst_phase[to];
}

/* Is the VM this side's (the record was swapped)? */
static bool dst_owns(const struct mig *g)
{
	return g->dst == DST_COMMITTED || g->dst == DST_RUNNING;
}

static void dst_ready(void *opaque, short revents);

static void dst_abort(struct mig *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void dst_fail(struct mig *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Something went wrong. Before the commit was asked, the VM never ran here: end. While the
 * record is being asked, nothing is known yet: its answer decides (dst_committed). After the
 * commit, the VM is ours and keeps running. */
static void dst_abort(struct mig *g, const char *fmt, ...)
{
	char why[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (dst_owns(g)) {
		mig_fail(g, "%s", why);
		return;
	}
	if (g->dst == DST_COMMITTING) {
		log_warn("incoming migration: %s; the commit was asked, waiting for the record",
			 why);
		return;
	}
	dst_fail(g, "%s", why);
}

/* The destination never ran the VM: end the process with the reason. */
static void dst_fail(struct mig *g, const char *fmt, ...)
{
	char why[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	mig_fail(g, "%s", why);
	if (g->ctl.alive) {
		mig_chan_ctrl(&g->ctl,
			      json_pack("{s:s, s:o}", "msg", "error", "reason", json_text(why)));
		mig_chan_flush(g, &g->ctl);
	}
	mig_dst_enter(g, DST_FAILED);
	mig_event(g);
	log_error("incoming migration failed: %s", why);
	machine_request_exit(g->m, MACHINE_ERROR);
}

static int dst_listen(struct mig *g, const char *addr, struct err *e)
{
	struct addrinfo *res;
	struct addr a;
	struct machine_pollfd p = { .events = POLLIN, .ready = dst_ready, .opaque = g };
	int fd, one = 1;

	if (g->nlisten == MIG_MAX_CHANNELS)
		return err_set(e, "--incoming: at most %d addresses", MIG_MAX_CHANNELS);
	if (addr_parse(addr, NULL, ADDR_LISTEN, &a, e) < 0 || addr_resolve(&a, true, &res, e) < 0)
		return err_prefix(e, "--incoming");
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

/* ---- what an unauthenticated peer may hold ---------------------------------------------------
 *
 * Until its HELLO has shown the token, a connection is a pending slot (MIG_PENDING_MAX of
 * them): at most MIG_PENDING_PER_PEER per address, for at most MIG_HELLO_MS from its accept
 * (reading bytes does not renew it). When every slot is taken the oldest pending connection
 * makes room, so idle connections cannot keep the source's out. An address whose HELLO was
 * refused (a wrong token, a malformed HELLO, too slow) more often than a whole source's
 * attempt (MIG_FREE_REFUSALS) has its connections closed unread for a while, doubling with
 * each further refusal: token guesses are paced. Every refusal is counted (by
 * reason, in migrate-status) and logged, at most 10 lines a second. */

static struct mig_peer *dst_peer(struct mig *g, const char *host, int64_t now)
{
	struct mig_peer *free_p = NULL, *lru = NULL;

	for (int i = 0; i < MIG_PEERS; i++) {
		struct mig_peer *p = &g->peers[i];

		if (p->addr[0] && strcmp(p->addr, host) == 0) {
			p->last_ns = now;
			return p;
		}
		if (!p->addr[0] && !free_p)
			free_p = p;
		if (p->addr[0] && p->pending == 0 && now >= p->blocked_until &&
		    (!lru || p->last_ns < lru->last_ns))
			lru = p;
	}
	if (!free_p) {
		/* Forget the least recently seen address that holds nothing and is not blocked; if
		 * every one is (more blocked addresses than the table holds), the oldest blocked. */
		if (!lru)
			for (int i = 0; i < MIG_PEERS; i++)
				if (g->peers[i].pending == 0 &&
				    (!lru || g->peers[i].last_ns < lru->last_ns))
					lru = &g->peers[i];
		free_p = lru;
	}
	if (!free_p)
		return NULL;
	memset(free_p, 0, sizeof(*free_p));
	snprintf(free_p->addr, sizeof(free_p->addr), "%s", host);
	free_p->last_ns = now;
	return free_p;
}

static void dst_log_refusal(struct mig *g, const char *host, const char *why, int64_t now)
{
	if (now - g->log_window_ns >= 1000000000LL) {
		if (g->log_suppressed)
			log_warn("incoming migration: %u more refusals not logged",
				 g->log_suppressed);
		g->log_window_ns = now;
		g->log_lines = 0;
		g->log_suppressed = 0;
	}
	if (g->log_lines >= 10) {
		g->log_suppressed++;
		return;
	}
	g->log_lines++;
	log_warn("incoming migration: refused a connection from %s: %s (%llu refused so far)",
		 host[0] ? host : "?", why, (unsigned long long)g->refused);
}

enum dst_refusal { DST_REFUSE_HELLO, DST_REFUSE_LIMIT, DST_REFUSE_ADDRESS };

/* Count and log a refusal; a refused HELLO also blocks its address for a while. */
static void dst_refused(struct mig *g, const char *host, enum dst_refusal kind, const char *why)
{
	int64_t now = gclock_host_ns();
	struct mig_peer *p = dst_peer(g, host, now);

	g->refused++;
	if (kind == DST_REFUSE_HELLO)
		g->refused_token++;
	else if (kind == DST_REFUSE_LIMIT)
		g->refused_limit++;
	else
		g->refused_address++;
	if (p && kind != DST_REFUSE_LIMIT && ++p->refusals > MIG_FREE_REFUSALS) {
		int64_t ms = MIG_BLOCK_MIN_MS;

		for (unsigned i = MIG_FREE_REFUSALS + 1; i < p->refusals && ms < MIG_BLOCK_MAX_MS;
		     i++)
			ms *= 2;
		if (ms > MIG_BLOCK_MAX_MS)
			ms = MIG_BLOCK_MAX_MS;
		p->blocked_until = now + ms * 1000000LL;
	}
	dst_log_refusal(g, host, why, now);
}

/* Close a pending connection (refused, or promoted elsewhere: then only its slot goes). */
static void dst_pending_drop(struct mig *g, struct mig_chan *c, bool close_it)
{
	struct mig_peer *p = dst_peer(g, c->addr, gclock_host_ns());

	if (p && p->pending > 0)
		p->pending--;
	if (close_it) {
		mig_chan_close(g, c);
		buf_init(&c->out);
	}
}

/* Read the HELLO of a pending connection, exactly its bytes and no more. Returns 1 when it is
 * complete and valid (the connection then becomes a channel); 0 if more bytes are needed (or,
 * for a data channel, the control channel or its announcement); -1 if the connection is
 * refused (*why says why; -3: a data channel from an address not announced); -2 if it is the source's control channel (the token is right) but
 * speaks a format or state version this ferry-vm cannot read: e is then set. */
static int dst_hello(struct mig *g, struct mig_chan *c, const char **why, struct err *e)
{
	uint32_t version = 0, role, index, toklen = 0;
	size_t need = MIG_HELLO_FIXED;
	struct stream_versions v;

	*why = "malformed HELLO";
	for (;;) {
		if (c->in_len >= MIG_HELLO_FIXED) {
			version = le_get_u32(c->in + 8);
			toklen = le_get_u32(c->in + 20);
			if (memcmp(c->in, MIG_MAGIC, 8) != 0 || toklen == 0 ||
			    toklen > MIG_TOKEN_MAX)
				return -1;
			/* Format 2 added the state version after the token. A format this side does
			 * not know keeps the fields up to the token where they are (so its token can
			 * be checked and the source told); what it adds is not read. */
			need = MIG_HELLO_FIXED + toklen;
			if (version >= 2 && version <= STREAM_VERSION)
				need += 4;
		}
		if (c->in_len >= need)
			break;
		ssize_t n = mig_recv(g, c->fd, c->in + c->in_len, need - c->in_len);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0) {
			*why = "closed before its HELLO was complete";
			return -1;
		}
		c->in_len += (size_t)n;
	}
	role = le_get_u32(c->in + 12);
	index = le_get_u32(c->in + 16);
	if (!dst_token_ok(g, c->in + MIG_HELLO_FIXED, toklen)) {
		*why = "wrong token";
		return -1;
	}
	v.format = version;
	v.state = version >= 2 && version <= STREAM_VERSION
		      ? le_get_u32(c->in + MIG_HELLO_FIXED + toklen)
		      : 1;
	if (role == MIG_ROLE_CONTROL) {
		*why = "a second control channel";
		if (index != 0 || g->ctl.fd >= 0 || g->dst != DST_LISTENING)
			return -1;
		if (stream_versions_check(&v, e) < 0) {
			c->index = 0;
			return -2;
		}
		g->peer = v;
		if (v.format < MIG_FORMAT_ANNOUNCE)
			log_warn(
			    "incoming migration: a format %u source announces neither its data "
			    "channels nor its rounds: its data channels are taken on the token "
			    "alone",
			    v.format);
	} else if (role != MIG_ROLE_DATA || index < 1 || index > MIG_MAX_CHANNELS) {
		return -1;
	} else if (g->ctl.fd < 0) {
		/* Data channels are accepted only after the control channel. The source connects
		 * that first, but on another link a data channel's HELLO can come first: it waits
		 * (within the HELLO's time) instead of being refused. */
		return 0;
	} else if ((g->used_mask >> (index - 1)) & 1 || v.format != g->peer.format ||
		   v.state != g->peer.state) {
		/* Each index once (never again after it closed), in the control channel's
		 * versions. */
		*why = "a data channel index already used, or versions other than the control "
		       "channel's";
		return -1;
	} else if (g->peer.format >= MIG_FORMAT_ANNOUNCE) {
		/* Only what the source announced on its control channel, from the address it
		 * announced: the announcement may still be on its way. */
		if (!((g->announced_mask >> (index - 1)) & 1))
			return 0;
		if (strcmp(g->announced[index - 1], c->addr) != 0) {
			*why = "a data channel from an address the source did not announce";
			return -3;
		}
	}
	c->index = (int)index;
	c->in_len = 0;
	return 1;
}

static void dst_accept(struct mig *g, int lfd)
{
	/* A bounded number per look, so that a flood cannot keep the loop here. */
	for (int i = 0; i < MIG_PENDING_MAX; i++) {
		struct sockaddr_storage sa;
		socklen_t salen = sizeof(sa);
		char host[64];
		int fd = accept4(lfd, (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		mig_sockaddr_host(&sa, salen, host, sizeof(host));
		mig_dst_adopt(g, fd, host);
	}
}

void mig_dst_adopt(struct mig *g, int fd, const char *host)
{
	struct mig_chan *slot = NULL, *oldest = NULL;
	int64_t now = gclock_host_ns();
	struct mig_peer *p = dst_peer(g, host, now);
	struct err e;

	if (p && now < p->blocked_until) {
		mig_close_fd(g, fd);
		dst_refused(g, host, DST_REFUSE_LIMIT, "its last HELLO was refused: wait");
		return;
	}
	if (!p || p->pending >= MIG_PENDING_PER_PEER) {
		mig_close_fd(g, fd);
		dst_refused(g, host, DST_REFUSE_LIMIT,
			    "too many connections without a HELLO from this address");
		return;
	}
	for (size_t i = 0; i < sizeof(g->pending) / sizeof(g->pending[0]); i++) {
		struct mig_chan *c = &g->pending[i];

		if (c->fd < 0) {
			slot = c;
			break;
		}
		if (!oldest || c->accepted_ns < oldest->accepted_ns)
			oldest = c;
	}
	if (!slot) {
		/* Every slot is taken: the oldest makes room. */
		char old[64];

		snprintf(old, sizeof(old), "%s", oldest->addr);
		dst_pending_drop(g, oldest, true);
		dst_refused(g, old, DST_REFUSE_LIMIT,
			    "every pending slot was taken: the oldest made room");
		slot = oldest;
		p = dst_peer(g, host, now); /* the table entry may have been reused */
		if (!p) {
			mig_close_fd(g, fd);
			return;
		}
	}
	snprintf(slot->addr, sizeof(slot->addr), "%s", host);
	if (mig_chan_attach(g, slot, fd, dst_ready, &e) < 0) {
		log_warn("incoming migration: refused a connection: %s", e.msg);
		mig_chan_close(g, slot);
		buf_init(&slot->out);
		g->refused++;
		return;
	}
	slot->connecting = true; /* here: HELLO not read yet */
	slot->accepted_ns = now;
	p->pending++;
}

/* Promote a pending connection whose HELLO checked out. */
static void dst_promote(struct mig *g, struct mig_chan *p)
{
	struct mig_chan *c = p->index == 0 ? &g->ctl : &g->data[p->index - 1];

	dst_pending_drop(g, p, false);
	if (p->index > 0)
		g->used_mask |= 1u << (p->index - 1);
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
	p->in_cap = 0;
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
	struct stream_page_sink sink = { .ram = &g->m->ram,
					 .round = g->page_round,
					 .hash = g->page_hash,
					 .zero_hash = g->zero_page_hash };

	if (!stream_page_apply(&sink, round, pfn, data)) {
		g->pages_stale++;
		return 0;
	}
	g->pages_applied++;
	if (round != g->fault_round) {
		g->fault_round = round;
		fault_point("round", round);
	}
	return 0;
}

static void dst_committed(void *opaque, const struct own_answer *a);

/* Step 4 on this side: ask the record to name this process, from the source's token. The
 * answer comes later (dst_committed); meanwhile the loop goes on (heartbeats, frames). */
static void dst_commit(struct mig *g, uint64_t epoch)
{
	if (g->dst != DST_READY) {
		dst_abort(g, "commit requested before the state was complete");
		return;
	}
	/* What arrived must be what the source holds, or the guest would run on with pages that
	 * are not its own: no commit then (the source, still owning the record, runs on). */
	if (g->commit_has_hash && g->commit_ram_hash != g->ram_hash_dst) {
		dst_abort(g,
			  "the RAM here differs from the source's (hash %016llx here, %016llx at "
			  "the source): not committing",
			  (unsigned long long)g->ram_hash_dst,
			  (unsigned long long)g->commit_ram_hash);
		return;
	}
	g->t_commit_asked = g->t_commit_last_ask = gclock_host_ns();
	g->commit_expect = epoch;
	fault_point("before-commit", 0);
	if (!g->h->has_lease) {
		dst_abort(g, "this destination has no lease path (--disk or --lease)");
		return;
	}
	if (handover_ask(g->h, OWN_COMMIT, epoch, dst_committed, g) < 0) {
		dst_abort(g, "commit failed: a request to the ownership record is under way");
		return;
	}
	mig_dst_enter(g, DST_COMMITTING);
}

/* The record was busy: ask it again (no sooner than 10 ms after the last ask), still from the
 * source's token. Nothing is decided meanwhile; nothing ends the wait but an answer. */
static void dst_commit_again(struct mig *g, int64_t now)
{
	if (now < g->commit_retry_ns) {
		machine_wake_by(g->m, g->commit_retry_ns);
		return;
	}
	if (handover_ask(g->h, OWN_COMMIT, g->commit_expect, dst_committed, g) < 0) {
		g->commit_retry_ns = now + 10 * 1000000LL;
		machine_wake_by(g->m, g->commit_retry_ns);
		return;
	}
	g->commit_retry_ns = 0;
	g->t_commit_last_ask = now;
}

/* The record answered the commit. Until it did, nothing was decided: a failure meanwhile
 * waited for this answer (dst_abort), since the record may have moved. */
static void dst_committed(void *opaque, const struct own_answer *a)
{
	struct mig *g = opaque;
	struct machine *m = g->m;
	struct handover *h = g->h;
	int64_t t0 = g->t_commit_asked, t1, t2, t3, rt;
	struct err e;

	log_info("incoming migration: the record answered %s in %.3f ms",
		 own_status_name(a->status), (double)(gclock_host_ns() - t0) / 1e6);
	if (a->status == OWN_REFUSED) {
		dst_fail(
		    g, "the lease is at epoch %llu (%s), not the source's %llu: not committing",
		    (unsigned long long)a->token, a->owner, (unsigned long long)g->commit_expect);
		return;
	}
	if (a->status == OWN_BUSY) {
		int64_t now = gclock_host_ns(), at = g->t_commit_last_ask + 10 * 1000000LL;

		g->commit_retry_ns = at > now ? at : now;
		machine_wake_by(m, g->commit_retry_ns);
		return;
	}
	if (a->status != OWN_OK) {
		dst_fail(g, "commit failed: %s", a->msg[0] ? a->msg : own_status_name(a->status));
		return;
	}
	/* Committed: from here on this side owns the VM. */
	mig_dst_enter(g, DST_COMMITTED);
	machine_journal(m, "COMMIT", "migration");
	fault_point("after-commit", 0);
	if (machine_devs_acquire(m, &e) < 0) {
		/* We own the VM but cannot reach its disk: it must not run. It is stopped, not
		 * lost: the lease names this host, the disk is intact. */
		mig_fail(g, "committed, but %s: the VM stays stopped", e.msg);
		log_error("%s", g->error);
		mig_chan_ctrl(&g->ctl, json_pack("{s:s, s:o}", "msg", "committed", "epoch",
						 json_u64(a->token)));
		mig_chan_flush(g, &g->ctl);
		machine_request_exit(m, MACHINE_ERROR);
		return;
	}
	t1 = gclock_host_ns();
	mig_chan_ctrl(&g->ctl,
		      json_pack("{s:s, s:o}", "msg", "committed", "epoch", json_u64(a->token)));
	mig_chan_flush(g, &g->ctl);
	/* Announce before the hart runs, so the switches know where the guest is by the time it
	 * sends or expects anything. */
	machine_devs_announce(m);
	t2 = gclock_host_ns();
	/* Continue the guest clock, advanced by the real time the blackout took, never back. */
	rt = gclock_realtime_ns();
	int64_t gap;

	/* Both clocks are bounded (stream_clock_decode); a host clock off the scale adds nothing. */
	if (__builtin_sub_overflow(rt, g->clock_src_rt, &gap) || gap < 0)
		gap = 0;
	gclock_set_ns(&m->clock, g->clock_guest_ns + (uint64_t)gap);
	fault_point("before-resume", 0);
	machine_resume(m, "migration");
	mig_dst_enter(g, DST_RUNNING);
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
		 (unsigned long long)handover_token(h));
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
	} else if (strcmp(msg, "channel") == 0 && g->peer.format >= MIG_FORMAT_ANNOUNCE) {
		const char *addr = NULL;

		/* A data channel the source opens, and the address it comes from: each once. */
		if (json_get_int(j, "index", &v, &e) != 1 || v < 1 || v > MIG_MAX_CHANNELS ||
		    json_get_str(j, "addr", &addr, &e) != 1 || !addr[0] ||
		    strlen(addr) >= sizeof(g->announced[0]) ||
		    ((g->announced_mask >> (v - 1)) & 1)) {
			dst_abort(g, "malformed channel message");
		} else {
			snprintf(g->announced[v - 1], sizeof(g->announced[0]), "%s", addr);
			g->announced_mask |= 1u << (v - 1);
		}
	} else if (strcmp(msg, "round") == 0 && g->peer.format >= MIG_FORMAT_ANNOUNCE) {
		/* Pages of this round may come now: rounds only go forward. */
		if (json_get_int(j, "round", &v, &e) != 1 || v <= g->src_round || v > UINT32_MAX)
			dst_abort(g, "malformed round message");
		else
			g->src_round = (uint32_t)v;
	} else if (strcmp(msg, "end") == 0) {
		int64_t live = 0;

		if (json_get_int(j, "round", &v, &e) != 1 ||
		    json_get_int(j, "live", &live, &e) != 1 || v < 1 || v > UINT32_MAX ||
		    live <= 0 || live >= (1 << MIG_MAX_CHANNELS)) {
			dst_abort(g, "malformed end message");
		} else if (g->peer.format >= MIG_FORMAT_ANNOUNCE && v != g->src_round) {
			dst_abort(g, "end at round %lld, the source announced round %u",
				  (long long)v, g->src_round);
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
		int64_t h = 0;
		int hr = json_get_int(j, "ram_hash", &h, &e);

		if (json_get_int(j, "epoch", &v, &e) != 1 || v < 0 || hr < 0) {
			dst_abort(g, "malformed commit message");
		} else {
			g->commit_epoch = (uint64_t)v;
			g->commit_wanted = true;
			/* An older source sends no hash: nothing to compare. */
			g->commit_has_hash = hr == 1;
			g->commit_ram_hash = (uint64_t)h;
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

/* Has a format 3 source not yet announced the round of this pages or drain record (the
 * announcement is on the control channel, which may lag behind a data channel)? */
static bool dst_ahead(const struct mig *g, uint32_t type, const uint8_t *p, uint32_t len)
{
	if (g->peer.format < MIG_FORMAT_ANNOUNCE || len < 4 ||
	    (type != STREAM_PAGES && type != STREAM_DRAIN))
		return false;
	return le_get_u32(p) > g->src_round;
}

/* Act on one record. Returns 1 if it must wait (left unread: its round is not announced). */
static int dst_record(struct mig *g, struct mig_chan *c, uint32_t type, const uint8_t *p,
		      uint32_t len)
{
	struct machine *m = g->m;
	struct err e;

	if (c != &g->ctl) {
		if (g->dst == DST_RECEIVING && dst_ahead(g, type, p, len))
			return 1;
		if (g->dst == DST_LISTENING) {
			dst_abort(g, "channel %d: %s record before the configuration was accepted",
				  c->index, stream_type_name(type));
		} else if (g->dst != DST_RECEIVING && type == STREAM_PAGES) {
			/* The state is complete (and maybe running): nothing may write RAM now. */
			if (dst_owns(g)) {
				log_warn("incoming migration: channel %d: pages after the state "
					 "was complete; "
					 "closing it",
					 c->index);
				mig_chan_close(g, c);
				buf_init(&c->out);
			} else {
				dst_abort(g, "channel %d: pages after the state was complete",
					  c->index);
			}
		} else if (type == STREAM_PAGES) {
			if (stream_pages_decode(p, len, m->ram.npages, dst_apply_page, g, &e) < 0)
				dst_abort(g, "channel %d: %s", c->index, e.msg);
		} else if (type == STREAM_DRAIN && len == 4) {
			c->drain_round = le_get_u32(p);
			c->drained = true;
		} else {
			dst_abort(g, "channel %d: unexpected %s record", c->index,
				  stream_type_name(type));
		}
		return 0;
	}
	if (g->dst == DST_LISTENING && type != STREAM_CONFIG) {
		dst_abort(g, "%s record before the configuration was accepted",
			  stream_type_name(type));
		return 0;
	}
	switch (type) {
	case STREAM_CONFIG:
		if (g->dst != DST_LISTENING) {
			dst_abort(g, "a second configuration record");
			return 0;
		}
		if (snapshot_config_check(m, p, len, &e) < 0) {
			mig_chan_ctrl(&g->ctl, json_pack("{s:s, s:o}", "msg", "refuse", "reason",
							 json_text(e.msg)));
			mig_chan_flush(g, &g->ctl);
			dst_abort(g, "refused the configuration: %s", e.msg);
			return 0;
		}
		mig_dst_enter(g, DST_RECEIVING);
		mig_chan_ctrl(&g->ctl, json_pack("{s:s, s:i, s:i}", "msg", "accept", "format",
						 STREAM_VERSION, "state_version", STATE_VERSION));
		log_info("incoming migration: configuration accepted");
		mig_chan_flush(g, &g->ctl);
		fault_point("config", 0);
		break;
	case STREAM_DEVICE:
		if (g->ndevrecs >= snapshot_device_count(m)) {
			dst_abort(g, "more device records than devices");
			return 0;
		}
		buf_put_u32(&g->devrecs, len);
		buf_put(&g->devrecs, p, len);
		g->ndevrecs++;
		break;
	case STREAM_CLOCK: {
		struct stream_clock clk;

		if (stream_clock_decode(p, len, &clk, &e) < 0) {
			dst_abort(g, "%s", e.msg);
			return 0;
		}
		g->clock_guest_ns = clk.guest_ns;
		g->clock_src_rt = clk.realtime_ns;
		g->have_clock = true;
		break;
	}
	case STREAM_CTRL:
		dst_ctrl(g, p, len);
		break;
	case STREAM_FRAME: {
		uint32_t net;

		if (len < 4 + MACHINE_FRAME_HDR || len > 4 + MACHINE_FRAME_MAX) {
			dst_abort(g, "frame record of %u bytes", len);
			return 0;
		}
		net = le_get_u32(p);
		if (net >= (uint32_t)m->cfg.nnets) {
			dst_abort(g, "frame for network %u of %d", net, m->cfg.nnets);
			return 0;
		}
		/* The device holds it until the guest runs here and has a buffer for it. */
		if (machine_put_frame(m, net, p + 4, len - 4) > 0)
			g->frames_received++;
		else
			g->frames_dropped++;
		break;
	}
	default:
		dst_abort(g, "unexpected %s record on the control channel", stream_type_name(type));
		break;
	}
	return 0;
}

/* Everything arrived: apply the device state and tell the source we are ready. */
static void dst_maybe_ready(struct mig *g)
{
	struct machine *m = g->m;
	struct rbuf r;
	struct err e;

	if (g->dst != DST_RECEIVING || !g->have_end || !g->have_clock ||
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
	 * the timer line is re-derived from the local clock just after). A format 1 source
	 * hashed differently: it gets none. */
	uint64_t ram = hash_pages(g->page_hash, m->ram.npages), dev = snapshot_dev_hash(m);

	g->ram_hash_dst = ram;
	g->dev_hash_dst = dev;

	machine_update_timer(m);
	if (g->peer.format >= 2)
		mig_chan_ctrl(&g->ctl, json_pack("{s:s, s:o, s:o}", "msg", "ready", "ram_hash",
						 json_word(ram), "dev_hash", json_word(dev)));
	else
		mig_chan_ctrl(&g->ctl, json_pack("{s:s}", "msg", "ready"));
	mig_dst_enter(g, DST_READY);
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
			if (!dst_owns(g))
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
	while (c->fd >= 0 && g->dst != DST_FAILED &&
	       (rc = mig_chan_next(c, &type, &p, &len, &e)) == 1) {
		if (dst_record(g, c, type, p, len) == 1)
			return; /* again when the control channel has said more */
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

	machine_wake_at(m, now + 50 * 1000000LL);
	if (g->dst == DST_COMMITTING && g->commit_retry_ns)
		dst_commit_again(g, now);
	for (int i = 0; i < g->nlisten; i++) {
		struct pollfd p = { .fd = g->listen_fd[i], .events = POLLIN };

		if (g->listen_fd[i] >= 0 && poll(&p, 1, 0) > 0)
			dst_accept(g, g->listen_fd[i]);
	}
	bool had_ctl = g->ctl.fd >= 0;

	for (size_t i = 0; i < sizeof(g->pending) / sizeof(g->pending[0]); i++) {
		struct mig_chan *c = &g->pending[i];
		const char *why = "";
		struct err ve;
		int rc;

		if (c->fd < 0)
			continue;
		rc = dst_hello(g, c, &why, &ve);
		if (rc == 1) {
			dst_promote(g, c);
			if (!had_ctl && g->ctl.fd >= 0) {
				/* The control channel: look again at the data channels waiting for it. */
				had_ctl = true;
				i = (size_t)-1;
			}
		} else if (rc == -2) {
			/* The source we wait for, in a version we cannot read: tell it why, and end. */
			dst_promote(g, c);
			dst_abort(g, "the source's HELLO: %s", ve.msg);
			mig_chan_discard(g, &g->ctl);
			return;
		} else if (rc < 0 || now - c->accepted_ns > MIG_HELLO_MS * 1000000LL) {
			char host[64];

			snprintf(host, sizeof(host), "%s", c->addr);
			dst_pending_drop(g, c, true);
			dst_refused(g, host, rc == -3 ? DST_REFUSE_ADDRESS : DST_REFUSE_HELLO,
				    rc < 0 ? why : "no complete HELLO in time");
		}
	}
	if (g->dst == DST_FAILED)
		return;
	if (g->ctl.fd >= 0)
		dst_read(g, &g->ctl);
	for (int i = 0; i < MIG_MAX_CHANNELS && g->dst != DST_FAILED; i++)
		if (g->data[i].fd >= 0)
			dst_read(g, &g->data[i]);
	if (g->dst == DST_FAILED)
		return;
	if (g->dst <= DST_READY) {
		dst_maybe_ready(g);
		if (g->dst == DST_READY && g->commit_wanted)
			dst_commit(g, g->commit_epoch);
		if (g->ctl.fd >= 0 && now - g->ctl.last_rx_ns > MIG_STALL_MS * 1000000LL)
			dst_abort(g, "the source has been silent for %d ms", MIG_STALL_MS);
	}
	if (g->ctl.fd >= 0 && mig_chan_flush(g, &g->ctl) < 0 && !dst_owns(g))
		dst_abort(g, "control channel to the source failed");
	if (dst_owns(g)) {
		if (g->announces_left > 0 && now >= g->next_announce_ns) {
			machine_devs_announce(m);
			g->announces_left--;
			g->next_announce_ns =
			    now + (int64_t)(4 - g->announces_left) * 100 * 1000000LL;
		}
		if (g->announces_left == 0 && g->ctl.fd < 0)
			machine_wake_at(m, 0);
	}
}

int mig_incoming(struct handover *h, const char *addrs, const char *token, struct err *e)
{
	struct machine *m = h->m;
	struct mig *g;
	char list[1024], *a, *save = NULL;

	if (!token || strlen(token) < MIG_TOKEN_MIN || strlen(token) > MIG_TOKEN_MAX)
		return err_set(e, "--incoming needs a token of %d to %d characters", MIG_TOKEN_MIN,
			       MIG_TOKEN_MAX);
	g = calloc(1, sizeof(*g));
	if (!g)
		return err_set(e, "out of memory");
	g->m = m;
	g->h = h;
	g->source = false;
	g->dst = DST_LISTENING;
	g->phase = dst_phase[DST_LISTENING];
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
	g->page_hash = malloc(m->ram.npages * HASH_ENTRY_SIZE);
	h->mig = g;
	if (!g->page_round || !g->page_hash) {
		mig_destroy(h);
		return err_set(e, "out of memory");
	}
	/* Pages never sent stay zero: start every page's hash as a zero page's. */
	g->zero_page_hash = hash_zero_page();
	for (uint64_t pfn = 0; pfn < m->ram.npages; pfn++)
		hash_page_set(g->page_hash, pfn, g->zero_page_hash);
	snprintf(list, sizeof(list), "%s", addrs);
	for (a = strtok_r(list, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
		if (dst_listen(g, a, e) < 0) {
			mig_destroy(h);
			return -1;
		}
	}
	if (g->nlisten == 0) {
		mig_destroy(h);
		return err_set(e, "--incoming: no address");
	}
	machine_wake_at(m, gclock_host_ns() + 50 * 1000000LL);
	log_info("waiting for an incoming migration on %s", addrs);
	return 0;
}

void mig_dst_destroy(struct mig *g)
{
	handover_forget(g->h, g);
	dst_close_listeners(g);
	for (size_t i = 0; i < sizeof(g->pending) / sizeof(g->pending[0]); i++)
		mig_chan_close(g, &g->pending[i]);
	free(g->page_round);
	free(g->page_hash);
	buf_free(&g->devrecs);
}
