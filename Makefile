# Two commands on a fresh machine: `make run` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,embedded,production]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python -m service.run

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/extract.py

clean:
	rm -rf $(VENV) var build *.egg-info
