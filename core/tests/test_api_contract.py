"""What the API promises in its schema and in its error answers."""

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from core.json_bodies import MAX_JSON_DEPTH
from orders.tests.factories import make_order, order_in_state


@pytest.fixture
def api(agent):
    client = APIClient()
    client.force_authenticate(agent)
    return client


def test_the_schema_validates_with_no_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def test_check_deploy_reports_nothing_about_the_schema():
    messages = run_checks(include_deployment_checks=True)
    assert [m for m in messages if m.id.startswith("drf_spectacular")] == []


def test_every_operation_documents_the_errors_it_can_answer():
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            documented = set(operation["responses"])
            expected = {"400", "403"}
            expected |= {"404"} if "{" in path or method == "get" and "page" in str(operation) else set()
            expected |= {"415"} if method == "post" else set()
            assert expected <= documented, (method, path, documented)
    conflicts = {
        ("post", "/api/v1/orders/{number}/cancel/"),
        ("post", "/api/v1/payments/"),
        ("post", "/api/v1/stock/locks/"),
        ("post", "/api/v1/stock/movements/"),
    }
    assert all("409" in paths[path][method]["responses"] for method, path in conflicts)


def test_bodies_that_nest_lists_are_documented_as_json_only():
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    for path in ("/api/v1/orders/", "/api/v1/orders/{number}/cancel/", "/api/v1/stock/locks/"):
        assert list(paths[path]["post"]["requestBody"]["content"]) == ["application/json"], path


@pytest.mark.django_db
def test_json_nested_5000_deep_is_a_400_naming_the_body(api):
    body = "[" * 5000 + "]" * 5000

    response = api.post("/api/v1/orders/", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"detail": f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep."}


@pytest.mark.django_db
def test_json_just_past_the_depth_limit_is_refused_and_at_it_read(api):
    def nested(levels):  # an object whose `lines` holds arrays inside one another
        return '{"reason": "x", "lines": ' + "[" * (levels - 1) + "]" * (levels - 1) + "}"

    order = order_in_state("paid")
    url = f"/api/v1/orders/{order.number}/cancel/"

    too_deep = api.post(url, nested(MAX_JSON_DEPTH + 1), content_type="application/json")
    at_limit = api.post(url, nested(MAX_JSON_DEPTH), content_type="application/json")

    assert too_deep.status_code == 400 and "nested" in too_deep.json()["detail"]
    assert at_limit.status_code == 400 and "lines" in at_limit.json()  # read, then validated


@pytest.mark.django_db
def test_a_json_only_endpoint_refuses_a_form_in_plain_words(api, admin_user):
    api.force_authenticate(admin_user)

    response = api.post("/api/v1/stock/locks/", {"channel": "shop-cn", "reference": "r"})

    assert response.status_code == 415
    assert response.json() == {
        "detail": "This operation reads application/json bodies, not “multipart/form-data”."
    }


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/nothing-here/", "/api/v1/orders/SO.1.2/", "/api/v1/orders/a%2Fb/"])
def test_an_api_path_that_matches_nothing_answers_json(api, path):
    response = api.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"detail"}


@pytest.mark.django_db
def test_api_times_are_utc_even_for_a_date_before_time_zones(api):
    """Found by the fuzzer: a 1011 date in Asia/Shanghai has the local mean time offset
    +08:05:43, which RFC 3339 (the schema's date-time) cannot write."""
    order = make_order(placed_at="1011-02-10T00:19:16Z")

    body = api.get(f"/api/v1/orders/{order.number}/").json()

    assert body["placed_at"] == "1011-02-10T00:19:16Z"
    assert body["created_at"].endswith("Z")
