#!/usr/bin/env bash
# Install nginx from Debian packages when it is missing (root only; otherwise explain).
set -euo pipefail
command -v nginx >/dev/null 2>&1 && exit 0
[ -x /usr/sbin/nginx ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "nginx is missing: installing it from Debian packages" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >/dev/null
    # The package may start a system nginx on port 80; the shop runs its own.
    (command -v service >/dev/null && service nginx stop >/dev/null 2>&1) || true
    exit 0
fi
echo "nginx is not installed. Install it (e.g. 'sudo apt-get install nginx') and retry." >&2
exit 1
