/* state.c - save, load, validate and dump device state from its field table. */
#include "common/state.h"

#include <stdlib.h>
#include <string.h>

#include "common/hash.h"

uint64_t state_value(const struct state_field *f, const void *obj, uint32_t i)
{
	const uint8_t *p = (const uint8_t *)obj + f->offset + (size_t)i * f->width;
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	switch (f->width) {
	case 1:
		memcpy(&v8, p, 1);
		return v8;
	case 2:
		memcpy(&v16, p, 2);
		return v16;
	case 4:
		memcpy(&v32, p, 4);
		return v32;
	default:
		memcpy(&v64, p, 8);
		return v64;
	}
}

static void state_set(void *obj, const struct state_field *f, uint32_t i, uint64_t v)
{
	uint8_t *p = (uint8_t *)obj + f->offset + (size_t)i * f->width;
	uint8_t v8 = (uint8_t)v;
	uint16_t v16 = (uint16_t)v;
	uint32_t v32 = (uint32_t)v;

	switch (f->width) {
	case 1:
		memcpy(p, &v8, 1);
		break;
	case 2:
		memcpy(p, &v16, 2);
		break;
	case 4:
		memcpy(p, &v32, 4);
		break;
	default:
		memcpy(p, &v, 8);
		break;
	}
}

void state_save(const struct state_desc *d, const void *obj, struct buf *out)
{
	state_save_at(d, obj, d->version, out);
}

void state_save_at(const struct state_desc *d, const void *obj, uint32_t version, struct buf *out)
{
	unsigned n = 0;

	if (version > d->version)
		version = d->version;
	for (unsigned k = 0; k < d->nfields; k++)
		n += state_field_since(&d->fields[k]) <= version;
	buf_put_name(out, d->name);
	buf_put_u32(out, version);
	buf_put_u32(out, n);
	for (unsigned k = 0; k < d->nfields; k++) {
		const struct state_field *f = &d->fields[k];

		if (state_field_since(f) > version)
			continue;
		buf_put_name(out, f->name);
		buf_put_u8(out, f->width);
		buf_put_u32(out, f->count);
		for (uint32_t i = 0; i < f->count; i++) {
			uint64_t v = state_value(f, obj, i);

			switch (f->width) {
			case 1:
				buf_put_u8(out, (uint8_t)v);
				break;
			case 2:
				buf_put_u16(out, (uint16_t)v);
				break;
			case 4:
				buf_put_u32(out, (uint32_t)v);
				break;
			default:
				buf_put_u64(out, v);
				break;
			}
		}
	}
}

static bool state_get_elem(struct rbuf *in, uint8_t width, uint64_t *v)
{
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;

	switch (width) {
	case 1:
		if (!rbuf_get_u8(in, &v8))
			return false;
		*v = v8;
		return true;
	case 2:
		if (!rbuf_get_u16(in, &v16))
			return false;
		*v = v16;
		return true;
	case 4:
		if (!rbuf_get_u32(in, &v32))
			return false;
		*v = v32;
		return true;
	default:
		return rbuf_get_u64(in, v);
	}
}

/* Is field f in a section written at state version v? */
static bool state_field_in(const struct state_field *f, uint32_t v)
{
	return state_field_since(f) <= v;
}

int state_load(const struct state_desc *d, void *obj, struct rbuf *in, struct err *e)
{
	char name[256];
	uint32_t version, nfields, want = 0;
	size_t total = 0;
	uint64_t *vals;
	size_t vi = 0;
	int rc = -1;

	if (!rbuf_get_name(in, name) || !rbuf_get_u32(in, &version) || !rbuf_get_u32(in, &nfields))
		return err_set(e, "device '%s': truncated section header", d->name);
	if (strcmp(name, d->name) != 0)
		return err_set(e, "expected device '%s', found '%s'", d->name, name);
	if (version == 0 || version > d->version)
		return err_set(
		    e,
		    "device '%s': state version %u, this ferry-vm reads its state at versions "
		    "1 to %u",
		    d->name, version, d->version);
	for (unsigned k = 0; k < d->nfields; k++) {
		total += d->fields[k].count;
		want += state_field_in(&d->fields[k], version);
	}
	if (nfields != want)
		return err_set(e, "device '%s': %u fields, expected %u at state version %u",
			       d->name, nfields, want, version);
	vals = calloc(total ? total : 1, sizeof(*vals));
	if (!vals)
		return err_set(e, "device '%s': out of memory", d->name);

	/* Read and check everything before storing anything; a field newer than the section
	 * takes its default. */
	for (unsigned k = 0; k < d->nfields; k++) {
		const struct state_field *f = &d->fields[k];
		uint8_t width;
		uint32_t count;

		if (!state_field_in(f, version)) {
			for (uint32_t i = 0; i < f->count; i++)
				vals[vi++] = f->def;
			continue;
		}
		if (!rbuf_get_name(in, name) || !rbuf_get_u8(in, &width) ||
		    !rbuf_get_u32(in, &count)) {
			err_set(e, "device '%s': truncated at field '%s'", d->name, f->name);
			goto out;
		}
		if (strcmp(name, f->name) != 0) {
			err_set(e, "device '%s': field %u is '%s', expected '%s'", d->name, k, name,
				f->name);
			goto out;
		}
		if (width != f->width || count != f->count) {
			err_set(e, "device '%s' field '%s': %u x %u bytes, expected %u x %u",
				d->name, f->name, count, width, f->count, f->width);
			goto out;
		}
		for (uint32_t i = 0; i < count; i++) {
			uint64_t v;

			if (!state_get_elem(in, width, &v)) {
				err_set(e, "device '%s' field '%s': truncated", d->name, f->name);
				goto out;
			}
			if (v > f->max) {
				if (count > 1)
					err_set(e,
						"device '%s' field '%s[%u]': value 0x%llx above "
						"its maximum 0x%llx",
						d->name, f->name, i, (unsigned long long)v,
						(unsigned long long)f->max);
				else
					err_set(e,
						"device '%s' field '%s': value 0x%llx above its "
						"maximum 0x%llx",
						d->name, f->name, (unsigned long long)v,
						(unsigned long long)f->max);
				goto out;
			}
			if (f->mask && (v & ~f->mask)) {
				if (count > 1)
					err_set(e,
						"device '%s' field '%s[%u]': value 0x%llx has bits "
						"outside 0x%llx",
						d->name, f->name, i, (unsigned long long)v,
						(unsigned long long)f->mask);
				else
					err_set(e,
						"device '%s' field '%s': value 0x%llx has bits "
						"outside 0x%llx",
						d->name, f->name, (unsigned long long)v,
						(unsigned long long)f->mask);
				goto out;
			}
			vals[vi++] = v;
		}
	}
	vi = 0;
	for (unsigned k = 0; k < d->nfields; k++)
		for (uint32_t i = 0; i < d->fields[k].count; i++)
			state_set(obj, &d->fields[k], i, vals[vi++]);
	rc = 0;
	if (d->post_load && d->post_load(obj, e) < 0)
		rc = err_prefix(e, "device '%s'", d->name);
out:
	free(vals);
	return rc;
}

json_t *state_dump(const struct state_desc *d, const void *obj)
{
	json_t *o = json_object();

	for (unsigned k = 0; o && k < d->nfields; k++) {
		const struct state_field *f = &d->fields[k];
		json_t *v = f->count > 1 ? json_array() : NULL;

		for (uint32_t i = 0; i < f->count; i++) {
			if (f->count > 1)
				json_push(v, json_word(state_value(f, obj, i)));
			else
				v = json_word(state_value(f, obj, i));
		}
		json_set(o, f->name, v);
	}
	return o;
}

uint64_t state_hash(const struct state_desc *d, const void *obj)
{
	struct buf b;
	uint64_t h;

	buf_init(&b);
	state_save(d, obj, &b);
	h = hash_bytes(b.p, b.len);
	buf_free(&b);
	return h;
}

int state_check_desc(const struct state_desc *d, struct err *e)
{
	uint32_t newest = 1;

	if (!d->name || !*d->name || strlen(d->name) > 255)
		return err_set(e, "a state table without a usable name");
	for (unsigned k = 0; k < d->nfields; k++) {
		const struct state_field *f = &d->fields[k];

		if (!f->name || !*f->name || strlen(f->name) > 255)
			return err_set(e, "device '%s': field %u has no usable name", d->name, k);
		if (f->width != 1 && f->width != 2 && f->width != 4 && f->width != 8)
			return err_set(e, "device '%s' field '%s': width %u", d->name, f->name,
				       f->width);
		if (f->count == 0)
			return err_set(e, "device '%s' field '%s': no elements", d->name, f->name);
		if (f->max > STATE_WIDTH_MAX(f->width))
			return err_set(e,
				       "device '%s' field '%s': maximum 0x%llx wider than %u bytes",
				       d->name, f->name, (unsigned long long)f->max, f->width);
		if (f->def > f->max)
			return err_set(e,
				       "device '%s' field '%s': default 0x%llx above its maximum",
				       d->name, f->name, (unsigned long long)f->def);
		if (f->mask && (f->mask > f->max || (f->def & ~f->mask)))
			return err_set(
			    e,
			    "device '%s' field '%s': valid bits 0x%llx above its maximum "
			    "or not covering its default",
			    d->name, f->name, (unsigned long long)f->mask);
		if (state_field_since(f) > newest)
			newest = state_field_since(f);
		for (unsigned j = 0; j < k; j++)
			if (strcmp(d->fields[j].name, f->name) == 0)
				return err_set(e, "device '%s': two fields named '%s'", d->name,
					       f->name);
	}
	if (d->version != newest)
		return err_set(e, "device '%s': table version %u, its newest field is version %u",
			       d->name, d->version, newest);
	if (d->version > STATE_VERSION)
		return err_set(e, "device '%s': table version %u above STATE_VERSION %u", d->name,
			       d->version, STATE_VERSION);
	return 0;
}
