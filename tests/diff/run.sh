#!/bin/sh
# run.sh - differential tests: the guest/progs/diff_* programs under qemu-riscv64 and in ferry-vm.
#
# Usage: tests/diff/run.sh [FERRY_VM [GUEST_DIR]]
#        (defaults: build/bin/ferry-vm and build/guest of this repository;
#        build them first with `make && guest/build.sh`)
#
# Each guest/progs/diff_*.c is a static RV64 Linux program (nolibc, built by
# guest/build.sh into GUEST_DIR/bin and put into the initramfs as /bin/NAME)
# that prints deterministic results. It runs once in user mode under Debian's
# qemu-riscv64, an independent implementation, and once inside ONE ferry-vm
# guest that runs all of them in sequence (ferry.run=a,b,... ferry.poweroff).
# The guest's output of each program is cut out of the console log between
# its `ferry-run: begin NAME` and `ferry-run: end NAME status=N` markers, \r
# stripped, and compared byte for byte with qemu's, exit status included.
#
# Output is TAP: one `ok N - diff_X` / `not ok N - diff_X` line per program
# (with a diff excerpt on a mismatch), then the line `diff: N passed, N failed`.
# Exit status: 0 if every program matched, 1 otherwise, 2 if the test could
# not run at all.
#
# Environment:
#   FERRY_DIFF_TIMEOUT  seconds allowed for the guest and for each qemu run (300)
#   QEMU_RISCV64        the reference emulator (qemu-riscv64)
#   FERRY_DIFF_ONLY     space-separated program names to run instead of all
#   FERRY_DIFF_KEEP     non-empty: keep the temporary directory (logs) and name it
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
vm=${1:-$root/build/bin/ferry-vm}
guest=${2:-$root/build/guest}
qemu=${QEMU_RISCV64:-qemu-riscv64}
limit=${FERRY_DIFF_TIMEOUT:-300}

die() {
	echo "diff: $*" >&2
	echo "Bail out! $*"
	exit 2
}

[ -x "$vm" ] || die "no ferry-vm at $vm (run make)"
if [ ! -f "$guest/Image" ] || [ ! -f "$guest/initramfs.cpio" ]; then
	die "no guest in $guest (run guest/build.sh)"
fi
command -v "$qemu" >/dev/null 2>&1 || die "no $qemu (install qemu-user)"
command -v timeout >/dev/null 2>&1 || die "no timeout (coreutils)"

progs=""
if [ -n "${FERRY_DIFF_ONLY:-}" ]; then
	progs=$FERRY_DIFF_ONLY
else
	for f in "$root"/guest/progs/diff_*.c; do
		[ -f "$f" ] || continue
		progs="$progs $(basename "$f" .c)"
	done
fi
# shellcheck disable=SC2086,SC2116 # split and rejoin: one space between names
progs=$(echo $progs)
[ -n "$progs" ] || die "no guest/progs/diff_*.c programs"
for p in $progs; do
	[ -x "$guest/bin/$p" ] || die "no program $guest/bin/$p (run guest/build.sh)"
	src=$root/guest/progs/$p.c
	if [ -f "$src" ] && [ -n "$(find "$src" -newer "$guest/bin/$p")" ]; then
		echo "# warning: $src is newer than $guest/bin/$p (run guest/build.sh)"
	fi
done
list=$(echo "$progs" | tr ' ' ',')
# The guest's init copies the ferry.run value into a 256-byte buffer.
[ ${#list} -lt 256 ] || die "ferry.run list too long for the guest's init (${#list} >= 256 characters)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-diff.XXXXXX") || die "mktemp failed"
if [ -n "${FERRY_DIFF_KEEP:-}" ]; then
	echo "# keeping $tmp"
else
	trap 'rm -rf "$tmp"' EXIT
fi
trap 'exit 130' INT TERM HUP

# The reference: each program under qemu-riscv64, its exit status appended.
for p in $progs; do
	timeout -k 10 "$limit" "$qemu" "$guest/bin/$p" </dev/null >"$tmp/$p.qemu" 2>"$tmp/$p.qemu-err"
	echo "exit status=$?" >>"$tmp/$p.qemu"
done

# The subject: one guest running all of them.
start=$(date +%s)
timeout -k 10 "$limit" "$vm" --kernel "$guest/Image" --initrd "$guest/initramfs.cpio" --memory 256M \
	--console stdio --append "console=ttyS0 quiet ferry.run=$list ferry.poweroff" \
	</dev/null >"$tmp/console.raw" 2>"$tmp/vm.err"
vmstatus=$?
end=$(date +%s)
tr -d '\r' <"$tmp/console.raw" >"$tmp/console.log"
if [ $vmstatus -eq 124 ] || [ $vmstatus -eq 137 ]; then
	echo "# ferry-vm timed out after ${limit}s"
elif [ $vmstatus -ne 0 ]; then
	echo "# ferry-vm exited with status $vmstatus"
fi
echo "# guest ran for $((end - start))s"

# Cut each program's output out of the console log.
for p in $progs; do
	awk -v name="$p" '
		$0 == "ferry-run: begin " name { inside = 1; next }
		inside && index($0, "ferry-run: end " name " status=") == 1 {
			sub(/.* status=/, ""); print "exit status=" $0; done = 1; exit
		}
		inside { print }
		END { if (!done) print "(no end marker: the program did not finish in the guest)" }
	' "$tmp/console.log" >"$tmp/$p.ferry"
done

n=0
pass=0
fail=0
echo "1..$(echo "$progs" | wc -w)"
for p in $progs; do
	n=$((n + 1))
	if cmp -s "$tmp/$p.qemu" "$tmp/$p.ferry"; then
		echo "ok $n - $p"
		pass=$((pass + 1))
	else
		echo "not ok $n - $p"
		fail=$((fail + 1))
		diff -u --label "$p (qemu-riscv64)" --label "$p (ferry-vm)" "$tmp/$p.qemu" "$tmp/$p.ferry" |
			head -n 40 | sed 's/^/#   /'
		if [ -s "$tmp/$p.qemu-err" ]; then
			echo "#   qemu-riscv64 stderr:"
			head -n 5 "$tmp/$p.qemu-err" | sed 's/^/#     /'
		fi
	fi
done
if [ $fail -ne 0 ] || [ $vmstatus -ne 0 ]; then
	if [ -s "$tmp/vm.err" ]; then
		echo "# ferry-vm stderr:"
		head -n 10 "$tmp/vm.err" | sed 's/^/#   /'
	fi
	echo "# console tail:"
	tail -n 10 "$tmp/console.log" | sed 's/^/#   /'
fi
echo "diff: $pass passed, $fail failed"
[ $fail -eq 0 ] && [ $vmstatus -eq 0 ]
