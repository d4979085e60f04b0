/* cluster.h - the agent's view of the cluster store: the key schema, registration, VM records,
 * start and stop, capacity.
 *
 * Keys (JSON values; DESIGN.md §6, docs/api.md):
 *   /ferry/hosts/<h>          bound to the host's lease, written once per lease: name, api,
 *                             migration, capacity, state, cert_serial, version
 *   /ferry/hosts/<h>/alloc    persistent: what is admitted ({"memory","vcpus","vms":{v:{..}}});
 *                             every admission is a compare-and-swap on its mod_revision
 *   /ferry/hosts/<h>/cert     persistent: the host's certificate serial and API address, so a
 *                             dead host can still be removed (and its certificate revoked)
 *   /ferry/vms/<v>/spec       persistent: memory, vcpus, isa, disk, kernel, initrd, append, mac
 *   /ferry/vms/<v>/owner      persistent, written only when ownership changes: host, migration
 *   /ferry/vms/<v>/state      bound to the owner host's lease: state, host, pid, since, reason
 *   /ferry/macs/<mac>         persistent: the VM a MAC belongs to (created with the spec, in
 *                             the same transaction, so MACs are unique)
 *   /ferry/revoked/<serial>   persistent: a removed host's certificate
 *   /ferry/migrations/<v>     a move under way, under its source's lease (move.h)
 *   /ferry/history/<ms>-<v>   persistent: a move that ended, written once (move.h)
 *
 * Pure functions (validation, state derivation, admission, the watch's translation into
 * events) are separate from the ones that talk to etcd, so unit tests reach them.
 */
#ifndef FERRY_CLUSTER_H
#define FERRY_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/agent.h"
#include "agent/etcd.h"
#include "agent/vms.h"

#define CLUSTER_LEASE_TTL 10
#define CLUSTER_KEEPALIVE_S 3
#define CLUSTER_VCPUS_MAX 8
#define CLUSTER_MEMORY_MIN (1ULL << 20)

/* ---- pure ----------------------------------------------------------------------------------- */

/* The body of POST /v1/vms into a spec (mac left empty). Every problem is a 400 naming the
 * member: unknown members, wrong types, a name that is not a name, a size that is not a size. */
int cluster_spec_from_request(const json_t *body, struct vm_spec *s, struct aerr *ae);
/* The stored spec (/ferry/vms/<v>/spec, without the name) and back. */
json_t *cluster_spec_to_json(const struct vm_spec *s);
int cluster_spec_from_json(const char *name, const json_t *j, struct vm_spec *s, struct err *e);

/* The state the API shows: the state key's if there is one ("exited" shows as "stopped");
 * none and the owner's host alive → "stopped"; none and the owner's host not alive → "lost";
 * no owner → "stopped". */
const char *cluster_vm_state(const char *state_key, const char *owner_host, bool owner_alive);

/* Admission: 0 if capacity minus used leaves room for the VM, else 422 with the numbers
 * ("vh02 has 128 MiB free, cl7 needs 256 MiB"). */
int cluster_admit(const char *host, uint64_t cap_mem, unsigned cap_vcpus, uint64_t used_mem,
		  unsigned used_vcpus, const struct vm_spec *s, struct aerr *ae);

/* An alloc value with vm's entry set (memory != 0) or removed (memory == 0); totals
 * recomputed from the entries. Takes a new reference; old may be NULL. */
json_t *cluster_alloc_with(const json_t *old, const char *vm, uint64_t memory, unsigned vcpus);
/* Totals of an alloc value (0 if NULL). */
void cluster_alloc_used(const json_t *alloc, uint64_t *mem, unsigned *vcpus);

/* The event a change under /ferry/ makes (type and data), or 0 if none. */
int cluster_event_from_watch(const struct etcd_event *ev, const char **type, json_t **data);

/* A random locally administered MAC 02:fe:xx:xx:xx:xx. */
void cluster_random_mac(char out[18]);

/* ---- with etcd ------------------------------------------------------------------------------ */

/* Register (or register again after the lease was lost): a new lease, the host key under it,
 * the state keys of this host's VMs rewritten under it (reason given), then the old lease (of
 * a previous run) revoked. */
int cluster_register(struct agent *a, const char *reason, struct err *e);
/* One keepalive; registers again if the lease is gone. */
int cluster_keepalive(struct agent *a, struct err *e);
/* At start: the alloc key made to hold exactly the VMs running here (adopted ones). */
int cluster_reconcile_alloc(struct agent *a, struct err *e);
/* Load the revoked serials (at start; the watch keeps them up to date). */
int cluster_load_revoked(struct agent *a, struct err *e);
bool cluster_is_revoked(struct agent *a, const char *serial);
void cluster_note_revoked(struct agent *a, const char *serial);
/* A VM of this host ended: its alloc entry released and its state key put. */
void cluster_vm_ended(struct agent *a, const char *name, const char *state, const char *reason);

/* For moves (move.c). A destination admits the VM into this host's alloc by compare-and-swap
 * (422 with the numbers if there is no room, 409 if this host is not active); the entry is
 * released when the move fails, and stays as the running VM's when it succeeds. */
int cluster_reserve(struct agent *a, const struct vm_spec *s, struct aerr *ae);
int cluster_unreserve(struct agent *a, const char *vm, struct err *e);
/* vm's state key under this host's lease. */
int cluster_put_state(struct agent *a, const char *vm, const char *state, pid_t pid,
		      const char *reason, struct err *e);
int cluster_vm_spec(struct agent *a, const char *vm, struct vm_spec *s, struct aerr *ae);
/* This host's state ("active", "draining"), and changing it (the host key is written again). */
void cluster_host_state(struct agent *a, char out[16]);
int cluster_set_host_state(struct agent *a, const char *state, struct err *e);

/* Where a request about a VM must go: for start (on = the "on" member or NULL) the chosen
 * host, else the owner's host. *self says it is this host. api gets the host's API address. */
int cluster_vm_target(struct agent *a, const char *vm, bool for_start, const char *on,
		      char host[64], char api[128], bool *self, struct aerr *ae);
/* The API address of a live host (404 unknown, 409 not alive). */
int cluster_host_api(struct agent *a, const char *host, char api[128], struct aerr *ae);

int cluster_vm_create(struct agent *a, const json_t *body, json_t **out, struct aerr *ae);
int cluster_vm_get(struct agent *a, const char *name, json_t **out, struct aerr *ae);
int cluster_vm_list(struct agent *a, json_t **out, struct aerr *ae);
int cluster_vm_remove(struct agent *a, const char *name, struct aerr *ae);
int cluster_vm_start_local(struct agent *a, const char *name, json_t **out, struct aerr *ae);
int cluster_vm_stop_local(struct agent *a, const char *name, json_t **out, struct aerr *ae);

int cluster_host_list(struct agent *a, json_t **out, struct aerr *ae);
int cluster_host_get(struct agent *a, const char *name, json_t **out, struct aerr *ae);
int cluster_host_remove(struct agent *a, const char *name, struct aerr *ae);
int cluster_status(struct agent *a, json_t **out, struct aerr *ae);

#endif
