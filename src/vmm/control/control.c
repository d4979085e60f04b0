/* control.c - the control socket: clients, framing, commands, events.
 *
 * Commands are a table of handlers; each gets the parsed arguments object
 * (or NULL), writes its result object into a buffer, or fails with a
 * message. Writes to clients are non-blocking with a short grace period: a
 * client that does not read its replies for a second is disconnected rather
 * than allowed to stall the VM.
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
#include <sys/un.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "common/fault.h"
#include "common/state.h"
#include "vmm/board/machine.h"
#include "vmm/migrate/handover.h"
#include "vmm/migrate/migrate.h"
#include "vmm/state/snapshot.h"

#define CONTROL_VERSION "0.1"

struct control_cmd {
	const char *name;
	/* Fill out with the JSON object of the result; return -1 with e set on failure. */
	int (*run)(struct control *c, const struct json *args, struct jbuf *out, struct err *e);
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
}

/* Send one line (text without its newline) to a client. */
static void control_send(struct control *c, struct control_client *cl, const char *text, size_t len)
{
	struct iovec iov[2] = { { (void *)text, len }, { "\n", 1 } };
	size_t total = len + 1, done = 0;

	while (cl->fd >= 0 && done < total) {
		struct msghdr msg = { 0 };
		struct iovec v[2];
		int n = 0;
		size_t skip = done;

		for (int i = 0; i < 2; i++) {
			if (skip >= iov[i].iov_len) {
				skip -= iov[i].iov_len;
				continue;
			}
			v[n].iov_base = (char *)iov[i].iov_base + skip;
			v[n].iov_len = iov[i].iov_len - skip;
			skip = 0;
			n++;
		}
		msg.msg_iov = v;
		msg.msg_iovlen = (size_t)n;
		ssize_t w = sendmsg(cl->fd, &msg, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = cl->fd, .events = POLLOUT };

			if (poll(&p, 1, 1000) > 0)
				continue;
			log_warn("control: client not reading its replies, disconnected");
		}
		if (w <= 0) {
			control_drop(c, cl);
			return;
		}
		done += (size_t)w;
	}
}

static void control_event(void *opaque, const char *name, const char *data_json)
{
	struct control *c = opaque;
	struct jbuf b;
	int64_t rt = gclock_realtime_ns();

	/* A `migrate` with "wait": true is answered when the migration ends. */
	if (strcmp(name, "MIGRATION") == 0 && data_json &&
	    (strstr(data_json, "\"phase\": \"completed\"") ||
	     strstr(data_json, "\"phase\": \"failed\"") ||
	     strstr(data_json, "\"phase\": \"cancelled\""))) {
		for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
			struct control_client *cl = &c->clients[i];

			if (cl->fd < 0 || !cl->mig_wait)
				continue;
			cl->mig_wait = false;
			jbuf_init(&b);
			jbuf_add(&b, "{\"return\": %s%s%s}", data_json,
				 cl->mig_id[0] ? ", \"id\": " : "", cl->mig_id);
			if (!b.oom)
				control_send(c, cl, b.p, b.len);
			jbuf_free(&b);
		}
	}

	jbuf_init(&b);
	jbuf_add(&b, "{\"event\": ");
	jbuf_str(&b, name);
	if (data_json)
		jbuf_add(&b, ", \"data\": %s", data_json);
	jbuf_add(&b, ", \"timestamp\": {\"seconds\": %lld, \"microseconds\": %lld}}",
		 (long long)(rt / 1000000000), (long long)(rt % 1000000000 / 1000));
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (c->clients[i].fd >= 0 && !b.oom)
			control_send(c, &c->clients[i], b.p, b.len);
	jbuf_free(&b);
}

/* ---- commands --------------------------------------------------------------------------- */

static const char *control_run_state(struct machine *m)
{
	if (m->exit != MACHINE_RUNNING)
		return "shutdown";
	return m->paused ? "paused" : "running";
}

static int cmd_status(struct control *c, const struct json *args, struct jbuf *out, struct err *e)
{
	struct machine *m = c->m;

	(void)args;
	(void)e;
	jbuf_add(out, "{\"status\": \"%s\", \"running\": %s, \"instret\": %llu, \"pc\": %llu, ",
		 control_run_state(m), m->paused ? "false" : "true",
		 (unsigned long long)m->cpu.instret, (unsigned long long)m->cpu.pc);
	jbuf_add(out, "\"guest_ns\": %llu, \"clock\": \"%s\", \"reboots\": %llu}",
		 (unsigned long long)gclock_ns(&m->clock),
		 m->clock.mode == GCLOCK_ICOUNT ? "icount" : "host",
		 (unsigned long long)m->reboots);
	return 0;
}

static int cmd_pause(struct control *c, const struct json *args, struct jbuf *out, struct err *e)
{
	struct machine *m = c->m;
	int64_t at;
	int rc = json_get_int(args, "instret", &at, e);

	if (rc < 0)
		return -1;
	if (rc == 1) {
		/* Pause exactly when the hart has retired this many instructions. */
		if (at < 0 || (uint64_t)at < m->cpu.instret)
			return err_set(e, "instret %lld is already past (now %llu)", (long long)at,
				       (unsigned long long)m->cpu.instret);
		m->pause_at = (uint64_t)at;
		jbuf_add(out, "{\"pause_at\": %lld}", (long long)at);
		return 0;
	}
	machine_pause(m, "control");
	jbuf_add(out, "{\"instret\": %llu}", (unsigned long long)m->cpu.instret);
	return 0;
}

static int cmd_resume(struct control *c, const struct json *args, struct jbuf *out, struct err *e)
{
	struct mig *g = c->h->mig;
	(void)args;
	if (c->m->exit != MACHINE_RUNNING)
		return err_set(e, "the machine has stopped");
	if (g && mig_owns_run_state(c->h))
		return err_set(e, "a migration decides when this VM runs (phase %s)",
			       mig_phase_name(mig_phase(c->h)));
	if (handover_resume(c->h, "control", e) < 0)
		return -1;
	jbuf_add(out, "{}");
	return 0;
}

static int cmd_quit(struct control *c, const struct json *args, struct jbuf *out, struct err *e)
{
	(void)args;
	(void)e;
	machine_request_quit(c->m);
	jbuf_add(out, "{}");
	return 0;
}

static int cmd_stats(struct control *c, const struct json *args, struct jbuf *out, struct err *e)
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
		mips =
		    (double)(m->cpu.instret - c->stats_instret) * 1e3 / (double)(now - c->stats_ns);
	jbuf_add(out, "{\"instret\": %llu, \"mips\": %.1f, \"interval_ns\": %lld, ",
		 (unsigned long long)m->cpu.instret, mips,
		 (long long)(c->stats_ns ? now - c->stats_ns : 0));
	jbuf_add(out, "\"dirty_pages\": %llu, \"dirty_logging\": %s, \"dirty_collections\": %llu, ",
		 (unsigned long long)ram_dirty_count(&m->ram), m->dirty_logging ? "true" : "false",
		 (unsigned long long)m->dirty_collections);
	jbuf_add(out,
		 "\"software_interrupts\": %llu, \"timer_interrupts\": %llu, "
		 "\"external_interrupts\": %llu, ",
		 (unsigned long long)m->cpu.irqs_taken[0], (unsigned long long)m->cpu.irqs_taken[1],
		 (unsigned long long)m->cpu.irqs_taken[2]);
	jbuf_add(out, "\"host_cpu_ns\": %llu, \"wfi_sleeps\": %llu, \"guest_ns\": %llu}",
		 (unsigned long long)cpu_ns, (unsigned long long)m->wfi_sleeps,
		 (unsigned long long)gclock_ns(&m->clock));
	c->stats_ns = now;
	c->stats_instret = m->cpu.instret;
	return 0;
}

static int cmd_dirty_log(struct control *c, const struct json *args, struct jbuf *out,
			 struct err *e)
{
	struct machine *m = c->m;
	const char *action = NULL;
	bool list = false;
	int rc = json_get_str(args, "action", &action, e);

	if (rc < 0 || json_get_bool(args, "list", &list, e) < 0)
		return -1;
	if (rc == 0)
		return err_set(e, "'action' (start, collect or stop) is required");
	if (strcmp(action, "start") == 0) {
		machine_dirty_start(m);
		jbuf_add(out, "{}");
	} else if (strcmp(action, "stop") == 0) {
		machine_dirty_stop(m);
		jbuf_add(out, "{}");
	} else if (strcmp(action, "collect") == 0) {
		uint64_t *bits, n;

		if (!m->dirty_logging)
			return err_set(e, "dirty logging is not started");
		bits = calloc(m->ram.nwords, sizeof(*bits));
		if (!bits)
			return err_set(e, "out of memory");
		n = machine_dirty_collect(m, bits);
		jbuf_add(out, "{\"pages\": %llu, \"collections\": %llu", (unsigned long long)n,
			 (unsigned long long)m->dirty_collections);
		if (list) {
			/* Page indices from the base of RAM, at most 65536 of them. */
			uint64_t shown = 0;

			jbuf_add(out, ", \"list\": [");
			for (uint64_t p = 0; p < m->ram.npages && shown < 65536; p++)
				if ((bits[p >> 6] >> (p & 63)) & 1)
					jbuf_add(out, "%s%llu", shown++ ? ", " : "",
						 (unsigned long long)p);
			jbuf_add(out, "]");
		}
		jbuf_add(out, "}");
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
static int cmd_save(struct control *c, const struct json *args, struct jbuf *out, struct err *e)
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
	if (c->h->mig && (mig_owns_run_state(c->h) || mig_phase(c->h) == MIG_SETUP ||
			  mig_phase(c->h) == MIG_PRECOPY))
		return err_set(e, "a migration is in progress (phase %s)",
			       mig_phase_name(mig_phase(c->h)));
	if (release && !handover_holds(c->h))
		return err_set(
		    e, "this VM holds no lease to hand over (start it with --disk or --lease)");
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
		jbuf_add(out, "{\"file\": ");
		jbuf_str(out, file);
		jbuf_add(out, ", \"instret\": %llu, \"released\": false}",
			 (unsigned long long)m->cpu.instret);
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
	jbuf_add(out, "{\"file\": ");
	jbuf_str(out, file);
	jbuf_add(out, ", \"instret\": %llu, \"released\": true, \"lease_epoch\": %llu}",
		 (unsigned long long)m->cpu.instret, (unsigned long long)epoch);
	return 0;
fail:
	if (paused_here)
		machine_resume(m, "save-failed");
	return -1;
}

static int cmd_query_hash(struct control *c, const struct json *args, struct jbuf *out,
			  struct err *e)
{
	uint64_t ram, dev;

	(void)args;
	(void)e;
	snapshot_hash(c->m, &ram, &dev);
	jbuf_add(
	    out,
	    "{\"ram\": \"%016llx\", \"devices\": \"%016llx\", \"instret\": %llu, \"pc\": %llu}",
	    (unsigned long long)ram, (unsigned long long)dev, (unsigned long long)c->m->cpu.instret,
	    (unsigned long long)c->m->cpu.pc);
	return 0;
}

static int cmd_query_state(struct control *c, const struct json *args, struct jbuf *out,
			   struct err *e)
{
	struct machine *m = c->m;

	(void)args;
	(void)e;
	jbuf_add(out, "{\"cpu\": ");
	state_dump(&cpu_state, &m->cpu, out);
	for (int i = 0; i < m->ndevs; i++) {
		if (!m->devs[i].state)
			continue;
		jbuf_add(out, ", ");
		jbuf_str(out, m->devs[i].state->name);
		jbuf_add(out, ": ");
		state_dump(m->devs[i].state, machine_dev_state(&m->devs[i]), out);
	}
	jbuf_add(out, "}");
	return 0;
}

static int cmd_migrate(struct control *c, const struct json *args, struct jbuf *out, struct err *e)
{
	struct mig_params p;
	bool wait = false;

	if (!args)
		return err_set(e, "'addresses' and 'token' are required");
	if (json_get_bool(args, "wait", &wait, e) < 0)
		return -1;
	if (mig_parse_params(args, &p, e) < 0 || mig_start(c->h, &p, e) < 0)
		return -1;
	if (wait && c->current) {
		/* No reply now: control_event answers when the migration ends. */
		c->current->mig_wait = true;
		snprintf(c->current->mig_id, sizeof(c->current->mig_id), "%s", c->current_id);
		return 1;
	}
	jbuf_add(out, "{}");
	return 0;
}

static int cmd_migrate_status(struct control *c, const struct json *args, struct jbuf *out,
			      struct err *e)
{
	(void)args;
	(void)e;
	mig_status(c->h, out);
	return 0;
}

static int cmd_migrate_cancel(struct control *c, const struct json *args, struct jbuf *out,
			      struct err *e)
{
	(void)args;
	if (mig_cancel(c->h, e) < 0)
		return -1;
	jbuf_add(out, "{}");
	return 0;
}

static int cmd_capabilities(struct control *c, const struct json *args, struct jbuf *out,
			    struct err *e)
{
	(void)c;
	(void)args;
	(void)e;
	jbuf_add(out, "{}"); /* accepted for QMP clients; nothing to negotiate */
	return 0;
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
	{ "qmp_capabilities", cmd_capabilities },
};

/* ---- requests ----------------------------------------------------------------------------- */

static void control_reply_error(struct control *c, struct control_client *cl, const char *cls,
				const char *desc, const char *id)
{
	struct jbuf b;

	jbuf_init(&b);
	jbuf_add(&b, "{\"error\": {\"class\": \"%s\", \"desc\": ", cls);
	jbuf_str(&b, desc);
	jbuf_add(&b, "}%s%s}", id ? ", \"id\": " : "", id ? id : "");
	if (!b.oom)
		control_send(c, cl, b.p, b.len);
	jbuf_free(&b);
}

static void control_request(struct control *c, struct control_client *cl, const char *line,
			    size_t len)
{
	struct err e = { { 0 } };
	struct json *req = json_parse(line, len, &e);
	const struct json *args, *idv;
	const char *cmd = NULL;
	char id[96] = "";
	struct jbuf out;

	if (!req) {
		control_reply_error(c, cl, "GenericError", e.msg, NULL);
		return;
	}
	idv = json_get(req, "id");
	if (idv) {
		if (idv->type == JSON_NUMBER && idv->is_int) {
			snprintf(id, sizeof(id), "%lld", (long long)idv->i);
		} else if (idv->type == JSON_STRING && idv->len < 64) {
			struct jbuf t;

			jbuf_init(&t);
			jbuf_str(&t, idv->str);
			snprintf(id, sizeof(id), "%s", t.p ? t.p : "\"\"");
			jbuf_free(&t);
		} else {
			control_reply_error(c, cl, "GenericError",
					    "'id' must be an integer or a short string", NULL);
			json_free(req);
			return;
		}
	}
	if (req->type != JSON_OBJECT) {
		control_reply_error(c, cl, "GenericError", "a request must be a JSON object",
				    id[0] ? id : NULL);
		json_free(req);
		return;
	}
	int rc = json_get_str(req, "execute", &cmd, &e);

	if (rc != 1) {
		control_reply_error(c, cl, "GenericError",
				    rc < 0 ? e.msg : "a request needs \"execute\"",
				    id[0] ? id : NULL);
		json_free(req);
		return;
	}
	args = json_get(req, "arguments");
	if (args && args->type != JSON_OBJECT) {
		control_reply_error(c, cl, "GenericError", "'arguments' must be an object",
				    id[0] ? id : NULL);
		json_free(req);
		return;
	}
	for (size_t i = 0; i < req->len; i++) {
		if (strcmp(req->keys[i], "execute") && strcmp(req->keys[i], "arguments") &&
		    strcmp(req->keys[i], "id")) {
			char msg[128];

			snprintf(msg, sizeof(msg), "unknown member '%.60s' in the request",
				 req->keys[i]);
			control_reply_error(c, cl, "GenericError", msg, id[0] ? id : NULL);
			json_free(req);
			return;
		}
	}
	const struct control_cmd *found = NULL;

	for (size_t i = 0; i < sizeof(control_cmds) / sizeof(control_cmds[0]); i++)
		if (strcmp(control_cmds[i].name, cmd) == 0)
			found = &control_cmds[i];
	if (!found) {
		char msg[128];

		snprintf(msg, sizeof(msg), "unknown command '%.60s'", cmd);
		control_reply_error(c, cl, "CommandNotFound", msg, id[0] ? id : NULL);
		json_free(req);
		return;
	}
	jbuf_init(&out);
	jbuf_add(&out, "{\"return\": ");
	c->current = cl;
	snprintf(c->current_id, sizeof(c->current_id), "%s", id);
	int rc2 = found->run(c, args, &out, &e);

	c->current = NULL;
	if (rc2 < 0) {
		control_reply_error(c, cl, "GenericError", e.msg, id[0] ? id : NULL);
	} else if (rc2 > 0) {
		/* answered later */
	} else {
		jbuf_add(&out, "%s%s}", id[0] ? ", \"id\": " : "", id);
		if (out.oom)
			control_reply_error(c, cl, "GenericError", "out of memory",
					    id[0] ? id : NULL);
		else
			control_send(c, cl, out.p, out.len);
	}
	jbuf_free(&out);
	json_free(req);
}

static void control_readable(void *opaque, short revents)
{
	struct control_client *cl = opaque;
	struct control *c = cl->ctl;
	char buf[4096];
	ssize_t n;

	(void)revents;
	n = read(cl->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		control_drop(c, cl);
		return;
	}
	for (ssize_t i = 0; i < n && cl->fd >= 0; i++) {
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

static void control_greet(struct control *c, struct control_client *cl)
{
	struct jbuf b;

	jbuf_init(&b);
	jbuf_add(&b, "{\"ferry\": {\"version\": \"%s\", \"protocol\": %d, \"commands\": [",
		 CONTROL_VERSION, CONTROL_PROTOCOL);
	for (size_t i = 0; i < sizeof(control_cmds) / sizeof(control_cmds[0]); i++) {
		jbuf_add(&b, "%s", i ? ", " : "");
		jbuf_str(&b, control_cmds[i].name);
	}
	jbuf_add(&b, "]}}");
	if (!b.oom)
		control_send(c, cl, b.p, b.len);
	jbuf_free(&b);
}

static void control_accept(void *opaque, short revents)
{
	struct control *c = opaque;
	int fd;

	(void)revents;
	fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct control_client *cl = &c->clients[i];

		if (cl->fd >= 0)
			continue;
		cl->fd = fd;
		cl->in_len = 0;
		cl->discarding = false;
		machine_set_pollfd(c->m, cl->slot, fd, POLLIN);
		control_greet(c, cl);
		return;
	}
	static const char busy[] = "{\"error\": {\"class\": \"GenericError\", \"desc\": "
				   "\"too many control clients\"}}\n";

	if (write(fd, busy, sizeof(busy) - 1) < 0) {
		/* the refused client is gone already */
	}
	close(fd);
}

int control_init(struct control *c, struct handover *h, const char *spec, struct err *e)
{
	struct machine *m = h->m;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct machine_pollfd p = { 0 };
	const char *path;
	struct stat st;

	memset(c, 0, sizeof(*c));
	c->m = m;
	c->h = h;
	c->listen_fd = -1;
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		c->clients[i].fd = -1;
		c->clients[i].ctl = c;
	}
	if (strncmp(spec, "unix:", 5) != 0)
		return err_set(e, "control socket '%s': expected unix:PATH", spec);
	path = spec + 5;
	if (!*path || strlen(path) >= sizeof(sa.sun_path))
		return err_set(e, "control socket path '%s' is empty or too long", path);
	snprintf(c->path, sizeof(c->path), "%s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->listen_fd < 0)
		return err_errno(e, "control socket");
	if (bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(c->listen_fd, 8) != 0)
		return err_errno(e, "control socket %s", path);
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		c->clients[i].in = malloc(CONTROL_LINE_MAX);
		if (!c->clients[i].in)
			return err_set(e, "out of memory");
		p.fd = -1;
		p.events = 0;
		p.ready = control_readable;
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

void control_destroy(struct control *c)
{
	if (!c->m)
		return;
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		if (c->clients[i].fd >= 0)
			close(c->clients[i].fd);
		c->clients[i].fd = -1;
		free(c->clients[i].in);
		c->clients[i].in = NULL;
	}
	if (c->listen_fd >= 0)
		close(c->listen_fd);
	c->listen_fd = -1;
	if (c->path[0])
		unlink(c->path);
	if (c->m->event == control_event)
		c->m->event = NULL;
}
