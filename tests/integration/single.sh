#!/bin/bash
# single.sh - the one-machine cluster end to end: `ferry cluster init` without --etcd, and
# ferryd running the store's one member itself.
#
# In a network and PID namespace of its own (nothing it listens on is seen outside; the
# bridge for the VM's TAP is its own; processes orphaned by a killed agent are reaped): the
# cluster made in a temporary config dir, ferryd started (it starts its etcd member, data
# 0700, pid file, log), the host alive in `ferry host ls`, a VM created and started with the
# guest, running in `vm ls`; ferryd killed -9 and started again (the member not started
# again: same pid; the VM adopted); a clean stop (the member keeps running); the member
# killed while ferryd is away (the next ferryd starts it again with its data: the VM's spec
# is still there). Everything is torn down by pid, the data removed.
if [ "$(id -u)" != 0 ]; then
	echo "1..0 # skip: single.sh needs root"
	exit 0
fi
if [ -z "$FERRY_SINGLE_NS" ]; then
	FERRY_SINGLE_NS=1 exec unshare --pid --net --fork --mount-proc bash "$0" "$@"
fi
source "$(dirname "$0")/../lib.sh"
FERRYD=${FERRYD:-$FERRY_ROOT/build/bin/ferryd}
FERRY=${FERRY:-$FERRY_ROOT/build/bin/ferry}
for f in "$FERRYD" "$FERRY" "$FERRY_VM" "$FERRY_GUEST/Image" "$FERRY_GUEST/initramfs.cpio"; do
	[ -e "$f" ] || { fail "$f is there (make; guest/build.sh)"; finish integration-single; }
done
[ -x /usr/bin/etcd ] || { fail "/usr/bin/etcd is installed (scripts/setup.sh)"; finish integration-single; }
unset INVOCATION_ID NOTIFY_SOCKET
T=$(mktemp -d /tmp/ferry-single.XXXXXX)
BR=fsb$((RANDOM % 10000)) ADDR=10.231.0.1
apid=
cleanup() {
	[ -n "$apid" ] && { kill -9 "$apid"; wait "$apid"; } 2>/dev/null
	for f in "$T"/run/vms/*.json; do [ -e "$f" ] && kill -9 "$(jq -r .pid "$f")" 2>/dev/null; done
	[ -e "$T/run/etcd.pid" ] && kill -9 "$(jq -r .pid "$T/run/etcd.pid")" 2>/dev/null
	sleep 0.3
	ip link del "$BR" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

ip link set lo up
ip link add "$BR" type bridge
ip addr add "$ADDR/24" dev "$BR"
ip link set "$BR" up

export FERRY_CONFIG_DIR=$T/etc
ferry() { "$FERRY" "$@"; }
CONF=$T/etc/hosts/vh01.json
check "cluster init without --etcd" ferry cluster init --name single --host vh01 --address "$ADDR" \
	--memory 512M --vcpus 2 --bridge "$BR" --state-dir "$T/state" --run-dir "$T/run" --log-dir "$T/log"
# the VMs are this build's ferry-vm
jq --arg vm "$FERRY_VM" '.vm_binary = $vm' "$CONF" >"$CONF.new" && mv "$CONF.new" "$CONF" && chmod 600 "$CONF"
check "the host's file asks for its own member" test "$(jq -r '.etcd_member.client_url + " " +
	.etcd_member.data_dir' "$CONF")" = "https://$ADDR:2379 $T/state/etcd"
check "... and it is the only endpoint" test "$(jq -c .etcd "$CONF")" = "[\"https://$ADDR:2379\"]"

agent() { # start ferryd, $apid gets the pid
	"$FERRYD" --config "$CONF" --log-level debug >>"$T/ferryd.log" 2>&1 &
	apid=$!
}
runs=0
alive() { # wait until this run of ferryd registered and ferry host ls shows vh01 alive
	runs=$((runs + 1))
	for _ in $(seq 150); do
		[ "$(grep -c "registered as vh01 under lease" "$T/ferryd.log")" -ge "$runs" ] || { sleep 0.2; continue; }
		[ "$(ferry --json host ls 2>/dev/null | jq -r '.hosts[] | select(.name == "vh01") | .alive')" = true ] &&
			return 0
		sleep 0.2
	done
	return 1
}
etcd_pid() { jq -r .pid "$T/run/etcd.pid" 2>/dev/null; }
starttime() { awk '{ sub(/.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null; }

agent
check "ferryd registers: vh01 alive in host ls" alive
check "host ls shows it" bash -c "'$FERRY' host ls | grep -q '^vh01 .*yes\|^vh01 .*true\|^vh01 '"
check "ferryd started its member" grep -q "started the etcd member vh01 (pid [0-9]*): a new one-member cluster" "$T/ferryd.log"
ep=$(etcd_pid)
check "the member's pid file names a live etcd" test "$(cat "/proc/$ep/comm" 2>/dev/null)" = etcd
check "its pid file records its start time" test "$(jq -r .start_time "$T/run/etcd.pid")" = "$(starttime "$ep")"
check "the member is in a session of its own" test "$(ps -o sid= -p "$ep" | tr -d ' ')" = "$ep"
check "its data dir is 0700" test "$(stat -c %a "$T/state/etcd")" = 700
check "it logs to log_dir/etcd.log" test -s "$T/log/etcd.log"
check "it serves with mutual TLS: no client certificate refused" bash -c \
	"! curl -sS --max-time 3 --cacert '$T/etc/ca.crt' https://$ADDR:2379/health >/dev/null 2>&1"
check "... and the host's certificate accepted" bash -c "curl -sS --max-time 3 --cacert '$T/etc/ca.crt' \
	--cert '$T/etc/hosts/vh01.crt' --key '$T/etc/hosts/vh01.key' https://$ADDR:2379/health | grep -q true"
cs=$(ferry --json cluster status 2>&1)
if [ "$(jq -r '[(.members | length), .quorum.ok, .leader] | @tsv' <<<"$cs" 2>&1)" = $'1\ttrue\tvh01' ]; then
	pass "cluster status: one member, vh01, leader, quorum ok"
else fail "cluster status: one member, vh01, leader, quorum ok" "$cs"; fi

K=$FERRY_GUEST/Image R=$FERRY_GUEST/initramfs.cpio
check "vm create" ferry vm create cl1 --memory 64M --kernel "$K" --initrd "$R" --append "console=ttyS0 ferry.work=idle"
check "vm start" ferry vm start cl1
check "vm ls: running on vh01" bash -c "'$FERRY' vm ls | grep -q '^cl1 *running *vh01'"
vpid=$(jq -r .pid "$T/run/vms/cl1.json")

kill -9 "$apid"
wait "$apid" 2>/dev/null
agent
check "ferryd killed -9 and started again: alive" alive
check "the member was not started again (same pid)" test "$(etcd_pid)" = "$ep"
check "... it is still the same process" test "$(starttime "$ep")" = "$(jq -r .start_time "$T/run/etcd.pid")"
check "... the agent says it adopted it" grep -q "the etcd member vh01 runs already (pid $ep, " "$T/ferryd.log"
check "only one etcd runs" test "$(pgrep -xc etcd)" = 1
check "the VM adopted" bash -c "'$FERRY' --json vm show cl1 | jq -e '.state == \"running\" and .reason == \"adopted\"' >/dev/null"
check "... the same process" test "$(jq -r .pid "$T/run/vms/cl1.json")" = "$vpid"
check "vm ls: running" bash -c "'$FERRY' vm ls | grep -q '^cl1 *running *vh01'"

kill -TERM "$apid"
wait "$apid"
check "a clean stop of ferryd: exit 0" test $? = 0
apid=
check "... the member keeps running" kill -0 "$ep"
check "... and answers" bash -c "curl -sS --max-time 3 --cacert '$T/etc/ca.crt' \
	--cert '$T/etc/hosts/vh01.crt' --key '$T/etc/hosts/vh01.key' https://$ADDR:2379/health | grep -q true"

# the member dies while its agent is away: the next run starts it again, on its data
kill -9 "$ep"
for _ in $(seq 50); do kill -0 "$ep" 2>/dev/null || break; sleep 0.1; done
agent
check "member gone: the next ferryd is alive again" alive
check "... it started the member again with its data" grep -q "started the etcd member vh01 (pid [0-9]*): again with its data" "$T/ferryd.log"
check "... a new process" test "$(etcd_pid)" != "$ep"
check "... the VM's record survived in the store, adopted" bash -c "'$FERRY' vm ls | grep -q '^cl1 *running *vh01'"

check "vm stop" ferry vm stop cl1
check "vm rm" ferry vm rm cl1
if grep -q "ERROR: AddressSanitizer\|runtime error" "$T/ferryd.log"; then fail "no sanitizer report"; else pass "no sanitizer report"; fi
if [ "$tap_fail" -ne 0 ]; then
	echo "# ferryd.log:"; tail -n 30 "$T/ferryd.log" | sed 's/^/#   /'
	echo "# etcd.log:"; tail -n 15 "$T/log/etcd.log" | sed 's/^/#   /'
fi
finish integration-single
