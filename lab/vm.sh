# vm.sh - VMs in the lab: start a ferry-vm on a host, live-migrate it to another, stop it.
# Sourced by lab/vm (the command line), the tests and the demo; needs lab/lib.sh.
#
#   vm_start P NAME HOST [--memory 256M] [--cpus 1] [--work LIST] [--index N] [--disk-size 64M]
#            [--append ARGS] [--no-initrd] [--root IMAGE]
#       --no-initrd   the kernel mounts its root from the disk
#       --root IMAGE  a second disk, a copy of IMAGE (the Debian guest's ext4 root file system,
#                     guest/debian.sh), is the root (/dev/vdb); the first stays the VM's own
#                     disk (/dev/vda: the disk log's, and the lease's)
#   vm_migrate P NAME TO [--links a|b|ab] [--downtime MS] [--bandwidth BYTES/S] [--channels N]
#   vm_quick_migrate P NAME TO  quick migration: save to shared storage (releasing the disk),
#                               restore on TO
#   vm_stop P NAME              quit it (and its TAP)
#   vm_ctl P NAME ARGS...       ferry-vmctl on the VM's current control socket
#   vm_var P NAME KEY           a recorded fact: host, gen, mac, ip, sock, console, journal, ...
#   vm_debian_image             the Debian guest's root file system image, built if missing
#
# A VM's facts live in $LAB_DIR/vms/NAME (one file per key). Each ferry-vm process of a
# VM is a generation (gen 1 on the first host, gen 2 after the first move, ...); its control
# socket, console log and journal are named after the generation, so the journals of every
# process that ever ran the VM stay side by side for the overlap check. The disk image and
# its lease live on the lab's shared storage.

FERRY_ROOT=${FERRY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
FERRY_VM=${FERRY_VM:-$FERRY_ROOT/build/bin/ferry-vm}
FERRY_VMCTL=${FERRY_VMCTL:-$FERRY_ROOT/build/bin/ferry-vmctl}
FERRY_GUEST=${FERRY_GUEST:-$FERRY_ROOT/build/guest}
# shellcheck source=lib.sh
source "$FERRY_ROOT/lab/lib.sh"

_vm_dir() { # P NAME
	lab_load "$1" || return 1
	echo "$LAB_DIR/vms/$2"
}

vm_var() { # P NAME KEY
	local d
	d=$(_vm_dir "$1" "$2") || return 1
	cat "$d/$3" 2>/dev/null
}

_vm_set() { # P NAME KEY VALUE
	local d
	d=$(_vm_dir "$1" "$2") || return 1
	mkdir -p "$d" && printf '%s\n' "$4" >"$d/$3"
}

vm_ctl() { # P NAME ARGS...
	local p=$1 name=$2 sock
	shift 2
	sock=$(vm_var "$p" "$name" sock) || return 1
	"$FERRY_VMCTL" "$sock" "$@"
}

# Wait until a control socket answers (the process may still be starting).
_vm_wait_ctl() { # SOCK PID
	local i
	for i in $(seq 1 200); do
		[ -S "$1" ] && "$FERRY_VMCTL" --timeout 1 "$1" status >/dev/null 2>&1 && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# The Debian guest's root file system (guest/debian.sh, docs/guest.md); FERRY_DEBIAN names
# another image. Built on first use (the packages from the cache, or fetched once).
vm_debian_image() {
	local img=${FERRY_DEBIAN:-$FERRY_GUEST/debian/debian.ext4}
	[ -f "$img" ] || "$FERRY_ROOT/guest/debian.sh" --guest "$FERRY_GUEST" "$(dirname "$img")" >&2 || return 1
	echo "$img"
}

# ferry-vm's --disk options for a VM, one word a line (for mapfile): its own disk, then its
# root disk if it has one (vm_start --root).
_vm_disk_args() { # P NAME
	local r
	printf -- '--disk\n%s\n' "$(vm_var "$1" "$2" disk)"
	r=$(vm_var "$1" "$2" root)
	[ -z "$r" ] || printf -- '--disk\n%s\n' "$r"
}

# The name of a VM's TAP on a host: short, unique within the run.
_vm_tap() { # P NAME GEN
	echo "$1-$(echo "$2" | cut -c1-6)$3"
}

vm_start() { # P NAME HOST [options]
	local p=$1 name=$2 host=$3 mem=256M cpus=1 work=idle index=1 dsize=64M extra="" d gen sock tap pid
	local root="" rootimg=""
	local initrd=(--initrd "$FERRY_GUEST/initramfs.cpio")
	shift 3
	while [ $# -gt 0 ]; do
		case $1 in
		--memory) mem=$2; shift 2 ;;
		--cpus) cpus=$2; shift 2 ;;
		--work) work=$2; shift 2 ;;
		--index) index=$2; shift 2 ;;
		--disk-size) dsize=$2; shift 2 ;;
		--append) extra=$2; shift 2 ;;
		--no-initrd) initrd=(); shift ;; # the root is the disk (the Debian guest)
		--root) rootimg=$2; initrd=(); shift 2 ;;
		*) echo "vm_start: unknown option $1" >&2; return 2 ;;
		esac
	done
	lab_load "$p" || return 1
	d=$LAB_DIR/vms/$name
	if [ -e "$d/host" ]; then
		echo "vm_start: VM $name exists in run $p" >&2
		return 1
	fi
	mkdir -p "$d"
	# A VM started again (after vm_stop) gets the next generation: its logs stay apart.
	gen=$(($(cat "$d/gen" 2>/dev/null || echo 0) + 1))
	local ip mac disk
	ip=$(lab_vm_addr "$index")
	mac=$(lab_vm_mac "$index")
	disk=$LAB_SHARED/$name.img
	[ -e "$disk" ] || truncate -s "$dsize" "$disk"
	if [ -n "$rootimg" ]; then
		root=$LAB_SHARED/$name.root.img
		[ -e "$root" ] || cp --sparse=always "$rootimg" "$root" || return 1
		extra="root=/dev/vdb rw $extra"
	fi
	tap=$(_vm_tap "$p" "$name" "$gen")
	lab_tap "$p" "$host" "$tap" || return 1
	sock=$LAB_DIR/vms/$name/ctl.$gen.sock
	for kv in "host=$host" "gen=$gen" "mem=$mem" "cpus=$cpus" "ip=$ip" "mac=$mac" "disk=$disk" "tap=$tap" \
		"sock=$sock" "console=$d/console.$gen.log" "journal=$d/journal.$gen" "work=$work" "root=$root"; do
		_vm_set "$p" "$name" "${kv%%=*}" "${kv#*=}"
	done
	local -a disks
	mapfile -t disks < <(_vm_disk_args "$p" "$name")
	pid=$(lab_spawn "$p" "$host" "$d/console.$gen.log" env FERRY_LOG=${FERRY_VM_LOG:-warn} "$FERRY_VM" --kernel "$FERRY_GUEST/Image" \
		"${initrd[@]}" --memory "$mem" --cpus "$cpus" --net "tap:$tap,mac=$mac" \
		"${disks[@]}" --control "unix:$sock" --journal "$d/journal.$gen" \
		--name "$name.$gen" --append "console=ttyS0 quiet ip=$ip:::255.255.255.0::eth0:off ferry.work=$work $extra")
	_vm_set "$p" "$name" pid "$pid"
	_vm_wait_ctl "$sock" "$pid" || { echo "vm_start: $name did not start (see $d/console.$gen.log)" >&2; return 1; }
}

# The VM now runs as generation GEN on host TO: record its new process.
_vm_moved() { # P NAME TO GEN TAP SOCK PID
	local d=$LAB_DIR/vms/$2 kv
	for kv in "host=$3" "gen=$4" "tap=$5" "sock=$6" "console=$d/console.$4.log" \
		"journal=$d/journal.$4" "pid=$7"; do
		_vm_set "$1" "$2" "${kv%%=*}" "${kv#*=}"
	done
}

# Move a VM to another host: start the destination there, migrate, clean up the source's TAP.
# Prints the source's final migration status (JSON) on stdout; non-zero if it did not complete.
vm_migrate() { # P NAME TO [options]
	local p=$1 name=$2 to=$3 links=ab opts='{}' from gen ngen tap ntap sock nsock pid token addrs="" l
	shift 3
	while [ $# -gt 0 ]; do
		case $1 in
		--links) links=$2; shift 2 ;;
		--downtime | --bandwidth | --channels)
			local key
			case $1 in --downtime) key=downtime_ms ;; --bandwidth) key=bandwidth ;; *) key=channels ;; esac
			opts=$(jq -c --arg k "$key" --argjson v "$2" \
				'.[$k] = ($v | if type == "number" then . else error end)' <<<"$opts" 2>/dev/null) ||
				{ echo "vm_migrate: $1 needs a number, not '$2'" >&2; return 2; }
			shift 2
			;;
		*) echo "vm_migrate: unknown option $1" >&2; return 2 ;;
		esac
	done
	lab_load "$p" || return 1
	local d=$LAB_DIR/vms/$name
	from=$(vm_var "$p" "$name" host) || return 1
	if [ "$from" = "$to" ]; then
		echo "vm_migrate: $name is already on $to" >&2
		return 1
	fi
	gen=$(vm_var "$p" "$name" gen)
	ngen=$((gen + 1))
	tap=$(vm_var "$p" "$name" tap)
	ntap=$(_vm_tap "$p" "$name" "$ngen")
	sock=$(vm_var "$p" "$name" sock)
	nsock=$d/ctl.$ngen.sock
	token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
	for l in $(echo "$links" | grep -o .); do
		addrs="$addrs${addrs:+,}$(lab_addr "$p" "$to" mig "$from" "$l"):4444"
	done
	lab_tap "$p" "$to" "$ntap" || return 1
	# The token never goes on a command line (any local user can read those): the destination
	# reads it from descriptor 3, the source gets it on ferry-vmctl's standard input.
	local -a disks
	mapfile -t disks < <(_vm_disk_args "$p" "$name")
	pid=$(lab_spawn "$p" "$to" "$d/console.$ngen.log" "$FERRY_VM" --incoming "$addrs" --token-fd 3 \
		--memory "$(vm_var "$p" "$name" mem)" --cpus "$(vm_var "$p" "$name" cpus 2>/dev/null || echo 1)" \
		--net "tap:$ntap,mac=$(vm_var "$p" "$name" mac)" \
		"${disks[@]}" --control "unix:$nsock" \
		--journal "$d/journal.$ngen" --name "$name.$ngen" 3<<<"$token")
	if ! _vm_wait_ctl "$nsock" "$pid"; then
		echo "vm_migrate: the destination did not start (see $d/console.$ngen.log)" >&2
		lab_untap "$p" "$to" "$ntap"
		return 1
	fi
	local args out rc
	args=$(jq -c --arg a "$addrs" --arg t "$token" '{addresses: ($a | split(",")), token: $t, wait: true} + .' \
		<<<"$opts")
	# The arguments, token and all, go on standard input: never on a command line.
	out=$("$FERRY_VMCTL" --timeout 600 "$sock" migrate - <<<"$args")
	rc=$?
	echo "$out"
	if [ $rc -eq 0 ] && jq -e '.return.phase == "completed"' <<<"$out" >/dev/null 2>&1; then
		_vm_moved "$p" "$name" "$to" "$ngen" "$ntap" "$nsock" "$pid"
		lab_untap "$p" "$from" "$tap" 2>/dev/null
		return 0
	fi
	# Failed: the VM runs on the source; the destination exits on its own.
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	lab_untap "$p" "$to" "$ntap" 2>/dev/null
	return 1
}

# Quick migration: the VM is paused and saved to the shared storage, hands its disk and lease
# over and its process ends; a ferry-vm restored from the file on TO takes the lease and
# resumes it. Prints the save's reply; non-zero if either step failed (if the save failed the
# VM runs on where it was).
vm_quick_migrate() { # P NAME TO
	local p=$1 name=$2 to=$3 from gen ngen tap ntap sock nsock pid opid out d file
	lab_load "$p" || return 1
	d=$LAB_DIR/vms/$name
	from=$(vm_var "$p" "$name" host) || return 1
	[ "$from" != "$to" ] || { echo "vm_quick_migrate: $name is already on $to" >&2; return 1; }
	gen=$(vm_var "$p" "$name" gen)
	ngen=$((gen + 1))
	tap=$(vm_var "$p" "$name" tap)
	ntap=$(_vm_tap "$p" "$name" "$ngen")
	sock=$(vm_var "$p" "$name" sock)
	nsock=$d/ctl.$ngen.sock
	opid=$(vm_var "$p" "$name" pid)
	file=$LAB_SHARED/$name.save
	out=$("$FERRY_VMCTL" --timeout 600 "$sock" save "$(jq -nc --arg f "$file" '{file: $f, release: true}')") || {
		echo "$out"
		return 1
	}
	echo "$out"
	for _ in $(seq 1 100); do kill -0 "$opid" 2>/dev/null || break; sleep 0.05; done
	lab_untap "$p" "$from" "$tap" 2>/dev/null
	lab_tap "$p" "$to" "$ntap" || return 1
	local -a disks initrd=(--initrd "$FERRY_GUEST/initramfs.cpio")
	mapfile -t disks < <(_vm_disk_args "$p" "$name")
	[ -z "$(vm_var "$p" "$name" root)" ] || initrd=() # its root is a disk (vm_start --root)
	pid=$(lab_spawn "$p" "$to" "$d/console.$ngen.log" env FERRY_LOG=${FERRY_VM_LOG:-warn} "$FERRY_VM" \
		--restore "$file" --kernel "$FERRY_GUEST/Image" "${initrd[@]}" \
		--net "tap:$ntap,mac=$(vm_var "$p" "$name" mac)" "${disks[@]}" --control "unix:$nsock" \
		--journal "$d/journal.$ngen" --name "$name.$ngen")
	if ! _vm_wait_ctl "$nsock" "$pid"; then
		echo "vm_quick_migrate: the restore on $to failed (see $d/console.$ngen.log)" >&2
		lab_untap "$p" "$to" "$ntap"
		return 1
	fi
	_vm_moved "$p" "$name" "$to" "$ngen" "$ntap" "$nsock" "$pid"
}

# The guest's workload list for a test's workload name: idle alone, all of them, or one
# beside idle (ferry.work, docs/guest.md).
vm_workload() { # idle | all | smp4 | debian4 | dirty:64M:20M | counter | disklog ...
	case $1 in
	idle) echo idle ;;
	all) echo "idle,dirty:64M:20M,counter,disklog" ;;
	smp4 | debian4) echo "idle,fp:each,counter,disklog" ;; # on 4 harts (vm_cpus); debian4 on
	# the Debian guest (vm_start --root)
	*) echo "idle,$1" ;;
	esac
}

# The harts a test's workload runs on: 4 for smp4 and debian4, else 1.
vm_cpus() { # WORKLOAD
	case $1 in
	smp4 | debian4) echo 4 ;;
	*) echo 1 ;;
	esac
}
# What the tests and benchmarks check of a guest and its processes.
vm_heartbeats() { grep -c '^ferry-work: heartbeat' "$1" 2>/dev/null; } # CONSOLE: how many
vm_last_uptime() { sed -n 's/^ferry-work: heartbeat [0-9]* uptime=\([0-9.]*\).*/\1/p' "$1" | tail -1; }
vm_first_uptime() { sed -n 's/^ferry-work: heartbeat [0-9]* uptime=\([0-9.]*\).*/\1/p' "$1" | head -1; }
# Lines that mean the guest is not healthy: kernel warnings, the workloads' own alarms.
vm_bad_lines() { grep -E 'WARNING:|BUG:|Oops|Kernel panic|MISMATCH|BADRECORD|GAP|Unable to handle' "$@" 2>/dev/null; }

# The run intervals (RUN to PAUSE/STOP) journalled by every process in the files never
# overlap: at most one copy of the VM ever ran. Prints the first overlap and fails if not.
vm_journals_disjoint() { # JOURNAL...
	# (POSIX awk: a process still running at the end of its journal runs "for ever".)
	awk '
		FNR == 1 && NR > 1 && running { print start, "9999999999999999999" }
		FNR == 1 { running = 0 }
		$3 == "RUN" { start = $1; running = 1; next }
		($3 == "PAUSE" || $3 == "STOP") && running { print start, $1; running = 0; next }
		END { if (running) print start, "9999999999999999999" }
	' "$@" | sort -n | awk 'NR > 1 && $1 < prev_end { bad = 1; print "overlap:", $0, "previous end", prev_end }
		{ if ($2 > prev_end) prev_end = $2 } END { exit bad }'
}

vm_stop() { # P NAME
	local p=$1 name=$2 pid
	pid=$(vm_var "$p" "$name" pid)
	vm_ctl "$p" "$name" quit >/dev/null 2>&1
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	lab_untap "$p" "$(vm_var "$p" "$name" host)" "$(vm_var "$p" "$name" tap)" 2>/dev/null
	rm -f "$(_vm_dir "$p" "$name")/host"
}
