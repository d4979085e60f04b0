/* test_isa.c - the ISA the hart implements, spelled once (vmm/core/isa.h): the device tree
 * tells the guest the same ISA the config record carries, and the config check refuses a
 * guest that was told another. */
#include "harness.h"

#include <libfdt.h>
#include <strings.h>

#include "vmm/board/dtb.h"
#include "vmm/core/isa.h"
#include "vmm/state/snapshot.h"

static void test_spellings(void **state)
{
	char isa[ISA_STR_MAX], exts[ISA_STR_MAX], rebuilt[ISA_STR_MAX] = "rv64";
	size_t n = isa_extensions(exts);
	bool multi = false;

	(void)state;
	isa_string(isa);
	assert_string_equal(isa, "rv64imac_zicntr_zicsr_zifencei");
	assert_string_equal(ISA_BASE, "rv64i");
	/* the list: NUL-terminated names, "i" first; single letters before multi-letter names (the
	 * ISA manual's naming rule), and the string is the list written out by that rule */
	assert_true(n > 2 && exts[n - 1] == 0);
	assert_string_equal(exts, "i");
	for (size_t off = 0; off < n; off += strlen(exts + off) + 1) {
		const char *x = exts + off;

		assert_true(strlen(x) >= 1);
		if (strlen(x) > 1) {
			multi = true;
			strcat(rebuilt, "_");
		} else if (multi) {
			fail_msg("single-letter extension '%s' after a multi-letter one", x);
		}
		strcat(rebuilt, x);
	}
	assert_string_equal(rebuilt, isa);
}

static void test_check(void **state)
{
	struct err e = { "" };

	(void)state;
	assert_int_equal(isa_check("rv64imac_zicntr_zicsr_zifencei", &e), 0);
	assert_int_equal(isa_check("RV64IMAC_Zicntr_Zicsr_Zifencei", &e), 0); /* case-insensitive */
	assert_int_equal(isa_check("rv64gc", &e), -1);
	assert_string_equal(e.msg,
			    "guest ISA rv64gc, this machine is rv64imac_zicntr_zicsr_zifencei");
	assert_int_equal(isa_check("rv64imac_zicsr_zifencei", &e), -1);
	assert_int_equal(isa_check("", &e), -1);
}

/* The device tree's cpu node says what isa.h says. */
static void test_device_tree(void **state)
{
	static uint8_t fdt[64 * 1024];
	struct machine *m = th_machine(0);
	char isa[ISA_STR_MAX], exts[ISA_STR_MAX];
	size_t n = isa_extensions(exts);
	const void *prop;
	struct err e;
	int node, len;

	(void)state;
	isa_string(isa);
	if (dtb_build(m, fdt, sizeof(fdt), &e) < 0)
		fail_msg("dtb_build: %s", e.msg);
	node = fdt_path_offset(fdt, "/cpus/cpu@0");
	assert_true(node >= 0);
	prop = fdt_getprop(fdt, node, "riscv,isa", &len);
	assert_non_null(prop);
	assert_string_equal(prop, isa);
	prop = fdt_getprop(fdt, node, "riscv,isa-base", &len);
	assert_non_null(prop);
	assert_string_equal(prop, ISA_BASE);
	prop = fdt_getprop(fdt, node, "riscv,isa-extensions", &len);
	assert_non_null(prop);
	assert_int_equal(len, n);
	assert_memory_equal(prop, exts, n);
	prop = fdt_getprop(fdt, node, "mmu-type", &len);
	assert_non_null(prop);
	assert_string_equal(prop, "riscv," ISA_MMU);
	th_free(m);
}

/* The config record carries the same string, and its check goes through isa_check(). */
static void test_config_record(void **state)
{
	struct machine *m = th_machine(0);
	char isa[ISA_STR_MAX], *at;
	struct buf j;
	struct err e = { "" };

	(void)state;
	isa_string(isa);
	buf_init(&j);
	assert_int_equal(snapshot_config_text(m, 0, &j), 0);
	buf_put(&j, "", 1); /* a C string for strstr; not part of the record */
	j.len--;
	at = strstr((char *)j.p, isa);
	assert_non_null(at);
	assert_non_null(strstr((char *)j.p, "\"mmu\": \"" ISA_MMU "\""));
	if (snapshot_config_check(m, (const uint8_t *)j.p, j.len, &e) != 0)
		fail_msg("own config refused: %s", e.msg);
	/* "rv64imac_..." -> "rv64imaf_...": told an F it does not have */
	at[7] = 'f';
	assert_int_equal(snapshot_config_check(m, (const uint8_t *)j.p, j.len, &e), -1);
	assert_non_null(strstr(e.msg, "config record: guest ISA rv64imaf_zicntr"));
	assert_non_null(strstr(e.msg, "this machine is rv64imac_zicntr"));
	buf_free(&j);
	th_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spellings),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_device_tree),
		cmocka_unit_test(test_config_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
