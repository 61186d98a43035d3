# Two commands from a fresh clone: `make demo` and `make test` (python3 >= 3.11 and make only).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_PORT ?= 8000
export DEMO_PORT

BENCH_VENV ?= .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

.PHONY: demo test test-min lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "oauth_cc needs Python 3.11 or newer; set PYTHON=python3.x")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,demo]'
	@touch $(STAMP)

## Run the demo project on http://127.0.0.1:$(DEMO_PORT) with a signing key and a demo client.
demo: $(STAMP)
	$(BIN)/python -m demo_project.make_env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo_setup
	$(BIN)/python manage.py runserver 127.0.0.1:$(DEMO_PORT) --noreload

## Run the whole test suite, then the import contracts and the linter.
test: $(STAMP)
	$(BIN)/python -m pytest
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m ruff check .

$(BENCH_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "oauth_cc needs Python 3.11 or newer; set PYTHON=python3.x")'
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e '.[bench]'
	@touch $(BENCH_STAMP)

## Benchmark oauth_cc against django-oauth-toolkit and a bare DRF view (benchmarks/README.md).
bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python benchmarks/run.py $(BENCH_ARGS)

## Run the test suite against the lowest versions pyproject.toml allows (ci/constraints-min.txt).
test-min:
	PYTHON=$(PYTHON) bash ci/test-min.sh

lint: $(STAMP)
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m ruff check .

clean:
	rm -rf $(VENV) $(BENCH_VENV) .venv-min build dist *.egg-info
