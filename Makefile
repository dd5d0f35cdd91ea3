# The two commands a new user needs: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint typecheck unit node-packages milter-packages services detect-packages \
	browser-packages dashboard-screenshots bench bench-profile wrk clean

# The engine is compiled (setup.py), so a change to its sources needs a rebuild.
$(STAMP): pyproject.toml setup.py mypyc.ini $(wildcard src/mailpolicy/engine/*.py)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/mailpolicy serve

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench setup.py
	$(BIN)/ruff check src tests bench setup.py

typecheck: $(STAMP)
	$(BIN)/mypy

# tests/sdk_ts runs the official TypeScript SDK under Node; npm ci installs what its lock pins.
NODE_STAMP := tests/sdk_ts/node_modules/.package-lock.json

$(NODE_STAMP): tests/sdk_ts/package.json tests/sdk_ts/package-lock.json
	command -v node >/dev/null && command -v npm >/dev/null || \
		{ apt-get update && apt-get install -y nodejs npm; }
	cd tests/sdk_ts && npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

node-packages: $(NODE_STAMP)

# The milter's extra (pymilter builds against libmilter) and the real Postfix the mail-flow
# tests drive, from Debian's packages when missing ("No configuration": tests bring their own).
MILTER_STAMP := $(VENV)/.milter

$(MILTER_STAMP): $(STAMP)
	command -v postfix >/dev/null && command -v smtp-sink >/dev/null && \
		test -f /usr/include/libmilter/mfapi.h || { \
		echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postfix libmilter-dev openssl; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,milter]'
	touch $(MILTER_STAMP)

milter-packages: $(MILTER_STAMP)

# PostgreSQL's server (the API suite runs again on it; tests/pg), nginx (tests/deploy puts it in
# front of two replicas) and sqlite3 (the documented backup), from Debian's packages when
# missing. Services the packages would start are not started: the tests start their own.
SERVICES_STAMP := $(VENV)/.services

$(SERVICES_STAMP): $(STAMP)
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v nginx >/dev/null && \
		command -v sqlite3 >/dev/null || { \
		made=; test -e /usr/sbin/policy-rc.d || { \
			printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; \
			chmod +x /usr/sbin/policy-rc.d; made=1; }; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql nginx sqlite3; \
		status=$$?; test -z "$$made" || rm -f /usr/sbin/policy-rc.d; exit $$status; }
	touch $(SERVICES_STAMP)

services: $(SERVICES_STAMP)

# rspamd and clamd (tests/detect scans real messages with them), from Debian's packages when
# missing. Neither service is started and freshclam never runs: the tests start their own
# instances, offline, with a signature file they write.
DETECT_STAMP := $(VENV)/.detect

$(DETECT_STAMP): $(STAMP)
	command -v rspamd >/dev/null && test -x /usr/sbin/clamd || { \
		made=; test -e /usr/sbin/policy-rc.d || { \
			printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; \
			chmod +x /usr/sbin/policy-rc.d; made=1; }; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
			--no-install-recommends rspamd clamav-daemon; \
		status=$$?; test -z "$$made" || rm -f /usr/sbin/policy-rc.d; exit $$status; }
	touch $(DETECT_STAMP)

detect-packages: $(DETECT_STAMP)

# tests/browser drives Debian's chromium through Playwright (which never downloads a browser of
# its own here), from Debian's package when missing, and injects axe-core into each page: npm
# ci installs what tests/browser's lock pins.
BROWSER_STAMP := $(VENV)/.browser
AXE_STAMP := tests/browser/node_modules/.package-lock.json

$(BROWSER_STAMP): $(STAMP)
	test -x /usr/bin/chromium || { \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }
	touch $(BROWSER_STAMP)

$(AXE_STAMP): tests/browser/package.json tests/browser/package-lock.json
	command -v node >/dev/null && command -v npm >/dev/null || \
		{ apt-get update && apt-get install -y nodejs npm; }
	cd tests/browser && npm ci --no-audit --no-fund
	touch $(AXE_STAMP)

browser-packages: $(BROWSER_STAMP) $(AXE_STAMP)

# Screenshots of every dashboard page into docs/dashboard/ (its README.md lists them), taken by
# tests/browser/screenshots.py on a server with settings and mail through a real Postfix.
dashboard-screenshots: $(STAMP) $(MILTER_STAMP) $(BROWSER_STAMP) $(AXE_STAMP)
	$(BIN)/pytest tests/browser/screenshots.py -q -p no:cacheprovider

# The whole suite on SQLite, then the API suite again on PostgreSQL (a throwaway cluster the
# tests start and remove). The fuzz run has a process of its own: its scenarios are drawn the
# same from its seed every time only when no test before it has left state in the generators.
# The browser suite has one too: Playwright's synchronous API keeps an event loop running in
# the main thread for as long as its browser lives, where later tests run asyncio.run().
# The dashboard's pages run on PostgreSQL as well (its sessions are rows every replica reads).
unit: $(STAMP) $(MILTER_STAMP) $(NODE_STAMP) $(SERVICES_STAMP) $(DETECT_STAMP) $(BROWSER_STAMP) \
		$(AXE_STAMP)
	$(BIN)/pytest --ignore=tests/fuzz --ignore=tests/browser
	$(BIN)/pytest tests/browser
	$(BIN)/pytest tests/fuzz
	MAILPOLICY_TEST_DATABASE=postgresql $(BIN)/pytest tests/api tests/sdk tests/evaluate \
		tests/verification tests/dashboard

test: lint typecheck unit

# bench/api.py drives the API with wrk, Debian's package, installed when missing.
wrk:
	command -v wrk >/dev/null || { apt-get update && apt-get install -y wrk; }

bench: $(STAMP) $(MILTER_STAMP) $(DETECT_STAMP) wrk
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/lists.py
	$(BIN)/python bench/hostile.py
	$(BIN)/python bench/mailflow.py
	$(BIN)/python bench/mailflow.py --rspamd
	$(BIN)/python bench/fuzz.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/follow.py
	$(BIN)/python bench/follow.py --postgresql

# Where an API request's time goes: bench/api.py with the server under py-spy (the bench
# extra); the flame data and its summaries land in var/profiles (bench/PROFILE.md reads them).
bench-profile: $(STAMP) wrk
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	$(BIN)/python bench/api.py --profile var/profiles --no-write

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache src/*.egg-info build
	find src -name '*.so' -delete
