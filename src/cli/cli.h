/* cli.h - ferry, the command line: its command table, parser, help, output and client.
 *
 * One table (cli_commands, in table.c) says every command: its words, synopsis,
 * description and options. The same table drives the parser (args.c), `ferry help` and
 * `ferry help COMMAND`, the man page (`ferry --man`, roff) and the bash completion
 * (`ferry --completion`), so none of them can drift from what the parser accepts.
 *
 * The commands speak only to the agent's API (docs/api.md) through client.c (libcurl,
 * HTTPS, the server verified against the cluster's CA, a client certificate or the cluster
 * secret), except `cluster init` and `host add`, which work offline on the configuration
 * directory (local.c) since a cluster's files exist before any agent runs. format.c turns
 * the API's objects into tables and lines for people, movefmt.c those of moves (pure, so the
 * lines `ferry move` prints are tested from sample JSON); --json prints the API's JSON
 * instead. move.c runs the commands that follow something under way (a move, a drain, the
 * event stream, read by sse.c).
 *
 * Exit status: 0 done, 1 failed (the API said no, or nothing answered), 2 usage.
 */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hostconf.h"
#include "common/names.h"
#include "common/pki.h"

enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

#define CLI_MAX_OPTS 16
#define CLI_MAX_VALUES 16
#define CLI_MAX_POS 4

enum {
	CLI_REQUIRED = 1 << 0, /* the command needs it */
	CLI_REPEAT = 1 << 1,   /* may be given more than once */
};

struct cli_opt {
	const char *name;  /* without the dashes; NULL ends a list */
	const char *arg;   /* the value's placeholder ("SIZE"), NULL for a flag */
	const char *help;  /* one sentence or two */
	unsigned flags;	   /* CLI_REQUIRED, CLI_REPEAT */
	const char *alias; /* another name for it, or NULL */
};

struct cli_args;

/* A command's flags. */
enum {
	/* Its parameters are spelled as PowerShell's, -Name VALUE or -Name:VALUE, their names
	 * case-insensitive (`Move-VM -ComputerName VH01 -Name CL7`); --global options still
	 * work, and so does a global one spelled -Verbose. */
	CLI_CMD_DASH = 1 << 0,
	/* What its group runs when no command of it is named (`ferry migrations`). */
	CLI_CMD_DEFAULT = 1 << 1,
};

struct cli_cmd {
	const char *group; /* "cluster", "host", "vm"; NULL for a top-level command */
	const char *name;  /* "init", "ls"; a top-level command's word */
	const char *alias; /* another word for it ("list"), or NULL */
	const char *args;  /* the positional arguments' synopsis ("NAME"), or NULL */
	unsigned npos_min, npos_max;
	const char *summary;	 /* one line, no period */
	const char *description; /* paragraphs, separated by a blank line */
	struct cli_opt opts[CLI_MAX_OPTS];
	int (*run)(const struct cli_args *a);
	unsigned flags; /* CLI_CMD_DASH, CLI_CMD_DEFAULT */
};

struct cli_values {
	const char *v[CLI_MAX_VALUES];
	size_t n;
};

struct cli_args {
	const struct cli_cmd *cmd;
	const char *pos[CLI_MAX_POS];
	size_t npos;
	struct cli_values opt[CLI_MAX_OPTS];	/* by index in cmd->opts */
	struct cli_values global[CLI_MAX_OPTS]; /* by index in cli_global_opts */
	bool help;				/* -h, --help: show the command's help */
	const char *group;			/* a group named without a command ("ferry vm") */
};

extern const struct cli_cmd cli_commands[];
extern const size_t cli_ncommands;
extern const struct cli_opt cli_global_opts[];
extern const char *const cli_groups[]; /* NULL-terminated */

/* ---- args.c ------------------------------------------------------------------------------- */

/* Parse argv (argv[0] is the program). On a usage error: -1 with e set, and a->cmd set if
 * the command was recognised (for the hint). Without a command (plain `ferry`): 0 and
 * a->cmd NULL. Required options are checked unless a->help. */
int cli_parse(int argc, char **argv, struct cli_args *a, struct err *e);
/* The command named by words (group and name, or a top-level word), case-insensitive. */
const struct cli_cmd *cli_find(const char *group, const char *name);
/* An option's last value (a command option or a global one), or NULL if not given. */
const char *cli_get(const struct cli_args *a, const char *name);
/* Every value of a repeatable option. */
const struct cli_values *cli_get_all(const struct cli_args *a, const char *name);
/* Is a flag set? */
bool cli_flag(const struct cli_args *a, const char *name);
/* "vm create", or "version"; a group's default command is the group's word ("migrations"). */
void cli_cmd_words(const struct cli_cmd *c, char *out, size_t size);
/* The command a group runs when none of its commands is named, or NULL. */
const struct cli_cmd *cli_group_default(const char *group);
/* How an option of c is spelled: "-" for a CLI_CMD_DASH command's own options, else "--". */
const char *cli_opt_dash(const struct cli_cmd *c, const struct cli_opt *o);

/* ---- help.c ------------------------------------------------------------------------------- */

/* `ferry help`: every command with its summary. */
void cli_help_all(FILE *f);
/* The commands of a group. */
void cli_help_group(FILE *f, const char *group);
/* One command: synopsis, description, options. */
void cli_help_cmd(FILE *f, const struct cli_cmd *c);
/* Everything (for help2man and for reading). */
void cli_help_full(FILE *f);
/* The man page ferry(1), in roff. */
void cli_man(FILE *f, const char *version);
/* A bash completion script. */
void cli_completion(FILE *f);

/* ---- format.c ----------------------------------------------------------------------------- */

/* Human output of the API's objects. Each returns 0, or -1 with e set if the object lacks a
 * member it must have (the message names it). */
int cli_format_hosts(FILE *f, const json_t *hosts, struct err *e); /* an array of hosts */
int cli_format_host(FILE *f, const json_t *host, struct err *e);
int cli_format_vms(FILE *f, const json_t *vms, struct err *e); /* an array of VMs */
int cli_format_vm(FILE *f, const json_t *vm, struct err *e);
int cli_format_cluster(FILE *f, const json_t *cluster, struct err *e);
/* A member the API must send: 0, or -1 with e naming it and what lacks it (what: "a host"). */
int cli_need_str(const json_t *o, const char *key, const char *what, const char **out,
		 struct err *e);
int cli_need_u64(const json_t *o, const char *key, const char *what, uint64_t *out, struct err *e);

/* A table: rows of cells added, then measured and printed (columns two spaces apart, each
 * as wide as its widest cell, a NULL cell as "-"), which frees it. */
#define CLI_COLS 10
#define CLI_CELL 256
struct cli_table {
	size_t ncols, nrows, cap;
	char (*cells)[CLI_COLS][CLI_CELL];
};
void cli_table_row(struct cli_table *t, const char *const *cells);
void cli_table_print(FILE *f, struct cli_table *t, const char *indent);
void cli_table_free(struct cli_table *t);

/* JSON for people: indented, keys in their order, a newline at the end. */
void cli_format_json(FILE *f, const json_t *v);
/* The message of an API error answer ({"error": {"code", "message"}}), else a description of
 * the answer: "HTTP 502: <first line of the body>". */
void cli_api_error(long status, const char *body, size_t len, char *out, size_t size);

/* ---- movefmt.c: moves as text ------------------------------------------------------------- */

/* Pure: each takes the API's objects (a migration M, with its progress or not; a past move
 * H; a drain D; docs/api.md) and writes text into out (always NUL-terminated, cut at size),
 * or into f for the tables. They return 0, or -1 with e naming the member that is missing or
 * of the wrong type. */

/* The state of a move: M's phase, else H's result; NULL if it has neither. */
const char *cli_move_state(const json_t *m);
/* Does a move end in this phase (completed, failed, cancelled)? */
bool cli_move_ended(const char *phase);
/* The progress of a move as one line. width > 0: for a terminal of that many columns, to be
 * redrawn in place, "precopy round 3 [#####.....]  45%  120 MiB sent, 140 MiB left  ...", at
 * most width - 1 columns (the bar shrinks, then the figures go: dirty rate, bandwidth,
 * bytes, downtime); 0: a line of its own, "cl7: precopy round 3: 45%, 120 MiB sent, ...". */
int cli_fmt_progress(const json_t *m, int width, char *out, size_t size, struct err *e);
/* The end of a move: "cl7 moved to vh02 in 1.23 s, blackout 4.5 ms, 10.2 MiB", "cl7 moved to
 * vh02 (quick) in ...", or "cl7 did not move: REASON". 0 if it moved, 1 if it did not, -1
 * (e set) if it has not ended or lacks what the line needs. */
int cli_fmt_result(const json_t *m, char *out, size_t size, struct err *e);
/* The blackout's parts: "blackout 4.5 ms: flush 0.3 ms, final pages 1.2 ms, ...". 0; 1 with
 * out empty when the move has none (a quick move, or one that failed). */
int cli_fmt_blackout(const json_t *m, char *out, size_t size, struct err *e);
/* "moving cl7 from vh01 to vh02 (migration ID)", ", queued ..." when it waits its turn. */
int cli_fmt_started(const json_t *m, char *out, size_t size, struct err *e);
/* What a cancel did: "cl7: its move to vh02 is cancelled; it stays on vh01", or "cl7:
 * cancelling its move to vh02 (at precopy); ..." while the move winds down. */
int cli_fmt_cancel(const json_t *m, char *out, size_t size, struct err *e);
/* The hosts considered for --to best, the chosen one first: HOST CHOSEN REASON. */
int cli_format_candidates(FILE *f, const json_t *m, struct err *e);
/* The moves under way: VM FROM TO MODE PHASE PROGRESS. */
int cli_format_migrations(FILE *f, const json_t *migrations, struct err *e);
/* The past moves: WHEN VM FROM TO MODE TOTAL BLACKOUT BYTES RESULT REASON (WHEN in local
 * time, from started_ms, milliseconds since the epoch). */
int cli_format_history(FILE *f, const json_t *history, struct err *e);
/* A migration.* event (type, its data) as a line. */
int cli_fmt_event(const char *type, const json_t *data, char *out, size_t size, struct err *e);
/* A drain's lines: a VM moved ("cl7 moved to vh02 in 1.23 s, blackout 4.5 ms"), a VM that
 * stays ("cl9 stays on vh01: REASON"), what is under way ("draining vh01: cl8 moving to
 * vh03; 2 waiting") and the summary ("vh01 drained: 3 VMs moved"). */
int cli_fmt_drain_moved(const json_t *moved, char *out, size_t size, struct err *e);
int cli_fmt_drain_stayed(const json_t *stayed, const char *host, char *out, size_t size,
			 struct err *e);
int cli_fmt_drain_status(const char *host, const json_t *drain, char *out, size_t size,
			 struct err *e);
int cli_fmt_drain_summary(const char *host, const json_t *drain, char *out, size_t size,
			  struct err *e);
/* Durations and rates as the lines print them: "4.5 ms", "1.23 s", "850 MB/s". */
void cli_fmt_ms(double ms, char *out, size_t size);
void cli_fmt_secs(double ms, char *out, size_t size);
void cli_fmt_rate(double bytes_per_s, char *out, size_t size);

/* ---- sse.c: the event stream ------------------------------------------------------------- */

/* A server-sent-events reader (the HTML standard's event-stream format): bytes fed as they
 * come, in chunks cut anywhere; each complete event (its type, "message" if none was given,
 * and its data lines joined by '\n') handed to fn. Comments, retry and unknown fields are
 * skipped; the last id seen is kept for Last-Event-ID. A line longer than CLI_SSE_MAX_LINE
 * is dropped, and the event it belongs to. */
#define CLI_SSE_MAX_LINE (1 << 20)
struct cli_sse {
	struct buf line, data;
	char event[64];
	char last_id[64];
	bool cr;       /* the previous byte was a CR (a LF after it ends nothing more) */
	bool overflow; /* the line being read is too long: dropped up to its end */
	bool spoiled;  /* the event being read lost a line: not delivered */
	size_t ndata;  /* data lines in this event */
	void (*fn)(const char *type, const char *data, size_t len, void *opaque);
	void *opaque;
};
void cli_sse_init(struct cli_sse *s,
		  void (*fn)(const char *type, const char *data, size_t len, void *opaque),
		  void *opaque);
void cli_sse_feed(struct cli_sse *s, const char *p, size_t len);
void cli_sse_free(struct cli_sse *s);

/* ---- client.c ----------------------------------------------------------------------------- */

#define CLI_MAX_ENDPOINTS (1 + 64)

struct cli_conn {
	char endpoints[CLI_MAX_ENDPOINTS][300]; /* host:port, tried in order on connect failure */
	size_t nendpoints;
	size_t answered; /* which endpoint answered the last request */
	char ca[4096];
	char cert[4096], key[4096]; /* a client certificate, or "" */
	char secret[256];	    /* the cluster secret, or "" */
	bool verbose;
	bool json; /* cli_follow writes each chunk as a JSON line {"data": "..."} */
};

struct cli_reply {
	long status;
	char *body; /* NUL-terminated; free() it */
	size_t len;
};

/* Credentials and endpoints from the options, the environment and the configuration
 * directory: the certificate (--cert/--key, else DIR/admin.crt and admin.key if readable),
 * else the secret (--secret-file, else DIR/secret), else an error saying how to get some. */
int cli_conn_setup(struct cli_conn *c, const struct cli_args *a, struct err *e);
/* Read a secret file: refused if its mode lets anyone but the owner read or write it. */
int cli_read_secret(const char *path, char *out, size_t size, struct err *e);
/* Add an endpoint unless it is there already. */
void cli_conn_add(struct cli_conn *c, const char *endpoint);
/* One request: body (or NULL) as JSON. 0 with r filled (any HTTP status), -1 with e set when
 * no endpoint answered or TLS failed. */
int cli_request(struct cli_conn *c, const char *method, const char *path, const json_t *body,
		struct cli_reply *r, struct err *e);
/* A GET whose answer is copied to out as it comes, until the server ends it or *stop. */
int cli_follow(struct cli_conn *c, const char *path, FILE *out, volatile int *stop, struct err *e);
/* The same with the answer handed to fn as it comes (when its status is 200), and header (or
 * NULL) one more request header ("Last-Event-ID: 42"). *status: the answer's HTTP status, 0
 * if none came. 0 when the server ended the answer or *stop; -1 with e set when nothing
 * answered, the stream broke, or (with the answer's message) the status was not 200. */
int cli_follow_fn(struct cli_conn *c, const char *path, const char *header,
		  void (*fn)(const char *p, size_t len, void *opaque), void *opaque,
		  volatile int *stop, long *status, struct err *e);
void cli_reply_free(struct cli_reply *r);

/* ---- local.c: the configuration directory -------------------------------------------------- */

#define CLI_MAX_HOSTS 64

struct cli_cluster_host {
	char name[64];
	char address[256];
	char api[300];
};

/* DIR/cluster.json. */
struct cli_cluster {
	char name[64];
	char etcd[HOSTCONF_MAX_ETCD][128];
	size_t netcd;
	struct cli_cluster_host hosts[CLI_MAX_HOSTS];
	size_t nhosts;
};

/* The configuration directory: --config-dir, FERRY_CONFIG_DIR, else /etc/ferry. */
const char *cli_config_dir(const struct cli_args *a);
int cli_cluster_load(struct cli_cluster *c, const char *dir, struct err *e);
int cli_cluster_save(const struct cli_cluster *c, const char *dir, struct err *e);
/* What `host add` is given. */
struct cli_host_spec {
	const char *name, *address;
	unsigned api_port;
	uint64_t memory;
	unsigned vcpus;
	const char *bridge;
	const char *migration[HOSTCONF_MAX_PEERS]; /* PEER=ADDR[,ADDR] */
	size_t nmigration;
	const char *etcd_url; /* this host's etcd member, or NULL */
	bool etcd_member;     /* ferryd runs that member itself (cluster init without --etcd) */
	const char *state_dir, *run_dir, *log_dir;
};
/* Parse PEER=ADDR[,ADDR...] into p. */
int cli_parse_migration(const char *s, struct hostconf_peer *p, struct err *e);
/* Make the cluster: CA, secret, admin certificate, cluster.json and the first host. */
int cli_cluster_init(const char *dir, const char *name, const struct cli_host_spec *first,
		     const char *const *etcd, size_t netcd, struct err *e);
/* Issue a host's key and certificate and write its configuration; add it to cluster.json. */
int cli_host_add(const char *dir, const struct cli_host_spec *h, struct pki_info *cert,
		 struct err *e);
/* Delete a host's files and drop it from cluster.json. */
int cli_host_forget(const char *dir, const char *name, struct err *e);

/* ---- cmds.c: the commands ------------------------------------------------------------------ */

int cli_run_cluster_init(const struct cli_args *a);
int cli_run_cluster_status(const struct cli_args *a);
int cli_run_host_ls(const struct cli_args *a);
int cli_run_host_show(const struct cli_args *a);
int cli_run_host_add(const struct cli_args *a);
int cli_run_host_remove(const struct cli_args *a);
int cli_run_vm_create(const struct cli_args *a);
int cli_run_vm_ls(const struct cli_args *a);
int cli_run_vm_show(const struct cli_args *a);
int cli_run_vm_start(const struct cli_args *a);
int cli_run_vm_stop(const struct cli_args *a);
int cli_run_vm_log(const struct cli_args *a);
int cli_run_vm_console(const struct cli_args *a);
int cli_run_vm_rm(const struct cli_args *a);
int cli_run_host_drain(const struct cli_args *a);
int cli_run_host_resume(const struct cli_args *a);
int cli_run_move(const struct cli_args *a);
int cli_run_move_vm(const struct cli_args *a);
int cli_run_migrations(const struct cli_args *a);
int cli_run_migrations_cancel(const struct cli_args *a);
int cli_run_version(const struct cli_args *a);
int cli_run_help(const struct cli_args *a);
/* What the commands share: a failure ("ferry: MESSAGE" on stderr; CLI_FAILED), a usage error
 * of the command (with the hint to its help; CLI_USAGE), and one API call (0 with *out the
 * answer's JSON, or NULL if not asked for; else the exit status, the message printed). */
int cli_failed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_usage(const struct cli_args *a, const char *msg);
int cli_call(const struct cli_args *a, const char *method, const char *path, const json_t *body,
	     json_t **out);

/* ---- move.c: moves ------------------------------------------------------------------------- */

/* A move as `move` or `Move-VM` asks for it, its names checked and in lower case. */
struct cli_move {
	char vm[NAME_MAX_LEN + 1];
	char to[NAME_MAX_LEN + 1];   /* a host, or "best" */
	char from[NAME_MAX_LEN + 1]; /* where the VM is believed to run (Move-VM), or "" */
	bool quick, wait, explain, verbose;
};
/* From the parsed arguments of either spelling; -1 with e set on a bad name or a bad mix. */
int cli_move_args(const struct cli_args *a, struct cli_move *m, struct err *e);
/* The body of POST /v1/vms/VM/move. */
json_t *cli_move_body(const struct cli_move *m);

/* The body of POST /v1/vms from `vm create`'s options (NULL with e set on a bad value). */
json_t *cli_vm_spec(const struct cli_args *a, struct err *e);
/* The program's version (main.c sets it). */
extern const char *cli_version;

#endif
