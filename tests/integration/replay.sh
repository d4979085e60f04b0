#!/bin/bash
# replay.sh - a machine saved while running Linux and loaded into a fresh ferry-vm runs on
# identically under the deterministic clock: same registers, same RAM, same device state,
# tens of millions of instructions later, with timer interrupts firing all along. And a
# machine saved by the previous release (stream format 1, tests/fixtures/stream-v1.save)
# restores with the state that release recorded, and runs on.
source "$(dirname "$0")/../lib.sh"
scratch
ctl=$FERRY_ROOT/build/bin/ferry-vmctl
N1=${REPLAY_SAVE_AT:-20000000}
N2=${REPLAY_END_AT:-70000000}
args=(--clock icount --console null --memory 128M --paused)
boot=(--kernel "$FERRY_GUEST/Image" --initrd "$FERRY_GUEST/initramfs.cpio"
	--append "console=ttyS0 quiet ferry.run=bench_mips")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$FERRY_TMP"' EXIT

start() { # name args...: start a ferry-vm with a control socket $FERRY_TMP/NAME.sock
	local name=$1
	shift
	"$FERRY_VM" --control "unix:$FERRY_TMP/$name.sock" "$@" </dev/null >"$FERRY_TMP/$name.out" 2>&1 &
	pids+=($!)
	for _ in $(seq 1 100); do
		[ -S "$FERRY_TMP/$name.sock" ] && "$ctl" "$FERRY_TMP/$name.sock" status >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

# Run the paused machine NAME until it has retired exactly N instructions.
run_to() { # name n
	"$ctl" "$FERRY_TMP/$1.sock" pause "{\"instret\": $2}" >/dev/null &&
		{ "$ctl" --timeout 300 "$FERRY_TMP/$1.sock" --wait-event STOP >"$FERRY_TMP/$1.stop" & } &&
		sleep 0.1 && "$ctl" "$FERRY_TMP/$1.sock" resume >/dev/null && wait $! &&
		[ "$("$ctl" "$FERRY_TMP/$1.sock" --get instret status)" = "$2" ]
}

# The reply to query-hash (RAM and device hashes, instret, pc), if it has all four; compared
# whole, as text: jq 1.6 reads numbers as doubles, which would round a 64-bit pc.
hash_of() {
	local r
	r=$("$ctl" "$FERRY_TMP/$1.sock" query-hash) &&
		jq -e '.return | (.ram | strings) and (.devices | strings) and (.instret | numbers) and (.pc | numbers)' \
			<<<"$r" >/dev/null 2>&1 && printf '%s\n' "$r"
}
irqs() { "$ctl" "$FERRY_TMP/$1.sock" --get "$2" stats; }

# A: boot, run to N1, save, run on to N2.
check "A: boots under the icount clock" start A "${args[@]}" "${boot[@]}"
check "A: runs to exactly $N1 instructions" run_to A "$N1"
check "A: saves its state" "$ctl" "$FERRY_TMP/A.sock" save "{\"file\": \"$FERRY_TMP/snap\"}"
timer_before=$(irqs A timer_interrupts)
check "A: runs on to exactly $N2 instructions" run_to A "$N2"
timer_after=$(irqs A timer_interrupts)
hA=$(hash_of A)

# B: a fresh ferry-vm loads the state and runs to N2.
check "B: restores the saved state" start B --restore "$FERRY_TMP/snap" "${args[@]}"
check "B: runs to exactly $N2 instructions" run_to B "$N2"
hB=$(hash_of B)

# C: an independent boot straight to N2 (the boot itself is deterministic).
check "C: boots again" start C "${args[@]}" "${boot[@]}"
check "C: runs to exactly $N2 instructions" run_to C "$N2"
hC=$(hash_of C)

echo "# A: $hA"
echo "# B: $hB"
echo "# C: $hC"
if [ -n "$hA" ] && [ "$hA" = "$hB" ]; then
	pass "restored machine identical after $((N2 - N1)) instructions (RAM, registers, devices)"
else
	fail "restored machine identical after $((N2 - N1)) instructions" "A: $hA" "B: $hB"
fi
if [ -n "$hA" ] && [ "$hA" = "$hC" ]; then pass "two boots identical at $N2 instructions"; else fail "two boots identical at $N2 instructions" "A: $hA" "C: $hC"; fi
fired=$((timer_after - timer_before))
if [ "$fired" -gt 10 ]; then
	pass "timer interrupts fired during the replayed span ($fired)"
else
	fail "timer interrupts fired during the replayed span" "before $timer_before after $timer_after"
fi

# D: the format 1 fixture (tests/fixtures/record-stream-v1.sh says how it was made).
fx=$FERRY_ROOT/tests/fixtures
check "D: restores a machine saved by the previous release (stream format 1)" \
	start D --restore "$fx/stream-v1.save" --clock icount --console null --memory 16M --paused
want_pc=$(sed -n 's/.*"pc": \([0-9]*\).*/\1/p' "$fx/stream-v1.hash.json")
got_pc=$("$ctl" "$FERRY_TMP/D.sock" --get pc status)
got_n=$("$ctl" "$FERRY_TMP/D.sock" --get instret status)
if [ -n "$want_pc" ] && [ "$got_pc" = "$want_pc" ] && [ "$got_n" = 3000000 ]; then
	pass "D: the hart is where it was saved (pc $got_pc, 3000000 instructions)"
else
	fail "D: the hart is where it was saved" "pc $got_pc (recorded $want_pc), instret $got_n"
fi
# This release writes a 64-bit register as its signed bit pattern (every JSON integer is within
# int64); the previous one wrote it unsigned. Both read the same after adding 2^64 to the
# negative ones (jq holds numbers as doubles, which both sides go through alike).
unsigned='walk(if type == "number" and . < 0 then . + 18446744073709551616 else . end)'
if diff <(jq -S ".return | $unsigned" "$fx/stream-v1.state.json") \
	<("$ctl" "$FERRY_TMP/D.sock" query-state | jq -S ".return | $unsigned") >"$FERRY_TMP/D.diff"; then
	pass "D: every device's state as the previous release recorded it"
else
	fail "D: every device's state as the previous release recorded it" "$(head -20 "$FERRY_TMP/D.diff")"
fi
check "D: runs on to exactly 5000000 instructions" run_to D 5000000
fired=$(irqs D timer_interrupts)
ext=$(irqs D external_interrupts)
if [ "${fired:-0}" -gt 0 ] && [ "${ext:-0}" -gt 0 ]; then
	pass "D: its timer and virtio-rng interrupts fire ($fired, $ext)"
else
	fail "D: its timer and virtio-rng interrupts fire" "timer $fired external $ext"
fi
for n in A B C D; do "$ctl" "$FERRY_TMP/$n.sock" quit >/dev/null 2>&1; done
finish integration-replay
