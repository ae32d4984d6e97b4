#!/usr/bin/env bash
# Server memory per idle, authenticated WebSocket: starts pipitd (one worker,
# CPU 0), opens N sessions with pipit-loadgen (K processes, CPU 1), reads the
# server's RSS before and after. Bounded by the load generator's deadlines.
#   bench/idle_connections.sh BUILD_DIR [N] [K]
set -euo pipefail
build=${1:-build}
conns=${2:-10000}
procs=${3:-4}
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT

taskset -c 0 "$build/pipitd" --data-dir "$tmp/data" --listen 127.0.0.1:0 --workers 1 \
    --registration open --log-level warn 2>"$tmp/log" &
pid=$!
for _ in $(seq 1 100); do
    grep -q 'listening on' "$tmp/log" && break
    sleep 0.1
done
port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$tmp/log" | cut -d: -f2)
token=$(curl -s -X POST "http://127.0.0.1:$port/v1/auth/register" \
    -H 'Content-Type: application/json' \
    -d '{"username":"bench","password":"benchmark-password"}' |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
sleep 0.5
echo "server: 1 worker thread on CPU 0; pipit-loadgen: $procs processes on CPU 1"
taskset -c 1 "$build/pipit-loadgen" --port "$port" --token "$token" --server-pid "$pid" \
    --conns "$conns" --procs "$procs"
