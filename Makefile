# casemgmt: the two commands are `make run` and `make test`. `make help` lists the rest.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
REQUIREMENTS := requirements/base.txt requirements/dev.txt
MYPY_PATHS := casemgmt policies_app tests bench
HOST ?= 127.0.0.1
PORT ?= 8000
# Extra arguments for pytest, e.g. `make test PYTEST_ARGS="-k healthz -x"`.
PYTEST_ARGS ?=

.PHONY: help run test lint worker relay requirements bench browsers install letter-deps

help: ## List the commands
	@echo "casemgmt: prior-authorization case management"
	@echo
	@echo "  make run           create .venv, install, migrate, load demo data, serve http://$(HOST):$(PORT)"
	@echo "  make test          run the whole test suite (PYTEST_ARGS=... passes arguments to pytest)"
	@echo
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | grep -v -E '^(help|run|test):' \
		| awk -F':.*## ' '{ printf "  make %-15s %s\n", $$1, $$2 }'

$(PY):
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required (set PYTHON=... to use another interpreter)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Reinstall only when a compiled requirements file changed (or the venv is new).
$(STAMP): $(REQUIREMENTS) | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/base.txt -r requirements/dev.txt
	touch $@

install: $(STAMP) ## Create .venv and install the pinned requirements

# With no broker nothing else makes a webhook delivery's retry when it falls due: webhooks_run
# does, beside the server (its lines prefixed [webhooks]), and the trap stops it with the server.
run: $(STAMP) letter-deps ## Migrate, load demo data and serve on http://127.0.0.1:8000 (DEBUG=1 unless set)
	@export DEBUG="$${DEBUG:-1}"; \
	$(PY) manage.py migrate --no-input; \
	$(PY) manage.py load_demo --url http://$(HOST):$(PORT)/; \
	echo; echo "Serving on http://$(HOST):$(PORT)/  (Ctrl-C to stop)"; echo; \
	if [ -n "$${CELERY_BROKER_URL:-}$${CELERY_BROKER_URL_FILE:-}" ]; then exec $(PY) manage.py runserver $(HOST):$(PORT); fi; \
	$(PY) -u manage.py webhooks_run > >(trap '' INT; exec awk '{ print "[webhooks] " $$0; fflush() }') 2>&1 & \
	loop=$$!; \
	trap 'kill -TERM $$loop 2>/dev/null || true; wait $$loop 2>/dev/null || true' EXIT; \
	$(PY) manage.py runserver $(HOST):$(PORT)

test: $(STAMP) letter-deps ## Run the whole test suite (installs the letter fonts first, as make run does)
	@echo "pytest $(PYTEST_ARGS)"; rc=0; $(VENV)/bin/pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ "$$rc" -eq 5 ]; then echo "pytest collected no tests: treating that as a failure" >&2; fi; \
	exit "$$rc"

# mypy's Django plugin imports the settings, which need a SECRET_KEY when DEBUG is off.
# lint-imports checks the import contracts in pyproject.toml ([tool.importlinter]).
lint: $(STAMP) ## ruff format --check, ruff check, mypy, import contracts
	@rc=0; \
	echo "== ruff format --check ."; $(VENV)/bin/ruff format --check . || rc=1; \
	echo "== ruff check ."; $(VENV)/bin/ruff check . || rc=1; \
	paths=""; for p in $(MYPY_PATHS); do \
		if [ -n "$$(find "$$p" -name '*.py' -print -quit 2>/dev/null)" ]; then paths="$$paths $$p"; fi; \
	done; \
	if [ -z "$${SECRET_KEY:-}$${SECRET_KEY_FILE:-}" ]; then export SECRET_KEY=mypy-only-not-a-secret; fi; \
	echo "== mypy$$paths"; $(VENV)/bin/mypy $$paths || rc=1; \
	echo "== lint-imports"; $(VENV)/bin/lint-imports --no-logo || rc=1; \
	exit "$$rc"

worker: $(STAMP) ## Celery worker with beat, against DATABASE_URL and CELERY_BROKER_URL
	@if [ -z "$${CELERY_BROKER_URL:-}" ]; then \
		echo "CELERY_BROKER_URL is not set: with no broker, tasks run in-process and there is nothing for a worker to do." >&2; \
		echo "Example: CELERY_BROKER_URL=redis://127.0.0.1:6379/0 DATABASE_URL=postgres://postgres@127.0.0.1:5432/casemgmt make worker" >&2; \
		exit 1; \
	fi
	@if [ -z "$${SECRET_KEY:-}$${SECRET_KEY_FILE:-}$${DEBUG:-}" ]; then \
		echo "Set SECRET_KEY (or SECRET_KEY_FILE) for the worker, or DEBUG=1 on a development machine." >&2; \
		exit 1; \
	fi
	@if [ -z "$${DATABASE_URL:-}" ]; then \
		echo "warning: DATABASE_URL is not set; the worker uses the embedded SQLite database." >&2; \
	fi
	exec $(VENV)/bin/celery -A casemgmt worker -B -l info

relay: $(STAMP) ## Outbox relay: sends queued tasks to the broker (beside `make worker`)
	@if [ -z "$${CELERY_BROKER_URL:-}" ]; then \
		echo "CELERY_BROKER_URL is not set: with no broker, tasks run in-process at commit and there is nothing to relay." >&2; \
		exit 1; \
	fi
	@if [ -z "$${SECRET_KEY:-}$${SECRET_KEY_FILE:-}$${DEBUG:-}" ]; then \
		echo "Set SECRET_KEY (or SECRET_KEY_FILE) for the relay, or DEBUG=1 on a development machine." >&2; \
		exit 1; \
	fi
	exec $(PY) manage.py outbox_relay

requirements: $(STAMP) ## Recompile requirements/*.txt from requirements/*.in (pip-tools)
	cd requirements && ../$(VENV)/bin/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
		--output-file=base.txt base.in
	cd requirements && ../$(VENV)/bin/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
		--output-file=dev.txt dev.in

# Every script runs even when one misses its target; the exit status says whether any did.
bench: $(STAMP) ## Run every bench/*/run.py and bench/*.py script
	@shopt -s nullglob; \
	scripts=(bench/*/run.py bench/*.py); ran=0; failed=(); \
	for script in "$${scripts[@]}"; do \
		[ "$$(basename "$$script")" = "__init__.py" ] && continue; \
		echo "== $$script"; \
		SECRET_KEY="$${SECRET_KEY:-bench-only-secret-key-not-for-production}" $(PY) "$$script" || failed+=("$$script"); \
		ran=$$((ran + 1)); \
	done; \
	if [ "$$ran" -eq 0 ]; then echo "no benchmark scripts found under bench/"; fi; \
	if [ "$${#failed[@]}" -gt 0 ]; then echo "failed: $${failed[*]}" >&2; exit 1; fi

# WeasyPrint (the PDF letters) needs Pango; the fonts draw the letters and their language-assistance
# taglines (Chinese, Japanese, Korean: WenQuanYi; Hindi: Lohit Devanagari). Same list as .ci/run.
LETTER_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core fonts-wqy-microhei fonts-lohit-deva
letter-deps: ## Install the Debian libraries and fonts the PDF letters need (needs root or sudo)
	@if dpkg -s $(LETTER_PACKAGES) >/dev/null 2>&1; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
		echo "warning: install Pango and the fonts $(LETTER_PACKAGES) for PDF letters" >&2; exit 0; \
	fi; \
	sudo=""; if [ "$$(id -u)" -ne 0 ]; then sudo="sudo"; fi; \
	{ $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $(LETTER_PACKAGES); } \
		|| echo "warning: could not install $(LETTER_PACKAGES); PDF letters will fail until they are" >&2

browsers: ## Install Debian's Chromium for browser tests (needs root or sudo)
	@if [ -x /usr/bin/chromium ]; then echo "chromium: $$(/usr/bin/chromium --version 2>/dev/null || echo present)"; exit 0; fi; \
	sudo=""; if [ "$$(id -u)" -ne 0 ]; then sudo="sudo"; fi; \
	$$sudo apt-get update -qq; \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium
