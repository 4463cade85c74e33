"""For tests: the Celery tasks code publishes (rather than runs, as the test settings otherwise
do), counted by name. Intercepted where Task.apply_async would hand them to the broker, so no
broker is needed and none is touched."""

from collections import Counter
from contextlib import contextmanager
from unittest import mock

from celery.app.task import Task


@contextmanager
def tasks_published():
    counts: Counter[str] = Counter()

    def publish(task, args=None, kwargs=None, **options):
        counts[task.name] += 1

    with mock.patch.object(Task, "apply_async", publish):
        yield counts
