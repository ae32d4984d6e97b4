#!/usr/bin/env bash
# Installs every Debian package pipit needs to build, run and test, skipping the
# ones already present. Safe to run again; runs apt only when something is missing.
set -euo pipefail

packages=(
    build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
    libuv1-dev libhttp-parser-dev libwslay-dev libjansson-dev libssl-dev
    libsodium-dev libsqlite3-dev sqlite3 libinih-dev libcmocka-dev libcurl4-openssl-dev
    python3 python3-pytest python3-websockets python3-requests python3-h2 python3-cryptography
    openssl curl ca-certificates wrk tzdata
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
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
