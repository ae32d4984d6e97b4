# Shared by the bench scripts (sourced, not run).
#
# Where things run: by default the server (one worker + store threads) on CPU 0 and
# the load generator on CPU 1. BENCH_SERVER_CPUS=0,1 BENCH_LOADGEN_CPUS=0,1
# BENCH_WORKERS=2 runs both over both cores instead (see RESULTS.md).
server_cpus=${BENCH_SERVER_CPUS:-0}
loadgen_cpus=${BENCH_LOADGEN_CPUS:-1}
workers=${BENCH_WORKERS:-1}

# start_pipitd BIN [FLAGS...]: starts BIN on $server_cpus with $workers workers on
# a free loopback port and a temporary data dir; sets $pid, $port, $tmp and $token
# (the admin's, from a login) and stops the server on exit.
start_pipitd() {
    local bin=$1
    shift
    tmp=$(mktemp -d)
    pid=
    trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
    # Per-user limits off: a benchmark's simulated users go far past a person's pace.
    taskset -c "$server_cpus" "$bin" --data-dir "$tmp/data" --listen 127.0.0.1:0 --workers "$workers" \
        --log-level warn --user-request-rate 0 --user-message-rate 0 "$@" 2>"$tmp/log" &
    pid=$!
    for _ in $(seq 1 100); do
        grep -q 'listening on' "$tmp/log" && break
        sleep 0.1
    done
    port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$tmp/log" | head -1 | cut -d: -f2)
    token=$(curl -s -X POST "http://127.0.0.1:$port/v1/auth/login" \
        -H 'Content-Type: application/json' \
        -d "{\"username\":\"admin\",\"password\":\"$(cat "$tmp/data/initial-admin-password")\"}" |
        /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
}

# machine_load: prints how busy the CPUs were over the last second, before the
# benchmark starts (figures taken on a busy machine say little; see RESULTS.md).
machine_load() {
    local a b
    a=$(awk '/^cpu / {print $2+$3+$4+$7+$8, $5+$6}' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / {print $2+$3+$4+$7+$8, $5+$6}' /proc/stat)
    echo "$a $b" | awk '{busy=$3-$1; idle=$4-$2; printf "machine before start: %.0f%% busy over 1 s (%d CPUs)\n", 100*busy/(busy+idle), '"$(nproc)"'}'
}

# start_chat_server BUILD MODE ARGS…: pipitd (with $PIPITD_ARGS) on CPU 0, then
# chat_setup.py MODE ARGS… writes users and tokens and makes the conversations.
start_chat_server() {
    local build=$1
    shift
    machine_load
    start_pipitd "$build/pipitd" ${PIPITD_ARGS:-}
    /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/chat_setup.py" --data-dir "$tmp/data" \
        --port "$port" --out "$tmp/setup" "$@"
    echo "server: $workers worker thread(s) + store threads on CPU $server_cpus; pipit-loadgen on CPU $loadgen_cpus"
}

# cpu_seconds PID: the CPU time (user + system) the process has used so far, in seconds.
cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz}' "/proc/$1/stat"
}
