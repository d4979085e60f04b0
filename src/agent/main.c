/* main.c - ferryd, the host agent: command line, start-up, the main loop, a clean stop.
 *
 * Start-up: the host's configuration, the VM supervisor (which adopts the VMs still running
 * from an earlier run), the host's own etcd member if its configuration says it runs one
 * (member.c: adopted or started detached, then waited for, bounded), the etcd watch of /ferry/ (on a thread of its own, feeding the event
 * bus), the API, then registration in etcd (a lease, the host key, the state keys of adopted
 * VMs, the alloc key reconciled). READY=1 goes to systemd once registered and serving.
 *
 * The main thread then polls a timerfd (the lease keepalive every 3 s, or a new attempt to
 * register while etcd cannot be reached), a signalfd (SIGTERM and SIGINT stop cleanly; SIGHUP
 * is ignored) and the supervisor's descriptors (a VM that exits). A clean stop leaves the
 * VMs running and revokes nothing: the lease lapses within its TTL, the VMs' state keys go
 * with it (they show "lost" until an agent is back), and the next run adopts them again.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <gnutls/gnutls.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/api.h"
#include "agent/cluster.h"
#include "agent/events.h"
#include "agent/member.h"
#include "agent/move.h"
#include "common/json.h"
#include "common/log.h"
#include "common/pki.h"
#include "common/version.h"

/* How long start-up waits for its own etcd member to answer before going on. */
#define MEMBER_WAIT_S 30

static const char usage[] =
    "Usage: ferryd --config FILE [--log-level LEVEL]\n"
    "The host agent of a Ferry cluster.\n"
    "\n"
    "ferryd runs on every host of the cluster, one per host. It starts, stops and\n"
    "supervises the host's ferry-vm processes (a VM outlives a restart of ferryd, which\n"
    "adopts it again), registers the host in the cluster store (etcd) under a lease with\n"
    "its capacity and addresses, keeps the records of its VMs there, and serves the\n"
    "cluster's HTTPS/JSON API and event stream on the management network: any agent\n"
    "answers any request, forwarding it to the host concerned. Clients authenticate with\n"
    "a client certificate of the cluster's CA or the cluster secret. Stopping a VM is a\n"
    "hard power-off. Stopping ferryd (SIGTERM) leaves its VMs running.\n"
    "\n"
    "On a one-machine cluster (`ferry cluster init` without --etcd: \"etcd_member\" in the\n"
    "configuration) ferryd also runs the store's one member itself, before it connects:\n"
    "etcd (/usr/bin/etcd unless the configuration names another) with its data in\n"
    "state_dir/etcd (0700), client URL https://ADDR:2379 and peer URL https://ADDR:2380\n"
    "on the host's address, mutual TLS with the host's certificate and the cluster's CA.\n"
    "The member is started detached (its own session; under systemd its own scope,\n"
    "ferry-etcd-NAME) and logs to log_dir/etcd.log; ferryd waits up to 30 s for it to\n"
    "answer. Stopping or restarting ferryd leaves the member running: the next run\n"
    "adopts it (run_dir/etcd.pid, or its client URL answering) instead of starting\n"
    "another. To stop the store, stop that process (kill $(jq .pid run_dir/etcd.pid)).\n"
    "\n"
    "Options:\n"
    "  --config FILE       the host's configuration, /etc/ferry/hosts/NAME.json (written\n"
    "                      by `ferry cluster init` and `ferry host add`)\n"
    "  --log-level LEVEL   error, warn, info (default) or debug; also FERRY_LOG\n"
    "  --help              this text\n"
    "  --version           the version of Ferry it belongs to\n"
    "\n"
    "It runs under systemd as a Type=notify service (ferryd.service): READY=1 once it is\n"
    "registered and serving, STOPPING=1 when it stops.\n"
    "\n"
    "Signals: SIGTERM and SIGINT stop it cleanly: its VMs keep running, its lease in the\n"
    "cluster store lapses within 10 s (its VMs show \"lost\" until it is back) and the next\n"
    "run adopts them again. SIGHUP is ignored.\n"
    "\n"
    "Files: the configuration names them: run_dir/vms/NAME.json, the record of each VM it\n"
    "started (what lets a new run adopt it); log_dir/NAME/console.log and vm.log, each VM's\n"
    "console and log; run_dir/etcd.pid and log_dir/etcd.log, the etcd member's (if it\n"
    "runs one).\n"
    "\n"
    "Exit status: 0 stopped by SIGTERM or SIGINT; 1 error; 2 bad command line.\n"
    "The API is described in docs/api.md.\n";

/* ---- the watch of /ferry/ ------------------------------------------------------------------- */

struct watcher {
	struct agent *a;
	struct etcd_watch *w;
	int64_t next;
	pthread_t thread;
};

static int on_watch(void *arg, const struct etcd_event *ev)
{
	struct agent *a = arg;
	const char *type;
	json_t *data;
	if (ev->type == ETCD_EV_PUT && strncmp(ev->kv.key, "/ferry/revoked/", 15) == 0)
		cluster_note_revoked(a, ev->kv.key + 15);
	if (cluster_event_from_watch(ev, &type, &data) == 1) {
		log_debug("event %s from %s", type, ev->kv.key);
		events_publish(a->events, type, data);
	}
	return 0;
}

static void *watch_run(void *arg)
{
	struct watcher *w = arg;
	struct agent *a = w->a;
	while (!a->quit) {
		struct err e;
		if (!w->w) {
			if (etcd_watch_open(&w->w, &a->ecfg, "/ferry/", true, w->next, true,
					    on_watch, a, &e) < 0) {
				log_warn("watching /ferry/: %s", e.msg);
				w->w = NULL;
				sleep(1);
				continue;
			}
		}
		if (etcd_watch_poll(w->w, 500, &e) < 0) {
			int64_t comp = etcd_watch_compacted(w->w);
			w->next = comp ? 0 : etcd_watch_next_revision(w->w);
			if (!a->quit)
				log_warn("the watch of /ferry/ ended (%s): opening it again",
					 e.msg);
			etcd_watch_close(w->w);
			w->w = NULL;
			if (!a->quit)
				sleep(1);
		}
	}
	return NULL;
}

/* ---- VM exits ------------------------------------------------------------------------------- */

struct exits {
	struct {
		char name[VM_NAME_MAX + 1];
		int status;
	} v[AGENT_MAX_VMS];
	size_t n;
};

static void on_vm(void *arg, const struct vm_info *vm, const char *what)
{
	struct exits *x = arg;
	log_debug("%s: %s", vm->spec.name, what ? what : "");
	if (vm->run != VM_EXITED || x->n >= AGENT_MAX_VMS)
		return;
	snprintf(x->v[x->n].name, sizeof(x->v[0].name), "%s", vm->spec.name);
	x->v[x->n++].status = vm->exit_status;
}

static void handle_exits(struct agent *a, struct exits *x)
{
	for (size_t i = 0; i < x->n; i++) {
		/* A move's VM (a source that moved away, an incoming one that never became the
		 * owner): the move records what its end means. */
		bool moving = move_vm_exited(a, x->v[i].name, x->v[i].status);
		pthread_mutex_lock(&a->vms_lock);
		bool requested = agent_stopping_take(a, x->v[i].name);
		struct err e;
		if (!requested)
			vms_forget(a->vms, x->v[i].name, &e);
		pthread_mutex_unlock(&a->vms_lock);
		if (requested || moving)
			continue; /* the stop request or the move writes its own record */
		char reason[128];
		snprintf(reason, sizeof(reason), "exited by itself (status %d)", x->v[i].status);
		cluster_vm_ended(a, x->v[i].name, "exited", reason);
	}
	x->n = 0;
}

/* ---- start-up ------------------------------------------------------------------------------- */

static int read_secret(struct agent *a, struct err *e)
{
	if (!a->conf.secret[0])
		return 0;
	FILE *f = fopen(a->conf.secret, "r");
	if (!f) {
		if (errno == ENOENT) {
			log_warn("no cluster secret at %s: clients need a certificate",
				 a->conf.secret);
			return 0;
		}
		return err_errno(e, "%s", a->conf.secret);
	}
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077)) {
		fclose(f);
		return err_set(e,
			       "%s: mode %03o, the cluster secret must be readable by its owner "
			       "only (0600)",
			       a->conf.secret, st.st_mode & 0777);
	}
	if (!fgets(a->secret, sizeof(a->secret), f))
		a->secret[0] = '\0';
	fclose(f);
	a->secret[strcspn(a->secret, "\r\n")] = '\0';
	return 0;
}

static int agent_init(struct agent *a, struct err *e)
{
	pthread_mutex_init(&a->pool_lock, NULL);
	pthread_cond_init(&a->pool_cond, NULL);
	pthread_mutex_init(&a->vms_lock, NULL);
	pthread_mutex_init(&a->reg_lock, NULL);
	pthread_mutex_init(&a->rev_lock, NULL);
	a->version = FERRY_VERSION;
	for (size_t i = 0; i < a->conf.netcd && i < ETCD_MAX_MEMBERS; i++)
		a->ecfg.endpoints[a->ecfg.nendpoints++] = a->conf.etcd[i];
	a->ecfg.ca = a->conf.ca[0] ? a->conf.ca : NULL;
	a->ecfg.cert = a->conf.cert[0] ? a->conf.cert : NULL;
	a->ecfg.key = a->conf.key[0] ? a->conf.key : NULL;
	a->ecfg.timeout_ms = 2000;
	if (a->conf.cert[0]) {
		struct pki_info info;
		if (pki_info_file(a->conf.cert, &info, e) < 0)
			return -1;
		snprintf(a->cert_serial, sizeof(a->cert_serial), "%s", info.serial);
	}
	if (read_secret(a, e) < 0)
		return -1;
	a->events = events_new();
	if (!a->events || move_init(a) < 0)
		return err_set(e, "out of memory");
	struct vms_cfg vc = { .run_dir = a->conf.run_dir,
			      .log_dir = a->conf.log_dir,
			      .vm_binary = a->conf.vm_binary,
			      .bridge = a->conf.bridge,
			      .nice = a->conf.vm_nice,
			      .cgroup = a->conf.vm_cgroup };
	if (vms_open(&a->vms, &vc, e) < 0)
		return err_prefix(e, "the VMs of this host");
	return 0;
}

static int register_all(struct agent *a, bool first, struct err *e)
{
	if (cluster_load_revoked(a, e) < 0)
		return -1;
	if (cluster_register(a, first ? "adopted" : "registered again", e) < 0)
		return -1;
	if (cluster_reconcile_alloc(a, e) < 0)
		log_warn("reconciling the alloc key: %s", e->msg);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "config", required_argument, NULL, 'c' },
					      { "log-level", required_argument, NULL, 'l' },
					      { "help", no_argument, NULL, 'h' },
					      { "version", no_argument, NULL, 'V' },
					      { NULL, 0, NULL, 0 } };
	const char *config = NULL;
	int o;
	log_set_name("ferryd");
	if (!getenv("FERRY_LOG"))
		log_set_level(LOG_INFO);
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			config = optarg;
			break;
		case 'l': {
			int l = log_parse_level(optarg);
			if (l < 0) {
				fprintf(stderr,
					"ferryd: '%s' is not a log level (error, warn, info, "
					"debug)\n",
					optarg);
				return 2;
			}
			log_set_level((enum log_level)l);
			break;
		}
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			puts("ferryd " FERRY_VERSION);
			return 0;
		default:
			fputs("Try 'ferryd --help'.\n", stderr);
			return 2;
		}
	}
	if (optind < argc || !config) {
		fprintf(stderr, "ferryd: %s\nTry 'ferryd --help'.\n",
			config ? "unexpected arguments" : "--config FILE is required");
		return 2;
	}

	static struct agent a;
	struct err e;
	hostconf_defaults(&a.conf);
	if (hostconf_load(&a.conf, config, &e) < 0) {
		log_error("%s", e.msg);
		return 1;
	}
	/* signals: SIGTERM/SIGINT through a signalfd, SIGHUP and SIGPIPE ignored */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread, so all inherit it */
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (sfd < 0 || tfd < 0) {
		log_error("signalfd/timerfd: %s", strerror(errno));
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	gnutls_global_init();
	if (agent_init(&a, &e) < 0) {
		log_error("%s", e.msg);
		return 1;
	}

	/* a one-machine cluster's store: its member, run by this agent (adopted if it runs) */
	if (a.conf.etcd_member.enabled) {
		struct member m;
		int r;

		if (member_ensure(&a.conf, &m, &e) < 0) {
			log_error("%s", e.msg);
			return 1;
		}
		r = member_wait(&a.conf, &m, MEMBER_WAIT_S, &e);
		if (r < 0) {
			log_error("%s", e.msg);
			return 1;
		}
		if (r > 0)
			log_warn("the etcd member does not answer at %s after %d s (see %s): going "
				 "on, registering is tried again every %d s",
				 a.conf.etcd_member.client_url, MEMBER_WAIT_S, m.log,
				 CLUSTER_KEEPALIVE_S);
	}

	/* the watch first, from the store's revision now, so nothing we write is missed */
	struct watcher w = { .a = &a };
	{
		struct etcd *c = agent_etcd(&a, &e);
		int64_t rev = 0;
		struct etcd_kv kv = { 0 };
		bool found;
		if (c && etcd_get(c, "/ferry/hosts/", &kv, &found, &rev, &e) == 0)
			w.next = rev + 1;
		else
			log_warn("the cluster store: %s (trying again)", e.msg);
		etcd_kv_free(&kv);
		agent_etcd_put(&a, c);
	}
	pthread_create(&w.thread, NULL, watch_run, &w);

	struct api *api = NULL;
	if (api_start(&api, &a, &e) < 0) {
		log_error("%s", e.msg);
		a.quit = 1;
		pthread_join(w.thread, NULL);
		return 1;
	}
	log_info("serving the API on %s", a.conf.api);

	bool ready = false;
	if (register_all(&a, true, &e) == 0) {
		sd_notify(0, "READY=1\nSTATUS=registered and serving");
		ready = true;
	} else {
		log_warn("registering: %s (trying again every %d s)", e.msg, CLUSTER_KEEPALIVE_S);
	}
	struct itimerspec its = { .it_interval = { CLUSTER_KEEPALIVE_S, 0 },
				  .it_value = { CLUSTER_KEEPALIVE_S, 0 } };
	timerfd_settime(tfd, 0, &its, NULL);

	static struct exits exits;
	unsigned ticks_since_reconcile = 0;
	bool moves_reconciled = false;
	struct pollfd fds[2 + AGENT_MAX_VMS];
	while (!a.quit) {
		fds[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		fds[1] = (struct pollfd){ .fd = tfd, .events = POLLIN };
		/* a request may hold the VMs for a while (a start waits for the VM's control
		 * socket): the keepalive must not wait for it, so the VMs are skipped then */
		size_t nv = 0;
		bool have_vms = pthread_mutex_trylock(&a.vms_lock) == 0;
		if (have_vms) {
			nv = vms_pollfds(a.vms, fds + 2, AGENT_MAX_VMS);
			pthread_mutex_unlock(&a.vms_lock);
		}
		if (nv > AGENT_MAX_VMS)
			nv = AGENT_MAX_VMS;
		/* the pollfds may change while we sleep (a VM started by a request): wake often */
		int r = poll(fds, 2 + nv, have_vms ? 1000 : 100);
		if (r < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			break;
		}
		if (fds[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				log_info("signal %u: stopping (the VMs keep running)",
					 si.ssi_signo);
				a.quit = 1;
			}
		}
		/* the descriptors polled may be stale by now (a request stopped or started a
		 * VM meanwhile): ask again, under the lock, which are ready */
		if (nv && (r > 0) && pthread_mutex_trylock(&a.vms_lock) == 0) {
			size_t n2 = vms_pollfds(a.vms, fds + 2, AGENT_MAX_VMS);
			if (n2 > AGENT_MAX_VMS)
				n2 = AGENT_MAX_VMS;
			if (n2 && poll(fds + 2, n2, 0) > 0)
				vms_handle(a.vms, fds + 2, n2, on_vm, &exits);
			pthread_mutex_unlock(&a.vms_lock);
		}
		handle_exits(&a, &exits);
		if (fds[1].revents & POLLIN) {
			uint64_t ticks;
			if (read(tfd, &ticks, sizeof(ticks)) < 0)
				ticks = 0;
			pthread_mutex_lock(&a.reg_lock);
			bool reg = a.registered;
			pthread_mutex_unlock(&a.reg_lock);
			int kr = reg ? cluster_keepalive(&a, &e) : register_all(&a, !ready, &e);
			if (kr < 0)
				log_warn("%s: %s", reg ? "keepalive" : "registering", e.msg);
			/* once registered after the start (what was adopted), then every 30 s: a
			 * copy that is not the owner's destroyed, a request nobody answered
			 * answered (an etcd read and a control connection per VM: not every tick) */
			if (kr == 0 && !moves_reconciled) {
				moves_reconciled = true;
				move_reconcile(&a);
			}
			/* now and then, the alloc key checked against what runs here (an exit
			 * whose release failed while etcd was away); a read unless it differs */
			if (kr == 0 && reg && ++ticks_since_reconcile >= 10) {
				ticks_since_reconcile = 0;
				move_reconcile(&a);
				if (cluster_reconcile_alloc(&a, &e) < 0)
					log_warn("reconciling the alloc key: %s", e.msg);
			} else if (!ready) {
				sd_notify(0, "READY=1\nSTATUS=registered and serving");
				ready = true;
			}
		}
	}

	sd_notify(0, "STOPPING=1");
	events_shutdown(a.events);
	api_stop(api);
	/* The watch thread sees a.quit within its poll (0.5 s), unless it is opening the watch
	 * on members that do not answer (up to a timeout per member, as when the whole cluster
	 * stops at once): then the process ends without it, since nothing it holds needs
	 * closing (etcd forgets a watch whose connection goes). */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	if (pthread_timedjoin_np(w.thread, NULL, &until) != 0) {
		log_info("stopped (the watch of the cluster store was still connecting)");
		return 0;
	}
	if (w.w)
		etcd_watch_close(w.w);
	pthread_mutex_lock(&a.vms_lock);
	vms_close(a.vms);
	a.vms = NULL;
	pthread_mutex_unlock(&a.vms_lock);
	for (size_t i = 0; i < AGENT_ETCD_POOL; i++)
		if (a.pool[i])
			etcd_close(a.pool[i]);
	move_free(&a);
	events_free(a.events);
	curl_global_cleanup();
	gnutls_global_deinit();
	log_info("stopped");
	return 0;
}
