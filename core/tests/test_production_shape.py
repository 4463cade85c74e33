"""The production shape: no serving on the public demo key, security settings from the
environment with a clean `check --deploy`, the Content-Security-Policy the desk works under, and
the named Celery queues every task is routed to."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connection

from config.celery import app

ROOT = Path(settings.BASE_DIR)
REAL_KEY = "k8Jw3-production-like-key-with-plenty-of-entropy-Zq91xVbN2mTr7"

PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": REAL_KEY,
    "DJANGO_ALLOWED_HOSTS": "oms.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://oms.example.com",
    "DJANGO_SECURE_COOKIES": "true",
    "DJANGO_SECURE_SSL_REDIRECT": "true",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "DJANGO_SECURE_HSTS_PRELOAD": "true",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "TRUSTED_PROXY_COUNT": "1",
}


def environment(**values) -> dict:
    """This process's environment on the production settings module, without a key or debug
    unless given (an empty value also hides a developer's .env file)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTEST"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DJANGO_SECRET_KEY": "",
            "DJANGO_SECRET_KEY_FILE": "",
            "DJANGO_DEBUG": "false",
            "CELERY_BROKER_URL": "memory://",
        }
    )
    env.update(values)
    return env


def run(args: list[str], env: dict, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def serving(env: dict) -> subprocess.CompletedProcess:
    """What gunicorn (and runserver) does first: import the WSGI application."""
    return run([sys.executable, "-c", "import config.wsgi"], env)


# --- the secret key -----------------------------------------------------------------------------


def test_the_web_server_refuses_to_start_on_the_demo_key():
    result = serving(environment())

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "DJANGO_SECRET_KEY is not set" in result.stderr


def test_the_web_server_starts_with_a_key_or_in_debug(tmp_path):
    key_file = tmp_path / "secret"
    key_file.write_text(REAL_KEY + "\n")

    assert serving(environment(DJANGO_SECRET_KEY=REAL_KEY)).returncode == 0
    assert serving(environment(DJANGO_SECRET_KEY_FILE=str(key_file))).returncode == 0
    assert serving(environment(DJANGO_DEBUG="true")).returncode == 0  # a developer's machine


def test_the_web_server_tunes_its_garbage_collector():
    """core.processes: start-up objects frozen, young collections after 50,000 allocations."""
    probe = "import gc, config.wsgi; print(gc.get_threshold()[0], gc.get_freeze_count() > 10_000)"
    result = run([sys.executable, "-c", probe], environment(DJANGO_SECRET_KEY=REAL_KEY))

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["50000", "True"]


def test_an_unreadable_key_file_is_named():
    result = serving(environment(DJANGO_SECRET_KEY_FILE="/nonexistent/conduit-secret"))

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY_FILE: cannot read /nonexistent/conduit-secret" in result.stderr


def test_a_worker_refuses_to_start_on_the_demo_key():
    celery = str(Path(sys.executable).parent / "celery")
    result = run([celery, "-A", "config", "worker", "--pool", "solo", "--loglevel", "WARNING"], environment())

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


@pytest.mark.postgres
@pytest.mark.django_db
def test_beat_refuses_to_start_on_the_demo_key(tmp_path):
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    url = f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    celery = str(Path(sys.executable).parent / "celery")
    args = [celery, "-A", "config", "beat", "--loglevel", "WARNING", "--pidfile", str(tmp_path / "beat.pid")]

    result = run(args, environment(DATABASE_URL=url))

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


# --- check --deploy -------------------------------------------------------------------------------


def test_check_deploy_is_clean_in_a_production_like_environment():
    result = run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        environment(**PRODUCTION_ENV),
    )

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_names_what_is_missing():
    result = run([sys.executable, "manage.py", "check", "--deploy"], environment())

    assert result.returncode != 0
    for problem in ("conduit.E001", "security.W004", "security.W008", "security.W012", "security.W016"):
        assert problem in result.stderr


def test_check_deploy_warns_of_a_tls_proxy_whose_clients_all_share_its_address():
    behind_proxy = {**PRODUCTION_ENV, "TRUSTED_PROXY_COUNT": "0"}
    result = run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        environment(**behind_proxy),
    )

    assert result.returncode != 0 and "conduit.W002" in result.stderr


def test_security_settings_come_from_the_environment():
    script = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.SECURE_PROXY_SSL_HEADER, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, "
        "s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.CONTENT_SECURITY_POLICY_REPORT_ONLY]))"
    )

    production = run(
        [sys.executable, "-c", script], environment(**PRODUCTION_ENV, DJANGO_CSP_REPORT_ONLY="1")
    )
    embedded = run([sys.executable, "-c", script], environment())

    assert (
        production.stdout.strip()
        == '[["HTTP_X_FORWARDED_PROTO", "https"], true, 31536000, true, true, true, true, true]'
    )
    assert embedded.stdout.strip() == "[null, false, 0, false, false, false, false, false]"


@pytest.mark.django_db
def test_the_health_endpoint_is_not_redirected_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/login/").status_code == 301
    assert client.get("/health/").status_code != 301  # load balancers probe it over plain HTTP
    assert client.get("/login/", headers={"X-Forwarded-Proto": "https"}).status_code == 301  # not trusted
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert client.get("/login/", headers={"X-Forwarded-Proto": "https"}).status_code == 200


# --- Content-Security-Policy ----------------------------------------------------------------------


@pytest.mark.django_db
def test_desk_pages_carry_the_strict_policy_and_the_admin_the_relaxed_one(client):
    desk = client.get("/login/")
    admin = client.get("/admin/login/")

    assert desk["Content-Security-Policy"] == settings.CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in desk["Content-Security-Policy"]
    assert "'unsafe-inline'" not in desk["Content-Security-Policy"]
    assert admin["Content-Security-Policy"] == settings.CONTENT_SECURITY_POLICY_RELAXED


@pytest.mark.django_db
def test_the_policy_can_report_only_or_be_switched_off(client, settings):
    policy = settings.CONTENT_SECURITY_POLICY
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = True
    reported = client.get("/login/")
    settings.CONTENT_SECURITY_POLICY = ""
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = False
    off = client.get("/login/")

    assert "Content-Security-Policy" not in reported
    assert reported["Content-Security-Policy-Report-Only"] == policy
    assert "Content-Security-Policy" not in off and "Content-Security-Policy-Report-Only" not in off


INLINE_CODE = [
    (
        re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/(?:ld\+)?json\")[^>]*>", re.I),
        "inline script",
    ),
    (re.compile(r"<style\b", re.I), "style element"),
    (re.compile(r"\sstyle=\"", re.I), "style attribute"),
    (re.compile(r"\son[a-z]+=\"", re.I), "event handler attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def test_the_desk_templates_have_no_inline_code_the_policy_would_block():
    found = []
    for template in sorted(ROOT.glob("templates/**/*.html")):
        text = template.read_text(encoding="utf-8")
        for pattern, what in INLINE_CODE:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{template.relative_to(ROOT)}:{line}: {what}")

    assert found == [], "move it to a static file under static/desk/ (see behaviours.js)"


# --- Celery queues --------------------------------------------------------------------------------


def queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("integrations.tasks.process_inbound_message", "intake"),
        ("integrations.tasks.sweep_inbound_messages", "intake"),
        ("integrations.carriers.tasks.process_tracking_push", "intake"),
        ("core.tasks.deliver_outbox_message", "outbox"),
        ("core.tasks.sweep_outbox", "outbox"),
        ("finance.tasks.validate_import", "imports"),
        ("finance.tasks.commit_import", "imports"),
        ("inventory.tasks.read_cycle_count_upload", "imports"),
        ("integrations.tasks.read_order_upload", "imports"),
        ("integrations.tasks.sync_channels", "sync"),
        ("integrations.tasks.sync_channel", "sync"),
        ("integrations.carriers.tasks.poll_tracking", "sync"),
        ("integrations.wms.tasks.compare_wms_stock", "sync"),
        ("integrations.wms.tasks.compare_warehouse_stock", "sync"),
        ("inventory.tasks.push_stock", "sync"),
        ("fulfilment.route_order", "default"),
        ("fulfilment.route_orders", "default"),
        ("orders.tasks.refresh_customer_stats", "default"),
        ("finance.tasks.run_reconciliation", "default"),
        ("dashboard.tasks.refresh_dashboard_rollups", "default"),
        ("inventory.tasks.expire_reservations", "default"),
    ],
)
def test_tasks_are_routed_to_their_queue(task, queue):
    assert queue_of(task) == queue


def test_every_route_and_the_default_name_a_queue_the_workers_take():
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}

    assert routed | {settings.CELERY_TASK_DEFAULT_QUEUE} == set(settings.CELERY_TASK_QUEUE_NAMES)
    app.loader.import_default_modules()
    assert len([name for name in app.tasks if not name.startswith("celery.")]) > 30


def test_the_embedded_worker_takes_every_queue():
    script = (ROOT / "bin" / "run-embedded").read_text()
    queues = re.search(r"^QUEUES=(\S+)$", script, re.M).group(1).split(",")

    assert sorted(queues) == sorted(settings.CELERY_TASK_QUEUE_NAMES)
    assert '-Q "$QUEUES"' in script
