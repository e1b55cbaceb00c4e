#!/usr/bin/env bash
# HTTP increments per second of `counter serve` (wrk, 100 connections, POST) divided by
# pgbench's TPS for the same SQL on the same cluster (-M prepared, one hot row), each at its
# best concurrency: pgbench's client count among 10, 20, 50, 100, and serve's --pool-size
# among 2, 4, 10, 20 (every figure is printed). Methods 3 (autocommit), 1 and 2
# (transactions), at read committed. Goal: >= 1.0. SETTING=durable (the default) or no-fsync.
#
# With durable commits the disk's flush rate drifts from one minute to the next, so a ratio
# is only worth something when both sides ran in the same minute: each method runs ROUNDS
# (default 3) rounds of pgbench's sweep and serve's sweep back to back, alternating which
# goes first, prints every round's ratio and their median.
#
# Methods 1 and 2 hold a lock across client round trips, so they also print what pgbench
# gains when the statements that need no earlier result are pipelined (\startpipeline; its
# \gset cannot be used in a pipeline): the price of one round trip inside the lock; and what
# pgbench keeps when the HTTP path's load of serve's best rate runs beside it on the same
# cores (wrk paced, no database work): the price of sharing the cores with an HTTP server.
source "$(dirname "$0")/common.sh"
need wrk pgbench
build
SETTING="${SETTING:-durable}"
flags=()
[ "$SETTING" = no-fsync ] && flags+=(--no-fsync)
start_serve 18412 "${flags[@]}"
echo "== $SETTING throwaway cluster"
URL="postgres://postgres@127.0.0.1:$DB_PORT/counter"
WORK="$(mktemp -d)"
trap 'stop_serve; rm -rf "$WORK" "$SERVE_OUT"' EXIT
printf 'wrk.method = "POST"\n' > "$WORK/post.lua"
# The SQL each method sends, as pgbench scripts (get-or-create's SELECT included).
cat > "$WORK/3.sql" <<'SQL'
SELECT count FROM counter WHERE id = 3;
UPDATE counter SET count = count + 1 WHERE id = 3 RETURNING count;
SQL
cat > "$WORK/1.sql" <<'SQL'
BEGIN;
LOCK TABLE counter IN EXCLUSIVE MODE;
SELECT count AS c FROM counter WHERE id = 1 \gset
UPDATE counter SET count = :c + 1 WHERE id = 1;
END;
SQL
cat > "$WORK/2.sql" <<'SQL'
BEGIN;
SELECT count AS c FROM counter WHERE id = 2 FOR UPDATE \gset
UPDATE counter SET count = :c + 1 WHERE id = 2;
END;
SQL
# The same statements, pipelined where pgbench can: BEGIN with the table lock, and the write
# with the commit (a \gset cannot be pipelined, so the read stays a round trip of its own).
cat > "$WORK/1.pipelined.sql" <<'SQL'
\startpipeline
BEGIN;
LOCK TABLE counter IN EXCLUSIVE MODE;
\endpipeline
SELECT count AS c FROM counter WHERE id = 1 \gset
\startpipeline
UPDATE counter SET count = :c + 1 WHERE id = 1;
END;
\endpipeline
SQL
cat > "$WORK/2.pipelined.sql" <<'SQL'
BEGIN;
SELECT count AS c FROM counter WHERE id = 2 FOR UPDATE \gset
\startpipeline
UPDATE counter SET count = :c + 1 WHERE id = 2;
END;
\endpipeline
SQL
# pgbench_beside_http SCRIPT CLIENTS RATE: pgbench's TPS on SCRIPT with CLIENTS clients while
# wrk sends about RATE requests per second to GET /api/v1/info (100 connections, each pausing
# 100,000 / RATE ms between requests): the load a serve run at that rate puts on these two
# cores for its HTTP path, without its database work.
pgbench_beside_http() {
    printf 'function delay()\n    return %d\nend\n' "$(awk -v r="$3" 'BEGIN { printf "%d", 100000 / r + 0.5 }')" > "$WORK/paced.lua"
    vacuum
    wrk -t2 -c100 -d"$((DURATION + 2))s" -s "$WORK/paced.lua" "$BASE/api/v1/info" > "$WORK/paced.out" &
    local wrk_pid=$!
    sleep 1
    pgbench -n -M prepared -f "$1" -c "$2" -j 2 -T "$DURATION" \
        -h 127.0.0.1 -p "$DB_PORT" -U postgres counter 2>/dev/null | awk '/^tps/ {print $3}'
    wait "$wrk_pid"
}
# The HTTP path alone (no database work): what wrk and the server cost per request on these
# cores. If the database did exactly what it does per pgbench transaction and our database
# client cost nothing, the HTTP path would reach 1 / (1/http_only + 1/pgbench) requests per
# second: the bound printed beside each ratio. A smaller pool can beat it for lock-bound
# methods, where fewer waiters make each transaction cheaper for PostgreSQL.
http_only=$(wrk_rps "$BASE/api/v1/info")
echo "HTTP path alone (GET /api/v1/info, wrk -c100): $http_only req/s"
for method in 3 1 2; do
    curl -s -X POST "$BASE/api/v1/endpoint/counter/$method/" > /dev/null   # create the row
    ratios=()
    for round in $(seq "${ROUNDS:-3}"); do
        if [ $((round % 2)) = 1 ]; then
            pgbench_best "$WORK/$method.sql"; serve_best "$method" 2 4 10 20
        else
            serve_best "$method" 2 4 10 20; pgbench_best "$WORK/$method.sql"
        fi
        best=$BEST_TPS; best_clients=$BEST_CLIENTS; http=$BEST_RPS; best_pool=$BEST_POOL
        ratios+=("$(ratio "$http" "$best")")
        echo "method $method round $round: serve req/s by pool size:$SWEEP"
        ceiling=$(awk -v h="$http_only" -v p="$best" 'BEGIN { printf "%.2f", (1 / (1 / h + 1 / p)) / p }')
        echo "method $method round $round: serve $http req/s (wrk -c100, --pool-size $best_pool), pgbench $best tps (-c$best_clients): serve / pgbench = ${ratios[-1]} (HTTP-path bound at pgbench's cost per transaction: $ceiling)"
    done
    echo "method $method: serve / pgbench by round: ${ratios[*]}; median $(median "${ratios[@]}")"
    if [ -f "$WORK/$method.pipelined.sql" ]; then
        pgbench_best "$WORK/$method.sql"; plain=$BEST_TPS
        pgbench_best "$WORK/$method.pipelined.sql"
        echo "method $method: pgbench $plain tps; with the lock's round trips pipelined where it can: $BEST_TPS tps (x$(ratio "$BEST_TPS" "$plain"))"
        beside=$(pgbench_beside_http "$WORK/$method.sql" "$best_clients" "$http")
        echo "method $method: pgbench $plain tps alone; $beside tps with the HTTP path's load of $http req/s beside it (wrk paced, GET /api/v1/info; $(awk '/^Requests\/sec/ {print $2}' "$WORK/paced.out") req/s): x$(ratio "$beside" "$plain")"
    fi
done
