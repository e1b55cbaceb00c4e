#!/usr/bin/env bash
# The explorer's memory against the number of schedules it runs: the same cell explored with
# a cap of SMALL and of LARGE schedules, the peak resident set size of each (GNU time), and
# the difference. The cell: three sessions of a script of eight reads on SQLite, a tree far
# larger than both caps. An exploration keeps the class counts and the shortest schedule of
# each class, so the difference stays within a few MB however many schedules run.
# Usage: bench/explore-memory.sh [counter] [SMALL] [LARGE]
#        (default: target/release/counter 1000 100000)
set -eu
counter="${1:-target/release/counter}"
small="${2:-1000}"
large="${3:-100000}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
for _ in 1 2 3 4 5 6 7 8; do echo "SELECT count FROM counter WHERE id = :id;"; done > "$dir/reads.sql"
peak_kb() {
    /usr/bin/time -f '%M' "$counter" schedules --engine sqlite --methods custom \
        --method-file "$dir/reads.sql" --levels serializable --sessions 3 --max-switches 50 \
        --max-schedules "$1" --row exists 2>&1 >/dev/null | tail -n 1
}
start=$(date +%s)
a=$(peak_kb "$small")
b=$(peak_kb "$large")
echo "schedules cap ${small}: peak RSS ${a} KiB"
echo "schedules cap ${large}: peak RSS ${b} KiB"
echo "difference: $(( (b - a) / 1024 )) MiB ($(( $(date +%s) - start )) s in all)"
