/* test_json.c - the JSON module: strict reading (duplicates, UTF-8, NUL, nesting, integer
 * range, trailing bytes), the writer (escaping, the int64 rule, decimals, one line), round
 * trips, and independence from the locale. */
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/json.h"

/* Parse text (its strlen) and expect a refusal whose message contains want. */
static void refused(const char *text, size_t len, const char *want)
{
	struct err e = { { 0 } };
	json_t *v = json_parse(text, len, &e);

	if (v) {
		json_decref(v);
		fail_msg("accepted: %.*s", (int)len, text);
	}
	if (want && !strstr(e.msg, want))
		fail_msg("for %.*s: error '%s' does not say '%s'", (int)len, text, e.msg, want);
	assert_non_null(strstr(e.msg, "invalid JSON at byte"));
}

static json_t *parsed(const char *text)
{
	struct err e = { { 0 } };
	json_t *v = json_parse(text, strlen(text), &e);

	if (!v)
		fail_msg("refused %s: %s", text, e.msg);
	return v;
}

/* Encode v, check it is one line, and take the reference. */
static char *encoded(json_t *v)
{
	char *s = json_encode(v, NULL);

	assert_non_null(s);
	assert_null(strchr(s, '\n'));
	json_decref(v);
	return s;
}

static void test_duplicate_keys(void **state)
{
	(void)state;
	refused("{\"a\": 1, \"a\": 2}", 16, "duplicate");
	refused("{\"x\": {\"k\": true, \"k\": true}}", 29, "duplicate");
	/* the same key in two different objects is fine */
	json_decref(parsed("[{\"a\": 1}, {\"a\": 2}]"));
	/* escapes that spell the same key are the same key */
	refused("{\"a\": 1, \"\\u0061\": 2}", 21, "duplicate");
}

static void test_utf8(void **state)
{
	static const char *const bad[] = {
		"\"\xff\"",		/* never valid */
		"\"\x80\"",		/* a lone continuation byte */
		"\"\xc0\xaf\"",		/* overlong '/' */
		"\"\xe0\x80\xaf\"",	/* overlong, three bytes */
		"\"\xe2\x82\"",		/* truncated euro sign */
		"\"\xed\xa0\x80\"",	/* a surrogate, encoded */
		"\"\xf4\x90\x80\x80\"", /* above U+10FFFF */
		"{\"k\xfe\": 1}",	/* in a key */
		"\"\\ud800\"",		/* an unpaired surrogate escape */
		"\"\\udc00\\ud800\"",	/* the pair the wrong way round */
	};
	json_t *v;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refused(bad[i], strlen(bad[i]), NULL);
	/* two, three and four byte characters, and a surrogate pair as escapes */
	v = parsed("[\"\xc3\xa9\", \"\xe2\x82\xac\", \"\xf0\x9d\x84\x9e\", \"\\ud834\\udd1e\"]");
	assert_string_equal(json_string_value(json_array_get(v, 0)), "\xc3\xa9");
	assert_string_equal(json_string_value(json_array_get(v, 1)), "\xe2\x82\xac");
	assert_string_equal(json_string_value(json_array_get(v, 3)), "\xf0\x9d\x84\x9e");
	json_decref(v);
}

static void test_nul_and_controls(void **state)
{
	(void)state;
	refused("\"a\\u0000b\"", 10, NULL);
	refused("\"a\0b\"", 5, NULL);
	refused("[1]\0", 4, NULL);
	refused("\"tab\there\"", 10, NULL); /* raw control characters in strings */
	refused("\"line\nbreak\"", 12, NULL);
}

static void test_nesting(void **state)
{
	char text[256];
	size_t n = 0;

	(void)state;
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		text[n++] = '[';
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		text[n++] = ']';
	text[n] = 0;
	json_decref(parsed(text)); /* 32 levels */
	n = 0;
	for (int i = 0; i <= JSON_MAX_DEPTH; i++) /* 33, objects and arrays in turn */
		n += (size_t)sprintf(text + n, i % 2 ? "[" : "{\"k\": ");
	refused(text, n, "nested too deeply");
	/* 5000 open brackets never reach the parser's recursion */
	char *deep = malloc(5000);

	assert_non_null(deep);
	memset(deep, '[', 5000);
	refused(deep, 5000, "nested too deeply");
	free(deep);
	/* brackets inside strings do not count, nor do escaped quotes end the string */
	n = (size_t)sprintf(text, "[\"\\\"");
	for (int i = 0; i < 100; i++)
		text[n++] = '[';
	n += (size_t)sprintf(text + n, "\"]");
	json_decref(parsed(text));
}

static void test_integers(void **state)
{
	struct err e = { { 0 } };
	json_t *v;
	int64_t i;
	uint64_t u;

	(void)state;
	v = parsed("{\"max\": 9223372036854775807, \"min\": -9223372036854775808, \"neg\": -1, "
		   "\"real\": 1.0, \"s\": \"7\"}");
	assert_int_equal(json_get_int(v, "max", &i, &e), 1);
	assert_true(i == INT64_MAX);
	assert_int_equal(json_get_int(v, "min", &i, &e), 1);
	assert_true(i == INT64_MIN);
	assert_int_equal(json_get_u64(v, "max", &u, &e), 1);
	assert_true(u == (uint64_t)INT64_MAX);
	assert_int_equal(json_get_u64(v, "neg", &u, &e), -1);
	assert_non_null(strstr(e.msg, "'neg' must not be negative"));
	assert_int_equal(json_get_int(v, "real", &i, &e), -1); /* 1.0 is not an integer */
	assert_non_null(strstr(e.msg, "'real' must be an integer"));
	assert_int_equal(json_get_int(v, "s", &i, &e), -1);
	assert_int_equal(json_get_int(v, "absent", &i, &e), 0);
	json_decref(v);
	/* out of int64's range: refused, never rounded */
	refused("9223372036854775808", 19, "too big");
	refused("-9223372036854775809", 20, "too big");
	refused("18446744073709551615", 20, "too big");
	refused("1e400", 5, NULL);

	/* the writer: counts saturate, words keep their bits */
	char *s = encoded(json_pack("[o, o, o, o, o, o, o]", json_u64(0), json_u64(INT64_MAX),
				    json_u64((uint64_t)INT64_MAX + 1), json_u64(UINT64_MAX),
				    json_word(UINT64_MAX), json_word(0x8000000000000000ull),
				    json_word(0xffffffff80200000ull)));

	assert_string_equal(s, "[0, 9223372036854775807, 9223372036854775807, 9223372036854775807, "
			       "-1, -9223372036854775808, -2145386496]");
	v = parsed(s);
	assert_true((uint64_t)json_integer_value(json_array_get(v, 4)) == UINT64_MAX);
	assert_true((uint64_t)json_integer_value(json_array_get(v, 5)) == 0x8000000000000000ull);
	assert_true((uint64_t)json_integer_value(json_array_get(v, 6)) == 0xffffffff80200000ull);
	json_decref(v);
	free(s);
}

static void test_escaping(void **state)
{
	char raw[40], *s;
	json_t *v;
	size_t n = 0;

	(void)state;
	for (int c = 1; c < 0x20; c++)
		raw[n++] = (char)c;
	raw[n++] = '"';
	raw[n++] = '\\';
	raw[n++] = '/';
	raw[n++] = 0x7f;
	raw[n] = 0;
	s = encoded(json_text(raw));
	/* nothing below 0x20 survives unescaped */
	for (const char *p = s; *p; p++)
		assert_true((unsigned char)*p >= 0x20);
	assert_non_null(strstr(s, "\\u0001"));
	assert_non_null(strstr(s, "\\u001F"));
	assert_non_null(strstr(s, "\\n"));
	assert_non_null(strstr(s, "\\t"));
	assert_non_null(strstr(s, "\\\"\\\\/"));
	v = parsed(s);
	assert_string_equal(json_string_value(v), raw);
	json_decref(v);
	free(s);
}

static void test_text_repairs_utf8(void **state)
{
	char *s;

	(void)state;
	s = encoded(json_text("a\xff"
			      "b\xc0\xaf"
			      "c\xe2\x82"));
	assert_string_equal(s, "\"a\xef\xbf\xbd"
			       "b\xef\xbf\xbd\xef\xbf\xbd"
			       "c\xef\xbf\xbd\xef\xbf\xbd\"");
	free(s);
	s = encoded(json_text("caf\xc3\xa9 \xf0\x9d\x84\x9e"));
	assert_string_equal(s, "\"caf\xc3\xa9 \xf0\x9d\x84\x9e\"");
	free(s);
	s = encoded(json_text(NULL));
	assert_string_equal(s, "null");
	free(s);

	/* whatever the bytes, what comes out reads back as the same string */
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (int round = 0; round < 2000; round++) {
		char in[64];
		int len = 1 + round % 63;
		json_t *t, *back;

		for (int i = 0; i < len; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			in[i] = (char)(x % 255 + 1);
		}
		in[len] = 0;
		t = json_text(in);
		assert_non_null(t);
		s = json_encode(t, NULL);
		assert_non_null(s);
		back = parsed(s);
		assert_true(json_equal(back, t));
		json_decref(back);
		json_decref(t);
		free(s);
	}
}

static void test_round_trip(void **state)
{
	static const char text[] =
	    "{\"phase\": \"completed\", \"round\": 3, \"list\": [1, -2, [], {}], \"ok\": true, "
	    "\"no\": false, \"none\": null, \"ms\": 1311.6, \"tiny\": 2.5e-7, \"big\": 1e300, "
	    "\"s\": \"caf\xc3\xa9 \\\\ \\\"q\\\"\"}";
	json_t *v = parsed(text), *back;
	char *s = json_encode(v, NULL);

	(void)state;
	/* the same text: members in their order, ", " and ": " between them */
	assert_string_equal(s, text);
	back = parsed(s);
	assert_true(json_equal(v, back));
	json_decref(back);
	json_decref(v);
	free(s);
	/* whitespace around the value is fine, anything else after it is not */
	json_decref(parsed(" \r\n\t{}\n "));
	json_decref(parsed("7"));
	refused("{} {}", 5, NULL);
	refused("{}x", 3, NULL);
	refused("", 0, NULL);
	refused("[1,]", 4, NULL);
	refused("{'a': 1}", 8, NULL);
}

static void test_builders(void **state)
{
	json_t *o = json_object();
	struct buf b;
	char *s;

	(void)state;
	json_set_u64(o, "n", 5);
	json_set_word(o, "pc", 0xffffffff80000000ull);
	json_set_str(o, "s", "x");
	json_set_bool(o, "b", false);
	json_set_decimal(o, "ms", 2.44567, 3);
	json_set_decimal(o, "mips", 123.46, 1);
	json_set_decimal(o, "nan", NAN, 1);
	json_set_decimal(o, "inf", INFINITY, 1);
	json_set_decimal(o, "neg", -0.25, 1);
	json_set_int(o, "i", -3);
	assert_int_equal(json_push(NULL, json_integer(1)), -1); /* takes the reference anyway */
	assert_int_equal(json_set(NULL, "k", json_integer(1)), -1);
	json_set_u64(NULL, "k", 1);
	json_set_str(NULL, "k", "v");
	buf_init(&b);
	buf_put(&b, "> ", 2);
	assert_int_equal(json_encode_buf(o, &b), 0);
	assert_int_equal(json_encode_buf(NULL, &b), -1);
	buf_put_u8(&b, 0);
	assert_string_equal((char *)b.p,
			    "> {\"n\": 5, \"pc\": -2147483648, \"s\": \"x\", \"b\": false, "
			    "\"ms\": 2.446, \"mips\": 123.5, \"nan\": null, \"inf\": null, "
			    "\"neg\": -0.3, \"i\": -3}");
	buf_free(&b);
	s = encoded(o);
	free(s);
	assert_null(json_encode(NULL, NULL));
}

/* A locale whose decimal point is a comma changes neither what is read nor what is
 * written. */
static void test_locale(void **state)
{
	static const char *const names[] = { "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8",
					     "nl_NL.UTF-8", "de_DE" };
	const char *got = NULL;
	char probe[16];
	json_t *v;
	char *s;

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && !got; i++)
		got = setlocale(LC_ALL, names[i]);
	if (!got) {
		/* scripts/setup.sh generates de_DE.UTF-8; a machine without it cannot run this */
		print_message("no locale with a decimal comma is installed: skipped\n");
		skip();
	}
	snprintf(probe, sizeof(probe), "%.1f", 0.5);
	assert_string_equal(probe, "0,5"); /* the locale is really in force */
	v = parsed("[2.5, -1.25e3, 1311.6]");
	assert_true(json_real_value(json_array_get(v, 0)) == 2.5);
	assert_true(json_real_value(json_array_get(v, 1)) == -1250.0);
	json_push(v, json_decimal(0.125, 3));
	s = encoded(v);
	assert_string_equal(s, "[2.5, -1250.0, 1311.6, 0.125]");
	free(s);
	setlocale(LC_ALL, "C");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duplicate_keys),	  cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_nul_and_controls),  cmocka_unit_test(test_nesting),
		cmocka_unit_test(test_integers),	  cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_text_repairs_utf8), cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_builders),	  cmocka_unit_test(test_locale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
