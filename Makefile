# Set-up and everyday commands. `make demo` and `make test` do all the installing themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
# torch is installed first and pinned so the package's own range (torch>=2.2) resolves to it
# instead of pulling CUDA builds; override e.g. TORCH_SPEC="torch==2.5.1" or a CUDA index.
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.whet-installed
DEMO_RUNS := runs/demo-$(shell date +%Y%m%d-%H%M%S)

.PHONY: install dev demo test browser clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PIP) install --quiet "$(TORCH_SPEC)"
	$(PIP) install --quiet -e .
	touch $@

$(STAMP)-dev: $(STAMP)
	$(PIP) install --quiet -e ".[dev]"
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

test: $(STAMP)-dev browser
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q $(PYTEST_ARGS)

# Headless Chromium for the playground page test: Debian's package, installed only when missing
# (set WHET_CHROMIUM=/path/to/chromium to use another one).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@[ -n "$(WHET_CHROMIUM)" ] || command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

clean-venv:
	rm -rf $(VENV)
