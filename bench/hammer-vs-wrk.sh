#!/usr/bin/env bash
# The load client against wrk, on the same cheap endpoint of `counter serve` (GET /api/v1/info,
# no database work), with the same 100 connections. Prints hammer req/s / wrk req/s (goal >= 0.9).
source "$(dirname "$0")/common.sh"
need wrk
build
start_serve 18411
WRK=$(wrk_rps "$BASE/api/v1/info")
REQUESTS=$(awk -v r="$WRK" -v d="$DURATION" 'BEGIN { printf "%d", r * d }')
HAMMER=$( ("$COUNTER" hammer -d "$BASE" -n 3 --path /api/v1/info --http-method get \
    --requests "$REQUESTS" --concurrency 100 --quiet --format json || true) | awk -F': ' '/"throughput_rps"/ {gsub(",", "", $2); print $2}')
echo "wrk:    $WRK req/s"
echo "hammer: $HAMMER req/s ($REQUESTS requests)"
echo "hammer / wrk = $(ratio "$HAMMER" "$WRK")"
