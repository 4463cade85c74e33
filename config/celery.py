import os

from celery import Celery
from celery.signals import beat_init, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("conduit")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@beat_init.connect
def refuse_insecure_worker(**kwargs):
    """A worker or beat on the public demo key would sign return links anyone can forge."""
    from config.preflight import secret_key_problem

    problem = secret_key_problem()
    if problem:
        # Celery logs and swallows a signal handler's exceptions; SystemExit does stop the process.
        raise SystemExit(f"ImproperlyConfigured: {problem}")


@worker_init.connect
def tune_worker_garbage_collector(**kwargs):
    """Before the pool forks: the children inherit the frozen start-up objects and the threshold."""
    from core.processes import tune_garbage_collector

    tune_garbage_collector()
