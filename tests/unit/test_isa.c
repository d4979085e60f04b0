/* test_isa.c - the ISA the hart implements, spelled once (vmm/core/isa.h): the device tree
 * tells the guest the same ISA the config record carries, a loading machine keeps the
 * guest's ISA, and refuses one it does not give, naming the difference. */
#include "harness.h"

#include <libfdt.h>
#include <strings.h>

#include "vmm/board/dtb.h"
#include "vmm/core/isa.h"
#include "vmm/state/snapshot.h"

/* The string and the list for one set of extensions, checked against each other and the
 * ISA manual's naming rule. */
static void check_spelling(unsigned ext, const char *want)
{
	char isa[ISA_STR_MAX], exts[ISA_STR_MAX], rebuilt[ISA_STR_MAX] = "rv64";
	size_t n = isa_extensions(ext, exts);
	bool multi = false;

	isa_string(ext, isa);
	assert_string_equal(isa, want);
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

static void test_spellings(void **state)
{
	(void)state;
	assert_int_equal(ISA_DEFAULT, ISA_F | ISA_D);
	check_spelling(ISA_DEFAULT, "rv64imafdc_zicntr_zicsr_zifencei");
	check_spelling(ISA_F, "rv64imafc_zicntr_zicsr_zifencei");
	check_spelling(0, "rv64imac_zicntr_zicsr_zifencei");
	assert_string_equal(ISA_BASE, "rv64i");
}

/* isa_parse: every spelling a user or a record may give, and what is refused, by name. */
static void test_parse(void **state)
{
	struct err e = { "" };
	unsigned ext = 99;

	(void)state;
	assert_int_equal(isa_parse("rv64imafdc_zicntr_zicsr_zifencei", &ext, &e), 0);
	assert_int_equal(ext, ISA_F | ISA_D);
	assert_int_equal(isa_parse("RV64GC", &ext, &e), 0); /* case-insensitive; g = imafd... */
	assert_int_equal(ext, ISA_F | ISA_D);
	assert_int_equal(isa_parse("rv64imafdc", &ext, &e), 0);
	assert_int_equal(ext, ISA_F | ISA_D);
	assert_int_equal(isa_parse("rv64imac", &ext, &e), 0);
	assert_int_equal(ext, 0u);
	assert_int_equal(isa_parse("rv64imafc_zicsr", &ext, &e), 0);
	assert_int_equal(ext, ISA_F);
	ext = 99;
	assert_int_equal(isa_parse("rv64imadc", &ext, &e), -1);
	assert_string_equal(e.msg, "ISA 'rv64imadc': D needs F");
	assert_int_equal(ext, 99u); /* untouched on a refusal */
	assert_int_equal(isa_parse("rv64ima", &ext, &e), -1);
	assert_string_equal(e.msg,
			    "ISA 'rv64ima': this hart always has 'c' and cannot leave it out");
	assert_int_equal(isa_parse("rv64imafdcv", &ext, &e), -1);
	assert_string_equal(e.msg, "ISA 'rv64imafdcv': extension 'v' is not one this hart has");
	assert_int_equal(isa_parse("rv64gc_zba", &ext, &e), -1);
	assert_string_equal(e.msg, "ISA 'rv64gc_zba': extension 'zba' is not one this hart has");
	assert_int_equal(isa_parse("rv64gc_", &ext, &e), -1);
	assert_int_equal(isa_parse("rv64gc_f", &ext, &e), -1); /* a single letter after '_' */
	assert_int_equal(isa_parse("rv32imac", &ext, &e), -1);
	assert_int_equal(isa_parse("", &ext, &e), -1);
	assert_int_equal(ext, 99u);
}

static void test_check(void **state)
{
	struct err e = { "" };
	unsigned ext = 99;

	(void)state;
	assert_int_equal(isa_check("rv64imac_zicntr_zicsr_zifencei", ISA_ALL, &ext, &e), 0);
	assert_int_equal(ext, 0u); /* the guest's own, not the machine's */
	assert_int_equal(isa_check("rv64imafdc_zicntr_zicsr_zifencei", ISA_ALL, &ext, &e), 0);
	assert_int_equal(ext, ISA_ALL);
	assert_int_equal(isa_check("rv64imafdc_zicntr_zicsr_zifencei", 0, &ext, &e), -1);
	assert_string_equal(e.msg,
			    "the guest's ISA rv64imafdc_zicntr_zicsr_zifencei needs f, d, "
			    "which this machine (rv64imac_zicntr_zicsr_zifencei) does not give");
	assert_int_equal(isa_check("rv64imafdc", ISA_F, &ext, &e), -1);
	assert_non_null(strstr(e.msg, "needs d, which this machine (rv64imafc_"));
	assert_int_equal(isa_check("rv64imacv", ISA_ALL, &ext, &e), -1);
	assert_int_equal(ext, ISA_ALL);
}

/* The device tree's cpu node says what isa.h says, for the hart's own extensions. */
static void check_device_tree(unsigned ext)
{
	static uint8_t fdt[64 * 1024];
	struct machine *m = th_machine(0);
	char isa[ISA_STR_MAX], exts[ISA_STR_MAX];
	size_t n = isa_extensions(ext, exts);
	const void *prop;
	struct err e;
	int node, len;

	m->harts[0].ext = ext;
	isa_string(ext, isa);
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

static void test_device_tree(void **state)
{
	(void)state;
	check_device_tree(ISA_DEFAULT);
	check_device_tree(0);
}

/* A machine built without --isa gives RV64GC. */
static void test_default(void **state)
{
	struct machine *m = th_machine(0);

	(void)state;
	assert_int_equal(m->harts[0].ext, ISA_DEFAULT);
	assert_int_equal(m->isa_offered, ISA_DEFAULT);
	th_free(m);
}

/* The config record carries the hart's ISA; a loading machine adopts it if it offers it and
 * refuses it, naming the difference, if not. */
static void test_config_record(void **state)
{
	struct machine *m = th_machine(0);
	char isa[ISA_STR_MAX];
	struct buf j;
	struct err e = { "" };

	(void)state;
	isa_string(ISA_DEFAULT, isa);
	buf_init(&j);
	assert_int_equal(snapshot_config_text(m, 0, &j), 0);
	buf_put(&j, "", 1); /* a C string for strstr; not part of the record */
	j.len--;
	assert_non_null(strstr((char *)j.p, isa));
	assert_non_null(strstr((char *)j.p, "\"mmu\": \"" ISA_MMU "\""));
	if (snapshot_config_check(m, (const uint8_t *)j.p, j.len, &e) != 0)
		fail_msg("own config refused: %s", e.msg);
	/* a machine that gives no F or D refuses it, naming them */
	m->isa_offered = 0;
	assert_int_equal(snapshot_config_check(m, (const uint8_t *)j.p, j.len, &e), -1);
	assert_non_null(strstr(e.msg, "needs f, d, which this machine (rv64imac_"));
	assert_int_equal(m->harts[0].ext, ISA_DEFAULT);
	buf_free(&j);
	/* a guest booted as rv64imac keeps it on a machine that gives more */
	m->harts[0].ext = 0;
	m->isa_offered = ISA_ALL;
	buf_init(&j);
	assert_int_equal(snapshot_config_text(m, 0, &j), 0);
	m->harts[0].ext = ISA_ALL;
	if (snapshot_config_check(m, (const uint8_t *)j.p, j.len, &e) != 0)
		fail_msg("rv64imac config refused: %s", e.msg);
	assert_int_equal(m->harts[0].ext, 0u);
	buf_free(&j);
	th_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spellings),   cmocka_unit_test(test_parse),
		cmocka_unit_test(test_check),	    cmocka_unit_test(test_default),
		cmocka_unit_test(test_device_tree), cmocka_unit_test(test_config_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
