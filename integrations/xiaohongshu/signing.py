"""Xiaohongshu (小红书电商开放平台) signatures.

API calls (research notes for #16 §B1; XHS-DOC `039_签名算法.md`, official Java SDK
`com.xiaohongshu.fls.opensdk.util.Utils.addSign`):

    sign = md5(method + "?" + "appId=" + appId + "&timestamp=" + timestamp + "&version=" + version
               + appSecret)

as lower-case hex. The three pairs are sorted by key, case-insensitively (always this order);
business parameters and the accessToken are not signed. Vector: the SDK unit test
(`AndersonBY/xiaohongshu-ecommerce-python-sdk` tests/test_signing.py) in xhs_signing_vectors.json.

Push messages (XHS-DOC `041_应用消息推送.md`): headers `timestamp`, `app-key`, `sign` with

    sign = md5(path + "?" + "&".join(sorted(k=v of the URL's query parameters, app-key, timestamp))
               + app_secret)

The body is not signed. The doc's published digest (a7b7430de338783293443133ab9b9357) reproduces
only with the URL's own query parameter (`canshu=test`) included and every key sorted, which is the
rule followed here (xhs_signing_vectors.json `push_doc_vector`). Query values are taken decoded
(parse_qsl): the doc shows no escaped value, so how XHS signs one is not published."""

import hashlib
import hmac
from urllib.parse import parse_qsl, urlsplit

VERSION = "2.0"  # "2.0" for OAuth2 apps (XHS-DOC 040)


def sign_plain(*, method: str, app_id: str, timestamp: str, version: str, app_secret: str) -> str:
    pairs = sorted(
        {"appId": app_id, "timestamp": timestamp, "version": version}.items(), key=lambda p: p[0].lower()
    )
    return f"{method}?" + "&".join(f"{k}={v}" for k, v in pairs) + app_secret


def sign(*, method: str, app_id: str, timestamp: str, version: str = VERSION, app_secret: str) -> str:
    plain = sign_plain(
        method=method, app_id=app_id, timestamp=timestamp, version=version, app_secret=app_secret
    )
    return hashlib.md5(plain.encode("utf-8")).hexdigest()


def push_sign_plain(*, url: str, app_key: str, timestamp: str, app_secret: str) -> str:
    """What a push's `sign` is the MD5 of: the URL's path and its query parameters, `app-key` and
    `timestamp` sorted by key, then the app secret."""
    split = urlsplit(url)
    params = parse_qsl(split.query, keep_blank_values=True)
    params += [("app-key", app_key), ("timestamp", timestamp)]
    return f"{split.path}?" + "&".join(f"{k}={v}" for k, v in sorted(params)) + app_secret


def push_sign(*, url: str, app_key: str, timestamp: str, app_secret: str) -> str:
    plain = push_sign_plain(url=url, app_key=app_key, timestamp=timestamp, app_secret=app_secret)
    return hashlib.md5(plain.encode("utf-8")).hexdigest()


def push_sign_valid(*, url: str, app_key: str, timestamp: str, app_secret: str, given: str) -> bool:
    """Constant-time check of a push's `sign` header."""
    if not (url and app_key and timestamp and app_secret and given):
        return False
    expected = push_sign(url=url, app_key=app_key, timestamp=timestamp, app_secret=app_secret)
    return hmac.compare_digest(expected.encode("ascii"), given.strip().lower().encode("utf-8", "replace"))
