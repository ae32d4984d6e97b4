#!/usr/bin/env bash
# Group fan-out: one group of N members (N distinct users, one session each); one
# member sends M messages with W in flight; the other N-1 sessions count ev:"message".
# Reports deliveries/s and, per message, the time until the last member had it.
# Server (one worker + store threads) pinned to CPU 0, load generator to CPU 1.
# Bounded: the run stops when all deliveries arrived or after BENCH_TIMEOUT seconds.
#   bench/chat_fanout.sh BUILD_DIR [MEMBERS] [MESSAGES] [WINDOW] [PROCS]
set -euo pipefail
build=${1:-build}
members=${2:-1000}
messages=${3:-1000}
window=${4:-16}
procs=${5:-2}
timeout=${BENCH_TIMEOUT:-60}
here=$(dirname "$0")
. "$here/lib.sh"
start_chat_server "$build" fanout --members "$members"
echo "\$ pipit-loadgen --mode fanout --procs $procs --messages $messages --window $window --duration $timeout"
taskset -c "$loadgen_cpus" "$build/pipit-loadgen" --mode fanout --port "$port" --setup "$tmp/setup" \
    --procs "$procs" --messages "$messages" --window "$window" --duration "$timeout" \
    --server-pid "$pid" || true
