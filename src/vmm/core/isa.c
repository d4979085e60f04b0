/* isa.c - the instruction set the hart implements (isa.h). */
#include "vmm/core/isa.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* Every extension in canonical order, with the optional bit that gives it (0: always). Add
 * an extension here when the interpreter gains it, and the device tree and the config
 * follow. */
static const struct {
	const char *name;
	unsigned bit;
} isa_exts[] = {
	{ "i", 0 }, { "m", 0 },	     { "a", 0 },     { "f", ISA_F },	{ "d", ISA_D },
	{ "c", 0 }, { "zicntr", 0 }, { "zicsr", 0 }, { "zifencei", 0 },
};

#define ISA_NEXTS (sizeof(isa_exts) / sizeof(isa_exts[0]))

static bool isa_has(unsigned ext, unsigned i)
{
	return isa_exts[i].bit == 0 || (ext & isa_exts[i].bit);
}

void isa_string(unsigned ext, char out[ISA_STR_MAX])
{
	size_t n = strlen("rv64");

	memcpy(out, "rv64", n);
	for (size_t i = 0; i < ISA_NEXTS; i++) {
		size_t len = strlen(isa_exts[i].name);

		if (!isa_has(ext, (unsigned)i))
			continue;
		if (len > 1)
			out[n++] = '_';
		memcpy(out + n, isa_exts[i].name, len);
		n += len;
	}
	out[n] = 0;
}

size_t isa_extensions(unsigned ext, char out[ISA_STR_MAX])
{
	size_t n = 0;

	for (size_t i = 0; i < ISA_NEXTS; i++) {
		size_t len = strlen(isa_exts[i].name) + 1;

		if (!isa_has(ext, (unsigned)i))
			continue;
		memcpy(out + n, isa_exts[i].name, len);
		n += len;
	}
	return n;
}

/* The index of extension name[0..len) in isa_exts, or -1. */
static int isa_find(const char *name, size_t len)
{
	for (size_t i = 0; i < ISA_NEXTS; i++)
		if (strlen(isa_exts[i].name) == len &&
		    strncasecmp(isa_exts[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

int isa_parse(const char *s, unsigned *ext, struct err *e)
{
	bool seen[ISA_NEXTS] = { false };
	const char *p = s;
	unsigned bits = 0;

	if (strncasecmp(p, "rv64", 4) != 0)
		return err_set(e, "ISA '%.100s': expected rv64 followed by extensions", s);
	p += 4;
	/* Single letters up to the first underscore. */
	while (*p && *p != '_') {
		char l = (char)tolower((unsigned char)*p);

		if (l == 'g') {
			static const char *const g[] = { "i", "m",     "a",	  "f",
							 "d", "zicsr", "zifencei" };

			for (size_t k = 0; k < sizeof(g) / sizeof(g[0]); k++)
				seen[isa_find(g[k], strlen(g[k]))] = true;
		} else {
			int i = isa_find(&l, 1);

			if (i < 0)
				return err_set(
				    e, "ISA '%.100s': extension '%c' is not one this hart has", s,
				    l);
			seen[i] = true;
		}
		p++;
	}
	/* Then multi-letter extensions, each after an underscore. */
	while (*p == '_') {
		const char *q = ++p;
		int i;

		while (*p && *p != '_')
			p++;
		i = isa_find(q, (size_t)(p - q));
		if (p == q || i < 0 || strlen(isa_exts[i].name) < 2)
			return err_set(e, "ISA '%.100s': extension '%.*s' is not one this hart has",
				       s, (int)(p - q > 32 ? 32 : p - q), q);
		seen[i] = true;
	}
	for (size_t i = 0; i < ISA_NEXTS; i++) {
		if (seen[i])
			bits |= isa_exts[i].bit;
		else if (isa_exts[i].bit == 0 && strlen(isa_exts[i].name) == 1)
			return err_set(
			    e, "ISA '%.100s': this hart always has '%s' and cannot leave it out", s,
			    isa_exts[i].name);
	}
	if ((bits & ISA_D) && !(bits & ISA_F))
		return err_set(e, "ISA '%.100s': D needs F", s);
	*ext = bits;
	return 0;
}

int isa_check(const char *guest, unsigned offered, unsigned *ext, struct err *e)
{
	char mine[ISA_STR_MAX], need[ISA_STR_MAX] = "";
	unsigned g;

	if (isa_parse(guest, &g, e) < 0)
		return -1;
	if (g & ~offered) {
		for (size_t i = 0; i < ISA_NEXTS; i++)
			if (isa_exts[i].bit & g & ~offered) {
				if (need[0])
					strcat(need, ", ");
				strcat(need, isa_exts[i].name);
			}
		isa_string(offered, mine);
		return err_set(
		    e, "the guest's ISA %.100s needs %s, which this machine (%s) does not give",
		    guest, need, mine);
	}
	*ext = g;
	return 0;
}
