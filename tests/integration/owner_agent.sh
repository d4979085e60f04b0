#!/bin/bash
# owner_agent.sh - `ferry-vm --owner agent:...`: the host agent decides who owns the VM, asked
# over the control socket; the lease file beside the disk records its tokens.
#
# On loopback, two ferry-vm on one disk image and its lease (in a temporary directory of this
# run), and a shell standing in for the agent (ferry-vmctl: owner-pending, owner-answer):
#   1. a move: the source runs with agent:100, the destination (disk and token as inherited
#      descriptors, as ferryd starts it) with agent:0. The destination's commit comes out as the
#      OWNER event (re-sent to a client that connects late); answered busy, it is asked again
#      (a new request, at least 10 ms later); answered ok with token 101 after 300 ms, the VM
#      runs there, and the blackout's commit_ms holds that wait. The source's settle is
#      answered refused (the record is at 101): it exits 0. The lease file records 101.
#   2. a refused commit: the destination exits without having run; the source's settle is
#      answered ok at its token, and the VM runs on at the source.
#   3. a quick migration: saved with release at token 102; restored with from=102 (the agent
#      moved the record from the save's token to 103): it runs, the lease file says 103. The
#      same save with from=103 is stale and refused; without from= no restore was expected.
# And the command line: what --owner needs. Only the processes started here are stopped.
source "$(dirname "$0")/../lib.sh"
ctl=$FERRY_ROOT/build/bin/ferry-vmctl
for f in "$FERRY_VM" "$ctl" "$FERRY_GUEST/Image" "$FERRY_GUEST/initramfs.cpio"; do
	[ -e "$f" ] || { fail "$f is there (make; guest/build.sh)"; finish integration-owner-agent; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/ferry-owner-agent.$$.XXXXXX")
pids=""
cleanup() {
	local p
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
cc -O2 -o "$T/ctlclient" "$FERRY_ROOT/tests/integration/ctlclient.c" || { fail "build ctlclient"; finish integration-owner-agent; }

port=$((30000 + $$ % 20000))
disk=$T/disk.img
lease=$disk.lease
truncate -s 16M "$disk"
append="console=ttyS0 quiet ferry.work=idle"
tok=tok-$$-owner-4c1d9e7a2b6f4083b5e1a7c9d2f06e48
(umask 077 && echo "$tok" >"$T/token")

alive() { [ -e "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
wait_exit() { # PID SECONDS: its exit status, or 124 if it still runs then (it is killed)
	for _ in $(seq 1 $(($2 * 20))); do
		alive "$1" || { wait "$1"; return; }
		sleep 0.05
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 124
}
wait_for() { # SECONDS COMMAND...: until COMMAND succeeds
	local n=$(($1 * 20))
	shift
	for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.05; done
	return 1
}
# A ferry-vm with control socket NAME.sock, console NAME.con, log NAME.log, journal
# NAME.journal; its pid in pid_NAME. Returns once the socket answers.
start_vm() { # NAME ARGS...
	local name=$1
	shift
	"$FERRY_VM" --memory 64M --control "unix:$T/$name.sock" --journal "$T/$name.journal" \
		--name "$name" --log info "$@" </dev/null >"$T/$name.con" 2>"$T/$name.log" &
	pids="$pids $!"
	eval "pid_$name=$!"
	wait_for 10 "$ctl" --timeout 1 "$T/$name.sock" status >/dev/null 2>&1
}
c() { "$ctl" --timeout 5 "$@"; }
lease_epoch() { sed -n 's/^ferry-lease v1 epoch=\([0-9]*\) .*/\1/p' "$lease"; }
heartbeats() { grep -c '^ferry-work: heartbeat' "$1" 2>/dev/null; }
# The pending request's member KEY on socket SOCK ("" if none).
pending() { c "$1" owner-pending 2>/dev/null | jq -r ".return.$2 // empty" 2>/dev/null; }
# Wait until SOCK has a pending request OP with a seq other than NOT; its seq on stdout.
wait_request() { # SOCK OP NOT SECONDS
	local s
	for _ in $(seq 1 $(($4 * 20))); do
		s=$(pending "$1" seq)
		if [ -n "$s" ] && [ "$s" != "$3" ] && [ "$(pending "$1" op)" = "$2" ]; then
			echo "$s"
			return 0
		fi
		sleep 0.05
	done
	return 1
}
answer() { c "$1" owner-answer - <<<"$2"; } # SOCK ARGS-JSON
# The run intervals of the journals never overlap (at most one copy ran).
disjoint() { # JOURNAL...
	awk '
		FNR == 1 && NR > 1 && running { print start, "9999999999999999999" }
		FNR == 1 { running = 0 }
		$3 == "RUN" { start = $1; running = 1; next }
		($3 == "PAUSE" || $3 == "STOP") && running { print start, $1; running = 0; next }
		END { if (running) print start, "9999999999999999999" }
	' "$@" | sort -n | awk 'NR > 1 && $1 < prev_end { bad = 1 } { if ($2 > prev_end) prev_end = $2 }
		END { exit bad }'
}
holds_lock() { # PID FILE: PID holds a lock on FILE (/proc/locks: pid, then dev:inode)
	local ino
	ino=$(stat -c %i "$2" 2>/dev/null) || return 1
	awk -v p="$1" -v i="$ino" '$5 == p && $6 ~ (":" i "$") { f = 1 } END { exit !f }' /proc/locks
}
runs_on() { # SOCK: running, and its guest clock goes on (frozen while paused)
	local a b
	[ "$(c "$1" --get status status 2>/dev/null)" = running ] || return 1
	a=$(c "$1" --get guest_ns status)
	sleep 0.3
	b=$(c "$1" --get guest_ns status)
	[ -n "$a" ] && [ -n "$b" ] && [ "$b" -gt "$a" ]
}

# ---- the command line ---------------------------------------------------------------------------
usage_err() { # NAME PATTERN ARGS...
	local name=$1 pat=$2 out rc
	shift 2
	out=$(timeout 10 "$FERRY_VM" "$@" </dev/null 2>&1)
	rc=$?
	if [ $rc -eq 2 ] && grep -q -- "$pat" <<<"$out"; then pass "$name"; else fail "$name" "exit $rc: $out"; fi
}
B=(--kernel "$FERRY_GUEST/Image" --initrd "$FERRY_GUEST/initramfs.cpio")
K=("${B[@]}" --console null)
usage_err "--owner needs a lease" "needs a lease" "${K[@]}" --control "unix:$T/x.sock" --owner agent:5
usage_err "--owner needs --control" "needs --control" "${K[@]}" --disk "$disk" --owner agent:5
usage_err "--owner agent:0 is for --incoming" "is for --incoming" "${K[@]}" --disk "$disk" --control "unix:$T/x.sock" --owner agent:0
usage_err "--owner with --incoming takes agent:0" "give agent:0" --incoming "127.0.0.1:$port" --token-file "$T/token" \
	--disk "$disk" --control "unix:$T/x.sock" --owner agent:7
usage_err "from= is for --restore" "is for --restore" "${K[@]}" --disk "$disk" --control "unix:$T/x.sock" --owner agent:7,from=3
usage_err "a malformed --owner is refused, naming it" "not a decimal number" "${K[@]}" --disk "$disk" --control "unix:$T/x.sock" --owner agent:7x
usage_err "--owner other than agent: is refused" "expected agent:TOKEN" "${K[@]}" --disk "$disk" --control "unix:$T/x.sock" --owner etcd:7
check "the refused starts touched no lease" test ! -e "$lease"

# ---- 1. a move: busy, then committed at 101; the source's settle refused ------------------------
start_vm s1 "${B[@]}" --console stdio --append "$append" --disk "$disk" --owner agent:100 ||
	fail "source with --owner agent:100 starts" "$(tail -3 "$T/s1.log")"
check "the source's claim: the lease file records the agent's token 100" test "$(lease_epoch)" = 100
if c "$T/s1.sock" owner-pending | jq -e '.return == {}' >/dev/null; then pass "owner-pending: {} when nothing is asked"; else fail "owner-pending: {} when nothing is asked"; fi
wait_for 60 eval '[ "$(heartbeats "$T/s1.con")" -ge 1 ]' || fail "the guest boots on the source" "$(tail -3 "$T/s1.con")"
# The destination as the agent starts it: the disk and the token as inherited descriptors.
start_vm d1 --incoming "127.0.0.1:$port" --token-fd 4 --disk fd:3 --lease "$lease" --owner agent:0 \
	3<>"$disk" 4<<<"$tok" || fail "destination with --disk fd:3 --token-fd 4 --owner agent:0 starts" "$(tail -3 "$T/d1.log")"
"$T/ctlclient" lines "$T/d1.sock" 60 >"$T/d1.lines" 2>&1 &
watcher=$!
pids="$pids $watcher"
sleep 0.2
c --timeout 60 "$T/s1.sock" migrate - <<<"{\"addresses\": [\"127.0.0.1:$port\"], \"token\": \"$tok\", \"wait\": true}" \
	>"$T/m1.out" 2>&1 &
mig=$!
pids="$pids $mig"
if seq1=$(wait_request "$T/d1.sock" commit "" 30) && [ "$(pending "$T/d1.sock" expect)" = 100 ]; then
	pass "the destination's commit is asked of the agent: owner-pending says commit from 100 (seq $seq1)"
else
	fail "the destination's commit is asked of the agent" "$(c "$T/d1.sock" owner-pending)" "$(tail -3 "$T/d1.log")"
fi
if ! holds_lock "$pid_d1" "$lease.lock" && ! holds_lock "$pid_d1" "$disk"; then
	pass "... and it holds no lock on the lease or the disk before the commit"
else
	fail "... and it holds no lock on the lease or the disk before the commit" "$(cat /proc/locks)"
fi
# An agent that connects late still sees the request: the event is sent again.
late=$(c --timeout 3 "$T/d1.sock" --wait-event OWNER 2>&1)
if jq -e --argjson s "${seq1:-0}" '.event == "OWNER" and .data == {"seq": $s, "op": "commit", "expect": 100}
	and (.timestamp.seconds | numbers) > 0' <<<"$late" >/dev/null 2>&1; then
	pass "a client that connects late gets the OWNER event again"
else
	fail "a client that connects late gets the OWNER event again" "$late"
fi
out=$(answer "$T/d1.sock" "{\"seq\": $((seq1 + 7)), \"status\": \"ok\", \"token\": 101}")
if jq -e '.error.class == "GenericError" and (.error.desc | contains("is not the pending request"))' <<<"$out" >/dev/null 2>&1 &&
	[ "$(pending "$T/d1.sock" seq)" = "$seq1" ]; then
	pass "an answer with a wrong seq is refused, the request stays pending"
else
	fail "an answer with a wrong seq is refused" "$out"
fi
out=$(answer "$T/d1.sock" "{\"seq\": $seq1, \"status\": \"maybe\"}")
if jq -e '.error.desc | contains("is not ok, refused, busy or failed")' <<<"$out" >/dev/null 2>&1; then
	pass "a bad status is refused"
else
	fail "a bad status is refused" "$out"
fi
answer "$T/d1.sock" "{\"seq\": $seq1, \"status\": \"busy\"}" >/dev/null
if seq2=$(wait_request "$T/d1.sock" commit "$seq1" 10); then
	pass "busy: the destination asks again, a new request (seq $seq2)"
else
	fail "busy: the destination asks again" "$(c "$T/d1.sock" owner-pending)"
fi
sleep 0.3
answer "$T/d1.sock" "{\"seq\": ${seq2:-0}, \"status\": \"ok\", \"token\": 101, \"owner\": \"vh02\"}" >"$T/a1" 2>&1 ||
	fail "owner-answer ok is taken" "$(cat "$T/a1")"
if sseq=$(wait_request "$T/s1.sock" settle "" 30) && [ "$(pending "$T/s1.sock" expect)" = 100 ]; then
	pass "the source's settle at 100 is asked of the agent"
else
	fail "the source's settle at 100 is asked of the agent" "$(c "$T/s1.sock" owner-pending)" "$(tail -3 "$T/s1.log")"
fi
answer "$T/s1.sock" "{\"seq\": ${sseq:-0}, \"status\": \"refused\", \"token\": 101, \"owner\": \"vh02\"}" >/dev/null
wait "$mig"
wait_exit "$pid_s1" 20
rc=$?
if jq -e '.return.phase == "completed" and .return.role == "source"' "$T/m1.out" >/dev/null 2>&1 && [ $rc -eq 0 ]; then
	pass "the move completes; the source exits 0"
else
	fail "the move completes; the source exits 0" "exit $rc: $(cat "$T/m1.out")" "$(tail -3 "$T/s1.log")"
fi
commit_ms=$(jq -r '.return.blackout.commit_ms // empty' "$T/m1.out" 2>/dev/null)
if awk -v c="$commit_ms" 'BEGIN { exit !(c != "" && c >= 300 && c < 20000) }'; then
	pass "the blackout's commit_ms holds the agent's answer ($commit_ms ms, the agent waited 300 ms)"
else
	fail "the blackout's commit_ms holds the agent's answer" "commit_ms '$commit_ms'"
fi
check "the VM runs on the destination" runs_on "$T/d1.sock"
n0=$(heartbeats "$T/d1.con")
sleep 2.2
n1=$(heartbeats "$T/d1.con")
if [ "${n1:-0}" -ge $((${n0:-0} + 2)) ]; then pass "the guest's heartbeats go on at the destination ($n0 -> $n1)"; else fail "heartbeats go on at the destination" "$n0 -> $n1"; fi
check "the lease file records the agent's token 101" test "$(lease_epoch)" = 101
check "... and the destination holds the lease and the disk locked now" \
	bash -c "$(declare -f holds_lock); holds_lock $pid_d1 '$lease.lock' && holds_lock $pid_d1 '$disk'"
check "the run intervals of source and destination never overlap" disjoint "$T/s1.journal" "$T/d1.journal"
# Both requests went out as events; the one after busy 10 ms after the busy one was asked at
# least (the hand-over does not spin on busy answers).
kill "$watcher" 2>/dev/null
wait "$watcher" 2>/dev/null
t1=$(jq -r --argjson s "${seq1:-0}" 'select(.event == "OWNER" and .data.seq == $s) |
	.timestamp.seconds * 1000000 + .timestamp.microseconds' "$T/d1.lines" 2>/dev/null | head -1)
t2=$(jq -r --argjson s "${seq2:-0}" 'select(.event == "OWNER" and .data.seq == $s) |
	.timestamp.seconds * 1000000 + .timestamp.microseconds' "$T/d1.lines" 2>/dev/null | head -1)
if [ -n "$t1" ] && [ -n "$t2" ] && [ $((t2 - t1)) -ge 10000 ]; then
	pass "both requests went out as OWNER events, the one after busy $(((t2 - t1) / 1000)) ms after the busy one"
else
	fail "the request after busy went out 10 ms later at least" "t1 '$t1' t2 '$t2'" "$(grep OWNER "$T/d1.lines" | head -5)"
fi
c "$T/d1.sock" quit >/dev/null
wait_exit "$pid_d1" 10

# ---- 2. a refused commit: the destination never runs it, the source settles and runs on ----------
start_vm s2 "${B[@]}" --console stdio --append "$append" --disk "$disk" --owner agent:102 ||
	fail "source with --owner agent:102 starts" "$(tail -3 "$T/s2.log")"
check "its claim: the lease file records 102" test "$(lease_epoch)" = 102
wait_for 60 eval '[ "$(heartbeats "$T/s2.con")" -ge 1 ]' || fail "the guest boots again" "$(tail -3 "$T/s2.con")"
start_vm d2 --incoming "127.0.0.1:$((port + 1))" --token-file "$T/token" --disk "$disk" --owner agent:0 ||
	fail "destination with --token-file starts" "$(tail -3 "$T/d2.log")"
c --timeout 60 "$T/s2.sock" migrate - <<<"{\"addresses\": [\"127.0.0.1:$((port + 1))\"], \"token\": \"$tok\", \"wait\": true}" \
	>"$T/m2.out" 2>&1 &
mig=$!
pids="$pids $mig"
dseq=$(wait_request "$T/d2.sock" commit "" 30) || fail "the destination's commit is asked" "$(tail -3 "$T/d2.log")"
answer "$T/d2.sock" "{\"seq\": ${dseq:-0}, \"status\": \"refused\", \"token\": 102, \"owner\": \"vh01\", \"msg\": \"the owner key moved\"}" >/dev/null
wait_exit "$pid_d2" 20
rc=$?
if [ $rc -eq 1 ] && ! grep -q ' RUN \| COMMIT ' "$T/d2.journal" && grep -q 'at epoch 102 (vh01)' "$T/d2.log"; then
	pass "refused: the destination exits 1 without having run the VM"
else
	fail "refused: the destination exits 1 without having run the VM" "exit $rc" "$(cat "$T/d2.journal")" "$(tail -3 "$T/d2.log")"
fi
if sseq=$(wait_request "$T/s2.sock" settle "" 30) && [ "$(pending "$T/s2.sock" expect)" = 102 ]; then
	pass "the source in doubt asks the agent to settle at 102"
else
	fail "the source in doubt asks the agent to settle at 102" "$(c "$T/s2.sock" owner-pending)" "$(tail -3 "$T/s2.log")"
fi
check "... and stays paused meanwhile" test "$(c "$T/s2.sock" --get status status)" = paused
answer "$T/s2.sock" "{\"seq\": ${sseq:-0}, \"status\": \"ok\", \"token\": 102}" >/dev/null
wait "$mig"
if jq -e '.return.phase == "failed"' "$T/m2.out" >/dev/null 2>&1 && runs_on "$T/s2.sock"; then
	pass "settled ok: the migration failed and the VM runs on at the source"
else
	fail "settled ok: the VM runs on at the source" "$(cat "$T/m2.out")" "$(tail -3 "$T/s2.log")"
fi
check "the lease file still records 102" test "$(lease_epoch)" = 102
check "the run intervals never overlap" disjoint "$T/s2.journal" "$T/d2.journal"

# ---- 3. quick migration: restore with from= matching, then a stale one ---------------------------
out=$(c --timeout 30 "$T/s2.sock" save - <<<"{\"file\": \"$T/vm.save\", \"release\": true}")
wait_exit "$pid_s2" 10
rc=$?
if jq -e '.return.released == true and .return.lease_epoch == 102' <<<"$out" >/dev/null 2>&1 && [ $rc -eq 0 ]; then
	pass "saved with release at the agent's token 102"
else
	fail "saved with release at the agent's token 102" "exit $rc: $out"
fi
start_vm r1 --restore "$T/vm.save" --console stdio --disk fd:3 --lease "$lease" --owner agent:103,from=102 3<>"$disk" ||
	fail "restore with --owner agent:103,from=102 starts" "$(tail -3 "$T/r1.log")"
if runs_on "$T/r1.sock" && [ "$(lease_epoch)" = 103 ]; then
	pass "restored (from= is the save's token): it runs, the lease file records 103"
else
	fail "restored with from= matching" "lease $(lease_epoch)" "$(tail -3 "$T/r1.log")"
fi
check "... and it asked the agent nothing" test "$(c "$T/r1.sock" owner-pending | jq -c .return)" = "{}"
c "$T/r1.sock" quit >/dev/null
wait_exit "$pid_r1" 10
restore_fails() { # NAME PATTERN OWNER
	local rc
	timeout 20 "$FERRY_VM" --restore "$T/vm.save" --console null --control "unix:$T/r.sock" --disk "$disk" \
		--owner "$3" </dev/null >"$T/r.out" 2>&1
	rc=$?
	if [ $rc -eq 1 ] && grep -q -- "$2" "$T/r.out" && [ "$(lease_epoch)" = 103 ]; then
		pass "$1"
	else
		fail "$1" "exit $rc, lease $(lease_epoch): $(tail -2 "$T/r.out")"
	fi
}
restore_fails "the save at 102 restored again (the agent is at 103) is stale: refused" \
	"the save is stale: it was made at lease epoch 102, the lease is at epoch 103" agent:104,from=103
restore_fails "a restore without from= was not expected: refused" "no restore was expected" agent:104

if grep -q "ERROR: AddressSanitizer\|runtime error" "$T"/*.log 2>/dev/null; then fail "no sanitizer report"; else pass "no sanitizer report"; fi
if [ "$tap_fail" -ne 0 ]; then
	for f in "$T"/*.log; do echo "# $(basename "$f"):"; tail -n 8 "$f" | sed 's/^/#   /'; done
fi
finish integration-owner-agent
