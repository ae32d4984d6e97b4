# Shared by the bench scripts (sourced, not run).
#
# start_pipitd BIN [FLAGS...]: starts BIN pinned to CPU 0 with one worker on a free
# loopback port and a temporary data dir; sets $pid, $port, $tmp and $token (the
# admin's, from a login) and stops the server on exit.
start_pipitd() {
    local bin=$1
    shift
    tmp=$(mktemp -d)
    pid=
    trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
    taskset -c 0 "$bin" --data-dir "$tmp/data" --listen 127.0.0.1:0 --workers 1 \
        --log-level warn "$@" 2>"$tmp/log" &
    pid=$!
    for _ in $(seq 1 100); do
        grep -q 'listening on' "$tmp/log" && break
        sleep 0.1
    done
    port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$tmp/log" | cut -d: -f2)
    token=$(curl -s -X POST "http://127.0.0.1:$port/v1/auth/login" \
        -H 'Content-Type: application/json' \
        -d "{\"username\":\"admin\",\"password\":\"$(cat "$tmp/data/initial-admin-password")\"}" |
        /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
}
