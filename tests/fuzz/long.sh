#!/bin/bash
# long.sh - run every fuzz target for hours, outside CI: each from its seeds (every reproducer
# included) and a corpus kept between runs, so a long run goes on where the last one stopped.
# A crash, a sanitizer report or a timeout fails; its input is kept beside the corpus.
# Usage: tests/fuzz/long.sh [HOURS] [CORPUS-DIR]   (default 4 hours per target,
#        corpus under /var/tmp/ferry-fuzz); FERRY_FUZZ_JOBS runs that many processes a target.
cd "$(dirname "$0")/../.."
hours=${1:-4}
root=${2:-/var/tmp/ferry-fuzz}
jobs=${FERRY_FUZZ_JOBS:-1}
here=$PWD
mkdir -p "$root" && root=$(cd "$root" && pwd) || exit 1
secs=$(awk -v h="$hours" 'BEGIN { printf "%d", h * 3600 }')
make fuzz >/dev/null || exit 1
pass=0
fail=0
n=0
# The targets' own files (fuzz_migstream's lease) go here, removed at the end.
FERRY_FUZZ_TMP=$(mktemp -d /dev/shm/ferry-fuzz-run.XXXXXX) || exit 1
export FERRY_FUZZ_TMP
trap 'rm -rf "$FERRY_FUZZ_TMP"' EXIT
for t in build/fuzz/fuzz_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	n=$((n + 1))
	corpus=$root/$name
	mkdir -p "$corpus" "$root/$name.crashes"
	[ -d "tests/fuzz/seeds/$name" ] && cp -n "tests/fuzz/seeds/$name"/* "$corpus/"
	log=$root/$name.log
	# (from $root: with -jobs, libFuzzer writes its workers' fuzz-N.log where it runs)
	(cd "$root" && exec "$here/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -jobs="$jobs" -workers="$jobs" -artifact_prefix="$root/$name.crashes/" \
		"$corpus") >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | awk '{ s += $1 } END { print s + 0 }')
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	if [ $rc -eq 0 ] && [ -z "$(ls -A "$root/$name.crashes")" ]; then
		echo "ok $n - $name: $runs executions in $hours h, ${cov:-cov: ?}, no crash"
		pass=$((pass + 1))
	else
		echo "not ok $n - $name: exit $rc after $runs executions; inputs in $root/$name.crashes"
		grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -5 | sed 's/^/#   /'
		fail=$((fail + 1))
	fi
done
echo "fuzz (long): $pass passed, $fail failed"
[ $fail -eq 0 ]
