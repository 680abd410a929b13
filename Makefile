# The project's single entry point. README names two commands:
#   make up     pulumi up -s local on the local file backend
#   make test   create .venv if missing, install the locked dependencies, lint, type-check, run every test
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV   ?= .venv
PY     := $(VENV)/bin/python
STACK  ?= local
# State. local: the file backend in ~/.pulumi (`pulumi login --local`) unless you chose one.
# Any other stack holds real infrastructure, whose state in a file on one machine is lost
# with it: up, preview and destroy refuse a file backend (PULUMI_BACKEND_URL=file://..., or
# no PULUMI_BACKEND_URL and `pulumi login --local`) unless ALLOW_FILE_BACKEND=1 says so.
ifeq ($(STACK),local)
PULUMI_BACKEND_URL ?= file://~
export PULUMI_BACKEND_URL
endif
# The local stack's secrets provider is a passphrase. Its documented default is for the
# throwaway kind stack only; any other stack must bring its own PULUMI_CONFIG_PASSPHRASE.
ifeq ($(STACK),local)
PULUMI_CONFIG_PASSPHRASE ?= gitops-platform-local
export PULUMI_CONFIG_PASSPHRASE
endif

.PHONY: help test lint lock up preview destroy render diff verify venv charts charts-lock images-lock docs

help:
	@echo "make up        pulumi up -s local with the policy pack (kind cluster + local registry; needs pulumi, docker, kind)"
	@echo "make test      create .venv, install requirements.lock, run ruff, mypy and the test suite"
	@echo "make lint      ruff and mypy --strict only"
	@echo "make lock      rewrite requirements.lock from .venv (after a deliberate upgrade)"
	@echo "make charts    fetch the charts charts.lock pins into the chart cache and verify their digests (GITOPS_CHARTS_MIRROR: an air-gapped mirror)"
	@echo "make charts-lock  record each pinned chart's published digest in charts.lock (online, after a deliberate upgrade)"
	@echo "make images-lock  rewrite images.lock from the images the shipped stacks run, digests resolved (online, after an upgrade)"
	@echo "make docs      regenerate the generated docs pages (the configuration reference)"
	@echo "make render    offline render of STACK (default local) into build/render-STACK (fetches the charts first)"
	@echo "make diff      what the working tree does to STACK against git ref BASE (default main): render diff"
	@echo "make verify    check the live cluster of STACK (ARGS=--help lists the checks; ARGS=--json, --context NAME)"
	@echo "make preview   pulumi preview -s STACK with the policy pack"
	@echo "make destroy   pulumi destroy -s STACK (no confirmation on local, like make up)"

# Re-installs only when the lock or the ranges change. requirements.lock holds the exact
# versions of everything (all extras, transitive dependencies included);
# scripts/check_lock.py refuses a lock that breaks a range of pyproject.toml.
$(VENV)/.installed: requirements.lock pyproject.toml
	@python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) scripts/check_lock.py pyproject.toml requirements.lock
	@touch $@

venv: $(VENV)/.installed

# The pinned charts (charts.lock) in the per-user cache, verified; a cache hit touches no
# network. GITOPS_CHARTS_MIRROR names an HTTP chart repository or a directory of chart
# sources to take them from instead (see README, "No internet").
charts: $(VENV)/.installed
	$(PY) -m render.engine.charts

charts-lock: $(VENV)/.installed
	$(PY) -m render.engine.charts --lock

# images.lock from what the shipped stacks run (rendered offline), digests resolved online.
images-lock: charts
	$(PY) -m render.image_lock --lock

# The pages generated from the code (a test fails when one is stale).
docs: $(VENV)/.installed
	$(PY) scripts/generate_docs.py

# Mermaid's own parser, which the tests run on every diagram the render writes (pinned in
# tools/mermaid/package-lock.json; Node.js 20+ and npm).
MERMAID = tools/mermaid/node_modules/.installed
$(MERMAID): tools/mermaid/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 20 or newer (the tests check every Mermaid diagram with Mermaid's parser)" >&2; exit 1; }
	npm ci --prefix tools/mermaid --no-audit --no-fund --loglevel=error
	touch $@

# The suite runs one worker per core (pytest-xdist): on 2 cores ~150 s instead of ~300 s.
test: charts $(MERMAID)
	$(PY) -m ruff check components policies render verify program scripts tests bench examples
	$(PY) -m mypy
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet
	$(PY) -m pytest -n auto

lint: $(VENV)/.installed
	$(PY) -m ruff check components policies render verify program scripts tests bench examples
	$(PY) -m mypy

# Rewrites requirements.lock from what .venv holds: upgrade there first
# (.venv/bin/pip install 'pulumi==X.Y.Z'), then `make lock`, then `make test`.
lock: $(VENV)/.installed
	{ sed -n '1,/^$$/p' requirements.lock | grep '^#'; $(PY) -m pip freeze --exclude-editable | grep -v '^gitops-platform'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock
	$(PY) scripts/check_lock.py pyproject.toml requirements.lock

# RENDER_ARGS: e.g. `--format sarif` (also writes report.sarif), `--disable CHECK`.
RENDER_ARGS ?=
# The charts first, quietly: the render's summary states where they came from.
render: $(VENV)/.installed
	$(PY) -m render.engine.charts --quiet
	$(PY) -m render $(STACK) --out build/render-$(STACK) $(RENDER_ARGS)

# What the working tree does to STACK against git ref BASE (rendered with its own code):
# objects added, removed, changed (in place, replaced, refused), findings, images, flows.
BASE ?= main
diff: render
	$(PY) -m render diff --git $(BASE) build/render-$(STACK)

# Read-only checks of the live cluster of STACK (its kubeconfig output, or ARGS=--context NAME).
ARGS ?=
verify: $(VENV)/.installed
	$(PY) -m verify $(STACK) $(ARGS)

define require_pulumi
	@command -v pulumi >/dev/null || { echo "The Pulumi CLI is required: https://www.pulumi.com/docs/install/" >&2; exit 1; }
	@backend="$${PULUMI_BACKEND_URL:-$$(pulumi whoami --verbose 2>/dev/null | sed -n 's/^Backend URL: *//p')}"; \
	if [[ "$(STACK)" != local && ( -z "$$backend" || "$$backend" == file://* ) && "$${ALLOW_FILE_BACKEND:-}" != 1 ]]; then \
	  echo "error: stack $(STACK) refuses a local file state backend ($${backend:-none chosen}): its state would be lost with this machine. Set PULUMI_BACKEND_URL to shared, backed-up state (s3://<bucket>, azblob://<container>, gs://<bucket>, or https://api.pulumi.com), or ALLOW_FILE_BACKEND=1 to keep it in a file on purpose" >&2; exit 2; \
	fi; \
	if [[ "$$backend" == file://* && -z "$${PULUMI_CONFIG_PASSPHRASE:-}$${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]]; then \
	  echo "error: set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) for stack $(STACK)" >&2; exit 1; \
	fi
	pulumi stack select --create $(STACK)
endef

# Every preview and update runs the CrossGuard pack, with the stack's pack config if any.
POLICY_FLAGS = --policy-pack policies $(if $(wildcard policies/config/$(STACK).json),--policy-pack-config policies/config/$(STACK).json)

# The throwaway local stack applies at once; any other stack shows its plan (with the
# policy verdicts) and asks before applying.
up: $(VENV)/.installed
	$(require_pulumi)
	pulumi up --stack $(STACK) $(if $(filter local,$(STACK)),--yes,--diff) $(POLICY_FLAGS)

preview: $(VENV)/.installed
	$(require_pulumi)
	pulumi preview --stack $(STACK) --diff $(POLICY_FLAGS)

destroy: $(VENV)/.installed
	$(require_pulumi)
	pulumi destroy --stack $(STACK) $(if $(filter local,$(STACK)),--yes --non-interactive,)
