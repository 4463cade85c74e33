"""NUL characters in requests. PostgreSQL can neither store nor compare text holding one, so a
NUL that reached a query would be a server error: requests holding one are refused with a 400
that says where. The middleware checks what Django reads on every view's behalf — path,
headers, cookies, query string — and the form or JSON bodies of the desk's views. Machine
endpoints (csrf_exempt) read their own bodies: the API's parsers check theirs
(core.api.parsers), and webhooks and callbacks keep the raw message as it came, so that a
signed delivery is stored rather than bounced."""

import json
import re
from collections.abc import Iterable

from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from core.middleware import is_api_request

NUL = "\x00"
# A \u0000 escape in JSON text: one not itself escaped (an even run of backslashes before it).
JSON_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

Found = tuple[str | None, str]  # (the field at fault, or None for the request as a whole; message)


class NulCharacterGuardMiddleware:
    """The 400 names the place; on API paths it is JSON shaped like the API's other 400s. (A body
    too large or too malformed to read is Django's own 400, as it would be in the view.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        found = nul_in_request(request)
        return self.get_response(request) if found is None else refusal(request, found)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if getattr(view_func, "csrf_exempt", False):
            return None
        found = nul_in_body(request)
        return None if found is None else refusal(request, found)


def refusal(request, found: Found) -> HttpResponse:
    field, message = found
    if is_api_request(request):
        return JsonResponse({field: [message]} if field else {"detail": message}, status=400)
    text = f"{field}: {message}" if field else message
    return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")


def nul_in_request(request) -> Found | None:
    """In what Django reads for every view: the path, headers, cookies and query string."""
    if NUL in request.path_info:
        return None, _("The URL path contains a NUL character.")
    for key, value in request.META.items():
        if key.startswith("HTTP_") and isinstance(value, str) and NUL in value:
            header = key.removeprefix("HTTP_").replace("_", "-").title()
            return None, _("The %(header)s header contains a NUL character.") % {"header": header}
    if any(NUL in name or NUL in value for name, value in request.COOKIES.items()):
        return None, _("A cookie contains a NUL character.")
    return nul_in_fields(request.GET.lists())


def nul_in_body(request) -> Found | None:
    """In a form body (fields and file names) or a JSON body."""
    if request.method == "POST" and request.content_type in FORM_TYPES:
        uploads = ((name, [upload.name for upload in files]) for name, files in request.FILES.lists())
        return nul_in_fields(request.POST.lists()) or nul_in_fields(uploads)
    if request.content_type == "application/json" or request.content_type.endswith("+json"):
        body = request.body
        if NUL.encode() in body or JSON_NUL_ESCAPE.search(body):
            try:
                document = json.loads(body)
            except (ValueError, RecursionError):  # not JSON after all: the view will say so
                return None, _("The body contains a NUL character.")
            return nul_in_json(document) or (None, _("The body contains a NUL character."))
    return None


def nul_in_fields(fields: Iterable[tuple[str, list]]) -> Found | None:
    """The first form field (name, values) holding NUL in its name or in a value."""
    for name, values in fields:
        if NUL in name:
            return None, _("A field name contains a NUL character.")
        if any(NUL in (value or "") for value in values):
            return name, _("Null characters are not allowed.")
    return None


def nul_in_json(document) -> Found | None:
    path = json_path_to_nul(document)
    return None if path is None else (path, _("Null characters are not allowed."))


def json_path_to_nul(document) -> str | None:
    """Where the first string or key holding NUL sits in a parsed JSON document, in document
    order: `lines[0].sku`, or "body" for the document itself. Iterative: the document may be
    nested arbitrarily deep."""
    pending = [("", document)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str) and NUL in value:
            return path or _("body")
        if isinstance(value, dict):
            if any(NUL in key for key in value):
                return path or _("body")
            children = [(f"{path}.{key}" if path else key, item) for key, item in value.items()]
        elif isinstance(value, list):
            children = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
        else:
            continue
        pending.extend(reversed(children))
    return None
