#!/bin/bash
# demo.sh - the main job: set up, build everything (the guest kernel too), then the lab demo.
#
# The demo builds a lab of two hypervisor hosts (vh01, vh02) in network namespaces, boots the
# VM "cl7" on vh01 with a disk on shared storage, and while a client pings it every 10 ms,
# live-migrates it to vh02 over two migration links and back. It prints each move's result
# (phases, blackout, bytes) and the ping statistics, then tears everything down.
# DEMO_RATE sets the migration links' rate (default 400mbit each).
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
make -j"$(nproc)"
guest/build.sh build/guest

source lab/vm.sh
trap 'lab_down' EXIT
say() { printf '\n== %s\n' "$*"; }

say "building the lab: two hosts, a switch, a client, two migration links per host pair"
P=$(lab_up --hosts 2 --rate "${DEMO_RATE:-400mbit}")
lab_load "$P"
lab_status "$P" | sed 's/^/   /'

say "starting VM cl7 on vh01 (256 MiB, disk on shared storage, workloads idle + counter)"
vm_start "$P" cl7 vh01 --work idle,counter
ip=$(vm_var "$P" cl7 ip)
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
