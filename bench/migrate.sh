#!/bin/bash
# migrate.sh - live migration beside QEMU's, in the lab, with the same guest.
#
# Usage: bench/migrate.sh [RUNS]      (default 5; medians and maxima over runs)
#   BENCH_SIZES="256M 1G"  BENCH_WORKS="idle dirty smp4 debian4"  BENCH_SYSTEMS="ferry qemu-300 qemu-20"
#   BENCH_RATE=400mbit  BENCH_SKIP_LINKS=1
#
# For each guest size and workload (idle; dirty = dirty:64M:20M, a guest that dirties 20 MB/s
# and checks every word it wrote; smp4 = 4 harts, each running the FP self-check, QEMU with
# -smp 4 and MTTCG; debian4 = the same on the Debian guest, its ext4 root on the VM's virtio
# disk), the VM moves vh01 -> vh02 under:
#   ferry     ferry-vm, both migration links, downtime budget 20 ms, no cap
#   qemu-300  qemu-system-riscv64 (Debian 12's 7.2, TCG, -M virt), link a, default
#             downtime-limit (300 ms), max-bandwidth = the cap below
#   qemu-20   the same with downtime-limit 20 ms
# QEMU's max-bandwidth is set to CAP (default 125000000 B/s: above what a link carries, so
# the link is the limit, as for Ferry, which runs uncapped). QEMU migrates over one TCP
# connection, so it uses one link.
#
# Measured per run, while the client pings the guest with two pingers at once, one every 10 ms
# and one every 1 ms (ferry-ping, which keeps its pace through a blackout, unlike iputils ping):
#   blackout   source stop to destination resume, both stamped with CLOCK_REALTIME by the
#              processes themselves (Ferry: the journals; QEMU: the STOP and RESUME events)
#   gap        the client's longest interval between two replies (10 ms pinger)
#   lost@10ms, lost@1ms   probes never answered (gaps in the reply sequence, and what was
#              sent after the last reply if the guest never answered again)
#   total      migration time as the source reports it; bytes sent; rounds (QEMU: dirty syncs)
#   healthy    after the move the guest's heartbeat continues for 5 s on the destination,
#              with no kernel WARN/BUG/Oops and no MISMATCH from the dirtying workload, and it
#              answers a ping at the end
# Then the throughput of one link versus two: a 1 GiB guest with 512 MiB of written memory
# moves over link a, then over links a and b, with the CPU time of sender and receiver.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/lab/vm.sh"
source "$root/bench/lib.sh"
runs=${1:-5}
sizes=${BENCH_SIZES:-"256M 1G"}
works=${BENCH_WORKS:-"idle dirty smp4 debian4"}
rate=${BENCH_RATE:-400mbit}
cap=${CAP:-125000000}
ctl=$FERRY_VMCTL
tmp=$(mktemp -d /tmp/ferry-bench-mig.XXXXXX)
trap 'lab_down; rm -rf "$tmp"' EXIT

P=$(lab_up --hosts 2 --rate "$rate") || exit 1
lab_load "$P"

# One Ferry run: prints "blackout gap lost10 lost1 total_ms bytes rounds healthy"
ferry_run() { # size work
	local name=b$RANDOM out d j1 j2 t0 t1
	next_vm
	# debian4 boots from a copy of the Debian guest's root file system, its second disk.
	local root=() img
	if [ "$2" = debian4 ]; then img=$(vm_debian_image) || { echo "fail"; return; }; root=(--root "$img"); fi
	vm_start "$P" "$name" vh01 --memory "$1" --cpus "$(cpus_of "$2")" --work "$(work_of "$2")" --index "$vmidx" \
		--disk-size 16M "${root[@]}" >/dev/null || { echo "fail"; return; }
	wait_heartbeat "$(vm_var "$P" "$name" console)"
	start_pings
	out=$(vm_migrate "$P" "$name" vh02 --downtime 20)
	stop_pings
	d=$LAB_DIR/vms/$name
	t0=$(awk '$3 == "PAUSE" && $4 == "migration" {print $2}' "$d/journal.1" | tail -1)
	t1=$(awk '$3 == "RUN" && $4 == "migration" {print $2}' "$d/journal.2" | tail -1)
	local h total bytes rounds
	h=$(healthy "$(vm_var "$P" "$name" console)")
	read -r total bytes rounds < <(jq -r '.return | select(.phase == "completed")
		| [.total_ms, .bytes_sent, .round] | map(numbers // 0) | @tsv' <<<"$out" 2>/dev/null)
	read -r lost10 gap lost1 < <(ping_figures)
	vm_stop "$P" "$name"
	rm -f "$LAB_SHARED/$name".*
	awk -v a="${t0:-0}" -v b="${t1:-0}" -v g="$gap" -v l10="$lost10" -v l1="$lost1" -v t="${total:-0}" \
		-v by="${bytes:-0}" -v r="${rounds:-0}" -v h="$h" \
		'BEGIN { printf "%.2f %s %s %s %.0f %s %s %s\n", (b > a ? (b - a) / 1e6 : -1), g, l10, l1, t, by, r, h }'
}

echo "migration benchmark: $runs runs per case; links $rate each; QEMU max-bandwidth $cap B/s; $(date -u +%Y-%m-%dT%H:%MZ)"
echo "dirty = dirty:64M:20M; blackout/gap in ms (median, max); lost = pings lost (median, max); healthy = runs healthy after the move"
printf '%-6s %-6s %-9s %15s %13s %11s %11s %10s %12s %7s %8s\n' size work system "blackout ms" "gap ms" "lost@10ms" "lost@1ms" "total ms" "bytes" rounds healthy
for size in $sizes; do
	for w in $works; do
		for sys in ${BENCH_SYSTEMS:-ferry qemu-300 qemu-20}; do
			f=$tmp/res.$size.$w.$sys
			: >"$f"
			for _ in $(seq 1 "$runs"); do
				case $sys in
				ferry) ferry_run "$size" "$w" >>"$f" ;;
				qemu-300) qemu_run "$size" "$w" 300 >>"$f" ;;
				qemu-20) qemu_run "$size" "$w" 20 >>"$f" ;;
				esac
			done
			printf '%-6s %-6s %-9s %7s %7s %6s %6s %5s %5s %5s %5s %10s %12s %7s %5s/%s\n' "$size" "$w" "$sys" \
				"$(col "$f" 1 | med)" "$(col "$f" 1 | mx)" "$(col "$f" 2 | med)" "$(col "$f" 2 | mx)" \
				"$(col "$f" 3 | med)" "$(col "$f" 3 | mx)" "$(col "$f" 4 | med)" "$(col "$f" 4 | mx)" \
				"$(col "$f" 5 | med)" "$(col "$f" 6 | med)" "$(col "$f" 7 | med)" \
				"$(grep -c ' yes$' "$f")" "$runs"
		done
	done
done

[ -n "${BENCH_SKIP_LINKS:-}" ] && exit 0
# One link versus two: 512 MiB of written (non-zero) memory in a 1 GiB guest, budget 20 ms.
echo
echo "throughput: 1 GiB guest with 512 MiB written, one link ($rate) versus two"
printf '%-8s %12s %12s %14s %14s\n' links "total ms" "MB/s" "sender cpu s" "receiver cpu s"
cpu_s() { awk '{printf "%.2f\n", ($14 + $15) / 100}' "/proc/$1/stat" 2>/dev/null || echo 0; }
for links in a ab; do
	name=t$links
	next_vm
	vm_start "$P" "$name" vh01 --memory 1G --work idle,dirty:512M:1M --index "$vmidx" --disk-size 16M >/dev/null
	con=$(vm_var "$P" "$name" console)
	for _ in $(seq 1 600); do grep -q 'dirty: t=' "$con" && break; sleep 0.1; done
	out=$(vm_migrate "$P" "$name" vh02 --links "$links")
	dpid=$(vm_var "$P" "$name" pid)
	read -r total bytes scpu < <(jq -r '.return | select(.phase == "completed")
		| [.total_ms, .bytes_sent, (.cpu_ms // 0) / 1000] | map(numbers // 0) | @tsv' <<<"$out" 2>/dev/null)
	rcpu=$(cpu_s "$dpid")
	scpu=$(awk -v s="${scpu:-0}" 'BEGIN {printf "%.2f", s}')
	printf '%-8s %12s %12s %14s %14s\n' "$links" "$total" \
		"$(awk -v b="${bytes:-0}" -v t="${total:-1}" 'BEGIN {printf "%.1f", b / t / 1000}')" "$scpu" "$rcpu"
	vm_stop "$P" "$name"
	rm -f "$LAB_SHARED/$name".*
done
