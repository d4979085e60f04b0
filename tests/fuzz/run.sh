#!/bin/bash
# run.sh - run the fuzz targets for a bounded time each; a crash, a sanitizer report or a
# timeout fails. Usage: tests/fuzz/run.sh [SECONDS]   (default 30 per target)
cd "$(dirname "$0")/../.."
secs=${1:-${FERRY_FUZZ_SECONDS:-30}}
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
	corpus=$(mktemp -d /tmp/ferry-fuzz.XXXXXX)
	# Hand-made seeds (a whole valid migration, ...) take the fuzzer deep from the start.
	[ -d "tests/fuzz/seeds/$name" ] && cp "tests/fuzz/seeds/$name"/* "$corpus/"
	log=$corpus.log
	"$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$corpus/" "$corpus" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	if [ $rc -eq 0 ]; then
		echo "ok $n - $name: ${runs:-?} executions in ${secs} s, no crash"
		pass=$((pass + 1))
	else
		echo "not ok $n - $name: exit $rc after ${runs:-?} executions"
		grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -5 | sed 's/^/#   /'
		fail=$((fail + 1))
	fi
	rm -rf "$corpus" "$log"
done
echo "fuzz: $pass passed, $fail failed"
[ $fail -eq 0 ]
