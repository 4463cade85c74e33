import threading
from collections import Counter

import pytest
from django.db import connection

from integrations.models import InboundMessage, InboundStatus
from integrations.services import Outcome, inbound_message_process, inbound_message_receive
from integrations.tests.conftest import payload, raw, sign
from orders.models import Order

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_at_once(count, target):
    barrier = threading.Barrier(count)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(target())
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


def test_the_same_delivery_arriving_at_once_is_stored_and_ingested_once(shopify_channel):
    body = raw(payload("shopify_orders_create"))
    headers = {
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Webhook-Id": "wh-race",
        "X-Shopify-Hmac-Sha256": sign(body),
    }

    receipts = run_at_once(
        8,
        lambda: inbound_message_receive(
            platform="shopify", channel_code="shop-us", headers=headers, raw_body=body
        ),
    )

    assert Counter(r.outcome for r in receipts) == {Outcome.ACCEPTED: 1, Outcome.DUPLICATE: 7}
    assert InboundMessage.objects.get().status == InboundStatus.PROCESSED
    assert Order.objects.filter(channel__code="shop-us").count() == 1


def test_one_message_processed_by_two_workers_at_once_is_ingested_once(shopify_channel):
    message = InboundMessage.objects.create(
        channel=shopify_channel,
        platform="shopify",
        topic="orders/create",
        body=raw(payload("shopify_orders_create")).decode(),
    )

    run_at_once(4, lambda: inbound_message_process(message.pk))

    message.refresh_from_db()
    # each worker that found it still "received" counted its start; one of them processed it
    assert message.status == InboundStatus.PROCESSED and 1 <= message.attempts <= 4
    assert Order.objects.filter(channel__code="shop-us").count() == 1
