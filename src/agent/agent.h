/* agent.h - what ferryd's modules share: the agent's state and the API's error.
 *
 * One struct agent per process, made by main.c. The HTTP handlers run on libmicrohttpd's
 * threads (one per connection) and the main loop on the main thread, so what both touch is
 * guarded: the VM supervisor (struct vms, not thread-safe) by vms_lock, the lease and host-key
 * bookkeeping by reg_lock, and the etcd clients (not thread-safe either) are lent from a small
 * pool. An error that goes out to an API client is a struct aerr: an HTTP status and a
 * message; the code ("not_found", ...) follows from the status (docs/api.md's table).
 */
#ifndef FERRY_AGENT_H
#define FERRY_AGENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/etcd.h"
#include "agent/vms.h"
#include "common/hostconf.h"

#define AGENT_ETCD_POOL 6 /* an incoming move holds one for its duration */
#define AGENT_MAX_VMS 256
#define AGENT_MAX_REVOKED 256

struct events;
struct moves;

struct aerr {
	int status;	  /* HTTP status: 400, 404, 409, 422, 502, 503, 500... */
	const char *code; /* NULL: the status's code (aerr_code) */
	char msg[512];
};
/* Set and return -1. */
int aerr_set(struct aerr *a, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The stable code of a status ("bad_request", "no_room"...). */
const char *aerr_code(int status);

struct agent {
	struct hostconf conf;
	struct etcd_cfg ecfg;
	char cert_serial[128]; /* this host's certificate serial, hex */
	char secret[256];      /* the cluster secret ("" if none) */
	const char *version;   /* FERRY_VERSION, from main.c */

	/* etcd clients lent to threads */
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cond;
	struct etcd *pool[AGENT_ETCD_POOL];
	bool pool_busy[AGENT_ETCD_POOL];

	/* the VM supervisor */
	pthread_mutex_t vms_lock;
	struct vms *vms;
	/* names stopped by request, under vms_lock */
	char stopping[AGENT_MAX_VMS][VM_NAME_MAX + 1];
	/* starts in flight (admitted, not yet running), under vms_lock */
	char starting[AGENT_MAX_VMS][VM_NAME_MAX + 1];

	/* registration, under reg_lock */
	pthread_mutex_t reg_lock;
	int64_t lease;
	bool registered;
	char host_state[16]; /* "active" or "draining" (this run's; "" reads as active) */

	/* revoked certificate serials (hex, lower case), under rev_lock */
	pthread_mutex_t rev_lock;
	char revoked[AGENT_MAX_REVOKED][128];
	size_t nrevoked;

	struct events *events;
	struct moves *moves; /* the moves this host takes part in (move.h) */
	volatile int quit;
};

/* Borrow an etcd client (blocks while all are lent); NULL with e set if none can be made. */
struct etcd *agent_etcd(struct agent *a, struct err *e);
void agent_etcd_put(struct agent *a, struct etcd *c);
/* Under vms_lock: true (and the mark cleared) if name was stopped by request. */
bool agent_stopping_take(struct agent *a, const char *name);
/* Under vms_lock: mark name as stopped by request (its exit is recorded by whoever stops it). */
void agent_stopping_mark(struct agent *a, const char *name);

#endif
