"""Permissions read once per user and version of the permission assignments, kept in the process,
instead of two queries on every request — a third of the queries of a checkout lock or a single
order POST (issue #18).

The version is a number in the database (core.PermissionsVersion), replaced by a new random one in
the same transaction as any change to who holds what: a user's groups or own permissions, a group's
permissions, a user saved or deleted, a group or permission deleted. A request reads the version
before it reads any permission, so permissions remembered under the version it read are never older
than that version; a change is in force on the very next request in every process, and no cache
can be down. An API request reads the version with its token in one statement
(core.api.authentication), so its permission check costs no round trip at all; a signed-in desk
request reads it with one small query. Random, not counted up: a rolled-back transaction, a
restored backup or a test's rollback brings an old number back only with the assignments it named."""

import secrets

from django.contrib.auth.backends import BaseBackend, ModelBackend
from django.db import DEFAULT_DB_ALIAS, connections

from core.models import PermissionsVersion

VERSION_ATTRIBUTE = "_permissions_version"  # set on the user by whoever read the version with it
TABLE = PermissionsVersion._meta.db_table
VERSION_SQL = f"(SELECT version FROM {TABLE} WHERE id = 1)"  # NULL without the row: nothing remembered
_REPLACE_SQL = f"INSERT INTO {TABLE} (id, version) VALUES (1, %s) ON CONFLICT (id) DO UPDATE SET version = %s"
_REMEMBERED_AT_MOST = 10_000  # (user, version) pairs per process; superseded versions are never read again

_remembered: dict[tuple[int, int], frozenset[str]] = {}


def permissions_changed(*, action: str = "", update_fields=None, using=None, **_signal) -> None:
    """Connected to the assignment changes (core.apps): infrastructure, not domain logic. In the
    change's own transaction, so the new version and the new assignments commit together (or
    neither)."""
    if action.startswith("pre_") or set(update_fields or ()) == {"last_login"}:  # a sign-in saves the user
        return
    with connections[using or DEFAULT_DB_ALIAS].cursor() as cursor:
        version = new_version()
        cursor.execute(_REPLACE_SQL, [version, version])


def new_version() -> int:
    return secrets.randbits(62) + 1  # positive, and within a signed 64-bit column


def current_version() -> int | None:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(f"SELECT {VERSION_SQL}")
        return cursor.fetchone()[0]


class CachedPermissionsBackend(ModelBackend):
    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):  # once per request, as ModelBackend does
            version = getattr(user_obj, VERSION_ATTRIBUTE, None)
            if version is None:
                version = current_version()
            key = (user_obj.pk, version)
            permissions = _remembered.get(key)
            if permissions is None:
                permissions = frozenset(BaseBackend.get_all_permissions(self, user_obj))
                if version is not None:
                    if len(_remembered) >= _REMEMBERED_AT_MOST:
                        _remembered.clear()
                    _remembered[key] = permissions
            user_obj._perm_cache = permissions
        return user_obj._perm_cache
