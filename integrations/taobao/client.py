"""Taobao Open Platform (TOP) HTTP client: trades changed in a time window, by modified time.

`taobao.trades.sold.increment.get` (https://open.taobao.com/api.htm?docId=128) takes
start_modified / end_modified as "yyyy-MM-dd HH:mm:ss" in Beijing time, at most one day apart,
and pages with `use_has_next`. HTTP only: mapping lives in mapping.py."""

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.utils import timezone
from django.utils.translation import gettext as _

from core.http import PlatformError, RateLimited
from core.timezones import BEIJING, format_beijing_time
from integrations.taobao import signing

DEFAULT_BASE_URL = "https://eco.taobao.com/router/rest"
INCREMENT_METHOD = "taobao.trades.sold.increment.get"
INCREMENT_RESPONSE = "trades_sold_increment_get_response"
PAGE_SIZE = 100  # the API's maximum
MAX_WINDOW = timedelta(days=1)  # end_modified - start_modified <= 1 day
DEFAULT_RETRY_AFTER = 60.0
TIMEOUT = httpx.Timeout(30.0, connect=10.0)

# Exactly what mapping.py reads; TOP returns only the fields asked for.
TRADE_FIELDS = ",".join(
    [
        "tid",
        "status",
        "created",
        "modified",
        "pay_time",
        "buyer_nick",
        "buyer_message",
        "payment",
        "post_fee",
        "discount_fee",
        "receiver_name",
        "receiver_mobile",
        "receiver_phone",
        "receiver_state",
        "receiver_city",
        "receiver_district",
        "receiver_address",
        "receiver_zip",
        "orders.oid",
        "orders.num_iid",
        "orders.sku_id",
        "orders.outer_sku_id",
        "orders.outer_iid",
        "orders.title",
        "orders.num",
        "orders.price",
        "orders.total_fee",
        "orders.adjust_fee",
        "orders.discount_fee",
        "orders.part_mjz_discount",
        "orders.divide_order_fee",
        "orders.payment",
        "orders.refund_status",
    ]
)

# Code 7 is "App Call Limited" (sub codes accesscontrol.limited-by-*); isv./isp. call-limited
# sub codes are the per-API flow controls. sub_msg says e.g. "This ban will last for 71 more seconds".
RATE_LIMIT_CODES = {7}
RATE_LIMIT_SUB_CODE = re.compile(r"^(accesscontrol\.limited|is[pv]\.[\w-]*call-limited)")
BAN_SECONDS = re.compile(r"(\d+)\s*more\s+seconds?", re.IGNORECASE)


def day_slices(since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """[since, until) cut into consecutive windows of at most one day, in Beijing time, to the
    second (TOP's resolution)."""
    if timezone.is_naive(since) or timezone.is_naive(until):
        raise ValueError("updated_since / updated_until must be aware datetimes")
    start = since.astimezone(BEIJING).replace(microsecond=0)
    end = until.astimezone(BEIJING).replace(microsecond=0)
    slices = []
    while start < end:
        slice_end = min(start + MAX_WINDOW, end)
        slices.append((start, slice_end))
        start = slice_end
    return slices


class TaobaoClient:
    """Polls one Taobao / Tmall shop. `channel.api_credentials`: app_key, app_secret, session (the
    seller's access token), optional base_url and sign_method (md5, hmac, hmac-sha256)."""

    def __init__(self, channel, *, http: httpx.Client | None = None):
        credentials = channel.api_credentials or {}
        self.app_key = str(credentials.get("app_key") or "")
        self.app_secret = str(credentials.get("app_secret") or "")
        self.session = str(credentials.get("session") or "")
        self.base_url = str(credentials.get("base_url") or DEFAULT_BASE_URL)
        missing = [name for name in ("app_key", "app_secret", "session") if not getattr(self, name)]
        if missing:
            raise PlatformError(
                _("Taobao credentials of channel %(channel)s lack: %(missing)s")
                % {"channel": channel.code, "missing": ", ".join(missing)}
            )
        try:
            self.sign_method = signing.sign_method_name(credentials.get("sign_method"))
        except ValueError as exc:
            raise PlatformError(
                _("Unknown Taobao sign method %(method)r.") % {"method": credentials.get("sign_method")}
            ) from exc
        self.http = http or httpx.Client(timeout=TIMEOUT)

    def iter_orders(self, *, updated_since: datetime, updated_until: datetime) -> Iterator[dict]:
        """Trades modified in the window, one day slice after another, following has_next."""
        for start, end in day_slices(updated_since, updated_until):
            page_no = 1
            while True:
                page = self._trades_page(start, end, page_no)
                trades = (page.get("trades") or {}).get("trade") or []
                yield from trades
                if page.get("has_next") not in (True, "true"):
                    break
                if not trades:  # has_next on an empty page would loop for ever
                    raise PlatformError(_("Taobao announced a next page after an empty one."))
                page_no += 1

    def _trades_page(self, start: datetime, end: datetime, page_no: int) -> dict:
        body = self.call(
            INCREMENT_METHOD,
            {
                "fields": TRADE_FIELDS,
                "start_modified": format_beijing_time(start),
                "end_modified": format_beijing_time(end),
                "use_has_next": True,
                "page_no": page_no,
                "page_size": PAGE_SIZE,
            },
        )
        page = body.get(INCREMENT_RESPONSE)
        if not isinstance(page, dict):
            raise PlatformError(_("Taobao answered without %(key)s.") % {"key": INCREMENT_RESPONSE})
        return page

    def call(self, method: str, business_params: dict[str, Any]) -> dict:
        """One signed TOP call (form-encoded POST); the decoded JSON body of a success."""
        params = {
            "method": method,
            "app_key": self.app_key,
            "session": self.session,
            "timestamp": format_beijing_time(timezone.now()),
            "format": "json",
            "v": "2.0",
            "sign_method": self.sign_method,
            **business_params,
        }
        params = {key: signing.param_text(value) for key, value in params.items() if value is not None}
        params["sign"] = signing.sign(params, self.app_secret, self.sign_method)
        try:
            response = self.http.post(self.base_url, data=params)
        except httpx.HTTPError as exc:
            raise PlatformError(_("Taobao could not be reached: %(error)s") % {"error": exc}) from exc
        if response.status_code in (429, 503):
            raise RateLimited(_retry_after_header(response.headers.get("Retry-After")))
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise PlatformError(
                _("Taobao answered HTTP %(status)s without a JSON object.") % {"status": response.status_code}
            )
        if "error_response" in body:
            raise _error(body["error_response"])
        if response.status_code != 200:
            raise PlatformError(_("Taobao answered HTTP %(status)s.") % {"status": response.status_code})
        return body


def _error(error: Any) -> Exception:
    """RateLimited for TOP's flow control, PlatformError with code and message for the rest."""
    error = error if isinstance(error, dict) else {}
    code, sub_code = error.get("code"), str(error.get("sub_code") or "")
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    if code in RATE_LIMIT_CODES or RATE_LIMIT_SUB_CODE.match(sub_code):
        text = f"{error.get('sub_msg') or ''} {error.get('msg') or ''}"
        match = BAN_SECONDS.search(text)
        return RateLimited(float(match.group(1)) if match else DEFAULT_RETRY_AFTER)
    msg = str(error.get("msg") or "")
    detail = " ".join(filter(None, [sub_code, str(error.get("sub_msg") or "")]))
    exc = PlatformError(
        _("Taobao error %(code)s: %(msg)s%(detail)s")
        % {"code": code, "msg": msg, "detail": f" ({detail})" if detail else ""}
    )
    exc.code, exc.msg, exc.sub_code = code, msg, sub_code
    return exc


def _retry_after_header(value: str | None) -> float:
    try:
        return max(float(value), 1.0) if value else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER
