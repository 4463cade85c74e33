"""Text the system wrote for people (timeline reasons, hold reasons, routing explanations), shown
in the reader's language.

Such text was stored as a sentence in whatever language was active when it was written: "Paid on
the platform", "Ships from WH-HZ, the only warehouse that holds the whole order.", or the same in
Chinese when an agent working in Chinese set the work in motion. Each of those sentences is a
catalogue string, possibly with placeholders filled in. `in_reader_language` recognises the
sentence — in English or in any catalogue language — recovers its placeholders' values, and says
it again in the active language; the values are translated too when they are catalogue strings
themselves ("Shipped"). Text that is no catalogue sentence (what a person typed: "顾客来电取消")
is shown as it was written. Old rows need no migration: they are recognised the same way.
"""

import re
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext, trans_real

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
# Sentences this short with placeholders ("%(n)s × %(sku)s") would match too much typed text.
MIN_LITERAL = 6
# A value with letters and spaces may itself be a stored sentence; a bare code or number is not.
PLACEHOLDER_VALUE_HINT = re.compile(r"[^\W\d_]{2,}.*\s")


@dataclass(frozen=True)
class _Sentence:
    msgid: str
    pattern: re.Pattern
    literal: int  # characters outside the placeholders: longer patterns are tried first


def _pattern(text: str) -> re.Pattern | None:
    pieces = PLACEHOLDER.split(text)  # literal, name, literal, name, …, literal
    literals, names = pieces[0::2], pieces[1::2]
    if sum(len(p.strip()) for p in literals) < MIN_LITERAL or "%" in "".join(literals).replace("%%", ""):
        return None
    seen: set[str] = set()
    regex = re.escape(literals[0])
    for name, literal in zip(names, literals[1:], strict=True):
        regex += f"(?P={name})" if name in seen else f"(?P<{name}>.+?)"
        seen.add(name)
        regex += re.escape(literal.replace("%%", "%"))
    return re.compile(regex, re.DOTALL)


@lru_cache(maxsize=1)
def _index() -> tuple[dict[str, str], list[_Sentence]]:
    """Every catalogue sentence in every language → its msgid: exact texts in a dict, sentences
    with placeholders as patterns (longest literal first)."""
    exact: dict[str, str] = {}
    formatted: list[_Sentence] = []
    for language, _name in settings.LANGUAGES:
        if language == settings.LANGUAGE_CODE or language.startswith("en"):
            continue
        catalog = trans_real.translation(language)._catalog
        for msgid, msgstr in catalog.items():
            if not isinstance(msgid, str) or not msgid or "\x04" in msgid or not isinstance(msgstr, str):
                continue
            for text in {msgid, msgstr}:
                if PLACEHOLDER.search(text):
                    pattern = _pattern(text)
                    if pattern:
                        literal = len(PLACEHOLDER.sub("", text))
                        formatted.append(_Sentence(msgid, pattern, literal))
                elif len(text) > 1:
                    exact.setdefault(text, msgid)
    formatted.sort(key=lambda sentence: -sentence.literal)
    return exact, formatted


def _say_again(text: str) -> str | None:
    exact, formatted = _index()
    if text in exact:
        return gettext(exact[text])
    for sentence in formatted:
        found = sentence.pattern.fullmatch(text)
        if found:
            values = {name: _value(value) for name, value in found.groupdict().items()}
            try:
                return gettext(sentence.msgid) % values
            except (KeyError, ValueError, TypeError):
                return None
    return None


def _value(value: str) -> str:
    """A placeholder's value: a label ("Shipped") or sentences joined by "; " (an inspection's
    lines) are said again too; codes, numbers and names stay as they are."""
    exact, _formatted = _index()
    if value in exact:
        return gettext(exact[value])
    parts = value.split("; ")
    if len(parts) > 1 or PLACEHOLDER_VALUE_HINT.search(value):
        return "; ".join(_say_again(part) or part for part in parts)
    return value


def in_reader_language(text: str) -> str:
    """The stored sentence in the active language; several sentences joined by a space (routing
    explanations) are each said again; anything unrecognised is returned unchanged."""
    if not text or not translation.get_language():
        return text or ""
    sentences = re.split(r"(?<=[.。])\s+", text)
    said: dict[str, str | None] = {}

    def say(sentence: str) -> str | None:  # each sentence looked up once
        if sentence not in said:
            said[sentence] = _say_again(sentence)
        return said[sentence]

    # A transition's sentence with its reason after it ("Return R1: Requested → Approved. Within
    # the return policy.") would also match the first sentence whole, its last value swallowing the
    # reason untranslated: when every sentence is one of ours, say each again (all() stops at the
    # first it does not know).
    if len(sentences) > 1 and all(say(sentence) is not None for sentence in sentences):
        return " ".join(say(sentence) for sentence in sentences)
    whole = _say_again(text)
    if whole is not None:
        return whole
    if len(sentences) > 1:
        return " ".join(say(sentence) or sentence for sentence in sentences)
    return text
