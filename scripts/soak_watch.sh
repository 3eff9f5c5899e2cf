#!/usr/bin/env bash
# What a soak watches under `make run`, one line every INTERVAL seconds (default 30) until
# stopped: the RSS (MiB) of every process under make run's supervisor (replicas by port,
# workers by module, nginx's processes), Redis's used memory and the keys of db 0, and
# PostgreSQL's connections to the shop database and in all (docs/load-testing.md#soak).
#   scripts/soak_watch.sh >var/load/soak-watch.txt &   # then make load PLAN=soak
set -euo pipefail
cd "$(dirname "$0")/.."
INTERVAL=${INTERVAL:-30}
DB=${SHOP_DB_NAME:-shop}
supervisor=""
for pid in $(pgrep -f "scripts/supervise.py" || true); do  # this checkout's make run
    [ "$(readlink "/proc/$pid/cwd")" = "$PWD" ] && supervisor=$pid && break
done
[ -n "$supervisor" ] || { echo "make run is not running" >&2; exit 1; }
descendants() {  # the supervisor's children, grandchildren and their children
    local level=$1 all=$1 next
    for _ in 1 2 3; do
        next=$(for pid in $level; do pgrep -P "$pid" || true; done)
        all="$all $next" level=$next
    done
    echo "$all" | tr ' ' '\n' | sed '/^$/d' | sort -un | grep -vx "$1"
}
while true; do
    rss=""
    for pid in $(descendants "$supervisor"); do
        [ -r "/proc/$pid/status" ] || continue
        command=$(tr '\0' ' ' <"/proc/$pid/cmdline")
        name=$( (grep -oE -- "--port [0-9]+" <<<"$command" || grep -oE "nginx: [a-z]+|-m [a-z_.]+" <<<"$command" || true) | head -1 | tr ' ' '_')
        [ -n "$name" ] || continue
        rss="$rss $name=$(awk '/VmRSS/ {printf "%d", $2 / 1024}' "/proc/$pid/status")"
    done
    redis=$(redis-cli info memory | awk -F: '/^used_memory:/ {printf "%d", $2 / 1048576}')
    keys=$(redis-cli -n 0 dbsize)
    pg_shop=$(psql -h 127.0.0.1 -U postgres -Atc "select count(*) from pg_stat_activity where datname = '$DB'")
    pg_all=$(psql -h 127.0.0.1 -U postgres -Atc "select count(*) from pg_stat_activity")
    echo "$(date +%H:%M:%S) load=$(cut -d' ' -f1 /proc/loadavg) redis_mib=$redis db0_keys=$keys pg_$DB=$pg_shop pg_all=$pg_all rss_mib:$rss"
    sleep "$INTERVAL"
done
