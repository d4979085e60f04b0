/* names.c - names and sizes as users type them (names.h). */
#include "common/names.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int name_normalize(const char *in, char out[NAME_MAX_LEN + 1], const char *what, struct err *e)
{
	size_t n = in ? strlen(in) : 0;
	if (n == 0)
		return err_set(e, "a %s name cannot be empty", what);
	if (n > NAME_MAX_LEN)
		return err_set(e, "'%.70s%s' is not a %s name: %zu characters, at most %d", in,
			       n > 70 ? "..." : "", what, n, NAME_MAX_LEN);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (isascii(c) && (isalnum(c) || (c == '-' && i > 0))) {
			out[i] = (char)tolower(c);
			continue;
		}
		if (c == '-')
			return err_set(e, "'%s' is not a %s name: it starts with '-'", in, what);
		if (isprint(c) && isascii(c))
			return err_set(
			    e,
			    "'%s' is not a %s name: '%c' at position %zu (names are a-z, "
			    "0-9 and '-')",
			    in, what, c, i + 1);
		return err_set(e,
			       "a %s name has byte 0x%02x at position %zu (names are a-z, 0-9 and "
			       "'-')",
			       what, c, i + 1);
	}
	out[n] = '\0';
	return 0;
}

int size_parse(const char *in, uint64_t *out, struct err *e)
{
	if (!in || !*in)
		return err_set(e, "an empty string is not a size");
	if (!isdigit((unsigned char)in[0]))
		return err_set(e, "'%.64s' is not a size: it does not start with a digit", in);
	errno = 0;
	char *end;
	unsigned long long v = strtoull(in, &end, 10);
	if (errno == ERANGE)
		return err_set(e, "'%.64s' is not a size: too large", in);
	unsigned shift = 0;
	if (*end) {
		switch (toupper((unsigned char)*end)) {
		case 'B':
			shift = 0;
			break;
		case 'K':
			shift = 10;
			break;
		case 'M':
			shift = 20;
			break;
		case 'G':
			shift = 30;
			break;
		case 'T':
			shift = 40;
			break;
		default:
			return err_set(e, "'%.64s' is not a size: unknown suffix '%.8s'", in, end);
		}
		const char *rest = end + 1;
		if (shift && (!strcmp(rest, "iB") || !strcmp(rest, "ib") || !strcmp(rest, "B")))
			rest = "";
		if (*rest)
			return err_set(e, "'%.64s' is not a size: unknown suffix '%.8s'", in, end);
	}
	if (v > (UINT64_MAX >> 1) >> shift)
		return err_set(e, "'%.64s' is not a size: too large", in);
	*out = (uint64_t)v << shift;
	return 0;
}

void size_format(uint64_t bytes, char *out, size_t size)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	unsigned u = 0;
	uint64_t whole = bytes;
	while (whole >= 1024 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		whole >>= 10;
		u++;
	}
	if (u == 0 || (bytes & ((1ULL << (10 * u)) - 1)) == 0)
		snprintf(out, size, "%llu %s", (unsigned long long)whole, unit[u]);
	else
		snprintf(out, size, "%.1f %s", (double)bytes / (double)(1ULL << (10 * u)), unit[u]);
}
