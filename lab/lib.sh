# lib.sh - the Ferry lab as bash functions: a cluster of hypervisor hosts in network
# shellcheck shell=bash disable=SC2034
# namespaces on one machine (docs/lab.md). Source it from bash; run as root.
#
#   P=$(lab_up --hosts 3 [--rate 100mbit] [--prefix P])   build a run, print its prefix
#   trap lab_down EXIT                      tear down every run this shell owns
#   lab_down [P...] / lab_status [P] / lab_sweep
#   lab_exec P HOST CMD...                  run CMD in HOST's namespace (vh01.., client, admin, sw)
#   lab_spawn P HOST LOG CMD...             start CMD there in the background; sets LAB_PID,
#                                           prints it; lab_down ends it
#   lab_tap P HOST NAME / lab_untap P HOST NAME
#   lab_addr P HOST vm|mgmt                 HOST's address on the VMs' or management network
#   lab_addr P HOST mig PEER [a|b]          HOST's end of migration link a (or b) to PEER
#   lab_ifname P HOST vm|mgmt|mig [PEER [a|b]]   the interface carrying that address
#   lab_ns P HOST                           the namespace's name
#   lab_vm_addr N / lab_vm_mac N            a VM's static address (N = 0..99) and a MAC
#   lab_load P                              load the run's facts (LAB_* variables)
#   lab_link P A B a|b up|down|rate RATE    cut, restore or reshape one migration link
#   lab_measure P FROM TO LINKS [SECONDS]   TCP throughput FROM -> TO over links a, b or ab
#
# The functions never change the caller's shell options. The heavy operations (up, down,
# status, sweep, link, measure) run in a child process (lab/lab), so their error handling
# does not depend on the caller's `set -e`.

FERRY_LAB_HOME=${FERRY_LAB_HOME:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
FERRY_LAB_STATE=${FERRY_LAB_STATE:-/run/ferry-lab}

# Addressing plan (the same in every run: every address lives only inside the run's
# namespaces, so parallel runs reuse it).
LAB_VM_NET=10.10.0.0/24
LAB_VM_MASK=255.255.255.0
LAB_VM_FIRST=10.10.0.100
LAB_VM_LAST=10.10.0.199
LAB_CLIENT_ADDR=10.10.0.2
LAB_ADMIN_ADDR=10.20.0.2
LAB_MGMT_NET=10.20.0.0/24
LAB_MIG_NET_a=10.31.0.0/16
LAB_MIG_NET_b=10.32.0.0/16
LAB_MAX_HOSTS=16

_lab_err() { echo "lab: $*" >&2; }

_lab_valid_prefix() { [[ ${1:-} =~ ^[a-z][a-z0-9]{1,5}$ ]]; }

# _lab_hostidx vh01 -> 1; fails for anything that is not a host name.
_lab_hostidx() {
	[[ ${1:-} =~ ^vh([0-9]{2})$ ]] || return 1
	local i=$((10#${BASH_REMATCH[1]}))
	[ "$i" -ge 1 ] && [ "$i" -le "$LAB_MAX_HOSTS" ] || return 1
	echo "$i"
}

_lab_hostname() { printf 'vh%02d' "$1"; }

_lab_valid_node() { # HOST: vhNN, client or sw
	case ${1:-} in
	client | admin | sw) return 0 ;;
	esac
	_lab_hostidx "$1" >/dev/null
}

lab_ns() { # P HOST
	if [ $# -ne 2 ] || ! _lab_valid_prefix "$1" || ! _lab_valid_node "$2"; then
		_lab_err "usage: lab_ns P HOST (P: 2-6 of [a-z0-9], HOST: vh01.., client, admin, sw)"
		return 2
	fi
	echo "ferry-$1-$2"
}

_lab_rundir() { # P: the run's state directory (must exist)
	if ! _lab_valid_prefix "${1:-}"; then
		_lab_err "bad prefix '${1:-}'"
		return 2
	fi
	if [ ! -f "$FERRY_LAB_STATE/$1/env" ]; then
		_lab_err "no lab run '$1' (no $FERRY_LAB_STATE/$1/env)"
		return 1
	fi
	echo "$FERRY_LAB_STATE/$1"
}

# _lab_has_host P HOST: HOST is a node of run P.
_lab_has_host() {
	local dir
	dir=$(_lab_rundir "$1") || return 1
	case $2 in
	client | admin | sw) return 0 ;;
	esac
	local hosts
	hosts=$(source "$dir/env" && echo "$LAB_HOSTS")
	case " $hosts " in
	*" $2 "*) return 0 ;;
	esac
	_lab_err "run $1 has no host '$2' (hosts: $hosts)"
	return 1
}

lab_addr() { # P HOST vm|mgmt   or   P HOST mig PEER [a|b]
	local p=${1:-} host=${2:-} net=${3:-} i j
	_lab_valid_prefix "$p" || { _lab_err "lab_addr: bad prefix '$p'"; return 2; }
	if [ -f "$FERRY_LAB_STATE/$p/env" ]; then
		_lab_has_host "$p" "$host" || return 1
		[ "$net" != mig ] || _lab_has_host "$p" "${4:-}" || return 1
	fi
	case $net in
	vm)
		if [ "$host" = client ]; then
			echo "$LAB_CLIENT_ADDR"
			return 0
		fi
		i=$(_lab_hostidx "$host") || { _lab_err "lab_addr: no VM-network address for '$host'"; return 1; }
		echo "10.10.0.$((10 + i))"
		;;
	mgmt)
		if [ "$host" = admin ]; then
			echo "$LAB_ADMIN_ADDR"
			return 0
		fi
		i=$(_lab_hostidx "$host") || { _lab_err "lab_addr: no management address for '$host'"; return 1; }
		echo "10.20.0.$((10 + i))"
		;;
	mig)
		local peer=${4:-} link=${5:-a}
		i=$(_lab_hostidx "$host") || { _lab_err "lab_addr: '$host' is not a host"; return 1; }
		j=$(_lab_hostidx "$peer") || { _lab_err "lab_addr: '$peer' is not a host"; return 1; }
		if [ "$i" -eq "$j" ]; then
			_lab_err "lab_addr: no migration link from $host to itself"
			return 1
		fi
		case $link in
		a) echo "10.31.$i.$j" ;;
		b) echo "10.32.$i.$j" ;;
		*) _lab_err "lab_addr: link is a or b, not '$link'"; return 1 ;;
		esac
		;;
	*)
		_lab_err "usage: lab_addr P HOST vm|mgmt  |  lab_addr P HOST mig PEER [a|b]"
		return 2
		;;
	esac
}

lab_ifname() { # P HOST vm|mgmt|mig [PEER [a|b]]
	local p=${1:-} host=${2:-} net=${3:-}
	_lab_valid_prefix "$p" || { _lab_err "bad prefix '$p'"; return 2; }
	case $net in
	vm)
		if [ "$host" = client ]; then echo "$p-eth0"; else echo "$p-br0"; fi
		;;
	mgmt) echo "$p-mgmt" ;;
	mig)
		local j link=${5:-a}
		j=$(_lab_hostidx "${4:-}") || { _lab_err "lab_ifname: '${4:-}' is not a host"; return 1; }
		case $link in a | b) ;; *) _lab_err "lab_ifname: link is a or b"; return 1 ;; esac
		printf '%s-%s%02d\n' "$p" "$link" "$j"
		;;
	*)
		_lab_err "usage: lab_ifname P HOST vm|mgmt|mig [PEER [a|b]]"
		return 2
		;;
	esac
}

lab_vm_addr() { # N (0..99): a VM's static address on the VMs' network
	if ! [[ ${1:-} =~ ^[0-9]{1,2}$ ]]; then
		_lab_err "lab_vm_addr: N is 0..99"
		return 2
	fi
	echo "10.10.0.$((100 + 10#$1))"
}

lab_vm_mac() { # N (0..255): a locally administered MAC for VM N
	if ! [[ ${1:-} =~ ^[0-9]{1,3}$ ]] || [ "$((10#$1))" -gt 255 ]; then
		_lab_err "lab_vm_mac: N is 0..255"
		return 2
	fi
	printf '52:54:00:10:00:%02x\n' "$((10#$1))"
}

lab_load() { # P: define the run's LAB_* variables in the calling shell
	local dir
	dir=$(_lab_rundir "${1:-}") || return 1
	# shellcheck disable=SC1091
	source "$dir/env"
}

lab_exec() { # P HOST CMD...
	if [ $# -lt 3 ]; then
		_lab_err "usage: lab_exec P HOST CMD..."
		return 2
	fi
	local ns
	ns=$(lab_ns "$1" "$2") || return 2
	_lab_has_host "$1" "$2" || return 1
	shift 2
	ip netns exec "$ns" "$@"
}

# Start time of a process (clock ticks since boot, field 22 of /proc/PID/stat), to tell it
# from a later process that reuses its PID; empty if the process is gone or a zombie.
_lab_starttime() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	[ "$1" != Z ] || return 1
	echo "${20}"
}

# _lab_alive PID START: the process that had START is still running (not a zombie).
_lab_alive() {
	local st
	st=$(_lab_starttime "$1") || return 1
	[ "$st" = "$2" ]
}

lab_spawn() { # P HOST LOG CMD...
	if [ $# -lt 4 ]; then
		_lab_err "usage: lab_spawn P HOST LOGFILE CMD..."
		return 2
	fi
	local p=$1 host=$2 log=$3 ns dir st
	ns=$(lab_ns "$p" "$host") || return 2
	dir=$(_lab_rundir "$p") || return 1
	_lab_has_host "$p" "$host" || return 1
	shift 3
	case $log in /*) ;; *) log=$PWD/$log ;; esac
	: >>"$log" || { _lab_err "lab_spawn: cannot write $log"; return 1; }
	ip netns exec "$ns" "$@" </dev/null >>"$log" 2>&1 &
	LAB_PID=$!
	st=$(_lab_starttime "$LAB_PID") || st=-
	printf '%s %s %s %s %s\n' "$LAB_PID" "$st" "$host" "$(printf '%q' "$log")" "$(printf '%q ' "$@")" \
		>>"$dir/procs"
	echo "$LAB_PID"
}

lab_tap() { # P HOST NAME
	if [ $# -ne 3 ]; then
		_lab_err "usage: lab_tap P HOST NAME"
		return 2
	fi
	local p=$1 host=$2 name=$3 ns
	_lab_hostidx "$host" >/dev/null || { _lab_err "lab_tap: '$host' is not a host (vh01..)"; return 2; }
	ns=$(lab_ns "$p" "$host") || return 2
	_lab_has_host "$p" "$host" || return 1
	if ! [[ $name =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$ ]]; then
		_lab_err "lab_tap: TAP name '$name': 1-15 of [A-Za-z0-9_.-]"
		return 2
	fi
	ip -n "$ns" tuntap add dev "$name" mode tap || return 1
	if ! ip -n "$ns" link set dev "$name" master "$p-br0" up; then
		ip -n "$ns" link del dev "$name" 2>/dev/null
		return 1
	fi
}

lab_untap() { # P HOST NAME
	if [ $# -ne 3 ]; then
		_lab_err "usage: lab_untap P HOST NAME"
		return 2
	fi
	local ns
	ns=$(lab_ns "$1" "$2") || return 2
	_lab_has_host "$1" "$2" || return 1
	ip -n "$ns" link del dev "$3"
}

# The heavy operations run in a child process.
lab_up() { # [--hosts N] [--rate RATE] [--prefix P] [--owner PID]
	local p
	p=$(bash "$FERRY_LAB_HOME/lab" up --owner "$$" "$@") || return 1
	LAB_PREFIX=$p
	lab_load "$p" || return 1
	echo "$p"
}

lab_down() { # [P...]: those runs; none: every run this shell ($$) owns
	if [ $# -eq 0 ]; then
		bash "$FERRY_LAB_HOME/lab" down --owner "$$"
	else
		bash "$FERRY_LAB_HOME/lab" down "$@"
	fi
}

lab_status() { bash "$FERRY_LAB_HOME/lab" status "$@"; }
lab_sweep() { bash "$FERRY_LAB_HOME/lab" sweep "$@"; }
lab_link() { bash "$FERRY_LAB_HOME/lab" link "$@"; }
lab_measure() { bash "$FERRY_LAB_HOME/lab" measure "$@"; }
