/* json.h - a small JSON reader (into a tree, with limits) and writer (into a growing buffer).
 *
 * The reader is for messages from outside (the control socket), so it is
 * strict RFC 8259 and bounded: nesting depth, string length and total size are
 * limited, and every error names what was wrong and where. A parsed tree lives
 * in one arena and is released with json_free().
 */
#ifndef FERRY_JSON_H
#define FERRY_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define JSON_MAX_DEPTH 32

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
	enum json_type type;
	bool b;
	double num;
	bool is_int;	      /* the number was written as an integer that fits int64_t */
	int64_t i;
	char *str;	      /* NUL-terminated (a string with NUL inside is refused) */
	size_t len;	      /* string length, or number of items/members */
	struct json *items;   /* array items, or object values */
	char **keys;	      /* object keys, parallel to items */
	struct json_arena *arena;
};

/* Parse exactly one JSON value from text (len bytes); surrounding whitespace is allowed.
 * Returns the root, or NULL with e set. */
struct json *json_parse(const char *text, size_t len, struct err *e);
void json_free(struct json *root);

/* Member of an object, or NULL (also if v is not an object). */
const struct json *json_get(const struct json *v, const char *key);
/* Typed member access: false if absent; -1 (with e set, naming the key) if of the wrong type.
 * Return 1 when found and stored. */
int json_get_int(const struct json *obj, const char *key, int64_t *out, struct err *e);
int json_get_str(const struct json *obj, const char *key, const char **out, struct err *e);
int json_get_bool(const struct json *obj, const char *key, bool *out, struct err *e);

/* A growing output buffer. */
struct jbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

void jbuf_init(struct jbuf *b);
void jbuf_free(struct jbuf *b);
void jbuf_add(struct jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s as a quoted, escaped JSON string. */
void jbuf_str(struct jbuf *b, const char *s);

#endif
