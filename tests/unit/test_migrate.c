/* test_migrate.c - what a peer on the migration network can and cannot do to either side.
 *
 * The destination is fed connections as if accepted (mig_dst_adopt over socketpairs, each
 * with the peer address it claims to come from); the source migrates over loopback TCP to
 * this test, which plays the destination by hand. Checked: an unauthenticated peer holds at
 * most a bounded share of the pending slots and cannot keep the source out; refused HELLOs
 * pace their address; a token under 128 bits is refused; only data channels the source
 * announced, from the address announced, are accepted, and no page runs ahead of the
 * announced round; a `resumed` message alone never makes the source leave (the record
 * decides); the frames forwarded in the blackout are capped.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/le.h"
#include "vmm/migrate/commit.h"
#include "vmm/migrate/handover.h"
#include "vmm/migrate/migrate.h"
#include "vmm/migrate/migrate_int.h"
#include "vmm/state/snapshot.h"
#include "vmm/state/stream.h"

static const char token[] = "0123456789abcdef0123456789abcdef";
static char dir[64];

static struct machine *new_machine(bool incoming, struct handover *h)
{
	char lease[128];
	struct machine_config cfg = { .mem_size = 16ull << 20,
				      .console = "null",
				      .restoring = true,
				      .start_paused = incoming };
	struct machine *m = calloc(1, sizeof(*m));
	struct err e;

	assert_non_null(m);
	snprintf(lease, sizeof(lease), "%s/vm.lease", dir);
	cfg.lease = strdup(lease);
	if (incoming) {
		cfg.incoming = "127.0.0.1:0";
		cfg.token = token;
	}
	if (devices_machine_init(m, &cfg, &e) != 0)
		fail_msg("devices_machine_init: %s", e.msg);
	if (handover_init(h, m, &e) != 0)
		fail_msg("handover_init: %s", e.msg);
	return m;
}

static void free_machine(struct machine *m)
{
	char *lease = (char *)m->cfg.lease;

	machine_destroy(m);
	free(m);
	free(lease);
}

/* One look of the run loop at the hand-over (the migration, the record's answers). */
static void tick(struct machine *m)
{
	for (int i = 0; i < m->npollfds; i++) {
		struct machine_pollfd *q = &m->pollfds[i];
		struct pollfd p = { .fd = q->fd, .events = q->events };

		if (q->fd >= 0 && q->ready && poll(&p, 1, 0) > 0)
			q->ready(q->opaque, p.revents);
	}
	for (int i = 0; i < m->nclients; i++)
		if (m->clients[i].tick)
			m->clients[i].tick(m->clients[i].opaque);
}

/* Write to the destination (which may have closed its end: then nothing is written). */
static void put(int fd, const void *p, size_t n)
{
	ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

	assert_true(w == (ssize_t)n || (w < 0 && (errno == EPIPE || errno == ECONNRESET)));
}

static void put_record(int fd, uint32_t type, const void *p, size_t n)
{
	struct buf b;

	buf_init(&b);
	stream_frame(&b, type, p, n);
	put(fd, b.p, b.len);
	buf_free(&b);
}

static void put_ctrl(int fd, json_t *msg)
{
	char *text = json_encode(msg, NULL);

	put_record(fd, STREAM_CTRL, text, strlen(text));
	free(text);
	json_decref(msg);
}

static void put_hello(int fd, const char *tok, uint32_t role, uint32_t index)
{
	struct buf b;

	buf_init(&b);
	mig_hello(&b, tok, role, index);
	put(fd, b.p, b.len);
	buf_free(&b);
}

/* A connection to the destination from host: our end. */
static int dial(struct mig *g, const char *host)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	mig_dst_adopt(g, sv[0], host);
	return sv[1];
}

static bool peer_closed(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);

	return n == 0 || (n < 0 && errno != EAGAIN);
}

static int pending_open(const struct mig *g)
{
	int n = 0;

	for (int i = 0; i < MIG_PENDING_MAX; i++)
		n += g->pending[i].fd >= 0;
	return n;
}

/* The source's control channel, HELLO and config: the destination accepts. */
static int control_channel(struct machine *m, struct mig *g, const char *host)
{
	struct buf cfg;
	int fd = dial(g, host);

	put_hello(fd, token, MIG_ROLE_CONTROL, 0);
	buf_init(&cfg);
	assert_int_equal(snapshot_config_text(m, 0, &cfg), 0);
	put_record(fd, STREAM_CONFIG, cfg.p, cfg.len);
	buf_free(&cfg);
	for (int i = 0; i < 3; i++)
		tick(m);
	return fd;
}

static void test_token_of_128_bits(void **state)
{
	struct handover h;
	struct machine *m;
	struct err e;

	(void)state;
	m = new_machine(true, &h);
	assert_int_equal(mig_incoming(&h, "127.0.0.1:0", "0123456789abcdef", &e), -1);
	assert_non_null(strstr(e.msg, "token of 32 to 128 characters"));
	assert_int_equal(mig_incoming(&h, "127.0.0.1:0", token, &e), 0);
	free_machine(m);
}

/* Idle connections from a few addresses fill what they may, never the source's place; a
 * wrong token makes its address wait. */
static void test_pending_slots(void **state)
{
	struct handover h;
	struct machine *m;
	struct mig *g;
	int idle[64], nidle = 0, fd, ctl;
	char host[32];
	struct err e;

	(void)state;
	m = new_machine(true, &h);
	assert_int_equal(mig_incoming(&h, "127.0.0.1:0", token, &e), 0);
	g = h.mig;
	/* One address: a third connection without a HELLO is refused at once. */
	idle[nidle++] = dial(g, "10.9.0.1");
	idle[nidle++] = dial(g, "10.9.0.1");
	idle[nidle++] = dial(g, "10.9.0.1");
	tick(m);
	assert_int_equal(pending_open(g), 2);
	assert_true(peer_closed(idle[2]));
	assert_true(g->refused >= 1);
	/* Many addresses, idle, renewing: every slot taken. */
	for (int i = 2; i <= 12; i++) {
		snprintf(host, sizeof(host), "10.9.0.%d", i);
		idle[nidle++] = dial(g, host);
		idle[nidle++] = dial(g, host);
	}
	tick(m);
	assert_int_equal(pending_open(g), MIG_PENDING_MAX);
	/* The source still gets in, and its migration goes on. */
	ctl = control_channel(m, g, "10.1.0.1");
	assert_true(g->ctl.fd >= 0);
	assert_int_equal(g->dst, DST_RECEIVING);
	assert_false(peer_closed(ctl));
	/* Wrong tokens: refused; past a whole source's worth, the next connection from there is
	 * closed unread, even with the right token. */
	uint64_t before = g->refused;

	for (int i = 0; i <= MIG_FREE_REFUSALS; i++) {
		fd = dial(g, "10.7.0.1");
		put_hello(fd, "wrong-wrong-wrong-wrong-wrong-wrong", MIG_ROLE_DATA, 1);
		tick(m);
		assert_true(peer_closed(fd));
		close(fd);
	}
	fd = dial(g, "10.7.0.1");
	put_hello(fd, token, MIG_ROLE_DATA, 1);
	tick(m);
	assert_true(peer_closed(fd));
	assert_true(g->data[0].fd < 0);
	assert_int_equal(g->refused, before + MIG_FREE_REFUSALS + 2);
	close(fd);
	for (int i = 0; i < nidle; i++)
		close(idle[i]);
	close(ctl);
	free_machine(m);
}

/* Data channels only as announced; pages never ahead of the announced round. */
static void test_announced_channels(void **state)
{
	struct handover h;
	struct machine *m;
	struct mig *g;
	struct stream_pages sp;
	uint8_t page[RAM_PAGE_SIZE];
	int ctl, rogue, wrong, data;
	struct err e;

	(void)state;
	m = new_machine(true, &h);
	assert_int_equal(mig_incoming(&h, "127.0.0.1:0", token, &e), 0);
	g = h.mig;
	ctl = control_channel(m, g, "10.1.0.1");
	assert_int_equal(g->dst, DST_RECEIVING);
	put_ctrl(ctl,
		 json_pack("{s:s, s:i, s:s}", "msg", "channel", "index", 1, "addr", "10.1.0.2"));
	put_ctrl(ctl, json_pack("{s:s, s:i}", "msg", "round", "round", 1));
	tick(m);
	/* A HELLO with the right token for a channel the source never announced, from anywhere
	 * else: not accepted, and refused when its time is up. */
	rogue = dial(g, "10.6.6.6");
	put_hello(rogue, token, MIG_ROLE_DATA, 2);
	tick(m);
	assert_true(g->data[1].fd < 0);
	for (int i = 0; i < MIG_PENDING_MAX; i++)
		if (g->pending[i].fd >= 0)
			g->pending[i].accepted_ns -= (int64_t)(MIG_HELLO_MS + 1) * 1000000LL;
	g->ctl.last_rx_ns = gclock_host_ns();
	tick(m);
	assert_true(peer_closed(rogue));
	assert_true(g->data[1].fd < 0);
	/* The announced channel from another address: refused. */
	wrong = dial(g, "10.6.6.7");
	put_hello(wrong, token, MIG_ROLE_DATA, 1);
	tick(m);
	assert_true(peer_closed(wrong));
	assert_true(g->data[0].fd < 0);
	/* From the address announced: accepted. */
	data = dial(g, "10.1.0.2");
	put_hello(data, token, MIG_ROLE_DATA, 1);
	tick(m);
	assert_true(g->data[0].fd >= 0);
	/* A page of round 9 waits while the source is at round 1; a page of round 1 behind it
	 * waits too (a channel is read in order). */
	memset(page, 0x5a, sizeof(page));
	buf_init(&sp.b);
	stream_pages_begin(&sp, 9);
	stream_pages_add(&sp, 3, page);
	stream_pages_end(&sp);
	put_record(data, STREAM_PAGES, sp.b.p, sp.b.len);
	buf_free(&sp.b);
	g->ctl.last_rx_ns = gclock_host_ns();
	tick(m);
	assert_int_equal(g->pages_applied, 0);
	assert_int_equal(g->dst, DST_RECEIVING);
	/* Once the source has announced round 9, it applies. */
	put_ctrl(ctl, json_pack("{s:s, s:i}", "msg", "round", "round", 9));
	tick(m);
	assert_int_equal(g->pages_applied, 1);
	assert_int_equal(g->page_round[3], 9);
	/* Rounds never go back. */
	put_ctrl(ctl, json_pack("{s:s, s:i}", "msg", "round", "round", 4));
	tick(m);
	assert_int_equal(g->dst, DST_FAILED);
	close(ctl);
	close(rogue);
	close(wrong);
	close(data);
	free_machine(m);
}

/* ---- the source ------------------------------------------------------------------------------ */

/* A network device that always has a frame waiting (the switches still send the guest's
 * traffic to the paused source). */
static uint64_t frames_taken;
static const uint8_t fake_mac[6] = { 0x52, 0x54, 0, 0x10, 0, 0x99 };

static ssize_t fake_take(void *opaque, uint8_t *buf, size_t cap)
{
	(void)opaque;
	if (frames_taken >= 100000 || cap < 1500)
		return 0;
	frames_taken++;
	memset(buf, 0, 1500);
	return 1500;
}

struct peer {
	int fd;
	int role; /* -1 until its HELLO was read */
	uint8_t in[4 << 20];
	size_t len;
};

/* Read what the source sent on p; returns the control messages' names seen (appended to
 * seen), counts frames. */
static void peer_read(struct peer *p, char *seen, size_t cap, uint64_t *frames)
{
	for (;;) {
		ssize_t n = recv(p->fd, p->in + p->len, sizeof(p->in) - p->len, MSG_DONTWAIT);

		if (n <= 0)
			break;
		p->len += (size_t)n;
	}
	if (p->role < 0) {
		size_t need = MIG_HELLO_FIXED;

		if (p->len < need)
			return;
		need += le_get_u32(p->in + 20) + 4;
		if (p->len < need)
			return;
		p->role = (int)le_get_u32(p->in + 12);
		memmove(p->in, p->in + need, p->len - need);
		p->len -= need;
	}
	for (;;) {
		uint32_t type, len;
		const uint8_t *pl;
		size_t used;
		struct err e;
		int rc = stream_parse(p->in, p->len, &type, &pl, &len, &used, &e);

		assert_true(rc >= 0);
		if (rc == 0)
			break;
		if (type == STREAM_CTRL) {
			json_t *j = json_parse((const char *)pl, len, &e);
			const char *msg = NULL;

			if (j && json_get_str(j, "msg", &msg, &e) == 1 &&
			    strlen(seen) + strlen(msg) + 2 < cap) {
				strcat(seen, msg);
				strcat(seen, " ");
			}
			json_free(j);
		} else if (type == STREAM_CONFIG) {
			strcat(seen, "config ");
		} else if (type == STREAM_FRAME) {
			(*frames)++;
		}
		memmove(p->in, p->in + used, p->len - used);
		p->len -= used;
	}
}

static struct peer peers[2];

/* Migrate the machine to this test over loopback until the source asks to commit; then, if
 * moved, move the record on as a destination's commit would, and say `resumed`. */
static void migrate_to_us(bool moved)
{
	struct handover h;
	struct machine *m;
	struct mig_params p = { .naddrs = 1, .channels = 1, .downtime_ms = 20 };
	struct machine_dev fake = {
		.name = "fakenet", .kind = MACHINE_DEV_NET, .mac = fake_mac, .take_frame = fake_take
	};
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t salen = sizeof(sa);
	char seen[8192] = "";
	uint64_t frames = 0, epoch;
	int lfd, n = 0, ctl = -1;
	struct err e;
	struct timespec ms = { 0, 1000000 };

	m = new_machine(false, &h);
	assert_true(handover_holds(&h));
	epoch = handover_token(&h);
	assert_int_equal(machine_add_dev(m, &fake, &e), 0);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &salen), 0);
	snprintf(p.addrs[0], sizeof(p.addrs[0]), "127.0.0.1:%u", ntohs(sa.sin_port));
	snprintf(p.token, sizeof(p.token), "%s", token);
	assert_int_equal(mig_start(&h, &p, &e), 0);
	for (int i = 0; i < 2; i++) {
		peers[i].fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		assert_true(peers[i].fd >= 0);
		peers[i].role = -1;
		peers[i].len = 0;
	}
	frames_taken = 0;
	/* The destination's side, by hand, until the commit is asked. */
	for (int it = 0; it < 20000 && !strstr(seen, "commit "); it++) {
		tick(m);
		for (int i = 0; i < 2; i++) {
			peer_read(&peers[i], seen, sizeof(seen), &frames);
			if (peers[i].role == MIG_ROLE_CONTROL)
				ctl = peers[i].fd;
		}
		if (ctl >= 0 && strstr(seen, "config ") && !n++)
			put_ctrl(ctl, json_pack("{s:s, s:i, s:i}", "msg", "accept", "format", 3,
						"state_version", 1));
		if (ctl >= 0 && it % 20 == 0)
			put_ctrl(ctl, json_pack("{s:s}", "msg", "hb"));
		nanosleep(&ms, NULL);
	}
	if (!strstr(seen, "commit "))
		fail_msg("no commit asked: the source is %s (%s); it sent: %.300s",
			 mig_src_state_name(h.mig->src), h.mig->error, seen);
	assert_non_null(strstr(seen, "channel ")); /* the data channel was announced */
	assert_non_null(strstr(seen, "round "));
	/* The blackout: frames keep reaching the paused source; it forwards a bounded number. */
	for (int it = 0; it < 50; it++) {
		tick(m);
		peer_read(&peers[0], seen, sizeof(seen), &frames);
		peer_read(&peers[1], seen, sizeof(seen), &frames);
	}
	assert_true(frames > 0);
	assert_true(frames <= MIG_FRAMES_MAX);
	assert_true(frames_taken <= MIG_FRAMES_MAX);
	if (moved) {
		/* What a destination's commit does to the record. */
		struct commit c;

		commit_init(&c, m->cfg.lease, "destination");
		assert_int_equal(commit_lock(&c, 0, &e), 0);
		assert_int_equal(commit_swap(&c, epoch, &e), 1);
		commit_unlock(&c);
	}
	put_ctrl(ctl, json_pack("{s:s, s:I, s:I, s:I, s:I}", "msg", "resumed", "realtime_ns",
				(json_int_t)1, "commit_ns", (json_int_t)1, "announce_ns",
				(json_int_t)1, "resume_ns", (json_int_t)1));
	for (int it = 0; it < 100; it++) {
		tick(m);
		nanosleep(&ms, NULL);
	}
	if (moved) {
		assert_int_equal(h.mig->src, SRC_DONE);
		assert_int_equal(m->exit, MACHINE_MIGRATED);
	} else {
		/* A message alone: the record is still ours, so the VM runs on here. */
		assert_int_equal(h.mig->src, SRC_FAILED);
		assert_int_equal(m->exit, MACHINE_RUNNING);
		assert_false(m->paused);
		assert_true(handover_holds(&h));
	}
	close(peers[0].fd);
	close(peers[1].fd);
	close(lfd);
	free_machine(m);
}

static void test_resumed_alone_is_no_proof(void **state)
{
	(void)state;
	migrate_to_us(false);
}

static void test_resumed_with_the_record_moved(void **state)
{
	(void)state;
	migrate_to_us(true);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ferry-test-migrate.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_of_128_bits),
		cmocka_unit_test(test_pending_slots),
		cmocka_unit_test(test_announced_channels),
		cmocka_unit_test(test_resumed_alone_is_no_proof),
		cmocka_unit_test(test_resumed_with_the_record_moved),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
