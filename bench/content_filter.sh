#!/usr/bin/env bash
# What the content filter costs sending (issue 7: within 5% with a 10,000-word list).
# Runs the 1:1 chat benchmark at its maximum rate (chat_pairs.sh, 500 pairs, window 8,
# chat-like English and Chinese text of 200 bytes) with no lists, then with 10,000
# words (half English-like, half Chinese, all "mask"), ROUNDS times each, alternating
# (single runs vary by ±10% on a shared VM), and prints each run and the medians. The
# words are random, so the text rarely matches: what is measured is the scan every
# message pays. First, pipit-filter-bench times the scan alone in CPU time, which
# neighbours on a shared machine do not disturb. (CPU per message at a paced rate says
# nothing here: the store writer waits for company at low rates.)
#   bench/content_filter.sh BUILD_DIR [ROUNDS]
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
here=$(dirname "$0")
lists=$(mktemp -d)
trap 'rm -rf "$lists"' EXIT

/usr/bin/python3 - "$lists/bench.mask.txt" <<'EOF'
import random, sys
rnd = random.Random(7)
words = set()
while len(words) < 5000:
    words.add("".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(4, 10))))
while len(words) < 10000:
    words.add("".join(chr(rnd.randint(0x4E00, 0x9FA5)) for _ in range(rnd.randint(2, 4))))
open(sys.argv[1], "w", encoding="utf-8").write("\n".join(sorted(words)) + "\n")
EOF
echo "== content filter: the scan alone, one core (CPU time)"
"$build/pipit-filter-bench" "$lists/bench.mask.txt" 200000
echo "== content filter: $(wc -l < "$lists/bench.mask.txt") words; $rounds rounds of max-rate 1:1 chat, without and with"

run() {
    PACED_RATES="" LOADGEN_ARGS="--words 1 --text-bytes 200" PIPITD_ARGS="$1" \
        "$here/chat_pairs.sh" "$build" 500 8 2 2>&1 |
        sed -n 's/^RESULT .*delivered_per_s=\([0-9]*\).*/\1/p'
}

without=()
with=()
for i in $(seq 1 "$rounds"); do
    a=$(run "")
    b=$(run "--content-filter-dir $lists")
    echo "round $i: without lists $a msgs/s, with 10,000 words $b msgs/s"
    without+=("$a")
    with+=("$b")
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
a=$(median "${without[@]}")
b=$(median "${with[@]}")
echo "median: without $a msgs/s, with $b msgs/s: $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%+.1f%%", (b-a)*100/a}')"
