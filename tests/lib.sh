# lib.sh - TAP helpers for the shell test suites (sourced by bash scripts).
#
#   check NAME COMMAND...   run COMMAND; "ok" if it exits 0, "not ok" otherwise
#   pass NAME / fail NAME [DETAIL...]
#   finish SUITE            print "SUITE: N passed, N failed" and exit non-zero on failure
#
# FERRY_ROOT is the top of the tree; FERRY_VM the ferry-vm binary; FERRY_GUEST the guest
# directory (Image, initramfs.cpio).

FERRY_ROOT=${FERRY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
FERRY_VM=${FERRY_VM:-$FERRY_ROOT/build/bin/ferry-vm}
FERRY_GUEST=${FERRY_GUEST:-$FERRY_ROOT/build/guest}
tap_n=0
tap_pass=0
tap_fail=0

pass() {
	tap_n=$((tap_n + 1))
	tap_pass=$((tap_pass + 1))
	echo "ok $tap_n - $1"
}

fail() {
	local name=$1
	shift
	tap_n=$((tap_n + 1))
	tap_fail=$((tap_fail + 1))
	echo "not ok $tap_n - $name"
	for line in "$@"; do
		printf '%s\n' "$line" | sed 's/^/#   /'
	done
}

check() {
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name" "command failed: $*"; fi
}

finish() {
	echo "1..$tap_n"
	echo "$1: $tap_pass passed, $tap_fail failed"
	[ "$tap_fail" -eq 0 ]
}

# A scratch directory removed on exit.
scratch() {
	FERRY_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ferry-test.XXXXXX")
	trap 'rm -rf "$FERRY_TMP"' EXIT
}

# Run a machine (ferry-vm or QEMU) until it exits, at most LIMIT seconds; a kernel panic ends it
# at once (the kernel would spin forever). Its console goes to LOG (and without carriage
# returns to LOG.txt), its standard error to LOG.err; sets booted_rc (its exit status) and
# booted_timeout (1 if the limit ended it). While it runs, machine_pid is its process id (for
# a trap to end it). Optional, in the environment:
#   RUN_IN=FILE     its standard input (default /dev/null)
#   RUN_UNTIL=RE    end it at the first console line matching RE
#   RUN_MARK=RE     time the first console line matching RE: mark_ms, from its start
run_machine() { # LOG LIMIT COMMAND...
	local log=$1 limit=$2 start
	shift 2
	start=$(date +%s%N)
	"$@" <"${RUN_IN:-/dev/null}" >"$log" 2>"$log.err" &
	machine_pid=$!
	local end=$((SECONDS + limit))
	booted_timeout=0
	mark_ms=""
	while kill -0 "$machine_pid" 2>/dev/null; do
		if [ -n "${RUN_MARK:-}" ] && [ -z "$mark_ms" ] && grep -q "$RUN_MARK" "$log"; then
			mark_ms=$((($(date +%s%N) - start) / 1000000))
		fi
		if grep -q 'Kernel panic' "$log"; then
			sleep 1
			break
		fi
		[ -z "${RUN_UNTIL:-}" ] || ! grep -q "$RUN_UNTIL" "$log" || break
		if [ $SECONDS -ge $end ]; then
			booted_timeout=1
			break
		fi
		sleep 0.05
	done
	if kill -0 "$machine_pid" 2>/dev/null; then
		kill -TERM "$machine_pid" 2>/dev/null
		for _ in $(seq 1 25); do kill -0 "$machine_pid" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$machine_pid" 2>/dev/null
	fi
	wait "$machine_pid"
	booted_rc=$?
	machine_pid=""
	if [ -n "${RUN_MARK:-}" ] && [ -z "$mark_ms" ] && grep -q "$RUN_MARK" "$log"; then
		mark_ms=$((($(date +%s%N) - start) / 1000000))
	fi
	tr -d '\r' <"$log" >"$log.txt"
}
