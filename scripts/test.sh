#!/bin/sh
# test.sh - set up, build, and run every test suite; ends with "N passed, N failed".
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
make -j"$(nproc)"
guest/build.sh build/guest
exec tests/run-all.sh
