"""JD JOS (京东宙斯开放平台) request signing.

The rule of JD's SDKs (JD Java SDK `com.jd.open.api.sdk.DefaultJdClient.sign` → `Md5SignImpl`;
JD .NET SDK `Jd.Api.Util.JdUtils.SignJdRequest`; XiBao/jos `sdk.GenerateRawSign`; research notes
/tmp/h/research16_jd_pdd.md §B1, SOURCES.md §15): every non-empty parameter except `sign` —
system ones (method, access_token, app_key, timestamp, v, format) and `360buy_param_json`, the
business parameters as one JSON string — sorted by name, written name+value with no separators,
wrapped in the app secret on both sides, MD5, upper-case hex, UTF-8. `360buy_param_json` is signed
as the exact text sent."""

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any


def string_to_sign(params: Mapping[str, Any]) -> str:
    return "".join(
        f"{key}{value}"
        for key, value in sorted(params.items())
        if key != "sign" and value is not None and str(value) != ""
    )


def sign(params: Mapping[str, Any], secret: str) -> str:
    text = f"{secret}{string_to_sign(params)}{secret}".encode()
    return hashlib.md5(text).hexdigest().upper()


def verify(params: Mapping[str, Any], secret: str) -> bool:
    given = params.get("sign")
    if not secret or not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(
        sign(params, secret).encode("ascii"), given.strip().upper().encode("utf-8", "replace")
    )
