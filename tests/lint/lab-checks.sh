#!/bin/bash
# lab-checks.sh - the lab's own checks, proven on made-up journals: a check that cannot fail
# proves nothing. vm_journals_disjoint (lab/vm.sh) must find every overlap of run intervals,
# a process still running at the end of its journal included, with the awk Debian has.
cd "$(dirname "$0")/../.."
. lab/vm.sh
t=$(mktemp -d /tmp/ferry-labchk.XXXXXX)
trap 'rm -rf "$t"' EXIT
n=0 fails=0
check() { # WANT(0 disjoint, 1 overlap) DESCRIPTION JOURNAL...
	local want=$1 what=$2 got
	shift 2
	n=$((n + 1))
	vm_journals_disjoint "$@" >/dev/null
	got=$?
	if [ "$got" -eq "$want" ]; then
		echo "ok $n - $what"
	else
		echo "not ok $n - $what (exit $got, wanted $want)"
		fails=$((fails + 1))
	fi
}
printf '100 0 RUN start\n200 0 PAUSE migration\n300 0 STOP migrated\n' >"$t/src"
printf '250 0 RUN migration\n' >"$t/dst-late"
printf '150 0 RUN migration\n' >"$t/dst-early"
printf '150 0 RUN migration\n180 0 STOP quit\n' >"$t/dst-closed"
printf '100 0 RUN start\n' >"$t/forever"
printf '500 0 RUN start\n600 0 STOP quit\n' >"$t/later"
check 0 "source paused, then the destination runs on" "$t/src" "$t/dst-late"
check 1 "a destination still running that started while the source ran" "$t/src" "$t/dst-early"
check 1 "the same, journals given the other way round" "$t/dst-early" "$t/src"
check 1 "a closed interval inside the source's" "$t/src" "$t/dst-closed"
check 1 "a process running at the end of its journal overlaps anything after it" "$t/forever" "$t/later"
check 0 "one journal alone" "$t/forever"
echo "lab-checks: $((n - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
