/* converge.c - the convergence policy of the pre-copy rounds (see converge.h). */
#include "vmm/migrate/converge.h"

struct conv_decision conv_decide(struct conv_state *s, const struct conv_round *r)
{
	struct conv_decision d = { 0 };
	uint64_t dirty_bytes = r->dirty_pages * CONV_PAGE_SIZE;

	d.dirty_rate = r->duration_ns ? dirty_bytes * 1000000000ull / r->duration_ns : 0;
	d.expected_downtime_ms =
	    r->bandwidth ? (dirty_bytes + r->unsent_bytes) * 1000 / r->bandwidth : UINT64_MAX;

	/* The guest dirties more than half of what a round sends: the rounds will not get under
	 * the budget by themselves. */
	if (d.expected_downtime_ms > s->downtime_ms && r->round > 1 && !s->useless &&
	    dirty_bytes * 2 > r->round_bytes) {
		if (s->throttle && d.dirty_rate * 10 >= s->rate_at_throttle * 8) {
			/* The last step did not slow the dirtying down (by a fifth): the guest
			 * dirties by the clock, not by the CPU it gets. More only hurts it. */
			s->throttle = 0;
			s->useless = true;
			d.note = CONV_NOTE_THROTTLE_OFF;
		} else if (++s->no_progress >= 2) {
			s->no_progress = 0;
			s->rate_at_throttle = d.dirty_rate;
			if (s->throttle >= CONV_MAX_THROTTLE) {
				s->useless = true;
				d.note = CONV_NOTE_THROTTLE_MAX;
			} else {
				s->throttle = s->throttle ? s->throttle + 20 : 30;
				if (s->throttle > CONV_MAX_THROTTLE)
					s->throttle = CONV_MAX_THROTTLE;
				s->throttled = true;
				d.note = CONV_NOTE_THROTTLE_UP;
			}
		}
	} else {
		s->no_progress = 0;
	}
	if (d.expected_downtime_ms <= 4 * s->downtime_ms && !s->preflushed) {
		d.preflush = true;
		s->preflushed = true;
	}
	/* Without a throttle that helps, rounds can still shrink (slowly, if the guest dirties
	 * almost as fast as pages move): go on while they do, stop at the first round that does
	 * not, where the blackout is as small as it will get. */
	bool bottomed = s->useless && r->dirty_pages >= s->dirty_prev;

	s->dirty_prev = r->dirty_pages;
	if (d.expected_downtime_ms <= s->downtime_ms || r->round >= s->max_rounds || bottomed) {
		d.stop = true;
		d.over_budget = d.expected_downtime_ms > s->downtime_ms;
	}
	d.throttle = s->throttle;
	return d;
}
