/* control.h - the JSON control socket of ferry-vm (`--control unix:PATH`), shaped like QMP.
 *
 * One JSON message per line. On connect the server greets:
 *   {"ferry": {"version": "0.1", "protocol": 1, "commands": [...]}}
 * A request:  {"execute": "pause", "arguments": {...}, "id": 7}
 * is answered {"return": {...}, "id": 7}
 *         or  {"error": {"class": "...", "desc": "..."}, "id": 7}
 * Events:     {"event": "STOP", "data": {...}, "timestamp": {"seconds": s, "microseconds": us}}
 *
 * Up to CONTROL_MAX_CLIENTS clients at once; each gets the replies to its own
 * requests, every client gets every event. Requests run in arrival order
 * between two slices of the run loop, so they always see the machine at an
 * instruction boundary. A malformed request (bad JSON, unknown command,
 * wrong argument types, a line over CONTROL_LINE_MAX bytes) gets an error
 * reply; the VM keeps running. docs/control.md lists the commands.
 */
#ifndef FERRY_CONTROL_H
#define FERRY_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct machine;
struct handover;

#define CONTROL_MAX_CLIENTS 8
#define CONTROL_LINE_MAX 65536
#define CONTROL_PROTOCOL 1

struct control;

struct control_client {
	struct control *ctl;
	int fd; /* -1 if the slot is free */
	int slot;
	char *in;
	size_t in_len;
	bool discarding; /* inside an over-long line: drop bytes until its newline */
	bool mig_wait;	 /* answer this client's `migrate` when the migration ends */
	char mig_id[96]; /* the id of that request ("" if none) */
};

struct control {
	struct machine *m;
	struct handover *h; /* the VM's ownership record and migration (vmm/migrate/handover.h) */
	int listen_fd;
	int listen_slot;
	char path[108];
	struct control_client clients[CONTROL_MAX_CLIENTS];
	/* the client whose request is being run, and its id */
	struct control_client *current;
	char current_id[96];
	/* for the MIPS figure of `stats` */
	uint64_t stats_instret;
	int64_t stats_ns;
};

/* spec: "unix:PATH". */
int control_init(struct control *c, struct handover *h, const char *spec, struct err *e);
void control_destroy(struct control *c);

#endif
