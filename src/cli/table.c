/* table.c - every ferry command in one table: words, synopsis, description and options.
 *
 * The parser, `ferry help`, the man page and the bash completion all read this table, so
 * what is documented is what is accepted. Descriptions are plain text in paragraphs (a
 * blank line between two); help.c wraps them for the terminal and turns them into roff.
 */
#include "cli/cli.h"

const char *cli_version = "unknown";

const char *const cli_groups[] = { "cluster", "host", "vm", "migrations", NULL };

const struct cli_opt cli_global_opts[] = {
	{ "config-dir", "DIR",
	  "The cluster's configuration directory (also FERRY_CONFIG_DIR; default /etc/ferry)." },
	{ "endpoint", "HOST:PORT",
	  "The agent to talk to (also FERRY_ENDPOINT; default: the first host of cluster.json). "
	  "If it does not answer, the other hosts of cluster.json are tried in order. "
	  "NAME=ADDR:PORT reaches host NAME's agent at ADDR:PORT (a port forwarded to "
	  "loopback): its certificate is checked for NAME." },
	{ "cert", "FILE",
	  "A client certificate of the cluster (default DIR/admin.crt, if readable)." },
	{ "key", "FILE", "The client certificate's key (default DIR/admin.key)." },
	{ "secret-file", "FILE",
	  "Authenticate with the cluster secret in FILE (mode 0600 or stricter) instead of a "
	  "certificate (default DIR/secret when there is no admin certificate)." },
	{ "json", NULL,
	  "Print the API's JSON (or, for local commands, what was done) instead of "
	  "text." },
	{ "verbose", NULL, "Say which agent answered, and what is written." },
	{ "help", NULL, "Show the command's help." },
	{ NULL },
};

#define HOST_OPTS                                                                                  \
	{ "address", "ADDR",                                                                       \
	  "The host's management address (an IP address or a DNS name): its API listens there, "   \
	  "its certificate names it.",                                                             \
	  CLI_REQUIRED },                                                                          \
	    { "api-port", "PORT", "The API's port (default 7443)." },                              \
	    { "memory", "SIZE",                                                                    \
	      "Memory the host offers to VMs (default: half of this machine's memory)." },         \
	    { "vcpus", "N", "vCPUs the host offers to VMs (default: this machine's CPUs)." },      \
	    { "bridge", "BR", "The bridge the VMs' network cards join (default br0)." },           \
	    { "migration", "PEER=ADDR[,ADDR]",                                                     \
	      "This host's address on each link to PEER for migrations; repeat for each peer.",    \
	      CLI_REPEAT },                                                                        \
	    { "state-dir", "DIR", "ferryd's state (default /var/lib/ferry)." },                    \
	    { "run-dir", "DIR", "ferryd's sockets (default /run/ferry)." },                        \
	{                                                                                          \
		"log-dir", "DIR", "The VMs' logs (default /var/log/ferry)."                        \
	}

const struct cli_cmd cli_commands[] = {
	{
		.group = "cluster",
		.name = "init",
		.summary = "make a new cluster: its CA, secret, admin certificate and first host",
		.description =
			"Writes, in the configuration directory: ca.crt and ca.key (0600), the "
			"cluster's certificate authority (ECDSA P-256, 10 years); secret (0600), 256 "
			"random bits in hex, which authenticates as --secret-file does; admin.crt and "
			"admin.key (0600), the client certificate ferry uses by default; "
			"cluster.json, the cluster's name, etcd endpoints and hosts; and the first "
			"host's files, as `ferry host add` writes them.\n\n"
			"Without --etcd the cluster is a one-machine cluster: the store's only "
			"endpoint is https://ADDR:2379 and the first host's file gets "
			"\"etcd_member\", so its ferryd runs that member itself (data in "
			"STATE_DIR/etcd, peer URL https://ADDR:2380) and leaves it running when it "
			"stops.\n\n"
			"It works offline, before any agent runs, and refuses to touch a directory "
			"that holds a cluster already.",
		.opts = {
			{ "name", "NAME", "The cluster's name.", CLI_REQUIRED },
			{ "host", "HOST", "The first host's name.", CLI_REQUIRED },
			{ "etcd", "URL[,URL]",
			  "The cluster store's client URLs, run elsewhere (default: "
			  "https://ADDR:2379, a member run by the first host's ferryd)." },
			HOST_OPTS,
		},
		.run = cli_run_cluster_init,
	},
	{
		.group = "cluster",
		.name = "status",
		.summary = "show the cluster store's members, its leader, quorum, and the hosts",
		.description = "Asks an agent for GET /v1/cluster. The leader is marked with '*'. "
			       "The quorum line says how many members are reachable and how many "
			       "are needed; without quorum the cluster changes nothing (no VM is "
			       "started, moved or restarted) and the command exits 1.",
		.run = cli_run_cluster_status,
	},
	{
		.group = "host",
		.name = "ls",
		.alias = "list",
		.summary = "list the hosts",
		.description = "One line per host: NAME, STATE (active, paused, draining), ALIVE "
			       "(whether its agent holds its lease), MEMORY and VCPUS (admitted of "
			       "offered) and its VMS.",
		.run = cli_run_host_ls,
	},
	{
		.group = "host",
		.name = "show",
		.args = "NAME",
		.npos_min = 1,
		.npos_max = 1,
		.summary = "show one host",
		.description = "Its state, capacity and use, API address, VMs and migration links.",
		.run = cli_run_host_show,
	},
	{
		.group = "host",
		.name = "add",
		.args = "NAME",
		.npos_min = 1,
		.npos_max = 1,
		.summary = "issue a host's key and certificate and write its configuration",
		.description =
			"Writes DIR/hosts/NAME.key (0600) and NAME.crt, signed by the cluster's CA "
			"(CN=NAME, subject alternative names the address and NAME, for TLS server and "
			"client: the same certificate serves the host's API, its calls to other "
			"agents and its etcd member), and DIR/hosts/NAME.json, the configuration "
			"ferryd reads (ferryd --config DIR/hosts/NAME.json). The host joins "
			"cluster.json.\n\n"
			"It works offline: hosts are added before their agents start. With "
			"--etcd-url the host runs a member of the cluster store, whose client URL "
			"joins the cluster's etcd endpoints (also in the other hosts' files).",
		.opts = {
			HOST_OPTS,
			{ "etcd-url", "URL", "This host's etcd member's client URL." },
		},
		.run = cli_run_host_add,
	},
	{
		.group = "host",
		.name = "remove",
		.alias = "rm",
		.args = "NAME",
		.npos_min = 1,
		.npos_max = 1,
		.summary = "remove a host from the cluster and revoke its certificate",
		.description = "Asks an agent to remove it (DELETE /v1/hosts/NAME: it must run no "
			       "VM; its certificate is revoked), then deletes its files in the "
			       "configuration directory and drops it from cluster.json.",
		.opts = {
			{ "offline", NULL,
			  "Only delete the local files (a host whose agent never ran: nothing to "
			  "revoke)." },
		},
		.run = cli_run_host_remove,
	},
	{
		.group = "host",
		.name = "drain",
		.args = "NAME",
		.npos_min = 1,
		.npos_max = 1,
		.summary = "move every VM off a host, each to the best possible node",
		.description =
			"Asks for POST /v1/hosts/NAME/drain: the host turns draining (no VM is placed "
			"on it any more) and its agent moves each running VM live to the best possible "
			"node, at most two at a time. Then follows the drain (GET /v1/hosts/NAME every "
			"half second), printing a line as each VM moves (cl7 moved to vh02 in 1.21 s, "
			"blackout 4.5 ms) or stays (cl9 stays on vh01: REASON, when no host has room "
			"or its move failed), and a summary.\n\n"
			"The host stays draining until `ferry host resume NAME`. Exit status 1 if a VM "
			"stayed.",
		.opts = {
			{ "no-wait", NULL,
			  "Only start the drain: print what is to move, and return." },
		},
		.run = cli_run_host_drain,
	},
	{
		.group = "host",
		.name = "resume",
		.args = "NAME",
		.npos_min = 1,
		.npos_max = 1,
		.summary = "make a drained (or paused) host active again",
		.description = "POST /v1/hosts/NAME/resume: VMs may be placed on it again. The VMs a "
			       "drain moved away stay where they went.",
		.run = cli_run_host_resume,
	},
	{
		.group = "vm",
		.name = "create",
		.args = "NAME",
		.npos_min = 1,
		.npos_max = 1,
		.summary = "define a VM (it does not start)",
		.description =
			"Records the VM's spec in the cluster. Paths are as the hosts see them (shared "
			"storage), so they must be absolute. The network card's MAC is allocated by "
			"the cluster.",
		.opts = {
			{ "memory", "SIZE", "Guest memory: 256M, 1G, ... (binary suffixes).",
			  CLI_REQUIRED },
			{ "cpus", "N", "vCPUs (default 1).", 0, "vcpus" },
			{ "kernel", "PATH", "The RISC-V Linux Image.", CLI_REQUIRED },
			{ "initrd", "PATH", "An initramfs." },
			{ "disk", "PATH", "A raw disk image on shared storage." },
			{ "append", "ARGS",
			  "The kernel command line (the workload's arguments: "
			  "ferry.workload=counter ip=...)." },
			{ "isa", "ISA", "The ISA string the guest sees (default the VMM's)." },
		},
		.run = cli_run_vm_create,
	},
	{
		.group = "vm",
		.name = "ls",
		.alias = "list",
		.summary = "list the VMs",
		.description = "One line per VM: NAME, STATE (stopped, starting, running, paused, "
			       "lost), HOST (where it runs or last ran), MEMORY, VCPUS.",
		.run = cli_run_vm_ls,
	},
	{
		.group = "vm",
		.name = "show",
		.args = "NAME",
		.npos_min = 1,
		.npos_max = 1,
		.summary = "show one VM",
		.description = "Its state, host, process, and spec.",
		.run = cli_run_vm_show,
	},
	{
		.group = "vm",
		.name = "start",
		.args = "NAME",
		.npos_min = 1,
		.npos_max = 1,
		.summary = "start a VM",
		.description = "Starts it on HOST, else where it last ran, else on the host whose "
			       "agent answers. Refused if the host lacks the memory or vCPUs.",
		.opts = {
			{ "on", "HOST", "The host to start it on." },
		},
		.run = cli_run_vm_start,
	},
	{
		.group = "vm",
		.name = "stop",
		.args = "NAME",
		.npos_min = 1,
		.npos_max = 1,
		.summary = "power a VM off hard (its guest is not asked to shut down)",
		.description =
			"A hard power-off: the VM stops at once, as if its power were cut. Its guest "
			"is not asked to shut down, so what it had not written to its disk is lost.",
		.run = cli_run_vm_stop,
	},
	{
		.group = "vm",
		.name = "log",
		.args = "NAME",
		.npos_min = 1,
		.npos_max = 1,
		.summary = "print the last lines of a VM's console",
		.opts = {
			{ "lines", "N", "How many lines (default 100, at most 10000)." },
		},
		.description = "From wherever it runs or last ran.",
		.run = cli_run_vm_log,
	},
	{
		.group = "vm",
		.name = "console",
		.args = "NAME",
		.npos_min = 1,
		.npos_max = 1,
		.summary = "follow a VM's console output until Ctrl-C (read-only)",
		.description = "Prints what the console holds, then what comes, until Ctrl-C. "
			       "Read-only: input to the guest is not supported yet.",
		.run = cli_run_vm_console,
	},
	{
		.group = "vm",
		.name = "rm",
		.alias = "remove",
		.args = "NAME",
		.npos_min = 1,
		.npos_max = 1,
		.summary = "remove a stopped VM (its disk stays)",
		.description = "Forgets the VM's spec; its disk image is left as it is.",
		.run = cli_run_vm_rm,
	},
	{
		.name = "move",
		.args = "VM",
		.npos_min = 1,
		.npos_max = 1,
		.summary = "move a running VM to another host, live or quick",
		.description =
			"Asks for POST /v1/vms/VM/move, then follows the move (GET /v1/migrations/VM "
			"every 200 ms) until it completes, fails or is cancelled. On a terminal one "
			"line is redrawn in place: the phase, the pre-copy round, a bar of the bytes "
			"sent of those to send, the bytes sent and left, the bandwidth and the guest's "
			"dirty rate (MB/s, 10^6 bytes a second) and the downtime expected if the VM "
			"stopped now; otherwise one line per phase or round. At the end: cl7 moved to "
			"vh02 in 1.23 s, blackout 4.5 ms, 10.2 MiB (the measured blackout: how long "
			"the guest did not run). With --verbose also the blackout's parts (flush, final "
			"pages, transfer, commit, announce, resume).\n\n"
			"A live move copies the running guest's memory in rounds while it runs, then "
			"stops it for the last pages: the blackout is milliseconds. A quick move "
			"(--quick) pauses the VM, saves it to shared storage and restores it on the "
			"destination: seconds.\n\n"
			"A move that fails or is cancelled leaves the VM running where it was: "
			"ferry: cl7 did not move: REASON, exit status 1. Ctrl-C stops following, not "
			"the move (`ferry migrations cancel VM` stops it). With --json the last state "
			"of the move (the API's migration object) is printed instead of text.\n\n"
			"The seed's spelling, `ferry Move-VM -ComputerName VH01 -Name CL7 "
			"-DestinationHost VH02`, is the same command (see 'ferry help Move-VM').",
		.opts = {
			{ "to", "HOST|best",
			  "The host to move it to, or best: the best possible node, which the "
			  "cluster chooses (alive, active, room for the VM; the most memory left "
			  "after placing it, then fewer VMs).",
			  CLI_REQUIRED },
			{ "quick", NULL,
			  "A quick migration: pause, save to shared storage, restore on the "
			  "destination." },
			{ "no-wait", NULL,
			  "Start the move, print its id and return (`ferry migrations` follows it)." },
			{ "explain", NULL,
			  "With --to best: print every host considered, whether it was chosen and "
			  "why, before following the move." },
		},
		.run = cli_run_move,
	},
	{
		.name = "Move-VM",
		.summary = "the seed's spelling: Move-VM -ComputerName HOST -Name VM",
		.description =
			"`ferry Move-VM -ComputerName VH01 -Name CL7 [-DestinationHost VH02] [-Quick]` "
			"is `ferry move cl7 --to vh02 [--quick]`, with the host the VM is believed to "
			"run on: if it runs elsewhere the agent refuses the move and says where it is. "
			"Without -DestinationHost the cluster chooses the best possible node (--to "
			"best).\n\n"
			"As in PowerShell the command's name and its parameters' names are "
			"case-insensitive (move-vm -computername vh01 -name cl7), a value follows "
			"its parameter as the next word or after a colon (-Name:CL7), and the names "
			"given are names of hosts and VMs, kept in lower case. The global options "
			"work as for every command (--json, --endpoint ADDR); -Verbose is --verbose. "
			"It follows the move and prints what `ferry move` prints.",
		.opts = {
			{ "ComputerName", "HOST", "The host the VM runs on now.", CLI_REQUIRED },
			{ "Name", "VM", "The VM to move.", CLI_REQUIRED },
			{ "DestinationHost", "HOST",
			  "The host to move it to (default: the best possible node)." },
			{ "Quick", NULL,
			  "A quick migration: pause, save to shared storage, restore." },
		},
		.run = cli_run_move_vm,
		.flags = CLI_CMD_DASH,
	},
	{
		.group = "migrations",
		.name = "ls",
		.alias = "list",
		.summary = "the moves under way (--history: those that ended)",
		.description =
			"GET /v1/migrations: one line per move under way, on any host: VM, FROM, TO, "
			"MODE (live, quick), PHASE and PROGRESS (the share of bytes sent, the "
			"pre-copy round). `ferry migrations ls` is the same.\n\n"
			"--history: GET /v1/migrations/history, the moves that ended, oldest first: "
			"WHEN (it started, local time), VM, FROM, TO, MODE, TOTAL (its length), "
			"BLACKOUT, BYTES (sent), RESULT (completed, failed, cancelled) and REASON.\n\n"
			"--watch: follows the cluster's event stream (GET /v1/events) and prints a "
			"line for each migration event (started, progress, completed, failed, "
			"cancelled) until Ctrl-C, reconnecting where it left off if the agent goes "
			"away; with --json each event is a line {\"event\", \"data\"}.",
		.opts = {
			{ "watch", NULL, "Follow the moves as they happen, until Ctrl-C." },
			{ "history", NULL, "The moves that ended, with their figures." },
		},
		.run = cli_run_migrations,
		.flags = CLI_CMD_DEFAULT,
	},
	{
		.group = "migrations",
		.name = "cancel",
		.args = "VM",
		.npos_min = 1,
		.npos_max = 1,
		.summary = "cancel a VM's move before its commit (it stays put)",
		.description = "POST /v1/migrations/VM/cancel. Refused once the move has reached its "
			       "commit (the destination owns the VM then), or when the VM is not "
			       "moving.",
		.run = cli_run_migrations_cancel,
	},
	{
		.name = "version",
		.summary = "print ferry's version (and with --agent, the agent's)",
		.opts = {
			{ "agent", NULL, "Also ask the agent for its version (GET /v1/version)." },
		},
		.run = cli_run_version,
	},
	{
		.name = "help",
		.args = "[COMMAND]",
		.npos_max = 2,
		.summary = "show the commands, or one command's help",
		.run = cli_run_help,
	},
};

const size_t cli_ncommands = sizeof(cli_commands) / sizeof(cli_commands[0]);
