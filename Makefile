# The two commands of the README: `make demo` (no services) and `make test` (real services).
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test unit typecheck services bench

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/cps-demo

services:
	deploy/local/start

# Types first (seconds), then unit, integration and fault tiers; a service that cannot start fails the run.
test: $(VENV)/.installed typecheck services
	$(PY) -m pytest

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit

bench: $(VENV)/.installed services
	$(PY) -m bench
