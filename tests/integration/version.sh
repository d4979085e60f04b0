#!/bin/bash
# version.sh - every program answers --version with the project's one version string, the one
# the build recorded (build/version): one line "NAME VERSION" on stdout, nothing on stderr,
# exit status 0.
source "$(dirname "$0")/../lib.sh"
scratch
bin=$FERRY_ROOT/build/bin
want=$(cat "$FERRY_ROOT/build/version" 2>/dev/null)
if [ -n "$want" ]; then pass "the build recorded version '$want'"; else fail "the build recorded a version in build/version"; fi
for p in ferry-vm ferry-vmctl ferry-counter ferry-ping ferryd ferry; do
	"$bin/$p" --version >"$FERRY_TMP/out" 2>"$FERRY_TMP/err" </dev/null
	rc=$?
	got=$(cat "$FERRY_TMP/out")
	if [ $rc -eq 0 ] && [ "$got" = "$p $want" ] && [ "$(wc -l <"$FERRY_TMP/out")" -eq 1 ] && [ ! -s "$FERRY_TMP/err" ]; then
		pass "$p --version: '$got', exit 0"
	else
		fail "$p --version prints '$p $want' and exits 0" "exit $rc, stdout '$got'" "stderr: $(head -2 "$FERRY_TMP/err")"
	fi
done
finish integration-version
