# Two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv run test lint format check migrations-check deploy-check schema-check worker settle check-ledger bench screenshots clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

## Start the portal: embedded PostgreSQL (unless DATABASE_URL), migrate, demo data,
## web server and background worker on 127.0.0.1:8000.
run: $(STAMP)
	$(BIN)/python -m billing_portal.launcher run

## The whole test suite on real PostgreSQL (embedded unless DATABASE_URL),
## in PYTEST_WORKERS processes (each with its own test database).
PYTEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m billing_portal.launcher test -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

## Style, the layers contract (import-linter, see docs/architecture.md) and
## types of the services, selectors and ledger (mypy with the Django stubs).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	DATABASE_URL=postgres://unused@localhost/unused $(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrations-check: $(STAMP)
	$(BIN)/python -m billing_portal.launcher manage makemigrations --check --dry-run

deploy-check: $(STAMP)
	DJANGO_SETTINGS_MODULE=billing_portal.settings.production \
	SECRET_KEY=ci-check-$$(date +%s)-a-long-random-enough-secret-value-for-the-check \
	ALLOWED_HOSTS=portal.example.com \
	DATABASE_URL=postgres://unused@localhost/unused \
	$(BIN)/python manage.py check --deploy --fail-level WARNING

## The OpenAPI schema builds without warnings and validates.
schema-check: $(STAMP)
	DATABASE_URL=postgres://unused@localhost/unused \
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null

worker: $(STAMP)
	$(BIN)/python -m billing_portal.launcher manage db_worker --no-reload

settle: $(STAMP)
	$(BIN)/python -m billing_portal.launcher manage settle_accounts

check-ledger: $(STAMP)
	$(BIN)/python -m billing_portal.launcher manage check_ledger

## A benchmark script of bench/ (default ledger_bench.py): make bench BENCH=transfer_bench.py
BENCH ?= ledger_bench.py
bench: $(STAMP)
	$(BIN)/python -m billing_portal.launcher bench $(BENCH)

## Regenerate docs/screenshots/ in English and Chinese (zh-*.png): for each
## language a throwaway portal (embedded PostgreSQL in a temporary folder, a
## free port, fresh demo data), every group of bench/screenshots.py, then the
## portal is stopped. Some groups only: make screenshots GROUPS="pools sharing"
GROUPS ?=
screenshots: $(STAMP)
	$(BIN)/python bench/take_screenshots.py $(GROUPS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
