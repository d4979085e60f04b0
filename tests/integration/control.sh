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
# The reply to LINE satisfies the jq FILTER (jq -e: true, not false or null).
expect_reply() { # name line filter
	local out
	out=$(raw "$2")
	if jq -e "$3" <<<"$out" >/dev/null 2>&1; then pass "$1"; else fail "$1" "sent: ${2:0:80}" "got: $out"; fi
}
# The reply to LINE is an error of CLASS whose description contains TEXT.
expect_error() { # name line class text
	local out
	out=$(raw "$2")
	if jq -e --arg c "$3" --arg t "$4" '.error.class == $c and (.error.desc | strings | contains($t))' \
		<<<"$out" >/dev/null 2>&1; then
		pass "$1"
	else
		fail "$1" "sent: ${2:0:80}" "want a $3 containing '$4', got: $out"
	fi
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
is_resume='.event == "RESUME" and (.timestamp.seconds | numbers) > 0 and (.timestamp.microseconds | numbers) >= 0'
if wait $w1 && wait $w2 && jq -e "$is_resume" "$FERRY_TMP/ev1" >/dev/null 2>&1 &&
	jq -e "$is_resume" "$FERRY_TMP/ev2" >/dev/null 2>&1; then
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
if jq -e '.return | (.host_cpu_ns | numbers) > 0 and (.mips | numbers) >= 0 and (.instret | numbers) > 0' \
	<<<"$out" >/dev/null 2>&1; then
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
expect_error "bad JSON gets an error" 'this is not json' GenericError ''
expect_error "truncated JSON gets an error" '{"execute": "status"' GenericError ''
expect_error "unknown command" '{"execute": "fly"}' CommandNotFound "'fly'"
expect_error "execute not a string" '{"execute": 5}' GenericError "'execute' must be a string"
expect_error "request not an object" '["status"]' GenericError 'must be a JSON object'
expect_error "arguments not an object" '{"execute": "status", "arguments": 1}' GenericError "'arguments' must be an object"
expect_error "unknown member" '{"execute": "status", "bogus": 1}' GenericError 'unknown member'
expect_error "wrong argument type" '{"execute": "pause", "arguments": {"instret": "soon"}}' GenericError "must be an integer"
expect_error "pause at a past instret" '{"execute": "pause", "arguments": {"instret": 1}}' GenericError 'already past'
expect_error "save to an unwritable place names it" '{"execute": "save", "arguments": {"file": "/nonexistent/x"}}' GenericError "cannot write to the directory of '/nonexistent/x'"
expect_error "save with release of a VM without a lease is refused" '{"execute": "save", "arguments": {"file": "/nonexistent/x", "release": true}}' GenericError 'no lease to hand over'
expect_error "unknown dirty-log action" '{"execute": "dirty-log", "arguments": {"action": "fly"}}' GenericError 'unknown action'
expect_error "deep nesting" "$(printf '%.0s[' $(seq 1 100))" GenericError 'nested too deeply'
expect_reply "id echoed (integer)" '{"execute": "status", "id": 42}' '.id == 42 and (.return.status | strings)'
expect_reply "id echoed (string)" '{"execute": "status", "id": "a\"b"}' '.id == "a\"b" and (.return.status | strings)'
expect_error "bad id type" '{"execute": "status", "id": [1]}' GenericError "'id' must be"
long=$(head -c 70000 /dev/zero | tr '\0' 'x')
expect_error "a line over 64 KiB gets an error" "$long" GenericError 'longer than 65536'
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
