"""Saved views: a user names the filters of a desk list and comes back to them in one click."""

from urllib.parse import parse_qsl, urlencode

from django.urls import Resolver404, resolve
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.models import SavedView

MAX_PER_LIST = 30


def _clean_query(query: str) -> str:
    """Filters only: paging is not part of a view."""
    return urlencode([(k, v) for k, v in parse_qsl(query, keep_blank_values=False) if k != "page"])


def saved_view_save(*, user, path: str, name: str, query: str) -> SavedView:
    name = name.strip()
    if not name:
        raise DomainError(_("Give the view a name."), field="name")
    try:
        resolve(path)
    except Resolver404 as exc:
        raise DomainError(_("Unknown list."), field="path") from exc
    if SavedView.objects.filter(user=user, path=path).exclude(name=name).count() >= MAX_PER_LIST:
        raise DomainError(_("At most %(n)s saved views per list.") % {"n": MAX_PER_LIST}, field="name")
    view, _created = SavedView.objects.update_or_create(
        user=user, path=path, name=name[:80], defaults={"query": _clean_query(query)[:2000]}
    )
    return view


def saved_view_delete(*, user, view_id: int) -> None:
    deleted, _rows = SavedView.objects.filter(user=user, pk=view_id).delete()
    if not deleted:
        raise DomainError(_("No such saved view."), field="view")


def saved_views_for(user, path: str) -> list[SavedView]:
    return list(SavedView.objects.filter(user=user, path=path))
