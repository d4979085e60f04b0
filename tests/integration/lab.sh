#!/bin/bash
# lab.sh - the lab (lab/, docs/lab.md): a 3-host cluster in network namespaces is built, every
# network reaches what it should and nothing else, migration links are shaped to their rate,
# TAPs join the host bridge, a guest on a TAP answers the client through the switch, and
# teardown (down, sweep after a killed owner, a failed or killed `up`) removes exactly one
# run's namespaces, interfaces, processes and files.
source "$(dirname "$0")/../lib.sh"
source "$FERRY_ROOT/lab/lib.sh"
LAB=$FERRY_ROOT/lab/lab
scratch
B='' C='' D='' F='' U='' owner_b=''
cleanup() {
	lab_down 2>/dev/null
	[ -z "$owner_b" ] || kill -KILL "$owner_b" 2>/dev/null
	[ -z "$U" ] || ip netns del "ferry-$U-sw" 2>/dev/null
	for p in $B $C $D $F; do
		[ ! -d "$FERRY_LAB_STATE/$p" ] && [ -z "$(ip netns list | grep -- "^ferry-$p-")" ] ||
			"$LAB" down "$p" 2>/dev/null
	done
	rm -rf "$FERRY_TMP"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "# the lab needs root"
	fail "run as root"
	finish integration-lab
	exit 1
fi

root_links() { ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | sort; }
ns_list() { ip netns list | awk '{print $1}'; }
# Is PID running (not a zombie)?
running() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=${s##*) }; [ "${s%% *}" != Z ]; }
# Namespaces and interfaces (in the root namespace and in every namespace) that carry prefix P.
leftovers() { # P
	local p=$1 ns
	ns_list | grep -- "-$p-" | sed 's/^/namespace /'
	ip -o link show | grep -- " $p-" | sed 's/^/root interface /'
	for ns in $(ns_list); do
		ip -n "$ns" -o link show 2>/dev/null | grep -- " $p-" | sed "s/^/interface in $ns: /"
	done
	[ ! -e "$FERRY_LAB_STATE/$p" ] || echo "state $FERRY_LAB_STATE/$p"
	ls -d "${TMPDIR:-/tmp}/ferry-lab-$p."* 2>/dev/null | sed 's/^/directory /'
}
# ping from a node of run P: ping_ok P NODE ADDR
ping_ok() { lab_exec "$1" "$2" ping -c 1 -W 1 -q "$3" >/dev/null 2>&1; }

before=$(root_links)

# 1. Up: three hosts, a switch, a client; everything tagged and recorded.
t0=$(date +%s.%N)
P=$(lab_up --hosts 3 2>"$FERRY_TMP/up.err")
rc=$?
t1=$(date +%s.%N)
if [ $rc -ne 0 ] || ! _lab_valid_prefix "$P"; then
	fail "lab up --hosts 3 prints a prefix" "exit $rc, output '$P'" "$(cat "$FERRY_TMP/up.err")"
	finish integration-lab
	exit 1
fi
pass "lab up --hosts 3 gives run $P in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
lab_load "$P"
want="ferry-$P-admin ferry-$P-client ferry-$P-sw ferry-$P-vh01 ferry-$P-vh02 ferry-$P-vh03"
got=$(ns_list | grep -- "^ferry-$P-" | sort | tr '\n' ' ')
if [ "${got% }" = "$want" ]; then pass "six namespaces: sw, client, admin, vh01..vh03"; else fail "six namespaces" "got: $got"; fi
bad=
for ns in $want; do
	ip -n "$ns" -o link show dev lo | grep -q "alias ferry-lab:$P" || bad="$bad $ns"
done
if [ -z "$bad" ]; then pass "every namespace is tagged ferry-lab:$P"; else fail "namespaces tagged" "untagged:$bad"; fi
if [ "$LAB_HOSTS" = "vh01 vh02 vh03" ] && [ "$LAB_OWNER" = "$$" ] && [ -d "$LAB_SHARED" ] &&
	[ "$LAB_MIG_b_vh03_vh01" = 10.32.3.1 ] && [ "$LAB_MGMT_vh02" = 10.20.0.12 ] &&
	[ "$LAB_CLIENT_ADDR" = 10.10.0.2 ] && [ "$(lab_addr "$P" vh01 mig vh02 b)" = 10.32.1.2 ]; then
	pass "state: hosts, owner, shared storage, management and migration addresses"
else
	fail "state variables" "$(cat "$LAB_DIR/env")"
fi
after=$(root_links)
if [ "$before" = "$after" ]; then pass "no interface added to the root namespace"; else fail "root namespace untouched" "before: $before" "after: $after"; fi
bad=
for ns in $want; do
	r=$(ip -n "$ns" route show default)
	[ -z "$r" ] || bad="$bad $ns($r)"
done
if [ -z "$bad" ]; then pass "no default route in any namespace"; else fail "no default route" "$bad"; fi
if "$LAB" up --prefix "$P" >/dev/null 2>"$FERRY_TMP/dup.err"; then
	fail "a prefix in use is refused"
else
	pass "a prefix in use is refused"
fi

# 2. Reachability: the VMs' network from the client, management and both migration links
# between every pair, and nothing across networks.
bad=
for h in $LAB_HOSTS; do ping_ok "$P" client "$(lab_addr "$P" "$h" vm)" || bad="$bad $h"; done
if [ -z "$bad" ]; then pass "client reaches every host's bridge on the VMs' network through sw"; else fail "client reaches hosts' bridges" "unreachable:$bad"; fi
bad=
for h in $LAB_HOSTS; do ping_ok "$P" admin "$(lab_addr "$P" "$h" mgmt)" || bad="$bad $h"; done
if [ -z "$bad" ]; then pass "admin reaches every host on the management network"; else fail "admin reaches hosts" "unreachable:$bad"; fi
for net in mgmt a b; do
	bad=
	n=0
	for h in $LAB_HOSTS; do
		for g in $LAB_HOSTS; do
			[ "$h" != "$g" ] || continue
			if [ $net = mgmt ]; then addr=$(lab_addr "$P" "$g" mgmt); else addr=$(lab_addr "$P" "$g" mig "$h" $net); fi
			n=$((n + 1))
			ping_ok "$P" "$h" "$addr" || bad="$bad $h->$g($addr)"
		done
	done
	case $net in mgmt) what="management network" ;; *) what="migration link $net" ;; esac
	if [ -z "$bad" ]; then pass "$what: all $n ordered pairs of hosts reach each other"; else fail "$what between every pair" "unreachable:$bad"; fi
done
# Each migration address is reached over its own link only.
dev=$(lab_exec "$P" vh01 ip -o route get "$(lab_addr "$P" vh02 mig vh01 b)" | sed -n 's/.* dev \([^ ]*\).*/\1/p')
if [ "$dev" = "$(lab_ifname "$P" vh01 mig vh02 b)" ]; then pass "vh01 reaches vh02's link-b address over $dev"; else fail "route over link b" "dev '$dev'"; fi
bad=
ping_ok "$P" vh03 "$(lab_addr "$P" vh01 mig vh02 a)" && bad="$bad vh03->vh01's-link-to-vh02"
ping_ok "$P" client "$(lab_addr "$P" vh01 mgmt)" && bad="$bad client->management"
ping_ok "$P" client "$(lab_addr "$P" vh01 mig vh02 a)" && bad="$bad client->migration"
ping_ok "$P" admin "$(lab_addr "$P" vh01 mig vh02 a)" && bad="$bad admin->migration"
ping_ok "$P" admin "$(lab_addr "$P" vh01 vm)" && bad="$bad admin->VMs' network"
ping_ok "$P" vh01 127.0.0.1 || bad="$bad loopback-in-host"
if [ -z "$bad" ]; then pass "networks are isolated: no client access to management or migration, links point to point"; else fail "isolation" "reachable:$bad"; fi

# 3. Shaping: tbf at the rate on both ends; one link carries at most the rate, two links twice.
n=0
bad=
for h in $LAB_HOSTS; do
	for g in $LAB_HOSTS; do
		[ "$h" != "$g" ] || continue
		for l in a b; do
			q=$(tc -n "ferry-$P-$h" qdisc show dev "$(lab_ifname "$P" "$h" mig "$g" $l)")
			n=$((n + 1))
			case $q in *"qdisc tbf"*"rate 100Mbit"*) ;; *) bad="$bad $h/$g/$l:$q" ;; esac
		done
	done
done
if [ -z "$bad" ]; then pass "tbf 100Mbit on both ends of every migration link ($n ends)"; else fail "tbf on every end" "$bad"; fi
one=$(lab_measure "$P" vh01 vh02 a 3 2>"$FERRY_TMP/m1.err")
two=$(lab_measure "$P" vh01 vh02 ab 3 2>"$FERRY_TMP/m2.err")
echo "# one link: $one Mbit/s; links a and b together: $two Mbit/s (configured $LAB_RATE each)"
if [ -n "$one" ] && awk -v x="$one" 'BEGIN { exit !(x > 50 && x <= 110) }'; then
	pass "one migration link carries $one Mbit/s: at most 1.1 x 100mbit"
else
	fail "one migration link within its rate" "measured '$one'" "$(cat "$FERRY_TMP/m1.err")"
fi
if [ -n "$two" ] && awk -v x="$two" -v y="$one" 'BEGIN { exit !(x > 1.6 * y && x <= 220) }'; then
	pass "links a and b together carry $two Mbit/s: more than 1.6 x one link"
else
	fail "two links carry clearly more than one" "one '$one', two '$two'" "$(cat "$FERRY_TMP/m2.err")"
fi
"$LAB" link "$P" vh01 vh02 a down
if ! ping_ok "$P" vh01 "$(lab_addr "$P" vh02 mig vh01 a)" && ping_ok "$P" vh01 "$(lab_addr "$P" vh02 mig vh01 b)"; then
	pass "lab link ... a down cuts link a only"
else
	fail "lab link ... a down cuts link a only"
fi
"$LAB" link "$P" vh01 vh02 a up
for _ in $(seq 20); do ping_ok "$P" vh01 "$(lab_addr "$P" vh02 mig vh01 a)" && break; sleep 0.1; done
if ping_ok "$P" vh01 "$(lab_addr "$P" vh02 mig vh01 a)"; then pass "lab link ... a up restores it"; else fail "lab link ... a up restores it"; fi

# 4. TAPs join the host's bridge.
tap=$P-t1
if lab_tap "$P" vh01 "$tap"; then
	l=$(ip -n "ferry-$P-vh01" -o -d link show dev "$tap")
	case $l in
	*"master $P-br0"*"<"*UP*">"* | *"<"*UP*">"*"master $P-br0"*) pass "lab_tap: $tap is up and a port of $P-br0" ;;
	*) fail "lab_tap: TAP up and a port of the bridge" "$l" ;;
	esac
	case $l in *"tun type tap"*) pass "lab_tap: $tap is a TAP device" ;; *) fail "lab_tap: a TAP device" "$l" ;; esac
else
	fail "lab_tap creates a TAP"
fi
lab_tap "$P" vh02 "$P-t2" && lab_untap "$P" vh02 "$P-t2"
if ! ip -n "ferry-$P-vh02" link show dev "$P-t2" >/dev/null 2>&1; then pass "lab_untap removes the TAP"; else fail "lab_untap removes the TAP"; fi
if ! lab_tap "$P" vh01 "an-interface-name-too-long" 2>/dev/null; then pass "a TAP name over 15 characters is refused"; else fail "TAP name too long refused"; fi

# 5. Processes: lab_spawn runs in the host's namespace and is recorded.
lab_spawn "$P" vh02 "$FERRY_TMP/sleep.log" sleep 300 >/dev/null
spid=$LAB_PID
if running "$spid" && [ "$(stat -L -c %i "/proc/$spid/ns/net")" = "$(stat -L -c %i "/run/netns/ferry-$P-vh02")" ]; then
	pass "lab_spawn starts a process in vh02's namespace (pid $spid)"
else
	fail "lab_spawn starts a process in the namespace"
fi
if lab_exec "$P" vh03 ip -o addr show dev "$LAB_MGMT_IF" | grep -q 10.20.0.13; then pass "lab_exec runs in the host's namespace"; else fail "lab_exec"; fi

# 6. A guest on a TAP answers the client through sw and the host's bridge (QEMU's virt board,
# while ferry-vm has no virtio-net yet).
qpid=
if command -v qemu-system-riscv64 >/dev/null && [ -f "$FERRY_GUEST/Image" ]; then
	vip=$(lab_vm_addr 0)
	mac=$(lab_vm_mac 0)
	lab_spawn "$P" vh01 "$FERRY_TMP/qemu.log" qemu-system-riscv64 -M virt -bios default -nographic \
		-m 256M -kernel "$FERRY_GUEST/Image" -initrd "$FERRY_GUEST/initramfs.cpio" \
		-append "console=ttyS0 ip=$vip:::$LAB_VM_MASK::eth0:off" \
		-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no" \
		-device "virtio-net-device,netdev=n0,mac=$mac" >/dev/null
	qpid=$LAB_PID
	up=0
	deadline=$((SECONDS + 90))
	while [ $SECONDS -lt $deadline ]; do
		if ping_ok "$P" client "$vip"; then up=1; break; fi
		running "$qpid" || break
		sleep 0.2
	done
	if [ $up -eq 1 ]; then
		pass "the guest on $tap answers the client at $vip"
		out=$(lab_exec "$P" client ping -c 100 -i 0.01 -W 1 -q "$vip" 2>&1)
		echo "$out" | grep -E 'transmitted|rtt' | sed 's/^/# /'
		if echo "$out" | grep -q '100 packets transmitted, 100 received'; then
			pass "100 pings at 10 ms from the client: none lost"
		else
			fail "100 pings at 10 ms from the client: none lost" "$out"
		fi
		if ip -n "ferry-$P-client" neigh show "$vip" | grep -q "$mac" &&
			bridge -n "ferry-$P-sw" fdb show br "$P-prod" | grep "^$mac " | grep -q "dev $P-v01 "; then
			pass "the guest's MAC is learned on sw's port to vh01"
		else
			fail "the guest's MAC is learned on sw's port to vh01" "$(bridge -n "ferry-$P-sw" fdb show br "$P-prod" | grep -v permanent)"
		fi
	else
		fail "the guest on $tap answers the client at $vip" "$(tail -5 "$FERRY_TMP/qemu.log")"
	fi
fi

# 7. Status shows the topology and the processes.
"$LAB" status "$P" >"$FERRY_TMP/status" 2>&1
bad=
for w in "run $P: 3 hosts" "ferry-$P-sw" "bridge $P-prod" "bridge $P-br0 10.10.0.11/24" \
	"$P-mgmt 10.20.0.12/24" "vh01-vh02 a  $P-a02 10.31.1.2" "vh02-vh03 b" "100Mbit/100Mbit" \
	"$spid" "sleep 300"; do
	grep -qF -- "$w" "$FERRY_TMP/status" || bad="$bad [$w]"
done
if [ -n "$qpid" ]; then grep -E "vh01 +$qpid +alive +qemu" -q "$FERRY_TMP/status" || bad="$bad [qemu alive]"; fi
if [ -z "$bad" ]; then pass "lab status shows namespaces, bridges, links with rates and addresses, processes"; else fail "lab status" "missing:$bad" "$(cat "$FERRY_TMP/status")"; fi

# 8. A concurrent run whose owner is killed: sweep removes it and nothing of run $P.
bash -c 'source "$1/lab/lib.sh"; lab_up --hosts 2 >"$2" || exit 1; exec sleep 60' _ \
	"$FERRY_ROOT" "$FERRY_TMP/B" 2>"$FERRY_TMP/B.err" &
owner_b=$!
for _ in $(seq 100); do [ -s "$FERRY_TMP/B" ] && break; sleep 0.1; done
B=$(cat "$FERRY_TMP/B" 2>/dev/null)
if _lab_valid_prefix "$B" && [ "$B" != "$P" ]; then
	pass "a second run $B comes up beside $P"
	lab_spawn "$B" vh01 "$FERRY_TMP/sleepB.log" sleep 300 >/dev/null
	bpid=$LAB_PID
	"$LAB" sweep 2>"$FERRY_TMP/sweep0.err"
	if [ -d "$FERRY_LAB_STATE/$B" ] && running "$bpid"; then pass "sweep keeps a run whose owner lives"; else fail "sweep keeps a live run"; fi
	kill -KILL "$owner_b"
	wait "$owner_b" 2>/dev/null
	owner_b=
	"$LAB" sweep 2>"$FERRY_TMP/sweep.err"
	left=$(leftovers "$B")
	if [ -z "$left" ] && ! running "$bpid"; then
		pass "after its owner is killed, sweep removes run $B: namespaces, interfaces, processes, files"
	else
		fail "sweep removes the orphaned run" "$left" "$(cat "$FERRY_TMP/sweep.err")"
	fi
	got=$(ns_list | grep -- "^ferry-$P-" | sort | tr '\n' ' ')
	if [ "${got% }" = "$want" ] && running "$spid" && [ -d "$LAB_DIR" ] && ping_ok "$P" vh01 "$(lab_addr "$P" vh03 mig vh01 b)" &&
		ping_ok "$P" client "$(lab_addr "$P" vh02 vm)"; then
		pass "run $P is untouched by the sweep (namespaces, links, processes)"
	else
		fail "run $P is untouched by the sweep" "namespaces: $got"
	fi
else
	fail "a second run comes up" "$(cat "$FERRY_TMP/B.err")"
fi

# 9. An `up` killed half way leaves a run that sweep removes; an `up` that fails removes itself.
C=k$(printf '%04d' $((RANDOM % 10000)))
FERRY_LAB_TEST_HOLD=links "$LAB" up --hosts 3 --prefix "$C" >/dev/null 2>"$FERRY_TMP/C.err" &
cpid=$!
disown "$cpid"
for _ in $(seq 100); do grep -q holding "$FERRY_TMP/C.err" && break; sleep 0.1; done
n=$(ns_list | grep -c -- "^ferry-$C-")
kill -KILL "$cpid"
for _ in $(seq 50); do running "$cpid" || break; sleep 0.1; done
"$LAB" sweep 2>"$FERRY_TMP/sweepC.err"
left=$(leftovers "$C")
if [ "$n" -eq 6 ] && [ -z "$left" ]; then
	pass "an up killed half way (6 namespaces made) is removed by sweep"
else
	fail "an up killed half way is removed by sweep" "namespaces at kill: $n" "$left" "$(cat "$FERRY_TMP/sweepC.err")"
fi
# A run whose state directory is lost: sweep finds its namespaces by their tag, and leaves
# alone a namespace that looks like a lab's but is not tagged.
D=$("$LAB" up --hosts 2 2>"$FERRY_TMP/D.err")
U=u$(printf '%04d' $((RANDOM % 10000)))
ip netns add "ferry-$U-sw"
if _lab_valid_prefix "$D"; then
	rm -rf "${FERRY_LAB_STATE:?}/$D"
	"$LAB" sweep 2>"$FERRY_TMP/sweepD.err"
	left=$(leftovers "$D")
	if [ -z "$left" ] && ip netns list | grep -q "^ferry-$U-sw"; then
		pass "sweep removes tagged namespaces and files of a run whose state is lost, not untagged ones"
	else
		fail "sweep of a run whose state is lost" "$left" "$(cat "$FERRY_TMP/sweepD.err")"
	fi
else
	fail "a run for the lost-state case comes up" "$(cat "$FERRY_TMP/D.err")"
fi
ip netns del "ferry-$U-sw"
F=f$(printf '%04d' $((RANDOM % 10000)))
if FERRY_LAB_TEST_FAIL=shape "$LAB" up --hosts 3 --prefix "$F" >/dev/null 2>"$FERRY_TMP/F.err"; then
	fail "an up that fails exits non-zero"
else
	left=$(leftovers "$F")
	if [ -z "$left" ]; then pass "an up that fails at shaping exits non-zero and removes what it made"; else fail "a failed up cleans up" "$left"; fi
fi

# 10. Down ends the run's processes and removes all it made.
t0=$(date +%s.%N)
lab_down "$P" 2>"$FERRY_TMP/down.err"
rc=$?
t1=$(date +%s.%N)
if [ $rc -eq 0 ]; then pass "lab down $P in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"; else fail "lab down" "$(cat "$FERRY_TMP/down.err")"; fi
if ! running "$spid" && { [ -z "$qpid" ] || ! running "$qpid"; }; then
	pass "down ended the spawned processes (sleep${qpid:+, qemu})"
else
	fail "down ends spawned processes"
fi
left=$(leftovers "$P")
if [ -z "$left" ]; then pass "no namespace, interface, state or directory with prefix $P remains"; else fail "nothing of $P remains" "$left"; fi
if [ "$(root_links)" = "$before" ]; then pass "the root namespace's interfaces are as before"; else fail "root namespace as before" "$(root_links)"; fi
if [ ! -d "$LAB_TMP" ]; then pass "shared storage directory removed"; else fail "shared storage removed"; fi

finish integration-lab
