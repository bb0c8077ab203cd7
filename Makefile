# The two commands (see README): `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run test setup infra migrate demo bench lint simulate

# Development mode: a built-in signing key is allowed (never outside it).
export APP_ENV ?= development
# The ops ports (/metrics, /healthz, /readyz) of `make run`; elsewhere 0 (free) unless set.
run: export GATEWAY_OPS_PORT ?= 9100
run: export IDENTITY_OPS_PORT ?= 9101
run: export PROGRAMS_OPS_PORT ?= 9102
run: export INVITATIONS_OPS_PORT ?= 9103
run: export MESSAGING_OPS_PORT ?= 9104
run: export REPORTING_OPS_PORT ?= 9105
run: export SKILLS_OPS_PORT ?= 9106
run: export CONSOLE_OPS_PORT ?= 9108
# Every emailed or printed link opens a page of the web console (console/, port 8080).
run: export PUBLIC_URL ?= http://127.0.0.1:8080
# The gateway as browsers and identity providers reach it (SSO URLs, the SCIM base URL the console shows).
run: export API_PUBLIC_URL ?= http://127.0.0.1:8000
run: export REPORTING_EXPORT_PORT ?= 9115
run: export AUDIT_OPS_PORT ?= 9107

$(VENV)/.installed: pyproject.toml requirements.lock
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.lock
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

infra:
	bash scripts/ensure-infra.sh

setup: $(VENV)/.installed infra

migrate: setup
	$(PY) -m servicekit.migrations

demo: migrate
	$(PY) -m scripts.demo

## Set everything up and run the whole suite with demo data; a process that
## exits is started again (scripts/keepalive.py), the others keep running.
run: demo
	mkdir -p var
	$(PY) -m scripts.keepalive --procfile Procfile > var/Procfile.run
	@# demo activity: once the gateway is up, the simulator joins/enrolls the demo learners and sends their
	@# activity (idempotent: a rerun's statements are duplicates), then idles (not in the Procfile: tests run that)
	echo "simulator: python -m scripts.simulate --wait 180 --stay" >> var/Procfile.run
	honcho start -f var/Procfile.run -d .

## Demo activity against a running `make run` (see README "Learning-platform simulator").
simulate: setup
	$(PY) -m scripts.simulate

## Set everything up and run all the tests; the console's real-browser tests run in
## their own pytest process (Playwright's sync API does not run under eventlet's patching).
test: setup
	$(PY) -m pytest
	$(PY) -m pytest --confcutdir=tests/browser tests/browser

lint: setup
	ruff check .

## Benchmarks (figures in README).
bench: setup
	$(PY) -m bench.run
