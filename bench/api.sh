#!/bin/bash
# api.sh - the cluster's API latency and an agent's cost at rest, in the lab with real etcd.
#
# Usage: bench/api.sh [REQUESTS]        (default 200 `vm ls`, REQUESTS/10 `vm start`)
#
# A three-host lab cluster (lab/cluster.sh: etcd members with mutual TLS, a ferryd per host),
# the requests sent from the admin node with the admin certificate:
#   vm ls      GET /v1/vms to vh01's agent over one kept-alive HTTPS connection (curl with
#              every URL on one command line): median and p99 of curl's time_total
#   vm start   POST /v1/vms/NAME/start on vh01 (admission by compare-and-swap in etcd, TAP
#              and disk opened, ferry-vm started, its control socket answering), then stop;
#              also `ferry vm start` end to end (a new CLI process, TLS handshake included)
#   at rest    4 idle VMs on vh02: its ferryd's resident memory (VmRSS) and CPU over 20 s, and
#              the 4 VMs' CPU beside 4 idle qemu-system-riscv64 (TCG, -M virt, same Image and
#              initramfs) over the same 20 s: the same work, an idle guest, on the same host
# QEMU has no cluster agent: the API figures have no QEMU counterpart.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
source lab/lib.sh
source lab/cluster.sh
reqs=${1:-200}
guest=${FERRY_GUEST:-$root/build/guest}
tmp=$(mktemp -d /tmp/ferry-bench-api.XXXXXX)
qpids=()
cleanup() {
	local p
	for p in "${qpids[@]}"; do kill "$p" 2>/dev/null; done
	lab_down >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT

pct() { # P: the P-th percentile of numbers on stdin (nearest rank)
	sort -n | awk -v p="$1" '{a[NR]=$1} END {if (NR==0) {print "n/a"; exit} r=int((p/100)*NR+0.999999); if (r<1) r=1; if (r>NR) r=NR; print a[r]}'
}
ms() { awk '{printf "%.2f\n", $1 * 1000}'; }

P=$(lab_up --hosts 3) || exit 1
lab_load "$P"
cluster_up "$P" --memory 2G --vcpus 8 || exit 1
ETC=$LAB_TMP/etc
API=https://$(lab_addr "$P" vh01 mgmt):$CLUSTER_API_PORT
adm=(--cacert "$ETC/ca.crt" --cert "$ETC/admin.crt" --key "$ETC/admin.key")
cp "$guest/Image" "$guest/initramfs.cpio" "$LAB_SHARED/"
mkvm() { # NAME INDEX
	truncate -s 16M "$LAB_SHARED/$1.img"
	cluster_ferry "$P" vm create "$1" --memory 64M --kernel "$LAB_SHARED/Image" \
		--initrd "$LAB_SHARED/initramfs.cpio" --disk "$LAB_SHARED/$1.img" \
		--append "console=ttyS0 quiet ip=$(lab_vm_addr "$2"):::255.255.255.0::eth0:off" >/dev/null
}
for i in 1 2 3 4; do mkvm "idle$i" "$i"; done

echo "== API latency (vh01's agent, from the admin node, $reqs requests)"
urls=()
for _ in $(seq "$reqs"); do urls+=(-o /dev/null "$API/v1/vms"); done
lab_exec "$P" admin curl -s "${adm[@]}" -w '%{time_total}\n' "${urls[@]}" >"$tmp/ls" 2>/dev/null
# The first request carries the TLS handshake.
tail -n +2 "$tmp/ls" | ms >"$tmp/ls.ms"
printf '  vm ls (kept-alive):      median %s ms, p99 %s ms (n=%s)\n' "$(pct 50 <"$tmp/ls.ms")" "$(pct 99 <"$tmp/ls.ms")" "$(wc -l <"$tmp/ls.ms")"
n=$((reqs / 10))
[ "$n" -ge 5 ] || n=5
: >"$tmp/start.ms"
: >"$tmp/cli.ms"
for _ in $(seq "$n"); do
	lab_exec "$P" admin curl -s "${adm[@]}" -o /dev/null -w '%{time_total}\n' -X POST -d '{"on": "vh01"}' \
		"$API/v1/vms/idle1/start" | ms >>"$tmp/start.ms"
	cluster_ferry "$P" vm stop idle1 >/dev/null
	t0=$(date +%s%N)
	cluster_ferry "$P" vm start idle1 --on vh01 >/dev/null
	t1=$(date +%s%N)
	echo "$(((t1 - t0) / 1000))" | awk '{printf "%.2f\n", $1 / 1000}' >>"$tmp/cli.ms"
	cluster_ferry "$P" vm stop idle1 >/dev/null
done
printf '  vm start (API):          median %s ms, p99 %s ms (n=%s)\n' "$(pct 50 <"$tmp/start.ms")" "$(pct 99 <"$tmp/start.ms")" "$n"
printf '  ferry vm start (CLI):    median %s ms, p99 %s ms (n=%s, a new process and TLS handshake each)\n' "$(pct 50 <"$tmp/cli.ms")" "$(pct 99 <"$tmp/cli.ms")" "$n"

echo "== at rest: 4 idle VMs on vh02"
for i in 1 2 3 4; do cluster_ferry "$P" vm start "idle$i" --on vh02 >/dev/null || exit 1; done
for i in 1 2 3 4; do
	qemu-system-riscv64 -M virt -bios default -nographic -m 64M -kernel "$guest/Image" \
		-initrd "$guest/initramfs.cpio" -append "console=ttyS0 quiet" </dev/null >/dev/null 2>&1 &
	qpids+=($!)
done
sleep 10 # every guest booted and idle
agent=$(cluster_agent_pid "$P" vh02)
vmpids=$(cluster_ferry "$P" vm ls --json | jq -r '.vms[] | select(.host == "vh02") | .pid')
cpu_ns() { # PID...: CPU time of every thread, ns
	local p t sum=0
	for p in "$@"; do
		for t in /proc/"$p"/task/*/schedstat; do
			read -r t _ <"$t" 2>/dev/null && sum=$((sum + t))
		done
	done
	echo "$sum"
}
# shellcheck disable=SC2086
a0=$(cpu_ns "$agent"); v0=$(cpu_ns $vmpids); q0=$(cpu_ns "${qpids[@]}")
sleep 20
# shellcheck disable=SC2086
a1=$(cpu_ns "$agent"); v1=$(cpu_ns $vmpids); q1=$(cpu_ns "${qpids[@]}")
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$agent/status")
printf '  ferryd:                  %s KiB resident, CPU %s %% of one core\n' "$rss" "$(awk -v d=$((a1 - a0)) 'BEGIN {printf "%.2f", d / 20e9 * 100}')"
printf '  4 idle VMs, ferry-vm:    CPU %s %% of one core in all\n' "$(awk -v d=$((v1 - v0)) 'BEGIN {printf "%.2f", d / 20e9 * 100}')"
printf '  4 idle VMs, QEMU 7.2:    CPU %s %% of one core in all\n' "$(awk -v d=$((q1 - q0)) 'BEGIN {printf "%.2f", d / 20e9 * 100}')"
