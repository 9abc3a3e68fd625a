# Set-up and everyday commands. `make demo` and `make test` do all the installing themselves,
# with the exact versions in constraints.txt (the lock), so a fresh machine gets what was tested.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
# torch is installed first and pinned so the package's own range (torch>=2.2) resolves to it
# instead of pulling CUDA builds; override e.g. TORCH_SPEC="torch==2.5.1" or a CUDA index.
TORCH_SPEC ?= torch==2.13.0
LOCK := constraints.txt
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.whet-installed
DEMO_RUNS := runs/demo-$(shell date +%Y%m%d-%H%M%S)
PYTEST := HF_HUB_OFFLINE=1 $(PY) -m pytest -q

.PHONY: install dev demo test test-fast test-latest lock browser postgres clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# The lock pins torch's own dependencies but not torch, so TORCH_SPEC stays free to choose the build.
$(STAMP): $(PY) pyproject.toml $(LOCK)
	$(PIP) install --quiet -c $(LOCK) "$(TORCH_SPEC)"
	$(PIP) install --quiet -c $(LOCK) -e .
	touch $@

$(STAMP)-dev: $(STAMP)
	$(PIP) install --quiet -c $(LOCK) -e ".[dev]"
	touch $@

install: $(STAMP)

dev: $(STAMP)-dev

# Fine-tune the builtin MiniLM on the bundled intent and NER sets, print both reports, predict.
demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/whet train configs/demo-intents.yaml --output $(DEMO_RUNS)/intents
	HF_HUB_OFFLINE=1 $(VENV)/bin/whet train configs/demo-ner.yaml --output $(DEMO_RUNS)/ner
	HF_HUB_OFFLINE=1 $(VENV)/bin/whet predict $(DEMO_RUNS)/intents/model "my card was stolen last night" "how much money is in my checking account"
	HF_HUB_OFFLINE=1 $(VENV)/bin/whet predict $(DEMO_RUNS)/ner/model "Maria Lopez bought a Pixel phone from Northwind Traders in Lisbon."
	@echo "demo runs written to $(DEMO_RUNS)"

# The whole suite, slow tests included.
test: $(STAMP)-dev browser postgres
	$(PYTEST) $(PYTEST_ARGS)

# Everything but the tests marked slow, for the edit loop.
test-fast: $(STAMP)-dev browser postgres
	$(PYTEST) -m "not slow" $(PYTEST_ARGS)

# The suite on the newest releases pyproject.toml allows, in an environment of its own and
# without the lock: what the next `make lock` would bring, before users meet it. torch stays
# TORCH_SPEC's (an eager upgrade would otherwise replace it with the newest CUDA build).
LATEST_VENV ?= .venv-latest
test-latest: browser postgres
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	printf '%s\n' "$(TORCH_SPEC)" > $(LATEST_VENV)/torch-spec.txt
	$(LATEST_VENV)/bin/python -m pip install --quiet "$(TORCH_SPEC)"
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager \
		-c $(LATEST_VENV)/torch-spec.txt -e ".[dev]"
	$(LATEST_VENV)/bin/python -m pip list --format=freeze | grep -iE '^(transformers|peft|accelerate|sentence-transformers|torch)=='
	HF_HUB_OFFLINE=1 $(LATEST_VENV)/bin/python -m pytest -q $(PYTEST_ARGS)

# Rewrite the lock from pyproject.toml and lock-holds.txt (never edit constraints.txt by hand),
# then run `make test`. torch is resolved from its CPU build, so no CUDA packages enter the lock:
# from TORCH_WHEELS, a folder holding that wheel, when set, else from PyTorch's CPU index.
UV_SPEC ?= uv==0.13.9
TORCH_WHEELS ?= $(wildcard /opt/wheels)
lock: $(PY)
	$(PIP) install --quiet "$(UV_SPEC)"
	printf '%s\n' "$(TORCH_SPEC)" > $(VENV)/torch-spec.txt
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --quiet --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --no-emit-package torch \
		-c $(VENV)/torch-spec.txt -c lock-holds.txt \
		$(if $(TORCH_WHEELS),--find-links $(TORCH_WHEELS),--torch-backend cpu) \
		--custom-compile-command "make lock" -o $(LOCK)

# Headless Chromium for the playground page test: Debian's package, installed only when missing
# (set WHET_CHROMIUM=/path/to/chromium to use another one).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@[ -n "$(WHET_CHROMIUM)" ] || command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

# A PostgreSQL server for the tests of the applications' PostgreSQL path: Debian's package, installed
# only when missing; the tests start their own server on loopback in a temp dir.
postgres:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql; }

clean-venv:
	rm -rf $(VENV) $(LATEST_VENV)
