/* vms.h - this host's VMs: ferry-vm processes started detached, watched, adopted again.
 *
 * The agent opens what needs privilege (the TAP on the host's bridge with the VM's MAC, the
 * disk image) and passes the descriptors to ferry-vm, which then needs no privilege of its
 * own. A VM is started in its own session, at a lower CPU priority than the agent and etcd,
 * in a cgroup (or systemd scope) of its own, with its console and its log sent to files, and
 * watched through a pidfd. It does not die with the agent: each start leaves a record in
 * run_dir/vms/NAME.json (pid, the process's start time, the spec), and vms_open adopts every
 * VM whose record names a live process with that start time and whose control socket
 * answers, so a pid reused by another program is never mistaken for a VM.
 *
 * Not thread-safe: one thread (the agent's loop) owns a struct vms.
 */
#ifndef FERRY_VMS_H
#define FERRY_VMS_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

#define VM_NAME_MAX 63

/* What a VM is made of (the cluster's spec of it, as this host runs it). */
struct vm_spec {
	char name[VM_NAME_MAX + 1]; /* lower case: [a-z0-9][a-z0-9-]{0,62} */
	uint64_t memory;	    /* bytes */
	unsigned vcpus;
	char isa[32];	 /* "" = ferry-vm's default */
	char disk[4096]; /* raw image on shared storage ("" = none) */
	char kernel[4096];
	char initrd[4096]; /* "" = none */
	char append[1024]; /* kernel command line */
	char mac[18];	   /* "02:fe:..:..:..:.."; "" = no network */
};

struct vms_cfg {
	const char *run_dir;   /* control sockets and records: run_dir/vms/NAME.{sock,json} */
	const char *log_dir;   /* console and logs: log_dir/NAME/{console.log,vm.log} */
	const char *vm_binary; /* path of ferry-vm */
	const char *bridge;    /* the host's bridge the TAPs join ("" = none) */
	int nice;	       /* CPU priority of VMs (default 10) */
	const char *cgroup;    /* cgroup v2 directory for VMs (NULL/"" = none) */
};

enum vm_run { VM_STARTING, VM_RUNNING, VM_PAUSED, VM_EXITED };
const char *vm_run_name(enum vm_run r);

struct vm_info {
	struct vm_spec spec;
	enum vm_run run;
	pid_t pid;
	int64_t started_ms; /* CLOCK_REALTIME, ms */
	bool adopted;	    /* found running when the agent started */
	int exit_status;    /* VM_EXITED: as waitid/pidfd reported (-1 unknown) */
	char control[4096]; /* path of its control socket */
};

struct vms;

/* Open the set, adopting the VMs recorded under run_dir that still run. */
int vms_open(struct vms **out, const struct vms_cfg *cfg, struct err *e);
/* Forget the set; the VMs keep running. */
void vms_close(struct vms *v);

/* How a VM starts besides its spec (NULL: a fresh boot, with no ownership token: the lease
 * file beside the disk decides alone). */
struct vms_start_opts {
	/* The cluster's ownership token (--owner agent:TOKEN[,from=FROM]): the agent decided in
	 * etcd, and the VM asks it through its control socket for what happens while it runs (a
	 * move's commit, a source in doubt). Only for a VM with a disk. */
	bool owner_agent;
	uint64_t owner_token; /* 0: none yet (an incoming migration) */
	uint64_t owner_from;  /* a restore: the save's token (0: not a restore) */
	const char *incoming; /* "ADDR:PORT[,ADDR:PORT]": wait for a migration (NULL: boot) */
	const char *token;    /* its one-time token, handed over on a pipe (never on argv) */
	const char *restore;  /* a save to restore (NULL: none) */
};

/* Start a VM (fails if one of that name runs here). Returns once the process runs and its
 * control socket answers, or with e saying why not (the last lines of its vm.log included). */
int vms_start(struct vms *v, const struct vm_spec *s, const struct vms_start_opts *o,
	      struct err *e);
/* Hard power-off: the VM is stopped at once, as if its power were cut (its guest is not
 * asked to shut down; what it had not written to its disk is lost). Waits for the exit. */
int vms_stop(struct vms *v, const char *name, struct err *e);

/* One VM's state; 0 if found, -1 if there is no such VM here. */
int vms_get(struct vms *v, const char *name, struct vm_info *out);
/* Up to max VMs (in name order); returns how many there are. */
size_t vms_list(struct vms *v, struct vm_info *out, size_t max);
/* Forget an exited VM: its entry and its record go, its logs stay. -1 if it still runs. */
int vms_forget(struct vms *v, const char *name, struct err *e);

/* The loop's side: descriptors to watch (pidfds, pending control replies), and what to do
 * when one is ready. An exited VM is reported once through the callback. */
size_t vms_pollfds(struct vms *v, struct pollfd *fds, size_t max);
typedef void (*vms_event_fn)(void *arg, const struct vm_info *vm, const char *what);
void vms_handle(struct vms *v, const struct pollfd *fds, size_t n, vms_event_fn fn, void *arg);

/* Paths of a VM's console log and log (for `vm log` and `vm console`). */
int vms_console_path(const struct vms *v, const char *name, char *out, size_t size);
int vms_log_path(const struct vms *v, const char *name, char *out, size_t size);

/* ---- the record: run_dir/vms/NAME.json (for the tests and tools) --------------------------
 *
 *   {"version": 1, "pid": 1234, "start_time": 98765, "started_ms": 1796000000000,
 *    "tap": "fv1a2b3c4d5e6f", "control": "...", "console": "...", "log": "...",
 *    "lease": "...", "spec": {"name": ..., "memory": ..., "vcpus": ..., "isa": ...,
 *    "disk": ..., "kernel": ..., "initrd": ..., "append": ..., "mac": ...}}
 *
 * start_time is field 22 of /proc/PID/stat (clock ticks since boot): with the pid it names
 * one process for the life of the host's boot. Unknown members are refused. */
struct vms_record {
	struct vm_info info; /* spec, pid, started_ms, control */
	uint64_t start_time;
	char tap[16];
	char console[4096];
	char log[4096];
	char lease[4096];
};

/* Write atomically (a temporary file beside it, then rename). */
int vms_record_write(const char *path, const struct vms_record *r, struct err *e);
/* Read and check; e names the file and what is wrong with it. */
int vms_record_read(const char *path, struct vms_record *r, struct err *e);
/* Field 22 of /proc/PID/stat; -1 if there is no such process. */
int vms_proc_start_time(pid_t pid, uint64_t *out, struct err *e);
/* Does the record still name a live process: that pid with that start time? */
bool vms_record_alive(const struct vms_record *r);
/* The TAP's name for a VM: "fv" + 12 hex digits of a hash of the name (<= 15 chars). */
void vms_tap_name(const char *vm, char out[16]);

#endif
