#!/bin/bash
# debian-kernel.sh - Debian's own riscv64 kernel and an initramfs with its virtio modules.
#
# Usage: guest/debian-kernel.sh [OUTDIR]     (default OUTDIR: build/guest/debian-kernel)
#
# Fetches, with guest/debian-fetch.sh (cached under $FERRY_CACHE/debian; no network once
# cached), the trixie meta package linux-image-riscv64, which names the kernel package it
# depends on (its /usr/share/doc entry is a link to that package's), then that package,
# linux-image-VERSION-riscv64, and busybox-static, into OUTDIR/debian (root/ and manifest).
# Writes:
#
#   OUTDIR/Image           the kernel: /boot/vmlinux-VERSION, which for riscv64 Debian ships
#                          as a raw RISC-V Linux Image (header magic "RISCV" and "RSC\x05",
#                          an EFI stub's PE header in front); a gzip-compressed vmlinuz
#                          would be decompressed, an EFI zboot image is refused.
#   OUTDIR/initramfs.cpio  uncompressed, fixed mtimes: busybox-static, /init
#                          (guest/debian-kernel/init), the modules named in
#                          guest/debian-kernel/modules with what they depend on, decompressed
#                          (.ko.xz -> .ko, as modules.dep then names them), their
#                          modules.dep, and /etc/debian-kernel/load-order: the modules'
#                          paths in the order /init loads them.
#   OUTDIR/kernel-release  the kernel's release (uname -r), e.g. 6.12.117+deb13-riscv64
#
# The package has no modules.dep (depmod runs when it is installed): what a module depends
# on is read from its own .modinfo section (depends=, as modpost wrote it), with readelf.
#
# Exit status: that of debian-fetch.sh when fetching fails (3: mirror unreachable and
# nothing cached), 1 for other errors.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../build/guest/debian-kernel}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cache=${FERRY_CACHE:-/var/cache/ferry}
die() {
	echo "debian-kernel: $*" >&2
	exit 1
}
for t in readelf xz gcc; do
	command -v $t >/dev/null || die "$t not found"
done

fetch() { # OUTDIR PACKAGE...
	local rc=0
	"$here/debian-fetch.sh" "$@" || rc=$?
	[ $rc -eq 0 ] || exit $rc
}

# 1. The kernel package the meta package points at.
fetch "$out/meta" linux-image-riscv64
link=$(readlink "$out/meta/root/usr/share/doc/linux-image-riscv64" 2>/dev/null) ||
	die "linux-image-riscv64 has no /usr/share/doc/linux-image-riscv64 link naming its kernel package"
kpkg=$(basename "$link")
[[ $kpkg =~ ^linux-image-[0-9][a-z0-9.+-]*-riscv64$ ]] ||
	die "linux-image-riscv64 points at '$kpkg', not a linux-image-VERSION-riscv64 package"
fetch "$out/debian" "$kpkg" busybox-static
root=$out/debian/root
kver=${kpkg#linux-image-}
mdir=$root/usr/lib/modules/$kver
[ -d "$mdir/kernel" ] || die "$kpkg has no /usr/lib/modules/$kver/kernel"
[ -f "$mdir/modules.order" ] || die "$kpkg has no /usr/lib/modules/$kver/modules.order"
bb=$root/usr/bin/busybox
[ -f "$bb" ] || die "busybox-static has no /usr/bin/busybox"

# 2. The Image. RISC-V boot image header (Documentation/arch/riscv/boot-image-header.rst):
# magic "RISCV\0\0\0" at offset 48, magic2 "RSC\x05" at 56.
is_image() { # FILE
	[ "$(od -An -tx1 -j48 -N12 "$1" | tr -d ' \n')" = 524953435600000052534305 ]
}
src=""
for f in "$root/boot/vmlinux-$kver" "$root/boot/vmlinuz-$kver"; do
	[ -f "$f" ] && src=$f && break
done
[ -n "$src" ] || die "$kpkg has neither /boot/vmlinux-$kver nor /boot/vmlinuz-$kver"
magic=$(od -An -tx1 -N8 "$src" | tr -d ' \n')
if is_image "$src"; then
	cp "$src" "$out/Image.tmp"
elif [ "${magic:0:4}" = 1f8b ]; then
	gzip -dc "$src" >"$out/Image.tmp"
	is_image "$out/Image.tmp" || die "$src: gzip data, but not a RISC-V Linux Image inside"
elif [ "${magic:0:4}" = 4d5a ] && [ "${magic:8:8}" = 7a696d67 ]; then
	die "$src: an EFI zboot image (compressed payload behind an EFI decompressor), not supported"
else
	die "$src: not a RISC-V Linux Image (magic bytes $magic)"
fi
mv "$out/Image.tmp" "$out/Image"
echo "$kver" >"$out/kernel-release"

# 3. The modules: each wanted name, after what it depends on. Names compare with - and _ as
# one (the kernel's own rule).
norm() { echo "${1//-/_}"; }
declare -A path_of # normalised name -> path under $mdir, without .xz
while IFS= read -r p; do
	p=${p%.xz}
	b=$(basename "$p" .ko)
	path_of[$(norm "$b")]=$p
done <"$mdir/modules.order"
work=$out/modules.tmp
rm -rf "$work"
mkdir -p "$work"
declare -A state # normalised name -> visiting | visited
order=()
modinfo_field() { # NAME FIELD: the values of FIELD= in the decompressed module's .modinfo
	readelf -p .modinfo "$work/$(norm "$1").ko" | sed -n "s/^ *\[ *[0-9a-f]*\]  $2=//p"
}
unpack() { # NAME
	local n p
	n=$(norm "$1")
	p=${path_of[$n]:-}
	[ -n "$p" ] || die "no module '$1' in $kpkg (modules.order)"
	if [ -f "$mdir/$p.xz" ]; then
		xz -dc "$mdir/$p.xz" >"$work/$n.ko" || die "$mdir/$p.xz: xz cannot decompress it"
	elif [ -f "$mdir/$p.gz" ]; then
		gzip -dc "$mdir/$p.gz" >"$work/$n.ko" || die "$mdir/$p.gz: gzip cannot decompress it"
	elif [ -f "$mdir/$p" ]; then
		cp "$mdir/$p" "$work/$n.ko"
	else
		die "$kpkg: modules.order names $p, which is not there (nor $p.xz or $p.gz)"
	fi
	[ "$(od -An -tx1 -N4 "$work/$n.ko" | tr -d ' \n')" = 7f454c46 ] ||
		die "$mdir/$p: not an ELF module once decompressed"
}
visit() { # NAME [WANTED-BY]
	local n dep deps
	n=$(norm "$1")
	case ${state[$n]:-} in
	visited) return ;;
	visiting) die "a dependency cycle through module $1" ;;
	esac
	state[$n]=visiting
	[ -n "${path_of[$n]:-}" ] || die "no module '$1' in $kpkg (modules.order)${2:+, needed by $2}"
	unpack "$n"
	deps=$(modinfo_field "$n" depends)
	for dep in ${deps//,/ }; do
		visit "$dep" "$1"
	done
	state[$n]=visited
	order+=("$n")
}
wanted=()
while read -r name _; do
	case $name in '' | '#'*) continue ;; esac
	wanted+=("$name")
	visit "$name"
done <"$here/debian-kernel/modules"
[ ${#wanted[@]} -gt 0 ] || die "guest/debian-kernel/modules names no module"

# Every soft dependency must be provided (by name or alias) by a module in the set.
declare -A provided
for n in "${order[@]}"; do
	provided[$n]=1
	while IFS= read -r a; do provided[$(norm "$a")]=1; done < <(modinfo_field "$n" alias)
done
for n in "${order[@]}"; do
	while IFS= read -r sd; do
		for tok in $sd; do
			case $tok in pre: | post:) continue ;; esac
			[ -n "${provided[$(norm "$tok")]:-}" ] ||
				die "module $n has the soft dependency '$tok', which no module in the set provides: add it to guest/debian-kernel/modules"
		done
	done < <(modinfo_field "$n" softdep)
done

# 4. The initramfs list: directories, busybox and its applet links, /init, the modules.
srcver=$(dpkg-query -W -f '${Version}' linux-source-6.1 2>/dev/null) ||
	die "linux-source-6.1 is not installed (scripts/setup.sh): gen_init_cpio comes from it"
gic=$cache/linux-source-$srcver/usr/gen_init_cpio.c
if [ ! -f "$gic" ]; then
	rm -rf "$out/src.tmp"
	mkdir "$out/src.tmp"
	tar -C "$out/src.tmp" --strip-components=1 --wildcards -xf /usr/src/linux-source-6.1.tar.xz '*/usr/gen_init_cpio.c'
	gic=$out/src.tmp/usr/gen_init_cpio.c
fi
gcc -O2 -o "$out/gen_init_cpio" "$gic"
rm -rf "$out/src.tmp"

kdir=/usr/lib/modules/$kver
: >"$work/modules.dep"
: >"$work/load-order"
declare -A dirs
declare -A closure # normalised name -> " dep dep ..." (all it needs, directly or not)
for n in "${order[@]}"; do
	c=" "
	for d in $(modinfo_field "$n" depends | tr ',' ' '); do
		c="$c$(norm "$d") ${closure[$(norm "$d")]}"
	done
	closure[$n]=$c
	p=${path_of[$n]}
	# modules.dep lists every module needed, directly or not, last loaded first (as depmod)
	deps=""
	for ((i = ${#order[@]} - 1; i >= 0; i--)); do
		case "$c" in *" ${order[i]} "*) deps="$deps ${path_of[${order[i]}]}" ;; esac
	done
	echo "$p:$deps" >>"$work/modules.dep"
	echo "$kdir/$p" >>"$work/load-order"
	d=$(dirname "$p")
	while [ "$d" != . ]; do
		dirs[$d]=1
		d=$(dirname "$d")
	done
done
# gen_init_cpio -t sets the time of what it makes itself; a file keeps its own mtime, so the
# files made here (and /init, whose mtime is the checkout's) get the fixed one too.
epoch=1767225600
cp "$here/debian-kernel/init" "$work/init"
touch -d "@$epoch" "$work"/*
{
	for d in /dev /etc /etc/debian-kernel /mnt /proc /sys /tmp /usr /usr/bin /usr/sbin /usr/lib \
		/usr/lib/modules "$kdir"; do
		case $d in /proc) m=0555 ;; /tmp) m=1777 ;; *) m=0755 ;; esac
		echo "dir $d $m 0 0"
	done
	echo "nod /dev/console 0600 0 0 c 5 1"
	echo "slink /bin usr/bin 0777 0 0"
	echo "slink /sbin usr/sbin 0777 0 0"
	echo "slink /lib usr/lib 0777 0 0"
	echo "file /usr/bin/busybox $bb 0755 0 0"
	for a in sh cat cut echo grep insmod ls lsmod modprobe mount nproc rmmod sort tr umount uname; do
		echo "slink /usr/bin/$a busybox 0777 0 0"
	done
	echo "slink /usr/sbin/poweroff ../bin/busybox 0777 0 0"
	echo "file /init $work/init 0755 0 0"
	echo "file /etc/debian-kernel/load-order $work/load-order 0644 0 0"
	printf '%s\n' "${!dirs[@]}" | LC_ALL=C sort | while IFS= read -r d; do
		echo "dir $kdir/$d 0755 0 0"
	done
	for n in "${order[@]}"; do
		echo "file $kdir/${path_of[$n]} $work/$n.ko 0644 0 0"
	done
	echo "file $kdir/modules.dep $work/modules.dep 0644 0 0"
} >"$out/initramfs.list"
"$out/gen_init_cpio" -t $epoch "$out/initramfs.list" >"$out/initramfs.cpio.tmp"
mv "$out/initramfs.cpio.tmp" "$out/initramfs.cpio"
# The list names files in the work directory: keep them beside it, for a reader of the list.
rm -rf "$out/modules"
mv "$work" "$out/modules"
sed -i "s|$work/|$out/modules/|" "$out/initramfs.list"
echo "debian-kernel: $out/Image ($(stat -c %s "$out/Image") bytes, $kver)," \
	"$out/initramfs.cpio ($(stat -c %s "$out/initramfs.cpio") bytes, ${#order[@]} modules: ${order[*]})" >&2
grep -v '^#' "$out/debian/manifest" | cut -d ' ' -f 1,2 | sed 's/^/debian-kernel:   /' >&2
