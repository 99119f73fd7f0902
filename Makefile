# Carreau: `make run` serves the platform with demo data, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_WORKERS ?= 2

.PHONY: run test install install-dev lint messages vendor migrate clean bench bench-small

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed
	$(BIN)/python -c "from app.core.i18n import compile_catalogs; compile_catalogs()"

# axe-core and the test OpenID provider come from npm; without npm those tests skip.
node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --silent --no-audit --no-fund && touch $@; \
	else echo "npm not found: browser tests will be skipped (install Node.js and npm to run them)"; fi

tests/oidc_provider/node_modules/.installed: tests/oidc_provider/package.json tests/oidc_provider/package-lock.json
	@if command -v npm >/dev/null 2>&1; then cd tests/oidc_provider && npm ci --silent --no-audit --no-fund && touch node_modules/.installed; \
	else echo "npm not found: OpenID Connect tests will be skipped (install Node.js and npm to run them)"; fi

install-dev: install $(VENV)/.installed-dev
	@$(MAKE) --no-print-directory node_modules/.installed tests/oidc_provider/node_modules/.installed

migrate: install
	$(BIN)/carreau db upgrade

run: migrate
	$(BIN)/carreau seed demo
	$(BIN)/carreau serve --host $(HOST) --port $(PORT)

test: install-dev
	$(BIN)/pytest -n $(PYTEST_WORKERS) -p no:cacheprovider

lint: install-dev
	$(BIN)/ruff check app migrations tests bench
	$(BIN)/lint-imports

# The benchmark (bench/, BENCHMARKS.md): a basin-sized data set on PostgreSQL, then wrk against it.
# Needs wrk (apt-get install -y wrk) and pgbench; every load targets 127.0.0.1 and is bounded in time.
BENCH_DB ?= carreau_bench
BENCH_PG ?= postgresql://postgres@127.0.0.1:5432
bench: install-dev
	psql "$(BENCH_PG)/postgres" -qc "DROP DATABASE IF EXISTS $(BENCH_DB) WITH (FORCE)" -c "CREATE DATABASE $(BENCH_DB)"
	$(BIN)/python -m bench.generate --database-url $(BENCH_PG)/$(BENCH_DB) --scale full
	$(BIN)/python -m bench.run --database-url $(BENCH_PG)/$(BENCH_DB) --out bench/results/postgresql.json
	rm -f var/bench.db && $(BIN)/python -m bench.generate --database-url sqlite:///var/bench.db --scale full
	$(BIN)/python -m bench.run --database-url sqlite:///var/bench.db --out bench/results/sqlite.json

# The same on a small data set and short runs, on SQLite: a smoke test of the harness (under two minutes).
bench-small: install-dev
	mkdir -p var && rm -f var/bench-small.db
	$(BIN)/python -m bench.generate --database-url sqlite:///var/bench-small.db --scale small
	$(BIN)/python -m bench.run --database-url sqlite:///var/bench-small.db --duration 2 --runs 1 --voters 500 \
		--exact-votes 300 --out bench/results/small.json

# Extract the French message ids and update the English catalogue.
messages: install-dev
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k _ -k gettext -k ngettext:1,2 --no-location --sort-output -o app/translations/messages.pot .
	$(BIN)/pybabel update -i app/translations/messages.pot -d app/translations --no-fuzzy-matching

# Copy the vendored front-end files from their npm packages (versions in package.json).
vendor: node_modules/.installed
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx-$$(node -p "require('htmx.org/package.json').version").min.js

clean:
	rm -rf $(VENV) node_modules var
