/* control.c - the control socket: clients, framing, output queues, commands, events.
 *
 * Commands are a table of handlers; each gets the parsed arguments object (or NULL) and an
 * empty result object to fill, or fails with a message. Every message to a client (a
 * reply, an event, the greeting) is built with jansson and appended, as one line, to that
 * client's queue; the queue is written only when the poll loop says the socket takes more
 * (POLLOUT), never where the message was made, so neither a request nor an event in the
 * middle of a migration's blackout ever waits for a client. A client whose queue grows past
 * CONTROL_QUEUE_MAX bytes is not reading: it is disconnected, with a log line.
 */
#include "vmm/control/control.h"

#include <errno.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "common/fault.h"
#include "common/state.h"
#include "common/unixsock.h"
#include "vmm/board/machine.h"
#include "vmm/control/owner_agent.h"
#include "vmm/core/isa.h"
#include "vmm/migrate/handover.h"
#include "vmm/migrate/migrate.h"
#include "vmm/state/snapshot.h"

#define CONTROL_VERSION "0.1"
/* At exit, how long what is still queued may take to leave (the machine has stopped). */
#define CONTROL_EXIT_FLUSH_MS 1000

struct control_cmd {
	const char *name;
	/* Fill out (an empty object) with the result; return -1 with e set on failure, 1 if the
	 * reply comes later. */
	int (*run)(struct control *c, const json_t *args, json_t *out, struct err *e);
};

static void control_drop(struct control *c, struct control_client *cl)
{
	if (cl->fd < 0)
		return;
	close(cl->fd);
	machine_set_pollfd(c->m, cl->slot, -1, 0);
	cl->fd = -1;
	cl->in_len = 0;
	cl->discarding = false;
	cl->eof = false;
	buf_free(&cl->out);
	cl->out_off = 0;
	/* A later connection in this slot is someone else: nothing owed to this one is theirs. */
	cl->mig_wait = false;
	json_decref(cl->mig_id);
	cl->mig_id = NULL;
}

static size_t control_pending(const struct control_client *cl)
{
	return cl->out.len - cl->out_off;
}

static void control_set_poll(struct control *c, struct control_client *cl)
{
	if (cl->fd >= 0)
		machine_set_pollfd(
		    c->m, cl->slot, cl->fd,
		    (short)((cl->eof ? 0 : POLLIN) | (control_pending(cl) ? POLLOUT : 0)));
}

/* Write what the socket takes now, without waiting. */
static void control_flush(struct control *c, struct control_client *cl)
{
	while (cl->fd >= 0 && control_pending(cl)) {
		ssize_t n = send(cl->fd, cl->out.p + cl->out_off, control_pending(cl),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			log_info("control: client (pid %d) gone: %s", (int)cl->pid,
				 n < 0 ? strerror(errno) : "closed");
			control_drop(c, cl);
			return;
		}
		cl->out_off += (size_t)n;
	}
	if (cl->fd < 0)
		return;
	if (!control_pending(cl)) {
		buf_reset(&cl->out);
		cl->out_off = 0;
		if (cl->eof) {
			control_drop(c, cl); /* it stopped sending and has had every reply */
			return;
		}
	} else if (cl->out_off >= 65536) {
		memmove(cl->out.p, cl->out.p + cl->out_off, control_pending(cl));
		cl->out.len -= cl->out_off;
		cl->out_off = 0;
	}
	control_set_poll(c, cl);
}

/* Queue one message (and its newline) for a client. */
static void control_send(struct control *c, struct control_client *cl, const json_t *msg)
{
	size_t before;

	if (cl->fd < 0)
		return;
	before = cl->out.len;
	if (json_encode_buf(msg, &cl->out) < 0) {
		log_error("control: out of memory for a message to a client (pid %d)",
			  (int)cl->pid);
		return;
	}
	buf_put_u8(&cl->out, '\n');
	if (cl->out.oom) {
		cl->out.len = before;
		log_error("control: out of memory for a message to a client (pid %d)",
			  (int)cl->pid);
		return;
	}
	if (control_pending(cl) > CONTROL_QUEUE_MAX) {
		log_warn("control: client (pid %d, uid %u) is not reading: %zu bytes queued, more "
			 "than %u; disconnected",
			 (int)cl->pid, (unsigned)cl->uid, control_pending(cl), CONTROL_QUEUE_MAX);
		control_drop(c, cl);
		return;
	}
	control_set_poll(c, cl);
}

static json_t *control_error_msg(const char *cls, const char *desc, const json_t *id)
{
	json_t *msg = json_object(), *err = json_object();

	json_set_str(err, "class", cls);
	json_set_str(err, "desc", desc);
	json_set(msg, "error", err);
	if (id)
		json_set(msg, "id", json_incref((json_t *)id));
	return msg;
}

static void control_reply_error(struct control *c, struct control_client *cl, const char *cls,
				const char *desc, const json_t *id)
{
	json_t *msg = control_error_msg(cls, desc, id);

	control_send(c, cl, msg);
	json_decref(msg);
}

static bool control_phase_final(const json_t *status)
{
	const char *phase = NULL;
	struct err e;

	if (json_get_str(status, "phase", &phase, &e) != 1)
		return false;
	return strcmp(phase, "completed") == 0 || strcmp(phase, "failed") == 0 ||
	       strcmp(phase, "cancelled") == 0;
}

static void control_event(void *opaque, const char *name, json_t *data)
{
	struct control *c = opaque;
	int64_t rt = gclock_realtime_ns();
	json_t *msg, *t;

	/* A `migrate` with "wait": true is answered, on its own connection, when the migration
	 * ends; its reply comes before the event. */
	if (strcmp(name, "MIGRATION") == 0 && control_phase_final(data)) {
		for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
			struct control_client *cl = &c->clients[i];

			if (cl->fd < 0 || !cl->mig_wait)
				continue;
			msg = json_object();
			json_set(msg, "return", json_incref(data));
			if (cl->mig_id)
				json_set(msg, "id", json_incref(cl->mig_id));
			cl->mig_wait = false;
			json_decref(cl->mig_id);
			cl->mig_id = NULL;
			control_send(c, cl, msg);
			json_decref(msg);
		}
	}

	msg = json_object();
	t = json_object();
	json_set_str(msg, "event", name);
	if (data)
		json_set(msg, "data", json_incref(data));
	json_set_int(t, "seconds", rt / 1000000000);
	json_set_int(t, "microseconds", rt % 1000000000 / 1000);
	json_set(msg, "timestamp", t);
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		control_send(c, &c->clients[i], msg);
	json_decref(msg);
}

/* ---- commands --------------------------------------------------------------------------- */

static const char *control_run_state(struct machine *m)
{
	if (m->exit != MACHINE_RUNNING)
		return "shutdown";
	return m->paused ? "paused" : "running";
}

/* Each hart as the operator sees it: its id, its SBI HSM state, whether it waits in WFI, where
 * it is and what it has retired. */
static json_t *control_harts_json(struct machine *m)
{
	json_t *a = json_array();

	for (unsigned i = 0; i < m->nharts; i++) {
		const struct cpu *h = &m->harts[i];
		json_t *o = json_object();

		json_set_int(o, "hart", (int)i);
		json_set_str(o, "state", h->hsm == HSM_STARTED ? "started" : "stopped");
		json_set_bool(o, "wfi", h->wfi != 0);
		json_set_word(o, "pc", h->pc);
		json_set_u64(o, "instret", h->instret);
		json_push(a, o);
	}
	return a;
}

static int cmd_status(struct control *c, const json_t *args, json_t *out, struct err *e)
{
	struct machine *m = c->m;
	char isa[ISA_STR_MAX];

	(void)args;
	(void)e;
	json_set_str(out, "status", control_run_state(m));
	json_set_bool(out, "running", !m->paused);
	json_set_u64(out, "instret", machine_instret(m));
	json_set_word(out, "pc", m->harts[0].pc);
	json_set_u64(out, "guest_ns", gclock_ns(&m->clock));
	json_set_int(out, "cpus", (int)m->nharts);
	json_set(out, "harts", control_harts_json(m));
	json_set_str(out, "clock", m->clock.mode == GCLOCK_ICOUNT ? "icount" : "host");
	isa_string(m->harts[0].ext, isa);
	json_set_str(out, "isa", isa);
	json_set_u64(out, "reboots", m->reboots);
	return 0;
}

static int cmd_pause(struct control *c, const json_t *args, json_t *out, struct err *e)
{
	struct machine *m = c->m;
	int64_t at;
	int rc = json_get_int(args, "instret", &at, e);

	if (rc < 0)
		return -1;
	if (rc == 1) {
		/* Pause exactly when the hart has retired this many instructions. */
		if (at < 0 || (uint64_t)at < machine_instret(m))
			return err_set(e, "instret %lld is already past (now %llu)", (long long)at,
				       (unsigned long long)machine_instret(m));
		m->pause_at = (uint64_t)at;
		json_set_int(out, "pause_at", at);
		return 0;
	}
	machine_pause(m, "control");
	json_set_u64(out, "instret", machine_instret(m));
	return 0;
}

static int cmd_resume(struct control *c, const json_t *args, json_t *out, struct err *e)
{
	struct mig *g = c->h->mig;
	(void)args;
	(void)out;
	if (c->m->exit != MACHINE_RUNNING)
		return err_set(e, "the machine has stopped");
	if (g && mig_owns_run_state(c->h))
		return err_set(e, "a migration decides when this VM runs (phase %s)",
			       mig_phase_name(mig_phase(c->h)));
	if (handover_resume(c->h, "control", e) < 0)
		return -1;
	return 0;
}

static int cmd_quit(struct control *c, const json_t *args, json_t *out, struct err *e)
{
	(void)args;
	(void)out;
	(void)e;
	machine_request_quit(c->m);
	return 0;
}

static int cmd_stats(struct control *c, const json_t *args, json_t *out, struct err *e)
{
	struct machine *m = c->m;
	struct rusage ru;
	int64_t now = gclock_host_ns();
	double mips = 0;
	uint64_t cpu_ns;

	(void)args;
	(void)e;
	getrusage(RUSAGE_SELF, &ru);
	cpu_ns =
	    (uint64_t)ru.ru_utime.tv_sec * 1000000000ull + (uint64_t)ru.ru_utime.tv_usec * 1000 +
	    (uint64_t)ru.ru_stime.tv_sec * 1000000000ull + (uint64_t)ru.ru_stime.tv_usec * 1000;
	if (c->stats_ns && now > c->stats_ns)
		mips = (double)(machine_instret(m) - c->stats_instret) * 1e3 /
		       (double)(now - c->stats_ns);
	json_set_u64(out, "instret", machine_instret(m));
	json_set_decimal(out, "mips", mips, 1);
	json_set_int(out, "interval_ns", c->stats_ns ? now - c->stats_ns : 0);
	json_set_u64(out, "dirty_pages", ram_dirty_count(&m->ram));
	json_set_bool(out, "dirty_logging", m->dirty_logging);
	json_set_u64(out, "dirty_collections", m->dirty_collections);
	uint64_t irqs[3] = { 0, 0, 0 };

	for (unsigned i = 0; i < m->nharts; i++)
		for (int k = 0; k < 3; k++)
			irqs[k] += m->harts[i].irqs_taken[k];
	json_set_u64(out, "software_interrupts", irqs[0]);
	json_set_u64(out, "timer_interrupts", irqs[1]);
	json_set_u64(out, "external_interrupts", irqs[2]);
	json_set_u64(out, "host_cpu_ns", cpu_ns);
	json_set_u64(out, "wfi_sleeps", m->wfi_sleeps);
	json_set_u64(out, "guest_ns", gclock_ns(&m->clock));
	c->stats_ns = now;
	c->stats_instret = machine_instret(m);
	return 0;
}

/* Is a migration under way (either side), one that a save or the dirty log would disturb? */
static bool control_migrating(struct control *c)
{
	enum mig_phase p = mig_phase(c->h);

	return c->h->mig && (mig_owns_run_state(c->h) || p == MIG_SETUP || p == MIG_PRECOPY);
}

static int cmd_dirty_log(struct control *c, const json_t *args, json_t *out, struct err *e)
{
	struct machine *m = c->m;
	const char *action = NULL;
	bool list = false;
	int rc = json_get_str(args, "action", &action, e);

	if (rc < 0 || json_get_bool(args, "list", &list, e) < 0)
		return -1;
	if (rc == 0)
		return err_set(e, "'action' (start, collect or stop) is required");
	/* The migration's rounds are built from the dirty log: a collection here would take
	 * pages from them (never sent again: the destination's copy would be stale), a start or
	 * stop would restart or end the logging under them. */
	if (control_migrating(c))
		return err_set(e, "the dirty log belongs to the migration in progress (phase %s)",
			       mig_phase_name(mig_phase(c->h)));
	if (strcmp(action, "start") == 0) {
		machine_dirty_start(m);
	} else if (strcmp(action, "stop") == 0) {
		machine_dirty_stop(m);
	} else if (strcmp(action, "collect") == 0) {
		uint64_t *bits, n;

		if (!m->dirty_logging)
			return err_set(e, "dirty logging is not started");
		bits = calloc(m->ram.nwords, sizeof(*bits));
		if (!bits)
			return err_set(e, "out of memory");
		n = machine_dirty_collect(m, bits);
		json_set_u64(out, "pages", n);
		json_set_u64(out, "collections", m->dirty_collections);
		if (list) {
			/* Page indices from the base of RAM, at most 65536 of them. */
			json_t *l = json_array();
			uint64_t shown = 0;

			for (uint64_t p = 0; p < m->ram.npages && shown < 65536; p++)
				if ((bits[p >> 6] >> (p & 63)) & 1 &&
				    json_push(l, json_u64(p)) == 0)
					shown++;
			json_set(out, "list", l);
		}
		free(bits);
	} else {
		return err_set(e, "unknown action '%s' (start, collect or stop)", action);
	}
	return 0;
}

/* save {"file": F, "release": bool}: pause (if running), flush the disks, write the whole
 * machine to F (F.tmp, synced, renamed). Without release the VM stays here, paused; resuming
 * it moves the lease epoch, so F can then no longer be restored (the disk has moved on).
 * With release (quick migration) the disks and the lease are let go and this process ends:
 * `ferry-vm --restore F` on another host takes the lease from the epoch F names. On any
 * failure nothing is handed over and a VM that was running runs on. */
static int cmd_save(struct control *c, const json_t *args, json_t *out, struct err *e)
{
	struct machine *m = c->m;
	const char *file = NULL;
	bool release = false, paused_here = false;
	int rc = json_get_str(args, "file", &file, e);

	if (rc < 0)
		return -1;
	if (rc == 0)
		return err_set(e, "'file' is required");
	if (json_get_bool(args, "release", &release, e) < 0)
		return -1;
	if (m->exit != MACHINE_RUNNING)
		return err_set(e, "the machine has stopped");
	if (control_migrating(c))
		return err_set(e, "a migration is in progress (phase %s)",
			       mig_phase_name(mig_phase(c->h)));
	if (release && !handover_holds(c->h))
		return err_set(
		    e, "this VM holds no lease to hand over (start it with --disk or --lease)");
	if (c->sandbox)
		return err_set(e, "save is not available here");
	/* A place we cannot write to is found before the guest is paused for it. */
	char dir[4096];

	snprintf(dir, sizeof(dir), "%s", file);
	if (access(dirname(dir), W_OK) != 0)
		return err_errno(e, "cannot write to the directory of '%s'", file);
	if (!m->paused) {
		machine_pause(m, "save");
		paused_here = true;
	}
	if (machine_devs_flush(m, e) < 0)
		goto fail;
	if (snapshot_save(m, file, handover_token(c->h), e) < 0)
		goto fail;
	if (!release) {
		c->h->saved_epoch = handover_token(c->h);
		json_set_str(out, "file", file);
		json_set_u64(out, "instret", machine_instret(m));
		json_set_bool(out, "released", false);
		return 0;
	}
	fault_point("save-release", 0);
	uint64_t epoch;

	if (handover_release(c->h, &epoch, e) < 0) {
		/* Not handed over: the file must not be restored. */
		unlink(file);
		goto fail;
	}
	log_info("saved to %s at lease epoch %llu and handed over", file,
		 (unsigned long long)epoch);
	machine_request_exit(m, MACHINE_SAVED);
	machine_wake_at(m, 0);
	json_set_str(out, "file", file);
	json_set_u64(out, "instret", machine_instret(m));
	json_set_bool(out, "released", true);
	json_set_u64(out, "lease_epoch", epoch);
	return 0;
fail:
	if (paused_here)
		machine_resume(m, "save-failed");
	return -1;
}

static int cmd_query_hash(struct control *c, const json_t *args, json_t *out, struct err *e)
{
	uint64_t ram, dev;
	char h[17];

	(void)args;
	(void)e;
	snapshot_hash(c->m, &ram, &dev);
	snprintf(h, sizeof(h), "%016llx", (unsigned long long)ram);
	json_set_str(out, "ram", h);
	snprintf(h, sizeof(h), "%016llx", (unsigned long long)dev);
	json_set_str(out, "devices", h);
	snprintf(h, sizeof(h), "%016llx", (unsigned long long)snapshot_hart_hash(c->m, -1));
	json_set_str(out, "hart", h);
	json_t *harts = json_array();

	for (unsigned i = 0; i < c->m->nharts; i++) {
		snprintf(h, sizeof(h), "%016llx",
			 (unsigned long long)snapshot_hart_hash(c->m, (int)i));
		json_push(harts, json_text(h));
	}
	json_set(out, "harts", harts);
	json_set_u64(out, "instret", machine_instret(c->m));
	json_set_word(out, "pc", c->m->harts[0].pc);
	return 0;
}

static int cmd_query_state(struct control *c, const json_t *args, json_t *out, struct err *e)
{
	struct machine *m = c->m;

	(void)args;
	(void)e;
	json_set(out, "cpu", state_dump(&cpu_state, &m->harts[0]));
	json_t *harts = json_array();

	for (unsigned i = 0; i < m->nharts; i++)
		json_push(harts, state_dump(&cpu_state, &m->harts[i]));
	json_set(out, "harts", harts);
	for (int i = 0; i < m->ndevs; i++)
		if (m->devs[i].state)
			json_set(out, m->devs[i].state->name,
				 state_dump(m->devs[i].state, machine_dev_state(&m->devs[i])));
	return 0;
}

static int cmd_migrate(struct control *c, const json_t *args, json_t *out, struct err *e)
{
	struct mig_params p;
	bool wait = false;

	(void)out;
	if (!args)
		return err_set(e, "'addresses' and 'token' are required");
	if (json_get_bool(args, "wait", &wait, e) < 0)
		return -1;
	if (mig_parse_params(args, &p, e) < 0)
		return -1;
	if (c->sandbox)
		return err_set(e, "migrate is not available here");
	if (mig_start(c->h, &p, e) < 0)
		return -1;
	if (wait && c->current) {
		/* No reply now: control_event answers this connection when the migration ends. */
		c->current->mig_wait = true;
		json_decref(c->current->mig_id);
		c->current->mig_id = json_incref(c->current_id);
		return 1;
	}
	return 0;
}

static int cmd_migrate_status(struct control *c, const json_t *args, json_t *out, struct err *e)
{
	json_t *st = mig_status(c->h);

	(void)args;
	if (!st || json_object_update(out, st) != 0) {
		json_decref(st);
		return err_set(e, "out of memory");
	}
	json_decref(st);
	return 0;
}

static int cmd_migrate_cancel(struct control *c, const json_t *args, json_t *out, struct err *e)
{
	(void)args;
	(void)out;
	return mig_cancel(c->h, e) < 0 ? -1 : 0;
}

/* The agent's record only: with the lease file alone nothing is ever asked of the agent. */
static int control_owner(struct control *c, struct err *e)
{
	if (!c->owner)
		return err_set(e,
			       "this VM's ownership record is its lease file (it was not started "
			       "with --owner agent:...): nothing is asked of an agent");
	return 0;
}

static int cmd_owner_pending(struct control *c, const json_t *args, json_t *out, struct err *e)
{
	json_t *d;

	(void)args;
	if (control_owner(c, e) < 0)
		return -1;
	d = owner_agent_pending(c->owner);
	if (!d || json_object_update(out, d) != 0) {
		json_decref(d);
		return err_set(e, "out of memory");
	}
	json_decref(d);
	return 0;
}

static int cmd_owner_answer(struct control *c, const json_t *args, json_t *out, struct err *e)
{
	(void)out;
	if (control_owner(c, e) < 0 || owner_agent_reply(c->owner, args, e) < 0)
		return -1;
	return 0;
}

static int cmd_capabilities(struct control *c, const json_t *args, json_t *out, struct err *e)
{
	(void)c;
	(void)args;
	(void)out;
	(void)e;
	return 0; /* accepted for QMP clients; nothing to negotiate */
}

static const struct control_cmd control_cmds[] = {
	{ "status", cmd_status },
	{ "pause", cmd_pause },
	{ "resume", cmd_resume },
	{ "quit", cmd_quit },
	{ "stats", cmd_stats },
	{ "dirty-log", cmd_dirty_log },
	{ "save", cmd_save },
	{ "query-hash", cmd_query_hash },
	{ "query-state", cmd_query_state },
	{ "migrate", cmd_migrate },
	{ "migrate-status", cmd_migrate_status },
	{ "migrate-cancel", cmd_migrate_cancel },
	{ "owner-pending", cmd_owner_pending },
	{ "owner-answer", cmd_owner_answer },
	{ "qmp_capabilities", cmd_capabilities },
};

/* ---- requests ----------------------------------------------------------------------------- */

static void control_request(struct control *c, struct control_client *cl, const char *line,
			    size_t len)
{
	struct err e = { { 0 } };
	json_t *req = json_parse(line, len, &e), *out, *reply;
	const json_t *args, *id;
	const char *cmd = NULL, *key;
	json_t *val;

	if (!req) {
		control_reply_error(c, cl, "GenericError", e.msg, NULL);
		return;
	}
	id = json_get(req, "id");
	if (id && !json_is_integer(id) && !(json_is_string(id) && json_string_length(id) < 64)) {
		control_reply_error(c, cl, "GenericError",
				    "'id' must be an integer or a short string", NULL);
		goto out;
	}
	if (!json_is_object(req)) {
		control_reply_error(c, cl, "GenericError", "a request must be a JSON object", id);
		goto out;
	}
	int rc = json_get_str(req, "execute", &cmd, &e);

	if (rc != 1) {
		control_reply_error(c, cl, "GenericError",
				    rc < 0 ? e.msg : "a request needs \"execute\"", id);
		goto out;
	}
	args = json_get(req, "arguments");
	if (args && !json_is_object(args)) {
		control_reply_error(c, cl, "GenericError", "'arguments' must be an object", id);
		goto out;
	}
	json_object_foreach(req, key, val)
	{
		if (strcmp(key, "execute") && strcmp(key, "arguments") && strcmp(key, "id")) {
			char msg[128];

			snprintf(msg, sizeof(msg), "unknown member '%.60s' in the request", key);
			control_reply_error(c, cl, "GenericError", msg, id);
			goto out;
		}
	}
	const struct control_cmd *found = NULL;

	for (size_t i = 0; i < sizeof(control_cmds) / sizeof(control_cmds[0]); i++)
		if (strcmp(control_cmds[i].name, cmd) == 0)
			found = &control_cmds[i];
	if (!found) {
		char msg[128];

		snprintf(msg, sizeof(msg), "unknown command '%.60s'", cmd);
		control_reply_error(c, cl, "CommandNotFound", msg, id);
		goto out;
	}
	out = json_object();
	if (!out) {
		control_reply_error(c, cl, "GenericError", "out of memory", id);
		goto out;
	}
	c->current = cl;
	c->current_id = (json_t *)id;
	rc = found->run(c, args, out, &e);
	c->current = NULL;
	c->current_id = NULL;
	if (rc < 0) {
		control_reply_error(c, cl, "GenericError", e.msg, id);
	} else if (rc == 0) {
		reply = json_object();
		json_set(reply, "return", json_incref(out));
		if (id)
			json_set(reply, "id", json_incref((json_t *)id));
		if (reply && json_object_size(reply) == 1u + (id != NULL))
			control_send(c, cl, reply);
		else
			control_reply_error(c, cl, "GenericError", "out of memory", id);
		json_decref(reply);
	} /* else answered later */
	json_decref(out);
out:
	json_decref(req);
}

static void control_take(struct control *c, struct control_client *cl, const char *buf, size_t n);

static void control_read(struct control *c, struct control_client *cl)
{
	char buf[4096];
	ssize_t n;

	n = read(cl->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0 || (n == 0 && !control_pending(cl))) {
		control_drop(c, cl);
		return;
	}
	if (n == 0) {
		/* The client has stopped sending (shut down its side) but may still read: the
		 * replies it is owed leave first, then the connection is closed. */
		cl->eof = true;
		control_set_poll(c, cl);
		return;
	}
	control_take(c, cl, buf, (size_t)n);
}

void control_feed(struct control *c, int client, const char *buf, size_t n)
{
	if (client >= 0 && client < CONTROL_MAX_CLIENTS && c->clients[client].fd >= 0)
		control_take(c, &c->clients[client], buf, n);
}

/* Bytes a client sent: whole lines are requests, run in order. */
static void control_take(struct control *c, struct control_client *cl, const char *buf, size_t n)
{
	for (size_t i = 0; i < n && cl->fd >= 0; i++) {
		char ch = buf[i];

		if (ch == '\n') {
			if (cl->discarding) {
				cl->discarding = false;
			} else {
				size_t len = cl->in_len;

				if (len && cl->in[len - 1] == '\r')
					len--;
				/* Blank lines are ignored. */
				size_t k = 0;

				while (k < len && (cl->in[k] == ' ' || cl->in[k] == '\t'))
					k++;
				if (k < len)
					control_request(c, cl, cl->in, len);
			}
			cl->in_len = 0;
			continue;
		}
		if (cl->discarding)
			continue;
		if (cl->in_len == CONTROL_LINE_MAX) {
			char msg[96];

			snprintf(msg, sizeof(msg), "request line longer than %d bytes",
				 CONTROL_LINE_MAX);
			control_reply_error(c, cl, "GenericError", msg, NULL);
			cl->discarding = true;
			cl->in_len = 0;
			continue;
		}
		cl->in[cl->in_len++] = ch;
	}
}

static void control_ready(void *opaque, short revents)
{
	struct control_client *cl = opaque;
	struct control *c = cl->ctl;

	if (revents & POLLOUT)
		control_flush(c, cl);
	if (cl->fd >= 0 && (revents & (POLLIN | POLLHUP | POLLERR)))
		control_read(c, cl);
}

static void control_greet(struct control *c, struct control_client *cl)
{
	json_t *msg = json_object(), *f = json_object(), *cmds = json_array();

	json_set_str(f, "version", CONTROL_VERSION);
	json_set_int(f, "protocol", CONTROL_PROTOCOL);
	for (size_t i = 0; i < sizeof(control_cmds) / sizeof(control_cmds[0]); i++)
		json_push(cmds, json_text(control_cmds[i].name));
	json_set(f, "commands", cmds);
	json_set(msg, "ferry", f);
	control_send(c, cl, msg);
	json_decref(msg);
}

/* Tell a client we will not serve why, with one write that cannot block (the socket is new
 * and its buffer empty), and close it. */
static void control_refuse(int fd, const char *why)
{
	json_t *msg = control_error_msg("GenericError", why, NULL);
	char *text = json_encode(msg, NULL);

	if (text) {
		size_t n = strlen(text);

		text[n] = '\n'; /* replaces the NUL: the length is known */
		if (send(fd, text, n + 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			/* the refused client is gone already */
		}
	}
	free(text);
	json_decref(msg);
	close(fd);
}

static void control_accept(void *opaque, short revents)
{
	struct control *c = opaque;
	struct unixsock_peer peer;
	struct err e;
	int fd;

	(void)revents;
	fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (unixsock_peer(fd, &peer, &e) < 0) {
		log_warn("control: refused a client: %s", e.msg);
		close(fd);
		return;
	}
	if (!unixsock_peer_allowed(&peer)) {
		log_warn("control: refused a client of uid %u (pid %d): only root and uid %u may "
			 "use this VM",
			 (unsigned)peer.uid, (int)peer.pid, (unsigned)geteuid());
		control_refuse(fd, "permission denied");
		return;
	}
	if (control_adopt(c, fd, peer.pid, peer.uid) >= 0)
		return;
	log_warn("control: refused a client (pid %d): %d are connected already", (int)peer.pid,
		 CONTROL_MAX_CLIENTS);
	control_refuse(fd, "too many control clients");
}

void control_set_owner(struct control *c, struct owner_agent *oa)
{
	c->owner = oa;
}

int control_adopt(struct control *c, int fd, pid_t pid, uid_t uid)
{
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct control_client *cl = &c->clients[i];

		if (cl->fd >= 0)
			continue;
		cl->fd = fd;
		cl->conn = ++c->conns;
		cl->pid = pid;
		cl->uid = uid;
		cl->in_len = 0;
		cl->discarding = false;
		cl->eof = false;
		buf_init(&cl->out);
		cl->out_off = 0;
		control_set_poll(c, cl);
		log_debug("control: client %llu (pid %d, uid %u) connected",
			  (unsigned long long)cl->conn, (int)pid, (unsigned)uid);
		control_greet(c, cl);
		return i;
	}
	return -1;
}

int control_init(struct control *c, struct handover *h, const char *spec, struct err *e)
{
	struct machine *m = h->m;
	struct machine_pollfd p = { 0 };
	const char *path;

	memset(c, 0, sizeof(*c));
	c->m = m;
	c->h = h;
	c->listen_fd = -1;
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		c->clients[i].fd = -1;
		c->clients[i].ctl = c;
		buf_init(&c->clients[i].out);
	}
	if (strncmp(spec, "unix:", 5) != 0)
		return err_set(e, "control socket '%s': expected unix:PATH", spec);
	path = spec + 5;
	c->listen_fd = unixsock_listen(path, 8, e);
	if (c->listen_fd < 0)
		return err_prefix(e, "control socket");
	snprintf(c->path, sizeof(c->path), "%s", path);
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		c->clients[i].in = malloc(CONTROL_LINE_MAX);
		if (!c->clients[i].in)
			return err_set(e, "out of memory");
		p.fd = -1;
		p.events = 0;
		p.ready = control_ready;
		p.opaque = &c->clients[i];
		c->clients[i].slot = machine_add_pollfd(m, &p, e);
		if (c->clients[i].slot < 0)
			return -1;
	}
	p.fd = c->listen_fd;
	p.events = POLLIN;
	p.ready = control_accept;
	p.opaque = c;
	c->listen_slot = machine_add_pollfd(m, &p, e);
	if (c->listen_slot < 0)
		return -1;
	m->event = control_event;
	m->event_opaque = c;
	return 0;
}

/* The machine has stopped: give what is queued (the reply to `quit`, a migration's answer,
 * SHUTDOWN) a bounded time to leave, then close. */
static void control_flush_at_exit(struct control *c)
{
	struct timespec t0, t;
	struct pollfd fds[CONTROL_MAX_CLIENTS];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int n = 0, left;

		for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
			struct control_client *cl = &c->clients[i];

			if (cl->fd >= 0 && control_pending(cl))
				fds[n++] = (struct pollfd){ .fd = cl->fd, .events = POLLOUT };
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = CONTROL_EXIT_FLUSH_MS -
		       (int)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (n == 0 || left <= 0 || poll(fds, (nfds_t)n, left) <= 0)
			return;
		for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
			if (c->clients[i].fd >= 0 && control_pending(&c->clients[i]))
				control_flush(c, &c->clients[i]);
	}
}

void control_destroy(struct control *c)
{
	if (!c->m)
		return;
	if (c->m->event == control_event)
		c->m->event = NULL;
	control_flush_at_exit(c);
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct control_client *cl = &c->clients[i];

		if (cl->fd >= 0)
			close(cl->fd);
		cl->fd = -1;
		buf_free(&cl->out);
		json_decref(cl->mig_id);
		cl->mig_id = NULL;
		free(cl->in);
		cl->in = NULL;
	}
	if (c->listen_fd >= 0)
		close(c->listen_fd);
	c->listen_fd = -1;
	if (c->path[0])
		unlink(c->path);
	c->m = NULL;
}
