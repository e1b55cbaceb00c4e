#!/usr/bin/env bash
# The wire proxy's forwarding path: pgbench's select-only load (-S, 8 clients) straight to a
# throwaway cluster and through `counter proxy` in front of it, in the same invocation,
# alternating, three rounds each, with the simple protocol and with prepared statements
# (Parse once, then Bind/Execute: the proxy remembers each statement's SQL). Prints the median
# TPS of each and the ratio proxy / direct. Goal: at least 0.8. PgBouncer (session pooling,
# the same clients) runs beside them as a peer: what a proxy in C costs on the same machine.
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

# PgBouncer in session pooling in front of the same cluster (trust from loopback, its server
# login from a password file only root and postgres can read, removed on exit).
BOUNCER_PORT=18434
BOUNCER_DIR="$(mktemp -d)"
chown postgres "$BOUNCER_DIR"
PASSWORD="$(cut -d: -f5 "$PGPASSFILE" | head -n 1)"
printf '"postgres" "%s"\n' "$PASSWORD" > "$BOUNCER_DIR/users.txt"
cat > "$BOUNCER_DIR/pgbouncer.ini" <<INI
[databases]
counter = host=127.0.0.1 port=$DB_PORT dbname=counter
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $BOUNCER_DIR/users.txt
pool_mode = session
default_pool_size = 20
max_client_conn = 100
logfile = $BOUNCER_DIR/pgbouncer.log
pidfile = $BOUNCER_DIR/pgbouncer.pid
INI
chown postgres "$BOUNCER_DIR"/*
chmod 600 "$BOUNCER_DIR/users.txt"
runuser -u postgres -- pgbouncer -d "$BOUNCER_DIR/pgbouncer.ini"
trap 'kill -TERM "$PROXY_PID" 2>/dev/null; wait "$PROXY_PID" 2>/dev/null; kill "$(cat "$BOUNCER_DIR/pgbouncer.pid" 2>/dev/null)" 2>/dev/null; sleep 0.2; rm -rf "$OUT" "$SERVE_OUT" "$BOUNCER_DIR"' EXIT
sleep 0.5

tps() { # PORT MODE
    pgbench -h 127.0.0.1 -p "$1" -U postgres -S -c 8 -j 2 -M "$2" -T "$DURATION" counter 2>/dev/null |
        awk '/^tps/ {print int($3)}'
}
for mode in simple prepared; do
    direct=(); through=(); bouncer=()
    for _ in 1 2 3; do
        direct+=("$(tps "$DB_PORT" "$mode")")
        through+=("$(tps "$PROXY_PORT" "$mode")")
        bouncer+=("$(tps "$BOUNCER_PORT" "$mode")")
    done
    d="$(median "${direct[@]}")"; p="$(median "${through[@]}")"; b="$(median "${bouncer[@]}")"
    echo "pgbench -S -c 8 -M $mode: direct ${direct[*]} tps (median $d); counter proxy ${through[*]} (median $p): ratio $(ratio "$p" "$d"); PgBouncer ${bouncer[*]} (median $b): ratio $(ratio "$b" "$d")"
done
grep -m1 'model name' /proc/cpuinfo | sed 's/.*: /cpu: /'
echo "cores: $(nproc)"
