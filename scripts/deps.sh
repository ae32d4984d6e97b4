#!/usr/bin/env bash
# Installs every Debian package pipit needs to build and run (`scripts/deps.sh`)
# or also to test (`scripts/deps.sh test`: Chromium for the browser tests, and
# coturn, which the call test starts itself on a port of its own),
# skipping the ones already present. Safe to run again; runs apt only when
# something is missing. Node.js and npm build the web app: the machine's own if
# it is recent enough (Vite needs 20.19 or later), else Debian's.
set -euo pipefail

packages=(
    build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
    libuv1-dev libhttp-parser-dev libwslay-dev libjansson-dev libssl-dev
    libsodium-dev libsqlite3-dev sqlite3 libinih-dev libcmocka-dev libcurl4-openssl-dev
    libmagic-dev libvips-dev libarchive-dev
    python3 python3-pytest python3-websockets python3-requests python3-h2 python3-cryptography
    openssl curl ca-certificates wrk tzdata
)
if [ "${1:-}" = test ]; then
    packages+=(chromium fonts-noto-core fonts-noto-cjk coturn)
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

check_node() {
    if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
                  process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
        echo "deps: Node.js $(node --version) is too old for the web build (needs 20.19 or later)" >&2
        exit 1
    fi
}

if [ ${#missing[@]} -eq 0 ]; then
    check_node
    exit 0
fi

echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The package would run its own TURN server on 3478: the tests start theirs.
if [[ " ${missing[*]} " == *" coturn "* ]] && command -v systemctl >/dev/null; then
    $SUDO systemctl disable --now coturn >/dev/null 2>&1 || true
fi

check_node
