"""core.models.ConcurrentTransitions: django-fsm-2's ConcurrentTransitionMixin with each model's
state fields found once, for every model that tracks its states, and still refusing a stale save."""

from datetime import UTC, datetime

import pytest
from django.apps import apps
from django.db import transaction
from django_fsm import ConcurrentTransition, ConcurrentTransitionMixin, FSMFieldMixin

from catalog.models import Channel
from core.models import ConcurrentTransitions
from orders.models import Order


def test_every_model_tracking_states_finds_them_once():
    tracking = [m for m in apps.get_models() if issubclass(m, ConcurrentTransitionMixin)]
    assert len(tracking) >= 17
    for model in tracking:
        assert issubclass(model, ConcurrentTransitions), model  # a new model: use ours, not the mixin
        scanned = [field for field in model._meta.fields if isinstance(field, FSMFieldMixin)]
        instance = model()
        assert list(instance.state_fields) == scanned, model
        assert instance.state_fields is model().state_fields, model  # found once, not per instance


@pytest.mark.django_db
def test_a_stale_instance_still_cannot_save_over_a_new_state():
    channel = Channel.objects.create(platform="generic", code="web", name="Web", currency="CNY")
    order = Order.objects.create(
        channel=channel,
        external_id="1",
        number="C-1",
        currency="CNY",
        placed_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    stale = Order.objects.get(pk=order.pk)
    Order.objects.filter(pk=order.pk).update(status="paid")  # another worker moved it on
    stale.buyer_note = "changed"
    with pytest.raises(ConcurrentTransition), transaction.atomic():
        stale.save()
    fresh = Order.objects.get(pk=order.pk)
    fresh.buyer_note = "changed"
    fresh.save()
    assert Order.objects.get(pk=order.pk).buyer_note == "changed"
