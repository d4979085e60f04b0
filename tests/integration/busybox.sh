#!/bin/bash
# busybox.sh - a stock Debian riscv64 binary in the guest: Debian's busybox-static is the init
# (guest/busybox.sh), runs double-precision awk (guest/busybox/fp.awk) and powers off. Its
# output in a ferry-vm guest must equal byte for byte what the same binary prints under
# qemu-riscv64 (user mode) on the host; no SIGILL, no oops, no panic.
#
# Fetching needs the Debian mirror once (guest/debian-fetch.sh caches the index and the .deb
# under $FERRY_CACHE/debian); with the cache filled it runs offline. If the mirror cannot be
# reached and nothing is cached, the suite is skipped and says so.
source "$(dirname "$0")/../lib.sh"
scratch
img=$FERRY_GUEST/Image
out=$FERRY_GUEST/busybox
awkfile=$FERRY_ROOT/guest/busybox/fp.awk

# 1. Fetch (or take from the cache) and build the initramfs.
timeout 600 "$FERRY_ROOT/guest/busybox.sh" "$out" >"$FERRY_TMP/build.log" 2>&1
rc=$?
if [ $rc -eq 3 ]; then
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - busybox-static fetched # SKIP the Debian mirror cannot be reached and nothing is cached:"
	grep 'debian-fetch:' "$FERRY_TMP/build.log" | sed 's/^/#   /'
	finish integration-busybox
	exit
fi
bb=$out/debian/root/usr/bin/busybox
manifest=$out/debian/manifest
if [ $rc -eq 0 ] && [ -s "$out/busybox.cpio" ] && [ -x "$bb" ]; then
	pass "busybox-static fetched and busybox.cpio built ($(grep '^busybox-static ' "$manifest" | cut -d ' ' -f 2), $(stat -c %s "$out/busybox.cpio") bytes)"
else
	fail "busybox-static fetched and busybox.cpio built" "exit $rc" "$(tail -5 "$FERRY_TMP/build.log")"
	finish integration-busybox
	exit
fi

# 2. The manifest names the package, its version and the SHA-256 of the .deb in the cache.
read -r m_name m_ver m_arch m_sha < <(grep -v '^#' "$manifest")
debfile=${FERRY_CACHE:-/var/cache/ferry}/debian/trixie-riscv64/debs/${m_name}_${m_ver//:/%3a}_${m_arch}.deb
if [ "$m_name" = busybox-static ] && [ "$m_arch" = riscv64 ] && [ -f "$debfile" ] &&
	[ "$(sha256sum <"$debfile" | cut -c1-64)" = "$m_sha" ]; then
	pass "manifest: $m_name $m_ver $m_arch, SHA-256 of the cached .deb"
else
	fail "manifest: name, version, architecture and SHA-256 of the cached .deb" "$(cat "$manifest")" "deb: $debfile"
fi

# 3. With everything cached a fetch touches no network: it works in a network namespace of
# its own, which has no interface but a loopback that is down.
if unshare -n true 2>/dev/null; then
	if timeout 120 unshare -n "$FERRY_ROOT/guest/debian-fetch.sh" "$FERRY_TMP/offline" busybox-static \
		>"$FERRY_TMP/offline.log" 2>&1 && cmp -s "$FERRY_TMP/offline/root/usr/bin/busybox" "$bb" &&
		cmp -s "$FERRY_TMP/offline/manifest" "$manifest"; then
		pass "a cached fetch works without a network (unshare -n), same binary and manifest"
	else
		fail "a cached fetch works without a network (unshare -n)" "$(tail -5 "$FERRY_TMP/offline.log")"
	fi
else
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - a cached fetch works without a network # SKIP unshare -n is not permitted here"
fi

# 4. The reference: the same binary and script under qemu-riscv64, in a clean environment
# (the C locale, as in the guest), in the scratch directory.
(cd "$FERRY_TMP" && timeout 300 env -i qemu-riscv64 "$bb" awk -f "$awkfile") >"$FERRY_TMP/ref.out" 2>"$FERRY_TMP/ref.err"
rc=$?
# IEEE 754 facts, so that an empty or broken reference cannot pass.
if [ $rc -eq 0 ] && [ "$(tail -1 "$FERRY_TMP/ref.out")" = "== done" ] &&
	grep -qx '1/3: 0.33333333333333331 0x1.5555555555555p-2' "$FERRY_TMP/ref.out" &&
	grep -qx '0.1+0.2: 0.30000000000000004 0x1.3333333333334p-2' "$FERRY_TMP/ref.out" &&
	grep -qx 'min subnormal: 4.9406564584124654e-324 0x0.0000000000001p-1022' "$FERRY_TMP/ref.out" &&
	! grep -q $'\r' "$FERRY_TMP/ref.out"; then
	pass "reference under qemu-riscv64: $(wc -l <"$FERRY_TMP/ref.out") lines"
else
	fail "reference under qemu-riscv64" "exit $rc" "$(tail -3 "$FERRY_TMP/ref.out")" "$(head -3 "$FERRY_TMP/ref.err")"
fi
ref_bytes=$(stat -c %s "$FERRY_TMP/ref.out")
ref_sha=$(sha256sum <"$FERRY_TMP/ref.out" | cut -c1-64)


# The checks of one guest run: init, no crash, output equal to the reference.
check_guest() { # WHAT LOG
	local what=$1 log=$2
	if grep -q '^ferry-busybox: up BusyBox v' "$log"; then
		pass "$what: busybox init runs /etc/ferry-fp ($(grep -m1 '^ferry-busybox: up' "$log" | tr -d '\r' | sed 's/^ferry-busybox: up //'))"
	else
		fail "$what: busybox init runs /etc/ferry-fp" "exit $booted_rc, timeout $booted_timeout" \
			"$(tail -8 "$log" | tr -d '\r')" "$(tail -3 "$log.err")"
	fi
	local bad
	bad=$(grep -E 'unhandled signal|Illegal instruction|Oops|Kernel panic|BUG:|WARNING:|Unable to handle' "$log" | head -3 | tr -d '\r')
	if [ -z "$bad" ]; then pass "$what: no SIGILL, oops or panic"; else fail "$what: no SIGILL, oops or panic" "$bad"; fi
	sed -n '/^ferry-busybox: awk begin\r\?$/,/^ferry-busybox: awk end /p' "$log" | sed '1d;$d' |
		sed 's/\r$//' >"$log.awk"
	local end
	end=$(grep -m1 '^ferry-busybox: awk end ' "$log" | tr -d '\r')
	if [ -n "$end" ] && cmp -s "$log.awk" "$FERRY_TMP/ref.out"; then
		pass "$what: awk output equals qemu-riscv64's byte for byte ($ref_bytes bytes)"
	else
		fail "$what: awk output equals qemu-riscv64's byte for byte" "${end:-no end marker}" \
			"$(diff "$FERRY_TMP/ref.out" "$log.awk" | head -12)"
	fi
	# The guest's own count and hash of its output file: free of what the console does to it.
	if [ "$end" = "ferry-busybox: awk end status=0 bytes=$ref_bytes sha256=$ref_sha" ]; then
		pass "$what: awk status 0, size and SHA-256 in the guest equal the reference's"
	else
		fail "$what: awk status 0, size and SHA-256 in the guest equal the reference's" \
			"want: status=0 bytes=$ref_bytes sha256=$ref_sha" "got:  ${end:-nothing}"
	fi
	if [ "$booted_rc" -eq 0 ] && [ "$booted_timeout" -eq 0 ] && grep -q '^ferry-busybox: poweroff' "$log" &&
		grep -q 'reboot: Power down' "$log"; then
		pass "$what: poweroff -f ends the machine with status 0"
	else
		fail "$what: poweroff -f ends the machine with status 0" "exit $booted_rc, timeout $booted_timeout"
	fi
}

# 5. ferry-vm.
run_machine "$FERRY_TMP/vm.out" 300 "$FERRY_VM" --kernel "$img" --initrd "$out/busybox.cpio" --memory 256M \
	--append "console=ttyS0"
check_guest ferry-vm "$FERRY_TMP/vm.out"

# 6. The same initramfs in QEMU's virt board (our reference machine).
if command -v qemu-system-riscv64 >/dev/null; then
	run_machine "$FERRY_TMP/qemu.out" 300 qemu-system-riscv64 -M virt -bios default -nographic -m 256M \
		-kernel "$img" -initrd "$out/busybox.cpio" -append "console=ttyS0"
	check_guest qemu-system "$FERRY_TMP/qemu.out"
fi

finish integration-busybox
