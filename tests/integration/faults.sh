#!/bin/bash
# faults.sh - a migration that fails at any point costs nothing: the fault matrix, and quick
# migration with its own faults.
#
# The guest boots once (idle, counter, disklog) and is saved; each case restores that save on
# vh01 with a fresh copy of its disk and lease, opens a counter connection, and migrates it to
# vh02 over both links while the fault switch (FERRY_FAULT, src/common/fault.h) strikes at one
# point of one side:
#   points  source: config round:1 before-pause after-pause last-page commit-request
#                   before-confirm
#           destination: config round:1 last-page before-commit after-commit before-resume
#                   after-resume
#   actions kill       that process is killed there (SIGKILL, by the switch itself)
#           kill-peer  it stops there; the test kill -9s the other side, then continues it
#           link-down  it stops there; link a (the control channel's) goes down on vh01
#           stall      it stops there; an nftables rule on vh02 drops all of link a
#           corrupt    one byte of the next record it sends is flipped
#           cancel     it stops there; the operator cancels on the source
# After every case, the invariants:
#   - the run intervals journalled by both processes never overlap (at most one copy ran);
#   - the VM runs on exactly one side, the one the lease record names, healthy (heartbeats go
#     on, no kernel warning, no disklog error, it answers ping) with its counter connection
#     intact (no skip, no repeat, still connected); or, only if the process holding the runnable copy was killed, on neither:
#     then it is stopped, not lost: a ferry-vm booted from the disk and its lease record
#     finds the disklog intact and continues it.
# Quick migration: every workload moves vh01 -> vh02 by save (release) and restore, healthy
# afterwards; a fault while saving or restoring never runs the VM twice, never restores a
# half-written file, and a save is restored at most once.
# FERRY_FAULT_POINTS / FERRY_FAULT_ACTIONS narrow the matrix (space-separated).
source "$(dirname "$0")/../lib.sh"
source "$FERRY_ROOT/lab/vm.sh"
scratch
trap 'cleanup_case; lab_down; rm -rf "$FERRY_TMP"' EXIT
ctl=$FERRY_VMCTL
counter_bin=$FERRY_ROOT/build/bin/ferry-counter
src_points="config round:1 before-pause after-pause last-page commit-request before-confirm"
dst_points="config round:1 last-page before-commit after-commit before-resume after-resume"
actions=${FERRY_FAULT_ACTIONS:-"kill kill-peer link-down stall corrupt cancel"}
mem=64M

P=$(lab_up --hosts 2 --rate 400mbit) || { fail "lab up"; finish integration-faults; }
lab_load "$P"
ip=$(lab_vm_addr 7)
mac=$(lab_vm_mac 7)
append="console=ttyS0 quiet ip=$ip:::255.255.255.0::eth0:off"
if_a=$(lab_ifname "$P" vh01 mig vh02 a)
ns1=$(lab_ns "$P" vh01)
ns2=$(lab_ns "$P" vh02)
addrs="$(lab_addr "$P" vh02 mig vh01 a):4444,$(lab_addr "$P" vh02 mig vh01 b):4444"
addr_list="\"${addrs%,*}\", \"${addrs#*,}\""
pstate() { awk '{print $3}' "/proc/$1/stat" 2>/dev/null; }
alive() { [ -n "$1" ] && [ -e "/proc/$1" ] && [ "$(pstate "$1")" != Z ]; }
vmstatus() { "$ctl" --timeout 2 "$1" --get status status 2>/dev/null; }
wait_for() { # SECONDS COMMAND...: until COMMAND succeeds
	local n=$(($1 * 20))
	shift
	for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.05; done
	return 1
}


# --- the golden save: boot once ---
gold=$FERRY_TMP/gold
mkdir -p "$gold"
truncate -s 16M "$gold/disk.img"
lab_tap "$P" vh01 "$P-g"
lab_spawn "$P" vh01 "$gold/console.log" "$FERRY_VM" --kernel "$FERRY_GUEST/Image" \
	--initrd "$FERRY_GUEST/initramfs.cpio" --memory "$mem" --net "tap:$P-g,mac=$mac" \
	--disk "$gold/disk.img" --control "unix:$gold/ctl.sock" --name gold \
	--append "$append ferry.work=idle,counter,disklog" >/dev/null
gpid=$LAB_PID
if wait_for 60 grep -q 'ferry-work: disklog: t=' "$gold/console.log" &&
	"$ctl" "$gold/ctl.sock" save "{\"file\": \"$gold/save\"}" >/dev/null; then
	pass "the guest boots once and is saved ($(du -h "$gold/save" | cut -f1) save, workloads idle, counter, disklog)"
else
	fail "the guest boots once and is saved" "$(tail -5 "$gold/console.log")"
	finish integration-faults
fi
"$ctl" "$gold/ctl.sock" quit >/dev/null 2>&1
wait_for 10 eval '! alive $gpid'
lab_untap "$P" vh01 "$P-g"

# --- one case ---
SPID="" DPID="" CPID="" CASE_DIR="" STALLED="" LINK_DOWN=""
cleanup_case() {
	local p
	for p in $SPID $DPID $CPID; do alive "$p" && kill -9 "$p" 2>/dev/null; done
	[ -n "$CPID" ] && wait "$CPID" 2>/dev/null
	if [ -n "$STALLED" ]; then ip netns exec "$ns2" nft delete table inet ferryfault 2>/dev/null; fi
	if [ -n "$LINK_DOWN" ]; then ip -n "$ns1" link set dev "$if_a" up 2>/dev/null; fi
	ip -n "$ns1" link del dev "$P-s" 2>/dev/null
	ip -n "$ns2" link del dev "$P-d" 2>/dev/null
	ip -n "$ns1" link del dev "$P-b" 2>/dev/null
	SPID="" DPID="" CPID="" STALLED="" LINK_DOWN=""
}

# Start the source on vh01 from the golden save, with its own disk copy. FERRY_FAULT for it
# in $1 (may be empty).
start_source() {
	cp "$gold/disk.img" "$CASE_DIR/disk.img"
	cp "$gold/disk.img.lease" "$CASE_DIR/disk.img.lease"
	lab_tap "$P" vh01 "$P-s"
	lab_spawn "$P" vh01 "$CASE_DIR/src.log" env FERRY_FAULT="$1" "$FERRY_VM" --restore "$gold/save" \
		--net "tap:$P-s,mac=$mac" --disk "$CASE_DIR/disk.img" --control "unix:$CASE_DIR/src.sock" \
		--journal "$CASE_DIR/src.journal" --name src >/dev/null
	SPID=$LAB_PID
	wait_for 10 eval '[ "$(vmstatus "$CASE_DIR/src.sock")" = running ]'
}

start_destination() { # FERRY_FAULT
	lab_tap "$P" vh02 "$P-d"
	(umask 077 && echo "tok$CASE-5f3a9c0e7b214d68a1c9e03b7f52d4a6" >"$CASE_DIR/token")
	lab_spawn "$P" vh02 "$CASE_DIR/dst.log" env FERRY_FAULT="$1" "$FERRY_VM" --incoming "$addrs" \
		--token-file "$CASE_DIR/token" --memory "$mem" --net "tap:$P-d,mac=$mac" --disk "$CASE_DIR/disk.img" \
		--control "unix:$CASE_DIR/dst.sock" --journal "$CASE_DIR/dst.journal" --name dst >/dev/null
	DPID=$LAB_PID
	wait_for 10 eval '[ -n "$(vmstatus "$CASE_DIR/dst.sock")" ]'
}

start_counter() {
	ip netns exec "$LAB_NS_CLIENT" "$counter_bin" --duration 120 "$ip" 7000 >"$CASE_DIR/counter" 2>&1 &
	CPID=$!
	sleep 0.5
}

# After the case settles: the checks. Prints nothing; pass/fail lines.
check_case() { # label action
	local label=$1 action=$2 runners=() line ok=1 why=""
	if ! vm_journals_disjoint "$CASE_DIR/src.journal" "$CASE_DIR/dst.journal" >"$CASE_DIR/overlap" 2>&1; then
		ok=0 why="run intervals overlap: $(head -1 "$CASE_DIR/overlap")"
	fi
	alive "$SPID" && [ "$(vmstatus "$CASE_DIR/src.sock")" = running ] && runners+=(src)
	alive "$DPID" && [ "$(vmstatus "$CASE_DIR/dst.sock")" = running ] && runners+=(dst)
	if [ ${#runners[@]} -gt 1 ]; then
		ok=0 why="$why; the VM runs on both sides"
	elif [ ${#runners[@]} -eq 1 ]; then
		local r=${runners[0]} con=$CASE_DIR/${runners[0]}.log before
		before=$(vm_heartbeats "$con")
		sleep 2.2
		kill -INT "$CPID" 2>/dev/null
		wait "$CPID" 2>/dev/null
		line=$(grep '^counter:' "$CASE_DIR/counter" | tail -1)
		CPID=""
		if [ $(($(vm_heartbeats "$con") - before)) -lt 2 ]; then ok=0 why="$why; heartbeats stopped on $r"; fi
		if vm_bad_lines "$con" >/dev/null; then ok=0 why="$why; $(vm_bad_lines "$con" | head -1)"; fi
		if ! echo "$line" | grep -q 'skips 0, repeats 0.*disconnected no'; then ok=0 why="$why; counter: ${line:-no result}"; fi
		if ! ip netns exec "$LAB_NS_CLIENT" ping -c 2 -W 1 "$ip" >/dev/null 2>&1; then ok=0 why="$why; no ping answer"; fi
		# The side that runs it owns it: the record names it.
		local owner
		owner=$(sed -n 's/.*owner=\([^ ]*\).*/\1/p' "$CASE_DIR/disk.img.lease")
		if [ "$owner" != "$r" ]; then ok=0 why="$why; runs on $r but the lease record names '$owner'"; fi
		OUTCOME="runs on $r, the owner of record"
	else
		# Nobody runs it: only acceptable if the process holding the runnable copy was killed.
		case $action in kill | kill-peer) ;; *) ok=0 why="$why; the VM runs nowhere, yet nothing was killed" ;; esac
		cleanup_case
		lab_tap "$P" vh01 "$P-b"
		lab_spawn "$P" vh01 "$CASE_DIR/boot.log" "$FERRY_VM" --kernel "$FERRY_GUEST/Image" \
			--initrd "$FERRY_GUEST/initramfs.cpio" --memory "$mem" --net "tap:$P-b,mac=$mac" \
			--disk "$CASE_DIR/disk.img" --name again --append "$append ferry.work=disklog" >/dev/null
		SPID=$LAB_PID
		if wait_for 30 grep -q 'disklog: found' "$CASE_DIR/boot.log" && wait_for 10 grep -q 'disklog: t=' "$CASE_DIR/boot.log"; then
			line=$(grep 'disklog: found' "$CASE_DIR/boot.log" | head -1)
			if ! echo "$line" | grep -q ' ok' || vm_bad_lines "$CASE_DIR/boot.log" >/dev/null; then
				ok=0 why="$why; disklog after restart: $line $(vm_bad_lines "$CASE_DIR/boot.log" | head -1)"
			fi
		else
			ok=0 why="$why; a ferry-vm booted from the disk and lease did not come up: $(tail -2 "$CASE_DIR/boot.log" | tr '\n' ' ')"
		fi
		OUTCOME="stopped, restarted from its record ($(grep -o 'found [0-9]* records' "$CASE_DIR/boot.log" | head -1))"
	fi
	if [ $ok -eq 1 ]; then
		pass "$label: $OUTCOME"
		HELD=$((HELD + 1))
	else
		fail "$label" "${why#; }" "source: $(grep -E 'fault switch|migration|error' "$CASE_DIR/src.log" | tail -2 | tr '\n' ' ')" \
			"destination: $(grep -E 'fault switch|migration|error' "$CASE_DIR/dst.log" | tail -2 | tr '\n' ' ')"
	fi
}

# Settled: no live process is paused any more (each side has decided), or the bound passed.
settled() {
	local s d
	if alive "$SPID"; then s=$(vmstatus "$CASE_DIR/src.sock"); [ "$s" = running ] || return 1; fi
	if alive "$DPID"; then d=$(vmstatus "$CASE_DIR/dst.sock"); [ "$d" = running ] || return 1; fi
	return 0
}

run_case() { # side point action
	local side=$1 point=$2 action=$3 home peer fault sfault="" dfault="" t0 cancel_pid=""
	CASE=$((CASE + 1))
	CASE_DIR=$FERRY_TMP/case$CASE
	mkdir -p "$CASE_DIR"
	case $action in
	kill) fault="$point:kill" ;;
	corrupt) fault="$point:corrupt" ;;
	*) fault="$point:stop" ;;
	esac
	if [ "$side" = src ]; then sfault=$fault; else dfault=$fault; fi
	if ! start_source "$sfault"; then
		fail "$side $point $action: source restored" "$(tail -3 "$CASE_DIR/src.log")"
		cleanup_case
		return
	fi
	start_counter
	start_destination "$dfault"
	"$ctl" "$CASE_DIR/src.sock" migrate - <<<"{\"addresses\": [$addr_list], \"token\": \"tok$CASE-5f3a9c0e7b214d68a1c9e03b7f52d4a6\"}" >"$CASE_DIR/migrate" 2>&1
	if [ "$side" = src ]; then home=$SPID peer=$DPID; else home=$DPID peer=$SPID; fi
	case $action in
	kill)
		wait_for 60 eval '! alive $home' || { fail "$side $point $action: the fault point is reached"; cleanup_case; return; }
		;;
	corrupt) ;;
	*)
		if ! wait_for 60 eval '[ "$(pstate $home)" = T ]'; then
			fail "$side $point $action: the fault point is reached" "$(grep -E 'migration' "$CASE_DIR/src.log" | tail -2)"
			cleanup_case
			return
		fi
		case $action in
		kill-peer) kill -9 "$peer" ;;
		link-down)
			if ! ip -n "$ns1" link set dev "$if_a" down; then
				fail "$side $point $action: link a goes down"
				cleanup_case
				return
			fi
			LINK_DOWN=1
			;;
		stall)
			ip netns exec "$ns2" nft -f - <<-EOF && STALLED=1
				table inet ferryfault {
					chain in { type filter hook input priority -10; iifname "$(lab_ifname "$P" vh02 mig vh01 a)" drop; }
					chain out { type filter hook output priority -10; oifname "$(lab_ifname "$P" vh02 mig vh01 a)" drop; }
				}
			EOF
			if [ -z "$STALLED" ]; then
				fail "$side $point $action: an nftables rule stalls link a" "nft failed"
				cleanup_case
				return
			fi
			;;
		cancel)
			"$ctl" --timeout 20 "$CASE_DIR/src.sock" migrate-cancel >"$CASE_DIR/cancel" 2>&1 &
			cancel_pid=$!
			sleep 0.2 # the request is queued on the socket of a stopped source
			;;
		esac
		kill -CONT "$home"
		[ -n "$cancel_pid" ] && wait "$cancel_pid"
		;;
	esac
	t0=$(date +%s.%N)
	wait_for 30 settled
	SETTLE=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	# Links back before the checks: the guest's network goes over the VM bridge, not these links.
	if [ -n "$STALLED" ]; then ip netns exec "$ns2" nft delete table inet ferryfault; STALLED=""; fi
	if [ -n "$LINK_DOWN" ]; then ip -n "$ns1" link set dev "$if_a" up; LINK_DOWN=""; fi
	# Why it failed, for the log: an error reply to migrate or migrate-cancel (ferry-vmctl puts
	# it on stderr after its name), else the error in the source's status.
	local reason
	reason=$(cat "$CASE_DIR/migrate" "$CASE_DIR/cancel" 2>/dev/null |
		jq -Rr 'sub("^ferry-vmctl: "; "") | fromjson? | (.error | objects | .desc), (.return.error? | strings)' |
		head -1)
	[ -z "$reason" ] && alive "$SPID" && reason=$("$ctl" --timeout 2 "$CASE_DIR/src.sock" migrate-status 2>/dev/null |
		jq -r '.return.error // empty' 2>/dev/null)
	echo "# case $CASE ($side $point $action): settled in ${SETTLE}s${reason:+; error: $reason}"
	check_case "$side $point $action" "$action"
	cleanup_case
	rm -f "$CASE_DIR/disk.img" "$CASE_DIR/disk.img.lease"
}

CASE=0
HELD=0
# FERRY_FAULT_POINTS keeps only those points, on whichever side has them.
wanted() { [ -z "${FERRY_FAULT_POINTS:-}" ] || [[ " $FERRY_FAULT_POINTS " == *" $1 "* ]]; }
for action in $actions; do
	for point in $src_points; do wanted "$point" && run_case src "$point" "$action"; done
	for point in $dst_points; do wanted "$point" && run_case dst "$point" "$action"; done
done
echo "# fault matrix: $CASE cases, $HELD held"
[ "$CASE" -gt 0 ] && [ "$HELD" -eq "$CASE" ] && pass "fault matrix: all $CASE cases held" || fail "fault matrix: $HELD of $CASE cases held"

# --- quick migration ---
qmem=128M
qidx=20

# The guest after a move on its new host: heartbeats go on, its clock continues, no warning,
# it answers ping.
healthy_after() { # label console-before console-after
	local n0 up0 up1
	n0=$(vm_heartbeats "$3")
	sleep 3
	up0=$(vm_last_uptime "$2")
	up1=$(vm_first_uptime "$3")
	if [ $(($(vm_heartbeats "$3") - n0)) -ge 2 ] && ! vm_bad_lines "$3" >/dev/null &&
		awk -v a="$up0" -v b="$up1" 'BEGIN { exit !(a != "" && b != "" && b > a) }' &&
		ip netns exec "$LAB_NS_CLIENT" ping -c 2 -W 1 "$QIP" >/dev/null 2>&1; then
		pass "$1: healthy on the new host (uptime $up0 s -> $up1 s, heartbeats go on, ping answers)"
	else
		fail "$1: healthy on the new host" "uptime $up0 -> $up1; $(vm_bad_lines "$3" | head -1)" "$(tail -3 "$3")"
	fi
}

# A fresh ferry-vm booted from the VM's disk and lease finds the disklog intact and goes on.
boots_from_record() { # label name
	local disk log=$FERRY_TMP/$2.boot.log
	disk=$(vm_var "$P" "$2" disk)
	lab_tap "$P" vh01 "$P-b"
	lab_spawn "$P" vh01 "$log" "$FERRY_VM" --kernel "$FERRY_GUEST/Image" --initrd "$FERRY_GUEST/initramfs.cpio" \
		--memory "$qmem" --net "tap:$P-b,mac=$(vm_var "$P" "$2" mac)" --disk "$disk" --name again \
		--append "console=ttyS0 quiet ip=$QIP:::255.255.255.0::eth0:off ferry.work=disklog" >/dev/null
	local bpid=$LAB_PID line
	if wait_for 30 grep -q 'disklog: found' "$log" && wait_for 10 grep -q 'disklog: t=' "$log" &&
		line=$(grep 'disklog: found' "$log" | head -1) && echo "$line" | grep -q ' ok' && ! vm_bad_lines "$log" >/dev/null; then
		pass "$1: stopped, not lost: booted from its disk and lease record, the disklog continues ($line)"
	else
		fail "$1: booted from its disk and lease record" "$(grep disklog "$log" | head -2)" "$(tail -2 "$log")"
	fi
	kill -9 "$bpid" 2>/dev/null
	wait_for 5 eval '! alive $bpid'
	ip -n "$ns1" link del dev "$P-b" 2>/dev/null
}

qm_start() { # name work
	QIP=$(lab_vm_addr "$qidx")
	vm_start "$P" "$1" vh01 --memory "$qmem" --work "$2" --index "$qidx" --disk-size 16M &&
		wait_for 30 grep -q '^ferry-work: heartbeat 2 ' "$(vm_var "$P" "$1" console)"
}

for w in idle dirty:64M:20M counter disklog all; do
	qidx=$((qidx + 1))
	name=qm$qidx
	work=$(vm_workload "$w")
	if ! qm_start "$name" "$work"; then
		fail "quick $w: VM starts on vh01"
		continue
	fi
	qcounter=""
	if [[ $work == *counter* ]]; then
		ip netns exec "$LAB_NS_CLIENT" "$counter_bin" --duration 120 "$QIP" 7000 >"$FERRY_TMP/$name.counter" 2>&1 &
		qcounter=$!
		sleep 0.5
	fi
	con1=$(vm_var "$P" "$name" console)
	t0=$(date +%s%N)
	out=$(vm_quick_migrate "$P" "$name" vh02)
	t1=$(date +%s%N)
	if jq -e '.return.released == true' <<<"$out" >/dev/null 2>&1 && [ "$(vm_var "$P" "$name" host)" = vh02 ] &&
		tail -1 "$LAB_DIR/vms/$name/journal.1" | grep -q 'STOP saved'; then
		pass "quick $w: saved on vh01 (which ended), restored on vh02 in $(((t1 - t0) / 1000000)) ms"
	else
		fail "quick $w: saved on vh01, restored on vh02" "$out" "$(tail -2 "$LAB_DIR/vms/$name/journal.1")"
		vm_stop "$P" "$name"
		continue
	fi
	healthy_after "quick $w" "$con1" "$(vm_var "$P" "$name" console)"
	if [ -n "$qcounter" ]; then
		kill -INT "$qcounter" 2>/dev/null
		wait "$qcounter"
		line=$(grep '^counter:' "$FERRY_TMP/$name.counter" | tail -1)
		if echo "$line" | grep -q 'skips 0, repeats 0.*disconnected no'; then
			pass "quick $w: the counter connection survives ($line)"
		else
			fail "quick $w: the counter connection survives" "$line"
		fi
	fi
	if vm_journals_disjoint "$LAB_DIR/vms/$name"/journal.* >"$FERRY_TMP/overlap" 2>&1; then
		pass "quick $w: run intervals never overlap"
	else
		fail "quick $w: run intervals never overlap" "$(cat "$FERRY_TMP/overlap")"
	fi
	vm_stop "$P" "$name"
	[[ $work == *disklog* ]] && boots_from_record "quick $w" "$name"
done

# Faults while saving and restoring.
restore_on() { # name host fault log [file]: a ferry-vm restoring the VM's save; sets RPID
	local t=$P-r$RANDOM
	t=${t:0:15}
	lab_tap "$P" "$2" "$t"
	lab_spawn "$P" "$2" "$4" env FERRY_FAULT="$3" "$FERRY_VM" --restore "${5:-$LAB_SHARED/$1.save}" \
		--net "tap:$t,mac=$(vm_var "$P" "$1" mac)" --disk "$(vm_var "$P" "$1" disk)" \
		--control "unix:$4.sock" --journal "$4.journal" --name "$1.r" >/dev/null
	RPID=$LAB_PID
}

# save-write: killed with the file half written. No file under its name; the half-written one
# is refused; the VM is stopped, not lost.
qidx=$((qidx + 1))
name=qf$qidx
if FERRY_FAULT=save-write:kill qm_start "$name" idle,disklog; then
	"$ctl" "$(vm_var "$P" "$name" sock)" save "{\"file\": \"$LAB_SHARED/$name.save\", \"release\": true}" >/dev/null 2>&1
	wait_for 10 eval '! alive $(vm_var "$P" "$name" pid)'
	if [ ! -e "$LAB_SHARED/$name.save" ] && [ -e "$LAB_SHARED/$name.save.tmp" ]; then
		pass "save-write kill: no save under its name, only the half-written $name.save.tmp"
	else
		fail "save-write kill: no save under its name" "$(ls "$LAB_SHARED" | tr '\n' ' ')"
	fi
	restore_on "$name" vh02 "" "$FERRY_TMP/$name.r1" "$LAB_SHARED/$name.save.tmp"
	wait_for 10 eval '! alive $RPID'
	out=$(grep '^ferry-vm:' "$FERRY_TMP/$name.r1" | tail -1)
	if ! alive "$RPID" && [ -n "$out" ] && ! grep -q RUN "$FERRY_TMP/$name.r1.journal" 2>/dev/null; then
		pass "save-write kill: even asked to, ferry-vm refuses the half-written file ($out)"
	else
		fail "save-write kill: the half-written file is refused" "$(tail -2 "$FERRY_TMP/$name.r1")"
		kill -9 "$RPID" 2>/dev/null
	fi
	boots_from_record "save-write kill" "$name"
else
	fail "save-write kill: VM starts"
fi

# save-release: killed after the file is complete, before handing over: the save restores.
qidx=$((qidx + 1))
name=qf$qidx
if FERRY_FAULT=save-release:kill qm_start "$name" idle,disklog; then
	"$ctl" "$(vm_var "$P" "$name" sock)" save "{\"file\": \"$LAB_SHARED/$name.save\", \"release\": true}" >/dev/null 2>&1
	wait_for 10 eval '! alive $(vm_var "$P" "$name" pid)'
	restore_on "$name" vh02 "" "$FERRY_TMP/$name.r1"
	if wait_for 10 eval '[ "$(vmstatus "$FERRY_TMP/$name.r1.sock")" = running ]'; then
		pass "save-release kill: the complete save restores on vh02"
		healthy_after "save-release kill" "$(vm_var "$P" "$name" console)" "$FERRY_TMP/$name.r1"
	else
		fail "save-release kill: the complete save restores on vh02" "$(tail -2 "$FERRY_TMP/$name.r1")"
	fi
	if vm_journals_disjoint "$LAB_DIR/vms/$name/journal.1" "$FERRY_TMP/$name.r1.journal" >/dev/null 2>&1; then pass "save-release kill: run intervals never overlap"; else fail "save-release kill: run intervals never overlap"; fi
	kill -9 "$RPID"
	wait_for 5 eval '! alive $RPID'
else
	fail "save-release kill: VM starts"
fi

# restore-claim: the restoring process dies before it moves the lease: another restore works.
# restore-resume: it dies after moving the lease, before running: the save is stale now and
# refused; the VM is stopped, not lost.
for f in restore-claim restore-resume; do
	qidx=$((qidx + 1))
	name=qf$qidx
	if ! qm_start "$name" idle,disklog; then
		fail "$f kill: VM starts"
		continue
	fi
	"$ctl" "$(vm_var "$P" "$name" sock)" save "{\"file\": \"$LAB_SHARED/$name.save\", \"release\": true}" >/dev/null 2>&1
	wait_for 10 eval '! alive $(vm_var "$P" "$name" pid)'
	restore_on "$name" vh02 "$f:kill" "$FERRY_TMP/$name.r1"
	wait_for 10 eval '! alive $RPID'
	restore_on "$name" vh02 "" "$FERRY_TMP/$name.r2"
	if [ $f = restore-claim ]; then
		if wait_for 10 eval '[ "$(vmstatus "$FERRY_TMP/$name.r2.sock")" = running ]'; then
			pass "restore-claim kill: a second restore takes the lease and runs"
			healthy_after "restore-claim kill" "$(vm_var "$P" "$name" console)" "$FERRY_TMP/$name.r2"
		else
			fail "restore-claim kill: a second restore takes the lease and runs" "$(tail -2 "$FERRY_TMP/$name.r2")"
		fi
		kill -9 "$RPID"
	else
		wait_for 10 eval '! alive $RPID'
		if grep -q 'the save is stale' "$FERRY_TMP/$name.r2"; then
			pass "restore-resume kill: the save is not restored twice ($(grep -o 'the save is stale[^;]*' "$FERRY_TMP/$name.r2"))"
		else
			fail "restore-resume kill: the save is not restored twice" "$(tail -2 "$FERRY_TMP/$name.r2")"
			kill -9 "$RPID" 2>/dev/null
		fi
		wait_for 5 eval '! alive $RPID'
		boots_from_record "restore-resume kill" "$name"
	fi
	wait_for 5 eval '! alive $RPID'
	if vm_journals_disjoint "$LAB_DIR/vms/$name/journal.1" "$FERRY_TMP/$name".r*.journal >/dev/null 2>&1; then pass "$f kill: run intervals never overlap"; else fail "$f kill: run intervals never overlap"; fi
done

finish integration-faults
