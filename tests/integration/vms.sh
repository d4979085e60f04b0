#!/bin/bash
# vms.sh - the agent's VM supervisor (src/agent/vms.c) through tests/integration/vmsprobe:
# a VM started with a TAP and a disk the supervisor opened runs detached (own session, nice
# 10, inherited descriptors), boots, answers ping through its TAP on a bridge; it outlives
# the probe and is adopted by the next one; stale records are not adopted; stop is a hard
# power-off; a VM that powers off is reported `exited`; bad input gets clear errors.
# Runs as root, in a network namespace of its own (per-run name), removed at the end.
if [ "$(id -u)" != 0 ]; then
	echo "1..0 # skip: vms.sh needs root"
	exit 0
fi
# In a PID namespace of its own, whose init is this shell: a VM orphaned when the probe is
# killed is reparented here and reaped (as init or a subreaper would on a host), and nothing
# outlives the test.
if [ -z "$FERRY_VMS_PIDNS" ]; then
	FERRY_VMS_PIDNS=1 exec unshare --pid --fork --mount-proc bash "$0" "$@"
fi
source "$(dirname "$0")/../lib.sh"
scratch
probe_bin=$FERRY_ROOT/build/tests/vmsprobe
img=$FERRY_GUEST/Image
rd=$FERRY_GUEST/initramfs.cpio
unset INVOCATION_ID # never through systemd-run here: the VM must be a plain child

make -s -C "$FERRY_ROOT" build/tests/vmsprobe >"$FERRY_TMP/make.log" 2>&1 ||
	{ fail "build vmsprobe" "$(tail -5 "$FERRY_TMP/make.log")"; finish integration-vms; }
for f in "$probe_bin" "$FERRY_VM" "$img" "$rd"; do
	[ -e "$f" ] || { fail "$f is there (make; guest/build.sh)"; finish integration-vms; }
done

ns=fvt$$
br=fvbr0
net=10.213.$(($$ % 200 + 20))
T=$FERRY_TMP
vm_pids=()
cleanup() {
	for p in "${vm_pids[@]}"; do
		[ -n "$p" ] && kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null
	done
	[ -n "$probe_pid" ] && kill -0 "$probe_pid" 2>/dev/null && kill -9 "$probe_pid" 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	[ -n "$cg" ] && [ -d "$cg" ] && rmdir "$cg" 2>/dev/null
	rm -rf "$FERRY_TMP"
}
trap cleanup EXIT

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add "$br" type bridge
ip -n "$ns" addr add "$net.1/24" dev "$br"
ip -n "$ns" link set "$br" up

probe() {
	ip netns exec "$ns" timeout 300 "$probe_bin" --run "$T/run" --logs "$T/log" --vm "$FERRY_VM" \
		--bridge "$br" --nice 10 "$@"
}
# In the background, without timeout(1) in between: $! is the probe itself.
probe_bg() {
	exec ip netns exec "$ns" "$probe_bin" --run "$T/run" --logs "$T/log" --vm "$FERRY_VM" \
		--bridge "$br" --nice 10 "$@"
}
append() { echo "console=ttyS0 ip=$1:::255.255.255.0::eth0:off $2"; }
# Not running any more: no such process, or a zombie its new parent has not reaped yet (the
# test's pid 1 may not reap orphans; ferryd's host would have init or a subreaper do it).
gone() { [ ! -e /proc/"$1" ] || [ "$(awk '{print $3}' /proc/"$1"/stat 2>/dev/null)" = Z ]; }
jget() { jq -r "$1" 2>/dev/null; }
truncate -s 64M "$T/disk1.img"
truncate -s 64M "$T/disk2.img"

# 1. Start a VM; the probe holds the set and sleeps (killed below).
probe_bg start vm1 --kernel "$img" --initrd "$rd" --memory 256M --vcpus 2 --disk "$T/disk1.img" \
	--mac 02:fe:00:00:00:01 --append "$(append "$net.2" "ferry.work=idle")" \
	list sleep 600 >"$T/probe1.out" 2>"$T/probe1.err" &
probe_pid=$!
for _ in $(seq 1 300); do
	[ -s "$T/probe1.out" ] && break
	kill -0 "$probe_pid" 2>/dev/null || break
	sleep 0.1
done
pid=$(jget '.[0].pid' <"$T/probe1.out")
if [ -n "$pid" ] && [ "$pid" != null ] && [ "$(jget '.[0].run' <"$T/probe1.out")" = running ]; then
	pass "vm1 started: pid $pid, running"
	vm_pids+=("$pid")
else
	fail "vm1 started" "$(cat "$T/probe1.out" "$T/probe1.err")"
	finish integration-vms
	exit 1
fi

# 2. Detached and unprivileged: its own session, nice 10, the TAP and disk as descriptors.
sid=$(ps -o sid= -p "$pid" | tr -d ' ')
if [ "$sid" = "$pid" ]; then pass "vm1 leads a session of its own"; else fail "vm1 leads a session of its own" "sid $sid"; fi
ni=$(ps -o ni= -p "$pid" | tr -d ' ')
if [ "$ni" = 10 ]; then pass "vm1 runs at nice 10"; else fail "vm1 runs at nice 10" "nice $ni"; fi
cmd=$(tr '\0' ' ' </proc/"$pid"/cmdline)
if [[ $cmd == *"--net tapfd:3,mac=02:fe:00:00:00:01"* && $cmd == *"--disk fd:4"* &&
	$cmd == *"--lease $T/disk1.img.lease"* ]] &&
	[ "$(readlink /proc/"$pid"/fd/3)" = /dev/net/tun ] &&
	[ "$(readlink /proc/"$pid"/fd/4)" = "$T/disk1.img" ]; then
	pass "vm1 got the TAP and the disk as descriptors 3 and 4 (tapfd:3, fd:4, --lease)"
else
	fail "vm1 got the TAP and the disk as descriptors" "$cmd" "$(ls -l /proc/"$pid"/fd)"
fi
ppid_of_vm=$(ps -o ppid= -p "$pid" | tr -d ' ')
if [ "$ppid_of_vm" = "$probe_pid" ]; then pass "vm1 is the probe's child"; else fail "vm1 is the probe's child" "ppid $ppid_of_vm"; fi

# 3. Boots (the console goes to console.log) and answers ping through the TAP on the bridge.
for _ in $(seq 1 600); do
	grep -q 'heartbeat' "$T/log/vm1/console.log" 2>/dev/null && break
	sleep 0.2
done
if grep -q '^ferry-init: up' "$T/log/vm1/console.log"; then
	pass "console.log has the guest's boot"
else
	fail "console.log has the guest's boot" "$(tail -5 "$T/log/vm1/console.log")" "$(tail -5 "$T/log/vm1/vm.log")"
fi
# The spec's vcpus are the VM's harts.
if [[ $cmd == *"--cpus 2 "* ]] && grep -q 'smp: Brought up 1 node, 2 CPUs' "$T/log/vm1/console.log"; then
	pass "the spec's 2 vCPUs are 2 harts (--cpus 2; the kernel brought up 2 CPUs)"
else
	fail "the spec's 2 vCPUs are 2 harts" "$cmd" "$(grep -E 'smp:' "$T/log/vm1/console.log")"
fi
tap=$(jget .tap <"$T/run/vms/vm1.json")
if ip -n "$ns" link show master "$br" | grep -q "$tap"; then
	pass "TAP $tap is a port of the bridge"
else
	fail "TAP $tap is a port of the bridge" "$(ip -n "$ns" link)"
fi
if ip netns exec "$ns" ping -c 5 -i 0.2 -W 2 "$net.2" >"$T/ping" 2>&1; then
	pass "the guest answers ping through the bridge"
else
	fail "the guest answers ping through the bridge" "$(tail -3 "$T/ping")"
fi

# 4. The probe dies (SIGKILL): the VM keeps running; the next probe adopts it.
kill -9 "$probe_pid"
wait "$probe_pid" 2>/dev/null
sleep 1
if kill -0 "$pid" 2>/dev/null && ! kill -0 "$probe_pid" 2>/dev/null &&
	[ "$(ps -o stat= -p "$pid" | cut -c1)" != Z ]; then
	pass "vm1 outlives its supervisor (now a child of pid $(ps -o ppid= -p "$pid" | tr -d ' '))"
else
	fail "vm1 outlives its supervisor"
fi
probe_pid=
probe list >"$T/list2" 2>"$T/list2.err"
if [ "$(jget '.[0].pid' <"$T/list2")" = "$pid" ] && [ "$(jget '.[0].adopted' <"$T/list2")" = true ] &&
	[ "$(jget '.[0].run' <"$T/list2")" = running ]; then
	pass "a new probe adopts vm1 (same pid, adopted=true, running)"
else
	fail "a new probe adopts vm1" "$(cat "$T/list2" "$T/list2.err")"
fi
if ip netns exec "$ns" ping -c 3 -i 0.2 -W 2 "$net.2" >/dev/null 2>&1; then
	pass "the adopted guest still answers ping"
else
	fail "the adopted guest still answers ping"
fi

# 5. Stale records: a dead pid, a pid reused by another process (start time differs), a
#    corrupt file. None adopted; the first two removed, the corrupt one set aside.
sed -e 's/"name": "vm1"/"name": "ghost"/' -e "s/\"pid\": $pid,/\"pid\": 999999,/" \
	"$T/run/vms/vm1.json" >"$T/run/vms/ghost.json"
sleep 300 &
other=$!
sed -e 's/"name": "vm1"/"name": "reused"/' -e "s/\"pid\": $pid,/\"pid\": $other,/" \
	"$T/run/vms/vm1.json" >"$T/run/vms/reused.json"
echo '{"version": 1, "pid": ' >"$T/run/vms/broken.json"
probe list >"$T/list3" 2>"$T/list3.err"
kill "$other"
wait "$other" 2>/dev/null
names=$(jget '[.[].name] | join(",")' <"$T/list3")
if [ "$names" = vm1 ] && [ ! -e "$T/run/vms/ghost.json" ] && [ ! -e "$T/run/vms/reused.json" ]; then
	pass "records of a dead pid and of a reused pid are dropped, not adopted"
else
	fail "stale records are dropped" "names: $names" "$(ls "$T/run/vms")" "$(cat "$T/list3.err")"
fi
if grep -q 'stale record.*ghost.json' "$T/list3.err" && grep -q 'stale record.*reused.json' "$T/list3.err"; then
	pass "each dropped record is logged"
else
	fail "each dropped record is logged" "$(cat "$T/list3.err")"
fi
if [ -e "$T/run/vms/broken.json.corrupt" ] && grep -q 'refusing.*broken.json' "$T/list3.err"; then
	pass "a corrupt record is refused and set aside"
else
	fail "a corrupt record is refused and set aside" "$(cat "$T/list3.err")"
fi

# 6. Bad input.
out=$(probe start vm1 --kernel "$img" --initrd "$rd" --append "$(append "$net.2" "")" 2>&1)
if [[ $out == *"vm1"*"already running"* ]]; then pass "a second vm1 is refused: already running"; else fail "a second vm1 is refused" "$out"; fi
out=$(probe start vm3 --kernel "$T/nope/Image" 2>&1)
if [[ $out == *"kernel $T/nope/Image"*"No such file"* ]]; then pass "a missing kernel is a clear error"; else fail "a missing kernel is a clear error" "$out"; fi
out=$(probe start vm3 --kernel "$img" --disk "$T/nope.img" 2>&1)
if [[ $out == *"cannot open disk $T/nope.img"*"No such file"* ]]; then pass "a missing disk is a clear error"; else fail "a missing disk is a clear error" "$out"; fi
out=$(probe start vm3 --kernel "$img" --initrd "$rd" --disk "$T/disk1.img" 2>&1)
if [[ $out == *"vm3"*"exited at start"*"in use by another VM"* ]] && [ ! -e "$T/run/vms/vm3.json" ]; then
	pass "a disk in use by another VM: the error has the VM's log line"
else
	fail "a disk in use by another VM is refused with the VM's log" "$out"
fi
if [ "$(ip -n "$ns" -o link show master "$br" | wc -l)" = 1 ]; then
	pass "the failed start left no TAP behind"
else
	fail "the failed start left no TAP behind" "$(ip -n "$ns" -o link show master "$br")"
fi

# 7. Stop: a hard power-off. The process and its TAP are gone at once, the record too.
probe stop vm1 list >"$T/stop" 2>"$T/stop.err"
rc=$?
sleep 0.2
if [ $rc -eq 0 ] && gone "$pid" && [ "$(cat "$T/stop")" = "[]" ] &&
	[ ! -e "$T/run/vms/vm1.json" ]; then
	pass "stop: the process is gone, the record too"
else
	fail "stop: the process is gone" "rc $rc" "$(cat "$T/stop" "$T/stop.err")"
fi
if ! ip -n "$ns" link show "$tap" >/dev/null 2>&1; then pass "stop: the TAP is gone"; else fail "stop: the TAP is gone"; fi
if ! grep -q 'reboot: Power down' "$T/log/vm1/console.log"; then
	pass "stop did not shut the guest down (power cut)"
else
	fail "stop did not shut the guest down"
fi

# 8. A VM that powers off by itself is reported exited, with its status.
probe start vm2 --kernel "$img" --initrd "$rd" --memory 128M --disk "$T/disk2.img" \
	--mac 02:fe:00:00:00:02 --append "$(append "$net.3" "ferry.poweroff")" \
	wait 120 list >"$T/exit" 2>"$T/exit.err"
rc=$?
ev=$(head -1 "$T/exit")
if [ $rc -eq 0 ] && [ "$(echo "$ev" | jget .event)" = exited ] &&
	[ "$(echo "$ev" | jget .name)" = vm2 ] && [ "$(echo "$ev" | jget .exit_status)" = 0 ] &&
	[ "$(echo "$ev" | jget .run)" = exited ]; then
	pass "a guest that powers off is reported exited, status 0"
else
	fail "a guest that powers off is reported exited" "rc $rc" "$(cat "$T/exit" "$T/exit.err")"
fi
if [ "$(sed -n 2p "$T/exit" | jget '.[0].run')" = exited ]; then
	pass "and is listed exited (once, until forgotten)"
else
	fail "and is listed exited" "$(cat "$T/exit")"
fi

# 9. ferry-vm's inherited descriptors refused with exit status 2 and a message naming them.
vmrc() {
	local want=$1 msg=$2 name=$3
	shift 3
	out=$("$@" 2>&1 </dev/null)
	rc=$?
	if [ $rc -eq "$want" ] && [[ $out == *"$msg"* ]]; then pass "$name"; else fail "$name" "exit $rc" "$out"; fi
}
vmrc 2 "descriptor 7 is not open" "ferry-vm --disk fd:7 with 7 closed: exit 2" \
	"$FERRY_VM" --kernel "$img" --disk fd:7 --lease "$T/l"
vmrc 2 "not open for reading and writing" "ferry-vm --disk fd:N read-only: exit 2" \
	bash -c '"$0" --kernel "$1" --disk fd:7 --lease "$2" 7<"$3"' "$FERRY_VM" "$img" "$T/l" "$T/disk2.img"
vmrc 2 "needs --lease FILE" "ferry-vm --disk fd:N without --lease: exit 2" \
	bash -c '"$0" --kernel "$1" --disk fd:7 7<>"$2"' "$FERRY_VM" "$img" "$T/disk2.img"
vmrc 2 "not an attached TAP device" "ferry-vm --net tapfd:N on a file: exit 2" \
	bash -c '"$0" --kernel "$1" --net tapfd:7 7<>"$2"' "$FERRY_VM" "$img" "$T/disk2.img"
vmrc 2 "expected tapfd:N" "ferry-vm --net tapfd:x: exit 2" "$FERRY_VM" --kernel "$img" --net tapfd:x
# A TAP attached without IFF_VNET_HDR (python3 makes one and passes it as descriptor 7).
if command -v python3 >/dev/null; then
	vmrc 2 "not attached with IFF_NO_PI and IFF_VNET_HDR" "ferry-vm --net tapfd:N on a TAP without IFF_VNET_HDR: exit 2" \
		ip netns exec "$ns" python3 -c '
import fcntl, os, struct, sys
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", b"fvnohdr", 0x0002 | 0x1000))
os.dup2(fd, 7)
os.execv(sys.argv[1], [sys.argv[1], "--kernel", sys.argv[2], "--net", "tapfd:7"])
' "$FERRY_VM" "$img"
fi

# 10. With a cgroup (v2) set, the VM runs in it; the directory is created if missing.
cgroot=
for d in /sys/fs/cgroup /sys/fs/cgroup/unified; do
	[ -e "$d/cgroup.procs" ] && [ "$(stat -f -c %T "$d")" = cgroup2fs ] && cgroot=$d && break
done
if [ -n "$cgroot" ]; then
	cg=$cgroot/fvt$$-vms
	# Outside the network namespace: `ip netns exec` mounts a /sys without the cgroup mounts.
	probe_host() {
		timeout 300 "$probe_bin" --run "$T/run" --logs "$T/log" --vm "$FERRY_VM" --nice 10 \
			--cgroup "$cg" "$@"
	}
	probe_host start vm4 --kernel "$img" --initrd "$rd" --memory 64M \
		--append "$(append "$net.4" "ferry.work=idle")" list >"$T/cg" 2>"$T/cg.err"
	p4=$(jget '.[0].pid' <"$T/cg")
	vm_pids+=("$p4")
	if [ -d "$cg" ] && grep -q "^0::/fvt$$-vms\$" /proc/"$p4"/cgroup 2>/dev/null; then
		pass "with --cgroup the VM runs in that (new) cgroup"
	else
		fail "with --cgroup the VM runs in that cgroup" "$(cat "$T/cg" "$T/cg.err" /proc/"$p4"/cgroup 2>&1)"
	fi
	probe_host stop vm4 >/dev/null 2>&1
	for _ in $(seq 1 50); do rmdir "$cg" 2>/dev/null && break; sleep 0.1; done
fi

finish integration-vms
