"""POST /api/v1/orders/bulk/ (issue #18) and the lean single POST: per-item results, one bad order
never failing the others, all-or-nothing on a database failure, and the single POST's answer
unchanged by building it from the order in hand."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.errors import TransitionRefused
from core.tests.deadlocks import deadlocking_once
from inventory.models import Reservation
from orders import intake, selectors, services
from orders.api.serializers import OrderDetailOutput
from orders.models import Customer, Order, OrderEvent, OrderLine
from orders.tests.factories import SKUFactory, canonical_payload, ensure_master_data, receive

pytestmark = pytest.mark.django_db
BULK = "/api/v1/orders/bulk/"
SINGLE = "/api/v1/orders/"


@pytest.fixture
def api(agent):
    ensure_master_data()
    client = APIClient()
    client.force_authenticate(agent)
    return client


def at(hours_ago: float) -> str:
    return (timezone.now() - timedelta(hours=hours_ago)).isoformat()


def as_json(body):
    return json.loads(json.dumps(body, default=str))


def test_mixed_valid_and_invalid_orders_answer_each_and_store_only_the_valid(api):
    bad = canonical_payload(
        external_id="BAD-1",
        currency="yuan",
        lines=[{"sku": "SKU-1", "quantity": 1, "unit_price": "10.00"}, {"sku": "NOPE", "quantity": 0}],
    )
    payloads = [
        canonical_payload(external_id="OK-1"),
        bad,
        "not an order",
        canonical_payload(external_id="OK-2"),
    ]

    response = api.post(BULK, {"orders": payloads}, format="json")

    assert response.status_code == 200, response.data
    results = as_json(response.data["results"])
    assert [(r["index"], r["external_id"], r["status"]) for r in results] == [
        (0, "OK-1", "created"),
        (1, "BAD-1", "invalid"),
        (2, None, "invalid"),
        (3, "OK-2", "created"),
    ]
    stored = dict(Order.objects.values_list("external_id", "number"))
    assert stored == {"OK-1": results[0]["number"], "OK-2": results[3]["number"]}
    assert "number" not in results[1] and "errors" not in results[0]
    # the invalid order's errors are the single POST's 400 body for it
    single = api.post(SINGLE, bad, format="json")
    assert single.status_code == 400
    assert results[1]["errors"] == as_json(single.data)
    assert set(results[1]["errors"]["lines"]["1"]) == {"sku", "unit_price", "quantity"}
    assert "non_field_errors" in results[2]["errors"]
    assert (response.data["created"], response.data["invalid"], response.data["updated"]) == (2, 2, 0)
    assert OrderLine.objects.count() == 4  # two lines each, of the two valid orders only


@pytest.mark.parametrize(
    ("body", "key"),
    [({"orders": []}, "orders"), ({"orders": "x"}, "orders"), ({}, "orders"), ([], "non_field_errors")],
)
def test_a_body_that_is_not_a_list_of_orders_is_a_400_naming_it(api, body, key):
    response = api.post(BULK, body, format="json")
    assert response.status_code == 400
    assert key in response.data


def test_more_than_1000_orders_are_refused_before_anything_is_read(api):
    payloads = [canonical_payload(external_id=f"X-{n}") for n in range(1_001)]

    with CaptureQueriesContext(connection) as queries:
        response = api.post(BULK, {"orders": payloads}, format="json")

    assert response.status_code == 413
    assert "1,000" in response.data["detail"] and "1,001" in response.data["detail"]
    assert not [q for q in queries.captured_queries if "orders_order" in q["sql"]]
    assert not Order.objects.exists()


def test_a_repeat_inside_one_request_is_applied_in_order(api):
    first = canonical_payload(external_id="DUP-1", updated_at=at(3))
    same = dict(first)
    newer = {
        **first,
        "updated_at": at(2),
        "shipping_address": {**first["shipping_address"], "line1": "新地址 1 号"},
    }
    older = {**first, "updated_at": at(5)}

    response = api.post(BULK, {"orders": [first, same, newer, older]}, format="json")

    results = response.data["results"]
    assert [r["status"] for r in results] == ["created", "unchanged", "updated", "unchanged"]
    assert len({r["number"] for r in results}) == 1
    order = Order.objects.get()
    assert order.ship_line1 == "新地址 1 号"  # the newer version won, the older after it did not
    assert order.lines.count() == 2


def test_created_updated_and_unchanged_against_stored_orders(api):
    stored = canonical_payload(external_id="KNOWN-A", updated_at=at(4))
    other = canonical_payload(external_id="KNOWN-B", updated_at=at(4))
    assert api.post(SINGLE, stored, format="json").status_code == 201
    assert api.post(SINGLE, other, format="json").status_code == 201
    newer = {**other, "updated_at": at(1), "note": "leave at the door"}

    response = api.post(
        BULK, {"orders": [stored, newer, canonical_payload(external_id="NEW-C")]}, format="json"
    )

    assert [r["status"] for r in response.data["results"]] == ["unchanged", "updated", "created"]
    assert Order.objects.get(external_id="KNOWN-B").buyer_note == "leave at the door"
    assert Order.objects.count() == 3
    assert (response.data["created"], response.data["updated"], response.data["unchanged"]) == (1, 1, 1)


def test_a_known_order_refusing_its_newer_version_does_not_fail_the_others(api, monkeypatch):
    known = canonical_payload(external_id="STUCK", updated_at=at(4))
    assert api.post(SINGLE, known, format="json").status_code == 201
    apply_version = services.order_apply_platform_version

    def refuse_stuck(order, data, actor):
        if order.external_id == "STUCK":
            raise TransitionRefused("The order is packed: the platform's change cannot be applied.")
        return apply_version(order, data, actor)

    monkeypatch.setattr(services, "order_apply_platform_version", refuse_stuck)
    payloads = [canonical_payload(external_id="FINE-1"), {**known, "updated_at": at(1)}, canonical_payload()]

    response = api.post(BULK, {"orders": payloads}, format="json")

    assert response.status_code == 200
    results = response.data["results"]
    assert [r["status"] for r in results] == ["created", "refused", "created"]
    assert "packed" in str(results[1]["errors"]["detail"][0])
    assert Order.objects.count() == 3  # the two new ones, and the known one as it was
    assert OrderLine.objects.count() == 6


def test_a_database_failure_mid_batch_stores_nothing_and_answers_json(api, monkeypatch):
    from inventory import reservations

    def failing_reserve(demands, **_options):  # after the orders, lines and events were inserted
        with connection.cursor() as cursor:
            # a real error from the database, on SQLite as on PostgreSQL (where it aborts the
            # transaction); SQLite answers 1 / 0 with NULL, so no division by zero
            cursor.execute("SELECT * FROM no_such_table")

    monkeypatch.setattr(reservations, "reserve_orders", failing_reserve)
    payloads = [canonical_payload(external_id=f"F-{n}") for n in range(3)]

    response = api.post(BULK, {"orders": payloads}, format="json")

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"detail"} and "nothing of it was stored" in body["detail"]
    assert "Traceback" not in response.content.decode()
    assert (Order.objects.count(), OrderLine.objects.count(), OrderEvent.objects.count()) == (0, 0, 0)
    assert (Customer.objects.count(), Reservation.objects.count()) == (0, 0)


@pytest.mark.django_db(transaction=True)  # the request's transaction is the outermost one
def test_a_batch_that_deadlocked_runs_again_and_stores_each_order_once(api, monkeypatch):
    stand_in, calls = deadlocking_once(intake.order_ingest_batch)
    monkeypatch.setattr(intake, "order_ingest_batch", stand_in)
    payloads = [canonical_payload(external_id=f"DL-{n}") for n in range(3)]

    response = api.post(BULK, {"orders": payloads}, format="json")

    assert response.status_code == 200, response.content
    assert calls == [3, 3]
    assert [r["status"] for r in response.json()["results"]] == ["created"] * 3
    assert (Order.objects.count(), OrderLine.objects.count()) == (3, 3 * len(payloads[0]["lines"]))
    assert Reservation.objects.count() == 3 * len(payloads[0]["lines"])


def test_a_database_failure_that_is_not_transient_is_not_run_again(api, monkeypatch):
    calls = []

    def failing(**kwargs):
        calls.append(1)
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")

    monkeypatch.setattr(intake, "order_ingest_batch", failing)

    response = api.post(BULK, {"orders": [canonical_payload(external_id="NT-1")]}, format="json")

    assert response.status_code == 503
    assert calls == [1]


def test_permissions_and_token_auth(make_user):
    ensure_master_data()
    body = {"orders": [canonical_payload()]}
    assert APIClient().post(BULK, body, format="json").status_code in (401, 403)

    warehouse = APIClient()
    warehouse.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=make_user('warehouse')).key}")
    assert warehouse.post(BULK, body, format="json").status_code == 403

    agent = APIClient()
    agent.credentials(
        HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=make_user('customer_service')).key}"
    )
    response = agent.post(BULK, body, format="json")
    assert response.status_code == 200 and response.data["created"] == 1
    assert Order.objects.count() == 1


def test_form_bodies_are_refused(api):
    response = api.post(BULK, {"orders": "[]"}, format="multipart")
    assert response.status_code == 415


def test_queries_do_not_grow_with_the_number_of_orders(api):
    skus = [SKUFactory(code=f"BULK-{n}") for n in range(40)]
    for sku in skus:
        receive(sku, 100)

    def payloads(prefix, count):
        return [
            canonical_payload(
                external_id=f"{prefix}-{n}",
                lines=[
                    {"sku": skus[(n + k) % 40].code, "quantity": 1, "unit_price": "10.00"} for k in range(3)
                ],
            )
            for n in range(count)
        ]

    counts = []
    for prefix, count in (("WARM", 1), ("Q5", 5), ("Q40", 40)):
        with CaptureQueriesContext(connection) as queries:
            response = api.post(BULK, {"orders": payloads(prefix, count)}, format="json")
        assert response.data["created"] == count
        counts.append(len(queries.captured_queries))
    assert counts[1] == counts[2], counts  # (the first request of all creates the day's sequence)
    assert Reservation.objects.filter(order__external_id__startswith="Q40-").count() == 120


# --- the lean single POST -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"paid": True},
        {"paid": True, "lines": [{"sku": "SKU-1", "quantity": 5_000, "unit_price": "1.00"}]},  # short: held
        {"cancelled": True},
        {"platform_hold": "risk check"},
        {"shipping_address": None},
    ],
    ids=["pending", "paid", "short-of-stock", "cancelled", "platform-hold", "no-address"],
)
def test_the_single_post_answers_as_a_fresh_read_of_the_order_would(api, overrides):
    payload = canonical_payload(**overrides)
    if payload.get("shipping_address") is None:
        payload.pop("shipping_address")

    with CaptureQueriesContext(connection) as queries:
        response = api.post(SINGLE, payload, format="json")

    assert response.status_code == 201, response.data
    fresh = OrderDetailOutput(selectors.order_detail(response.data["number"])).data
    assert as_json(response.data) == as_json(fresh)
    sql = [q["sql"] for q in queries.captured_queries]
    assert not [s for s in sql if s.startswith('SELECT DISTINCT "orders_shipment"')]  # no parcel yet
    assert not [s for s in sql if s.startswith('SELECT "orders_order"."id", "orders_order"."created_at"')]


def test_the_single_post_repeat_still_answers_200_with_the_current_order(api):
    payload = canonical_payload(updated_at=at(3))
    created = api.post(SINGLE, payload, format="json")
    again = api.post(SINGLE, {**payload, "updated_at": at(1), "note": "ring twice"}, format="json")

    assert (created.status_code, again.status_code) == (201, 200)
    assert again.data["number"] == created.data["number"]
    assert again.data["buyer_note"] == "ring twice"
    assert [e["kind"] for e in again.data["events"]][-1] == "platform_update"


def test_the_single_post_null_body_is_the_same_400_as_before(api):
    response = api.post(SINGLE, "null", content_type="application/json")
    assert response.status_code == 400
    assert str(response.data["non_field_errors"][0]) == "No data provided"
    assert not Order.objects.exists()


def test_the_valid_orders_go_through_one_call_of_the_batch_intake(api, monkeypatch):
    calls = []
    original = intake.order_ingest_batch

    def counting(**kwargs):
        calls.append(len(kwargs["items"]))
        return original(**kwargs)

    monkeypatch.setattr(intake, "order_ingest_batch", counting)
    payloads = [canonical_payload() for _ in range(4)] + [canonical_payload(currency="?")]

    response = api.post(BULK, {"orders": payloads}, format="json")

    assert (response.data["created"], response.data["invalid"]) == (4, 1)
    assert calls == [4]
