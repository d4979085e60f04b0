/* gclock.c - guest time from the host monotonic clock. */
#include "gclock.h"

#include <time.h>

int64_t gclock_host_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void gclock_init(struct gclock *g, enum gclock_mode mode, uint64_t hz)
{
	g->mode = mode;
	g->hz = hz;
	g->offset_ns = -gclock_host_ns();
}

static uint64_t gclock_guest_ns(const struct gclock *g)
{
	int64_t ns = gclock_host_ns() + g->offset_ns;

	return ns < 0 ? 0 : (uint64_t)ns;
}

uint64_t gclock_ticks(const struct gclock *g)
{
	uint64_t ns = gclock_guest_ns(g);

	/* hz divides 1e9 for every timebase we use (10 MHz: 100 ns per tick). */
	return ns / (1000000000ull / g->hz);
}

int64_t gclock_ns_until(const struct gclock *g, uint64_t ticks)
{
	uint64_t per = 1000000000ull / g->hz;
	uint64_t now = gclock_guest_ns(g);

	if (ticks > (uint64_t)INT64_MAX / per)
		return INT64_MAX;
	if (ticks * per <= now)
		return 0;
	return (int64_t)(ticks * per - now);
}
