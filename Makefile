# camfleet: `make demo` runs the main job on the embedded defaults, `make test` runs the whole test suite.
# Both create .venv and install what they need on first use.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck clean peers-env

install: $(STAMP)

# PYTHONWARNINGS=ignore: the build backend's notice about editable installs is not for users.
# -qq: errors only; a machine's pip config can add an index per package that warns on every lookup.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --upgrade pip
	PYTHONWARNINGS=ignore $(PY) -m pip install -qq -e '.[dev]'
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

# Roboflow's inference for `camfleet bench peers`, in its own venv: its pins clash with camfleet's.
peers-env: .venv-peers/.installed

.venv-peers/.installed:
	$(PYTHON) -m venv .venv-peers
	.venv-peers/bin/python -m pip install -qq --upgrade pip
	PYTHONWARNINGS=ignore .venv-peers/bin/python -m pip install -qq inference-cpu==1.8.3 torch==2.13.0
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
