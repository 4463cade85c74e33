import pytest

from catalog.models import Channel
from integrations.models import InboundMessage, InboundStatus
from integrations.tests.conftest import payload

pytestmark = pytest.mark.django_db


def test_admin_lists_messages_read_only_and_replays_failed_ones(
    admin_client, post_shopify, django_capture_on_commit_callbacks
):
    # the shop was switched off before the delivery was processed: it fails until switched on
    with django_capture_on_commit_callbacks(execute=False) as queued:
        post_shopify(payload("shopify_orders_create"))
    Channel.objects.filter(code="shop-us").update(is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        for callback in queued:
            callback()
    message = InboundMessage.objects.get()
    assert message.status == InboundStatus.FAILED
    url = "/admin/integrations/inboundmessage/"

    assert admin_client.get(url, {"q": "wh-1"}).status_code == 200
    assert admin_client.get(f"{url}{message.pk}/change/").status_code == 200
    assert admin_client.get(f"{url}add/").status_code == 403

    Channel.objects.filter(code="shop-us").update(is_active=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"action": "replay", "_selected_action": [message.pk]}, follow=True)

    assert response.status_code == 200
    message.refresh_from_db()
    assert message.status == InboundStatus.PROCESSED and message.order is not None
