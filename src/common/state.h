/* state.h - migratable device state, declared once as a table of fields.
 *
 * Each device (the hart, the PLIC, the UART, ...) declares its state as a
 * `struct state_desc`: a name, a version and a table of fields (name, offset
 * in the device struct, element width, element count, largest legal value,
 * the state version that added it and its default). The same table drives:
 *   - save: every field written by name, width, count and value (little endian);
 *   - load: every field checked against the table (name, width, count, range and,
 *     where the table gives them, the valid bits) before anything is stored, errors
 *     naming the device and the field; then the device's post_load re-derives what
 *     is not state (interrupt lines, timers, caches) and checks what a range cannot
 *     (combinations, values no table can list);
 *   - a debug dump as JSON.
 * State is never written as a raw struct, and a field cannot be saved but
 * forgotten on load, because both walk the same table.
 *
 * Versions. State versions are one sequence for the whole machine: STATE_VERSION is the
 * newest this ferry-vm knows. A field added later says so (`.since = 2, .def = ...`) and
 * its table's version becomes at least that; the original fields are version 1. A section
 * is written at its table's version and holds the fields of that version. A loader takes
 * a section of any version up to its own table's: the fields the writer did not have get
 * their defaults. A section newer than its table is refused, naming the device and both
 * versions. A field is never removed, and never changes width or count: it is added anew.
 */
#ifndef FERRY_STATE_H
#define FERRY_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"

/* The newest state version this ferry-vm writes and reads (the largest `since` of any table;
 * the stream header and the migration HELLO carry it). */
#define STATE_VERSION 2

struct state_field {
	const char *name;
	size_t offset;
	uint8_t width;	/* bytes per element: 1, 2, 4 or 8 */
	uint32_t count; /* elements */
	uint64_t max;	/* largest legal value of each element */
	uint64_t mask;	/* the bits an element may have set (0: any bit, up to max) */
	uint32_t since; /* the state version that added the field (0 means 1, the first) */
	uint64_t def;	/* each element's value when loading a section older than since */
};

struct state_desc {
	const char *name;
	uint32_t version; /* of the table: its newest field's since (at most STATE_VERSION) */
	const struct state_field *fields;
	unsigned nfields;
	/* After a successful load: re-derive and cross-check; may fail with e set. */
	int (*post_load)(void *obj, struct err *e);
};

#define STATE_MEMBER_SIZE(type, m) sizeof(((type *)0)->m)
#define STATE_ELEM_SIZE(type, m) sizeof(((type *)0)->m[0])
#define STATE_WIDTH_MAX(w) ((w) == 8 ? UINT64_MAX : (1ull << (8 * ((w)&7))) - 1)

/* The field macros take, after the member, the version and default of a field added later:
 *   STATE_FIELD(struct uart, lsr_err)                        a version 1 field
 *   STATE_FIELD(struct uart, lsr_err, .since = 2, .def = 0)  added in state version 2 */

/* A scalar field with the full range of its width. */
#define STATE_FIELD(type, m, ...)                                                                  \
	{                                                                                          \
		.name = #m, .offset = offsetof(type, m), .width = STATE_MEMBER_SIZE(type, m),      \
		.count = 1, .max = STATE_WIDTH_MAX(STATE_MEMBER_SIZE(type, m)), __VA_ARGS__        \
	}
/* A scalar field whose value must not exceed max. */
#define STATE_FIELD_MAX(type, m, mx, ...)                                                          \
	{                                                                                          \
		.name = #m, .offset = offsetof(type, m), .width = STATE_MEMBER_SIZE(type, m),      \
		.count = 1, .max = (mx), __VA_ARGS__                                               \
	}
/* A scalar field whose value may have only the bits of mk set (a register whose writes the
 * device masks: a value with other bits is one the guest could never have made). */
#define STATE_FIELD_MASK(type, m, mk, ...)                                                         \
	{                                                                                          \
		.name = #m, .offset = offsetof(type, m), .width = STATE_MEMBER_SIZE(type, m),      \
		.count = 1, .max = (mk), .mask = (mk), __VA_ARGS__                                 \
	}
/* An array field, every element within max. */
#define STATE_ARRAY_MAX(type, m, mx, ...)                                                          \
	{                                                                                          \
		.name = #m, .offset = offsetof(type, m), .width = STATE_ELEM_SIZE(type, m),        \
		.count = STATE_MEMBER_SIZE(type, m) / STATE_ELEM_SIZE(type, m), .max = (mx),       \
		__VA_ARGS__                                                                        \
	}
/* An array field with the full range of its element width. */
#define STATE_ARRAY(type, m, ...)                                                                  \
	STATE_ARRAY_MAX(type, m, STATE_WIDTH_MAX(STATE_ELEM_SIZE(type, m)), __VA_ARGS__)
#define STATE_NFIELDS(arr) ((unsigned)(sizeof(arr) / sizeof((arr)[0])))

/* The state version of a field (since, with 0 read as 1). */
static inline uint32_t state_field_since(const struct state_field *f)
{
	return f->since ? f->since : 1;
}

/* Append the device's section: name, version, then every field. */
void state_save(const struct state_desc *d, const void *obj, struct buf *out);
/* The same as an older state version wrote it (at most the table's): only the fields that
 * version had. A loader of that version reads it; so does this one, with defaults. */
void state_save_at(const struct state_desc *d, const void *obj, uint32_t version, struct buf *out);
/* Read a section written by state_save into obj, validating everything first: obj is left
 * untouched if anything is wrong. Then runs post_load. */
int state_load(const struct state_desc *d, void *obj, struct rbuf *in, struct err *e);
/* The fields as a new JSON object: {"name": value or [values], ...}; each value is the
 * field's bits as json_word writes them (NULL if out of memory). */
json_t *state_dump(const struct state_desc *d, const void *obj);
/* Element i of field f of obj, as a number. */
uint64_t state_value(const struct state_field *f, const void *obj, uint32_t i);
/* Check a table against the rules above (widths, ranges, defaults, versions, unique names);
 * the tests run it on every table. Returns 0, or -1 with e naming the device and field. */
int state_check_desc(const struct state_desc *d, struct err *e);
/* A 64-bit hash of the state as state_save encodes it (hash.h: XXH3-64 of the section). */
uint64_t state_hash(const struct state_desc *d, const void *obj);

#endif
