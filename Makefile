# Two commands on a fresh machine: `make run` and `make test`. Each installs what it needs:
# Python packages in .venv, npm packages for the test servers, Debian packages for the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
MEDPLUM := tests/contract/medplum

.PHONY: install run test bench clean system-deps node-deps browser-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,embedded,production]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests use: docker-compose (validates docker-compose.yml without an engine).
system-deps:
	@command -v docker-compose >/dev/null 2>&1 || { \
	  echo "installing Debian packages: docker-compose"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq docker-compose >/dev/null; }

# Medplum's FHIR engine for the contract tests (Node >= 20.19), from the committed package-lock.json.
$(MEDPLUM)/node_modules/.package-lock.json: $(MEDPLUM)/package-lock.json
	npm ci --prefix $(MEDPLUM) --no-audit --no-fund --loglevel=error

# CSIRO's SDC populate engine (@aehrc/sdc-populate), to compare its pre-fill with ours (tests/questionnaires);
# its optional dependencies (a React Native stack) are not needed.
SDC_POPULATE := tests/questionnaires/js
$(SDC_POPULATE)/node_modules/.package-lock.json: $(SDC_POPULATE)/package-lock.json
	npm ci --prefix $(SDC_POPULATE) --omit=optional --no-audit --no-fund --loglevel=error

# The reference FHIRPath engine (npm fhirpath): the rule files must decide the same in it (tests/rules).
RULES_JS := tests/rules/js
$(RULES_JS)/node_modules/.package-lock.json: $(RULES_JS)/package-lock.json
	npm ci --prefix $(RULES_JS) --no-audit --no-fund --loglevel=error

node-deps: $(MEDPLUM)/node_modules/.package-lock.json $(SDC_POPULATE)/node_modules/.package-lock.json $(RULES_JS)/node_modules/.package-lock.json

# The browser tests (tests/browser): Debian's Chromium, driven by Playwright through executable_path
# (never `playwright install`), and axe-core from the committed package-lock.json.
BROWSER_TESTS := tests/browser
$(BROWSER_TESTS)/node_modules/.package-lock.json: $(BROWSER_TESTS)/package-lock.json
	npm ci --prefix $(BROWSER_TESTS) --no-audit --no-fund --loglevel=error

browser-deps: $(BROWSER_TESTS)/node_modules/.package-lock.json
	@[ -x /usr/bin/chromium ] || { \
	  echo "installing Debian packages: chromium"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

run: install
	$(BIN)/python -m service.run

test: install system-deps node-deps browser-deps
	$(BIN)/ruff check service tests benchmarks
	$(BIN)/ruff format --check service tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/deptry .
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/extract.py
	$(BIN)/python benchmarks/push.py
	$(BIN)/python benchmarks/form.py
	$(BIN)/python benchmarks/startup.py

clean:
	rm -rf $(VENV) var build *.egg-info $(MEDPLUM)/node_modules $(BROWSER_TESTS)/node_modules $(SDC_POPULATE)/node_modules $(RULES_JS)/node_modules tests/artifacts
