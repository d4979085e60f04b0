/* test_state.c - device state tables (common/state.h): save and load, versions and defaults,
 * every refusal naming the device and the field, and the rules every real table keeps.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/buf.h"
#include "common/le.h"
#include "common/state.h"
#include "vmm/devices/plic.h"
#include "vmm/devices/uart.h"
#include "vmm/devices/vblk.h"
#include "vmm/devices/vnet.h"
#include "vmm/devices/vrng.h"

#define expect_err(e, sub)                                                                         \
	do {                                                                                       \
		if (!strstr((e).msg, (sub)))                                                       \
			fail_msg("error '%s' does not say '%s'", (e).msg, (sub));                  \
	} while (0)

struct dev {
	uint8_t mode;
	uint16_t w16;
	uint32_t w32;
	uint64_t w64;
	uint32_t arr[4];
	uint8_t later;
	uint64_t later_arr[2];
	int post_loads;
	bool refuse;
};

/* The table as a first release had it ... */
static const struct state_field v1_fields[] = {
	STATE_FIELD_MAX(struct dev, mode, 3),	STATE_FIELD(struct dev, w16),
	STATE_FIELD(struct dev, w32),		STATE_FIELD(struct dev, w64),
	STATE_ARRAY_MAX(struct dev, arr, 1000),
};

static int dev_post_load(void *obj, struct err *e)
{
	struct dev *d = obj;

	d->post_loads++;
	if (d->refuse)
		return err_set(e, "w16 and w32 disagree");
	return 0;
}

static const struct state_desc v1 = { "test", 1, v1_fields, STATE_NFIELDS(v1_fields),
				      dev_post_load };

/* ... and after state version 2 added two fields, one of them in the middle. */
static const struct state_field v2_fields[] = {
	STATE_FIELD_MAX(struct dev, mode, 3),
	STATE_FIELD_MAX(struct dev, later, 200, .since = 2, .def = 7),
	STATE_FIELD(struct dev, w16),
	STATE_FIELD(struct dev, w32),
	STATE_FIELD(struct dev, w64),
	STATE_ARRAY_MAX(struct dev, arr, 1000),
	STATE_ARRAY(struct dev, later_arr, .since = 2, .def = 0x55),
};

static const struct state_desc v2 = { "test", 2, v2_fields, STATE_NFIELDS(v2_fields),
				      dev_post_load };

static struct dev sample(void)
{
	return (struct dev){ .mode = 2,
			     .w16 = 0xbeef,
			     .w32 = 0xdeadbeef,
			     .w64 = 0x0123456789abcdefull,
			     .arr = { 1, 10, 100, 1000 },
			     .later = 150,
			     .later_arr = { UINT64_MAX, 9 } };
}

static void save(const struct state_desc *d, const struct dev *obj, struct buf *b)
{
	buf_init(b);
	state_save(d, obj, b);
	assert_false(b->oom);
}

static int load(const struct state_desc *d, struct dev *obj, const struct buf *b, struct err *e)
{
	struct rbuf r;
	int rc;

	rbuf_init(&r, b->p, b->len);
	rc = state_load(d, obj, &r, e);
	if (rc == 0 && rbuf_left(&r))
		fail_msg("%zu bytes left after the section", rbuf_left(&r));
	return rc;
}

static bool same_state(const struct dev *a, const struct dev *b)
{
	return a->mode == b->mode && a->w16 == b->w16 && a->w32 == b->w32 && a->w64 == b->w64 &&
	       memcmp(a->arr, b->arr, sizeof(a->arr)) == 0 && a->later == b->later &&
	       memcmp(a->later_arr, b->later_arr, sizeof(a->later_arr)) == 0;
}

static void test_layout(void **state)
{
	static const struct state_field f[] = { STATE_FIELD_MAX(struct dev, mode, 3),
						STATE_ARRAY_MAX(struct dev, arr, 1000) };
	const struct state_desc d = { "ab", 1, f, 2, NULL };
	struct dev obj = sample();
	struct buf b;

	(void)state;
	save(&d, &obj, &b);
	/* u8 name length, name, u32 version, u32 fields; per field u8 name length, name, u8
	 * width, u32 count, the values little endian. */
	assert_memory_equal(
	    b.p, ((uint8_t[]){ 2, 'a', 'b', 1,	0, 0, 0, 2,   0,   0,	0, 4,	 'm', 'o', 'd', 'e',
			       1, 1,   0,   0,	0, 2, 3, 'a', 'r', 'r', 4, 4,	 0,   0,   0,	1,
			       0, 0,   0,   10, 0, 0, 0, 100, 0,   0,	0, 0xe8, 3,   0,   0 }),
	    47);
	assert_int_equal(b.len, 47);
	buf_free(&b);
}

static void test_round_trip(void **state)
{
	struct dev a = sample(), b = { 0 };
	struct buf s;
	struct err e;

	(void)state;
	save(&v2, &a, &s);
	assert_int_equal(load(&v2, &b, &s, &e), 0);
	assert_true(same_state(&a, &b));
	assert_int_equal(b.post_loads, 1);
	assert_int_equal(state_hash(&v2, &a), state_hash(&v2, &b));
	b.arr[3] = 999;
	assert_int_not_equal(state_hash(&v2, &a), state_hash(&v2, &b));
	buf_free(&s);
}

static void test_older_section_takes_defaults(void **state)
{
	struct dev a = sample(), b = { 0 };
	struct buf s;
	struct err e;

	(void)state;
	save(&v1, &a, &s); /* what the previous release wrote */
	assert_int_equal(load(&v2, &b, &s, &e), 0);
	assert_int_equal(b.mode, a.mode);
	assert_int_equal(b.w16, a.w16);
	assert_int_equal(b.w32, a.w32);
	assert_int_equal(b.w64, a.w64);
	assert_memory_equal(b.arr, a.arr, sizeof(a.arr));
	assert_int_equal(b.later, 7);
	assert_int_equal(b.later_arr[0], 0x55);
	assert_int_equal(b.later_arr[1], 0x55);
	assert_int_equal(b.post_loads, 1);
	buf_free(&s);
}

static void test_newer_section_refused(void **state)
{
	struct dev a = sample(), b = { .mode = 1 }, before;
	struct buf s;
	struct err e;

	(void)state;
	save(&v2, &a, &s);
	before = b;
	assert_int_equal(load(&v1, &b, &s, &e), -1);
	expect_err(e, "device 'test': state version 2, this ferry-vm reads its state at versions 1 "
		      "to 1");
	assert_true(same_state(&b, &before));
	assert_int_equal(b.post_loads, 0);
	/* Version 0 is no version. */
	le_put_u32(s.p + 5, 0);
	assert_int_equal(load(&v2, &b, &s, &e), -1);
	expect_err(e, "device 'test': state version 0");
	/* A section that claims version 1 but holds version 2's fields. */
	le_put_u32(s.p + 5, 1);
	assert_int_equal(load(&v2, &b, &s, &e), -1);
	expect_err(e, "device 'test': 7 fields, expected 5 at state version 1");
	buf_free(&s);
}

/* Patch the first value of field `name` in a saved section (it must be of width w). */
static void patch(struct buf *s, const char *name, uint64_t v)
{
	size_t n = strlen(name);

	for (size_t i = 0; i + n + 6 < s->len; i++) {
		if (s->p[i] == n && memcmp(s->p + i + 1, name, n) == 0) {
			uint8_t w = s->p[i + 1 + n];
			uint8_t *at = s->p + i + 1 + n + 1 + 4;

			for (unsigned k = 0; k < w; k++)
				at[k] = (uint8_t)(v >> (8 * k));
			return;
		}
	}
	fail_msg("no field %s", name);
}

static void test_out_of_range(void **state)
{
	struct dev a = sample(), b = { 0 }, before;
	struct buf s;
	struct err e;

	(void)state;
	save(&v2, &a, &s);
	patch(&s, "mode", 9);
	before = b;
	assert_int_equal(load(&v2, &b, &s, &e), -1);
	expect_err(e, "device 'test' field 'mode': value 0x9 above its maximum 0x3");
	assert_true(same_state(&b, &before)); /* nothing stored */
	buf_free(&s);

	save(&v2, &a, &s);
	patch(&s, "later", 201);
	assert_int_equal(load(&v2, &b, &s, &e), -1);
	expect_err(e, "device 'test' field 'later': value 0xc9 above its maximum 0xc8");
	buf_free(&s);

	a.arr[2] = 1001; /* arrays: the element is named */
	save(&v2, &a, &s);
	assert_int_equal(load(&v2, &b, &s, &e), -1);
	expect_err(e, "device 'test' field 'arr[2]': value 0x3e9 above its maximum 0x3e8");
	assert_true(same_state(&b, &before));
	buf_free(&s);
}

static void test_truncated_and_mismatched(void **state)
{
	struct dev a = sample(), b = { 0 }, before = b;
	struct buf s, cut;
	struct err e;

	(void)state;
	save(&v2, &a, &s);
	/* Every proper prefix is refused and stores nothing. */
	for (size_t n = 0; n < s.len; n++) {
		struct rbuf r;

		rbuf_init(&r, s.p, n);
		assert_int_equal(state_load(&v2, &b, &r, &e), -1);
		assert_true(strstr(e.msg, "device 'test'") != NULL);
		assert_true(same_state(&b, &before));
	}
	cut = s;
	cut.len = 20;
	assert_int_equal(load(&v2, &b, &cut, &e), -1);
	expect_err(e, "device 'test': truncated at field 'mode'");
	cut.len = s.len - 1;
	assert_int_equal(load(&v2, &b, &cut, &e), -1);
	expect_err(e, "device 'test' field 'later_arr': truncated");
	/* Another device's section. */
	s.p[1] = 'b';
	assert_int_equal(load(&v2, &b, &s, &e), -1);
	expect_err(e, "expected device 'test', found 'best'");
	s.p[1] = 't';
	/* A field under another name, of another width, of another count. */
	s.p[14] = 'M';
	assert_int_equal(load(&v2, &b, &s, &e), -1);
	expect_err(e, "device 'test': field 0 is 'Mode', expected 'mode'");
	s.p[14] = 'm';
	s.p[18] = 2;
	assert_int_equal(load(&v2, &b, &s, &e), -1);
	expect_err(e, "device 'test' field 'mode': 1 x 2 bytes, expected 1 x 1");
	s.p[18] = 1;
	s.p[19] = 2;
	assert_int_equal(load(&v2, &b, &s, &e), -1);
	expect_err(e, "device 'test' field 'mode': 2 x 1 bytes, expected 1 x 1");
	s.p[19] = 1;
	assert_int_equal(load(&v2, &b, &s, &e), 0);
	buf_free(&s);
}

static void test_post_load(void **state)
{
	struct dev a = sample(), b = { .refuse = true };
	struct buf s;
	struct err e;

	(void)state;
	save(&v2, &a, &s);
	assert_int_equal(load(&v2, &b, &s, &e), -1);
	expect_err(e, "device 'test': w16 and w32 disagree");
	assert_int_equal(b.post_loads, 1);
	buf_free(&s);
}

static void test_dump(void **state)
{
	struct dev a = sample();
	json_t *o;
	char *text;

	(void)state;
	o = state_dump(&v1, &a);
	assert_non_null(o);
	text = json_encode(o, NULL);
	assert_non_null(text);
	assert_string_equal(text, "{\"mode\": 2, \"w16\": 48879, \"w32\": 3735928559, "
				  "\"w64\": 81985529216486895, \"arr\": [1, 10, 100, 1000]}");
	free(text);
	json_decref(o);
	assert_int_equal(state_value(&v2_fields[6], &a, 0), UINT64_MAX);
	assert_int_equal(state_value(&v2_fields[6], &a, 1), 9);
}

static void test_real_tables(void **state)
{
	const struct state_desc *all[] = { &cpu_state,	&plic_state, &uart_state,
					   &vnet_state, &vblk_state, &vrng_state };
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (state_check_desc(all[i], &e) < 0)
			fail_msg("%s", e.msg);
	assert_int_equal(state_check_desc(&v1, &e), 0);
}

static void test_check_desc_catches(void **state)
{
	static const struct state_field dup[] = { STATE_FIELD(struct dev, w16),
						  STATE_FIELD(struct dev, w16) };
	static const struct state_field bad_def[] = { STATE_FIELD_MAX(struct dev, mode, 3,
								      .since = 1, .def = 4) };
	static const struct state_field wide[] = { STATE_FIELD_MAX(struct dev, w16, 0x10000) };
	static const struct state_field future[] = { STATE_FIELD(struct dev, later,
								 .since = STATE_VERSION + 1) };
	struct err e;

	(void)state;
	assert_int_equal(state_check_desc(&(struct state_desc){ "d", 1, dup, 2, NULL }, &e), -1);
	expect_err(e, "device 'd': two fields named 'w16'");
	assert_int_equal(state_check_desc(&(struct state_desc){ "d", 1, bad_def, 1, NULL }, &e),
			 -1);
	expect_err(e, "device 'd' field 'mode': default 0x4 above its maximum");
	assert_int_equal(state_check_desc(&(struct state_desc){ "d", 1, wide, 1, NULL }, &e), -1);
	expect_err(e, "device 'd' field 'w16': maximum 0x10000 wider than 2 bytes");
	/* The table's version must be its newest field's, and known to this build. */
	assert_int_equal(
	    state_check_desc(&(struct state_desc){ "test", 1, v2_fields, 7, NULL }, &e), -1);
	expect_err(e, "device 'test': table version 1, its newest field is version 2");
	assert_int_equal(state_check_desc(&v2, &e), 0);
	assert_int_equal(
	    state_check_desc(&(struct state_desc){ "test", STATE_VERSION + 1, future, 1, NULL },
			     &e),
	    -1);
	expect_err(e, "device 'test': table version 3 above STATE_VERSION 2");
}

/* A section written at an older version is what that version's table writes. */
static void test_save_at_older_version(void **state)
{
	struct dev a = sample();
	struct buf old, at1, at9;

	(void)state;
	buf_init(&old);
	buf_init(&at1);
	buf_init(&at9);
	state_save(&v1, &a, &old);
	state_save_at(&v2, &a, 1, &at1);
	assert_int_equal(at1.len, old.len);
	assert_memory_equal(at1.p, old.p, old.len);
	state_save_at(&v2, &a, 9, &at9); /* above the table's: the table's own */
	buf_reset(&old);
	state_save(&v2, &a, &old);
	assert_int_equal(at9.len, old.len);
	assert_memory_equal(at9.p, old.p, old.len);
	buf_free(&old);
	buf_free(&at1);
	buf_free(&at9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_older_section_takes_defaults),
		cmocka_unit_test(test_save_at_older_version),
		cmocka_unit_test(test_newer_section_refused),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_truncated_and_mismatched),
		cmocka_unit_test(test_post_load),
		cmocka_unit_test(test_dump),
		cmocka_unit_test(test_real_tables),
		cmocka_unit_test(test_check_desc_catches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
