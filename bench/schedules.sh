#!/usr/bin/env bash
# The schedule explorer's speed: schedules and statements per second of
# `counter schedules --methods 1,2,3,4,5,6,7` (four levels, both starting states), and its
# statements per second against a peer on the same cluster: one pgbench client sending the
# same kind of statements (BEGIN, SELECT, UPDATE, COMMIT) back to back, the floor of what one
# statement at a time costs. The difference is what settling costs: the looks at unanswered
# statements (2 ms, then every 5 ms), the probe's questions, the reset before each schedule.
# Also the wall time of the command as a user runs it (its own throwaway cluster included).
source "$(dirname "$0")/common.sh"
need pgbench psql python3
build
WORK="$(mktemp -d)"
trap 'stop_serve; rm -f "$SERVE_OUT"; rm -rf "$WORK"' EXIT
METHODS=1,2,3,4,5,6,7

echo "== the exploration as a user runs it (throwaway cluster included)"
for run in 1 2 3; do
    start=$(date +%s%N)
    "$COUNTER" schedules --methods "$METHODS" --quiet --json "$WORK/own.json" > /dev/null 2>&1 || true
    end=$(date +%s%N)
    python3 - "$WORK/own.json" "$(( (end - start) / 1000000 ))" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
meta = result["meta"]
print(f"run: {int(sys.argv[2])} ms in all; {meta['schedules_run']} schedules explored in "
      f"{meta['wall_ms']:.0f} ms ({meta['schedules_run'] / (meta['wall_ms'] / 1000):.0f} per second)")
PY
done

echo "== statements per second against one pgbench client, same cluster (fsync off)"
start_serve 18430 --no-fsync
URL="postgres://postgres@127.0.0.1:$DB_PORT/counter"
cat > "$WORK/steps.sql" <<'SQL'
BEGIN;
SELECT count FROM counter WHERE id = 4;
UPDATE counter SET count = count + 1 WHERE id = 4;
COMMIT;
SQL
psql -h 127.0.0.1 -p "$DB_PORT" -U postgres -d counter -qc \
    "INSERT INTO counter (id, count) VALUES (4, 0) ON CONFLICT (id) DO NOTHING" >/dev/null
for round in 1 2 3; do
    "$COUNTER" schedules --methods "$METHODS" --database-url "$URL" --quiet \
        --json "$WORK/explored.json" > /dev/null 2>&1 || true
    explorer=$(python3 - "$WORK/explored.json" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
steps = sum(len(s["steps"]) for c in result["cells"] for s in c["schedules"])
print(f"{steps / (result['meta']['wall_ms'] / 1000):.0f}")
PY
)
    vacuum
    tps=$(pgbench -h 127.0.0.1 -p "$DB_PORT" -U postgres -n -c 1 -T "$DURATION" -f "$WORK/steps.sql" counter 2>/dev/null \
        | awk '/^tps/ {print $3}')
    peer=$(awk -v t="$tps" 'BEGIN { printf "%.0f", t * 4 }')
    echo "round $round: explorer $explorer statements/s, pgbench (1 client) $peer statements/s, ratio $(ratio "$explorer" "$peer")"
done
