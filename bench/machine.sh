#!/bin/bash
# machine.sh - the machine's speed beside QEMU's: guest MIPS, boot-to-init time, idle host CPU.
#
# Usage: bench/machine.sh [RUNS]        (default 5 runs per figure; medians are printed)
#
# Both machines run the same Image and initramfs from build/guest:
#   ferry-vm                 build/bin/ferry-vm
#   qemu-system-riscv64      -M virt -bios default (OpenSBI, TCG), Debian's qemu-system-misc
# MIPS: the guest program bench_mips runs a loop of exactly 200,000,000 instructions and
#   times it with the guest's CLOCK_MONOTONIC (which follows the host clock in both).
# FP MIPS: bench_fmips, a loop of exactly 100,000,000 instructions, 6 in 10 double-precision
#   arithmetic (fmadd.d, fmul.d, fadd.d, fdiv.d), 2 fld/fsd, 2 loop control; timed the same
#   way. n/a when the machine's hart has no F and D (the program dies of SIGILL).
# 4 harts: the same programs, one copy pinned to each of 4 CPUs at once (ferry.run=PROG@each),
#   the figure being all their instructions over the span from the first start to the last
#   end: ferry-vm --cpus 4 (its harts take turns on one host thread) beside
#   qemu-system-riscv64 -smp 4 with MTTCG (a host thread per hart; the host's CPU count, on the
#   header line, bounds what MTTCG can gain).
# Boot: host wall time from starting the process to the init banner on the console
#   ("quiet" kernel command line, 256 MiB), includes QEMU's OpenSBI.
# Debian boot: the Debian guest (guest/debian.sh: Debian's packages on an ext4 root on
#   virtio-blk, built if missing), host wall time from starting the process to its first
#   dynamically linked program (ferry-check in dash), with 1 and 4 harts; a fresh copy of the
#   image each run.
# Idle: host CPU (all threads, from /proc/PID/task/*/schedstat) an idle booted guest uses
#   over 10 s, as a percentage of one CPU.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
vm=${FERRY_VM:-$root/build/bin/ferry-vm}
guest=${FERRY_GUEST:-$root/build/guest}
runs=${1:-5}
img=$guest/Image
rd=$guest/initramfs.cpio
tmp=$(mktemp -d /tmp/ferry-bench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

ferry_cmd() { echo "$vm --kernel $img --initrd $rd --memory 256M --cpus ${CPUS:-1} --append"; }
qemu_cmd() { echo "qemu-system-riscv64 -M virt -bios default -nographic -m 256M -smp ${CPUS:-1} -accel tcg,thread=multi -kernel $img -initrd $rd -append"; }

deb=${FERRY_DEBIAN:-$guest/debian/debian.ext4}
[ -f "$deb" ] || "$root/guest/debian.sh" "$(dirname "$deb")" >"$tmp/debian.log" 2>&1 || deb=""
ferry_deb() { echo "$vm --kernel $img --memory 256M --cpus ${CPUS:-1} --disk $debimg --append"; }
qemu_deb() {
	echo "qemu-system-riscv64 -M virt -bios default -nographic -m 256M -smp ${CPUS:-1} -accel tcg,thread=multi" \
		"-kernel $img -drive file=$debimg,if=none,format=raw,id=d0 -device virtio-blk-device,drive=d0 -append"
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "n/a"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# MIPS of one run of bench_mips (integer) or, with MIPS_PROG=bench_fmips, of the FP loop; with
# CPUS=N a copy on each of the N harts, summed.
mips_once() { # cmd
	local prog=${MIPS_PROG:-bench_mips} pat='^bench-mips: insns=' run
	[ "$prog" = bench_fmips ] && pat='^bench-mips: fp insns='
	run=$prog
	[ "${CPUS:-1}" -gt 1 ] && run=$prog@each
	# Every copy's instructions over the union of their timed regions (t0..t1, the guest's
	# CLOCK_MONOTONIC): copies that did not run side by side do not add up.
	$($1) "console=ttyS0 quiet ferry.run=$run ferry.poweroff" </dev/null 2>/dev/null |
		tr -d '\r' | sed -n "s/$pat\([0-9]*\) .* t0=\([0-9]*\) t1=\([0-9]*\).*/\1 \2 \3/p" |
		awk -v n="${CPUS:-1}" '{ i += $1; if (k == 0 || $2 < a) a = $2; if ($3 > b) b = $3; k++ }
			END { if (k == n && b > a) printf "%d\n", i * 1000 / (b - a) }'
}

# Milliseconds from starting a machine (COMMAND... and the kernel command line ARGS) to the
# first console line that starts with PREFIX (nothing if none comes within 120 s); the machine
# is then ended (by its process id), so it never runs beside the next one.
first_line_ms() { # PREFIX ARGS COMMAND...
	local prefix=$1 args=$2 t0 t1="" line
	shift 2
	t0=$(date +%s%N)
	coproc MACHINE { exec "$@" "$args" </dev/null 2>/dev/null; }
	local pid=$MACHINE_PID
	while IFS= read -r -t 120 line <&"${MACHINE[0]}"; do
		case $line in
		"$prefix"*) t1=$(date +%s%N); break ;;
		esac
	done
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	[ -n "$t1" ] && echo $(((t1 - t0) / 1000000))
}

# Milliseconds from start to the init banner.
boot_once() { # cmd
	# shellcheck disable=SC2046 # the command's words
	first_line_ms "ferry-init: up" "console=ttyS0 quiet ferry.poweroff" $($1)
}

# Milliseconds from start to the Debian guest's first dynamically linked program.
deb_boot_once() { # cmd
	[ -n "$deb" ] || return 0
	# A copy of its own, so every run boots the same image.
	debimg=$tmp/deb.$RANDOM$RANDOM.img
	cp --sparse=always "$deb" "$debimg"
	# shellcheck disable=SC2046 # the command's words
	first_line_ms "ferry-check: start" "console=ttyS0 quiet root=/dev/vda rw ferry.run=ferry-check ferry.poweroff" $($1)
	rm -f "$debimg"
}

# CPU time of every thread of a process, in ns (from schedstat: finer than clock ticks).
cpu_ns() { # pid
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%d\n", s}'
}

# Percent of one host CPU an idle guest uses over 10 s, measured after it has booted.
idle_once() { # cmd
	local out=$tmp/idle.out pid c0 c1
	: >"$out"
	$($1) "console=ttyS0 quiet" </dev/null >"$out" 2>/dev/null &
	pid=$!
	pids+=("$pid")
	for _ in $(seq 1 300); do grep -q "ferry-init: up" "$out" && break; sleep 0.1; done
	sleep 2
	c0=$(cpu_ns "$pid")
	sleep 10
	c1=$(cpu_ns "$pid")
	kill "$pid"
	wait "$pid" 2>/dev/null
	awk -v d=$((c1 - c0)) 'BEGIN {printf "%.2f\n", 100 * d / 1e9 / 10}'
}

series() { # fn cmd
	for _ in $(seq 1 "$runs"); do $1 "$2"; done | median
}

echo "machine benchmark: $runs runs each, medians; $(nproc) host CPUs; $(date -u +%Y-%m-%dT%H:%MZ)"
echo "guest: $(head -1 "$guest/VERSION")"
printf '%-28s %14s %14s\n' "" "ferry-vm" "qemu (TCG)"
printf '%-28s %14s %14s\n' "guest MIPS (bench_mips)" "$(series mips_once ferry_cmd)" "$(series mips_once qemu_cmd)"
printf '%-28s %14s %14s\n' "guest FP MIPS (bench_fmips)" "$(MIPS_PROG=bench_fmips series mips_once ferry_cmd)" \
	"$(MIPS_PROG=bench_fmips series mips_once qemu_cmd)"
printf '%-28s %14s %14s\n' "MIPS, 4 harts (all)" "$(CPUS=4 series mips_once ferry_cmd)" "$(CPUS=4 series mips_once qemu_cmd)"
printf '%-28s %14s %14s\n' "FP MIPS, 4 harts (all)" "$(CPUS=4 MIPS_PROG=bench_fmips series mips_once ferry_cmd)" \
	"$(CPUS=4 MIPS_PROG=bench_fmips series mips_once qemu_cmd)"
printf '%-28s %14s %14s\n' "boot to init banner (ms)" "$(series boot_once ferry_cmd)" "$(series boot_once qemu_cmd)"
printf '%-28s %14s %14s\n' "boot, 4 harts (ms)" "$(CPUS=4 series boot_once ferry_cmd)" "$(CPUS=4 series boot_once qemu_cmd)"
printf '%-28s %14s %14s\n' "Debian boot (ms)" "$(series deb_boot_once ferry_deb)" "$(series deb_boot_once qemu_deb)"
printf '%-28s %14s %14s\n' "Debian boot, 4 harts (ms)" "$(CPUS=4 series deb_boot_once ferry_deb)" "$(CPUS=4 series deb_boot_once qemu_deb)"
printf '%-28s %14s %14s\n' "idle guest host CPU (%)" "$(runs=1 series idle_once ferry_cmd)" "$(runs=1 series idle_once qemu_cmd)"
