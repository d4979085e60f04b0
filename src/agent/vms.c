/* vms.c - the VM supervisor: ferry-vm processes started detached, watched by pidfd, adopted.
 *
 * Starting a VM (vms_start), in this order:
 *   1. the privileged part, done here: a TAP "fv" + hash of the name is created on
 *      /dev/net/tun (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, as ferry-vm's tap:NAME would attach it,
 *      not persistent: it goes when the last descriptor does, i.e. with the VM), joined to
 *      the bridge (SIOCBRADDIF) and brought up; the disk is opened O_RDWR. The guest's MAC
 *      goes to ferry-vm (mac=); the TAP keeps its own random one.
 *   2. fork; the child takes the TAP as descriptor 3 and the disk as 4 (only these lose
 *      close-on-exec; every other descriptor is marked close-on-exec), stdin /dev/null,
 *      stdout (the console) appended to log_dir/NAME/console.log, stderr to vm.log; it
 *      starts a session of its own (setsid), takes the VMs' CPU priority (setpriority to
 *      cfg.nice), joins cfg.cgroup if set, and execs ferry-vm (through `systemd-run
 *      --scope --unit ferry-vm-NAME` when the agent runs under systemd, so the VM is in a
 *      scope of its own, outside the agent's unit). An exec failure comes back through a
 *      close-on-exec pipe.
 *   3. the parent keeps a pidfd on the child, writes the record (run_dir/vms/NAME.json,
 *      atomically: pid, the start time of /proc/PID/stat, the spec, the paths) and waits
 *      until the control socket answers `status`; if the VM dies first, the error carries
 *      the last lines vm.log got since the start.
 *
 * Exits. A VM this agent started is its child: when its pidfd becomes readable, waitid
 * (P_PIDFD) reaps it and gives its status, so no zombie stays. A VM adopted from an earlier
 * agent is not a child (it was reparented to init or the subreaper, which reaps it): the
 * pidfd still becomes readable when it exits, but there is no status to read (-1). If the
 * agent exits, its VMs are reparented the same way and keep running.
 *
 * Adoption (vms_open): a record is adopted if its pid is alive with the recorded start time
 * (checked after pidfd_open, so the pidfd holds the process that was checked) and its
 * control socket answers. A record whose process is gone or whose pid now names another
 * process is stale and removed (logged); a corrupt one is renamed NAME.json.corrupt. A live
 * VM whose socket does not answer is not adopted, and its record is kept.
 *
 * Stop is a hard power-off: SIGKILL through the pidfd. The guest is not asked anything;
 * the disk's lock and the TAP go with the process.
 *
 * Not thread-safe: one thread owns a struct vms.
 */
#include "agent/vms.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>

#include "agent/vmconn.h"
#include "common/json.h"
#include "common/log.h"
#include "common/names.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define VMS_START_TIMEOUT_MS 15000 /* until the control socket answers */
#define VMS_ADOPT_TIMEOUT_MS 2000  /* a control socket's answer when adopting */
#define VMS_STATUS_TIMEOUT_MS 200  /* vms_get's refresh of the run state */
#define VMS_STATUS_CACHE_MS 1000
#define VMS_STOP_TIMEOUT_MS 5000
#define VMS_LOG_TAIL 5 /* lines of vm.log in a start error */
#define VMS_CHILD_TAP 3
#define VMS_CHILD_DISK 4
#define VMS_CHILD_TOKEN 5
#define VMS_DIR_MAX 1024 /* run_dir, log_dir, cgroup: longer ones are refused */

struct vm_entry {
	struct vms_record rec;
	int pidfd;
	bool child;		      /* ours: reaped with waitid */
	int64_t status_ms;	      /* when run was last read from the control socket */
	char path[VMS_DIR_MAX + 300]; /* the record */
};

struct vms {
	char run_dir[VMS_DIR_MAX], log_dir[VMS_DIR_MAX], vm_binary[4096], bridge[IFNAMSIZ];
	char cgroup[VMS_DIR_MAX];
	char dir[VMS_DIR_MAX + 8]; /* run_dir/vms */
	int nice;
	struct vm_entry *vm;
	size_t n, cap;
};

const char *vm_run_name(enum vm_run r)
{
	switch (r) {
	case VM_STARTING:
		return "starting";
	case VM_RUNNING:
		return "running";
	case VM_PAUSED:
		return "paused";
	case VM_EXITED:
		return "exited";
	}
	return "unknown";
}

static int64_t vms_now_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int vms_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int vms_pidfd_kill(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* Make a directory and its parents (mode 0755); an existing one is fine. */
static int vms_mkdirs(const char *path, struct err *e)
{
	char p[4200];

	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
		return err_set(e, "path too long: %s", path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			return err_errno(e, "cannot create %s", p);
		*s = '/';
	}
	if (mkdir(p, 0755) != 0 && errno != EEXIST)
		return err_errno(e, "cannot create %s", p);
	return 0;
}

/* ---- the record ----------------------------------------------------------------------------- */

void vms_tap_name(const char *vm, char out[16])
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */

	for (const unsigned char *p = (const unsigned char *)vm; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	snprintf(out, 16, "fv%012" PRIx64, (uint64_t)(h & 0xffffffffffffull));
}

int vms_proc_start_time(pid_t pid, uint64_t *out, struct err *e)
{
	char path[64], buf[1024], *p;
	unsigned long long v;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_errno(e, "process %d", (int)pid);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return err_set(e, "process %d: cannot read %s", (int)pid, path);
	buf[n] = '\0';
	/* "pid (comm) state ..." : comm may hold spaces and parentheses; the last ')' ends it. */
	p = strrchr(buf, ')');
	if (!p)
		return err_set(e, "process %d: %s unreadable", (int)pid, path);
	p++;
	/* Fields 3 (state) to 22 (starttime): skip 19 fields. */
	for (int f = 3; f < 22; f++) {
		while (*p == ' ')
			p++;
		while (*p && *p != ' ')
			p++;
		if (!*p)
			return err_set(e, "process %d: %s too short", (int)pid, path);
	}
	if (sscanf(p, " %llu", &v) != 1)
		return err_set(e, "process %d: no start time in %s", (int)pid, path);
	*out = v;
	return 0;
}

bool vms_record_alive(const struct vms_record *r)
{
	struct err e;
	uint64_t t;

	return r->info.pid > 0 && vms_proc_start_time(r->info.pid, &t, &e) == 0 &&
	       t == r->start_time;
}

static json_t *vms_spec_json(const struct vm_spec *s)
{
	json_t *o = json_object();

	json_set_str(o, "name", s->name);
	json_set_u64(o, "memory", s->memory);
	json_set_int(o, "vcpus", s->vcpus);
	json_set_str(o, "isa", s->isa);
	json_set_str(o, "disk", s->disk);
	json_set_str(o, "kernel", s->kernel);
	json_set_str(o, "initrd", s->initrd);
	json_set_str(o, "append", s->append);
	json_set_str(o, "mac", s->mac);
	return o;
}

int vms_record_write(const char *path, const struct vms_record *r, struct err *e)
{
	json_t *o = json_object();
	char tmp[4300], *text;
	size_t len;
	int fd, rc = 0;

	json_set_int(o, "version", 1);
	json_set_int(o, "pid", r->info.pid);
	json_set_u64(o, "start_time", r->start_time);
	json_set_int(o, "started_ms", r->info.started_ms);
	json_set_str(o, "tap", r->tap);
	json_set_str(o, "control", r->info.control);
	json_set_str(o, "console", r->console);
	json_set_str(o, "log", r->log);
	json_set_str(o, "lease", r->lease);
	json_set(o, "spec", vms_spec_json(&r->info.spec));
	text = json_encode(o, &len);
	json_free(o);
	if (!text)
		return err_set(e, "out of memory writing %s", path);
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		free(text);
		return err_set(e, "path too long: %s", path);
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(text);
		return err_errno(e, "cannot write %s", tmp);
	}
	text[len] = '\n'; /* json_encode's NUL: the file ends with a newline instead */
	if (write(fd, text, len + 1) != (ssize_t)(len + 1) || fsync(fd) != 0)
		rc = err_errno(e, "writing %s", tmp);
	free(text);
	if (close(fd) != 0 && rc == 0)
		rc = err_errno(e, "writing %s", tmp);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = err_errno(e, "renaming %s to %s", tmp, path);
	if (rc < 0)
		unlink(tmp);
	return rc;
}

/* A string member into a buffer: required, and must fit. */
static int vms_get_str(const json_t *o, const char *key, char *out, size_t size, struct err *e)
{
	const char *s;
	int rc = json_get_str(o, key, &s, e);

	if (rc < 0)
		return -1;
	if (rc == 0)
		return err_set(e, "'%s' missing", key);
	if (strlen(s) >= size)
		return err_set(e, "'%s' longer than %zu bytes", key, size - 1);
	snprintf(out, size, "%s", s);
	return 0;
}

static int vms_check_keys(const json_t *o, const char *const *keys, struct err *e)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return err_set(e, "not an object");
	json_object_foreach((json_t *)o, k, v)
	{
		size_t i = 0;

		(void)v;
		while (keys[i] && strcmp(keys[i], k) != 0)
			i++;
		if (!keys[i])
			return err_set(e, "unknown member '%s'", k);
	}
	return 0;
}

static int vms_spec_from_json(const json_t *o, struct vm_spec *s, struct err *e)
{
	static const char *const keys[] = { "name",   "memory", "vcpus",  "isa", "disk",
					    "kernel", "initrd", "append", "mac", NULL };
	char norm[NAME_MAX_LEN + 1];
	int64_t vcpus;

	memset(s, 0, sizeof(*s));
	if (vms_check_keys(o, keys, e) < 0 ||
	    vms_get_str(o, "name", s->name, sizeof(s->name), e) < 0 ||
	    json_get_u64(o, "memory", &s->memory, e) != 1 ||
	    json_get_int(o, "vcpus", &vcpus, e) != 1 ||
	    vms_get_str(o, "isa", s->isa, sizeof(s->isa), e) < 0 ||
	    vms_get_str(o, "disk", s->disk, sizeof(s->disk), e) < 0 ||
	    vms_get_str(o, "kernel", s->kernel, sizeof(s->kernel), e) < 0 ||
	    vms_get_str(o, "initrd", s->initrd, sizeof(s->initrd), e) < 0 ||
	    vms_get_str(o, "append", s->append, sizeof(s->append), e) < 0 ||
	    vms_get_str(o, "mac", s->mac, sizeof(s->mac), e) < 0) {
		if (!e->msg[0])
			err_set(e, "'memory' or 'vcpus' missing");
		return err_prefix(e, "spec");
	}
	if (vcpus < 0 || vcpus > 1024)
		return err_set(e, "spec: 'vcpus' out of range");
	s->vcpus = (unsigned)vcpus;
	if (name_normalize(s->name, norm, "VM", e) < 0 || strcmp(norm, s->name) != 0)
		return err_set(e, "spec: 'name' is not a VM name");
	return 0;
}

int vms_record_read(const char *path, struct vms_record *r, struct err *e)
{
	static const char *const keys[] = { "version", "pid",	  "start_time", "started_ms",
					    "tap",     "control", "console",	"log",
					    "lease",   "spec",	  NULL };
	char buf[32768];
	json_t *o;
	ssize_t n;
	int64_t version, pid;
	int fd;

	memset(r, 0, sizeof(*r));
	e->msg[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_errno(e, "cannot open %s", path);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return err_errno(e, "cannot read %s", path);
	if (n == (ssize_t)sizeof(buf))
		return err_set(e, "record %s: too large", path);
	o = json_parse(buf, (size_t)n, e);
	if (!o)
		return err_prefix(e, "record %s", path);
	if (vms_check_keys(o, keys, e) < 0 || json_get_int(o, "version", &version, e) != 1 ||
	    json_get_int(o, "pid", &pid, e) != 1 ||
	    json_get_u64(o, "start_time", &r->start_time, e) != 1 ||
	    json_get_int(o, "started_ms", &r->info.started_ms, e) != 1 ||
	    vms_get_str(o, "tap", r->tap, sizeof(r->tap), e) < 0 ||
	    vms_get_str(o, "control", r->info.control, sizeof(r->info.control), e) < 0 ||
	    vms_get_str(o, "console", r->console, sizeof(r->console), e) < 0 ||
	    vms_get_str(o, "log", r->log, sizeof(r->log), e) < 0 ||
	    vms_get_str(o, "lease", r->lease, sizeof(r->lease), e) < 0 ||
	    vms_spec_from_json(json_get(o, "spec"), &r->info.spec, e) < 0) {
		json_free(o);
		if (!e->msg[0])
			err_set(e, "a member is missing");
		return err_prefix(e, "record %s", path);
	}
	json_free(o);
	if (version != 1)
		return err_set(e, "record %s: version %" PRId64 " (this agent reads 1)", path,
			       version);
	if (pid <= 1 || pid > INT_MAX)
		return err_set(e, "record %s: pid %" PRId64 " is not a VM's", path, pid);
	r->info.pid = (pid_t)pid;
	r->info.exit_status = -1;
	r->info.run = VM_STARTING;
	return 0;
}

/* ---- the control socket (vmconn.h) -----------------------------------------------------------
 *
 * docs/control.md: a greeting line, then one JSON reply per request line; events may come
 * between them and are skipped. */

/* Ask `status`; state gets "running", "paused" or "shutdown". */
static int vms_ctl_status(const char *path, int timeout_ms, char *state, size_t ssize,
			  struct err *e)
{
	struct vmconn *c = malloc(sizeof(*c));
	json_t *ret = NULL;
	const char *st = NULL;
	int rc = -1;

	if (!c)
		return err_set(e, "out of memory");
	if (vmconn_open(c, path, timeout_ms, e) < 0)
		goto out;
	if (vmconn_call(c, "status", NULL, timeout_ms, &ret, NULL, NULL, e) < 0)
		goto out;
	if (json_get_str(ret, "status", &st, e) != 1) {
		err_set(e, "control: status answered without a status");
		goto out;
	}
	snprintf(state, ssize, "%s", st);
	rc = 0;
out:
	json_free(ret);
	vmconn_close(c);
	free(c);
	return rc;
}

static enum vm_run vms_run_of(const char *state)
{
	if (strcmp(state, "paused") == 0)
		return VM_PAUSED;
	if (strcmp(state, "running") == 0)
		return VM_RUNNING;
	return VM_STARTING; /* "shutdown": on its way out; the pidfd will say */
}

/* ---- the set -------------------------------------------------------------------------------- */

static struct vm_entry *vms_find(const struct vms *v, const char *name)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->vm[i].rec.info.spec.name, name) == 0)
			return &v->vm[i];
	return NULL;
}

/* Insert in name order; returns the new entry (or NULL, out of memory). */
static struct vm_entry *vms_insert(struct vms *v, const struct vm_entry *x)
{
	size_t i = 0;

	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 8;
		struct vm_entry *nv = realloc(v->vm, cap * sizeof(*nv));

		if (!nv)
			return NULL;
		v->vm = nv;
		v->cap = cap;
	}
	while (i < v->n && strcmp(v->vm[i].rec.info.spec.name, x->rec.info.spec.name) < 0)
		i++;
	memmove(&v->vm[i + 1], &v->vm[i], (v->n - i) * sizeof(*v->vm));
	v->vm[i] = *x;
	v->n++;
	return &v->vm[i];
}

static void vms_remove_entry(struct vms *v, struct vm_entry *x)
{
	size_t i = (size_t)(x - v->vm);

	if (x->pidfd >= 0)
		close(x->pidfd);
	memmove(&v->vm[i], &v->vm[i + 1], (v->n - i - 1) * sizeof(*v->vm));
	v->n--;
}

/* The VM is gone: collect its status (a child's), close its pidfd. */
static void vms_exited(struct vm_entry *x)
{
	siginfo_t si;

	x->rec.info.exit_status = -1;
	if (x->child) {
		memset(&si, 0, sizeof(si));
		if (waitid((idtype_t)P_PIDFD, (id_t)x->pidfd, &si, WEXITED | WNOHANG) == 0 &&
		    si.si_pid) {
			if (si.si_code == CLD_EXITED)
				x->rec.info.exit_status = si.si_status;
			else
				x->rec.info.exit_status = 128 + si.si_status;
		}
	}
	close(x->pidfd);
	x->pidfd = -1;
	x->rec.info.run = VM_EXITED;
	unlink(x->rec.info.control); /* a killed ferry-vm could not remove it */
}

/* Try to adopt one record; 0 adopted, -1 not (e says why; *stale: remove the record). */
static int vms_adopt(struct vms *v, const char *path, bool *stale, struct err *e)
{
	struct vm_entry x;
	char state[32], want[VMS_DIR_MAX + 300];

	*stale = false;
	memset(&x, 0, sizeof(x));
	x.pidfd = -1;
	if (vms_record_read(path, &x.rec, e) < 0)
		return -1;
	snprintf(want, sizeof(want), "%s/%s.json", v->dir, x.rec.info.spec.name);
	if (strcmp(want, path) != 0)
		return err_set(e, "record %s names VM '%s'", path, x.rec.info.spec.name);
	if (vms_find(v, x.rec.info.spec.name))
		return err_set(e, "VM '%s' twice", x.rec.info.spec.name);
	x.pidfd = vms_pidfd_open(x.rec.info.pid);
	/* The pidfd first, then the start time: the process checked is the one held. */
	if (x.pidfd < 0 || !vms_record_alive(&x.rec)) {
		*stale = true;
		if (x.pidfd >= 0)
			close(x.pidfd);
		return err_set(e, "pid %d is gone or is another process now", (int)x.rec.info.pid);
	}
	if (vms_ctl_status(x.rec.info.control, VMS_ADOPT_TIMEOUT_MS, state, sizeof(state), e) < 0) {
		close(x.pidfd);
		return err_prefix(e, "pid %d runs, but", (int)x.rec.info.pid);
	}
	x.rec.info.run = vms_run_of(state);
	x.rec.info.adopted = true;
	x.status_ms = vms_now_ms(CLOCK_MONOTONIC);
	snprintf(x.path, sizeof(x.path), "%s", path);
	if (!vms_insert(v, &x)) {
		close(x.pidfd);
		return err_set(e, "out of memory");
	}
	log_info("adopted VM %s (pid %d)", x.rec.info.spec.name, (int)x.rec.info.pid);
	return 0;
}

int vms_open(struct vms **out, const struct vms_cfg *cfg, struct err *e)
{
	struct vms *v = calloc(1, sizeof(*v));
	struct dirent *d;
	DIR *dir;

	if (!v)
		return err_set(e, "out of memory");
	if (!cfg->run_dir || !cfg->log_dir || !cfg->vm_binary) {
		free(v);
		return err_set(e, "vms: run_dir, log_dir and vm_binary are required");
	}
	if (strlen(cfg->run_dir) >= VMS_DIR_MAX || strlen(cfg->log_dir) >= VMS_DIR_MAX ||
	    (cfg->cgroup && strlen(cfg->cgroup) >= VMS_DIR_MAX) ||
	    strlen(cfg->vm_binary) >= sizeof(v->vm_binary)) {
		free(v);
		return err_set(e, "vms: a directory's path is longer than %d bytes",
			       VMS_DIR_MAX - 1);
	}
	if (cfg->bridge && strlen(cfg->bridge) >= IFNAMSIZ) {
		free(v);
		return err_set(e, "bridge name '%s' is longer than %d characters", cfg->bridge,
			       IFNAMSIZ - 1);
	}
	snprintf(v->run_dir, sizeof(v->run_dir), "%s", cfg->run_dir);
	snprintf(v->log_dir, sizeof(v->log_dir), "%s", cfg->log_dir);
	snprintf(v->vm_binary, sizeof(v->vm_binary), "%s", cfg->vm_binary);
	snprintf(v->bridge, sizeof(v->bridge), "%s", cfg->bridge ? cfg->bridge : "");
	snprintf(v->cgroup, sizeof(v->cgroup), "%s", cfg->cgroup ? cfg->cgroup : "");
	snprintf(v->dir, sizeof(v->dir), "%s/vms", cfg->run_dir);
	v->nice = cfg->nice;
	if (vms_mkdirs(v->dir, e) < 0 || vms_mkdirs(v->log_dir, e) < 0) {
		free(v);
		return -1;
	}
	dir = opendir(v->dir);
	if (!dir) {
		err_errno(e, "cannot read %s", v->dir);
		free(v);
		return -1;
	}
	while ((d = readdir(dir))) {
		size_t len = strlen(d->d_name);
		char path[VMS_DIR_MAX + 300];
		struct err ae = { { 0 } };
		bool stale;

		if (len < 6 || strcmp(d->d_name + len - 5, ".json") != 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", v->dir, d->d_name) >= (int)sizeof(path))
			continue;
		if (vms_adopt(v, path, &stale, &ae) == 0)
			continue;
		if (stale) {
			log_warn("dropping the stale record %s: %s", path, ae.msg);
			unlink(path);
		} else if (strstr(ae.msg, "runs, but")) {
			log_warn("not adopting %s (record kept): %s", path, ae.msg);
		} else {
			char bad[4600];

			snprintf(bad, sizeof(bad), "%s.corrupt", path);
			log_warn("refusing %s (renamed to .corrupt): %s", path, ae.msg);
			rename(path, bad);
		}
	}
	closedir(dir);
	*out = v;
	return 0;
}

void vms_close(struct vms *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++)
		if (v->vm[i].pidfd >= 0)
			close(v->vm[i].pidfd);
	free(v->vm);
	free(v);
}

/* ---- starting ------------------------------------------------------------------------------- */

/* Create the VM's TAP (attached, as ferry-vm's tapfd: wants it), on the bridge, up. */
static int vms_tap_create(const struct vms *v, const char *name, int *out, struct err *e)
{
	struct ifreq ifr;
	int fd, s = -1;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return err_errno(e, "cannot open /dev/net/tun");
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
		err_errno(e, "cannot create TAP %s", name);
		goto fail;
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		err_errno(e, "socket");
		goto fail;
	}
	if (v->bridge[0]) {
		struct ifreq br;

		memset(&br, 0, sizeof(br));
		snprintf(br.ifr_name, sizeof(br.ifr_name), "%s", v->bridge);
		br.ifr_ifindex = (int)if_nametoindex(name);
		if (!br.ifr_ifindex || ioctl(s, SIOCBRADDIF, &br) != 0) {
			err_errno(e, "cannot add TAP %s to bridge %s", name, v->bridge);
			goto fail;
		}
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) {
		err_errno(e, "TAP %s: flags", name);
		goto fail;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) {
		err_errno(e, "cannot bring TAP %s up", name);
		goto fail;
	}
	close(s);
	*out = fd;
	return 0;
fail:
	if (s >= 0)
		close(s);
	close(fd); /* not persistent: the device goes with it */
	return -1;
}

/* Is systemd-run there and does the agent run under systemd? */
static const char *vms_systemd_run(void)
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

/* The last lines of a log written since offset `from`, for an error message. */
static void vms_log_tail(const char *path, off_t from, char *out, size_t size)
{
	char buf[8192];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	off_t end;
	ssize_t n;
	int lines = 0;
	char *p;

	out[0] = '\0';
	if (fd < 0)
		return;
	end = lseek(fd, 0, SEEK_END);
	if (end - from > (off_t)sizeof(buf) - 1)
		from = end - (off_t)sizeof(buf) + 1;
	n = end > from ? pread(fd, buf, (size_t)(end - from), from) : 0;
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	for (p = buf + n; p > buf; p--)
		if (p[-1] == '\n' && ++lines == VMS_LOG_TAIL)
			break;
	for (char *q = p; *q; q++)
		if (*q == '\n')
			*q = '|';
	snprintf(out, size, "%.*s", (int)size - 1, p);
}

struct vms_launch {
	const char *const *argv;
	int tap, disk, token, console, log, nullfd;
	const char *cgroup_procs; /* NULL: none */
	int nice;
	int errpipe;
};

/* In the child, between fork and exec: only system calls. */
static __attribute__((noreturn)) void vms_child(const struct vms_launch *l)
{
	int err, tap = -1, disk = -1, token = -1;

	if (setsid() < 0)
		goto fail;
	/* Out of the way of 3 and 4 first, then into place (dup2 clears close-on-exec). */
	if (l->tap >= 0 && (tap = fcntl(l->tap, F_DUPFD_CLOEXEC, 10)) < 0)
		goto fail;
	if (l->disk >= 0 && (disk = fcntl(l->disk, F_DUPFD_CLOEXEC, 10)) < 0)
		goto fail;
	if (l->token >= 0 && (token = fcntl(l->token, F_DUPFD_CLOEXEC, 10)) < 0)
		goto fail;
	if (dup2(l->nullfd, 0) < 0 || dup2(l->console, 1) < 0 || dup2(l->log, 2) < 0)
		goto fail;
	if (tap >= 0 && dup2(tap, VMS_CHILD_TAP) < 0)
		goto fail;
	if (disk >= 0 && dup2(disk, VMS_CHILD_DISK) < 0)
		goto fail;
	if (token >= 0 && dup2(token, VMS_CHILD_TOKEN) < 0)
		goto fail;
	/* Everything else the agent has open stays behind at exec. */
	syscall(SYS_close_range, VMS_CHILD_TOKEN + 1, ~0U, CLOSE_RANGE_CLOEXEC);
	if (setpriority(PRIO_PROCESS, 0, l->nice) != 0)
		goto fail;
	if (l->cgroup_procs) {
		int fd = open(l->cgroup_procs, O_WRONLY | O_CLOEXEC);

		if (fd < 0 || write(fd, "0\n", 2) != 2)
			goto fail;
		close(fd);
	}
	/* What the agent blocked or ignored is not the VM's business: signals as at boot. */
	{
		static const int sigs[] = { SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGQUIT };
		sigset_t none;

		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
	}
	execv(l->argv[0], (char *const *)l->argv);
fail:
	err = errno;
	if (write(l->errpipe, &err, sizeof(err)) < 0) {
		/* nothing more to say */
	}
	_exit(127);
}

int vms_start(struct vms *v, const struct vm_spec *s, const struct vms_start_opts *o, struct err *e)
{
	struct vm_entry x, *old = vms_find(v, s->name);
	char norm[NAME_MAX_LEN + 1], mem[32], cpus[16], net[64], disk[16],
	    control[VMS_DIR_MAX + 100];
	char dir[VMS_DIR_MAX + 100], procs[VMS_DIR_MAX + 20], unit[128], tail[400], state[32],
	    ctlspec[4300], owner[96], tokfd[16], journal[VMS_DIR_MAX + 120];
	const char *argv[48];
	static const struct vms_start_opts boot;
	const char *sdrun = vms_systemd_run();
	struct vms_launch l = {
		.tap = -1, .disk = -1, .token = -1, .console = -1, .log = -1, .nullfd = -1
	};
	int pipefd[2] = { -1, -1 }, child_err = 0, argc = 0;
	off_t log_from = 0;
	pid_t pid;
	ssize_t r;

	memset(&x, 0, sizeof(x));
	x.pidfd = -1;
	if (!o)
		o = &boot;
	if (o->owner_agent && !s->disk[0])
		return err_set(e,
			       "VM '%s': an ownership token needs a disk (its lease is beside it)",
			       s->name);
	if (o->incoming && (!o->token || !o->token[0]))
		return err_set(e, "VM '%s': an incoming migration needs its token", s->name);
	if (name_normalize(s->name, norm, "VM", e) < 0)
		return -1;
	if (strcmp(norm, s->name) != 0)
		return err_set(e, "VM name '%s' must be in lower case", s->name);
	if (old && old->rec.info.run != VM_EXITED)
		return err_set(e, "VM '%s' is already running here (pid %d)", s->name,
			       (int)old->rec.info.pid);
	if (!s->kernel[0])
		return err_set(e, "VM '%s': no kernel", s->name);
	if (access(s->kernel, R_OK) != 0)
		return err_errno(e, "VM '%s': kernel %s", s->name, s->kernel);
	if (s->initrd[0] && access(s->initrd, R_OK) != 0)
		return err_errno(e, "VM '%s': initrd %s", s->name, s->initrd);
	if (s->memory < (1u << 20))
		return err_set(e, "VM '%s': memory %" PRIu64 " bytes is less than 1 MiB", s->name,
			       s->memory);
	if (old)
		vms_remove_entry(v, old); /* an exited one of that name: replaced */

	x.rec.info.spec = *s;
	x.rec.info.exit_status = -1;
	x.rec.info.run = VM_STARTING;
	x.child = true;
	snprintf(x.path, sizeof(x.path), "%s/%s.json", v->dir, s->name);
	snprintf(control, sizeof(control), "%s/%s.sock", v->dir, s->name);
	snprintf(x.rec.info.control, sizeof(x.rec.info.control), "%s", control);
	snprintf(dir, sizeof(dir), "%s/%s", v->log_dir, s->name);
	snprintf(x.rec.console, sizeof(x.rec.console), "%s/console.log", dir);
	snprintf(x.rec.log, sizeof(x.rec.log), "%s/vm.log", dir);
	if (s->disk[0])
		snprintf(x.rec.lease, sizeof(x.rec.lease), "%.4089s.lease", s->disk);
	if (strlen(control) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return err_set(e, "VM '%s': control socket path %s is too long", s->name, control);
	if (vms_mkdirs(v->dir, e) < 0 || vms_mkdirs(dir, e) < 0)
		return -1;
	if (v->cgroup[0]) {
		if (vms_mkdirs(v->cgroup, e) < 0)
			return err_prefix(e, "cgroup");
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", v->cgroup);
		l.cgroup_procs = sdrun ? NULL : procs;
	}

	/* What needs privilege: the disk, the TAP. */
	if (s->disk[0]) {
		l.disk = open(s->disk, O_RDWR | O_CLOEXEC);
		if (l.disk < 0) {
			err_errno(e, "VM '%s': cannot open disk %s", s->name, s->disk);
			goto fail;
		}
	}
	if (s->mac[0]) {
		vms_tap_name(s->name, x.rec.tap);
		if (vms_tap_create(v, x.rec.tap, &l.tap, e) < 0) {
			err_prefix(e, "VM '%s'", s->name);
			goto fail;
		}
	}
	if (o->incoming) {
		/* The token on a pipe: never on argv, where every local user can read it. */
		int tp[2];
		size_t tl = strlen(o->token);

		if (pipe2(tp, O_CLOEXEC) != 0) {
			err_errno(e, "pipe");
			goto fail;
		}
		if (write(tp[1], o->token, tl) != (ssize_t)tl || write(tp[1], "\n", 1) != 1) {
			err_errno(e, "VM '%s': handing over its token", s->name);
			close(tp[0]), close(tp[1]);
			goto fail;
		}
		close(tp[1]);
		l.token = tp[0];
	}
	l.console = open(x.rec.console, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	l.log = open(x.rec.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	l.nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (l.console < 0 || l.log < 0 || l.nullfd < 0) {
		err_errno(e, "VM '%s': cannot open its logs in %s", s->name, dir);
		goto fail;
	}
	log_from = lseek(l.log, 0, SEEK_END);
	dprintf(l.log, "ferryd: starting VM %s\n", s->name);
	log_from = lseek(l.log, 0, SEEK_END);

	/* The command line. */
	if (sdrun) {
		snprintf(unit, sizeof(unit), "ferry-vm-%s", s->name);
		argv[argc++] = sdrun;
		argv[argc++] = "--scope";
		argv[argc++] = "--unit";
		argv[argc++] = unit;
		argv[argc++] = "--quiet";
		argv[argc++] = "--";
	}
	snprintf(mem, sizeof(mem), "%" PRIu64 "K", s->memory >> 10);
	argv[argc++] = v->vm_binary;
	argv[argc++] = "--kernel";
	argv[argc++] = s->kernel;
	if (s->initrd[0]) {
		argv[argc++] = "--initrd";
		argv[argc++] = s->initrd;
	}
	argv[argc++] = "--memory";
	argv[argc++] = mem;
	/* As many harts as the spec has vCPUs (an incoming or restored VM has the same). */
	snprintf(cpus, sizeof(cpus), "%u", s->vcpus ? s->vcpus : 1);
	argv[argc++] = "--cpus";
	argv[argc++] = cpus;
	/* The ISA the spec names (ferry-vm's default, rv64imafdc, if none): a fresh boot gets it,
	 * an incoming or restored VM keeps its own, which must be within it. */
	if (s->isa[0]) {
		argv[argc++] = "--isa";
		argv[argc++] = s->isa;
	}
	if (s->append[0]) {
		argv[argc++] = "--append";
		argv[argc++] = s->append;
	}
	argv[argc++] = "--console";
	argv[argc++] = "stdio";
	snprintf(ctlspec, sizeof(ctlspec), "unix:%s", control);
	argv[argc++] = "--control";
	argv[argc++] = ctlspec;
	if (l.tap >= 0) {
		snprintf(net, sizeof(net), "tapfd:%d,mac=%s", VMS_CHILD_TAP, s->mac);
		argv[argc++] = "--net";
		argv[argc++] = net;
	}
	if (l.disk >= 0) {
		snprintf(disk, sizeof(disk), "fd:%d", VMS_CHILD_DISK);
		argv[argc++] = "--disk";
		argv[argc++] = disk;
		argv[argc++] = "--lease";
		argv[argc++] = x.rec.lease;
	}
	if (o->owner_agent) {
		if (o->owner_from)
			snprintf(owner, sizeof(owner), "agent:%" PRIu64 ",from=%" PRIu64,
				 o->owner_token, o->owner_from);
		else
			snprintf(owner, sizeof(owner), "agent:%" PRIu64, o->owner_token);
		argv[argc++] = "--owner";
		argv[argc++] = owner;
	}
	if (o->incoming) {
		snprintf(tokfd, sizeof(tokfd), "%d", VMS_CHILD_TOKEN);
		argv[argc++] = "--incoming";
		argv[argc++] = o->incoming;
		argv[argc++] = "--token-fd";
		argv[argc++] = tokfd;
	}
	if (o->restore) {
		argv[argc++] = "--restore";
		argv[argc++] = o->restore;
	}
	/* Its run/pause transitions, appended by every process that runs it here: with the other
	 * hosts' journals they show whether two copies ever ran at once. */
	snprintf(journal, sizeof(journal), "%s/journal", dir);
	argv[argc++] = "--journal";
	argv[argc++] = journal;
	argv[argc++] = "--name";
	argv[argc++] = s->name;
	argv[argc++] = "--log";
	argv[argc++] = "info";
	argv[argc] = NULL;
	l.argv = argv;
	l.nice = v->nice;

	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		err_errno(e, "pipe");
		goto fail;
	}
	l.errpipe = pipefd[1];
	pid = fork();
	if (pid < 0) {
		err_errno(e, "fork");
		goto fail;
	}
	if (pid == 0)
		vms_child(&l);
	close(pipefd[1]);
	pipefd[1] = -1;
	x.pidfd = vms_pidfd_open(pid);
	int pidfd_errno = errno;

	do
		r = read(pipefd[0], &child_err, sizeof(child_err));
	while (r < 0 && errno == EINTR);
	close(pipefd[0]);
	pipefd[0] = -1;
	if (r > 0 || x.pidfd < 0) {
		int saved = r > 0 ? child_err : pidfd_errno;

		if (x.pidfd < 0)
			kill(pid, SIGKILL);
		else
			close(x.pidfd);
		waitpid(pid, NULL, 0);
		errno = saved;
		err_errno(e, "VM '%s': cannot start %s", s->name, argv[0]);
		goto fail;
	}
	/* Ours to hold from here: the descriptors are the child's now. */
	if (l.tap >= 0)
		close(l.tap);
	if (l.disk >= 0)
		close(l.disk);
	if (l.token >= 0)
		close(l.token);
	close(l.console);
	close(l.log);
	close(l.nullfd);
	l.tap = l.disk = l.token = l.console = l.log = l.nullfd = -1;

	x.rec.info.pid = pid;
	x.rec.info.started_ms = vms_now_ms(CLOCK_REALTIME);
	if (vms_proc_start_time(pid, &x.rec.start_time, e) < 0 ||
	    vms_record_write(x.path, &x.rec, e) < 0) {
		vms_pidfd_kill(x.pidfd, SIGKILL);
		waitid((idtype_t)P_PIDFD, (id_t)x.pidfd, NULL, WEXITED);
		close(x.pidfd);
		return err_prefix(e, "VM '%s'", s->name);
	}

	/* Until its control socket answers, or it dies. */
	int64_t deadline = vms_now_ms(CLOCK_MONOTONIC) + VMS_START_TIMEOUT_MS;
	struct err ce = { { 0 } };

	for (;;) {
		struct pollfd p = { .fd = x.pidfd, .events = POLLIN };

		if (poll(&p, 1, 0) > 0) {
			vms_exited(&x);
			unlink(x.path);
			usleep(50000); /* its last words may still be on their way to the file */
			vms_log_tail(x.rec.log, log_from, tail, sizeof(tail));
			return err_set(e, "VM '%s' exited at start (status %d): %s", s->name,
				       x.rec.info.exit_status,
				       tail[0] ? tail : "(vm.log is empty)");
		}
		if (vms_ctl_status(control, 1000, state, sizeof(state), &ce) == 0)
			break;
		if (vms_now_ms(CLOCK_MONOTONIC) > deadline) {
			vms_pidfd_kill(x.pidfd, SIGKILL);
			waitid((idtype_t)P_PIDFD, (id_t)x.pidfd, NULL, WEXITED);
			close(x.pidfd);
			unlink(x.path);
			unlink(control);
			vms_log_tail(x.rec.log, log_from, tail, sizeof(tail));
			return err_set(
			    e, "VM '%s': its control socket did not answer (%s); killed: %s",
			    s->name, ce.msg, tail);
		}
		usleep(20000);
	}
	x.rec.info.run = vms_run_of(state);
	x.status_ms = vms_now_ms(CLOCK_MONOTONIC);
	if (!vms_insert(v, &x)) {
		close(x.pidfd);
		return err_set(e, "out of memory (VM '%s' runs as pid %d)", s->name, (int)pid);
	}
	log_info("started VM %s (pid %d)", s->name, (int)pid);
	return 0;
fail:
	for (int i = 0; i < 2; i++)
		if (pipefd[i] >= 0)
			close(pipefd[i]);
	if (l.tap >= 0)
		close(l.tap);
	if (l.disk >= 0)
		close(l.disk);
	if (l.token >= 0)
		close(l.token);
	if (l.console >= 0)
		close(l.console);
	if (l.log >= 0)
		close(l.log);
	if (l.nullfd >= 0)
		close(l.nullfd);
	return -1;
}

/* ---- stopping, state, the loop -------------------------------------------------------------- */

int vms_stop(struct vms *v, const char *name, struct err *e)
{
	struct vm_entry *x = vms_find(v, name);
	struct pollfd p;

	if (!x)
		return err_set(e, "no VM '%s' here", name);
	if (x->rec.info.run != VM_EXITED) {
		if (vms_pidfd_kill(x->pidfd, SIGKILL) != 0 && errno != ESRCH)
			return err_errno(e, "VM '%s': cannot kill pid %d", name,
					 (int)x->rec.info.pid);
		p = (struct pollfd){ .fd = x->pidfd, .events = POLLIN };
		if (poll(&p, 1, VMS_STOP_TIMEOUT_MS) <= 0)
			return err_set(e, "VM '%s': pid %d did not exit %d ms after SIGKILL", name,
				       (int)x->rec.info.pid, VMS_STOP_TIMEOUT_MS);
		vms_exited(x);
	}
	unlink(x->path);
	log_info("stopped VM %s (hard power-off)", name);
	vms_remove_entry(v, x);
	return 0;
}

static void vms_refresh(struct vm_entry *x, int timeout_ms)
{
	char state[32];
	struct err e;
	int64_t now = vms_now_ms(CLOCK_MONOTONIC);

	if (x->rec.info.run == VM_EXITED || now - x->status_ms < VMS_STATUS_CACHE_MS)
		return;
	x->status_ms = now; /* also on failure: asked at most once a second */
	if (vms_ctl_status(x->rec.info.control, timeout_ms, state, sizeof(state), &e) == 0)
		x->rec.info.run = vms_run_of(state);
	else
		log_debug("VM %s: %s", x->rec.info.spec.name, e.msg);
}

int vms_get(struct vms *v, const char *name, struct vm_info *out)
{
	struct vm_entry *x = vms_find(v, name);

	if (!x)
		return -1;
	vms_refresh(x, VMS_STATUS_TIMEOUT_MS);
	*out = x->rec.info;
	return 0;
}

size_t vms_list(struct vms *v, struct vm_info *out, size_t max)
{
	for (size_t i = 0; i < v->n && i < max; i++)
		out[i] = v->vm[i].rec.info;
	return v->n;
}

int vms_forget(struct vms *v, const char *name, struct err *e)
{
	struct vm_entry *x = vms_find(v, name);

	if (!x)
		return err_set(e, "no VM '%s' here", name);
	if (x->rec.info.run != VM_EXITED)
		return err_set(e, "VM '%s' is still running (pid %d)", name, (int)x->rec.info.pid);
	unlink(x->path);
	vms_remove_entry(v, x);
	return 0;
}

size_t vms_pollfds(struct vms *v, struct pollfd *fds, size_t max)
{
	size_t k = 0;

	for (size_t i = 0; i < v->n && k < max; i++) {
		if (v->vm[i].pidfd < 0)
			continue;
		fds[k++] = (struct pollfd){ .fd = v->vm[i].pidfd, .events = POLLIN };
	}
	return k;
}

void vms_handle(struct vms *v, const struct pollfd *fds, size_t n, vms_event_fn fn, void *arg)
{
	for (size_t j = 0; j < n; j++) {
		if (!(fds[j].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		for (size_t i = 0; i < v->n; i++) {
			struct vm_entry *x = &v->vm[i];

			if (x->pidfd < 0 || x->pidfd != fds[j].fd)
				continue;
			vms_exited(x);
			log_info("VM %s (pid %d) exited, status %d", x->rec.info.spec.name,
				 (int)x->rec.info.pid, x->rec.info.exit_status);
			if (fn)
				fn(arg, &x->rec.info, "exited");
			break;
		}
	}
}

int vms_console_path(const struct vms *v, const char *name, char *out, size_t size)
{
	if (snprintf(out, size, "%s/%s/console.log", v->log_dir, name) >= (int)size)
		return -1;
	return 0;
}

int vms_log_path(const struct vms *v, const char *name, char *out, size_t size)
{
	if (snprintf(out, size, "%s/%s/vm.log", v->log_dir, name) >= (int)size)
		return -1;
	return 0;
}
