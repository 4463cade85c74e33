"""Hot endpoints keep their input serializers per thread *and language*: DRF words min/max
messages when it builds a field, so an instance built for an English request answered the next
Chinese caller in English (found in review of #18, order POST and checkout lock)."""

import pytest
from rest_framework.test import APIClient

from orders.tests.factories import canonical_payload, ensure_master_data


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= char <= "\u9fff" for char in text)


def _client(user) -> APIClient:
    ensure_master_data()
    client = APIClient()
    client.force_authenticate(user)
    return client


def _post(api, url, body, language):
    return api.post(url, body, format="json", HTTP_ACCEPT_LANGUAGE=language)


@pytest.mark.django_db
def test_an_order_refused_in_english_then_in_chinese_is_worded_in_each(agent):
    api = _client(agent)
    bad = canonical_payload(lines=[{"sku": "SKU-1", "quantity": 0, "unit_price": "-1"}])
    english = _post(api, "/api/v1/orders/", bad, "en")
    chinese = _post(api, "/api/v1/orders/", bad, "zh-hans")
    assert english.status_code == chinese.status_code == 400
    line = chinese.json()["lines"]["0"]
    assert _has_chinese(line["quantity"][0]) and _has_chinese(line["unit_price"][0])
    assert not _has_chinese(str(english.json()))


@pytest.mark.django_db
def test_a_lock_refused_in_english_then_in_chinese_is_worded_in_each(manager):
    api = _client(manager)
    bad = {"channel": "shop-cn", "reference": "cart", "lines": [{"sku": "SKU-1", "quantity": 0}]}
    english = _post(api, "/api/v1/stock/locks/", bad, "en")
    chinese = _post(api, "/api/v1/stock/locks/", bad, "zh-hans")
    assert english.status_code == chinese.status_code == 400
    assert _has_chinese(str(chinese.json())) and not _has_chinese(str(english.json()))
