/* move.c - the commands of moves: move (and the seed's Move-VM), migrations, host drain.
 *
 * `ferry move` asks for the move (POST /v1/vms/VM/move, 202 at once) and then follows it
 * by polling GET /v1/migrations/VM every 200 ms, rather than the event stream: a poll is
 * one short request that any agent answers and that can be retried on another after a
 * lost connection, so the command sees the move's end even if the agent it first asked
 * goes away, while a stream would have to be resumed at the right event. The poll's answer
 * is checked to be this move (its id): the VM's previous, finished move is not this one's
 * end. Up to CLI_LOST_MS of failed polls in a row are ridden out before giving up.
 *
 * What is printed comes from movefmt.c (pure, tested): on a terminal a progress line
 * redrawn in place, otherwise a line per phase or round; then the last line. Ctrl-C stops
 * following, never the move. `ferry host drain` follows a drain the same way (GET
 * /v1/hosts/NAME every 500 ms) and `ferry migrations --watch` the event stream, resumed
 * with Last-Event-ID when it breaks (sse.c).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/json.h"

#define CLI_MOVE_POLL_MS 200
#define CLI_DRAIN_POLL_MS 500
#define CLI_LOST_MS 10000

static volatile int cli_move_stop;

static void cli_move_signal(int sig)
{
	(void)sig;
	cli_move_stop = 1;
}

/* Ctrl-C and SIGTERM end the following (not the move): the loops check the flag. */
static void cli_catch_signals(void)
{
	struct sigaction sa = { .sa_handler = cli_move_signal };

	sigemptyset(&sa.sa_mask);
	cli_move_stop = 0;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static uint64_t cli_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Sleep until start + ms (a signal cuts it short, which the loop then sees). */
static void cli_sleep_until(uint64_t start, unsigned ms)
{
	uint64_t now = cli_now_ms();

	if (now < start + ms) {
		uint64_t left = start + ms - now;
		struct timespec ts = { .tv_sec = (time_t)(left / 1000),
				       .tv_nsec = (long)(left % 1000) * 1000000 };

		nanosleep(&ts, NULL);
	}
}

/* The terminal's width, or 0 if standard output is not a terminal. */
static int cli_tty_width(void)
{
	struct winsize ws;

	if (!isatty(STDOUT_FILENO))
		return 0;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
		return ws.ws_col;
	return 80;
}

/* Redraw the line in place, cut to the terminal's width. */
static void cli_redraw(const char *line, int width)
{
	printf("\r%.*s\033[K", width - 1, line);
	fflush(stdout);
}

static void cli_clear_line(void)
{
	fputs("\r\033[K", stdout);
	fflush(stdout);
}

/* A connection set up once for a run of requests. */
static struct cli_conn *cli_open(const struct cli_args *a)
{
	struct cli_conn *c = malloc(sizeof(*c));
	struct err e;

	if (!c) {
		cli_failed("out of memory");
		return NULL;
	}
	if (cli_conn_setup(c, a, &e) < 0) {
		cli_failed("%s", e.msg);
		free(c);
		return NULL;
	}
	return c;
}

/* One request on c: 0 with *out the answer (a 2xx), else -1 with msg saying why (the API's
 * message, or what did not answer) and *status the HTTP status (0 if nothing answered). */
static int cli_ask(struct cli_conn *c, const char *method, const char *path, const json_t *body,
		   json_t **out, long *status, char *msg, size_t size)
{
	struct cli_reply r;
	struct err e;

	*out = NULL;
	*status = 0;
	if (cli_request(c, method, path, body, &r, &e) < 0) {
		snprintf(msg, size, "%s", e.msg);
		return -1;
	}
	*status = r.status;
	if (r.status < 200 || r.status > 299) {
		cli_api_error(r.status, r.body, r.len, msg, size);
		cli_reply_free(&r);
		return -1;
	}
	*out = json_parse(r.body, r.len, &e);
	cli_reply_free(&r);
	if (!*out) {
		snprintf(msg, size, "%.200s answered what is not JSON: %.200s",
			 c->endpoints[c->answered], e.msg);
		return -1;
	}
	return 0;
}

/* ---- move and Move-VM ------------------------------------------------------------------- */

/* A name option or argument, checked and in lower case; label names it in the error. */
static int cli_move_name(const char *v, const char *what, const char *label,
			 char out[NAME_MAX_LEN + 1], struct err *e)
{
	if (!v)
		return err_set(e, "%s is required", label);
	if (name_normalize(v, out, what, e) < 0)
		return label[0] == '-' ? err_prefix(e, "%s", label) : -1;
	return 0;
}

int cli_move_args(const struct cli_args *a, struct cli_move *m, struct err *e)
{
	memset(m, 0, sizeof(*m));
	m->verbose = cli_flag(a, "verbose");
	if (a->cmd && (a->cmd->flags & CLI_CMD_DASH)) {
		const char *to = cli_get(a, "DestinationHost");

		if (cli_move_name(cli_get(a, "ComputerName"), "host", "-ComputerName", m->from, e) <
			0 ||
		    cli_move_name(cli_get(a, "Name"), "VM", "-Name", m->vm, e) < 0 ||
		    cli_move_name(to ? to : "best", "host", "-DestinationHost", m->to, e) < 0)
			return -1;
		m->quick = cli_flag(a, "Quick");
		m->wait = true;
		if (!strcmp(m->to, m->from))
			return err_set(e,
				       "-DestinationHost %s is the -ComputerName: %s would not "
				       "move",
				       m->to, m->vm);
		return 0;
	}
	if (cli_move_name(a->npos ? a->pos[0] : NULL, "VM", "VM", m->vm, e) < 0 ||
	    cli_move_name(cli_get(a, "to"), "host", "--to", m->to, e) < 0)
		return -1;
	m->quick = cli_flag(a, "quick");
	m->wait = !cli_flag(a, "no-wait");
	m->explain = cli_flag(a, "explain");
	if (m->explain && strcmp(m->to, "best"))
		return err_set(e, "--explain explains the choice of --to best, and --to is %s",
			       m->to);
	return 0;
}

json_t *cli_move_body(const struct cli_move *m)
{
	json_t *o = json_object();

	json_set_str(o, "to", m->to);
	json_set_bool(o, "quick", m->quick);
	if (m->from[0])
		json_set_str(o, "from", m->from);
	return o;
}

/* The migration member of an answer, or NULL with the failure printed. */
static const json_t *cli_migration_of(const json_t *v)
{
	const json_t *m = json_get(v, "migration");

	if (!json_is_object(m))
		cli_failed("the agent's answer has no 'migration'");
	return json_is_object(m) ? m : NULL;
}

/* Poll the move until it ends: 0 with *final the last answer ({"migration": M}), else an
 * exit status (the failure printed). */
static int cli_move_follow(struct cli_conn *c, const struct cli_move *mv, const char *id, bool json,
			   json_t **final)
{
	char path[160], msg[512], line[512], last_phase[32] = "";
	double last_round = -1;
	uint64_t lost_since = 0;
	int width = json ? 0 : cli_tty_width();

	*final = NULL;
	snprintf(path, sizeof(path), "/v1/migrations/%s", mv->vm);
	for (bool first = true; !cli_move_stop; first = false) {
		uint64_t start = cli_now_ms();
		const json_t *m;
		const char *phase, *mid;
		json_t *v;
		long status;
		struct err e;

		if (!first)
			c->verbose =
			    false; /* --verbose says who answered once, not 5 times a second */
		if (cli_ask(c, "GET", path, NULL, &v, &status, msg, sizeof(msg)) == 0) {
			m = json_get(v, "migration");
			mid = json_string_value(json_get(m, "id"));
			phase = json_string_value(json_get(m, "phase"));
			if (!json_is_object(m) || !phase) {
				snprintf(msg, sizeof(msg),
					 "the agent's answer has no 'migration' with a 'phase'");
			} else if (!mid || strcmp(mid, id)) {
				/* the VM's previous move: this one is not visible here yet */
				snprintf(msg, sizeof(msg),
					 "the agent shows another move of %s (%s)", mv->vm,
					 mid ? mid : "no id");
			} else if (cli_move_ended(phase)) {
				if (width)
					cli_clear_line();
				*final = v;
				return 0;
			} else {
				lost_since = 0;
				if (width) {
					if (cli_fmt_progress(m, width, line, sizeof(line), &e) == 0)
						cli_redraw(line, width);
				} else if (!json) {
					double round = json_number_value(json_get(m, "round"));

					if (strcmp(phase, last_phase) || round != last_round) {
						if (cli_fmt_progress(m, 0, line, sizeof(line),
								     &e) == 0)
							printf("%s\n", line);
						else
							printf("%s: %s\n", mv->vm, phase);
						fflush(stdout);
						snprintf(last_phase, sizeof(last_phase), "%s",
							 phase);
						last_round = round;
					}
				}
				json_free(v);
				cli_sleep_until(start, CLI_MOVE_POLL_MS);
				continue;
			}
			json_free(v);
		}
		/* a failed poll: ride it out for a while (another agent may answer the next) */
		if (!lost_since)
			lost_since = start;
		if (start - lost_since >= CLI_LOST_MS || status == 401 || status == 403) {
			if (width)
				cli_clear_line();
			return cli_failed("lost track of %s's move: %s (`ferry migrations` shows "
					  "it)",
					  mv->vm, msg);
		}
		cli_sleep_until(start, CLI_MOVE_POLL_MS);
	}
	if (width)
		cli_clear_line();
	return cli_failed("stopped following; %s's move goes on (`ferry migrations cancel %s` "
			  "stops it)",
			  mv->vm, mv->vm);
}

static int cli_move_run(const struct cli_args *a, const struct cli_move *mv)
{
	bool json = cli_flag(a, "json");
	struct cli_conn *c;
	json_t *body, *v = NULL, *final = NULL;
	const json_t *m;
	char path[160], msg[512], line[512];
	const char *id;
	long status;
	struct err e;
	int rc;

	if (!(c = cli_open(a)))
		return CLI_FAILED;
	snprintf(path, sizeof(path), "/v1/vms/%s/move", mv->vm);
	body = cli_move_body(mv);
	rc = cli_ask(c, "POST", path, body, &v, &status, msg, sizeof(msg));
	json_free(body);
	if (rc < 0) {
		free(c);
		return cli_failed("%s", msg);
	}
	if (!(m = cli_migration_of(v)) || cli_need_str(m, "id", "the migration", &id, &e) < 0) {
		if (m)
			cli_failed("the agent's answer: %s", e.msg);
		rc = CLI_FAILED;
		goto out;
	}
	if (!json) {
		if (mv->explain && cli_format_candidates(stdout, m, &e) < 0) {
			rc = cli_failed("the agent's answer: %s", e.msg);
			goto out;
		}
		if (cli_fmt_started(m, line, sizeof(line), &e) < 0) {
			rc = cli_failed("the agent's answer: %s", e.msg);
			goto out;
		}
		printf("%s\n", line);
		fflush(stdout);
	}
	if (!mv->wait) {
		if (json)
			cli_format_json(stdout, v);
		rc = CLI_OK;
		goto out;
	}
	cli_catch_signals();
	if ((rc = cli_move_follow(c, mv, id, json, &final)))
		goto out;
	m = json_get(final, "migration");
	if (json) {
		cli_format_json(stdout, final);
		rc = !strcmp(cli_move_state(m), "completed") ? CLI_OK : CLI_FAILED;
		if (rc && cli_fmt_result(m, line, sizeof(line), &e) >= 0)
			cli_failed("%s", line);
		goto out;
	}
	switch (cli_fmt_result(m, line, sizeof(line), &e)) {
	case 0:
		printf("%s\n", line);
		if (mv->verbose && cli_fmt_blackout(m, line, sizeof(line), &e) == 0)
			printf("%s\n", line);
		rc = CLI_OK;
		break;
	case 1:
		rc = cli_failed("%s", line);
		break;
	default:
		rc = cli_failed("the agent's answer: %s", e.msg);
	}
out:
	json_free(final);
	json_free(v);
	free(c);
	return rc;
}

int cli_run_move(const struct cli_args *a)
{
	struct cli_move m;
	struct err e;

	if (cli_move_args(a, &m, &e) < 0)
		return cli_usage(a, e.msg);
	return cli_move_run(a, &m);
}

int cli_run_move_vm(const struct cli_args *a)
{
	return cli_run_move(a);
}

/* ---- migrations --------------------------------------------------------------------------- */

struct cli_watch {
	struct cli_sse sse;
	bool json;
};

/* One event of the stream: a migration's is printed, the others are not for us. */
static void cli_watch_event(const char *type, const char *data, size_t len, void *opaque)
{
	struct cli_watch *w = opaque;
	char line[600], when[16];
	struct err e;
	json_t *v;
	time_t now = time(NULL);
	struct tm tm;

	if (strncmp(type, "migration-", 10))
		return;
	v = json_parse(data, len, &e);
	if (!v) {
		fprintf(stderr, "ferry: event %s: its data is not JSON: %s\n", type, e.msg);
		return;
	}
	if (w->json) {
		json_t *o = json_object();
		char *s;

		json_set_str(o, "event", type);
		json_set(o, "data", json_incref(v));
		if ((s = json_encode(o, NULL)))
			printf("%s\n", s);
		free(s);
		json_free(o);
	} else {
		if (!localtime_r(&now, &tm) || !strftime(when, sizeof(when), "%H:%M:%S", &tm))
			snprintf(when, sizeof(when), "--:--:--");
		if (cli_fmt_event(type, v, line, sizeof(line), &e) == 0)
			printf("%s %s\n", when, line);
		else
			fprintf(stderr, "ferry: %s\n", e.msg);
	}
	fflush(stdout);
	json_free(v);
}

static void cli_watch_feed(const char *p, size_t len, void *opaque)
{
	struct cli_watch *w = opaque;

	cli_sse_feed(&w->sse, p, len);
}

/* Follow the event stream until Ctrl-C, resuming after the last event seen when it breaks
 * (the agent restarted, a proxy cut it). A first attempt that gets no stream, and an answer
 * that refuses (401, 403, 404), end the command; after a stream has come, it is asked for
 * again every second or two, with a note on stderr once per break. */
static int cli_migrations_watch(const struct cli_args *a)
{
	struct cli_watch w = { .json = cli_flag(a, "json") };
	struct cli_conn *c = cli_open(a);
	bool streamed = false, said = false;
	char header[96], last_id[64] = "";

	if (!c)
		return CLI_FAILED;
	cli_catch_signals();
	if (!w.json && isatty(STDERR_FILENO))
		fprintf(stderr, "ferry: following the moves; Ctrl-C to stop\n");
	while (!cli_move_stop) {
		uint64_t start = cli_now_ms();
		long status;
		struct err e;
		int rc;

		cli_sse_init(&w.sse, cli_watch_event, &w);
		snprintf(w.sse.last_id, sizeof(w.sse.last_id), "%s", last_id);
		snprintf(header, sizeof(header), "Last-Event-ID: %s", last_id);
		rc = cli_follow_fn(c, "/v1/events", last_id[0] ? header : NULL, cli_watch_feed, &w,
				   &cli_move_stop, &status, &e);
		snprintf(last_id, sizeof(last_id), "%s", w.sse.last_id);
		cli_sse_free(&w.sse);
		if (cli_move_stop)
			break;
		if (status == 401 || status == 403 || status == 404 ||
		    (!streamed && status != 200)) {
			free(c);
			return cli_failed("%s", rc < 0 ? e.msg : "the event stream ended at once");
		}
		if (status == 200) {
			streamed = true;
			said = false;
		}
		c->verbose = false;
		if (!said)
			fprintf(stderr, "ferry: the event stream %s%s%s (asking again)\n",
				rc < 0 ? "broke (" : "ended", rc < 0 ? e.msg : "",
				rc < 0 ? ")" : "");
		said = true;
		cli_sleep_until(start, status == 200 ? 1000 : 2000);
	}
	free(c);
	return CLI_OK;
}

int cli_run_migrations(const struct cli_args *a)
{
	bool history = cli_flag(a, "history");
	const char *member = history ? "history" : "migrations";
	json_t *v;
	struct err e;
	int rc;

	if (history && cli_flag(a, "watch"))
		return cli_usage(a, "--watch follows the moves under way, --history lists those "
				    "that ended: give one of them");
	if (cli_flag(a, "watch"))
		return cli_migrations_watch(a);
	if ((rc = cli_call(a, "GET", history ? "/v1/migrations/history" : "/v1/migrations", NULL,
			   &v)))
		return rc;
	if (cli_flag(a, "json"))
		cli_format_json(stdout, v);
	else if ((history ? cli_format_history : cli_format_migrations)(stdout, json_get(v, member),
									&e) < 0)
		rc = cli_failed("the agent's answer: %s", e.msg);
	json_free(v);
	return rc;
}

int cli_run_migrations_cancel(const struct cli_args *a)
{
	char vm[NAME_MAX_LEN + 1], path[160], line[512];
	const json_t *m;
	json_t *v;
	struct err e;
	int rc;

	if (name_normalize(a->pos[0], vm, "VM", &e) < 0)
		return cli_usage(a, e.msg);
	snprintf(path, sizeof(path), "/v1/migrations/%s/cancel", vm);
	if ((rc = cli_call(a, "POST", path, NULL, &v)))
		return rc;
	if (cli_flag(a, "json")) {
		cli_format_json(stdout, v);
	} else if (!(m = cli_migration_of(v))) {
		rc = CLI_FAILED;
	} else if (cli_fmt_cancel(m, line, sizeof(line), &e) < 0) {
		rc = cli_failed("the agent's answer: %s", e.msg);
	} else {
		printf("%s\n", line);
	}
	json_free(v);
	return rc;
}

/* ---- host drain and resume ----------------------------------------------------------------- */

/* Print the drain's VMs that moved or stayed and were not printed yet (seen: a set). */
static int cli_drain_news(const char *host, const json_t *d, json_t *seen, bool tty)
{
	static const char *const lists[] = { "moved", "stayed" };
	char line[600], key[80];
	struct err e;

	for (int k = 0; k < 2; k++) {
		const json_t *item;
		size_t i;

		json_array_foreach(json_get(d, lists[k]), i, item)
		{
			const char *vm = json_string_value(json_get(item, "vm"));
			int r;

			if (!vm)
				return cli_failed(
				    "the agent's answer: a VM of the drain's '%s' has "
				    "no 'vm'",
				    lists[k]);
			snprintf(key, sizeof(key), "%s:%s", lists[k], vm);
			if (json_get(seen, key))
				continue;
			json_object_set_new(seen, key, json_true());
			r = k == 0 ? cli_fmt_drain_moved(item, line, sizeof(line), &e)
				   : cli_fmt_drain_stayed(item, host, line, sizeof(line), &e);
			if (r < 0)
				return cli_failed("the agent's answer: %s", e.msg);
			if (tty)
				cli_clear_line();
			printf("%s\n", line);
			fflush(stdout);
		}
	}
	return 0;
}

int cli_run_host_drain(const struct cli_args *a)
{
	char host[NAME_MAX_LEN + 1], path[160], msg[512], line[600];
	bool json = cli_flag(a, "json"), done = false;
	int width = json ? 0 : cli_tty_width();
	json_t *v = NULL, *seen = json_object();
	uint64_t lost_since = 0;
	struct cli_conn *c;
	const json_t *d;
	long status;
	struct err e;
	int rc;

	if (name_normalize(a->pos[0], host, "host", &e) < 0) {
		json_free(seen);
		return cli_usage(a, e.msg);
	}
	if (!(c = cli_open(a))) {
		json_free(seen);
		return CLI_FAILED;
	}
	snprintf(path, sizeof(path), "/v1/hosts/%s/drain", host);
	if (cli_ask(c, "POST", path, NULL, &v, &status, msg, sizeof(msg)) < 0) {
		rc = cli_failed("%s", msg);
		goto out;
	}
	d = json_get(v, "drain");
	if (!json_is_object(d)) {
		rc = cli_failed("the agent's answer has no 'drain'");
		goto out;
	}
	if (cli_flag(a, "no-wait")) {
		if (json) {
			cli_format_json(stdout, v);
		} else {
			const json_t *p = json_get(d, "pending"), *mv = json_get(d, "moving"), *x;
			size_t i, n = json_array_size(p) + json_array_size(mv);

			printf("draining %s: %zu VM%s to move", host, n, n == 1 ? "" : "s");
			json_array_foreach(mv, i, x)
			{
				printf("%s%s", i ? ", " : " (",
				       json_string_value(json_get(x, "vm"))
					   ? json_string_value(json_get(x, "vm"))
					   : "?");
			}
			json_array_foreach(p, i, x)
			{
				printf("%s%s", i || json_array_size(mv) ? ", " : " (",
				       json_string_value(x) ? json_string_value(x) : "?");
			}
			printf("%s\n", n ? ")" : "");
		}
		rc = CLI_OK;
		goto out;
	}
	cli_catch_signals();
	snprintf(path, sizeof(path), "/v1/hosts/%s", host);
	for (bool first = true;; first = false) {
		uint64_t start = cli_now_ms();
		bool ok = false;

		if (!first) {
			json_free(v);
			v = NULL;
			c->verbose = false;
			ok = cli_ask(c, "GET", path, NULL, &v, &status, msg, sizeof(msg)) == 0;
			if (ok && !json_is_object(json_get(v, "drain"))) {
				snprintf(msg, sizeof(msg), "the host's answer has no 'drain'");
				ok = false;
			}
		} else {
			ok = true;
		}
		if (ok) {
			d = json_get(v, "drain");
			lost_since = 0;
			if (!json && cli_drain_news(host, d, seen, width > 0)) {
				rc = CLI_FAILED;
				goto out;
			}
			int r = json_get_bool(d, "done", &done, &e);

			if (r <= 0) {
				rc = cli_failed("the agent's answer: %s",
						r < 0 ? e.msg : "the drain has no 'done'");
				goto out;
			}
			if (done)
				break;
			if (width && cli_fmt_drain_status(host, d, line, sizeof(line), &e) == 0)
				cli_redraw(line, width);
		} else {
			if (!lost_since)
				lost_since = start;
			if (start - lost_since >= CLI_LOST_MS || status == 401 || status == 403) {
				if (width)
					cli_clear_line();
				rc = cli_failed(
				    "lost track of the drain of %s: %s (`ferry host show "
				    "%s` shows it)",
				    host, msg, host);
				goto out;
			}
		}
		if (cli_move_stop) {
			if (width)
				cli_clear_line();
			rc = cli_failed("stopped following; the drain of %s goes on", host);
			goto out;
		}
		cli_sleep_until(start, CLI_DRAIN_POLL_MS);
	}
	if (width)
		cli_clear_line();
	d = json_get(v, "drain");
	if (json)
		cli_format_json(stdout, v);
	else if (cli_fmt_drain_summary(host, d, line, sizeof(line), &e) == 0)
		printf("%s\n", line);
	rc = json_array_size(json_get(d, "stayed")) ? CLI_FAILED : CLI_OK;
out:
	json_free(v);
	json_free(seen);
	free(c);
	return rc;
}

int cli_run_host_resume(const struct cli_args *a)
{
	char host[NAME_MAX_LEN + 1], path[160];
	json_t *v;
	struct err e;
	int rc;

	if (name_normalize(a->pos[0], host, "host", &e) < 0)
		return cli_usage(a, e.msg);
	snprintf(path, sizeof(path), "/v1/hosts/%s/resume", host);
	if ((rc = cli_call(a, "POST", path, NULL, &v)))
		return rc;
	if (cli_flag(a, "json")) {
		cli_format_json(stdout, v);
	} else {
		const char *state = json_string_value(json_get(v, "state"));

		printf("%s: %s%s\n", host, state ? state : "?",
		       state && !strcmp(state, "active") ? " (VMs may be placed on it again)" : "");
	}
	json_free(v);
	return CLI_OK;
}
