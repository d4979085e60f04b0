/* vmconn.h - one connection to a VM's control socket, kept for as long as the agent needs it.
 *
 * The agent talks to ferry-vm through its control socket (docs/control.md): a greeting, then
 * requests and replies, one JSON object per line, with events interleaved. A move keeps one
 * connection to its VM from the start of the migration to its end: it sends `migrate`, asks
 * `migrate-status`, and answers the VM's OWNER requests (the ownership record the agent decides
 * in etcd). Every wait is bounded by the caller's timeout; nothing here blocks without one.
 *
 * One struct vmconn belongs to one thread.
 */
#ifndef FERRY_VMCONN_H
#define FERRY_VMCONN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define VMCONN_LINE_MAX 65536

struct vmconn {
	int fd;
	int64_t next_id;
	size_t have;
	char buf[VMCONN_LINE_MAX];
};

/* Connect to path and read the greeting (a ferry-vm's), within timeout_ms. */
int vmconn_open(struct vmconn *c, const char *path, int timeout_ms, struct err *e);
void vmconn_close(struct vmconn *c);

/* The next message (a reply or an event) within timeout_ms: 1 and *msg (a new reference), 0 on
 * timeout, -1 on an error or the VM closing the connection (e says which). */
int vmconn_next(struct vmconn *c, int timeout_ms, json_t **msg, struct err *e);

/* Send {"execute": execute, "arguments": args, "id": N} (args borrowed, may be NULL) without
 * waiting: N, or -1. The reply comes through vmconn_next with "id": N. */
int64_t vmconn_send(struct vmconn *c, const char *execute, const json_t *args, struct err *e);

/* An event seen while waiting for a reply. */
typedef void (*vmconn_event_fn)(void *arg, const char *event, const json_t *data);

/* vmconn_send, then wait up to timeout_ms for its reply. 0 and *ret (the "return" value, a new reference; NULL if
 * ret is NULL), or -1 with e: the VM's error ("migrate: ...") or what went wrong. Events that
 * arrive meanwhile go to fn (may be NULL). */
int vmconn_call(struct vmconn *c, const char *execute, const json_t *args, int timeout_ms,
		json_t **ret, vmconn_event_fn fn, void *arg, struct err *e);

#endif
