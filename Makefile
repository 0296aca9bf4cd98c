# Two entry points on a fresh machine:
#   make run   simulate the full campaign on a local Dask cluster
#   make test  lint and run the test suite
# Each creates the virtual environment .venv on first use.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: run test lint format bench clean

$(BIN)/thalamus: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

run: $(BIN)/thalamus
	$(BIN)/thalamus campaign run campaigns/full.yaml --scheduler local --overwrite

test: $(BIN)/thalamus lint
	$(BIN)/python -m pytest

lint: $(BIN)/thalamus
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/thalamus
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(BIN)/thalamus
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
