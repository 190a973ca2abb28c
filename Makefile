# fsworker — one command per job. Everything runs inside .venv (created on demand).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: install test test-real chaos fuzz demo demo-quick bench lint fake-switch clean

install: $(STAMP)

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# All tests: unit, protocol (fake switch over TCP), integration (PostgreSQL + SQLite), e2e,
# hostile input, fuzzing (20k frames); the slow fault tests are in `make chaos`.
test: install
	$(BIN)/python -m pytest -q -m "not chaos" tests

# fsworker against a real FreeSWITCH and SIPp phones (README, "Real-switch tests"; ~5 min,
# ~6 with a second switch: FSWORKER_REAL_SWITCH_2=127.0.0.1:8022 after start.sh start2).
# Not in CI: it needs the switch set up from tests/data/realswitch. It restarts that switch once.
test-real: install
	FSWORKER_REAL_SWITCH=$${FSWORKER_REAL_SWITCH:-127.0.0.1:8021} $(BIN)/python -m pytest -q -p no:randomly tests/realswitch

# Faults (~8 min): kill -9 of workers, the switch restarted / the link cut mid-frame,
# PostgreSQL restarted (needs root and pg_ctlcluster), SIGTERM in a busy minute.
CHAOS_ARGS ?=
chaos: install
	$(BIN)/python -m pytest -q -m chaos tests/chaos $(CHAOS_ARGS)

# The parser fuzz target at one million generated frames (~4 min); prints its figures.
fuzz: install
	FSWORKER_FUZZ_FRAMES=1000000 FSWORKER_FUZZ_REPORT=$(CURDIR)/fuzz-report.json \
	  $(BIN)/python -m pytest -q -s -p no:cacheprovider tests/fuzz/test_fuzz_parser.py -k test_fuzz_parser_streams

demo: install
	$(BIN)/fsworker demo

demo-quick: install
	$(BIN)/fsworker demo --quick

# Every figure of issue 7 against its target, with the machine's description, written
# to bench/RESULTS.md (~5 min; uses PostgreSQL and SQLite).
bench: install
	$(BIN)/python bench/run_all.py

# ruff, and the layer contracts in .importlinter (imports point down: cli -> service ->
# config -> store, esl -> core; the core and esl.proto import no I/O library).
lint: install
	$(BIN)/ruff check fsworker tests bench
	$(BIN)/lint-imports

fake-switch: install
	$(BIN)/fsworker fake-switch --port 8021 --password ClueCon

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
