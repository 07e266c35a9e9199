# TrapTagger: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
PORT ?= 8000
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MYSQL_STAMP := $(VENV)/.mysql-installed
# The MySQL driver is installed only when DATABASE_URL names MySQL (it needs
# the MariaDB client headers; see requirements/mysql.txt).
DB_DRIVER := $(if $(filter mysql%,$(DATABASE_URL)),$(MYSQL_STAMP))

.PHONY: run test test-random hostile lint bench venv clean-var

$(STAMP): requirements/base.txt requirements/dev.txt requirements/checkers.txt \
		requirements/detector.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	$(PY) -m pip install --quiet --no-deps -r requirements/checkers.txt
	$(PY) -m pip install --quiet --no-deps -r requirements/detector.txt
	touch $(STAMP)

$(MYSQL_STAMP): $(STAMP) requirements/mysql.txt
	$(PY) -m pip install --quiet -r requirements/mysql.txt
	touch $(MYSQL_STAMP)

venv: $(STAMP) $(DB_DRIVER)

## make run: the embedded instance (SQLite, local files) with the demo, on http://127.0.0.1:8000
run: $(STAMP) $(DB_DRIVER)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py serve_local --demo --port $(PORT)

## make test: the whole suite (DATABASE_URL / REDIS_URL when set, else the embedded default)
test: $(STAMP) $(DB_DRIVER)
	$(PY) -m pytest $(PYTEST_ARGS)

## make test-random [SEED=N]: the whole suite in a random order (pytest-randomly); it prints
## "Using --randomly-seed=N", and SEED=N replays that order
test-random: $(STAMP) $(DB_DRIVER)
	$(PY) -m pytest -p randomly $(if $(SEED),--randomly-seed=$(SEED)) $(PYTEST_ARGS)

## make hostile: the standing hostile suite (cross-organisation access, hostile files and
## input, XSS in Chromium, login guessing, killed workers); also part of make test
hostile: $(STAMP) $(DB_DRIVER)
	$(PY) -m pytest -m hostile -rs $(PYTEST_ARGS)

lint: $(STAMP) $(DB_DRIVER)
	$(VENV)/bin/ruff check .
	$(PY) manage.py makemigrations --check --dry-run

bench: $(STAMP) $(DB_DRIVER)
	$(PY) -m tests.benchmarks.run

clean-var:
	rm -rf var
