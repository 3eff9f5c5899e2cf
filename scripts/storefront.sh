#!/usr/bin/env bash
# The storefront SPA (storefront/): install its npm packages from the lock file when it
# changed, then type-check it against the generated API types and build storefront/dist.
#
#   scripts/storefront.sh build     # npm ci if needed, tsc, vite build
#   scripts/storefront.sh api       # regenerate openapi.json + src/api/schema.d.ts
#   scripts/storefront.sh dev       # Vite's dev server on :5173, API proxied to :8080
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT/storefront"
if ! command -v npm >/dev/null 2>&1; then
    echo "storefront: npm is not installed (Node.js 18+); skipping the SPA" >&2
    exit 3
fi
# node_modules/.package-lock.json is npm's record of what it installed.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
case "${1:-build}" in
    build) npm run --silent build -- --logLevel warn ;;
    api)
        "$ROOT/.venv/bin/python" -m scripts.openapi --out openapi.json
        npx openapi-typescript openapi.json -o src/api/schema.d.ts
        ;;
    dev) exec npm run dev ;;
    *) echo "usage: $0 build|api|dev" >&2; exit 2 ;;
esac
