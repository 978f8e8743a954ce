# The two commands of the README: `make demo` (no services) and `make test` (real services).
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test unit typecheck lint lint-units services bench

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/cps-demo

services:
	deploy/local/start

# Types, lint and format, and unit files first (seconds), then the unit, integration, fault and
# systemd tiers; a service that cannot start fails the run.
test: $(VENV)/.installed typecheck lint lint-units services
	$(PY) -m pytest

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

# ruff: the lint rules and the format of pyproject.toml (`ruff format` fixes the format).
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check framework engines tests bench
	$(VENV)/bin/ruff format --check framework engines tests bench

# systemd-analyze verify on every unit and drop-in (any warning fails).
lint-units:
	deploy/systemd/lint

unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit

bench: $(VENV)/.installed services
	$(PY) -m bench
