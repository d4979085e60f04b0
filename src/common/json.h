/* json.h - JSON for every Ferry program: jansson's values, read strictly, written safely.
 *
 * Values are jansson's json_t (reference counted; jansson.h has the accessors:
 * json_object_get, json_array_size, json_string_value, ...). What this module adds is the
 * part every program of the project needs the same way:
 *
 *   reading   json_parse: one JSON text from outside (a control request, a migration
 *             control message, a snapshot's configuration record) read strictly: valid
 *             UTF-8 only, no duplicate keys, no NUL in strings, at most JSON_MAX_DEPTH
 *             nested arrays and objects, integers only in the signed 64-bit range, one
 *             value with nothing after it; the error names the byte and the cause. It does
 *             not depend on the locale (jansson converts numbers with '.' whatever
 *             LC_NUMERIC says). json_get_* fetch a typed member with an error that names it.
 *   writing   builders that cannot produce malformed output: json_text makes a valid string
 *             of any bytes (invalid UTF-8 becomes U+FFFD), json_set_* tolerate a NULL
 *             object (out of memory) so a caller checks once, at json_encode, which writes
 *             one value on one line (control characters in strings are escaped) with
 *             ", " and ": " between members, as the control socket has always spoken.
 *
 * Integers: every integer Ferry writes or reads is in int64's range (what jansson and most
 * readers hold exactly). Counts and sizes use json_u64, which never reaches 2^63 in
 * practice and saturates there; a 64-bit register value (pc, a device's state fields) uses
 * json_word: its bit pattern read as a signed integer, so 0xffffffff80200000 is written
 * -2145386496 and (uint64_t)json_integer_value() gives it back. Reals keep 15 significant
 * digits; json_decimal rounds a measurement to a number of decimal places first.
 */
#ifndef FERRY_JSON_H
#define FERRY_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define JSON_MAX_DEPTH 32

/* ---- reading ------------------------------------------------------------------------------ */

/* Parse exactly one JSON value from text (len bytes, no NUL needed); surrounding whitespace
 * is allowed. Returns a new reference, or NULL with e set ("invalid JSON at byte N: ..."). */
json_t *json_parse(const char *text, size_t len, struct err *e);
/* Drop a reference (NULL is fine). */
void json_free(json_t *v);

/* Member of an object, or NULL (also if v is not an object). Borrowed. */
json_t *json_get(const json_t *v, const char *key);
/* Typed member access: 0 if absent; -1 (with e set, naming the key) if of the wrong type;
 * 1 when found and stored. A string stays valid while obj lives. */
int json_get_int(const json_t *obj, const char *key, int64_t *out, struct err *e);
int json_get_u64(const json_t *obj, const char *key, uint64_t *out, struct err *e);
int json_get_str(const json_t *obj, const char *key, const char **out, struct err *e);
int json_get_bool(const json_t *obj, const char *key, bool *out, struct err *e);

/* ---- writing ------------------------------------------------------------------------------ */

/* A string from any NUL-terminated bytes (NULL gives null): invalid UTF-8 sequences become
 * U+FFFD, so an error text or a path from the system never makes the output invalid. */
json_t *json_text(const char *s);
json_t *json_u64(uint64_t v);  /* a count or a size; above INT64_MAX it saturates */
json_t *json_word(uint64_t v); /* a 64-bit register value, as its signed bit pattern */
/* A measurement rounded to places (0..9) decimals; NaN and infinities give null. */
json_t *json_decimal(double v, int places);

/* Set obj[key] = v, taking v's reference (even on failure). Nothing happens if obj or v is
 * NULL. Returns 0, or -1 if nothing was set. */
int json_set(json_t *obj, const char *key, json_t *v);
void json_set_int(json_t *obj, const char *key, int64_t v);
void json_set_u64(json_t *obj, const char *key, uint64_t v);
void json_set_word(json_t *obj, const char *key, uint64_t v);
void json_set_str(json_t *obj, const char *key, const char *s);
void json_set_bool(json_t *obj, const char *key, bool v);
void json_set_decimal(json_t *obj, const char *key, double v, int places);
/* Append v to an array, taking its reference. Returns 0, or -1 if nothing was appended. */
int json_push(json_t *arr, json_t *v);

/* v as one line of JSON text (no newline), malloc'ed and NUL-terminated: free() it. NULL if
 * v is NULL or memory ran out. len (if not NULL) gets the length. */
char *json_encode(const json_t *v, size_t *len);
/* Append v as one line of JSON text (no newline) to b. -1 if v is NULL or out of memory
 * (b is then left as it was). */
int json_encode_buf(const json_t *v, struct buf *b);

#endif
