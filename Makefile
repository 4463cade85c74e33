# Conduit — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test venv migrate messages lint clean

# What Conduit runs on; `make run` needs no more. The test tools come on top (`make venv`).
$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# The embedded demo's own random SECRET_KEY, made once: web, worker and beat refuse to serve on the
# public demo key (config/preflight.py). Production sets DJANGO_SECRET_KEY instead.
var/secret-key:
	@mkdir -p var
	@umask 077 && $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))' >$@

run migrate: export DJANGO_SECRET_KEY_FILE ?= $(CURDIR)/var/secret-key

migrate: $(VENV)/.runtime var/secret-key
	$(PY) manage.py migrate --noinput

# Compiled catalogs are committed too, so a machine without gettext still runs in Chinese.
messages: $(VENV)/.runtime
	@if command -v msgfmt >/dev/null; then \
		$(PY) manage.py compilemessages --ignore '.venv' --ignore 'staticfiles' >/dev/null; \
	else echo "gettext not installed: using the committed .mo catalogs"; fi

# Start Conduit with demo data on embedded defaults (SQLite in var/, filesystem broker):
# web on http://$(HOST):$(PORT)/ plus a Celery worker and beat. The most recent 1,000 demo orders
# are ready before the desk opens; bin/run-embedded loads the older ones beside it.
# The catalogs and the static files are made on the second core while the database is loaded.
run: $(VENV)/.runtime var/secret-key
	( $(MAKE) --no-print-directory messages && $(PY) manage.py collectstatic --noinput >/dev/null ) & \
	  $(MAKE) --no-print-directory migrate && \
	  $(PY) manage.py seed_demo --ready-first 1000 && \
	  $(PY) manage.py setup_periodic_tasks && \
	  wait $$!
	HOST=$(HOST) PORT=$(PORT) PY=$(PY) bin/run-embedded

# Tests: PostgreSQL when DATABASE_URL points at it (CI), SQLite otherwise (PostgreSQL-only tests skip).
test: venv messages
	$(PY) -m pytest -n 2 --dist loadfile

lint: venv
	$(VENV)/bin/ruff check .
	$(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf var staticfiles .pytest_cache
