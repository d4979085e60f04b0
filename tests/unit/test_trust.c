/* test_trust.c - what a stream, a guest or a control client must not be able to do to a VM.
 *
 * Each test is one finding of the review of ferry-vm (issue 11): a loaded state the hart
 * could never have reached, guest time off the scale, an entropy generator a peer seeds, a
 * register value with bits the device masks off, a guest whose one huge disk request stops
 * the run loop, a stopped hart that stops the migration with it, a save that follows a
 * planted symlink or is loaded from another file than the one checked.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/state.h"
#include "vmm/core/gclock.h"
#include "vmm/devices/uart.h"
#include "vmm/devices/vrng.h"
#include "vmm/migrate/commit.h"
#include "vmm/state/snapshot.h"
#include "vmm/state/stream.h"

#define expect_err(e, sub)                                                                         \
	do {                                                                                       \
		if (!strstr((e).msg, (sub)))                                                       \
			fail_msg("error '%s' does not say '%s'", (e).msg, (sub));                  \
	} while (0)

/* Save obj's section, then load it back into obj: the load's result, e set on failure. */
static int reload(const struct state_desc *d, void *obj, struct err *e)
{
	struct buf b;
	struct rbuf r;
	int rc;

	buf_init(&b);
	state_save(d, obj, &b);
	rbuf_init(&r, b.p, b.len);
	e->msg[0] = 0;
	rc = state_load(d, obj, &r, e);
	buf_free(&b);
	return rc;
}

/* ---- loaded CPU state ------------------------------------------------------------------------ */

/* An odd pc: without the decode cache a fetch would read past the page. Refused. */
static void test_cpu_odd_pc_refused(void **state)
{
	struct machine *m = th_machine(0);
	struct err e;

	(void)state;
	m->harts[0].pc = TH_RAM + 0x1000;
	assert_int_equal(reload(&cpu_state, &m->harts[0], &e), 0);
	m->harts[0].pc = TH_RAM + 0x1001;
	assert_int_equal(reload(&cpu_state, &m->harts[0], &e), -1);
	expect_err(e, "field 'pc': odd address");
	m->harts[0].pc = TH_RAM + 0xfff;
	assert_int_equal(reload(&cpu_state, &m->harts[0], &e), -1);
	th_free(m);
}

/* Only started and stopped harts exist here; the other HSM states would hang the VM. */
static void test_cpu_unreachable_hsm_refused(void **state)
{
	struct machine *m = th_machine(0);
	struct err e;

	(void)state;
	m->harts[0].hsm = HSM_STOPPED;
	assert_int_equal(reload(&cpu_state, &m->harts[0], &e), 0);
	for (uint8_t s = HSM_START_PENDING; s <= HSM_SUSPENDED; s++) {
		m->harts[0].hsm = s;
		assert_int_equal(reload(&cpu_state, &m->harts[0], &e), -1);
		expect_err(e, "field 'hsm'");
	}
	th_free(m);
}

/* ---- guest time from the stream -------------------------------------------------------------- */

static int clock_decode(uint64_t guest_ns, int64_t realtime_ns, struct err *e)
{
	struct stream_clock c = { .guest_ns = guest_ns, .realtime_ns = realtime_ns, .mode = 0 }, d;
	struct buf b;
	int rc;

	buf_init(&b);
	stream_clock_encode(&b, &c);
	e->msg[0] = 0;
	rc = stream_clock_decode(b.p, b.len, &d, e);
	buf_free(&b);
	return rc;
}

static void test_clock_bounded(void **state)
{
	struct err e;
	struct gclock g;
	uint64_t instret = 0;

	(void)state;
	assert_int_equal(clock_decode(GCLOCK_NS_MAX, STREAM_REALTIME_MAX, &e), 0);
	assert_int_equal(clock_decode(0, -STREAM_REALTIME_MAX, &e), 0);
	assert_int_equal(clock_decode(1ull << 63, 0, &e), -1);
	expect_err(e, "guest time");
	assert_int_equal(clock_decode(UINT64_MAX, 0, &e), -1);
	assert_int_equal(clock_decode(0, INT64_MIN, &e), -1);
	expect_err(e, "realtime");
	assert_int_equal(clock_decode(0, INT64_MAX, &e), -1);
	/* The clock itself never goes past its bound. */
	gclock_init(&g, GCLOCK_ICOUNT, MACHINE_TIMEBASE_HZ, &instret);
	gclock_set_ns(&g, UINT64_MAX);
	assert_true(gclock_ns(&g) <= GCLOCK_NS_MAX);
	assert_true(gclock_ns(&g) >= GCLOCK_NS_MAX - GCLOCK_ICOUNT_NS);
}

/* An instret the icount clock could not count. */
static void test_cpu_instret_bounded(void **state)
{
	struct machine *m = th_machine(0);
	struct err e;

	(void)state;
	m->harts[0].instret = GCLOCK_NS_MAX / GCLOCK_ICOUNT_NS;
	assert_int_equal(reload(&cpu_state, &m->harts[0], &e), 0);
	m->harts[0].instret = UINT64_MAX;
	assert_int_equal(reload(&cpu_state, &m->harts[0], &e), -1);
	expect_err(e, "field 'instret'");
	th_free(m);
}

/* ---- virtio-rng -------------------------------------------------------------------------------- */

/* A peer's generator state is kept only by a deterministic (icount) machine; one on the host
 * clock draws from the host after a load. */
static void test_rng_reseeded_on_host_clock(void **state)
{
	struct machine *m = th_machine(0);
	struct vrng *r = virtio_dev(th_virtio(m, "virtio-rng"));
	struct err e;

	(void)state;
	assert_false(r->deterministic);
	r->prng = 0x0123456789abcdefull; /* what a peer would like the guest to use */
	assert_int_equal(reload(&vrng_state, r, &e), 0);
	assert_int_equal(r->prng, 0);
	/* Under icount the generator is the point: kept. */
	r->deterministic = true;
	r->prng = 0x0123456789abcdefull;
	assert_int_equal(reload(&vrng_state, r, &e), 0);
	assert_int_equal(r->prng, 0x0123456789abcdefull);
	th_free(m);
}

/* ---- valid bits in a state table ---------------------------------------------------------------- */

/* FCR keeps bits 0xc9 only: 0x02 (clear RX) and 0x04 are never stored, so 0x8b (below the
 * maximum 0xc9) is a value no guest made. */
static void test_uart_masked_bits_refused(void **state)
{
	struct machine *m = th_machine(0);
	struct uart *u = machine_dev_find(m, "uart");
	struct err e;

	(void)state;
	assert_non_null(u);
	u->fcr = 0xc9;
	assert_int_equal(reload(&uart_state, u, &e), 0);
	u->fcr = 0x8b;
	assert_int_equal(reload(&uart_state, u, &e), -1);
	expect_err(e, "device 'uart' field 'fcr': value 0x8b has bits outside 0xc9");
	u->fcr = 0;
	u->mcr = 0x1f;
	assert_int_equal(reload(&uart_state, u, &e), 0);
	th_free(m);
}

/* A table's valid bits must fit its maximum and cover its default. */
struct masked {
	uint8_t v;
};

static void test_mask_checked_in_tables(void **state)
{
	static const struct state_field ok[] = { STATE_FIELD_MASK(struct masked, v, 0x81) };
	static const struct state_field bad_def[] = {
		STATE_FIELD_MASK(struct masked, v, 0x81, .since = 1, .def = 2),
	};
	const struct state_desc d_ok = { "m", 1, ok, 1, NULL },
				d_bad = { "m", 1, bad_def, 1, NULL };
	struct masked x = { 0x80 };
	struct err e;

	(void)state;
	assert_int_equal(state_check_desc(&d_ok, &e), 0);
	assert_int_equal(state_check_desc(&d_bad, &e), -1);
	assert_int_equal(reload(&d_ok, &x, &e), 0);
	x.v = 0x41;
	assert_int_equal(reload(&d_ok, &x, &e), -1);
	expect_err(e, "bits outside 0x81");
}

/* ---- the run loop when the guest stopped its last hart ------------------------------------------ */

struct ticker {
	struct machine *m;
	int ticks;
};

static void ticker_tick(void *opaque)
{
	struct ticker *t = opaque;

	if (++t->ticks == 3)
		machine_request_exit(t->m, MACHINE_QUIT);
	machine_wake_at(t->m, gclock_host_ns() + 1000000);
}

/* After SBI HSM hart_stop of the only hart, the clients (a migration, the ownership record)
 * still get their turn: the loop used to sleep in poll() forever without them. */
static void test_stopped_hart_still_ticks(void **state)
{
	struct machine *m = th_machine(0);
	struct ticker t = { m, 0 };
	struct err e;

	(void)state;
	assert_int_equal(
	    machine_add_client(m, &(struct machine_client){ ticker_tick, NULL, &t }, &e), 0);
	m->harts[0].hsm = HSM_STOPPED;
	machine_wake_at(m, gclock_host_ns());
	alarm(20); /* without the ticks the loop never ends: the alarm fails the test */
	assert_int_equal(machine_run(m, &e), MACHINE_QUIT);
	alarm(0);
	assert_int_equal(t.ticks, 3);
	th_free(m);
}

/* ---- save files and the lease ------------------------------------------------------------------ */

static char tdir[64];

static void tdir_make(void)
{
	snprintf(tdir, sizeof(tdir), "/tmp/ferry-test-trust.XXXXXX");
	assert_non_null(mkdtemp(tdir));
}

static void tdir_remove(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
	assert_int_equal(system(cmd), 0);
}

static void put_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void expect_file(const char *path, const char *text)
{
	char buf[64] = { 0 };
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_true(read(fd, buf, sizeof(buf) - 1) >= 0);
	close(fd);
	assert_string_equal(buf, text);
}

/* save writes FILE.tmp: a link planted under that name is not followed (what it points at is
 * untouched), a file left there with another mode does not lend it its mode: the save is a
 * new file, mode 0600. */
static void test_save_tmp_not_followed(void **state)
{
	struct machine *m = th_machine(0);
	char save[128], tmp[140], victim[128];
	struct stat st;
	struct err e;

	(void)state;
	tdir_make();
	snprintf(save, sizeof(save), "%s/vm.save", tdir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", save);
	snprintf(victim, sizeof(victim), "%s/victim", tdir);
	put_file(victim, "precious", 0644);
	assert_int_equal(symlink(victim, tmp), 0);
	assert_int_equal(snapshot_save(m, save, 0, &e), 0);
	expect_file(victim, "precious");
	assert_int_equal(lstat(save, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(lstat(tmp, &st), -1);
	/* A world-readable leftover under the temporary name. */
	unlink(save);
	put_file(tmp, "old", 0644);
	assert_int_equal(snapshot_save(m, save, 0, &e), 0);
	assert_int_equal(stat(save, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(st.st_size > 100);
	th_free(m);
	tdir_remove();
}

/* The restore reads the configuration (and the lease epoch it checks) and the state from one
 * open file: a file swapped in under the name in between is not what loads. */
static void test_restore_reads_one_file(void **state)
{
	struct machine *a = th_machine(0), *b = th_machine(0), *c = th_machine(0);
	char good[128], other[128];
	struct snapshot_file f;
	uint64_t ra, rb, rc, da, dc;
	struct err e;

	(void)state;
	tdir_make();
	snprintf(good, sizeof(good), "%s/good.save", tdir);
	snprintf(other, sizeof(other), "%s/other.save", tdir);
	ram_fill(&a->ram, TH_RAM + 0x5000, 0x11, 4096);
	a->harts[0].pc = TH_RAM + 0x5000;
	ram_fill(&b->ram, TH_RAM + 0x7000, 0x22, 4096);
	assert_int_equal(snapshot_save(a, good, 7, &e), 0);
	assert_int_equal(snapshot_save(b, other, 9, &e), 0);
	assert_int_equal(snapshot_file_open(good, &f, &e), 0);
	assert_int_equal(f.cfg.lease_epoch, 7);
	/* The name now holds another save (made at another epoch). */
	assert_int_equal(rename(other, good), 0);
	assert_int_equal(snapshot_file_load(c, &f, &e), 0);
	snapshot_file_close(&f);
	snapshot_hash(b, &rb, &da);
	snapshot_hash(c, &rc, &dc);
	snapshot_hash(a, &ra, &da);
	assert_int_equal(rc, ra);
	assert_int_not_equal(rc, rb);
	assert_int_equal(dc, da);
	th_free(a);
	th_free(b);
	th_free(c);
	tdir_remove();
}

/* The lease and its lock are never opened through a link. */
static void test_lease_not_followed(void **state)
{
	char lease[128], lock[140], victim[128];
	struct commit c;
	struct err e;

	(void)state;
	tdir_make();
	snprintf(lease, sizeof(lease), "%s/disk.lease", tdir);
	snprintf(lock, sizeof(lock), "%s.lock", lease);
	snprintf(victim, sizeof(victim), "%s/victim", tdir);
	put_file(victim, "precious", 0644);
	assert_int_equal(symlink(victim, lock), 0);
	commit_init(&c, lease, "me");
	assert_int_equal(commit_lock(&c, 0, &e), -1);
	unlink(lock);
	assert_int_equal(symlink(victim, lease), 0);
	assert_int_equal(commit_lock(&c, 0, &e), 0);
	assert_int_equal(commit_claim(&c, &e), -1);
	commit_unlock(&c);
	expect_file(victim, "precious");
	tdir_remove();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpu_odd_pc_refused),
		cmocka_unit_test(test_cpu_unreachable_hsm_refused),
		cmocka_unit_test(test_clock_bounded),
		cmocka_unit_test(test_cpu_instret_bounded),
		cmocka_unit_test(test_rng_reseeded_on_host_clock),
		cmocka_unit_test(test_uart_masked_bits_refused),
		cmocka_unit_test(test_mask_checked_in_tables),
		cmocka_unit_test(test_stopped_hart_still_ticks),
		cmocka_unit_test(test_save_tmp_not_followed),
		cmocka_unit_test(test_restore_reads_one_file),
		cmocka_unit_test(test_lease_not_followed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
