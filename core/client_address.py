"""The address a request came from, as far as the reverse proxies we trust vouch for it.

Each trusted proxy appends the address it was called from to X-Forwarded-For, and the last one is
REMOTE_ADDR. With TRUSTED_PROXY_COUNT = n the client is therefore the n-th X-Forwarded-For entry
counted from the right; anything to the left of it was written by the caller and is ignored.
With 0 (the default) X-Forwarded-For is not read at all: REMOTE_ADDR is the client.
"""

from django.conf import settings
from ipware import get_client_ip


def client_address(request) -> str:
    """The caller's IP address as text ("" when the request carries none)."""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    # ipware counts the proxies listed inside the header; the nearest one is REMOTE_ADDR, not
    # in it. Non-strict: a longer chain (the caller's own X-Forwarded-For) is fine, since the
    # client is picked from the right.
    address, _routable = get_client_ip(
        request,
        proxy_count=proxies - 1,
        request_header_order=("HTTP_X_FORWARDED_FOR",),
        strict=False,
    )
    return address or remote
