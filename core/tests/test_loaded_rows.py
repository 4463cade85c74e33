"""Rows read fast give what Django gives: core.instances.loaded (the from_db of every model that
tracks states) and, on PostgreSQL, psycopg's C loaders for timestamps and jsonb (core.pg_loaders)."""

from datetime import UTC, datetime, timedelta, timezone
from unittest import mock

import pytest
from django.apps import apps
from django.db import connection
from django.db.models import Model
from psycopg.pq import Format

from core.models import ConcurrentTransitions
from core.pg_loaders import C_TEXT, JSONB_OID, TIMESTAMPTZ_OID, UtcTimestamptzLoader
from core.tests.test_instances import _same  # values, types, FSM states, _state
from fulfilment.models import Shipment
from inventory.models import Reservation
from orders.models import Order, OrderEvent
from orders.tests.factories import order_in_state

pytestmark = pytest.mark.django_db

DJANGOS = classmethod(Model.from_db.__func__)


def _both(queryset):
    ours = list(queryset.order_by("pk"))
    with mock.patch.object(queryset.model, "from_db", DJANGOS):
        theirs = list(queryset.order_by("pk"))
    assert len(ours) == len(theirs) > 0
    return zip(ours, theirs, strict=True)


@pytest.fixture
def routed():
    return order_in_state("allocated")


def test_every_model_tracking_states_reads_rows_fast():
    for model in apps.get_models():
        if issubclass(model, ConcurrentTransitions):
            assert model.from_db.__func__ is ConcurrentTransitions.from_db.__func__, model


@pytest.mark.parametrize("model", [Order, Shipment, Reservation])
def test_whole_rows_equal_djangos(routed, model):
    for ours, theirs in _both(model.objects.all()):
        _same(ours, theirs)
        assert (ours._state.db, ours._state.adding) == ("default", False)
        assert "_ConcurrentTransitionMixin__initial_states" in vars(ours)


def test_the_time_zone_field_is_converted_as_django_converts_it(routed):
    order = Order.objects.get(pk=routed.pk)
    assert order.channel_time_zone == Order(channel_time_zone=str(order.channel_time_zone)).channel_time_zone
    assert not isinstance(order.channel_time_zone, str)


def test_deferred_fields_stay_deferred(routed):
    for ours, theirs in _both(Order.objects.only("number", "status")):
        _same(ours, theirs)
        assert (
            ours.get_deferred_fields() == theirs.get_deferred_fields()
            and "buyer_note" in ours.get_deferred_fields()
        )
    with mock.patch.object(Order, "from_db", DJANGOS):
        expected = Order.objects.get(pk=routed.pk).buyer_note
    assert Order.objects.only("number").get(pk=routed.pk).buyer_note == expected  # read on first use


def test_a_row_without_its_state_is_djangos(routed):
    """Django reads the state at once for django-fsm's record of it; so does ours, through Django."""
    ours = Order.objects.only("number").get(pk=routed.pk)
    assert ours._ConcurrentTransitionMixin__initial_states == {"status": "allocated"}


def test_a_loaded_state_is_still_protected(routed):
    order = Order.objects.get(pk=routed.pk)
    with pytest.raises(AttributeError):
        order.status = "paid"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg's loaders: PostgreSQL")
def test_timestamps_load_in_c_with_djangos_values():
    with connection.cursor() as cursor:
        assert cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT) is UtcTimestamptzLoader
    shanghai = timezone(timedelta(hours=8))
    written = [
        datetime(2026, 12, 7, 20, 15, 30, 123456, tzinfo=shanghai),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT unnest(%s::timestamptz[])", [written])
        read = [row[0] for row in cursor.fetchall()]
    assert read == written
    assert all(value.tzinfo is UTC for value in read)  # as Django's loader gives them
    loader = UtcTimestamptzLoader(TIMESTAMPTZ_OID, connection.connection)
    assert UtcTimestamptzLoader.load(loader, b"1999-12-31 23:59:59.5+00") == datetime(
        1999, 12, 31, 23, 59, 59, 500000, tzinfo=UTC
    )  # the class's own method (Loader's contract) answers as the C one


@pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg's loaders: PostgreSQL")
def test_jsonb_loads_in_c_as_the_text_json_field_decodes():
    with connection.cursor() as cursor:
        assert cursor.cursor.adapters.get_loader(JSONB_OID, Format.TEXT) is C_TEXT
        cursor.execute("""SELECT '{"名": "礼品", "n": [1, 2.50]}'::jsonb""")
        assert cursor.fetchone()[0] == '{"n": [1, 2.50], "名": "礼品"}'


@pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg's loaders: PostgreSQL")
def test_the_orm_reads_the_same_times(routed):
    event = OrderEvent.objects.filter(order=routed).earliest("pk")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT extract(epoch FROM created_at) FROM orders_orderevent WHERE id = %s", [event.pk]
        )
        epoch = cursor.fetchone()[0]
    assert event.created_at.tzinfo is UTC
    micros = int(epoch * 1_000_000)  # numeric: exact, where a float could be a microsecond off
    assert event.created_at == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
