"""Test settings: the same as production but fast hashing and tasks run in-process."""

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = "memory://"
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}  # noqa: F405
STORAGES = {  # uploads in the test database whatever the environment says; no manifest needed
    "default": {"BACKEND": "core.storage.DatabaseStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# A replica alias on the test database itself (Django's test mirror). Reports read from the
# primary unless a test sets REPORTING_DATABASE = "replica" (and declares both databases).
DATABASES = {  # noqa: F405
    "default": DATABASES["default"],  # noqa: F405
    "replica": {**DATABASES["default"], "TEST": {"MIRROR": "default"}},  # noqa: F405
}
REPORTING_DATABASE = "default"
WHITENOISE_AUTOREFRESH = True  # serve from the finders; no collectstatic in tests
