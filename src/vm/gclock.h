/* gclock.h - guest time: the timebase the guest reads from `time` and sets timers against.
 *
 * Guest time = host monotonic clock + an offset, counted in 10 MHz ticks.
 * Keeping the offset explicit is what lets a restored or migrated machine
 * continue its clock where it stopped instead of jumping or going back.
 */
#ifndef FERRY_GCLOCK_H
#define FERRY_GCLOCK_H

#include <stdint.h>

enum gclock_mode {
	GCLOCK_HOST = 0, /* host CLOCK_MONOTONIC */
};

struct gclock {
	enum gclock_mode mode;
	uint64_t hz;	    /* timebase frequency */
	int64_t offset_ns;  /* guest ns = host monotonic ns + offset_ns */
};

/* Start the clock at guest time zero. */
void gclock_init(struct gclock *g, enum gclock_mode mode, uint64_t hz);
/* Host monotonic time in ns. */
int64_t gclock_host_ns(void);
/* Guest time in ticks. */
uint64_t gclock_ticks(const struct gclock *g);
/* Host nanoseconds from now until the guest clock reaches ticks (0 if already past). */
int64_t gclock_ns_until(const struct gclock *g, uint64_t ticks);

#endif
