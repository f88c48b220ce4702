# The two commands a new user runs (see README):
#   make demo   set up .venv and run the main job on the small embedded default
#   make test   set up .venv and run the test suite
# Both create the virtual environment on first use and reuse it afterwards.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-slow bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/wdno burgers demo --preset cpu --run runs/burgers-cpu --data data/burgers-cpu

test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

bench: $(STAMP)
	$(BIN)/python benchmarks/wavelets.py

lint: $(STAMP)
	$(BIN)/ruff check wdno systems experiments tests benchmarks
	$(BIN)/ruff format --check wdno systems experiments tests benchmarks

clean:
	rm -rf $(VENV) runs data .pytest_cache
