# Two commands do all set-up on a fresh machine:
#   make run    the main job (the loss_terms study on procedural scenes, local SQLite MLflow + Optuna journal);
#               installs what running needs only (`-e .`)
#   make test   the tests (unit, slow, integration with PostgreSQL + an mlflow server, browser, faults);
#               adds the test tools to the same .venv (`-e '.[test]'`)
# make bench adds lightning (`.[bench]`), make stack-up the PostgreSQL client and the pinned Optuna/MLflow
# (`.[postgres]`). Each extra has its own stamp, so a later target adds its packages to the same .venv.
# TORCH_INDEX picks the torch build on the first install, e.g. CPU-only on Linux:
#   make run TORCH_INDEX=https://download.pytorch.org/whl/cpu
# pip installs torch first (it honours the machine's pip configuration, e.g. a local wheel folder, and
# TORCH_INDEX); uv, which installs the rest several times faster than pip, then keeps that torch.
# --compile-bytecode: uv leaves it out by default, and where PYTHONDONTWRITEBYTECODE is set every process
# would compile mlflow, torch and optuna from source again (imports 2x slower).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STUDY ?= loss_terms
TORCH_INDEX ?=
TORCH_REQUIREMENT := $(shell grep -o '"torch[<>=!~][^"]*"' pyproject.toml | tr -d '"')
PIP_INSTALL = $(VENV)/bin/uv pip install --python $(PY) -q --compile-bytecode

.PHONY: run train report ui stack-up stack-down compose-check test test-fast bench lint format clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip uv
	$(PY) -m pip install -q $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) "$(TORCH_REQUIREMENT)"

$(VENV)/.installed-run: pyproject.toml | $(PY)
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed-run
	$(PIP_INSTALL) -e '.[test]'
	touch $@

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-run
	$(PIP_INSTALL) -e '.[bench]'
	touch $@

$(VENV)/.installed-postgres: pyproject.toml $(VENV)/.installed-run
	$(PIP_INSTALL) -e '.[postgres]'
	touch $@

run: $(VENV)/.installed-run
	$(PY) experiments/ablate.py +study=$(STUDY) $(ARGS)

train: $(VENV)/.installed-run
	$(PY) experiments/train.py $(ARGS)

report: $(VENV)/.installed-run
	$(PY) experiments/report.py +study=$(STUDY) $(ARGS)

ui: $(VENV)/.installed-run
	$(PY) -m g2core.stack ui $(ARGS)

stack-up: $(VENV)/.installed-postgres
	$(PY) -m g2core.stack up $(ARGS)

stack-down: $(VENV)/.installed-postgres
	$(PY) -m g2core.stack down $(ARGS)

compose-check: $(VENV)/.installed-test
	$(PY) -m g2core.stack check-compose

test: $(VENV)/.installed-test
	$(PY) -m ruff check g2core experiments tests benchmarks
	$(PY) -m pytest -q -p no:cacheprovider $(ARGS)

test-fast: $(VENV)/.installed-test
	$(PY) -m pytest -q -m "not slow and not integration and not browser and not faults" $(ARGS)

bench: $(VENV)/.installed-bench
	$(PY) -m benchmarks $(ARGS)

lint: $(VENV)/.installed-test
	$(PY) -m ruff check g2core experiments tests benchmarks
	$(PY) -m ruff format --check g2core experiments tests benchmarks

format: $(VENV)/.installed-test
	$(PY) -m ruff format g2core experiments tests benchmarks

clean:
	rm -rf data mlflow.db mlartifacts runs outputs studies/*/ .pytest_cache
