"""Outbound HTTP calls and the one rule for what a failed call means.

A failure is temporary (worth retrying later) when the call got no answer (a network error) or
the answer was 408, 425, 429 or 5xx; any other 4xx is a refusal the same request cannot change.
`send` turns failures into PlatformError (with the HTTP `status_code`) or RateLimited;
`outbox_outcome` turns those into the outbox's RetryLater / PermanentFailure.

Refusals that arrive in a 2xx body (a protocol's own error codes) are classified by the caller,
which passes its verdict through core.outbox.outbox_failure, the same mapping `outbox_outcome`
uses. Here in core so that every layer (fulfilment notifications, integrations, returns) can use
it without importing integrations."""

from collections.abc import Callable

import httpx
from django.utils.translation import gettext

from core.outbox import PermanentFailure, RetryLater, outbox_failure

TIMEOUT = httpx.Timeout(30.0, connect=10.0)

# The statuses below 500 that are worth retrying: timeout, too early, too many requests.
RETRYABLE_STATUSES = frozenset({408, 425, 429})


class RateLimited(Exception):  # noqa: N818 - a signal, not a failure
    def __init__(self, retry_after: float = 60.0):
        super().__init__(f"rate limited, retry after {retry_after}s")
        self.retry_after = retry_after


class PlatformError(Exception):
    """The remote system answered with an error (bad credentials, server error, malformed answer)
    or could not be reached. `status_code` is set when it answered with an HTTP error."""


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


def json_object(platform: str, response: httpx.Response) -> dict:
    """The JSON object a platform answered. Anything else is a PlatformError naming the platform
    and the HTTP status; the status is kept (for the retry rule) unless it was 200, where the
    malformed body itself is the fault."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    error = PlatformError(
        gettext("%(platform)s answered HTTP %(status)s without a JSON object.")
        % {"platform": platform, "status": response.status_code}
    )
    error.status_code = None if response.status_code == 200 else response.status_code
    raise error


def http_error(platform: str, status: int) -> PlatformError:
    """A platform's error answer with a JSON body the protocol did not explain."""
    error = PlatformError(
        gettext("%(platform)s answered HTTP %(status)s.") % {"platform": platform, "status": status}
    )
    error.status_code = status
    return error


def refusal(message: str) -> PlatformError:
    """A failure retrying cannot change, said by the protocol rather than by an HTTP status (a
    platform's error code in a 200 body, a request the client will not send): `is_temporary`
    reads `temporary`."""
    error = PlatformError(message)
    error.temporary = False
    return error


def is_temporary_status(status: int | None) -> bool:
    """The rule: no answer (None), 408, 425, 429 and 5xx may go away by themselves; any other
    4xx is a refusal that retrying cannot change."""
    return status is None or status in RETRYABLE_STATUSES or status >= 500


def is_temporary(error: PlatformError | RateLimited) -> bool:
    """Whether a failure raised by `send` may go away by itself (`is_temporary_status`). A
    PlatformError whose protocol said so itself (an error code in a 200 body, e.g. Taobao's
    "isp." sub codes) carries the verdict as `temporary`, which wins."""
    if isinstance(error, RateLimited):
        return True
    stated = getattr(error, "temporary", None)
    if stated is not None:
        return bool(stated)
    return is_temporary_status(getattr(error, "status_code", None))


def outbox_outcome(error: PlatformError | RateLimited) -> RetryLater | PermanentFailure:
    """The outbox outcome of a failure raised by `send`: RetryLater (honouring Retry-After on a
    429) when it is temporary, PermanentFailure otherwise."""
    return outbox_failure(
        str(error), temporary=is_temporary(error), retry_after=getattr(error, "retry_after", None)
    )


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
