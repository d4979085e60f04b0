#!/bin/bash
# move.sh - a live move through the cluster beside one through the control sockets alone and
# beside QEMU's, in one lab run, with the same guest.
#
# Usage: bench/move.sh [RUNS]      (default 5 moves per system; medians and maxima)
#   BENCH_RATE=400mbit  CAP=125000000 (QEMU's max-bandwidth, B/s)
#
# One lab run of 3 hosts (migration links shaped to BENCH_RATE each, both links used by Ferry,
# link a by QEMU), a 256 MiB idle guest (the same Image, initramfs and command line as
# bench/migrate.sh), moved RUNS times back and forth between vh01 and vh02 by each system:
#   cluster  lab/cluster.sh's cluster (etcd and a ferryd per host); the VM created and started
#            through the API (disk on the shared storage), moved by POST /v1/vms/cl7/move
#            {"to": ...}; the requests go from the admin node to vh03's agent, which takes no
#            part in the move; the commit is a compare-and-swap in etcd through the agents
#   sockets  the same guest run by the lab itself (lab/vm.sh's vm_start and vm_migrate: the
#            destination started by hand, then migrate on the source's control socket); the
#            lease file beside the disk decides the commit
#   qemu     qemu-system-riscv64 7.2 (TCG, -M virt), downtime-limit 20 ms, a fresh pair of
#            processes per move (bench/lib.sh's qemu_run, as bench/migrate.sh does)
#
# Measured per move:
#   blackout   source pause to destination resume on the shared realtime clock (Ferry: the
#              blackout breakdown of the source's final status, which the cluster keeps in
#              GET /v1/migrations/history; QEMU: its STOP and RESUME events)
#   commit     the breakdown's commit_ms: asking the ownership record and getting its answer
#              (Ferry only)
#   req->run   from the request to the destination running, the destination's own stamp
#              (its journal's RUN migration; QEMU's RESUME event). The request: the cluster's
#              POST sent (on a connection already open); the sockets' vm_migrate called, so
#              starting the destination process is included as the cluster's prepare is;
#              QEMU's migrate command (its destination was started and waiting before)
#   req->seen  (cluster only) from the POST until a client of the API sees the VM running on
#              the destination: GET /v1/vms/cl7 with state running and host the destination,
#              polled every 20 ms on the same kept-alive connection, beside GET
#              /v1/migrations/cl7 every 100 ms until the move has ended. The sockets have no such
#              client (vm_migrate's return also counts the lab's own bookkeeping), QEMU none
#              either (qemu_run polls query-migrate every 100 ms)
#   lost       probes never answered by a fresh pair of ferry-pings per move, one every 10 ms
#              and one every 1 ms from the client, started 1 s before the request and stopped
#              0.2 s after the move has ended
#   total      the move's time as the system reports it (cluster: the agent's, request to end,
#              prepare included; sockets: the source's migrate to completed; QEMU: total-time)
# Timings are not checked (the machine is shared); the script fails only if a move fails.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/lab/vm.sh"
source "$root/lab/cluster.sh"
source "$root/bench/lib.sh"
runs=${1:-5}
if ! [[ $runs =~ ^[1-9][0-9]*$ ]]; then
	echo "usage: bench/move.sh [RUNS] (RUNS: a number of moves per system, not '$runs')" >&2
	exit 2
fi
rate=${BENCH_RATE:-400mbit}
cap=${CAP:-125000000}
ctl=$FERRY_VMCTL
tmp=$(mktemp -d /tmp/ferry-bench-move.XXXXXX)
P="" API="" cl_made=0 sk_made=0
P10="" P1=""
# shellcheck disable=SC2317 # (called by the trap)
cleanup() {
	[ -z "$P10" ] || kill -INT "$P10" 2>/dev/null
	[ -z "$P1" ] || kill -INT "$P1" 2>/dev/null
	if [ -n "$P" ]; then
		[ "$cl_made" = 0 ] || acurl -X POST "$API/v1/vms/cl7/stop" >/dev/null 2>&1
		[ "$sk_made" = 0 ] || vm_stop "$P" sk7 >/dev/null 2>&1
	fi
	lab_down
	rm -rf "$tmp"
}
trap cleanup EXIT

for b in ferry ferryd ferry-vm ferry-vmctl ferry-ping; do
	[ -x "$FERRY_BIN/$b" ] || { echo "move.sh: $FERRY_BIN/$b is not built (make first)" >&2; exit 2; }
done
[ -f "$FERRY_GUEST/Image" ] || { echo "move.sh: no guest in $FERRY_GUEST (copy or build it)" >&2; exit 2; }

P=$(lab_up --hosts 3 --rate "$rate") || exit 1
lab_load "$P"
cluster_up "$P" --memory 1G --vcpus 4 || exit 1
ETC=$LAB_TMP/etc
API=https://$(lab_addr "$P" vh03 mgmt):$CLUSTER_API_PORT
adm=(--cacert "$ETC/ca.crt" --cert "$ETC/admin.crt" --key "$ETC/admin.key")
acurl() { lab_exec "$P" admin curl -sS --max-time 30 "${adm[@]}" "$@"; }
cp "$FERRY_GUEST/Image" "$FERRY_GUEST/initramfs.cpio" "$LAB_SHARED/"
fails=0
us() { echo "${EPOCHREALTIME/./}"; } # now, realtime microseconds
# B - A in ms, from two microsecond stamps ("-" unless both are there and B follows A)
dms() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { if (a > 0 && b > a) printf "%.1f\n", (b - a) / 1e3; else print "-" }'; }
# The realtime stamp (us) of the last "RUN migration" in a journal after stamp T0 (us).
journal_run() { # JOURNAL T0
	awk -v t0="$2" '$3 == "RUN" && $4 == "migration" && $2 / 1000 > t0 { t = $2 / 1000 } END { printf "%.0f\n", t }' "$1" 2>/dev/null
}
# One move's line: "blackout commit req_run req_seen lost10 lost1 total", "-" where none.
say() { # SYSTEM N FROM TO LINE [BREAKDOWN]
	local b c r s l10 l1 t
	read -r b c r s l10 l1 t <<<"$5"
	[ "$s" = - ] && s="" || s=", req->seen $s ms"
	printf '  %-8s %2s %s->%s  blackout %s ms%s, req->run %s ms%s, lost %s @10ms %s @1ms, total %s ms\n' \
		"$1" "$2" "$3" "$4" "$b" "${6:+ ($6)}" "$r" "$s" "$l10" "$l1" "$t"
}
# A blackout object's breakdown, for the line of its move.
breakdown() {
	jq -r '"flush \(.flush_ms), final pages \(.final_pages_ms), transfer \(.transfer_ms), commit \(.commit_ms), announce \(.announce_ms), resume \(.resume_ms)"' 2>/dev/null
}
failed() { # SYSTEM N WHY
	echo "  $1 $2: FAILED: $3"
	echo "fail" >>"$tmp/res.$1"
	fails=$((fails + 1))
}

# ---- cluster -------------------------------------------------------------------------------
# The poller: one curl on one kept-alive connection (the TLS handshake done by a first GET),
# the move's POST, then 50 requests a second for 120 s at most: GET /v1/vms/cl7 four times in
# five (every 20 ms, 40 ms once in 100 ms), GET /v1/migrations/cl7 the fifth (every 100 ms:
# it is forwarded to the source's agent, which is busy with the move). Each answer is
# followed by a marker line.
poll_config() { # TO: the curl configuration of one move
	local i o
	# fail-early: a write to the reader's closed pipe ends curl, not just that transfer
	echo fail-early
	for o in 1 2 3; do
		[ "$o" = 1 ] || echo next
		printf 'silent\nno-buffer\nrate = "50/s"\ncacert = "%s"\ncert = "%s"\nkey = "%s"\n' \
			"$ETC/ca.crt" "$ETC/admin.crt" "$ETC/admin.key"
		# shellcheck disable=SC2016
		printf 'write-out = "\\n@@W %%{http_code} %%{time_total} %%{url_effective}\\n"\n'
		case $o in
		1) echo "url = \"$API/v1/version\"" ;;
		2) printf 'request = "POST"\ndata = "{\\"to\\": \\"%s\\"}"\nurl = "%s/v1/vms/cl7/move"\n' "$1" "$API" ;;
		3)
			for ((i = 0; i < 1200; i++)); do
				for _ in 1 2 3 4; do echo "url = \"$API/v1/vms/cl7\""; done
				echo "url = \"$API/v1/migrations/cl7\""
			done
			;;
		esac
	done
}

# Reads the poller's answers, stamps them on arrival and prints "req US SECONDS CODE", "id ID",
# "seen US" (the VM runs on TO), "end US PHASE" (the move ended); returns once both the VM
# runs on TO and the move completed, or the move failed or was refused (which ends the poller:
# its next write finds the pipe closed).
poll_reader() { # TO
	local to=$1 line body="" id="" seen="" ended="" now code t url
	while IFS= read -r line; do
		if [[ $line != '@@W '* ]]; then
			body+=$line
			continue
		fi
		now=$(us)
		read -r _ code t url <<<"$line"
		case $url in
		*/move)
			echo "req $now $t $code"
			if [ "$code" != 202 ]; then
				echo "refused $body"
				return
			fi
			[[ $body =~ \"id\":\ \"([^\"]+)\" ]] && id=${BASH_REMATCH[1]}
			echo "id $id"
			;;
		*/v1/vms/cl7)
			if [ -z "$seen" ] && [[ $body == *'"state": "running"'* && $body == *"\"host\": \"$to\""* ]]; then
				seen=$now
				echo "seen $now"
			fi
			;;
		*/v1/migrations/cl7)
			if [ -z "$ended" ] && [ -n "$id" ] && [[ $body == *"\"id\": \"$id\""* ]] &&
				[[ $body =~ \"phase\":\ \"(completed|failed|cancelled)\" ]]; then
				ended=${BASH_REMATCH[1]}
				echo "end $now $ended"
				[ "$ended" = completed ] || return
			fi
			;;
		esac
		body=""
		[ -n "$seen" ] && [ -n "$ended" ] && return
	done
}

# Until the agents list no move under way (the source keeps one listed until the old copy's
# exit is seen) and the history holds the move's record, which it prints.
cl_settle() { # ID
	local rec=""
	for _ in $(seq 1 150); do
		if acurl "$API/v1/migrations" 2>/dev/null | jq -e '.migrations | length == 0' >/dev/null 2>&1; then
			rec=$(acurl "$API/v1/migrations/history" 2>/dev/null | jq -c --arg id "$1" '.history[] | select(.id == $id)' 2>/dev/null)
			[ -n "$rec" ] && break
		fi
		sleep 0.2
	done
	echo "$rec"
}

cl_move() { # N FROM TO
	local n=$1 from=$2 to=$3 poll=$tmp/poll.$1 rec t_req id seen run total b c l10 g l1
	poll_config "$to" >"$tmp/poll.conf"
	start_pings
	lab_exec "$P" admin curl -K "$tmp/poll.conf" 2>"$tmp/poll.err" | poll_reader "$to" >"$poll"
	stop_pings
	read -r l10 g l1 < <(ping_figures)
	if ! grep -q '^req .* 202$' "$poll"; then
		failed cluster "$n" "the move was not accepted: $(sed -n 's/^refused //p' "$poll") $(head -c 300 "$tmp/poll.err")"
		return
	fi
	t_req=$(awk '$1 == "req" { printf "%.0f\n", $2 - $3 * 1e6 }' "$poll")
	id=$(awk '$1 == "id" { print $2 }' "$poll")
	seen=$(awk '$1 == "seen" { print $2 }' "$poll")
	rec=$(cl_settle "$id")
	if [ "$(jq -r '.result // empty' <<<"$rec" 2>/dev/null)" != completed ]; then
		failed cluster "$n" "move $id: $(awk '$1 == "end" { print $3 }' "$poll") ${rec:-no record in the history}"
		return
	fi
	read -r b c total < <(jq -r '[.blackout.total_ms // .blackout_ms, .blackout.commit_ms, .total_ms]
		| map(if . == null then "-" else tostring end) | @tsv' <<<"$rec")
	run=$(journal_run "$LAB_TMP/hosts/$to/log/cl7/journal" "$t_req")
	local line
	line="$b $c $(dms "$t_req" "$run") $(dms "$t_req" "$seen") $l10 $l1 $total"
	echo "$line" >>"$tmp/res.cluster"
	say cluster "$n" "$from" "$to" "$line" "$(jq -c .blackout <<<"$rec" | breakdown)"
}

cluster_runs() {
	local spec code host=vh01 n to
	truncate -s 16M "$LAB_SHARED/cl7.img"
	ip=$(lab_vm_addr 7)
	spec=$(jq -nc --arg disk "$LAB_SHARED/cl7.img" --arg k "$LAB_SHARED/Image" --arg i "$LAB_SHARED/initramfs.cpio" \
		--arg a "console=ttyS0 quiet ip=$ip:::255.255.255.0::eth0:off ferry.work=idle" \
		'{name: "cl7", memory: "256M", vcpus: 1, disk: $disk, kernel: $k, initrd: $i, append: $a}')
	code=$(acurl -o "$tmp/create" -w '%{http_code}' -X POST -d "$spec" "$API/v1/vms")
	[ "$code" = 201 ] || { failed cluster 0 "POST /v1/vms: $code $(cat "$tmp/create")"; return; }
	cl_made=1
	code=$(acurl -o "$tmp/start" -w '%{http_code}' -X POST -d '{"on": "vh01"}' "$API/v1/vms/cl7/start")
	[ "$code" = 200 ] || { failed cluster 0 "POST /v1/vms/cl7/start: $code $(cat "$tmp/start")"; return; }
	wait_heartbeat "$LAB_TMP/hosts/vh01/log/cl7/console.log" ||
		{ failed cluster 0 "no heartbeat from cl7 on vh01"; return; }
	for n in $(seq 1 "$runs"); do
		[ "$host" = vh01 ] && to=vh02 || to=vh01
		cl_move "$n" "$host" "$to"
		tail -1 "$tmp/res.cluster" | grep -q '^fail' && return
		host=$to
		sleep 1
	done
	acurl -X POST "$API/v1/vms/cl7/stop" >/dev/null && cl_made=0
}

# ---- sockets -------------------------------------------------------------------------------
sockets_runs() {
	local host=vh01 n to t0 out run line b c total l10 g l1
	ip=$(lab_vm_addr 8)
	vm_start "$P" sk7 vh01 --memory 256M --work idle --index 8 --disk-size 16M >/dev/null ||
		{ failed sockets 0 "vm_start"; return; }
	sk_made=1
	wait_heartbeat "$(vm_var "$P" sk7 console)" || { failed sockets 0 "no heartbeat from sk7"; return; }
	for n in $(seq 1 "$runs"); do
		[ "$host" = vh01 ] && to=vh02 || to=vh01
		start_pings
		t0=$(us)
		out=$(vm_migrate "$P" sk7 "$to" --downtime 20 2>"$tmp/sk.err")
		local rc=$?
		stop_pings
		read -r l10 g l1 < <(ping_figures)
		if [ $rc -ne 0 ]; then
			failed sockets "$n" "vm_migrate $host -> $to: $(head -c 300 "$tmp/sk.err") $(head -c 500 <<<"$out")"
			return
		fi
		read -r b c total < <(jq -r '.return | [.blackout.total_ms, .blackout.commit_ms, .total_ms]
			| map(if . == null then "-" else tostring end) | @tsv' <<<"$out")
		run=$(journal_run "$(vm_var "$P" sk7 journal)" "$t0")
		line="$b $c $(dms "$t0" "$run") - $l10 $l1 $total"
		echo "$line" >>"$tmp/res.sockets"
		say sockets "$n" "$host" "$to" "$line" "$(jq -c .return.blackout <<<"$out" | breakdown)"
		host=$to
		sleep 1
	done
	vm_stop "$P" sk7 && sk_made=0
}

# ---- qemu ----------------------------------------------------------------------------------
qemu_runs() {
	local from=vh01 to=vh02 n b g l10 l1 total line
	vmidx=20
	for n in $(seq 1 "$runs"); do
		qemu_run 256M idle 20 "$from" "$to" >"$tmp/qline"
		read -r b g l10 l1 total _ <"$tmp/qline"
		if [ "$QRUN_STATUS" != completed ]; then
			failed qemu "$n" "migration status '${QRUN_STATUS:-none}'"
		else
			[ "$b" != -1.00 ] || b=-
			line="$b - $(dms "$QRUN_REQ_US" "$QRUN_RESUME_US") - $l10 $l1 $total"
			echo "$line" >>"$tmp/res.qemu"
			say qemu "$n" "$from" "$to" "$line"
		fi
		local x=$from
		from=$to to=$x
	done
}

echo "move benchmark: $runs moves per system between vh01 and vh02; 3 hosts, links $rate each; 256 MiB idle guest; $(date -u +%Y-%m-%dT%H:%MZ)"
for sys in cluster sockets qemu; do : >"$tmp/res.$sys"; done
cluster_runs
sockets_runs
qemu_runs

# median (max) of column N of a system's moves, over the moves that have a figure there
fig() { # SYSTEM N
	local v
	v=$(col "$tmp/res.$1" "$2" | grep -E '^-?[0-9]+(\.[0-9]+)?$')
	[ -n "$v" ] || { echo "-"; return; }
	case $2 in
	5 | 6) echo "$(med <<<"$v") ($(mx <<<"$v"))" ;; # probes
	*) awk -v m="$(med <<<"$v")" -v x="$(mx <<<"$v")" 'BEGIN { printf "%.2f (%.2f)\n", m, x }' ;;
	esac
}
echo
echo "medians (maxima) over the moves; ms; lost = probes never answered"
printf '%-8s %6s %15s %15s %15s %15s %11s %11s %15s\n' system moves "blackout" "commit" "req->run" "req->seen" "lost@10ms" "lost@1ms" "total"
for sys in cluster sockets qemu; do
	printf '%-8s %6s %15s %15s %15s %15s %11s %11s %15s\n' "$sys" \
		"$(grep -vc '^fail' "$tmp/res.$sys")/$runs" "$(fig "$sys" 1)" "$(fig "$sys" 2)" "$(fig "$sys" 3)" \
		"$(fig "$sys" 4)" "$(fig "$sys" 5)" "$(fig "$sys" 6)" "$(fig "$sys" 7)"
done
mb() { col "$tmp/res.$1" "$2" | grep -E '^[0-9]+(\.[0-9]+)?$' | med; }
awk -v cb="$(mb cluster 1)" -v sb="$(mb sockets 1)" -v cc="$(mb cluster 2)" -v sc="$(mb sockets 2)" 'BEGIN {
	if (cb == "-" || sb == "-") { print "the commit'\''s extra cost: no figures"; exit }
	printf "the commit'\''s extra cost (cluster minus sockets, medians): blackout %+.2f ms, commit %+.2f ms\n", cb - sb, cc - sc }'
[ "$fails" -eq 0 ] || { echo "move.sh: $fails move(s) failed" >&2; exit 1; }
exit 0
