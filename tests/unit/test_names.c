/* test_names.c - names and sizes (common/names.h). */
#include "harness.h"

#include <string.h>

#include "common/names.h"

static void test_name_lowercased(void **state)
{
	(void)state;
	char out[NAME_MAX_LEN + 1];
	struct err e;
	assert_int_equal(name_normalize("VH01", out, "host", &e), 0);
	assert_string_equal(out, "vh01");
	assert_int_equal(name_normalize("cl-7", out, "VM", &e), 0);
	assert_string_equal(out, "cl-7");
}

static void test_name_refused(void **state)
{
	(void)state;
	char out[NAME_MAX_LEN + 1];
	struct err e;
	assert_int_equal(name_normalize("", out, "VM", &e), -1);
	assert_non_null(strstr(e.msg, "empty"));
	assert_int_equal(name_normalize("cl_7", out, "VM", &e), -1);
	assert_non_null(strstr(e.msg, "'_' at position 3"));
	assert_int_equal(name_normalize("-x", out, "VM", &e), -1);
	assert_non_null(strstr(e.msg, "starts with '-'"));
	assert_int_equal(name_normalize("a\xc3\xa9", out, "host", &e), -1);
	assert_non_null(strstr(e.msg, "0xc3 at position 2"));
	char longname[80];
	memset(longname, 'a', 64);
	longname[64] = '\0';
	assert_int_equal(name_normalize(longname, out, "VM", &e), -1);
	assert_non_null(strstr(e.msg, "64 characters"));
	longname[63] = '\0';
	assert_int_equal(name_normalize(longname, out, "VM", &e), 0);
}

static void test_size(void **state)
{
	(void)state;
	uint64_t v;
	struct err e;
	assert_int_equal(size_parse("4096", &v, &e), 0);
	assert_true(v == 4096);
	assert_int_equal(size_parse("256M", &v, &e), 0);
	assert_true(v == 256ULL << 20);
	assert_int_equal(size_parse("1GiB", &v, &e), 0);
	assert_true(v == 1ULL << 30);
	assert_int_equal(size_parse("512k", &v, &e), 0);
	assert_true(v == 512ULL << 10);
	assert_int_equal(size_parse("12Q", &v, &e), -1);
	assert_non_null(strstr(e.msg, "unknown suffix 'Q'"));
	assert_int_equal(size_parse("M", &v, &e), -1);
	assert_int_equal(size_parse("-1", &v, &e), -1);
	assert_int_equal(size_parse("99999999999T", &v, &e), -1);
	assert_non_null(strstr(e.msg, "too large"));
	assert_int_equal(size_parse("99999999999999999999999", &v, &e), -1);
	assert_int_equal(size_parse("1MX", &v, &e), -1);
}

static void test_size_format(void **state)
{
	(void)state;
	char b[32];
	size_format(256ULL << 20, b, sizeof b);
	assert_string_equal(b, "256 MiB");
	size_format(1536ULL << 20, b, sizeof b);
	assert_string_equal(b, "1.5 GiB");
	size_format(1023, b, sizeof b);
	assert_string_equal(b, "1023 B");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_lowercased),
		cmocka_unit_test(test_name_refused),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_size_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
