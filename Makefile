# The README's two commands are `make demo` and `make test`; both build .venv themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv test demo lint format type bench clean

venv: $(STAMP)

# Re-install whenever pyproject.toml changes (the stamp is older than it).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# pytest exits 5 when it collects no tests: that is a failure here, never a pass.
# Three xdist workers on the 2-core box: the tests marked `e2e` (real locust processes, which
# mostly wait on their simulated clock) run in the three balanced groups of E2E_SPLIT
# (tests/conftest.py), one per worker, the other tests fill in around them (measured: 9 min 11 s
# with -n 3, 11 min 42 s with -n 2 and two groups). `LOADSIM_E2E_GROUPS=1 make test` runs every
# e2e test in one group instead (two locust runs never compete; ~16 min).
# The 25 slowest tests are listed at the end: the budget is 10 minutes on the 2-core box.
TEST_WORKERS ?= 3
test: venv
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --durations=25

demo: venv
	$(BIN)/loadsim demo

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

type: venv
	$(BIN)/mypy

bench: venv
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit $$?; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
