#!/bin/bash
# devices.sh - the VM's devices in the lab: virtio-net answers 1000 pings and serves TCP,
# virtio-blk keeps a log that survives a restart, the dirty workload finds no corruption, and
# a machine saved and restored on another host with all its devices keeps pinging, serving
# and logging. (Hostile rings are the unit and fuzz suites' business.)
source "$(dirname "$0")/../lib.sh"
source "$FERRY_ROOT/lab/vm.sh"
scratch
trap 'lab_down; rm -rf "$FERRY_TMP"' EXIT
counter_bin=$FERRY_ROOT/build/bin/ferry-counter
ctl=$FERRY_VMCTL

P=$(lab_up --hosts 2) || { fail "lab up"; finish integration-devices; }
lab_load "$P"
bad_lines() { grep -E 'WARNING:|BUG:|Oops|Kernel panic|MISMATCH|BADRECORD|GAP|Unable to handle|ERROR' "$@" 2>/dev/null; }
cping() { ip netns exec "$LAB_NS_CLIENT" ping "$@"; }

check "VM starts on vh01 with net, disk and rng" \
	vm_start "$P" vm1 vh01 --work idle,counter,disklog,dirty:32M:4M --index 1
ip=$(vm_var "$P" vm1 ip)
con=$(vm_var "$P" vm1 console)
for _ in $(seq 1 100); do grep -q 'disklog: writing' "$con" && break; sleep 0.1; done
if grep -q 'virtio_blk' "$con" 2>/dev/null || grep -q 'disklog: found' "$con"; then pass "guest sees its disk"; else fail "guest sees its disk" "$(tail -5 "$con")"; fi

# 1000 pings at 10 ms, each answered within 2 s.
cping -c 1000 -i 0.01 -W 2 "$ip" >"$FERRY_TMP/ping" 2>&1
rx=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$FERRY_TMP/ping")
max=$(sed -n 's|.*= [0-9.]*/[0-9.]*/\([0-9.]*\)/.*|\1|p' "$FERRY_TMP/ping")
if [ "$rx" = 1000 ] && awk -v m="$max" 'BEGIN { exit !(m < 2000) }'; then
	pass "1000 pings at 10 ms answered, slowest ${max} ms"
else
	fail "1000 pings at 10 ms answered within 2 s" "$(tail -2 "$FERRY_TMP/ping")"
fi

# The counter service: 8 s of lines, none skipped or repeated.
out=$(ip netns exec "$LAB_NS_CLIENT" "$counter_bin" --duration 8 "$ip" 7000 2>&1)
rc=$?
line=$(echo "$out" | grep '^counter:' | tail -1)
if [ $rc -eq 0 ] && echo "$line" | grep -q 'skips 0, repeats 0'; then pass "counter streams without skip or repeat ($line)"; else fail "counter streams" "$out"; fi

# Save with every device, restore on vh02 (its own TAP, the same disk), resume.
"$ctl" "$(vm_var "$P" vm1 sock)" pause >/dev/null
snap=$LAB_SHARED/vm1.snap
if "$ctl" "$(vm_var "$P" vm1 sock)" save "{\"file\": \"$snap\"}" >/dev/null; then pass "paused machine saved with all devices"; else fail "paused machine saved"; fi
pid=$(vm_var "$P" vm1 pid)
"$ctl" "$(vm_var "$P" vm1 sock)" quit >/dev/null
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
lab_untap "$P" vh01 "$(vm_var "$P" vm1 tap)"
tap2=$P-rst2
lab_tap "$P" vh02 "$tap2"
sock2=$FERRY_TMP/rst.sock
lab_spawn "$P" vh02 "$FERRY_TMP/restored.log" "$FERRY_VM" --restore "$snap" --paused \
	--net "tap:$tap2,mac=$(vm_var "$P" vm1 mac)" --disk "$(vm_var "$P" vm1 disk)" \
	--control "unix:$sock2" --journal "$FERRY_TMP/restored.journal" >/dev/null
rpid=$LAB_PID
for _ in $(seq 1 100); do "$ctl" --timeout 1 "$sock2" status >/dev/null 2>&1 && break; sleep 0.1; done
if "$ctl" "$sock2" resume >/dev/null; then pass "restored on vh02 and resumed"; else fail "restored on vh02 and resumed" "$(tail -3 "$FERRY_TMP/restored.log")"; fi
sleep 1
if cping -c 100 -i 0.01 -W 2 "$ip" >"$FERRY_TMP/ping2" 2>&1 && grep -q ' 100 received' "$FERRY_TMP/ping2"; then
	pass "restored machine answers 100 pings"
else
	fail "restored machine answers pings" "$(tail -2 "$FERRY_TMP/ping2")"
fi
out=$(ip netns exec "$LAB_NS_CLIENT" "$counter_bin" --duration 4 "$ip" 7000 2>&1)
if echo "$out" | grep -q 'skips 0, repeats 0, .*disconnected no'; then pass "restored machine serves the counter"; else fail "restored machine serves the counter" "$out"; fi
sleep 5.5
n=$(grep -c '^ferry-work: heartbeat' "$FERRY_TMP/restored.log")
if [ "$n" -ge 5 ] && grep -q 'disklog: t=' "$FERRY_TMP/restored.log"; then
	pass "restored machine keeps its heartbeat and disklog going ($n heartbeats)"
else
	fail "restored machine keeps running" "$(tail -5 "$FERRY_TMP/restored.log")"
fi
if bad_lines "$con" "$FERRY_TMP/restored.log" >/dev/null; then
	fail "no kernel warning, MISMATCH or disk error before or after the restore" "$(bad_lines "$con" "$FERRY_TMP/restored.log" | head -3)"
else
	pass "no kernel warning, MISMATCH or disk error before or after the restore"
fi
"$ctl" "$sock2" quit >/dev/null
for _ in $(seq 1 50); do kill -0 "$rpid" 2>/dev/null || break; sleep 0.1; done
lab_untap "$P" vh02 "$tap2"
rm -f "$(_vm_dir "$P" vm1)/host"

# A fresh boot on the same disk finds the log intact and continues it.
if vm_start "$P" vm1 vh01 --work disklog --index 1; then
	con=$(vm_var "$P" vm1 console)
	for _ in $(seq 1 100); do grep -q 'disklog: writing' "$con" && break; sleep 0.1; done
	found=$(grep 'disklog: found' "$con" | head -1 | tr -d '\r')
	if echo "$found" | grep -q ' ok$' && grep -q 'disklog: writing from record' "$con"; then
		pass "fresh VM finds the disklog intact and continues it ($found)"
	else
		fail "fresh VM finds the disklog intact" "$found" "$(bad_lines "$con" | head -3)"
	fi
	vm_stop "$P" vm1
else
	fail "fresh VM boots on the disk"
fi
finish integration-devices
