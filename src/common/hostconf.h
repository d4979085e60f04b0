/* hostconf.h - a host's configuration file, /etc/ferry/hosts/NAME.json: what ferryd needs.
 *
 * Written by `ferry cluster init` and `ferry host add`, read by ferryd. JSON (jansson) with
 * these members; unknown members are an error (a misspelled key must not be ignored):
 *
 *   {"cluster": "ferry", "name": "vh01",
 *    "api": "10.77.0.11:7443",                 API listen address (host:port)
 *    "etcd": ["https://10.77.0.11:2379", ...], cluster store endpoints
 *    "ca": "/etc/ferry/ca.crt", "cert": "/etc/ferry/hosts/vh01.crt",
 *    "key": "/etc/ferry/hosts/vh01.key", "secret": "/etc/ferry/secret",
 *    "memory": 1073741824, "vcpus": 4,         capacity offered to VMs
 *    "bridge": "br0",                          the bridge VM TAPs join
 *    "migration": {"vh02": ["10.78.1.1", "10.78.2.1"]},   this host's address per link to a peer
 *    "state_dir": "/var/lib/ferry", "run_dir": "/run/ferry", "log_dir": "/var/log/ferry",
 *    "vm_binary": "/usr/bin/ferry-vm", "vm_nice": 10, "vm_cgroup": "",
 *    "etcd_member": {"binary": "/usr/bin/etcd", "data_dir": "/var/lib/ferry/etcd",
 *                    "client_url": "https://10.77.0.11:2379",
 *                    "peer_url": "https://10.77.0.11:2380"}}
 *
 * "etcd_member" (optional) says that ferryd runs this host's member of the cluster store
 * itself: the one member of a one-machine cluster, written by `ferry cluster init` when no
 * --etcd is given. Absent or false: no member (the store runs elsewhere, as etcd.service or
 * the lab's). true, or an object that leaves members out, takes the defaults: binary
 * /usr/bin/etcd, data_dir STATE_DIR/etcd, client_url https://API-HOST:2379, peer_url
 * https://API-HOST:2380 (API-HOST is the host part of "api"). The client URL must be one of
 * "etcd". A loaded configuration has every member resolved; a saved one writes them all.
 */
#ifndef FERRY_HOSTCONF_H
#define FERRY_HOSTCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define HOSTCONF_MAX_ETCD 7
#define HOSTCONF_MAX_PEERS 16
#define HOSTCONF_MAX_LINKS 4

struct hostconf_peer {
	char name[64];
	char addrs[HOSTCONF_MAX_LINKS][64];
	size_t naddrs;
};

/* The etcd member ferryd runs itself (enabled false: none). */
struct hostconf_member {
	bool enabled;
	char binary[4096];
	char data_dir[4096];
	char client_url[128];
	char peer_url[128];
};

struct hostconf {
	char cluster[64];
	char name[64];
	char api[128];
	char etcd[HOSTCONF_MAX_ETCD][128];
	size_t netcd;
	char ca[4096], cert[4096], key[4096], secret[4096];
	uint64_t memory;
	unsigned vcpus;
	char bridge[16];
	struct hostconf_peer peers[HOSTCONF_MAX_PEERS];
	size_t npeers;
	char state_dir[4096], run_dir[4096], log_dir[4096], vm_binary[4096];
	int vm_nice;
	char vm_cgroup[4096];
	struct hostconf_member etcd_member;
};

/* Defaults for what a file may leave out (dirs, vm_nice 10, vm_binary next to ferryd). */
void hostconf_defaults(struct hostconf *c);
/* Fill what is empty in c->etcd_member from the defaults (see above; needs api and
 * state_dir) and check it; nothing to do when it is not enabled. */
int hostconf_member_resolve(struct hostconf *c, struct err *e);
/* Read and validate; e names the file and the member. */
int hostconf_load(struct hostconf *c, const char *path, struct err *e);
/* Write atomically (a temporary file in the same directory, mode 0600, then rename). */
int hostconf_save(const struct hostconf *c, const char *path, struct err *e);
/* Write text (and a newline) to path the same way, with the given mode: for the other files
 * of a configuration directory (cluster.json). */
int hostconf_write_file(const char *path, const char *text, unsigned mode, struct err *e);

#endif
