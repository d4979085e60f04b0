#!/bin/bash
# debian.sh - the Debian guest (guest/debian.sh): an ext4 root on a virtio-blk disk made of
# stock Debian riscv64 packages pinned by guest/debian.lock, booted by ferry-vm.
#
# The build is reproducible (two builds, the same bytes) and refuses a lock whose hash is
# wrong, naming the package. In the guest, Ferry's init (/sbin/init) runs /bin/ferry-check
# (`ferry.run=ferry-check`), a dash script: Debian's dash and coreutils (dynamically linked
# against glibc) run, busybox's awk prints what the same binary prints under qemu-riscv64, the
# root is remounted read-only and the guest powers off (`ferry.poweroff`), leaving a disk that
# e2fsck finds clean. Also: busybox's shell from the kernel command line (`ferry.run=ash`),
# the disklog workload on a second disk (the log disk first, so it is /dev/vda, and the root
# on /dev/vdb), and damaged images: a zeroed superblock and a truncated image end in the
# kernel's "Unable to mount root fs", an empty one is refused by ferry-vm. With four harts
# nproc says 4.
#
# Fetching needs the Debian mirror once (guest/debian-fetch.sh caches the index and the .debs
# under $FERRY_CACHE/debian); with the cache filled it runs offline. If the mirror cannot be
# reached and the cache lacks a package, the suite is skipped and says so.
source "$(dirname "$0")/../lib.sh"
scratch
machine_pid=""
trap '[ -z "$machine_pid" ] || kill -KILL "$machine_pid" 2>/dev/null; rm -rf "$FERRY_TMP"' EXIT
img=$FERRY_GUEST/Image
out=$FERRY_GUEST/debian
lock=$FERRY_ROOT/guest/debian.lock
awkfile=$FERRY_ROOT/guest/busybox/fp.awk
skip() { # WHAT WHY
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $1 # SKIP $2"
}

# 1. Build (the packages from the cache, or fetched once).
t0=$(date +%s%N)
timeout 600 "$FERRY_ROOT/guest/debian.sh" --guest "$FERRY_GUEST" "$out" >"$FERRY_TMP/build.log" 2>&1
rc=$?
build_ms=$((($(date +%s%N) - t0) / 1000000))
if [ $rc -eq 3 ]; then
	skip "the Debian guest built" "the Debian mirror cannot be reached and the cache lacks packages:"
	grep -E 'debian-fetch:|debian:' "$FERRY_TMP/build.log" | sed 's/^/#   /'
	finish integration-debian
	exit
fi
disk=$out/debian.ext4
if [ $rc -eq 0 ] && [ -s "$disk" ] && [ -f "$out/VERSION" ]; then
	pass "built $(grep -c -v '^#' "$out/debian/manifest") packages into $(stat -c %s "$disk") bytes in ${build_ms} ms: $(grep -o '[0-9]*/[0-9]* blocks' "$FERRY_TMP/build.log")"
else
	fail "the Debian guest built" "exit $rc" "$(tail -5 "$FERRY_TMP/build.log")"
	finish integration-debian
	exit
fi
sha=$(sha256sum <"$disk" | cut -c1-64)

# 2. Reproducible: a second build elsewhere gives the same bytes. It runs in a network
# namespace of its own (no interface but a loopback that is down) where it can: with the cache
# filled a build needs no network.
offline=(unshare -n)
unshare -n true 2>/dev/null || offline=()
if timeout 600 "${offline[@]}" "$FERRY_ROOT/guest/debian.sh" --guest "$FERRY_GUEST" "$FERRY_TMP/again" \
	>"$FERRY_TMP/again.log" 2>&1 && cmp -s "$disk" "$FERRY_TMP/again/debian.ext4"; then
	pass "a second build${offline:+, without a network (unshare -n),} gives the same bytes (sha256 ${sha:0:16}...)"
else
	fail "a second build${offline:+, without a network (unshare -n),} gives the same bytes" \
		"$(tail -3 "$FERRY_TMP/again.log")" "$(cmp "$disk" "$FERRY_TMP/again/debian.ext4" 2>&1 | head -1)"
fi
rm -rf "$FERRY_TMP/again"

# 3. What was unpacked is the lock, package for package, and the image holds Ferry's init as
# /sbin/init behind merged /usr.
if diff <(grep -v '^#' "$lock") <(grep -v '^#' "$out/debian/manifest") >"$FERRY_TMP/lock.diff"; then
	pass "the packages unpacked are the lock's: names, versions and SHA-256 ($(grep -c -v '^#' "$lock"))"
else
	fail "the packages unpacked are the lock's" "$(head -6 "$FERRY_TMP/lock.diff")"
fi
debugfs -R "dump /usr/sbin/init $FERRY_TMP/init.dump" "$disk" >/dev/null 2>&1
links=$(for l in bin sbin lib; do debugfs -R "stat /$l" "$disk" 2>/dev/null | grep -o 'Fast link dest: ".*"'; done | tr '\n' ' ')
if cmp -s "$FERRY_TMP/init.dump" "$FERRY_GUEST/bin/init" &&
	[ "$links" = 'Fast link dest: "usr/bin" Fast link dest: "usr/sbin" Fast link dest: "usr/lib" ' ]; then
	pass "/usr/sbin/init is Ferry's init; /bin, /sbin, /lib link to usr/"
else
	fail "/usr/sbin/init is Ferry's init; /bin, /sbin, /lib link to usr/" "links: $links"
fi

# 4. A lock with a wrong hash: the build fails, naming the package; a package list naming a
# package the lock lacks: the build fails, naming it. Neither needs the network (the index
# is cached).
awk '$1 == "busybox-static" { $4 = "00" substr($4, 3) } { print }' "$lock" >"$FERRY_TMP/bad.lock"
timeout 300 "$FERRY_ROOT/guest/debian.sh" --guest "$FERRY_GUEST" --lock "$FERRY_TMP/bad.lock" "$FERRY_TMP/bad" \
	>"$FERRY_TMP/bad.log" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q 'busybox-static 1:[^ ]*: the lock .* says SHA-256 00' "$FERRY_TMP/bad.log" &&
	[ ! -e "$FERRY_TMP/bad/debian.ext4" ]; then
	pass "a lock with a wrong hash fails the build, naming the package: $(grep -m1 -o 'busybox-static [^ ]*: the lock' "$FERRY_TMP/bad.log")"
else
	fail "a lock with a wrong hash fails the build, naming the package" "exit $rc" "$(tail -3 "$FERRY_TMP/bad.log")"
fi
printf 'dash\nferry-no-such-package\n' >"$FERRY_TMP/packages"
timeout 60 "$FERRY_ROOT/guest/debian.sh" --guest "$FERRY_GUEST" --packages "$FERRY_TMP/packages" "$FERRY_TMP/bad" \
	>"$FERRY_TMP/stale.log" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q 'lacks ferry-no-such-package .*--update-lock' "$FERRY_TMP/stale.log"; then
	pass "a package list naming a package the lock lacks fails the build, naming it"
else
	fail "a package list naming a package the lock lacks fails the build" "exit $rc" "$(tail -3 "$FERRY_TMP/stale.log")"
fi

# 5. The reference: the image's busybox under qemu-riscv64, in a clean environment.
bb=$out/tree/usr/bin/busybox
(cd "$FERRY_TMP" && timeout 300 env -i qemu-riscv64 "$bb" awk -f "$awkfile") >"$FERRY_TMP/ref.out" 2>"$FERRY_TMP/ref.err"
rc=$?
if [ $rc -eq 0 ] && [ "$(tail -1 "$FERRY_TMP/ref.out")" = "== done" ] &&
	grep -qx '1/3: 0.33333333333333331 0x1.5555555555555p-2' "$FERRY_TMP/ref.out"; then
	pass "reference under qemu-riscv64: $(wc -l <"$FERRY_TMP/ref.out") lines"
else
	fail "reference under qemu-riscv64" "exit $rc" "$(tail -3 "$FERRY_TMP/ref.err")"
fi
ref_bytes=$(stat -c %s "$FERRY_TMP/ref.out")
ref_sha=$(sha256sum <"$FERRY_TMP/ref.out" | cut -c1-64)

bad_lines() { # LOG: a crash, an oops or a panic
	grep -E 'unhandled signal|Illegal instruction|Oops|Kernel panic|BUG:|WARNING:|Unable to handle' "$1" | head -3
}

# The checks of a boot of ferry-check. HARTS: what nproc must say.
check_guest() { # WHAT LOG HARTS DISK
	local what=$1 log=$2.txt harts=$3 disk=$4
	local libc_ver
	libc_ver=$(awk '$1 == "libc6" { print $2 }' "$lock")
	if grep -q 'Run /sbin/init as init process' "$log" &&
		grep -q 'EXT4-fs (vda): mounted filesystem' "$log" && grep -q '^ferry-init: up ' "$log" &&
		grep -q '^ferry-check: start .*shell=/usr/bin/dash$' "$log"; then
		pass "$what: the kernel mounts the ext4 root, runs /sbin/init (Ferry's), which runs /bin/ferry-check in dash ($(grep -m1 -o 'uptime=[0-9.]*' <(grep '^ferry-check: start' "$log")) in the guest, ${mark_ms:-?} ms after the machine started)"
	else
		fail "$what: the kernel mounts the ext4 root and init runs /bin/ferry-check in dash" \
			"exit $booted_rc, timeout $booted_timeout" "$(tail -8 "$log")" "$(tail -3 "$2.err")"
	fi
	if grep -qx "ferry-check: nproc $harts" "$log" && grep -qx 'ferry-check: dash 338350' "$log" &&
		grep -qx 'ferry-check: sort 999 998 997' "$log" &&
		grep -qx 'ferry-check: sha256 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  -' "$log" &&
		grep -q '^ferry-check: needs .*libc\.so\.6 => /lib/riscv64-linux-gnu/libc\.so\.6 ' "$log" &&
		grep -qF "ferry-check: libc ld.so (Debian GLIBC $libc_ver)" "$log" &&
		grep -qx 'ferry-check: uname Linux [^ ]* riscv64' "$log" &&
		grep -qx 'ferry-check: root /dev/root ext4 rw,relatime' "$log"; then
		pass "$what: dynamically linked glibc programs run: nproc says $harts, dash, sort, sha256sum, uname, ld.so $libc_ver"
	else
		fail "$what: dynamically linked glibc programs run (nproc $harts, dash, sort, sha256sum, ld.so $libc_ver)" \
			"$(grep '^ferry-check: ' "$log" | grep -v 'awk\|^ferry-check: [^ ]* ok' | head -12)"
	fi
	local bad
	bad=$(bad_lines "$log")
	if [ -z "$bad" ]; then pass "$what: no SIGILL, oops or panic"; else fail "$what: no SIGILL, oops or panic" "$bad"; fi
	sed -n '/^ferry-check: awk begin$/,/^ferry-check: awk end /p' "$log" | sed '1d;$d' >"$log.awk"
	local endl
	endl=$(grep -m1 '^ferry-check: awk end ' "$log")
	if [ "$endl" = "ferry-check: awk end status=0 bytes=$ref_bytes sha256=$ref_sha" ] &&
		cmp -s "$log.awk" "$FERRY_TMP/ref.out"; then
		pass "$what: busybox awk's output equals qemu-riscv64's byte for byte ($ref_bytes bytes, also by the guest's sha256sum)"
	else
		fail "$what: busybox awk's output equals qemu-riscv64's" "want: status=0 bytes=$ref_bytes sha256=$ref_sha" \
			"got:  ${endl:-nothing}" "$(diff "$FERRY_TMP/ref.out" "$log.awk" | head -8)"
	fi
	if [ "$booted_rc" -eq 0 ] && [ "$booted_timeout" -eq 0 ] && grep -qx 'ferry-check: root read-only' "$log" &&
		grep -qx 'ferry-check: done failed=0' "$log" && grep -qx 'ferry-run: end ferry-check status=0' "$log" &&
		grep -q '^ferry-init: poweroff' "$log" && grep -q 'reboot: Power down' "$log"; then
		pass "$what: ferry-check passes, remounts / read-only, the guest powers off (exit status 0)"
	else
		fail "$what: ferry-check passes and the guest powers off" "exit $booted_rc, timeout $booted_timeout" \
			"$(grep -E '^ferry-(check: done|run: end|init)|FAILED|Power' "$log" | head -6)"
	fi
	if e2fsck -fn "$disk" >"$FERRY_TMP/fsck.log" 2>&1; then
		pass "$what: the disk is clean afterwards (e2fsck -fn)"
	else
		fail "$what: the disk is clean afterwards (e2fsck -fn)" "$(tail -4 "$FERRY_TMP/fsck.log")"
	fi
}

append="console=ttyS0 root=/dev/vda rw ferry.run=ferry-check ferry.poweroff"

# 6. One hart.
cp --sparse=always "$disk" "$FERRY_TMP/vm1.ext4"
RUN_MARK='^ferry-check: start' run_machine "$FERRY_TMP/vm1.out" 120 "$FERRY_VM" --kernel "$img" --memory 256M \
	--disk "$FERRY_TMP/vm1.ext4" --append "$append"
check_guest "1 hart" "$FERRY_TMP/vm1.out" 1 "$FERRY_TMP/vm1.ext4"

# 7. Four harts.
cp --sparse=always "$disk" "$FERRY_TMP/vm4.ext4"
RUN_MARK='^ferry-check: start' run_machine "$FERRY_TMP/vm4.out" 120 "$FERRY_VM" --kernel "$img" --memory 256M --cpus 4 \
	--disk "$FERRY_TMP/vm4.ext4" --append "$append"
check_guest "4 harts" "$FERRY_TMP/vm4.out" 4 "$FERRY_TMP/vm4.ext4"

# 8. The same image in QEMU's virt board (the reference machine).
if command -v qemu-system-riscv64 >/dev/null; then
	cp --sparse=always "$disk" "$FERRY_TMP/qemu.ext4"
	RUN_MARK='^ferry-check: start' run_machine "$FERRY_TMP/qemu.out" 180 qemu-system-riscv64 -M virt -bios default -nographic \
		-m 256M -kernel "$img" -append "$append" \
		-drive file="$FERRY_TMP/qemu.ext4",if=none,format=raw,id=d0 -device virtio-blk-device,drive=d0
	check_guest qemu-system "$FERRY_TMP/qemu.out" 1 "$FERRY_TMP/qemu.ext4"
else
	skip "qemu-system: the same image" "no qemu-system-riscv64"
fi

# 9. Busybox's shell from the kernel command line: init runs /bin/ash on the console, and
# powers off when it exits. Its input comes once it is up.
cp --sparse=always "$disk" "$FERRY_TMP/sh.ext4"
mkfifo "$FERRY_TMP/sh.in"
RUN_UNTIL='^ferry-init: poweroff' RUN_IN=$FERRY_TMP/sh.in run_machine "$FERRY_TMP/sh.out" 60 \
	"$FERRY_VM" --kernel "$img" --disk "$FERRY_TMP/sh.ext4" \
	--append "console=ttyS0 root=/dev/vda rw ferry.run=ash ferry.poweroff" &
boot_job=$!
exec 3>"$FERRY_TMP/sh.in"
for _ in $(seq 1 600); do
	grep -q 'built-in shell (ash)' "$FERRY_TMP/sh.out" 2>/dev/null && break
	sleep 0.1
done
printf 'echo shell-$((6 * 7)) $0\nbusybox mount -o remount,ro /\nexit\n' >&3
exec 3>&-
wait $boot_job
tr -d '\r' <"$FERRY_TMP/sh.out" >"$FERRY_TMP/sh.out.txt"
if grep -qx 'shell-42 /bin/ash' "$FERRY_TMP/sh.out.txt" && grep -qx 'ferry-run: end ash status=0' "$FERRY_TMP/sh.out.txt" &&
	grep -q 'reboot: Power down' "$FERRY_TMP/sh.out.txt" && e2fsck -fn "$FERRY_TMP/sh.ext4" >/dev/null 2>&1; then
	pass "ferry.run=ash: busybox's shell on the console runs a command, exits, the guest powers off"
else
	fail "ferry.run=ash: busybox's shell on the console" "$(grep -A3 'begin ash' "$FERRY_TMP/sh.out.txt" | head -6)" \
		"$(tail -3 "$FERRY_TMP/sh.out.txt")"
fi

# 10. The disklog workload writes /dev/vda raw: with the Debian root it needs a second disk,
# the log disk given first (vda), the root second (vdb, mounted read-only here so that its
# bytes must not change at all).
truncate -s 16M "$FERRY_TMP/log.img"
cp --sparse=always "$disk" "$FERRY_TMP/ro.ext4"
RUN_UNTIL='^ferry-work: disklog: t=' run_machine "$FERRY_TMP/log.out" 60 "$FERRY_VM" --kernel "$img" \
	--disk "$FERRY_TMP/log.img" --disk "$FERRY_TMP/ro.ext4" \
	--append "console=ttyS0 root=/dev/vdb ro ferry.work=disklog"
# The first progress line (after 5 s): "records=N last=N-1"; those N are on the log disk.
last=$(grep -m1 '^ferry-work: disklog: t=' "$FERRY_TMP/log.out.txt" | sed -n 's/.* last=\([0-9]*\) .*/\1/p')
magic() { dd if="$FERRY_TMP/log.img" bs=512 skip="$1" count=1 status=none | head -c 8; }
if grep -q 'EXT4-fs (vdb): mounted filesystem' "$FERRY_TMP/log.out.txt" &&
	grep -qx 'ferry-work: disklog: start dev=/dev/vda size=16777216 interval-ms=100' "$FERRY_TMP/log.out.txt" &&
	grep -qx 'ferry-work: disklog: found 0 records, last none, ok' "$FERRY_TMP/log.out.txt" &&
	[ -n "$last" ] && [ "$(magic 0)" = FERRYLOG ] && [ "$(magic "$last")" = FERRYLOG ] &&
	cmp -s "$disk" "$FERRY_TMP/ro.ext4"; then
	pass "disklog: the log on /dev/vda (the first --disk: records 0..$last written), the root on /dev/vdb unchanged"
else
	fail "disklog on a second disk" "$(grep -E 'vd[ab]|disklog' "$FERRY_TMP/log.out.txt" | head -6)" \
		"last=$last sector 0: $(magic 0)" "$(cmp "$disk" "$FERRY_TMP/ro.ext4" 2>&1)"
fi

# 11. Damaged images. The kernel cannot mount a root whose superblock is gone, nor one cut
# short: it says so and panics (the machine is stopped here); an empty file is no disk.
cp --sparse=always "$disk" "$FERRY_TMP/nosb.ext4"
dd if=/dev/zero of="$FERRY_TMP/nosb.ext4" bs=1024 seek=1 count=1 conv=notrunc status=none
run_machine "$FERRY_TMP/nosb.out" 60 "$FERRY_VM" --kernel "$img" --disk "$FERRY_TMP/nosb.ext4" --append "$append"
if grep -q 'Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block' "$FERRY_TMP/nosb.out.txt" &&
	! grep -q '^ferry-init: up' "$FERRY_TMP/nosb.out.txt"; then
	pass "a zeroed superblock: $(grep -m1 -o 'VFS: Unable to mount root fs.*' "$FERRY_TMP/nosb.out.txt")"
else
	fail "a zeroed superblock: the kernel cannot mount the root" "exit $booted_rc" "$(tail -4 "$FERRY_TMP/nosb.out.txt")"
fi
cp --sparse=always "$disk" "$FERRY_TMP/short.ext4"
truncate -s 32M "$FERRY_TMP/short.ext4"
run_machine "$FERRY_TMP/short.out" 60 "$FERRY_VM" --kernel "$img" --disk "$FERRY_TMP/short.ext4" --append "$append"
if grep -q 'EXT4-fs (vda): bad geometry: block count [0-9]* exceeds size of device' "$FERRY_TMP/short.out.txt" &&
	grep -q 'Kernel panic - not syncing: VFS: Unable to mount root fs' "$FERRY_TMP/short.out.txt" &&
	! grep -q '^ferry-init: up' "$FERRY_TMP/short.out.txt"; then
	pass "a truncated image: $(grep -m1 -o 'bad geometry.*' "$FERRY_TMP/short.out.txt")"
else
	fail "a truncated image: the kernel cannot mount the root" "exit $booted_rc" "$(tail -4 "$FERRY_TMP/short.out.txt")"
fi
: >"$FERRY_TMP/empty.ext4"
timeout 30 "$FERRY_VM" --kernel "$img" --disk "$FERRY_TMP/empty.ext4" --append "$append" </dev/null \
	>"$FERRY_TMP/empty.out" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "disk '.*empty.ext4' is smaller than one 512-byte sector" "$FERRY_TMP/empty.out"; then
	pass "an empty image: ferry-vm refuses it (exit 1)"
else
	fail "an empty image: ferry-vm refuses it" "exit $rc" "$(tail -3 "$FERRY_TMP/empty.out")"
fi

finish integration-debian
