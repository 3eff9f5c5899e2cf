#!/usr/bin/env bash
# The figures of docs/load-testing.md: `make run` from a clean database, the micro-cache
# ratio (wrk on the anonymous product list through `make run` vs a bare nginx serving the
# same bytes, in the same run), then browse, shopper and flash-sale through JMeter.
# Run it alone on the machine (it uses make run's fixed ports), e.g.
#   flock /tmp/highload-make-run.lock scripts/load_figures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=var/load/figures-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
export PATH="$PATH:/usr/sbin"
B=http://127.0.0.1:8080
# Load from one address: raise the per-address limits (the defaults would answer 429).
export GATEWAY_AUTH_RATE=6000r/m GATEWAY_AUTH_BURST=1000 GATEWAY_API_RATE=1000000r/s \
    GATEWAY_API_BURST=100000 GATEWAY_LONG_POLL_CONNECTIONS=200

psql -h 127.0.0.1 -U postgres -qc 'DROP DATABASE IF EXISTS shop WITH (FORCE)' >/dev/null
redis-cli -n 0 flushdb >/dev/null
# Data first, while the stack holds no connections of the shared PostgreSQL.
retry() {  # the machine's PostgreSQL is shared: a full connection table is transient
    for attempt in 1 2 3 4 5; do "$@" && return 0; sleep $((attempt * 10)); done
    return 1
}
retry make seed SEED_PRODUCTS=1000 >"$OUT/seed.log" 2>&1
retry make load-data USERS=2000 >"$OUT/load-data.log" 2>&1
retry make staff EMAIL=staff@example.com PASSWORD=load-staff-password >/dev/null
setsid make run >"$OUT/make-run.log" 2>&1 &
RUN_PID=$!
cleanup() {
    kill -TERM -- "-$RUN_PID" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 -- "-$RUN_PID" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$RUN_PID" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 240); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' $B/health)" = 200 ] && break
    sleep 1
done

# The micro-cache ratio: the same body from a bare nginx on the same cores.
scripts/microcache_ratio.sh >"$OUT/wrk.txt" 2>&1

# PLANS overrides the runs, e.g. PLANS="flash-sale --threads 50 --prop units=10".
IFS=';' read -r -a runs <<<"${PLANS:-browse --threads 20 --duration 60;shopper --threads 10 --duration 60;flash-sale --threads 50 --prop units=10}"
for plan in "${runs[@]}"; do
    # shellcheck disable=SC2086
    .venv/bin/python scripts/load.py $plan --out "$OUT" --max-error-pct 100 \
        --prop staff_email=staff@example.com --prop staff_password=load-staff-password \
        >"$OUT/$(echo "$plan" | cut -d' ' -f1).txt" 2>&1 || true
done
echo "$OUT"
