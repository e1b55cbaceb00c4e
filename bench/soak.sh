#!/usr/bin/env bash
# A soak with faults: bench/soak.sh [MINUTES] (default 10). Steady load (counter hammer, 32 in
# flight) on methods 1, 2, 3, 5, 6 and 7 in turn, in 30-second phases; in the middle of each
# phase one fault, in turn: PostgreSQL killed with -9 and restarted, PostgreSQL paused for 5 s,
# serve restarted with SIGTERM, clients cutting their requests (a 5 ms timeout). After each
# phase: acknowledged <= change <= acknowledged + unknown, nothing idle in transaction, and
# serve's resident memory. Not a test: commit a run's figures to results/soak.md.
source "$(dirname "$0")/common.sh"
MINUTES="${1:-10}"
need psql python3
build
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -x "$PGBIN/initdb" ] || { echo "soak: PostgreSQL server binaries not found" >&2; exit 2; }

WORK="$(mktemp -d)"
chmod 700 "$WORK"
SERVE_PID=""
cleanup() {
    [ -n "$SERVE_PID" ] && kill -TERM "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null || true
    as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
# PostgreSQL refuses to run as root: as root, it runs as `postgres`.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$WORK"

# A cluster of the soak's own (serve restarts must not take it along), with a password made
# for the run; psql finds it in a password file only we can read.
PASSWORD="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
as_pg sh -c "umask 077; echo '$PASSWORD' > '$WORK/pw'"
as_pg "$PGBIN/initdb" -D "$WORK/data" -U postgres --auth=scram-sha-256 --pwfile="$WORK/pw" -N >/dev/null
PG_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
SERVE_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
(umask 077; echo "127.0.0.1:$PG_PORT:*:postgres:$PASSWORD" > "$WORK/pgpass.$$")
export PGPASSFILE="$WORK/pgpass.$$"
start_pg() {
    for _ in $(seq 50); do
        as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/pg.log" -w -t 20 \
            -o "-p $PG_PORT -k $WORK -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null 2>&1 && return
        sleep 0.2
    done
    echo "soak: PostgreSQL did not start again" >&2; exit 1
}
postmaster() { head -1 "$WORK/data/postmaster.pid"; }
signal_pg() { local pm; pm="$(postmaster)"; pkill "-$1" -P "$pm" || true; kill "-$1" "$pm" || true; }
start_pg
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qc 'CREATE DATABASE counter'
URL="postgres://postgres:$PASSWORD@127.0.0.1:$PG_PORT/counter"
sql() { psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d counter -tAc "$1" 2>/dev/null; }

start_serve_here() {
    RUST_LOG=error "$COUNTER" serve --bind "127.0.0.1:$SERVE_PORT" --database-url "$URL" \
        > "$WORK/serve.out" 2>&1 &
    SERVE_PID=$!
    for _ in $(seq 100); do grep -q '^listening:' "$WORK/serve.out" && return; sleep 0.1; done
    echo "soak: serve did not start" >&2; exit 1
}
rss_mb() { awk '{printf "%.1f", $1/1024}' <<< "$(ps -o rss= -p "$SERVE_PID")"; }

start_serve_here
FIRST_RSS="$(rss_mb)"
METHODS=(1 2 3 5 6 7)
FAULTS=(kill-postgres pause-postgres restart-serve cut-clients)
PHASES=$((MINUTES * 2))
passed=0; failed=0; total_requests=0; faults=0
printf '%-5s %-6s %-15s %9s %9s %9s %9s %7s %6s %8s\n' phase method fault requests acked unknown change check idle rss_mb
for phase in $(seq 0 $((PHASES - 1))); do
    method="${METHODS[$((phase % ${#METHODS[@]}))]}"
    fault="${FAULTS[$((phase % ${#FAULTS[@]}))]}"
    timeout=10
    [ "$fault" = cut-clients ] && timeout=0.005
    "$COUNTER" hammer -q -d "127.0.0.1:$SERVE_PORT" -n "$method" --requests 100000000 \
        --concurrency 32 --timeout "$timeout" --format json --output "$WORK/phase.json" \
        2>"$WORK/hammer.err" &
    hammer=$!
    sleep 10
    case "$fault" in
        kill-postgres) signal_pg KILL; sleep 1; start_pg ;;
        pause-postgres) signal_pg STOP; sleep 5; signal_pg CONT ;;
        restart-serve) kill -TERM "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true; start_serve_here ;;
        cut-clients) ;;
    esac
    faults=$((faults + 1))
    sleep 15
    kill -INT "$hammer"; wait "$hammer" 2>/dev/null || true
    # The summary's own before/after: acknowledged <= change <= acknowledged + unknown.
    read -r requests acked unknown change < <(jq -r '"\(.completed) \(.acknowledged) \(.unknown) \(.change)"' "$WORK/phase.json")
    check=fail
    if [ "$change" != null ] && [ "$acked" -le "$change" ] && [ "$change" -le $((acked + unknown)) ]; then
        check=ok
    fi
    idle=""
    for _ in $(seq 50); do
        idle="$(sql "SELECT count(*) FROM pg_stat_activity WHERE datname = 'counter' AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'")"
        [ "$idle" = 0 ] && break
        sleep 0.1
    done
    if [ "$check" = ok ] && [ "$idle" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    total_requests=$((total_requests + requests))
    printf '%-5s %-6s %-15s %9s %9s %9s %9s %7s %6s %8s\n' "$phase" "$method" "$fault" "$requests" "$acked" "$unknown" "$change" "$check" "$idle" "$(rss_mb)"
done
echo
echo "$MINUTES minutes, $PHASES phases: $faults faults injected, $total_requests requests,"
echo "invariant and idle-in-transaction checks passed in $passed of $PHASES phases ($failed failed);"
echo "serve resident memory: ${FIRST_RSS} MB at the start, $(rss_mb) MB at the end (serve is restarted every fourth phase)."
grep -m1 'model name' /proc/cpuinfo | sed 's/.*: /cpu: /'
echo "cores: $(nproc); PostgreSQL $(sql 'SHOW server_version'), fsync $(sql 'SHOW fsync')"
[ "$failed" = 0 ]
