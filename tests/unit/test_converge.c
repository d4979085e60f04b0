/* test_converge.c - the convergence policy on recorded round sequences.
 *
 * Each sequence is what the source measured round after round (pages dirtied,
 * bytes still queued, bytes delivered, duration, bandwidth) for one kind of
 * guest, with the budget of 20 ms. The figures of the first three come from
 * the migration test's logs at 400 Mbit/s links (two of them: about 90 MB/s);
 * the writers are played back through a model of the guest so that the
 * throttle the policy sets changes what the next round measures, as it does
 * in a real move.
 */
#include "harness.h"

#include "vmm/migrate/converge.h"

#define MB 1000000ull
#define MS 1000000ull

static struct conv_state state(void)
{
	struct conv_state s = { 0 };

	s.downtime_ms = 20;
	s.max_rounds = 40;
	return s;
}

/* An idle 256 MiB guest: round 1 sends what is not zero, almost nothing is dirtied. */
static void test_idle_stops_after_one_round(void **unused)
{
	struct conv_state s = state();
	struct conv_round r = { .round = 1,
				.dirty_pages = 25,
				.unsent_bytes = 0,
				.round_bytes = 10 * MB,
				.duration_ns = 120 * MS,
				.bandwidth = 90 * MB };
	struct conv_decision d = conv_decide(&s, &r);

	(void)unused;
	assert_true(d.stop);
	assert_false(d.over_budget);
	assert_int_equal(d.throttle, 0);
	assert_int_equal(d.note, CONV_NOTE_NONE);
	assert_true(d.preflush);
	assert_int_equal(d.expected_downtime_ms, 25 * 4096 * 1000 / (90 * MB)); /* 1 ms */
	assert_int_equal(d.dirty_rate, 25 * 4096 * 1000000000ull / (120 * MS));
}

/* The bandwidth is not known yet (nothing measured): never stop on that round's figures. */
static void test_unknown_bandwidth_goes_on(void **unused)
{
	struct conv_state s = state();
	struct conv_round r = { .round = 1, .dirty_pages = 1, .duration_ns = 10 * MS };
	struct conv_decision d = conv_decide(&s, &r);

	(void)unused;
	assert_false(d.stop);
	assert_int_equal(d.expected_downtime_ms, UINT64_MAX);
	assert_false(d.preflush);
}

/* A writer slower than the link: rounds shrink by themselves, no throttle. */
static void test_slow_writer_converges_without_throttle(void **unused)
{
	static const struct conv_round seq[] = {
		{ 1, 6000, 40000, 256 * MB, 2900 * MS, 90 * MB },
		{ 2, 700, 20000, 24 * MB, 270 * MS, 90 * MB },
		{ 3, 80, 8000, 2900000, 32 * MS, 90 * MB },
	};
	struct conv_state s = state();
	struct conv_decision d = { 0 };
	bool preflushed_at[4] = { false };

	(void)unused;
	for (unsigned i = 0; i < 3; i++) {
		d = conv_decide(&s, &seq[i]);
		preflushed_at[seq[i].round] = d.preflush;
		assert_int_equal(d.throttle, 0);
		assert_int_equal(d.note, CONV_NOTE_NONE);
		if (i < 2)
			assert_false(d.stop);
	}
	assert_true(d.stop);
	assert_false(d.over_budget);
	assert_false(s.throttled);
	/* Round 2 expected (700 pages + 20000 B) at 90 MB/s = 32 ms: within 4x the budget. */
	assert_false(preflushed_at[1]);
	assert_true(preflushed_at[2]);
	assert_false(preflushed_at[3]); /* once only */
}

/* A model guest for the writers: it dirties `rate` bytes per second of its CPU time within
 * a working set of `set` pages; a throttle of t % gives it (100 - t) % of the CPU, unless
 * it dirties by the clock (cpu_bound false), when the throttle changes nothing. */
struct writer {
	uint64_t rate, set;
	bool cpu_bound;
};

/* Play rounds through the policy until it stops (at most 40). Returns the last decision and
 * the number of rounds; *max_throttle is the highest throttle seen. */
static struct conv_decision play(const struct writer *w, struct conv_state *s, uint32_t *rounds,
				 int *max_throttle, enum conv_note *notes)
{
	const uint64_t bw = 90 * MB, ram = 256 * MB;
	uint64_t to_send = ram; /* round 1 sends the whole RAM */
	struct conv_decision d = { 0 };

	*max_throttle = 0;
	for (uint32_t round = 1; round <= 40; round++) {
		uint64_t dur_ns = to_send * 1000000000ull / bw;
		uint64_t rate =
		    w->cpu_bound ? w->rate * (uint64_t)(100 - s->throttle) / 100 : w->rate;
		uint64_t dirty = rate * dur_ns / 1000000000ull / 4096;
		struct conv_round r = { round,	   dirty > w->set ? w->set : dirty,
					64 * 1024, to_send,
					dur_ns,	   bw };

		d = conv_decide(s, &r);
		notes[round] = d.note;
		if (d.throttle > *max_throttle)
			*max_throttle = d.throttle;
		*rounds = round;
		if (d.stop)
			break;
		to_send = r.dirty_pages * 4096;
	}
	return d;
}

/* A writer faster than the link, slowed by the throttle: the throttle climbs until the rounds
 * shrink, then the move stops within the budget. */
static void test_fast_cpu_writer_is_throttled(void **unused)
{
	struct writer w = { 100 * MB, 32768 /* 128 MiB */, true };
	struct conv_state s = state();
	enum conv_note notes[41] = { 0 };
	uint32_t rounds = 0;
	int max_throttle;
	struct conv_decision d = play(&w, &s, &rounds, &max_throttle, notes);

	(void)unused;
	assert_true(d.stop);
	assert_false(d.over_budget);
	assert_true(d.expected_downtime_ms <= 20);
	assert_true(s.throttled);
	/* The first step comes after two rounds without progress (rounds 2 and 3), never at
	 * round 1 (which sends the whole RAM); then one step per two rounds that still do not
	 * halve what is left: 30, 50, 70 %, and at 70 % (30 MB/s) the rounds shrink. */
	assert_int_equal(notes[1], CONV_NOTE_NONE);
	assert_int_equal(notes[2], CONV_NOTE_NONE);
	assert_int_equal(notes[3], CONV_NOTE_THROTTLE_UP);
	assert_int_equal(notes[4], CONV_NOTE_NONE);
	assert_int_equal(notes[5], CONV_NOTE_THROTTLE_UP);
	assert_int_equal(notes[7], CONV_NOTE_THROTTLE_UP);
	assert_int_equal(max_throttle, 70);
	assert_int_equal(rounds, 10);
	for (uint32_t i = 1; i <= rounds; i++)
		assert_int_not_equal(notes[i], CONV_NOTE_THROTTLE_OFF);
}

/* A writer faster than the link that dirties by the clock: one throttle step, which does not
 * slow it, is taken back; the rounds bottom out and the move stops over budget. */
static void test_clock_writer_gets_cpu_back_and_stops_over_budget(void **unused)
{
	struct writer w = { 100 * MB, 32768, false };
	struct conv_state s = state();
	enum conv_note notes[41] = { 0 };
	uint32_t rounds = 0;
	int max_throttle;
	struct conv_decision d = play(&w, &s, &rounds, &max_throttle, notes);
	bool off = false;

	(void)unused;
	for (uint32_t i = 1; i <= rounds; i++)
		off |= notes[i] == CONV_NOTE_THROTTLE_OFF;
	assert_true(off);
	assert_int_equal(max_throttle, 30);
	assert_int_equal(d.throttle, 0); /* the hart has its CPU back */
	assert_true(s.useless);
	assert_true(d.stop);
	assert_true(d.over_budget);
	assert_true(d.expected_downtime_ms > 20);
	assert_int_equal(notes[4], CONV_NOTE_THROTTLE_OFF);
	assert_int_equal(rounds, 4);
}

/* The round limit stops any migration, whatever the figures. */
static void test_round_limit(void **unused)
{
	struct conv_state s = state();
	struct conv_round r = { 40, 100000, 0, 400 * MB, 5000 * MS, 90 * MB };
	struct conv_decision d = conv_decide(&s, &r);

	(void)unused;
	assert_true(d.stop);
	assert_true(d.over_budget);
}

/* Already at the maximum: the policy says it cannot help and stops raising it. */
static void test_throttle_at_maximum_is_useless(void **unused)
{
	struct conv_state s = state();
	struct conv_round r = { 5, 16384, 0, 16 * MB, 180 * MS, 90 * MB };
	struct conv_decision d;

	(void)unused;
	s.throttle = CONV_MAX_THROTTLE;
	s.rate_at_throttle = 1000 * MB; /* the last step slowed it a lot: not the "off" case */
	s.no_progress = 1;
	d = conv_decide(&s, &r);
	assert_int_equal(d.note, CONV_NOTE_THROTTLE_MAX);
	assert_true(s.useless);
	assert_int_equal(d.throttle, CONV_MAX_THROTTLE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle_stops_after_one_round),
		cmocka_unit_test(test_unknown_bandwidth_goes_on),
		cmocka_unit_test(test_slow_writer_converges_without_throttle),
		cmocka_unit_test(test_fast_cpu_writer_is_throttled),
		cmocka_unit_test(test_clock_writer_gets_cpu_back_and_stops_over_budget),
		cmocka_unit_test(test_round_limit),
		cmocka_unit_test(test_throttle_at_maximum_is_useless),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
