"""Master data named by its code in checkout-lock requests, looked up once per process and then
reused for a few seconds: in a flash sale every request names the same channel and SKU, and the
two look-ups were a quarter of the request's CPU (issue #18).

Invalidation rule: a SKU or channel saved or deleted through the ORM clears the cache of the
process that wrote it at once (the signals are connected below, before anything is cached);
other processes see the change within CODE_CACHE_SECONDS. A code is cached only once it was
found active, so unknown and inactive codes are refused as before, with the same message; for
those seconds a SKU deactivated elsewhere can still be locked — as it can be by a request
validated just before and still waiting for the lock writer (up to
STOCK_LOCK_WRITER_TIMEOUT_SECONDS). Stock itself is never cached."""

import time

from django.db.models.signals import post_delete, post_save
from rest_framework import serializers

from catalog.models import Channel
from core.serializer_fields import active_by_code
from inventory.models import SKU

CODE_CACHE_SECONDS = 2.0
_MOST_CODES = 10_000  # beyond this many the cache starts again: it holds the hot codes only
_recent: dict[tuple[str, str], tuple[float, object]] = {}  # (model label, code) → (found at, row)


def forget_recent_codes(**_signal_kwargs) -> None:
    _recent.clear()


for _model in (SKU, Channel):
    post_save.connect(forget_recent_codes, sender=_model, dispatch_uid=f"forget_codes_{_model.__name__}")
    post_delete.connect(forget_recent_codes, sender=_model, dispatch_uid=f"forget_codes_{_model.__name__}_d")


class _RecentlyFound(serializers.SlugRelatedField):
    """The row found for this code less than CODE_CACHE_SECONDS ago (shared: read it, never
    change it), else the database's answer."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            return super().to_internal_value(data)
        key, now = (self.queryset.model._meta.label, data), time.monotonic()
        found = _recent.get(key)
        if found is not None and now - found[0] < CODE_CACHE_SECONDS:
            return found[1]
        row = super().to_internal_value(data)  # refuses unknown and inactive codes
        if len(_recent) >= _MOST_CODES:
            _recent.clear()
        _recent[key] = (now, row)
        return row

    def __deepcopy__(self, memo):
        """A serializer copies its declared fields for each request; DRF's copy copies the queryset
        too, most of the field's cost per request. The queryset is only ever filtered (which
        copies it), never evaluated in place, so the copy shares it, and the rest of the args."""
        return self.__class__(*self._args, **self._kwargs)


def recently_active_by_code(queryset) -> serializers.SlugRelatedField:
    """active_by_code, with the answer reused for CODE_CACHE_SECONDS (see the module)."""
    return active_by_code(queryset, field_class=_RecentlyFound)
