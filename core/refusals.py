"""Requests we refuse unauthenticated (a webhook or callback with a bad or missing signature):
each leaves at most a short audit line, and only so many a minute per endpoint and caller, so an
unsigned caller can neither grow the database nor bury the log. Over the limit the caller is
answered 429 and nothing is written; the count lives in the cache (CACHES), not the database.
"""

import hashlib
import time

from django.conf import settings
from django.core.cache import cache

# Headers worth keeping from a refused request: enough to tell who called and what they sent.
AUDIT_HEADERS = frozenset({"content-type", "content-length", "user-agent", "x-forwarded-for", "x-request-id"})
AUDIT_VALUE_CHARS = 200  # each kept value is cut to this
AUDIT_MAX_HEADERS = 12
CLIENT_KEY = "Conduit-Client-Address"  # the caller as we resolved it (core.client_address)


def audit_headers(headers: dict, *, also: tuple[str, ...] = (), client_address: str = "") -> dict[str, str]:
    """The few whitelisted headers of a refused request (plus `also`, e.g. the signature header
    the platform uses), values cut short: a bounded audit line whatever was sent."""
    wanted = AUDIT_HEADERS | {name.lower() for name in also if name}
    kept: dict[str, str] = {}
    for name, value in headers.items():
        if len(kept) >= AUDIT_MAX_HEADERS:
            break
        if str(name).lower() in wanted:
            kept[str(name)] = str(value)[:AUDIT_VALUE_CHARS]
    if client_address:
        kept[CLIENT_KEY] = client_address[:64]
    return kept


def refusal_allowed(scope: str, client_address: str) -> bool:
    """Count one refused request of `client_address` at `scope` (an endpoint, e.g. a channel's
    webhook) in this minute. False once past REJECTED_REQUESTS_PER_MINUTE: answer 429, keep
    nothing."""
    window = _minute()
    digest = hashlib.sha256(f"{scope}|{client_address}|{window}".encode()).hexdigest()
    key = f"refused:{digest}"
    # add + incr are each atomic in the cache; the key outlives its minute, then expires.
    if cache.add(key, 1, timeout=120):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between the two calls
            cache.add(key, 1, timeout=120)
            count = 1
    return count <= settings.REJECTED_REQUESTS_PER_MINUTE


def _minute() -> int:
    """The current minute, the counting window (tests move it)."""
    return int(time.time() // 60)
