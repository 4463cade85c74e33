"""Pinduoduo Open Platform (拼多多开放平台, POP) request signing.

The rule (PDD doc "API调用指南", https://open.pinduoduo.com/application/document/browse?idStr=8EC06C399636041E;
official Java SDK com.pdd.pop.sdk `SignUtils.buildSignSource` / `sign`; official PHP SDK `makeSign`):
every parameter except `sign` — the public ones (type, client_id, access_token, timestamp,
data_type, version) and the business ones — sorted by name (ASCII), written as name+value with no
separator, wrapped in the client secret on both sides, MD5, upper-case hex, UTF-8:

    UPPER(MD5(client_secret + k1 + v1 + k2 + v2 + … + client_secret))

Values are signed exactly as they are sent: numbers and booleans as their text ("true"/"false"),
lists and objects as compact JSON; null and empty values are neither sent nor signed. The doc's
published vector (payloads/pdd_sign_doc_example.json) gives E4DE3ED21002510DED352819E7AE6775."""

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any


def param_text(value: Any) -> str:
    """A parameter as the Java SDK sends it: booleans "true"/"false", lists and objects as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def sign_source(params: Mapping[str, Any], secret: str) -> str:
    body = "".join(
        f"{key}{param_text(value)}"
        for key, value in sorted(params.items())
        if key != "sign" and value is not None and param_text(value) != ""
    )
    return f"{secret}{body}{secret}"


def sign(params: Mapping[str, Any], secret: str) -> str:
    return hashlib.md5(sign_source(params, secret).encode("utf-8")).hexdigest().upper()


def verify(params: Mapping[str, Any], secret: str) -> bool:
    """Whether `params["sign"]` is right (constant-time comparison)."""
    given = params.get("sign")
    if not secret or not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(
        sign(params, secret).encode("ascii"), given.strip().upper().encode("utf-8", "replace")
    )
