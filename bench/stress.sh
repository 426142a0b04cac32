#!/usr/bin/env bash
# The long stress tests of durable runs (docs/stress.md): 100 kill -9 points then resume,
# 100 Ctrl-C trials with grandchildren and setsid daemons, 10 concurrent runs per mode.
# Sizes can be changed: PIPEC_STRESS_KILLS, PIPEC_STRESS_STOPS, PIPEC_STRESS_RUNS.
# Exits non-zero when a trial fails (its message is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIPEC_STRESS_KILLS="${PIPEC_STRESS_KILLS:-100}"
export PIPEC_STRESS_STOPS="${PIPEC_STRESS_STOPS:-100}"
export PIPEC_STRESS_RUNS="${PIPEC_STRESS_RUNS:-10}"
# The Ctrl-C trials need `setsid`: fail rather than skip them.
export PIPEC_REQUIRE_TOOLS=1
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
# One test at a time: each starts many processes, and timing matters to the Ctrl-C trials.
status=0
cargo test --release --locked --test integration stress -- --nocapture --test-threads=1 >"$out" 2>&1 || status=$?
grep -E '^(kill -9|Ctrl-C|modes|test stress)' "$out" || true
if [ "$status" -ne 0 ]; then
  grep -E -A12 '^thread .* panicked' "$out" || tail -40 "$out"
fi
exit "$status"
