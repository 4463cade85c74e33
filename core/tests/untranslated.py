"""Finding English on a page rendered in Chinese.

Two kinds of leak, both found from the zh-Hans catalogue itself (so a new screen is covered the
day its strings are):
- a catalogue string left untranslated (empty or fuzzy msgstr) that shows on the page;
- a translated string that shows in English anyway: text stored in English and shown as stored,
  or gettext evaluated at import time in another language.
Only whole text nodes are compared (after collapsing white space), so an English word inside a
product name does not count, nor text marked as literal (`<code>`: a file's headers, a code).
"""

import ast
import re
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

CATALOGUE = Path(__file__).resolve().parents[2] / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
# A string with placeholders matches a text node with anything in their place; markup never shows.
PLACEHOLDER = re.compile(r"%\([a-z_0-9]+\)[sd]|%[sd]")
# Where one text node holds several things said (a transition and its reason: "已申请 → Approved.
# Within the return policy."), each piece is checked on its own too.
PIECE_BREAK = re.compile(r"(?<=[.。!?])\s+|\s*[→·|]\s*")
MARKUP = re.compile(r"<|\{")


def _unquote(line: str) -> str:
    return ast.literal_eval(line.strip())


@cache
def catalogue() -> dict[str, str]:
    """msgid → msgstr of the zh-Hans catalogue ("" when untranslated or fuzzy); plural forms and
    context-qualified entries by their singular msgid."""
    entries: dict[str, str] = {}
    for block in CATALOGUE.read_text(encoding="utf-8").split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith("#~")]
        fuzzy = any(line.startswith("#,") and "fuzzy" in line for line in lines)
        fields: dict[str, str] = {}
        current = None
        for line in lines:
            if line.startswith("#"):
                continue
            if line.startswith('"') and current:
                fields[current] += _unquote(line)
                continue
            key, _space, rest = line.partition(" ")
            current = key
            fields[key] = _unquote(rest)
        msgid = fields.get("msgid")
        if msgid:
            entries[msgid] = "" if fuzzy else fields.get("msgstr", fields.get("msgstr[0]", ""))
    return entries


class _Text(HTMLParser):
    # option: data (SKU names) as often as labels; code: literal text (a file's headers, a code)
    SKIPPED = {"script", "style", "option", "code"}

    def __init__(self):
        super().__init__()
        self.nodes: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIPPED:
            self._skipping += 1
        for name, value in attrs:  # what a person reads without it being a text node
            if name in {"placeholder", "title", "aria-label", "data-confirm"} and value:
                self.nodes.append(value)

    def handle_endtag(self, tag):
        if tag in self.SKIPPED and self._skipping:
            self._skipping -= 1

    def handle_data(self, data):
        text = " ".join(data.split())
        if text and not self._skipping:
            self.nodes.append(text)


def text_nodes(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.nodes


@cache
def _formatted() -> re.Pattern:
    """One pattern for every catalogue string with placeholders: "Split across %(warehouses)s:
    no single warehouse…" matches the node "Split across WH-BJ, WH-SH: no single warehouse…"."""
    patterns = []
    for msgid, msgstr in catalogue().items():
        if msgstr == msgid or MARKUP.search(msgid) or not PLACEHOLDER.search(msgid):
            continue
        pieces = PLACEHOLDER.split(msgid)
        if sum(len(piece.strip()) for piece in pieces) < 8:  # "%(n)s × %(sku)s" says nothing alone
            continue
        patterns.append(".+?".join(re.escape(" ".join(piece.split(" "))) for piece in pieces))
    return re.compile("(?:" + "|".join(patterns) + ")")


def english_on_chinese_page(html: str, *, allowed: frozenset[str] = frozenset()) -> list[str]:
    """Text nodes of a zh-Hans page that are catalogue strings shown in English."""
    entries = catalogue()
    formatted = _formatted()
    leaks = []
    for node in text_nodes(html):
        if node in allowed:
            continue
        pieces = [node] + [piece for piece in PIECE_BREAK.split(node) if piece and piece != node]
        probes = [probe for piece in pieces for probe in (piece, piece.rstrip(":："), piece.rstrip("."))]
        for probe in probes:
            if probe in allowed:
                continue
            translation = entries.get(probe)
            shown_in_english = translation is not None and translation != probe and len(probe) > 2
            if shown_in_english and not MARKUP.search(probe) and not PLACEHOLDER.search(probe):
                leaks.append(probe)
                break
        else:
            if formatted.search(node):
                leaks.append(node)
    return leaks
