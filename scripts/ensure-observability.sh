#!/usr/bin/env bash
# Install Prometheus and its exporters for PostgreSQL, Redis and nginx from Debian
# packages when they are missing (root only; otherwise explain). `make run` starts them
# under the process manager; `make test` checks the rules with promtool and runs them
# against the test stack.
set -euo pipefail
export PATH="$PATH:/usr/sbin"
declare -A tools=(
    [prometheus]=prometheus
    [promtool]=prometheus
    [prometheus-postgres-exporter]=prometheus-postgres-exporter
    [prometheus-redis-exporter]=prometheus-redis-exporter
    [prometheus-nginx-exporter]=prometheus-nginx-exporter
)
missing=()
for tool in "${!tools[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("${tools[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} from Debian packages" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        >/dev/null
    # The packages start system services on 9090/9187/9121/9113; the shop runs its own.
    for unit in prometheus prometheus-postgres-exporter prometheus-redis-exporter \
        prometheus-nginx-exporter; do
        (command -v service >/dev/null && service "$unit" stop >/dev/null 2>&1) || true
    done
    exit 0
fi
echo "missing ${missing[*]}: install them (e.g. 'sudo apt-get install ${missing[*]}') and retry," >&2
echo "or run 'make run OBSERVE=0' for the shop without monitoring." >&2
exit 1
