/* test_cli_move.c - ferry's move commands without a server: parsing of move and Move-VM, the
 * migrations group, the lines and tables made from sample migration objects, the event
 * stream reader. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/json.h"

/* Parse a command line given as words (NULL-terminated). */
static int parse(struct cli_args *a, struct err *e, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;

	argv[argc++] = "ferry";
	va_start(ap, e);
	for (char *w; (w = va_arg(ap, char *));)
		argv[argc++] = w;
	va_end(ap);
	return cli_parse(argc, argv, a, e);
}

static json_t *parse_json(const char *text)
{
	struct err e;
	json_t *v = json_parse(text, strlen(text), &e);
	if (!v)
		fail_msg("%s", e.msg);
	return v;
}

/* What a table function writes, as a malloc'ed string. */
static char *capture(int (*fn)(FILE *, const json_t *, struct err *), const json_t *v, int *rc,
		     struct err *e)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	*rc = fn(f, v, e);
	fclose(f);
	return text;
}

static char *encode(const json_t *v)
{
	char *s = json_encode(v, NULL);
	assert_non_null(s);
	return s;
}

/* ---- move ------------------------------------------------------------------------------------ */

static void test_parse_move(void **state)
{
	(void)state;
	struct cli_move m;
	struct cli_args a;
	struct err e;
	json_t *body;
	char *t;

	assert_int_equal(parse(&a, &e, "move", "CL7", "--to", "VH02", "--quick", NULL), 0);
	assert_ptr_equal(a.cmd, cli_find(NULL, "move"));
	assert_int_equal(cli_move_args(&a, &m, &e), 0);
	assert_string_equal(m.vm, "cl7");
	assert_string_equal(m.to, "vh02");
	assert_string_equal(m.from, "");
	assert_true(m.quick);
	assert_true(m.wait);
	assert_false(m.explain);
	body = cli_move_body(&m);
	t = encode(body);
	assert_string_equal(t, "{\"to\": \"vh02\", \"quick\": true}");
	free(t);
	json_free(body);

	/* best, in any case; --explain with it; --no-wait; the global --verbose */
	assert_int_equal(
	    parse(&a, &e, "--verbose", "Move", "cl7", "--to=Best", "--explain", "--no-wait", NULL),
	    0);
	assert_int_equal(cli_move_args(&a, &m, &e), 0);
	assert_string_equal(m.to, "best");
	assert_true(m.explain);
	assert_false(m.wait);
	assert_false(m.quick);
	assert_true(m.verbose);
	body = cli_move_body(&m);
	t = encode(body);
	assert_string_equal(t, "{\"to\": \"best\", \"quick\": false}");
	free(t);
	json_free(body);

	/* refusals: of the parser, then of the arguments */
	assert_int_equal(parse(&a, &e, "move", "cl7", NULL), -1);
	assert_string_equal(e.msg, "--to is required");
	assert_int_equal(parse(&a, &e, "move", "--to", "vh02", NULL), -1);
	assert_string_equal(e.msg, "'move' needs VM");
	assert_int_equal(parse(&a, &e, "move", "cl7", "-to", "vh02", NULL), -1);
	assert_non_null(strstr(e.msg, "unknown option -to (options are spelled --name)"));
	assert_int_equal(parse(&a, &e, "move", "cl7", "--to", "vh02", "--live", NULL), -1);
	assert_string_equal(e.msg, "unknown option --live for 'move'");
	assert_int_equal(parse(&a, &e, "move", "cl7", "--to", "vh02", "--explain", NULL), 0);
	assert_int_equal(cli_move_args(&a, &m, &e), -1);
	assert_non_null(strstr(e.msg, "--explain explains the choice of --to best"));
	assert_int_equal(parse(&a, &e, "move", "cl_7", "--to", "vh02", NULL), 0);
	assert_int_equal(cli_move_args(&a, &m, &e), -1);
	assert_non_null(strstr(e.msg, "'cl_7' is not a VM name"));
	assert_int_equal(parse(&a, &e, "move", "cl7", "--to", "vh 02", NULL), 0);
	assert_int_equal(cli_move_args(&a, &m, &e), -1);
	assert_non_null(strstr(e.msg, "--to: "));
	assert_non_null(strstr(e.msg, "not a host name"));
}

static void test_parse_move_vm(void **state)
{
	(void)state;
	struct cli_move m;
	struct cli_args a;
	struct err e;
	json_t *body;
	char *t;

	assert_int_equal(parse(&a, &e, "Move-VM", "-ComputerName", "VH01", "-Name", "CL7",
			       "-DestinationHost", "VH02", "-Quick", NULL),
			 0);
	assert_ptr_equal(a.cmd, cli_find(NULL, "Move-VM"));
	assert_true(a.cmd->flags & CLI_CMD_DASH);
	assert_int_equal(cli_move_args(&a, &m, &e), 0);
	assert_string_equal(m.vm, "cl7");
	assert_string_equal(m.from, "vh01");
	assert_string_equal(m.to, "vh02");
	assert_true(m.quick);
	assert_true(m.wait);
	body = cli_move_body(&m);
	t = encode(body);
	assert_string_equal(t, "{\"to\": \"vh02\", \"quick\": true, \"from\": \"vh01\"}");
	free(t);
	json_free(body);

	/* the command's name and the parameters' names in any case; a value after a colon;
	 * without -DestinationHost the best possible node; global options both ways */
	assert_int_equal(parse(&a, &e, "move-vm", "-computername", "Vh01", "-NAME:Cl7", "-Verbose",
			       "--json", NULL),
			 0);
	assert_ptr_equal(a.cmd, cli_find(NULL, "Move-VM"));
	assert_string_equal(cli_get(&a, "Name"), "Cl7");
	assert_string_equal(cli_get(&a, "computername"), "Vh01");
	assert_true(cli_flag(&a, "verbose"));
	assert_true(cli_flag(&a, "json"));
	assert_int_equal(cli_move_args(&a, &m, &e), 0);
	assert_string_equal(m.vm, "cl7");
	assert_string_equal(m.from, "vh01");
	assert_string_equal(m.to, "best");
	assert_false(m.quick);
	assert_true(m.verbose);
	body = cli_move_body(&m);
	t = encode(body);
	assert_string_equal(t, "{\"to\": \"best\", \"quick\": false, \"from\": \"vh01\"}");
	free(t);
	json_free(body);
	assert_int_equal(parse(&a, &e, "MOVE-VM", "-dEsTiNaTiOnHoSt", "vh03", "-name", "cl7",
			       "-computername", "vh01", "-quick", NULL),
			 0);
	assert_int_equal(cli_move_args(&a, &m, &e), 0);
	assert_string_equal(m.to, "vh03");
	assert_true(m.quick);

	/* refusals, each naming the parameter */
	static const struct {
		const char *w[10];
		const char *msg;
	} bad[] = {
		{ { "Move-VM", "-Name", "cl7", NULL }, "-ComputerName is required" },
		{ { "Move-VM", "-ComputerName", "vh01", NULL }, "-Name is required" },
		{ { "Move-VM", NULL }, "-ComputerName is required" },
		{ { "Move-VM", "-ComputerName", "vh01", "-Name", "cl7", "-Destination", "vh02" },
		  "unknown parameter -Destination for 'Move-VM'" },
		{ { "Move-VM", "-ComputerName", "vh01", "-Name", "cl7", "-Force", NULL },
		  "unknown parameter -Force for 'Move-VM'" },
		{ { "Move-VM", "-ComputerName", "vh01", "-Name", NULL },
		  "-Name needs a value (VM)" },
		{ { "Move-VM", "-ComputerName", "vh01", "-Name", "a", "-name", "b", NULL },
		  "-Name given twice" },
		{ { "Move-VM", "-ComputerName", "vh01", "-Name", "cl7", "-Quick:yes", NULL },
		  "-Quick takes no value" },
		{ { "Move-VM", "-ComputerName", "vh01", "cl7", NULL },
		  "'Move-VM' takes its values by name (-ComputerName HOST): 'cl7' is not one" },
		/* before the command's word a single dash is not its parameter */
		{ { "-Name", "cl7", "Move-VM", NULL }, "unknown option -Name" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[12] = { "ferry" };
		int argc = 1;

		for (int k = 0; k < 10 && bad[i].w[k]; k++)
			argv[argc++] = (char *)bad[i].w[k];
		assert_int_equal(cli_parse(argc, argv, &a, &e), -1);
		if (!strstr(e.msg, bad[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, e.msg, bad[i].msg);
	}
	/* values that are not names, and a move to where it is */
	assert_int_equal(parse(&a, &e, "Move-VM", "-ComputerName", "VH_01", "-Name", "cl7", NULL),
			 0);
	assert_int_equal(cli_move_args(&a, &m, &e), -1);
	assert_non_null(strstr(e.msg, "-ComputerName: 'VH_01' is not a host name"));
	assert_int_equal(parse(&a, &e, "Move-VM", "-ComputerName", "vh01", "-Name", "", NULL), 0);
	assert_int_equal(cli_move_args(&a, &m, &e), -1);
	assert_non_null(strstr(e.msg, "-Name: "));
	assert_int_equal(parse(&a, &e, "Move-VM", "-ComputerName", "VH01", "-Name", "cl7",
			       "-DestinationHost", "vh01", NULL),
			 0);
	assert_int_equal(cli_move_args(&a, &m, &e), -1);
	assert_non_null(strstr(e.msg, "cl7 would not move"));
	/* help needs no required parameter */
	assert_int_equal(parse(&a, &e, "Move-VM", "-h", NULL), 0);
	assert_true(a.help);
}

static void test_parse_migrations_and_hosts(void **state)
{
	(void)state;
	const struct cli_cmd *ls = cli_find("migrations", "ls");
	struct cli_args a;
	struct err e;

	assert_non_null(ls);
	assert_ptr_equal(cli_group_default("migrations"), ls);
	assert_ptr_equal(cli_group_default("MIGRATIONS"), ls);
	assert_null(cli_group_default("vm"));
	/* the group alone runs its default, with its options before or after */
	assert_int_equal(parse(&a, &e, "migrations", NULL), 0);
	assert_ptr_equal(a.cmd, ls);
	assert_null(a.group);
	assert_int_equal(parse(&a, &e, "Migrations", "--history", NULL), 0);
	assert_ptr_equal(a.cmd, ls);
	assert_true(cli_flag(&a, "history"));
	assert_false(cli_flag(&a, "watch"));
	assert_int_equal(parse(&a, &e, "--json", "migrations", "--watch", NULL), 0);
	assert_true(cli_flag(&a, "watch"));
	assert_int_equal(parse(&a, &e, "migrations", "list", "--watch", NULL), 0);
	assert_ptr_equal(a.cmd, ls);
	assert_true(cli_flag(&a, "watch"));
	/* a command of the group named after it */
	assert_int_equal(parse(&a, &e, "migrations", "cancel", "CL7", NULL), 0);
	assert_ptr_equal(a.cmd, cli_find("migrations", "cancel"));
	assert_int_equal(a.npos, 1);
	assert_string_equal(a.pos[0], "CL7");
	assert_int_equal(parse(&a, &e, "migrations", "--json", "cancel", "cl7", NULL), 0);
	assert_ptr_equal(a.cmd, cli_find("migrations", "cancel"));
	assert_true(cli_flag(&a, "json"));
	assert_int_equal(parse(&a, &e, "migrations", "--watch", "cancel", "cl7", NULL), -1);
	assert_string_equal(e.msg, "unknown option --watch for 'migrations cancel'");
	assert_int_equal(parse(&a, &e, "migrations", "cancel", NULL), -1);
	assert_string_equal(e.msg, "'migrations cancel' needs VM");
	assert_int_equal(parse(&a, &e, "migrations", "stop", NULL), -1);
	assert_non_null(strstr(e.msg, "'stop' is not a 'migrations' command"));
	assert_int_equal(parse(&a, &e, "migrations", "ls", "extra", NULL), -1);
	assert_non_null(strstr(e.msg, "'extra' is one too many"));
	/* its words: the group's for the default */
	char words[64];
	cli_cmd_words(ls, words, sizeof(words));
	assert_string_equal(words, "migrations");
	cli_cmd_words(cli_find("migrations", "cancel"), words, sizeof(words));
	assert_string_equal(words, "migrations cancel");

	assert_int_equal(parse(&a, &e, "host", "drain", "VH01", "--no-wait", NULL), 0);
	assert_ptr_equal(a.cmd, cli_find("host", "drain"));
	assert_true(cli_flag(&a, "no-wait"));
	assert_int_equal(parse(&a, &e, "host", "resume", "vh01", NULL), 0);
	assert_ptr_equal(a.cmd, cli_find("host", "resume"));
	assert_int_equal(parse(&a, &e, "host", "resume", NULL), -1);
	assert_string_equal(e.msg, "'host resume' needs NAME");
}

/* ---- the lines of a move ------------------------------------------------------------------- */

static const char m_precopy[] =
    "{\"id\": \"m-41\", \"vm\": \"cl7\", \"source\": \"vh01\", \"destination\": \"vh02\", "
    "\"mode\": \"live\", \"phase\": \"precopy\", \"queued\": false, \"started_ms\": "
    "1764655811204, \"round\": 3, \"bytes_sent\": 125829120, \"bytes_remaining\": 41943040, "
    "\"bandwidth\": 850000000.0, \"dirty_rate\": 12300000.0, \"expected_downtime_ms\": 4.3}";

static void test_fmt_progress(void **state)
{
	(void)state;
	json_t *m = parse_json(m_precopy);
	char line[512];
	struct err e;

	/* a line of its own (not a terminal): every figure */
	assert_int_equal(cli_fmt_progress(m, 0, line, sizeof(line), &e), 0);
	assert_string_equal(line, "cl7: precopy round 3: 75%, 120 MiB sent, 40 MiB left, 850 MB/s, "
				  "dirty 12.3 MB/s, expected downtime 4.3 ms");
	/* a wide terminal: the bar, 20 wide (120 columns less 1 and the parts' nominal widths:
	 * 15 + 5 + 30 + 11 + 17 + 18 + 3), 75% of it filled */
	assert_int_equal(cli_fmt_progress(m, 120, line, sizeof(line), &e), 0);
	assert_string_equal(line, "precopy round 3 [###############.....]  75%  120 MiB sent, "
				  "40 MiB left  850 MB/s  dirty 12.3 MB/s  downtime 4.3 ms");
	/* the widest terminal: the bar at its most, 24 */
	assert_int_equal(cli_fmt_progress(m, 300, line, sizeof(line), &e), 0);
	assert_non_null(strstr(line, "[##################......]  75%"));
	/* 80 columns: the dirty rate and the bandwidth go, which leaves the bar its least, 8 */
	assert_int_equal(cli_fmt_progress(m, 80, line, sizeof(line), &e), 0);
	assert_string_equal(line, "precopy round 3 [######..]  75%  120 MiB sent, 40 MiB left  "
				  "downtime 4.3 ms");
	/* 40 columns: only the bar and the share */
	assert_int_equal(cli_fmt_progress(m, 40, line, sizeof(line), &e), 0);
	assert_string_equal(line, "precopy round 3 [############....]  75%");
	/* never wider than the terminal, at any width from 40 up */
	for (int w = 40; w <= 200; w++) {
		assert_int_equal(cli_fmt_progress(m, w, line, sizeof(line), &e), 0);
		if ((int)strlen(line) > w - 1)
			fail_msg("width %d: %zu columns: %s", w, strlen(line), line);
	}
	/* cut at the caller's buffer, still a string */
	assert_int_equal(cli_fmt_progress(m, 0, line, 12, &e), 0);
	assert_string_equal(line, "cl7: precop");
	json_free(m);

	/* early phases have no figures; queued says why it waits */
	m = parse_json("{\"id\": \"m-41\", \"vm\": \"cl7\", \"phase\": \"setup\", \"round\": 0}");
	assert_int_equal(cli_fmt_progress(m, 0, line, sizeof(line), &e), 0);
	assert_string_equal(line, "cl7: setup");
	assert_int_equal(cli_fmt_progress(m, 100, line, sizeof(line), &e), 0);
	assert_string_equal(line, "setup");
	json_free(m);
	m = parse_json("{\"vm\": \"cl8\", \"phase\": \"queued\", \"queued\": true}");
	assert_int_equal(cli_fmt_progress(m, 0, line, sizeof(line), &e), 0);
	assert_string_equal(line, "cl8: queued (the source's moves under way go first)");
	json_free(m);
	/* a quick move: bytes and bandwidth, no dirty rate or expected downtime */
	m = parse_json("{\"vm\": \"cl7\", \"mode\": \"quick\", \"phase\": \"saving\", "
		       "\"bytes_sent\": 134217728, \"bytes_remaining\": 134217728, \"bandwidth\": "
		       "45600000, \"dirty_rate\": 0, \"expected_downtime_ms\": 0}");
	assert_int_equal(cli_fmt_progress(m, 0, line, sizeof(line), &e), 0);
	assert_string_equal(line, "cl7: saving: 50%, 128 MiB sent, 128 MiB left, 45.6 MB/s");
	json_free(m);
	/* the stop-and-copy round with nothing left */
	m = parse_json("{\"vm\": \"cl7\", \"phase\": \"stopcopy\", \"round\": 4, \"bytes_sent\": "
		       "276824064, \"bytes_remaining\": 0, \"bandwidth\": 900000000, "
		       "\"dirty_rate\": 0, \"expected_downtime_ms\": 2}");
	assert_int_equal(cli_fmt_progress(m, 0, line, sizeof(line), &e), 0);
	assert_string_equal(line, "cl7: stopcopy round 4: 100%, 264 MiB sent, 0 B left, 900 MB/s, "
				  "dirty 0.0 MB/s, expected downtime 2.0 ms");
	json_free(m);

	/* what is missing or mistyped is named */
	m = parse_json("{\"vm\": \"cl7\"}");
	assert_int_equal(cli_fmt_progress(m, 0, line, sizeof(line), &e), -1);
	assert_string_equal(e.msg, "the move of cl7 has no 'phase'");
	json_free(m);
	m = parse_json("{\"phase\": \"precopy\"}");
	assert_int_equal(cli_fmt_progress(m, 0, line, sizeof(line), &e), -1);
	assert_string_equal(e.msg, "a migration has no 'vm'");
	json_free(m);
	m = parse_json("{\"vm\": \"cl7\", \"phase\": \"precopy\", \"bytes_sent\": \"12\"}");
	assert_int_equal(cli_fmt_progress(m, 0, line, sizeof(line), &e), -1);
	assert_string_equal(e.msg, "the move of cl7: 'bytes_sent' is not a number");
	json_free(m);
	m = parse_json("{\"vm\": \"cl7\", \"phase\": \"precopy\", \"bandwidth\": -5}");
	assert_int_equal(cli_fmt_progress(m, 0, line, sizeof(line), &e), -1);
	assert_non_null(strstr(e.msg, "'bandwidth' is -5, not a measurement"));
	json_free(m);
	m = parse_json("[1]");
	assert_int_equal(cli_fmt_progress(m, 0, line, sizeof(line), &e), -1);
	assert_string_equal(e.msg, "a migration that is not an object");
	json_free(m);
}

static const char m_done[] =
    "{\"id\": \"m-41\", \"vm\": \"cl7\", \"source\": \"vh01\", \"destination\": \"vh02\", "
    "\"mode\": \"live\", \"phase\": \"completed\", \"queued\": false, \"started_ms\": "
    "1764655811204, \"total_ms\": 1234.5, \"blackout_ms\": 4.52, \"bytes\": 10695475, "
    "\"blackout\": {\"total_ms\": 4.52, \"flush_ms\": 0.31, \"final_pages_ms\": 1.2, "
    "\"transfer_ms\": 1.5, \"commit_ms\": 0.8, \"announce_ms\": 0.21, \"resume_ms\": 0.5}}";

static void test_fmt_result(void **state)
{
	(void)state;
	json_t *m = parse_json(m_done);
	char line[512];
	struct err e;

	assert_int_equal(cli_fmt_result(m, line, sizeof(line), &e), 0);
	assert_string_equal(line, "cl7 moved to vh02 in 1.23 s, blackout 4.5 ms, 10.2 MiB");
	assert_int_equal(cli_fmt_blackout(m, line, sizeof(line), &e), 0);
	assert_string_equal(line, "blackout 4.5 ms: flush 0.31 ms, final pages 1.2 ms, transfer "
				  "1.5 ms, commit 0.80 ms, announce 0.21 ms, resume 0.50 ms");
	json_free(m);

	/* quick: said so; its blackout is seconds and has no parts */
	m = parse_json("{\"vm\": \"cl7\", \"destination\": \"vh03\", \"mode\": \"quick\", "
		       "\"phase\": \"completed\", \"total_ms\": 3100, \"blackout_ms\": 2900.4, "
		       "\"bytes\": 268435456}");
	assert_int_equal(cli_fmt_result(m, line, sizeof(line), &e), 0);
	assert_string_equal(line, "cl7 moved to vh03 (quick) in 3.10 s, blackout 2.90 s, 256 MiB");
	assert_int_equal(cli_fmt_blackout(m, line, sizeof(line), &e), 1);
	assert_string_equal(line, "");
	json_free(m);

	/* a past move (H: its result, no phase) reads the same */
	m = parse_json("{\"id\": \"m-2\", \"vm\": \"cl9\", \"source\": \"vh02\", \"destination\": "
		       "\"vh01\", \"mode\": \"live\", \"started_ms\": 1, \"total_ms\": 820, "
		       "\"blackout_ms\": 0.8, \"bytes\": 4096, \"result\": \"completed\", "
		       "\"reason\": null}");
	assert_int_equal(cli_fmt_result(m, line, sizeof(line), &e), 0);
	assert_string_equal(line, "cl9 moved to vh01 in 0.82 s, blackout 0.80 ms, 4 KiB");
	json_free(m);

	/* did not move: 1, the reason */
	m = parse_json("{\"vm\": \"cl7\", \"phase\": \"failed\", \"reason\": \"the destination's "
		       "link went down in round 2\", \"total_ms\": 900}");
	assert_int_equal(cli_fmt_result(m, line, sizeof(line), &e), 1);
	assert_string_equal(line, "cl7 did not move: the destination's link went down in round 2");
	assert_int_equal(cli_fmt_blackout(m, line, sizeof(line), &e), 1);
	json_free(m);
	m = parse_json("{\"vm\": \"cl7\", \"phase\": \"failed\"}");
	assert_int_equal(cli_fmt_result(m, line, sizeof(line), &e), 1);
	assert_string_equal(line, "cl7 did not move: it failed");
	json_free(m);
	m = parse_json("{\"vm\": \"cl7\", \"phase\": \"cancelled\", \"reason\": \"cancelled by "
		       "request\"}");
	assert_int_equal(cli_fmt_result(m, line, sizeof(line), &e), 1);
	assert_string_equal(line, "cl7 did not move: cancelled by request");
	json_free(m);
	m = parse_json("{\"vm\": \"cl7\", \"result\": \"cancelled\", \"reason\": \"vh02 went "
		       "away\"}");
	assert_int_equal(cli_fmt_result(m, line, sizeof(line), &e), 1);
	assert_string_equal(line, "cl7 did not move: cancelled (vh02 went away)");
	json_free(m);
	m = parse_json("{\"vm\": \"cl7\", \"phase\": \"cancelled\"}");
	assert_int_equal(cli_fmt_result(m, line, sizeof(line), &e), 1);
	assert_string_equal(line, "cl7 did not move: cancelled");
	json_free(m);

	/* not over yet, or without what the line needs: an error naming it */
	m = parse_json("{\"vm\": \"cl7\", \"phase\": \"commit\"}");
	assert_int_equal(cli_fmt_result(m, line, sizeof(line), &e), -1);
	assert_string_equal(e.msg, "the move of cl7 has not ended (it is at commit)");
	json_free(m);
	m = parse_json("{\"vm\": \"cl7\", \"destination\": \"vh02\", \"phase\": \"completed\", "
		       "\"blackout_ms\": 4, \"bytes\": 1}");
	assert_int_equal(cli_fmt_result(m, line, sizeof(line), &e), -1);
	assert_string_equal(e.msg, "the move of cl7 has no 'total_ms'");
	json_free(m);
	m = parse_json("{\"vm\": \"cl7\", \"blackout\": [1]}");
	assert_int_equal(cli_fmt_blackout(m, line, sizeof(line), &e), -1);
	assert_string_equal(e.msg, "the move of cl7: 'blackout' is not an object");
	json_free(m);

	assert_true(cli_move_ended("completed"));
	assert_true(cli_move_ended("failed"));
	assert_true(cli_move_ended("cancelled"));
	assert_false(cli_move_ended("commit"));
	assert_false(cli_move_ended(NULL));
}

static void test_fmt_started_and_cancel(void **state)
{
	(void)state;
	json_t *m = parse_json(m_precopy);
	char line[512];
	struct err e;

	assert_int_equal(cli_fmt_started(m, line, sizeof(line), &e), 0);
	assert_string_equal(line, "moving cl7 from vh01 to vh02 (migration m-41)");
	assert_int_equal(cli_fmt_cancel(m, line, sizeof(line), &e), 0);
	assert_string_equal(line,
			    "cl7: cancelling its move to vh02 (at precopy); it stays on vh01");
	json_free(m);
	m = parse_json("{\"id\": \"m-42\", \"vm\": \"cl8\", \"source\": \"vh01\", \"destination\": "
		       "\"vh03\", \"mode\": \"quick\", \"phase\": \"queued\", \"queued\": true}");
	assert_int_equal(cli_fmt_started(m, line, sizeof(line), &e), 0);
	assert_string_equal(line, "moving cl8 from vh01 to vh03 (quick, migration m-42), queued: "
				  "vh01's moves under way go first");
	json_free(m);
	m = parse_json("{\"id\": \"m-42\", \"vm\": \"cl8\", \"source\": \"vh01\", \"destination\": "
		       "\"vh03\", \"phase\": \"cancelled\"}");
	assert_int_equal(cli_fmt_cancel(m, line, sizeof(line), &e), 0);
	assert_string_equal(line, "cl8: its move to vh03 is cancelled; it stays on vh01");
	json_free(m);
	m = parse_json("{\"id\": \"m-42\", \"vm\": \"cl8\", \"source\": \"vh01\"}");
	assert_int_equal(cli_fmt_started(m, line, sizeof(line), &e), -1);
	assert_string_equal(e.msg, "the move of cl8 has no 'destination'");
	json_free(m);
	m = parse_json("{\"id\": \"m-42\", \"vm\": \"cl8\", \"source\": \"vh01\", \"destination\": "
		       "\"vh03\", \"queued\": \"yes\"}");
	assert_int_equal(cli_fmt_started(m, line, sizeof(line), &e), -1);
	assert_non_null(strstr(e.msg, "queued"));
	json_free(m);
}

static void test_format_candidates(void **state)
{
	(void)state;
	json_t *m = parse_json(
	    "{\"id\": \"m-43\", \"vm\": \"cl7\", \"source\": \"vh01\", \"destination\": \"vh03\", "
	    "\"candidates\": [{\"host\": \"vh02\", \"chosen\": false, \"reason\": \"less memory "
	    "left after placing cl7 (512 MiB) than vh03 (1.5 GiB)\"}, {\"host\": \"vh03\", "
	    "\"chosen\": true, \"reason\": \"the most memory left after placing cl7: 1.5 GiB\"}, "
	    "{\"host\": \"vh04\", \"chosen\": false, \"reason\": \"draining\"}]}");
	struct err e;
	int rc;
	char *t = capture(cli_format_candidates, m, &rc, &e);

	assert_int_equal(rc, 0);
	/* the chosen first, the others in the agent's order */
	assert_string_equal(t, "best possible node for cl7:\n"
			       "  HOST  CHOSEN  REASON\n"
			       "  vh03  yes     the most memory left after placing cl7: 1.5 GiB\n"
			       "  vh02  no      less memory left after placing cl7 (512 MiB) than "
			       "vh03 (1.5 GiB)\n"
			       "  vh04  no      draining\n");
	free(t);
	json_free(m);

	m = parse_json("{\"vm\": \"cl7\"}");
	t = capture(cli_format_candidates, m, &rc, &e);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(e.msg, "has no 'candidates'"));
	free(t);
	json_free(m);
	m = parse_json("{\"vm\": \"cl7\", \"candidates\": [{\"chosen\": true}]}");
	t = capture(cli_format_candidates, m, &rc, &e);
	assert_int_equal(rc, -1);
	assert_string_equal(e.msg, "a candidate has no 'host'");
	free(t);
	json_free(m);
}

/* ---- tables ------------------------------------------------------------------------------------ */

static void test_format_migrations(void **state)
{
	(void)state;
	char text[2048];
	struct err e;
	int rc;

	snprintf(text, sizeof(text),
		 "[%s, {\"id\": \"m-44\", \"vm\": \"cl12\", \"source\": \"vh03\", "
		 "\"destination\": \"vh01\", \"mode\": \"quick\", \"phase\": \"queued\", "
		 "\"queued\": true}, {\"id\": \"m-45\", \"vm\": \"cl8\", \"source\": \"vh02\", "
		 "\"destination\": \"vh01\", \"phase\": \"saving\", \"bytes_sent\": 1, "
		 "\"bytes_remaining\": 3}]",
		 m_precopy);
	json_t *v = parse_json(text);
	char *t = capture(cli_format_migrations, v, &rc, &e);

	assert_int_equal(rc, 0);
	assert_string_equal(t, "VM    FROM  TO    MODE   PHASE    PROGRESS\n"
			       "cl7   vh01  vh02  live   precopy  75% round 3\n"
			       "cl12  vh03  vh01  quick  queued   -\n"
			       "cl8   vh02  vh01  -      saving   25%\n");
	free(t);
	json_free(v);

	v = parse_json("[]");
	t = capture(cli_format_migrations, v, &rc, &e);
	assert_int_equal(rc, 0);
	assert_string_equal(t, "no move under way\n");
	free(t);
	json_free(v);
	v = parse_json("[{\"vm\": \"cl7\", \"source\": \"vh01\", \"phase\": \"setup\"}]");
	t = capture(cli_format_migrations, v, &rc, &e);
	assert_int_equal(rc, -1);
	assert_string_equal(e.msg, "the move of cl7 has no 'destination'");
	free(t);
	json_free(v);
	v = parse_json("{}");
	t = capture(cli_format_migrations, v, &rc, &e);
	assert_int_equal(rc, -1);
	free(t);
	json_free(v);
}

static void test_format_history(void **state)
{
	(void)state;
	json_t *v = parse_json(
	    "[{\"id\": \"m-1\", \"vm\": \"cl7\", \"source\": \"vh02\", \"destination\": \"vh01\", "
	    "\"mode\": \"live\", \"started_ms\": 1764655811204, \"total_ms\": 1234.5, "
	    "\"blackout_ms\": 4.52, \"bytes\": 10695475, \"result\": \"completed\", \"reason\": "
	    "null}, {\"id\": \"m-2\", \"vm\": \"cl8\", \"source\": \"vh01\", \"destination\": "
	    "\"vh03\", \"mode\": \"quick\", \"started_ms\": 1764655911204, \"total_ms\": 3100, "
	    "\"blackout_ms\": 2900, \"bytes\": 268435456, \"result\": \"failed\", \"reason\": "
	    "\"restore failed: disk locked\"}, {\"id\": \"m-3\", \"vm\": \"cl9\", \"source\": "
	    "\"vh01\", \"destination\": \"vh02\", \"mode\": \"live\", \"started_ms\": "
	    "1764656011204, \"result\": \"cancelled\", \"reason\": \"cancelled by request\"}]");
	char *tz = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
	struct err e;
	int rc;

	setenv("TZ", "UTC", 1);
	tzset();
	char *t = capture(cli_format_history, v, &rc, &e);
	assert_int_equal(rc, 0);
	assert_string_equal(t,
			    "WHEN                 VM   FROM  TO    MODE   TOTAL   BLACKOUT  "
			    "BYTES     RESULT     REASON\n"
			    "2025-12-02 06:10:11  cl7  vh02  vh01  live   1.23 s  4.5 ms    "
			    "10.2 MiB  completed  -\n"
			    "2025-12-02 06:11:51  cl8  vh01  vh03  quick  3.10 s  2.90 s    "
			    "256 MiB   failed     restore failed: disk locked\n"
			    "2025-12-02 06:13:31  cl9  vh01  vh02  live   -       -         -    "
			    "     cancelled  cancelled by request\n");
	free(t);
	/* local time: another zone moves WHEN, nothing else */
	setenv("TZ", "UTC-2", 1);
	tzset();
	t = capture(cli_format_history, v, &rc, &e);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(t, "\n2025-12-02 08:10:11  cl7  vh02"));
	free(t);
	if (tz)
		setenv("TZ", tz, 1);
	else
		unsetenv("TZ");
	tzset();
	free(tz);
	json_free(v);

	v = parse_json("[]");
	t = capture(cli_format_history, v, &rc, &e);
	assert_int_equal(rc, 0);
	assert_string_equal(t, "no move has ended yet\n");
	free(t);
	json_free(v);
	v = parse_json("[{\"vm\": \"cl7\", \"source\": \"vh01\", \"destination\": \"vh02\", "
		       "\"started_ms\": 1}]");
	t = capture(cli_format_history, v, &rc, &e);
	assert_int_equal(rc, -1);
	assert_string_equal(e.msg, "the move of cl7 has no 'result'");
	free(t);
	json_free(v);
	v = parse_json("[{\"vm\": \"cl7\", \"source\": \"vh01\", \"destination\": \"vh02\", "
		       "\"result\": \"failed\", \"started_ms\": 1, \"bytes\": true}]");
	t = capture(cli_format_history, v, &rc, &e);
	assert_int_equal(rc, -1);
	assert_string_equal(e.msg, "the move of cl7: 'bytes' is not a number");
	free(t);
	json_free(v);
}

/* ---- events and drains -------------------------------------------------------------------------- */

static void test_fmt_event(void **state)
{
	(void)state;
	json_t *m = parse_json(m_precopy), *d = parse_json(m_done);
	char line[512];
	struct err e;

	assert_int_equal(cli_fmt_event("migration-started", m, line, sizeof(line), &e), 0);
	assert_string_equal(line, "moving cl7 from vh01 to vh02 (migration m-41)");
	assert_int_equal(cli_fmt_event("migration-progress", m, line, sizeof(line), &e), 0);
	assert_string_equal(line, "cl7: precopy round 3: 75%, 120 MiB sent, 40 MiB left, 850 MB/s, "
				  "dirty 12.3 MB/s, expected downtime 4.3 ms");
	assert_int_equal(cli_fmt_event("migration-completed", d, line, sizeof(line), &e), 0);
	assert_string_equal(line, "cl7 moved to vh02 in 1.23 s, blackout 4.5 ms, 10.2 MiB");
	json_free(d);
	d = parse_json("{\"id\": \"m-2\", \"vm\": \"cl8\", \"result\": \"failed\", \"reason\": "
		       "\"no room\"}");
	assert_int_equal(cli_fmt_event("migration-failed", d, line, sizeof(line), &e), 0);
	assert_string_equal(line, "cl8 did not move: no room");
	json_free(d);
	d = parse_json("{\"vm\": \"cl8\"}");
	assert_int_equal(cli_fmt_event("migration-cancelled", d, line, sizeof(line), &e), 0);
	assert_string_equal(line, "cl8: move cancelled");
	assert_int_equal(cli_fmt_event("migration-paused", d, line, sizeof(line), &e), 0);
	assert_string_equal(line, "cl8: migration-paused");
	assert_int_equal(cli_fmt_event("migration-progress", d, line, sizeof(line), &e), -1);
	assert_string_equal(e.msg, "event migration-progress: the move of cl8 has no 'phase'");
	json_free(d);
	json_free(m);
}

static void test_fmt_drain(void **state)
{
	(void)state;
	json_t *d = parse_json(
	    "{\"done\": false, \"pending\": [\"cl10\", \"cl11\"], \"moving\": [{\"vm\": \"cl8\", "
	    "\"to\": \"vh03\"}, {\"vm\": \"cl12\", \"to\": \"vh02\"}], \"moved\": [{\"vm\": "
	    "\"cl7\", \"to\": \"vh02\", \"total_ms\": 1210, \"blackout_ms\": 4.5}], \"stayed\": "
	    "[{\"vm\": \"cl9\", \"reason\": \"no host has room: vh02 has 128 MiB free, cl9 needs "
	    "1 GiB\"}]}");
	char line[512];
	struct err e;

	assert_int_equal(
	    cli_fmt_drain_moved(json_array_get(json_get(d, "moved"), 0), line, sizeof(line), &e),
	    0);
	assert_string_equal(line, "cl7 moved to vh02 in 1.21 s, blackout 4.5 ms");
	assert_int_equal(cli_fmt_drain_stayed(json_array_get(json_get(d, "stayed"), 0), "vh01",
					      line, sizeof(line), &e),
			 0);
	assert_string_equal(line, "cl9 stays on vh01: no host has room: vh02 has 128 MiB free, cl9 "
				  "needs 1 GiB");
	assert_int_equal(cli_fmt_drain_status("vh01", d, line, sizeof(line), &e), 0);
	assert_string_equal(line, "draining vh01: cl8 moving to vh03, cl12 moving to vh02; 2 "
				  "waiting");
	assert_int_equal(cli_fmt_drain_summary("vh01", d, line, sizeof(line), &e), 0);
	assert_string_equal(line, "vh01 not drained: 1 VM moved, 1 stayed (cl9); it stays draining "
				  "until `ferry host resume vh01`");
	json_free(d);

	d = parse_json("{\"done\": true, \"pending\": [], \"moving\": [], \"moved\": [{\"vm\": "
		       "\"cl7\", \"to\": \"vh02\", \"total_ms\": 1210, \"blackout_ms\": 4.5}, "
		       "{\"vm\": \"cl8\", \"to\": \"vh03\", \"total_ms\": 990, \"blackout_ms\": "
		       "3.9}], \"stayed\": []}");
	assert_int_equal(cli_fmt_drain_summary("vh01", d, line, sizeof(line), &e), 0);
	assert_string_equal(line, "vh01 drained: 2 VMs moved");
	assert_int_equal(cli_fmt_drain_status("vh01", d, line, sizeof(line), &e), 0);
	assert_string_equal(line, "draining vh01: nothing left to move");
	json_free(d);
	d = parse_json("{\"done\": true, \"pending\": [], \"moving\": [], \"moved\": [], "
		       "\"stayed\": []}");
	assert_int_equal(cli_fmt_drain_summary("vh01", d, line, sizeof(line), &e), 0);
	assert_string_equal(line, "vh01 drained: it ran no VM");
	json_free(d);

	d = parse_json("{\"vm\": \"cl7\", \"to\": \"vh02\", \"blackout_ms\": 4.5}");
	assert_int_equal(cli_fmt_drain_moved(d, line, sizeof(line), &e), -1);
	assert_string_equal(e.msg, "a moved VM of the drain has no 'total_ms'");
	json_free(d);
	d = parse_json("{\"moving\": {}}");
	assert_int_equal(cli_fmt_drain_status("vh01", d, line, sizeof(line), &e), -1);
	assert_string_equal(e.msg, "the drain's 'moving' is not an array");
	json_free(d);
}

static void test_fmt_units(void **state)
{
	(void)state;
	char s[32];

	cli_fmt_ms(4.52, s, sizeof(s));
	assert_string_equal(s, "4.5 ms");
	cli_fmt_ms(0.04, s, sizeof(s));
	assert_string_equal(s, "0.04 ms");
	cli_fmt_ms(0, s, sizeof(s));
	assert_string_equal(s, "0.0 ms");
	cli_fmt_ms(999.9, s, sizeof(s));
	assert_string_equal(s, "999.9 ms");
	cli_fmt_ms(1000, s, sizeof(s));
	assert_string_equal(s, "1.00 s");
	cli_fmt_secs(61234, s, sizeof(s));
	assert_string_equal(s, "61.23 s");
	cli_fmt_rate(850e6, s, sizeof(s));
	assert_string_equal(s, "850 MB/s");
	cli_fmt_rate(12.34e6, s, sizeof(s));
	assert_string_equal(s, "12.3 MB/s");
	cli_fmt_rate(0, s, sizeof(s));
	assert_string_equal(s, "0.0 MB/s");
}

/* ---- the event stream ------------------------------------------------------------------------ */

struct got {
	char text[4096];
	int n;
};

static void on_event(const char *type, const char *data, size_t len, void *opaque)
{
	struct got *g = opaque;
	size_t n = strlen(g->text);

	assert_int_equal(strlen(data), len);
	snprintf(g->text + n, sizeof(g->text) - n, "[%s|%s]", type, data);
	g->n++;
}

static const char stream[] = "id: 7\r\nevent: migration-started\r\ndata: {\"a\": 1}\r\n\r\n"
			     ": keepalive\n\n"
			     "event: x\ndata: l1\ndata:l2\nretry: 10\nbogus: 1\n\n"
			     "data\n\n"
			     "event: nodata\n\n"
			     "id: 9\rdata: z\r\r"
			     "data: unfinished";
static const char expect[] = "[migration-started|{\"a\": 1}][x|l1\nl2][message|][message|z]";

static void test_sse(void **state)
{
	(void)state;
	size_t len = strlen(stream);
	struct cli_sse s;
	struct got g;

	/* whole */
	memset(&g, 0, sizeof(g));
	cli_sse_init(&s, on_event, &g);
	cli_sse_feed(&s, stream, len);
	assert_string_equal(g.text, expect);
	assert_int_equal(g.n, 4);
	assert_string_equal(s.last_id, "9");
	cli_sse_free(&s);

	/* cut in two at every place (a CRLF's halves apart too) */
	for (size_t cut = 0; cut <= len; cut++) {
		memset(&g, 0, sizeof(g));
		cli_sse_init(&s, on_event, &g);
		cli_sse_feed(&s, stream, cut);
		cli_sse_feed(&s, stream + cut, len - cut);
		if (strcmp(g.text, expect))
			fail_msg("cut at %zu: %s", cut, g.text);
		assert_string_equal(s.last_id, "9");
		cli_sse_free(&s);
	}
	/* a byte at a time */
	memset(&g, 0, sizeof(g));
	cli_sse_init(&s, on_event, &g);
	for (size_t i = 0; i < len; i++)
		cli_sse_feed(&s, stream + i, 1);
	assert_string_equal(g.text, expect);
	/* the unfinished event comes when its blank line does */
	cli_sse_feed(&s, "\n\n", 2);
	assert_int_equal(g.n, 5);
	assert_non_null(strstr(g.text, "[message|unfinished]"));
	cli_sse_free(&s);

	/* a line longer than the limit is dropped with its event; the next one comes */
	size_t big = CLI_SSE_MAX_LINE + 100;
	char *p = malloc(big);
	assert_non_null(p);
	memset(p, 'x', big);
	memcpy(p, "data: ", 6);
	memset(&g, 0, sizeof(g));
	cli_sse_init(&s, on_event, &g);
	cli_sse_feed(&s, "event: big\n", 11);
	cli_sse_feed(&s, p, big / 2);
	cli_sse_feed(&s, p + big / 2, big - big / 2);
	cli_sse_feed(&s, "\ndata: ok\n\nevent: after\ndata: 2\n\n", 33);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.text, "[after|2]");
	cli_sse_free(&s);
	free(p);
}

/* ---- help, man page, completion of the new commands ------------------------------------------ */

static char *help_of(const struct cli_cmd *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	cli_help_cmd(f, c);
	fclose(f);
	return text;
}

static void test_help_and_completion(void **state)
{
	(void)state;
	char *t, *text = NULL, path[] = "/tmp/ferry-test-cli-move.XXXXXX", cmd[512];
	size_t len = 0;
	FILE *f;

	t = help_of(cli_find(NULL, "move-vm"));
	assert_non_null(strstr(t, "usage: ferry Move-VM -ComputerName HOST -Name VM [OPTIONS]\n"));
	assert_non_null(strstr(t, "Parameters:\n  -ComputerName HOST"));
	assert_non_null(strstr(t, "  -DestinationHost HOST"));
	assert_non_null(strstr(t, "  -Quick "));
	assert_null(strstr(t, "--ComputerName"));
	assert_non_null(strstr(t, "case-insensitive"));
	free(t);
	t = help_of(cli_find(NULL, "move"));
	assert_non_null(strstr(t, "usage: ferry move VM --to HOST|best [OPTIONS]\n"));
	assert_non_null(strstr(t, "--explain"));
	assert_non_null(strstr(t, "Move-VM"));
	free(t);
	t = help_of(cli_find("migrations", "ls"));
	assert_non_null(strstr(t, "usage: ferry migrations [OPTIONS]\n"));
	assert_non_null(strstr(t, "--history"));
	free(t);

	f = open_memstream(&text, &len);
	cli_help_group(f, "migrations");
	fclose(f);
	assert_non_null(strstr(text, "usage: ferry migrations [COMMAND] [ARGS] [OPTIONS]"));
	assert_non_null(strstr(text, "\n  migrations cancel  cancel"));
	assert_non_null(strstr(text, "'ferry migrations' alone is 'ferry migrations ls'"));
	free(text);

	text = NULL;
	f = open_memstream(&text, &len);
	cli_man(f, "1.0");
	fclose(f);
	assert_non_null(
	    strstr(text, ".SS \"Move\\-VM \\-ComputerName HOST \\-Name VM [OPTIONS]\""));
	assert_non_null(strstr(text, "Parameters:\n.RS\n.TP\n\\fB\\-ComputerName HOST\\fR"));
	assert_non_null(strstr(text, ".SS \"move VM \\-\\-to HOST|best [OPTIONS]\""));
	assert_non_null(strstr(text, ".SS \"migrations [OPTIONS]\""));
	assert_non_null(strstr(text, ".SS \"migrations cancel VM\""));
	assert_non_null(strstr(text, ".SS \"host drain NAME [OPTIONS]\""));
	assert_non_null(strstr(text, "ferry Move\\-VM \\-ComputerName VH01 \\-Name CL7"));
	free(text);

	text = NULL;
	f = open_memstream(&text, &len);
	cli_completion(f);
	fclose(f);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	free(text);
	static const struct {
		const char *words;
		int cword;
		const char *want;
	} cases[] = {
		{ "ferry Move-VM -Comp", 2, "-ComputerName" },
		{ "ferry move-vm -computername vh01 -N", 4, "-Name" },
		{ "ferry MOVE-VM -Name:cl7 -D", 3, "-DestinationHost" },
		{ "ferry move cl7 --ex", 3, "--explain" },
		{ "ferry migrations --h", 2, "--help --history" },
		{ "ferry migrations ''", 2, "ls cancel" },
		{ "ferry migrations cancel --", 3,
		  "--config-dir --endpoint --cert --key --secret-file --json --verbose --help" },
		{ "ferry host dr", 2, "drain" },
		{ "ferry host re", 2, "remove resume" },
		{ "ferry host drain vh01 --no", 4, "--no-wait" },
		{ "ferry mo", 1, "move" },
		{ "ferry Mo", 1, "Move-VM" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(
		    cmd, sizeof(cmd),
		    "bash -c '. %s; COMP_WORDS=(%s); COMP_CWORD=%d; _ferry; "
		    "[ \"${COMPREPLY[*]}\" = \"%s\" ] || { echo \"${COMPREPLY[*]}\"; exit 1; }'",
		    path, cases[i].words, cases[i].cword, cases[i].want);
		if (system(cmd) != 0)
			fail_msg("completion of '%s' is not '%s'", cases[i].words, cases[i].want);
	}
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_move),
		cmocka_unit_test(test_parse_move_vm),
		cmocka_unit_test(test_parse_migrations_and_hosts),
		cmocka_unit_test(test_fmt_progress),
		cmocka_unit_test(test_fmt_result),
		cmocka_unit_test(test_fmt_started_and_cancel),
		cmocka_unit_test(test_format_candidates),
		cmocka_unit_test(test_format_migrations),
		cmocka_unit_test(test_format_history),
		cmocka_unit_test(test_fmt_event),
		cmocka_unit_test(test_fmt_drain),
		cmocka_unit_test(test_fmt_units),
		cmocka_unit_test(test_sse),
		cmocka_unit_test(test_help_and_completion),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
