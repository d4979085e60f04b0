/* json.c - bounded JSON reader and a string builder.
 *
 * Recursive descent over the input with an explicit depth limit. Nodes,
 * strings and key arrays come from one arena so a failed parse frees
 * everything at once.
 */
#include "common/json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct json_arena {
	struct json_arena_block *head;
};

struct json_arena_block {
	struct json_arena_block *next;
	size_t used, size;
	max_align_t data[];
};

static void *arena_alloc(struct json_arena *a, size_t n)
{
	struct json_arena_block *b = a->head;

	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (!b || b->size - b->used < n) {
		size_t size = n > 8192 ? n : 8192;

		b = malloc(sizeof(*b) + size);
		if (!b)
			return NULL;
		b->size = size;
		b->used = 0;
		b->next = a->head;
		a->head = b;
	}
	void *p = (char *)b->data + b->used;

	b->used += n;
	return p;
}

static void arena_free(struct json_arena *a)
{
	struct json_arena_block *b = a->head;

	while (b) {
		struct json_arena_block *next = b->next;

		free(b);
		b = next;
	}
	free(a);
}

struct parser {
	const char *s;
	size_t len, pos;
	struct json_arena *arena;
	struct err *e;
};

static int perr(struct parser *p, const char *what)
{
	return err_set(p->e, "invalid JSON at byte %zu: %s", p->pos, what);
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
				   p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int parse_hex4(struct parser *p, unsigned *out)
{
	unsigned v = 0;

	if (p->len - p->pos < 4)
		return perr(p, "truncated \\u escape");
	for (int i = 0; i < 4; i++) {
		int h = hexval(p->s[p->pos + (size_t)i]);

		if (h < 0)
			return perr(p, "bad \\u escape");
		v = v << 4 | (unsigned)h;
	}
	p->pos += 4;
	*out = v;
	return 0;
}

static size_t utf8_put(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A string at p->pos (which is at the opening quote). Escapes never grow the text, so the
 * output fits in the input's length. */
static int parse_string(struct parser *p, char **out, size_t *outlen)
{
	size_t start = ++p->pos, n = 0;
	char *o;

	/* Find the closing quote first to size the output. */
	size_t q = start;

	while (q < p->len && p->s[q] != '"') {
		if (p->s[q] == '\\')
			q++;
		q++;
	}
	if (q >= p->len)
		return perr(p, "unterminated string");
	o = arena_alloc(p->arena, q - start + 1);
	if (!o)
		return perr(p, "out of memory");
	while (p->s[p->pos] != '"') {
		unsigned char c = (unsigned char)p->s[p->pos];

		if (c < 0x20)
			return perr(p, "control character in string");
		if (c != '\\') {
			o[n++] = (char)c;
			p->pos++;
			continue;
		}
		p->pos++;
		char esc = p->s[p->pos++];

		switch (esc) {
		case '"':
		case '\\':
		case '/':
			o[n++] = esc;
			break;
		case 'b':
			o[n++] = '\b';
			break;
		case 'f':
			o[n++] = '\f';
			break;
		case 'n':
			o[n++] = '\n';
			break;
		case 'r':
			o[n++] = '\r';
			break;
		case 't':
			o[n++] = '\t';
			break;
		case 'u': {
			unsigned cp, lo;

			if (parse_hex4(p, &cp) < 0)
				return -1;
			if (cp >= 0xd800 && cp < 0xdc00) {
				if (p->len - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
					return perr(p, "unpaired surrogate");
				p->pos += 2;
				if (parse_hex4(p, &lo) < 0)
					return -1;
				if (lo < 0xdc00 || lo >= 0xe000)
					return perr(p, "unpaired surrogate");
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp < 0xe000) {
				return perr(p, "unpaired surrogate");
			}
			if (cp == 0)
				return perr(p, "NUL in string");
			n += utf8_put(o + n, cp);
			break;
		}
		default:
			p->pos--;
			return perr(p, "bad escape");
		}
	}
	p->pos++;
	o[n] = 0;
	*out = o;
	*outlen = n;
	return 0;
}

static int parse_value(struct parser *p, struct json *v, int depth);

static int parse_number(struct parser *p, struct json *v)
{
	size_t start = p->pos;
	bool is_int = true;
	char buf[64];
	char *end;

	if (p->s[p->pos] == '-')
		p->pos++;
	if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
		return perr(p, "bad number");
	if (p->s[p->pos] == '0')
		p->pos++;
	else
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
			p->pos++;
	if (p->pos < p->len && p->s[p->pos] == '.') {
		is_int = false;
		p->pos++;
		if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
			return perr(p, "bad number");
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
			p->pos++;
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
		is_int = false;
		p->pos++;
		if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
			p->pos++;
		if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
			return perr(p, "bad number");
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
			p->pos++;
	}
	if (p->pos - start >= sizeof(buf))
		return perr(p, "number too long");
	memcpy(buf, p->s + start, p->pos - start);
	buf[p->pos - start] = 0;
	v->type = JSON_NUMBER;
	v->num = strtod(buf, NULL);
	if (is_int) {
		errno = 0;
		long long ll = strtoll(buf, &end, 10);

		if (errno == 0 && *end == 0) {
			v->is_int = true;
			v->i = ll;
		}
	}
	return 0;
}

static int parse_literal(struct parser *p, const char *lit)
{
	size_t n = strlen(lit);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, lit, n) != 0)
		return perr(p, "unexpected token");
	p->pos += n;
	return 0;
}

/* Growable temporary list used while parsing arrays and objects. */
struct tmp_list {
	struct json *vals;
	char **keys;
	size_t n, cap;
};

static int tmp_push(struct tmp_list *t, bool with_key)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		struct json *nv = realloc(t->vals, cap * sizeof(*nv));

		if (!nv)
			return -1;
		t->vals = nv;
		if (with_key) {
			char **nk = realloc(t->keys, cap * sizeof(*nk));

			if (!nk)
				return -1;
			t->keys = nk;
		}
		t->cap = cap;
	}
	memset(&t->vals[t->n], 0, sizeof(t->vals[t->n]));
	t->n++;
	return 0;
}

static int finish_list(struct parser *p, struct json *v, struct tmp_list *t, bool with_key)
{
	v->len = t->n;
	if (t->n) {
		v->items = arena_alloc(p->arena, t->n * sizeof(*v->items));
		if (!v->items)
			return perr(p, "out of memory");
		memcpy(v->items, t->vals, t->n * sizeof(*v->items));
		if (with_key) {
			v->keys = arena_alloc(p->arena, t->n * sizeof(*v->keys));
			if (!v->keys)
				return perr(p, "out of memory");
			memcpy(v->keys, t->keys, t->n * sizeof(*v->keys));
		}
	}
	return 0;
}

static int parse_array(struct parser *p, struct json *v, int depth)
{
	struct tmp_list t = { 0 };
	int rc = -1;

	p->pos++;
	v->type = JSON_ARRAY;
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == ']') {
		p->pos++;
		return 0;
	}
	for (;;) {
		if (tmp_push(&t, false) < 0) {
			perr(p, "out of memory");
			goto out;
		}
		if (parse_value(p, &t.vals[t.n - 1], depth + 1) < 0)
			goto out;
		skip_ws(p);
		if (p->pos < p->len && p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->s[p->pos] == ']') {
			p->pos++;
			break;
		}
		perr(p, "expected ',' or ']'");
		goto out;
	}
	rc = finish_list(p, v, &t, false);
out:
	free(t.vals);
	free(t.keys);
	return rc;
}

static int parse_object(struct parser *p, struct json *v, int depth)
{
	struct tmp_list t = { 0 };
	int rc = -1;

	p->pos++;
	v->type = JSON_OBJECT;
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == '}') {
		p->pos++;
		return 0;
	}
	for (;;) {
		char *key;
		size_t klen;

		skip_ws(p);
		if (p->pos >= p->len || p->s[p->pos] != '"') {
			perr(p, "expected a string key");
			goto out;
		}
		if (parse_string(p, &key, &klen) < 0)
			goto out;
		skip_ws(p);
		if (p->pos >= p->len || p->s[p->pos] != ':') {
			perr(p, "expected ':'");
			goto out;
		}
		p->pos++;
		if (tmp_push(&t, true) < 0) {
			perr(p, "out of memory");
			goto out;
		}
		t.keys[t.n - 1] = key;
		if (parse_value(p, &t.vals[t.n - 1], depth + 1) < 0)
			goto out;
		skip_ws(p);
		if (p->pos < p->len && p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->s[p->pos] == '}') {
			p->pos++;
			break;
		}
		perr(p, "expected ',' or '}'");
		goto out;
	}
	rc = finish_list(p, v, &t, true);
out:
	free(t.vals);
	free(t.keys);
	return rc;
}

static int parse_value(struct parser *p, struct json *v, int depth)
{
	if (depth > JSON_MAX_DEPTH)
		return perr(p, "nested too deeply");
	v->arena = p->arena;
	skip_ws(p);
	if (p->pos >= p->len)
		return perr(p, "unexpected end");
	switch (p->s[p->pos]) {
	case '{':
		return parse_object(p, v, depth);
	case '[':
		return parse_array(p, v, depth);
	case '"':
		v->type = JSON_STRING;
		return parse_string(p, &v->str, &v->len);
	case 't':
		v->type = JSON_BOOL;
		v->b = true;
		return parse_literal(p, "true");
	case 'f':
		v->type = JSON_BOOL;
		v->b = false;
		return parse_literal(p, "false");
	case 'n':
		v->type = JSON_NULL;
		return parse_literal(p, "null");
	default:
		return parse_number(p, v);
	}
}

struct json *json_parse(const char *text, size_t len, struct err *e)
{
	struct parser p = { .s = text, .len = len, .e = e };
	struct json *root;

	p.arena = calloc(1, sizeof(*p.arena));
	if (!p.arena) {
		err_set(e, "out of memory");
		return NULL;
	}
	root = arena_alloc(p.arena, sizeof(*root));
	if (!root) {
		arena_free(p.arena);
		err_set(e, "out of memory");
		return NULL;
	}
	memset(root, 0, sizeof(*root));
	if (parse_value(&p, root, 0) < 0) {
		arena_free(p.arena);
		return NULL;
	}
	skip_ws(&p);
	if (p.pos != p.len) {
		perr(&p, "trailing characters after the value");
		arena_free(p.arena);
		return NULL;
	}
	root->arena = p.arena;
	return root;
}

void json_free(struct json *root)
{
	if (root)
		arena_free(root->arena);
}

const struct json *json_get(const struct json *v, const char *key)
{
	if (!v || v->type != JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < v->len; i++)
		if (strcmp(v->keys[i], key) == 0)
			return &v->items[i];
	return NULL;
}

int json_get_int(const struct json *obj, const char *key, int64_t *out, struct err *e)
{
	const struct json *v = json_get(obj, key);

	if (!v)
		return 0;
	if (v->type != JSON_NUMBER || !v->is_int)
		return err_set(e, "'%s' must be an integer", key);
	*out = v->i;
	return 1;
}

int json_get_str(const struct json *obj, const char *key, const char **out, struct err *e)
{
	const struct json *v = json_get(obj, key);

	if (!v)
		return 0;
	if (v->type != JSON_STRING)
		return err_set(e, "'%s' must be a string", key);
	*out = v->str;
	return 1;
}

int json_get_bool(const struct json *obj, const char *key, bool *out, struct err *e)
{
	const struct json *v = json_get(obj, key);

	if (!v)
		return 0;
	if (v->type != JSON_BOOL)
		return err_set(e, "'%s' must be true or false", key);
	*out = v->b;
	return 1;
}

void jbuf_init(struct jbuf *b)
{
	memset(b, 0, sizeof(*b));
}

void jbuf_free(struct jbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static bool jbuf_reserve(struct jbuf *b, size_t more)
{
	if (b->oom)
		return false;
	if (b->len + more + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 256;

	while (cap < b->len + more + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);

	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void jbuf_add(struct jbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !jbuf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void jbuf_str(struct jbuf *b, const char *s)
{
	if (!jbuf_reserve(b, strlen(s) * 6 + 2))
		return;
	b->p[b->len++] = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			b->p[b->len++] = '\\';
			b->p[b->len++] = (char)c;
		} else if (c < 0x20) {
			b->len += (size_t)sprintf(b->p + b->len, "\\u%04x", c);
		} else {
			b->p[b->len++] = (char)c;
		}
	}
	b->p[b->len++] = '"';
	b->p[b->len] = 0;
}
