import pytest
from django.db import connection

from core.roles import Role

pytest_plugins = [
    "core.tests.real_worker",  # real_broker: a Celery worker process on Redis
    # browser / desk: one Chromium per test process, shared by every app's browser tests (a
    # second session fixture would start a second Playwright inside the first one's event loop)
    "core.tests.browser",
]


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def on_postgres():
    return connection.vendor == "postgresql"


@pytest.fixture
def nul_refused_as_on_postgres(db):
    """PostgreSQL refuses a NUL character in text and in JSON (the escape \\u0000); SQLite stores
    it. Call with models: on SQLite their tables refuse NULs too (temporary triggers), so a test of
    what happens when the database refuses to store a row runs on both databases."""
    from django.db import models

    triggers = []

    def refuse(*refusing):
        if connection.vendor != "sqlite":
            return
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            for model in refusing:
                checks = []
                for field in model._meta.concrete_fields:
                    if isinstance(field, models.JSONField):  # stored as text, a NUL as its escape
                        checks.append(f"instr(NEW.{quote(field.column)}, '\\u0000') > 0")
                    elif field.get_internal_type() in ("CharField", "TextField"):
                        checks.append(f"instr(CAST(NEW.{quote(field.column)} AS BLOB), x'00') > 0")
                for operation in ("INSERT", "UPDATE"):
                    name = quote(f"refuse_nul_{model._meta.db_table}_{operation.lower()}")
                    cursor.execute(
                        f"CREATE TEMP TRIGGER {name} BEFORE {operation} ON {quote(model._meta.db_table)} "
                        f"WHEN {' OR '.join(checks)} "
                        "BEGIN SELECT RAISE(ABORT, 'a NUL character, which PostgreSQL refuses'); END"
                    )
                    triggers.append(name)

    yield refuse
    with connection.cursor() as cursor:
        for name in triggers:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


@pytest.fixture
def make_user(db, django_user_model):
    from django.contrib.auth.models import Group

    def make(role: str | None = None, username: str | None = None):
        username = username or f"{role or 'nobody'}-{django_user_model.objects.count() + 1}"
        user = django_user_model.objects.create_user(username=username, password="pw-for-tests-1")
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def agent(make_user):
    return make_user(Role.CUSTOMER_SERVICE)


@pytest.fixture
def manager(make_user):
    return make_user(Role.MANAGER)


@pytest.fixture
def warehouse_user(make_user):
    return make_user(Role.WAREHOUSE)


@pytest.fixture
def finance_user(make_user):
    return make_user(Role.FINANCE)


@pytest.fixture(autouse=True)
def fresh_cache():
    """The default cache is process-wide (locmem): counters one test leaves (refused webhooks per
    caller, debounces) must not count against the next."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def group_commit_threads_stopped():
    """A group commit's own thread keeps a database connection: ended after each test, so none is
    left open when a transactional test's tables are flushed or the test database is dropped."""
    yield
    from core.group_commit import stop_threads

    stop_threads()


@pytest.fixture(autouse=True)
def english_by_default():
    """A request in zh-hans leaves the thread's language switched; each test starts in English."""
    from django.utils import translation

    translation.activate("en")
    yield
    translation.activate("en")


@pytest.fixture(autouse=True)
def standard_pools(request):
    """The four standard pools come from a data migration; a transactional test's flush removes
    them, so tests that use the database get them back first."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None and not {"db", "transactional_db"} & set(request.fixturenames):
        return
    transactional = "transactional_db" in request.fixturenames or bool(
        marker and marker.kwargs.get("transaction")
    )
    request.getfixturevalue("transactional_db" if transactional else "db")
    from inventory.ledger import ensure_standard_pools

    ensure_standard_pools()


@pytest.fixture(autouse=True)
def celery_join_flag_reset():
    """Eager Celery tasks run from several threads at once (the concurrency tests) race on
    celery's process-wide "inside a task" flag and can leave it set, which makes a later
    test's `.delay().get()` refuse to run. Each test starts with it cleared."""
    from celery._state import _set_task_join_will_block

    _set_task_join_will_block(False)
    yield
