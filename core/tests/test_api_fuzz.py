"""The API keeps its published contract under generated input: schemathesis reads the live
OpenAPI schema and sends every operation valid and invalid requests, in-process, as a superuser.
No answer may be a server error, and every answer (status, content type, body) must be one the
schema documents. Derandomized and bounded: the same cases on every run."""

import json
from datetime import timedelta

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from catalog.models import Channel
from inventory import locks
from inventory.models import SKU, StockPool
from orders.tests.factories import order_in_state

pytestmark = pytest.mark.django_db

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_MODE = 25  # per operation, valid and invalid each: about 500 requests in all


def operation_labels() -> list[str]:
    """Every operation the schema publishes, read at collection time (no database needed)."""
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return [f"{method.upper()} {path}" for path, methods in paths.items() for method in methods]


@pytest.fixture
def live_schema():
    """The schema the server publishes, called in-process. Requests then go straight into the
    WSGI handler inside the test's transaction, as Django's test client sends them: the
    per-request connection clean-up would otherwise close that connection mid-test."""
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = schemathesis.openapi.from_dict(json.loads(response.content))
    schema.app = get_wsgi_application()
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield schema
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def known_good(django_user_model) -> dict:
    """A superuser's token, and values that pass for some fields: codes of rows that exist
    (channel shop-cn, warehouse WH-HZ, SKU-1..3 with stock, an order that can still be cancelled
    and one shipped, a checkout lock) and a few the schema cannot express (a recent time, a real
    currency, an amount not negative), so that generated requests get past their lookups and on
    to the services too."""
    superuser = django_user_model.objects.create_superuser("fuzz", password="pw-for-tests-1")
    recently = (timezone.now() - timedelta(hours=2)).isoformat()
    numbers = [order_in_state("paid").number, order_in_state("shipped").number]
    channel = Channel.objects.get(code="shop-cn")
    skus = list(SKU.objects.filter(code__in=["SKU-1", "SKU-2", "SKU-3"]).order_by("code"))
    held = locks.stock_lock(
        locks.LockRequest(channel_id=channel.pk, lines=[(skus[0].pk, 1)], reference="cart")
    )
    return {
        "token": Token.objects.create(user=superuser).key,
        "values": {
            "number": numbers,
            "order_number": numbers,
            "channel": [channel.code],
            "sku": [sku.code for sku in skus],
            "warehouse": ["WH-HZ"],
            "pool": list(StockPool.objects.order_by("code").values_list("code", flat=True)),
            "fingerprints": [[reservation.fingerprint for reservation in held.locks]],
            "lot": [""],
            "placed_at": [recently],
            "paid_at": [recently],
            "currency": ["CNY"],
            "country": ["CN"],
            **dict.fromkeys(["unit_price", "amount"], ["10.00", "0.01"]),
            **dict.fromkeys(["discount", "shipping_fee", "platform_commission", "fee"], ["0.00"]),
            "buyer_ip": [None, "203.0.113.9"],
        },
    }


def with_known_good(value, draw, good: dict):
    """The generated value with most of the fields named in `good` given a good value, at any
    depth (the rest keep what was generated)."""
    if isinstance(value, dict):
        return {
            key: draw(st.sampled_from(good[key]))
            if key in good and draw(st.integers(0, 3))
            else with_known_good(item, draw, good)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [with_known_good(item, draw, good) for item in value]
    return value


@pytest.mark.parametrize("label", operation_labels())
def test_operation_keeps_its_contract(label, live_schema, known_good):
    method, path = label.split(" ", 1)
    operation = live_schema[path][method]
    headers = {"Authorization": f"Token {known_good['token']}"}
    good = known_good["values"]

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @settings(
            max_examples=EXAMPLES_PER_MODE,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
        def run(case, data):
            for part in ("path_parameters", "query", "body"):
                if isinstance(getattr(case, part), dict):
                    setattr(case, part, with_known_good(getattr(case, part), data.draw, good))
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            # Only where no input can break the schema (a lone free-text path parameter).
            assert mode == GenerationMode.NEGATIVE, label
