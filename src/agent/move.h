/* move.h - moving a VM to another host through the cluster: live and quick migration, the best
 * possible node, drain.
 *
 * A move runs on the agents of its two hosts. The source's agent (the VM's owner) leads it:
 *
 *   1. prepare   /ferry/migrations/<vm> created only if absent, under the source's lease (one
 *                move per VM); the destination's agent admits the VM by compare-and-swap on
 *                its alloc key (or refuses with the numbers) and starts the incoming ferry-vm
 *                with a one-time token, answering with its migration addresses;
 *   2. memory    the source's VM is told to migrate over every link to that peer; progress
 *                goes from the VM to its agent and out on the event stream, never into etcd;
 *   3. state     the VM's own business (docs/migration.md);
 *   4. commit    the destination's VM asks its agent (the OWNER request, docs/control.md); the
 *                agent's one transaction compares the owner key's mod_revision with the token
 *                read at prepare and the migration key's with what it read, puts the new owner
 *                and moves the migration key to "committed". A source in doubt asks its agent
 *                to settle: an abort transaction on the same migration key, so exactly one of
 *                commit and abort succeeds, and a lost commit answer is recognised by reading
 *                the owner (the destination with this migration's id);
 *   5. activate  the destination writes the VM's state key under its lease; the source's copy
 *                ends and its alloc entry is released; the move goes into the history.
 *
 * Quick migration goes the same way with save (release) and restore in place of 2-3: the
 * destination commits the owner key before it restores (so the save can only be restored
 * there) and runs the VM from the file on the shared storage.
 *
 * At most MOVE_MAX_OUT moves leave a host at once; more wait, queued, and say so.
 */
#ifndef FERRY_MOVE_H
#define FERRY_MOVE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/agent.h"

#define MOVE_MAX_OUT 2
#define MOVE_PORT_FIRST 7400 /* incoming migrations listen on 7400-7499 */
#define MOVE_PORT_COUNT 100

/* A request to move a VM (POST /v1/vms/<vm>/move), validated. */
struct move_req {
	char to[64];   /* a host, or "best" */
	char from[64]; /* "" or the host the operator believes the VM is on */
	bool quick;
};
/* The body into a request: 400 naming the member that is wrong. */
int move_parse_request(const json_t *body, struct move_req *r, struct aerr *ae);

int move_init(struct agent *a);
void move_free(struct agent *a);

/* ---- the source (the VM's owner) ------------------------------------------------------------ */

/* Start moving vm (this host runs it): 202's body in *out ({"migration": M}), or 404/409/422. */
int move_request(struct agent *a, const char *vm, const struct move_req *r, json_t **out,
		 struct aerr *ae);
/* The move of vm led here (progress), or NULL. */
json_t *move_local_status(struct agent *a, const char *vm);
int move_cancel(struct agent *a, const char *vm, json_t **out, struct aerr *ae);

/* ---- any agent: from etcd ------------------------------------------------------------------- */

/* The migration key of vm: 1 found (source's host in source), 0 none, -1 etcd away. */
int move_find(struct agent *a, const char *vm, char source[64], struct aerr *ae);
int move_list(struct agent *a, json_t **out, struct aerr *ae);
int move_history(struct agent *a, json_t **out, struct aerr *ae);
/* The last move of vm from the history: 404 if it never moved. */
int move_last(struct agent *a, const char *vm, json_t **out, struct aerr *ae);

/* ---- the destination (internal endpoints, called by the source's agent) --------------------- */

int move_prepare(struct agent *a, const char *peer, const char *vm, const json_t *body,
		 json_t **out, struct aerr *ae);
int move_restore(struct agent *a, const char *peer, const char *vm, const json_t *body,
		 json_t **out, struct aerr *ae);
int move_abort(struct agent *a, const char *peer, const char *vm, const json_t *body, json_t **out,
	       struct aerr *ae);

/* ---- drain ---------------------------------------------------------------------------------- */

/* Mark this host draining and move each of its VMs to its best node, MOVE_MAX_OUT at a time. */
int move_drain(struct agent *a, json_t **out, struct aerr *ae);
/* Active again (a drain under way stops placing new moves). */
int move_resume_host(struct agent *a, json_t **out, struct aerr *ae);
/* The drain of this host, for GET /v1/hosts/<h> (NULL if none this run). */
json_t *move_drain_status(struct agent *a);

/* ---- the agent's loop ----------------------------------------------------------------------- */

/* A VM of this host exited: true if a move takes care of what that means (a source that moved
 * away, an incoming VM that never became the owner), so the caller records nothing. */
bool move_vm_exited(struct agent *a, const char *vm, int status);
/* After a restart and every 30 s: a VM here whose owner key names another host is
 * destroyed (it must never run here), and a VM's ownership request that nobody answered (its
 * agent was away) is answered. */
void move_reconcile(struct agent *a);

#endif
