#!/usr/bin/env bash
# Message search on a store of a million messages, and what indexing costs sending.
#
#   bench/search.sh BUILD_DIR [MESSAGES]
#
# 1. pipit-search-bench populate builds the store once (about two minutes for a
#    million messages) in BUILD_DIR/search-bench-MESSAGES, reused by later runs.
# 2. pipitd on a copy of it (one worker, CPU 0); pipit-search-bench query on CPU 1:
#    latency percentiles per kind of query (see bench/search_bench.c).
# 3. bench/chat_pairs.sh at its maximum rate with chat-like text (--words 1),
#    search on, then off: the difference is what keeping the index costs.
# Bounded: each step has its own deadline.
set -euo pipefail
build=${1:-build}
messages=${2:-1000000}
here=$(dirname "$0")
store="$build/search-bench-$messages"

if [ ! -f "$store/pipit.db" ]; then
    rm -rf "$store"
    mkdir -p "$store"
    timeout 1200 "$build/pipit-search-bench" populate "$store" "$messages" 10000 2000
fi

echo "== search latency: $messages messages, 10,000 conversations, 2,000 users"
run_dir=$(mktemp -d)
trap 'kill "$spid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$run_dir"' EXIT
cp "$store/pipit.db" "$run_dir/"
taskset -c 0 "$build/pipitd" --data-dir "$run_dir" --listen 127.0.0.1:0 --workers 1 \
    --log-level warn --user-request-rate 0 --user-message-rate 0 2>"$run_dir/log" &
spid=$!
for _ in $(seq 1 300); do
    grep -q 'listening on' "$run_dir/log" && break
    sleep 0.1
done
port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$run_dir/log" | head -1 | cut -d: -f2)
timeout 600 taskset -c 1 "$build/pipit-search-bench" query "$port" 1000 2000
kill "$spid"
wait "$spid" || true

for search in yes no; do
    echo "== sending with search=$search (1:1 chat, chat-like text, maximum rate)"
    PIPITD_ARGS="--search $search" PACED_RATES="" LOADGEN_ARGS="--words 1" \
        "$here/chat_pairs.sh" "$build" 500 8 2 | grep -E 'RESULT|delivered|store batches'
done
