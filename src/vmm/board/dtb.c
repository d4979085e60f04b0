/* dtb.c - build the device tree for the board and its registered devices. */
#include "vmm/board/dtb.h"

#include <libfdt.h>
#include <stdio.h>
#include <string.h>

#include "vmm/board/machine.h"
#include "vmm/core/isa.h"

int dtb_reg(void *fdt, uint64_t base, uint64_t size)
{
	fdt64_t reg[2] = { cpu_to_fdt64(base), cpu_to_fdt64(size) };

	return fdt_property(fdt, "reg", reg, sizeof(reg));
}

static int dtb_u64(void *fdt, const char *name, uint64_t v)
{
	fdt64_t be = cpu_to_fdt64(v);

	return fdt_property(fdt, name, &be, sizeof(be));
}

/* A string-list property from NUL-separated strings of total length len. */
static int dtb_strings(void *fdt, const char *name, const char *s, size_t len)
{
	return fdt_property(fdt, name, s, (int)len);
}

static int dtb_cpus(struct machine *m, void *fdt)
{
	char name[32], isa[ISA_STR_MAX], exts[ISA_STR_MAX];
	size_t nexts = isa_extensions(m->harts[0].ext, exts);

	isa_string(m->harts[0].ext, isa);
	DTB_CHECK(fdt_begin_node(fdt, "cpus"));
	DTB_CHECK(fdt_property_u32(fdt, "#address-cells", 1));
	DTB_CHECK(fdt_property_u32(fdt, "#size-cells", 0));
	DTB_CHECK(fdt_property_u32(fdt, "timebase-frequency", (uint32_t)MACHINE_TIMEBASE_HZ));
	for (unsigned hart = 0; hart < m->nharts; hart++) {
		snprintf(name, sizeof(name), "cpu@%u", hart);
		DTB_CHECK(fdt_begin_node(fdt, name));
		DTB_CHECK(fdt_property_string(fdt, "device_type", "cpu"));
		DTB_CHECK(fdt_property_u32(fdt, "reg", hart));
		DTB_CHECK(fdt_property_string(fdt, "status", "okay"));
		DTB_CHECK(fdt_property_string(fdt, "compatible", "riscv"));
		DTB_CHECK(fdt_property_string(fdt, "riscv,isa", isa));
		DTB_CHECK(fdt_property_string(fdt, "riscv,isa-base", ISA_BASE));
		DTB_CHECK(dtb_strings(fdt, "riscv,isa-extensions", exts, nexts));
		DTB_CHECK(fdt_property_string(fdt, "mmu-type", "riscv," ISA_MMU));
		DTB_CHECK(fdt_begin_node(fdt, "interrupt-controller"));
		DTB_CHECK(fdt_property_u32(fdt, "#interrupt-cells", 1));
		DTB_CHECK(fdt_property(fdt, "interrupt-controller", NULL, 0));
		DTB_CHECK(fdt_property_string(fdt, "compatible", "riscv,cpu-intc"));
		DTB_CHECK(fdt_property_u32(fdt, "phandle", DTB_PHANDLE_CPU_INTC(hart)));
		DTB_CHECK(fdt_end_node(fdt));
		DTB_CHECK(fdt_end_node(fdt));
	}
	DTB_CHECK(fdt_end_node(fdt));
	return 0;
}

static int dtb_tree(struct machine *m, void *fdt)
{
	static const char compat[] = "ferry,virt\0riscv-virtio";
	char name[48];

	DTB_CHECK(fdt_finish_reservemap(fdt));
	DTB_CHECK(fdt_begin_node(fdt, ""));
	DTB_CHECK(fdt_property_u32(fdt, "#address-cells", 2));
	DTB_CHECK(fdt_property_u32(fdt, "#size-cells", 2));
	DTB_CHECK(dtb_strings(fdt, "compatible", compat, sizeof(compat)));
	DTB_CHECK(fdt_property_string(fdt, "model", "Ferry RISC-V virtual machine"));

	DTB_CHECK(fdt_begin_node(fdt, "chosen"));
	DTB_CHECK(fdt_property_string(fdt, "bootargs", m->cfg.append ? m->cfg.append : ""));
	snprintf(name, sizeof(name), "/soc/serial@%llx", (unsigned long long)MACHINE_UART_BASE);
	DTB_CHECK(fdt_property_string(fdt, "stdout-path", name));
	if (m->initrd_end > m->initrd_start) {
		DTB_CHECK(dtb_u64(fdt, "linux,initrd-start", m->initrd_start));
		DTB_CHECK(dtb_u64(fdt, "linux,initrd-end", m->initrd_end));
	}
	DTB_CHECK(fdt_end_node(fdt));

	snprintf(name, sizeof(name), "memory@%llx", (unsigned long long)m->ram.base);
	DTB_CHECK(fdt_begin_node(fdt, name));
	DTB_CHECK(fdt_property_string(fdt, "device_type", "memory"));
	DTB_CHECK(dtb_reg(fdt, m->ram.base, m->ram.size));
	DTB_CHECK(fdt_end_node(fdt));

	DTB_CHECK(dtb_cpus(m, fdt));

	DTB_CHECK(fdt_begin_node(fdt, "soc"));
	DTB_CHECK(fdt_property_u32(fdt, "#address-cells", 2));
	DTB_CHECK(fdt_property_u32(fdt, "#size-cells", 2));
	DTB_CHECK(fdt_property_string(fdt, "compatible", "simple-bus"));
	DTB_CHECK(fdt_property(fdt, "ranges", NULL, 0));
	for (int i = 0; i < m->ndevs; i++)
		if (m->devs[i].fdt)
			DTB_CHECK(m->devs[i].fdt(m->devs[i].opaque, m, fdt));
	DTB_CHECK(fdt_end_node(fdt));

	DTB_CHECK(fdt_end_node(fdt));
	DTB_CHECK(fdt_finish(fdt));
	return 0;
}

int dtb_build(struct machine *m, void *buf, size_t bufsize, struct err *e)
{
	int rc = fdt_create(buf, (int)bufsize);

	if (rc == 0)
		rc = dtb_tree(m, buf);
	if (rc < 0)
		return err_set(e, "building the device tree: %s", fdt_strerror(rc));
	return (int)fdt_totalsize(buf);
}
