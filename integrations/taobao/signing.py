"""Taobao Open Platform (TOP) request signing.

Every TOP call carries `sign`: the parameters (system and business, except `sign` itself and any
whose value is empty) sorted by name, written as name+value with no separators, then
- md5:         MD5(secret + string + secret)
- hmac:        HMAC-MD5(key=secret, string)      (TOP calls HMAC-MD5 just "hmac")
- hmac-sha256: HMAC-SHA256(key=secret, string)
as upper-case hex. Everything is UTF-8."""

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

MD5, HMAC_MD5, HMAC_SHA256 = "md5", "hmac", "hmac-sha256"
SIGN_METHODS = {MD5: MD5, HMAC_MD5: HMAC_MD5, "hmac-md5": HMAC_MD5, HMAC_SHA256: HMAC_SHA256}


def sign_method_name(method: str | None) -> str:
    """TOP's name of a signing method (accepts "hmac-md5" for "hmac"); ValueError for others."""
    try:
        return SIGN_METHODS[(method or MD5).strip().lower()]
    except KeyError:
        raise ValueError(f"unknown TOP sign_method {method!r}") from None


def param_text(value: Any) -> str:
    """A parameter as TOP sees it on the wire: booleans are "true"/"false"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def string_to_sign(params: Mapping[str, Any]) -> str:
    """name+value of every non-empty parameter except `sign`, sorted by name (byte order)."""
    return "".join(
        f"{key}{param_text(value)}"
        for key, value in sorted(params.items())
        if key != "sign" and value is not None and param_text(value) != ""
    )


def sign(params: Mapping[str, Any], secret: str, method: str = MD5) -> str:
    method = sign_method_name(method)
    text = string_to_sign(params).encode("utf-8")
    key = secret.encode("utf-8")
    if method == MD5:
        digest = hashlib.md5(key + text + key).hexdigest()
    elif method == HMAC_MD5:
        digest = hmac.new(key, text, hashlib.md5).hexdigest()
    else:
        digest = hmac.new(key, text, hashlib.sha256).hexdigest()
    return digest.upper()


def verify(params: Mapping[str, Any], secret: str) -> bool:
    """Whether `params["sign"]` is right for the `sign_method` the parameters name (default md5).
    Constant-time comparison, so the check leaks nothing about how much of a guess matched."""
    given = params.get("sign")
    if not secret or not isinstance(given, str) or not given:
        return False
    try:
        expected = sign(params, secret, params.get("sign_method") or MD5)
    except ValueError:
        return False
    return hmac.compare_digest(expected.encode("ascii"), given.strip().upper().encode("utf-8", "replace"))
