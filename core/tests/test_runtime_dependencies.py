"""A production machine installs requirements.txt only. Everything the web server, a worker or beat
imports on the production settings must come from it, with the pins' own dependencies: the
development venv also has pytest's (packaging among them), which hid a missing one once (kombu's
Redis transport imports `packaging`; workers on Redis crashed). .ci/smoke proves the same on a
fresh venv; this catches it in seconds."""

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(settings.BASE_DIR)
VENV_SEEDS = {"pip", "setuptools"}  # `python3.11 -m venv` installs them before requirements.txt

BLOCKER = """
import importlib.abc, json, sys
BLOCKED = set(json.loads(sys.argv[1]))
class NotInRequirements(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (not installed by requirements.txt)", name=name)
        return None
sys.meta_path.insert(0, NotInRequirements())
"""

# What gunicorn, `celery worker` and `celery beat` load on the production settings (PostgreSQL, a
# Redis broker and cache, S3 uploads).
STARTUP = """
import django
django.setup()
from django.db import connection; connection.ops  # the database backend (psycopg)
import config.wsgi
from config.celery import app
app.loader.import_default_modules()
app.connection_for_write().transport  # the broker's transport (kombu.transport.redis)
from django.core.cache import caches; caches["default"]._cache  # the cache client (redis)
from django.core.files.storage import storages; storages["default"]  # uploads (django-storages, boto3)
import django_celery_beat.schedulers
"""

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.base",
    "DJANGO_SECRET_KEY": "a-production-like-key-for-importing-only-0123456789-abcdefghij",
    "DATABASE_URL": "postgres://conduit@127.0.0.1:5432/conduit",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "CACHE_URL": "redis://127.0.0.1:6379/1",
    "AWS_STORAGE_BUCKET_NAME": "conduit-uploads",
}


def start_without(blocked: set[str]) -> subprocess.CompletedProcess:
    """The production startup in a fresh interpreter where these top-level modules cannot be imported."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTEST"))}
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + STARTUP, json.dumps(sorted(blocked))],
        env={**env, **PRODUCTION_ENV},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def not_installed_by(requirements: Path) -> set[str]:
    """Top-level modules of this venv that `pip install -r requirements` would not bring."""
    installed = installed_by(requirements) | VENV_SEEDS
    owners = importlib.metadata.packages_distributions()
    return {
        top
        for top, distributions in owners.items()
        if not {canonicalize_name(name) for name in distributions} & installed
    }


def installed_by(requirements: Path) -> set[str]:
    """The distributions `pip install -r requirements` brings: the pins and what they require."""
    pending = [
        Requirement(line.split("#")[0].strip())
        for line in requirements.read_text().splitlines()
        if line.split("#")[0].strip() and not line.startswith("-")
    ]
    closure: set[str] = set()
    seen: set[tuple[str, frozenset]] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        seen.add(key)
        closure.add(name)
        for spec in importlib.metadata.requires(requirement.name) or []:
            needed = Requirement(spec)
            extras = [""] + sorted(requirement.extras)
            if needed.marker is None or any(needed.marker.evaluate({"extra": extra}) for extra in extras):
                needed.marker = None
                pending.append(needed)
    return closure


def test_production_processes_start_with_requirements_txt_alone():
    result = start_without(not_installed_by(ROOT / "requirements.txt"))

    assert result.returncode == 0, result.stderr[-3000:]


def test_a_dependency_missing_from_requirements_txt_is_caught(tmp_path):
    """The defect once shipped was a missing `packaging` (kombu's Redis transport needs it); other
    pins (onnxruntime) now pull it in, so the check drops a pin nothing else needs and that the
    processes import as they start: `phonenumbers` (customer identity)."""
    requirements = tmp_path / "requirements.txt"
    pins = (ROOT / "requirements.txt").read_text().splitlines()
    requirements.write_text("\n".join(line for line in pins if not line.startswith("phonenumbers")))

    result = start_without(not_installed_by(requirements))

    assert result.returncode != 0
    assert "No module named 'phonenumbers'" in result.stderr
