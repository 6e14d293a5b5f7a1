# PicSource entry points. `make run` and `make test` set up everything they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help
REPO := $(abspath .)
VENV := $(REPO)/.venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(REPO)/core:$(REPO)/web:$(REPO)/worker:$(REPO)/operator:$(REPO)
export PATH := $(VENV)/bin:$(PATH)
export PICSOURCE_TOOLS ?= $(HOME)/.cache/picsource/tools
PYTEST_ARGS ?=

.PHONY: help tools python lock frontend models setup run test lint manifests cluster-up cluster-down gallery-up bench images kind-up clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

tools: ## build/install every pinned component into ~/.cache/picsource/tools (skips what is cached)
	@bash .ci/tools.sh

python: ## only the Python environment (exactly .ci/requirements/dev.txt)
	@bash .ci/tools.sh python

lock: python ## re-resolve pyproject.toml into the hashed locks .ci/requirements/*.txt (UPGRADE=1: newest allowed)
	@bash .ci/lock.sh

frontend: python ## build Tailwind/DaisyUI CSS from npm packages
	@bash .ci/frontend.sh

models: python ## convert the bundled classifier weights to ONNX (cached)
	@echo "==> models: EfficientNet-Lite0 .pth -> ONNX (cached after the first run)"
	@$(PY) -m picsource_worker.models.convert

setup: tools frontend models

run: setup ## start MongoDB-wire server, MinIO, web (gunicorn :5000) and one worker; Ctrl-C stops all
	@$(PY) -m tests.harness.run

test: setup images ## set up and run the whole suite against real services, a real control plane and a real node
	@$(PY) -m pytest $(PYTEST_ARGS)

lint: python ## ruff, mypy, the import contracts (layers), hadolint, the locks against pyproject.toml, manifests
	@$(PY) -m tests.harness.lockfile --check
	@$(VENV)/bin/ruff check core web worker operator tests bench
	@$(VENV)/bin/mypy core/picsource_core web/picsource_web worker/picsource_worker operator/picsource_operator
	@$(VENV)/bin/lint-imports --no-cache --no-logo
	@$(VENV)/bin/hadolint web/Dockerfile worker/Dockerfile operator/Dockerfile
	@$(PY) manifests/generate.py --check

manifests: python ## regenerate manifests/ (CRD, RBAC, operator, dashboard, rules) from the chart
	@$(PY) manifests/generate.py

cluster-up: tools ## start etcd, kube-apiserver, controller-manager, scheduler, kwok (NODE=real: containerd, kubelet, kube-proxy, CoreDNS in a network namespace); kubeconfig in .run/
	@$(PY) -m tests.harness.cluster up --node=$(or $(NODE),kwok)

gallery-up: images ## the real node + helm install + a Gallery, then a relay to its web tier on 127.0.0.1:$(or $(PORT),8080)
	@$(PY) -m tests.e2e.realcluster_cli $(or $(PORT),8080)

cluster-down: ## stop the local control plane and remove its state
	@$(PY) -m tests.harness.cluster down

bench: setup images ## run every benchmark under bench/ and print figures
	@for b in bench/bench_*.py; do echo "==> $$b"; $(PY) $$b || exit 1; done

images: tools ## build every container image with buildah, no Docker daemon or registry (archives in ~/.cache/picsource/images)
	@bash .ci/images.sh build

kind-up: ## create a kind cluster, load images, helm install, apply an example Gallery (needs Docker + kind)
	@bash .ci/images.sh kind-up

clean: cluster-down
	rm -rf .run
