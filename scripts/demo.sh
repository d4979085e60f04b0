#!/bin/bash
# demo.sh - the main job: set up, build everything (the guest kernel too), then the lab demo.
#
# The demo builds a lab of three hypervisor hosts (vh01, vh02, vh03) in network namespaces and
# makes them a cluster: `ferry cluster init` and `ferry host add` issue the certificates and
# configuration, an etcd member and a host agent (ferryd) run on each host, and the `ferry`
# CLI runs in the admin node. It creates the VM "cl7" with its disk on shared storage,
# starts it on vh01 with `ferry vm start`, and pings it from the client. Then the migration
# engine moves cl7 to vh02 and back while the client pings it every 10 ms and every 1 ms
# (through the VMs' control sockets: moves through the cluster come next), and it prints each
# move's result (phases, blackout, bytes) and the ping statistics, then tears everything down.
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

say "the migration engine on its own: cl7 is powered off in the cluster and run by the lab directly"
ferry vm stop cl7
vm_start "$P" cl7 vh01 --work idle,counter
ip=$(vm_var "$P" cl7 ip)
# (the lab gives it a MAC of its own: the client forgets the cluster's one)
lab_exec "$P" client ip neigh flush all
for _ in $(seq 1 100); do grep -q '^ferry-work: heartbeat 2' "$(vm_var "$P" cl7 console)" && break; sleep 0.1; done
grep -E '^ferry-init|^ferry-work: heartbeat' "$(vm_var "$P" cl7 console)" | head -3 | sed 's/^/   guest: /'

say "the client pings cl7 ($ip) every 10 ms, and again every 1 ms"
pingout=$(mktemp /tmp/ferry-demo-ping.XXXXXX)
ip netns exec "$LAB_NS_CLIENT" "$FERRY_ROOT/build/bin/ferry-ping" -i 10 "$ip" >"$pingout" 2>&1 &
pinger=$!
ip netns exec "$LAB_NS_CLIENT" "$FERRY_ROOT/build/bin/ferry-ping" -i 1 "$ip" >"$pingout.1" 2>&1 &
pinger1=$!
sleep 1

summary() { # the source's final status (JSON) on stdin
	jq -r '.return | if .phase == "completed" then
		"   \(.phase): \(.round) rounds, \(.pages_sent) pages, \(.bytes_sent) bytes in \(.total_ms) ms; blackout \(.blackout.total_ms) ms"
		else "   \(.phase // "no status"): \(.error // "")" end'
	echo
}
say "Move-VM cl7 vh01 -> vh02 (live migration over both links)"
vm_migrate "$P" cl7 vh02 | tee /tmp/ferry-demo-move1.json | summary
sleep 2
say "Move-VM cl7 vh02 -> vh01"
vm_migrate "$P" cl7 vh01 | tee /tmp/ferry-demo-move2.json | summary
sleep 2

kill -INT "$pinger" "$pinger1" 2>/dev/null || true
wait "$pinger" "$pinger1" 2>/dev/null || true
say "ping during both moves"
grep '^ferry-ping:' "$pingout" | sed 's/^ferry-ping: /   probes every 10 ms: /'
grep '^ferry-ping:' "$pingout.1" | sed 's/^ferry-ping: /   probes every 1 ms:  /'
rm -f "$pingout" "$pingout.1"
say "the guest after the moves"
tail -3 "$(vm_var "$P" cl7 console)" | sed 's/^/   guest: /'
vm_stop "$P" cl7
say "done: the lab is torn down on exit"
