/* owner.h - the ownership record as the hand-over asks it: requests, answered later.
 *
 * "At most one copy of a VM runs" rests on one durable record that says which
 * process owns the VM, and a token (an epoch, a revision) that changes exactly
 * when ownership does. The hand-over (handover.h) asks the record four things:
 *
 *   CLAIM      a fresh start (or a VM resumed on after a save): own it with a
 *              new token, whatever it held;
 *   CHECK      a restore: is the record still at the save's token (expect)?
 *   COMMIT     a move's commit: if the record is at expect, it names us now
 *              with a new token; else REFUSED with what it holds;
 *   SETTLE     a source in doubt: OK if the record is still ours at expect (we
 *              hold it again), REFUSED if it moved on (the VM is elsewhere),
 *              BUSY if that cannot be told yet (ask again).
 *
 * Requests are asynchronous: ask() starts one, and the run loop's tick of the
 * hand-over polls answer() until it gives the one answer, so a slow record never
 * blocks the VM's thread (heartbeats go on, the peer's stall detector is not
 * tripped). The implementation chooses the new token; the caller only keeps it.
 *
 * Implementations: the lease file beside the disk (commit.c) decides alone; in
 * the cluster, etcd decides through the host agent and the lease file then only
 * records etcd's token under its lock (own_record_token), so the disk itself
 * says which token may open it.
 */
#ifndef FERRY_OWNER_H
#define FERRY_OWNER_H

#include <stdbool.h>
#include <stdint.h>

#define OWN_OWNER_MAX 64
#define OWN_MSG_MAX 512 /* as struct err */

enum own_op {
	OWN_CLAIM,
	OWN_CHECK,
	OWN_COMMIT,
	OWN_SETTLE,
};

enum own_status {
	OWN_OK,	     /* done: token is the record's token now (ours, except for CHECK) */
	OWN_REFUSED, /* the record is not at expect: token and owner say what it holds */
	OWN_BUSY,    /* not known yet (the record is held by another party): ask again */
	OWN_FAILED,  /* the record could not be read or written: msg says why */
};

struct own_answer {
	enum own_op op;
	enum own_status status;
	uint64_t token;
	char owner[OWN_OWNER_MAX];
	char msg[OWN_MSG_MAX];
};

struct own_ops {
	const char *name;
	/* Start a request (one at a time): 0, or -1 if one is pending. */
	int (*ask)(void *impl, enum own_op op, uint64_t expect);
	/* The answer to the pending request, once (true); false while it is not known. */
	bool (*answer)(void *impl, struct own_answer *a);
	/* Let go of the record (it keeps its token); a later CLAIM, COMMIT or SETTLE takes it. */
	void (*release)(void *impl);
	/* The token this process holds (0: none). */
	uint64_t (*token)(void *impl);
	void (*destroy)(void *impl);
};

/* A record: an implementation and its state. */
struct own {
	const struct own_ops *ops;
	void *impl;
};

static inline int own_ask(struct own *o, enum own_op op, uint64_t expect)
{
	return o->ops->ask(o->impl, op, expect);
}

static inline bool own_answer(struct own *o, struct own_answer *a)
{
	return o->ops->answer(o->impl, a);
}

const char *own_op_name(enum own_op op);
const char *own_status_name(enum own_status s);

#endif
