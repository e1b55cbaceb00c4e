#!/usr/bin/env bash
# Regenerates the committed results (results/*.md, *.csv, *.svg, *.html) with the commands
# their headers name, on this machine, with a release build. Run it after a change that moves
# any figure; commit what it writes.
source "$(dirname "$0")/common.sh"
build
cd "$ROOT"
DAY="$(date +%F)"
PG="$("$COUNTER" matrix --quiet --levels read-committed --methods 3 --requests 1 --json /dev/stdout 2>/dev/null | sed -n 's/.*"server_version": "\([^"]*\)".*/\1/p' | head -1)"
MACHINE="Machine: $(uname -m) Linux, $(nproc) cores, $(awk '/MemTotal/ {printf "%d GiB", $2/1048576+0.5}' /proc/meminfo); PostgreSQL $PG, throwaway cluster (durable: fsync and synchronous_commit on); $DAY."

# write FILE TITLE COMMAND-ARGS... : the matrix's Markdown output under a header naming the
# command and the machine. The matrix's exit code 1 (method 4 loses updates, as expected) is
# not an error here.
write() {
    local file="$1" title="$2"; shift 2
    {
        echo "# $title"
        echo
        echo "Command: \`cargo run --release -- matrix $*\`"
        echo "$MACHINE"
        echo
        "$COUNTER" matrix --quiet --markdown "$@" 2>/dev/null || true
    } > "results/$file"
    echo "wrote results/$file"
}

write postgresql-15.md "counter matrix on PostgreSQL 15" \
    --csv results/postgresql-15.csv --svg results/original-methods.svg
write postgresql-15-trials.md "counter matrix on PostgreSQL 15, ten trials per cell" \
    --trials 10 --csv results/postgresql-15-trials.csv
write postgresql-15-extended.md "counter matrix on PostgreSQL 15: methods 1-11, without and with --retry 10" \
    --methods all --retry 10 --csv results/postgresql-15-extended.csv \
    --svg results/matrix.svg --html results/report.html
write postgresql-15-replicas.md "counter matrix on PostgreSQL 15: methods 1-11 with two servers per level (--replicas 2)" \
    --methods all --replicas 2 --csv results/postgresql-15-replicas.csv
write postgresql-15-scope-transaction.md "counter matrix on PostgreSQL 15 with --isolation-scope transaction (what a Django application's OPTIONS level gives)" \
    --isolation-scope transaction --methods all --csv results/postgresql-15-scope-transaction.csv
write engines.md "counter matrix on PostgreSQL 15, MariaDB 10.11 and SQLite, methods 1-11" \
    --engine all --methods all --csv results/engines.csv --html results/engines.html
write mariadb-snapshot-isolation-off.md "counter matrix on MariaDB 10.11, innodb_snapshot_isolation off (its default in 10.11)" \
    --engine mariadb --methods all --csv results/mariadb-snapshot-isolation-off.csv
write mariadb-snapshot-isolation-on.md "counter matrix on MariaDB 10.11 with --engine-option innodb_snapshot_isolation=on" \
    --engine mariadb --engine-option innodb_snapshot_isolation=on --methods all \
    --csv results/mariadb-snapshot-isolation-on.csv
write hot-counters.md "counter matrix on PostgreSQL 15: the hot-counter designs (methods 9-11), three trials, without and with --retry 10" \
    --methods 9,10,11 --trials 3 --retry 10 --csv results/hot-counters.csv

# The example method scripts (examples/*.sql) beside the built-in method each one mirrors, on
# every engine this machine can start; a think time inside each transaction makes the races
# certain.
write scripts-read-modify-write.md "examples/read-modify-write.sql beside method 4, every engine" \
    --method-file examples/read-modify-write.sql --methods 4,custom --engine all --think-ms 5 --trials 3
write scripts-django-select-for-update.md "examples/django-select-for-update.sql beside method 2, every engine" \
    --method-file examples/django-select-for-update.sql --methods 2,custom --engine all --think-ms 5 --trials 3
write scripts-django-f-expression.md "examples/django-f-expression.sql beside method 3, every engine" \
    --method-file examples/django-f-expression.sql --methods 3,custom --engine all --think-ms 5 --trials 3
write scripts-optimistic-version.md "examples/optimistic-version.sql beside method 7, every engine, without and with --retry 100" \
    --method-file examples/optimistic-version.sql --methods 7,custom --engine all --think-ms 5 --trials 3 --retry 100
write scripts-ledger-numbered.md "examples/ledger-numbered.sql beside method 11, every engine" \
    --method-file examples/ledger-numbered.sql --methods 11,custom --engine all --think-ms 5 --trials 3

# Through a throwaway PgBouncer: counter carrying the level in both pool modes, and an
# application that does not know the traps.
write pgbouncer-transaction.md "counter matrix through PgBouncer 1.18, transaction pooling, methods 1-11" \
    --pooler pgbouncer-transaction --methods all --csv results/pgbouncer-transaction.csv
write pgbouncer-session.md "counter matrix through PgBouncer 1.18, session pooling, methods 1-11" \
    --pooler pgbouncer-session --methods all --csv results/pgbouncer-session.csv
write pgbouncer-transaction-as-app.md "counter matrix through PgBouncer 1.18 in transaction pooling, connecting as an unaware application (--pooler-as-app)" \
    --pooler pgbouncer-transaction --pooler-as-app --methods 1,2,3,4
write pgbouncer-session-as-app.md "counter matrix through PgBouncer 1.18 in session pooling, connecting as an unaware application (--pooler-as-app)" \
    --pooler pgbouncer-session --pooler-as-app --methods 1,2,3,4

# Replicated PostgreSQL (Patroni, etcd) with a fault in the middle of every run.
write ha-node-crash.md "counter matrix --topology ha: node-crash (kill -9 of the primary's Patroni and postmaster), async replication" \
    --topology ha --replication async --fault node-crash --methods 2,3 --levels read-committed --trials 3
write ha-node-crash-sync.md "counter matrix --topology ha --replication sync: node-crash" \
    --topology ha --replication sync --fault node-crash --methods 2,3 --levels read-committed --trials 3
write ha-manager-crash.md "counter matrix --topology ha: manager-crash (kill -9 of the primary's Patroni only: split brain), async replication" \
    --topology ha --replication async --fault manager-crash --methods 3 --levels read-committed --trials 2
write ha-postmaster-crash.md "counter matrix --topology ha: postmaster-crash (kill -9 of the primary's postmaster only)" \
    --topology ha --replication async --fault postmaster-crash --methods 3 --levels read-committed --trials 2
