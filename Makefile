# Every target bootstraps what it needs: a .venv with the pinned Python packages and
# node_modules with the pinned CDK CLI (plus a supported Node.js when the machine's is too old).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CHECKOV_VENV := .venv-checkov
STAGE ?= dev
PORT ?= 3000

# Use the machine's Node.js when it is 22 or newer; otherwise npm installs the `node` package
# (an optional dependency that ships the binary) and node_modules/.bin puts it first on PATH,
# for the CDK CLI and for the jsii runtime that `aws_cdk` spawns as `node`. The probe skips
# the project's own node, which may already be on the caller's PATH.
MACHINE_NODE_MAJOR := $(shell for n in $$(type -ap node); do \
	case "$$(realpath "$$n")" in ($(CURDIR)/node_modules/*) continue ;; esac; \
	"$$n" -p 'process.versions.node.split(".")[0]'; break; done 2>/dev/null)
NPM_CI_FLAGS := $(if $(shell [ "$(MACHINE_NODE_MAJOR)" -ge 22 ] 2>/dev/null && echo ok),--omit=optional,)
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
# Bytecode caches on, whatever the shell says: each test run would otherwise compile every
# project module and rewrite every test module's asserts again, in each test process.
unexport PYTHONDONTWRITEBYTECODE
# No telemetry prompt or notices from the CLI, no upgrade nag from pip.
export CDK_DISABLE_CLI_TELEMETRY := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1

CDK := node_modules/.bin/cdk

.PHONY: help setup test lint synth diff deploy destroy bootstrap snapshot-update local bench clean

help:
	@echo "make local            run the whole service on http://127.0.0.1:$(PORT) (no AWS, no Docker)"
	@echo "make test             run every test (installs Debian's chromium for the browser tests if it can)"
	@echo "make test-fast        the tests that start no runner, browser, CDK CLI, checkov, cfn-lint or layer build (< 1 min)"
	@echo "make test-stress      the runner, browser and load tests, 5 rounds with every core kept busy"
	@echo "make lint             ruff, mypy, and checkov over both stages' templates"
	@echo "make synth            synthesize both stages into cdk.out/"
	@echo "make bootstrap        once per account and region: cdk bootstrap"
	@echo "make diff STAGE=dev   show what a deploy would change"
	@echo "make deploy STAGE=dev deploy to the account of your AWS credentials"
	@echo "make destroy STAGE=dev"
	@echo "make snapshot-update  accept template changes into the snapshots"
	@echo "make bench            benchmarks (figures in docs/PERFORMANCE.md)"
	@echo "make load             500 uploads from 20 clients through the local runner (docs/RELIABILITY.md)"
	@echo "make audit            pip-audit of the runtime, layer and CDK requirements (needs PyPI)"

# pip at error level: a machine's pip configuration (an unreachable extra index, say) would
# otherwise print a warning per package; a failed install still prints and stops make.
$(VENV)/.installed: requirements.txt requirements-dev.txt layers/pillow/requirements.txt layers/powertools/requirements.txt layers/jwt/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --quiet --upgrade pip
	$(PY) -m pip install --quiet --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund $(NPM_CI_FLAGS)
	touch $@

# checkov pins boto3 and packaging far from requirements-dev.txt's pins: a venv of its own.
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --quiet -r requirements-checkov.txt
	touch $@

setup: $(VENV)/.installed node_modules/.installed $(CHECKOV_VENV)/.installed

# The browser tests drive Debian's Chromium through Playwright (Playwright's own browser
# download is never used). Installed when missing and this machine can (root and apt-get);
# otherwise those tests are skipped with a loud message, and fail under CI=true.
.PHONY: browser
browser:
	@if [ -n "$$CHROMIUM" ] || command -v chromium >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian's chromium for the browser tests (apt-get, about a minute) ..."; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium fonts-dejavu-core fonts-liberation >/dev/null; } \
			|| echo "Installing chromium failed: the browser tests will be skipped."; \
	else \
		echo "No chromium, and no root apt-get to install it: the browser tests will be skipped."; \
	fi

test: setup browser
	$(PY) -m pytest

.PHONY: test-fast
test-fast: setup
	TESTS_FAST=1 $(PY) -m pytest -m "not slow" -n 2 --dist loadfile

# The tests that wait on the runner, the browser or the load test, five rounds in a row with
# every core kept busy by a spinning process (tests/stress.py). ROUNDS=1 for a quick look.
ROUNDS ?= 5
.PHONY: test-stress
test-stress: setup browser
	$(PY) -m tests.stress --rounds $(ROUNDS)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy app.py stacks lambda_src local_runner tests bench loadtest
	$(PY) -m tests.infra.checkov_scan

synth: setup
	$(CDK) synth --quiet --no-notices -c stage=dev --output cdk.out/dev
	$(CDK) synth --quiet --no-notices -c stage=prod --output cdk.out/prod
	@echo "Templates: cdk.out/dev/ImageService-dev.template.json cdk.out/prod/ImageService-prod.template.json"

bootstrap: setup
	$(CDK) bootstrap -c stage=$(STAGE)

diff: setup
	$(CDK) diff -c stage=$(STAGE)

deploy: setup
	$(CDK) deploy -c stage=$(STAGE)

destroy: setup
	$(CDK) destroy -c stage=$(STAGE)

snapshot-update: setup
	$(PY) -m pytest tests/infra/test_snapshot.py --snapshot-update
	git diff --stat -- tests/infra/__snapshots__

local: setup
	$(PY) -m local_runner --stage $(STAGE) --port $(PORT)

bench: setup
	$(PY) -m pip install --quiet --quiet -r bench/requirements.txt
	$(PY) -m bench

.PHONY: load audit
load: setup
	$(PY) -m loadtest --uploads 500 --clients 20

# --strict: a package that could not be looked up fails the audit instead of being skipped.
audit: setup
	$(PY) -m pip_audit --strict -r requirements.txt -r layers/pillow/requirements.txt -r layers/powertools/requirements.txt -r layers/jwt/requirements.txt

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache
