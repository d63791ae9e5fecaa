# Postroom: `make run` sets up everything and starts the demo; `make test` sets up and runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
CATALOGS := $(patsubst %.po,%.mo,$(wildcard app/translations/*/LC_MESSAGES/messages.po))

.PHONY: run test test-postgres test-sqlite bench setup system-deps lint translations extract-messages clean

run: setup
	$(PY) -m scripts.devstack.run

# Both passes at once (much of a pass is waiting on mail servers and the browser), each with its own Redis
# databases; --output-sync keeps each pass's report in one piece.
test: setup
	$(MAKE) --no-print-directory -j2 --output-sync=target test-postgres test-sqlite

# The whole suite, on PostgreSQL (required on CI), Redis, the mail stack and headless Chromium.
test-postgres:
	POSTROOM_TEST_REDIS_URL=$${POSTROOM_TEST_REDIS_URL:-redis://127.0.0.1:6379/1} $(PY) -m pytest

# The database-facing tests again on SQLite, the embedded default of `make run`.
test-sqlite:
	POSTROOM_TEST_DB=sqlite POSTROOM_TEST_REDIS_URL=$${POSTROOM_TEST_SQLITE_REDIS_URL:-redis://127.0.0.1:6379/4} \
		$(PY) -m pytest -q -m "not browser" --ignore=tests/devstack

# Benchmarks (never part of `make test`): rewrites docs/benchmarks.md. E.g. make bench BENCH_ARGS="initial_sync --sqlite"
bench: setup
	$(PY) -m bench $(BENCH_ARGS)

setup: system-deps $(INSTALLED) translations

system-deps:
	@bash scripts/install-system-deps.sh

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

translations: $(CATALOGS)

%.mo: %.po | $(INSTALLED)
	$(VENV)/bin/pybabel compile --statistics -i $< -o $@

extract-messages: $(INSTALLED)
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_pgettext:1c,2 -o app/translations/messages.pot \
		--no-location --sort-output --project Postroom .
	$(VENV)/bin/pybabel update -i app/translations/messages.pot -d app/translations --no-fuzzy-matching

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) instance .pytest_cache
