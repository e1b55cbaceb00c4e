#!/usr/bin/env bash
# 10k, 100k and 1M increments (method 3, concurrency 256) through `counter hammer` against
# `counter serve`: wall time per request (linear growth means a flat us/request) and the peak
# memory of both processes.
source "$(dirname "$0")/common.sh"
need /usr/bin/time
build
start_serve 18413
for n in 10000 100000 1000000; do
    out=$(/usr/bin/time -f "%M" "$COUNTER" hammer -d "$BASE" -n 3 --requests "$n" --concurrency 256 \
        --timeout 60 --quiet --format json 2>"$SERVE_OUT.time")
    hammer_kb=$(tail -n 1 "$SERVE_OUT.time")
    ms=$(echo "$out" | awk -F': ' '/"duration_ms"/ {gsub(",", "", $2); print $2}')
    outcome=$(echo "$out" | awk -F'"' '/"outcome"/ {print $4}')
    serve_kb=$(awk '/VmHWM/ {print $2}' "/proc/$SERVE_PID/status")
    echo "$n requests: $(awk -v m="$ms" 'BEGIN {printf "%.1f", m/1000}') s," \
        "$(awk -v m="$ms" -v n="$n" 'BEGIN {printf "%.1f", m*1000/n}') us/request, $outcome;" \
        "peak RSS hammer $((hammer_kb / 1024)) MB, serve $((serve_kb / 1024)) MB"
done
rm -f "$SERVE_OUT.time"
