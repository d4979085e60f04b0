#!/bin/sh
# run-unit.sh - run cmocka test binaries; print one line per test and a total.
#
# Usage: tests/run-unit.sh BINARY...
# Ends with "unit: N passed, N failed"; exits non-zero if any failed.
pass=0
fail=0
for bin in "$@"; do
	name=$(echo "$bin" | sed 's|.*/tests/||')
	out=$(CMOCKA_MESSAGE_OUTPUT=TAP "$bin" 2>&1)
	rc=$?
	p=$(printf '%s\n' "$out" | grep -c '^ok ')
	f=$(printf '%s\n' "$out" | grep -c '^not ok ')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1 # crashed or aborted outside a test (a sanitizer report, say)
	fi
	if [ "$f" -ne 0 ]; then
		printf '%s\n' "$out" | grep -v '^ok ' | sed "s|^|  $name: |"
	fi
	echo "unit: $name: $p passed, $f failed"
	pass=$((pass + p))
	fail=$((fail + f))
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
