/* member.c - the etcd member ferryd runs itself: adopted or started detached, waited for.
 *
 * A one-machine cluster (`ferry cluster init` without --etcd) has one member of the store,
 * on its one host, run by that host's ferryd ("etcd_member" in its configuration). It must
 * not depend on ferryd staying up: like a VM it is started detached and outlives the agent,
 * and a new run of the agent adopts it rather than starting another on the same data.
 *
 * member_ensure, in this order:
 *   1. RUN_DIR/etcd.pid ({"pid", "start_time", "client_url"}, written by the run that
 *      started it): if that pid is alive with the recorded start time (/proc/PID/stat, so a
 *      reused pid is not mistaken for it), the member is adopted;
 *   2. else if the client URL answers (a member started by hand or by an agent whose pid
 *      file went with a reboot of /run), it is used as it is: not started again;
 *   3. else it is started: DATA_DIR made 0700; `etcd --name HOST --data-dir DATA_DIR`,
 *      client and peer URLs on the host's address, a one-member initial cluster in state
 *      "new" (a data dir that holds a member already makes etcd ignore the initial flags and
 *      start that member again, with its data), mutual TLS for clients and peers with the
 *      host's certificate and the cluster's CA (the same flags as lab/cluster.sh), --pre-vote.
 *      It is forked twice, so that it is not the agent's child (no zombie if it exits while
 *      the agent runs; reparented to init or the subreaper), in a session of its own, stdin
 *      /dev/null, stdout and stderr appended to LOG_DIR/etcd.log, signals as at boot; under
 *      systemd through `systemd-run --scope --unit ferry-etcd-HOST`, outside the agent's
 *      unit. An exec failure comes back through a close-on-exec pipe. The pid file is
 *      written atomically once it runs.
 *
 * member_wait polls the client URL (a read of /ferry/hosts/ through the etcd client with the
 * host's certificate) every 200 ms, logging every 5 s, until it answers, the member exits
 * (an error with the last lines of its log) or the time is up (the agent then goes on and
 * keeps trying, as it does for a store elsewhere).
 */
#include "agent/member.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/etcd.h"
#include "agent/vms.h"
#include "common/json.h"
#include "common/log.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static int member_mkdirs(const char *path, mode_t mode, struct err *e)
{
	char tmp[PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return err_set(e, "%s: path too long", path);
	for (char *p = tmp + 1;; p++) {
		if (*p == '/' || !*p) {
			char ch = *p;

			*p = '\0';
			if (mkdir(tmp, ch ? 0755 : mode) < 0 && errno != EEXIST)
				return err_errno(e, "mkdir %s", tmp);
			*p = ch;
			if (!ch)
				break;
		}
	}
	return 0;
}

int member_argv(const struct hostconf *c, const char **argv, size_t max, char *buf, size_t size,
		struct err *e)
{
	const struct hostconf_member *m = &c->etcd_member;
	size_t n = 0, used = 0;
	char *initial = buf, *token;
	int w;

	w = snprintf(initial, size, "%s=%s", c->name, m->peer_url);
	if (w < 0 || (size_t)w >= size)
		return err_set(e, "etcd member: command line too long");
	used = (size_t)w + 1;
	token = buf + used;
	w = snprintf(token, size - used, "ferry-%s", c->cluster);
	if (w < 0 || (size_t)w >= size - used)
		return err_set(e, "etcd member: command line too long");
	const char *const args[] = {
		m->binary,
		"--name",
		c->name,
		"--data-dir",
		m->data_dir,
		"--listen-client-urls",
		m->client_url,
		"--advertise-client-urls",
		m->client_url,
		"--listen-peer-urls",
		m->peer_url,
		"--initial-advertise-peer-urls",
		m->peer_url,
		"--initial-cluster",
		initial,
		"--initial-cluster-state",
		"new",
		"--initial-cluster-token",
		token,
		"--client-cert-auth",
		"--trusted-ca-file",
		c->ca,
		"--cert-file",
		c->cert,
		"--key-file",
		c->key,
		"--peer-client-cert-auth",
		"--peer-trusted-ca-file",
		c->ca,
		"--peer-cert-file",
		c->cert,
		"--peer-key-file",
		c->key,
		"--pre-vote",
	};
	if (sizeof(args) / sizeof(args[0]) + 1 > max)
		return err_set(e, "etcd member: too many arguments");
	for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return (int)n;
}

/* Does the member answer at its client URL (within timeout_ms)? */
static bool member_answers(const struct hostconf *c, long timeout_ms)
{
	struct etcd_cfg cfg = { .endpoints = { c->etcd_member.client_url },
				.nendpoints = 1,
				.ca = c->ca,
				.cert = c->cert,
				.key = c->key,
				.timeout_ms = timeout_ms };
	struct etcd_kv kv = { 0 };
	struct etcd *cl;
	struct err e;
	bool found;
	int64_t rev;
	int r;

	if (etcd_open(&cl, &cfg, &e) < 0)
		return false;
	r = etcd_get(cl, "/ferry/hosts/", &kv, &found, &rev, &e);
	etcd_kv_free(&kv);
	etcd_close(cl);
	return r == 0;
}

/* The pid file's process if it is alive with its recorded start time (0 otherwise). */
static pid_t member_pidfile_alive(const char *path, const struct hostconf *c)
{
	FILE *f = fopen(path, "re");
	char text[1024];
	size_t len;
	json_t *o;
	struct err e;
	int64_t pid = 0;
	uint64_t st = 0, now;
	const char *url = NULL;
	pid_t alive = 0;

	if (!f)
		return 0;
	len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	o = json_parse(text, len, &e);
	if (!o) {
		log_warn("%s: %s (ignored)", path, e.msg);
		return 0;
	}
	if (json_get_int(o, "pid", &pid, &e) == 1 && json_get_u64(o, "start_time", &st, &e) == 1 &&
	    json_get_str(o, "client_url", &url, &e) == 1 && pid > 0 && pid <= INT_MAX &&
	    vms_proc_start_time((pid_t)pid, &now, &e) == 0 && now == st) {
		if (strcmp(url, c->etcd_member.client_url))
			log_warn("the etcd member pid %lld listens on %s, not on %s as "
				 "configured: adopted as it is (restart it to change that)",
				 (long long)pid, url, c->etcd_member.client_url);
		alive = (pid_t)pid;
	}
	json_free(o);
	return alive;
}

static int member_pidfile_write(const char *path, pid_t pid, const struct hostconf *c,
				struct err *e)
{
	json_t *o = json_object();
	uint64_t st;
	char *text;
	int rc;

	if (vms_proc_start_time(pid, &st, e) < 0) {
		json_free(o);
		return err_prefix(e, "the etcd member");
	}
	json_set_int(o, "pid", pid);
	json_set_u64(o, "start_time", st);
	json_set_str(o, "client_url", c->etcd_member.client_url);
	text = o ? json_dumps(o, JSON_PRESERVE_ORDER) : NULL;
	json_free(o);
	if (!text)
		return err_set(e, "out of memory");
	rc = hostconf_write_file(path, text, 0644, e);
	free(text);
	return rc;
}

/* Is systemd-run there and does the agent run under systemd? */
static const char *member_systemd_run(void)
{
	static const char *const paths[] = { "/usr/bin/systemd-run", "/bin/systemd-run" };
	const char *inv = getenv("INVOCATION_ID");

	if (!inv || !*inv)
		return NULL;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

/* Messages from the children: the grandchild's pid (from the middle one), or an errno. */
struct member_msg {
	int kind; /* 1 pid, 2 errno */
	int value;
};

/* In the children, between fork and exec: only system calls. */
static __attribute__((noreturn)) void member_child(const char *const *argv, int logfd, int nullfd,
						   int wr)
{
	struct member_msg msg = { 2, 0 };
	pid_t g;

	g = fork();
	if (g < 0)
		goto fail;
	if (g > 0) {
		msg = (struct member_msg){ 1, (int)g };
		_exit(write(wr, &msg, sizeof(msg)) == sizeof(msg) ? 0 : 1);
	}
	/* the member itself: a session of its own, which it leads */
	if (setsid() < 0)
		goto fail;
	if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
		goto fail;
	syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
	{
		static const int sigs[] = { SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGQUIT };
		sigset_t none;

		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
	}
	execv(argv[0], (char *const *)argv);
fail:
	msg = (struct member_msg){ 2, errno };
	if (write(wr, &msg, sizeof(msg)) < 0) {
		/* nothing more to say */
	}
	_exit(127);
}

static int member_spawn(const struct hostconf *c, struct member *m, struct err *e)
{
	const char *argv[64], *args[48];
	char buf[1024], unit[128];
	const char *sdrun = member_systemd_run();
	int n, argc = 0, pipefd[2], logfd, nullfd, status;
	struct member_msg msg;
	pid_t mid, pid = 0;
	int child_err = 0;

	n = member_argv(c, args, sizeof(args) / sizeof(args[0]), buf, sizeof(buf), e);
	if (n < 0)
		return -1;
	if (sdrun) {
		snprintf(unit, sizeof(unit), "ferry-etcd-%s", c->name);
		argv[argc++] = sdrun;
		argv[argc++] = "--scope";
		argv[argc++] = "--unit";
		argv[argc++] = unit;
		argv[argc++] = "--quiet";
		argv[argc++] = "--";
	}
	for (int i = 0; i <= n; i++)
		argv[argc++] = args[i];
	if (access(c->etcd_member.binary, X_OK) != 0)
		return err_errno(e, "the etcd member: %s", c->etcd_member.binary);
	logfd = open(m->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (logfd < 0)
		return err_errno(e, "the etcd member's log %s", m->log);
	nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nullfd < 0 || pipe2(pipefd, O_CLOEXEC) < 0) {
		err_errno(e, "the etcd member: /dev/null or pipe");
		close(logfd);
		if (nullfd >= 0)
			close(nullfd);
		return -1;
	}
	dprintf(logfd, "ferryd: starting the etcd member %s\n", c->name);
	mid = fork();
	if (mid == 0)
		member_child(argv, logfd, nullfd, pipefd[1]);
	close(pipefd[1]);
	close(logfd);
	close(nullfd);
	if (mid < 0) {
		close(pipefd[0]);
		return err_errno(e, "fork");
	}
	/* the pid from the middle child, then EOF (exec done) or the grandchild's errno */
	while (read(pipefd[0], &msg, sizeof(msg)) == sizeof(msg)) {
		if (msg.kind == 1)
			pid = msg.value;
		else
			child_err = msg.value ? msg.value : EIO;
	}
	close(pipefd[0]);
	while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
		;
	if (child_err) {
		errno = child_err;
		return err_errno(e, "the etcd member: cannot run %s", argv[0]);
	}
	if (pid <= 0)
		return err_set(e, "the etcd member: the start failed (no pid)");
	m->pid = pid;
	m->started = true;
	return 0;
}

int member_ensure(const struct hostconf *c, struct member *m, struct err *e)
{
	const struct hostconf_member *hm = &c->etcd_member;
	char member_dir[PATH_MAX];
	struct stat st;
	pid_t pid;

	memset(m, 0, sizeof(*m));
	snprintf(m->pidfile, sizeof(m->pidfile), "%s/etcd.pid", c->run_dir);
	snprintf(m->log, sizeof(m->log), "%s/etcd.log", c->log_dir);
	pid = member_pidfile_alive(m->pidfile, c);
	if (pid > 0) {
		m->pid = pid;
		log_info("the etcd member %s runs already (pid %d, from %s): adopted", c->name,
			 (int)pid, m->pidfile);
		return 0;
	}
	if (member_answers(c, 1000)) {
		log_info("an etcd member answers at %s already (no live pid in %s): used as it "
			 "is, not started",
			 hm->client_url, m->pidfile);
		return 0;
	}
	if (member_mkdirs(c->run_dir, 0755, e) < 0 || member_mkdirs(c->log_dir, 0755, e) < 0 ||
	    member_mkdirs(hm->data_dir, 0700, e) < 0)
		return err_prefix(e, "the etcd member");
	if (chmod(hm->data_dir, 0700) < 0)
		return err_errno(e, "the etcd member: chmod 0700 %s", hm->data_dir);
	snprintf(member_dir, sizeof(member_dir), "%.4000s/member", hm->data_dir);
	bool again = stat(member_dir, &st) == 0;
	if (member_spawn(c, m, e) < 0)
		return -1;
	log_info("started the etcd member %s (pid %d): %s, client %s, peer %s, data %s, log %s",
		 c->name, (int)m->pid, again ? "again with its data" : "a new one-member cluster",
		 hm->client_url, hm->peer_url, hm->data_dir, m->log);
	if (member_pidfile_write(m->pidfile, m->pid, c, e) < 0)
		log_warn("%s (a new run of ferryd will find it by its URL)", e->msg);
	return 0;
}

/* The last lines of the member's log, '|'-separated, for an error message. */
static void member_log_tail(const char *path, char *out, size_t size)
{
	char buf[600];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	off_t end;
	ssize_t n;

	out[0] = '\0';
	if (fd < 0)
		return;
	end = lseek(fd, 0, SEEK_END);
	n = pread(fd, buf, sizeof(buf) - 1,
		  end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	for (char *q = buf; *q; q++)
		if (*q == '\n')
			*q = '|';
	/* the end of it, which says why */
	const char *p = (size_t)n >= size ? buf + ((size_t)n - size + 1) : buf;
	memcpy(out, p, strlen(p) + 1);
}

static bool member_alive(pid_t pid)
{
	uint64_t t;
	struct err e;

	return vms_proc_start_time(pid, &t, &e) == 0;
}

static double member_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int member_wait(const struct hostconf *c, const struct member *m, int timeout_s, struct err *e)
{
	double start = member_now(), next_log = start + 5;

	for (;;) {
		double now;

		if (member_answers(c, 1000)) {
			log_info("the etcd member answers at %s (after %.1f s)",
				 c->etcd_member.client_url, member_now() - start);
			return 0;
		}
		if (m->pid > 0 && !member_alive(m->pid)) {
			char tail[500];

			member_log_tail(m->log, tail, sizeof(tail));
			return err_set(e, "the etcd member (pid %d) exited: see %s: %s",
				       (int)m->pid, m->log, tail);
		}
		now = member_now();
		if (now - start >= timeout_s)
			return 1;
		if (now >= next_log) {
			log_info("waiting for the etcd member at %s (%.0f s of %d; its log: %s)",
				 c->etcd_member.client_url, now - start, timeout_s, m->log);
			next_log += 5;
		}
		usleep(200 * 1000);
	}
}
