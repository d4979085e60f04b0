#!/bin/bash
# smp.sh - several harts through a VM's life, on this host (no lab): --cpus is checked; the
# kernel brings up 1 and 4 harts, and the FP self-check runs on each of 4 (fp:each); a hart the
# kernel never started (maxcpus=3) stays stopped when the VM is live-migrated and when it is
# saved and restored, with every hart's state hash equal on both sides; a destination or a
# restore with another number of harts refuses the VM, naming both numbers, and the VM runs on.
# (The lab's live migration of a 4-hart guest under the counter and the disk log is migrate.sh's
# smp4; the replay of 4 harts under icount is replay.sh's smp4.)
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../localvm.sh"
scratch
port=$((20000 + ($$ + 4099) % 20000))
lease=$FERRY_TMP/vm.lease
trap 'for p in $others; do kill "$p" 2>/dev/null; done; rm -rf "$FERRY_TMP"' EXIT
boot=(--kernel "$FERRY_GUEST/Image" --initrd "$FERRY_GUEST/initramfs.cpio")

# The harts NAME's fp:each workload has reported on, as "fp@0 fp@1 ..." (sorted).
fp_harts() { tr -d '\r' <"$FERRY_TMP/$1.out" | sed -n 's/^ferry-work: \(fp@[0-9]*\): ok rounds=.*/\1/p' | sort -u | tr '\n' ' ' | sed 's/ $//'; }
# The last round count hart K reported in NAME's console (0 if none).
fp_rounds() { tr -d '\r' <"$FERRY_TMP/$1.out" | sed -n "s/^ferry-work: fp@$2: ok rounds=\([0-9]*\).*/\1/p" | tail -1 | grep . || echo 0; }
wait_for() { # SECONDS COMMAND...: until the command succeeds
	local n=$(($1 * 10))
	shift
	for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}
has_harts() { [ "$(fp_harts "$1")" = "$2" ]; }
rounds_past() { [ "$(fp_rounds "$1" "$2")" -gt "$3" ]; } # NAME K R: hart K past round R
# The HSM state of every hart of NAME, as "started started stopped ...".
states() { c "$1" status | jq -r '.return.harts | map(.state) | join(" ")'; }

# ---- --cpus is checked ---------------------------------------------------------------------
for bad_n in 0 9 x 4x ""; do
	out=$("$FERRY_VM" "${boot[@]}" --cpus "$bad_n" --console null 2>&1)
	rc=$?
	if [ $rc -eq 2 ] && grep -q "is not a number from 1 to 8" <<<"$out"; then
		pass "--cpus '$bad_n' is refused ($out)"
	else
		fail "--cpus '$bad_n' is refused" "exit $rc: $out"
	fi
done

# ---- 1 and 4 harts boot ------------------------------------------------------------------
for n in 1 4; do
	want="Brought up 1 node, $n CPU"
	[ "$n" -gt 1 ] && want="${want}s"
	start_vm b$n "${boot[@]}" --cpus "$n" --append "console=ttyS0 ferry.work=idle" ||
		fail "$n harts: the VM starts" "$(tail -3 "$FERRY_TMP/b$n.out")"
	if wait_for 30 grep -q "smp: $want" "$FERRY_TMP/b$n.out" && wait_for 10 grep -q "ferry-init: up" "$FERRY_TMP/b$n.out"; then
		pass "$n hart(s): the kernel says '$want' and init runs"
	else
		fail "$n hart(s): the kernel says '$want'" "$(grep -E 'smp:|CPU' "$FERRY_TMP/b$n.out" | tail -3)"
	fi
	got=$(c b$n status | jq -c '.return | [.cpus, (.harts | map(.state))]')
	want_states=$(jq -nc --argjson n "$n" '[$n, [range($n) | "started"]]')
	if [ "$got" = "$want_states" ]; then pass "$n hart(s): status lists each, started ($got)"; else fail "$n hart(s): status lists each, started" "$got"; fi
	c b$n quit >/dev/null 2>&1
done

# ---- the FP self-check on each of 4 harts ------------------------------------------------------
start_vm f4 "${boot[@]}" --cpus 4 --append "console=ttyS0 quiet ferry.work=fp:each" ||
	fail "fp:each: the VM starts" "$(tail -3 "$FERRY_TMP/f4.out")"
if wait_for 40 has_harts f4 "fp@0 fp@1 fp@2 fp@3" && [ -z "$(bad "$FERRY_TMP/f4.out")" ]; then
	pass "fp:each: the FP self-check passes on every hart ($(fp_harts f4))"
else
	fail "fp:each: the FP self-check passes on every hart" "reported: $(fp_harts f4)" "$(bad "$FERRY_TMP/f4.out")"
fi
c f4 quit >/dev/null 2>&1

# ---- a hart the kernel never started stays stopped -----------------------------------------------
# maxcpus=3: Linux starts harts 1 and 2 with SBI hart_start and leaves hart 3 stopped.
start_vm s1 "${boot[@]}" --cpus 4 --append "console=ttyS0 quiet maxcpus=3 ferry.work=idle,fp:each" ||
	fail "maxcpus=3: the VM starts" "$(tail -3 "$FERRY_TMP/s1.out")"
if wait_for 40 has_harts s1 "fp@0 fp@1 fp@2" && [ "$(states s1)" = "started started started stopped" ]; then
	pass "maxcpus=3 on 4 harts: harts 0-2 run the FP self-check, hart 3 stays stopped"
else
	fail "maxcpus=3 on 4 harts: hart 3 stays stopped" "$(states s1)" "reported: $(fp_harts s1)"
fi

# A destination with another number of harts refuses the VM, naming both; the VM runs on.
token d2
start_vm d2 --incoming "127.0.0.1:$port" --token-file "$FERRY_TMP/d2.token" --cpus 2 ||
	fail "a 2-hart destination starts" "$(cat "$FERRY_TMP/d2.out")"
out=$(migrate s1 "$port" d2)
for _ in $(seq 1 50); do alive "$pid_d2" || break; sleep 0.1; done
if ! jq -e '.return.phase == "completed"' <<<"$out" >/dev/null 2>&1 &&
	grep -q "the guest has 4 harts, this machine 2" "$FERRY_TMP/d2.out" "$FERRY_TMP/s1.out" <(echo "$out") 2>/dev/null; then
	pass "a 2-hart destination refuses the 4-hart VM, naming both numbers"
else
	fail "a 2-hart destination refuses the 4-hart VM, naming both numbers" "$out" "$(tail -3 "$FERRY_TMP/d2.out")"
fi
r0=$(fp_rounds s1 0)
if [ "$(c s1 --get status status)" = running ] && wait_for 20 rounds_past s1 0 "$r0"; then
	pass "the VM runs on where it was"
else
	fail "the VM runs on where it was" "$(c s1 status)"
fi

# Live migration to a 4-hart destination: hart 3 arrives stopped and stays so.
port=$((port + 1))
token d1
start_vm d1 --incoming "127.0.0.1:$port" --token-file "$FERRY_TMP/d1.token" --cpus 4 ||
	fail "destination d1 starts" "$(cat "$FERRY_TMP/d1.out")"
h_src=$(c s1 query-hash | jq -c '.return.harts')
out=$(migrate s1 "$port" d1)
if ds=$(migrated_equal "$out"); then
	pass "moved live: RAM and device-state hashes (every hart's record among them) equal ($ds)"
else
	fail "moved live, hashes equal" "$out"
fi
echo "# hart hashes on the source before the move: $h_src"
sleep 1
if [ "$(states d1)" = "started started started stopped" ]; then
	pass "at the destination hart 3 is still stopped, the others run"
else
	fail "at the destination hart 3 is still stopped" "$(states d1)"
fi
r=$(fp_rounds d1 2)
if wait_for 20 rounds_past d1 2 "$r" && wait_for 20 has_harts d1 "fp@0 fp@1 fp@2"; then
	pass "the FP self-check goes on at the destination on harts 0-2"
else
	fail "the FP self-check goes on at the destination" "reported: $(fp_harts d1)"
fi

# Saved and restored: every hart's hash equal, hart 3 still stopped; --cpus 2 is refused.
c d1 pause >/dev/null
h1=$(c d1 query-hash | jq -c '.return | {ram, devices, harts}')
check "saved and released" c d1 save "{\"file\": \"$FERRY_TMP/snap\", \"release\": true}"
out=$("$FERRY_VM" --restore "$FERRY_TMP/snap" --cpus 2 --lease "$lease" --console null --paused 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -q "cpus 2 differs from the snapshot's 4" <<<"$out"; then
	pass "a restore with --cpus 2 is refused, naming both numbers ($out)"
else
	fail "a restore with --cpus 2 is refused" "exit $rc: $out"
fi
start_vm r1 --restore "$FERRY_TMP/snap" --paused || fail "restored from the save" "$(tail -3 "$FERRY_TMP/r1.out")"
h2=$(c r1 query-hash | jq -c '.return | {ram, devices, harts}')
if [ -n "$h1" ] && [ "$h1" = "$h2" ] && jq -e '.harts | length == 4' <<<"$h1" >/dev/null; then
	pass "the restored machine is the saved one: RAM, devices and each of the 4 harts' hashes equal"
else
	fail "the restored machine is the saved one" "saved $h1" "restored $h2"
fi
c r1 resume >/dev/null
sleep 1
r=$(fp_rounds r1 1)
if [ "$(states r1)" = "started started started stopped" ] && wait_for 20 rounds_past r1 1 "$r"; then
	pass "after the restore hart 3 is still stopped and the others work on"
else
	fail "after the restore hart 3 is still stopped and the others work on" "$(states r1)" "$(tail -3 "$FERRY_TMP/r1.out")"
fi
if bad "$FERRY_TMP"/*.out >"$FERRY_TMP/bad"; [ -s "$FERRY_TMP/bad" ]; then
	fail "no workload alarm, kernel warning or illegal instruction on any console" "$(cat "$FERRY_TMP/bad")"
else
	pass "no workload alarm, kernel warning or illegal instruction on any console"
fi
c r1 quit >/dev/null 2>&1
finish integration-smp
