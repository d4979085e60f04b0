/* sbi.c - SBI calls from the guest kernel, served by the VMM.
 *
 * The hart masks of IPI and RFENCE are checked first (an id that does not
 * exist is SBI_ERR_INVALID_PARAM, and then nothing is done), then act on
 * every hart they name. The harts run one at a time on one thread, so the
 * others are between slices: an IPI sets their SSIP, a remote fence empties
 * their TLB at once, and both are complete when the call returns. A remote
 * fence flushes the whole TLB: cheaper than being clever, and always correct.
 * A call that makes work for another hart (an IPI, a fence, a hart_start) ends
 * the caller's slice, so the other hart gets its turn soon.
 */
#include "vmm/board/sbi.h"

#include "vmm/core/cpu.h"
#include "vmm/board/machine.h"

#define A0 10
#define A1 11
#define A6 16
#define A7 17

struct sbi_ret {
	int64_t error;
	uint64_t value;
};

static struct sbi_ret sbi_ok(uint64_t value)
{
	return (struct sbi_ret){ SBI_SUCCESS, value };
}

static struct sbi_ret sbi_err(int64_t error)
{
	return (struct sbi_ret){ error, 0 };
}

static bool sbi_has_ext(uint64_t eid)
{
	switch (eid) {
	case SBI_EXT_LEGACY_SET_TIMER:
	case SBI_EXT_LEGACY_PUTCHAR:
	case SBI_EXT_LEGACY_GETCHAR:
	case SBI_EXT_LEGACY_CLEAR_IPI:
	case SBI_EXT_LEGACY_SHUTDOWN:
	case SBI_EXT_BASE:
	case SBI_EXT_TIME:
	case SBI_EXT_IPI:
	case SBI_EXT_RFENCE:
	case SBI_EXT_HSM:
	case SBI_EXT_SRST:
		return true;
	default:
		return false;
	}
}

/* The machine whose hart this is: the board made the hart's bus with itself as opaque. */
static struct machine *sbi_machine(struct cpu *c)
{
	return c->bus->opaque;
}

/* The harts a (hart_mask, hart_mask_base) pair names, as a bit set of hart ids; false if it
 * names one that does not exist. */
static bool sbi_hart_mask(struct cpu *c, uint64_t mask, uint64_t base, uint32_t *set)
{
	const uint64_t nharts = sbi_machine(c)->nharts;

	*set = 0;
	if (base == UINT64_MAX) { /* every hart */
		*set = (uint32_t)((1ull << nharts) - 1);
		return true;
	}
	for (unsigned bit = 0; bit < 64; bit++) {
		if (!((mask >> bit) & 1))
			continue;
		if (base + bit < base || base + bit >= nharts)
			return false;
		*set |= 1u << (base + bit);
	}
	return true;
}

/* Do what an IPI (fid -1) or a remote fence (fid 0..2) asks of each hart in set. */
static void sbi_remote(struct cpu *c, uint32_t set, int fid)
{
	struct machine *m = sbi_machine(c);

	for (unsigned i = 0; i < m->nharts; i++) {
		struct cpu *h = &m->harts[i];

		if (!((set >> i) & 1))
			continue;
		if (fid < 0)
			cpu_set_irq(h, SIP_SSIP, true);
		else if (fid != 0) /* FENCE.I needs nothing: the decode cache follows every write */
			cpu_tlb_flush(h);
		if (h != c)
			c->stop = true;
	}
}

static void sbi_set_timer(struct cpu *c, uint64_t when)
{
	c->timecmp = when;
	machine_update_timer(sbi_machine(c));
}

static struct sbi_ret sbi_base(struct cpu *c, uint64_t fid)
{
	switch (fid) {
	case 0:
		return sbi_ok(SBI_SPEC_VERSION);
	case 1:
		return sbi_ok(SBI_IMPL_ID_FERRY);
	case 2:
		return sbi_ok(SBI_IMPL_VERSION);
	case 3:
		return sbi_ok(sbi_has_ext(c->x[A0]) ? 1 : 0);
	case 4: /* mvendorid, marchid, mimpid: not a real vendor's hart */
	case 5:
	case 6:
		return sbi_ok(0);
	default:
		return sbi_err(SBI_ERR_NOT_SUPPORTED);
	}
}

static struct sbi_ret sbi_hsm(struct cpu *c, uint64_t fid)
{
	struct machine *m = sbi_machine(c);
	uint64_t hartid = c->x[A0];
	struct cpu *h = machine_hart(m, hartid);

	switch (fid) {
	case 0: /* hart_start(hartid, start_addr, opaque) */
		if (!h)
			return sbi_err(SBI_ERR_INVALID_PARAM);
		if (h->hsm != HSM_STOPPED)
			return sbi_err(SBI_ERR_ALREADY_AVAILABLE);
		if (!ram_contains(&m->ram, c->x[A1], 4) || (c->x[A1] & 1))
			return sbi_err(SBI_ERR_INVALID_ADDRESS);
		cpu_hart_start(h, c->x[A1], c->x[A1 + 1]);
		c->stop = true;
		return sbi_ok(0);
	case 1: /* hart_stop: the caller stops; only a hart_start could wake it */
		c->hsm = HSM_STOPPED;
		c->stop = true;
		return sbi_ok(0);
	case 2: /* hart_get_status */
		if (!h)
			return sbi_err(SBI_ERR_INVALID_PARAM);
		return sbi_ok(h->hsm);
	case 3: { /* hart_suspend: the default retentive type behaves as WFI */
		uint32_t type = (uint32_t)c->x[A0];

		if ((type > 0 && type < 0x10000000u) || (type > 0x80000000u && type < 0x90000000u))
			return sbi_err(SBI_ERR_INVALID_PARAM); /* reserved types */
		if (type != 0)
			return sbi_err(SBI_ERR_NOT_SUPPORTED); /* valid, not implemented */
		if (!cpu_irq_waiting(c)) {
			c->wfi = 1;
			c->stop = true;
		}
		return sbi_ok(0);
	}
	default:
		return sbi_err(SBI_ERR_NOT_SUPPORTED);
	}
}

static struct sbi_ret sbi_srst(struct cpu *c, uint64_t fid)
{
	uint32_t type = (uint32_t)c->x[A0], reason = (uint32_t)c->x[A1];

	if (fid != 0)
		return sbi_err(SBI_ERR_NOT_SUPPORTED);
	/* Reserved types and reasons, and the platform-specific ones (none implemented). */
	if (type > 2 || reason > 1)
		return sbi_err(SBI_ERR_INVALID_PARAM);
	if (type == 0)
		machine_request_shutdown(sbi_machine(c));
	else
		machine_request_reboot(sbi_machine(c));
	c->stop = true;
	return sbi_ok(0);
}

void sbi_ecall(struct machine *m, struct cpu *c)
{
	uint64_t eid = c->x[A7], fid = c->x[A6];
	struct sbi_ret r;
	uint32_t set;

	switch (eid) {
	case SBI_EXT_LEGACY_SET_TIMER:
		sbi_set_timer(c, c->x[A0]);
		c->x[A0] = 0;
		return;
	case SBI_EXT_LEGACY_PUTCHAR: {
		uint8_t ch = (uint8_t)c->x[A0];

		machine_console_write(m, &ch, 1);
		c->x[A0] = 0;
		return;
	}
	case SBI_EXT_LEGACY_GETCHAR:
		c->x[A0] = (uint64_t)(int64_t)machine_console_getc(m);
		return;
	case SBI_EXT_LEGACY_CLEAR_IPI:
		cpu_set_irq(c, SIP_SSIP, false);
		c->x[A0] = 0;
		return;
	case SBI_EXT_LEGACY_SHUTDOWN:
		machine_request_shutdown(sbi_machine(c));
		c->stop = true;
		c->x[A0] = 0;
		return;
	case SBI_EXT_BASE:
		r = sbi_base(c, fid);
		break;
	case SBI_EXT_TIME:
		if (fid == 0) {
			sbi_set_timer(c, c->x[A0]);
			r = sbi_ok(0);
		} else {
			r = sbi_err(SBI_ERR_NOT_SUPPORTED);
		}
		break;
	case SBI_EXT_IPI:
		if (fid != 0) {
			r = sbi_err(SBI_ERR_NOT_SUPPORTED);
		} else if (!sbi_hart_mask(c, c->x[A0], c->x[A1], &set)) {
			r = sbi_err(SBI_ERR_INVALID_PARAM);
		} else {
			sbi_remote(c, set, -1);
			r = sbi_ok(0);
		}
		break;
	case SBI_EXT_RFENCE:
		if (fid > 2) {
			r = sbi_err(
			    SBI_ERR_NOT_SUPPORTED); /* the HFENCE calls need the H extension */
		} else if (!sbi_hart_mask(c, c->x[A0], c->x[A1], &set)) {
			r = sbi_err(SBI_ERR_INVALID_PARAM);
		} else {
			sbi_remote(c, set, (int)fid);
			r = sbi_ok(0);
		}
		break;
	case SBI_EXT_HSM:
		r = sbi_hsm(c, fid);
		break;
	case SBI_EXT_SRST:
		r = sbi_srst(c, fid);
		break;
	default:
		if (eid <= 0x0f) {
			/* The legacy range (send_ipi, the remote fences, reserved ids): the legacy
			 * convention returns in a0 only and preserves every other register. */
			c->x[A0] = (uint64_t)SBI_ERR_NOT_SUPPORTED;
			return;
		}
		r = sbi_err(SBI_ERR_NOT_SUPPORTED);
		break;
	}
	c->x[A0] = (uint64_t)r.error;
	c->x[A1] = r.value;
}
