# The README's two commands are `make demo` and `make test`.
SHELL := /bin/bash
UV_VERSION := 0.13.9

.PHONY: setup demo test test-fast rehearsal lint bench ui

setup:
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet "uv==$(UV_VERSION)"
	uv sync --frozen --compile-bytecode
	@if [ -f site/package-lock.json ]; then (cd site && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent); fi

demo: setup
	uv run python -m rt_assets.demo
	uv run python -m lake_assets.demo

# The production rehearsal runs in a pytest process of its own, after the rest: its
# cluster, services and file descriptors do not share a process with the other tests.
test: setup
	uv run ruff check .
	uv run pytest -m "not rehearsal" --durations=25
	uv run pytest -m rehearsal --durations=10

# The quick tests only (about 2 min on 2 cores): no real services, no browser, nothing slow.
test-fast: setup
	uv run ruff check .
	uv run pytest -m "not services and not browser and not slow and not rehearsal"

# The production rehearsal alone (docs/production.md); `make test` includes it.
rehearsal: setup
	uv run pytest -m rehearsal

lint: setup
	uv run ruff check .
	uv run ruff format --check .

bench: setup
	uv run python -m benchmarks

ui: setup
	DAGSTER_HOME=$(CURDIR)/.dagster uv run dagster dev -w workspace.yaml
