/* movefmt.c - moves as text: the progress line, the last line, the tables of moves.
 *
 * Everything here is pure: the API's objects in (a migration M with or without its
 * progress, a past move H, a drain D: docs/api.md), text out, so the lines `ferry move`,
 * `ferry migrations` and `ferry host drain` print are tested from sample JSON without an
 * agent. A line is built piecewise into a caller's buffer (struct cli_line, which cuts at its
 * end and stays NUL-terminated); a table goes through format.c's tables.
 *
 * Figures: sizes through size_format ("10.2 MiB"), rates in MB/s (10^6 bytes a second, as
 * links are counted), durations in ms below a second ("4.5 ms") and in seconds above
 * ("1.23 s"). A member the line needs and the move does not carry is an error naming it; the
 * progress members are shown when present, since an early phase has none yet.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli/cli.h"
#include "common/json.h"

struct cli_line {
	char *p;
	size_t size, n;
};

static void cli_line_init(struct cli_line *l, char *out, size_t size)
{
	l->p = out;
	l->size = size;
	l->n = 0;
	if (size)
		out[0] = '\0';
}

/* Append to the line, cutting at its end. */
static void cli_put(struct cli_line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cli_put(struct cli_line *l, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (l->n + 1 >= l->size)
		return;
	va_start(ap, fmt);
	w = vsnprintf(l->p + l->n, l->size - l->n, fmt, ap);
	va_end(ap);
	if (w < 0)
		return;
	l->n += (size_t)w < l->size - l->n ? (size_t)w : l->size - l->n - 1;
}

/* A number member (integer or real): 1 and *out, 0 if absent or null, -1 (e names it) if it
 * is something else. */
static int cli_real(const json_t *o, const char *key, const char *what, double *out, struct err *e)
{
	const json_t *v = json_get(o, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v))
		return err_set(e, "%s: '%s' is not a number", what, key);
	*out = json_number_value(v);
	if (!isfinite(*out) || *out < 0)
		return err_set(e, "%s: '%s' is %g, not a measurement", what, key, *out);
	return 1;
}

static int cli_need_real(const json_t *o, const char *key, const char *what, double *out,
			 struct err *e)
{
	int r = cli_real(o, key, what, out, e);

	if (r == 0)
		return err_set(e, "%s has no '%s'", what, key);
	return r < 0 ? -1 : 0;
}

/* A string member that may be absent or null (any other type is an error). */
static int cli_may_str(const json_t *o, const char *key, const char *what, const char **out,
		       struct err *e)
{
	const json_t *v = json_get(o, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return err_set(e, "%s: '%s' is not a string", what, key);
	*out = json_string_value(v);
	return 1;
}

void cli_fmt_ms(double ms, char *out, size_t size)
{
	if (ms >= 1000)
		cli_fmt_secs(ms, out, size);
	else if (ms < 1 && ms > 0)
		snprintf(out, size, "%.2f ms", ms);
	else
		snprintf(out, size, "%.1f ms", ms);
}

void cli_fmt_secs(double ms, char *out, size_t size)
{
	snprintf(out, size, "%.2f s", ms / 1000);
}

void cli_fmt_rate(double bps, char *out, size_t size)
{
	double mb = bps / 1e6;

	snprintf(out, size, mb >= 100 ? "%.0f MB/s" : "%.1f MB/s", mb);
}

static void cli_fmt_bytes(double bytes, char *out, size_t size)
{
	size_format(bytes >= 9.2e18 ? UINT64_MAX >> 1 : (uint64_t)bytes, out, size);
}

const char *cli_move_state(const json_t *m)
{
	const char *s = json_string_value(json_get(m, "phase"));

	return s ? s : json_string_value(json_get(m, "result"));
}

bool cli_move_ended(const char *phase)
{
	return phase && (!strcmp(phase, "completed") || !strcmp(phase, "failed") ||
			 !strcmp(phase, "cancelled"));
}

/* The members every line names: the VM, and what to call the move in messages. */
static int cli_move_vm(const json_t *m, const char **vm, char *what, size_t size, struct err *e)
{
	if (!json_is_object(m))
		return err_set(e, "a migration that is not an object");
	if (cli_need_str(m, "vm", "a migration", vm, e) < 0)
		return -1;
	snprintf(what, size, "the move of %s", *vm);
	return 0;
}

static bool cli_is_quick(const json_t *m)
{
	const char *mode = json_string_value(json_get(m, "mode"));

	return mode && !strcmp(mode, "quick");
}

/* The share of the bytes sent of those to send, 0 to 100, or -1 if unknown. */
static int cli_percent(double sent, double left)
{
	if (sent + left <= 0)
		return -1;
	return (int)floor(100.0 * sent / (sent + left));
}

/* The progress line's parts, in the order printed; on a narrow terminal the figures go in the
 * order of drop[] until the bar has room, the bar last. */
enum { CLI_SEG_BYTES, CLI_SEG_RATE, CLI_SEG_DIRTY, CLI_SEG_DOWN, CLI_NSEGS };
#define CLI_BAR_MIN 8
#define CLI_BAR_MAX 24
#define CLI_HEAD 15 /* the phase and round, padded: "precopy round 3" */

int cli_fmt_progress(const json_t *m, int width, char *out, size_t size, struct err *e)
{
	static const int drop[] = { CLI_SEG_DIRTY, CLI_SEG_RATE, CLI_SEG_BYTES, CLI_SEG_DOWN };
	double round = 0, sent = 0, left = 0, bw = 0, dirty = 0, down = 0;
	int has_round, has_sent, has_left, has_bw, has_dirty, has_down, pct = -1;
	char what[96], head[128], seg[CLI_NSEGS][64], a[32], b[32];
	const char *vm, *phase;
	struct cli_line l;

	cli_line_init(&l, out, size);
	if (cli_move_vm(m, &vm, what, sizeof(what), e) < 0 ||
	    cli_need_str(m, "phase", what, &phase, e) < 0)
		return -1;
	if ((has_round = cli_real(m, "round", what, &round, e)) < 0 ||
	    (has_sent = cli_real(m, "bytes_sent", what, &sent, e)) < 0 ||
	    (has_left = cli_real(m, "bytes_remaining", what, &left, e)) < 0 ||
	    (has_bw = cli_real(m, "bandwidth", what, &bw, e)) < 0 ||
	    (has_dirty = cli_real(m, "dirty_rate", what, &dirty, e)) < 0 ||
	    (has_down = cli_real(m, "expected_downtime_ms", what, &down, e)) < 0)
		return -1;
	/* what the phase has: rounds in the copy phases; bytes while the VM's state travels */
	bool copying = !strcmp(phase, "precopy") || !strcmp(phase, "stopcopy");
	bool moving = copying || !strcmp(phase, "saving") || !strcmp(phase, "restoring");
	bool live = !cli_is_quick(m);

	if (moving && has_sent && has_left)
		pct = cli_percent(sent, left);
	{
		struct cli_line h;

		cli_line_init(&h, head, sizeof(head));
		if (width <= 0)
			cli_put(&h, "%s: ", vm);
		cli_put(&h, "%s", phase);
		if (copying && has_round && round > 0)
			cli_put(&h, " round %.0f", round);
		if (!strcmp(phase, "queued"))
			cli_put(&h, " (the source's moves under way go first)");
	}
	memset(seg, 0, sizeof(seg));
	if (moving) {
		struct cli_line sl;

		cli_line_init(&sl, seg[CLI_SEG_BYTES], sizeof(seg[0]));
		if (has_sent) {
			cli_fmt_bytes(sent, a, sizeof(a));
			cli_put(&sl, "%s sent", a);
		}
		if (has_left) {
			cli_fmt_bytes(left, b, sizeof(b));
			cli_put(&sl, "%s%s left", has_sent ? ", " : "", b);
		}
		if (has_bw && bw > 0) {
			cli_fmt_rate(bw, a, sizeof(a));
			snprintf(seg[CLI_SEG_RATE], sizeof(seg[0]), "%s", a);
		}
		if (has_dirty && live) {
			cli_fmt_rate(dirty, a, sizeof(a));
			snprintf(seg[CLI_SEG_DIRTY], sizeof(seg[0]), "dirty %s", a);
		}
		if (has_down && down > 0 && live) {
			cli_fmt_ms(down, a, sizeof(a));
			snprintf(seg[CLI_SEG_DOWN], sizeof(seg[0]), "%sdowntime %s",
				 width > 0 ? "" : "expected ", a);
		}
	}
	if (width <= 0) {
		/* a line of its own: "cl7: precopy round 3: 45%, 120 MiB sent, ..." */
		bool first = true;

		cli_put(&l, "%s", head);
		if (pct >= 0) {
			cli_put(&l, ": %d%%", pct);
			first = false;
		}
		for (int k = 0; k < CLI_NSEGS; k++) {
			if (!seg[k][0])
				continue;
			cli_put(&l, "%s%s", first ? ": " : ", ", seg[k]);
			first = false;
		}
		return 0;
	}
	/* A terminal's line, width - 1 columns at most. The bar's width comes from the
	 * terminal's and the parts' nominal widths, not their text, so that it stays put from
	 * one redraw to the next; parts that would leave it too little room are left out. */
	static const int nominal[CLI_NSEGS] = { 28, 9, 15, 16 };
	int bar = 0;

	for (size_t d = 0;; d++) {
		int used = CLI_HEAD + (pct >= 0 ? 5 : 0); /* " 100%" */

		for (int k = 0; k < CLI_NSEGS; k++)
			if (seg[k][0])
				used += 2 + nominal[k];
		bar = width - 1 - used - 3; /* " [" and "]" */
		if (pct < 0 || bar >= CLI_BAR_MIN || d == sizeof(drop) / sizeof(drop[0]))
			break;
		seg[drop[d]][0] = '\0';
	}
	if (bar > CLI_BAR_MAX)
		bar = CLI_BAR_MAX;
	if (pct >= 0)
		cli_put(&l, "%-*s", CLI_HEAD, head);
	else
		cli_put(&l, "%s", head);
	if (pct >= 0 && bar >= CLI_BAR_MIN) {
		int fill = pct * bar / 100;

		cli_put(&l, " [");
		for (int i = 0; i < bar; i++)
			cli_put(&l, "%c", i < fill ? '#' : '.');
		cli_put(&l, "]");
	}
	if (pct >= 0)
		cli_put(&l, " %3d%%", pct);
	for (int k = 0; k < CLI_NSEGS; k++)
		if (seg[k][0])
			cli_put(&l, "  %s", seg[k]);
	return 0;
}

int cli_fmt_result(const json_t *m, char *out, size_t size, struct err *e)
{
	const char *vm, *state, *dest, *reason;
	double total, blackout, bytes;
	char what[96], t[32], b[32], n[32];
	struct cli_line l;

	cli_line_init(&l, out, size);
	if (cli_move_vm(m, &vm, what, sizeof(what), e) < 0)
		return -1;
	state = cli_move_state(m);
	if (!state)
		return err_set(e, "%s has no 'phase'", what);
	if (!cli_move_ended(state))
		return err_set(e, "%s has not ended (it is at %s)", what, state);
	if (cli_may_str(m, "reason", what, &reason, e) < 0)
		return -1;
	if (!strcmp(state, "failed")) {
		cli_put(&l, "%s did not move: %s", vm, reason && *reason ? reason : "it failed");
		return 1;
	}
	if (!strcmp(state, "cancelled")) {
		if (!reason || !*reason)
			cli_put(&l, "%s did not move: cancelled", vm);
		else if (strcasestr(reason, "cancel"))
			cli_put(&l, "%s did not move: %s", vm, reason);
		else
			cli_put(&l, "%s did not move: cancelled (%s)", vm, reason);
		return 1;
	}
	if (cli_need_str(m, "destination", what, &dest, e) < 0 ||
	    cli_need_real(m, "total_ms", what, &total, e) < 0 ||
	    cli_need_real(m, "blackout_ms", what, &blackout, e) < 0 ||
	    cli_need_real(m, "bytes", what, &bytes, e) < 0)
		return -1;
	cli_fmt_secs(total, t, sizeof(t));
	cli_fmt_ms(blackout, b, sizeof(b));
	cli_fmt_bytes(bytes, n, sizeof(n));
	cli_put(&l, "%s moved to %s%s in %s, blackout %s, %s", vm, dest,
		cli_is_quick(m) ? " (quick)" : "", t, b, n);
	return 0;
}

int cli_fmt_blackout(const json_t *m, char *out, size_t size, struct err *e)
{
	static const struct {
		const char *key, *label;
	} parts[] = {
		{ "flush_ms", "flush" },       { "final_pages_ms", "final pages" },
		{ "transfer_ms", "transfer" }, { "commit_ms", "commit" },
		{ "announce_ms", "announce" }, { "resume_ms", "resume" },
	};
	const json_t *bo = json_get(m, "blackout");
	char what[96], t[32];
	struct cli_line l;
	const char *vm;
	double v;
	int r;

	cli_line_init(&l, out, size);
	if (cli_move_vm(m, &vm, what, sizeof(what), e) < 0)
		return -1;
	if (!bo || json_is_null(bo))
		return 1;
	if (!json_is_object(bo))
		return err_set(e, "%s: 'blackout' is not an object", what);
	snprintf(what, sizeof(what), "the blackout of %s", vm);
	if ((r = cli_real(bo, "total_ms", what, &v, e)) < 0 ||
	    (r == 0 && (r = cli_real(m, "blackout_ms", what, &v, e)) < 0))
		return -1;
	cli_put(&l, "blackout");
	if (r) {
		cli_fmt_ms(v, t, sizeof(t));
		cli_put(&l, " %s", t);
	}
	bool first = true;

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		if ((r = cli_real(bo, parts[i].key, what, &v, e)) < 0)
			return -1;
		if (!r)
			continue;
		cli_fmt_ms(v, t, sizeof(t));
		cli_put(&l, "%s%s %s", first ? ": " : ", ", parts[i].label, t);
		first = false;
	}
	return 0;
}

int cli_fmt_started(const json_t *m, char *out, size_t size, struct err *e)
{
	const char *vm, *src, *dst, *id;
	char what[96];
	struct cli_line l;
	bool queued = false;

	cli_line_init(&l, out, size);
	if (cli_move_vm(m, &vm, what, sizeof(what), e) < 0 ||
	    cli_need_str(m, "source", what, &src, e) < 0 ||
	    cli_need_str(m, "destination", what, &dst, e) < 0 ||
	    cli_need_str(m, "id", what, &id, e) < 0)
		return -1;
	if (json_get_bool(m, "queued", &queued, e) < 0)
		return err_prefix(e, "%s", what);
	cli_put(&l, "moving %s from %s to %s (%smigration %s)", vm, src, dst,
		cli_is_quick(m) ? "quick, " : "", id);
	if (queued)
		cli_put(&l, ", queued: %s's moves under way go first", src);
	return 0;
}

int cli_format_candidates(FILE *f, const json_t *m, struct err *e)
{
	static const char *const head[] = { "HOST", "CHOSEN", "REASON" };
	const json_t *cands = json_get(m, "candidates");
	struct cli_table t = { .ncols = 3 };
	char what[96];
	const char *vm;
	size_t i;
	json_t *c;

	if (cli_move_vm(m, &vm, what, sizeof(what), e) < 0)
		return -1;
	if (!json_is_array(cands))
		return err_set(e, "%s has no 'candidates' (they come with --to best)", what);
	cli_table_row(&t, head);
	/* the chosen first, then the others in the agent's order */
	for (int pass = 0; pass < 2; pass++) {
		json_array_foreach(cands, i, c)
		{
			const char *host, *reason;
			bool chosen = false;

			if (cli_need_str(c, "host", "a candidate", &host, e) < 0 ||
			    json_get_bool(c, "chosen", &chosen, e) < 0 ||
			    cli_may_str(c, "reason", "a candidate", &reason, e) < 0) {
				cli_table_free(&t);
				return -1;
			}
			if (chosen != (pass == 0))
				continue;
			const char *row[] = { host, chosen ? "yes" : "no", reason };
			cli_table_row(&t, row);
		}
	}
	fprintf(f, "best possible node for %s:\n", vm);
	if (t.nrows == 1) {
		cli_table_free(&t);
		fprintf(f, "  (no host to consider)\n");
		return 0;
	}
	cli_table_print(f, &t, "  ");
	return 0;
}

/* "45% round 3" for the table of moves under way. */
static void cli_progress_cell(const json_t *m, char *out, size_t size)
{
	const json_t *s = json_get(m, "bytes_sent"), *r = json_get(m, "bytes_remaining");
	const json_t *round = json_get(m, "round");
	struct cli_line l;
	int pct = -1;

	cli_line_init(&l, out, size);
	if (json_is_number(s) && json_is_number(r))
		pct = cli_percent(json_number_value(s), json_number_value(r));
	if (pct >= 0)
		cli_put(&l, "%d%%", pct);
	if (json_is_number(round) && json_number_value(round) > 0)
		cli_put(&l, "%sround %.0f", pct >= 0 ? " " : "", json_number_value(round));
	if (!l.n)
		cli_put(&l, "-");
}

int cli_format_migrations(FILE *f, const json_t *ms, struct err *e)
{
	static const char *const head[] = { "VM", "FROM", "TO", "MODE", "PHASE", "PROGRESS" };
	struct cli_table t = { .ncols = 6 };
	size_t i;
	json_t *m;

	if (!json_is_array(ms))
		return err_set(e, "the migrations are not an array");
	cli_table_row(&t, head);
	json_array_foreach(ms, i, m)
	{
		const char *vm, *src, *dst, *mode, *phase;
		char what[96], prog[64];

		if (cli_move_vm(m, &vm, what, sizeof(what), e) < 0 ||
		    cli_need_str(m, "source", what, &src, e) < 0 ||
		    cli_need_str(m, "destination", what, &dst, e) < 0 ||
		    cli_need_str(m, "phase", what, &phase, e) < 0 ||
		    cli_may_str(m, "mode", what, &mode, e) < 0) {
			cli_table_free(&t);
			return -1;
		}
		cli_progress_cell(m, prog, sizeof(prog));
		const char *row[] = { vm, src, dst, mode, phase, prog };
		cli_table_row(&t, row);
	}
	if (t.nrows == 1) {
		cli_table_free(&t);
		fprintf(f, "no move under way\n");
		return 0;
	}
	cli_table_print(f, &t, "");
	return 0;
}

/* Milliseconds since the epoch as local time, "2026-12-02 06:10:11". */
static void cli_fmt_when(double ms, char *out, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!localtime_r(&t, &tm) || !strftime(out, size, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(out, size, "-");
}

int cli_format_history(FILE *f, const json_t *hs, struct err *e)
{
	static const char *const head[] = { "WHEN",  "VM",	 "FROM",  "TO",	    "MODE",
					    "TOTAL", "BLACKOUT", "BYTES", "RESULT", "REASON" };
	struct cli_table t = { .ncols = 10 };
	size_t i;
	json_t *h;

	if (!json_is_array(hs))
		return err_set(e, "the history is not an array");
	cli_table_row(&t, head);
	json_array_foreach(hs, i, h)
	{
		const char *vm, *src, *dst, *mode, *result, *reason;
		char what[96], when[32], total[32], bo[32], bytes[32];
		double started = 0, v;
		int r;

		if (cli_move_vm(h, &vm, what, sizeof(what), e) < 0 ||
		    cli_need_str(h, "source", what, &src, e) < 0 ||
		    cli_need_str(h, "destination", what, &dst, e) < 0 ||
		    cli_need_str(h, "result", what, &result, e) < 0 ||
		    cli_may_str(h, "mode", what, &mode, e) < 0 ||
		    cli_may_str(h, "reason", what, &reason, e) < 0 ||
		    cli_need_real(h, "started_ms", what, &started, e) < 0)
			goto bad;
		cli_fmt_when(started, when, sizeof(when));
		/* the figures of a move that failed early may be missing: "-" */
		snprintf(total, sizeof(total), "-");
		snprintf(bo, sizeof(bo), "-");
		snprintf(bytes, sizeof(bytes), "-");
		if ((r = cli_real(h, "total_ms", what, &v, e)) < 0)
			goto bad;
		if (r)
			cli_fmt_secs(v, total, sizeof(total));
		if ((r = cli_real(h, "blackout_ms", what, &v, e)) < 0)
			goto bad;
		if (r)
			cli_fmt_ms(v, bo, sizeof(bo));
		if ((r = cli_real(h, "bytes", what, &v, e)) < 0)
			goto bad;
		if (r)
			cli_fmt_bytes(v, bytes, sizeof(bytes));
		const char *row[] = { when,  vm, src,	dst,	mode,
				      total, bo, bytes, result, reason && *reason ? reason : NULL };
		cli_table_row(&t, row);
	}
	if (t.nrows == 1) {
		cli_table_free(&t);
		fprintf(f, "no move has ended yet\n");
		return 0;
	}
	cli_table_print(f, &t, "");
	return 0;
bad:
	cli_table_free(&t);
	return -1;
}

int cli_fmt_event(const char *type, const json_t *data, char *out, size_t size, struct err *e)
{
	const char *vm, *kind = strncmp(type, "migration-", 10) ? type : type + 10;
	char what[96];
	struct cli_line l;

	cli_line_init(&l, out, size);
	if (cli_move_vm(data, &vm, what, sizeof(what), e) < 0)
		return err_prefix(e, "event %s", type);
	if (!strcmp(kind, "started"))
		return cli_fmt_started(data, out, size, e) < 0 ? err_prefix(e, "event %s", type)
							       : 0;
	if (!strcmp(kind, "progress"))
		return cli_fmt_progress(data, 0, out, size, e) < 0 ? err_prefix(e, "event %s", type)
								   : 0;
	if (!strcmp(kind, "completed") || !strcmp(kind, "failed") || !strcmp(kind, "cancelled")) {
		/* the data is M or H; a bare one says at least how it ended */
		if (cli_move_state(data))
			return cli_fmt_result(data, out, size, e) < 0
				   ? err_prefix(e, "event %s", type)
				   : 0;
		cli_put(&l, "%s: move %s", vm, kind);
		return 0;
	}
	cli_put(&l, "%s: %s", vm, type);
	return 0;
}

int cli_fmt_drain_moved(const json_t *d, char *out, size_t size, struct err *e)
{
	const char *vm, *to;
	double total, blackout;
	char t[32], b[32];
	struct cli_line l;

	cli_line_init(&l, out, size);
	if (cli_need_str(d, "vm", "a moved VM of the drain", &vm, e) < 0 ||
	    cli_need_str(d, "to", "a moved VM of the drain", &to, e) < 0 ||
	    cli_need_real(d, "total_ms", "a moved VM of the drain", &total, e) < 0 ||
	    cli_need_real(d, "blackout_ms", "a moved VM of the drain", &blackout, e) < 0)
		return -1;
	cli_fmt_secs(total, t, sizeof(t));
	cli_fmt_ms(blackout, b, sizeof(b));
	cli_put(&l, "%s moved to %s in %s, blackout %s", vm, to, t, b);
	return 0;
}

int cli_fmt_drain_stayed(const json_t *d, const char *host, char *out, size_t size, struct err *e)
{
	const char *vm, *reason;
	struct cli_line l;

	cli_line_init(&l, out, size);
	if (cli_need_str(d, "vm", "a VM the drain left", &vm, e) < 0 ||
	    cli_may_str(d, "reason", "a VM the drain left", &reason, e) < 0)
		return -1;
	cli_put(&l, "%s stays on %s: %s", vm, host, reason && *reason ? reason : "no reason given");
	return 0;
}

/* The four lists of a drain, checked. */
static int cli_drain_lists(const json_t *d, const json_t **pending, const json_t **moving,
			   const json_t **moved, const json_t **stayed, struct err *e)
{
	static const char *const keys[] = { "pending", "moving", "moved", "stayed" };
	const json_t **out[] = { pending, moving, moved, stayed };

	if (!json_is_object(d))
		return err_set(e, "the drain is not an object");
	for (size_t i = 0; i < 4; i++) {
		const json_t *v = json_get(d, keys[i]);

		if (v && !json_is_null(v) && !json_is_array(v))
			return err_set(e, "the drain's '%s' is not an array", keys[i]);
		*out[i] = v;
	}
	return 0;
}

int cli_fmt_drain_status(const char *host, const json_t *d, char *out, size_t size, struct err *e)
{
	const json_t *pending, *moving, *moved, *stayed, *mv;
	struct cli_line l;
	size_t i;

	cli_line_init(&l, out, size);
	if (cli_drain_lists(d, &pending, &moving, &moved, &stayed, e) < 0)
		return -1;
	cli_put(&l, "draining %s:", host);
	json_array_foreach(moving, i, mv)
	{
		const char *vm, *to;

		if (cli_need_str(mv, "vm", "a moving VM of the drain", &vm, e) < 0 ||
		    cli_need_str(mv, "to", "a moving VM of the drain", &to, e) < 0)
			return -1;
		cli_put(&l, "%s %s moving to %s", i ? "," : "", vm, to);
	}
	if (json_array_size(pending))
		cli_put(&l, "%s %zu waiting", json_array_size(moving) ? ";" : "",
			json_array_size(pending));
	if (!json_array_size(moving) && !json_array_size(pending))
		cli_put(&l, " nothing left to move");
	return 0;
}

int cli_fmt_drain_summary(const char *host, const json_t *d, char *out, size_t size, struct err *e)
{
	const json_t *pending, *moving, *moved, *stayed, *s;
	size_t nmoved, nstayed, i;
	struct cli_line l;

	cli_line_init(&l, out, size);
	if (cli_drain_lists(d, &pending, &moving, &moved, &stayed, e) < 0)
		return -1;
	nmoved = json_array_size(moved);
	nstayed = json_array_size(stayed);
	if (!nmoved && !nstayed) {
		cli_put(&l, "%s drained: it ran no VM", host);
		return 0;
	}
	if (!nstayed) {
		cli_put(&l, "%s drained: %zu VM%s moved", host, nmoved, nmoved == 1 ? "" : "s");
		return 0;
	}
	cli_put(&l, "%s not drained: %zu VM%s moved, %zu stayed (", host, nmoved,
		nmoved == 1 ? "" : "s", nstayed);
	json_array_foreach(stayed, i, s)
	{
		const char *vm = json_string_value(json_get(s, "vm"));

		cli_put(&l, "%s%s", i ? ", " : "", vm ? vm : "?");
	}
	cli_put(&l, "); it stays draining until `ferry host resume %s`", host);
	return 0;
}

int cli_fmt_cancel(const json_t *m, char *out, size_t size, struct err *e)
{
	const char *vm, *src, *dst, *phase;
	char what[96];
	struct cli_line l;

	cli_line_init(&l, out, size);
	if (cli_move_vm(m, &vm, what, sizeof(what), e) < 0 ||
	    cli_need_str(m, "source", what, &src, e) < 0 ||
	    cli_need_str(m, "destination", what, &dst, e) < 0 ||
	    cli_need_str(m, "phase", what, &phase, e) < 0)
		return -1;
	if (!strcmp(phase, "cancelled"))
		cli_put(&l, "%s: its move to %s is cancelled; it stays on %s", vm, dst, src);
	else if (cli_move_ended(phase))
		cli_put(&l, "%s: its move to %s had %s already", vm, dst, phase);
	else
		cli_put(&l, "%s: cancelling its move to %s (at %s); it stays on %s", vm, dst, phase,
			src);
	return 0;
}
