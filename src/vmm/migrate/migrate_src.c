/* migrate_src.c - the source side of a live migration.
 *
 * State machine (enum mig_src_state; the table below is every transition there
 * is), advanced by mig_src_tick() after every slice of the hart and by socket
 * readiness:
 *
 *   CONNECTING    connect the control and data channels (non-blocking), send
 *                 each a HELLO with the token, send the config; await accept.
 *   PRECOPY       round 1 queues every non-zero page (the destination's RAM
 *                 starts zero); each later round queues the pages the guest
 *                 dirtied while the previous one was queued. After each round the
 *                 convergence policy (converge.h) says go on, throttle, or stop.
 *   STOPCOPY      pause, flush the disks, queue the last dirty pages at full
 *                 speed, then every device's state and the clock on the control
 *                 channel, DRAIN on every data channel, and END.
 *   COMMIT_ASKED  the disks and the record are let go (handover.h) and the
 *                 destination asked to commit; on RESUMED this copy is DONE.
 *   RESENDING     a data channel died after the ask: its pages, then the state
 *                 and END, go again on the others (back to COMMIT_ASKED).
 *   IN_DOUBT      the destination failed or went away after the ask: the VM stays
 *                 paused and the record decides, DONE or FAILED (resumed here).
 *
 * Any failure before the ask resumes the VM here (FAILED, or CANCELLED by the
 * operator): it still holds the record. Nobody resumes on a timeout alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "common/addr.h"
#include "common/log.h"
#include "common/fault.h"
#include "common/le.h"
#include "vmm/board/machine.h"
#include "vmm/migrate/migrate_int.h"
#include "vmm/state/snapshot.h"
#include "vmm/state/stream.h"

#define SRC_SNDBUF (512 * 1024)

#define TO(s) (1u << (s))
/* Where each state may go. */
static const uint32_t src_next[SRC_NSTATES] = {
	[SRC_CONNECTING] = TO(SRC_PRECOPY) | TO(SRC_FAILED) | TO(SRC_CANCELLED),
	[SRC_PRECOPY] = TO(SRC_STOPCOPY) | TO(SRC_FAILED) | TO(SRC_CANCELLED),
	[SRC_STOPCOPY] = TO(SRC_COMMIT_ASKED) | TO(SRC_FAILED) | TO(SRC_CANCELLED),
	[SRC_COMMIT_ASKED] = TO(SRC_RESENDING) | TO(SRC_IN_DOUBT) | TO(SRC_DONE),
	[SRC_RESENDING] = TO(SRC_COMMIT_ASKED) | TO(SRC_IN_DOUBT) | TO(SRC_DONE),
	[SRC_IN_DOUBT] = TO(SRC_DONE) | TO(SRC_FAILED),
	[SRC_DONE] = 0,
	[SRC_FAILED] = 0,
	[SRC_CANCELLED] = 0,
};

/* What status reports for each state. */
static const enum mig_phase src_phase[SRC_NSTATES] = {
	[SRC_CONNECTING] = MIG_SETUP,	 [SRC_PRECOPY] = MIG_PRECOPY,
	[SRC_STOPCOPY] = MIG_STOPCOPY,	 [SRC_COMMIT_ASKED] = MIG_COMMIT,
	[SRC_RESENDING] = MIG_COMMIT,	 [SRC_IN_DOUBT] = MIG_COMMIT,
	[SRC_DONE] = MIG_COMPLETED,	 [SRC_FAILED] = MIG_FAILED,
	[SRC_CANCELLED] = MIG_CANCELLED,
};

static const char *const src_names[SRC_NSTATES] = {
	"connecting", "precopy", "stopcopy", "commit-asked", "resending",
	"in-doubt",   "done",	 "failed",   "cancelled",
};

const char *mig_src_state_name(enum mig_src_state s)
{
	return s < SRC_NSTATES ? src_names[s] : "?";
}

void mig_src_enter(struct mig *g, enum mig_src_state to)
{
	if (to >= SRC_NSTATES || !(src_next[g->src] & TO(to))) {
		log_error("migration: no transition from %s to %s", mig_src_state_name(g->src),
			  mig_src_state_name(to));
		return;
	}
	g->src = to;
	g->phase = src_phase[to];
}

static void src_channel_dead(struct mig *g, int ch, const char *why);
static void src_announce(struct mig *g, struct mig_chan *c);

static bool src_ended(const struct mig *g)
{
	return g->src == SRC_DONE || g->src == SRC_FAILED || g->src == SRC_CANCELLED;
}

static int src_connect(struct mig *g, struct mig_chan *c, const char *addr, uint32_t role,
		       struct err *e)
{
	struct addrinfo *res;
	struct addr a;
	int fd, rc, sndbuf = SRC_SNDBUF;
	struct buf hello;

	if (addr_parse(addr, NULL, 0, &a, e) < 0 || addr_resolve(&a, false, &res, e) < 0)
		return err_prefix(e, "destination address");
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		freeaddrinfo(res);
		return err_errno(e, "socket");
	}
	/* A bounded send buffer: what sits in it is part of the blackout, and a smaller one makes
	 * the bandwidth we measure the link's, not the buffer's. */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	rc = connect(fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (rc != 0 && errno != EINPROGRESS) {
		err_errno(e, "connecting to %s", addr);
		close(fd);
		return -1;
	}
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	if (mig_chan_attach(g, c, fd, mig_src_ready, e) < 0)
		return -1;
	c->connecting = rc != 0;
	if (!c->connecting)
		src_announce(g, c);
	buf_init(&hello);
	mig_hello(&hello, g->p.token, role, (uint32_t)c->index);
	buf_put(&c->out, hello.p, hello.len);
	buf_free(&hello);
	mig_chan_set_poll(g, c);
	return 0;
}

/* A data channel is connected: tell the destination, on the control channel, which address it
 * comes from (it accepts no other data channel). */
static void src_announce(struct mig *g, struct mig_chan *c)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	char host[64];

	if (c == &g->ctl)
		return;
	if (getsockname(c->fd, (struct sockaddr *)&sa, &len) != 0) {
		src_channel_dead(g, c->index - 1, strerror(errno));
		return;
	}
	mig_sockaddr_host(&sa, len, host, sizeof(host));
	mig_chan_ctrl(&g->ctl, json_pack("{s:s, s:i, s:s}", "msg", "channel", "index", c->index,
					 "addr", host));
}

static int src_live(struct mig *g, int *list)
{
	int n = 0;

	for (int i = 0; i < g->ndata; i++)
		if (g->data[i].alive)
			list[n++] = i;
	return n;
}

/* Everything a channel still holds on our side: our buffer and the kernel's queue. */
static uint64_t src_unsent(struct mig *g)
{
	uint64_t n = 0;

	for (int i = 0; i < g->ndata; i++) {
		struct mig_chan *c = &g->data[i];
		int outq = 0;

		if (!c->alive)
			continue;
		n += mig_chan_pending(c);
		if (ioctl(c->fd, SIOCOUTQ, &outq) == 0 && outq > 0)
			n += (uint64_t)outq;
	}
	return n;
}

/* Bytes the destination has received, as far as the kernel knows. */
static uint64_t src_delivered(struct mig *g)
{
	uint64_t n = 0;

	for (int i = 0; i < g->ndata; i++) {
		struct mig_chan *c = &g->data[i];
		int outq = 0;

		n += c->sent;
		if (c->alive && ioctl(c->fd, SIOCOUTQ, &outq) == 0 && outq > 0)
			n -= (uint64_t)outq < n ? (uint64_t)outq : n;
	}
	return n;
}

static void src_measure(struct mig *g, int64_t now)
{
	if (!g->bw_ns) {
		g->bw_ns = now;
		g->bw_delivered = src_delivered(g);
		return;
	}
	if (now - g->bw_ns < 200 * 1000000LL)
		return;
	uint64_t d = src_delivered(g);
	uint64_t rate = (d - g->bw_delivered) * 1000000000ull / (uint64_t)(now - g->bw_ns);

	/* Only windows where the channels were busy say something about the link. */
	if (d > g->bw_delivered)
		g->bandwidth = g->bandwidth ? (g->bandwidth + rate) / 2 : rate;
	g->bw_ns = now;
	g->bw_delivered = d;
}

/* Put a channel's batch under construction into its output buffer. */
static void src_batch_out(struct mig *g, int ch)
{
	struct stream_pages *sp = &g->batch[ch];

	if (!sp->count)
		return;
	stream_pages_end(sp);
	mig_chan_record(&g->data[ch], STREAM_PAGES, sp->b.p, sp->b.len);
	g->bytes_sent_payload += sp->b.len;
	stream_pages_begin(sp, g->round);
	if (g->fault_round != g->round) {
		g->fault_round = g->round;
		fault_point("round", g->round);
	}
}

static void src_batches_out(struct mig *g)
{
	for (int i = 0; i < g->ndata; i++)
		if (g->data[i].alive)
			src_batch_out(g, i);
}

/* A new round: pages queued from now on carry its number. */
static void src_new_round(struct mig *g)
{
	src_batches_out(g);
	g->round++;
	/* Announced before any of its pages: the destination applies none of a later round. */
	mig_chan_ctrl(&g->ctl,
		      json_pack("{s:s, s:I}", "msg", "round", "round", (json_int_t)g->round));
	for (int i = 0; i < g->ndata; i++)
		stream_pages_begin(&g->batch[i], g->round);
	g->cursor = 0;
	g->round_start_ns = gclock_host_ns();
}

/* Queue pages of the current round while the channels have room (and the cap allows).
 * Returns true when every page of the round is queued. */
static bool src_pump(struct mig *g, bool full_speed)
{
	struct machine *m = g->m;
	int live[MIG_MAX_CHANNELS], nlive = src_live(g, live);
	uint64_t nwords = m->ram.nwords;
	int64_t now = gclock_host_ns();

	if (nlive == 0)
		return false;
	if (g->p.bandwidth && !full_speed) {
		uint64_t add = g->p.bandwidth * (uint64_t)(now - g->tokens_ns) / 1000000000ull;

		g->tokens_ns = now;
		g->tokens += add;
		if (g->tokens > g->p.bandwidth / 10 + 8192)
			g->tokens = g->p.bandwidth / 10 + 8192;
	}
	/* Bound the work of one call while the guest runs, so the hart gets the CPU back
	 * within a fraction of a millisecond even when pages are skipped, not queued. */
	unsigned budget = full_speed ? UINT32_MAX : 256;

	while (g->todo_left) {
		uint64_t w = g->cursor >> 6;

		if (budget-- == 0) {
			/* More to do at once: do not let the run loop sleep before the next look. */
			machine_wake_at(m, now);
			return false;
		}

		while (w < nwords && !(g->todo[w] >> (g->cursor & 63)))
			g->cursor = (++w) << 6;
		if (w >= nwords) {
			/* Bits left only before the cursor: start over (a dead channel's pages). */
			g->cursor = 0;
			continue;
		}
		uint64_t pfn = (w << 6) +
			       (uint64_t)__builtin_ctzll(g->todo[w] >> (g->cursor & 63)) +
			       (g->cursor & 63);
		int ch = live[pfn % (uint64_t)nlive];

		if (mig_chan_pending(&g->data[ch]) >= MIG_OUT_HIGH)
			return false;
		if (g->p.bandwidth && !full_speed && g->tokens < RAM_PAGE_SIZE + 9) {
			machine_wake_at(m, now + 2000000); /* tokens refill */
			return false;
		}
		const uint8_t *page = ram_ptr(&m->ram, m->ram.base + pfn * RAM_PAGE_SIZE);
		bool zero = stream_page_is_zero(page);

		g->todo[pfn >> 6] &= ~(1ull << (pfn & 63));
		g->todo_left--;
		g->cursor = pfn + 1;
		/* Round 1 skips zero pages: the destination's RAM starts zero. */
		if (!(zero && g->round == 1)) {
			stream_pages_add(&g->batch[ch], pfn, page);
			g->last_chan[pfn] = (uint8_t)ch;
			g->pages_sent++;
			if (g->p.bandwidth && !full_speed)
				g->tokens -=
				    g->tokens < RAM_PAGE_SIZE + 9 ? g->tokens : RAM_PAGE_SIZE + 9;
			if (g->batch[ch].count == STREAM_PAGES_PER_RECORD)
				src_batch_out(g, ch);
		}
		if (zero)
			g->zero_pages++;
		if (g->round <= MIG_MAX_ROUNDS)
			g->round_pages[g->round]++;
	}
	src_batches_out(g);
	return true;
}

static void src_flush_all(struct mig *g)
{
	if (g->ctl.alive && mig_chan_flush(g, &g->ctl) < 0)
		mig_fail(g, "control channel to %s failed", g->ctl.addr);
	for (int i = 0; i < g->ndata; i++) {
		struct mig_chan *c = &g->data[i];

		if (c->alive && mig_chan_flush(g, c) < 0)
			mig_fail(g, "data channel %d (%s) failed", c->index, c->addr);
	}
}

/* The paused source's RAM hash, for the destination to check before it commits. Hashing a
 * large RAM takes a while (some 100 ms a GiB), so a thread does it while the loop sends the
 * last pages: RAM does not change while the hart is paused (devices hold what arrives). */
static void *src_hash_main(void *opaque)
{
	struct mig *g = opaque;

	g->ram_hash_src = ram_hash(&g->m->ram);
	return NULL;
}

static void src_hash_start(struct mig *g)
{
	if (g->hashing)
		return;
	if (pthread_create(&g->hash_thread, NULL, src_hash_main, g) == 0)
		g->hashing = true;
	else
		src_hash_main(g); /* no thread: in line */
}

static void src_hash_wait(struct mig *g)
{
	if (!g->hashing)
		return;
	pthread_join(g->hash_thread, NULL);
	g->hashing = false;
}

static void src_pause_and_flush(struct mig *g)
{
	struct machine *m = g->m;
	struct err e;

	machine_pause(m, "migration");
	g->t_pause = gclock_host_ns();
	g->rt_pause = gclock_realtime_ns();
	if (machine_devs_flush(m, &e) < 0)
		mig_fail(g, "%s", e.msg);
	g->t_flush = gclock_host_ns();
}

/* Stop-and-copy: the hart is paused; the last dirty pages go out at full speed. */
static void src_stop(struct mig *g)
{
	struct machine *m = g->m;

	mig_src_enter(g, SRC_STOPCOPY);
	fault_point("before-pause", 0);
	src_pause_and_flush(g);
	fault_point("after-pause", 0);
	/* Pages dirtied since the last collection join whatever the round still had. */
	uint64_t *bits = calloc(m->ram.nwords, sizeof(uint64_t));

	if (!bits) {
		mig_fail(g, "out of memory");
		return;
	}
	machine_dirty_collect(m, bits);
	src_new_round(g);
	g->todo_left = 0;
	for (uint64_t w = 0; w < m->ram.nwords; w++) {
		g->todo[w] |= bits[w];
		g->todo_left += (uint64_t)__builtin_popcountll(g->todo[w]);
	}
	g->final_pages = g->todo_left;
	free(bits);
	machine_dirty_stop(m);
	if (fault_take_scribble()) {
		/* Test only: a page changed after the last collection, as if the rounds missed it. */
		uint64_t gpa = m->ram.base + m->ram.size / 2;

		ram_store(&m->ram, gpa, ram_load(&m->ram, gpa, 1) ^ 0x5a, 1);
	}
	src_hash_start(g);
	g->final_throttle = machine_throttle(m);
	machine_set_throttle(m, 0);
	mig_event(g);
}

/* Paused: what reaches the TAPs now is the guest's, and the guest will run on the destination.
 * Hand it on over the control channel instead of leaving it to die with this process. */
static void src_forward_frames(struct mig *g)
{
	static uint8_t frame[MACHINE_FRAME_MAX + 4];
	struct machine *m = g->m;
	uint32_t net;
	ssize_t len;

	/* No more than the destination holds (what is beyond stays in the TAP, whose queue the
	 * kernel bounds), and not while the control channel is backed up. */
	while (g->ctl.alive && g->frames_forwarded < MIG_FRAMES_MAX &&
	       g->frame_bytes < MIG_FRAME_BYTES && mig_chan_pending(&g->ctl) < MIG_OUT_HIGH &&
	       (len = machine_take_frame(m, &net, frame + 4, sizeof(frame) - 4)) > 0) {
		le_put_u32(frame, net);
		mig_chan_record(&g->ctl, STREAM_FRAME, frame, (size_t)len + 4);
		g->frames_forwarded++;
		g->frame_bytes += (uint64_t)len;
	}
	/* Frames come at any time: look again soon while the blackout lasts. */
	machine_wake_at(m, gclock_host_ns() + 1000000);
}

/* Hand the disk and the lease over and ask the destination to commit as soon as its state
 * is complete. From here on this side never resumes without reading the record. */
static void src_request_commit(struct mig *g)
{
	struct err e;

	/* The RAM as it stands, paused: the destination commits only if what it holds hashes the
	 * same (a page the rounds missed would otherwise go unnoticed until after the commit). */
	src_hash_wait(g);
	if (handover_release(g->h, &g->src_epoch, &e) < 0) {
		mig_fail(g, "%s", e.msg);
		return;
	}
	mig_src_enter(g, SRC_COMMIT_ASKED);
	mig_chan_ctrl(&g->ctl,
		      json_pack("{s:s, s:o, s:o}", "msg", "commit", "epoch", json_u64(g->src_epoch),
				"ram_hash", json_word(g->ram_hash_src)));
	g->t_commit_sent = gclock_host_ns();
	src_flush_all(g);
	fault_point("commit-request", 0);
}

/* All final pages are queued: the device state, the clock, the drains and the end. */
static void src_send_state(struct mig *g)
{
	struct machine *m = g->m;
	struct buf rec;
	uint32_t live = 0;

	g->t_final_queued = gclock_host_ns();
	fault_point("last-page", 0);
	buf_init(&rec);
	for (int i = 0; i < snapshot_device_count(m); i++) {
		buf_reset(&rec);
		snapshot_save_device(m, i, &rec);
		mig_chan_record(&g->ctl, STREAM_DEVICE, rec.p, rec.len);
	}
	buf_reset(&rec);
	stream_clock_encode(&rec, &(struct stream_clock){ .guest_ns = gclock_ns(&m->clock),
							  .realtime_ns = g->rt_pause,
							  .mode = (uint32_t)m->clock.mode });
	mig_chan_record(&g->ctl, STREAM_CLOCK, rec.p, rec.len);
	buf_free(&rec);
	for (int i = 0; i < g->ndata; i++) {
		if (!g->data[i].alive)
			continue;
		uint8_t r[4];

		le_put_u32(r, g->round);
		mig_chan_record(&g->data[i], STREAM_DRAIN, r, 4);
		live |= 1u << i;
	}
	mig_chan_ctrl(&g->ctl, json_pack("{s:s, s:I, s:I}", "msg", "end", "round",
					 (json_int_t)g->round, "live", (json_int_t)live));
	if (g->src == SRC_RESENDING)
		mig_src_enter(g, SRC_COMMIT_ASKED);
	else
		src_request_commit(g);
}

/* A data channel died: drop it, and send again, in a new round, every page it carried. */
static void src_channel_dead(struct mig *g, int ch, const char *why)
{
	struct machine *m = g->m;
	int live[MIG_MAX_CHANNELS];

	if (!g->data[ch].alive)
		return;
	log_warn("migration: data channel %d (%s) lost: %s; continuing on the others", ch + 1,
		 g->data[ch].addr, why);
	mig_chan_close(g, &g->data[ch]);
	buf_init(&g->data[ch].out);
	if (src_live(g, live) == 0) {
		mig_fail(g, "every data channel failed (last: %s)", why);
		return;
	}
	mig_chan_ctrl(&g->ctl, json_pack("{s:s, s:i}", "msg", "dead", "channel", ch + 1));
	src_new_round(g);
	for (uint64_t pfn = 0; pfn < m->ram.npages; pfn++) {
		if (g->last_chan[pfn] != ch)
			continue;
		if (!((g->todo[pfn >> 6] >> (pfn & 63)) & 1)) {
			g->todo[pfn >> 6] |= 1ull << (pfn & 63);
			g->todo_left++;
		}
		g->last_chan[pfn] = 0xff;
	}
	/* If the end was already sent, it is sent again after these pages. */
	if (g->src == SRC_COMMIT_ASKED)
		mig_src_enter(g, SRC_RESENDING);
	mig_event(g);
}

/* Take the disks and the lease back and let the VM run here again. */
static void src_resume_here(struct mig *g, enum mig_src_state to)
{
	struct machine *m = g->m;
	struct err e;

	src_hash_wait(g); /* the thread reads RAM: done before the hart writes it again */
	if (machine_devs_acquire(m, &e) < 0) {
		/* The disk cannot be opened again: the VM must not run without it. */
		mig_fail(g, "%s", e.msg);
		log_error("migration failed and the disk cannot be reopened: the VM stays paused");
		mig_src_enter(g, SRC_FAILED);
		mig_event(g);
		return;
	}
	machine_dirty_stop(m);
	machine_set_throttle(m, 0);
	mig_src_enter(g, to);
	g->t_end = gclock_host_ns();
	if (g->ctl.alive && to == SRC_CANCELLED) {
		mig_chan_ctrl(&g->ctl, json_pack("{s:s}", "msg", "cancel"));
		mig_chan_flush(g, &g->ctl);
	}
	mig_chan_close(g, &g->ctl);
	for (int i = 0; i < g->ndata; i++)
		mig_chan_close(g, &g->data[i]);
	/* A save kept here before this migration holds the token we take back: it must not be
	 * restorable once the VM runs on here (the resume after a save makes it stale too). */
	if (m->paused && handover_leave_save(g->h, &e) < 0) {
		log_error("migration %s, but the VM cannot leave its save behind: %s; it stays "
			  "paused",
			  mig_src_state_name(to), e.msg);
	} else if (m->paused) {
		machine_resume(m, "migration-failed");
	}
	log_warn("migration %s: the VM runs here (%s)", mig_src_state_name(to),
		 g->error[0] ? g->error : "cancelled");
	machine_wake_at(m, 0);
	mig_event(g);
}

/* The destination owns the VM now: this copy is done. */
static void src_done(struct mig *g)
{
	struct machine *m = g->m;

	mig_src_enter(g, SRC_DONE);
	g->t_end = gclock_host_ns();
	g->cpu_end_ns = mig_cpu_ns();
	/* Off the blackout path: the destination already runs. (The RAM hash was taken before the
	 * commit was asked; RAM has not changed since, paused.) */
	src_hash_wait(g);
	g->dev_hash_src = snapshot_dev_hash(m);
	mig_event(g);
	machine_request_exit(m, MACHINE_MIGRATED);
	machine_wake_at(m, 0);
}

/* The record's answer to the source in doubt. */
static void src_settled(void *opaque, const struct own_answer *a)
{
	struct mig *g = opaque;

	g->settling = false;
	switch (a->status) {
	case OWN_OK:
		if (g->dst_said_resumed)
			mig_fail(g, "the destination said it runs the VM, but the record is still "
				    "ours: resuming here");
		else
			log_warn("migration: the destination never committed; resuming here");
		src_resume_here(g, SRC_FAILED);
		break;
	case OWN_REFUSED:
		log_info("migration: the lease moved to epoch %llu (%s): the VM is there",
			 (unsigned long long)a->token, a->owner);
		src_done(g);
		break;
	case OWN_BUSY:
		break; /* the destination holds the record: ask again, paused */
	case OWN_FAILED:
		log_warn("migration: the ownership record: %s; asking again", a->msg);
		break;
	}
}

/* The commit may or may not have happened: ask the record, never guess. */
static void src_in_doubt(struct mig *g)
{
	int64_t now = gclock_host_ns();

	if (g->settling || now < g->next_settle_ns)
		return;
	g->next_settle_ns = now + 10 * 1000000LL;
	if (handover_ask(g->h, OWN_SETTLE, g->src_epoch, src_settled, g) == 0)
		g->settling = true;
}

/* After the ask, a failure or a lost destination puts the outcome in doubt: from then on every
 * tick asks the record. True while in doubt (the tick does nothing else). */
static bool src_doubt(struct mig *g)
{
	if (g->src == SRC_IN_DOUBT || (mig_src_commit_asked(g) && (g->error[0] || !g->ctl.alive))) {
		if (g->src != SRC_IN_DOUBT)
			mig_src_enter(g, SRC_IN_DOUBT);
		src_in_doubt(g);
		return true;
	}
	return false;
}

static void src_handle_ctrl(struct mig *g, const uint8_t *p, uint32_t len)
{
	struct machine *m = g->m;
	struct err e;
	json_t *j = json_parse((const char *)p, len, &e);
	const char *msg = NULL, *reason = NULL;
	int64_t v;

	if (!j || json_get_str(j, "msg", &msg, &e) != 1) {
		mig_fail(g, "malformed control message from the destination");
		json_free(j);
		return;
	}
	if (strcmp(msg, "hb") == 0) {
		/* heartbeat */
	} else if (strcmp(msg, "accept") == 0 && g->src == SRC_CONNECTING) {
		int64_t fmt = 0, sv = 0;

		json_get_int(j, "format", &fmt, &e);
		json_get_int(j, "state_version", &sv, &e);
		log_info("migration: the destination reads stream format %lld, state version %lld",
			 (long long)fmt, (long long)sv);
		mig_src_enter(g, SRC_PRECOPY);
		machine_dirty_start(m);
		g->round = 0;
		src_new_round(g);
		memset(g->todo, 0xff, m->ram.nwords * sizeof(uint64_t));
		if (m->ram.npages % 64)
			g->todo[m->ram.nwords - 1] = (1ull << (m->ram.npages % 64)) - 1;
		g->todo_left = m->ram.npages;
		g->tokens_ns = gclock_host_ns();
		log_info("migration: destination accepted; round 1");
		mig_event(g);
		fault_point("config", 0);
	} else if (strcmp(msg, "refuse") == 0 || strcmp(msg, "error") == 0) {
		json_get_str(j, "reason", &reason, &e);
		mig_fail(g, "destination %s: %s", strcmp(msg, "refuse") == 0 ? "refused" : "failed",
			 reason ? reason : "no reason given");
	} else if (strcmp(msg, "ready") == 0 && g->src == SRC_COMMIT_ASKED) {
		g->t_ready = gclock_host_ns();
		if (json_get_int(j, "ram_hash", &v, &e) == 1)
			g->ram_hash_dst = (uint64_t)v;
		if (json_get_int(j, "dev_hash", &v, &e) == 1)
			g->dev_hash_dst = (uint64_t)v;
	} else if (strcmp(msg, "committed") == 0 && mig_src_commit_asked(g)) {
		log_info("migration: the destination committed");
	} else if (strcmp(msg, "resumed") == 0 && mig_src_commit_asked(g)) {
		if (json_get_int(j, "realtime_ns", &v, &e) == 1)
			g->dst_rt_resume = v;
		if (json_get_int(j, "commit_ns", &v, &e) == 1)
			g->dst_commit_ns = v;
		if (json_get_int(j, "announce_ns", &v, &e) == 1)
			g->dst_announce_ns = v;
		if (json_get_int(j, "resume_ns", &v, &e) == 1)
			g->dst_resume_ns = v;
		g->t_done = gclock_host_ns();
		fault_point("before-confirm", 0);
		/* A message is no proof: the record says whether the VM is there. */
		g->dst_said_resumed = true;
		mig_src_enter(g, SRC_IN_DOUBT);
		src_in_doubt(g);
	} else {
		mig_fail(g, "unexpected control message '%s' in phase %s", msg,
			 mig_phase_name(g->phase));
	}
	json_free(j);
}

void mig_src_ready(void *opaque, short revents)
{
	struct mig *g = opaque;
	struct mig_chan *all[MIG_MAX_CHANNELS + 1];
	int n = 0;

	(void)revents;
	all[n++] = &g->ctl;
	for (int i = 0; i < g->ndata; i++)
		all[n++] = &g->data[i];
	for (int i = 0; i < n; i++) {
		struct mig_chan *c = all[i];
		int err = 0;
		socklen_t len = sizeof(err);

		if (!c->alive || !c->connecting)
			continue;
		struct pollfd p = { .fd = c->fd, .events = POLLOUT };

		if (poll(&p, 1, 0) <= 0)
			continue;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			if (c == &g->ctl)
				mig_fail(g, "cannot connect to %s: %s", c->addr, strerror(err));
			else
				src_channel_dead(g, c->index - 1, strerror(err));
			continue;
		}
		c->connecting = false;
		src_announce(g, c);
		mig_chan_set_poll(g, c);
	}
	mig_src_tick(g);
}

/* What the convergence policy decided, done: the throttle, the early flush, and what the
 * operator is told. */
static void src_apply_decision(struct mig *g, const struct conv_decision *d)
{
	struct machine *m = g->m;
	struct err e;

	machine_set_throttle(m, d->throttle);
	switch (d->note) {
	case CONV_NOTE_THROTTLE_UP:
		log_warn("migration: the guest dirties memory as fast as it moves; throttling the "
			 "vCPU to %d%%",
			 100 - d->throttle);
		break;
	case CONV_NOTE_THROTTLE_OFF:
		log_warn("migration: throttling does not slow this guest's dirtying (%llu B/s); "
			 "giving it its CPU back",
			 (unsigned long long)d->dirty_rate);
		break;
	default:
		break;
	}
	if (d->preflush && machine_devs_flush(m, &e) < 0)
		log_warn("migration: early flush: %s", e.msg);
	if (d->stop && d->over_budget) {
		/* Neither rounds nor the throttle bring it under the budget (a guest that dirties
		 * memory by the clock, not by CPU): stop now, with the blackout it takes, rather
		 * than copy forever. */
		g->over_budget = true;
		log_warn("migration: not converging (round %u, expected %llu ms); stopping anyway",
			 g->round, (unsigned long long)d->expected_downtime_ms);
	}
}

void mig_src_tick(struct mig *g)
{
	struct machine *m = g->m;
	int64_t now = gclock_host_ns();
	struct err e;

	if (src_ended(g))
		return;
	machine_wake_at(m, now + 50 * 1000000LL);
	if (src_doubt(g))
		return;
	/* Control channel: read and act. */
	if (g->ctl.alive && !g->ctl.connecting) {
		if (mig_chan_fill(g, &g->ctl) < 0) {
			if (g->phase == MIG_SETUP)
				/* An older destination closes, unread, a HELLO of a format it does not
				 * know, as it does one with a wrong token. */
				mig_fail(
				    g,
				    "the destination closed the control channel before accepting "
				    "(a wrong token, or a ferry-vm that does not read stream "
				    "format %d)",
				    STREAM_VERSION);
			else
				mig_fail(g, "the destination closed the control channel");
		} else {
			uint32_t type, len;
			const uint8_t *p;
			int rc;

			while (g->ctl.alive &&
			       (rc = mig_chan_next(&g->ctl, &type, &p, &len, &e)) == 1) {
				if (type == STREAM_CTRL)
					src_handle_ctrl(g, p, len);
				else
					mig_fail(g, "unexpected %s record from the destination",
						 stream_type_name(type));
				mig_chan_consume(&g->ctl, len);
				if (g->src == SRC_DONE)
					return;
			}
			if (rc < 0)
				mig_fail(g, "control channel: %s", e.msg);
		}
		if (now - g->ctl.last_rx_ns > MIG_STALL_MS * 1000000LL)
			mig_fail(g, "the destination has been silent for %d ms", MIG_STALL_MS);
	}
	/* Data channels: writes that stopped moving mean a stalled link. */
	for (int i = 0; i < g->ndata; i++) {
		struct mig_chan *c = &g->data[i];
		int outq = 0;

		if (!c->alive || c->connecting)
			continue;
		if (ioctl(c->fd, SIOCOUTQ, &outq) == 0 && outq == 0 && !mig_chan_pending(c))
			c->progress_ns = now;
		if (now - c->progress_ns > MIG_STALL_MS * 1000000LL)
			src_channel_dead(g, i, "no progress (stalled link)");
		else if (mig_chan_fill(g, c) < 0)
			src_channel_dead(g, i, "closed by the destination");
	}
	if (src_doubt(g))
		return;
	if (g->error[0]) {
		src_resume_here(g, SRC_FAILED);
		return;
	}
	if (now - g->last_hb_ns > MIG_HEARTBEAT_MS * 1000000LL && g->ctl.alive &&
	    !g->ctl.connecting) {
		mig_chan_ctrl(&g->ctl, json_pack("{s:s}", "msg", "hb"));
		g->last_hb_ns = now;
	}
	src_measure(g, now);

	/* A round ends when its pages are not only queued but delivered (what still sits in
	 * buffers would otherwise be counted as sent, and paid for in the blackout). */
	if (g->src == SRC_PRECOPY && src_pump(g, false) && src_unsent(g) <= 64 * 1024) {
		/* The round is queued: collect what the guest dirtied meanwhile, and decide. */
		uint64_t n = machine_dirty_collect(m, g->todo);
		uint64_t delivered = src_delivered(g);
		struct conv_round r = {
			.round = g->round,
			.dirty_pages = n,
			.unsent_bytes = src_unsent(g),
			.round_bytes = delivered - g->round_bytes_start,
			.duration_ns =
			    now > g->round_start_ns ? (uint64_t)(now - g->round_start_ns) : 0,
			.bandwidth = g->bandwidth,
		};
		struct conv_decision d = conv_decide(&g->conv, &r);

		g->round_bytes_start = delivered;
		g->dirty_last = n;
		g->dirty_rate = d.dirty_rate;
		g->expected_downtime_ms = d.expected_downtime_ms;
		log_info(
		    "migration: round %u queued %llu pages; %llu dirtied in %.0f ms; "
		    "expected downtime %llu ms at %llu B/s",
		    g->round,
		    (unsigned long long)(g->round <= MIG_MAX_ROUNDS ? g->round_pages[g->round] : 0),
		    (unsigned long long)n, (double)r.duration_ns / 1e6,
		    (unsigned long long)g->expected_downtime_ms, (unsigned long long)g->bandwidth);
		src_apply_decision(g, &d);
		if (d.stop)
			src_stop(g);
		else {
			src_new_round(g);
			g->todo_left = n;
			mig_event(g);
		}
	}
	if ((g->src == SRC_STOPCOPY || g->src == SRC_RESENDING) && src_pump(g, true))
		src_send_state(g);
	if (g->src == SRC_COMMIT_ASKED)
		src_forward_frames(g);
	src_flush_all(g);
	if (g->error[0] && !mig_src_commit_asked(g))
		src_resume_here(g, SRC_FAILED);
}

int mig_start(struct handover *h, const struct mig_params *p, struct err *e)
{
	struct machine *m = h->m;
	struct mig *g;
	struct buf cfg;

	if (h->mig && h->mig->phase != MIG_COMPLETED && h->mig->phase != MIG_FAILED &&
	    h->mig->phase != MIG_CANCELLED)
		return err_set(e, "a migration is already %s", mig_phase_name(h->mig->phase));
	if (m->exit != MACHINE_RUNNING)
		return err_set(e, "the machine has stopped");
	if (!h->has_lease)
		return err_set(e,
			       "this VM has no ownership record (start it with --disk or --lease)");
	if (!handover_holds(h))
		return err_set(e, "this VM does not hold its lease");
	if (h->mig)
		mig_destroy(h);
	g = calloc(1, sizeof(*g));
	if (!g)
		return err_set(e, "out of memory");
	g->m = m;
	g->h = h;
	g->source = true;
	g->p = *p;
	g->conv.downtime_ms = p->downtime_ms;
	g->conv.max_rounds = MIG_MAX_ROUNDS;
	g->src = SRC_CONNECTING;
	g->phase = src_phase[SRC_CONNECTING];
	g->t_start = gclock_host_ns();
	g->cpu_start_ns = mig_cpu_ns();
	mig_chan_init(&g->ctl, 0);
	for (int i = 0; i < MIG_MAX_CHANNELS; i++)
		mig_chan_init(&g->data[i], i + 1);
	g->ndata = p->channels;
	g->todo = calloc(m->ram.nwords, sizeof(uint64_t));
	g->last_chan = malloc(m->ram.npages);
	g->batch = calloc((size_t)g->ndata, sizeof(*g->batch));
	if (!g->todo || !g->last_chan || !g->batch) {
		free(g->todo);
		free(g->last_chan);
		free(g->batch);
		free(g);
		return err_set(e, "out of memory");
	}
	memset(g->last_chan, 0xff, m->ram.npages);
	for (int i = 0; i < g->ndata; i++)
		buf_init(&g->batch[i].b);
	h->mig = g;
	if (src_connect(g, &g->ctl, p->addrs[0], MIG_ROLE_CONTROL, e) < 0)
		goto fail;
	/* The config first: the data channels' announcements follow it. */
	buf_init(&cfg);
	if (snapshot_config_text(m, handover_token(h), &cfg) < 0) {
		buf_free(&cfg);
		err_set(e, "out of memory for the configuration record");
		goto fail;
	}
	mig_chan_record(&g->ctl, STREAM_CONFIG, cfg.p, cfg.len);
	buf_free(&cfg);
	for (int i = 0; i < g->ndata; i++)
		if (src_connect(g, &g->data[i], p->addrs[i % p->naddrs], MIG_ROLE_DATA, e) < 0)
			goto fail;
	src_flush_all(g);
	machine_wake_at(m, gclock_host_ns() + 50 * 1000000LL);
	log_info("migration: connecting to %s with %d data channel(s)", p->addrs[0], g->ndata);
	mig_event(g);
	return 0;
fail:
	mig_destroy(h);
	return -1;
}

int mig_cancel(struct handover *h, struct err *e)
{
	struct mig *g = h->mig;

	if (!g || !g->source)
		return err_set(e, "no outgoing migration");
	if (src_ended(g))
		return err_set(e, "the migration has already ended (%s)", mig_phase_name(g->phase));
	if (mig_src_commit_asked(g))
		return err_set(e, "too late: the destination has been asked to commit");
	mig_fail(g, "cancelled by the operator");
	src_resume_here(g, SRC_CANCELLED);
	return 0;
}

void mig_src_destroy(struct mig *g)
{
	src_hash_wait(g);
	handover_forget(g->h, g);
	if (g->batch)
		for (int i = 0; i < g->ndata; i++)
			buf_free(&g->batch[i].b);
	free(g->batch);
	free(g->todo);
	free(g->last_chan);
}
