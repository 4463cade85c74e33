"""WeChat Pay API v3 signatures and encrypted resources, as WeChat Pay defines them — no I/O here.

Sources (field and header names are taken from these, nothing else):
- 签名生成 / 签名验证 / 证书和回调报文解密, pay.weixin.qq.com/doc/v3/merchant (APIv3 接口规则);
- wechatpay-apiv3/wechatpay-go: core/consts/const.go (SignatureMessageFormat
  "%s\\n%s\\n%d\\n%s\\n%s\\n", HeaderAuthorizationFormat, the Wechatpay-* header names, FiveMinute),
  core/auth/validators/wechat_pay_validator.go (the answer/notification message
  "timestamp\\nnonce\\nbody\\n", the ±5-minute timestamp check), utils/aes.go (DecryptAES256GCM: key =
  the APIv3 key's bytes, nonce and associated data as UTF-8, ciphertext base64 with the 16-byte tag
  at its end), core/downloader/downloader.go (a certificate's serial is its serial number's bytes
  in upper-case hex).

Requests we send are signed with the merchant's API private key (SHA256withRSA, PKCS#1 v1.5):
`Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",timestamp="…",serial_no="…",signature="…"`
over "METHOD\\nURL\\ntimestamp\\nnonce\\nbody\\n", URL being the path with its query string.
WeChat Pay signs its answers and notifications with a platform certificate's key over
"timestamp\\nnonce\\nbody\\n" (headers Wechatpay-Timestamp, -Nonce, -Signature, -Serial).
"""

import base64
import binascii
import re
import secrets
import time

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import load_pem_private_key

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
AEAD = "AEAD_AES_256_GCM"
TIMESTAMP = "Wechatpay-Timestamp"
NONCE = "Wechatpay-Nonce"
SIGNATURE = "Wechatpay-Signature"
SERIAL = "Wechatpay-Serial"
SIGNATURE_TYPE = "Wechatpay-Signature-Type"

_AUTH_ITEM = re.compile(r'(\w+)="([^"]*)"')


class ResourceError(ValueError):
    """An encrypted resource that cannot be decrypted (wrong key, tampered, not AES-256-GCM)."""


def request_message(method: str, url: str, timestamp: int | str, nonce: str, body: str) -> bytes:
    """What a request's signature covers; `url` is the path and query, without the host."""
    return f"{method.upper()}\n{url}\n{timestamp}\n{nonce}\n{body}\n".encode()


def answer_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    """What the signature of an answer or a notification covers (the body exactly as sent)."""
    return f"{timestamp}\n{nonce}\n".encode() + body + b"\n"


def rsa_sign(private_key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verifies(public_key, message: bytes, signature: str) -> bool:
    """SHA256withRSA; the cryptography library compares in constant time."""
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError, TypeError):
        return False
    return True


def authorization(
    *,
    mchid: str,
    serial_no: str,
    private_key: rsa.RSAPrivateKey,
    method: str,
    url: str,
    body: str,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> str:
    """The Authorization header of one request."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or secrets.token_hex(16).upper()
    signature = rsa_sign(private_key, request_message(method, url, timestamp, nonce, body))
    return (
        f'{SCHEMA} mchid="{mchid}",nonce_str="{nonce}",timestamp="{timestamp}",'
        f'serial_no="{serial_no}",signature="{signature}"'
    )


def parse_authorization(value: str) -> dict[str, str] | None:
    """The Authorization header's items, or None when it is not WeChat Pay's schema."""
    schema, _sep, rest = value.strip().partition(" ")
    if schema != SCHEMA:
        return None
    return dict(_AUTH_ITEM.findall(rest))


def decrypt_resource(api_v3_key: str, *, nonce: str, associated_data: str, ciphertext: str) -> bytes:
    """AEAD_AES_256_GCM with the merchant's APIv3 key; the tag authenticates the text."""
    key = api_v3_key.encode()
    if len(key) != 32:
        raise ResourceError("the APIv3 key is not 32 bytes")
    try:
        data = base64.b64decode(ciphertext, validate=True)
        return AESGCM(key).decrypt(nonce.encode(), data, associated_data.encode())
    except (InvalidTag, binascii.Error, ValueError) as exc:
        raise ResourceError("the resource does not decrypt with the APIv3 key") from exc


def encrypt_resource(api_v3_key: str, *, nonce: str, associated_data: str, plaintext: bytes) -> str:
    """The reverse of decrypt_resource: what WeChat Pay does (the fake server and tests use it)."""
    return base64.b64encode(
        AESGCM(api_v3_key.encode()).encrypt(nonce.encode(), plaintext, associated_data.encode())
    ).decode()


def certificate_serial(certificate: x509.Certificate) -> str:
    """The serial as WeChat Pay writes it: the serial number's bytes in upper-case hex."""
    number = certificate.serial_number
    return number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big").hex().upper()


def load_private_key(value: str) -> rsa.RSAPrivateKey:
    """The merchant's API private key (apiclient_key.pem, PKCS#8 PEM)."""
    key = load_pem_private_key(value.strip().encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key
