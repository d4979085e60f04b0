#!/bin/bash
# busybox.sh - an initramfs whose init is Debian's own busybox-static for riscv64.
#
# Usage: guest/busybox.sh [OUTDIR]          (default OUTDIR: build/guest/busybox)
#
# Fetches busybox-static from Debian trixie with guest/debian-fetch.sh (cached under
# $FERRY_CACHE/debian; no network once cached) into OUTDIR/debian (root/ and manifest), and
# writes OUTDIR/busybox.cpio, uncompressed (the kernel has no decompressors), with fixed
# mtimes: the package's files as dpkg-deb unpacked them, /bin and /sbin -> usr/...,
# /init -> /usr/bin/busybox (busybox's init), the few applet links the test script uses,
# /etc/inittab (guest/busybox/inittab: run /etc/ferry-fp once at boot), /etc/ferry-fp and
# /etc/fp.awk. /etc/ferry-fp prints the output of `awk -f /etc/fp.awk` between marker lines
# and powers off (`poweroff -f`).
#
# Exit status: that of debian-fetch.sh when fetching fails (3: mirror unreachable and
# nothing cached), 1 for other errors.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../build/guest/busybox}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cache=${FERRY_CACHE:-/var/cache/ferry}
die() {
	echo "busybox: $*" >&2
	exit 1
}

rc=0
"$here/debian-fetch.sh" "$out/debian" busybox-static || rc=$?
[ $rc -eq 0 ] || exit $rc
root=$out/debian/root
bb=$root/usr/bin/busybox
[ -x "$bb" ] || die "busybox-static has no /usr/bin/busybox"

# gen_init_cpio from the kernel source guest/build.sh uses (its extracted tree, or the one
# file from the source tarball).
srcver=$(dpkg-query -W -f '${Version}' linux-source-6.1 2>/dev/null) ||
	die "linux-source-6.1 is not installed (scripts/setup.sh)"
gic=$cache/linux-source-$srcver/usr/gen_init_cpio.c
if [ ! -f "$gic" ]; then
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-busybox.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	tar -C "$tmp" --strip-components=1 --wildcards -xf /usr/src/linux-source-6.1.tar.xz '*/usr/gen_init_cpio.c'
	gic=$tmp/usr/gen_init_cpio.c
fi
gcc -O2 -o "$out/gen_init_cpio" "$gic"

# The list: every entry of the unpacked tree (sorted, so the archive does not depend on the
# order of the file system), then ours. Owners are root; modes as unpacked.
entry() { # PATH-IN-ROOT
	local p=$1 src=$root$1 mode
	case $p in *[[:space:]]*) die "a name with white space in the package: '$p'" ;; esac
	mode=$(stat -c %a "$src")
	if [ -L "$src" ]; then
		echo "slink $p $(readlink "$src") 0777 0 0"
	elif [ -d "$src" ]; then
		echo "dir $p $mode 0 0"
	elif [ -f "$src" ]; then
		echo "file $p $src $mode 0 0"
	else
		die "not a file, directory or symbolic link: $p"
	fi
}
{
	echo "dir /dev 0755 0 0"
	echo "nod /dev/console 0600 0 0 c 5 1"
	echo "dir /proc 0555 0 0"
	echo "dir /tmp 1777 0 0"
	echo "dir /etc 0755 0 0"
	(cd "$root" && find . -mindepth 1 -printf '/%P\n') | LC_ALL=C sort | while IFS= read -r p; do
		entry "$p"
	done
	[ -d "$root/usr/sbin" ] || echo "dir /usr/sbin 0755 0 0"
	# merged /usr, as trixie's base-files makes it
	[ -e "$root/bin" ] || echo "slink /bin usr/bin 0777 0 0"
	[ -e "$root/sbin" ] || echo "slink /sbin usr/sbin 0777 0 0"
	echo "slink /init /usr/bin/busybox 0777 0 0"
	for a in sh awk cat cut echo head mount sha256sum uname wc; do
		echo "slink /usr/bin/$a busybox 0777 0 0"
	done
	for a in init poweroff; do
		echo "slink /usr/sbin/$a ../bin/busybox 0777 0 0"
	done
	echo "file /etc/inittab $here/busybox/inittab 0644 0 0"
	echo "file /etc/ferry-fp $here/busybox/ferry-fp 0755 0 0"
	echo "file /etc/fp.awk $here/busybox/fp.awk 0644 0 0"
} >"$out/busybox.list"
"$out/gen_init_cpio" -t 1767225600 "$out/busybox.list" >"$out/busybox.cpio.tmp"
mv "$out/busybox.cpio.tmp" "$out/busybox.cpio"
echo "busybox: $out/busybox.cpio ($(stat -c %s "$out/busybox.cpio") bytes), $(grep -v '^#' "$out/debian/manifest" | cut -d ' ' -f 1,2)" >&2
