#!/usr/bin/env bash
# POST /v1/push to one user per request, keep-alive, with wrk (64 connections, one
# thread): the rate a business server can hand pushes to pipit. Each request is a
# durable push (its row committed before the 202) and its expansion to the user's
# device (a queued delivery). Server on CPU 0, wrk on CPU 1. Bounded: BENCH_SECONDS (5).
#   bench/push_rps.sh [PIPITD]
set -euo pipefail
bin=${1:-build/pipitd}
secs=${BENCH_SECONDS:-5}
. "$(dirname "$0")/lib.sh"
start_pipitd "$bin"
api() {
    curl -s -X "$1" "http://127.0.0.1:$port$2" -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' ${3:+-d "$3"}
}
key=$(api POST /v1/admin/api-keys '{"name":"bench","scopes":["push"]}' |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
api POST /v1/devices '{"platform":"fcm","token":"bench-device-token"}' >/dev/null
cat >"$tmp/push.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"to":{"users":[1]},"notification":{"title":"Your parcel is on its way","body":"Track it in the app","category":"shipping"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
LUA
before=$(api GET "/v1/push?limit=1" | /usr/bin/python3 -c 'import json,sys; p=json.load(sys.stdin)["pushes"]; print(p[0]["id"] if p else 0)')
cpu_before=$(cpu_seconds "$pid")
echo "server: $workers worker thread(s) + store threads on CPU $server_cpus; wrk: 1 thread, 64 connections on CPU $loadgen_cpus; ${secs}s"
taskset -c "$loadgen_cpus" wrk -t1 -c64 -d"${secs}s" -s "$tmp/push.lua" "http://127.0.0.1:$port/v1/push" |
    awk '/Requests\/sec/ {printf "POST /v1/push: %s req/s  ", $2}
         /Latency/ {printf "latency avg %s  ", $2}
         /Non-2xx/ {printf "NON-2XX %s", $5}'
echo
after=$(api GET "/v1/push?limit=1" | /usr/bin/python3 -c 'import json,sys; p=json.load(sys.stdin)["pushes"]; print(p[0]["id"] if p else 0)')
cpu_after=$(cpu_seconds "$pid")
echo "pushes stored: $((after - before)); server CPU per push: $(echo "$cpu_before $cpu_after $((after - before))" |
    awk '{printf "%.1f µs", ($2 - $1) * 1e6 / $3}')"
