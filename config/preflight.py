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


@checks.register(checks.Tags.security, deploy=True)
def check_proxy_addresses(app_configs, **kwargs):
    """Behind a TLS proxy every request comes from the proxy's address unless Django is told how
    many proxies to look through: then one attacker's failed sign-ins lock out every user, and all
    callers share one refused-webhook and API throttle bucket."""
    if settings.SECURE_PROXY_SSL_HEADER and settings.TRUSTED_PROXY_COUNT == 0:
        return [
            checks.Warning(
                "DJANGO_SECURE_PROXY_SSL_HEADER is set but TRUSTED_PROXY_COUNT is 0: every client has "
                "the proxy's address, so sign-in lockouts and rate limits hit everyone at once.",
                hint="Set TRUSTED_PROXY_COUNT to the number of proxies that append to X-Forwarded-For.",
                id="conduit.W002",
            )
        ]
    return []
