/* test_dirty.c - every write path into guest RAM marks its page, and collecting re-arms it.
 *
 * These are the properties whose failure QEMU 7.2 shipped with (DESIGN.md section 5): a
 * collection that clears the bitmap without dropping the hart's write-TLB lets later stores
 * through cached translations go unmarked, and the page is never re-sent.
 */
#include "harness.h"

#include <stdlib.h>

#define DATA TH_DATA
#define DATA_VA 0x40000000ull /* a mapped alias of DATA, for the Sv39 cases */

static uint64_t collect(struct machine *m, uint64_t *bits)
{
	return machine_dirty_collect(m, bits);
}

static bool bit(const struct machine *m, const uint64_t *bits, uint64_t gpa)
{
	uint64_t pfn = (gpa - m->ram.base) >> RAM_PAGE_SHIFT;

	return (bits[pfn >> 6] >> (pfn & 63)) & 1;
}

static uint64_t *bitmap(struct machine *m)
{
	uint64_t *b = calloc(m->ram.nwords, sizeof(uint64_t));

	assert_non_null(b);
	return b;
}

/* A store marks exactly its page (the code page is only read). */
static void test_store_marks_exactly_its_page(void **state)
{
	struct machine *m = th_setup();
	uint64_t *bits = bitmap(m);
	const uint32_t code[] = { SD(T1, T0, 0), SB(T1, T0, 0x7ff) };

	(void)state;
	th_code(m, TH_CODE, code, 2);
	m->harts[0].x[T0] = DATA + 0x100;
	m->harts[0].x[T1] = 0x1122334455667788ull;
	machine_dirty_start(m);
	th_run(m, 2);
	assert_int_equal(collect(m, bits), 1);
	assert_true(bit(m, bits, DATA));
	assert_false(bit(m, bits, TH_CODE));
	free(bits);
	th_free(m);
}

/* A store crossing a page boundary marks both pages. */
static void test_crossing_store_marks_both(void **state)
{
	struct machine *m = th_setup();
	uint64_t *bits = bitmap(m);
	const uint32_t code[] = { SD(T1, T0, 0) };

	(void)state;
	th_code(m, TH_CODE, code, 1);
	m->harts[0].x[T0] = DATA + RAM_PAGE_SIZE - 3;
	machine_dirty_start(m);
	th_run(m, 1);
	assert_int_equal(collect(m, bits), 2);
	assert_true(bit(m, bits, DATA));
	assert_true(bit(m, bits, DATA + RAM_PAGE_SIZE));
	free(bits);
	th_free(m);
}

/* The heart of it: store, collect, store again to the same page through the same (cached)
 * translation: the second store must be seen. */
static void test_collect_rearms_cached_translation(void **state)
{
	struct machine *m = th_setup();
	uint64_t *bits = bitmap(m);
	const uint32_t code[] = { SD(T1, T0, 0), SD(T1, T0, 8) };

	(void)state;
	th_code(m, TH_CODE, code, 2);
	m->harts[0].x[T0] = DATA;
	machine_dirty_start(m);
	th_run(m, 1); /* installs the write-TLB entry for DATA */
	assert_int_equal(collect(m, bits), 1);
	/* The entry is cached; the bitmap is now clear. */
	th_run(m, 1);
	assert_int_equal(collect(m, bits), 1);
	assert_true(bit(m, bits, DATA));
	/* And nothing without a store. */
	assert_int_equal(collect(m, bits), 0);
	free(bits);
	th_free(m);
}

/* The same under Sv39, in U-mode, through a loop that hits the TLB every time. */
static void test_collect_rearms_under_paging(void **state)
{
	struct machine *m = th_setup();
	uint64_t *bits = bitmap(m);
	struct th_pt pt;
	const uint32_t code[] = {
		SD(T1, T0, 0),
		ADDI(T1, T1, 1),
		JAL(ZERO, -8),
	};

	(void)state;
	th_paging_on(m, &pt);
	th_map(&pt, DATA_VA, DATA, PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D, 0);
	th_map(&pt, TH_CODE + 0x1000, TH_CODE + 0x1000, PTE_V | PTE_R | PTE_X | PTE_U | PTE_A, 0);
	ram_write(&m->ram, TH_CODE + 0x1000, code, sizeof(code));
	th_enter_user(m, TH_CODE + 0x1000);
	m->harts[0].x[T0] = DATA_VA;
	machine_dirty_start(m);
	for (int round = 0; round < 5; round++) {
		th_run(m, 30);
		assert_int_equal(collect(m, bits), 1);
		assert_true(bit(m, bits, DATA));
	}
	assert_int_equal(ram_load(&m->ram, DATA, 8), m->harts[0].x[T1] - 1);
	free(bits);
	th_free(m);
}

/* AMOs and SC mark their page; so does LR/SC retried after a collection. */
static void test_atomics_mark(void **state)
{
	struct machine *m = th_setup();
	uint64_t *bits = bitmap(m);
	const uint32_t code[] = {
		AMO(0x00, 3, T2, T0, T1), /* amoadd.d */
		LR_D(T2, T0),
		SC_D(T3, T0, T1),
	};

	(void)state;
	th_code(m, TH_CODE, code, 3);
	m->harts[0].x[T0] = DATA + 2 * RAM_PAGE_SIZE;
	m->harts[0].x[T1] = 5;
	machine_dirty_start(m);
	th_run(m, 1);
	assert_int_equal(collect(m, bits), 1);
	assert_true(bit(m, bits, DATA + 2 * RAM_PAGE_SIZE));
	th_run(m, 2);
	assert_int_equal(m->harts[0].x[T3], 0); /* SC succeeded */
	assert_int_equal(collect(m, bits), 1);
	assert_true(bit(m, bits, DATA + 2 * RAM_PAGE_SIZE));
	free(bits);
	th_free(m);
}

/* The MMU setting A and D marks the page-table page. */
static void test_pte_update_marks_table(void **state)
{
	struct machine *m = th_setup();
	uint64_t *bits = bitmap(m);
	struct th_pt pt;
	const uint32_t code[] = { LD(T2, T0, 0), SD(T2, T0, 8) };
	uint64_t pte_addr;

	(void)state;
	th_paging_on(m, &pt);
	pte_addr = th_map(&pt, DATA_VA, DATA, PTE_V | PTE_R | PTE_W, 0); /* A and D clear */
	th_code(m, TH_CODE, code, 2);
	m->harts[0].x[T0] = DATA_VA;
	machine_dirty_start(m);
	th_run(m, 1); /* the load sets A */
	assert_int_equal(collect(m, bits), 1);
	assert_true(bit(m, bits, pte_addr));
	assert_true(ram_load(&m->ram, pte_addr, 8) & PTE_A);
	th_run(m, 1); /* the store sets D: the table page and the data page */
	assert_int_equal(collect(m, bits), 2);
	assert_true(bit(m, bits, pte_addr));
	assert_true(bit(m, bits, DATA));
	assert_true(ram_load(&m->ram, pte_addr, 8) & PTE_D);
	free(bits);
	th_free(m);
}

/* Device-side writes (ram_write, ram_store, ram_fill) mark every page they touch. */
static void test_accessors_mark(void **state)
{
	struct machine *m = th_setup();
	uint64_t *bits = bitmap(m);
	uint8_t buf[3 * RAM_PAGE_SIZE] = { 0 };

	(void)state;
	machine_dirty_start(m);
	ram_write(&m->ram, DATA + 10, buf, 2 * RAM_PAGE_SIZE); /* three pages */
	assert_int_equal(collect(m, bits), 3);
	ram_store(&m->ram, DATA + 5 * RAM_PAGE_SIZE - 2, 0xffff, 4); /* two */
	ram_fill(&m->ram, DATA + 8 * RAM_PAGE_SIZE, 0, 1);	     /* one */
	assert_int_equal(collect(m, bits), 3);
	assert_true(bit(m, bits, DATA + 4 * RAM_PAGE_SIZE));
	assert_true(bit(m, bits, DATA + 5 * RAM_PAGE_SIZE));
	assert_true(bit(m, bits, DATA + 8 * RAM_PAGE_SIZE));
	free(bits);
	th_free(m);
}

/* A store whose translation faults writes nothing and marks nothing. */
static void test_faulting_store_marks_nothing(void **state)
{
	struct machine *m = th_setup();
	uint64_t *bits = bitmap(m);
	struct th_pt pt;
	const uint32_t code[] = { SD(T1, T0, 0) };

	(void)state;
	th_paging_on(m, &pt);
	th_map(&pt, DATA_VA, DATA, PTE_V | PTE_R | PTE_A, 0); /* read-only */
	th_code(m, TH_CODE, code, 1);
	m->harts[0].x[T0] = DATA_VA;
	machine_dirty_start(m);
	th_step(m);
	th_expect_trap(m, EXC_STORE_PAGE, DATA_VA, TH_CODE);
	assert_int_equal(collect(m, bits), 0);
	free(bits);
	th_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_marks_exactly_its_page),
		cmocka_unit_test(test_crossing_store_marks_both),
		cmocka_unit_test(test_collect_rearms_cached_translation),
		cmocka_unit_test(test_collect_rearms_under_paging),
		cmocka_unit_test(test_atomics_mark),
		cmocka_unit_test(test_pte_update_marks_table),
		cmocka_unit_test(test_accessors_mark),
		cmocka_unit_test(test_faulting_store_marks_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
