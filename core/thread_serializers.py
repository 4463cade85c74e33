"""Serializers built once per thread and language, for hot endpoints.

Building a serializer's fields costs more CPU than validating a small body with them, so hot
endpoints keep one instance per thread (an instance is not safe to share between threads while it
validates). Per language too: DRF words some messages when it builds a field — the min/max value
and length validators of IntegerField, DecimalField and CharField format their message then — so
an instance built during an English request would refuse a Chinese caller in English."""

import threading
from collections.abc import Callable

from django.utils import translation


def per_thread_and_language(build: Callable[[], object]) -> Callable[[], object]:
    """A function giving this thread's instance from `build()` for the active language."""
    local = threading.local()

    def instance():
        built = local.__dict__.setdefault("by_language", {})
        language = translation.get_language()
        found = built.get(language)
        if found is None:
            found = built[language] = build()
        return found

    return instance
