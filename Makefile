# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# Real peers the tests run against (Debian packages): Prometheus and its node exporter, rsyslog
# (util-linux's logger is already there) and VictoriaMetrics (remote-write benchmark).
PEERS := prometheus prometheus-node-exporter rsyslog victoria-metrics
PEER_BINS := /usr/bin/prometheus /usr/bin/prometheus-node-exporter /usr/sbin/rsyslogd /usr/bin/victoria-metrics
# Apollo's gateway (npm, pinned by its package-lock.json) composes the services' subgraphs in a test.
FEDERATION := tests/gateway/federation

.PHONY: run test lint venv peers clean

$(BIN)/airis: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip==26.3
	$(BIN)/pip install -q -e '.[backend,dev]'
	touch $(BIN)/airis

venv: $(BIN)/airis

## Set up and run the all-in-one default (config.yaml).
run: venv
	$(BIN)/airis --config config.yaml

## Install the test peers (apt-get; sudo when not root) unless they are there.
peers:
	@for bin in $(PEER_BINS); do [ -x $$bin ] || missing=1; done; \
	if [ -n "$$missing" ]; then \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $(PEERS); \
	fi

## The npm packages of the federation test (node and npm are on the machine).
$(FEDERATION)/node_modules: $(FEDERATION)/package-lock.json
	cd $(FEDERATION) && npm ci --no-audit --no-fund --ignore-scripts
	touch $@

## Set up and run everything CI runs: lint, type checks, tests.
test: venv peers lint $(FEDERATION)/node_modules
	$(BIN)/pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache $(FEDERATION)/node_modules
