#!/bin/bash
# move.sh - Move-VM through the cluster, in the lab with real etcd members: live and quick
# moves to a chosen host and to the best one, the seed's spelling, capacity (refused before
# anything starts; two moves racing for the last room), drain of a host with 4 VMs, and
# faults (agents and VMs killed during a move, an etcd member and the leader killed).
#
# After every move: the VM runs on exactly the host etcd names, its RAM hashes were equal on
# both sides, the guest is healthy (heartbeats, no kernel warning or workload alarm), the
# counter connection stays intact and the run intervals journalled on every host never
# overlap. After every fault: the VM runs on exactly one host, the one etcd names, or (only
# where the process that held it was killed) on none, stopped and able to start again from
# its disk; no reservation or incoming VM is left behind.
# Run as root. Prints TAP and "integration-move: N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 2
source tests/lib.sh
source lab/lib.sh
source lab/cluster.sh
source lab/vm.sh
scratch
trap 'lab_down >/dev/null 2>&1; rm -rf "$FERRY_TMP"' EXIT

for b in ferry ferryd ferry-vm ferry-counter ferry-ping; do
	if [ ! -x "build/bin/$b" ]; then
		fail "build/bin/$b is built" "run make first"
		finish integration-move
	fi
done
if [ ! -f "$FERRY_GUEST/Image" ]; then
	fail "the guest is built ($FERRY_GUEST/Image)"
	finish integration-move
fi

P=$(lab_up --hosts 3 --rate 400mbit 2>"$FERRY_TMP/up.err") || { fail "lab up" "$(cat "$FERRY_TMP/up.err")"; finish integration-move; }
lab_load "$P"
f() { cluster_ferry "$P" "$@"; }
dump_logs() {
	local h
	for h in $LAB_HOSTS; do
		echo "--- $h ferryd"
		tail -n 12 "$LAB_DIR/cluster/$h.ferryd.log" 2>/dev/null
		echo "--- $h cl7's vm.log"
		tail -n 6 "$LAB_TMP/hosts/$h/log/cl7/vm.log" 2>/dev/null
	done
}
if ! cluster_up "$P" --memory 1G --vcpus 4 2>"$FERRY_TMP/cluster.err"; then
	fail "the cluster comes up" "$(cat "$FERRY_TMP/cluster.err")"
	finish integration-move
fi
pass "three hosts, each with an etcd member and a ferryd (1 GiB, 4 vCPUs each)"

K=$LAB_SHARED/Image
I=$LAB_SHARED/initramfs.cpio
cp "$FERRY_GUEST/Image" "$K"
cp "$FERRY_GUEST/initramfs.cpio" "$I"
mkvm() { # NAME INDEX MEMORY WORK
	truncate -s 64M "$LAB_SHARED/$1.img"
	f vm create "$1" --memory "$3" --cpus 1 --kernel "$K" --initrd "$I" --disk "$LAB_SHARED/$1.img" \
		--append "console=ttyS0 quiet ip=$(lab_vm_addr "$2"):::255.255.255.0::eth0:off ferry.work=$4" >/dev/null
}
where() { f vm show "$1" --json 2>/dev/null | jq -r '.state + "@" + (.host // "-")'; }
console_of() { echo "$LAB_TMP/hosts/$1/log/$2/console.log"; } # HOST VM
# How many copies of VM run, over all hosts (ferry-vm processes named for it).
copies() { pgrep -f -- "$LAB_TMP/.* --name $1 " | wc -l; }
# No migration key left, and every host's alloc holds exactly the VMs that run there.
no_leftovers() {
	local out
	out=$(f migrations --json 2>&1)
	jq -e '.migrations | length == 0' <<<"$out" >/dev/null || { echo "migrations: $out"; return 1; }
	out=$(f host ls --json 2>&1)
	local vms hosts
	hosts=$(jq -r '.hosts[] | .name + " " + ((.vms // []) | sort | join(","))' <<<"$out")
	vms=$(f vm ls --json | jq -r '[.vms[] | select(.state == "running")] | group_by(.host)[] | .[0].host + " " + (map(.name) | sort | join(","))')
	local h line want
	for h in $LAB_HOSTS; do
		line=$(grep "^$h " <<<"$hosts" | cut -d' ' -f2)
		want=$(grep "^$h " <<<"$vms" | cut -d' ' -f2)
		[ "$line" = "$want" ] || { echo "$h admits '$line' but runs '$want'"; return 1; }
	done
}
# The guest on HOST is healthy from console line FROM on: heartbeats go on, no alarm.
healthy_after() { # HOST VM FROM-LINE
	local con n
	con=$(console_of "$1" "$2")
	sleep 5.5
	n=$(tail -n +"$3" "$con" | grep -c '^ferry-work: heartbeat')
	[ "${n:-0}" -ge 4 ] || { echo "$n heartbeats in 5.5 s on $1"; return 1; }
	if tail -n +"$3" "$con" | vm_bad_lines; then return 1; fi
	return 0
}
lines_of() { wc -l <"$1" 2>/dev/null || echo 0; }
journals_ok() { # VM
	local js
	js=$(ls "$LAB_TMP"/hosts/*/log/"$1"/journal 2>/dev/null)
	[ -n "$js" ] && vm_journals_disjoint $js
}

# check_move LABEL VM TO OUT: a move just done by `ferry move ... --json`.
check_move() {
	local label=$1 vm=$2 to=$3 out from_line
	out=$(jq '.migration // .' <<<"$4" 2>/dev/null) || out=$4
	if jq -e '.phase == "completed"' <<<"$out" >/dev/null 2>&1; then
		pass "$label: completed in $(jq -r .total_ms <<<"$out") ms, blackout $(jq -r .blackout_ms <<<"$out") ms"
	else
		fail "$label: completed" "$out" "$(dump_logs)"
		return 1
	fi
	local w
	w=$(where "$vm")
	if [ "$w" = "running@$to" ] && [ "$(copies "$vm")" = 1 ]; then pass "$label: etcd names $to, one copy runs"; else fail "$label: runs on $to only" "$w, $(copies "$vm") copies"; fi
	if jq -e '.mode == "quick" or (.ram_hash_source != null and .ram_hash_source == .ram_hash_destination)' <<<"$out" >/dev/null; then
		pass "$label: RAM hashes equal on both sides ($(jq -r '.ram_hash_source // "quick: the restore checks every record"' <<<"$out"))"
	else
		fail "$label: RAM hashes equal" "$out"
	fi
	from_line=$(($(lines_of "$(console_of "$to" "$vm")") - 200))
	[ $from_line -lt 1 ] && from_line=1
	if msg=$(healthy_after "$to" "$vm" "$from_line"); then pass "$label: the guest is healthy afterwards"; else fail "$label: guest healthy" "$msg"; fi
}

# 1. cl7 on vh01, every workload, pinged every 10 ms and every 1 ms, a counter stream.
mkvm cl7 7 256M "idle,dirty:64M:20M,counter,disklog"
if out=$(f vm start cl7 --on vh01 2>&1); then pass "cl7 starts on vh01"; else fail "cl7 starts" "$out" "$(dump_logs)"; finish integration-move; fi
IP7=$(lab_vm_addr 7)
for _ in $(seq 100); do lab_exec "$P" client ping -c 1 -W 1 "$IP7" >/dev/null 2>&1 && break; sleep 0.3; done
ip netns exec "$LAB_NS_CLIENT" build/bin/ferry-ping -i 10 "$IP7" >"$FERRY_TMP/ping10" 2>&1 &
ping10=$!
ip netns exec "$LAB_NS_CLIENT" build/bin/ferry-ping -i 1 "$IP7" >"$FERRY_TMP/ping1" 2>&1 &
ping1=$!
ip netns exec "$LAB_NS_CLIENT" build/bin/ferry-counter --duration 120 "$IP7" 7000 >"$FERRY_TMP/counter" 2>&1 &
counter=$!
sleep 2

# 2. To a chosen host, live.
out=$(f move cl7 --to vh02 --json 2>&1)
check_move "move cl7 --to vh02" cl7 vh02 "$out"
out=$(f move cl7 --to vh02 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q 'already runs on vh02' <<<"$out"; then pass "a move to where it runs: refused ($out)"; else fail "move to itself refused" "exit $rc: $out"; fi

# 3. The seed's spelling: -ComputerName must be where it runs; without -DestinationHost the best.
out=$(f Move-VM -ComputerName VH01 -Name CL7 -DestinationHost VH03 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q 'vh02' <<<"$out"; then pass "Move-VM with the wrong -ComputerName: refused, says where it is ($out)"; else fail "wrong -ComputerName" "exit $rc: $out"; fi
out=$(f --json Move-VM -ComputerName VH02 -Name CL7 2>&1)
best=$(jq -r '.migration.destination' <<<"$out" 2>/dev/null)
if [ "$best" = vh01 ] || [ "$best" = vh03 ]; then
	check_move "Move-VM -ComputerName VH02 -Name CL7 (best: $best)" cl7 "$best" "$out"
else
	fail "Move-VM to the best node" "$out"
	best=$(f vm show cl7 --json | jq -r .host)
fi
out=$(f move cl7 --to best --explain --no-wait 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q 'chosen:' <<<"$out" && [ "$(grep -c ' no ' <<<"$out")" = 1 ]; then pass "move --to best --explain says why each host was or was not chosen"; else fail "--explain" "exit $rc: $out"; fi
for _ in $(seq 200); do [ "$(f migrations --json | jq '.migrations | length')" = 0 ] && break; sleep 0.2; done
cur=$(f vm show cl7 --json | jq -r .host)

# 4. Quick migration.
for h in $LAB_HOSTS; do [ "$h" != "$cur" ] && { qto=$h; break; }; done
out=$(f move cl7 --to "$qto" --quick --json 2>&1)
check_move "quick move to $qto" cl7 "$qto" "$out"
cur=$qto

# 5. Capacity: a move to a host without room is refused before anything starts.
for h in $LAB_HOSTS; do [ "$h" != "$cur" ] && { full=$h; break; }; done
mkvm big 20 800M idle
f vm start big --on "$full" >/dev/null 2>&1
out=$(f move cl7 --to "$full" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "$full has" <<<"$out" && grep -q 'cl7 needs 256 MiB' <<<"$out"; then
	pass "no room on $full: refused with the numbers ($out)"
else
	fail "no room refused" "exit $rc: $out"
fi
if [ "$(where cl7)" = "running@$cur" ] && msg=$(no_leftovers); then pass "nothing started: cl7 runs on $cur, no migration, no reservation"; else fail "nothing started" "$(where cl7) $msg"; fi

# 6. Two moves racing for the last room: one wins, one is refused.
f vm stop big >/dev/null 2>&1
mkvm big2 21 832M idle # leaves 192 MiB on $full: room for one 128 MiB VM, not two
f vm start big2 --on "$full" >/dev/null 2>&1
others=()
for h in $LAB_HOSTS; do [ "$h" != "$full" ] && others+=("$h"); done
mkvm cl8 8 128M idle
mkvm cl9 9 128M idle
f vm start cl8 --on "${others[0]}" >/dev/null 2>&1
f vm start cl9 --on "${others[1]}" >/dev/null 2>&1
sleep 2
f move cl8 --to "$full" --json >"$FERRY_TMP/race8" 2>&1 &
r8=$!
f move cl9 --to "$full" --json >"$FERRY_TMP/race9" 2>&1 &
r9=$!
wait $r8; rc8=$?
wait $r9; rc9=$?
won=0
for v in 8 9; do jq -e '.migration.phase == "completed"' "$FERRY_TMP/race$v" >/dev/null 2>&1 && won=$((won + 1)); done
if [ $won -eq 1 ] && { [ $rc8 -ne 0 ] || [ $rc9 -ne 0 ]; } && grep -q 'free' "$FERRY_TMP/race8" "$FERRY_TMP/race9"; then
	pass "two moves race for the last room on $full: one wins, one is refused ($(grep -h 'free' "$FERRY_TMP/race8" "$FERRY_TMP/race9" | head -1))"
else
	fail "race for the last room" "cl8 exit $rc8: $(cat "$FERRY_TMP/race8")" "cl9 exit $rc9: $(cat "$FERRY_TMP/race9")"
fi
if msg=$(no_leftovers); then pass "after the race: no migration and no reservation left"; else fail "race leftovers" "$msg"; fi
f vm stop big2 >/dev/null 2>&1

# 7. Drain: a host with 4 VMs; all end on other hosts, never more than two moving out at once.
dh=$(f vm show cl7 --json | jq -r .host)
mkvm cl10 10 128M idle
for v in cl8 cl9 cl10; do
	h=$(f vm show $v --json | jq -r '.host // ""')
	st=$(f vm show $v --json | jq -r .state)
	if [ "$st" = running ] && [ "$h" != "$dh" ]; then f move $v --to "$dh" >/dev/null 2>&1
	elif [ "$st" != running ]; then f vm start $v --on "$dh" >/dev/null 2>&1; fi
done
n=$(f host show "$dh" --json | jq '.vms | length')
if [ "$n" = 4 ]; then pass "$dh runs 4 VMs (cl7, cl8, cl9, cl10)"; else fail "$dh runs 4 VMs" "$(f host show "$dh" --json)"; fi
t_drain=$(date +%s%3N)
out=$(f host drain "$dh" 2>&1); rc=$?
echo "$out" | sed 's/^/# /'
left=$(f host show "$dh" --json | jq '.vms | length')
lost=$(f vm ls --json | jq '[.vms[] | select(.state != "running" and (.name | test("^cl")))] | length')
if [ $rc -eq 0 ] && [ "$left" = 0 ] && [ "$lost" = 0 ]; then pass "drain of $dh: every VM moved to another host, none lost"; else fail "drain" "exit $rc, $left left, $lost not running" "$out" "$(dump_logs)"; fi
hist=$(f migrations --history --json)
most=$(jq --argjson t "$t_drain" '[.history[] | select(.source == "'"$dh"'" and .started_ms >= $t)
	| [.started_ms, .started_ms + (.total_ms | floor)]] as $iv
	| [$iv[] as $a | [$iv[] | select(.[0] <= $a[0] and .[1] > $a[0])] | length] | max // 0' <<<"$hist")
if [ "${most:-9}" -le 2 ] && [ "${most:-0}" -ge 1 ]; then pass "never more than two moves out of $dh at once (at most $most)"; else fail "at most two at once" "$most" "$hist"; fi
out=$(f host show "$dh" --json)
if jq -e '.state == "draining"' <<<"$out" >/dev/null; then pass "$dh stays draining"; else fail "draining state" "$out"; fi
out=$(f move cl8 --to "$dh" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q 'draining' <<<"$out"; then pass "nothing new is placed on a draining host ($out)"; else fail "draining refuses" "exit $rc: $out"; fi
out=$(f host resume "$dh" --json 2>&1)
if jq -e '.state == "active"' <<<"$out" >/dev/null; then pass "host resume $dh: active again"; else fail "host resume" "$out"; fi
for v in cl8 cl9 cl10; do f vm stop $v >/dev/null 2>&1; done

# 8. The counter, the pings and the journals, through every move so far.
wait $counter
rc=$?
line=$(grep '^counter:' "$FERRY_TMP/counter" | tail -1)
if [ $rc -eq 0 ] && grep -q 'skips 0, repeats 0' <<<"$line" && grep -q 'disconnected no' <<<"$line"; then
	pass "cl7's counter stream intact across every move ($line)"
else
	fail "counter intact" "exit $rc: $line" "$(tail -3 "$FERRY_TMP/counter")"
fi
kill -INT $ping10 $ping1 2>/dev/null
wait $ping10 $ping1 2>/dev/null
echo "# pings every 10 ms: $(tail -1 "$FERRY_TMP/ping10")"
echo "# pings every 1 ms: $(tail -1 "$FERRY_TMP/ping1")"
if lab_exec "$P" client ping -c 3 -W 1 "$IP7" >/dev/null; then pass "cl7 answers ping at the end"; else fail "cl7 answers at the end"; fi
if journals_ok cl7 >"$FERRY_TMP/overlap" 2>&1; then pass "cl7's run intervals on every host never overlap"; else fail "journals overlap" "$(cat "$FERRY_TMP/overlap")"; fi

# 9. Faults during a move. fault LABEL KILLWHAT: kill it while cl7 moves, then check.
#    KILLWHAT: dst-agent, src-agent, dst-vm, src-vm, etcd-member, etcd-leader
settle_check() { # LABEL VM: exactly one running copy, etcd names its host (or none, stopped)
	local label=$1 vm=$2 w c
	for _ in $(seq 100); do
		[ "$(f migrations --json 2>/dev/null | jq '.migrations | length')" = 0 ] && break
		sleep 0.3
	done
	sleep 1
	w=$(where "$vm")
	c=$(copies "$vm")
	local h=${w#*@}
	if { [[ $w == running@* ]] && [ "$c" = 1 ] && pgrep -f -- "--name $vm " >/dev/null &&
		[ -n "$(ls "$LAB_TMP/hosts/$h/run/vms/$vm.json" 2>/dev/null)" ]; } ||
		{ [ "$c" = 0 ] && [[ $w != running@* ]]; }; then
		pass "$label: $vm is $w, $c cop$([ "$c" = 1 ] && echo y || echo ies) running"
	else
		fail "$label: one copy, where etcd says" "$w, $c copies" "$(dump_logs)"
	fi
	if msg=$(no_leftovers); then pass "$label: no migration, reservation or incoming VM left"; else fail "$label: leftovers" "$msg"; fi
	if [ "$c" = 0 ]; then
		# stopped, not lost: it starts again from its disk
		local on
		on=${w#*@}
		[ "$on" = "-" ] && on=vh01
		if f vm start "$vm" --on "$on" >/dev/null 2>&1 && [ "$(where "$vm")" = "running@$on" ]; then
			pass "$label: $vm starts again from its disk on $on"
		else
			fail "$label: starts again" "$(where "$vm")"
		fi
	fi
}
fault() { # LABEL WHAT
	local label=$1 what=$2 src dst pid seen=""
	src=$(f vm show cl7 --json | jq -r .host)
	for h in $LAB_HOSTS; do [ "$h" != "$src" ] && { dst=$h; break; }; done
	f move cl7 --to "$dst" --no-wait >/dev/null 2>&1
	# in the middle of pre-copy (dirty:64M:20M on links shaped to 150 Mbit keeps it there
	# for seconds)
	for _ in $(seq 100); do
		if f migrations --json 2>/dev/null | jq -e '.migrations[0].phase | . == "precopy" or . == "migrating"' >/dev/null 2>&1; then seen=1; break; fi
		sleep 0.05
	done
	if [ -n "$seen" ]; then pass "$label: the fault comes during pre-copy"; else fail "$label: the fault comes during pre-copy" "no move in pre-copy seen"; fi
	case $what in
	dst-agent) cluster_agent_kill "$P" "$dst" KILL ;;
	src-agent) cluster_agent_kill "$P" "$src" KILL ;;
	dst-vm) pid=$(jq -r .pid "$LAB_TMP/hosts/$dst/run/vms/cl7.json" 2>/dev/null); [ -n "$pid" ] && kill -9 "$pid" ;;
	src-vm) pid=$(f vm show cl7 --json | jq -r .pid); kill -9 "$pid" ;;
	etcd-member)
		local l
		l=$(cluster_etcd_leader "$P")
		for h in $LAB_HOSTS; do [ "$h" != "$l" ] && { cluster_etcd_kill "$P" "$h"; EK=$h; break; }; done ;;
	etcd-leader) EK=$(cluster_etcd_leader "$P"); cluster_etcd_kill "$P" "$EK" ;;
	esac
	case $what in
	dst-agent) sleep 12; cluster_agent_start "$P" "$dst" ;;
	src-agent) sleep 12; cluster_agent_start "$P" "$src" ;;
	etcd-*) sleep 4; cluster_etcd_start "$P" "$EK" existing ;;
	esac
	cluster_wait_hosts "$P" 3 30 >/dev/null 2>&1
	sleep 3
	settle_check "$label" cl7
}
# Slower links for the faults, so that each lands in pre-copy.
for a in $LAB_HOSTS; do for b in $LAB_HOSTS; do
	[[ $a < $b ]] && for l in a b; do lab_link "$P" "$a" "$b" "$l" rate 150mbit >/dev/null 2>&1; done
done; done
fault "the destination's agent killed during pre-copy" dst-agent
fault "the source's agent killed during pre-copy" src-agent
fault "the incoming VM killed during pre-copy" dst-vm
fault "an etcd follower killed during a move" etcd-member
fault "the etcd leader killed during a move" etcd-leader
fault "the source's VM killed during pre-copy" src-vm
if journals_ok cl7 >"$FERRY_TMP/overlap" 2>&1; then pass "after the faults: cl7's run intervals never overlap"; else fail "journals overlap after faults" "$(cat "$FERRY_TMP/overlap")"; fi

# The disk log, written through every move and fault above, is intact when cl7 boots afresh.
f vm stop cl7 >/dev/null 2>&1
con=$(console_of vh01 cl7)
from=$(($(lines_of "$con") + 1))
if f vm start cl7 --on vh01 >/dev/null 2>&1; then
	for _ in $(seq 100); do tail -n +"${from:-1}" "$con" | grep -q 'ferry-work: disklog: found' && break; sleep 0.2; done
	line=$(tail -n +"${from:-1}" "$con" | grep 'ferry-work: disklog: found' | head -1)
	if grep -q ' ok' <<<"$line"; then pass "cl7's disk log intact after every move and fault ($line)"; else fail "disk log intact" "${line:-no disklog line}" "$(tail -n 5 "$con")"; fi
else
	fail "cl7 boots afresh on its disk"
fi

out=$(f migrations --history 2>&1)
if grep -q 'completed' <<<"$out" && grep -q 'failed' <<<"$out"; then pass "migrations --history lists completed and failed moves"; else fail "history" "$out"; fi
echo "$out" | tail -n 12 | sed 's/^/# /'

lab_down "$P" >/dev/null 2>&1
finish integration-move
