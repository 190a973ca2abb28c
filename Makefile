# fsworker — one command per job. Everything runs inside .venv (created on demand).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: install test test-quick demo demo-quick bench lint fake-switch clean

install: $(STAMP)

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# All tests: unit, protocol (fake switch over TCP), integration (PostgreSQL + SQLite), e2e.
test: install
	$(BIN)/python -m pytest -q tests

demo: install
	$(BIN)/fsworker demo

demo-quick: install
	$(BIN)/fsworker demo --quick

bench: install
	$(BIN)/python bench/esl_parse.py
	$(BIN)/python bench/queue.py
	$(BIN)/python bench/intake_latency.py

lint: install
	$(BIN)/ruff check fsworker tests bench

fake-switch: install
	$(BIN)/fsworker fake-switch --port 8021 --password ClueCon

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
