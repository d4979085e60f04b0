/* gclock.h - guest time: the timebase the guest reads from `time` and sets timers against.
 *
 * Two sources:
 *   host    guest time = host CLOCK_MONOTONIC + an offset (the default);
 *   icount  guest time = instructions retired x GCLOCK_ICOUNT_NS + an offset: a
 *           deterministic clock, so two runs of the same machine are identical
 *           (for tests). WFI then skips the clock forward to the next deadline.
 * Keeping the offset explicit is what lets a paused, restored or migrated
 * machine continue its clock where it stopped instead of jumping or going back.
 * While the machine is paused the clock is frozen (gclock_freeze/thaw).
 */
#ifndef FERRY_GCLOCK_H
#define FERRY_GCLOCK_H

#include <stdbool.h>
#include <stdint.h>

enum gclock_mode {
	GCLOCK_HOST = 0,
	GCLOCK_ICOUNT = 1,
};

/* The largest guest time, in ns (2^62: 146 years). Time from outside (a snapshot, a
 * migration) is refused above it, and the clock's arithmetic stays inside int64 with it. */
#define GCLOCK_NS_MAX (1ull << 62)

/* Nanoseconds of guest time per instruction under the icount clock (a 100 MIPS machine). */
#define GCLOCK_ICOUNT_NS 10

struct gclock {
	enum gclock_mode mode;
	uint64_t hz;		 /* timebase frequency */
	int64_t offset_ns;	 /* guest ns = source ns + offset_ns */
	const uint64_t *instret; /* icount: the hart's instructions retired */
	bool frozen;
	uint64_t frozen_ns; /* guest ns while frozen */
};

/* Start the clock at guest time zero. instret is read by the icount clock. */
void gclock_init(struct gclock *g, enum gclock_mode mode, uint64_t hz, const uint64_t *instret);
/* Host monotonic and realtime clocks in ns. */
int64_t gclock_host_ns(void);
int64_t gclock_realtime_ns(void);
/* Guest time in ns and in timebase ticks. */
uint64_t gclock_ns(const struct gclock *g);
uint64_t gclock_ticks(const struct gclock *g);
/* Host nanoseconds from now until the guest clock reaches ticks (0 if already past). Under
 * icount, the number of instructions instead (see gclock_insns_until). */
int64_t gclock_ns_until(const struct gclock *g, uint64_t ticks);
/* icount: instructions to retire before the clock reaches ticks (0 if already past). */
uint64_t gclock_insns_until(const struct gclock *g, uint64_t ticks);
/* icount: move the clock forward to ticks without executing (WFI with a deadline). */
void gclock_skip_to(struct gclock *g, uint64_t ticks);
/* icount with several harts: from now on count the instructions of this one (the hart about
 * to run), the clock going on from where it is. Time is then the instructions all the harts
 * retired, one after another. */
void gclock_rebase(struct gclock *g, const uint64_t *instret);
/* Stop and restart the clock around a pause. */
void gclock_freeze(struct gclock *g);
void gclock_thaw(struct gclock *g);
/* Make the clock read guest_ns now (after a restore or a migration); above GCLOCK_NS_MAX it
 * reads GCLOCK_NS_MAX. */
void gclock_set_ns(struct gclock *g, uint64_t guest_ns);

#endif
