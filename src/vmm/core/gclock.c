/* gclock.c - guest time from the host monotonic clock or from instructions retired. */
#include "vmm/core/gclock.h"

#include <time.h>

int64_t gclock_host_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t gclock_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The running source, in ns. */
static int64_t gclock_source_ns(const struct gclock *g)
{
	if (g->mode == GCLOCK_ICOUNT)
		return (int64_t)(*g->instret * GCLOCK_ICOUNT_NS);
	return gclock_host_ns();
}

void gclock_init(struct gclock *g, enum gclock_mode mode, uint64_t hz, const uint64_t *instret)
{
	g->mode = mode;
	g->hz = hz;
	g->instret = instret;
	g->frozen = false;
	g->frozen_ns = 0;
	g->offset_ns = -gclock_source_ns(g);
}

uint64_t gclock_ns(const struct gclock *g)
{
	int64_t ns;

	if (g->frozen)
		return g->frozen_ns;
	ns = gclock_source_ns(g) + g->offset_ns;
	return ns < 0 ? 0 : (uint64_t)ns;
}

/* hz divides 1e9 for every timebase we use (10 MHz: 100 ns per tick). */
static uint64_t gclock_ns_per_tick(const struct gclock *g)
{
	return 1000000000ull / g->hz;
}

uint64_t gclock_ticks(const struct gclock *g)
{
	return gclock_ns(g) / gclock_ns_per_tick(g);
}

int64_t gclock_ns_until(const struct gclock *g, uint64_t ticks)
{
	uint64_t per = gclock_ns_per_tick(g), now = gclock_ns(g);

	if (ticks > (uint64_t)INT64_MAX / per)
		return INT64_MAX;
	if (ticks * per <= now)
		return 0;
	return (int64_t)(ticks * per - now);
}

uint64_t gclock_insns_until(const struct gclock *g, uint64_t ticks)
{
	int64_t ns = gclock_ns_until(g, ticks);

	return ((uint64_t)ns + GCLOCK_ICOUNT_NS - 1) / GCLOCK_ICOUNT_NS;
}

void gclock_skip_to(struct gclock *g, uint64_t ticks)
{
	int64_t ns = gclock_ns_until(g, ticks);

	if (ns > 0 && ns != INT64_MAX)
		g->offset_ns += ns;
}

void gclock_rebase(struct gclock *g, const uint64_t *instret)
{
	int64_t ns;

	if (g->instret == instret)
		return;
	ns = (int64_t)gclock_ns(g);
	g->instret = instret;
	if (!g->frozen)
		g->offset_ns = ns - gclock_source_ns(g);
}

void gclock_freeze(struct gclock *g)
{
	if (g->frozen)
		return;
	g->frozen_ns = gclock_ns(g);
	g->frozen = true;
}

void gclock_thaw(struct gclock *g)
{
	if (!g->frozen)
		return;
	g->frozen = false;
	g->offset_ns = (int64_t)g->frozen_ns - gclock_source_ns(g);
}

void gclock_set_ns(struct gclock *g, uint64_t guest_ns)
{
	if (guest_ns > GCLOCK_NS_MAX)
		guest_ns = GCLOCK_NS_MAX;
	if (g->frozen)
		g->frozen_ns = guest_ns;
	else
		g->offset_ns = (int64_t)guest_ns - gclock_source_ns(g);
}
