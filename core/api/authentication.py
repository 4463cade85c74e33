"""API token authentication that reads the token and its user with one prepared statement.

DRF's TokenAuthentication does the same read through the ORM (`select_related("user").get`): on a
single order POST, compiling that query cost more CPU than the database spent answering it, and
PostgreSQL planned it again every time (issue #18). Same answers, same messages (DRF's own,
translated by DRF's catalogue); nothing is cached, so a deleted token or a deactivated user is
refused on the very next request. The same statement reads the version of the permission
assignments (core.permission_cache), so the request's permission check needs no round trip."""

from functools import cache

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from core.permission_cache import VERSION_ATTRIBUTE, VERSION_SQL
from core.prepared import prepared_cursor
from core.raw_models import Columns, any_of, join


class PreparedTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        token = token_with_user(key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return token.user, token


class _TokenColumns:
    def __init__(self) -> None:
        user_model = get_user_model()
        self.token, self.user = Columns(Token, "t"), Columns(user_model, "u")
        self.sql = (
            f"SELECT {self.token.sql}, {self.user.sql}, {VERSION_SQL} FROM {Token._meta.db_table} t "
            f"JOIN {user_model._meta.db_table} u ON u.id = t.user_id WHERE t.key = %s"
        )


@cache
def _columns() -> _TokenColumns:
    return _TokenColumns()


def token_with_user(key: str) -> Token | None:
    """The token with this key, its user attached (with the permissions version), or None."""
    if "\x00" in key:  # no stored key has one, and PostgreSQL refuses it in a parameter
        return None
    c = _columns()
    with prepared_cursor() as cursor:
        cursor.execute(c.sql, [key])
        row = cursor.fetchone()
    if row is None:
        return None
    token = c.token.read(row, 0, connection)
    user = c.user.read(row, c.token.width, connection)
    setattr(user, VERSION_ATTRIBUTE, row[-1])
    join(token, "user", user)
    return token


def users_with_permissions_version(ids) -> dict:
    """{id: user} of these users, each with the version of the permission assignments read by the
    same prepared statement (the order intake writer checks the permissions of callers its web
    processes authenticated: one round trip, not two, and no queryset to compile)."""
    if not ids:
        return {}
    user = _columns().user
    condition, params = any_of(sorted(ids))
    with prepared_cursor() as cursor:
        cursor.execute(
            f"SELECT {user.sql}, {VERSION_SQL} FROM {user.model._meta.db_table} u WHERE u.id {condition}",
            params,
        )
        rows = cursor.fetchall()
    found = {}
    for row in rows:
        one = user.read(row, 0, connection)
        setattr(one, VERSION_ATTRIBUTE, row[-1])
        found[one.pk] = one
    return found
