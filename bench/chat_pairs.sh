#!/usr/bin/env bash
# 1:1 chat throughput and latency: P pairs of users, one direct conversation each;
# every sender keeps W `send` ops in flight, every receiver counts ev:"message".
# Runs pipit-loadgen three times on the same server: unpaced (max rate), then paced
# at half the measured maximum, then paced at 20,000 msgs/s (half the 40k target).
# Server (one worker + store threads) pinned to CPU 0, load generator to CPU 1.
# Bounded: warm-up + measurement + 1 s tail per run, and the generator's deadlines.
#   bench/chat_pairs.sh BUILD_DIR [PAIRS] [WINDOW] [PROCS]
#   env: BENCH_SECONDS (measured, default 10), BENCH_WARMUP (default 3),
#        PACED_RATES (default "half 20000"; "half" = half the measured maximum),
#        LOADGEN_ARGS (more pipit-loadgen flags, e.g. "--words 1")
set -euo pipefail
build=${1:-build}
pairs=${2:-500}
window=${3:-8}
procs=${4:-2}
secs=${BENCH_SECONDS:-10}
warm=${BENCH_WARMUP:-3}
rates=${PACED_RATES-half 20000}
here=$(dirname "$0")
. "$here/lib.sh"
start_chat_server "$build" pairs --pairs "$pairs"

# The store's group-commit batch over a run: writes ÷ commits from /metrics.
store_counts() {
    curl -s "http://127.0.0.1:$port/metrics" |
        awk '/^pipit_store_commits_total/ {c=$2} /^pipit_store_writes_total/ {w=$2} END {print c, w}'
}

run() {
    local before after
    before=$(store_counts)
    echo "\$ pipit-loadgen --mode pairs --procs $procs --warmup $warm --duration $secs $*"
    taskset -c "$loadgen_cpus" "$build/pipit-loadgen" --mode pairs --port "$port" --setup "$tmp/setup" \
        --procs "$procs" --warmup "$warm" --duration "$secs" --server-pid "$pid" ${LOADGEN_ARGS:-} "$@" \
        | tee "$tmp/out" || true
    after=$(store_counts)
    echo "$before $after" | awk '{c=$3-$1; w=$4-$2; if (c > 0) printf "store batches:         %d writes in %d commits (%.1f per commit)\n", w, c, w/c}'
}

echo "== max rate: $pairs pairs, window $window per sender"
run --window "$window"
max=$(sed -n 's/^RESULT .*delivered_per_s=\([0-9]*\).*/\1/p' "$tmp/out")
for r in $rates; do
    [ "$r" = half ] && r=$(( ${max:-0} / 2 ))
    [ "$r" -gt 0 ] || continue
    echo "== paced: $r msgs/s in total (window 64 per sender)"
    run --window 64 --rate "$r"
done
