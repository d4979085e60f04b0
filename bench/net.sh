#!/bin/bash
# net.sh - the guest's network beside QEMU's: ping round-trip times and TCP throughput from
# the lab's client to the guest.
#
# Usage: bench/net.sh [RUNS]     (default 3; medians over runs)
#
# One lab host; the same guest (Image, initramfs, `sink` workload: a TCP discard service on
# port 7001) runs under ferry-vm (virtio-net on a TAP) and under qemu-system-riscv64 -M virt
# (virtio-net-device on a TAP of the same bridge, QEMU's default tap backend, vhost off since
# vhost cannot serve a TCG guest), one after the other.
#   ping:       500 echo requests at 10 ms from the client; median and 99th percentile RTT
#   throughput: 5 s of TCP from the client to the guest's sink; bytes the guest received
#               divided by the time it took (the guest's own count and clock)
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/lab/vm.sh"
runs=${1:-3}
tmp=$(mktemp -d /tmp/ferry-bench-net.XXXXXX)
trap 'lab_down; rm -rf "$tmp"' EXIT
gcc -O2 -o "$tmp/xfer" "$root/lab/xfer.c" || exit 1

P=$(lab_up --hosts 1) || exit 1
lab_load "$P"
ip=$(lab_vm_addr 1)
mac=$(lab_vm_mac 1)
append="console=ttyS0 quiet ip=$ip:::255.255.255.0::eth0:off ferry.work=sink"
cping() { ip netns exec "$LAB_NS_CLIENT" ping "$@"; }

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "n/a"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

start_vm() { # ferry|qemu log
	local tap=$P-n$RANDOM
	lab_tap "$P" vh01 "$tap"
	echo "$tap" >"$tmp/tap"
	if [ "$1" = ferry ]; then
		lab_spawn "$P" vh01 "$2" "$FERRY_VM" --kernel "$FERRY_GUEST/Image" --initrd "$FERRY_GUEST/initramfs.cpio" \
			--memory 256M --net "tap:$tap,mac=$mac" --console stdio --append "$append" >/dev/null
	else
		lab_spawn "$P" vh01 "$2" qemu-system-riscv64 -M virt -bios default -nographic -m 256M \
			-kernel "$FERRY_GUEST/Image" -initrd "$FERRY_GUEST/initramfs.cpio" -append "$append" \
			-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no,vhost=off" \
			-device "virtio-net-device,netdev=n0,mac=$mac" >/dev/null
	fi
	echo "$LAB_PID" >"$tmp/pid"
	for _ in $(seq 1 200); do grep -q 'sink: listening' "$2" && cping -c 1 -W 1 "$ip" >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}

stop_vm() {
	kill "$(cat "$tmp/pid")" 2>/dev/null
	wait "$(cat "$tmp/pid")" 2>/dev/null
	lab_untap "$P" vh01 "$(cat "$tmp/tap")"
}

measure() { # ferry|qemu -> "rtt_median rtt_p99 mbit"
	local log=$tmp/$1.log rtts med p99 before line bytes ms
	: >"$log"
	start_vm "$1" "$log" || { echo "n/a n/a n/a"; stop_vm; return; }
	cping -c 500 -i 0.01 -W 2 "$ip" | sed -n 's/.*time=\([0-9.]*\) ms/\1/p' >"$tmp/rtt"
	med=$(median <"$tmp/rtt")
	p99=$(sort -n "$tmp/rtt" | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; print a[i]}')
	before=$(grep -c 'sink: done' "$log")
	ip netns exec "$LAB_NS_CLIENT" "$tmp/xfer" send "$ip" 7001 5 >/dev/null 2>&1
	for _ in $(seq 1 50); do [ "$(grep -c 'sink: done' "$log")" -gt "$before" ] && break; sleep 0.1; done
	line=$(grep 'sink: done' "$log" | tail -1 | tr -d '\r')
	bytes=$(echo "$line" | sed -n 's/.*bytes=\([0-9]*\).*/\1/p')
	ms=$(echo "$line" | sed -n 's/.*ms=\([0-9]*\).*/\1/p')
	stop_vm
	awk -v m="$med" -v p="$p99" -v b="${bytes:-0}" -v t="${ms:-0}" \
		'BEGIN { printf "%s %s %.0f\n", m, p, (t > 0 ? b * 8 / t / 1000 : 0) }'
}

for sys in ferry qemu; do
	for _ in $(seq 1 "$runs"); do measure "$sys"; done >"$tmp/$sys.res"
done
col() { awk -v c="$2" '{print $c}' "$tmp/$1.res" | median; }
echo "network benchmark: $runs runs each, medians; one lab host, client -> guest over the VMs' bridge; $(date -u +%Y-%m-%dT%H:%MZ)"
printf '%-34s %12s %12s\n' "" "ferry-vm" "qemu (TCG)"
printf '%-34s %12s %12s\n' "ping RTT median (ms)" "$(col ferry 1)" "$(col qemu 1)"
printf '%-34s %12s %12s\n' "ping RTT p99 (ms)" "$(col ferry 2)" "$(col qemu 2)"
printf '%-34s %12s %12s\n' "TCP client -> guest (Mbit/s)" "$(col ferry 3)" "$(col qemu 3)"
