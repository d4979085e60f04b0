#!/bin/bash
# debian_kernel.sh - Debian's own riscv64 kernel (trixie linux-image-riscv64) in a ferry-vm
# guest: guest/debian-kernel.sh builds its Image and an initramfs holding busybox-static and
# the kernel's virtio and ext4 modules; the guest must reach /init, load every module, see a
# virtio disk as /sys/block/vda and mount its ext4 file system, see the virtio-rng device and
# (where a TAP can be made in a network namespace of this run's own) a virtio-net eth0, and
# power off. Without --disk there is no vda. The same Image and initramfs in QEMU's virt
# board are the reference: what fails there is the kernel's, not Ferry's.
#
# Fetching needs the Debian mirror once (guest/debian-fetch.sh caches under $FERRY_CACHE/debian);
# with the cache filled it runs offline. If the mirror cannot be reached and nothing is
# cached, the suite is skipped and says so.
source "$(dirname "$0")/../lib.sh"
scratch
out=$FERRY_GUEST/debian-kernel
suite=integration-debian_kernel

# 1. Build (or take the packages from the cache).
timeout 900 "$FERRY_ROOT/guest/debian-kernel.sh" "$out" >"$FERRY_TMP/build.log" 2>&1
rc=$?
if [ $rc -eq 3 ]; then
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - Debian kernel fetched # SKIP the Debian mirror cannot be reached and nothing is cached:"
	grep 'debian-fetch:' "$FERRY_TMP/build.log" | sed 's/^/#   /'
	finish $suite
	exit
fi
img=$out/Image
cpio=$out/initramfs.cpio
kver=$(cat "$out/kernel-release" 2>/dev/null)
if [ $rc -eq 0 ] && [ -s "$img" ] && [ -s "$cpio" ] && [ -n "$kver" ]; then
	pass "Image and initramfs.cpio built ($(grep '^linux-image-' "$out/debian/manifest" | cut -d ' ' -f 1,2), $(stat -c %s "$cpio") bytes of initramfs)"
else
	fail "Image and initramfs.cpio built" "exit $rc" "$(tail -5 "$FERRY_TMP/build.log")"
	finish $suite
	exit
fi

# 2. The Image is Debian's file byte for byte, and a RISC-V Image (magic at 48 and 56).
deb_img=$out/debian/root/boot/vmlinux-$kver
magic=$(od -An -tx1 -j48 -N12 "$img" | tr -d ' \n')
if cmp -s "$img" "$deb_img" && [ "$magic" = 524953435600000052534305 ]; then
	pass "Image is the package's /boot/vmlinux-$kver, a raw RISC-V Image (RISCV, RSC\\x05)"
else
	fail "Image is the package's /boot/vmlinux-$kver, a raw RISC-V Image" "magic at 48: $magic"
fi

# 3. Reproducible: a second build elsewhere gives the same bytes.
if timeout 900 "$FERRY_ROOT/guest/debian-kernel.sh" "$FERRY_TMP/again" >"$FERRY_TMP/again.log" 2>&1 &&
	cmp -s "$cpio" "$FERRY_TMP/again/initramfs.cpio" && cmp -s "$img" "$FERRY_TMP/again/Image"; then
	pass "a second build gives the same Image and initramfs.cpio"
else
	fail "a second build gives the same Image and initramfs.cpio" "$(tail -3 "$FERRY_TMP/again.log")"
fi
rm -rf "$FERRY_TMP/again"
nmods=$(wc -l <"$out/modules/load-order")
mapfile -t wanted < <(sed -e '/^#/d' -e '/^$/d' -e 's/-/_/g' "$FERRY_ROOT/guest/debian-kernel/modules")

# A disk with an ext4 file system holding one file whose contents only this run knows.
marker="ferry-debian-kernel $$ $RANDOM$RANDOM"
have_ext4=0
mkdir "$FERRY_TMP/fs"
echo "$marker" >"$FERRY_TMP/fs/hello"
if command -v mke2fs >/dev/null && mke2fs -q -t ext4 -d "$FERRY_TMP/fs" -F "$FERRY_TMP/disk.img" 16M >"$FERRY_TMP/mke2fs.log" 2>&1; then
	have_ext4=1
else
	truncate -s 16M "$FERRY_TMP/disk.img"
fi
cp "$FERRY_TMP/disk.img" "$FERRY_TMP/qdisk.img"

# A TAP device needs a network namespace of this run's own (the namespace, and the TAP in it,
# end with the process).
tap=fdk$$
tap=${tap:0:15}
have_tap=0
if unshare -n sh -c "ip tuntap add dev $tap mode tap vnet_hdr && ip link set $tap up" 2>/dev/null; then
	have_tap=1
fi

line() { # LOG KEY: the rest of the guest's line "debian-kernel: KEY..."
	sed -n "s/^debian-kernel: $2//p" "$1.txt" | head -1
}

# The checks of one guest run. DISK: 1 if it had the ext4 disk, 0 if no disk; NET: 1 if a
# virtio-net device, 0 if none; RNG: the rng_current expected.
check_guest() { # WHAT LOG DISK NET RNG
	local what=$1 log=$2 disk=$3 net=$4 rng=$5 t
	t=$log.txt
	if grep -q "^debian-kernel: init uname-r=$kver nproc=[0-9]" "$t"; then
		pass "$what: reaches /init ($(line "$log" 'init '))"
		echo "# $what: $(line "$log" 'cpuinfo: ')"
	else
		local why=""
		if grep -q 'INITRD: .* overlaps in-use memory region' "$t"; then
			why="the kernel dropped the initrd: with CONFIG_STRICT_KERNEL_RWX it reserves its image up to the next 2 MiB boundary (arch/riscv/mm/init.c, setup_bootmem) and the initrd was placed inside that"
		fi
		fail "$what: reaches /init" "exit $booted_rc, timeout $booted_timeout" ${why:+"$why"} \
			"$(grep -m2 -E 'INITRD|initramfs|Kernel panic' "$t")" "$(tail -4 "$t")" "$(tail -3 "$log.err")"
		return
	fi
	local ins
	ins=$(line "$log" 'insmod ')
	if [ "$ins" = "ok=$nmods failed=0" ]; then
		pass "$what: insmod of all $nmods modules"
	else
		fail "$what: insmod of all $nmods modules" "${ins:-no insmod line}" "$(grep 'insmod failed' "$t")"
	fi
	local mods m missing=""
	mods=" $(line "$log" 'modules: ') "
	for m in "${wanted[@]}"; do
		case $mods in *" $m "*) ;; *) missing="$missing $m" ;; esac
	done
	if [ -z "$missing" ]; then
		pass "$what: /proc/modules lists ${wanted[*]}"
	else
		fail "$what: /proc/modules lists ${wanted[*]}" "missing:$missing" "got:$mods"
	fi
	local blk
	blk=" $(line "$log" 'block: ')"
	if [ "$disk" = 1 ]; then
		case $blk in
		*" vda "*) pass "$what: --disk gives /sys/block/vda" ;;
		*) fail "$what: --disk gives /sys/block/vda" "block:$blk" ;;
		esac
		if [ $have_ext4 -eq 1 ]; then
			if [ "$(line "$log" 'vda ext4: ')" = "$marker" ]; then
				pass "$what: ext4 on vda mounted, its file read"
			else
				fail "$what: ext4 on vda mounted, its file read" "want: $marker" \
					"got: $(grep -E 'vda|EXT4' "$t" | head -3)"
			fi
		fi
	else
		case $blk in
		*" vda "*) fail "$what: no disk, no vda" "block:$blk" ;;
		*) pass "$what: no disk, no vda" ;;
		esac
	fi
	local rngl
	rngl=$(line "$log" 'rng: ')
	if [ "$rngl" = "$rng" ]; then
		pass "$what: hw_random's device is ${rng:-none}"
	else
		fail "$what: hw_random's device is ${rng:-none}" "got: $rngl"
	fi
	if [ "$net" = 1 ]; then
		case " $(line "$log" 'net: ')" in
		*" eth0 "*) pass "$what: virtio-net gives eth0" ;;
		*) fail "$what: virtio-net gives eth0" "net: $(line "$log" 'net: ')" ;;
		esac
	fi
	local bad
	bad=$(grep -E 'Oops|Kernel panic|BUG:|WARNING:|Unable to handle|Illegal instruction|unhandled signal' "$t" | head -3)
	if [ -z "$bad" ]; then pass "$what: no oops, panic or warning"; else fail "$what: no oops, panic or warning" "$bad"; fi
	if [ "$booted_rc" -eq 0 ] && [ "$booted_timeout" -eq 0 ] && grep -q '^debian-kernel: poweroff' "$t" &&
		grep -q 'reboot: Power down' "$t"; then
		pass "$what: poweroff -f ends the machine with status 0"
	else
		fail "$what: poweroff -f ends the machine with status 0" "exit $booted_rc, timeout $booted_timeout"
	fi
}

append="console=ttyS0 earlycon"
# 4. ferry-vm with the disk (and a TAP where one can be made).
vm=("$FERRY_VM" --kernel "$img" --initrd "$cpio" --memory 512M --disk "$FERRY_TMP/disk.img" --append "$append")
start=$SECONDS
if [ $have_tap -eq 1 ]; then
	run_machine "$FERRY_TMP/vm.out" 300 unshare -n sh -c \
		"ip tuntap add dev $tap mode tap vnet_hdr && ip link set $tap up && exec \"\$@\"" sh "${vm[@]}" --net "tap:$tap"
else
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - ferry-vm: virtio-net # SKIP no TAP device can be made in a network namespace here"
	run_machine "$FERRY_TMP/vm.out" 300 "${vm[@]}"
fi
echo "# ferry-vm: $((SECONDS - start)) s from start to power-off, $(grep -m1 -o 'Run /init' "$FERRY_TMP/vm.out.txt" || echo 'no /init')"
check_guest "ferry-vm" "$FERRY_TMP/vm.out" 1 $have_tap virtio_rng.0

# 5. ferry-vm with neither disk nor entropy device.
run_machine "$FERRY_TMP/vm2.out" 300 "$FERRY_VM" --kernel "$img" --initrd "$cpio" --memory 512M --no-rng --append "$append"
check_guest "ferry-vm, no disk, --no-rng" "$FERRY_TMP/vm2.out" 0 0 none

# 6. The same Image and initramfs in QEMU's virt board (the reference machine).
if command -v qemu-system-riscv64 >/dev/null; then
	run_machine "$FERRY_TMP/qemu.out" 300 qemu-system-riscv64 -M virt -bios default -nographic -m 512M \
		-nic none -kernel "$img" -initrd "$cpio" -append "$append" \
		-drive "file=$FERRY_TMP/qdisk.img,format=raw,if=none,id=d0" -device virtio-blk-device,drive=d0 \
		-device virtio-rng-device
	check_guest "qemu-system" "$FERRY_TMP/qemu.out" 1 0 virtio_rng.0
fi

finish $suite
