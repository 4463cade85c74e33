"""What a web server, worker or beat checks before it starts: it refuses to run on the public demo
SECRET_KEY (sessions, CSRF and the customers' signed return links would be forgeable by anyone
who has read this repository) unless DJANGO_DEBUG is on.

manage.py commands (migrate, makemigrations, shell…) still run without a key: they serve nobody.
`manage.py check --deploy` reports the same problem as conduit.E001.
"""

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


def secret_key_problem() -> str | None:
    if settings.DEBUG:
        return None
    if not settings.SECRET_KEY or settings.SECRET_KEY == settings.DEMO_SECRET_KEY:
        return (
            "DJANGO_SECRET_KEY is not set: Conduit will not serve on the public demo key. Set "
            "DJANGO_SECRET_KEY to a long random value, the same on every web and worker machine, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'. (`make run` makes one "
            "for the embedded demo; DJANGO_DEBUG=true allows the demo key on a developer's machine.)"
        )
    return None


def refuse_insecure_start() -> None:
    """Called where a process starts serving: config/wsgi.py, config/asgi.py, config/celery.py."""
    problem = secret_key_problem()
    if problem:
        raise ImproperlyConfigured(problem)


@checks.register(checks.Tags.security, deploy=True)
def check_secret_key(app_configs, **kwargs):
    problem = secret_key_problem()
    return [checks.Error(problem, id="conduit.E001")] if problem else []
