#!/usr/bin/env bash
# Do the tests pass whatever else the machine is doing? Runs `cargo test` RUNS times (default
# 10) while two CPU-bound processes (`yes`) compete for the cores, and counts the green runs.
# Not a test itself: it is how the suite's independence from load is checked.
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-10}"
cargo test --no-run --quiet 2>/dev/null
HOGS=()
trap 'for pid in "${HOGS[@]}"; do kill "$pid" 2>/dev/null; done' EXIT
for _ in 1 2; do yes > /dev/null & HOGS+=($!); done
green=0
for run in $(seq "$RUNS"); do
    started=$(date +%s)
    if out=$(cargo test --quiet 2>&1); then
        green=$((green + 1))
        echo "run $run: green ($(( $(date +%s) - started )) s)"
    else
        echo "run $run: RED ($(( $(date +%s) - started )) s)"
        echo "$out" | grep -E "FAILED|panicked" | head -5
    fi
done
echo "$green of $RUNS runs green with two CPU hogs on $(nproc) cores"
[ "$green" = "$RUNS" ]
