"""What every platform HTTP client offers the polling sync (integrations.sync).

A client is built from a channel (its `api_credentials` hold base URL, keys, tokens) and yields the
raw order payloads the platform updated in a time window, page by page. It raises RateLimited
(core.http) when the platform asks it to slow down; the sync backs off and retries later.

The HTTP helpers and the one rule for what a failed call means (retry later or refused for good)
live in core.http, so that layers below integrations use the same rule."""

from collections.abc import Iterator
from datetime import datetime
from typing import Protocol


class OrderClient(Protocol):
    def __init__(self, channel, *, http=None): ...

    def iter_orders(self, *, updated_since: datetime, updated_until: datetime) -> Iterator[dict]:
        """Raw order payloads updated in [updated_since, updated_until), following pagination."""
        ...


def credentials_write_back(channel, updates: dict) -> dict:
    """Merge what a platform's token call answered (new access and refresh tokens, their expiry)
    into the channel's `api_credentials`, on the object the client holds and in the database, so
    the next client built from the channel starts with them. Merged into the row as it is now,
    under its lock: a key someone changed meanwhile (a rotated app secret, another worker's
    refresh) is kept, not overwritten by the copy this client loaded. Committed at once when
    called outside a transaction — the platform has rotated the tokens already."""
    from django.db import transaction

    if not getattr(channel, "pk", None):
        channel.api_credentials = {**(channel.api_credentials or {}), **updates}
        return channel.api_credentials
    with transaction.atomic():
        current = (
            type(channel)
            .objects.select_for_update()
            .filter(pk=channel.pk)
            .values_list("api_credentials", flat=True)
            .first()
        )
        credentials = {**(current or {}), **updates}
        type(channel).objects.filter(pk=channel.pk).update(api_credentials=credentials)
    channel.api_credentials = credentials
    return credentials
