"""core.handoff: publishing after commit never fails the caller when the broker is down (the
stored row is the record; a sweep delivers it), and a row the sweeper takes is counted, spaced
out and given up after HANDOFF_MAX_ATTEMPTS."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from core.handoff import claim_due, publish, waiting_since
from core.models import OutboxMessage, OutboxState
from core.outbox import outbox_enqueue, outbox_sweep, register_handler
from core.tasks import deliver_outbox_message
from core.tests.real_worker import DEAD_BROKER, publishing_to
from integrations.models import InboundMessage

KIND = "test.handoff.outbox"
delivered: list[str] = []


@register_handler(KIND)
def deliver(message):
    delivered.append(message.idempotency_key)


def test_a_publish_to_a_broker_that_is_down_is_logged_not_raised(caplog):
    with publishing_to(DEAD_BROKER):
        assert publish(deliver_outbox_message, 1) is False

    assert "could not publish core.tasks.deliver_outbox_message(1,)" in caplog.text


@pytest.mark.django_db
def test_an_outbox_message_enqueued_while_the_broker_is_down_is_kept_and_swept(
    django_capture_on_commit_callbacks,
):
    delivered.clear()
    # the caller's transaction commits; the publish after it must not fail the caller
    with publishing_to(DEAD_BROKER), django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        outbox_enqueue(kind=KIND, payload={}, idempotency_key="push:1")

    message = OutboxMessage.objects.get(idempotency_key="push:1")
    assert (message.state, delivered) == (OutboxState.PENDING, [])

    assert outbox_sweep() == 1
    message.refresh_from_db()
    assert (message.state, delivered) == (OutboxState.DELIVERED, ["push:1"])


@pytest.mark.django_db
def test_claimed_rows_are_counted_spaced_out_and_given_up(settings):
    settings.HANDOFF_GRACE_SECONDS, settings.HANDOFF_MAX_ATTEMPTS = 10, 2
    now = timezone.now()
    message = InboundMessage.objects.create(platform="shopify", received_at=now - timedelta(seconds=11))
    stuck = InboundMessage.objects.filter(waiting_since("received_at", now))

    taken = []
    for at in (now, now + timedelta(seconds=19), now + timedelta(seconds=20), now + timedelta(seconds=60)):
        with transaction.atomic():
            swept = claim_due(stuck, now=at, limit=10)
        taken.append((swept.handed_over, swept.given_up))

    # due at once; then 2 x 10 s later (not a second before); then out of hand-offs
    assert taken == [([message.pk], []), ([], []), ([message.pk], []), ([], [message.pk])]
    message.refresh_from_db()
    assert (message.handoffs, message.next_handoff_at) == (2, now + timedelta(seconds=60))


def test_claiming_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match="inside the sweep's transaction"):
        claim_due(InboundMessage.objects.none(), now=timezone.now(), limit=1)
