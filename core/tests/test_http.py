"""The one rule for what a failed outbound call means (core.http) and the one mapping of a
retry / final verdict to the outbox outcome (core.outbox.outbox_failure)."""

import pytest

from core.http import PlatformError, RateLimited, is_temporary, is_temporary_status, outbox_outcome
from core.outbox import PermanentFailure, RetryLater, outbox_failure


@pytest.mark.parametrize("status", [None, 408, 425, 429, 500, 502, 503, 504])
def test_no_answer_timeouts_rate_limits_and_server_errors_are_temporary(status):
    assert is_temporary_status(status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 422])
def test_other_client_errors_are_final(status):
    assert not is_temporary_status(status)


def test_a_verdict_maps_to_the_outbox_outcome():
    retry = outbox_failure("busy", temporary=True, retry_after=60)
    assert isinstance(retry, RetryLater) and retry.retry_after == 60 and str(retry) == "busy"

    final = outbox_failure("refused", temporary=False, retry_after=60)
    assert isinstance(final, PermanentFailure) and str(final) == "refused"


def test_send_failures_go_through_the_same_mapping():
    refused = PlatformError("HTTP 400")
    refused.status_code = 400
    unreadable = PlatformError("not an orders page")  # no status: the answer could not be used

    assert not is_temporary(refused) and isinstance(outbox_outcome(refused), PermanentFailure)
    assert is_temporary(unreadable) and isinstance(outbox_outcome(unreadable), RetryLater)
    limited = outbox_outcome(RateLimited(retry_after=12))
    assert isinstance(limited, RetryLater) and limited.retry_after == 12
