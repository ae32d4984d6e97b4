#!/usr/bin/env bash
# Server memory per idle, authenticated WebSocket: starts pipitd (one worker,
# CPU 0), opens N sessions with pipit-loadgen (K processes, CPU 1), reads the
# server's RSS before and after. Bounded by the load generator's deadlines.
#   bench/idle_connections.sh BUILD_DIR [N] [K]
set -euo pipefail
build=${1:-build}
conns=${2:-10000}
procs=${3:-4}
. "$(dirname "$0")/lib.sh"
machine_load
start_pipitd "$build/pipitd"
sleep 0.5
echo "server: 1 worker thread on CPU 0; pipit-loadgen: $procs processes on CPU 1"
taskset -c "$loadgen_cpus" "$build/pipit-loadgen" --port "$port" --token "$token" --server-pid "$pid" \
    --mode idle --conns "$conns" --procs "$procs"
