"""API tokens read with one prepared statement (core.api.authentication): the same answers and
messages as DRF's TokenAuthentication, with no caching — a deleted token or a deactivated user is
refused on the next request."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

URL = "/api/v1/orders/"


def _get(key: str, language: str = "en"):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}", HTTP_ACCEPT_LANGUAGE=language)
    return client.get(URL)


@pytest.mark.django_db
def test_a_token_authenticates_its_user_and_reads_the_permissions_version_with_one_statement(agent):
    token = Token.objects.create(user=agent)
    _get(token.key)  # the first request fills the permission cache
    with CaptureQueriesContext(connection) as with_token:
        assert _get(token.key).status_code == 200
    signed_in = APIClient()
    signed_in.force_authenticate(agent)
    with CaptureQueriesContext(connection) as without:
        assert signed_in.get(URL).status_code == 200
    # The token, its user and the permissions version together; without a token the version alone.
    assert len(with_token) == len(without)
    assert "authtoken_token" in with_token[0]["sql"] and "core_permissionsversion" in with_token[0]["sql"]
    assert "authtoken_token" not in without[0]["sql"] and "core_permissionsversion" in without[0]["sql"]


@pytest.mark.django_db
def test_unknown_deleted_and_inactive_are_refused_at_once_with_drfs_words(agent):
    token = Token.objects.create(user=agent)
    assert _get(token.key).status_code == 200

    assert _get("0" * 40).json() == {"detail": "Invalid token."}
    assert _get("nul\x00key").status_code in (400, 403)  # not a database error
    agent.is_active = False
    agent.save()
    refused = _get(token.key)
    # 403, not 401: session authentication comes first and names no WWW-Authenticate scheme (DRF)
    assert refused.status_code == 403 and refused.json() == {"detail": "User inactive or deleted."}
    agent.is_active = True
    agent.save()
    assert _get(token.key).status_code == 200
    token.delete()
    assert _get(token.key).json() == {"detail": "Invalid token."}
    assert _get(token.key, "zh-hans").json()["detail"] != "Invalid token."  # DRF's Chinese


@pytest.mark.django_db
def test_on_postgresql_the_token_statement_is_prepared_once_per_connection(agent):
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    token = Token.objects.create(user=agent)
    for _ in range(3):
        assert _get(token.key).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans + custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%FROM authtoken_token t JOIN%"],
        )
        assert cursor.fetchall() == [(3,)]
