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
