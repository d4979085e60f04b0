/* plic.c - Platform-Level Interrupt Controller.
 *
 * Register map (the PLIC spec, "Memory Map"):
 *   0x000000 + 4*id      priority of source id
 *   0x001000             pending bits (read-only)
 *   0x002000 + 0x80*ctx  enable bits of a context
 *   0x200000 + 0x1000*ctx  priority threshold; +4 claim/complete
 * Only 32-bit accesses are decoded.
 */
#include "vmm/devices/plic.h"

#include <libfdt.h>
#include <stdio.h>
#include <string.h>

#include "vmm/core/cpu.h"
#include "vmm/board/dtb.h"
#include "vmm/board/machine.h"

#define PLIC_PRIO_MASK 7u	 /* 3 priority bits, as QEMU's virt */
#define PLIC_VALID_SOURCES (~1u) /* sources 1..31 */

/* The source a context would get on a claim: highest priority above threshold, lowest id on a
 * tie; 0 if none. */
static unsigned plic_best(const struct plic *p, unsigned ctx)
{
	uint32_t cand = p->pending & p->enable[ctx] & ~p->claimed & PLIC_VALID_SOURCES;
	unsigned best = 0;
	uint32_t best_prio = p->threshold[ctx];

	while (cand) {
		unsigned id = (unsigned)__builtin_ctz(cand);

		cand &= cand - 1;
		if (p->priority[id] > best_prio) {
			best_prio = p->priority[id];
			best = id;
		}
	}
	return best;
}

static void plic_update(struct plic *p)
{
	for (unsigned ctx = 0; ctx < p->ncontexts; ctx++)
		if (p->harts[ctx])
			cpu_set_irq(p->harts[ctx], SIP_SEIP, plic_best(p, ctx) != 0);
}

void plic_set_level(struct plic *p, unsigned source, bool level)
{
	uint32_t bit = 1u << source;

	if (source == 0 || source >= PLIC_SOURCES)
		return;
	if (level) {
		p->level |= bit;
		p->pending |= bit;
	} else {
		p->level &= ~bit;
		p->pending &= ~bit;
	}
	plic_update(p);
}

static bool plic_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	struct plic *p = opaque;

	if (size != 4 || (off & 3))
		return false;
	if (off < 0x1000) {
		uint64_t id = off / 4;

		*val = id < PLIC_SOURCES ? p->priority[id] : 0;
		return true;
	}
	if (off == 0x1000) {
		*val = p->pending & PLIC_VALID_SOURCES;
		return true;
	}
	if (off >= 0x2000 && off < 0x200000) {
		uint64_t ctx = (off - 0x2000) / 0x80, word = (off - 0x2000) % 0x80 / 4;

		*val = (ctx < p->ncontexts && word == 0) ? p->enable[ctx] : 0;
		return true;
	}
	if (off >= 0x200000) {
		uint64_t ctx = (off - 0x200000) / 0x1000, reg = (off - 0x200000) % 0x1000;

		if (ctx >= p->ncontexts) {
			*val = 0;
			return true;
		}
		if (reg == 0) {
			*val = p->threshold[ctx];
		} else if (reg == 4) { /* claim */
			unsigned id = plic_best(p, (unsigned)ctx);

			if (id) {
				p->pending &= ~(1u << id);
				p->claimed |= 1u << id;
			}
			*val = id;
			plic_update(p);
		} else {
			*val = 0;
		}
		return true;
	}
	*val = 0;
	return true;
}

static bool plic_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct plic *p = opaque;
	uint32_t v = (uint32_t)val;

	if (size != 4 || (off & 3))
		return false;
	if (off < 0x1000) {
		uint64_t id = off / 4;

		if (id > 0 && id < PLIC_SOURCES)
			p->priority[id] = v & PLIC_PRIO_MASK;
	} else if (off >= 0x2000 && off < 0x200000) {
		uint64_t ctx = (off - 0x2000) / 0x80, word = (off - 0x2000) % 0x80 / 4;

		if (ctx < p->ncontexts && word == 0)
			p->enable[ctx] = v & PLIC_VALID_SOURCES;
	} else if (off >= 0x200000) {
		uint64_t ctx = (off - 0x200000) / 0x1000, reg = (off - 0x200000) % 0x1000;

		if (ctx < p->ncontexts) {
			if (reg == 0) {
				p->threshold[ctx] = v & PLIC_PRIO_MASK;
			} else if (reg == 4 && v > 0 && v < PLIC_SOURCES) {
				/* complete: ignored for a source the context has not enabled */
				uint32_t bit = 1u << v;

				if (p->enable[ctx] & bit) {
					p->claimed &= ~bit;
					if (p->level & bit)
						p->pending |=
						    bit; /* still asserted: pending again */
				}
			}
		}
	}
	/* Writes to the pending bits and to holes are ignored. */
	plic_update(p);
	return true;
}

static int plic_post_load(void *obj, struct err *e)
{
	struct plic *p = obj;
	uint32_t bad = (p->pending | p->level | p->claimed) & ~PLIC_VALID_SOURCES;

	for (unsigned ctx = 0; ctx < PLIC_MAX_CONTEXTS; ctx++) {
		bad |= p->enable[ctx] & ~PLIC_VALID_SOURCES;
		if (ctx >= p->ncontexts && (p->enable[ctx] || p->threshold[ctx]))
			return err_set(e, "context %u is set but this machine has %u", ctx,
				       p->ncontexts);
	}
	if (bad)
		return err_set(e, "bits set for source 0, which does not exist");
	plic_update(p);
	return 0;
}

static const struct state_field plic_fields[] = {
	STATE_ARRAY_MAX(struct plic, priority, PLIC_PRIO_MASK),
	STATE_FIELD(struct plic, pending),
	STATE_FIELD(struct plic, level),
	STATE_FIELD(struct plic, claimed),
	STATE_ARRAY(struct plic, enable),
	STATE_ARRAY_MAX(struct plic, threshold, PLIC_PRIO_MASK),
};

const struct state_desc plic_state = {
	.name = "plic",
	.version = 1,
	.fields = plic_fields,
	.nfields = STATE_NFIELDS(plic_fields),
	.post_load = plic_post_load,
};

static const struct mmio_ops plic_ops = { .read = plic_read, .write = plic_write };

static int plic_fdt(void *opaque, struct machine *m, void *fdt)
{
	struct plic *p = opaque;
	uint32_t ext[2 * PLIC_MAX_CONTEXTS];
	char name[32];

	(void)m;
	for (unsigned i = 0; i < p->ncontexts; i++) {
		ext[2 * i] = cpu_to_fdt32(DTB_PHANDLE_CPU_INTC(i));
		ext[2 * i + 1] = cpu_to_fdt32(IRQ_SEI);
	}
	snprintf(name, sizeof(name), "plic@%llx", (unsigned long long)MACHINE_PLIC_BASE);
	DTB_CHECK(fdt_begin_node(fdt, name));
	static const char compat[] = "sifive,plic-1.0.0\0riscv,plic0";

	DTB_CHECK(fdt_property(fdt, "compatible", compat, sizeof(compat)));
	DTB_CHECK(fdt_property_u32(fdt, "#address-cells", 0));
	DTB_CHECK(fdt_property_u32(fdt, "#interrupt-cells", 1));
	DTB_CHECK(fdt_property(fdt, "interrupt-controller", NULL, 0));
	DTB_CHECK(dtb_reg(fdt, MACHINE_PLIC_BASE, PLIC_SIZE));
	DTB_CHECK(fdt_property(fdt, "interrupts-extended", ext, (int)(8 * p->ncontexts)));
	DTB_CHECK(fdt_property_u32(fdt, "riscv,ndev", PLIC_SOURCES - 1));
	DTB_CHECK(fdt_property_u32(fdt, "phandle", DTB_PHANDLE_PLIC));
	DTB_CHECK(fdt_end_node(fdt));
	return 0;
}

static void plic_reset(void *opaque)
{
	struct plic *p = opaque;

	memset(p->priority, 0, sizeof(p->priority));
	memset(p->enable, 0, sizeof(p->enable));
	memset(p->threshold, 0, sizeof(p->threshold));
	p->pending = p->level & PLIC_VALID_SOURCES;
	p->claimed = 0;
	plic_update(p);
}

static void plic_irq(void *opaque, unsigned irq, bool level)
{
	plic_set_level(opaque, irq, level);
}

int plic_init(struct plic *p, struct machine *m, uint64_t base, unsigned nharts, struct err *e)
{
	struct machine_dev dev = {
		.name = "plic",
		.opaque = p,
		.fdt = plic_fdt,
		.reset = plic_reset,
		.state = &plic_state,
	};

	memset(p, 0, sizeof(*p));
	if (nharts == 0 || nharts > PLIC_MAX_CONTEXTS)
		return err_set(e, "plic: %u harts, at most %d supported", nharts,
			       PLIC_MAX_CONTEXTS);
	p->ncontexts = nharts;
	for (unsigned i = 0; i < nharts; i++)
		p->harts[i] = &m->harts[i];
	if (machine_add_region(m, "plic", base, PLIC_SIZE, &plic_ops, p, e) < 0)
		return -1;
	machine_set_irqchip(m, &(struct machine_irqchip){ plic_irq, p });
	return machine_add_dev(m, &dev, e);
}
