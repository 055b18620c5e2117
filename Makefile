# On a fresh clone: `make demo` (console bot), `make check` (the quick loop: lint, types, every test not
# marked slow) and `make test` (everything; the README's and CI's test command).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# The demo answers handbook questions lexically even when `make test` put the semantic extra into
# the same .venv, so it answers the same every time; `make demo KB_SEMANTIC=true` to try the extra.
KB_SEMANTIC ?= false

.PHONY: demo check test lint typecheck eval bench install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,semantic]'
	touch $@ $(STAMP)

install: $(STAMP)
install-dev: $(DEV_STAMP)

demo: $(STAMP)
	$(BIN)/deskmate db upgrade
	@# --demo loads examples/ (org, roster) into an empty database and plans the days up to two weeks ahead
	@# that have no roster yet; a later start adds only what is missing.
	KB_SEMANTIC=$(KB_SEMANTIC) $(BIN)/deskmate console --demo

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy bot handlers knowledge schedules tests bench fakes

check: lint typecheck
	$(BIN)/pytest -q -m "not slow"

# --durations=15: every full run ends with its slowest tests (README "Tests" keeps the latest).
test: lint typecheck
	$(BIN)/pytest -q --durations=15

eval: $(STAMP)
	$(BIN)/deskmate kb eval tests/knowledge/data/dev-questions.jsonl

bench: $(STAMP)
	@# As modules from the repository root: the benchmarks import the fakes package (not installed).
	@for script in bench/[!_]*.py; do module=bench.$$(basename $$script .py); echo "== $$module"; \
		$(BIN)/python -m $$module || exit 1; done

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache
