#!/usr/bin/env bash
# Install the Debian tools some tests use when they are missing (root only; otherwise
# those tests skip or fall back): Chromium renders /docs and runs the storefront's e2e
# tests, promtool checks observability/prometheus.yml, Node.js and npm build the
# storefront. Never fatal: `make test` runs without them.
set -uo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
# The storefront's build and its e2e run (tests/test_storefront.py) need Node.js and npm.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} from Debian packages (used by the gateway tests)" >&2
    apt-get update -qq >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        >/dev/null 2>&1 || echo "could not install ${missing[*]}; those checks will skip" >&2
    # The prometheus package may start a system Prometheus; the tests need none.
    (command -v service >/dev/null && service prometheus stop >/dev/null 2>&1) || true
fi
exit 0
