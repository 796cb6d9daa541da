# Kara: `make run` and `make test` set up whatever is missing first (venv, package, lame).
# Idempotent: a second call only checks and goes straight to the work.

# the first of these that really runs and is 3.10+ (pyenv shims exist for absent versions)
PYTHON ?= $(shell for p in python3.12 python3.11 python3.10 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null && { echo $$p; break; }; \
	done)
ifeq ($(PYTHON),)
PYTHON := python3
endif
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.kara-installed
CONFIG ?= kara.yaml
# keep TensorFlow's start-up chatter out of the user's terminal
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup tools run test test-long lint bench clean help

help:
	@echo "make setup      create .venv, install Kara and lame (make run and make test do it too)"
	@echo "make run        set up, then kara run $(CONFIG) on the bundled demo songs"
	@echo "make test       set up, then lint (ruff, mypy) and the whole test suite"
	@echo "make test-long  the test suite plus the long fault-injection tests"
	@echo "make bench      set up, then the benchmarks in benchmarks/"

setup: $(STAMP) tools

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) scripts/check_python.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

tools:
	@sh scripts/ensure_tools.sh

run: setup
	$(BIN)/kara run $(CONFIG)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest -q

test-long: lint
	$(BIN)/python -m pytest -q --run-slow

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf runs dataset/wav dataset/cache .pytest_cache .mypy_cache .ruff_cache
