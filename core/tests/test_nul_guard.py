"""A NUL character anywhere in a request is a 400 that says where, never a database error."""

import json

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.test import APIClient

from core.nul_characters import NulCharacterGuardMiddleware, json_path_to_nul
from orders.tests.factories import order_in_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(agent):
    client = APIClient()
    client.force_authenticate(agent)
    return client


def test_nul_in_an_api_path_is_a_400_not_a_failed_lookup(api):
    order = order_in_state("paid")

    response = api.get(f"/api/v1/orders/{order.number}%00/")

    assert response.status_code == 400
    assert response.json() == {"detail": "The URL path contains a NUL character."}


def test_nul_in_a_query_parameter_names_the_parameter(api, finance_user):
    api.force_authenticate(finance_user)

    response = api.get("/api/v1/payments/", {"order_number": "SO1\x00"})

    assert response.status_code == 400
    assert response.json() == {"order_number": ["Null characters are not allowed."]}


def test_nul_in_a_json_value_names_its_path_in_the_body(api):
    order = order_in_state("paid")
    body = (
        '{"reason": "ok", "lines": [{"sku": "SKU-1", "quantity": 1}, {"sku": "SKU-\\u0000", "quantity": 1}]}'
    )

    response = api.post(f"/api/v1/orders/{order.number}/cancel/", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"lines[1].sku": ["Null characters are not allowed."]}
    order.refresh_from_db()
    assert order.status == "paid"


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul(api):
    order = order_in_state("paid")
    body = json.dumps({"reason": "path C:\\u0000 is fine"})  # the JSON text holds \\u0000

    response = api.post(f"/api/v1/orders/{order.number}/cancel/", body, content_type="application/json")

    assert response.status_code == 200
    assert response.json()["cancel_reason"] == "path C:\\u0000 is fine"


def test_nul_in_a_desk_form_post_is_a_400_naming_the_field(client, agent):
    order = order_in_state("paid")
    client.force_login(agent)

    response = client.post(reverse("orders:note", args=[order.number]), {"text": "hello\x00"})

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == "text: Null characters are not allowed."


def test_nul_in_a_desk_query_string_is_a_400(client, agent):
    client.force_login(agent)

    response = client.get(reverse("orders:list"), {"search": "a\x00b"})

    assert response.status_code == 400
    assert "search" in response.content.decode()


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"HTTP_AUTHORIZATION": "Token abc\x00"}, "The Authorization header contains a NUL character."),
        ({"HTTP_COOKIE": 'sessionid="ab\\000cd"'}, "A cookie contains a NUL character."),
    ],
)
def test_nul_in_a_header_or_cookie_is_refused_before_any_lookup(client, headers, expected):
    response = client.get("/api/v1/orders/", **headers)

    assert response.status_code == 400
    assert response.json() == {"detail": expected}


def test_the_path_to_a_nul_is_found_however_deep_and_in_document_order():
    deep = "\x00"
    for _ in range(5000):
        deep = [deep]
    assert json_path_to_nul({"a": [1, {"b": "x\x00"}], "c": "\x00"}) == "a[1].b"
    assert json_path_to_nul({"k\x00": 1}) == "body"
    assert json_path_to_nul(deep).endswith("[0][0]")
    assert json_path_to_nul({"a": ["fine"]}) is None


def test_a_webhook_body_is_left_to_its_view_which_keeps_the_raw_message():
    """A signed delivery holding an escaped NUL is stored as it came (and fails in processing,
    visibly), not bounced at the door where the platform may give up on it."""
    guard = NulCharacterGuardMiddleware(lambda request: HttpResponse())
    body = r'{"note": "a\u0000b"}'
    request = RequestFactory().post("/integrations/webhooks/x/", body, content_type="application/json")

    def desk_view(request):
        return HttpResponse()

    assert guard.process_view(request, csrf_exempt(desk_view), (), {}) is None
    refused = guard.process_view(request, desk_view, (), {})
    assert refused.status_code == 400 and refused.content.decode() == "note: Null characters are not allowed."
