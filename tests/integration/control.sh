#!/bin/bash
# control.sh - the control socket drives a running Linux guest: status, pause, resume, stats,
# dirty logging, events to several clients, the journal; malformed requests get errors and the
# VM keeps running. Ready for a host agent: the control and console sockets are 0600 whatever
# the umask and refuse other users; a client that never reads is dropped while the VM runs
# on and answers the others; a migration's answer goes to the connection that asked; the
# migration token comes from a file or a descriptor, never the command line.
source "$(dirname "$0")/../lib.sh"
scratch
ctl=$FERRY_ROOT/build/bin/ferry-vmctl
sock=$FERRY_TMP/vm.sock
csock=$FERRY_TMP/console.sock
cc -O2 -o "$FERRY_TMP/ctlclient" "$FERRY_ROOT/tests/integration/ctlclient.c" || { fail "build ctlclient"; finish integration-control; }
cli=$FERRY_TMP/ctlclient
# Started under umask 0: the sockets must come out 0600 all the same.
(umask 0 && exec "$FERRY_VM" --kernel "$FERRY_GUEST/Image" --initrd "$FERRY_GUEST/initramfs.cpio" \
	--append "console=ttyS0 quiet ferry.work=idle" --console "unix:$csock" --control "unix:$sock" \
	--journal "$FERRY_TMP/journal" </dev/null >"$FERRY_TMP/vm.out" 2>&1) &
vm=$!
others=""
trap 'kill $vm $others 2>/dev/null; wait 2>/dev/null; rm -rf "$FERRY_TMP"' EXIT
for _ in $(seq 1 100); do "$ctl" "$sock" status >/dev/null 2>&1 && break; sleep 0.05; done

c() { "$ctl" "$sock" "$@"; }
raw() { "$ctl" "$sock" --raw "$1"; }
raw_to() { "$ctl" "$1" --raw "$2"; } # SOCKET LINE
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
# An id of 63 bytes (escapes and multi-byte UTF-8 count as what they decode to) comes back whole
# in a valid reply; one of 64 is refused, and the reply is valid JSON too.
id63=$(printf 'x%.0s' $(seq 1 59))'\"éy'
expect_reply "an id of 63 bytes is echoed whole" "{\"execute\": \"status\", \"id\": \"$id63\"}" \
	'(.id | utf8bytelength) == 63 and (.return.status | strings)'
expect_error "an id of 64 bytes is refused in valid JSON" "{\"execute\": \"status\", \"id\": \"x$id63\"}" GenericError "'id' must be"
long=$(head -c 70000 /dev/zero | tr '\0' 'x')
expect_error "a line over 64 KiB gets an error" "$long" GenericError 'longer than 65536'
# A client that sends its request and shuts down its side still gets the reply, then EOF.
out=$("$cli" ask "$sock" '{"execute": "status", "id": "half"}')
if echo "$out" | grep -q '^{"return": {"status": "running".*"id": "half"}$' && [ "$(echo "$out" | tail -1)" = "(closed)" ]; then
	pass "a client that shuts down its sending side gets its reply, then the server closes"
else
	fail "a client that shuts down its sending side gets its reply" "$out"
fi
[ "$(c --get status status)" = running ] && pass "VM still running after malformed requests" || fail "VM still running after malformed requests"
kill -0 $vm && pass "ferry-vm process alive" || fail "ferry-vm process alive"

# ---- the sockets: 0600 whatever the umask, and only root or the VM's own user -------------
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
mode_c=$(stat -c %a "$sock")
mode_k=$(stat -c %a "$csock")
[ "$mode_c" = 600 ] && [ "$mode_k" = 600 ] && pass "control and console sockets are 0600 under umask 0" ||
	fail "control and console sockets are 0600 under umask 0" "control $mode_c, console $mode_k"
chmod 711 "$FERRY_TMP" # other users may reach the sockets now; only their mode keeps them out
out=$(as_nobody "$cli" lines "$sock" 1 2>&1)
if echo "$out" | grep -q 'Permission denied'; then pass "another user cannot connect to the control socket"; else fail "another user cannot connect to the control socket" "$out"; fi
out=$(as_nobody "$cli" lines "$csock" 1 2>&1)
if echo "$out" | grep -q 'Permission denied'; then pass "another user cannot connect to the console socket"; else fail "another user cannot connect to the console socket" "$out"; fi
# Widened by hand: the peer check still refuses them, and says so in the log.
chmod 666 "$sock" "$csock"
out=$(as_nobody "$cli" lines "$sock" 2 2>&1)
if [ "$out" = '{"error": {"class": "GenericError", "desc": "permission denied"}}' ] &&
	grep -q 'control: refused a client of uid 65534' "$FERRY_TMP/vm.out"; then
	pass "a peer of another uid is refused by the control socket (SO_PEERCRED), and logged"
else
	fail "a peer of another uid is refused by the control socket (SO_PEERCRED), and logged" "got: $out" "$(tail -2 "$FERRY_TMP/vm.out")"
fi
out=$(as_nobody "$cli" lines "$csock" 2 2>&1 | tr -d '\r')
if [ "$out" = "ferry-vm: permission denied" ] && grep -q 'console: refused a client of uid 65534' "$FERRY_TMP/vm.out"; then
	pass "a peer of another uid is refused by the console socket, and logged"
else
	fail "a peer of another uid is refused by the console socket, and logged" "got: $out" "$(tail -2 "$FERRY_TMP/vm.out")"
fi
chmod 600 "$sock" "$csock"
chmod 700 "$FERRY_TMP"
out=$("$cli" lines "$csock" 1 | tr -d '\r' | grep -m1 '^ferry-work: heartbeat')
[ -n "$out" ] && pass "root attaches to the console (backlog replayed)" || fail "root attaches to the console"

# ---- a client that reads late, and one that never reads --------------------------------------
# 3000 requests, replies read only 2 s later (450 KB, more than the socket holds): everything
# waits in the VM's queue for it, nothing is lost (the VM used to give up on it after 1 s).
"$cli" flood "$sock" 3000 2 >"$FERRY_TMP/late" 2>&1
out=$(cat "$FERRY_TMP/late")
if echo "$out" | grep -q 'sent 3000 of 3000 requests.*, 3001 lines, and the server kept it open'; then
	pass "a client that reads late gets the greeting and all 3000 replies"
else
	fail "a client that reads late gets the greeting and all 3000 replies" "$out"
fi
# 20000 requests (3 MB of replies), none read: dropped once more than 1 MiB waits for it,
# while the VM runs and answers everyone else.
i_before=$(c --get instret status)
"$cli" flood "$sock" 20000 4 >"$FERRY_TMP/flood" 2>&1 &
flood=$!
others="$others $flood"
sleep 0.3
slowest=0 answered=0
for _ in 1 2 3 4 5; do
	t0=$(date +%s%N)
	c status >/dev/null && answered=$((answered + 1))
	t=$((($(date +%s%N) - t0) / 1000000))
	[ $t -gt $slowest ] && slowest=$t
	sleep 0.3
done
i_after=$(c --get instret status)
[ $answered = 5 ] && pass "others are answered while a client does not read (slowest in ${slowest} ms)" ||
	fail "others are answered while a client does not read" "$answered of 5"
[ "${i_after:-0}" -gt "${i_before:-0}" ] && pass "the VM keeps running meanwhile ($i_before -> $i_after)" ||
	fail "the VM keeps running meanwhile" "$i_before -> $i_after"
wait $flood
out=$(cat "$FERRY_TMP/flood")
ms=$(echo "$out" | sed -n 's/.* requests in \([0-9]*\) ms.*/\1/p')
if echo "$out" | grep -q 'had closed the connection' && grep -q 'control: client (pid [0-9]*, uid 0) is not reading: [0-9]* bytes queued, more than 1048576; disconnected' "$FERRY_TMP/vm.out"; then
	pass "the client that never reads is dropped at 1 MiB queued (after ${ms:-?} ms), with a log line"
else
	fail "the client that never reads is dropped at 1 MiB queued, with a log line" "$out" "$(tail -2 "$FERRY_TMP/vm.out")"
fi
[ "$(c --get status status)" = running ] && pass "VM still running after the slow clients" || fail "VM still running after the slow clients"

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

# ---- the migration token: a file or a descriptor, never the command line --------------------
out=$(timeout 10 "$FERRY_VM" --incoming 127.0.0.1:1 --token secret --memory 128M 2>&1)
rc=$?
if [ $rc -eq 2 ] && echo "$out" | grep -q -- '--token is refused' && echo "$out" | grep -q -- '--token-file PATH or --token-fd N'; then
	pass "--token on the command line is refused, pointing to --token-file and --token-fd"
else
	fail "--token on the command line is refused" "exit $rc: $out"
fi
out=$(timeout 10 "$FERRY_VM" --incoming 127.0.0.1:1 --memory 128M 2>&1)
rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q -- '--token-file' && pass "--incoming without a token is refused" || fail "--incoming without a token is refused" "exit $rc: $out"
echo "tok-$$-file-5f3a9c0e7b214d68a1c9e03b7f52d4a6" >"$FERRY_TMP/token.open"
chmod 644 "$FERRY_TMP/token.open"
out=$(timeout 10 "$FERRY_VM" --incoming 127.0.0.1:1 --token-file "$FERRY_TMP/token.open" --memory 128M 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q 'mode 644' && pass "a token file others can read is refused" || fail "a token file others can read is refused" "exit $rc: $out"
(umask 077 && echo "0123456789abcdef0123456789abcde" >"$FERRY_TMP/token.short")
out=$(timeout 10 "$FERRY_VM" --incoming 127.0.0.1:1 --token-file "$FERRY_TMP/token.short" --memory 128M 2>&1)
rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q 'has 31 characters: it must have 32 to 128 (at least 128 bits' && pass "a token under 128 bits (31 characters) is refused at start" || fail "a token under 128 bits is refused at start" "exit $rc: $out"

# Three processes hand one VM on over loopback: vm2 (paused, source) -> d1 (token from a
# descriptor) -> d2 (token from a file). They share one lease file.
port=$((20000 + $$ % 20000))
lease=$FERRY_TMP/vm2.lease
LOCALVM_CONSOLE=null
source "$FERRY_ROOT/tests/localvm.sh" # alive, start_vm (its c replaces the one above)
wait_exit() { # PID SECONDS: its exit status, or 124 if it still runs then (it is killed)
	for _ in $(seq 1 $(($2 * 20))); do
		alive "$1" || { wait "$1"; return; }
		sleep 0.05
	done
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 124
}
start_vm vm2 --kernel "$FERRY_GUEST/Image" --initrd "$FERRY_GUEST/initramfs.cpio" --paused \
	--append "console=ttyS0 quiet ferry.work=idle" || fail "second VM starts" "$(cat "$FERRY_TMP/vm2.out")"
s2=$FERRY_TMP/vm2.sock

# ---- a migration's answer goes to the connection that asked, never to whoever is there -------
# A destination that accepts and never answers: the migration fails after 3 s of silence.
"$cli" hold $((port + 9)) 20 >"$FERRY_TMP/hold" 2>&1 &
others="$others $!"
for _ in $(seq 1 50); do grep -q listening "$FERRY_TMP/hold" && break; sleep 0.05; done
mig="{\"execute\": \"migrate\", \"arguments\": {\"addresses\": [\"127.0.0.1:$((port + 9))\"], \"token\": \"x\", \"wait\": true}"
# A asks and leaves at once; B connects after it (into the slot A had) and stays.
"$cli" lines "$s2" 1 "$mig, \"id\": \"A\"}" >"$FERRY_TMP/A" 2>&1
"$cli" lines "$s2" 5 >"$FERRY_TMP/B" 2>&1
if grep -q '"event": "MIGRATION", "data": {"phase": "failed"' "$FERRY_TMP/B" && ! grep -q '"return"' "$FERRY_TMP/B"; then
	pass "an answer owed to a client that left goes to nobody (not to the next in its slot)"
else
	fail "an answer owed to a client that left goes to nobody" "$(cat "$FERRY_TMP/B")"
fi
# C asks and stays; D, connected at the same time, sees the event only.
"$cli" lines "$s2" 6 >"$FERRY_TMP/D" 2>&1 &
d=$!
sleep 0.2
"$cli" lines "$s2" 5 "$mig, \"id\": 7}" >"$FERRY_TMP/C" 2>&1
wait $d
if grep -q '^{"return": {"phase": "failed", "role": "source", "error": "the destination has been silent for 3000 ms".*, "id": 7}$' "$FERRY_TMP/C" &&
	grep -q '"event": "MIGRATION", "data": {"phase": "failed"' "$FERRY_TMP/D" && ! grep -q '"return"' "$FERRY_TMP/D"; then
	pass "the answer to a migrate with wait goes to the client that asked, with its id, and to no other"
else
	fail "the answer to a migrate with wait goes to the client that asked" "C: $(cat "$FERRY_TMP/C")" "D: $(cat "$FERRY_TMP/D")"
fi

# d1: token from descriptor 3. A wrong token is refused; the right one moves the VM.
start_vm d1 --incoming "127.0.0.1:$port" --token-fd 3 3<<<"tok-$$-fd-5f3a9c0e7b214d68a1c9e03b7f52d4a6" || fail "destination with --token-fd starts" "$(cat "$FERRY_TMP/d1.out")"
out=$("$ctl" --timeout 20 "$s2" migrate - <<<"{\"addresses\": [\"127.0.0.1:$port\"], \"token\": \"wrong\", \"wait\": true}")
if echo "$out" | grep -q '"phase": "failed"' && [ "$("$ctl" "$FERRY_TMP/d1.sock" --get refused_connections migrate-status)" -ge 1 ]; then
	pass "a wrong token is refused by the destination"
else
	fail "a wrong token is refused by the destination" "$out"
fi
out=$("$ctl" --timeout 30 "$s2" migrate - <<<"{\"addresses\": [\"127.0.0.1:$port\"], \"token\": \"tok-$$-fd-5f3a9c0e7b214d68a1c9e03b7f52d4a6\", \"wait\": true}")
wait_exit "$pid_vm2" 10
rc=$?
if echo "$out" | grep -q '"phase": "completed"' && [ $rc -eq 0 ] && [ "$("$ctl" "$FERRY_TMP/d1.sock" --get status status)" = running ]; then
	pass "the token from --token-fd is accepted: the VM moved"
else
	fail "the token from --token-fd is accepted" "source exit $rc: $out" "$(tail -3 "$FERRY_TMP/d1.out")"
fi
# d2: token from a file of mode 600.
(umask 077 && echo "tok-$$-file-5f3a9c0e7b214d68a1c9e03b7f52d4a6" >"$FERRY_TMP/token")
start_vm d2 --incoming "127.0.0.1:$((port + 1))" --token-file "$FERRY_TMP/token" || fail "destination with --token-file starts" "$(cat "$FERRY_TMP/d2.out")"
out=$("$ctl" --timeout 30 "$FERRY_TMP/d1.sock" migrate - <<<"{\"addresses\": [\"127.0.0.1:$((port + 1))\"], \"token\": \"tok-$$-file-5f3a9c0e7b214d68a1c9e03b7f52d4a6\", \"wait\": true}")
wait_exit "$pid_d1" 10
rc=$?
if echo "$out" | grep -q '"phase": "completed"' && [ $rc -eq 0 ] && [ "$("$ctl" "$FERRY_TMP/d2.sock" --get status status)" = running ]; then
	pass "the token from --token-file is accepted: the VM moved again"
else
	fail "the token from --token-file is accepted" "source exit $rc: $out" "$(tail -3 "$FERRY_TMP/d2.out")"
fi
if grep -q "tok-$$" /proc/"$pid_d2"/cmdline 2>/dev/null; then fail "no token on the destination's command line"; else pass "no token on the destination's command line"; fi
"$ctl" "$FERRY_TMP/d2.sock" quit >/dev/null
wait_exit "$pid_d2" 10

# ---- what a migration relies on is not the control socket's to take ---------------------------
# vm3 (a lease of its own) migrates slowly to d3; the dirty log is the migration's meanwhile.
lease=$FERRY_TMP/vm3.lease
tok3=tok-$$-3-9d4e1b7a2c6f4083b5e1a7c9d2f06e48
(umask 077 && echo "$tok3" >"$FERRY_TMP/token3")
# The fault switch changes one byte of vm3's RAM after its last page left (as a dirty log
# collected from under the rounds would have it): armed for the second migration below.
FERRY_FAULT=after-pause:scribble start_vm vm3 --kernel "$FERRY_GUEST/Image" --initrd "$FERRY_GUEST/initramfs.cpio" \
	--append "console=ttyS0 quiet ferry.work=idle" || fail "third VM starts" "$(cat "$FERRY_TMP/vm3.out")"
s3=$FERRY_TMP/vm3.sock
start_vm d3 --incoming "127.0.0.1:$((port + 20))" --token-file "$FERRY_TMP/token3" || fail "destination d3 starts" "$(cat "$FERRY_TMP/d3.out")"
"$ctl" "$s3" migrate - <<<"{\"addresses\": [\"127.0.0.1:$((port + 20))\"], \"token\": \"$tok3\", \"bandwidth\": 1000000}" >/dev/null
for _ in $(seq 1 100); do [ "$("$ctl" "$s3" --get phase migrate-status)" = precopy ] && break; sleep 0.05; done
refused=0
for a in collect start stop; do
	out=$(raw_to "$s3" "{\"execute\": \"dirty-log\", \"arguments\": {\"action\": \"$a\"}}")
	jq -e '.error.desc | strings | contains("migration in progress")' <<<"$out" >/dev/null 2>&1 && refused=$((refused + 1))
done
phase=$("$ctl" "$s3" --get phase migrate-status)
if [ $refused -eq 3 ] && [ "$phase" = precopy ]; then
	pass "dirty-log start, collect and stop are refused while a migration runs (its rounds rely on the log)"
else
	fail "dirty-log is refused while a migration runs" "$refused of 3 refused, phase $phase: $out"
fi
"$ctl" "$s3" migrate-cancel >/dev/null
wait_exit "$pid_d3" 10
# A page the rounds missed: the destination compares the RAM hashes before it commits, refuses,
# and the VM runs on at the source.
start_vm d4 --incoming "127.0.0.1:$((port + 21))" --token-file "$FERRY_TMP/token3" || fail "destination d4 starts" "$(cat "$FERRY_TMP/d4.out")"
out=$("$ctl" --timeout 60 "$s3" migrate - <<<"{\"addresses\": [\"127.0.0.1:$((port + 21))\"], \"token\": \"$tok3\", \"wait\": true}")
wait_exit "$pid_d4" 10
rc=$?
if echo "$out" | grep -q '"phase": "failed"' && [ $rc -eq 1 ] && grep -q "differs from the source's" "$FERRY_TMP/d4.out" &&
	[ "$("$ctl" "$s3" --get status status)" = running ]; then
	pass "RAM hashes are compared before the commit: a missed page fails the migration, the VM runs on at the source"
else
	fail "RAM hashes are compared before the commit" "destination exit $rc: $out" "$(tail -3 "$FERRY_TMP/d4.out")"
fi

# ---- a save kept here stays stale once the VM runs on, also after a failed migration -----------
"$ctl" "$s3" save - <<<"{\"file\": \"$FERRY_TMP/vm3.save\"}" >/dev/null
[ "$("$ctl" "$s3" --get status status)" = paused ] || fail "save without release pauses"
# Nothing listens there: the migration fails at once and the VM resumes here.
out=$("$ctl" --timeout 20 "$s3" migrate - <<<"{\"addresses\": [\"127.0.0.1:$((port + 22))\"], \"token\": \"$tok3\", \"wait\": true}")
st=$("$ctl" "$s3" --get status status)
"$ctl" "$s3" quit >/dev/null
wait_exit "$pid_vm3" 10
"$FERRY_VM" --restore "$FERRY_TMP/vm3.save" --console null --lease "$lease" </dev/null >"$FERRY_TMP/r3.out" 2>&1 &
pid_r3=$!
others="$others $pid_r3"
wait_exit "$pid_r3" 10
rc=$?
if echo "$out" | grep -q '"phase": "failed"' && [ "$st" = running ] && [ $rc -eq 1 ] && grep -q "stale" "$FERRY_TMP/r3.out"; then
	pass "a save without release is stale once a failed migration resumed the VM here"
else
	fail "a save without release is stale once a failed migration resumed the VM" "status $st, restore exit $rc: $(tail -2 "$FERRY_TMP/r3.out")" "$out"
fi
finish integration-control
