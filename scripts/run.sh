#!/usr/bin/env bash
# `make run`: starts pipitd in the foreground and tells the operator how to log in.
set -euo pipefail
bin=$1
data=$2
listen=${PIPIT_LISTEN:-127.0.0.1:8080}

# Print the banner once the server has written its first-start password.
(
    for _ in $(seq 1 100); do
        if [ -s "$data/initial-admin-password" ]; then
            printf '\n  pipit is running: open http://%s/ (chat) or http://%s/admin/ (console)\n' \
                "$listen" "$listen"
            printf '  log in as admin with the password in %s/initial-admin-password:\n' "$data"
            printf '      %s\n\n' "$(cat "$data/initial-admin-password")"
            exit 0
        fi
        sleep 0.1
    done
    printf '\n  pipit: open http://%s and log in as admin (password: %s/initial-admin-password,\n' "$listen" "$data"
    printf '  written on the first start; reset it with build/pipit user passwd admin).\n\n'
) &
exec "$bin" --data-dir "$data" --listen "$listen" --registration open
