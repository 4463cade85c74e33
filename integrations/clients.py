"""What every platform HTTP client offers the polling sync (integrations.sync).

A client is built from a channel (its `api_credentials` hold base URL, keys, tokens) and yields the
raw order payloads the platform updated in a time window, page by page. It raises RateLimited
when the platform asks it to slow down; the sync backs off and retries later."""

from collections.abc import Iterator
from datetime import datetime
from typing import Protocol


class RateLimited(Exception):  # noqa: N818 - a signal, not a failure
    def __init__(self, retry_after: float = 60.0):
        super().__init__(f"rate limited, retry after {retry_after}s")
        self.retry_after = retry_after


class PlatformError(Exception):
    """The platform answered with an error (bad credentials, server error, malformed page)."""


class OrderClient(Protocol):
    def __init__(self, channel, *, http=None): ...

    def iter_orders(self, *, updated_since: datetime, updated_until: datetime) -> Iterator[dict]:
        """Raw order payloads updated in [updated_since, updated_until), following pagination."""
        ...
