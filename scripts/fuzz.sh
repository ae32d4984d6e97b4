#!/usr/bin/env bash
# Runs every libFuzzer target of a PIPIT_FUZZ build for a while.
#
#   scripts/fuzz.sh BUILD_DIR SECONDS
#
# For each fuzz/fuzz_* binary: first replays the checked-in corpus
# (fuzz/corpus/<target>/, -runs=0), then fuzzes for SECONDS starting from a
# temporary copy of it, so new inputs never land in the repository. Crashes,
# leaks and timeouts are kept in BUILD_DIR/fuzz-artifacts/<target>/ and fail the
# run (exit 1). One summary line per target.
set -uo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
build=$(cd "$1" && pwd) || exit 2
seconds=$2
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/pipit-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Leak checking stays on; symbolised stacks make a report usable as is.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

shopt -s nullglob
targets=("$build"/fuzz/fuzz_*)
if [ ${#targets[@]} -eq 0 ]; then
    echo "no fuzz targets in $build/fuzz (configure with -DPIPIT_FUZZ=ON)" >&2
    exit 2
fi

failed=0
for bin in "${targets[@]}"; do
    [ -f "$bin" ] && [ -x "$bin" ] || continue
    name=$(basename "$bin")
    seeds="$root/fuzz/corpus/$name"
    dict="$root/fuzz/$name.dict"
    artifacts="$build/fuzz-artifacts/$name"
    corpus="$work/$name"
    log="$work/$name.log"
    mkdir -p "$artifacts" "$corpus"
    args=(-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$artifacts/")
    [ -f "$dict" ] && args+=(-dict="$dict")
    nseeds=0
    if [ -d "$seeds" ]; then
        cp -R "$seeds"/. "$corpus"/
        nseeds=$(find "$seeds" -type f | wc -l)
    fi

    # 1. Replay: every checked-in seed must run clean.
    if [ "$nseeds" -gt 0 ] && ! "$bin" "${args[@]}" -runs=0 "$seeds" >"$log" 2>&1; then
        echo "FAIL  $name: replay of fuzz/corpus/$name crashed (log below)"
        tail -n 40 "$log"
        failed=1
        continue
    fi

    # 2. Fuzz from the working copy.
    start=$(date +%s)
    "$bin" "${args[@]}" -max_total_time="$seconds" -print_final_stats=1 "$corpus" >"$log" 2>&1
    rc=$?
    elapsed=$(( $(date +%s) - start ))
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | awk '{print $2}')
    ncorpus=$(find "$corpus" -type f | wc -l)
    if [ $rc -ne 0 ]; then
        echo "FAIL  $name: exit $rc after ${elapsed}s; artifacts in $artifacts (log below)"
        grep -E -A 30 'ERROR: |==[0-9]+==|runtime error|deadly signal|Test unit written' "$log" | head -n 60
        failed=1
    else
        echo "ok    $name: ${runs:-?} runs in ${elapsed}s, cov ${cov:-?}, corpus $nseeds -> $ncorpus, peak rss ${rss:-?} MB"
    fi
done
exit $failed
