#!/usr/bin/env bash
# Does the +/- table depend on how busy the machine is? Two CPU-bound processes (`yes`)
# compete for the cores while the default matrix runs RUNS times (default 10), on the durable
# default and with --no-fsync; each run's table is compared with the original study's. Then
# `--trials 10` for the cells the original marked "-", both ways. Prints every table and the
# counts; commit them to results/busy-machine.md with the machine's description.
source "$(dirname "$0")/common.sh"
RUNS="${RUNS:-10}"
build

HOGS=()
stop_hogs() { for pid in "${HOGS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap 'stop_hogs; stop_serve; rm -f "$SERVE_OUT"' EXIT
for _ in 1 2; do
    yes > /dev/null &
    HOGS+=($!)
done

# The original's table, row by row (RU, RC, RR, S), as the matrix prints it in Markdown.
ORIGINAL=$'| read uncommitted   | +             | +           | +                 |
| read committed     | +             | +           | +                 |
| repeatable read    | +             | -           | -                 |
| serializable       | +             | -           | -                 |'

for setting in durable no-fsync; do
    flags=()
    [ "$setting" = no-fsync ] && flags+=(--no-fsync)
    same=0
    echo "== default matrix, $setting, two CPU hogs running, $RUNS runs"
    for run in $(seq "$RUNS"); do
        table=$("$COUNTER" matrix --quiet --markdown "${flags[@]}" 2>/dev/null | sed -n '3,6p')
        if [ "$table" = "$ORIGINAL" ]; then
            same=$((same + 1))
            echo "run $run: the original's table"
        else
            echo "run $run: DIFFERENT"
            echo "$table"
        fi
    done
    echo "$setting: $same of $RUNS runs reproduced the original's table"
    echo
    echo "== --trials 10, methods 2 and 3 at repeatable read and serializable, $setting"
    "$COUNTER" matrix --quiet --markdown "${flags[@]}" --trials 10 --methods 2,3 \
        --levels repeatable-read,serializable 2>/dev/null | sed -n '1,4p;6,10p'
    echo
done
grep -m1 'model name' /proc/cpuinfo | sed 's/.*: /cpu: /'
echo "cores: $(nproc), load while measuring: two busy-looping processes"
