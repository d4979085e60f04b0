#!/bin/bash
# fresh-check.sh - the README's set-up and build on a minimal Debian 12, from nothing.
#
# Usage: scripts/fresh-check.sh [--demo] [--keep]      (as root; takes many minutes)
#
# CI runs where the packages already are, so it cannot see a package missing from
# scripts/setup.sh. This builds a minimal Debian 12 (bookworm) root with mmdebstrap (variant
# minbase: the Essential packages and apt) in a temporary directory
# ${TMPDIR:-/tmp}/ferry-fresh.XXXXXX, from the Debian mirrors the host's own apt sources name
# (/etc/apt/sources.list, /etc/apt/sources.list.d/*.list and *.sources; only bookworm,
# bookworm-updates and bookworm-security, component main), copies the tracked files of this
# repository (as they are in the work tree) to /root/ferry in it, and runs there, in a chroot,
# as a root shell with a clean environment would, one step after the other:
#   setup   scripts/setup.sh
#   build   make -j$(nproc)
#   guest   guest/build.sh          (its kernel cache /var/cache/ferry starts empty)
#   check   make -j$(nproc) check
#   demo    scripts/demo.sh         (only with --demo: the lab, in network namespaces)
# It prints each step's result and time, stops at the first that fails and shows the end of
# its log (the logs are kept then, and the path printed). Exit status 0 if every step passed.
#
# The chroot runs in a mount and PID namespace of its own (unshare): /proc, /sys, /dev (bound
# from the host), a tmpfs on /run and the root itself (bound on itself, so that `ip netns exec`
# can make it a slave mount) are mounted there, unmounted in reverse order by a trap (also
# after a failure or Ctrl-C), and no process outlives it. The tree is removed only after
# /proc/self/mountinfo shows nothing mounted below it; if something is, it is left in place
# and named. --keep keeps the tree (unmounted) and prints its path.
#
# Not part of CI. Run it whenever set-up, packages or the build change.
set -euo pipefail

die() {
	echo "fresh-check: $*" >&2
	exit 2
}
say() { echo "fresh-check: $*"; }

# --- helpers shared by both halves -------------------------------------------------------

# Mount points at or below DIR, in the order they were mounted (mountinfo escapes
# space, tab, newline and backslash as octal; DIR never holds them: it is ours).
mounts_below() { # DIR
	awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo
}

# Unmount everything at or below DIR, the last mounted first. Returns 1 if anything stays.
unmount_below() { # DIR
	local -a mps
	local i
	mapfile -t mps < <(mounts_below "$1")
	for ((i = ${#mps[@]} - 1; i >= 0; i--)); do
		umount "${mps[$i]}" 2>/dev/null || umount "${mps[$i]}" || true
	done
	[ -z "$(mounts_below "$1")" ]
}

# --- the inner half: runs as PID 1 of a new PID namespace, in a new mount namespace --------

inner() { # WORK DEMO
	# Globals, not locals: the EXIT trap runs after this function has returned.
	work=$1 demo=$2 root=$1/root log=$1/log
	local -a steps=(setup build guest check)
	[ "$demo" = 1 ] && steps+=(demo)

	inner_cleanup() {
		local rc=$? pid st k left
		trap - EXIT INT TERM HUP
		set +e
		# Every other process in this PID namespace was started by this run: end each, by
		# its PID (TERM, then KILL after 5 s), so that nothing keeps a mount busy.
		for k in $(seq 60); do
			left=0
			for pid in /proc/[0-9]*; do
				pid=${pid#/proc/}
				[ "$pid" != 1 ] || continue
				st=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
				st=${st##*) }
				[ "${st%% *}" != Z ] || continue
				left=1
				if [ "$k" -eq 1 ]; then kill -TERM "$pid" 2>/dev/null; fi
				if [ "$k" -ge 50 ]; then kill -KILL "$pid" 2>/dev/null; fi
			done
			[ "$left" -eq 1 ] || break
			sleep 0.1
		done
		if ! unmount_below "$root"; then
			echo "fresh-check: still mounted below $root:" >&2
			mounts_below "$root" | sed 's/^/  /' >&2
			[ "$rc" -ne 0 ] || rc=3
		fi
		exit "$rc"
	}
	step=mounts
	trap inner_cleanup EXIT
	trap 'echo "fresh-check: interrupted during step $step"; exit 130' INT
	trap 'echo "fresh-check: terminated during step $step"; exit 143' TERM
	trap 'echo "fresh-check: hung up during step $step"; exit 129' HUP

	# The root bound on itself first (a mount point, as / is on a machine), then the rest.
	mount --bind "$root" "$root"
	mount -t proc proc "$root/proc"
	mount -t sysfs sysfs "$root/sys"
	mount --rbind /dev "$root/dev"
	mount --make-rslave "$root/dev"
	mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$root/run"
	mkdir -p "$root/run/lock"

	local cmd t0 t1 rc
	for step in "${steps[@]}"; do
		case $step in
		setup) cmd='scripts/setup.sh' ;;
		build) cmd='make -j"$(nproc)"' ;;
		guest)
			if [ -n "$(ls -A "$root/var/cache/ferry" 2>/dev/null)" ]; then
				echo "fresh-check: step guest: /var/cache/ferry is not empty before the first build" >&2
				exit 1
			fi
			cmd='guest/build.sh'
			;;
		check) cmd='make -j"$(nproc)" check' ;;
		demo) cmd='scripts/demo.sh' ;;
		esac
		echo "fresh-check: step $step: $cmd"
		t0=$(date +%s)
		rc=0
		chroot "$root" /usr/bin/env -i HOME=/root USER=root LOGNAME=root SHELL=/bin/bash \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			/bin/bash -c "cd /root/ferry && $cmd" </dev/null >"$log/$step.log" 2>&1 || rc=$?
		t1=$(date +%s)
		if [ "$rc" -ne 0 ]; then
			echo "fresh-check: step $step FAILED (exit $rc, $((t1 - t0)) s); the end of its log:"
			tail -n 40 "$log/$step.log" | sed 's/^/  | /'
			echo "$step" >"$log/FAILED"
			exit 1
		fi
		echo "fresh-check: step $step ok ($((t1 - t0)) s)"
		[ "$step" != demo ] || sed -n '/^== /,$p' "$log/demo.log" | sed 's/^/  | /'
	done
}

if [ "${1:-}" = --inner ]; then
	inner "$2" "$3"
	exit 0
fi

# --- the outer half: on the host ---------------------------------------------------------

demo=0 keep=0
for a in "$@"; do
	case $a in
	--demo) demo=1 ;;
	--keep) keep=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument '$a' (try --help)" ;;
	esac
done
[ "$(id -u)" -eq 0 ] || die "run as root (it builds a Debian root and chroots into it)"
self=$(readlink -f "$0")
repo=$(cd "$(dirname "$self")/.." && pwd)
command -v git >/dev/null || die "git is needed to list the repository's files"
git -C "$repo" rev-parse --git-dir >/dev/null 2>&1 || die "$repo is not a git checkout"
if ! command -v mmdebstrap >/dev/null; then
	say "installing mmdebstrap"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mmdebstrap >&2 ||
		die "cannot install mmdebstrap"
fi

# The host's Debian 12 sources, as one-line entries "deb URI SUITE main" (deb822 .sources
# and one-line .list files; disabled entries, deb-src, and suites other than bookworm's own
# are left out, so a third-party repository never comes in).
. "$repo/scripts/apt-sources.sh" # host_sources: "URI SUITE SIGNED-BY" per deb entry of main
mapfile -t mirrors < <(host_sources | awk '$2 ~ /^bookworm(-updates|-security)?$/ { print "deb " $1 " " $2 " main" }' | awk '!seen[$0]++')
[ ${#mirrors[@]} -gt 0 ] || die "no Debian bookworm entry (component main) in the host's apt sources"

t_start=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-fresh.XXXXXX")
[[ $work =~ ^/[A-Za-z0-9/._-]+$ ]] || die "unexpected characters in the temporary directory's name: $work"
root=$work/root
mkdir "$work/log"

outer_cleanup() {
	local rc=$? left
	trap - EXIT INT TERM HUP
	set +e
	# Anything mounted below the tree in this namespace (mmdebstrap interrupted, say): unmount
	# it, the last first; if anything stays, never remove the tree.
	if ! unmount_below "$work"; then
		echo "fresh-check: NOT removing $work: still mounted below it:" >&2
		mounts_below "$work" | sed 's/^/  /' >&2
		exit 3
	fi
	left=$(for p in /proc/[0-9]*; do
		r=$(readlink "$p/root" 2>/dev/null) || continue
		case $r in "$root" | "$root"/*) echo "${p#/proc/}" ;; esac
	done)
	if [ -n "$left" ]; then
		echo "fresh-check: NOT removing $work: processes still run in it: $left" >&2
		exit 3
	fi
	if [ -f "$work/log/FAILED" ] || [ "$rc" -ne 0 ]; then
		local keep_log
		keep_log=$(mktemp -d "${TMPDIR:-/tmp}/ferry-fresh-logs.XXXXXX")
		cp -a "$work/log/." "$keep_log/"
		echo "fresh-check: logs kept in $keep_log" >&2
	fi
	if [ "$keep" -eq 1 ]; then
		echo "fresh-check: tree kept in $root (nothing is mounted below it)" >&2
	else
		rm -rf --one-file-system "$work"
	fi
	local t=$(($(date +%s) - t_start))
	if [ "$rc" -eq 0 ]; then
		say "PASSED in $((t / 60)) min $((t % 60)) s"
	else
		say "FAILED (exit $rc) after $((t / 60)) min $((t % 60)) s"
	fi
	exit "$rc"
}
trap outer_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

say "minimal Debian 12 root in $root (mmdebstrap, variant minbase) from the host's sources:"
printf '  %s\n' "${mirrors[@]}"
t0=$(date +%s)
if ! unshare --mount --propagation private mmdebstrap --mode=root --variant=minbase \
	bookworm "$root" "${mirrors[@]}" >"$work/log/mmdebstrap.log" 2>&1; then
	echo "fresh-check: step debootstrap FAILED; the end of its log:"
	tail -n 40 "$work/log/mmdebstrap.log" | sed 's/^/  | /'
	echo mmdebstrap >"$work/log/FAILED"
	exit 1
fi
say "step root ok ($(($(date +%s) - t0)) s, $(du -sm "$root" | cut -f1) MiB)"
[ -s "$root/etc/resolv.conf" ] || cp /etc/resolv.conf "$root/etc/resolv.conf"

# The tracked files as they are in the work tree (uncommitted edits included), and the
# version the build would name here: there is no .git in the copy.
dst=$root/root/ferry
mkdir -p "$dst"
git -C "$repo" ls-files -z | (cd "$repo" && while IFS= read -r -d '' f; do
	[ -e "$f" ] || [ -L "$f" ] && printf '%s\0' "$f"
done) | tar -C "$repo" --null --no-recursion -T - -cf - | tar -C "$dst" -xf -
git -C "$repo" describe --always --dirty >"$dst/VERSION"
say "copied $(git -C "$repo" ls-files | wc -l) tracked files to /root/ferry (version $(cat "$dst/VERSION"))"

unshare --mount --pid --fork --mount-proc --propagation private -- \
	bash "$self" --inner "$work" "$demo"
