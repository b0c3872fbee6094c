# Sightline developer commands. Everything goes through platform/runner.py (stdlib Python),
# which builds .venv, picks PostgreSQL/Redis (env, local, or embedded) and supervises processes.
PYTHON ?= python3
RUNNER := $(PYTHON) platform/runner.py
# Extra arguments for pytest: make test ARGS="-k ingest -x"
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup run test bench lint format clean clean-data

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

setup: ## Build .venv (dev), pick services, write .env, migrate
	$(RUNNER) setup --dev

run: ## Run web + worker + beat on HOST:PORT (default 127.0.0.1:8000), restarting a crashed one; Ctrl-C stops all
	$(RUNNER) run

test: ## Run the test suite (pytest $(ARGS)) against real PostgreSQL and Redis
	$(RUNNER) test $(ARGS)

bench: ## Run benchmarks/ with pytest -q -s
	$(RUNNER) bench $(ARGS)

lint: ## ruff check + ruff format --check
	@$(RUNNER) venv --dev
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: ## Apply ruff's fixes and formatting
	@$(RUNNER) venv --dev
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

clean: ## Remove caches and collected static files (keeps .venv and the embedded databases)
	find . -path ./.venv -prune -o -type d -name __pycache__ -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache .data/static

clean-data: ## DELETE .data (embedded PostgreSQL + Redis data, beat schedule); asks first
	@if [ -f .data/postgres/postmaster.pid ]; then echo "the embedded PostgreSQL is running: stop make run/test first"; exit 1; fi
	@echo "WARNING: this deletes .data/: the embedded PostgreSQL and Redis data (users, projects, traces)."
	@if [ "$(YES)" != "1" ]; then \
		printf "Type 'yes' to continue (or run: make clean-data YES=1): "; read answer; \
		[ "$$answer" = "yes" ] || { echo "kept .data/"; exit 1; }; \
	fi
	rm -rf .data
	@echo "removed .data/"
