#!/usr/bin/env bash
# The hot-counter designs against the classic hot row: HTTP increments per second of
# `counter serve` with methods 9 (coalesced), 10 (sharded) and 11 (ledger), wrk with 100
# connections POSTing, each at its best --pool-size among 2, 10, 20, 50, divided by pgbench's
# best TPS (10, 20, 50, 100 clients) on method 3's SQL (one hot row: SELECT, then UPDATE
# count = count + 1), on the same throwaway cluster. Run on the durable default and with
# --no-fsync. Goal: at least 5 with fsync on, for one design.
source "$(dirname "$0")/common.sh"
need wrk pgbench
build
WORK="$(mktemp -d)"
trap 'stop_serve; rm -rf "$WORK" "$SERVE_OUT"' EXIT
printf 'wrk.method = "POST"\n' > "$WORK/post.lua"
cat > "$WORK/3.sql" <<'SQL'
SELECT count FROM counter WHERE id = 3;
UPDATE counter SET count = count + 1 WHERE id = 3 RETURNING count;
SQL
for setting in durable no-fsync; do
    flags=()
    [ "$setting" = no-fsync ] && flags+=(--no-fsync)
    start_serve 18412 "${flags[@]}"
    URL="postgres://postgres@127.0.0.1:$DB_PORT/counter"
    echo "== $setting throwaway cluster ($(psql -h 127.0.0.1 -p "$DB_PORT" -U postgres -d counter -tAc 'SHOW fsync' 2>/dev/null | sed 's/^/fsync /'))"
    curl -s -X POST "$BASE/api/v1/endpoint/counter/3/" > /dev/null   # create the row
    pgbench_best "$WORK/3.sql"
    echo "pgbench, method 3's SQL on one hot row: $BEST_TPS tps (-c$BEST_CLIENTS)"
    for method in 9 10 11; do
        serve_best "$method" 2 10 20 50
        echo "method $method: serve req/s by pool size:$SWEEP"
        echo "method $method: serve $BEST_RPS req/s (--pool-size $BEST_POOL) / pgbench $BEST_TPS tps = $(ratio "$BEST_RPS" "$BEST_TPS")"
    done
    stop_serve
done
grep -m1 'model name' /proc/cpuinfo | sed 's/.*: /cpu: /'
echo "cores: $(nproc)"
