#!/usr/bin/env bash
# Loops test/46 (signals + temp files) N times and counts the runs and cases that failed.
# Usage: bash bench/signals-loop.sh [N=30] [log dir]   (TS_CLI=<path/to/cli.js> tests another build)
# Under load (other builds/tests running) is the point: the races it guards need a busy machine.
set -u
cd "$(dirname "$0")/.."
n=${1:-30}; log=${2:-$(mktemp -d /tmp/signals-loop-XXXX)}
mkdir -p "$log"
bad=0
for i in $(seq "$n"); do
  node test/run.mjs 46- > "$log/run-$i.txt" 2>&1 || bad=$((bad + 1))
  tail -1 "$log/run-$i.txt" | sed "s/^/run $i: /"
done
echo "== $bad of $n runs failed (logs in $log); failing cases:"
grep -h "FAIL " "$log"/run-*.txt | sed 's/\x1b\[[0-9;]*m//g' | sort | uniq -c || true
