#!/usr/bin/env bash
# How long counter takes to read a 1 MiB script (the size cap): one of blank lines, one of
# long statements. The script ends with an unknown meta-command, so counter stops right after
# reading it (exit 2) and the time is the reading's: three tokenizer passes (one per dialect)
# and the statement structure. Prints the wall time of each, best of 5.
# Usage: bench/script-parse.sh [path/to/counter]   (default: target/release/counter)
set -euo pipefail
counter="${1:-target/release/counter}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
python3 - "$dir" <<'PY'
import sys
d = sys.argv[1]
size = 1024 * 1024 - 64
open(f"{d}/blank.sql", "w").write("\n" * size + "SELECT 1;\n\\nothing\n")
line = "UPDATE counter SET count = count + 1 WHERE id = :id AND 'a;b' <> $$c;d$$; -- x\n"
open(f"{d}/statements.sql", "w").write(line * (999) + "\n" * (size - 999 * len(line)) + "\\nothing\n")
PY
for script in blank statements; do
    best=""
    for _ in 1 2 3 4 5; do
        start=$(date +%s.%N)
        "$counter" matrix --engine sqlite --method-file "$dir/$script.sql" >/dev/null 2>&1 || true
        end=$(date +%s.%N)
        took=$(echo "$end - $start" | bc)
        if [ -z "$best" ] || [ "$(echo "$took < $best" | bc)" = 1 ]; then best=$took; fi
    done
    printf '%-11s %8d bytes  %.3f s\n' "$script" "$(stat -c %s "$dir/$script.sql")" "$best"
done
