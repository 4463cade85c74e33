"""HTTP client for a cloud warehouse's Qimen endpoint (HTTP only; requests are built by callers)."""

from xml.etree import ElementTree as ET

import httpx

from core.http import TIMEOUT, PlatformError, RateLimited, is_temporary, send
from integrations.wms.base import WmsError
from integrations.wms.qimen import protocol

DEFAULT_RETRY_AFTER = 30.0


class WmsUnavailable(WmsError):
    """Worth trying again: a temporary HTTP failure (core.http.is_temporary) or an unreadable
    answer."""

    temporary = True

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class WmsRefused(WmsError):
    """The warehouse answered flag=failure (a business refusal) or the call cannot be made as
    configured; retrying the same request cannot help."""

    temporary = False
    retry_after = None

    def __init__(self, message: str, *, code: str = ""):
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code


class QimenClient:
    def __init__(self, warehouse, *, http: httpx.Client | None = None):
        self.warehouse = warehouse
        self.http = http

    def call(self, method: str, request: ET.Element, *, idempotency_key: str = "") -> ET.Element:
        """POST one signed request; the <response> root when flag=success."""
        warehouse = self.warehouse
        missing = [
            name for name in ("wms_endpoint", "wms_app_key", "wms_secret") if not getattr(warehouse, name)
        ]
        if missing:
            raise WmsRefused(f"warehouse {warehouse.code}: {', '.join(missing)} not set")
        body = protocol.to_bytes(request)
        params = protocol.system_params(
            method=method, app_key=warehouse.wms_app_key, customer_id=warehouse.wms_customer_id
        )
        params["sign"] = protocol.sign(params, body, warehouse.wms_secret)
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        if idempotency_key:  # for receivers that deduplicate on it; Qimen itself dedupes on the order code
            headers["Idempotency-Key"] = idempotency_key
        http = self.http or httpx.Client(timeout=TIMEOUT)
        try:
            answer = send(
                f"Qimen WMS {warehouse.code}",
                lambda: http.post(warehouse.wms_endpoint, params=params, content=body, headers=headers),
                DEFAULT_RETRY_AFTER,
            )
        except RateLimited as exc:
            raise WmsUnavailable(str(exc), retry_after=exc.retry_after) from exc
        except PlatformError as exc:
            if not is_temporary(exc):
                raise WmsRefused(str(exc), code=f"HTTP {exc.status_code}") from exc
            raise WmsUnavailable(str(exc)) from exc
        finally:
            if self.http is None:
                http.close()
        return _read(answer.content, method)


def _read(content: bytes, method: str) -> ET.Element:
    try:
        root = protocol.parse(content)
    except protocol.MalformedXml as exc:
        raise WmsUnavailable(f"{method}: {exc}") from exc
    flag = (root.findtext("flag") or "").strip().lower()
    if root.tag != "response" or flag not in ("success", "failure"):
        raise WmsUnavailable(f"{method}: the answer is not a Qimen <response> with a flag")
    if flag == "failure":
        raise WmsRefused(
            (root.findtext("message") or "").strip() or "refused without a message",
            code=(root.findtext("code") or "").strip(),
        )
    return root
