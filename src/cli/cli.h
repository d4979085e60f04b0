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
 * the API's objects into tables and lines for people; --json prints the API's JSON instead.
 *
 * Exit status: 0 done, 1 failed (the API said no, or nothing answered), 2 usage.
 */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/err.h"
#include "common/hostconf.h"
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
/* "vm create", or "version". */
void cli_cmd_words(const struct cli_cmd *c, char *out, size_t size);

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
/* JSON for people: indented, keys in their order, a newline at the end. */
void cli_format_json(FILE *f, const json_t *v);
/* The message of an API error answer ({"error": {"code", "message"}}), else a description of
 * the answer: "HTTP 502: <first line of the body>". */
void cli_api_error(long status, const char *body, size_t len, char *out, size_t size);

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
int cli_run_version(const struct cli_args *a);
int cli_run_help(const struct cli_args *a);
/* The body of POST /v1/vms from `vm create`'s options (NULL with e set on a bad value). */
json_t *cli_vm_spec(const struct cli_args *a, struct err *e);
/* The program's version (main.c sets it). */
extern const char *cli_version;

#endif
