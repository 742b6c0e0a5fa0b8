# camfleet: `make demo` runs the main job on the embedded defaults, `make test` runs the whole test suite.
# Both create .venv and install what they need on first use.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck clean

install: $(STAMP)

# PYTHONWARNINGS=ignore: the build backend's notice about editable installs is not for users.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	PYTHONWARNINGS=ignore $(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(VENV)/bin/camfleet demo

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check pipeline loadtest tests
	$(VENV)/bin/ruff format --check pipeline loadtest tests

typecheck: install
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
