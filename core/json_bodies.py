"""Limits every JSON body is held to, whether the API parses it or a webhook stores it: Python's
parser gives up around a thousand levels with a RecursionError, and anything that deep would
strain every layer after it."""

from django.utils.translation import gettext as _

# Arrays and objects inside one another; the API's deepest body (an order) has three.
MAX_JSON_DEPTH = 64


def too_deep_message() -> str:
    return _("The JSON body is nested more than %(limit)d levels deep.") % {"limit": MAX_JSON_DEPTH}


def nesting_exceeds(document, limit: int) -> bool:
    """Whether arrays and objects sit more than `limit` deep (iterative: no recursion limit)."""
    pending = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            pending.extend(
                (item, depth + 1) for item in (value.values() if isinstance(value, dict) else value)
            )
    return False
