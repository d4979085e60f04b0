/* machine.c - the board: set-up by registration, the bus, the run loop.
 *
 * The run loop is one thread. It runs the hart for a slice of instructions,
 * then looks at the world: the timer deadline against guest time, and the
 * descriptors devices wait on (a poll with no timeout). When the hart sleeps
 * in WFI, the loop blocks in ppoll() until the timer deadline or a ready
 * descriptor, so an idle guest costs almost no host CPU.
 */
#include "machine.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/log.h"
#include "boot.h"

/* Instructions per slice: about a tenth of a millisecond of guest work, so timers and
 * device input are looked at often enough without costing a system call per few
 * thousand instructions. */
#define MACHINE_SLICE 50000

int machine_add_region(struct machine *m, const char *name, uint64_t base, uint64_t size,
		       const struct mmio_ops *ops, void *opaque, struct err *e)
{
	if (m->nregions == MACHINE_MAX_REGIONS)
		return err_set(e, "too many MMIO regions (adding %s)", name);
	for (int i = 0; i < m->nregions; i++) {
		struct machine_region *r = &m->regions[i];

		if (base < r->base + r->size && r->base < base + size)
			return err_set(e, "MMIO region %s overlaps %s", name, r->name);
	}
	m->regions[m->nregions++] = (struct machine_region){ base, size, ops, opaque, name };
	return 0;
}

int machine_add_dev(struct machine *m, const struct machine_dev *dev, struct err *e)
{
	if (m->ndevs == MACHINE_MAX_DEVS)
		return err_set(e, "too many devices (adding %s)", dev->name);
	m->devs[m->ndevs++] = *dev;
	return 0;
}

int machine_add_pollfd(struct machine *m, const struct machine_pollfd *p, struct err *e)
{
	if (m->npollfds == MACHINE_MAX_POLLFDS)
		return err_set(e, "too many descriptors to poll");
	m->pollfds[m->npollfds] = *p;
	return m->npollfds++;
}

void machine_set_pollfd(struct machine *m, int slot, int fd, short events)
{
	if (slot < 0 || slot >= m->npollfds)
		return;
	m->pollfds[slot].fd = fd;
	m->pollfds[slot].events = events;
}

static struct machine_region *machine_find_region(struct machine *m, uint64_t pa, unsigned size)
{
	for (int i = 0; i < m->nregions; i++) {
		struct machine_region *r = &m->regions[i];

		if (pa >= r->base && pa - r->base < r->size && size <= r->size - (pa - r->base))
			return r;
	}
	return NULL;
}

bool machine_mmio_read(struct machine *m, uint64_t pa, unsigned size, uint64_t *val)
{
	struct machine_region *r = machine_find_region(m, pa, size);

	if (!r || !r->ops->read)
		return false;
	return r->ops->read(r->opaque, pa - r->base, size, val);
}

bool machine_mmio_write(struct machine *m, uint64_t pa, unsigned size, uint64_t val)
{
	struct machine_region *r = machine_find_region(m, pa, size);

	if (!r || !r->ops->write)
		return false;
	return r->ops->write(r->opaque, pa - r->base, size, val);
}

uint64_t machine_time(struct machine *m)
{
	return gclock_ticks(&m->clock);
}

void machine_update_timer(struct machine *m)
{
	cpu_set_irq(&m->cpu, SIP_STIP, machine_time(m) >= m->cpu.timecmp);
}

void machine_request_shutdown(struct machine *m)
{
	if (m->exit == MACHINE_RUNNING)
		m->exit = MACHINE_SHUTDOWN;
	m->cpu.stop = true;
}

void machine_request_reboot(struct machine *m)
{
	m->reboot_requested = true;
	m->cpu.stop = true;
}

void machine_request_quit(struct machine *m)
{
	if (m->exit == MACHINE_RUNNING)
		m->exit = MACHINE_QUIT;
	m->cpu.stop = true;
}

int machine_reset(struct machine *m, struct err *e)
{
	ram_clear(&m->ram);
	for (int i = 0; i < m->ndevs; i++)
		if (m->devs[i].reset)
			m->devs[i].reset(m->devs[i].opaque);
	if (!m->kernel_img) {
		cpu_reset(&m->cpu, m, &m->ram, 0, m->ram.base, 0);
		return 0;
	}
	return boot_place(m, e);
}

int machine_init(struct machine *m, const struct machine_config *cfg, struct err *e)
{
	memset(m, 0, sizeof(*m));
	m->cfg = *cfg;
	if (cfg->mem_size < MACHINE_MIN_RAM || cfg->mem_size > MACHINE_MAX_RAM ||
	    cfg->mem_size % (1 << 20))
		return err_set(e, "memory size must be a whole number of MiB from %lluM to %lluG",
			       MACHINE_MIN_RAM >> 20, MACHINE_MAX_RAM >> 30);
	if (ram_init(&m->ram, MACHINE_RAM_BASE, cfg->mem_size, e) < 0)
		return -1;
	gclock_init(&m->clock, cfg->clock, MACHINE_TIMEBASE_HZ);
	if (cfg->kernel && boot_read_files(m, e) < 0)
		return -1;
	/* Devices register in the order their nodes appear in the device tree. */
	if (plic_init(&m->plic, m, MACHINE_PLIC_BASE, 1, e) < 0)
		return -1;
	if (console_init(&m->console, m, cfg->console ? cfg->console : "stdio", e) < 0)
		return -1;
	if (uart_init(&m->uart, m, MACHINE_UART_BASE, MACHINE_UART_IRQ, e) < 0)
		return -1;
	if (!cfg->kernel) {
		/* A bare machine (unit tests): the hart starts at the base of RAM. */
		cpu_reset(&m->cpu, m, &m->ram, 0, m->ram.base, 0);
		return 0;
	}
	return boot_place(m, e);
}

void machine_destroy(struct machine *m)
{
	console_destroy(&m->console);
	ram_destroy(&m->ram);
	free(m->kernel_img);
	free(m->initrd_img);
	m->kernel_img = m->initrd_img = NULL;
}

/* Poll the registered descriptors, waiting at most timeout_ns (-1: forever), and dispatch. */
static void machine_poll(struct machine *m, int64_t timeout_ns)
{
	struct pollfd fds[MACHINE_MAX_POLLFDS];
	int slot[MACHINE_MAX_POLLFDS];
	struct timespec ts, *tsp = NULL;
	int n = 0, rc;

	for (int i = 0; i < m->npollfds; i++) {
		if (m->pollfds[i].fd < 0 || m->pollfds[i].events == 0)
			continue;
		fds[n] = (struct pollfd){ .fd = m->pollfds[i].fd, .events = m->pollfds[i].events };
		slot[n++] = i;
	}
	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000LL;
		ts.tv_nsec = timeout_ns % 1000000000LL;
		tsp = &ts;
	}
	rc = ppoll(fds, (nfds_t)n, tsp, NULL);
	if (rc <= 0)
		return;
	for (int i = 0; i < n; i++) {
		struct machine_pollfd *p = &m->pollfds[slot[i]];

		/* A handler may have changed the slot meanwhile: only call it if it still waits. */
		if (fds[i].revents && p->fd == fds[i].fd && p->events)
			p->ready(p->opaque, fds[i].revents);
	}
}

enum machine_exit machine_run(struct machine *m, struct err *e)
{
	struct cpu *c = &m->cpu;

	while (m->exit == MACHINE_RUNNING) {
		if (m->reboot_requested) {
			m->reboot_requested = false;
			m->reboots++;
			log_info("guest requested a reboot");
			if (machine_reset(m, e) < 0) {
				m->exit = MACHINE_ERROR;
				break;
			}
		}
		machine_update_timer(m);
		if (c->hsm != HSM_STARTED) {
			/* Every hart stopped: nothing can run again but a quit. */
			machine_poll(m, -1);
			continue;
		}
		if (c->wfi) {
			if (!cpu_irq_waiting(c)) {
				int64_t wait = c->timecmp == UINT64_MAX
						       ? -1
						       : gclock_ns_until(&m->clock, c->timecmp);

				m->wfi_sleeps++;
				machine_poll(m, wait);
				continue;
			}
			c->wfi = 0;
		}
		cpu_run(c, MACHINE_SLICE);
		machine_poll(m, 0);
	}
	return m->exit;
}
