# Two commands from a fresh clone: `make demo` and `make test` (python3 >= 3.11 and make only).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_PORT ?= 8000
export DEMO_PORT

BENCH_VENV ?= .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

.PHONY: demo demo-asgi bench-asgi test typecheck docs quickstart package matrix test-min test-postgres fuzz test-browser cluster cluster-down fleet-test test-mtls lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "oauth_cc needs Python 3.11 or newer; set PYTHON=python3.x")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,demo,typecheck]'
	@touch $(STAMP)

## Run the demo project on http://127.0.0.1:$(DEMO_PORT) with a signing key and a demo client.
demo: $(STAMP)
	$(BIN)/python -m demo_project.make_env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo_setup
	$(BIN)/python manage.py runserver 127.0.0.1:$(DEMO_PORT) --noreload

## Async views under ASGI: in-process through the ASGI callable and over HTTP with uvicorn.
bench-asgi: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python benchmarks/asgi_bench.py $(BENCH_ARGS)

## The same demo under ASGI (uvicorn, demo_project/asgi.py): async views never block a thread.
demo-asgi: $(STAMP)
	$(BIN)/python -m demo_project.make_env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo_setup
	$(BIN)/python -m uvicorn demo_project.asgi:application --host 127.0.0.1 --port $(DEMO_PORT)

## Run the whole test suite, then the import contracts, the type checker and the linter.
test: $(STAMP)
	$(BIN)/python -m pytest --cov --cov-report=term-missing:skip-covered
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m mypy --config-file ci/mypy.ini oauth_cc
	$(BIN)/python -m ruff check .

## Type-check oauth_cc/ with strict mypy and the Django and DRF stubs (ci/mypy.ini).
typecheck: $(STAMP)
	$(BIN)/python -m mypy --config-file ci/mypy.ini oauth_cc

$(BENCH_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "oauth_cc needs Python 3.11 or newer; set PYTHON=python3.x")'
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e '.[bench]'
	@touch $(BENCH_STAMP)

## Benchmark oauth_cc against django-oauth-toolkit and a bare DRF view (benchmarks/README.md).
bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python benchmarks/run.py $(BENCH_ARGS)

## The whole suite on PostgreSQL with Redis as the cache (throwaway servers on 127.0.0.1).
test-postgres: $(STAMP)
	bash ci/postgres.sh bash ci/redis.sh $(BIN)/python -m pytest

## The hostile-input fuzzer and the JWT mutation suite, run much longer than in make test.
fuzz: $(STAMP)
	OAUTH_CC_FUZZ_EXAMPLES=$${OAUTH_CC_FUZZ_EXAMPLES:-5000} $(BIN)/python -m pytest -s \
		tests/test_hostile_input.py tests/test_jwt_mutations.py

## The admin in a headless Chromium (Debian's chromium and chromium-driver) over a live server;
## screenshots in build/browser-artefacts/. Not part of make test.
test-browser: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[browser]'
	OAUTH_CC_ARTEFACTS=build/browser-artefacts $(BIN)/python -m pytest tests/browser \
		-p no:cacheprovider -rs

## Start the fleet on 127.0.0.1: PostgreSQL, Redis, instances A and B, a resource project, nginx.
cluster: $(STAMP)
	$(BIN)/python -m fleet up

cluster-down: $(STAMP)
	$(BIN)/python -m fleet down

## Start the fleet, run tests/fleet against it, stop it.
fleet-test: $(STAMP)
	$(BIN)/python -m fleet run -- $(BIN)/python -m pytest tests/fleet -rxX -s

## mTLS end to end: nginx on 127.0.0.1 terminates TLS in front of the live server and passes
## client certificates (Debian's nginx; skipped without it, failed without it under CI=true).
test-mtls: $(STAMP)
	$(BIN)/python -m pytest tests/test_mtls_nginx.py -rs -p no:cacheprovider

## Build the documentation site into site/ with mkdocs build --strict (its own virtualenv, .venv-docs).
docs:
	PYTHON=$(PYTHON) bash ci/docs.sh

## Follow docs/quickstart.md literally in a new startproject, with a wheel built from this checkout.
quickstart:
	PYTHON=$(PYTHON) bash ci/quickstart.sh

NOX_VENV ?= .venv-nox
## Build the sdist and the wheel, twine check, check their contents, install the wheel fresh.
package:
	PYTHON=$(PYTHON) bash ci/package.sh $(PACKAGE_OUT)

$(NOX_VENV)/.installed:
	$(PYTHON) -m venv $(NOX_VENV)
	$(NOX_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(NOX_VENV)/bin/python -m pip install --quiet 'nox>=2025.10.14'
	@touch $@

## The suite on Python 3.11-3.13 x Django 5.2/6.0/6.1 (the interpreters found here).
matrix: $(NOX_VENV)/.installed
	$(NOX_VENV)/bin/nox $(NOX_ARGS)

## Run the test suite against the lowest versions pyproject.toml allows (ci/constraints-min.txt).
test-min:
	PYTHON=$(PYTHON) bash ci/test-min.sh

lint: $(STAMP)
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m ruff check .

clean:
	rm -rf $(VENV) $(BENCH_VENV) .venv-min .venv-docs .venv-nox .nox .coverage site build dist *.egg-info
