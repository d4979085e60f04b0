/* json.c - strict reading and safe writing of JSON, on jansson.
 *
 * Why jansson reads too (the project had its own fuzzed reader before): the agent and the
 * CLI will read a document, change it and write it again (etcd values, API bodies), which
 * wants one value type for both directions; jansson's lexer already validates UTF-8
 * (overlong forms and surrogates included) and refuses duplicate keys
 * (JSON_REJECT_DUPLICATES), "\u0000" and integers out of range; its number conversions
 * swap in the locale's decimal point around strtod and snprintf, so neither reading nor
 * writing depends on LC_NUMERIC; and it is fuzzed upstream. What jansson does not bound
 * tightly is nesting (2048 levels, compiled in): json_parse measures the depth first, with
 * a scan that only tracks strings and brackets, so a hostile message never reaches the
 * parser's recursion. The fuzz target of the migration stream goes through json_parse for
 * every control message it sends.
 */
#include "common/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Nesting of arrays and objects in text, outside strings. Whether the brackets match is the
 * parser's business; this only finds the first byte past the depth limit. */
static bool json_depth_ok(const char *s, size_t len, size_t *at)
{
	bool in_str = false;
	int depth = 0;

	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = false;
		} else if (ch == '"') {
			in_str = true;
		} else if (ch == '[' || ch == '{') {
			if (++depth > JSON_MAX_DEPTH) {
				*at = i;
				return false;
			}
		} else if (ch == ']' || ch == '}') {
			depth--;
		}
	}
	return true;
}

json_t *json_parse(const char *text, size_t len, struct err *e)
{
	json_error_t je;
	json_t *v;
	size_t at;

	if (!json_depth_ok(text, len, &at)) {
		err_set(e, "invalid JSON at byte %zu: nested too deeply (more than %d levels)", at,
			JSON_MAX_DEPTH);
		return NULL;
	}
	v = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!v)
		err_set(e, "invalid JSON at byte %d: %s", je.position, je.text);
	return v;
}

void json_free(json_t *v)
{
	json_decref(v);
}

json_t *json_get(const json_t *v, const char *key)
{
	return json_is_object(v) ? json_object_get(v, key) : NULL;
}

int json_get_int(const json_t *obj, const char *key, int64_t *out, struct err *e)
{
	const json_t *v = json_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_integer(v))
		return err_set(e, "'%s' must be an integer", key);
	*out = json_integer_value(v);
	return 1;
}

int json_get_u64(const json_t *obj, const char *key, uint64_t *out, struct err *e)
{
	int64_t v = 0;
	int rc = json_get_int(obj, key, &v, e);

	if (rc == 1 && v < 0)
		return err_set(e, "'%s' must not be negative", key);
	if (rc == 1)
		*out = (uint64_t)v;
	return rc;
}

int json_get_str(const json_t *obj, const char *key, const char **out, struct err *e)
{
	const json_t *v = json_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_string(v))
		return err_set(e, "'%s' must be a string", key);
	*out = json_string_value(v);
	return 1;
}

int json_get_bool(const json_t *obj, const char *key, bool *out, struct err *e)
{
	const json_t *v = json_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return err_set(e, "'%s' must be true or false", key);
	*out = json_is_true(v);
	return 1;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong form, no surrogate,
 * nothing above U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned cp, min;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2, cp = s[0] & 0x1fu, min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3, cp = s[0] & 0x0fu, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4, cp = s[0] & 0x07u, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

json_t *json_text(const char *s)
{
	static const char repl[] = "\xef\xbf\xbd"; /* U+FFFD */
	const unsigned char *u = (const unsigned char *)s;
	size_t n, i, k, out = 0;
	json_t *v;
	char *t;

	if (!s)
		return json_null();
	n = strlen(s);
	for (i = 0; i < n; i += k) {
		k = utf8_seq(u + i, n - i);
		if (!k)
			break;
	}
	if (i == n)
		return json_stringn(s, n);
	t = malloc(n * 3 + 1);
	if (!t)
		return NULL;
	for (i = 0; i < n; i += k) {
		k = utf8_seq(u + i, n - i);
		if (k) {
			memcpy(t + out, s + i, k);
			out += k;
		} else {
			memcpy(t + out, repl, 3);
			out += 3;
			k = 1;
		}
	}
	v = json_stringn(t, out);
	free(t);
	return v;
}

json_t *json_u64(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

json_t *json_word(uint64_t v)
{
	/* v - 2^64 for the upper half, written without relying on an out-of-range conversion */
	return json_integer(v > INT64_MAX ? -(json_int_t)~v - 1 : (json_int_t)v);
}

json_t *json_decimal(double v, int places)
{
	double scale = 1, x;

	if (!isfinite(v))
		return json_null();
	for (int i = 0; i < places && i < 9; i++)
		scale *= 10;
	x = v * scale;
	if (x > -9e15 && x < 9e15) /* exactly representable once rounded */
		v = (double)(int64_t)(x + (x < 0 ? -0.5 : 0.5)) / scale;
	return json_real(v);
}

int json_set(json_t *obj, const char *key, json_t *v)
{
	if (!obj || !v) {
		json_decref(v);
		return -1;
	}
	return json_object_set_new(obj, key, v);
}

void json_set_int(json_t *obj, const char *key, int64_t v)
{
	if (obj)
		json_set(obj, key, json_integer(v));
}

void json_set_u64(json_t *obj, const char *key, uint64_t v)
{
	if (obj)
		json_set(obj, key, json_u64(v));
}

void json_set_word(json_t *obj, const char *key, uint64_t v)
{
	if (obj)
		json_set(obj, key, json_word(v));
}

void json_set_str(json_t *obj, const char *key, const char *s)
{
	if (obj)
		json_set(obj, key, json_text(s));
}

void json_set_bool(json_t *obj, const char *key, bool v)
{
	if (obj)
		json_set(obj, key, json_boolean(v));
}

void json_set_decimal(json_t *obj, const char *key, double v, int places)
{
	if (obj)
		json_set(obj, key, json_decimal(v, places));
}

int json_push(json_t *arr, json_t *v)
{
	if (!arr || !v) {
		json_decref(v);
		return -1;
	}
	return json_array_append_new(arr, v);
}

/* One line, members separated by ", " and ": " (jansson's default without JSON_COMPACT or
 * an indent), any value at the top, reals with 15 significant digits. */
#define JSON_ENCODE_FLAGS (JSON_ENCODE_ANY | JSON_REAL_PRECISION(15))

char *json_encode(const json_t *v, size_t *len)
{
	char *s = v ? json_dumps(v, JSON_ENCODE_FLAGS) : NULL;

	if (s && len)
		*len = strlen(s);
	return s;
}

static int json_buf_put(const char *p, size_t n, void *opaque)
{
	struct buf *b = opaque;

	buf_put(b, p, n);
	return b->oom ? -1 : 0;
}

int json_encode_buf(const json_t *v, struct buf *b)
{
	size_t at = b->len;

	if (!v || b->oom || json_dump_callback(v, json_buf_put, b, JSON_ENCODE_FLAGS) != 0) {
		if (b->len > at)
			b->len = at;
		return -1;
	}
	return 0;
}
