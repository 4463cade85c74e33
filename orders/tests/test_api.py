import json
from urllib.parse import urlencode

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from orders.models import Customer, Order, OrderEvent, OrderLine
from orders.tests.factories import canonical_payload, ensure_master_data, order_in_state

pytestmark = pytest.mark.django_db
URL = "/api/v1/orders/"


@pytest.fixture
def api(agent):
    ensure_master_data()
    client = APIClient()
    client.force_authenticate(agent)
    return client


def test_create_then_repost_returns_the_same_order(api):
    payload = canonical_payload(external_id="T-10001")

    created = api.post(URL, payload, format="json")
    again = api.post(URL, payload, format="json")

    assert created.status_code == 201, created.data
    assert again.status_code == 200
    assert created.data["number"] == again.data["number"]
    assert created.data["status"] == "pending_payment"
    assert created.data["total"] == "212.80"
    assert [line["sku"] for line in created.data["lines"]] == ["SKU-1", "SKU-2"]
    assert Order.objects.count() == 1 and OrderLine.objects.count() == 2


def test_bad_body_names_each_field_and_stores_nothing(api):
    payload = canonical_payload(
        placed_at="yesterday",
        currency="yuan",
        shipping_address={"country": "China", "line1": "x"},
        lines=[
            {"sku": "SKU-1", "quantity": 1, "unit_price": "10.00"},
            {"sku": "NOPE", "quantity": 0, "unit_price": "-1"},
        ],
    )

    response = api.post(URL, payload, format="json")

    assert response.status_code == 400
    errors = response.data
    assert set(errors) == {"placed_at", "currency", "shipping_address", "lines"}
    assert set(errors["shipping_address"]) == {"country", "city"}
    assert set(errors["lines"]) == {1}  # only the bad line, by index
    assert set(errors["lines"][1]) == {"sku", "quantity", "unit_price"}
    assert "NOPE" in str(errors["lines"][1]["sku"][0])
    assert (Order.objects.count(), OrderLine.objects.count(), OrderEvent.objects.count()) == (0, 0, 0)
    assert Customer.objects.count() == 0


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"channel": "nowhere"}, "channel"),
        ({"lines": []}, "lines"),
        ({"discount": "9999.00"}, "discount"),
        ({"placed_at": "2099-01-01T00:00:00+08:00"}, "placed_at"),
        ({"priority": "urgent"}, "priority"),
        ({"buyer_ip": "999.1.1.1"}, "buyer_ip"),
    ],
)
def test_each_invalid_field_is_named(api, override, field):
    response = api.post(URL, canonical_payload(**override), format="json")
    assert response.status_code == 400
    assert field in response.data
    assert not Order.objects.exists()


def test_malformed_json_is_a_clear_400(api):
    response = api.post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON" in str(response.data["detail"])


def test_anonymous_requests_are_refused():
    assert APIClient().get(URL).status_code in (401, 403)


def test_token_auth_and_role_permissions(make_user):
    ensure_master_data()
    warehouse = make_user("warehouse")
    token = Token.objects.create(user=warehouse)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    assert client.get(URL).status_code == 200
    assert client.post(URL, canonical_payload(), format="json").status_code == 403
    assert not Order.objects.exists()


def test_list_filters_and_search(api):
    paid = order_in_state("paid", external_id="EXT-PAID", customer={"name": "A", "phone": "13912345678"})
    order_in_state("pending_payment", external_id="EXT-NEW")

    assert [o["number"] for o in api.get(URL, {"status": "paid"}).data["results"]] == [paid.number]
    assert api.get(URL, {"external_id": "EXT-NEW"}).data["count"] == 1
    assert api.get(URL, {"channel": "shop-cn"}).data["count"] == 2
    assert api.get(URL, {"search": "139-1234-5678"}).data["results"][0]["number"] == paid.number
    assert api.get(URL, {"search": paid.number.lower()}).data["count"] == 1


def test_detail_by_number_has_lines_and_events(api):
    order = order_in_state("paid")
    body = api.get(f"{URL}{order.number}/").data
    assert body["number"] == order.number
    assert body["shipping_address"]["city"] == "杭州市"
    assert [event["kind"] for event in body["events"]] == ["created", "transition"]
    assert body["events"][1]["actor"] == "system"
    assert [(r["sku"], r["quantity"], r["state"], r["warehouse"]) for r in body["reservations"]] == [
        ("SKU-1", 2, "committed", "WH-HZ"),
        ("SKU-2", 1, "committed", "WH-HZ"),
    ]
    assert api.get(f"{URL}SO00000000000000/").status_code == 404


def test_cancel_whole_order_and_lines(api):
    whole = order_in_state("paid")
    partly = order_in_state("paid")

    response = api.post(f"{URL}{whole.number}/cancel/", {"reason": "customer asked"}, format="json")
    assert response.status_code == 200 and response.data["status"] == "cancelled"

    lines = {"reason": "size", "lines": [{"sku": "SKU-1", "quantity": 1}]}
    response = api.post(f"{URL}{partly.number}/cancel/", lines, format="json")
    assert response.status_code == 200 and response.data["status"] == "paid"
    assert response.data["lines"][0]["cancelled_quantity"] == 1

    too_many = {"reason": "size", "lines": [{"sku": "SKU-1", "quantity": 5}]}
    response = api.post(f"{URL}{partly.number}/cancel/", too_many, format="json")
    assert response.status_code == 400 and "lines" in response.data

    again = api.post(f"{URL}{whole.number}/cancel/", {"reason": "again"}, format="json")
    assert again.status_code == 409


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_a_form_encoded_partial_cancel_is_refused_not_read_as_a_whole_cancel(api, encoding):
    """Issue #13: `lines` sent as form fields were not read at all, and a cancel without lines
    cancels the whole order. A body that nests lists is JSON only: 415, nothing cancelled."""
    order = order_in_state("paid")
    form = {"reason": "size", "lines": json.dumps([{"sku": "SKU-1", "quantity": 1}])}
    if encoding == "urlencoded":
        response = api.post(
            f"{URL}{order.number}/cancel/", urlencode(form), content_type="application/x-www-form-urlencoded"
        )
    else:
        response = api.post(f"{URL}{order.number}/cancel/", form, format="multipart")

    assert response.status_code == 415
    assert "application/json" in response.data["detail"]
    order.refresh_from_db()
    assert order.status == "paid"
    assert not order.lines.filter(cancelled_quantity__gt=0).exists()


@pytest.mark.parametrize(
    ("placed_from", "message"),
    [
        ("2026-01-01T00:00:00+16:00", "offset"),
        ("2026-01-01T00:00:00-23:59", "offset"),
        ("0001-01-01T00:00:00+01:00", "range"),
        ("9999-12-31T23:00:00-05:00", "range"),
        ("2026-13-01T00:00:00", "valid date/time"),
    ],
)
def test_an_unusable_time_filter_is_a_400_naming_the_filter(api, placed_from, message):
    order_in_state("paid")

    response = api.get(URL, {"placed_from": placed_from})

    assert response.status_code == 400
    assert set(response.data) == {"placed_from"}
    assert message in str(response.data["placed_from"][0])


def test_a_time_filter_takes_any_offset_a_zone_can_have(api):
    order = order_in_state("paid")
    placed = order.placed_at.astimezone(timezone.get_fixed_timezone(15 * 60 + 59))

    response = api.get(URL, {"placed_from": placed.isoformat(), "placed_to": "2099-01-01T00:00:00-15:59"})

    assert response.status_code == 200
    assert [row["number"] for row in response.data["results"]] == [order.number]


@pytest.mark.parametrize(
    ("placed_at", "message"),
    [("2026-01-01T00:00:00+20:00", "offset"), ("0001-01-01T00:00:00", "range")],
)
def test_an_order_time_that_utc_cannot_hold_is_a_400_naming_the_field(api, placed_at, message):
    response = api.post(URL, canonical_payload(placed_at=placed_at), format="json")

    assert response.status_code == 400
    assert set(response.data) == {"placed_at"}
    assert message in str(response.data["placed_at"][0])
    assert not Order.objects.exists()


def test_cancel_needs_the_permission(make_user):
    order = order_in_state("paid")
    client = APIClient()
    client.force_authenticate(make_user("warehouse"))
    response = client.post(f"{URL}{order.number}/cancel/", {"reason": "x"}, format="json")
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == "paid"


def test_schema_and_docs_are_served(client, agent):
    client.force_login(agent)
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/orders/{number}/cancel/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()


def test_a_lone_surrogate_in_a_code_is_a_400_naming_the_field_not_a_server_error(api):
    """json.loads turns a "\\ud800" escape into text no database can hold; the look-up of the lines'
    SKUs runs before the fields are validated and used to send it to the database (a 500)."""
    lines = [{"sku": "\ud800", "quantity": 1, "unit_price": "1.00"}]
    single = api.post(
        "/api/v1/orders/", data=json.dumps(canonical_payload(lines=lines)), content_type="application/json"
    )
    bad_channel = api.post(
        "/api/v1/orders/",
        data=json.dumps(canonical_payload(channel="\udfff")),
        content_type="application/json",
    )
    bulk = api.post(
        "/api/v1/orders/bulk/",
        data=json.dumps({"orders": [canonical_payload(lines=lines), canonical_payload()]}),
        content_type="application/json",
    )

    assert single.status_code == 400 and "sku" in single.json()["lines"]["0"]
    assert bad_channel.status_code == 400 and "channel" in bad_channel.json()
    assert bulk.status_code == 200
    assert [item["status"] for item in bulk.json()["results"]] == ["invalid", "created"]
