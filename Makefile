# Highload Shop: the commands. `make run` starts the shop, `make test` tests it.

SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := 3.11
UV ?= uv
PYTHON := .venv/bin/python
# Every package's source folder (the workspace members) and the root's deploy package.
EMPTY :=
MYPYPATH := $(subst $(EMPTY) $(EMPTY),:,$(wildcard shared/src services/*/src gateway/src)):.

.PHONY: help install keys migrate run test fuzz lint fmt staff compose seed bench bench-events bench-checkout history-rebuild history-check load load-data chaos clean storefront storefront-dev storefront-api

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install:  ## install every package of the workspace from the lock file
	@scripts/ensure-uv.sh
	@$(UV) sync --all-packages --locked --quiet

keys: install  ## generate the dev key that signs access tokens (once; never committed)
	@$(PYTHON) -m users.cli generate-keys

migrate: install  ## create the database, schemas and roles, then run every service's migrations
	@$(PYTHON) -m shared.dbadmin bootstrap $$($(PYTHON) -m deploy.registry databases)
	@for path in $$($(PYTHON) -m deploy.registry migrations); do \
		echo "migrating $$path"; \
		(cd $$path && $(CURDIR)/.venv/bin/alembic upgrade head) || exit 1; \
	done

run: install  ## run the whole shop behind nginx on http://127.0.0.1:8080, docs at /docs, Prometheus on :9090 (OBSERVE=0: without)
	@scripts/ensure-nginx.sh
	@[ "$(OBSERVE)" = 0 ] || scripts/ensure-observability.sh
	@$(PYTHON) -m scripts.stack check
	@$(MAKE) --no-print-directory keys migrate storefront
	@$(PYTHON) -m scripts.stack render
	@exec $(PYTHON) scripts/supervise.py var/Procfile --status var/supervise.json

test: install  ## run every test against the real PostgreSQL, Redis and nginx
	@scripts/ensure-nginx.sh
	@scripts/ensure-test-tools.sh
	@scripts/ensure-jmeter.sh || echo "JMeter is unavailable: the load-plan tests will skip" >&2
	@scripts/ensure-observability.sh || echo "the observability tests will fail: Prometheus is missing" >&2
	@$(PYTHON) -m scripts.stack check
	@.venv/bin/pytest $(PYTEST_ARGS)

fuzz: install  ## the deep sweep: schemathesis (every phase) and the cursor fuzz through nginx
	@scripts/ensure-nginx.sh
	@$(PYTHON) -m scripts.stack check
	@SHOP_FUZZ_EXAMPLES=$${SHOP_FUZZ_EXAMPLES:-50} SHOP_FUZZ_PHASES=examples,coverage,fuzzing,stateful \
		SHOP_FUZZ_EXCLUDE_CHECKS=$${SHOP_FUZZ_EXCLUDE_CHECKS-} \
		SHOP_CURSOR_FUZZ_EXAMPLES=$${SHOP_CURSOR_FUZZ_EXAMPLES:-3000} \
		.venv/bin/pytest tests/test_openapi_sweep.py tests/test_cursor_fuzz.py $(PYTEST_ARGS)

lint:  ## ruff (lint + format check) and mypy (strict)
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .
	@MYPYPATH=$(MYPYPATH) .venv/bin/mypy shared/src $(wildcard services/*/src) gateway/src

fmt:  ## format and autofix
	@.venv/bin/ruff format .
	@.venv/bin/ruff check --fix .

staff: keys  ## create or update a staff account: make staff EMAIL=... PASSWORD=...
	@test -n "$(EMAIL)" -a -n "$(PASSWORD)" || { echo "usage: make staff EMAIL=you@example.com PASSWORD=..." >&2; exit 2; }
	@$(MAKE) --no-print-directory migrate >/dev/null
	@$(PYTHON) -m users.cli create-staff --email "$(EMAIL)" --password "$(PASSWORD)"

seed: migrate  ## load the demo catalog: make seed [SEED_PRODUCTS=1000] (replaces the catalog)
	@$(PYTHON) -m catalog.seed --products $${SEED_PRODUCTS:-1000} --reset

bench: install  ## catalog reads under wrk through nginx at 100k products (see docs/catalog.md)
	@command -v wrk >/dev/null || [ "$$(id -u)" -ne 0 ] || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
	@scripts/ensure-nginx.sh
	@$(PYTHON) scripts/bench.py $(BENCH_ARGS)

bench-events: install  ## the event backbone end to end: events/s and commit-to-handled latency
	@$(PYTHON) -m shared.events.bench

bench-checkout: keys  ## the checkout saga through the gateway: fixed rate and flash sale (see docs/checkout.md)
	@scripts/ensure-nginx.sh
	@$(PYTHON) scripts/bench_checkout.py

history-rebuild: migrate  ## rebuild the order-history projection from its event archive (safe while it runs)
	@$(PYTHON) -m orders.history.rebuild

history-check: install  ## compare the order-history projection with the orders table; exit 1 on drift
	@$(PYTHON) -m orders.history.check

load: install  ## a JMeter plan of tests/load/: make load PLAN=browse [THREADS= DURATION= RATE=] [LOAD_TARGET=url]
	@scripts/ensure-jmeter.sh
	@if [ -z "$(LOAD_TARGET)" ]; then \
		$(MAKE) --no-print-directory staff EMAIL=staff@example.com PASSWORD=load-staff-password >/dev/null; \
		[ -f var/load/users.csv ] || $(MAKE) --no-print-directory load-data USERS=1000; \
	fi
	@$(PYTHON) scripts/load.py $${PLAN:-smoke} \
		$${THREADS:+--threads $$THREADS} $${DURATION:+--duration $$DURATION} $${RATE:+--rate $$RATE} $(LOAD_ARGS)

load-data: migrate  ## customers for the load plans: make load-data USERS=10000 [ORDERS=1000000] (writes var/load/users.csv)
	@$(PYTHON) -m users.cli load-customers --count $${USERS:-1000} --csv var/load/users.csv
	@[ -z "$${ORDERS}" ] || $(PYTHON) -m orders.cli load-orders --count $$ORDERS

chaos: install  ## failures under load (kills, restarts, outages, slowness) on a throwaway stack: a table per scenario
	@scripts/ensure-nginx.sh
	@$(PYTHON) -m tests.chaos

compose: install  ## regenerate deploy/compose.yaml and observability/prometheus.yml from deploy/services.toml
	@$(PYTHON) -m deploy.compose

# The storefront SPA: rebuilt when a source changed (exit 3: no npm, the shop runs without it).
STOREFRONT_SOURCES := $(shell find storefront/src storefront/public -type f 2>/dev/null) \
	$(wildcard storefront/index.html storefront/package-lock.json storefront/vite.config.ts storefront/tsconfig.json)

storefront/dist/index.html: $(STOREFRONT_SOURCES)
	@scripts/storefront.sh build || [ $$? -eq 3 ]

storefront: storefront/dist/index.html  ## build the storefront SPA into storefront/dist (when its sources changed)

storefront-dev:  ## the storefront on Vite's dev server, http://127.0.0.1:5173, against the gateway on :8080
	@scripts/storefront.sh dev

storefront-api: install  ## regenerate the storefront's API types from the gateway's merged OpenAPI document
	@scripts/storefront.sh api

clean:  ## remove generated files (keys, rendered configs, caches)
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
