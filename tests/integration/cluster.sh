#!/bin/bash
# cluster.sh - the cluster in the lab, with real etcd members: `ferry cluster init` and `host
# add`, three hosts each with an etcd member (mutual TLS) and a ferryd, the CLI in the admin
# namespace. Checks every CLI command and API endpoint, with bad input and without
# credentials; VMs started on each host and seen where they run; an agent killed (-9) and one
# stopped cleanly while their VMs run (the VMs keep running, their counter connection intact,
# and are adopted again); an etcd member killed, then the leader (the API goes on, no VM
# stops); a member that lost its data removed and added again; a host removed (its
# certificate refused from then on).
# Run as root. Prints TAP and "integration-cluster: N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 2
source tests/lib.sh
source lab/lib.sh
source lab/cluster.sh
scratch
trap 'lab_down >/dev/null 2>&1; rm -rf "$FERRY_TMP"' EXIT

for b in ferry ferryd ferry-vm ferry-counter; do
	if [ ! -x "build/bin/$b" ]; then
		fail "build/bin/$b is built" "run make first"
		finish integration-cluster
	fi
done
if [ ! -f "$FERRY_GUEST/Image" ]; then
	fail "the guest is built ($FERRY_GUEST/Image)"
	finish integration-cluster
fi

P=$(lab_up --hosts 3 2>"$FERRY_TMP/up.err") || { fail "lab up" "$(cat "$FERRY_TMP/up.err")"; finish integration-cluster; }
lab_load "$P"
ETC=$LAB_TMP/etc
API=https://$(lab_addr "$P" vh01 mgmt):$CLUSTER_API_PORT

f() { cluster_ferry "$P" "$@"; }
# curl from the admin node: cacert only (no credentials) unless more is given.
acurl() { lab_exec "$P" admin curl -sS --max-time 10 --cacert "$ETC/ca.crt" "$@"; }
adm=(--cert "$ETC/admin.crt" --key "$ETC/admin.key")
status_of() { acurl -o /dev/null -w '%{http_code}' "$@" 2>/dev/null; }
dump_logs() {
	local h
	for h in $LAB_HOSTS; do
		echo "--- $h ferryd"
		tail -n 15 "$LAB_DIR/cluster/$h.ferryd.log" 2>/dev/null
	done
}

# 1. The cluster comes up.
t0=$(date +%s.%N)
if cluster_up "$P" --memory 1G --vcpus 4 2>"$FERRY_TMP/cluster.err"; then
	pass "three hosts configured by ferry cluster init and host add, etcd and ferryd on each, all alive in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
else
	fail "the cluster comes up" "$(cat "$FERRY_TMP/cluster.err")" "$(dump_logs)"
	finish integration-cluster
fi
for k in ca.key secret hosts/vh01.key admin.key; do
	m=$(stat -c %a "$ETC/$k" 2>/dev/null)
	[ "$m" = 600 ] || fail "$k is mode 0600" "mode $m"
done
pass "private keys and the cluster secret are mode 0600"

out=$(f cluster status --json 2>&1)
if jq -e '(.members | length) == 3 and .quorum.ok == true and (.leader | type) == "string" and (.hosts | length) == 3' <<<"$out" >/dev/null; then
	pass "cluster status: 3 members, leader $(jq -r .leader <<<"$out"), quorum ok, 3 hosts"
else
	fail "cluster status --json" "$out"
fi
out=$(f cluster status 2>&1)
if grep -qi leader <<<"$out" && grep -q vh03 <<<"$out"; then pass "cluster status (table) names the leader and the hosts"; else fail "cluster status table" "$out"; fi

# 2. Credentials.
code=$(status_of "$API/v1/hosts")
if [ "$code" = 401 ]; then pass "no credentials: 401"; else fail "no credentials: 401" "got $code"; fi
code=$(status_of -H "Authorization: Bearer $(cat "$ETC/secret")" "$API/v1/hosts")
if [ "$code" = 200 ]; then pass "the cluster secret as a bearer token: 200"; else fail "secret auth" "got $code"; fi
code=$(status_of -H "Authorization: Bearer 0123456789abcdef0123456789abcdef" "$API/v1/hosts")
if [ "$code" = 401 ]; then pass "a wrong secret: 401"; else fail "wrong secret: 401" "got $code"; fi
# A certificate from another CA.
mkdir -p "$FERRY_TMP/other"
(
	cd "$FERRY_TMP/other" || exit 1
	certtool --generate-privkey --ecc --outfile ca.key 2>/dev/null
	printf 'cn = other\nca\ncert_signing_key\nexpiration_days = 2\n' >ca.tmpl
	certtool --generate-self-signed --load-privkey ca.key --template ca.tmpl --outfile ca.crt 2>/dev/null
	certtool --generate-privkey --ecc --outfile c.key 2>/dev/null
	printf 'cn = admin\ntls_www_client\nexpiration_days = 2\n' >c.tmpl
	certtool --generate-certificate --load-privkey c.key --load-ca-certificate ca.crt \
		--load-ca-privkey ca.key --template c.tmpl --outfile c.crt 2>/dev/null
)
code=$(status_of --cert "$FERRY_TMP/other/c.crt" --key "$FERRY_TMP/other/c.key" "$API/v1/hosts")
case $code in 401 | 000) pass "a client certificate from another CA is refused ($code)" ;; *) fail "foreign certificate refused" "got $code" ;; esac
mkdir -p "$FERRY_TMP/empty"
out=$(FERRY_CONFIG_DIR=$FERRY_TMP/empty FERRY_ENDPOINT=$(lab_addr "$P" vh01 mgmt):$CLUSTER_API_PORT \
	lab_exec "$P" admin build/bin/ferry host ls 2>&1)
rc=$?
if [ $rc -ne 0 ] && [ -n "$out" ]; then pass "the CLI without credentials fails (exit $rc): $(head -1 <<<"$out")"; else fail "CLI without credentials" "exit $rc: $out"; fi
cp "$ETC/secret" "$FERRY_TMP/wide"
chmod 644 "$FERRY_TMP/wide"
out=$(FERRY_CONFIG_DIR=$FERRY_TMP/empty FERRY_ENDPOINT=$(lab_addr "$P" vh01 mgmt):$CLUSTER_API_PORT \
	lab_exec "$P" admin build/bin/ferry --secret-file "$FERRY_TMP/wide" host ls 2>&1)
rc=$?
if [ $rc -ne 0 ]; then pass "a secret file readable by others is refused (exit $rc)"; else fail "wide secret refused" "$out"; fi

# 3. Hosts.
out=$(f host ls --json)
if jq -e '[.hosts[] | select(.alive and .state == "active" and .capacity.memory == 1073741824 and .capacity.vcpus == 4)] | length == 3' <<<"$out" >/dev/null; then
	pass "host ls: three hosts alive, active, 1 GiB and 4 vCPUs each"
else
	fail "host ls --json" "$out"
fi
out=$(f host show VH02 --json)
if jq -e '.name == "vh02" and (.migration.vh01 | length) == 2' <<<"$out" >/dev/null; then pass "host show VH02 (names are case-insensitive), with its two migration links to vh01"; else fail "host show VH02" "$out"; fi
out=$(f host show vh09 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -qi 'vh09' <<<"$out"; then pass "host show of an unknown host: exit 1, names it"; else fail "host show unknown" "exit $rc: $out"; fi

# 4. VMs: create, bad input, start on each host.
K=$LAB_SHARED/Image
I=$LAB_SHARED/initramfs.cpio
cp "$FERRY_GUEST/Image" "$K"
cp "$FERRY_GUEST/initramfs.cpio" "$I"
ip_of() { lab_vm_addr "$1"; }
mkvm() { # NAME INDEX
	truncate -s 64M "$LAB_SHARED/$1.img"
	f vm create "$1" --memory 128M --cpus 1 --kernel "$K" --initrd "$I" --disk "$LAB_SHARED/$1.img" \
		--append "console=ttyS0 quiet ip=$(ip_of "$2"):::255.255.255.0::eth0:off ferry.work=counter"
}
if out=$(mkvm cl7 7 2>&1); then pass "vm create cl7 (128 MiB, disk on shared storage)"; else fail "vm create cl7" "$out"; fi
out=$(mkvm CL7 7 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -qi 'exist' <<<"$out"; then pass "vm create of an existing name (CL7 is cl7): exit 1, says it exists"; else fail "create twice" "exit $rc: $out"; fi
out=$(f vm create cl_8 --memory 128M --kernel "$K" 2>&1); rc=$?
if [ $rc -ne 0 ] && grep -q "cl_8" <<<"$out"; then pass "a name that is not a name: refused, named (exit $rc)"; else fail "bad name" "exit $rc: $out"; fi
out=$(f vm create cl8 --memory 12Q --kernel "$K" 2>&1); rc=$?
if [ $rc -ne 0 ] && grep -q "12Q" <<<"$out"; then pass "a size that is not a size: refused, named (exit $rc)"; else fail "bad size" "exit $rc: $out"; fi
out=$(f vm create 2>&1); rc=$?
if [ $rc -eq 2 ]; then pass "vm create without a name: usage error, exit 2"; else fail "usage exit 2" "exit $rc: $out"; fi
out=$(f vm bogus 2>&1); rc=$?
if [ $rc -eq 2 ]; then pass "an unknown command: exit 2"; else fail "unknown command exit 2" "exit $rc: $out"; fi
out=$(f help vm 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q create <<<"$out"; then pass "ferry help vm"; else fail "help vm" "exit $rc: $out"; fi
out=$(f vm show cl9 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "cl9" <<<"$out"; then pass "vm show of an unknown VM: exit 1, names it"; else fail "vm show unknown" "exit $rc: $out"; fi
# The API itself, with what the CLI would never send.
code=$(status_of "${adm[@]}" -X POST -d '{"name": "x", ' "$API/v1/vms")
if [ "$code" = 400 ]; then pass "JSON that is not JSON: 400"; else fail "bad JSON 400" "got $code"; fi
body=$(acurl "${adm[@]}" -X POST -d '{"name": "cl8", "memory": "128M", "kernel": "/k", "colour": "red"}' "$API/v1/vms")
if jq -e '.error.code == "bad_request" and (.error.message | test("colour"))' <<<"$body" >/dev/null; then pass "an unknown member: 400 naming it"; else fail "unknown member 400" "$body"; fi
head -c 70000 /dev/zero | tr '\0' ' ' >"$FERRY_TMP/big"
code=$(status_of "${adm[@]}" -X POST --data-binary "@$FERRY_TMP/big" "$API/v1/vms")
if [ "$code" = 413 ]; then pass "a body over 64 KiB: 413"; else fail "too large 413" "got $code"; fi
code=$(status_of "${adm[@]}" "$API/v1/nothing")
if [ "$code" = 404 ]; then pass "an unknown endpoint: 404"; else fail "unknown endpoint 404" "got $code"; fi
code=$(status_of "${adm[@]}" -X PUT "$API/v1/vms")
if [ "$code" = 405 ]; then pass "a wrong method: 405"; else fail "wrong method 405" "got $code"; fi
code=$(status_of "${adm[@]}" -X POST -d '{"on": "vh09"}' "$API/v1/vms/cl7/start")
case $code in 404 | 409) pass "start on an unknown host: $code" ;; *) fail "start on unknown host" "got $code" ;; esac

# Events, followed from vh03's agent while VMs start on every host.
lab_exec "$P" admin curl -sS -N --max-time 600 --cacert "$ETC/ca.crt" "${adm[@]}" \
	"https://$(lab_addr "$P" vh03 mgmt):$CLUSTER_API_PORT/v1/events" >"$FERRY_TMP/events" 2>&1 &
events_pid=$!

out=$(f vm start cl7 --on VH01 2>&1); rc=$?
if [ $rc -eq 0 ]; then pass "vm start cl7 --on VH01"; else fail "vm start cl7" "exit $rc: $out" "$(dump_logs)"; fi
mkvm cl8 8 >/dev/null 2>&1 && f vm start cl8 --on vh02 >/dev/null 2>&1
mkvm cl9 9 >/dev/null 2>&1 && f vm start cl9 --on vh03 >/dev/null 2>&1
out=$(f vm ls --json)
if jq -e '([.vms[] | select(.state == "running")] | map(.name + "@" + .host) | sort) == ["cl7@vh01", "cl8@vh02", "cl9@vh03"]' <<<"$out" >/dev/null; then
	pass "vm ls: cl7 on vh01, cl8 on vh02, cl9 on vh03, all running"
else
	fail "vm ls shows where each runs" "$out" "$(dump_logs)"
fi
out=$(f host ls --json)
if jq -e '[.hosts[] | select(.used.memory == 134217728 and .used.vcpus == 1 and (.vms | length) == 1)] | length == 3' <<<"$out" >/dev/null; then
	pass "host ls: each host uses 128 MiB and 1 vCPU for its one VM"
else
	fail "host ls shows use and VMs" "$out"
fi
out=$(f host ls 2>&1)
if grep -q cl8 <<<"$out" && grep -qi 'MiB' <<<"$out"; then pass "host ls (table) shows memory and VMs"; else fail "host ls table" "$out"; fi
out=$(f vm start cl7 --on vh02 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -qi 'vh01' <<<"$out"; then pass "starting a running VM elsewhere: refused, says where it runs"; else fail "start twice" "exit $rc: $out"; fi
# No room: a VM bigger than any host.
f vm create big --memory 2G --kernel "$K" >/dev/null 2>&1
out=$(f vm start big --on vh02 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q 'free' <<<"$out" && grep -q 'big needs' <<<"$out"; then pass "no room: $out"; else fail "no room refused with the numbers" "exit $rc: $out"; fi
f vm rm big >/dev/null 2>&1

# The guests answer, through the hosts' bridges.
ping_all() {
	local n ok=1
	for n in 7 8 9; do
		lab_exec "$P" client ping -c 1 -W 1 "$(ip_of $n)" >/dev/null 2>&1 || ok=0
	done
	[ $ok -eq 1 ]
}
up=0
for _ in $(seq 60); do if ping_all; then up=1; break; fi; sleep 0.5; done
if [ $up -eq 1 ]; then pass "the three guests answer ping from the client"; else fail "guests answer ping" "$(dump_logs)"; fi
out=$(f vm log cl7 --lines 200 2>&1)
if grep -q 'ferry-init' <<<"$out"; then pass "vm log cl7 shows its console (forwarded from vh01)"; else fail "vm log" "$out"; fi

# A counter connection to cl7 that must stay intact through what follows.
lab_exec "$P" client build/bin/ferry-counter --duration 40 "$(ip_of 7)" 7000 >"$FERRY_TMP/counter" 2>&1 &
counter_pid=$!
vmpid=$(f vm show cl7 --json | jq -r .pid)

# 5. The agent of vh01 killed (-9): cl7 runs on; a new agent adopts it.
cluster_agent_kill "$P" vh01 KILL
sleep 1
if kill -0 "$vmpid" 2>/dev/null && lab_exec "$P" client ping -c 3 -i 0.2 -W 1 "$(ip_of 7)" >/dev/null 2>&1; then
	pass "agent of vh01 killed -9: cl7 (pid $vmpid) keeps running and answering"
else
	fail "VM survives its agent's kill -9"
fi
out=$(f vm ls --json 2>&1)
if jq -e '.vms[] | select(.name == "cl8") | .state == "running"' <<<"$out" >/dev/null; then pass "the API goes on through another agent while vh01's is down"; else fail "API without vh01's agent" "$out"; fi
cluster_agent_start "$P" vh01
adopted=0
for _ in $(seq 50); do
	out=$(f vm show cl7 --json 2>/dev/null)
	if jq -e --argjson pid "$vmpid" '.state == "running" and .host == "vh01" and .pid == $pid' <<<"$out" >/dev/null 2>&1; then adopted=1; break; fi
	sleep 0.2
done
if [ $adopted -eq 1 ]; then pass "a new agent on vh01 adopts cl7 (same pid, running)"; else fail "re-adoption after kill -9" "$out" "$(dump_logs)"; fi

# 6. The agent of vh02 stopped cleanly: cl8 runs on; adopted again.
vm8=$(f vm show cl8 --json | jq -r .pid)
cluster_agent_kill "$P" vh02 TERM
if kill -0 "$vm8" 2>/dev/null && lab_exec "$P" client ping -c 2 -W 1 "$(ip_of 8)" >/dev/null 2>&1; then pass "agent of vh02 stopped cleanly (SIGTERM): cl8 runs on"; else fail "VM survives a clean agent stop"; fi
cluster_agent_start "$P" vh02
adopted=0
for _ in $(seq 50); do
	out=$(f vm show cl8 --json 2>/dev/null)
	if jq -e --argjson pid "$vm8" '.state == "running" and .pid == $pid' <<<"$out" >/dev/null 2>&1; then adopted=1; break; fi
	sleep 0.2
done
if [ $adopted -eq 1 ]; then pass "the restarted agent of vh02 adopts cl8"; else fail "re-adoption after a clean stop" "$out"; fi
cluster_wait_hosts "$P" 3 20 && pass "all three hosts alive again" || fail "hosts alive again"
# A second event stream, from vh01's new agent (vh03's goes with its agent, below).
lab_exec "$P" admin curl -sS -N --max-time 600 --cacert "$ETC/ca.crt" "${adm[@]}" \
	"https://$(lab_addr "$P" vh01 mgmt):$CLUSTER_API_PORT/v1/events" >"$FERRY_TMP/events1" 2>&1 &
events1_pid=$!

# 7. etcd: a follower killed, then the leader; the API goes on, no VM stops.
leader=$(cluster_etcd_leader "$P")
follower=
for h in $LAB_HOSTS; do [ "$h" = "$leader" ] || { follower=$h; break; }; done
cluster_etcd_kill "$P" "$follower"
t0=$(date +%s.%N)
if out=$(f vm ls --json 2>&1) && jq -e '.vms | length == 3' <<<"$out" >/dev/null; then
	pass "etcd member of $follower killed: vm ls answers ($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s)"
else
	fail "API with a follower down" "$out"
fi
# Its data is lost: removed from the cluster and added again, started as a new member.
# (the IDs as etcdctl's table prints them, in hex: its JSON has them as numbers beyond 2^53)
id=$(_cluster_etcdctl "$P" member list 2>/dev/null | awk -F', ' -v n="$follower" '$3 == n { print $1 }')
rm -rf "$(_cluster_etcd_dir "$P" "$follower")"
if [ -n "$id" ] && _cluster_etcdctl "$P" member remove "$id" >/dev/null 2>&1 &&
	_cluster_etcdctl "$P" member add "$follower" --peer-urls "https://$(lab_addr "$P" "$follower" mgmt):$CLUSTER_ETCD_PEER_PORT" >/dev/null 2>&1 &&
	cluster_etcd_start "$P" "$follower" existing; then
	ok=0
	for _ in $(seq 50); do
		n=$(_cluster_etcdctl "$P" endpoint health -w json 2>/dev/null | jq '[.[] | select(.health)] | length')
		[ "${n:-0}" -eq 3 ] && { ok=1; break; }
		sleep 0.2
	done
	if [ $ok -eq 1 ]; then pass "the member that lost its data is removed, added again and healthy"; else fail "member re-added healthy"; fi
else
	fail "member remove and add" "id '$id'"
fi
leader=$(cluster_etcd_leader "$P")
cluster_etcd_kill "$P" "$leader"
t0=$(date +%s.%N)
if out=$(f vm ls --json 2>&1) && jq -e '.vms | length == 3' <<<"$out" >/dev/null; then
	pass "etcd leader ($leader) killed: vm ls answers after failover in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s"
else
	fail "API with the leader down" "$out" "$(dump_logs)"
fi
sleep 4
if ping_all; then pass "no VM stopped while etcd members were killed"; else fail "VMs still answer after the etcd kills"; fi
cluster_etcd_start "$P" "$leader" existing
out=$(f host ls --json 2>&1)
if jq -e '[.hosts[] | select(.alive)] | length == 3' <<<"$out" >/dev/null; then pass "every host kept its lease through the leader change"; else fail "hosts alive after leader change" "$out"; fi

wait "$counter_pid"
line=$(grep '^counter:' "$FERRY_TMP/counter" | tail -1)
if [ -n "$line" ] && grep -q 'skips 0, repeats 0' <<<"$line" && grep -q 'disconnected no' <<<"$line"; then
	pass "cl7's counter stream intact through agent and etcd kills ($line)"
else
	fail "counter intact" "$(tail -3 "$FERRY_TMP/counter")"
fi

# A person on this machine: a port forwarded to loopback reaches vh01's agent; its
# certificate is checked for vh01, so the name has to come with the address.
fport=$((20000 + RANDOM % 20000))
cluster_forward "$P" "$fport" >/dev/null
for _ in $(seq 20); do (exec 3<>"/dev/tcp/127.0.0.1/$fport") 2>/dev/null && break; sleep 0.1; done
out=$(FERRY_CONFIG_DIR=$ETC FERRY_ENDPOINT=vh01=127.0.0.1:$fport build/bin/ferry vm ls --json 2>&1)
if jq -e '.vms | length == 3' <<<"$out" >/dev/null 2>&1; then pass "from this machine through 127.0.0.1:$fport (vh01=127.0.0.1:$fport): vm ls"; else fail "the port forwarded to loopback" "$out"; fi
out=$(FERRY_CONFIG_DIR=$ETC FERRY_ENDPOINT=127.0.0.1:$fport build/bin/ferry vm ls 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q 'vh01' <<<"$out"; then pass "127.0.0.1 without the host's name: refused, the certificate names vh01"; else fail "certificate name checked" "exit $rc: $out"; fi

# 8. Stop (a hard power-off), rm, host remove.
out=$(f vm stop cl9 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -qi 'power' <<<"$out"; then pass "vm stop cl9 says it is a hard power-off"; else fail "vm stop" "exit $rc: $out"; fi
out=$(f vm show cl9 --json 2>&1)
if jq -e '.state == "stopped"' <<<"$out" >/dev/null; then pass "cl9 is stopped"; else fail "cl9 stopped" "$out"; fi
out=$(f host show vh03 --json 2>&1)
if jq -e '.used.memory == 0 and (.vms | length) == 0' <<<"$out" >/dev/null; then pass "vh03's memory is free again"; else fail "alloc released" "$out"; fi
out=$(f vm rm cl8 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -qi 'running\|stop' <<<"$out"; then pass "vm rm of a running VM: refused"; else fail "rm running refused" "exit $rc: $out"; fi
out=$(f vm rm cl9 2>&1); rc=$?
if [ $rc -eq 0 ] && ! f vm show cl9 >/dev/null 2>&1; then pass "vm rm cl9"; else fail "vm rm" "exit $rc: $out"; fi
cluster_agent_kill "$P" vh03 TERM
cp "$ETC/hosts/vh03.crt" "$ETC/hosts/vh03.key" "$FERRY_TMP/"
out=$(f host remove vh03 2>&1); rc=$?
if [ $rc -eq 0 ]; then pass "host remove vh03"; else fail "host remove" "exit $rc: $out"; fi
code=$(status_of --cert "$FERRY_TMP/vh03.crt" --key "$FERRY_TMP/vh03.key" "$API/v1/hosts")
if [ "$code" = 403 ]; then pass "vh03's certificate is revoked: 403"; else fail "revoked certificate 403" "got $code"; fi
out=$(f host ls --json 2>&1)
if jq -e '[.hosts[].name] == ["vh01", "vh02"]' <<<"$out" >/dev/null; then pass "host ls: vh03 is gone"; else fail "host gone" "$out"; fi

sleep 1
kill "$events_pid" "$events1_pid" 2>/dev/null
wait "$events_pid" "$events1_pid" 2>/dev/null
for ev in vm-created vm-state vm-adopted; do
	if grep -q "^event: $ev" "$FERRY_TMP/events"; then pass "event stream from vh03 relayed $ev"; else fail "event $ev" "$(head -c 600 "$FERRY_TMP/events")"; fi
done
for ev in vm-removed host-down; do
	if grep -q "^event: $ev" "$FERRY_TMP/events1"; then pass "event stream from vh01 relayed $ev"; else fail "event $ev" "$(cat "$FERRY_TMP/events1" | head -c 1500)"; fi
done
if grep -A1 '^event: vm-state' "$FERRY_TMP/events" | grep -q '"vm": *"cl8"'; then pass "events from other hosts (cl8 on vh02) reach vh03's stream"; else fail "relayed events" "$(head -c 600 "$FERRY_TMP/events")"; fi

lab_down "$P" >/dev/null 2>&1
if ! ip netns list | grep -q "ferry-$P-" && ! ls -d /dev/shm/ferry-lab-"$P"-* >/dev/null 2>&1; then pass "lab down removed namespaces, agents, VMs and etcd data"; else fail "teardown"; fi
finish integration-cluster
