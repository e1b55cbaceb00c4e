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

# median NUMBERS...: the middle one (the lower middle of an even count).
median() {
    printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# Every run starts from a vacuumed table: thousands of updates of one row leave dead versions
# behind that slow the next run down, whichever client it is.
vacuum() {
    psql -h 127.0.0.1 -p "$DB_PORT" -U postgres -d counter -qc 'VACUUM counter' 2>/dev/null || true
}

# serve_rps METHOD POOL: requests per second of a second serve (port 18413) on the same
# database ($URL) with that pool, under wrk POSTing to METHOD's increment path. Needs $WORK
# with post.lua in it.
serve_rps() {
    vacuum
    local out="$WORK/serve.$2"
    RUST_LOG=warn "$COUNTER" serve --bind 127.0.0.1:18413 --database-url "$URL" \
        --pool-size "$2" > "$out" 2>/dev/null &
    local pid=$!
    for _ in $(seq 100); do grep -q '^listening:' "$out" && break; sleep 0.1; done
    wrk_rps "http://127.0.0.1:18413/api/v1/endpoint/counter/$1/" "$WORK/post.lua"
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
}

# pgbench_best SCRIPT: the best TPS of pgbench running SCRIPT against $DB_PORT with 10, 20,
# 50 and 100 clients; sets BEST_TPS and BEST_CLIENTS.
pgbench_best() {
    BEST_TPS=0; BEST_CLIENTS=0
    for clients in 10 20 50 100; do
        local tps
        vacuum
        tps=$(pgbench -n -M prepared -f "$1" -c "$clients" -j 2 -T "$DURATION" \
            -h 127.0.0.1 -p "$DB_PORT" -U postgres counter 2>/dev/null | awk '/^tps/ {print $3}')
        if awk -v a="$tps" -v b="$BEST_TPS" 'BEGIN { exit !(a > b) }'; then BEST_TPS=$tps; BEST_CLIENTS=$clients; fi
    done
}

# serve_best METHOD POOLS...: the best serve_rps over the pool sizes; sets BEST_RPS, BEST_POOL
# and SWEEP (every figure).
serve_best() {
    local method="$1"; shift
    BEST_RPS=0; BEST_POOL=0; SWEEP=""
    for pool in "$@"; do
        local rps
        rps=$(serve_rps "$method" "$pool")
        SWEEP="$SWEEP $pool:$rps"
        if awk -v a="$rps" -v b="$BEST_RPS" 'BEGIN { exit !(a > b) }'; then BEST_RPS=$rps; BEST_POOL=$pool; fi
    done
}
