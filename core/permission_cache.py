"""Permissions read once per user and version of the permission assignments, kept in the cache
(CACHE_URL: shared by every process in production), instead of two queries on every request —
a third of the queries of a checkout lock or a single order POST (issue #18). The user's entry
holds the version it was read under; both are read in one round trip.

Revocation has no delay: any change to who holds what (a user's groups or own permissions, a
group's permissions, a user saved or deleted, a group or permission deleted) replaces the version,
so the next check anywhere reads the database again. The version is replaced at once and again
when the change commits, so a process that read the old assignments meanwhile cannot keep them
under the new version. With the per-process default cache (the demo), other processes see a
change within PERMISSIONS_CACHE_SECONDS at most. A cache that is down costs the two queries again,
never an answer; a change made while it is down reaches a set cached before within that time."""

import logging
import uuid

from django.conf import settings
from django.contrib.auth.backends import BaseBackend, ModelBackend
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)
VERSION_KEY = "auth:permissions:version"


def permissions_version() -> str:
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, uuid.uuid4().hex, None)
        version = cache.get(VERSION_KEY)
    return version


def permissions_changed(*, action: str = "", update_fields=None, **_signal) -> None:
    """Connected to the assignment changes (core.apps): infrastructure, not domain logic."""
    if action.startswith("pre_") or set(update_fields or ()) == {"last_login"}:  # a sign-in saves the user
        return
    _new_version()
    transaction.on_commit(_new_version)


def _new_version() -> None:
    try:
        cache.set(VERSION_KEY, uuid.uuid4().hex, None)
    except Exception:  # noqa: BLE001 - the cache is down: nothing is served from it either
        logger.warning("permissions changed while the cache is unavailable")


class CachedPermissionsBackend(ModelBackend):
    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):  # once per request, as ModelBackend does
            key = f"auth:permissions:{user_obj.pk}"
            try:
                version, permissions = _cached(key)
            except Exception:  # noqa: BLE001 - the cache is down: read the database, as without it
                logger.warning("permissions read without the cache (unavailable)")
                version, permissions = None, None
            if permissions is None:
                permissions = BaseBackend.get_all_permissions(self, user_obj)
                if version is not None:
                    cache.set(key, (version, permissions), settings.PERMISSIONS_CACHE_SECONDS)
            user_obj._perm_cache = permissions
        return user_obj._perm_cache


def _cached(key: str) -> tuple[str, set | None]:
    """The current version, and the user's permissions if they were cached under it: one round
    trip (the version and the user's entry read together), a second only when no version is set."""
    found = cache.get_many([VERSION_KEY, key])
    version = found.get(VERSION_KEY) or permissions_version()
    stored = found.get(key)
    return version, stored[1] if stored is not None and stored[0] == version else None
