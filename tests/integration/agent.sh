#!/bin/bash
# agent.sh - ferryd end to end on loopback: one etcd member (mutual TLS), two agents (vh01,
# vh02) with certificates made by certtool, driven by curl through vh01's API only:
# credentials (none, a foreign CA, the secret, a revoked certificate), bad input (404, 405,
# a bad name, JSON that is not JSON, an unknown member, a bad size, a body too large),
# create, admission refused with the numbers, start forwarded to vh02, log and console
# forwarded, rm refused while it runs, kill -9 of vh02's agent and restart (adopted), a
# clean stop (VM keeps running, "lost" once the lease lapses, adopted again), a revoked
# lease (registered again), a VM killed from outside (exited, alloc released), stop (hard
# power-off), rm, host removal with its certificate revoked, the events relayed, READY=1.
# Runs as root in a PID namespace of its own (VMs orphaned by a killed agent are reaped).
if [ "$(id -u)" != 0 ]; then
	echo "1..0 # skip: agent.sh needs root"
	exit 0
fi
if [ -z "$FERRY_AGENT_PIDNS" ]; then
	FERRY_AGENT_PIDNS=1 exec unshare --pid --fork --mount-proc bash "$0" "$@"
fi
source "$(dirname "$0")/../lib.sh"
scratch
FERRYD=${FERRYD:-$FERRY_ROOT/build/bin/ferryd} # FERRYD=... runs another build (a sanitizer one)
for f in "$FERRYD" "$FERRY_VM" "$FERRY_GUEST/Image" "$FERRY_GUEST/initramfs.cpio"; do
	[ -e "$f" ] || { fail "$f is there (make; guest/build.sh)"; finish integration-agent; }
done
command -v etcd >/dev/null || { fail "etcd is installed (scripts/setup.sh)"; finish integration-agent; }
unset INVOCATION_ID NOTIFY_SOCKET
T=$FERRY_TMP P=$T/pki
base=$((20000 + $$ % 20000))
EP=$base EPP=$((base + 1)) EM=$((base + 2)) A1=$((base + 3)) A2=$((base + 4))
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.3
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	for f in "$T"/*/run/vms/*.json; do [ -e "$f" ] && kill -9 "$(jq -r .pid "$f")" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

# ---- certificates: a CA, two hosts, an admin, and a certificate of another CA
mkdir -p "$P"
cert() { # NAME CA-PREFIX TEMPLATE-LINES...
	local n=$1 ca=$2
	shift 2
	printf '%s\n' "$@" >"$P/$n.tmpl"
	certtool --generate-privkey --key-type ecdsa --outfile "$P/$n.key" 2>/dev/null
	if [ "$ca" = self ]; then
		certtool --generate-self-signed --load-privkey "$P/$n.key" --template "$P/$n.tmpl" --outfile "$P/$n.crt" 2>/dev/null
	else
		certtool --generate-certificate --load-privkey "$P/$n.key" --load-ca-certificate "$P/$ca.crt" \
			--load-ca-privkey "$P/$ca.key" --template "$P/$n.tmpl" --outfile "$P/$n.crt" 2>/dev/null
	fi
}
cert ca self 'cn = "ferry CA"' ca cert_signing_key 'expiration_days = 7'
cert other self 'cn = "other CA"' ca cert_signing_key 'expiration_days = 7'
for h in vh01 vh02; do
	cert $h ca "cn = \"$h\"" "dns_name = \"$h\"" 'ip_address = "127.0.0.1"' tls_www_server tls_www_client signing_key encryption_key 'expiration_days = 7'
done
cert admin ca 'cn = "admin"' tls_www_client signing_key 'expiration_days = 7'
cert foreign other 'cn = "admin"' tls_www_client signing_key 'expiration_days = 7'
head -c 24 /dev/urandom | base64 >"$P/secret"
chmod 600 "$P"/*.key "$P/secret"

etcd --name s1 --data-dir "$T/etcd" --listen-client-urls https://127.0.0.1:$EP --advertise-client-urls https://127.0.0.1:$EP \
	--listen-peer-urls http://127.0.0.1:$EPP --initial-advertise-peer-urls http://127.0.0.1:$EPP \
	--initial-cluster s1=http://127.0.0.1:$EPP --listen-metrics-urls http://127.0.0.1:$EM \
	--cert-file "$P/vh01.crt" --key-file "$P/vh01.key" --client-cert-auth --trusted-ca-file "$P/ca.crt" >"$T/etcd.log" 2>&1 &
pids+=($!)
E="etcdctl --endpoints https://127.0.0.1:$EP --cacert $P/ca.crt --cert $P/admin.crt --key $P/admin.key"
for _ in $(seq 50); do $E endpoint health >/dev/null 2>&1 && break; sleep 0.2; done

conf() { # HOST PORT MEMORY
	mkdir -p "$T/$1/run" "$T/$1/log" "$T/$1/state"
	jq -n --arg h "$1" --arg api "127.0.0.1:$2" --arg etcd "https://127.0.0.1:$EP" --arg p "$P" \
		--arg d "$T/$1" --arg vm "$FERRY_VM" --argjson mem "$3" \
		'{cluster:"ferry", name:$h, api:$api, etcd:[$etcd], ca:($p+"/ca.crt"), cert:($p+"/"+$h+".crt"),
		  key:($p+"/"+$h+".key"), secret:($p+"/secret"), memory:$mem, vcpus:2, bridge:"",
		  migration:{}, state_dir:($d+"/state"), run_dir:($d+"/run"), log_dir:($d+"/log"),
		  vm_binary:$vm, vm_nice:10, vm_cgroup:""}' >"$T/$1.json"
}
conf vh01 $A1 536870912
conf vh02 $A2 268435456
agent() { # HOST: start its agent, $apid gets the pid
	"$FERRYD" --config "$T/$1.json" --log-level debug >>"$T/$1.log" 2>&1 &
	apid=$!
	pids+=($apid)
}
socat -u UNIX-RECVFROM:"$T/notify",fork - >"$T/notify.txt" &
pids+=($!)
sleep 0.2
NOTIFY_SOCKET=$T/notify "$FERRYD" --config "$T/vh01.json" --log-level debug >>"$T/vh01.log" 2>&1 &
pids+=($!)
agent vh02
a2=$apid
U=https://127.0.0.1:$A1
for _ in $(seq 50); do grep -q READY=1 "$T/notify.txt" && break; sleep 0.1; done
check "READY=1 once registered and serving" grep -q READY=1 "$T/notify.txt"
curl -sS -N --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" "$U/v1/events" >"$T/events.txt" 2>/dev/null &
pids+=($!)

# req NAME STATUS SUBSTRING CURL-ARGS...: the answer's status and a piece of its body
req() {
	local name=$1 want=$2 sub=$3 out
	shift 3
	out=$(curl -sS --cacert "$P/ca.crt" -w '\n%{http_code}' "$@" 2>&1)
	local st=${out##*$'\n'} body=${out%$'\n'*}
	if [ "$st" = "$want" ] && [[ "$body" == *"$sub"* ]]; then pass "$name"; else
		fail "$name" "wanted $want and '$sub', got $st: $body"; fi
	last=$body
}
ADM=(--cert "$P/admin.crt" --key "$P/admin.key")
r() { local n=$1 w=$2 s=$3; shift 3; req "$n" "$w" "$s" "${ADM[@]}" "$@"; }
K=$FERRY_GUEST/Image R=$FERRY_GUEST/initramfs.cpio
spec() { echo "{\"name\":\"$1\",\"memory\":\"$2\",\"kernel\":\"$K\",\"initrd\":\"$R\",\"append\":\"console=ttyS0 ferry.work=idle\"}"; }

req "no credentials: 401" 401 '"unauthenticated"' "$U/v1/version"
req "a certificate of another CA: 401" 401 "not one of this cluster's" --cert "$P/foreign.crt" --key "$P/foreign.key" "$U/v1/version"
req "a wrong secret: 401" 401 unauthenticated -H "Authorization: Bearer nope" "$U/v1/version"
req "the secret: 200" 200 '"host": "vh01"' -H "Authorization: Bearer $(cat "$P/secret")" "$U/v1/version"
r "admin certificate: 200" 200 '"version"' "$U/v1/version"
r "unknown path: 404" 404 not_found "$U/v1/nothing"
r "wrong method: 405" 405 method_not_allowed -X PUT "$U/v1/vms"
r "a name that is not a name: 400" 400 "'_' at position 3" "$U/v1/vms/cl_7"
r "JSON that is not JSON: 400" 400 "not JSON" -X POST -d '{"name":' "$U/v1/vms"
r "an unknown member: 400" 400 "unknown member 'cpus'" -X POST -d '{"name":"x","memory":"1G","kernel":"/k","cpus":2}' "$U/v1/vms"
r "a size that is not a size: 400" 400 "unknown suffix 'Q'" -X POST -d '{"name":"x","memory":"1Q","kernel":"/k"}' "$U/v1/vms"
head -c 70000 /dev/zero | tr '\0' x >"$T/big"
r "a body too large: 413" 413 too_large -X POST --data-binary @"$T/big" "$U/v1/vms"
r "an unknown VM: 404" 404 "no VM named 'cl8'" "$U/v1/vms/cl8"
r "cluster: quorum ok" 200 '"ok": true' "$U/v1/cluster"
r "hosts: both alive" 200 '"name": "vh02", "alive": true' "$U/v1/hosts"

r "create cl7 (name lower-cased)" 201 '"name": "cl7"' -X POST -d "$(spec CL7 64M)" "$U/v1/vms"
r "create cl7 again: 409" 409 "exists already" -X POST -d "$(spec cl7 64M)" "$U/v1/vms"
r "create big" 201 '"mac": "02:fe:' -X POST -d "$(spec big 512M)" "$U/v1/vms"
r "big on vh02: no room, with the numbers" 422 "vh02 has 256 MiB free, big needs 512 MiB" -X POST -d '{"on":"vh02"}' "$U/v1/vms/big/start"
r "start on an unknown host: 404" 404 "no host named 'vh03'" -X POST -d '{"on":"vh03"}' "$U/v1/vms/cl7/start"
r "start cl7 on vh02 (forwarded)" 200 '"state": "running", "host": "vh02"' -X POST -d '{"on":"vh02"}' "$U/v1/vms/cl7/start"
r "start it again: 409" 409 "cl7 runs on vh02" -X POST "$U/v1/vms/cl7/start"
r "vh02 has it admitted" 200 '"used": {"memory": 67108864, "vcpus": 1}, "vms": ["cl7"]' "$U/v1/hosts/vh02"
sleep 3
r "its log (forwarded)" 200 "heartbeat" "$U/v1/vms/cl7/log?lines=2"
timeout 2 curl -sS -N --cacert "$P/ca.crt" "${ADM[@]}" "$U/v1/vms/cl7/console" >"$T/console.txt" 2>/dev/null
check "its console followed (forwarded)" grep -q "ferry-init: up" "$T/console.txt"
r "rm while it runs: 409" 409 "stop it first" -X DELETE "$U/v1/vms/cl7"
r "remove vh02 while it runs a VM: 409" 409 "runs 1 VM" -X DELETE "$U/v1/hosts/vh02"

kill -9 $a2
agent vh02
a2=$apid
sleep 2
r "kill -9 and restart: adopted" 200 '"reason": "adopted"' "$U/v1/vms/cl7"
kill -TERM $a2
sleep 12
r "a clean stop: the VM is lost once the lease lapsed" 200 '"state": "lost"' "$U/v1/vms/cl7"
pid=$(jq -r .pid "$T"/vh02/run/vms/cl7.json)
check "... and it still runs" kill -0 "$pid"
agent vh02
a2=$apid
sleep 2
r "restarted: adopted again" 200 '"state": "running", "host": "vh02"' "$U/v1/vms/cl7"
# a stale entry in vh02's alloc (a release that failed while etcd was away): gone once the
# agent registers again
$E put /ferry/hosts/vh02/alloc "$($E get /ferry/hosts/vh02/alloc --print-value-only |
	jq -c '.vms.ghost = {"memory": 1048576, "vcpus": 1}')" >/dev/null
r "a stale alloc entry put behind the agent's back" 200 '"ghost"' "$U/v1/hosts/vh02"
for l in $($E lease list | tail -n +2); do
	$E lease timetolive "$l" --keys | grep -q "ferry/hosts/vh02" && $E lease revoke "$l" >/dev/null
done
sleep 4
r "its lease revoked: registered again" 200 '"reason": "registered again"' "$U/v1/vms/cl7"
r "... and its alloc reconciled (the stale entry gone, cl7 kept)" 200 '"vms": ["cl7"]' "$U/v1/hosts/vh02"
kill -9 "$(jq -r .pid "$T"/vh02/run/vms/cl7.json)"
sleep 1.5
r "a VM killed from outside: stopped, why" 200 "exited by itself" "$U/v1/vms/cl7"
r "... its memory released" 200 '"used": {"memory": 0, "vcpus": 0}' "$U/v1/hosts/vh02"
r "start it again (where it last ran)" 200 '"host": "vh02"' -X POST "$U/v1/vms/cl7/start"
# the VM ends while its agent is away: the next run finds it admitted but not running
kill -9 $a2
kill -9 "$(jq -r .pid "$T"/vh02/run/vms/cl7.json)"
agent vh02
a2=$apid
sleep 2
r "a VM that ended while its agent was away: stopped, why" 200 "not running here when its agent came back" "$U/v1/vms/cl7"
r "... its memory released" 200 '"used": {"memory": 0, "vcpus": 0}' "$U/v1/hosts/vh02"
r "start it once more" 200 '"state": "running"' -X POST "$U/v1/vms/cl7/start"
r "stop: hard power-off" 200 "stopped by request (hard power-off)" -X POST "$U/v1/vms/cl7/stop"
r "stop again: 409" 409 "not running" -X POST "$U/v1/vms/cl7/stop"
r "rm cl7" 200 '"removed": "cl7"' -X DELETE "$U/v1/vms/cl7"
r "rm big" 200 '"removed": "big"' -X DELETE "$U/v1/vms/big"
# two starts racing for the same room (vh02 offers 256 MiB), one through each agent: the
# compare-and-swap on vh02's alloc admits exactly one
r "create r1" 201 '"r1"' -X POST -d "$(spec r1 160M)" "$U/v1/vms"
r "create r2" 201 '"r2"' -X POST -d "$(spec r2 160M)" "$U/v1/vms"
for v in r1 r2; do
	port=$A1
	[ $v = r2 ] && port=$A2
	curl -sS --cacert "$P/ca.crt" "${ADM[@]}" -o "$T/$v.out" -w '%{http_code}' -X POST -d '{"on":"vh02"}' \
		"https://127.0.0.1:$port/v1/vms/$v/start" >"$T/$v.code" &
done
wait_for() { for _ in $(seq 100); do [ -s "$T/r1.code" ] && [ -s "$T/r2.code" ] && return; sleep 0.1; done; }
wait_for
codes=$(cat "$T/r1.code" "$T/r2.code" | fold -w3 | sort | tr '\n' ' ')
if [ "$codes" = "200 422 " ]; then pass "racing starts: one admitted, one refused"; else
	fail "racing starts: one admitted, one refused" "got $codes: $(cat "$T/r1.out" "$T/r2.out")"; fi
for v in r1 r2; do
	curl -sS --cacert "$P/ca.crt" "${ADM[@]}" -o /dev/null -X POST "$U/v1/vms/$v/stop"
	r "rm $v" 200 "\"removed\": \"$v\"" -X DELETE "$U/v1/vms/$v"
done
# more connections than the API serves at once: the next one gets 503. They are opened one
# after the other, each answered before the next (handshakes in flight count too, so a
# burst would have more of it refused than its excess)
cpids=()
for i in $(seq 66); do
	curl -sS -N --cacert "$P/ca.crt" "${ADM[@]}" "$U/v1/events" >"$T/conn$i.txt" 2>&1 &
	cpids+=($!)
	for _ in $(seq 100); do [ -s "$T/conn$i.txt" ] && break; sleep 0.05; done
done
r "too many connections: 503" 503 "too many connections" "$U/v1/version"
kill "${cpids[@]}" 2>/dev/null
wait "${cpids[@]}" 2>/dev/null
sleep 1.5
r "... and served again once they closed" 200 '"version"' "$U/v1/version"
r "no VM left" 200 '{"vms": []}' "$U/v1/vms"
r "remove the answering host: 409" 409 "the host answering" -X DELETE "$U/v1/hosts/vh01"
r "remove vh02 (alive, no VM)" 200 '"removed": "vh02"' -X DELETE "$U/v1/hosts/vh02"
req "its certificate is revoked: 403" 403 "revoked" --cert "$P/vh02.crt" --key "$P/vh02.key" "$U/v1/version"

sleep 0.5
for ev in host-up vm-created vm-state vm-adopted host-down vm-removed; do
	check "event $ev relayed" grep -q "^event: $ev" "$T/events.txt"
done
check "events carry ids" grep -q "^id: [0-9]" "$T/events.txt"
n=$(grep -c '^id:' "$T/events.txt")
timeout 1 curl -sS -N --cacert "$P/ca.crt" "${ADM[@]}" -H "Last-Event-ID: $((n - 2))" "$U/v1/events" >"$T/ev2.txt" 2>/dev/null
check "Last-Event-ID: the events after it" test "$(grep -c '^id:' "$T/ev2.txt")" -ge 2
if grep -q "ERROR: AddressSanitizer\|runtime error" "$T"/vh0*.log; then fail "no sanitizer report"; else pass "no sanitizer report"; fi
finish integration-agent
