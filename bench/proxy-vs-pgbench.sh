#!/usr/bin/env bash
# The wire proxy's forwarding path: pgbench's select-only load (-S, 8 clients) straight to a
# throwaway cluster and through `counter proxy` in front of it, in the same invocation,
# alternating, three rounds each, with the simple protocol and with prepared statements
# (Parse once, then Bind/Execute: the proxy remembers each statement's SQL). Prints the median
# TPS of each and the ratio proxy / direct. Goal: at least 0.8.
source "$(dirname "$0")/common.sh"
need pgbench psql
build
OUT="$(mktemp)"
PROXY_PORT=18433
"$COUNTER" proxy --quiet --listen "127.0.0.1:$PROXY_PORT" > "$OUT" 2>/dev/null &
PROXY_PID=$!
trap 'kill -TERM "$PROXY_PID" 2>/dev/null; wait "$PROXY_PID" 2>/dev/null; rm -f "$OUT" "$SERVE_OUT"' EXIT
for _ in $(seq 100); do grep -q '^level:' "$OUT" && break; sleep 0.1; done
DB_PORT="$(sed -n 's#^database: postgres://[^@]*@127.0.0.1:\([0-9]*\)/.*#\1#p' "$OUT")"
PGPASSFILE="$(sed -n 's#^connect: PGPASSFILE=\([^ ]*\) .*#\1#p' "$OUT")"
export PGPASSFILE
pgbench -h 127.0.0.1 -p "$DB_PORT" -U postgres -i -s 1 -q counter > /dev/null 2>&1

tps() { # PORT MODE
    pgbench -h 127.0.0.1 -p "$1" -U postgres -S -c 8 -j 2 -M "$2" -T "$DURATION" counter 2>/dev/null |
        awk '/^tps/ {print int($3)}'
}
for mode in simple prepared; do
    direct=(); through=()
    for _ in 1 2 3; do
        direct+=("$(tps "$DB_PORT" "$mode")")
        through+=("$(tps "$PROXY_PORT" "$mode")")
    done
    d="$(median "${direct[@]}")"; p="$(median "${through[@]}")"
    echo "pgbench -S -c 8 -M $mode: direct ${direct[*]} tps (median $d), through the proxy ${through[*]} (median $p): ratio $(ratio "$p" "$d")"
done
grep -m1 'model name' /proc/cpuinfo | sed 's/.*: /cpu: /'
echo "cores: $(nproc)"
