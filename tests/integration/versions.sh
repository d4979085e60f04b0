#!/bin/bash
# versions.sh - what the stream's versions promise (docs/migration-stream.md, "Versions"),
# between ferry-vm processes on loopback, with the small machine of tests/fixtures:
#   - a source whose HELLO says a newer stream format, or a newer machine state version, than
#     this ferry-vm reads (with the right token) is told so on its control channel, and the
#     destination ends with status 1 naming both; with a wrong token it is told nothing;
#   - with FERRY_VM_PREV (a ferry-vm of the previous release, stream format 1, e.g. built from
#     commit d53e8aa): a machine that release runs moves to this one and runs on here; a move
#     from this release to that one fails with the reason named and the machine runs on at
#     the source.
source "$(dirname "$0")/../lib.sh"
scratch
ctl=$FERRY_ROOT/build/bin/ferry-vmctl
fx=$FERRY_ROOT/tests/fixtures/stream-v1.save
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$FERRY_TMP"' EXIT
port=$((20000 + $$ % 20000))
# A destination takes tokens of 128 bits or more (32 characters).
tok=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')

# A destination of BINARY on 127.0.0.1:$port with token $tok; $dpid its pid. This release
# reads the token from a descriptor; the previous one took it on its command line.
destination() { # binary name
	local targ=(--token-fd 3)
	[ "$1" = "${FERRY_VM_PREV:-}" ] && targ=(--token "$tok")
	"$1" --incoming "127.0.0.1:$port" "${targ[@]}" --memory 16M --console null \
		--lease "$FERRY_TMP/lease" --control "unix:$FERRY_TMP/$2.sock" </dev/null \
		>"$FERRY_TMP/$2.out" 2>&1 3<<<"$tok" &
	dpid=$!
	pids+=("$dpid")
	wait_sock "$FERRY_TMP/$2.sock"
}

wait_sock() {
	for _ in $(seq 1 100); do
		[ -S "$1" ] && "$ctl" "$1" status >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

# A source of BINARY running the fixture machine, with a lease; $spid its pid.
source_vm() { # binary name
	"$1" --restore "$fx" --memory 16M --console null --lease "$FERRY_TMP/lease" \
		--control "unix:$FERRY_TMP/$2.sock" </dev/null >"$FERRY_TMP/$2.out" 2>&1 &
	spid=$!
	pids+=("$spid")
	wait_sock "$FERRY_TMP/$2.sock"
}

# Send a HELLO by hand: format, token, then (format 2) a state version; print the reply.
hello() { # format token [state-version]
	local le
	le() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) $((($1 >> 16) & 255)) $((($1 >> 24) & 255)); }
	exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
	# shellcheck disable=SC2059
	printf "FERRYMIG$(le "$1")$(le 0)$(le 0)$(le ${#2})$2${3:+$(le "$3")}" >&3
	timeout 5 cat <&3 | tr -c '[:print:]' ' '
	exec 3<&-
}

ended_with() { # pid status
	for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
	wait "$1"
	[ $? -eq "$2" ]
}

# A HELLO of stream format 4.
check "a destination starts" destination "$FERRY_VM" d1
reply=$(hello 4 "$tok")
echo "# reply: $reply"
if echo "$reply" | grep -q "stream format 4, this ferry-vm reads formats 1 to 3"; then
	pass "a format 4 source is told which formats this ferry-vm reads"
else
	fail "a format 4 source is told which formats this ferry-vm reads" "reply: $reply"
fi
check "the destination ends with status 1" ended_with "$dpid" 1
if grep -q "incoming migration failed: the source's HELLO: stream format 4" "$FERRY_TMP/d1.out"; then
	pass "the destination's log names the format"
else
	fail "the destination's log names the format" "$(tail -3 "$FERRY_TMP/d1.out")"
fi

# A HELLO of format 3 at a machine state version above this build's.
check "a destination starts" destination "$FERRY_VM" d2
reply=$(hello 3 "$tok" 99)
if echo "$reply" | grep -q "machine state version 99, this ferry-vm reads state versions 1 to"; then
	pass "a source of a newer machine state version is told which versions this ferry-vm reads"
else
	fail "a source of a newer machine state version is told which versions this ferry-vm reads" "reply: $reply"
fi
check "the destination ends with status 1" ended_with "$dpid" 1

# The same with a wrong token: nothing is said, and the destination waits on.
check "a destination starts" destination "$FERRY_VM" d3
reply=$(hello 4 "xyz${tok#???}")
if [ -z "$(echo "$reply" | tr -d ' ')" ] && kill -0 "$dpid" 2>/dev/null; then
	pass "a wrong token hears nothing, whatever its version, and the destination waits on"
else
	fail "a wrong token hears nothing, and the destination waits on" "reply: $reply"
fi
kill "$dpid" 2>/dev/null
wait "$dpid" 2>/dev/null

if [ -n "${FERRY_VM_PREV:-}" ]; then
	# The previous release to this one.
	rm -f "$FERRY_TMP"/lease*
	check "the previous release runs the machine" source_vm "$FERRY_VM_PREV" s4
	check "this release waits for it" destination "$FERRY_VM" d4
	# The previous release is driven by its own ferry-vmctl when there is one beside it: its
	# status says an unknown expected downtime as 2^64-1, which this release's strict JSON
	# reader refuses (every integer is within int64 now).
	prev_ctl=$(dirname "$FERRY_VM_PREV")/ferry-vmctl
	args="{\"addresses\": [\"127.0.0.1:$port\"], \"token\": \"$tok\", \"wait\": true}"
	if [ -x "$prev_ctl" ]; then
		out=$("$prev_ctl" --timeout 60 "$FERRY_TMP/s4.sock" migrate "$args")
	else
		out=$("$ctl" --timeout 60 "$FERRY_TMP/s4.sock" migrate - <<<"$args")
	fi
	if echo "$out" | grep -q '"phase": "completed"'; then
		pass "a move from the previous release to this one completes"
	else
		fail "a move from the previous release to this one completes" "$out" "$(tail -3 "$FERRY_TMP/d4.out")"
	fi
	n1=$("$ctl" "$FERRY_TMP/d4.sock" --get instret status)
	sleep 0.5
	n2=$("$ctl" "$FERRY_TMP/d4.sock" --get instret status)
	if [ "$("$ctl" "$FERRY_TMP/d4.sock" --get status status)" = running ] && [ "${n2:-0}" -gt "${n1:-0}" ] &&
		[ "${n1:-0}" -gt 3000000 ]; then
		pass "the machine runs on here ($n1 -> $n2 instructions)"
	else
		fail "the machine runs on here" "instret $n1 -> $n2"
	fi
	check "the previous release's source ends (status 0)" ended_with "$spid" 0
	"$ctl" "$FERRY_TMP/d4.sock" quit >/dev/null 2>&1
	wait "$dpid" 2>/dev/null

	# This release to the previous one: refused; the machine runs on at the source.
	rm -f "$FERRY_TMP"/lease*
	check "this release runs the machine" source_vm "$FERRY_VM" s5
	check "the previous release waits for it" destination "$FERRY_VM_PREV" d5
	out=$("$ctl" --timeout 60 "$FERRY_TMP/s5.sock" migrate - \
		<<<"{\"addresses\": [\"127.0.0.1:$port\"], \"token\": \"$tok\", \"wait\": true}")
	if echo "$out" | grep -q '"phase": "failed"' &&
		echo "$out" | grep -q "does not read stream format 3"; then
		pass "a move to the previous release fails, the format named"
	else
		fail "a move to the previous release fails, the format named" "$out"
	fi
	if [ "$("$ctl" "$FERRY_TMP/s5.sock" --get status status)" = running ]; then
		pass "the machine runs on at the source"
	else
		fail "the machine runs on at the source" "$("$ctl" "$FERRY_TMP/s5.sock" status)"
	fi
	"$ctl" "$FERRY_TMP/s5.sock" quit >/dev/null 2>&1
	kill "$dpid" 2>/dev/null
fi
finish integration-versions
