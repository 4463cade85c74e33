"""Every desk screen, in Chinese, on the demo's data: no English catalogue text, no English
sentence that never reached the catalogue, and no server error. The screens are found by crawling
from every named desk path without parameters and following the desk's own links, one page per
URL name (an order, a shipment, an RMA, a purchase order, a contract…), so a screen any app adds
is covered the day it is linked."""

import re
from collections import deque
from html.parser import HTMLParser
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.urls import Resolver404, get_resolver, resolve

from core.roles import Role
from core.tests.untranslated import english_on_chinese_page, text_nodes
from desk.tests.test_empty_forms import SKIPPED_PREFIXES, _paths

pytestmark = pytest.mark.django_db(transaction=True)

MAX_PAGES = 400
# The demo's sign-in names are shown as who did what: names, not text to translate.
DEMO_USERNAMES = frozenset({"agent", "warehouse", "finance", "manager", "buyer", "admin"})
# Three English words and no Chinese: a sentence nobody marked for translation. Demo data that is
# English on purpose is bilingual ("纸灯笼台灯 / Paper lantern lamp"), so it does not count.
ENGLISH_SENTENCE = re.compile(r"\b[A-Za-z][a-z]+ [a-z]+ [a-z]+\b")
CHINESE = re.compile(r"[\u4e00-\u9fff]")


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href") if tag == "a" else None
        if href and href.startswith("/") and not href.startswith("//"):
            self.hrefs.append(href)


def _view_name(path: str) -> str | None:
    try:
        return resolve(path).view_name
    except Resolver404:
        return None


def _english_sentences(page: str) -> list[str]:
    return [node for node in text_nodes(page) if ENGLISH_SENTENCE.search(node) and not CHINESE.search(node)]


def _crawl(client) -> tuple[dict[str, list[str]], list[str], int]:
    """English found per page, pages that crashed, pages read."""
    queue = deque(p for p in sorted(set(_paths(get_resolver()))) if not p.startswith(SKIPPED_PREFIXES))
    seen: set[str] = set()
    english: dict[str, list[str]] = {}
    crashed: list[str] = []
    read = 0
    while queue and read < MAX_PAGES:
        url = queue.popleft()
        path = urlsplit(url).path
        view = _view_name(path)
        if view is None or view in seen or path.startswith(SKIPPED_PREFIXES):
            continue
        seen.add(view)
        response = client.get(url)
        read += 1
        if response.status_code >= 500:
            crashed.append(url)
            continue
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        page = response.content.decode()
        found = english_on_chinese_page(page, allowed=DEMO_USERNAMES) + _english_sentences(page)
        if found:
            english[url] = found
        links = _Links()
        links.feed(page)
        queue.extend(links.hrefs)
    return english, crashed, read


def test_every_desk_screen_reads_in_chinese_on_the_demo_data(client, make_user):
    call_command("seed_demo", orders=150, stdout=StringIO())
    client.force_login(make_user(Role.ADMIN))
    client.cookies["django_language"] = "zh-hans"

    english, crashed, read = _crawl(client)

    assert read > 80  # past the start screens: into orders, shipments, returns, POs, contracts…
    assert crashed == []
    assert english == {}
