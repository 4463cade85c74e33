"""What every platform HTTP client offers the polling sync (integrations.sync).

A client is built from a channel (its `api_credentials` hold base URL, keys, tokens) and yields the
raw order payloads the platform updated in a time window, page by page. It raises RateLimited
when the platform asks it to slow down; the sync backs off and retries later."""

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Protocol

import httpx

from core.outbox import PermanentFailure, RetryLater

TIMEOUT = httpx.Timeout(30.0, connect=10.0)


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


def send(platform: str, request: Callable[[], httpx.Response], default_retry_after: float) -> httpx.Response:
    """Run one HTTP request: network errors and non-2xx answers become PlatformError (with the
    HTTP `status_code` when there is one), 429 becomes RateLimited."""
    try:
        response = request()
    except httpx.HTTPError as exc:
        raise PlatformError(f"{platform}: {exc.__class__.__name__}: {exc}") from exc
    if response.status_code == 429:
        raise RateLimited(retry_after(response, default_retry_after))
    if not response.is_success:
        error = PlatformError(f"{platform} answered HTTP {response.status_code}: {response.text[:200]}")
        error.status_code = response.status_code
        raise error
    return response


# The one rule for what a failed HTTP call means: worth retrying (network error, 408, 425, 429,
# 5xx) or final (any other 4xx).
RETRYABLE_STATUSES = frozenset({408, 425, 429})


def is_temporary(error: PlatformError | RateLimited) -> bool:
    """Whether a failure raised by `send` may go away by itself: network errors (no status code),
    408, 425, 429 and 5xx do; any other 4xx is a refusal that retrying cannot change."""
    if isinstance(error, RateLimited):
        return True
    status = getattr(error, "status_code", None)
    return status is None or status in RETRYABLE_STATUSES or status >= 500


def outbox_outcome(error: PlatformError | RateLimited) -> RetryLater | PermanentFailure:
    """The outbox outcome of a failure raised by `send`: RetryLater (honouring Retry-After on a
    429) when it is temporary, PermanentFailure otherwise."""
    if isinstance(error, RateLimited):
        return RetryLater(str(error), retry_after=error.retry_after)
    if is_temporary(error):
        return RetryLater(str(error))
    return PermanentFailure(str(error))


def send_for_outbox(
    platform: str, request: Callable[[], httpx.Response], default_retry_after: float
) -> httpx.Response:
    """`send` for an outbox handler: a failure is raised as RetryLater or PermanentFailure."""
    try:
        return send(platform, request, default_retry_after)
    except (PlatformError, RateLimited) as exc:
        raise outbox_outcome(exc) from exc


def retry_after(response: httpx.Response, default: float) -> float:
    """Retry-After in seconds; the default when absent or not a number."""
    try:
        value = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return default
    return value if value > 0 else default
