/* state.h - migratable device state, declared once as a table of fields.
 *
 * Each device (the hart, the PLIC, the UART, ...) declares its state as a
 * `struct state_desc`: a name, a version and a table of fields (name, offset
 * in the device struct, element width, element count, largest legal value).
 * The same table drives:
 *   - save: every field written by name, width, count and value (little endian);
 *   - load: every field checked against the table (name, width, count, range)
 *     before anything is stored, errors naming the device and the field; then
 *     the device's post_load re-derives what is not state (interrupt lines,
 *     timers, caches) and checks what a range cannot (masks, combinations);
 *   - a debug dump as JSON.
 * State is never written as a raw struct, and a field cannot be saved but
 * forgotten on load, because both walk the same table.
 */
#ifndef FERRY_STATE_H
#define FERRY_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"

struct state_field {
	const char *name;
	size_t offset;
	uint8_t width;	/* bytes per element: 1, 2, 4 or 8 */
	uint32_t count; /* elements */
	uint64_t max;	/* largest legal value of each element */
};

struct state_desc {
	const char *name;
	uint32_t version;
	const struct state_field *fields;
	unsigned nfields;
	/* After a successful load: re-derive and cross-check; may fail with e set. */
	int (*post_load)(void *obj, struct err *e);
};

#define STATE_MEMBER_SIZE(type, m) sizeof(((type *)0)->m)
#define STATE_ELEM_SIZE(type, m) sizeof(((type *)0)->m[0])

/* A scalar field with the full range of its width. */
#define STATE_FIELD(type, m)                                                                       \
	{ #m, offsetof(type, m), STATE_MEMBER_SIZE(type, m), 1,                                    \
	  STATE_MEMBER_SIZE(type, m) == 8 ? UINT64_MAX                                             \
					  : (1ull << (8 * (STATE_MEMBER_SIZE(type, m) & 7))) - 1 }
/* A scalar field whose value must not exceed max. */
#define STATE_FIELD_MAX(type, m, mx) { #m, offsetof(type, m), STATE_MEMBER_SIZE(type, m), 1, (mx) }
/* An array field, every element within max. */
#define STATE_ARRAY_MAX(type, m, mx)                                                               \
	{ #m, offsetof(type, m), STATE_ELEM_SIZE(type, m),                                         \
	  STATE_MEMBER_SIZE(type, m) / STATE_ELEM_SIZE(type, m), (mx) }
#define STATE_ARRAY(type, m) STATE_ARRAY_MAX(type, m, UINT64_MAX)
#define STATE_NFIELDS(arr) ((unsigned)(sizeof(arr) / sizeof((arr)[0])))

/* Append the device's section: name, version, then every field. */
void state_save(const struct state_desc *d, const void *obj, struct buf *out);
/* Read a section written by state_save into obj, validating everything first: obj is left
 * untouched if anything is wrong. Then runs post_load. */
int state_load(const struct state_desc *d, void *obj, struct rbuf *in, struct err *e);
/* The fields as a new JSON object: {"name": value or [values], ...}; each value is the
 * field's bits as json_word writes them (NULL if out of memory). */
json_t *state_dump(const struct state_desc *d, const void *obj);
/* A 64-bit hash of the state as state_save encodes it (for tests comparing two machines). */
uint64_t state_hash(const struct state_desc *d, const void *obj);

/* FNV-1a 64 over bytes, chained from h (start with STATE_HASH_INIT). */
#define STATE_HASH_INIT 0xcbf29ce484222325ull
uint64_t state_hash_bytes(uint64_t h, const void *p, size_t n);

#endif
