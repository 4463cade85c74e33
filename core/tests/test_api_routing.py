"""API requests are routed before the desk's patterns and through one include (issue #18): an
include whose prefix matches but whose patterns do not costs Django a list of all it tried, which
was a tenth of a checkout lock request's CPU."""

import pytest
from django.urls import resolve


@pytest.mark.parametrize("path", ["/api/v1/", "/api/v1/orders/", "/api/v1/stock/locks/", "/api/v1/payments/"])
def test_an_api_path_tries_only_the_api_patterns(path):
    tried = resolve(path).tried
    assert {str(route[0].pattern) for route in tried} == {"api/v1/"}
