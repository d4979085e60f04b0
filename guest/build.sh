#!/bin/sh
# build.sh - build the guest: Linux Image and an initramfs with /init and the test programs.
#
# Usage: guest/build.sh [OUTDIR]          (default OUTDIR: build/guest)
#
# The kernel comes from Debian's linux-source-6.1, cross-built with
# gcc-riscv64-linux-gnu from `allnoconfig` plus guest/kernel.config. It takes
# minutes, so a built kernel is cached outside the clone, under
# $FERRY_CACHE (default /var/cache/ferry), keyed by the source package
# version, the config fragment and this script: a fresh machine builds it,
# later runs reuse it. The build's timestamp, user and host are pinned, so two
# builds of the same inputs give the same Image.
#
# The userland (guest/init, guest/progs) is small and always rebuilt.
#
# Writes OUTDIR/Image, OUTDIR/initramfs.cpio, OUTDIR/bin/* (the static guest
# programs, also run under qemu-riscv64 by the differential tests) and
# OUTDIR/VERSION.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../build/guest}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cache=${FERRY_CACHE:-/var/cache/ferry}
cross=riscv64-linux-gnu-
jobs=$(nproc 2>/dev/null || echo 2)

need_pkgs="linux-source-6.1 gcc-riscv64-linux-gnu libc6-dev-riscv64-cross linux-libc-dev-riscv64-cross
	make bc bison flex cpio xz-utils libc6-dev"
missing=""
for p in $need_pkgs; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "guest: installing$missing" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y $missing >&2
fi

srcver=$(dpkg-query -W -f '${Version}' linux-source-6.1)
# The kernel's cache key: its config fragment and the recipe between the two "kernel recipe"
# marks below, so a change to the userland part of this script does not rebuild the kernel.
recipe() { sed -n '/^# kernel recipe: begin/,/^# kernel recipe: end/p' "$here/build.sh"; }
key=$( (cat "$here/kernel.config"; recipe) | sha256sum | cut -c1-16)
kdir="$cache/kernel-$srcver-$key"
src="$cache/linux-source-$srcver"

# The source tree, extracted once per source package version.
if [ ! -f "$src/.ferry-extracted" ]; then
	echo "guest: extracting linux-source $srcver into $src" >&2
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -C "$src.tmp" --strip-components=1 -xf /usr/src/linux-source-6.1.tar.xz
	touch "$src.tmp/.ferry-extracted"
	mv "$src.tmp" "$src"
fi

# kernel recipe: begin
kmake() {
	make -C "$src" O="$kdir/obj" ARCH=riscv CROSS_COMPILE=$cross \
		KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 2026' \
		KBUILD_BUILD_USER=ferry KBUILD_BUILD_HOST=ferry KBUILD_BUILD_VERSION=1 "$@"
}

if [ ! -f "$kdir/Image" ]; then
	echo "guest: building Linux $srcver (config $key) in $kdir/obj" >&2
	rm -rf "$kdir"
	mkdir -p "$kdir/obj"
	kmake KCONFIG_ALLCONFIG="$here/kernel.config" allnoconfig >/dev/null
	# allnoconfig drops a symbol whose parent is off without a word: check every line.
	bad=0
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*) grep -qx "$line" "$kdir/obj/.config" || { echo "guest: config lost: $line" >&2; bad=1; } ;;
		"# CONFIG_"*" is not set") sym=${line#\# }; sym=${sym%% *}
			if grep -q "^$sym=" "$kdir/obj/.config"; then echo "guest: config should be off: $sym" >&2; bad=1; fi ;;
		esac
	done <"$here/kernel.config"
	[ $bad -eq 0 ] || { echo "guest: kernel.config does not survive allnoconfig" >&2; exit 1; }
	kmake -j"$jobs" Image >"$kdir/build.log" 2>&1 || { tail -40 "$kdir/build.log" >&2; exit 1; }
	cp "$kdir/obj/arch/riscv/boot/Image" "$kdir/Image.tmp"
	mv "$kdir/Image.tmp" "$kdir/Image"
fi
# kernel recipe: end
cp "$kdir/Image" "$out/Image"
cp "$kdir/obj/.config" "$out/kernel.config.full"

# Userland: static programs against nolibc. Init and most programs are soft-float
# rv64imac/lp64, so they run on a hart without F and D (init's fp workload alone uses FP
# instructions, in inline asm). The programs in fp_progs test or measure F and D and are built
# hard-float, rv64imafdc/lp64d: Debian's cross libgcc is lp64d, so -lgcc links with these (a
# soft-float program must not need libgcc's float routines: they cannot be linked).
fp_progs="diff_fp bench_fmips"
nolibc="$src/tools/include/nolibc"
cflags="-Os -static -nostdlib -fno-builtin -fno-stack-protector -fno-asynchronous-unwind-tables
	-Wall -Wextra -Werror -Wno-unused-function
	-include $nolibc/nolibc.h -I$nolibc -I$here/lib"
soft="-march=rv64imac_zicsr_zifencei -mabi=lp64"
hard="-march=rv64imafdc_zicsr_zifencei -mabi=lp64d"
mkdir -p "$out/bin"
build_prog() { # name source
	arch=$soft
	case " $fp_progs " in *" $1 "*) arch=$hard ;; esac
	${cross}gcc $cflags $arch -o "$out/bin/$1" "$2" -lgcc
}
build_prog init "$here/init/init.c"
for f in "$here"/progs/*.c; do
	[ -e "$f" ] || continue
	n=$(basename "$f" .c)
	build_prog "$n" "$f"
done

# The initramfs, uncompressed (the kernel has no decompressors), with fixed mtimes.
gcc -O2 -o "$out/gen_init_cpio" "$src/usr/gen_init_cpio.c"
{
	echo "dir /dev 0755 0 0"
	echo "nod /dev/console 0600 0 0 c 5 1"
	echo "dir /proc 0555 0 0"
	echo "dir /bin 0755 0 0"
	echo "file /init $out/bin/init 0755 0 0"
	for f in "$out"/bin/*; do
		n=$(basename "$f")
		[ "$n" = init ] || echo "file /bin/$n $f 0755 0 0"
	done
} >"$out/initramfs.list"
"$out/gen_init_cpio" -t 1767225600 "$out/initramfs.list" >"$out/initramfs.cpio"

{
	echo "linux-source-6.1 $srcver"
	echo "config $key"
	echo "image-sha256 $(sha256sum <"$out/Image" | cut -c1-64)"
} >"$out/VERSION"
echo "guest: $out/Image ($(stat -c %s "$out/Image") bytes), $out/initramfs.cpio ($(stat -c %s "$out/initramfs.cpio") bytes)" >&2
