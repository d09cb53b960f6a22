# Two commands on a fresh machine:  make run   |   make test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8070
DATA_DIR ?= var/nephoscope
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: run test bench lint clean services protos

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) --upgrade pip
	$(PIP) -e .
	@touch $@

$(VENV)/.test-installed: pyproject.toml $(VENV)/.installed
	$(PIP) -e '.[test]'
	@touch $@

## run: install, start the embedded server with the demo cloud, print the URL and the admin token
run: $(VENV)/.installed
	@mkdir -p var
	@test -s var/admin-token || $(BIN)/python -c "import secrets; print('nps_admin_' + secrets.token_urlsafe(24))" > var/admin-token
	NEPHOSCOPE_ADMIN_TOKEN=$$(cat var/admin-token) $(BIN)/nephoscope serve --demo --data-dir $(DATA_DIR) --port $(PORT)

## services: make sure the services the tests need are running (installing them if needed)
services: $(VENV)/.test-installed
	$(BIN)/python tests/services.py

## test: install test extras, ensure services, run the whole suite (two lanes at once: tests/lanes.py)
test: services
	$(BIN)/python tests/lanes.py

## bench: run every benchmark (figures go to docs/benchmarks.md by hand, with the command)
bench: $(VENV)/.test-installed
	$(BIN)/python bench/run_all.py

## protos: regenerate the remote write protobuf modules (needs Debian's protobuf-compiler)
protos:
	protoc -I. --python_out=. nephoscope/metrics/ingest/proto/*.proto

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
