"""WeChat Pay API v3 over HTTP: our signed requests, the verification of its signed answers, and
its platform certificates (downloaded, decrypted, stored, refreshed).

Sources:
- 下载平台证书 GET /v3/certificates (pay.weixin.qq.com/doc/v3/merchant): answer
  {"data": [{"serial_no", "effective_time", "expire_time", "encrypt_certificate": {"algorithm",
  "nonce", "associated_data", "ciphertext"}}]}; wechatpay-go core/downloader/models.go and
  downloader.go (decrypt each with the APIv3 key, key the map by the certificate's own serial);
- wechatpay-go core/client.go: a non-2xx answer is an error without validation; a 2xx answer is
  validated (core/auth/validators/wechat_pay_validator.go).

Stricter than the SDKs where it costs nothing: the certificates answer must be signed by one of
the certificates it carries (or one we hold); the `serial_no` WeChat Pay states must be the
certificate's own; an expired certificate verifies nothing. The certificate chain up to Tenpay's
CA is not checked (the SDKs do not either): only WeChat Pay and we know the APIv3 key that
encrypts them, and the download runs over TLS.
"""

import json
import logging
import time
from datetime import datetime

import httpx
from cryptography import x509
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from core.http import TIMEOUT, PlatformError, RateLimited, send
from finance.models import WechatPayCertificate
from finance.providers import header
from finance.providers.wechatpay_signing import (
    AEAD,
    NONCE,
    SERIAL,
    SIGNATURE,
    TIMESTAMP,
    ResourceError,
    answer_message,
    authorization,
    certificate_serial,
    decrypt_resource,
    load_private_key,
    rsa_verifies,
)

logger = logging.getLogger(__name__)

CERTIFICATES_PATH = "/v3/certificates"
PLATFORM = "WeChat Pay"
# An unknown serial triggers at most one download per this many seconds (a forged serial must not
# make us call WeChat Pay on every request).
REFRESH_INTERVAL_SECONDS = 60
REFRESH_LOCK = "wechatpay:certificates-refresh"


class CertificateError(Exception):
    """A certificates answer we do not trust or cannot read; nothing of it is stored."""


def configured() -> bool:
    return bool(
        settings.WECHATPAY_MCHID
        and settings.WECHATPAY_MERCHANT_SERIAL_NO
        and settings.WECHATPAY_MERCHANT_PRIVATE_KEY
        and settings.WECHATPAY_API_V3_KEY
    )


def wechatpay_request(http: httpx.Client, method: str, path: str, body: dict | None = None) -> httpx.Response:
    """One signed request (`path` with its query string); the answer is returned unverified."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":")) if body is not None else ""
    headers = {
        "Authorization": authorization(
            mchid=settings.WECHATPAY_MCHID,
            serial_no=settings.WECHATPAY_MERCHANT_SERIAL_NO,
            private_key=load_private_key(settings.WECHATPAY_MERCHANT_PRIVATE_KEY),
            method=method,
            url=path,
            body=text,
        ),
        "Accept": "application/json",
        "User-Agent": "Conduit (WeChat Pay API v3)",
    }
    if body is not None:
        headers["Content-Type"] = "application/json"
    url = f"{settings.WECHATPAY_API_URL.rstrip('/')}{path}"
    return http.request(method, url, content=text.encode() if body is not None else None, headers=headers)


def signature_problem(headers, body: bytes, public_key_for, *, now: float | None = None) -> str:
    """Why a signed answer or notification is not WeChat Pay's ("" when it is): the four headers
    present, the timestamp within WECHATPAY_TOLERANCE_SECONDS, the signature made with the key of
    the certificate `public_key_for(serial)` returns (None: unknown serial)."""
    now = time.time() if now is None else now
    serial, signature = header(headers, SERIAL).strip(), header(headers, SIGNATURE).strip()
    timestamp, nonce = header(headers, TIMESTAMP).strip(), header(headers, NONCE).strip()
    if not (serial and signature and timestamp and nonce):
        return "missing Wechatpay-Serial, Wechatpay-Signature, Wechatpay-Timestamp or Wechatpay-Nonce"
    if not timestamp.isdigit():
        return f"Wechatpay-Timestamp is not a Unix time: {timestamp[:20]!r}"
    if abs(now - int(timestamp)) > settings.WECHATPAY_TOLERANCE_SECONDS:
        return "Wechatpay-Timestamp outside the tolerance: an old or replayed message"
    key = public_key_for(serial)
    if key is None:
        return f"unknown platform certificate serial {serial[:64]}"
    if not rsa_verifies(key, answer_message(timestamp, nonce, body), signature):
        return "bad signature"
    return ""


def answer_problem(response: httpx.Response) -> str:
    """Why a 2xx answer of WeChat Pay is not to be believed ("" when it is signed by it)."""
    return signature_problem(response.headers, response.content, platform_public_key)


def platform_public_key(serial: str, *, refresh: bool = True):
    """The public key of the valid platform certificate with this serial. An unknown serial
    downloads the certificates once (at most once a minute), then gives up: None."""
    key = _stored_key(serial)
    if key is None and refresh and configured() and cache.add(REFRESH_LOCK, 1, REFRESH_INTERVAL_SECONDS):
        try:
            certificates_refresh()
        except (CertificateError, PlatformError, RateLimited, httpx.HTTPError) as exc:
            logger.warning("WeChat Pay certificates could not be refreshed: %s", exc)
        key = _stored_key(serial)
    return key


def _stored_key(serial: str):
    now = timezone.now()
    row = WechatPayCertificate.objects.filter(
        serial_no=serial, effective_at__lte=now, expires_at__gt=now
    ).first()
    if row is None:
        return None
    return x509.load_pem_x509_certificate(row.certificate.encode()).public_key()


def certificates_refresh() -> list[str]:
    """Download the platform certificates, check and store them; their serials. Idempotent."""
    with httpx.Client(timeout=TIMEOUT) as http:
        response = send(PLATFORM, lambda: wechatpay_request(http, "GET", CERTIFICATES_PATH), 60.0)
    try:
        items = response.json()["data"]
        if not isinstance(items, list) or not items:
            raise TypeError("data is not a list of certificates")
        downloaded = {}
        for item in items:
            serial, pem, certificate = _decrypt_certificate(item)
            downloaded[serial] = (pem, certificate, _time(item["effective_time"]), _time(item["expire_time"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise CertificateError(f"unreadable certificates answer: {exc}") from exc

    def key_for(serial: str):
        if serial in downloaded:
            return downloaded[serial][1].public_key()
        return _stored_key(serial)

    problem = signature_problem(response.headers, response.content, key_for)
    if problem:
        raise CertificateError(f"the certificates answer is not signed by WeChat Pay: {problem}")
    with transaction.atomic():
        for serial, (pem, _certificate, effective_at, expires_at) in downloaded.items():
            WechatPayCertificate.objects.update_or_create(
                serial_no=serial,
                defaults={
                    "certificate": pem,
                    "effective_at": effective_at,
                    "expires_at": expires_at,
                    "fetched_at": timezone.now(),
                },
            )
    return sorted(downloaded)


def _decrypt_certificate(item: dict) -> tuple[str, str, x509.Certificate]:
    encrypted = item["encrypt_certificate"]
    if encrypted.get("algorithm") != AEAD:
        raise ValueError(f"encrypt_certificate.algorithm {encrypted.get('algorithm')!r} is not {AEAD}")
    try:
        pem = decrypt_resource(
            settings.WECHATPAY_API_V3_KEY,
            nonce=encrypted["nonce"],
            associated_data=encrypted.get("associated_data") or "",
            ciphertext=encrypted["ciphertext"],
        ).decode()
    except (ResourceError, UnicodeDecodeError) as exc:
        raise ValueError(f"certificate {item.get('serial_no')!r}: {exc}") from exc
    certificate = x509.load_pem_x509_certificate(pem.encode())
    serial = certificate_serial(certificate)
    if serial != str(item.get("serial_no", "")).upper():
        raise ValueError(f"serial_no {item.get('serial_no')!r} is not the certificate's own ({serial})")
    return serial, pem, certificate


def _time(value: str) -> datetime:
    """effective_time / expire_time: RFC 3339 with an offset (2018-06-08T10:34:56+08:00)."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset")
    return moment
