/* harness.c - bare machines for the unit tests. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

struct machine *th_machine(uint64_t mem)
{
	return th_machine_harts(mem, 1);
}

struct machine *th_machine_harts(uint64_t mem, unsigned harts)
{
	struct machine_config cfg = {
		.mem_size = mem ? mem : 16ull << 20,
		.harts = harts,
		.console = "null",
		.clock = GCLOCK_HOST,
	};
	struct machine *m = calloc(1, sizeof(*m));
	struct err e;

	assert_non_null(m);
	if (devices_machine_init(m, &cfg, &e) != 0)
		fail_msg("machine_init: %s", e.msg);
	return m;
}

void th_free(struct machine *m)
{
	machine_destroy(m);
	free(m);
}

void th_code(struct machine *m, uint64_t gpa, const uint32_t *insns, size_t n)
{
	ram_write(&m->ram, gpa, insns, n * 4);
	m->harts[0].pc = gpa;
}

void th_code16(struct machine *m, uint64_t gpa, const uint16_t *parcels, size_t n)
{
	ram_write(&m->ram, gpa, parcels, n * 2);
	m->harts[0].pc = gpa;
}

uint64_t th_run(struct machine *m, uint64_t max)
{
	uint64_t done;

	done = cpu_run(&m->harts[0], max);
	return done;
}

void th_step(struct machine *m)
{
	cpu_run(&m->harts[0], 1);
}
