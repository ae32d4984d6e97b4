#!/usr/bin/env bash
# Requests per second for /healthz (HTTP only) and /v1/me (HTTP + token lookup on
# a store thread), keep-alive, 64 connections, with wrk. The server is pinned to
# CPU 0 and wrk to CPU 1 so they do not share a core. Bounded: 5 s per route.
set -euo pipefail
bin=${1:-build/pipitd}
secs=${BENCH_SECONDS:-5}
tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT

taskset -c 0 "$bin" --data-dir "$tmp/data" --listen 127.0.0.1:0 --workers 1 \
    --log-level warn 2>"$tmp/log" &
pid=$!
for _ in $(seq 1 100); do
    grep -q 'listening on' "$tmp/log" && break
    sleep 0.1
done
port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$tmp/log" | cut -d: -f2)
pass=$(cat "$tmp/data/initial-admin-password")
token=$(curl -s -X POST "http://127.0.0.1:$port/v1/auth/login" \
    -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$pass\"}" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

echo "server: 1 worker thread on CPU 0; wrk: 1 thread, 64 connections on CPU 1; ${secs}s each"
for route in /healthz /v1/me; do
    printf '%-10s ' "$route"
    taskset -c 1 wrk -t1 -c64 -d"${secs}s" -H "Authorization: Bearer $token" \
        "http://127.0.0.1:$port$route" | awk '/Requests\/sec/ {printf "%s req/s  ", $2}
                                          /Latency/ {printf "latency avg %s  ", $2}
                                          /Non-2xx/ {printf "NON-2XX %s", $5}'
    echo
done
