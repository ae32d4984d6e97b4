#!/usr/bin/env bash
# Requests per second for /healthz (HTTP only) and /v1/me (HTTP + token lookup on
# a store thread), keep-alive, 64 connections, with wrk. The server is pinned to
# CPU 0 and wrk to CPU 1 so they do not share a core. Bounded: 5 s per route.
set -euo pipefail
bin=${1:-build/pipitd}
secs=${BENCH_SECONDS:-5}
. "$(dirname "$0")/lib.sh"
start_pipitd "$bin"

echo "server: 1 worker thread on CPU 0; wrk: 1 thread, 64 connections on CPU 1; ${secs}s each"
for route in /healthz /v1/me; do
    printf '%-10s ' "$route"
    taskset -c "$loadgen_cpus" wrk -t1 -c64 -d"${secs}s" -H "Authorization: Bearer $token" \
        "http://127.0.0.1:$port$route" | awk '/Requests\/sec/ {printf "%s req/s  ", $2}
                                          /Latency/ {printf "latency avg %s  ", $2}
                                          /Non-2xx/ {printf "NON-2XX %s", $5}'
    echo
done
