#!/bin/bash
# migrate.sh - live migration in the lab, under every workload: the VM moves vh01 -> vh02 ->
# vh01 while the client pings it every 10 ms, and after each move the guest is healthy.
#
# Asserted for each workload (idle, dirty:64M:20M, counter, disklog, all at once; smp4: a
# guest of 4 harts running the FP self-check on each, the counter and the disk log; debian4:
# the same on the Debian guest, its ext4 root of Debian's packages on a second disk):
#   - each migration completes, with equal RAM and device-state hashes (every hart's registers
#     and CSRs among them) on both sides;
#   - for 5 s after each move: heartbeats continue, uptime advances by about the time that
#     passed (never backwards), no kernel WARN/BUG/Oops, no MISMATCH, no disklog error;
#   - the counter connection survives with no skip or repeat; the disklog is intact when a
#     fresh VM boots on the disk afterwards;
#   - the run intervals journalled by every ferry-vm that ran the VM never overlap;
#   - the ping still answers at the end; the longest reply gap is under 1 s (a generous bound:
#     timings are measured by bench/, not asserted here).
# FERRY_MIGRATE_WORKLOADS overrides the list (space-separated).
# With FERRY_VM_PREV (a ferry-vm of the previous release, stream format 1, e.g. built from
# commit d53e8aa), a VM started by that release under dirty:64M:20M (which checks every word
# it overwrites) moves to this one and back: the rolling
# upgrade (drain a host, upgrade it, move the VMs back).
source "$(dirname "$0")/../lib.sh"
source "$FERRY_ROOT/lab/vm.sh"
scratch
trap 'lab_down; rm -rf "$FERRY_TMP"' EXIT
counter_bin=$FERRY_ROOT/build/bin/ferry-counter
workloads=${FERRY_MIGRATE_WORKLOADS:-"idle dirty:64M:20M counter disklog all smp4 debian4"}

# 400 Mbit per link: two links carry about 100 MB/s, the link and not the CPU is the limit,
# and the 20 MB/s dirtying workload converges.
P=$(lab_up --hosts 2 --rate ${FERRY_MIGRATE_RATE:-400mbit}) || { fail "lab up"; finish integration-migrate; }
lab_load "$P"



# Ping analysis from `ping -D`: lost replies from sequence gaps, longest gap between replies.
ping_report() { # file
	awk -F'[][ =]' '/bytes from/ {
		t = $2; for (i = 1; i <= NF; i++) if ($i == "icmp_seq") s = $(i + 1)
		if (n && s < last) s += 65536 * (int((last - s) / 65536) + 1)  # 16-bit wrap
		if (n && s != last + 1) lost += s - last - 1
		if (n && t - lt > gap) gap = t - lt
		last = s; lt = t; n++ }
		END { printf "%d %d %.3f\n", n, lost, gap }' "$1"
}

check_move() { # workload vm-name step out old-console [from-prev]: the move just done
	local w=$1 name=$2 step=$3 out=$4 con oldcon from_prev=${6:-}
	con=$(vm_var "$P" "$name" console)
	oldcon=$5
	if jq -e '.return | .phase == "completed" and .role == "source"' <<<"$out" >/dev/null 2>&1; then
		pass "$w: move $step completes"
	else
		fail "$w: move $step completes" "$out"
		return
	fi
	local rs rd ds dd
	read -r rs rd ds dd < <(jq -r '.return | [.ram_hash_source, .ram_hash_destination,
		.dev_hash_source, .dev_hash_destination] | map((strings | select(test("^[0-9a-f]+$"))) // "-") | @tsv' <<<"$out")
	if [ -n "$from_prev" ]; then
		# A format 1 source hashes RAM its own way; the destination sends it no hashes.
		echo "# $w: move $step from the previous release: RAM hashes not comparable"
	elif [ "${rs:--}" != - ] && [ "$rs" = "$rd" ] && [ "${ds:--}" != - ] && [ "$ds" = "$dd" ]; then
		pass "$w: move $step: RAM and device state equal on both sides ($rs)"
	else
		fail "$w: move $step: RAM and device state equal on both sides" "ram $rs/$rd dev $ds/$dd"
	fi
	sleep 5.5
	local n up_old up_new
	n=$(vm_heartbeats "$con")
	up_old=$(vm_last_uptime "$oldcon")
	up_new=$(vm_first_uptime "$con")
	if [ "${n:-0}" -ge 4 ]; then pass "$w: move $step: heartbeats continue ($n in 5.5 s)"; else fail "$w: move $step: heartbeats continue" "$n heartbeats"; fi
	if awk -v a="$up_old" -v b="$up_new" 'BEGIN { exit !(a != "" && b != "" && b > a && b - a < 2.5) }'; then
		pass "$w: move $step: guest clock continues ($up_old s -> $up_new s)"
	else
		fail "$w: move $step: guest clock continues" "last uptime on the source $up_old, first on the destination $up_new"
	fi
	if vm_bad_lines "$con" >/dev/null; then
		fail "$w: move $step: no kernel warning, MISMATCH or disklog error" "$(vm_bad_lines "$con" | head -3)"
	else
		pass "$w: move $step: no kernel warning, MISMATCH or disklog error"
	fi
	local cpus harts
	cpus=$(vm_cpus "$w")
	[ "$cpus" -gt 1 ] || return 0
	# Every hart came over started, and the FP self-check goes on passing on each.
	harts=$(vm_ctl "$P" "$name" status | jq -c '.return | [.cpus, (.harts | map(.state) | unique)]')
	if [ "$harts" = "[$cpus,[\"started\"]]" ]; then
		pass "$w: move $step: the destination runs all $cpus harts"
	else
		fail "$w: move $step: the destination runs all $cpus harts" "$harts"
	fi
	local k missing=""
	for k in $(seq 0 $((cpus - 1))); do
		grep -q "^ferry-work: fp@$k: ok rounds=" "$con" || missing="$missing fp@$k"
	done
	if [ -z "$missing" ]; then
		pass "$w: move $step: the FP self-check passes on every hart at the destination"
	else
		fail "$w: move $step: the FP self-check passes on every hart at the destination" "no report from$missing"
	fi
}

index=1
for w in $workloads; do
	name=vm$index
	work=$(vm_workload "$w")
	root=()
	if [ "$w" = debian4 ]; then
		if ! img=$(vm_debian_image); then
			fail "$w: the Debian guest's image builds"
			index=$((index + 1))
			continue
		fi
		root=(--root "$img")
	fi
	if ! vm_start "$P" "$name" vh01 --work "$work" --index "$index" --cpus "$(vm_cpus "$w")" "${root[@]}"; then
		fail "$w: VM starts on vh01"
		index=$((index + 1))
		continue
	fi
	ip=$(vm_var "$P" "$name" ip)
	for _ in $(seq 1 100); do [ "$(vm_heartbeats "$(vm_var "$P" "$name" console)")" -ge 2 ] && break; sleep 0.1; done
	# Started directly (ip netns exec execs ping), so $! is ping itself.
	ip netns exec "$LAB_NS_CLIENT" "$FERRY_ROOT/build/bin/ferry-ping" -i 10 "$ip" >"$FERRY_TMP/$name.ping" 2>&1 &
	pinger=$!
	counter=""
	if [[ $work == *counter* ]]; then
		ip netns exec "$LAB_NS_CLIENT" "$counter_bin" --duration 25 "$ip" 7000 >"$FERRY_TMP/$name.counter" 2>&1 &
		counter=$!
	fi
	sleep 1
	con1=$(vm_var "$P" "$name" console)
	out=$(vm_migrate "$P" "$name" vh02)
	check_move "$w" "$name" "vh01->vh02" "$out" "$con1"
	con2=$(vm_var "$P" "$name" console)
	out=$(vm_migrate "$P" "$name" vh01)
	check_move "$w" "$name" "vh02->vh01" "$out" "$con2"
	if [ -n "$counter" ]; then
		wait "$counter"
		rc=$?
		line=$(grep '^counter:' "$FERRY_TMP/$name.counter" | tail -1)
		if [ $rc -eq 0 ] && echo "$line" | grep -q 'skips 0, repeats 0' && echo "$line" | grep -q 'disconnected no'; then
			pass "$w: counter stream intact across both moves ($line)"
		else
			fail "$w: counter stream intact across both moves" "exit $rc: $line" "$(tail -3 "$FERRY_TMP/$name.counter")"
		fi
	fi
	kill -INT "$pinger" 2>/dev/null
	wait "$pinger" 2>/dev/null
	read -r replies lost gap < <(ping_report "$FERRY_TMP/$name.ping")
	echo "# $w: $replies ping replies, $lost lost, longest gap ${gap}s"
	if awk -v g="$gap" -v n="$replies" 'BEGIN { exit !(n > 100 && g < 1.0) }'; then
		pass "$w: ping answered throughout, longest gap under 1 s (${gap}s, $lost lost)"
	else
		fail "$w: ping answered throughout, longest gap under 1 s" "$replies replies, gap ${gap}s"
	fi
	if lab_exec "$P" client ping -c 3 -W 1 "$ip" >/dev/null; then pass "$w: ping answers at the end"; else fail "$w: ping answers at the end"; fi
	jdir=$LAB_DIR/vms/$name
	if vm_journals_disjoint "$jdir"/journal.* >"$FERRY_TMP/overlap" 2>&1; then
		pass "$w: run intervals of the $(ls "$jdir"/journal.* | wc -l) ferry-vm processes never overlap"
	else
		fail "$w: run intervals never overlap" "$(cat "$FERRY_TMP/overlap")"
	fi
	vm_stop "$P" "$name"
	if [ "$w" = debian4 ]; then
		# The kernel ran on the Debian root: it mounted the copy of the image (which never was).
		mc=$(dumpe2fs -h "$(vm_var "$P" "$name" root)" 2>/dev/null | sed -n 's/^Mount count: *//p')
		if [ "${mc:-0}" -ge 1 ]; then
			pass "$w: the guest's root was the Debian image (mounted $mc time(s))"
		else
			fail "$w: the guest's root was the Debian image" "mount count '${mc}'"
		fi
	fi
	if [[ $work == *disklog* ]]; then
		# A fresh VM on the same disk must find the log intact and continue it.
		if vm_start "$P" "$name" vh02 --work disklog --index "$index"; then
			con=$(vm_var "$P" "$name" console)
			for _ in $(seq 1 100); do grep -q 'ferry-work: disklog: found' "$con" && break; sleep 0.1; done
			line=$(grep 'ferry-work: disklog: found' "$con" | head -1)
			if echo "$line" | grep -q ' ok' && ! vm_bad_lines "$con" >/dev/null; then
				pass "$w: disklog intact after the moves ($line)"
			else
				fail "$w: disklog intact after the moves" "$line" "$(vm_bad_lines "$con" | head -3)"
			fi
			vm_stop "$P" "$name"
		else
			fail "$w: a fresh VM boots on the disk"
		fi
	fi
	index=$((index + 1))
done

if [ -n "${FERRY_VM_PREV:-}" ]; then
	name=vmup
	if FERRY_VM=$FERRY_VM_PREV vm_start "$P" "$name" vh01 --work "$(vm_workload dirty:64M:20M)" --index "$index"; then
		pass "upgrade: the previous release runs the VM on vh01"
		for _ in $(seq 1 100); do [ "$(vm_heartbeats "$(vm_var "$P" "$name" console)")" -ge 2 ] && break; sleep 0.1; done
		con1=$(vm_var "$P" "$name" console)
		out=$(vm_migrate "$P" "$name" vh02)
		check_move upgrade "$name" "vh01 (previous release)->vh02 (this one)" "$out" "$con1" prev
		con2=$(vm_var "$P" "$name" console)
		out=$(vm_migrate "$P" "$name" vh01)
		check_move upgrade "$name" "vh02->vh01 (both this one)" "$out" "$con2"
		jdir=$LAB_DIR/vms/$name
		if vm_journals_disjoint "$jdir"/journal.* >"$FERRY_TMP/overlap" 2>&1; then
			pass "upgrade: run intervals of the $(ls "$jdir"/journal.* | wc -l) ferry-vm processes never overlap"
		else
			fail "upgrade: run intervals never overlap" "$(cat "$FERRY_TMP/overlap")"
		fi
		vm_stop "$P" "$name"
	else
		fail "upgrade: the previous release runs the VM on vh01"
	fi
fi
finish integration-migrate
