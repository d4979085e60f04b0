#!/bin/bash
# boot.sh - ferry-vm end to end: the guest boots to its init and powers off cleanly; reboot
# restarts it; the command line refuses bad input with a message and the right exit status.
source "$(dirname "$0")/../lib.sh"
scratch
img=$FERRY_GUEST/Image
rd=$FERRY_GUEST/initramfs.cpio
vm() { timeout 120 "$FERRY_VM" "$@" </dev/null; }

# 1. Boot to the init banner and power off: exit status 0.
vm --kernel "$img" --initrd "$rd" --memory 256M --append "console=ttyS0 ferry.poweroff" \
	>"$FERRY_TMP/boot.out" 2>"$FERRY_TMP/boot.err"
rc=$?
if [ $rc -eq 0 ] && grep -q '^ferry-init: up linux=6\.1\.' "$FERRY_TMP/boot.out" &&
	grep -q '^ferry-init: poweroff' "$FERRY_TMP/boot.out" &&
	grep -q 'reboot: Power down' "$FERRY_TMP/boot.out"; then
	pass "guest boots to its init banner and powers off with status 0"
else
	fail "guest boots to its init banner and powers off with status 0" "exit $rc" \
		"$(tail -5 "$FERRY_TMP/boot.out")" "$(tail -5 "$FERRY_TMP/boot.err")"
fi
if grep -qE 'WARNING|BUG|Oops|Kernel panic|Unable to handle' "$FERRY_TMP/boot.out"; then
	fail "boot log free of kernel warnings" "$(grep -E 'WARNING|BUG|Oops|panic' "$FERRY_TMP/boot.out" | head -3)"
else
	pass "boot log free of kernel warnings"
fi
for what in "Serial: 8250/16550" "ttyS0 at MMIO 0x10000000" "riscv-intc" "plic"; do
	if grep -qi "$what" "$FERRY_TMP/boot.out"; then pass "kernel found: $what"; else fail "kernel found: $what"; fi
done

# 2. The same Image boots in QEMU's virt board (our reference).
if command -v qemu-system-riscv64 >/dev/null; then
	timeout 120 qemu-system-riscv64 -M virt -bios default -nographic -m 256M -kernel "$img" \
		-initrd "$rd" -append "console=ttyS0 ferry.poweroff" </dev/null >"$FERRY_TMP/qemu.out" 2>&1
	if grep -q '^ferry-init: up linux=6\.1\.' "$FERRY_TMP/qemu.out"; then
		pass "the same Image and initramfs boot in qemu-system-riscv64 -M virt"
	else
		fail "the same Image and initramfs boot in qemu-system-riscv64 -M virt" "$(tail -5 "$FERRY_TMP/qemu.out")"
	fi
fi

# 3. Reboot restarts the guest: two banners, then stop it with a signal (exit status 3).
"$FERRY_VM" --kernel "$img" --initrd "$rd" --append "console=ttyS0 ferry.reboot" \
	</dev/null >"$FERRY_TMP/reboot.out" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
	[ "$(grep -c '^ferry-init: up' "$FERRY_TMP/reboot.out")" -ge 2 ] && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.1
done
kill -TERM $pid 2>/dev/null
wait $pid
rc=$?
n=$(grep -c '^ferry-init: up' "$FERRY_TMP/reboot.out")
if [ "$n" -ge 2 ]; then pass "SBI reboot restarts the guest ($n boots seen)"; else fail "SBI reboot restarts the guest" "boots seen: $n" "$(tail -5 "$FERRY_TMP/reboot.out")"; fi
if [ $rc -eq 3 ]; then pass "SIGTERM stops the machine with status 3"; else fail "SIGTERM stops the machine with status 3" "exit $rc"; fi

# 4. Bad input: a message naming the problem and a non-zero exit.
expect() { # NAME STATUS PATTERN ARGS...
	local name=$1 want=$2 pat=$3
	shift 3
	"$FERRY_VM" "$@" </dev/null >"$FERRY_TMP/out" 2>"$FERRY_TMP/err"
	local rc=$?
	if [ $rc -eq "$want" ] && grep -q -- "$pat" "$FERRY_TMP/err"; then
		pass "$name"
	else
		fail "$name" "want exit $want and /$pat/, got exit $rc:" "$(head -3 "$FERRY_TMP/err")"
	fi
}
head -c 4096 /dev/urandom >"$FERRY_TMP/random.img"
head -c 10 "$img" >"$FERRY_TMP/short.img"
# A header whose image_size is smaller than the file.
cp "$img" "$FERRY_TMP/badsize.img"
printf '\x10\x00\x00\x00\x00\x00\x00\x00' | dd of="$FERRY_TMP/badsize.img" bs=1 seek=16 conv=notrunc 2>/dev/null
head -c $((20 << 20)) /dev/zero >"$FERRY_TMP/big.initrd"
expect "missing kernel file" 1 "cannot open kernel" --kernel "$FERRY_TMP/nonexistent"
expect "kernel that is not an Image" 1 "not a RISC-V Linux Image" --kernel "$FERRY_TMP/random.img"
expect "truncated kernel" 1 "too short" --kernel "$FERRY_TMP/short.img"
expect "corrupt image_size" 1 "corrupt Image header" --kernel "$FERRY_TMP/badsize.img"
expect "kernel is a directory" 1 "not a regular file" --kernel "$FERRY_TMP"
expect "missing initrd file" 1 "cannot open initrd" --kernel "$img" --initrd "$FERRY_TMP/nonexistent"
expect "memory not a size" 2 "is not a size" --kernel "$img" --memory 12Q
expect "memory negative" 2 "is not a size" --kernel "$img" --memory -5M
expect "memory below the minimum" 1 "memory size must be" --kernel "$img" --memory 1M
expect "memory not whole MiB" 1 "memory size must be" --kernel "$img" --memory 17000K
expect "memory too small for kernel and initrd" 1 "too small" --kernel "$img" --initrd "$FERRY_TMP/big.initrd" --memory 16M
expect "unknown option" 2 "unknown option" --kernel "$img" --bogus
expect "option without its value" 2 "needs a value" --kernel
expect "no kernel" 2 "kernel is required" --memory 64M
expect "stray argument" 2 "unexpected argument" --kernel "$img" extra
expect "unknown console" 1 "unknown console" --kernel "$img" --console tcp:1234
expect "bad log level" 2 "expected error, warn" --kernel "$img" --log loud
"$FERRY_VM" --help >"$FERRY_TMP/help" 2>&1
if [ $? -eq 0 ] && grep -q -- "--kernel" "$FERRY_TMP/help"; then pass "--help"; else fail "--help"; fi

finish integration-boot
