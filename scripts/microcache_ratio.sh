#!/usr/bin/env bash
# The micro-cache ratio of docs/load-testing.md against a running `make run`: wrk on the
# anonymous product list through make run's nginx (a micro-cache hit), then on a bare
# nginx serving the same bytes from a file on the same cores, ROUNDS times alternating.
# Prints wrk's output, the CPU of wrk and of each nginx (from /proc/<pid>/stat), the load
# average, and nginx's own view per cache status (request_time from the access log).
#   [ROUNDS=2 SECONDS_PER_ROUND=10 CONNECTIONS=64 COLD=1 BASE=http://127.0.0.1:8080] \
#       scripts/microcache_ratio.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin"
BASE=${BASE:-http://127.0.0.1:8080}
ROUNDS=${ROUNDS:-2} SECS=${SECONDS_PER_ROUND:-10} CONNS=${CONNECTIONS:-64}
URL="$BASE/api/products/?limit=20"
ACCESS=var/log/nginx-access.log
BARE=$(mktemp -d /tmp/shop-bare-nginx-XXXXXX)
BARE_PID=""
trap '[ -n "$BARE_PID" ] && kill "$BARE_PID" 2>/dev/null; rm -rf "$BARE"' EXIT
curl -s "$URL" >/dev/null; sleep 0.2; curl -s "$URL" >/dev/null
mkdir -p "$BARE/api/products"
curl -s "$URL" -o "$BARE/api/products/index.json"
cat >"$BARE/nginx.conf" <<CONF
worker_processes auto;
pid $BARE/nginx.pid;
error_log $BARE/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    server {
        listen 127.0.0.1:8099;
        root $BARE;
        location = /api/products/ { default_type application/json; try_files /api/products/index.json =404; }
    }
}
CONF
chmod -R a+rX "$BARE"
nginx -p "$BARE" -c "$BARE/nginx.conf" -g 'daemon off;' &
BARE_PID=$!
sleep 1
ticks() {  # utime+stime (1/100 s) of the given pids, summed
    local total=0 f
    for pid in "$@"; do
        read -r -a f <"/proc/$pid/stat" 2>/dev/null && total=$((total + f[13] + f[14]))
    done
    echo "$total"
}
shop_nginx=$(pgrep -f "$PWD/var/nginx/nginx.conf" | tr '\n' ' ')
shop_nginx="$shop_nginx $(pgrep -P "$(echo "$shop_nginx" | tr ' ' ',')" | tr '\n' ' ')"
bare_nginx="$BARE_PID $(pgrep -P "$BARE_PID" | tr '\n' ' ')"
by_status() {  # nginx's request_time per cache status for the lines after line $1
    tail -n +"$(($1 + 1))" "$ACCESS" | python3 -c '
import collections, json, sys
seen = collections.defaultdict(list)
for line in sys.stdin:
    try:
        entry = json.loads(line)
    except ValueError:
        continue
    seen[entry["cache"] or "-"].append(float(entry["request_time"]) * 1000)
for status, times in sorted(seen.items()):
    times.sort()
    n = len(times)
    print(f"  nginx {status}: {n} requests, p50 {times[n // 2]:.0f} ms, "
          f"p99 {times[int(n * 0.99)]:.0f} ms, max {times[-1]:.0f} ms")
'
}
echo "body: $(wc -c <"$BARE/api/products/index.json") bytes; $(curl -s -o /dev/null -D - "$URL" | grep -i x-cache-status | tr -d '\r')"
for round in $(seq 1 "$ROUNDS"); do
    for target in shop bare; do
        if [ $target = shop ]; then
            url=$URL pids=$shop_nginx
            # COLD=1: the entry has gone (`inactive=10s` in nginx.conf) when wrk starts, so
            # its 64 connections arrive on an absent entry at once, as a burst would.
            [ "${COLD:-1}" = 1 ] && sleep 11
        else url="http://127.0.0.1:8099/api/products/?limit=20" pids=$bare_nginx; fi
        # shellcheck disable=SC2086
        before=$(ticks $pids) lines=$([ -f "$ACCESS" ] && wc -l <"$ACCESS" || echo 0)
        echo "== round $round: $target ($(cut -d' ' -f1-3 /proc/loadavg) load)"
        /usr/bin/time -f "  wrk CPU: %U s user + %S s system" wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "$url" \
            | tee "$BARE/wrk.out"
        # A rate-limited run measures the 429 page, not the micro-cache: refuse its figures.
        if grep -q 'Non-2xx' "$BARE/wrk.out"; then
            echo "error: non-2xx answers; start make run with GATEWAY_API_RATE=1000000r/s" \
                "GATEWAY_API_BURST=100000 (docs/load-testing.md)" >&2
            exit 2
        fi
        # shellcheck disable=SC2086
        echo "  nginx CPU: $(($(ticks $pids) - before))/100 s"
        if [ $target = shop ] && [ -f "$ACCESS" ]; then sleep 1.5; by_status "$lines"; fi
    done
done
