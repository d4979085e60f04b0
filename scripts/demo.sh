#!/bin/bash
# demo.sh - the main job: set up, build everything (the guest kernel too), then the lab demo.
#
# The seed's story, told through `ferry` alone. The demo builds a lab of three hypervisor
# hosts (vh01, vh02, vh03) in network namespaces and makes them a cluster: `ferry cluster init`
# and `ferry host add` issue the certificates and configuration, an etcd member and a host
# agent (ferryd) run on each host, and the `ferry` CLI runs in the admin node. It creates the
# VM "cl7" with its disk on shared storage and starts it on vh01; the client pings it every
# 10 ms and every 1 ms. Then: `ferry move cl7 --to vh02` (live), `ferry Move-VM -ComputerName
# VH02 -Name CL7` (the cluster picks the best possible node), a quick migration, and `ferry
# host drain` of the host cl7 is on; it prints each move's line, the pings lost, and
# `ferry migrations --history`, then tears everything down.
# DEMO_RATE sets the migration links' rate (default 400mbit each).
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
make -j"$(nproc)"
guest/build.sh build/guest

source lab/vm.sh
source lab/cluster.sh
trap 'lab_down' EXIT
say() { printf '\n== %s\n' "$*"; }
ferry() { # show the command and its output; fail as it fails
	echo "   \$ ferry $*"
	cluster_ferry "$P" "$@" | sed 's/^/   /'
	return "${PIPESTATUS[0]}"
}

say "building the lab: three hosts, a switch, a client, an admin node, two migration links per host pair"
P=$(lab_up --hosts 3 --rate "${DEMO_RATE:-400mbit}")
lab_load "$P"
lab_status "$P" | sed 's/^/   /'

say "the cluster: ferry cluster init, ferry host add vh02 and vh03, an etcd member and ferryd on each host"
cluster_up "$P" --memory 1G --vcpus 4
sed 's/^/   /' "$LAB_DIR/cluster/init.out"
ferry cluster status
ferry host ls

say "creating cl7 (256 MiB, its disk on shared storage) and starting it on vh01"
ip=$(lab_vm_addr 1)
cp build/guest/Image build/guest/initramfs.cpio "$LAB_SHARED/"
truncate -s 64M "$LAB_SHARED/cl7.img"
ferry vm create cl7 --memory 256M --cpus 1 --disk "$LAB_SHARED/cl7.img" \
	--kernel "$LAB_SHARED/Image" --initrd "$LAB_SHARED/initramfs.cpio" \
	--append "console=ttyS0 quiet ip=$ip:::255.255.255.0::eth0:off ferry.work=idle,counter"
ferry vm start cl7 --on vh01
ferry vm ls
for _ in $(seq 1 100); do lab_exec "$P" client ping -c 1 -W 1 "$ip" >/dev/null 2>&1 && break; sleep 0.1; done
echo "   the client pings cl7 ($ip):"
lab_exec "$P" client ping -c 20 -i 0.05 -q "$ip" | tail -2 | sed 's/^/   /'
ferry vm log cl7 --lines 3

pingout=$(mktemp /tmp/ferry-demo-ping.XXXXXX)
pings_start() { # the client pings cl7 every 10 ms and every 1 ms
	ip netns exec "$LAB_NS_CLIENT" "$FERRY_ROOT/build/bin/ferry-ping" -i 10 "$ip" >"$pingout" 2>&1 &
	pinger=$!
	ip netns exec "$LAB_NS_CLIENT" "$FERRY_ROOT/build/bin/ferry-ping" -i 1 "$ip" >"$pingout.1" 2>&1 &
	pinger1=$!
	sleep 1
}
pings_report() { # WHAT
	sleep 1
	kill -INT "$pinger" "$pinger1" 2>/dev/null || true
	wait "$pinger" "$pinger1" 2>/dev/null || true
	say "ping during $1"
	grep '^ferry-ping:' "$pingout" | sed 's/^ferry-ping: /   probes every 10 ms: /'
	grep '^ferry-ping:' "$pingout.1" | sed 's/^ferry-ping: /   probes every 1 ms:  /'
}

say "the client pings cl7 ($ip) every 10 ms, and again every 1 ms"
pings_start
say "live migration to a host of the operator's choice"
ferry move cl7 --to vh02 --verbose
ferry vm ls
sleep 2
say "the seed's command: Move-VM without -DestinationHost (the best possible node)"
ferry Move-VM -ComputerName VH02 -Name CL7
pings_report "the two live moves"

pings_start
here=$(cluster_ferry "$P" vm show cl7 --json | jq -r .host)
for h in vh01 vh02 vh03; do [ "$h" != "$here" ] && { there=$h; break; }; done
say "quick migration (pause, save to the shared storage, restore): $here -> $there"
ferry move cl7 --to "$there" --quick
pings_report "the quick move (cl7 is paused for its save and restore)"

pings_start
say "maintenance: drain $there (each of its VMs to its best node), then make it active again"
ferry host drain "$there"
ferry host resume "$there"
ferry vm ls
pings_report "the drain"
rm -f "$pingout" "$pingout.1"
say "the history of the moves"
ferry migrations --history
say "the guest after the moves"
ferry vm log cl7 --lines 3
say "done: the lab is torn down on exit"
