#!/usr/bin/env bash
# The application explorer on a real application: the Django fixture's `select_for_update()`
# endpoint (tests/fixtures/django_counter, psycopg 3 with server-side binding) explored through
# counter's proxy at the four levels, with the row there (count 0) and absent before each
# schedule. Prints each level's verdict, schedules and time, and for each state the wall time
# of the whole run (the cluster, the migrations and the four Django starts included) and the
# schedules per second of exploration. Needs Django and psycopg 3 (`.ci/run` installs them).
source "$(dirname "$0")/common.sh"
python3 -c 'import django, psycopg' 2>/dev/null || { echo "bench: Django and psycopg 3 are needed (see .ci/run)" >&2; exit 2; }
build
FIXTURE="$ROOT/tests/fixtures/django_counter"
PYTHON="COUNTER_DJANGO_DRIVER=psycopg3 PYTHONDONTWRITEBYTECODE=1 exec python3"
for state in exists absent; do
    case "$state" in
        exists) BEFORE="DELETE FROM counter_counter WHERE id = 1; INSERT INTO counter_counter (id, count) VALUES (1, 0)" ;;
        absent) BEFORE="DELETE FROM counter_counter WHERE id = 1" ;;
    esac
    OUT="$(mktemp)"
    started=$(date +%s.%N)
    "$COUNTER" app --request "GET http://127.0.0.1:18911/locked/1/" \
        --value "SELECT COALESCE((SELECT count FROM counter_counter WHERE id = 1), 0)::bigint" \
        --before "$BEFORE" \
        --setup "cd $FIXTURE && $PYTHON manage.py migrate --noinput" \
        --command "cd $FIXTURE && $PYTHON manage.py runserver --noreload 127.0.0.1:18911" \
        --ready /health/ --listen 127.0.0.1:18912 --isolation all > "$OUT" 2>&1 || true
    ended=$(date +%s.%N)
    echo "== row $state before each schedule"
    sed -n '/^GET .*:$/,$p' "$OUT"
    awk -v wall="$(echo "$ended - $started" | bc)" '
        /schedules in [0-9.]+ s\)/ {
            match($0, /; [0-9]+ schedules in [0-9.]+ s/)
            split(substr($0, RSTART + 2, RLENGTH - 2), f, " ")
            n += f[1]; t += f[4]
        }
        END { printf "wall %.1f s; %d schedules in %.1f s of exploration: %.1f schedules/s\n", wall, n, t, n / t }' "$OUT"
    rm -f "$OUT"
done
