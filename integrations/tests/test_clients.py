"""The one rule for what a failed HTTP call means to the outbox (integrations.clients)."""

import httpx
import pytest

from core.http import send_for_outbox
from core.outbox import PermanentFailure, RetryLater


def answering(status: int, headers: dict | None = None):
    return lambda: httpx.Response(status, headers=headers or {}, text="nope")


@pytest.mark.parametrize("status", [408, 425, 500, 502, 503, 504])
def test_temporary_answers_are_retried(status):
    with pytest.raises(RetryLater) as caught:
        send_for_outbox("Acme", answering(status), 30.0)
    assert caught.value.retry_after is None  # the outbox's own backoff


def test_a_rate_limit_is_retried_after_what_the_server_asked():
    with pytest.raises(RetryLater) as caught:
        send_for_outbox("Acme", answering(429, {"Retry-After": "12"}), 30.0)
    assert caught.value.retry_after == 12.0

    with pytest.raises(RetryLater) as caught:
        send_for_outbox("Acme", answering(429), 30.0)
    assert caught.value.retry_after == 30.0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_other_refusals_are_final(status):
    with pytest.raises(PermanentFailure, match=f"HTTP {status}"):
        send_for_outbox("Acme", answering(status), 30.0)


def test_a_network_error_is_retried():
    def unreachable():
        raise httpx.ConnectError("connection refused")

    with pytest.raises(RetryLater, match="ConnectError"):
        send_for_outbox("Acme", unreachable, 30.0)


def test_a_success_is_returned():
    assert send_for_outbox("Acme", answering(201), 30.0).status_code == 201
