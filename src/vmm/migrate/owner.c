/* owner.c - names for the ownership interface's requests and answers (owner.h). */
#include "vmm/migrate/owner.h"

const char *own_op_name(enum own_op op)
{
	static const char *const names[] = { "claim", "check", "commit", "settle" };

	return (unsigned)op < sizeof(names) / sizeof(names[0]) ? names[op] : "?";
}

const char *own_status_name(enum own_status s)
{
	static const char *const names[] = { "ok", "refused", "busy", "failed" };

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}
