from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import Channel
from integrations import models
from integrations.models import InboundMessage, InboundStatus
from integrations.tests.conftest import payload
from orders.tests.factories import ChannelFactory, make_order

pytestmark = pytest.mark.django_db

LOG = "/integrations/desk/messages/"
FAILED = "/integrations/desk/failed/"
CHANNELS = "/integrations/desk/channels/"


def message(**fields) -> InboundMessage:
    fields.setdefault("channel", ChannelFactory())
    fields.setdefault("platform", "generic")
    fields.setdefault("topic", "orders/create")
    return InboundMessage.objects.create(**fields)


def fixable_failure(post_shopify, capture) -> InboundMessage:
    """A delivery whose shop was switched off before it was processed ("Unknown or inactive
    channel"): fixed by switching the shop on again. (An unknown SKU code no longer fails: the
    order is taken and waits for the item mapping.)"""
    with capture(execute=False) as queued:
        post_shopify(payload("shopify_orders_create"))
    Channel.objects.filter(code="shop-us").update(is_active=False)
    with capture(execute=True):
        for callback in queued:
            callback()
    failed = InboundMessage.objects.get()
    assert failed.status == InboundStatus.FAILED and "shop-us" in failed.error
    return failed


def switch_on(channel) -> None:
    Channel.objects.filter(pk=channel.pk).update(is_active=True)


# --- integration log -------------------------------------------------------------------------


def test_log_filters_by_channel_status_topic_and_exact_ids(client, agent):
    other = ChannelFactory(code="shop-eu", name="EU shop")
    order = make_order()
    message(dedupe_id="d-processed", status=InboundStatus.PROCESSED, order=order)
    message(dedupe_id="d-failed", status=InboundStatus.FAILED, error="boom")
    message(channel=other, dedupe_id="d-eu", topic="orders/updated")
    client.force_login(agent)

    def shown(query: str) -> set[str]:
        response = client.get(LOG + query)
        assert response.status_code == 200
        return {m.dedupe_id for m in response.context["page"]}

    assert shown("") == {"d-processed", "d-failed", "d-eu"}
    assert shown("?channel=shop-eu") == {"d-eu"}
    assert shown("?status=failed") == {"d-failed"}
    assert shown("?topic=orders/updated") == {"d-eu"}
    assert shown("?q=d-failed") == {"d-failed"}
    assert shown(f"?q={order.number}") == {"d-processed"}
    assert shown("?q=d-fail") == set()  # exact matches only


def test_detail_shows_headers_and_the_body_pretty_and_escaped(client, agent):
    row = message(
        body='{"note": "<script>alert(1)</script>", "n": 1}',
        headers={"X-Shopify-Topic": "orders/create"},
        status=InboundStatus.FAILED,
        error="lines[0].sku: unknown",
    )
    client.force_login(agent)

    response = client.get(f"{LOG}{row.pk}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert "  &quot;n&quot;: 1" in html  # indented JSON
    assert "X-Shopify-Topic" in html and "lines[0].sku: unknown" in html
    assert "Replay" not in html  # customer service may look, not replay


def test_replay_turns_a_fixed_failure_into_an_order(
    client, manager, post_shopify, django_capture_on_commit_callbacks
):
    failed = fixable_failure(post_shopify, django_capture_on_commit_callbacks)
    client.force_login(manager)
    assert "Replay" in client.get(f"{LOG}{failed.pk}/").content.decode()

    switch_on(failed.channel)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{LOG}{failed.pk}/replay/", follow=True)

    failed.refresh_from_db()
    assert failed.status == InboundStatus.PROCESSED and failed.order is not None
    assert "Processed" in response.content.decode()
    # the order page lists the message
    detail = client.get(failed.order.get_absolute_url()).content.decode()
    assert "Integration messages" in detail and f"{LOG}{failed.pk}/" in detail


def test_replay_needs_the_change_permission(client, agent, post_shopify, django_capture_on_commit_callbacks):
    failed = fixable_failure(post_shopify, django_capture_on_commit_callbacks)
    client.force_login(agent)

    assert client.post(f"{LOG}{failed.pk}/replay/").status_code == 403
    failed.refresh_from_db()
    assert failed.status == InboundStatus.FAILED


@pytest.mark.parametrize("url", [LOG, FAILED, CHANNELS])
def test_warehouse_users_get_403(client, warehouse_user, url):
    client.force_login(warehouse_user)

    assert client.get(url).status_code == 403


def test_order_page_hides_integration_messages_without_the_permission(client, warehouse_user):
    order = make_order()
    message(order=order, status=InboundStatus.PROCESSED)
    client.force_login(warehouse_user)

    assert "Integration messages" not in client.get(order.get_absolute_url()).content.decode()


# --- failed queue ----------------------------------------------------------------------------


def test_failed_queue_counts_per_channel_and_bulk_replays(
    client, manager, post_shopify, django_capture_on_commit_callbacks
):
    failed = fixable_failure(post_shopify, django_capture_on_commit_callbacks)
    message(channel=failed.channel, platform="shopify", status=InboundStatus.REJECTED, error="bad signature")
    message(status=InboundStatus.PROCESSED)
    client.force_login(manager)

    response = client.get(FAILED)
    summary = {row["channel"].code: (row["failed"], row["rejected"]) for row in response.context["summary"]}
    assert summary == {"shop-us": (1, 1)}
    assert {m.status for m in response.context["page"]} == {"failed", "rejected"}

    switch_on(failed.channel)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(FAILED + "replay/", {"message": [str(failed.pk)]})

    failed.refresh_from_db()
    assert failed.status == InboundStatus.PROCESSED
    assert client.get(FAILED).context["summary"][0]["failed"] == 0


# --- channel status --------------------------------------------------------------------------


def test_channel_status_counts_messages_and_says_a_channel_is_not_polled(client, agent):
    channel = ChannelFactory()
    message(channel=channel, status=InboundStatus.PROCESSED)
    message(channel=channel, status=InboundStatus.FAILED, error="unknown SKU X-1")
    message(channel=channel, status=InboundStatus.PROCESSED, received_at=timezone.now() - timedelta(days=2))
    client.force_login(agent)

    response = client.get(CHANNELS)

    assert response.status_code == 200
    row = response.context["rows"][0]
    assert dict(row["recent"])["Processed"] == 1 and dict(row["recent"])["Failed"] == 1
    assert not row["sync"].pollable and row["sync"].cursor is None
    html = response.content.decode()
    assert "unknown SKU X-1" in html and "Not polled" in html


def test_channel_status_shows_the_sync_cursor_lag_and_last_error(client, agent):
    channel = ChannelFactory(code="shop-us", platform="shopify", api_credentials={"shop": "x.myshopify.com"})
    now = timezone.now()
    models.SyncCursor.objects.create(
        channel=channel,
        cursor=now - timedelta(minutes=7),
        last_success_at=now - timedelta(minutes=2),
        last_error="HTTP 429 from the platform",
        next_run_at=now + timedelta(minutes=3),
    )
    client.force_login(agent)

    response = client.get(CHANNELS)

    assert response.status_code == 200
    shown = response.context["rows"][0]
    assert shown["sync"].pollable and timedelta(minutes=6) < shown["sync"].lag < timedelta(minutes=8)
    assert shown["lag"].startswith("7 min")
    assert shown["sync"].next_run_at is not None and not shown["sync"].leased
    html = response.content.decode()
    assert "HTTP 429 from the platform" in html and "Backing off until" in html
    assert "Re-pull a window" not in html  # customer service may not re-pull
