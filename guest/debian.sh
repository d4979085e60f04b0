#!/bin/bash
# debian.sh - the Debian guest: an ext4 root file system of stock Debian riscv64 packages, for
# a virtio-blk disk, with Ferry's init and guest programs.
#
# Usage: guest/debian.sh [OPTIONS] [OUTDIR]          (default OUTDIR: build/guest/debian)
#        guest/debian.sh [--packages FILE] [--lock FILE] --update-lock
#
#   --packages FILE  the packages the image is made of, one a line, with all they depend on
#                    (default guest/debian/packages); read only by --update-lock, and checked
#                    against the lock at every build
#   --lock FILE      the pinned set: every package of the image with its version and the
#                    SHA-256 of its .deb (default guest/debian.lock)
#   --overlay DIR    files copied on top of the tree last (as they are: modes, links)
#   --size SIZE      the image's size, bytes with a K, M or G suffix (default 128M)
#   --guest DIR      Ferry's guest programs (default build/guest: guest/build.sh's bin/)
#   --update-lock    resolve the packages' dependencies against the archive's current index
#                    (guest/debian-fetch.sh --update --deps) and rewrite the lock
#
# A build fetches exactly the lock's versions (guest/debian-fetch.sh --lock: from the cache
# under $FERRY_CACHE/debian if the .deb there has the lock's hash, else apt-get download
# PACKAGE=VERSION, checked against the signed index and the lock) and unpacks them with
# dpkg-deb -x; nothing is configured and no maintainer script runs. Then the tree gets
#   - merged /usr: /bin, /sbin and /lib are links to usr/bin, usr/sbin, usr/lib;
#   - /usr/bin/ash -> busybox (busybox's shell: `ferry.run=ash` or `init=/bin/ash` on the
#     kernel command line; /bin/sh is dash, as its package makes it);
#   - Ferry's init as /usr/sbin/init (so /sbin/init, what the kernel runs) and the other
#     programs of guest/build.sh in /usr/bin, where init's `ferry.run=NAME` finds them;
#   - /usr/bin/ferry-check (guest/debian/ferry-check) and /etc/ferry/fp.awk (from
#     guest/busybox): the self-test tests/integration/debian.sh runs;
#   - /etc/passwd and /etc/group with root alone, /etc/hostname, the mount points, and
#     /usr/share/ferry/debian.manifest (what was unpacked).
# mke2fs -t ext4 -d makes the image from the tree, with guest/debian/mke2fs.conf alone, the
# time fixed (E2FSPROGS_FAKE_TIME), the UUID and directory hash seed derived from the lock;
# every inode gets that time and owner root (debugfs: mke2fs copies ctime and atime from the
# tree), so the same lock, programs and options give the same bytes. e2fsck -fn checks it.
#
# Writes OUTDIR/debian.ext4, OUTDIR/debian/ (debian-fetch.sh's root/ and manifest),
# OUTDIR/tree/ (the file system's contents) and OUTDIR/VERSION.
#
# Exit status: that of debian-fetch.sh when fetching fails (3: the mirror cannot be reached
# and the cache lacks a package), 2 bad usage, 1 other errors.
set -euo pipefail

prog=debian
here=$(cd "$(dirname "$0")" && pwd)
die() {
	echo "$prog: $*" >&2
	exit 1
}
usage() {
	echo "usage: $0 [--packages FILE] [--lock FILE] [--overlay DIR] [--size SIZE] [--guest DIR] [OUTDIR]" >&2
	echo "       $0 [--packages FILE] [--lock FILE] --update-lock" >&2
	exit 2
}

suite=trixie
packages=$here/debian/packages
lock=$here/debian.lock
overlay=""
size=128M
guest=$here/../build/guest
update_lock=0
while [ $# -gt 0 ]; do
	case $1 in
	--packages) [ $# -ge 2 ] || usage; packages=$2; shift 2 ;;
	--lock) [ $# -ge 2 ] || usage; lock=$2; shift 2 ;;
	--overlay) [ $# -ge 2 ] || usage; overlay=$2; shift 2 ;;
	--size) [ $# -ge 2 ] || usage; size=$2; shift 2 ;;
	--guest) [ $# -ge 2 ] || usage; guest=$2; shift 2 ;;
	--update-lock) update_lock=1; shift ;;
	--) shift; break ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# -le 1 ] || usage
out=${1:-$here/../build/guest/debian}

# Fixed time of every inode and of the file system: 2026-01-01 00:00:00 UTC, as the initramfs.
epoch=1767225600
umask 022
export LC_ALL=C

# The names of the packages file ("#" comments, one name a line).
[ -r "$packages" ] || die "cannot read the package list $packages"
roots() {
	sed 's/#.*//' "$packages" | tr -s ' \t' '\n\n' | sed '/^$/d'
}

# ---- --update-lock ------------------------------------------------------------------------

if [ $update_lock -eq 1 ]; then
	[ $# -eq 0 ] || usage
	mapfile -t names < <(roots)
	[ ${#names[@]} -gt 0 ] || die "$packages names no package"
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-debian-lock.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	rc=0
	"$here/debian-fetch.sh" --suite "$suite" --update --deps "$tmp/fetch" "${names[@]}" || rc=$?
	[ $rc -eq 0 ] || exit $rc
	{
		echo "# debian.lock - every package of the Debian guest (guest/debian.sh), pinned: name,"
		echo "# version, architecture, SHA-256 of the .deb as the archive's signed index gives it."
		echo "# Written by guest/debian.sh --update-lock from $(basename "$packages") ($(roots | tr '\n' ' ' | sed 's/ $//'))"
		echo "# and their dependencies, in the order apt installs them; not to be edited by hand."
		# (not the index's file name: it holds the mirror's host name)
		echo "# Debian $suite riscv64 main, the index of $(sed -n '1s/.* Date: //p' "$tmp/fetch/manifest")"
		echo "# package version architecture sha256"
		grep -v '^#' "$tmp/fetch/manifest"
	} >"$tmp/lock"
	if [ -f "$lock" ]; then
		# What changed, one line per package.
		join -a 1 -a 2 -e - -o 0,1.2,2.2 \
			<(grep -v '^#' "$lock" | awk '{ print $1, $2 }' | sort) \
			<(grep -v '^#' "$tmp/lock" | awk '{ print $1, $2 }' | sort) |
			awk '$2 != $3 { print "debian: " $1 ": " ($2 == "-" ? "added " $3 : $3 == "-" ? "removed " $2 : $2 " -> " $3) }' >&2
	fi
	cp "$tmp/lock" "$lock.tmp"
	mv "$lock.tmp" "$lock"
	echo "debian: $lock: $(grep -vc '^#' "$lock") packages" >&2
	exit 0
fi

# ---- the build ----------------------------------------------------------------------------

for t in mke2fs debugfs e2fsck truncate sha256sum; do
	command -v $t >/dev/null || die "$t not found (package e2fsprogs / coreutils)"
done
[ -r "$lock" ] || die "no lock file $lock (guest/debian.sh --update-lock writes one)"
[[ $size =~ ^[0-9]+[KMG]?$ ]] || die "bad --size: $size (bytes, with a K, M or G suffix)"
[ -z "$overlay" ] || [ -d "$overlay" ] || die "--overlay $overlay is not a directory"
[ -x "$guest/bin/init" ] || die "no $guest/bin/init: build Ferry's guest first (guest/build.sh build/guest)"
# Every package asked for must be in the lock, else the lock is stale.
stale=""
for p in $(roots); do
	grep -q "^$p " "$lock" || stale="$stale $p"
done
[ -z "$stale" ] || die "$lock lacks$stale (named in $packages): refresh it with guest/debian.sh --update-lock"

mkdir -p "$out"
out=$(cd "$out" && pwd)
rc=0
"$here/debian-fetch.sh" --suite "$suite" --lock "$lock" "$out/debian" || rc=$?
[ $rc -eq 0 ] || { echo "$prog: fetching the packages of $lock failed (status $rc)" >&2; exit $rc; }

# The tree: a copy of what dpkg-deb unpacked, then ours.
tree=$out/tree
rm -rf "$tree" "$tree.tmp"
cp -a "$out/debian/root" "$tree.tmp"
t=$tree.tmp

# Merged /usr. A package that still ships /bin, /sbin or /lib has its files moved under /usr.
for d in bin sbin lib lib64; do
	if [ -d "$t/$d" ] && [ ! -L "$t/$d" ]; then
		mkdir -p "$t/usr/$d"
		(cd "$t/$d" && find . -mindepth 1 -maxdepth 1 -printf '%P\n') | while IFS= read -r f; do
			[ ! -e "$t/usr/$d/$f" ] && [ ! -L "$t/usr/$d/$f" ] || die "/$d/$f and /usr/$d/$f both exist"
			mv "$t/$d/$f" "$t/usr/$d/$f"
		done
		rmdir "$t/$d"
	fi
	if [ "$d" != lib64 ] || [ -d "$t/usr/lib64" ]; then
		mkdir -p "$t/usr/$d"
		ln -s "usr/$d" "$t/$d"
	fi
done

# add SOURCE DEST MODE: a file of ours, never over one of a package.
add() {
	[ -f "$1" ] || die "missing $1"
	[ ! -e "$t$2" ] && [ ! -L "$t$2" ] || die "$2 is in a Debian package already: not replaced by $1"
	mkdir -p "$(dirname "$t$2")"
	cp "$1" "$t$2"
	chmod "$3" "$t$2"
}
link() { # TARGET NAME
	[ ! -e "$t$2" ] && [ ! -L "$t$2" ] || die "$2 is in a Debian package already"
	ln -s "$1" "$t$2"
}
[ -x "$t/usr/bin/dash" ] || die "no /usr/bin/dash in the packages"
[ -x "$t/usr/bin/busybox" ] || die "no /usr/bin/busybox in the packages"
[ "$(readlink "$t/usr/bin/sh")" = dash ] || die "/usr/bin/sh is not dash's link"
link busybox /usr/bin/ash
add "$guest/bin/init" /usr/sbin/init 0755
for f in "$guest"/bin/*; do
	n=$(basename "$f")
	[ "$n" != init ] || continue
	add "$f" "/usr/bin/$n" 0755
done
add "$here/debian/ferry-check" /usr/bin/ferry-check 0755
add "$here/busybox/fp.awk" /etc/ferry/fp.awk 0644
add "$here/debian/passwd" /etc/passwd 0644
add "$here/debian/group" /etc/group 0644
echo ferry >"$t/etc/hostname"
add "$out/debian/manifest" /usr/share/ferry/debian.manifest 0644
for d in dev proc sys run mnt; do
	mkdir -p "$t/$d"
	chmod 0755 "$t/$d"
done
mkdir -p "$t/tmp" "$t/root"
chmod 1777 "$t/tmp"
chmod 0700 "$t/root"
if [ -n "$overlay" ]; then
	cp -a "$overlay/." "$t/"
fi

# Names debugfs could not take below (its arguments are split at white space, quoted with ").
bad=$(cd "$t" && find . -name '*[[:space:]"\\]*' | head -3)
[ -z "$bad" ] || die "names with white space, quotes or backslashes: $bad"
find "$t" -exec touch -h -d "@$epoch" {} +
mv "$t" "$tree"

# The image. UUID and hash seed: from the lock's hash (the same set of packages, the same ids).
seed=$(sha256sum <"$lock" | cut -c1-64)
uuid() { # 32 HEX DIGITS: as a UUID, version 4 and variant bits set
	local h=$1
	echo "${h:0:8}-${h:8:4}-4${h:13:3}-a${h:17:3}-${h:20:12}"
}
fs_uuid=$(uuid "${seed:0:32}")
hash_seed=$(uuid "${seed:32:32}")
img=$out/debian.ext4
rm -f "$img.tmp"
truncate -s "$size" "$img.tmp"
if ! E2FSPROGS_FAKE_TIME=$epoch MKE2FS_CONFIG=$here/debian/mke2fs.conf \
	mke2fs -q -F -t ext4 -L ferry-debian -U "$fs_uuid" \
	-E "hash_seed=$hash_seed,root_owner=0:0,nodiscard" -d "$tree" "$img.tmp" >"$out/mke2fs.log" 2>&1; then
	cat "$out/mke2fs.log" >&2
	rm -f "$img.tmp"
	die "mke2fs -d $tree failed (a --size of $size too small?)"
fi
# Every inode: root's, and the fixed time (mke2fs takes uid, gid, atime and ctime from the tree).
{
	echo "/"
	(cd "$tree" && find . -mindepth 1 -printf '/%P\n')
} | awk -v t="@$epoch" '{
	for (i = 0; i < 4; i++)
		printf "sif \"%s\" %s\n", $0, (i == 0 ? "uid 0" : i == 1 ? "gid 0" : i == 2 ? "atime " t : "ctime " t)
}' >"$out/debugfs.cmds"
if ! E2FSPROGS_FAKE_TIME=$epoch debugfs -w -f "$out/debugfs.cmds" "$img.tmp" >"$out/debugfs.log" 2>&1 ||
	grep -v '^debugfs [0-9]' "$out/debugfs.log" | grep -qv '^debugfs: sif '; then
	grep -v '^debugfs [0-9]' "$out/debugfs.log" | grep -v '^debugfs: sif ' | head -5 >&2
	rm -f "$img.tmp"
	die "debugfs could not set the inodes' owner and times (log: $out/debugfs.log)"
fi
if ! e2fsck -fn "$img.tmp" >"$out/e2fsck.log" 2>&1; then
	tail -5 "$out/e2fsck.log" >&2
	rm -f "$img.tmp"
	die "e2fsck -fn finds the new image damaged (log: $out/e2fsck.log)"
fi
mv "$img.tmp" "$img"

sha=$(sha256sum <"$img" | cut -c1-64)
{
	echo "lock-sha256 $seed"
	echo "packages $(grep -vc '^#' "$out/debian/manifest")"
	echo "size $(stat -c %s "$img")"
	echo "uuid $fs_uuid"
	echo "image-sha256 $sha"
} >"$out/VERSION"
used=$(grep -m1 -o '[0-9]*/[0-9]* blocks' "$out/e2fsck.log" || true)
echo "$prog: $img ($(stat -c %s "$img") bytes, $used of 4 KiB, $(grep -vc '^#' "$out/debian/manifest") packages), sha256 $sha" >&2
