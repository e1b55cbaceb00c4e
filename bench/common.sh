#!/usr/bin/env bash
# Shared by the benchmarks: a release build, and `counter serve` on a throwaway cluster that is
# stopped when the script exits. Not a test: benchmarks print ratios against a peer run in the
# same invocation, on the same machine, against the same PostgreSQL.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
COUNTER="$ROOT/target/release/counter"
DURATION="${DURATION:-5}"

build() {
    (cd "$ROOT" && cargo build --release --quiet)
}

need() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "bench: $tool is needed (apt-get install -y $tool)" >&2; exit 2; }
    done
}

SERVE_PID=""
SERVE_OUT="$(mktemp)"
stop_serve() {
    if [ -n "$SERVE_PID" ]; then
        kill -TERM "$SERVE_PID" 2>/dev/null || true
        wait "$SERVE_PID" 2>/dev/null || true
        SERVE_PID=""
    fi
}
trap 'stop_serve; rm -f "$SERVE_OUT"' EXIT

# start_serve PORT [serve flags...]: starts serve and sets DB_PORT (the cluster's port).
start_serve() {
    local port="$1"; shift
    : > "$SERVE_OUT"
    RUST_LOG=warn "$COUNTER" serve --bind "127.0.0.1:$port" "$@" > "$SERVE_OUT" 2>/dev/null &
    SERVE_PID=$!
    for _ in $(seq 100); do
        grep -q '^listening:' "$SERVE_OUT" && break
        sleep 0.1
    done
    DB_PORT="$(sed -n 's#^database: postgres://[^@]*@127.0.0.1:\([0-9]*\)/.*#\1#p' "$SERVE_OUT")"
    # The throwaway cluster takes its password from the file serve names (never printed).
    PGPASSFILE="$(sed -n 's#^connect: PGPASSFILE=\([^ ]*\) .*#\1#p' "$SERVE_OUT")"
    export PGPASSFILE
    BASE="http://127.0.0.1:$port"
}

# wrk_rps URL [lua script]: requests per second of a wrk run with 100 connections.
wrk_rps() {
    local url="$1" script="${2:-}"
    local args=(-t2 -c100 -d"${DURATION}s")
    [ -n "$script" ] && args+=(-s "$script")
    wrk "${args[@]}" "$url" | awk '/^Requests\/sec/ {print $2}'
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}
