#!/bin/bash
# control.sh - the control socket drives a running Linux guest: status, pause, resume, stats,
# dirty logging, events to several clients, the journal; malformed requests get errors and the
# VM keeps running.
source "$(dirname "$0")/../lib.sh"
scratch
ctl=$FERRY_ROOT/build/bin/ferry-vmctl
sock=$FERRY_TMP/vm.sock
"$FERRY_VM" --kernel "$FERRY_GUEST/Image" --initrd "$FERRY_GUEST/initramfs.cpio" \
	--append "console=ttyS0 quiet ferry.work=idle" --console null --control "unix:$sock" \
	--journal "$FERRY_TMP/journal" </dev/null >"$FERRY_TMP/vm.out" 2>&1 &
vm=$!
trap 'kill $vm 2>/dev/null; rm -rf "$FERRY_TMP"' EXIT
for _ in $(seq 1 100); do "$ctl" "$sock" status >/dev/null 2>&1 && break; sleep 0.05; done

c() { "$ctl" "$sock" "$@"; }
raw() { "$ctl" "$sock" --raw "$1"; }
expect_reply() { # name line pattern
	local out
	out=$(raw "$2")
	if printf '%s' "$out" | grep -q -- "$3"; then pass "$1"; else fail "$1" "sent: ${2:0:80}" "got: $out"; fi
}

[ "$(c --get status status)" = running ] && pass "status: running" || fail "status: running"
sleep 0.5
c pause >/dev/null
[ "$(c --get status status)" = paused ] && pass "pause: status paused" || fail "pause: status paused"
i1=$(c --get instret status)
sleep 0.3
i2=$(c --get instret status)
[ "$i1" = "$i2" ] && pass "paused hart retires nothing ($i1)" || fail "paused hart retires nothing" "$i1 -> $i2"
g1=$(c --get guest_ns status)
sleep 0.3
g2=$(c --get guest_ns status)
[ "$g1" = "$g2" ] && pass "guest clock frozen while paused" || fail "guest clock frozen while paused" "$g1 -> $g2"

# Events reach every client: two watchers, a third client resumes.
c --wait-event RESUME >"$FERRY_TMP/ev1" &
w1=$!
c --wait-event RESUME >"$FERRY_TMP/ev2" &
w2=$!
sleep 0.3
c resume >/dev/null
if wait $w1 && wait $w2 && grep -q '"timestamp"' "$FERRY_TMP/ev1" && grep -q '"event": "RESUME"' "$FERRY_TMP/ev2"; then
	pass "RESUME event delivered to two other clients"
else
	fail "RESUME event delivered to two other clients" "$(cat "$FERRY_TMP/ev1" "$FERRY_TMP/ev2")"
fi
sleep 1.5
i3=$(c --get instret status)
[ "$i3" -gt "$i2" ] && pass "resumed hart runs ($i2 -> $i3)" || fail "resumed hart runs" "$i2 -> $i3"

# Stats.
c stats >/dev/null
sleep 0.3
out=$(c stats)
if printf '%s' "$out" | grep -q '"host_cpu_ns": [0-9]' && printf '%s' "$out" | grep -q '"mips": [0-9]'; then
	pass "stats: instret, MIPS, host CPU"
else
	fail "stats" "$out"
fi

# Dirty logging through the socket.
c dirty-log '{"action": "collect"}' >/dev/null 2>&1 && fail "collect before start is refused" || pass "collect before start is refused"
c dirty-log '{"action": "start"}' >/dev/null
sleep 1.5
n=$(c --get pages dirty-log '{"action": "collect"}')
[ "${n:-0}" -gt 0 ] && pass "dirty-log collects pages the idle guest wrote ($n)" || fail "dirty-log collects pages" "$n"
c dirty-log '{"action": "stop"}' >/dev/null && pass "dirty-log stop" || fail "dirty-log stop"

# Malformed requests.
expect_reply "bad JSON gets an error" 'this is not json' '"error"'
expect_reply "truncated JSON gets an error" '{"execute": "status"' '"error"'
expect_reply "unknown command" '{"execute": "fly"}' 'CommandNotFound'
expect_reply "execute not a string" '{"execute": 5}' "'execute' must be a string"
expect_reply "request not an object" '["status"]' 'must be a JSON object'
expect_reply "arguments not an object" '{"execute": "status", "arguments": 1}' "'arguments' must be an object"
expect_reply "unknown member" '{"execute": "status", "bogus": 1}' 'unknown member'
expect_reply "wrong argument type" '{"execute": "pause", "arguments": {"instret": "soon"}}' "must be an integer"
expect_reply "pause at a past instret" '{"execute": "pause", "arguments": {"instret": 1}}' 'already past'
expect_reply "save to an unwritable place names it" '{"execute": "save", "arguments": {"file": "/nonexistent/x"}}' "cannot write to the directory of '/nonexistent/x'"
expect_reply "save with release of a VM without a lease is refused" '{"execute": "save", "arguments": {"file": "/nonexistent/x", "release": true}}' 'no lease to hand over'
expect_reply "unknown dirty-log action" '{"execute": "dirty-log", "arguments": {"action": "fly"}}' 'unknown action'
expect_reply "deep nesting" "$(printf '%.0s[' $(seq 1 100))" 'nested too deeply'
expect_reply "id echoed (integer)" '{"execute": "status", "id": 42}' '"id": 42'
expect_reply "id echoed (string)" '{"execute": "status", "id": "a\"b"}' '"id": "a\\"b"'
expect_reply "bad id type" '{"execute": "status", "id": [1]}' "'id' must be"
long=$(head -c 70000 /dev/zero | tr '\0' 'x')
expect_reply "a line over 64 KiB gets an error" "$long" 'longer than 65536'
[ "$(c --get status status)" = running ] && pass "VM still running after malformed requests" || fail "VM still running after malformed requests"
kill -0 $vm && pass "ferry-vm process alive" || fail "ferry-vm process alive"

# Quit: exit status 3, journal complete.
c quit >/dev/null
wait $vm
rc=$?
[ $rc -eq 3 ] && pass "quit ends ferry-vm with status 3" || fail "quit ends ferry-vm with status 3" "exit $rc"
j=$(awk '{print $3, $4}' "$FERRY_TMP/journal" | tr '\n' ';')
if [ "$j" = "RUN start;PAUSE control;RUN control;STOP quit;" ]; then
	pass "journal: RUN start, PAUSE, RUN, STOP quit"
else
	fail "journal: RUN start, PAUSE, RUN, STOP quit" "$j"
fi
if awk 'NR > 1 && $1 < prev {bad = 1} {prev = $1} END {exit bad}' "$FERRY_TMP/journal"; then
	pass "journal timestamps are monotonic"
else
	fail "journal timestamps are monotonic"
fi
finish integration-control
