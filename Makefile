# Orrange: `make test` on a fresh machine installs everything it needs, then runs the suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
# Ape finds vyper on PATH and ape-foundry finds anvil there.
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: install solc up demo test bench compile clean

install: $(VENV)/.installed node_modules/.installed solc

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# py-solc-x's solc for ape-solidity: the native binary if one is installed, else solcjs from
# node_modules (no download; SOLC=native downloads the native one). It lives in ~/.solcx,
# outside this tree, so it is checked every time.
solc: $(VENV)/.installed node_modules/.installed
	$(VENV)/bin/python tools/install_solc.py $(if $(filter native,$(SOLC)),--native)

compile: install
	ape compile

up: install
	orrange up

demo: install
	orrange demo

test: install
	pytest

bench: install
	python bench/gas.py
	python bench/indexer.py
	python bench/engine.py
	python bench/api.py
	python bench/operations.py

clean:
	rm -rf $(VENV) node_modules .build
