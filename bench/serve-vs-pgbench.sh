#!/usr/bin/env bash
# HTTP increments per second of `counter serve` (wrk, 100 connections, POST) divided by
# pgbench's TPS for the same SQL on the same cluster (-M prepared, one hot row), at pgbench's
# best client count among 10, 20, 50, 100. Methods 3 (autocommit), 1 and 2 (transactions),
# at read committed. Goal: >= 1.0.
source "$(dirname "$0")/common.sh"
need wrk pgbench
build
POOL="${POOL:-10}"
start_serve 18412 --pool-size "$POOL"
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
# The HTTP path alone (no database work): what wrk and the server cost per request on these
# cores. With it, the best the HTTP path could do if our database client cost nothing is
# 1 / (1/http_only + 1/pgbench) requests per second: the ceiling printed beside each ratio.
http_only=$(wrk_rps "$BASE/api/v1/info")
echo "HTTP path alone (GET /api/v1/info, wrk -c100): $http_only req/s"
for method in 3 1 2; do
    curl -s -X POST "$BASE/api/v1/endpoint/counter/$method/" > /dev/null   # create the row
    best=0; best_clients=0
    for clients in 10 20 50 100; do
        tps=$(pgbench -n -M prepared -f "$WORK/$method.sql" -c "$clients" -j 2 -T "$DURATION" \
            -h 127.0.0.1 -p "$DB_PORT" -U postgres counter 2>/dev/null | awk '/^tps/ {print $3}')
        if awk -v a="$tps" -v b="$best" 'BEGIN { exit !(a > b) }'; then best=$tps; best_clients=$clients; fi
    done
    http=$(wrk_rps "$BASE/api/v1/endpoint/counter/$method/" "$WORK/post.lua")
    ceiling=$(awk -v h="$http_only" -v p="$best" 'BEGIN { printf "%.2f", (1 / (1 / h + 1 / p)) / p }')
    echo "method $method: serve $http req/s (wrk -c100), pgbench $best tps (-c$best_clients): serve / pgbench = $(ratio "$http" "$best") (ceiling on this machine: $ceiling)"
done
