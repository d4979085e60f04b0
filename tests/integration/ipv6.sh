#!/bin/bash
# ipv6.sh - a live migration over IPv6: the destination listens on [::1]:PORT and receives the
# VM from a source on the same host, over the loopback only (no lab, no namespaces). And the
# destination refuses addresses it cannot read, with a message naming them (common/addr.h).
#
# Asserted: each malformed --incoming ends ferry-vm with status 1 and a message that names the
# address; the destination listens on ::1 only; the migration completes with equal RAM and
# device-state hashes; the source ends with status 0 (migrated away); the guest runs on at the
# destination (status running, its heartbeats and its clock continue); the two run intervals
# never overlap.
source "$(dirname "$0")/../lib.sh"
source "$FERRY_ROOT/lab/vm.sh"
scratch
ctl=$FERRY_ROOT/build/bin/ferry-vmctl
src_pid="" dst_pid=""
trap 'for p in $src_pid $dst_pid; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$FERRY_TMP"' EXIT
T=$FERRY_TMP

# 1. Addresses the destination refuses before it listens.
refused() { # name address pattern
	local rc
	timeout 20 "$FERRY_VM" --incoming "$2" --token-fd 3 --memory 64M --console null \
		</dev/null >"$T/refused.out" 2>"$T/refused.err" 3<<<"ipv6-refused-3c9a1f0d8e2b4a7c6f5e1d0b9a8c7f6e"
	rc=$?
	if [ $rc -eq 1 ] && grep -q -- "$3" "$T/refused.err"; then
		pass "--incoming '$2' refused: $(head -1 "$T/refused.err")"
	else
		fail "--incoming '$2' refused ($1)" "exit $rc" "$(head -3 "$T/refused.err")"
	fi
}
refused "IPv6 without brackets" '::1:4444' "takes brackets before its port, as \[::1\]:4444"
refused "port out of range" '[::1]:70000' "port '70000' is not a number from 0 to 65535"
refused "a name in brackets" '[localhost]:4444' "'localhost' is not an IPv6 address"
refused "garbage in the host" 'vh 02:4444' "'vh 02' is not a host name or address"
refused "a bad address before a good one" '[::1]:x,[::1]:4444' "port 'x'"

if ! ip -6 addr show dev lo 2>/dev/null | grep -q 'inet6 ::1/128'; then
	pass "migration over [::1] # SKIP this host has no IPv6 loopback address"
	finish integration-ipv6
	exit
fi

wait_ctl() { # sock pid
	for _ in $(seq 1 200); do
		"$ctl" --timeout 1 "$1" status >/dev/null 2>&1 && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# 2. The source boots the idle guest and holds the lease.
"$FERRY_VM" --kernel "$FERRY_GUEST/Image" --initrd "$FERRY_GUEST/initramfs.cpio" --memory 128M \
	--append "console=ttyS0 quiet ferry.work=idle" --console stdio --control "unix:$T/src.sock" \
	--lease "$T/vm.lease" --name src --journal "$T/journal.src" </dev/null >"$T/src.out" 2>"$T/src.err" &
src_pid=$!
if ! wait_ctl "$T/src.sock" $src_pid; then
	fail "the source starts" "$(tail -3 "$T/src.err")"
	finish integration-ipv6
	exit
fi
for _ in $(seq 1 200); do [ "$(vm_heartbeats "$T/src.out")" -ge 2 ] && break; sleep 0.1; done

# 3. The destination listens on [::1]:PORT (another port if that one is taken).
token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
for _ in 1 2 3 4 5; do
	port=$((20000 + RANDOM % 20000))
	"$FERRY_VM" --incoming "[::1]:$port" --token-fd 3 --memory 128M --console stdio \
		--control "unix:$T/dst.sock" --lease "$T/vm.lease" --name dst --journal "$T/journal.dst" \
		</dev/null >"$T/dst.out" 2>"$T/dst.err" 3<<<"$token" &
	dst_pid=$!
	wait_ctl "$T/dst.sock" $dst_pid && break
	wait $dst_pid 2>/dev/null
	dst_pid=""
	grep -q 'in use' "$T/dst.err" || break
done
if [ -z "$dst_pid" ]; then
	fail "the destination listens on [::1]:PORT" "$(tail -3 "$T/dst.err")"
	finish integration-ipv6
	exit
fi
listening=$(ss -Hltn "sport = :$port" 2>/dev/null | awk '{print $4}' | tr '\n' ' ')
if [ "$listening" = "[::1]:$port " ]; then
	pass "the destination listens on [::1]:$port, and only there"
else
	fail "the destination listens on [::1]:$port, and only there" "ss: $listening"
fi

# 4. Migrate over IPv6 loopback.
out=$("$ctl" --timeout 120 "$T/src.sock" migrate - \
	<<<"{\"addresses\": [\"[::1]:$port\"], \"token\": \"$token\", \"wait\": true}")
if echo "$out" | grep -q '"phase": "completed"'; then
	pass "the migration to [::1]:$port completes"
else
	fail "the migration to [::1]:$port completes" "$out" "$(tail -3 "$T/dst.err")"
fi
rs=$(echo "$out" | sed -n 's/.*"ram_hash_source": "\([0-9a-f]*\)".*/\1/p')
rd=$(echo "$out" | sed -n 's/.*"ram_hash_destination": "\([0-9a-f]*\)".*/\1/p')
ds=$(echo "$out" | sed -n 's/.*"dev_hash_source": "\([0-9a-f]*\)".*/\1/p')
dd=$(echo "$out" | sed -n 's/.*"dev_hash_destination": "\([0-9a-f]*\)".*/\1/p')
if [ -n "$rs" ] && [ "$rs" = "$rd" ] && [ -n "$ds" ] && [ "$ds" = "$dd" ]; then
	pass "RAM and device state equal on both sides ($rs)"
else
	fail "RAM and device state equal on both sides" "ram $rs/$rd dev $ds/$dd"
fi
for _ in $(seq 1 100); do kill -0 $src_pid 2>/dev/null || break; sleep 0.05; done
wait $src_pid
rc=$?
src_pid=""
[ $rc -eq 0 ] && pass "the source ends with status 0 (migrated away)" || fail "the source ends with status 0" "exit $rc"

# 5. The guest runs on at the destination.
[ "$("$ctl" "$T/dst.sock" --get status status)" = running ] && pass "destination: status running" ||
	fail "destination: status running" "$("$ctl" "$T/dst.sock" status)"
for _ in $(seq 1 50); do [ "$(vm_heartbeats "$T/dst.out")" -ge 2 ] && break; sleep 0.1; done
n=$(vm_heartbeats "$T/dst.out")
if [ "${n:-0}" -ge 2 ] && ! vm_bad_lines "$T/dst.out" >/dev/null; then
	pass "destination: the guest's heartbeats continue ($n), no kernel warning"
else
	fail "destination: the guest's heartbeats continue, no kernel warning" "$n heartbeats" \
		"$(vm_bad_lines "$T/dst.out" | head -3)"
fi
up_old=$(vm_last_uptime "$T/src.out")
up_new=$(vm_first_uptime "$T/dst.out")
if awk -v a="$up_old" -v b="$up_new" 'BEGIN { exit !(a != "" && b != "" && b > a && b - a < 2.5) }'; then
	pass "destination: the guest clock continues ($up_old s -> $up_new s)"
else
	fail "destination: the guest clock continues" "last uptime on the source $up_old, first on the destination $up_new"
fi
"$ctl" "$T/dst.sock" quit >/dev/null
wait $dst_pid
rc=$?
dst_pid=""
[ $rc -eq 3 ] && pass "destination: quit ends it with status 3" || fail "destination: quit ends it with status 3" "exit $rc"
if vm_journals_disjoint "$T/journal.src" "$T/journal.dst" >"$T/overlap" 2>&1; then
	pass "the run intervals of source and destination never overlap"
else
	fail "the run intervals of source and destination never overlap" "$(cat "$T/overlap")"
fi
finish integration-ipv6
