/* isa.c - the instruction set the hart implements (isa.h). */
#include "vmm/core/isa.h"

#include <string.h>
#include <strings.h>

/* What cpu.c implements: RV64IMAC with Zicntr, Zicsr and Zifencei. Add an extension here
 * when the interpreter gains it, and the device tree and the config follow. */
static const char *const isa_exts[] = { "i", "m", "a", "c", "zicntr", "zicsr", "zifencei" };

#define ISA_NEXTS (sizeof(isa_exts) / sizeof(isa_exts[0]))

void isa_string(char out[ISA_STR_MAX])
{
	size_t n = strlen("rv64");

	memcpy(out, "rv64", n);
	for (size_t i = 0; i < ISA_NEXTS; i++) {
		size_t len = strlen(isa_exts[i]);

		if (len > 1)
			out[n++] = '_';
		memcpy(out + n, isa_exts[i], len);
		n += len;
	}
	out[n] = 0;
}

size_t isa_extensions(char out[ISA_STR_MAX])
{
	size_t n = 0;

	for (size_t i = 0; i < ISA_NEXTS; i++) {
		size_t len = strlen(isa_exts[i]) + 1;

		memcpy(out + n, isa_exts[i], len);
		n += len;
	}
	return n;
}

int isa_check(const char *guest, struct err *e)
{
	char mine[ISA_STR_MAX];

	isa_string(mine);
	if (strcasecmp(guest, mine) != 0)
		return err_set(e, "guest ISA %.100s, this machine is %s", guest, mine);
	return 0;
}
