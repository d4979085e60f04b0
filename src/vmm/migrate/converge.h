/* converge.h - when a live migration stops iterating: the convergence policy.
 *
 * At the end of every pre-copy round the source knows what the round did: the
 * pages the guest dirtied meanwhile, the bytes still queued, the bytes the
 * link delivered, the bandwidth measured. From those alone this decides:
 *
 *   stop      when the dirty bytes plus what is queued, at the measured
 *             bandwidth, fit the downtime budget; or at the round limit; or
 *             when throttling cannot help and rounds stopped shrinking (the
 *             blackout is as small as it will get: over budget, said so);
 *   throttle  auto-converge, as QEMU does it: when the guest dirties more than
 *             half of what a round sends, two rounds in a row, take CPU from
 *             the hart (30, 50, 70, 90, 95 %); give it all back when a step did
 *             not slow the dirtying down (a guest that dirties by the clock);
 *   pre-flush flush the disks once the end is near (4x the budget), so the
 *             flush inside the blackout is quick.
 *
 * It is a pure function of the round's figures and the policy's memory of the
 * rounds before: no clock, no I/O, so it is unit-tested on recorded sequences
 * (tests/unit/test_converge.c).
 */
#ifndef FERRY_CONVERGE_H
#define FERRY_CONVERGE_H

#include <stdbool.h>
#include <stdint.h>

#define CONV_PAGE_SIZE 4096u
#define CONV_MAX_THROTTLE 95

/* What one round did, measured by the source. */
struct conv_round {
	uint32_t round;	       /* its number, from 1 */
	uint64_t dirty_pages;  /* dirtied while it was sent (collected at its end) */
	uint64_t unsent_bytes; /* still in our buffers and the kernel's queues */
	uint64_t round_bytes;  /* delivered to the destination during the round */
	uint64_t duration_ns;  /* how long it took */
	uint64_t bandwidth;    /* bytes per second delivered, measured (0: not known yet) */
};

/* The policy's parameters and its memory of the rounds before. Zero it, then set the
 * parameters. */
struct conv_state {
	uint64_t downtime_ms; /* the blackout budget */
	uint32_t max_rounds;  /* stop at this round whatever the figures */
	int throttle;	      /* share of time the hart sits out now, percent */
	int no_progress;      /* rounds in a row dirtying more than half of what they send */
	bool useless;	      /* throttling is at its maximum or does not slow the dirtying */
	bool throttled;	      /* the throttle was ever raised */
	bool preflushed;
	uint64_t rate_at_throttle; /* the dirty rate when the throttle last went up */
	uint64_t dirty_prev;	   /* pages dirtied during the round before */
};

enum conv_note {
	CONV_NOTE_NONE = 0,
	CONV_NOTE_THROTTLE_UP,	/* the throttle went up (to state.throttle) */
	CONV_NOTE_THROTTLE_OFF, /* it did not slow the dirtying: the hart gets its CPU back */
	CONV_NOTE_THROTTLE_MAX, /* already at its maximum: it cannot help more */
};

struct conv_decision {
	bool stop;	  /* pause the guest and copy the rest now */
	bool over_budget; /* ... although the blackout will exceed the budget */
	bool preflush;	  /* flush the disks now */
	int throttle;	  /* the throttle to apply from now on, percent */
	enum conv_note note;
	uint64_t dirty_rate;	       /* bytes per second the guest dirtied during the round */
	uint64_t expected_downtime_ms; /* if we stopped now (UINT64_MAX: bandwidth unknown) */
};

/* Decide after a round; updates s's memory. */
struct conv_decision conv_decide(struct conv_state *s, const struct conv_round *r);

#endif
