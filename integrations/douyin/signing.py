"""Douyin shop (抖店开放平台) signatures.

API calls (official SDKs: Go `doudian-sdk-golang` `utils.Sign`, Java `com.doudian.open.utils.SignUtil.sign`,
Python `DoudianOpApiClient.calsSign`; research notes for #16 §A1):

    pattern = app_secret + "app_key" + app_key + "method" + method + "param_json" + param_json
              + "timestamp" + timestamp + "v" + "2" + app_secret
    sign    = md5(pattern)                                   (sign_method absent or "md5")
            = HMAC-SHA256(key=app_secret, msg=pattern)        (sign_method "hmac-sha256")

as lower-case hex. `param_json` is the business parameters as JSON with keys sorted at every level,
compact (no spaces) and without escaping non-ASCII characters (Go `SetEscapeHTML(false)`, Python
`ensure_ascii=False, separators=(",", ":"), sort_keys=True`); None values are left out (Go and
Python SDKs, `omitempty`).

Push messages (Java SDK `DoudianOpMsgRequest.checkSign`): header `event-sign` =
md5(app_key + raw body + app_secret), lower-case hex; with a `sign-method: hmac-sha256` header,
HMAC-SHA256(key=app_secret, app_key + body + app_secret) (third-party handlers; SOURCES.md §17)."""

import hashlib
import hmac
import json
from typing import Any

MD5, HMAC_SHA256 = "md5", "hmac-sha256"
VERSION = "2"


def sign_method_name(method: str | None) -> str:
    name = (method or MD5).strip().lower()
    if name not in (MD5, HMAC_SHA256):
        raise ValueError(f"unknown Douyin sign_method {method!r}")
    return name


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_drop_none(v) for v in value]
    return value


def param_json(params: dict[str, Any] | None) -> str:
    """The business parameters as Douyin signs and sends them; `{}` when there are none."""
    return json.dumps(_drop_none(params or {}), ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def sign_pattern(*, app_key: str, app_secret: str, method: str, param_json: str, timestamp: str) -> str:
    return (
        f"{app_secret}app_key{app_key}method{method}param_json{param_json}"
        f"timestamp{timestamp}v{VERSION}{app_secret}"
    )


def sign(
    *, app_key: str, app_secret: str, method: str, param_json: str, timestamp: str, sign_method: str = MD5
) -> str:
    pattern = sign_pattern(
        app_key=app_key, app_secret=app_secret, method=method, param_json=param_json, timestamp=timestamp
    ).encode("utf-8")
    if sign_method_name(sign_method) == HMAC_SHA256:
        return hmac.new(app_secret.encode("utf-8"), pattern, hashlib.sha256).hexdigest()
    return hashlib.md5(pattern).hexdigest()


def event_sign(*, app_key: str, app_secret: str, raw_body: bytes, sign_method: str = MD5) -> str:
    """The `event-sign` of a push message body."""
    text = app_key.encode("utf-8") + raw_body + app_secret.encode("utf-8")
    if sign_method_name(sign_method) == HMAC_SHA256:
        return hmac.new(app_secret.encode("utf-8"), text, hashlib.sha256).hexdigest()
    return hashlib.md5(text).hexdigest()


def event_sign_valid(*, app_key: str, app_secret: str, raw_body: bytes, given: str, sign_method: str) -> bool:
    """Constant-time check of a push's `event-sign` (False for an unknown sign method)."""
    if not (app_key and app_secret and given):
        return False
    try:
        expected = event_sign(
            app_key=app_key, app_secret=app_secret, raw_body=raw_body, sign_method=sign_method
        )
    except ValueError:
        return False
    return hmac.compare_digest(expected.encode("ascii"), given.strip().lower().encode("utf-8", "replace"))
