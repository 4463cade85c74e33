"""The canonical order's fast validation (core.plain_validation) gives DRF's result or steps
aside: it never accepts what DRF refuses, and what it accepts is exactly what DRF returns."""

import copy
import random
from datetime import datetime
from decimal import Decimal

import pytest
from django.db.models import Model
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from core import plain_validation
from orders.canonical import CanonicalOrderInput, item_resolver
from orders.tests.factories import canonical_payload, ensure_master_data

pytestmark = pytest.mark.django_db

ODD_VALUES = [
    "", "   ", "  padded  ", "x" * 70, "x" * 300, "a\x00b", "\ud800", 0, 3, -1, 2.5, 3.0, True, False, None,
    "19.9", "19.999", "-5.00", "+5", "1e3", " 12.50 ", "007.10", "NaN", "abc", [], {}, [1], "normal", "urgent",
    "CN", "cn", "CNY", "2026-02-16T09:30:00+08:00", "2026-02-16T09:30:00", 10**20, "12345678901234567.00",
    "0.001", "100000", 100_000, 100_001, "SKU-1", "SKU-404", "merchant", "platform", "1.2.3.4", "a@b.cn",
]  # fmt: skip
ALLOCATIONS = [{"amount": "3.00", "funded_by": "platform", "title": "跨店满减"}, {"amount": "2.00"}]


def normal(value):
    """A comparable form: Decimals by their digits (19.9 and 19.90 differ), models by pk."""
    if isinstance(value, dict):
        return {key: normal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normal(item) for item in value]
    if isinstance(value, Decimal):
        return ("decimal", str(value))
    if isinstance(value, Model):
        return (type(value).__name__, value.pk)
    if isinstance(value, datetime):
        return ("datetime", value.isoformat())
    return value


def through_drf(payload):
    serializer = CanonicalOrderInput(context={"item_resolver": item_resolver([payload])})
    try:
        return normal(serializers.Serializer.run_validation(serializer, copy.deepcopy(payload)))
    except ValidationError:
        return "refused"


def through_fast_path(payload):
    serializer = CanonicalOrderInput(context={"item_resolver": item_resolver([payload])})
    serializer._prepare(payload)
    try:
        return normal(plain_validation.validated(serializer, copy.deepcopy(payload)))
    except plain_validation.Fallback:
        return "fallback"


def mutable_parts(payload: dict) -> list[dict]:
    """The order and every nested object of it still an object after earlier changes."""
    parts = [payload]
    for key in ("customer", "shipping_address"):
        if isinstance(payload.get(key), dict):
            parts.append(payload[key])
    lines = payload.get("lines")
    for line in lines if isinstance(lines, list) else []:
        if isinstance(line, dict):
            parts.append(line)
            allocations = line.get("discount_allocations")
            if isinstance(allocations, list):
                parts.extend(a for a in allocations if isinstance(a, dict))
    return parts


def variants(rng: random.Random, count: int):
    base = canonical_payload(
        tags=["vip"],
        buyer_ip="203.0.113.7",
        paid=True,
        lines=[
            {"sku": "SKU-1", "quantity": 2, "unit_price": "59.90", "discount_allocations": ALLOCATIONS},
            {"sku": "SKU-2", "quantity": 1, "unit_price": "100", "tax_rate": "0.13", "title": " 礼盒 "},
        ],
    )
    yield base
    for _ in range(count):
        payload = copy.deepcopy(base)
        for _change in range(rng.randint(1, 3)):
            target = rng.choice(mutable_parts(payload))
            key = rng.choice([*target, "unknown_key"])
            if rng.random() < 0.15:
                target.pop(key, None)
            else:
                target[key] = rng.choice(ODD_VALUES)
        yield payload


def test_the_fast_path_gives_drfs_result_or_steps_aside():
    ensure_master_data()
    outcomes = {"same": 0, "fallback_on_refusal": 0, "fallback_on_valid": 0}
    for payload in variants(random.Random(18), 1500):
        drf, fast = through_drf(payload), through_fast_path(payload)
        if fast == "fallback":
            outcomes["fallback_on_refusal" if drf == "refused" else "fallback_on_valid"] += 1
        else:
            assert drf != "refused", f"the fast path accepted what DRF refuses: {payload}"
            assert fast == drf, payload
            outcomes["same"] += 1
    # The test means something: most changed orders stay valid, many are refused.
    assert outcomes["same"] > 300 and outcomes["fallback_on_refusal"] > 300, outcomes


def test_the_plain_order_takes_the_fast_path_and_a_refused_one_gets_drfs_errors():
    ensure_master_data()
    payload = canonical_payload()
    assert through_fast_path(payload) == through_drf(payload) != "refused"

    bad = canonical_payload(currency="yuan", lines=[{"sku": "SKU-1", "quantity": 0, "unit_price": "1.999"}])
    serializer = CanonicalOrderInput(data=bad)
    assert not serializer.is_valid()
    assert set(serializer.errors) == {"currency", "lines"}
    assert set(serializer.errors["lines"][0]) == {"quantity", "unit_price"}
