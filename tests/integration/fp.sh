#!/bin/bash
# fp.sh - the F and D extensions through a VM's life. A guest computing in floating point
# (ferry.work=fp: every rounding mode, state kept in the FP registers, results checked against
# known values) is live-migrated and then saved and restored in the middle of its work: its
# checks keep passing, the FP state was live when it moved (FS Dirty, f registers set), and
# the RAM, device and hart hashes are equal on both sides. A VM keeps the ISA it booted with:
# a destination that does not give F and D refuses the VM, naming them, and the VM runs on
# where it was; a VM booted as rv64imac stays rv64imac on a destination that gives more.
# (Replay of the FP workload under the icount clock is in replay.sh.)
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../localvm.sh"
scratch
ctl=$FERRY_ROOT/build/bin/ferry-vmctl
port=$((20000 + ($$ + 7919) % 20000))
lease=$FERRY_TMP/vm.lease
others=""
trap 'for p in $others; do kill "$p" 2>/dev/null; done; rm -rf "$FERRY_TMP"' EXIT
boot=(--kernel "$FERRY_GUEST/Image" --initrd "$FERRY_GUEST/initramfs.cpio")
isa_all=rv64imafdc_zicntr_zicsr_zifencei
isa_imac=rv64imac_zicntr_zicsr_zifencei

# The fp workload's progress: the last "ok rounds=N" it printed (0 if none).
rounds() { sed -n 's/^ferry-work: fp: ok rounds=\([0-9]*\).*/\1/p' "$FERRY_TMP/$1.out" | tr -d '\r' | tail -1 | grep . || echo 0; }
# Wait until NAME's workload has gone past R rounds (up to S seconds).
past() { # NAME R S
	for _ in $(seq 1 $(($3 * 10))); do [ "$(rounds "$1")" -gt "$2" ] && return 0; sleep 0.1; done
	return 1
}
# sstatus.FS of NAME's hart (from the raw reply: jq would read the 64-bit value as a double).
fs_of() { local v; v=$(c "$1" query-state | grep -o '"sstatus": -\?[0-9]*' | head -1 | awk '{print $2}') && [ -n "$v" ] && echo $(((v >> 13) & 3)); }
# ---- a wrong --isa is refused, by name --------------------------------------------------------
for spec in "rv64imacv:extension 'v' is not one this hart has" "rv64imadc:D needs F" \
	"rv64ima:always has 'c'" "rv32imac:expected rv64"; do
	isa=${spec%%:*}
	want=${spec#*:}
	out=$(timeout 10 "$FERRY_VM" --isa "$isa" "${boot[@]}" 2>&1)
	rc=$?
	if [ $rc -eq 2 ] && echo "$out" | grep -qF -- "--isa: ISA '$isa': " && echo "$out" | grep -qF "$want"; then
		pass "--isa $isa is refused ($want)"
	else
		fail "--isa $isa is refused ($want)" "exit $rc: $out"
	fi
done

# ---- live migration in the middle of the work -------------------------------------------------
start_vm vm1 "${boot[@]}" --append "console=ttyS0 quiet ferry.work=idle,fp" || fail "the FP VM starts" "$(tail -3 "$FERRY_TMP/vm1.out")"
if past vm1 1 120; then pass "the fp workload runs and checks its results (rounds $(rounds vm1))"; else fail "the fp workload runs" "$(tail -5 "$FERRY_TMP/vm1.out")"; fi
[ "$(c vm1 --get isa status)" = "$isa_all" ] && pass "the hart is $isa_all by default" || fail "the hart is $isa_all by default" "$(c vm1 --get isa status)"
token d1
start_vm d1 --incoming "127.0.0.1:$port" --token-file "$FERRY_TMP/d1.token" || fail "destination d1 starts" "$(cat "$FERRY_TMP/d1.out")"
r_before=$(rounds vm1)
out=$(migrate vm1 "$port" d1)
if ds=$(migrated_equal "$out"); then
	pass "moved live in the middle of the work (round $r_before): RAM and device-state hashes equal ($ds)"
else
	fail "moved live in the middle of the work, hashes equal" "$out"
fi
state=$(c d1 query-state)
if jq -e '.return.cpu | (.f | map(select(. != 0)) | length) >= 4' <<<"$state" >/dev/null; then
	pass "the FP state moved with it: $(jq '.return.cpu.f | map(select(. != 0)) | length' <<<"$state") f registers set, fcsr $(jq .return.cpu.fcsr <<<"$state"), sstatus.FS $(fs_of d1)"
else
	fail "the FP state moved with it" "$(jq -c '.return.cpu | {f, fcsr, sstatus}' <<<"$state")"
fi
if past d1 "$r_before" 60; then
	pass "the workload goes on at the destination (round $(rounds d1))"
else
	fail "the workload goes on at the destination" "$(tail -5 "$FERRY_TMP/d1.out")"
fi

# ---- saved and restored in the middle of the work ---------------------------------------------
c d1 pause >/dev/null
h1=$(c d1 query-hash | jq -c '.return | {ram, devices, hart}')
r_saved=$(rounds d1)
save_release() { c "$1" save "{\"file\": \"$2\", \"release\": true}" | jq -e '.return.released == true' >/dev/null; }
check "saved and released in the middle of the work (round $r_saved)" save_release d1 "$FERRY_TMP/snap"
start_vm r1 --restore "$FERRY_TMP/snap" --paused || fail "restored from the save" "$(tail -3 "$FERRY_TMP/r1.out")"
h2=$(c r1 query-hash | jq -c '.return | {ram, devices, hart}')
if [ -n "$h1" ] && [ "$h1" = "$h2" ] && jq -e '.hart | test("^[0-9a-f]{16}$")' <<<"$h1" >/dev/null; then
	pass "the restored machine is the saved one: RAM, devices and hart hashes equal ($h2)"
else
	fail "the restored machine is the saved one" "saved $h1" "restored $h2"
fi
c r1 resume >/dev/null
if past r1 "$r_saved" 60; then pass "the workload goes on after the restore (round $(rounds r1))"; else fail "the workload goes on after the restore" "$(tail -5 "$FERRY_TMP/r1.out")"; fi

# ---- a destination that does not give F and D -------------------------------------------------
token d2
start_vm d2 --isa rv64imac --incoming "127.0.0.1:$((port + 1))" --token-file "$FERRY_TMP/d2.token" ||
	fail "destination d2 (rv64imac) starts" "$(cat "$FERRY_TMP/d2.out")"
out=$(migrate r1 $((port + 1)) d2)
wait_gone() { for _ in $(seq 1 100); do alive "$1" || return 0; sleep 0.1; done; return 1; }
if jq -e '.return.phase == "failed"' <<<"$out" >/dev/null 2>&1 &&
	grep -q "needs f, d, which this machine ($isa_imac) does not give" "$FERRY_TMP/d2.out" <(echo "$out"); then
	pass "a destination without F and D refuses the VM, naming them"
else
	fail "a destination without F and D refuses the VM, naming them" "$out" "$(tail -3 "$FERRY_TMP/d2.out")"
fi
r_now=$(rounds r1)
if [ "$(c r1 --get status status)" = running ] && past r1 "$r_now" 60; then
	pass "the VM runs on where it was (round $(rounds r1))"
else
	fail "the VM runs on where it was" "$(c r1 status)"
fi
c r1 quit >/dev/null
wait_gone "$pid_d2" || kill "$pid_d2" 2>/dev/null

# ---- a VM booted as rv64imac stays rv64imac ---------------------------------------------------
rm -f "$lease"
start_vm vm3 --isa rv64imac "${boot[@]}" --append "console=ttyS0 quiet ferry.work=idle" || fail "an rv64imac VM starts" "$(tail -3 "$FERRY_TMP/vm3.out")"
for _ in $(seq 1 300); do grep -q '^ferry-work: heartbeat' "$FERRY_TMP/vm3.out" && break; sleep 0.1; done
if grep -q '^ferry-work: heartbeat' "$FERRY_TMP/vm3.out" && [ "$(c vm3 --get isa status)" = "$isa_imac" ]; then
	pass "a VM booted with --isa rv64imac runs our userland on a hart without F and D"
else
	fail "a VM booted with --isa rv64imac runs" "$(c vm3 status)" "$(tail -5 "$FERRY_TMP/vm3.out")"
fi
token d3
start_vm d3 --incoming "127.0.0.1:$((port + 2))" --token-file "$FERRY_TMP/d3.token" || fail "destination d3 starts" "$(cat "$FERRY_TMP/d3.out")"
out=$(migrate vm3 $((port + 2)) d3)
if jq -e '.return.phase == "completed"' <<<"$out" >/dev/null 2>&1 && [ "$(c d3 --get isa status)" = "$isa_imac" ] &&
	[ "$(fs_of d3)" = 0 ]; then
	pass "it stays rv64imac on a destination that gives rv64imafdc (FS Off)"
else
	fail "it stays rv64imac on a destination that gives more" "$out" "$(c d3 status)"
fi
c d3 quit >/dev/null

for f in vm1 d1 r1 d3 vm3; do
	b=$(bad "$FERRY_TMP/$f.out")
	[ -z "$b" ] || fail "$f: no workload alarm, kernel warning or illegal instruction" "$b"
done
[ -z "$(bad "$FERRY_TMP"/{vm1,d1,r1,vm3,d3}.out)" ] && pass "no workload alarm, kernel warning or illegal instruction on any console"
finish integration-fp
