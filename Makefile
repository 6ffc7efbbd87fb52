# The two entry points a new user needs; both set everything up first (scripts/bootstrap is idempotent).
VENV := .venv/bin
STACK ?= dev

.PHONY: setup plan test unit lint lock pin-counts

setup:
	@scripts/bootstrap

plan: setup
	@$(VENV)/pog plan $(STACK)

# In order: the layer contracts (import-linter), the workflows (actionlint, zizmor offline), ruff, mypy strict.
# .pre-commit-config.yaml runs the same checks.
lint: setup
	$(VENV)/lint-imports
	$(VENV)/python -m scripts.actionlint
	$(VENV)/zizmor --offline --no-progress .github/workflows
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/mypy

# scripts/system-deps first: the Debian packages the tests need beyond the machine's services (nginx for
# the live-board CDN test); it installs nothing when they are there.
test: lint
	scripts/system-deps
	$(VENV)/pytest -n auto

# The unit layer alone: pure functions, no services, in seconds (-n 0: each xdist worker would collect
# every test file again, which costs more than the tests).
unit: setup
	$(VENV)/pytest -m unit -n 0 -q

# No index or find-links address in the locks (pip uses whatever index it is configured with); their header
# names `make lock` rather than the flags.
LOCK_FLAGS := --generate-hashes --no-emit-index-url --no-emit-find-links --no-strip-extras --python-version 3.11 \
	--custom-compile-command "make lock"

# Regenerate the hash-pinned lock after changing dependencies in pyproject.toml.
# --no-strip-extras: pip (the venv's 23.x) refuses an unpinned `pkg[extra]` a dependency asks for in --require-hashes mode.
lock:
	$(VENV)/pip install --quiet uv
	$(VENV)/uv pip compile pyproject.toml --extra dev $(LOCK_FLAGS) -o requirements.lock
	$(VENV)/uv pip compile requirements-app.in -c requirements.lock $(LOCK_FLAGS) -o requirements-app.lock

# After an intended change to what the program declares: re-pin the per-type counts the tests check.
pin-counts: setup
	$(VENV)/python scripts/pin_counts.py

# After a change to the usage model, the prices, the meters or the sizing: re-pin each stack's billing
# budget at the `pog cost` estimate of its phase (infra/stacks/budgets.json; docs/cost.md).
.PHONY: pin-budgets
pin-budgets: setup
	$(VENV)/python -m scripts.pin_budgets

# Time the offline plan against the import time of the provider SDKs (about a minute; bench/README.md).
.PHONY: bench
bench: setup
	$(VENV)/python -m bench.plan_bench $(BENCH_ARGS)

# `pog cost` against `pog plan` over every stack x phase, in the same run (about a minute; bench/README.md).
.PHONY: bench-cost
bench-cost: setup
	$(VENV)/python -m bench.cost_bench $(BENCH_ARGS)

# Cached GET /v1/me against /healthz under load, and the finish-game flow against the emulator (about 40 s;
# bench/README.md). BENCH_ARGS="--duration 4 --connections 32 --json api.json"
# Cold start of the API against bare FastAPI+uvicorn, in fresh interpreters (about 30 s; bench/README.md).
.PHONY: bench-cold-start
bench-cold-start: setup
	$(VENV)/python -m bench.cold_start_bench $(BENCH_ARGS)

.PHONY: bench-api
bench-api: setup
	$(VENV)/python -m bench.api_bench $(BENCH_ARGS)

# Leaderboards with 1,000,000 players per board: page reads, submits, around-me, memory against same-run
# baselines (a few minutes, ~2 GB of Redis; bench/README.md). BENCH_ARGS="--players 100000"
.PHONY: bench-leaderboards
bench-leaderboards: setup
	$(VENV)/python -m bench.leaderboard_bench $(BENCH_ARGS)

# RevenueCat INITIAL_PURCHASE webhooks/s through the whole path against a bare Firestore transaction of the
# same size, duplicate deliveries, a burst of one delivery (under a minute; bench/README.md).
# BENCH_ARGS="--deliveries 200 --concurrency 4 --json payments.json"
.PHONY: bench-payments
bench-payments: setup
	$(VENV)/python -m bench.payments_bench $(BENCH_ARGS)

# The finish-game flow with analytics on (a Pub/Sub emulator) against the same flow with it off, in one run
# (about a minute; bench/README.md). BENCH_ARGS="--games 40 --rounds 5 --json analytics.json"
.PHONY: bench-analytics
bench-analytics: setup
	$(VENV)/python -m bench.analytics_bench $(BENCH_ARGS)

# Live boards through nginx configured like the Cloudflare cache rules: 100, 1,000 and 10,000 viewers while
# games finish, origin requests per interval and finish-to-seen delays (about 6 minutes; nginx from
# scripts/system-deps; bench/README.md). BENCH_ARGS="--viewers 100,1000 --interval 5 --duration 60"
.PHONY: bench-live
bench-live: setup
	$(VENV)/python -m bench.live_cdn_bench $(BENCH_ARGS)

# The API on 127.0.0.1:8000 with reload, over a throw-away redis-server and Firestore emulator with demo
# players; prints a dev token. Ctrl-C stops everything (scripts/run_local.py; RUN_ARGS="--port 9000").
.PHONY: run-local
run-local: setup
	$(VENV)/python -m scripts.run_local $(RUN_ARGS)
