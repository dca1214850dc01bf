# voiceid: `make run` for the demo server, `make test` for the whole suite, `make bench` for benchmarks.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
AWSCLI_VENV := .venv-awscli
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test bench install install-test lint vendor-model clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || "$$(scripts/find-python)" -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[test]"
	@touch $@

# AWS CLI v1 pins an older botocore than boto3 does, so it lives in its own environment.
$(AWSCLI_VENV)/.installed:
	@test -x $(AWSCLI_VENV)/bin/python || "$$(scripts/find-python)" -m venv $(AWSCLI_VENV)
	$(AWSCLI_VENV)/bin/python -m pip install -q --upgrade pip
	$(AWSCLI_VENV)/bin/python -m pip install -q awscli==1.46.2
	@touch $@

# The speaker-encoder weights: extracted from the resemblyzer 0.1.4 wheel on PyPI, sha256-checked.
MODEL := var/models/resemblyzer-0.1.4/pretrained.pt
$(MODEL): | $(VENV)/.installed
	$(PY) scripts/fetch-model

install: $(VENV)/.installed $(MODEL)
install-test: $(VENV)/.installed-test $(AWSCLI_VENV)/.installed $(MODEL)
	@# The browser tests drive Debian's chromium through Playwright (never `playwright install`: no downloads).
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium) \
		|| echo "WARNING: could not install Debian's chromium (needs root); the browser tests will skip."

var/secret_key: | $(VENV)/.installed
	@mkdir -p var
	@umask 077 && $(PY) -c 'import secrets; print(secrets.token_urlsafe(50))' > $@

run: $(VENV)/.installed var/secret_key $(MODEL)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py seed_demo --endpoint-url http://$(HOST):$(PORT)
	$(PY) manage.py runstack --host $(HOST) --port $(PORT)

test: install-test
	scripts/run-tests

bench: install-test
	$(PY) -m bench

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

vendor-model: $(VENV)/.installed
	$(PY) scripts/vendor_service_model.py

clean:
	rm -rf $(VENV) $(AWSCLI_VENV) var *.egg-info
