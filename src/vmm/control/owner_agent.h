/* owner_agent.h - the ownership record decided by the host agent (`--owner agent:...`).
 *
 * In the cluster, etcd decides who owns a VM, through the host agent (ferryd); the lease
 * file beside the disk only records the agent's tokens (handover.c composes the two). This
 * record (owner.h) is the agent's side of that composition, inside ferry-vm:
 *
 *   answered here, at once   what the agent decided in etcd before it started the process:
 *                            CLAIM (the token it was given, TOKEN), a restore's CHECK and
 *                            COMMIT (with from=EXPECT: etcd already moved from EXPECT to
 *                            TOKEN; any other save is stale);
 *   asked of the agent       what happens during a migration, in the run loop: an incoming
 *                            migration's COMMIT (from the source's token) and a source's
 *                            SETTLE. ask() records the request with a sequence number and
 *                            announces it as the OWNER event, to every control client, again
 *                            every 500 ms while it is unanswered (an agent that connects late
 *                            still sees it); the agent answers with the control command
 *                            owner-answer, and answer() returns that once.
 *
 * Nothing waits: the VM's thread goes on while the agent is asked, and no timeout ever
 * answers for the agent (a request stays pending until it is answered; the hand-over asks
 * again after "busy"). docs/control.md describes the event and the two commands.
 */
#ifndef FERRY_OWNER_AGENT_H
#define FERRY_OWNER_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "common/json.h"
#include "vmm/migrate/owner.h"

struct machine;

#define OWNER_AGENT_RESEND_MS 500

/* What `--owner agent:TOKEN[,from=EXPECT]` says. */
struct owner_agent_spec {
	uint64_t token; /* the token the agent holds for this process (0: none yet, incoming) */
	bool has_from;	/* a restore the agent committed in etcd from `from` to `token` */
	uint64_t from;
};

struct owner_agent {
	struct machine *m; /* its events go to the machine's listener (the control socket) */
	struct owner_agent_spec spec;
	uint64_t token;	   /* the token last given to this process (0: none) */
	bool held;	   /* ... and it holds it now (not released) */
	bool restore_done; /* the restore's COMMIT was answered: later ones are the agent's */
	uint64_t seq;	   /* of the last request sent to the agent (from 1) */
	/* the request under way */
	bool pending;
	bool remote;   /* asked of the agent (else answered here) */
	bool answered; /* the answer is in a, for answer() to return */
	enum own_op op;
	uint64_t expect;
	int64_t next_event_ns; /* the OWNER event goes out again at this time */
	struct own_answer a;
};

/* Parse "agent:TOKEN[,from=EXPECT]" (decimal, from= older than TOKEN). */
int owner_agent_parse(const char *spec, struct owner_agent_spec *s, struct err *e);
void owner_agent_init(struct owner_agent *oa, struct machine *m, const struct owner_agent_spec *s);
/* The record as the hand-over asks it (handover_init_with); oa must outlive it. */
struct own owner_agent_own(struct owner_agent *oa);
/* The pending request sent to the agent, as the OWNER event's data ({} if none). New. */
json_t *owner_agent_pending(const struct owner_agent *oa);
/* The agent's answer, the arguments of owner-answer: {"seq", "status", "token", "owner",
 * "msg"}. -1 with e naming what was wrong (nothing changes then). */
int owner_agent_reply(struct owner_agent *oa, const json_t *args, struct err *e);

#endif
