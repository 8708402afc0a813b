# The two commands of the README are `make demo` (once the local runtime lands) and `make test`.
# Every target installs what it needs; nothing here assumes a prepared machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Reinstall whenever the project's dependencies or their lock change.
PY_STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | sha1sum | cut -c1-12)

.PHONY: help install test lint typecheck pytest crd lock benchmark-operator

help:
	@echo "make test                 install everything the tests need, then lint, type-check and run the tests"
	@echo "make crd                  regenerate crds/ from the Bot model"
	@echo "make benchmark-operator   the operator scale benchmark (prints a table)"
	@echo "make lock                 re-resolve the Python dependencies into requirements.lock"

install: $(PY_STAMP)

$(PY_STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade 'pip>=24'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

test: install
	$(MAKE) lint typecheck pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest

crd: install
	$(BIN)/skybots crd > crds/bots.skybots.dev.yaml

benchmark-operator: install
	$(BIN)/python benchmarks/operator_scale.py

lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	.lock-venv/bin/python -m pip freeze --exclude-editable --disable-pip-version-check > requirements.lock
	rm -rf .lock-venv
