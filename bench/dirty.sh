#!/bin/bash
# dirty.sh - the cost of dirty tracking: guest MIPS with tracking off and on, beside QEMU.
#
# Usage: bench/dirty.sh [RUNS] [INTERVAL_MS]     (default 5 runs, medians; 10 ms)
#
# The guest runs bench_mips (200,000,000 instructions of a loop that loads and stores one
# word, timed by the guest clock).
#   ferry-vm off: no dirty logging.
#   ferry-vm on:  dirty logging started, and the bitmap collected every INTERVAL_MS through
#                 the control socket (each collection drops the hart's write-TLB entries,
#                 which is what tracking costs an interpreter) - a migration's pace.
#   qemu off:     plain TCG.
#   qemu on:      a migration to /dev/null capped at 1 MB/s runs throughout, which turns on
#                 TCG's dirty-memory logging (and its own bitmap syncs).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
vm=${FERRY_VM:-$root/build/bin/ferry-vm}
ctl=$root/build/bin/ferry-vmctl
guest=${FERRY_GUEST:-$root/build/guest}
runs=${1:-5}
interval=${2:-10}
tmp=$(mktemp -d /tmp/ferry-bench-dirty.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
append="console=ttyS0 quiet ferry.run=bench_mips ferry.poweroff"

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "n/a"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
mips_of() { tr -d '\r' <"$1" | sed -n 's/^bench-mips: .* mips=\([0-9]*\).*/\1/p'; }
wait_sock() { for _ in $(seq 1 200); do "$ctl" --timeout 1 "$1" "$2" >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }

ferry_once() { # on|off
	local out=$tmp/ferry.out sock=$tmp/ferry.sock collector=""
	rm -f "$sock"
	"$vm" --kernel "$guest/Image" --initrd "$guest/initramfs.cpio" --memory 256M --append "$append" \
		--control "unix:$sock" --paused </dev/null >"$out" 2>/dev/null &
	local pid=$!
	pids+=("$pid")
	wait_sock "$sock" status || return
	if [ "$1" = on ]; then
		"$ctl" "$sock" dirty-log '{"action": "start"}' >/dev/null
		"$ctl" --timeout 600 --repeat 100000 --interval "$interval" "$sock" dirty-log '{"action": "collect"}' \
			>/dev/null 2>&1 &
		collector=$!
	fi
	"$ctl" "$sock" resume >/dev/null
	wait "$pid"
	[ -n "$collector" ] && kill "$collector" 2>/dev/null
	mips_of "$out"
}

qemu_once() { # on|off
	local out=$tmp/qemu.out sock=$tmp/qmp.sock
	rm -f "$sock"
	qemu-system-riscv64 -M virt -bios default -nographic -m 256M -kernel "$guest/Image" \
		-initrd "$guest/initramfs.cpio" -append "$append" -qmp "unix:$sock,server=on,wait=off" -S \
		</dev/null >"$out" 2>/dev/null &
	local pid=$!
	pids+=("$pid")
	wait_sock "$sock" query-status || return
	if [ "$1" = on ]; then
		"$ctl" "$sock" migrate-set-parameters '{"max-bandwidth": 1048576}' >/dev/null
		"$ctl" "$sock" migrate '{"uri": "exec:cat >/dev/null"}' >/dev/null
	fi
	"$ctl" "$sock" cont >/dev/null
	if [ "$1" = on ]; then
		local st
		st=$("$ctl" "$sock" --get status query-migrate 2>/dev/null)
		[ "$st" = active ] || echo "warning: qemu migration is '$st', not active" >&2
	fi
	wait "$pid"
	mips_of "$out"
}

series() { for _ in $(seq 1 "$runs"); do $1 "$2"; done | median; }

echo "dirty-tracking benchmark: $runs runs each, medians; collection every $interval ms; $(date -u +%Y-%m-%dT%H:%MZ)"
printf '%-34s %12s %12s\n' "guest MIPS (bench_mips)" "ferry-vm" "qemu (TCG)"
f_off=$(series ferry_once off)
f_on=$(series ferry_once on)
q_off=$(series qemu_once off)
q_on=$(series qemu_once on)
printf '%-34s %12s %12s\n' "tracking off" "$f_off" "$q_off"
printf '%-34s %12s %12s\n' "tracking on" "$f_on" "$q_on"
awk -v a="$f_off" -v b="$f_on" -v c="$q_off" -v d="$q_on" 'BEGIN {
	printf "%-34s %11.1f%% %11.1f%%\n", "cost of tracking", (a > 0 ? 100 * (a - b) / a : 0), (c > 0 ? 100 * (c - d) / c : 0) }'
