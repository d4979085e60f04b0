/* names.h - names and sizes as users type them: shared by the agent, the CLI and the API.
 *
 * A host or VM name is case-insensitive and kept in lower case: 1 to 63 characters of a-z,
 * 0-9 and '-', starting with a letter or a digit (a DNS label, so it can name a host too).
 * A size is a number of bytes with an optional binary suffix: "4096", "512K", "256M", "1G",
 * "1T" (also "256MiB", "256m"); it must fit in 63 bits.
 */
#ifndef FERRY_NAMES_H
#define FERRY_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define NAME_MAX_LEN 63

/* Check `in` and write its lower-case form to out (NAME_MAX_LEN + 1 bytes). e says what
 * is wrong: "'Cl_7' is not a name: '_' at position 3 (names are a-z, 0-9 and '-')". */
int name_normalize(const char *in, char out[NAME_MAX_LEN + 1], const char *what, struct err *e);
/* Parse a size; e says why it is not one ("'12Q' is not a size: unknown suffix 'Q'"). */
int size_parse(const char *in, uint64_t *out, struct err *e);
/* Format bytes the way people read them: "256 MiB", "1.5 GiB", "4096 B". */
void size_format(uint64_t bytes, char *out, size_t size);

#endif
