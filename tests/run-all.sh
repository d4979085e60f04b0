#!/bin/bash
# run-all.sh - every suite: unit (optimised and sanitized), lint, differential, fuzzing
# (bounded time), integration.
# Each suite ends with a line "NAME: N passed, N failed"; this adds them up and ends with
# "N passed, N failed" (non-zero exit status if any test failed or a suite broke).
cd "$(dirname "$0")/.."
total_pass=0
total_fail=0
log=$(mktemp -d /tmp/ferry-tests.XXXXXX)
trap 'rm -rf "$log"' EXIT

suite() { # name command...
	local name=$1
	shift
	echo "=== $name"
	"$@" 2>&1 | tee "$log/$name.out"
	local rc=${PIPESTATUS[0]}
	local line
	line=$(grep -E '[0-9]+ passed, [0-9]+ failed$' "$log/$name.out" | tail -1)
	if [ -z "$line" ]; then
		echo "$name: no summary line (exit $rc): counted as 1 failure"
		total_fail=$((total_fail + 1))
		return
	fi
	local p f
	p=$(echo "$line" | sed -E 's/.* ([0-9]+) passed, ([0-9]+) failed$/\1/')
	f=$(echo "$line" | sed -E 's/.* ([0-9]+) passed, ([0-9]+) failed$/\2/')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
}

suite unit make -s -j"$(nproc)" check
suite lint-ram-writes bash tests/lint/ram-writes.sh
suite lint-self-test bash tests/lint/ram-writes.sh --self-test
suite lint-layers bash tests/lint/layers.sh
suite lint-layers-self-test bash tests/lint/layers.sh --self-test
suite lab-checks bash tests/lint/lab-checks.sh
if [ -f tests/diff/run.sh ]; then suite diff bash tests/diff/run.sh; fi
if [ -f tests/diff/fpu.sh ]; then suite diff-fpu bash tests/diff/fpu.sh; fi
suite fuzz bash -c 'make -s fuzz && tests/fuzz/run.sh'
for t in tests/integration/*.sh; do
	suite "integration-$(basename "$t" .sh)" bash "$t"
done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
