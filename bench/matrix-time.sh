#!/usr/bin/env bash
# Wall time of the default matrix (4 levels x 3 methods, 100 requests, one trial), throwaway
# cluster included, and the share of it spent starting the cluster.
source "$(dirname "$0")/common.sh"
build
for run in 1 2 3; do
    start=$(date +%s%N)
    log=$(RUST_LOG=info "$COUNTER" matrix --quiet 2>&1 >/dev/null)
    end=$(date +%s%N)
    cluster_ms=$(echo "$log" | sed -n 's/.*ready in \([0-9]*\) ms.*/\1/p')
    total_ms=$(( (end - start) / 1000000 ))
    echo "run $run: ${total_ms} ms in all, cluster start ${cluster_ms} ms ($(awk -v c="$cluster_ms" -v t="$total_ms" 'BEGIN {printf "%.0f", 100*c/t}')%)"
done
