/* migrate.h - live migration of a running machine to another ferry-vm, over TCP.
 *
 * The source is a running ferry-vm told to migrate (control socket `migrate`);
 * the destination is a ferry-vm started with `--incoming ADDR[,ADDR...] --token-file F`
 * and the same guest-visible configuration, paused, listening. The five steps
 * (docs/migration.md):
 *
 *   1. config   the source connects a control channel and one data channel per
 *               address, each opened by a HELLO carrying the one-time token; the
 *               destination checks the token before reading anything else, then
 *               the guest-visible config, and accepts or refuses with a reason;
 *   2. memory   pre-copy rounds driven by the dirty bitmap while the guest runs,
 *               until what is left fits the downtime budget at the measured
 *               bandwidth (or rounds stop shrinking: then the vCPU is throttled;
 *               converge.h decides);
 *   3. state    the source pauses, sends the last pages, every device's state and
 *               the guest clock; the destination applies device state only after
 *               every data channel has drained;
 *   4. commit   the source lets go of the disk and the ownership record; the
 *               destination asks the record to move from the source's token to a
 *               new one (handover.h, owner.h): from its yes the destination owns
 *               the VM;
 *   5. activate the destination announces the guest's MACs (RARP) before its vCPU
 *               runs, resumes, and tells the source, which then exits.
 *
 * Pages carry the pre-copy round that sent them; the destination keeps, per
 * page, the newest round it has applied and ignores an older copy, so a page
 * re-sent in a later round is never overtaken by its old copy on another
 * channel, whichever channels carry them. A dead data channel (error, or no
 * progress within the stall timeout) is dropped, and the pages it carried are
 * sent again on the others in a new round.
 *
 * Everything runs in the machine's one thread, between slices of the hart:
 * sockets are non-blocking and polled with the rest of the run loop.
 */
#ifndef FERRY_MIGRATE_H
#define FERRY_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "common/json.h"

struct handover;

#define MIG_MAX_CHANNELS 8 /* data channels */
#define MIG_TOKEN_MAX 128
#define MIG_TOKEN_MIN 32 /* a destination's token: 128 bits at least (32 hex digits) */
#define MIG_DEFAULT_DOWNTIME_MS 20
#define MIG_STALL_MS 3000 /* a channel without progress this long is dead */
#define MIG_HEARTBEAT_MS 250
#define MIG_MAX_ROUNDS 40

/* Phases, as migrate-status and the MIGRATION events name them. */
enum mig_phase {
	MIG_NONE = 0,
	MIG_SETUP,     /* connecting, config */
	MIG_PRECOPY,   /* memory rounds while the guest runs */
	MIG_STOPCOPY,  /* paused: last pages, device state */
	MIG_COMMIT,    /* handing over the lease */
	MIG_COMPLETED, /* the destination runs the VM */
	MIG_FAILED,    /* the source runs the VM again (or, after the commit, nobody here) */
	MIG_CANCELLED,
	MIG_INCOMING, /* destination: waiting for or receiving a migration */
};

const char *mig_phase_name(enum mig_phase p);

/* Parameters of the `migrate` command. */
struct mig_params {
	char addrs[MIG_MAX_CHANNELS][64]; /* "host:port" of the destination, one per link */
	int naddrs;
	char token[MIG_TOKEN_MAX + 1];
	uint64_t downtime_ms; /* budget for the blackout */
	uint64_t bandwidth;   /* bytes per second, 0 = unlimited */
	int channels;	      /* data channels (default: one per address) */
};

/* Start migrating the running machine (source side). */
int mig_start(struct handover *h, const struct mig_params *p, struct err *e);
/* Cancel an outgoing migration before its commit: the VM keeps running here. */
int mig_cancel(struct handover *h, struct err *e);
/* The status object for migrate-status and the MIGRATION events (source or destination): a
 * new reference, NULL if out of memory. */
json_t *mig_status(struct handover *h);
/* Parse the arguments of the `migrate` command. */
int mig_parse_params(const json_t *args, struct mig_params *p, struct err *e);

/* Destination: listen on addrs ("host:port,host:port") for a migration presenting token. */
int mig_incoming(struct handover *h, const char *addrs, const char *token, struct err *e);

/* The phase of the machine's migration (MIG_NONE if none). */
enum mig_phase mig_phase(struct handover *h);
/* Is a migration deciding whether the VM runs (incoming before its commit; outgoing from the
 * pause on)? The operator's resume is refused then. */
bool mig_owns_run_state(struct handover *h);

/* Called by the run loop after every slice and poll: timers, pacing, state changes. */
void mig_tick(struct handover *h);
/* Release sockets and buffers. */
void mig_destroy(struct handover *h);

#endif
