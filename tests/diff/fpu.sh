#!/bin/sh
# fpu.sh - differential test of src/vmm/core/fpu.c against qemu-riscv64's F and D instructions.
#
# Usage: tests/diff/fpu.sh [N [SEED]]   (defaults: 5000000 records, seed 1; about 10 s)
#
# Builds, in a temporary directory:
#   fpu_rv    tests/diff/fpu_rv.c, a static riscv64 program (riscv64-linux-gnu-gcc, glibc) that
#             runs each record's real instruction (every rounding mode, static in the
#             instruction or dynamic through frm) and writes its result and fflags;
#   fpu_host  tests/diff/fpu_host.c with src/vmm/core/fpu.c (host gcc), which generates the N
#             seeded records and checks the reference's answers against fpu.c.
# Then `fpu_host gen N SEED | qemu-riscv64 fpu_rv | fpu_host check N SEED`: QEMU's softfloat is
# an independent implementation; results and flags must match bit for bit over add, sub,
# mul, div, sqrt, the four FMAs, min, max, the compares, classify and every conversion, in S
# and D. Each mismatch is printed (op, rm, operands, both results and flags), then a line per
# operation and format, "fpu-diff: G passed, F failed" over those 48 groups, and last
# "fpu-diff: N records, M mismatches".
#
# Where QEMU and the ISA manual disagree the manual decides: such cases go in allowed() in
# fpu_host.c, each with the manual's section, and in docs/fpu.md. The list is empty: QEMU 7.2
# agreed with the manual on every record tried.
#
# Exit status: 0 if every record matched, 1 on a mismatch, 2 if the test could not run.
#
# Environment: QEMU_RISCV64 (qemu-riscv64), RISCV_CC (riscv64-linux-gnu-gcc), CC (gcc).
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-5000000}
seed=${2:-1}
qemu=${QEMU_RISCV64:-qemu-riscv64}
rvcc=${RISCV_CC:-riscv64-linux-gnu-gcc}
cc=${CC:-gcc}

die() {
	echo "fpu-diff: $*" >&2
	echo "Bail out! $*"
	exit 2
}

for t in "$qemu" "$rvcc" "$cc"; do
	command -v "$t" >/dev/null 2>&1 || die "no $t (install qemu-user, gcc-riscv64-linux-gnu)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-fpu-diff.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM HUP

"$rvcc" -static -O2 -march=rv64gc -mabi=lp64d -Wall -Wextra -Werror \
	-o "$tmp/fpu_rv" "$root/tests/diff/fpu_rv.c" 2>"$tmp/build.err" ||
	{ cat "$tmp/build.err" >&2; die "cannot build fpu_rv.c"; }
"$cc" -std=gnu11 -O2 -Wall -Wextra -Werror -I"$root/src" -I"$root/tests/diff" \
	-o "$tmp/fpu_host" "$root/tests/diff/fpu_host.c" "$root/src/vmm/core/fpu.c" -lm \
	2>"$tmp/build.err" || { cat "$tmp/build.err" >&2; die "cannot build fpu_host.c"; }

# One pipeline, no record files: check regenerates the records from the seed and counts the
# results, so a generator or qemu that fails shows as a short read (exit 2).
"$tmp/fpu_host" gen "$n" "$seed" | "$qemu" "$tmp/fpu_rv" 2>"$tmp/qemu.err" |
	"$tmp/fpu_host" check "$n" "$seed"
rc=$?
if [ -s "$tmp/qemu.err" ]; then
	echo "# $qemu stderr:"
	head -n 5 "$tmp/qemu.err" | sed 's/^/#   /'
fi
exit $rc
