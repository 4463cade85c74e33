"""Every form on the desk's own screens, sent empty, answers with a visible error — never a
server error and never a silent page. The screens are found from the URL resolver (every named
desk path without parameters), their forms from the rendered page, so a new screen is covered the
day it is added."""

import re
from html.parser import HTMLParser

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from core.roles import Role
from orders.tests.factories import order_in_state

pytestmark = pytest.mark.django_db

# Paths that are not desk screens a person fills in.
SKIPPED_PREFIXES = ("/admin/", "/api/", "/i18n/", "/logout/", "/login/", "/health/", "/files/", "/r/")
# What a visible error looks like on the desk: a form's field error or an error message.
VISIBLE_ERROR = re.compile(r'class="[^"]*\berror(list|-text)?\b[^"]*"|role="alert"')


def _paths(resolver: URLResolver, prefix: str = "") -> list[str]:
    found = []
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if "<" in route or "(?P" in route:  # needs an object: not a start screen
            continue
        if isinstance(entry, URLResolver):
            found += _paths(entry, route)
        elif isinstance(entry, URLPattern) and entry.name:
            found.append("/" + route.lstrip("^").rstrip("$"))
    return found


class _PostForms(HTMLParser):
    """The page's POST forms with a required field, and what a browser sends when the person fills
    in nothing: hidden fields as they are (the management form, the state the page showed), every
    other field empty."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._current: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "").lower() == "post":
            self._current = {"action": attrs.get("action") or "", "fields": 0, "data": {}}
        elif self._current is not None and tag in ("input", "select", "textarea") and attrs.get("name"):
            kind = attrs.get("type", "text") if tag == "input" else tag
            if kind in ("submit", "button", "checkbox", "radio", "file"):
                return
            self._current["data"][attrs["name"]] = attrs.get("value") or "" if kind == "hidden" else ""
            if "required" in attrs:
                self._current["fields"] += 1

    def handle_endtag(self, tag):
        if tag == "form" and self._current is not None:
            if self._current["fields"]:
                self.forms.append(self._current)
            self._current = None


def test_every_desk_form_sent_empty_says_what_is_wrong(client, make_user):
    order_in_state("paid")
    client.force_login(make_user(Role.ADMIN))
    silent, crashed, checked = [], [], 0
    for path in sorted(set(_paths(get_resolver()))):
        if path.startswith(SKIPPED_PREFIXES):
            continue
        page = client.get(path)
        if page.status_code != 200 or "text/html" not in page.get("Content-Type", ""):
            continue
        parser = _PostForms()
        parser.feed(page.content.decode())
        for form in parser.forms:
            action = form["action"] or path
            if not action.startswith("/") or action.startswith(SKIPPED_PREFIXES):
                continue
            answer = client.post(action, form["data"], follow=True)
            checked += 1
            if answer.status_code >= 500:
                crashed.append(action)
            elif not VISIBLE_ERROR.search(answer.content.decode()):
                silent.append(action)
    assert checked >= 10  # the crawl found the desk's forms
    assert crashed == [] and silent == []
