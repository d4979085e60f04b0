/* control.h - the JSON control socket of ferry-vm (`--control unix:PATH`), shaped like QMP.
 *
 * One JSON message per line. On connect the server greets:
 *   {"ferry": {"version": "0.1", "protocol": 1, "commands": [...]}}
 * A request:  {"execute": "pause", "arguments": {...}, "id": 7}
 * is answered {"return": {...}, "id": 7}
 *         or  {"error": {"class": "...", "desc": "..."}, "id": 7}
 * Events:     {"event": "STOP", "data": {...}, "timestamp": {"seconds": s, "microseconds": us}}
 *
 * Up to CONTROL_MAX_CLIENTS clients at once, each root or the VM's own user (the socket
 * is mode 0600 and every peer's credentials are checked); each gets the replies to its own
 * requests, every client gets every event. Requests run in arrival order between two
 * slices of the run loop, so they always see the machine at an instruction boundary. A
 * malformed request (bad JSON, unknown command, wrong argument types, a line over
 * CONTROL_LINE_MAX bytes) gets an error reply; the VM keeps running.
 *
 * Nothing is ever written to a client from where a reply or an event is made: messages go
 * into the client's queue and leave when the poll loop finds its socket writable, so a
 * client that reads slowly costs the VM nothing. One that lets more than CONTROL_QUEUE_MAX
 * bytes pile up is disconnected. A request answered later (`migrate` with "wait") is
 * answered on the connection that asked, or not at all if it has gone. docs/control.md
 * lists the commands.
 */
#ifndef FERRY_CONTROL_H
#define FERRY_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"

struct machine;
struct handover;
struct owner_agent;

#define CONTROL_MAX_CLIENTS 8
#define CONTROL_LINE_MAX 65536
#define CONTROL_PROTOCOL 1

#define CONTROL_QUEUE_MAX (1u << 20) /* bytes queued for one client before it is dropped */

struct control;

struct control_client {
	struct control *ctl;
	int fd; /* -1 if the slot is free */
	int slot;
	uint64_t conn; /* which connection holds the slot (counts up from 1) */
	pid_t pid;     /* the peer, from SO_PEERCRED */
	uid_t uid;
	char *in;
	size_t in_len;
	bool discarding; /* inside an over-long line: drop bytes until its newline */
	bool eof;	 /* the client shut down its sending side: close once its queue is empty */
	struct buf out;	 /* queued lines; out.p + out_off is the next byte to write */
	size_t out_off;
	bool mig_wait;	/* answer this connection's `migrate` when the migration ends */
	json_t *mig_id; /* the id of that request (NULL if none) */
};

struct control {
	struct machine *m;
	struct handover *h; /* the VM's ownership record and migration (vmm/migrate/handover.h) */
	struct owner_agent *owner; /* the agent's record (--owner agent:...), or NULL */
	int listen_fd;
	int listen_slot;
	char path[108];
	struct control_client clients[CONTROL_MAX_CLIENTS];
	uint64_t conns; /* connections accepted so far */
	/* the client whose request is being run, and its id */
	struct control_client *current;
	json_t *current_id;
	/* no files written, no connections made: save and migrate stop after their arguments
	 * are checked (the in-process fuzz target) */
	bool sandbox;
	/* for the MIPS figure of `stats` */
	uint64_t stats_instret;
	int64_t stats_ns;
};

/* spec: "unix:PATH". */
int control_init(struct control *c, struct handover *h, const char *spec, struct err *e);
/* The VM's ownership record is the agent's (owner_agent.h): its requests are answered with
 * owner-answer, and owner-pending shows the one waiting. */
void control_set_owner(struct control *c, struct owner_agent *oa);
/* Serve a connected stream socket as a client (control_accept does this once the peer is
 * allowed): its slot, or -1 if every slot is taken (fd is then not ours). */
int control_adopt(struct control *c, int fd, pid_t pid, uid_t uid);
/* Take bytes as if client slot `client` had sent them (tests and fuzzing: no socket read). */
void control_feed(struct control *c, int client, const char *buf, size_t n);
/* Close every client (what is still queued for them gets a short, bounded chance to leave:
 * the machine has stopped by then) and remove the socket. */
void control_destroy(struct control *c);

#endif
