# lib.sh - what the lab's migration benchmarks share: pinging the guest, its health, a QEMU
# shellcheck shell=bash disable=SC2034,SC2154
# move, medians. Sourced by bench/migrate.sh and bench/move.sh after lab/vm.sh.
#
# The caller sets, before using these:
#   P      the lab run's prefix (lab_up), its facts loaded (lab_load)
#   tmp    a scratch directory of its own (the pingers' output, QEMU's logs and sockets)
#   ctl    ferry-vmctl ($FERRY_VMCTL), which also speaks QMP
#   cap    QEMU's max-bandwidth in bytes per second
# and these functions keep the guest of the run in hand through globals:
#   ip, mac   the guest's address and MAC (next_vm gives each run its own, vmidx counts)
#   P10, P1   the pids of the two pingers while they run
#
#   next_vm                       the next VM address and MAC (vmidx 1..99 round)
#   cping ARGS...                 ping from the client's namespace
#   work_of idle|dirty            the guest's ferry.work list
#   wait_heartbeat CONSOLE        until the guest's second heartbeat (30 s at most)
#   healthy CONSOLE               yes/no: heartbeats for 5 s, no warning, a ping answered
#   start_pings / stop_pings      two ferry-pings at 10 ms and 1 ms to $ip, output in $tmp/p10, p1
#   ping_figures                  "lost10 gap10 lost1" of the pingers just stopped
#   qemu_run SIZE WORK DOWNTIME [FROM TO]   one QEMU move (below)
#   med / mx                      median / maximum of the numbers on stdin ("-" for none)
#   col FILE N                    column N of FILE's lines that are not "fail"

vmidx=${vmidx:-0}
# Every run gets a VM address and MAC of its own: a fresh VM must not inherit where the
# switches learnt the previous run's guest (the guest announces itself only when it moves).
next_vm() { vmidx=$((vmidx % 99 + 1)); ip=$(lab_vm_addr "$vmidx"); mac=$(lab_vm_mac "$vmidx"); }
cping() { ip netns exec "$LAB_NS_CLIENT" ping "$@"; }
work_of() { # idle | dirty | smp4: the guest's ferry.work
	case $1 in
	dirty) echo "idle,dirty:64M:20M" ;;
	smp4 | debian4) echo "idle,fp:each" ;; # 4 harts, the FP self-check on each
	*) echo idle ;;
	esac
}
cpus_of() { case $1 in smp4 | debian4) echo 4 ;; *) echo 1 ;; esac; } # the harts a work runs on
# debian4: the Debian guest (guest/debian.sh), its ext4 root on a virtio disk: QEMU's only
# one (root_args, QEMU's kernel command line), Ferry's second (vm_start --root); else the
# initramfs.
root_args() { [ "$1" = debian4 ] && echo "root=/dev/vda rw"; }
wait_heartbeat() { for _ in $(seq 1 300); do grep -q 'heartbeat 2 ' "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# The guest on the destination: heartbeats for 5 s, no warnings, no MISMATCH, answers a ping.
healthy() { # console-log
	local before after
	before=$(grep -c 'heartbeat' "$1")
	sleep 5
	after=$(grep -c 'heartbeat' "$1")
	if [ $((after - before)) -ge 4 ] && ! grep -qE 'WARNING:|BUG:|Oops|Kernel panic|MISMATCH|Unable to handle' "$1" &&
		cping -c 3 -W 1 "$ip" >/dev/null 2>&1; then
		echo yes
	else
		echo no
	fi
}

# Two pingers at once, at a fixed pace whatever the replies (ferry-ping): every 10 ms and every 1 ms.
start_pings() {
	# The path to the guest first (the previous run's MAC may still be learnt elsewhere).
	for _ in $(seq 1 20); do cping -c 1 -W 1 "$ip" >/dev/null 2>&1 && break; done
	ip netns exec "$LAB_NS_CLIENT" "$FERRY_ROOT/build/bin/ferry-ping" -i 10 "$ip" >"$tmp/p10" 2>&1 &
	P10=$!
	ip netns exec "$LAB_NS_CLIENT" "$FERRY_ROOT/build/bin/ferry-ping" -i 1 "$ip" >"$tmp/p1" 2>&1 &
	P1=$!
	sleep 1
}

stop_pings() {
	sleep 0.2
	kill -INT "$P10" "$P1" 2>/dev/null
	wait "$P10" "$P1" 2>/dev/null
	P10="" P1=""
}

# "lost10 gap lost1" of the last run, from ferry-ping's summaries
ping_figures() {
	local l10 g l1
	read -r l10 g < <(sed -n 's/^ferry-ping: .*lost \([0-9]*\), longest-gap-ms \([0-9.]*\)/\1 \2/p' "$tmp/p10")
	read -r l1 < <(sed -n 's/^ferry-ping: .*lost \([0-9]*\),.*/\1/p' "$tmp/p1")
	echo "${l10:-0} ${g:-0} ${l1:-0}"
}

qemu_args() { # size work tap [disk]: sets QARGS
	QARGS=(-M virt -bios default -nographic -m "$1" -smp "$(cpus_of "$2")" -accel tcg,thread=multi -kernel "$FERRY_GUEST/Image"
		-append "console=ttyS0 quiet $(root_args "$2") ip=$ip:::255.255.255.0::eth0:off ferry.work=$(work_of "$2")"
		-netdev "tap,id=n0,ifname=$3,script=no,downscript=no,vhost=off" -device "virtio-net-device,netdev=n0,mac=$mac")
	if [ -n "${4:-}" ]; then
		QARGS+=(-drive "file=$4,if=none,format=raw,id=d0" -device virtio-blk-device,drive=d0)
	else
		QARGS+=(-initrd "$FERRY_GUEST/initramfs.cpio")
	fi
}

# One QEMU run, a fresh guest moved FROM -> TO (default vh01 -> vh02) over link a: prints
# "blackout gap lost10 lost1 total_ms bytes rounds healthy" and sets QRUN_STATUS (QEMU's last
# migration status), QRUN_REQ_US (the migrate command sent, realtime us) and QRUN_RESUME_US
# (the destination's RESUME event, realtime us; 0 if none came).
qemu_run() { # size work downtime_ms [from to]
	local from=${4:-vh01} to=${5:-vh02}
	local tap1=$P-q1 tap2=$P-q2 s=$tmp/qs.sock dsk=$tmp/qd.sock spid dpid dst_addr
	dst_addr=$(lab_addr "$P" "$to" mig "$from" a)
	next_vm
	lab_tap "$P" "$from" "$tap1"
	lab_tap "$P" "$to" "$tap2"
	: >"$tmp/qs.log"
	: >"$tmp/qd.log"
	local disk=""
	if [ "$2" = debian4 ]; then
		disk=$tmp/qdebian.img
		cp --sparse=always "$(vm_debian_image)" "$disk" || return 1
	fi
	qemu_args "$1" "$2" "$tap1" "$disk"
	lab_spawn "$P" "$from" "$tmp/qs.log" qemu-system-riscv64 "${QARGS[@]}" -qmp "unix:$s,server=on,wait=off" \
		-qmp "unix:$s.ev,server=on,wait=off" >/dev/null
	spid=$LAB_PID
	qemu_args "$1" "$2" "$tap2" "$disk"
	lab_spawn "$P" "$to" "$tmp/qd.log" qemu-system-riscv64 "${QARGS[@]}" -qmp "unix:$dsk,server=on,wait=off" \
		-qmp "unix:$dsk.ev,server=on,wait=off" -incoming "tcp:$dst_addr:4444" >/dev/null
	dpid=$LAB_PID
	wait_heartbeat "$tmp/qs.log"
	for _ in $(seq 1 100); do "$ctl" --timeout 1 "$dsk" query-status >/dev/null 2>&1 && break; sleep 0.1; done
	"$ctl" "$s" migrate-set-parameters "{\"max-bandwidth\": $cap, \"downtime-limit\": $3}" >/dev/null
	"$ctl" --timeout 600 "$s.ev" --wait-event STOP >"$tmp/qstop" &
	local w1=$!
	"$ctl" --timeout 600 "$dsk.ev" --wait-event RESUME >"$tmp/qresume" &
	local w2=$!
	sleep 0.3
	start_pings
	QRUN_REQ_US=${EPOCHREALTIME/./}
	"$ctl" "$s" migrate "{\"uri\": \"tcp:$dst_addr:4444\"}" >/dev/null
	local st=""
	for _ in $(seq 1 6000); do
		st=$("$ctl" "$s" --get status query-migrate 2>/dev/null)
		case $st in completed | failed | cancelled) break ;; esac
		sleep 0.1
	done
	QRUN_STATUS=$st
	wait "$w1" "$w2" 2>/dev/null
	stop_pings
	local info total bytes rounds t0 t1 h
	info=$("$ctl" "$s" query-migrate 2>/dev/null)
	read -r total bytes rounds < <(jq -r '.return | [.["total-time"], .ram.transferred, .ram["dirty-sync-count"]]
		| map(numbers // 0) | @tsv' <<<"$info" 2>/dev/null)
	# An event's timestamp in microseconds.
	ts() { jq -r '.timestamp | .seconds * 1000000 + .microseconds' "$1" 2>/dev/null; }
	t0=$(ts "$tmp/qstop")
	t1=$(ts "$tmp/qresume")
	QRUN_RESUME_US=${t1:-0}
	h=$( [ "$st" = completed ] && healthy "$tmp/qd.log" || echo no)
	read -r lost10 gap lost1 < <(ping_figures)
	"$ctl" "$s" quit >/dev/null 2>&1
	"$ctl" "$dsk" quit >/dev/null 2>&1
	wait "$spid" "$dpid" 2>/dev/null
	lab_untap "$P" "$from" "$tap1"
	lab_untap "$P" "$to" "$tap2"
	awk -v a="${t0:-0}" -v b="${t1:-0}" -v g="$gap" -v l10="$lost10" -v l1="$lost1" -v t="${total:-0}" \
		-v by="${bytes:-0}" -v r="${rounds:-0}" -v h="$h" \
		'BEGIN { printf "%.2f %s %s %s %.0f %s %s %s\n", (b > a && a > 0 ? (b - a) / 1e3 : -1), g, l10, l1, t, by, r, h }'
}

med() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
mx() { sort -n | tail -1; }
col() { awk -v c="$2" '$1 != "fail" {print $c}' "$1"; }
