# Two commands on a fresh machine: `make run` and `make test`. Each installs what it needs:
# Python packages in .venv, npm packages for the test servers, Debian packages for the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
MEDPLUM := tests/contract/medplum

.PHONY: install run test bench clean system-deps postgres-deps node-deps browser-deps hapi-deps validator-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,embedded,production]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests use: docker-compose (validates the compose files without an engine) and nginx (the
# region's reverse proxy in front of two instances, tests/test_region_proxy.py; started by the test, not as a service).
system-deps:
	@command -v docker-compose >/dev/null 2>&1 || { \
	  echo "installing Debian packages: docker-compose"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq docker-compose >/dev/null; }
	@[ -x /usr/sbin/nginx ] || { \
	  echo "installing Debian packages: nginx"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nginx >/dev/null; }

# PostgreSQL for the storage layer's tests (tests/postgres.py runs initdb and postgres from it in a temporary folder;
# the cluster the package itself may create and start is not used).
postgres-deps:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing Debian packages: postgresql"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql >/dev/null; }

# HAPI FHIR's JPA server for the contract tests (tests/contract/hapi, Java 17 and Maven 3): the artifacts from Maven
# Central into ~/.m2 once, then an offline build into its target/ (classes, and lib/ with every jar). Not
# `dependency:go-offline`: it also asks for optional dependencies of HAPI's modules that Central does not serve
# (hapi-fhir-validation-resources-dstu2.1), where `dependency:resolve` fetches what the build uses.
HAPI := tests/contract/hapi
$(HAPI)/target/.built: $(HAPI)/pom.xml $(shell find $(HAPI)/src -type f 2>/dev/null)
	@command -v mvn >/dev/null 2>&1 || { echo "the HAPI FHIR contract server needs Java 17 and Maven 3 (mvn)"; exit 1; }
	cd $(HAPI) && mvn -q -B dependency:resolve-plugins dependency:resolve
	cd $(HAPI) && mvn -q -B -o package
	touch $@

hapi-deps: $(HAPI)/target/.built

# The HL7 reference validator (tests/validator: HAPI's FhirInstanceValidator, Java 17 and Maven 3), built the same
# way: target/ks-reference-validator.jar and target/classpath.txt, run by tests/test_reference_validator.py.
VALIDATOR := tests/validator
$(VALIDATOR)/target/.built: $(VALIDATOR)/pom.xml $(shell find $(VALIDATOR)/src -type f 2>/dev/null)
	@command -v mvn >/dev/null 2>&1 || { echo "the HL7 reference validator needs Java 17 and Maven 3 (mvn)"; exit 1; }
	cd $(VALIDATOR) && mvn -q -B dependency:resolve-plugins dependency:resolve
	cd $(VALIDATOR) && mvn -q -B -o package
	touch $@

validator-deps: $(VALIDATOR)/target/.built

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

test: install system-deps postgres-deps node-deps browser-deps hapi-deps validator-deps
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
	rm -rf $(VENV) var build *.egg-info $(MEDPLUM)/node_modules $(BROWSER_TESTS)/node_modules $(SDC_POPULATE)/node_modules $(RULES_JS)/node_modules tests/artifacts $(HAPI)/target $(VALIDATOR)/target
