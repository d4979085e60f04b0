#!/bin/bash
# replay.sh - a machine saved while running Linux and loaded into a fresh ferry-vm runs on
# identically under the deterministic clock: same registers, same RAM, same device state,
# tens of millions of instructions later, with timer interrupts firing all along. Twice: a
# guest running the integer loop, and one running the floating-point workload (ferry.work=fp:
# every rounding mode, state held in the FP registers), whose own checks must also pass; and a
# guest of 4 harts, each running the FP workload, with IPIs as well as timer interrupts firing.
# And a machine saved by the previous release (stream format 1, tests/fixtures/stream-v1.save)
# restores with the state that release recorded, and runs on.
source "$(dirname "$0")/../lib.sh"
scratch
ctl=$FERRY_ROOT/build/bin/ferry-vmctl
N1=${REPLAY_SAVE_AT:-20000000}
N2=${REPLAY_END_AT:-70000000}
args=(--clock icount --console null --memory 128M --paused)
kernel=(--kernel "$FERRY_GUEST/Image" --initrd "$FERRY_GUEST/initramfs.cpio")
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

# One replay: A boots, runs to N1, saves, runs on to N2; B restores the save and runs to N2; C
# boots again and runs to N1, then to N2 (pausing where A did: with several harts a pause
# starts the harts' round again at hart 0, so the pauses are part of the run). All three must
# be identical at N2.
replay() { # LABEL N1 N2 KERNEL-COMMAND-LINE
	local l=$1 N1=$2 N2=$3 boot=("${kernel[@]}" --append "$4") hA hB hC timer_before timer_after fired
	local ipi_before ipi_after
	check "$l A: boots under the icount clock" start "${l}A" "${args[@]}" "${boot[@]}"
	check "$l A: runs to exactly $N1 instructions" run_to "${l}A" "$N1"
	check "$l A: saves its state" "$ctl" "$FERRY_TMP/${l}A.sock" save "{\"file\": \"$FERRY_TMP/$l.snap\"}"
	timer_before=$(irqs "${l}A" timer_interrupts)
	ipi_before=$(irqs "${l}A" software_interrupts)
	check "$l A: runs on to exactly $N2 instructions" run_to "${l}A" "$N2"
	timer_after=$(irqs "${l}A" timer_interrupts)
	ipi_after=$(irqs "${l}A" software_interrupts)
	hA=$(hash_of "${l}A")
	check "$l B: restores the saved state" start "${l}B" --restore "$FERRY_TMP/$l.snap" "${args[@]}"
	check "$l B: runs to exactly $N2 instructions" run_to "${l}B" "$N2"
	hB=$(hash_of "${l}B")
	check "$l C: boots again" start "${l}C" "${args[@]}" "${boot[@]}"
	check "$l C: runs to exactly $N1 instructions" run_to "${l}C" "$N1"
	check "$l C: runs on to exactly $N2 instructions" run_to "${l}C" "$N2"
	hC=$(hash_of "${l}C")
	echo "# $l A: $hA"
	echo "# $l B: $hB"
	echo "# $l C: $hC"
	if [ -n "$hA" ] && [ "$hA" = "$hB" ]; then
		pass "$l: restored machine identical after $((N2 - N1)) instructions (RAM, registers, devices)"
	else
		fail "$l: restored machine identical after $((N2 - N1)) instructions" "A: $hA" "B: $hB"
	fi
	if [ -n "$hA" ] && [ "$hA" = "$hC" ]; then pass "$l: two boots identical at $N2 instructions"; else fail "$l: two boots identical at $N2 instructions" "A: $hA" "C: $hC"; fi
	fired=$((timer_after - timer_before))
	if [ "$fired" -gt 10 ]; then
		pass "$l: timer interrupts fired during the replayed span ($fired)"
	else
		fail "$l: timer interrupts fired during the replayed span" "before $timer_before after $timer_after"
	fi
	if [ "${REPLAY_IPIS:-0}" = 1 ]; then
		fired=$((ipi_after - ipi_before))
		if [ "$fired" -gt 0 ]; then
			pass "$l: IPIs fired during the replayed span ($fired)"
		else
			fail "$l: IPIs fired during the replayed span" "before $ipi_before after $ipi_after"
		fi
	fi
	for n in A B C; do "$ctl" "$FERRY_TMP/$l$n.sock" quit >/dev/null 2>&1; done
}

replay int "$N1" "$N2" "console=ttyS0 quiet ferry.run=bench_mips"
# The FP workload reports once a second of guest time (10^8 instructions under icount): it runs
# longer, and its console goes to a file, where its checks must have passed in all three runs.
args=(--clock icount --console stdio --memory 128M --paused)
replay fp "${REPLAY_FP_SAVE_AT:-150000000}" "${REPLAY_FP_END_AT:-400000000}" "console=ttyS0 quiet ferry.work=fp"
for n in A B C; do
	ok=$(tr -d '\r' <"$FERRY_TMP/fp$n.out" | grep -c '^ferry-work: fp: ok rounds=')
	bad=$(tr -d '\r' <"$FERRY_TMP/fp$n.out" | grep -E 'MISMATCH|FAILED|ERROR|Oops|BUG:' | head -3)
	if [ "$ok" -ge 1 ] && [ -z "$bad" ]; then
		pass "fp $n: the workload's checks passed ($ok reports)"
	else
		fail "fp $n: the workload's checks passed" "$ok reports" "$bad"
	fi
done
# Four harts, each running the FP workload (fp:each pins one process to each CPU): the harts'
# slices, their timers, the IPIs between them and the reservations they break all replay.
args=(--clock icount --console stdio --memory 128M --paused --cpus 4)
REPLAY_IPIS=1 replay smp4 "${REPLAY_SMP_SAVE_AT:-200000000}" "${REPLAY_SMP_END_AT:-260000000}" "console=ttyS0 quiet ferry.work=fp:each"
for n in A B C; do
	harts=$(tr -d '\r' <"$FERRY_TMP/smp4$n.out" | sed -n 's/^ferry-work: \(fp@[0-9]*\): ok rounds=.*/\1/p' | sort -u | tr '\n' ' ')
	bad=$(tr -d '\r' <"$FERRY_TMP/smp4$n.out" | grep -E 'MISMATCH|FAILED|ERROR|Oops|BUG:' | head -3)
	if [ "$harts" = "fp@0 fp@1 fp@2 fp@3 " ] && [ -z "$bad" ]; then
		pass "smp4 $n: the workload's checks passed on every hart ($harts)"
	else
		fail "smp4 $n: the workload's checks passed on every hart" "reported: $harts" "$bad"
	fi
done
args=(--clock icount --console null --memory 128M --paused)
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
# Fields added since (the hart's FP registers and fcsr, state version 2) are not in the record:
# they must hold their defaults (zero), and the rest must be as recorded. The list of every
# hart (added with several harts) must hold this one alone, as .cpu.
"$ctl" "$FERRY_TMP/D.sock" query-state >"$FERRY_TMP/D.state"
if jq -e '.return | (.harts | length) == 1 and .harts[0] == .cpu' "$FERRY_TMP/D.state" >/dev/null &&
	diff <(jq -S ".return | $unsigned" "$fx/stream-v1.state.json") \
	<(jq -S ".return | del(.harts) | .cpu |= del(.f, .fcsr) | $unsigned" "$FERRY_TMP/D.state") >"$FERRY_TMP/D.diff"; then
	pass "D: every device's state as the previous release recorded it"
else
	fail "D: every device's state as the previous release recorded it" "$(head -20 "$FERRY_TMP/D.diff")"
fi
if jq -e '.return.cpu | (.f | length == 32 and all(. == 0)) and .fcsr == 0' "$FERRY_TMP/D.state" >/dev/null &&
	[ "$("$ctl" "$FERRY_TMP/D.sock" --get isa status)" = rv64imac_zicntr_zicsr_zifencei ]; then
	pass "D: the fields it did not have are zero, and the hart keeps its rv64imac"
else
	fail "D: the fields it did not have are zero, and the hart keeps its rv64imac" \
		"$(jq -c '.return.cpu | {f, fcsr}' "$FERRY_TMP/D.state")" "$("$ctl" "$FERRY_TMP/D.sock" --get isa status)"
fi
check "D: runs on to exactly 5000000 instructions" run_to D 5000000
fired=$(irqs D timer_interrupts)
ext=$(irqs D external_interrupts)
if [ "${fired:-0}" -gt 0 ] && [ "${ext:-0}" -gt 0 ]; then
	pass "D: its timer and virtio-rng interrupts fire ($fired, $ext)"
else
	fail "D: its timer and virtio-rng interrupts fire" "timer $fired external $ext"
fi
"$ctl" "$FERRY_TMP/D.sock" quit >/dev/null 2>&1
finish integration-replay
