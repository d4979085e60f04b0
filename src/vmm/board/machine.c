/* machine.c - the board: set-up by registration, the bus, the run loop.
 *
 * The run loop is one thread. It runs the hart for a slice of instructions,
 * then looks at the world: the timer deadline against guest time, and the
 * descriptors devices wait on (a poll with no timeout). When the hart sleeps
 * in WFI, the loop blocks in ppoll() until the timer deadline or a ready
 * descriptor, so an idle guest costs almost no host CPU.
 */
#include "common/fault.h"
#include "vmm/board/machine.h"
#include "vmm/core/isa.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "vmm/board/boot.h"
#include "vmm/board/sbi.h"

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

void *machine_dev_find(struct machine *m, const char *name)
{
	for (int i = 0; i < m->ndevs; i++)
		if (!strcmp(m->devs[i].name, name))
			return m->devs[i].opaque;
	return NULL;
}

int machine_add_client(struct machine *m, const struct machine_client *c, struct err *e)
{
	if (m->nclients == MACHINE_MAX_CLIENTS)
		return err_set(e, "too many run-loop clients");
	m->clients[m->nclients++] = *c;
	return 0;
}

void machine_remove_client(struct machine *m, void *opaque)
{
	for (int i = 0; i < m->nclients; i++) {
		if (m->clients[i].opaque == opaque) {
			memmove(&m->clients[i], &m->clients[i + 1],
				(size_t)(m->nclients - i - 1) * sizeof(m->clients[0]));
			m->nclients--;
			return;
		}
	}
}

void machine_set_console(struct machine *m, const struct machine_console *c)
{
	m->console = *c;
}

void machine_set_irqchip(struct machine *m, const struct machine_irqchip *c)
{
	m->irqchip = *c;
}

void machine_set_irq(struct machine *m, unsigned irq, bool level)
{
	if (m->irqchip.set_level)
		m->irqchip.set_level(m->irqchip.opaque, irq, level);
}

void machine_console_write(struct machine *m, const uint8_t *buf, size_t len)
{
	if (m->console.write)
		m->console.write(m->console.opaque, buf, len);
}

int machine_console_getc(struct machine *m)
{
	return m->console.getc ? m->console.getc(m->console.opaque) : -1;
}

int machine_add_pollfd(struct machine *m, const struct machine_pollfd *p, struct err *e)
{
	for (int i = 0; i < m->npollfds; i++) {
		if (!m->pollfds[i].ready) {
			m->pollfds[i] = *p;
			return i;
		}
	}
	if (m->npollfds == MACHINE_MAX_POLLFDS)
		return err_set(e, "too many descriptors to poll");
	m->pollfds[m->npollfds] = *p;
	return m->npollfds++;
}

void machine_free_pollfd(struct machine *m, int slot)
{
	if (slot < 0 || slot >= m->npollfds)
		return;
	m->pollfds[slot] = (struct machine_pollfd){ .fd = -1 };
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
	uint64_t now = machine_time(m);

	for (unsigned i = 0; i < m->nharts; i++) {
		struct cpu *c = &m->harts[i];

		cpu_set_irq(c, SIP_STIP, now >= c->timecmp);
		/* Under the icount clock the run loop ends each slice exactly at the earliest
		 * timer deadline, so the interrupt lands on the same instruction in every run; a
		 * new deadline set in the middle of a slice must end that slice too. */
		if (m->clock.mode == GCLOCK_ICOUNT)
			c->stop = true;
	}
}

uint64_t machine_instret(const struct machine *m)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < m->nharts; i++)
		n += m->harts[i].instret;
	return n;
}

struct cpu *machine_hart(struct machine *m, uint64_t hartid)
{
	return hartid < m->nharts ? &m->harts[hartid] : NULL;
}

/* Ask whichever hart runs to leave its slice at the next instruction boundary. */
static void machine_stop_harts(struct machine *m)
{
	for (unsigned i = 0; i < m->nharts; i++)
		m->harts[i].stop = true;
}

void machine_reset_harts(struct machine *m, uint64_t pc, uint64_t a1)
{
	/* Hart 0 boots; the others wait, stopped, for the kernel's SBI hart_start. */
	for (unsigned i = 0; i < m->nharts; i++) {
		cpu_reset(&m->harts[i], &m->bus, &m->ram, i, pc, a1);
		if (i > 0)
			m->harts[i].hsm = HSM_STOPPED;
	}
	m->next_hart = 0;
	gclock_rebase(&m->clock, &m->harts[0].instret);
}

void machine_emit(struct machine *m, const char *name, json_t *data)
{
	if (m->event)
		m->event(m->event_opaque, name, data);
	json_decref(data);
}

void machine_journal(struct machine *m, const char *what, const char *reason)
{
	char line[256];
	int n;

	if (m->journal_fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%lld %lld %s %s\n", (long long)gclock_host_ns(),
		     (long long)gclock_realtime_ns(), what, reason);
	if (n > 0 && write(m->journal_fd, line, (size_t)n) != n)
		log_warn("journal: short write: %s", strerror(errno));
}

static void machine_devs_run_state(struct machine *m, bool running)
{
	for (int i = 0; i < m->ndevs; i++)
		if (m->devs[i].run_state)
			m->devs[i].run_state(m->devs[i].opaque, running);
}

void machine_pause(struct machine *m, const char *reason)
{
	if (m->paused)
		return;
	m->paused = true;
	machine_stop_harts(m);
	/* After a pause the round starts again at hart 0: what runs next is then a function of
	 * the machine's state alone, the same here and in a restore or a destination of it. */
	m->next_hart = 0;
	gclock_freeze(&m->clock);
	/* The timer line follows the frozen clock now, not at the next turn: a paused machine's
	 * state is then the one a restore or a destination rebuilds from it (they, too, set the
	 * line from the clock), and its hashes are equal to theirs. */
	machine_update_timer(m);
	machine_devs_run_state(m, false);
	machine_journal(m, "PAUSE", reason);
	machine_emit(
	    m, "STOP",
	    json_pack("{s:s, s:I}", "reason", reason, "instret", (json_int_t)machine_instret(m)));
}

void machine_resume(struct machine *m, const char *reason)
{
	if (!m->paused)
		return;
	m->paused = false;
	gclock_thaw(&m->clock);
	machine_devs_run_state(m, true);
	machine_update_timer(m);
	machine_journal(m, "RUN", reason);
	machine_emit(m, "RESUME", json_pack("{s:s}", "reason", reason));
}

void machine_dirty_start(struct machine *m)
{
	memset(m->ram.dirty, 0, m->ram.nwords * sizeof(uint64_t));
	for (unsigned i = 0; i < m->nharts; i++)
		cpu_tlb_flush_writes(&m->harts[i]);
	m->dirty_logging = true;
}

uint64_t machine_dirty_collect(struct machine *m, uint64_t *out)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < m->ram.nwords; i++) {
		uint64_t w = m->ram.dirty[i];

		if (out)
			out[i] = w;
		n += (uint64_t)__builtin_popcountll(w);
		m->ram.dirty[i] = 0;
	}
	/* A write-TLB holds pointers to pages that were marked when their entry was made; drop
	 * every hart's, so the next store to each page, by any hart, marks it again. */
	for (unsigned i = 0; i < m->nharts; i++)
		cpu_tlb_flush_writes(&m->harts[i]);
	m->dirty_collections++;
	return n;
}

void machine_dirty_stop(struct machine *m)
{
	m->dirty_logging = false;
}

void machine_request_shutdown(struct machine *m)
{
	if (m->exit == MACHINE_RUNNING)
		m->exit = MACHINE_SHUTDOWN;
	machine_stop_harts(m);
}

void machine_request_reboot(struct machine *m)
{
	m->reboot_requested = true;
	machine_stop_harts(m);
}

void machine_request_quit(struct machine *m)
{
	machine_request_exit(m, MACHINE_QUIT);
}

void machine_request_exit(struct machine *m, enum machine_exit why)
{
	if (m->exit == MACHINE_RUNNING)
		m->exit = why;
	machine_stop_harts(m);
}

void machine_wake_at(struct machine *m, int64_t ns)
{
	m->wake_ns = ns;
}

void machine_wake_by(struct machine *m, int64_t ns)
{
	if (!m->wake_ns || ns < m->wake_ns)
		m->wake_ns = ns;
}

void machine_set_throttle(struct machine *m, int pct)
{
	m->throttle_pct = pct < 0 ? 0 : pct > 95 ? 95 : pct;
	if (!m->throttle_pct)
		m->hart_idle_until = 0;
}

int machine_throttle(const struct machine *m)
{
	return m->throttle_pct;
}

int machine_devs_flush(struct machine *m, struct err *e)
{
	for (int i = 0; i < m->ndevs; i++)
		if (m->devs[i].flush && m->devs[i].flush(m->devs[i].opaque, e) < 0)
			return err_prefix(e, "%s", m->devs[i].name);
	return 0;
}

int machine_devs_release(struct machine *m, struct err *e)
{
	for (int i = 0; i < m->ndevs; i++) {
		if (!m->devs[i].release || m->devs[i].release(m->devs[i].opaque, e) == 0)
			continue;
		err_prefix(e, "%s", m->devs[i].name);
		/* Take back what was let go: the VM stays whole where it is. */
		for (int j = 0; j <= i; j++) {
			struct err e2 = { 0 };

			if (m->devs[j].release && m->devs[j].acquire &&
			    m->devs[j].acquire(m->devs[j].opaque, &e2) < 0)
				log_warn("%s: %s", m->devs[j].name, e2.msg);
		}
		return -1;
	}
	return 0;
}

int machine_devs_acquire(struct machine *m, struct err *e)
{
	for (int i = 0; i < m->ndevs; i++)
		if (m->devs[i].acquire && m->devs[i].acquire(m->devs[i].opaque, e) < 0)
			return err_prefix(e, "%s", m->devs[i].name);
	return 0;
}

void machine_devs_announce(struct machine *m)
{
	for (int i = 0; i < m->ndevs; i++)
		if (m->devs[i].announce)
			m->devs[i].announce(m->devs[i].opaque);
}

/* The index-th registered device of a kind, or NULL. */
static struct machine_dev *machine_dev_of(struct machine *m, enum machine_dev_kind kind, int index)
{
	for (int i = 0; i < m->ndevs; i++)
		if (m->devs[i].kind == kind && index-- == 0)
			return &m->devs[i];
	return NULL;
}

ssize_t machine_take_frame(struct machine *m, uint32_t *net, uint8_t *buf, size_t cap)
{
	struct machine_dev *d;

	for (uint32_t i = 0; (d = machine_dev_of(m, MACHINE_DEV_NET, (int)i)); i++) {
		ssize_t n = d->take_frame ? d->take_frame(d->opaque, buf, cap) : 0;

		if (n > 0) {
			*net = i;
			return n;
		}
	}
	return 0;
}

int machine_put_frame(struct machine *m, uint32_t net, const uint8_t *frame, size_t len)
{
	struct machine_dev *d =
	    net < MACHINE_MAX_DEVS ? machine_dev_of(m, MACHINE_DEV_NET, (int)net) : NULL;

	if (!d || !d->put_frame)
		return -1;
	return d->put_frame(d->opaque, frame, len) ? 1 : 0;
}

const uint8_t *machine_mac(struct machine *m, int i)
{
	struct machine_dev *d = machine_dev_of(m, MACHINE_DEV_NET, i);

	return d ? d->mac : NULL;
}

uint64_t machine_disk_capacity(struct machine *m, int i)
{
	struct machine_dev *d = machine_dev_of(m, MACHINE_DEV_DISK, i);

	return d && d->capacity ? *d->capacity : 0;
}

int machine_reset(struct machine *m, struct err *e)
{
	uint64_t now = gclock_ns(&m->clock);
	int rc;

	ram_clear(&m->ram);
	for (int i = 0; i < m->ndevs; i++)
		if (m->devs[i].reset)
			m->devs[i].reset(m->devs[i].opaque);
	if (!m->kernel_img) {
		machine_reset_harts(m, m->ram.base, 0);
		rc = 0;
	} else {
		rc = boot_place(m, e);
	}
	/* The hart's counters restart from zero; guest time goes on (the icount clock is
	 * derived from instructions retired, so it is set back to where it was). */
	gclock_set_ns(&m->clock, now);
	return rc;
}

static bool machine_bus_read(void *opaque, uint64_t pa, unsigned size, uint64_t *val)
{
	return machine_mmio_read(opaque, pa, size, val);
}

static bool machine_bus_write(void *opaque, uint64_t pa, unsigned size, uint64_t val)
{
	return machine_mmio_write(opaque, pa, size, val);
}

static uint64_t machine_bus_time(void *opaque)
{
	return machine_time(opaque);
}

static void machine_bus_ecall(void *opaque, struct cpu *c)
{
	sbi_ecall(opaque, c);
}

int machine_init(struct machine *m, const struct machine_config *cfg, struct err *e)
{
	memset(m, 0, sizeof(*m));
	m->cfg = *cfg;
	m->journal_fd = -1;
	m->bus = (struct cpu_bus){ machine_bus_read, machine_bus_write, machine_bus_time,
				   machine_bus_ecall, m };
	if (cfg->nnets > MACHINE_MAX_NETS || cfg->ndisks > MACHINE_MAX_DISKS)
		return err_set(e, "at most %d networks and %d disks", MACHINE_MAX_NETS,
			       MACHINE_MAX_DISKS);
	m->pause_at = UINT64_MAX;
	m->isa_offered = ISA_DEFAULT;
	if (cfg->isa && isa_parse(cfg->isa, &m->isa_offered, e) < 0)
		return -1;
	m->nharts = cfg->harts ? cfg->harts : 1;
	if (m->nharts > MACHINE_MAX_HARTS)
		return err_set(e, "%u harts: at most %d", m->nharts, MACHINE_MAX_HARTS);
	/* A snapshot or a migration may narrow it (snapshot.c). */
	for (unsigned i = 0; i < m->nharts; i++)
		m->harts[i].ext = m->isa_offered;
	if (cfg->mem_size < MACHINE_MIN_RAM || cfg->mem_size > MACHINE_MAX_RAM ||
	    cfg->mem_size % (1 << 20))
		return err_set(e, "memory size must be a whole number of MiB from %lluM to %lluG",
			       MACHINE_MIN_RAM >> 20, MACHINE_MAX_RAM >> 30);
	if (ram_init(&m->ram, MACHINE_RAM_BASE, cfg->mem_size, e) < 0)
		return -1;
	gclock_init(&m->clock, cfg->clock, MACHINE_TIMEBASE_HZ, &m->harts[0].instret);
	machine_reset_harts(m, m->ram.base, 0);
	if (cfg->kernel && boot_read_files(m, e) < 0)
		return -1;
	return 0;
}

int machine_boot(struct machine *m, struct err *e)
{
	const struct machine_config *cfg = &m->cfg;

	if (cfg->journal) {
		m->journal_fd = open(cfg->journal, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (m->journal_fd < 0)
			return err_errno(e, "cannot open journal '%s'", cfg->journal);
	}
	if (cfg->start_paused) {
		m->paused = true;
		gclock_freeze(&m->clock);
	}
	if (!cfg->kernel || cfg->restoring) {
		/* A bare machine (unit tests, or one about to load a snapshot): the hart starts at
		 * the base of RAM. */
		machine_reset_harts(m, m->ram.base, 0);
		return 0;
	}
	return boot_place(m, e);
}

void machine_destroy(struct machine *m)
{
	/* Devices first (a disk is flushed and closed), then the clients, last registered first:
	 * the ownership record is let go only once the disk is, and the devices' memory lives
	 * until every device has ended. */
	for (int i = m->ndevs - 1; i >= 0; i--)
		if (m->devs[i].destroy)
			m->devs[i].destroy(m->devs[i].opaque);
	m->ndevs = 0;
	while (m->nclients > 0) {
		struct machine_client c = m->clients[--m->nclients];

		if (c.destroy)
			c.destroy(c.opaque);
	}
	if (m->journal_fd >= 0)
		close(m->journal_fd);
	m->journal_fd = -1;
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
	if (m->wake_ns) {
		int64_t until = m->wake_ns - gclock_host_ns();

		if (until < 0)
			until = 0;
		if (timeout_ns < 0 || until < timeout_ns)
			timeout_ns = until;
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

static void machine_tick_clients(struct machine *m)
{
	for (int i = 0; i < m->nclients; i++)
		if (m->clients[i].tick)
			m->clients[i].tick(m->clients[i].opaque);
}

/* How many steps hart c may run before the loop must look again: to the pause point, and under
 * icount to the earliest timer deadline of any hart (time goes on while c runs, and each
 * deadline must land on the same instruction in every run). */
static uint64_t machine_slice(struct machine *m, const struct cpu *c)
{
	uint64_t slice = MACHINE_SLICE, done = machine_instret(m);

	(void)c;
	if (m->pause_at != UINT64_MAX && m->pause_at - done < slice)
		slice = m->pause_at - done;
	if (m->clock.mode == GCLOCK_ICOUNT)
		for (unsigned i = 0; i < m->nharts; i++) {
			const struct cpu *h = &m->harts[i];
			uint64_t until;

			if (h->hsm != HSM_STARTED || h->timecmp == UINT64_MAX)
				continue;
			until = gclock_insns_until(&m->clock, h->timecmp);
			if (until > 0 && until < slice)
				slice = until;
		}
	return slice;
}

/* Can hart c run now: started, and not waiting for an interrupt that has not come? */
static bool machine_hart_runnable(const struct cpu *c)
{
	return c->hsm == HSM_STARTED && (!c->wfi || cpu_irq_waiting(c));
}

/* The next hart to run, round-robin from m->next_hart, or NULL if none can. */
static struct cpu *machine_pick_hart(struct machine *m)
{
	for (unsigned k = 0; k < m->nharts; k++) {
		unsigned i = (m->next_hart + k) % m->nharts;

		if (machine_hart_runnable(&m->harts[i])) {
			m->next_hart = (i + 1) % m->nharts;
			return &m->harts[i];
		}
	}
	return NULL;
}

/* Run one slice of hart c. Under auto-converge the harts then sit out so that they get only
 * (100 - throttle)% of the time; the run loop keeps polling meanwhile, so the migration
 * engine (in this same thread) goes on sending while they wait. */
static void machine_slice_run(struct machine *m, struct cpu *c)
{
	int64_t t0 = m->throttle_pct ? gclock_host_ns() : 0;

	c->wfi = 0;
	/* Under icount the clock counts this hart's instructions now. */
	gclock_rebase(&m->clock, &c->instret);
	cpu_run(c, machine_slice(m, c));
	/* Any store of this slice may have been to another hart's reservation set: every other
	 * hart's reservation is broken (an SC may always fail; this one fails only when a
	 * slice of another hart came between its LR and its SC). */
	if (m->nharts > 1)
		for (unsigned i = 0; i < m->nharts; i++)
			if (&m->harts[i] != c)
				m->harts[i].lr_valid = 0;
	if (m->throttle_pct > 0 && m->throttle_pct < 100) {
		int64_t now = gclock_host_ns();

		m->hart_idle_until = now + (now - t0) * m->throttle_pct / (100 - m->throttle_pct);
	}
}

struct cpu *machine_run_slice(struct machine *m)
{
	struct cpu *c = machine_pick_hart(m);

	if (c)
		machine_slice_run(m, c);
	return c;
}

/* Every started hart is in WFI with nothing pending: wait for the earliest of their timers or
 * a descriptor. */
static void machine_wfi(struct machine *m)
{
	uint64_t deadline = UINT64_MAX;

	for (unsigned i = 0; i < m->nharts; i++)
		if (m->harts[i].hsm == HSM_STARTED && m->harts[i].timecmp < deadline)
			deadline = m->harts[i].timecmp;
	m->wfi_sleeps++;
	if (m->clock.mode == GCLOCK_ICOUNT) {
		/* Deterministic: time jumps to the deadline; only a descriptor can end an
		 * endless wait. */
		if (deadline != UINT64_MAX) {
			gclock_skip_to(&m->clock, deadline);
			machine_poll(m, 0);
		} else {
			machine_poll(m, -1);
		}
		machine_tick_clients(m);
		return;
	}
	machine_poll(m, deadline == UINT64_MAX ? -1 : gclock_ns_until(&m->clock, deadline));
	machine_tick_clients(m);
}

void machine_work_pending(struct machine *m)
{
	m->work_pending = true;
}

/* One bounded piece of the work the devices have left. */
static void machine_devs_work(struct machine *m)
{
	bool more = false;

	if (!m->work_pending)
		return;
	m->work_pending = false;
	for (int i = 0; i < m->ndevs; i++)
		if (m->devs[i].work && m->devs[i].work(m->devs[i].opaque))
			more = true;
	if (more)
		m->work_pending = true;
}

enum machine_exit machine_run(struct machine *m, struct err *e)
{

	machine_journal(m, m->paused ? "PAUSE" : "RUN", "start");
	while (m->exit == MACHINE_RUNNING) {
		if (m->reboot_requested) {
			m->reboot_requested = false;
			m->reboots++;
			log_info("guest requested a reboot");
			if (!m->kernel_img && m->cfg.restoring) {
				err_set(e, "the guest rebooted, but there is no --kernel to boot "
					   "it again");
				m->exit = MACHINE_ERROR;
				break;
			}
			if (machine_reset(m, e) < 0) {
				m->exit = MACHINE_ERROR;
				break;
			}
		}
		if (m->paused) {
			machine_poll(m, -1);
			machine_tick_clients(m);
			continue;
		}
		if (machine_instret(m) >= m->pause_at) {
			m->pause_at = UINT64_MAX;
			machine_pause(m, "instret");
			continue;
		}
		if (m->hart_idle_until) {
			int64_t left = m->hart_idle_until - gclock_host_ns();

			if (left > 0 && m->throttle_pct) {
				machine_poll(m, left);
				machine_tick_clients(m);
				continue;
			}
			m->hart_idle_until = 0;
		}
		m->turns++;
		machine_devs_work(m);
		machine_update_timer(m);
		bool started = false, runnable = false;

		for (unsigned i = 0; i < m->nharts; i++) {
			started |= m->harts[i].hsm == HSM_STARTED;
			runnable |= machine_hart_runnable(&m->harts[i]);
		}
		if (!runnable && m->work_pending) {
			/* Nothing to run, but a device is busy for the guest: no sleep. */
			machine_poll(m, 0);
			machine_tick_clients(m);
			continue;
		}
		if (!started) {
			/* Every hart stopped: nothing can run again but a quit. The clients still
			 * get their turn (a migration of the stopped VM goes on, the record's
			 * answers come in). */
			machine_poll(m, -1);
			machine_tick_clients(m);
			continue;
		}
		if (!runnable) {
			machine_wfi(m);
			continue;
		}
		machine_run_slice(m);
		machine_poll(m, 0);
		machine_tick_clients(m);
	}
	switch (m->exit) {
	case MACHINE_SHUTDOWN:
		machine_journal(m, "STOP", "shutdown");
		machine_emit(m, "SHUTDOWN", json_pack("{s:s}", "reason", "guest"));
		break;
	case MACHINE_QUIT:
		machine_journal(m, "STOP", "quit");
		machine_emit(m, "SHUTDOWN", json_pack("{s:s}", "reason", "host"));
		break;
	case MACHINE_MIGRATED:
		machine_journal(m, "STOP", "migrated");
		machine_emit(m, "SHUTDOWN", json_pack("{s:s}", "reason", "migrated"));
		break;
	case MACHINE_SAVED:
		machine_journal(m, "STOP", "saved");
		machine_emit(m, "SHUTDOWN", json_pack("{s:s}", "reason", "saved"));
		break;
	default:
		machine_journal(m, "STOP", "error");
		break;
	}
	return m->exit;
}
