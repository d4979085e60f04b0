/* test_smp.c - several harts on one machine: SBI HSM, IPI and remote fences between them, the
 * PLIC's and the timer's per-hart lines, the round-robin's slices, and what stays coherent when
 * one hart's slice follows another's: LR/SC reservations, the shared decode cache, the write
 * TLBs against the dirty bitmap, the icount clock, and the harts in a snapshot.
 */
#include "harness.h"

#include <libfdt.h>
#include <stdio.h>
#include <unistd.h>

#include "vmm/board/dtb.h"
#include "vmm/board/sbi.h"
#include "vmm/state/snapshot.h"

#define NH 4
#define HART_CODE(h) (TH_CODE + 0x1000 * (uint64_t)(h)) /* a code page per hart */

struct ret {
	int64_t error;
	uint64_t value;
};

static struct machine *smp_setup(unsigned n)
{
	struct machine *m = th_machine_harts(0, n);

	for (unsigned i = 0; i < n; i++) {
		m->harts[i].stvec = TH_TRAP;
		m->harts[i].scause = TH_NO_TRAP;
	}
	return m;
}

/* Hart h makes one SBI call (its ECALL alone, at the end of its code page). */
static struct ret call_on(struct machine *m, unsigned h, uint64_t eid, uint64_t fid, uint64_t a0,
			  uint64_t a1, uint64_t a2)
{
	const uint32_t ecall = ECALL();
	struct cpu *c = &m->harts[h];

	ram_write(&m->ram, HART_CODE(h) + 0xf00, &ecall, 4);
	c->pc = HART_CODE(h) + 0xf00;
	c->stvec = TH_TRAP;
	c->scause = TH_NO_TRAP;
	c->x[A7] = eid;
	c->x[A6] = fid;
	c->x[A0] = a0;
	c->x[A1] = a1;
	c->x[A2] = a2;
	assert_int_equal(cpu_run(c, 1), 1);
	assert_int_equal(c->scause, TH_NO_TRAP);
	return (struct ret){ (int64_t)c->x[A0], c->x[A1] };
}

/* Hart h runs the instructions at gpa, n steps. */
static void run_on(struct machine *m, unsigned h, uint64_t gpa, uint64_t n)
{
	m->harts[h].pc = gpa;
	assert_int_equal(cpu_run(&m->harts[h], n), n);
}

static void test_boot_state(void **state)
{
	struct machine *m = smp_setup(NH);

	(void)state;
	assert_int_equal(m->nharts, NH);
	for (unsigned i = 0; i < NH; i++) {
		assert_int_equal(m->harts[i].hartid, i);
		assert_int_equal(m->harts[i].x[A0], i);
		assert_int_equal(m->harts[i].hsm, i == 0 ? HSM_STARTED : HSM_STOPPED);
		assert_int_equal(m->harts[i].ext, m->harts[0].ext);
	}
	/* a stopped hart does not run */
	assert_int_equal(cpu_run(&m->harts[1], 10), 0);
	th_free(m);

	/* more harts than a machine may have */
	struct machine_config cfg = { .mem_size = 16 << 20, .harts = MACHINE_MAX_HARTS + 1 };
	static struct machine big;
	struct err e;

	assert_int_equal(machine_init(&big, &cfg, &e), -1);
	assert_non_null(strstr(e.msg, "at most 8"));
}

static void test_device_tree(void **state)
{
	struct machine *m = smp_setup(NH);
	static uint8_t fdt[65536];
	struct err e;
	char path[32];
	int len, plic;

	(void)state;
	assert_true(dtb_build(m, fdt, sizeof(fdt), &e) > 0);
	for (unsigned i = 0; i < NH; i++) {
		snprintf(path, sizeof(path), "/cpus/cpu@%u", i);
		int off = fdt_path_offset(fdt, path);

		assert_true(off >= 0);
		assert_string_equal(fdt_getprop(fdt, off, "status", NULL), "okay");
		assert_int_equal(fdt32_to_cpu(*(const fdt32_t *)fdt_getprop(fdt, off, "reg", NULL)),
				 i);
		assert_true(fdt_subnode_offset(fdt, off, "interrupt-controller") >= 0);
	}
	assert_true(fdt_path_offset(fdt, "/cpus/cpu@4") < 0);
	plic = fdt_node_offset_by_compatible(fdt, -1, "riscv,plic0");
	assert_true(plic >= 0);
	/* an S-mode context per hart: <&cpuN-intc 9> */
	const fdt32_t *ext = fdt_getprop(fdt, plic, "interrupts-extended", &len);

	assert_int_equal(len, 8 * NH);
	for (unsigned i = 0; i < NH; i++) {
		assert_int_equal(fdt32_to_cpu(ext[2 * i]), DTB_PHANDLE_CPU_INTC(i));
		assert_int_equal(fdt32_to_cpu(ext[2 * i + 1]), IRQ_SEI);
	}
	th_free(m);
}

static void test_hsm(void **state)
{
	struct machine *m = smp_setup(NH);
	const uint64_t start = HART_CODE(1) + 0x100;
	struct cpu *h1 = &m->harts[1];
	struct ret r;

	(void)state;
	h1->satp = 0x1234;				     /* left over from before it stopped */
	r = call_on(m, 0, SBI_EXT_HSM, 0, 1, start, 0xabcd); /* hart_start(1, start, opaque) */
	assert_int_equal(r.error, 0);
	assert_int_equal(h1->hsm, HSM_STARTED);
	assert_int_equal(h1->pc, start);
	assert_int_equal(h1->x[A0], 1);
	assert_int_equal(h1->x[A1], 0xabcd);
	assert_int_equal(h1->satp, 0);
	assert_int_equal(h1->priv, PRIV_S);
	assert_false(h1->sstatus & SSTATUS_SIE);
	r = call_on(m, 0, SBI_EXT_HSM, 0, 1, start, 0);
	assert_int_equal(r.error, SBI_ERR_ALREADY_AVAILABLE);
	r = call_on(m, 0, SBI_EXT_HSM, 2, 1, 0, 0); /* hart_get_status */
	assert_int_equal(r.error, 0);
	assert_int_equal(r.value, HSM_STARTED);
	r = call_on(m, 0, SBI_EXT_HSM, 2, 2, 0, 0);
	assert_int_equal(r.value, HSM_STOPPED);
	r = call_on(m, 0, SBI_EXT_HSM, 2, NH, 0, 0);
	assert_int_equal(r.error, SBI_ERR_INVALID_PARAM);
	r = call_on(m, 0, SBI_EXT_HSM, 0, NH, start, 0);
	assert_int_equal(r.error, SBI_ERR_INVALID_PARAM);
	/* a start address outside RAM, or misaligned: the hart stays stopped */
	r = call_on(m, 0, SBI_EXT_HSM, 0, 2, 0x1000, 0);
	assert_int_equal(r.error, SBI_ERR_INVALID_ADDRESS);
	r = call_on(m, 0, SBI_EXT_HSM, 0, 2, start + 1, 0);
	assert_int_equal(r.error, SBI_ERR_INVALID_ADDRESS);
	assert_int_equal(m->harts[2].hsm, HSM_STOPPED);
	/* hart 1 stops itself; hart 0 sees it stopped, and can start it again */
	r = call_on(m, 1, SBI_EXT_HSM, 1, 0, 0, 0);
	assert_int_equal(r.error, 0);
	assert_int_equal(h1->hsm, HSM_STOPPED);
	assert_int_equal(cpu_run(h1, 10), 0);
	r = call_on(m, 0, SBI_EXT_HSM, 2, 1, 0, 0);
	assert_int_equal(r.value, HSM_STOPPED);
	r = call_on(m, 0, SBI_EXT_HSM, 0, 1, start, 7);
	assert_int_equal(r.error, 0);
	assert_int_equal(h1->x[A1], 7);
	/* the caller's slice ends after a hart_start: the new hart gets its turn */
	{
		const uint32_t code[] = { ECALL(), ADDI(A2, A2, 1), ADDI(A2, A2, 1) };
		struct cpu *h0 = &m->harts[0];

		ram_write(&m->ram, HART_CODE(0), code, sizeof(code));
		h0->pc = HART_CODE(0);
		h0->x[A7] = SBI_EXT_HSM;
		h0->x[A6] = 0;
		h0->x[A0] = 2;
		h0->x[A1] = start;
		h0->x[A2] = 0;
		assert_int_equal(cpu_run(h0, 10), 1);
		assert_int_equal(h0->x[A0], 0);
		assert_int_equal(m->harts[2].hsm, HSM_STARTED);
	}
	th_free(m);
}

static void test_ipi(void **state)
{
	struct machine *m = smp_setup(NH);
	struct ret r;

	(void)state;
	r = call_on(m, 0, SBI_EXT_IPI, 0, 0x6, 0, 0); /* harts 1 and 2 */
	assert_int_equal(r.error, 0);
	for (unsigned i = 0; i < NH; i++)
		assert_int_equal(!!(m->harts[i].sip & SIP_SSIP), i == 1 || i == 2);
	for (unsigned i = 0; i < NH; i++)
		cpu_set_irq(&m->harts[i], SIP_SSIP, false);
	r = call_on(m, 0, SBI_EXT_IPI, 0, 1, 3, 0); /* base 3: hart 3 */
	assert_int_equal(r.error, 0);
	assert_true(m->harts[3].sip & SIP_SSIP);
	assert_false(m->harts[0].sip & SIP_SSIP);
	cpu_set_irq(&m->harts[3], SIP_SSIP, false);
	r = call_on(m, 0, SBI_EXT_IPI, 0, 0, UINT64_MAX, 0); /* every hart */
	for (unsigned i = 0; i < NH; i++) {
		assert_true(m->harts[i].sip & SIP_SSIP);
		cpu_set_irq(&m->harts[i], SIP_SSIP, false);
	}
	/* a mask naming a hart that does not exist: an error, and nobody is interrupted */
	r = call_on(m, 0, SBI_EXT_IPI, 0, 0x12, 0, 0);
	assert_int_equal(r.error, SBI_ERR_INVALID_PARAM);
	r = call_on(m, 0, SBI_EXT_IPI, 0, 1, NH, 0);
	assert_int_equal(r.error, SBI_ERR_INVALID_PARAM);
	for (unsigned i = 0; i < NH; i++)
		assert_false(m->harts[i].sip & SIP_SSIP);
	/* an IPI to another hart ends the sender's slice */
	{
		const uint32_t code[] = { ECALL(), ADDI(A2, A2, 1) };
		struct cpu *h0 = &m->harts[0];

		ram_write(&m->ram, HART_CODE(0), code, sizeof(code));
		h0->pc = HART_CODE(0);
		h0->x[A7] = SBI_EXT_IPI;
		h0->x[A6] = 0;
		h0->x[A0] = 0x2;
		h0->x[A1] = 0;
		assert_int_equal(cpu_run(h0, 10), 1);
		assert_true(m->harts[1].sip & SIP_SSIP);
	}
	th_free(m);
}

static void test_remote_sfence(void **state)
{
	struct machine *m = smp_setup(2);
	struct cpu *h1 = &m->harts[1];
	const uint32_t load = LD(A1, A0, 0);
	const uint64_t code = TH_CODE + 0x200; /* on the mapped code page */
	struct th_pt pt;
	uint64_t pte;

	(void)state;
	call_on(m, 0, SBI_EXT_HSM, 0, 1, code, 0);
	th_paging_on(m, &pt); /* hart 0's tables; hart 1 uses the same */
	assert_true(cpu_csr_write(h1, CSR_SATP, th_pt_satp(&pt)));
	pte = th_map(&pt, 0x10000, TH_DATA, TH_PTE_KERNEL, 0);
	ram_store(&m->ram, TH_DATA, 0x1111, 8);
	ram_store(&m->ram, TH_DATA + 0x1000, 0x2222, 8);
	ram_write(&m->ram, code, &load, 4);
	h1->x[A0] = 0x10000;
	run_on(m, 1, code, 1);
	assert_int_equal(h1->x[A1], 0x1111);
	/* the mapping changes: hart 1 still has the old one in its TLB */
	ram_store(&m->ram, pte, ((TH_DATA + 0x1000) >> 12) << 10 | TH_PTE_KERNEL, 8);
	run_on(m, 1, code, 1);
	assert_int_equal(h1->x[A1], 0x1111);
	/* until hart 0 fences it remotely (hart 1 only) */
	m->harts[0].x[A3] = 0x1000;
	struct ret r = call_on(m, 0, SBI_EXT_RFENCE, 1, 0x2, 0, 0x10000);

	assert_int_equal(r.error, 0);
	run_on(m, 1, code, 1);
	assert_int_equal(h1->x[A1], 0x2222);
	r = call_on(m, 0, SBI_EXT_RFENCE, 2, 0x4, 0, 0); /* hart 2 does not exist */
	assert_int_equal(r.error, SBI_ERR_INVALID_PARAM);
	th_free(m);
}

static void test_plic_and_timer_per_hart(void **state)
{
	struct machine *m = smp_setup(NH);

	(void)state;
	/* source 5 enabled on hart 2's context only */
	assert_true(machine_mmio_write(m, MACHINE_PLIC_BASE + 4 * 5, 4, 1));
	assert_true(machine_mmio_write(m, MACHINE_PLIC_BASE + 0x2000 + 0x80 * 2, 4, 1u << 5));
	machine_set_irq(m, 5, true);
	for (unsigned i = 0; i < NH; i++)
		assert_int_equal(!!(m->harts[i].sip & SIP_SEIP), i == 2);
	machine_set_irq(m, 5, false);
	assert_false(m->harts[2].sip & SIP_SEIP);
	/* each hart's own deadline */
	m->harts[1].timecmp = 0;
	m->harts[3].timecmp = machine_time(m) + MACHINE_TIMEBASE_HZ * 100;
	machine_update_timer(m);
	for (unsigned i = 0; i < NH; i++)
		assert_int_equal(!!(m->harts[i].sip & SIP_STIP), i == 1);
	th_free(m);
}

static void test_round_robin(void **state)
{
	struct machine *m = smp_setup(3);
	const uint32_t spin[] = { ADDI(A2, A2, 1), JAL(ZERO, -4) };

	(void)state;
	for (unsigned i = 0; i < 3; i++)
		ram_write(&m->ram, HART_CODE(i), spin, sizeof(spin));
	call_on(m, 0, SBI_EXT_HSM, 0, 2, HART_CODE(2), 0);
	m->harts[0].pc = HART_CODE(0);
	/* hart 1 is stopped: the turns go 0, 2, 0, 2 */
	m->next_hart = 0;
	assert_ptr_equal(machine_run_slice(m), &m->harts[0]);
	assert_ptr_equal(machine_run_slice(m), &m->harts[2]);
	assert_ptr_equal(machine_run_slice(m), &m->harts[0]);
	assert_int_equal(m->harts[1].instret, 0);
	assert_true(m->harts[2].instret > 0);
	assert_int_equal(machine_instret(m), m->harts[0].instret + m->harts[2].instret);
	/* a hart waiting in WFI with nothing pending is passed over; an interrupt wakes it */
	m->harts[2].wfi = 1;
	assert_ptr_equal(machine_run_slice(m), &m->harts[0]);
	assert_ptr_equal(machine_run_slice(m), &m->harts[0]);
	m->harts[2].sie = SIP_SSIP;
	cpu_set_irq(&m->harts[2], SIP_SSIP, true);
	assert_ptr_equal(machine_run_slice(m), &m->harts[2]);
	/* nothing can run */
	m->harts[0].hsm = HSM_STOPPED;
	m->harts[2].hsm = HSM_STOPPED;
	assert_null(machine_run_slice(m));
	/* a pause starts the round again at hart 0 */
	m->harts[0].hsm = m->harts[2].hsm = HSM_STARTED;
	m->next_hart = 2;
	machine_pause(m, "test");
	assert_int_equal(m->next_hart, 0);
	th_free(m);
}

static void test_lr_sc_broken_by_another_hart(void **state)
{
	struct machine *m = smp_setup(2);
	const uint32_t lr = LR_D(A1, A0), sc = SC_D(A3, A0, A2), st = SD(A2, A0, 0), wfi = WFI();
	struct cpu *h0 = &m->harts[0], *h1 = &m->harts[1];

	(void)state;
	ram_write(&m->ram, HART_CODE(0), &lr, 4);
	ram_write(&m->ram, HART_CODE(0) + 4, &sc, 4);
	ram_write(&m->ram, HART_CODE(1), &st, 4);
	ram_write(&m->ram, HART_CODE(1) + 4, &wfi, 4);
	call_on(m, 0, SBI_EXT_HSM, 0, 1, HART_CODE(1), 0);
	h0->x[A0] = h1->x[A0] = TH_DATA;
	/* alone, LR then SC succeeds */
	h0->x[A2] = 5;
	run_on(m, 0, HART_CODE(0), 2);
	assert_int_equal(h0->x[A3], 0);
	assert_int_equal(ram_load(&m->ram, TH_DATA, 8), 5);
	/* with a slice of hart 1 (a store to the reserved address) between them, it fails */
	run_on(m, 0, HART_CODE(0), 1);
	assert_true(h0->lr_valid);
	h1->x[A2] = 9;
	h1->pc = HART_CODE(1);
	m->next_hart = 1;
	assert_ptr_equal(machine_run_slice(m), h1);
	assert_int_equal(ram_load(&m->ram, TH_DATA, 8), 9);
	assert_false(h0->lr_valid);
	h0->x[A2] = 6;
	h0->pc = HART_CODE(0) + 4;
	assert_int_equal(cpu_run(h0, 1), 1);
	assert_int_equal(h0->x[A3], 1);
	assert_int_equal(ram_load(&m->ram, TH_DATA, 8), 9);
	th_free(m);
}

static void test_decode_cache_across_harts(void **state)
{
	struct machine *m = smp_setup(2);
	struct cpu *h0 = &m->harts[0], *h1 = &m->harts[1];
	const uint64_t p = TH_CODE + 0x8000, q = p + (uint64_t)DCACHE_PAGES * 4096;
	const uint32_t st = SW(A2, A0, 0), one = ADDI(A1, ZERO, 1), two = ADDI(A1, ZERO, 2),
		       seven = ADDI(A1, ZERO, 7);

	(void)state;
	call_on(m, 0, SBI_EXT_HSM, 0, 1, HART_CODE(1), 0);
	ram_write(&m->ram, HART_CODE(1), &st, 4);
	/* hart 1 writes page p first, so its write TLB holds p ... */
	h1->x[A0] = p;
	h1->x[A2] = one;
	run_on(m, 1, HART_CODE(1), 1);
	/* ... then hart 0 runs code from p: p becomes a code page */
	run_on(m, 0, p, 1);
	assert_int_equal(h0->x[A1], 1);
	/* hart 1 writes new code there: hart 0 must run it, not its decoded copy of the old */
	h1->x[A2] = two;
	run_on(m, 1, HART_CODE(1), 1);
	run_on(m, 0, p, 1);
	assert_int_equal(h0->x[A1], 2);

	/* q shares p's place in the cache: hart 1 running q takes the page from p, and hart 0's
	 * link to it must not make it run q's code at p */
	ram_write(&m->ram, q, &seven, 4);
	run_on(m, 1, q, 1);
	assert_int_equal(h1->x[A1], 7);
	run_on(m, 0, p, 1);
	assert_int_equal(h0->x[A1], 2);
	th_free(m);
}

static void test_dirty_collection_drops_every_write_tlb(void **state)
{
	struct machine *m = smp_setup(2);
	struct cpu *h1 = &m->harts[1];
	const uint32_t st = SD(A2, A0, 0);

	(void)state;
	call_on(m, 0, SBI_EXT_HSM, 0, 1, HART_CODE(1), 0);
	ram_write(&m->ram, HART_CODE(1), &st, 4);
	h1->x[A0] = TH_DATA;
	run_on(m, 1, HART_CODE(1), 1); /* hart 1's write TLB now maps TH_DATA's page */
	machine_dirty_start(m);
	assert_false(ram_is_dirty(&m->ram, TH_DATA));
	run_on(m, 1, HART_CODE(1), 1);
	assert_true(ram_is_dirty(&m->ram, TH_DATA));
	assert_int_equal(machine_dirty_collect(m, NULL), 1);
	assert_false(ram_is_dirty(&m->ram, TH_DATA));
	run_on(m, 1, HART_CODE(1), 1);
	assert_true(ram_is_dirty(&m->ram, TH_DATA));
	machine_dirty_stop(m);
	th_free(m);
}

static void test_icount_counts_every_hart(void **state)
{
	struct gclock g;
	uint64_t a = 0, b = 0;

	(void)state;
	gclock_init(&g, GCLOCK_ICOUNT, MACHINE_TIMEBASE_HZ, &a);
	a = 100;
	assert_int_equal(gclock_ns(&g), 100 * GCLOCK_ICOUNT_NS);
	gclock_rebase(&g, &b);
	b = 50;
	assert_int_equal(gclock_ns(&g), 150 * GCLOCK_ICOUNT_NS);
	gclock_rebase(&g, &a);
	assert_int_equal(gclock_ns(&g), 150 * GCLOCK_ICOUNT_NS);
	a = 110;
	assert_int_equal(gclock_ns(&g), 160 * GCLOCK_ICOUNT_NS);
	/* frozen: a rebase does not move it, and it goes on from there after the thaw */
	gclock_freeze(&g);
	gclock_rebase(&g, &b);
	b = 1000;
	assert_int_equal(gclock_ns(&g), 160 * GCLOCK_ICOUNT_NS);
	gclock_thaw(&g);
	b = 1001;
	assert_int_equal(gclock_ns(&g), 161 * GCLOCK_ICOUNT_NS);
}

static void test_snapshot_carries_every_hart(void **state)
{
	struct machine *m = smp_setup(3), *n, *one;
	char path[] = "/tmp/ferry-test-smp.XXXXXX";
	int fd = mkstemp(path);
	struct err e;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	call_on(m, 0, SBI_EXT_HSM, 0, 2, HART_CODE(2) + 8, 0x55);
	m->harts[2].x[S1] = 0x5151;
	m->harts[2].timecmp = 12345;
	machine_pause(m, "save"); /* as a save does: the timer lines follow the frozen clock */
	if (snapshot_save(m, path, 0, &e) < 0)
		fail_msg("save: %s", e.msg);
	n = smp_setup(3);
	if (snapshot_load(n, path, &e) < 0)
		fail_msg("load: %s", e.msg);
	for (int i = 0; i < 3; i++)
		assert_int_equal(snapshot_hart_hash(n, i), snapshot_hart_hash(m, i));
	assert_int_equal(snapshot_hart_hash(n, -1), snapshot_hart_hash(m, -1));
	assert_int_equal(n->harts[1].hsm, HSM_STOPPED); /* stopped stays stopped */
	assert_int_equal(n->harts[2].hsm, HSM_STARTED);
	assert_int_equal(n->harts[2].x[S1], 0x5151);
	assert_int_equal(n->harts[2].pc, HART_CODE(2) + 8);
	/* a machine with another number of harts refuses it, saying why */
	one = smp_setup(1);
	assert_int_equal(snapshot_load(one, path, &e), -1);
	assert_non_null(strstr(e.msg, "3 harts, this machine 1"));
	th_free(one);
	th_free(n);
	th_free(m);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boot_state),
		cmocka_unit_test(test_device_tree),
		cmocka_unit_test(test_hsm),
		cmocka_unit_test(test_ipi),
		cmocka_unit_test(test_remote_sfence),
		cmocka_unit_test(test_plic_and_timer_per_hart),
		cmocka_unit_test(test_round_robin),
		cmocka_unit_test(test_lr_sc_broken_by_another_hart),
		cmocka_unit_test(test_decode_cache_across_harts),
		cmocka_unit_test(test_dirty_collection_drops_every_write_tlb),
		cmocka_unit_test(test_icount_counts_every_hart),
		cmocka_unit_test(test_snapshot_carries_every_hart),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
