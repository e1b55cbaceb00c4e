#!/usr/bin/env bash
# Regenerates results/schedules-*.md (the schedule explorer's tables on every engine this
# machine can start) with the commands their headers name, with a release build. The
# explorer's exit code 1 (method 4 loses updates in some schedule, as expected) is not an
# error here.
source "$(dirname "$0")/common.sh"
build
cd "$ROOT"
DAY="$(date +%F)"
MACHINE="Machine: $(uname -m) Linux, $(nproc) cores, $(awk '/MemTotal/ {printf "%d GiB", $2/1048576+0.5}' /proc/meminfo); throwaway database (commits not flushed: nothing races); $DAY."

# write FILE TITLE COMMAND-ARGS...
write() {
    local file="$1" title="$2"; shift 2
    {
        echo "# $title"
        echo
        echo "Command: \`cargo run --release -- schedules $*\`"
        echo "$MACHINE"
        echo
        "$COUNTER" schedules --quiet --markdown "$@" 2>/dev/null || true
    } > "results/$file"
    echo "wrote results/$file"
}

write schedules-postgresql.md "counter schedules on PostgreSQL 15: methods 1-7, two sessions, both starting states" \
    --methods 1,2,3,4,5,6,7 --csv results/schedules-postgresql.csv
write schedules-mariadb.md "counter schedules on MariaDB 10.11: methods 1-7, two sessions, both starting states" \
    --engine mariadb --methods 1,2,3,4,5,6,7 --csv results/schedules-mariadb.csv
write schedules-sqlite.md "counter schedules on SQLite: methods 1-7, two sessions, both starting states" \
    --engine sqlite --methods 1,2,3,4,5,6,7 --csv results/schedules-sqlite.csv
write schedules-mariadb-three-sessions.md "counter schedules on MariaDB 10.11: method 2 at read committed from an absent row, three sessions" \
    --engine mariadb --methods 2 --levels read-committed --row absent --sessions 3
