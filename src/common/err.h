/* err.h - an error message that travels back to the caller.
 *
 * Library code never exits and never prints: a function that can fail takes
 * a `struct err *`, fills it with a message naming what was wrong, and
 * returns -1 (or false, or NULL). Only main() decides what to do with it.
 */
#ifndef FERRY_ERR_H
#define FERRY_ERR_H

#include <stdarg.h>

struct err {
	char msg[512];
};

/* Set the message (printf-style) and return -1, so `return err_set(e, ...)` reads naturally. */
int err_set(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like err_set, with ": strerror(errno)" appended. */
int err_errno(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Put "what: " in front of a message already set (for context added on the way up). */
int err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
