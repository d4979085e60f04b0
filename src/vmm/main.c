/* main.c - ferry-vm: the command line, signals, and the exit status.
 *
 * Exit status: 0 the guest powered off (SBI system reset, shutdown), or the VM
 * was migrated away or saved with release (this copy is done); 1 an error
 * stopped the machine; 2 the command line was wrong; 3 the operator stopped it
 * (SIGINT, SIGTERM, SIGHUP, Ctrl-A x, the control socket's quit).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/version.h"
#include "vmm/control/control.h"
#include "vmm/control/owner_agent.h"
#include "common/fault.h"
#include "vmm/board/machine.h"
#include "vmm/core/isa.h"
#include "vmm/devices/devices.h"
#include "vmm/devices/vblk.h"
#include "vmm/devices/vnet.h"
#include "vmm/migrate/handover.h"
#include "vmm/migrate/migrate.h"
#include "vmm/state/snapshot.h"

#define EXIT_USAGE 2
#define EXIT_STOPPED 3

static const char usage[] =
    "usage: ferry-vm --kernel Image [--initrd FILE] [--memory SIZE] [--append \"ARGS\"]\n"
    "                [--console stdio|unix:PATH|null] [--control unix:PATH]\n"
    "                [--net tap:NAME[,mac=MAC]|tapfd:N[,mac=MAC]] [--disk FILE|fd:N]\n"
    "                [--no-rng] [--isa ISA] [--cpus N]\n"
    "                [--journal FILE] [--clock host|icount] [--paused] [--log LEVEL]\n"
    "       ferry-vm --restore FILE [--kernel Image [--initrd FILE]] [options]\n"
    "       ferry-vm --incoming ADDRS (--token-file PATH | --token-fd N) [options]\n"
    "\n"
    "Run a RISC-V RV64 virtual machine (QEMU virt layout) booting a Linux Image,\n"
    "or continue one saved with the control socket's \"save\" command.\n"
    "\n"
    "  --kernel FILE     RISC-V Linux Image to boot (required unless --restore)\n"
    "  --initrd FILE     initramfs or initrd to pass to the kernel\n"
    "  --memory SIZE     guest RAM, e.g. 256M or 1G (default 256M; K, M, G, T suffixes)\n"
    "  --append ARGS     kernel command line (default \"console=ttyS0\")\n"
    "  --console SPEC    where the serial console goes: stdio (default), unix:PATH to\n"
    "                    listen on a unix socket that one client at a time attaches to,\n"
    "                    or null\n"
    "  --net tap:NAME[,mac=MAC]  virtio-net on an existing TAP device (up to 2)\n"
    "  --net tapfd:N[,mac=MAC]   ... or on inherited descriptor N, already attached to a\n"
    "                    TAP with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR (needs no privilege)\n"
    "  --disk FILE       virtio-blk on a raw image file, locked while in use (up to 2)\n"
    "  --disk fd:N       ... or on inherited descriptor N, opened read-write (O_RDWR) and\n"
    "                    locked the same way; --lease FILE is then required\n"
    "  --no-rng          no virtio-rng entropy device (present by default)\n"
    "  --isa ISA         the instruction set the hart gives: rv64imafdc (RV64GC, the\n"
    "                    default), rv64imafc or rv64imac; a restored or incoming VM\n"
    "                    keeps its own, which must be one this machine gives\n"
    "  --cpus N          harts (vCPUs), 1 to 8 (default 1); a restored VM keeps its\n"
    "                    own number, an incoming one must have the source's\n"
    "  --control SPEC    JSON control socket (QMP-like), unix:PATH; see docs/control.md\n"
    "  --journal FILE    append every run/pause transition with its monotonic time\n"
    "  --clock MODE      guest time from the host clock (host, default) or from\n"
    "                    instructions retired (icount: deterministic, for tests)\n"
    "  --paused          start paused; the control socket's resume starts the hart\n"
    "  --restore FILE    continue the machine saved in FILE (memory and clock from it;\n"
    "                    --kernel is then only needed if the guest reboots)\n"
    "  --incoming ADDRS  receive a live migration on host:port[,host:port...], one\n"
    "                    address per migration link ([v6]:port for IPv6; :port or a\n"
    "                    bare port for every address); starts paused, exits if it fails\n"
    "  --token-file PATH the one-time token the incoming migration must present, read\n"
    "                    from a file only its owner can read (mode 600 or stricter)\n"
    "  --token-fd N      ... or from inherited descriptor N (read to EOF or a newline)\n"
    "  --lease FILE      the VM's ownership record (default: first disk + .lease;\n"
    "                    no default with a --disk fd:N: it must be given)\n"
    "  --owner agent:TOKEN[,from=EXPECT]\n"
    "                    the host agent decides who owns the VM (in etcd), and the\n"
    "                    lease file only records its tokens: TOKEN is the one it gave\n"
    "                    this process (0 with --incoming: none until the commit);\n"
    "                    from=EXPECT with --restore: the agent moved the record from\n"
    "                    the save's token EXPECT to TOKEN (another save is stale).\n"
    "                    A migration's commit or settle is asked of the agent over\n"
    "                    --control (event OWNER, command owner-answer); needs a lease\n"
    "  --name NAME       this VM process's name in the lease (default host:pid)\n"
    "  --log LEVEL       error, warn (default), info or debug; also FERRY_LOG\n"
    "  --help            this text\n"
    "  --version         the version of Ferry it belongs to\n"
    "\n"
    "Exit status: 0 the guest powered off, or the VM was migrated away; 1 error; 2 bad\n"
    "command line; 3 stopped by a signal or Ctrl-A x on the console.\n";

/* Parse "256M", "1G", "4096K" or a byte count. Returns 0 or -1. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	uint64_t v, mul = 1;

	if (!*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		mul = 1ull << 10;
		end++;
		break;
	case 'm':
	case 'M':
		mul = 1ull << 20;
		end++;
		break;
	case 'g':
	case 'G':
		mul = 1ull << 30;
		end++;
		break;
	case 't':
	case 'T':
		mul = 1ull << 40;
		end++;
		break;
	default:
		break;
	}
	if (mul > 1 && (*end == 'i' || *end == 'I'))
		end++;
	if (mul > 1 && (*end == 'b' || *end == 'B'))
		end++;
	if (*end || v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

/* ---- the migration token -------------------------------------------------------------------
 *
 * Never on the command line: every local user can read /proc/PID/cmdline. The token is
 * the first line of what the file or the descriptor holds (the newline, and a CR before
 * it, are not part of it): MIG_TOKEN_MIN to MIG_TOKEN_MAX printable ASCII characters, no
 * spaces. The minimum makes it at least 128 bits as 32 hex digits (`head -c 16 /dev/urandom |
 * od -An -tx1 | tr -d ' \n'`); a shorter one could be guessed. */

#define TOKEN_FD_WAIT_MS 5000

static char token_buf[MIG_TOKEN_MAX + 1];

/* Take the token from the first len bytes of text (more may follow a newline). */
static int token_take(const char *text, size_t len, const char *from)
{
	const char *nl = memchr(text, '\n', len);
	size_t n = nl ? (size_t)(nl - text) : len;

	if (n && text[n - 1] == '\r')
		n--;
	if (n < MIG_TOKEN_MIN || n > MIG_TOKEN_MAX) {
		fprintf(stderr,
			"ferry-vm: the token from %s has %zu characters: it must have %d to %d (at "
			"least 128 bits, e.g. 32 hex digits from /dev/urandom)\n",
			from, n, MIG_TOKEN_MIN, MIG_TOKEN_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (text[i] <= ' ' || text[i] > '~') {
			fprintf(
			    stderr,
			    "ferry-vm: the token from %s must be printable ASCII without spaces\n",
			    from);
			return -1;
		}
	}
	memcpy(token_buf, text, n);
	token_buf[n] = 0;
	return 0;
}

/* A token file must be a regular file that only its owner (this user or root) can read or
 * write, as ssh wants of a private key: a token others can read is no secret. */
static int token_from_file(const char *path)
{
	char text[MIG_TOKEN_MAX + 3];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		fprintf(stderr, "ferry-vm: --token-file %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "ferry-vm: --token-file %s is not a regular file\n", path);
		close(fd);
		return -1;
	}
	if ((st.st_mode & 077) || (st.st_uid != geteuid() && st.st_uid != 0)) {
		fprintf(
		    stderr,
		    "ferry-vm: --token-file %s (mode %03o, owner uid %u) can be read or changed by "
		    "others: it must belong to uid %u or root and have mode 600 or 400\n",
		    path, (unsigned)(st.st_mode & 0777), (unsigned)st.st_uid, (unsigned)geteuid());
		close(fd);
		return -1;
	}
	n = read(fd, text, sizeof(text));
	close(fd);
	if (n < 0) {
		fprintf(stderr, "ferry-vm: --token-file %s: %s\n", path, strerror(errno));
		return -1;
	}
	int rc = token_take(text, (size_t)n, path);

	explicit_bzero(text, sizeof(text));
	return rc;
}

/* Read the token from an inherited descriptor, until EOF or a newline, waiting at most
 * TOKEN_FD_WAIT_MS for it; the descriptor is closed afterwards (stdin, stdout and stderr
 * stay open). */
static int token_from_fd(const char *arg)
{
	char text[MIG_TOKEN_MAX + 3], from[48], *end;
	size_t len = 0;
	long fd;
	int rc = -1;

	errno = 0;
	fd = strtol(arg, &end, 10);
	if (errno || end == arg || *end || fd < 0 || fd > 1 << 20) {
		fprintf(stderr, "ferry-vm: --token-fd '%s' is not a descriptor number\n", arg);
		return -1;
	}
	snprintf(from, sizeof(from), "descriptor %ld", fd);
	if (fcntl((int)fd, F_GETFD) < 0) {
		fprintf(stderr, "ferry-vm: --token-fd %ld: no such open descriptor\n", fd);
		return -1;
	}
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = (int)fd, .events = POLLIN };
		int left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = TOKEN_FD_WAIT_MS -
		       (int)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, left) == 0) {
			fprintf(stderr, "ferry-vm: no token on descriptor %ld within %d ms\n", fd,
				TOKEN_FD_WAIT_MS);
			goto out;
		}
		n = read((int)fd, text + len, sizeof(text) - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			fprintf(stderr, "ferry-vm: --token-fd %ld: %s\n", fd, strerror(errno));
			goto out;
		}
		len += (size_t)n;
		if (n == 0 || memchr(text, '\n', len) || len == sizeof(text))
			break;
	}
	rc = token_take(text, len, from);
out:
	explicit_bzero(text, sizeof(text));
	if (fd > 2)
		close((int)fd);
	return rc;
}

static int signal_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	if (write(signal_pipe[1], &b, 1) < 0) {
		/* the pipe is full: a stop is already pending */
	}
	errno = saved;
}

static void signal_ready(void *opaque, short revents)
{
	struct machine *m = opaque;
	unsigned char b;

	(void)revents;
	if (read(signal_pipe[0], &b, 1) == 1) {
		log_info("signal %d: stopping the machine", b);
		machine_request_quit(m);
	}
}

static int setup_signals(struct machine *m, struct err *e)
{
	struct sigaction sa;
	struct machine_pollfd p = { .events = POLLIN, .ready = signal_ready, .opaque = m };

	if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return err_errno(e, "pipe");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	p.fd = signal_pipe[0];
	return machine_add_pollfd(m, &p, e) < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "memory", required_argument, NULL, 'm' },
		{ "append", required_argument, NULL, 'a' },
		{ "console", required_argument, NULL, 'c' },
		{ "log", required_argument, NULL, 'l' },
		{ "control", required_argument, NULL, 'C' },
		{ "journal", required_argument, NULL, 'j' },
		{ "clock", required_argument, NULL, 'K' },
		{ "isa", required_argument, NULL, 'A' },
		{ "cpus", required_argument, NULL, 'U' },
		{ "paused", no_argument, NULL, 'P' },
		{ "restore", required_argument, NULL, 'R' },
		{ "net", required_argument, NULL, 'N' },
		{ "disk", required_argument, NULL, 'D' },
		{ "no-rng", no_argument, NULL, 'G' },
		{ "incoming", required_argument, NULL, 'I' },
		{ "token", required_argument, NULL, 'T' },
		{ "token-file", required_argument, NULL, 'F' },
		{ "token-fd", required_argument, NULL, 'E' },
		{ "lease", required_argument, NULL, 'L' },
		{ "name", required_argument, NULL, 'n' },
		{ "owner", required_argument, NULL, 'O' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct machine_config cfg = {
		.mem_size = 256ull << 20,
		.append = "console=ttyS0",
		.console = "stdio",
		.clock = GCLOCK_HOST,
	};
	static struct machine m; /* large (the TLB): not on the stack */
	static struct control ctl;
	static struct handover ho;
	static struct snapshot_file snap = { .fd = -1 };
	static struct owner_agent oa;
	struct owner_agent_spec owner_spec;
	struct own owner_rec;
	const char *owner = NULL;
	struct err e = { { 0 } };
	enum machine_exit ex;
	const char *control = NULL, *restore = NULL, *token_file = NULL, *token_fd = NULL;
	bool memory_given = false, clock_given = false, cpus_given = false;
	int opt, lvl;

	log_set_name("ferry-vm");
	signal(SIGPIPE, SIG_IGN);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (opt) {
		case 'k':
			cfg.kernel = optarg;
			break;
		case 'i':
			cfg.initrd = optarg;
			break;
		case 'm':
			if (parse_size(optarg, &cfg.mem_size) < 0) {
				fprintf(stderr,
					"ferry-vm: --memory '%s' is not a size (try 256M or 1G)\n",
					optarg);
				return EXIT_USAGE;
			}
			memory_given = true;
			break;
		case 'a':
			cfg.append = optarg;
			break;
		case 'c':
			cfg.console = optarg;
			break;
		case 'l':
			lvl = log_parse_level(optarg);
			if (lvl < 0) {
				fprintf(
				    stderr,
				    "ferry-vm: --log '%s': expected error, warn, info or debug\n",
				    optarg);
				return EXIT_USAGE;
			}
			log_set_level((enum log_level)lvl);
			break;
		case 'C':
			control = optarg;
			break;
		case 'j':
			cfg.journal = optarg;
			break;
		case 'K':
			if (strcmp(optarg, "host") == 0) {
				cfg.clock = GCLOCK_HOST;
			} else if (strcmp(optarg, "icount") == 0) {
				cfg.clock = GCLOCK_ICOUNT;
			} else {
				fprintf(stderr, "ferry-vm: --clock '%s': expected host or icount\n",
					optarg);
				return EXIT_USAGE;
			}
			clock_given = true;
			break;
		case 'A': {
			unsigned ext;

			if (isa_parse(optarg, &ext, &e) < 0) {
				fprintf(stderr, "ferry-vm: --isa: %s\n", e.msg);
				return EXIT_USAGE;
			}
			cfg.isa = optarg;
			break;
		}
		case 'U': {
			char *end;
			long n = strtol(optarg, &end, 10);

			if (end == optarg || *end || n < 1 || n > MACHINE_MAX_HARTS) {
				fprintf(stderr,
					"ferry-vm: --cpus '%s' is not a number from 1 to %d\n",
					optarg, MACHINE_MAX_HARTS);
				return EXIT_USAGE;
			}
			cfg.harts = (unsigned)n;
			cpus_given = true;
			break;
		}
		case 'P':
			cfg.start_paused = true;
			break;
		case 'R':
			restore = optarg;
			break;
		case 'N':
			if (cfg.nnets == MACHINE_MAX_NETS) {
				fprintf(stderr, "ferry-vm: at most %d --net options\n",
					MACHINE_MAX_NETS);
				return EXIT_USAGE;
			}
			cfg.nets[cfg.nnets++] = optarg;
			break;
		case 'D':
			if (cfg.ndisks == MACHINE_MAX_DISKS) {
				fprintf(stderr, "ferry-vm: at most %d --disk options\n",
					MACHINE_MAX_DISKS);
				return EXIT_USAGE;
			}
			cfg.disks[cfg.ndisks++] = optarg;
			break;
		case 'G':
			cfg.no_rng = true;
			break;
		case 'I':
			cfg.incoming = optarg;
			break;
		case 'T':
			fprintf(stderr,
				"ferry-vm: --token is refused: a token on the command line can "
				"be read by every local user (/proc/PID/cmdline); pass it with "
				"--token-file PATH or --token-fd N\n");
			return EXIT_USAGE;
		case 'F':
			token_file = optarg;
			break;
		case 'E':
			token_fd = optarg;
			break;
		case 'L':
			cfg.lease = optarg;
			break;
		case 'n':
			cfg.name = optarg;
			break;
		case 'O':
			owner = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			puts("ferry-vm " FERRY_VERSION);
			return 0;
		case ':':
			fprintf(stderr, "ferry-vm: option '%s' needs a value\n", argv[optind - 1]);
			return EXIT_USAGE;
		default:
			fprintf(stderr, "ferry-vm: unknown option '%s'\n%s", argv[optind - 1],
				usage);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ferry-vm: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (!cfg.kernel && !restore && !cfg.incoming) {
		fprintf(stderr, "ferry-vm: --kernel is required\n%s", usage);
		return EXIT_USAGE;
	}
	if (cfg.incoming && restore) {
		fprintf(stderr, "ferry-vm: --incoming and --restore exclude each other\n");
		return EXIT_USAGE;
	}
	for (int i = 0; i < cfg.nnets; i++) {
		if (vnet_check_spec(cfg.nets[i], &e) < 0) {
			fprintf(stderr, "ferry-vm: %s\n", e.msg);
			return EXIT_USAGE;
		}
	}
	for (int i = 0; i < cfg.ndisks; i++) {
		if (vblk_check_spec(cfg.disks[i], &e) < 0) {
			fprintf(stderr, "ferry-vm: %s\n", e.msg);
			return EXIT_USAGE;
		}
		if (strncmp(cfg.disks[i], "fd:", 3) == 0 && !cfg.lease) {
			fprintf(
			    stderr,
			    "ferry-vm: --disk %s needs --lease FILE: the lease's default is the "
			    "first disk's path + \".lease\", and a descriptor has no path\n",
			    cfg.disks[i]);
			return EXIT_USAGE;
		}
	}
	if (token_file && token_fd) {
		fprintf(stderr, "ferry-vm: --token-file and --token-fd exclude each other\n");
		return EXIT_USAGE;
	}
	if ((token_file || token_fd) && !cfg.incoming) {
		fprintf(stderr, "ferry-vm: --token-file and --token-fd are for --incoming\n");
		return EXIT_USAGE;
	}
	if (cfg.incoming && !token_file && !token_fd) {
		fprintf(stderr, "ferry-vm: --incoming needs --token-file PATH or --token-fd N\n");
		return EXIT_USAGE;
	}
	if (owner) {
		const char *why = NULL;

		if (owner_agent_parse(owner, &owner_spec, &e) < 0)
			why = e.msg;
		else if (!cfg.lease && !cfg.ndisks)
			why = "--owner needs a lease: a --disk, or --lease FILE";
		else if (!control)
			why = "--owner agent: needs --control unix:PATH (the agent answers there)";
		else if (owner_spec.token == 0 && !cfg.incoming)
			why = "--owner agent:0 holds no token: it is for --incoming, whose token "
			      "comes with the commit";
		else if (owner_spec.token != 0 && cfg.incoming)
			why = "--owner with --incoming: the token comes with the commit, give "
			      "agent:0";
		else if (owner_spec.has_from && !restore)
			why = "--owner agent:TOKEN,from=EXPECT is for --restore";
		if (why) {
			fprintf(stderr, "ferry-vm: %s\n", why);
			return EXIT_USAGE;
		}
		owner_agent_init(&oa, &m, &owner_spec);
		owner_rec = owner_agent_own(&oa);
	}
	if (token_file && token_from_file(token_file) < 0)
		return 1;
	if (token_fd && token_from_fd(token_fd) < 0)
		return 1;
	if (cfg.incoming)
		cfg.token = token_buf;
	if (cfg.incoming) {
		/* The state arrives over the network: start paused, place nothing. */
		cfg.start_paused = true;
		cfg.restoring = true;
	}
	if (restore) {
		struct snapshot_config sc;

		/* Opened once: the lease epoch checked below and the state loaded later come from
		 * the same file, whatever happens to the path meanwhile. */
		if (snapshot_file_open(restore, &snap, &e) < 0) {
			fprintf(stderr, "ferry-vm: %s\n", e.msg);
			return 1;
		}
		sc = snap.cfg;
		if (memory_given && cfg.mem_size != sc.mem_size) {
			fprintf(stderr,
				"ferry-vm: --memory %lluM differs from the snapshot's %lluM\n",
				(unsigned long long)(cfg.mem_size >> 20),
				(unsigned long long)(sc.mem_size >> 20));
			snapshot_file_close(&snap);
			return 1;
		}
		cfg.mem_size = sc.mem_size;
		if (cpus_given && cfg.harts != sc.harts) {
			fprintf(stderr, "ferry-vm: --cpus %u differs from the snapshot's %u\n",
				cfg.harts, sc.harts);
			snapshot_file_close(&snap);
			return 1;
		}
		cfg.harts = sc.harts;
		if (!clock_given)
			cfg.clock = sc.clock;
		cfg.restoring = true;
		cfg.restore_epoch = sc.lease_epoch;
	}

	if (fault_init(&e) < 0 || devices_machine_init(&m, &cfg, &e) < 0 ||
	    handover_init_with(&ho, &m, owner ? &owner_rec : NULL, &e) < 0 ||
	    (restore && snapshot_file_load(&m, &snap, &e) < 0) ||
	    (restore && handover_restore(&ho, &e) < 0) ||
	    (cfg.incoming && mig_incoming(&ho, cfg.incoming, cfg.token, &e) < 0) ||
	    (control && control_init(&ctl, &ho, control, &e) < 0) || setup_signals(&m, &e) < 0) {
		fprintf(stderr, "ferry-vm: %s\n", e.msg);
		snapshot_file_close(&snap);
		control_destroy(&ctl);
		machine_destroy(&m);
		return 1;
	}
	if (owner)
		control_set_owner(&ctl, &oa);
	snapshot_file_close(&snap);
	explicit_bzero(token_buf, sizeof(token_buf)); /* the migration keeps its own copy */
	if (restore) {
		log_info("restored %s (%" PRIu64 " MiB)", restore, cfg.mem_size >> 20);
		fault_point("restore-resume", 0);
		if (!m.paused) {
			/* Running at once: announce now, before the first instruction. */
			machine_devs_announce(&m);
			ho.announce_on_resume = false;
		}
	}
	if (!restore && !cfg.incoming)
		log_info("booting %s with %" PRIu64 " MiB", cfg.kernel, cfg.mem_size >> 20);
	ex = machine_run(&m, &e);
	log_info("stopped after %" PRIu64 " instructions", machine_instret(&m));
	control_destroy(&ctl);
	machine_destroy(&m);
	switch (ex) {
	case MACHINE_SHUTDOWN:
		return 0;
	case MACHINE_MIGRATED:
		log_info("the VM was migrated away");
		return 0;
	case MACHINE_SAVED:
		log_info("the VM was saved and handed over");
		return 0;
	case MACHINE_QUIT:
		return EXIT_STOPPED;
	default:
		fprintf(stderr, "ferry-vm: %s\n", e.msg[0] ? e.msg : "machine stopped on an error");
		return 1;
	}
}
